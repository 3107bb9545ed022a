//! Sessions whose client dropped (`resume`): each keeps its place for the window, not its
//! socket; no more may wait than the app accepts connections (in all and per address); and
//! when many end at once, every poll still hands out at most as many events as it has slots.
mod common;

use std::time::{Duration, Instant};

use common::*;
use luna::ffi::*;

/// The tests count this process's descriptors: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn resumable(max_connections: u32, per_address: u32) -> TestServer {
    TestServer::start(Options {
        echo: false,
        tweak: Box::new(move |config| {
            config.resume_window_ms = 30_000;
            config.max_connections = max_connections;
            config.max_connections_per_ip = per_address;
        }),
        ..Options::default()
    })
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Starts session `i` and drops its connection at once (a reset, as a lost network does).
fn start_and_drop(server: &TestServer, i: usize) {
    let mut peer = RawPeer::connect_to(server.port, &format!("/?luna_resume=n{i}"), "");
    assert_eq!(peer.status(), 101);
    let answer = peer.read_text();
    assert!(
        answer.contains(&format!("n{i}")),
        "the session's answer: {answer}"
    );
    socket2::SockRef::from(&peer.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

fn closes(server: &TestServer, code: u32) -> usize {
    server.count(|e| matches!(e, Ev::Close { code: c, .. } if *c == code))
}

#[test]
fn paused_sessions_give_their_sockets_back_and_all_end_within_the_polls_slots() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = resumable(0, 0);
    let before = open_descriptors();
    let sessions = 300; // more than the test host's 256 event slots
    for i in 0..sessions {
        start_and_drop(&server, i);
    }
    server.wait_until(20, "every session opened", || server.opens() == sessions);
    // Paused, not closed: the host hears nothing, and the sockets are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_descriptors() > before + 5 {
        assert!(
            Instant::now() < deadline,
            "{} descriptors open, {before} before the sessions",
            open_descriptors()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.count(|e| matches!(e, Ev::Close { .. })), 0);
    // Stopping ends every session at once; the polls that follow hand them out in turns.
    let events = server.stop_and_free();
    let mut ended: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Ev::Close { conn, code, .. } => {
                assert_eq!(*code, 1001, "{e:?}");
                Some(*conn)
            }
            _ => None,
        })
        .collect();
    ended.sort_unstable();
    ended.dedup();
    assert_eq!(ended.len(), sessions, "one CLOSE per session");
}

/// Drops `sessions` sessions one by one; returns how many paused (no CLOSE yet).
fn paused_after_drops(server: &TestServer, sessions: usize) -> usize {
    let before = open_descriptors();
    for i in 0..sessions {
        let closed_before = server.count(|e| matches!(e, Ev::Close { .. }));
        start_and_drop(server, i);
        server.wait_until(10, "the session's open", || server.opens() == i + 1);
        // Settled once its CLOSE came (ended) or its socket is gone (paused).
        server.wait_until(10, "the drop handled", || {
            server.count(|e| matches!(e, Ev::Close { .. })) > closed_before
                || open_descriptors() <= before
        });
    }
    std::thread::sleep(Duration::from_millis(100));
    sessions - server.count(|e| matches!(e, Ev::Close { .. }))
}

#[test]
fn no_more_sessions_wait_than_the_app_accepts_connections() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = resumable(4, 0);
    assert_eq!(paused_after_drops(&server, 10), 4);
    assert_eq!(
        closes(&server, 1006),
        6,
        "the drops past the limit end the session"
    );
    let events = server.stop_and_free();
    let going_away = events
        .iter()
        .filter(|e| matches!(e, Ev::Close { code: 1001, .. }))
        .count();
    assert_eq!(going_away, 4, "the paused ones end when the app stops");
}

#[test]
fn no_more_sessions_wait_per_address_than_it_may_open_connections() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = resumable(0, 2);
    assert_eq!(paused_after_drops(&server, 6), 2);
    assert_eq!(closes(&server, 1006), 4);
    let app = app_ptr(server.app);
    // A paused session's handshake stays readable; its socket is gone.
    let paused = server
        .open_ids()
        .into_iter()
        .find(|id| {
            !server
                .snapshot()
                .iter()
                .any(|e| matches!(e, Ev::Close { conn, .. } if conn == id))
        })
        .expect("a paused session");
    let mut ip = [0 as std::ffi::c_char; 64];
    let mut port = 0u16;
    assert_eq!(
        luna_conn_peer(app, paused, ip.as_mut_ptr(), ip.len(), &mut port),
        LunaResult::Ok
    );
    let mut fd = 0i64;
    assert_eq!(luna_conn_fd(app, paused, &mut fd), LunaResult::Closed);
}
