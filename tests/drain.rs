//! `luna_app_drain`: the port closes at once, every WebSocket gets what was queued for it and
//! then the drain's close, spread over the timeout, and `luna_app_drained` tells when it is
//! over. Nothing accepted for sending is lost.
mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use luna::ffi::*;

fn drained(server: &TestServer) -> bool {
    let mut out = 0u8;
    assert_eq!(
        luna_app_drained(app_ptr(server.app), &mut out),
        LunaResult::Ok
    );
    out == 1
}

#[test]
fn a_drain_delivers_what_was_queued_then_closes_each_connection() {
    let server = TestServer::start(Options {
        echo: false,
        ..Options::default()
    });
    let app = app_ptr(server.app);
    let mut clients: Vec<RawPeer> = (0..20).map(|_| RawPeer::connect(server.port, "")).collect();
    server.wait_until(10, "20 opens", || {
        server.count(|e| matches!(e, Ev::Open { .. })) == 20
    });
    assert!(!drained(&server), "no drain asked for yet");
    let ids: Vec<u64> = server.open_ids();
    // Queued while nobody reads: 50 messages of 1 KiB each.
    for &id in &ids {
        for i in 0..50u32 {
            let mut message = format!("{i:04}").into_bytes();
            message.resize(1024, b'.');
            assert_eq!(
                luna_conn_send(app, id, message.as_ptr(), message.len(), 2),
                LunaResult::Ok
            );
        }
    }
    let reason = b"restart";
    let started = Instant::now();
    let rc = luna_app_drain(app, 1500, 1001, reason.as_ptr(), reason.len());
    assert_eq!(rc, LunaResult::Ok, "{}", last_error());
    assert!(
        TcpStream::connect(("127.0.0.1", server.port)).is_err(),
        "the port still takes connections"
    );
    for client in &mut clients {
        for i in 0..50u32 {
            let (_, opcode, payload) = client.read().expect("a queued message");
            assert_eq!(opcode, 2);
            assert_eq!(
                &payload[..4],
                format!("{i:04}").as_bytes(),
                "in order, none lost"
            );
        }
        let (_, opcode, payload) = client.read().expect("the close");
        assert_eq!(opcode, 8);
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1001);
        assert_eq!(&payload[2..], reason);
        // The client answers the close, as a browser does.
        client.send(8, &payload);
    }
    server.wait_until(10, "the drain to end", || drained(&server));
    server.wait_until(10, "20 closes", || {
        server.count(|e| matches!(e, Ev::Close { code: 1001, .. })) == 20
    });
    // Spread: the last close went out well after the first (80% of the timeout).
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_drain_checks_its_arguments() {
    let server = TestServer::start(Options::default());
    let app = app_ptr(server.app);
    let bad = luna_app_drain(app, 1000, 999, std::ptr::null(), 0);
    assert_eq!(bad, LunaResult::InvalidArgument);
    assert_eq!(
        luna_app_drain(app, 1000, 1001, std::ptr::null(), 3),
        LunaResult::InvalidArgument
    );
    // An app with nothing open is drained as soon as it is asked.
    assert_eq!(
        luna_app_drain(app, 5000, 1001, std::ptr::null(), 0),
        LunaResult::Ok
    );
    server.wait_until(5, "an empty app drained", || drained(&server));
    let client = TestClient::connect(&server.url(), |_| {});
    let mut out = 0u8;
    assert_eq!(
        luna_app_drained(app_ptr(client.app), &mut out),
        LunaResult::InvalidArgument
    );
}

/// A host blocked in `luna_app_wait` is woken when the drain is over, even when nothing was
/// open (so no CLOSE event would wake it).
#[test]
fn a_host_waiting_hears_that_the_drain_is_over() {
    let host = std::ffi::CString::new("127.0.0.1").unwrap();
    // SAFETY: plain data, filled by luna_server_config_default.
    let mut config: LunaServerConfig = unsafe { std::mem::zeroed() };
    assert_eq!(luna_server_config_default(&mut config), LunaResult::Ok);
    config.host = host.as_ptr();
    let app = luna_server_new(&config);
    assert!(!app.is_null(), "{}", last_error());
    let handle = app as usize;
    let drainer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        luna_app_drain(handle as *mut LunaApp, 2000, 1001, std::ptr::null(), 0)
    });
    assert_eq!(
        luna_app_wait(app, 5000),
        LunaResult::Ok,
        "woken, not timed out"
    );
    assert_eq!(drainer.join().unwrap(), LunaResult::Ok);
    let mut done = 0u8;
    assert_eq!(luna_app_drained(app, &mut done), LunaResult::Ok);
    assert_eq!(done, 1);
    let mut events = [empty_event(); 4];
    let mut n = 9usize;
    assert_eq!(
        luna_app_poll(app, events.as_mut_ptr(), 4, &mut n),
        LunaResult::Ok
    );
    assert_eq!(n, 0, "the wake-up is no event of the host's");
    assert_eq!(luna_app_free(app), LunaResult::Ok);
}
