//! What the bench reads about processes: CPU time, resident memory, the fd limit.

use std::time::Duration;

/// CPU time (user + system, all threads) of `pid` so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces, so split after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_micros((utime + stime) * 1_000_000 / hz))
}

/// Resident set size of `pid` in KiB, from `VmRSS` in `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// How many descriptors `pid` has open, from `/proc/PID/fd`.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// What the kernel holds for sockets, machine-wide: TCP socket buffers (`mem` pages of
/// the `TCP:` line of `/proc/net/sockstat`) and slab caches (`Slab` of `/proc/meminfo`, where
/// each socket's structures, file, inode and epoll entry live), both in KiB, and how many
/// TCP sockets are allocated (`alloc`), to tell when other programs opened or closed some.
#[derive(Clone, Copy)]
pub struct KernelMem {
    pub tcp_buffers_kib: u64,
    pub slab_kib: u64,
    pub tcp_sockets: u64,
}

pub fn kernel_mem() -> Option<KernelMem> {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let tcp = sockstat.lines().find(|l| l.starts_with("TCP:"))?;
    let words: Vec<&str> = tcp.split_whitespace().collect();
    let value = |name: &str| -> Option<u64> {
        let at = words.iter().position(|w| *w == name)?;
        words.get(at + 1)?.parse().ok()
    };
    let (pages, sockets) = (value("mem")?, value("alloc")?);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let slab = meminfo.lines().find(|l| l.starts_with("Slab:"))?;
    Some(KernelMem {
        tcp_buffers_kib: pages * page / 1024,
        slab_kib: slab.split_whitespace().nth(1)?.parse().ok()?,
        tcp_sockets: sockets,
    })
}

/// Raises this process's open-file limit to its hard limit (children inherit it);
/// returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit for getrlimit/setrlimit to read and write.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// One line about the machine: CPU model, CPU count, kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    format!(
        "{model}, {cpus} CPUs, {} GiB RAM, Linux {}",
        mem_kib >> 20,
        kernel.trim()
    )
}
