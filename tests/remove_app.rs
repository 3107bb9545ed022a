//! Stopping an app with clients connected: every client gets 1001, every close event is
//! delivered, and the port can be bound again at once.
mod common;

use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

#[test]
fn stop_closes_everyone_with_1001_and_frees_the_port() {
    let s = TestServer::start(Options::default());
    let port = s.port;
    let mut clients: Vec<RawPeer> = (0..20).map(|_| RawPeer::connect(port, "")).collect();
    s.wait_until(5, "20 opens", || {
        s.count(|e| matches!(e, Ev::Open { .. })) == 20
    });
    // Each client answers the close frame, as a real client does, from its own thread.
    let readers: Vec<_> = clients
        .drain(..)
        .map(|mut c| {
            std::thread::spawn(move || {
                let code = c.read_close();
                c.frame(true, 0, 8, &code.to_be_bytes(), Some([0, 0, 0, 0]));
                (code, c.tcp_closed())
            })
        })
        .collect();
    let events = s.stop_and_free();
    for r in readers {
        let (code, closed) = r.join().unwrap();
        assert_eq!(code, 1001);
        assert!(closed);
    }
    let closes = events
        .iter()
        .filter(|e| matches!(e, Ev::Close { code: 1001, .. }))
        .count();
    assert_eq!(closes, 20, "{events:?}");
    // The port is free again as soon as stop returned.
    let again = TestServer::start_on(
        "127.0.0.1",
        Options {
            tweak: Box::new(move |c| c.port = port),
            ..Options::default()
        },
    );
    assert_eq!(again.port, port);
}

#[test]
fn freeing_twice_and_using_a_freed_app_are_errors() {
    let s = TestServer::start(Options::default());
    let app = s.app;
    s.stop_and_free();
    assert_eq!(luna_app_free(app_ptr(app)), LunaResult::InvalidArgument);
    assert_eq!(luna_app_stop(app_ptr(app)), LunaResult::InvalidArgument);
    assert_eq!(
        luna_conn_send(app_ptr(app), 1, b"x".as_ptr(), 1, 1),
        LunaResult::InvalidArgument
    );
    assert_eq!(luna_app_free(std::ptr::null_mut()), LunaResult::Ok);
}

#[test]
fn two_apps_run_side_by_side() {
    let a = TestServer::start(Options::default());
    let b = TestServer::start(Options::default());
    assert_ne!(a.port, b.port);
    let mut ca = RawPeer::connect(a.port, "");
    let mut cb = RawPeer::connect(b.port, "");
    ca.send(1, b"to a");
    cb.send(1, b"to b");
    assert_eq!(ca.read().unwrap().2, b"to a");
    assert_eq!(cb.read().unwrap().2, b"to b");
}
