//! `LUNA_WAIT_SPIN_US` (opt-in): wait spins before it parks, and still honours timeouts
//! and wakes for events that arrive while it spins or after it parked.
mod common;

use std::time::{Duration, Instant};

use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

#[test]
fn a_spinning_wait_keeps_its_timeouts_and_sees_events() {
    // Read once per process, before the first wait: this file is its own test binary.
    std::env::set_var("LUNA_WAIT_SPIN_US", "3000");
    let server = TestServer::start(Options {
        echo: false,
        ..Options::default()
    });
    // The host thread of TestServer waits too; use a second app that nobody polls.
    let quiet = TestServer::start(Options::default());
    let app = app_ptr(quiet.app);

    let start = Instant::now();
    assert_eq!(luna_app_wait(app, 1), LunaResult::Timeout);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1), "returned early: {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "spun past the timeout: {took:?}"
    );

    // Events still reach a host that spins (the other app's host thread echoes nothing,
    // so its OPEN and MESSAGE events are what we wait for).
    let mut client = RawClient::connect(server.port, "");
    assert_eq!(client.status(), 101);
    client.send(1, b"spin");
    server.wait_for(
        10,
        "the message",
        |e| matches!(e, Ev::Msg { data, .. } if data == b"spin"),
    );
}
