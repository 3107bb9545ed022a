//! `luna-bench connections` (`make bench-connections`): many idle connections in one server.
//!
//! Each round opens `BENCH_CONNECTIONS_N` (19,000: a process here may open at most 20,000
//! descriptors) WebSocket connections to one server, `BENCH_CONNECT_PARALLEL` handshakes in
//! flight, from the source addresses 127.0.0.2.. (so ephemeral ports never run short), echoes
//! one message on each, lets them sit, pings every one (the sweep), then resets them all at
//! once and reads the server's memory after it closed their sockets. Figures are printed,
//! never asserted.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};

use crate::modes::{self, err, Peer, Target};
use crate::procfs::{self, KernelMem};
use crate::suite::{self, Server};
use crate::table;
use crate::ws::{self, Conn};

/// The `BENCH_*` knobs of this benchmark.
pub struct ConnSettings {
    pub rounds: usize,
    pub n: usize,
    pub parallel: usize,
    pub sources: usize,
    /// The checkout whose library, C example and LuaJIT server are measured.
    pub dir: String,
    pub servers: Option<Vec<String>>,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl ConnSettings {
    pub fn from_env() -> ConnSettings {
        ConnSettings {
            rounds: env("BENCH_ROUNDS", 3),
            n: env("BENCH_CONNECTIONS_N", 19_000),
            parallel: env("BENCH_CONNECT_PARALLEL", 50).max(1),
            sources: env("BENCH_SOURCE_ADDRS", 4).clamp(1, 250),
            dir: env("BENCH_LUNA_DIR", ".".to_string()),
            servers: std::env::var("BENCH_SERVERS")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.split(',').map(|x| x.trim().to_string()).collect()),
        }
    }
}

/// What one round measured against one server.
#[derive(Clone, Copy)]
pub struct Figures {
    pub rss_kib_per_conn: f64,
    /// Kernel memory per connection, both ends of it (client and server sockets).
    pub tcp_buffers_kib_per_conn: f64,
    pub slab_kib_per_conn: f64,
    /// TCP sockets other programs opened (or closed, negative) meanwhile, machine-wide.
    pub other_sockets: f64,
    pub handshakes_per_s: f64,
    pub sweep_ms: f64,
    /// Server RSS after the mass reset, as a fraction of its growth at the peak.
    pub after_fraction: f64,
    pub before_kib: u64,
    pub peak_kib: u64,
    pub after_kib: u64,
}

/// Opens one non-blocking TCP connection from `src` (any free port) to `dst`.
fn connect_from(src: Ipv4Addr, dst: SocketAddrV4) -> io::Result<TcpStream> {
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket has no memory-safety preconditions.
    let fd = unsafe { libc::socket(libc::AF_INET, flags, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nobody else owns; the stream closes it.
    let sock = unsafe { TcpStream::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // The port is picked at connect, per destination, not reserved at bind.
    // SAFETY: a valid socket and an int option of the size given.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let raw = |a: SocketAddrV4| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let local = raw(SocketAddrV4::new(src, 0));
    // SAFETY: a valid socket and a sockaddr_in of the length given.
    if unsafe { libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let remote = raw(dst);
    // SAFETY: as above.
    if unsafe { libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    sock.set_nodelay(true)?;
    Ok(sock)
}

/// A handshake in flight: the socket, whether the request went out, the answer so far.
struct Pending {
    sock: TcpStream,
    sent: bool,
    head: Vec<u8>,
}

/// The handshakes in flight, one slot each, registered with one poller under their slot.
struct Opener {
    poller: Poller,
    slots: Vec<Option<Pending>>,
    dst: SocketAddrV4,
    request: String,
    sources: usize,
    started: usize,
    n: usize,
}

impl Opener {
    /// Starts the next connection in `key`'s slot, unless all `n` have started.
    fn start(&mut self, key: usize) -> io::Result<()> {
        if self.started == self.n {
            return Ok(());
        }
        let i = self.started;
        let src = Ipv4Addr::new(127, 0, 0, 2 + (i % self.sources) as u8);
        let sock = connect_from(src, self.dst)
            .map_err(|e| err(format!("connect #{i} from {src}: {e}")))?;
        // SAFETY: the socket is deleted from the poller before it is dropped or handed on
        // (`finish`, or `drop` for those still in flight).
        unsafe { self.poller.add(&sock, Event::writable(key))? };
        self.started += 1;
        self.slots[key] = Some(Pending {
            sock,
            sent: false,
            head: Vec::with_capacity(256),
        });
        Ok(())
    }

    /// Moves `key`'s handshake on; its connection once open, and then starts the next.
    fn step(&mut self, key: usize) -> io::Result<Option<Conn>> {
        let Some(p) = self.slots[key].as_mut() else {
            return Ok(None);
        };
        let Some(reader) = advance(p, &self.request)? else {
            let wanted = match p.sent {
                true => Event::readable(key),
                false => Event::writable(key),
            };
            self.poller.modify(&p.sock, wanted)?;
            return Ok(None);
        };
        let sock = self.slots[key].take().expect("an open slot").sock;
        self.poller.delete(&sock)?;
        self.start(key)?;
        Ok(Some(Conn {
            sock,
            reader,
            extensions: String::new(),
        }))
    }
}

impl Drop for Opener {
    fn drop(&mut self) {
        for p in self.slots.iter().flatten() {
            let _ = self.poller.delete(&p.sock);
        }
    }
}

/// Opens `n` WebSocket connections, `parallel` handshakes in flight, spreading them over
/// `sources` source addresses. Returns them with the time it took.
pub fn open_all(
    addr: SocketAddr,
    n: usize,
    parallel: usize,
    sources: usize,
) -> io::Result<(Vec<Conn>, Duration)> {
    let SocketAddr::V4(dst) = addr else {
        return Err(err("IPv4 only"));
    };
    let mut o = Opener {
        poller: Poller::new()?,
        slots: (0..parallel.min(n)).map(|_| None).collect(),
        dst,
        request: format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ),
        sources,
        started: 0,
        n,
    };
    let t0 = Instant::now();
    for key in 0..o.slots.len() {
        o.start(key)?;
    }
    let mut conns = Vec::with_capacity(n);
    let mut events = Events::new();
    while conns.len() < n {
        let left = Duration::from_secs(120).saturating_sub(t0.elapsed());
        if left.is_zero() {
            let got = conns.len();
            return Err(err(format!("only {got} of {n} handshakes in 120 s")));
        }
        events.clear();
        o.poller.wait(&mut events, Some(left))?;
        for ev in events.iter() {
            conns.extend(o.step(ev.key)?);
        }
    }
    Ok((conns, t0.elapsed()))
}

/// One step of a handshake: sends the request once connected, then reads the answer;
/// the reader of the open connection (holding what came after the 101) once it has come.
fn advance(p: &mut Pending, request: &str) -> io::Result<Option<ws::Reader>> {
    if !p.sent {
        if let Some(e) = p.sock.take_error()? {
            return Err(err(format!("connect: {e}")));
        }
        // A few hundred bytes into an empty socket buffer: written whole.
        p.sock.write_all(request.as_bytes())?;
        p.sent = true;
        return Ok(None);
    }
    let mut chunk = [0u8; 1024];
    loop {
        match p.sock.read(&mut chunk) {
            Ok(0) => return Err(err("closed during the handshake")),
            Ok(k) => p.head.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        }
        let Some(end) = p.head.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        if !p.head.starts_with(b"HTTP/1.1 101") {
            let line = String::from_utf8_lossy(&p.head[..p.head.len().min(60)]).into_owned();
            return Err(err(format!("handshake refused: {line:?}")));
        }
        let mut reader = ws::Reader::new(512);
        reader.preload(&p.head[end + 4..]);
        return Ok(Some(reader));
    }
}

/// Pings every peer at once; the time from the first ping written to the last pong read.
fn ping_sweep(poller: &Poller, peers: &mut [Peer]) -> io::Result<Duration> {
    let ping = ws::ping(b"sweep");
    let before: Vec<u64> = peers.iter().map(|p| p.pongs).collect();
    let mut answered = vec![false; peers.len()];
    let t0 = Instant::now();
    for (key, p) in peers.iter_mut().enumerate() {
        p.out.extend_from_slice(&ping);
        p.flush(poller, key)?;
    }
    let (mut got, mut last) = (0, t0);
    let mut events = Events::new();
    while got < peers.len() {
        let left = Duration::from_secs(60).saturating_sub(t0.elapsed());
        if left.is_zero() {
            return Err(err(format!("{got} of {} pongs in 60 s", peers.len())));
        }
        events.clear();
        poller.wait(&mut events, Some(left))?;
        for ev in events.iter() {
            let p = &mut peers[ev.key];
            if ev.readable {
                p.read(|_, _| {})?;
            }
            if !answered[ev.key] && p.pongs > before[ev.key] {
                answered[ev.key] = true;
                got += 1;
                last = Instant::now();
            }
            p.flush(poller, ev.key)?;
        }
    }
    Ok(last - t0)
}

/// One round against a started server: open `s.n` connections, echo once on each, sweep,
/// reset them all, and read the server's memory and the kernel's along the way.
pub fn measure(t: Target, s: &ConnSettings) -> io::Result<Figures> {
    let rss = || procfs::rss_kib(t.pid).ok_or_else(|| err("cannot read the server's VmRSS"));
    let fds = || procfs::open_fds(t.pid).ok_or_else(|| err("cannot list the server's fds"));
    let kernel = || procfs::kernel_mem().ok_or_else(|| err("cannot read the kernel's memory"));
    let (before_kib, fds_before, k0) = (rss()?, fds()?, kernel()?);
    let (conns, took) = open_all(t.addr, s.n, s.parallel, s.sources)?;
    let mut peers: Vec<Peer> = conns.into_iter().map(Peer::new).collect();
    let poller = modes::register(&peers)?;
    let held = (|| {
        modes::echo_once(&poller, &mut peers, &ws::frame(ws::BINARY, &[b'h'; 32]))?;
        // The kernel's figures as soon as possible, while other programs changed little.
        let k1 = kernel()?;
        std::thread::sleep(Duration::from_secs(1));
        let peak_kib = rss()?;
        let sweep = ping_sweep(&poller, &mut peers)?;
        Ok::<_, io::Error>((peak_kib, k1, sweep))
    })();
    let conns = modes::unregister(&poller, peers);
    let (peak_kib, k1, sweep) = match held {
        Ok(h) => h,
        Err(e) => {
            ws::reset_all(conns);
            return Err(e);
        }
    };
    let t0 = Instant::now();
    ws::reset_all(conns);
    while fds()? > fds_before {
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(err("the server kept its sockets for 60 s after the resets"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // A host that waits one second at a time hands the memory back after its next poll.
    std::thread::sleep(Duration::from_millis(1500));
    let after_kib = rss()?;
    Ok(figures(
        s.n,
        (before_kib, peak_kib, after_kib),
        (k0, k1),
        took,
        sweep,
    ))
}

fn figures(
    n: usize,
    (before_kib, peak_kib, after_kib): (u64, u64, u64),
    (k0, k1): (KernelMem, KernelMem),
    took: Duration,
    sweep: Duration,
) -> Figures {
    let per = |a: u64, b: u64| (b as f64 - a as f64) / n as f64;
    // Other programs' sockets change the machine-wide figures too: a round in which the
    // count of TCP sockets moved by more than 10 % beyond our 2 N is left out (NaN).
    let others = k1.tcp_sockets as f64 - k0.tcp_sockets as f64 - 2.0 * n as f64;
    let quiet = others.abs() <= 0.2 * n as f64;
    let kernel = |a: u64, b: u64| if quiet { per(a, b) } else { f64::NAN };
    Figures {
        rss_kib_per_conn: per(before_kib, peak_kib),
        tcp_buffers_kib_per_conn: kernel(k0.tcp_buffers_kib, k1.tcp_buffers_kib),
        slab_kib_per_conn: kernel(k0.slab_kib, k1.slab_kib),
        other_sockets: others,
        handshakes_per_s: n as f64 / took.as_secs_f64(),
        sweep_ms: sweep.as_secs_f64() * 1e3,
        after_fraction: (after_kib as f64 - before_kib as f64)
            / (peak_kib as f64 - before_kib as f64),
        before_kib,
        peak_kib,
        after_kib,
    }
}

/// luna's C example and LuaJIT server (`luna.wait` loop) from the checkout in `dir`.
pub(crate) fn luna_servers(dir: &str) -> Vec<Server> {
    let from = match dir {
        "." => String::new(),
        _ => format!(", built in {dir}"),
    };
    let what = |s: &str| -> &'static str { Box::leak(format!("{s}{from}").into_boxed_str()) };
    let mut list = suite::checkout_servers(dir, "");
    list.retain(|s| s.name == "luna-c" || s.name == "luna-lua-wait");
    for s in &mut list {
        s.what = match s.name {
            "luna-c" => what("c-examples/echo_server.c (luna_app_wait + luna_app_poll)"),
            _ => what("LuaJIT, luna.wait(1) loop (bench/servers/luna_echo.lua)"),
        };
    }
    list
}

/// The servers: luna's two, and the pure-Rust ceiling for scale.
fn servers(dir: &str) -> Vec<Server> {
    let mut list = luna_servers(dir);
    list.push(Server {
        name: "rust-ceiling",
        what: "smol + async-tungstenite, 4 KiB read buffer (bench/servers/rust_echo.rs), for scale",
        cmd: vec!["target/release/luna-bench-rust-echo".into(), "0".into()],
        env: vec![],
        broadcast: true,
        fixed_port: None,
    });
    list
}

/// The columns: a name and how to read the figure from one round.
const HEADER: [&str; 8] = [
    "server",
    "RSS KiB/conn",
    "kernel KiB/conn (both ends)",
    "of it socket buffers",
    "of it slab",
    "handshakes/s",
    "ping sweep ms",
    "RSS after reset, of peak growth",
];
const COLUMNS: [fn(&Figures) -> f64; 7] = [
    |f| f.rss_kib_per_conn,
    |f| f.tcp_buffers_kib_per_conn + f.slab_kib_per_conn,
    |f| f.tcp_buffers_kib_per_conn,
    |f| f.slab_kib_per_conn,
    |f| f.handshakes_per_s,
    |f| f.sweep_ms,
    |f| f.after_fraction,
];

/// Runs every round against every server (alternating) and prints the table.
pub fn run(s: &ConnSettings) -> String {
    let fd_limit = procfs::raise_fd_limit();
    // The generator holds one descriptor per connection, plus a few of its own.
    let s = ConnSettings {
        n: s.n.min((fd_limit as usize).saturating_sub(500)),
        servers: s.servers.clone(),
        dir: s.dir.clone(),
        ..*s
    };
    let _ = std::fs::create_dir_all(suite::LOG_DIR);
    let mut list = servers(&s.dir);
    if let Some(only) = &s.servers {
        list.retain(|sv| only.iter().any(|o| o == sv.name));
    }
    let named: Vec<(&str, &Server)> = list.iter().map(|sv| (sv.name, sv)).collect();
    let started = Instant::now();
    let results = table::alternate(s.rounds, &named, |_, target| {
        let f = measure(target, &s).map_err(|e| e.to_string())?;
        eprint!(
            " VmRSS {} -> {} -> {} KiB, other TCP sockets {:+};",
            f.before_kib, f.peak_kib, f.after_kib, f.other_sockets
        );
        Ok(f)
    });
    let labels: Vec<&str> = list.iter().map(|sv| sv.name).collect();
    let mut out = header(&s, fd_limit, started.elapsed());
    out.push_str(&table::render(&table::rows(
        &HEADER, &labels, &results, &COLUMNS,
    )));
    out.push_str("\nServers:\n");
    for sv in &list {
        out.push_str(&format!("- {}: {}\n", sv.name, sv.what));
    }
    out
}

fn header(s: &ConnSettings, fd_limit: u64, took: Duration) -> String {
    format!(
        "Machine: {}\n\
         Run: {} rounds, servers alternating; N={} idle connections in one server process \
         (fd limit {fd_limit}), opened {} handshakes in flight from {} source addresses \
         (127.0.0.2..), each echoed one 32-byte message; took {:.0} s\n\
         Cells: median (min–max) over rounds. RSS = server VmRSS growth per connection; \
         kernel = growth of TCP socket buffers (/proc/net/sockstat mem) and slab \
         (/proc/meminfo Slab) per connection, machine-wide, both ends of each loopback \
         connection counted (a round in which the machine's other TCP sockets changed by \
         more than N/5 meanwhile is left out of them, as failed); ping sweep = first ping written to the last pong read; \
         RSS after reset = (after − before) / (peak − before), 1.5 s after the server \
         closed every socket.\n\n",
        procfs::machine(),
        s.rounds,
        s.n,
        s.parallel,
        s.sources,
        took.as_secs_f64(),
    )
}
