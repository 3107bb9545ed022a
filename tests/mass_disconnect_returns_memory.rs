//! After 2,000 connections reset at once, the server hands their memory back: the process's
//! RSS comes back near where it was before they connected (glibc keeps freed pages in its
//! arenas unless asked, so without that it would stay at the peak).
#![cfg(all(target_os = "linux", target_env = "gnu"))]
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

/// Connections of the peak; each end is a descriptor of this process.
const PEAK: usize = 2000;

/// Raises the soft descriptor limit to the hard one; returns it.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for getrlimit and setrlimit to read and write.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Opens `n` clients, echoes one message on each, reads the RSS, then resets them all
/// (SO_LINGER 0) and waits for their CLOSE events; returns that RSS.
fn peak_and_reset(s: &TestServer, n: usize) -> usize {
    let closed_before = s.count(|e| matches!(e, Ev::Close { .. }));
    let mut clients: Vec<RawPeer> = (0..n).map(|_| RawPeer::connect(s.port, "")).collect();
    for c in clients.iter_mut() {
        assert_eq!(c.status(), 101);
        let frame = encode_frame(true, 0, 2, &[7; 32], Some([1, 2, 3, 4]));
        c.stream.write_all(&frame).unwrap();
    }
    for c in clients.iter_mut() {
        assert_eq!(c.read().unwrap().2, [7; 32]);
    }
    let peak = rss_kib();
    for c in &clients {
        socket2::SockRef::from(&c.stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
    drop(clients);
    s.wait_until(30, "every CLOSE", || {
        s.count(|e| matches!(e, Ev::Close { .. })) == closed_before + n
    });
    peak
}

#[test]
fn rss_comes_back_after_two_thousand_connections_reset() {
    let limit = raise_fd_limit() as usize;
    assert!(
        limit >= 2 * PEAK + 200,
        "needs {} descriptors, the hard limit is {limit}",
        2 * PEAK + 200
    );
    let s = TestServer::start(Options::default());
    // A first small wave sets up what stays (threads, arenas, tables) before measuring.
    peak_and_reset(&s, 100);
    let before = rss_kib();
    let peak = peak_and_reset(&s, PEAK);
    // Each connection held a few KiB: the peak must show it for the test to mean anything.
    let grown = peak.saturating_sub(before);
    assert!(
        grown >= 4 << 10,
        "{PEAK} connections grew RSS by {grown} KiB only"
    );
    // The memory goes back after the poll that ends the wave; allow it a few seconds and
    // half of the peak's growth (the copied events of this test stay, for one).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = rss_kib();
    while after > before + grown / 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        after = rss_kib();
    }
    eprintln!("RSS: {before} KiB before, {peak} KiB at the peak, {after} KiB after");
    assert!(
        after <= before + grown / 2,
        "RSS {before} KiB before, {peak} KiB with {PEAK} connections, still {after} KiB after they reset"
    );
}
