//! Every limit set through its Lua key (`luna.new_web_app`) on the LuaJIT echo server:
//! the keys reach the C config and the server enforces them.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::lua_echo::LuaEcho;
use common::*;

const MASK: Option<[u8; 4]> = Some([4, 3, 2, 1]);

#[test]
fn max_frame_and_message_size_close_with_1009() {
    let s = LuaEcho::start("{ max_frame_size = 100, max_message_size = 300 }");
    let mut c = RawPeer::connect(s.port, "");
    c.frame(false, 0, 2, &[1; 100], MASK);
    c.frame(true, 0, 0, &[1; 100], MASK);
    assert_eq!(c.read().unwrap(), (true, 2, vec![1; 200]));
    c.send(2, &[1; 101]);
    assert_eq!(c.read_close(), 1009, "frame over max_frame_size");
    let mut c = RawPeer::connect(s.port, "");
    c.frame(false, 0, 2, &[1; 100], MASK);
    c.frame(false, 0, 0, &[1; 100], MASK);
    c.frame(false, 0, 0, &[1; 100], MASK);
    c.frame(true, 0, 0, &[1; 1], MASK);
    assert_eq!(c.read_close(), 1009, "message over max_message_size");
}

#[test]
fn max_connections_answers_503() {
    let s = LuaEcho::start("{ max_connections = 1 }");
    let first = RawPeer::connect(s.port, "");
    assert_eq!(first.status(), 101);
    let second = RawPeer::connect(s.port, "");
    assert_eq!(second.status(), 503, "{}", second.head);
}

#[test]
fn handshake_timeout_drops_a_half_request() {
    let s = LuaEcho::start("{ handshake_timeout = 0.3 }");
    let mut half = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        half.read(&mut buf).unwrap_or(0),
        0,
        "dropped without an answer"
    );
}

#[test]
fn a_peer_that_stops_answering_pings_is_closed_with_1001() {
    let s = LuaEcho::start("{ ping_interval = 0.1, idle_timeout = 0.4 }");
    let mut c = RawPeer::connect(s.port, "");
    let (_, op, _) = c.read().unwrap();
    assert_eq!(op, 9, "an automatic ping");
    assert_eq!(c.read_close(), 1001);
    assert!(c.tcp_closed());
}

/// Writes 64 KiB messages without reading the echoes; returns whether the server ended
/// the connection.
fn flood(port: u16) -> (RawPeer, bool) {
    let mut c = RawPeer::connect(port, "");
    let frame = encode_frame(true, 0, 2, &[7; 64 << 10], MASK);
    for _ in 0..400 {
        if c.stream.write_all(&frame).is_err() {
            return (c, true);
        }
    }
    (c, false)
}

#[test]
fn close_on_backpressure_closes_a_peer_that_does_not_read() {
    let s = LuaEcho::start("{ max_send_queue = 256 * 1024, close_on_backpressure = true }");
    let (mut c, write_failed) = flood(s.port);
    // Either the writes already failed, or reading drains what was sent and then ends.
    assert!(write_failed || c.tcp_closed(), "the connection was closed");
}

#[test]
fn backpressure_by_default_keeps_the_connection_open() {
    let s = LuaEcho::start("{ max_send_queue = 256 * 1024 }");
    let (mut c, write_failed) = flood(s.port);
    assert!(!write_failed, "the connection stays open");
    // Echoes the Lua server could not queue were refused ("backpressure"), not fatal. Read
    // what did get queued until the server goes quiet, so the marker's echo finds room.
    c.stream
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    while let Ok((_, op, payload)) = c.read() {
        assert_eq!((op, payload.len()), (2, 64 << 10));
    }
    c.stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    c.send(1, b"marker");
    loop {
        let (_, op, payload) = c.read().expect("still open");
        if op == 1 {
            assert_eq!(payload, b"marker");
            break;
        }
        assert_eq!((op, payload.len()), (2, 64 << 10));
    }
}
