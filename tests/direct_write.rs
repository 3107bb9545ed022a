//! The host writes plain-TCP frames itself (SPEC §7 "direct write"): order survives the
//! hand-offs between host and I/O thread, sends made while handling a batch wait for the
//! flush, and a vanished peer never raises SIGPIPE in the host.
mod common;

use std::ffi::CString;
use std::io::Read;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use common::*;
use luna::ffi::LunaEventKind;
use luna::ffi::LunaResult;
use luna::ffi::*;

/// A server app the test thread polls itself, so it decides when batches end.
struct Host {
    app: *mut LunaApp,
    port: u16,
    events: Vec<Ev>,
    /// Whether it blocks in `luna_app_wait` (and so writes its sends itself) or only polls.
    waits: bool,
}

impl Host {
    fn start(waits: bool) -> Host {
        let host = CString::new("127.0.0.1").unwrap();
        // SAFETY: LunaServerConfig is plain data; luna_server_config_default fills every field.
        let mut config: LunaServerConfig = unsafe { std::mem::zeroed() };
        assert_eq!(luna_server_config_default(&mut config), LunaResult::Ok);
        config.host = host.as_ptr();
        let app = luna_server_new(&config);
        assert!(!app.is_null(), "luna_server_new: {}", last_error());
        let mut port = 0;
        assert_eq!(luna_app_port(app, &mut port), LunaResult::Ok);
        Host {
            app,
            port,
            events: Vec::new(),
            waits,
        }
    }

    /// Polls until an event of `kind` arrives; returns it. Leaves the batch open.
    fn poll_until(&mut self, kind: LunaEventKind) -> Ev {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = vec![empty_event(); 64];
        loop {
            assert!(Instant::now() < deadline, "no {kind:?}: {:?}", self.events);
            match self.waits {
                true => drop(luna_app_wait(self.app, 10)),
                false => std::thread::sleep(Duration::from_millis(1)),
            }
            let mut n = 0;
            assert_eq!(
                luna_app_poll(self.app, buf.as_mut_ptr(), buf.len(), &mut n),
                LunaResult::Ok
            );
            let found = buf[..n].iter().find(|e| e.kind == kind).map(copy_event);
            self.events.extend(buf[..n].iter().map(copy_event));
            if let Some(ev) = found {
                return ev;
            }
        }
    }

    fn send(&self, conn: u64, data: &[u8], opcode: u32) -> LunaResult {
        luna_conn_send(self.app, conn, data.as_ptr(), data.len(), opcode)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        luna_app_free(self.app);
    }
}

fn conn_of(ev: &Ev) -> u64 {
    match ev {
        Ev::Open { conn, .. } | Ev::Msg { conn, .. } | Ev::Close { conn, .. } => *conn,
        other => panic!("no connection in {other:?}"),
    }
}

#[test]
fn sends_made_while_handling_a_batch_wait_for_the_flush() {
    for waits in [true, false] {
        batch_waits_for_the_flush(waits);
    }
}

fn batch_waits_for_the_flush(waits: bool) {
    let mut host = Host::start(waits);
    let mut client = RawPeer::connect(host.port, "");
    assert_eq!(client.status(), 101);
    let conn = conn_of(&host.poll_until(LunaEventKind::Open));
    client.send(1, b"question");
    host.poll_until(LunaEventKind::Message);

    // The poll returned events: this send is held for the batch's flush.
    assert_eq!(host.send(conn, b"deferred", 1), LunaResult::Ok);
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = client.stream.read(&mut byte);
    assert!(early.is_err(), "a deferred send went out before the flush");
    assert_eq!(luna_app_flush(host.app), LunaResult::Ok);
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(client.read().unwrap(), (true, 1, b"deferred".to_vec()));

    // Outside a batch a send goes out at once.
    assert_eq!(host.send(conn, b"at once", 1), LunaResult::Ok);
    assert_eq!(client.read().unwrap(), (true, 1, b"at once".to_vec()));

    // The next poll flushes what the previous batch sent, even when it finds nothing.
    client.send(2, b"again");
    host.poll_until(LunaEventKind::Message);
    assert_eq!(host.send(conn, b"by poll", 2), LunaResult::Ok);
    let mut n = 0;
    assert_eq!(
        luna_app_poll(host.app, std::ptr::null_mut(), 0, &mut n),
        LunaResult::Ok
    );
    assert_eq!(client.read().unwrap(), (true, 2, b"by poll".to_vec()));
    assert_eq!(
        luna_app_flush(std::ptr::null_mut()),
        LunaResult::InvalidArgument
    );
}

/// Message `i` of the ordering test: every seventh one is large enough that the socket
/// fills and the I/O thread has to take over.
fn nth_message(i: usize) -> Vec<u8> {
    let len = if i % 7 == 0 { 100_000 + i } else { 1 + i % 50 };
    (0..len).map(|k| (i + k) as u8).collect()
}

#[test]
fn order_survives_direct_deferred_and_queued_writes() {
    // A waiting host writes itself; a polling one hands every write to the I/O thread.
    for waits in [true, false] {
        order_survives(waits);
    }
}

fn order_survives(waits: bool) {
    let mut host = Host::start(waits);
    let mut ws = ws_connect(&format!("ws://127.0.0.1:{}/", host.port), &[]);
    let conn = conn_of(&host.poll_until(LunaEventKind::Open));
    const COUNT: usize = 400;
    // Half inside a batch (deferred), half outside (written at once); the client reads
    // nothing yet, so the socket fills and later frames wait for the I/O thread.
    for i in 0..COUNT {
        if i == COUNT / 2 {
            assert_eq!(luna_app_flush(host.app), LunaResult::Ok);
        }
        assert_eq!(
            host.send(conn, &nth_message(i), 2),
            LunaResult::Ok,
            "send {i}"
        );
    }
    let mut got = 0;
    let mut pong = false;
    while got < COUNT {
        if got == COUNT / 2 && !pong {
            // tungstenite's pong joins the same wire between whole frames.
            ws.send(Message::Ping(bytes::Bytes::from_static(b"p")))
                .unwrap();
        }
        match ws.read().expect("read") {
            Message::Binary(data) => {
                assert!(
                    data[..] == nth_message(got)[..],
                    "message {got} out of order"
                );
                got += 1;
            }
            Message::Pong(data) => {
                assert_eq!(&data[..], b"p");
                pong = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    if !pong {
        let next = ws.read().expect("read the pong");
        assert_eq!(next, Message::Pong(bytes::Bytes::from_static(b"p")));
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn a_peer_that_resets_does_not_raise_sigpipe() {
    // Rust programs ignore SIGPIPE; C and LuaJIT hosts do not. Behave like them here.
    // SAFETY: restoring the default disposition of a signal is always allowed.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let mut host = Host::start(true);
    let client = RawPeer::connect(host.port, "");
    let conn = conn_of(&host.poll_until(LunaEventKind::Open));
    // A reset instead of a FIN: further writes fail with EPIPE / ECONNRESET.
    socket2::SockRef::from(&client.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(luna_app_flush(host.app), LunaResult::Ok);
    for _ in 0..200 {
        let r = host.send(conn, &[7u8; 1000], 2);
        assert!(matches!(r, LunaResult::Ok | LunaResult::Closed), "{r:?}");
    }
    let close = host.poll_until(LunaEventKind::Close);
    assert!(matches!(close, Ev::Close { clean: false, .. }), "{close:?}");
}

#[test]
fn nothing_follows_the_close_frame_while_the_host_keeps_sending() {
    for round in 0..20 {
        let mut host = Host::start(true);
        let mut client = RawPeer::connect(host.port, "");
        let conn = conn_of(&host.poll_until(LunaEventKind::Open));
        luna_app_flush(host.app);
        let reader = std::thread::spawn(move || {
            // Read along while the host sends, then close in the middle of the stream.
            for _ in 0..2000 {
                client.read().expect("a data frame");
            }
            client.frame(true, 0, 8, &1000u16.to_be_bytes(), Some([1, 2, 3, 4]));
            loop {
                match client.read() {
                    Ok((_, 8, _)) => break,
                    Ok(_) => {}
                    Err(e) => panic!("round {round}: no close frame: {e}"),
                }
            }
            // After the close frame only the end of the stream may come.
            let after = client.read();
            assert!(
                after.is_err(),
                "round {round}: a frame after close: {after:?}"
            );
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match host.send(conn, b"more", 1) {
                LunaResult::Ok => {}
                LunaResult::Backpressure => std::thread::sleep(Duration::from_millis(1)),
                LunaResult::Closed => break,
                other => panic!("send: {other:?}"),
            }
            assert!(
                Instant::now() < deadline,
                "the peer's close never took effect"
            );
        }
        reader.join().unwrap();
    }
}
