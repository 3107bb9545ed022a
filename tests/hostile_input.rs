//! Hostile input closes only the offending connection, with the right code: invalid UTF-8
//! (1007), oversized messages (1009), unmasked frames and reserved bits (1002); garbage and
//! incomplete handshakes are refused or timed out; other clients carry on.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

fn bystander(port: u16) -> RawPeer {
    let c = RawPeer::connect(port, "");
    assert_eq!(c.status(), 101);
    c
}

fn still_echoes(c: &mut RawPeer) {
    c.send(1, b"still here");
    assert_eq!(c.read().unwrap(), (true, 1, b"still here".to_vec()));
}

#[test]
fn invalid_utf8_text_closes_with_1007() {
    let s = TestServer::start(Options::default());
    let mut other = bystander(s.port);
    let mut bad = bystander(s.port);
    bad.send(1, &[0x68, 0x69, 0xff, 0xfe]);
    assert_eq!(bad.read_close(), 1007);
    assert!(bad.tcp_closed());
    still_echoes(&mut other);
    s.wait_for(5, "close 1007", |e| {
        matches!(e, Ev::Close { code: 1007, .. })
    });
    s.wait_for(5, "error event", |e| {
        matches!(e, Ev::Error { code: 11, .. })
    });
}

#[test]
fn oversized_message_closes_with_1009() {
    let s = TestServer::start(Options {
        tweak: Box::new(|c| {
            c.max_message_size = 1000;
            c.max_frame_size = 1000;
        }),
        ..Options::default()
    });
    let mut other = bystander(s.port);
    let mut big = bystander(s.port);
    big.send(2, &[7u8; 1001]);
    assert_eq!(big.read_close(), 1009);
    // Fragments that only add up to too much are caught as well.
    let mut frag = bystander(s.port);
    frag.frame(false, 0, 2, &[1u8; 600], Some([1, 2, 3, 4]));
    frag.frame(true, 0, 0, &[1u8; 600], Some([1, 2, 3, 4]));
    assert_eq!(frag.read_close(), 1009);
    still_echoes(&mut other);
}

#[test]
fn unmasked_frames_and_reserved_bits_close_with_1002() {
    let s = TestServer::start(Options::default());
    let mut other = bystander(s.port);
    let mut unmasked = bystander(s.port);
    unmasked.frame(true, 0, 1, b"no mask", None);
    assert_eq!(unmasked.read_close(), 1002);
    let mut rsv = bystander(s.port);
    rsv.frame(true, 0b100, 1, b"rsv1", Some([1, 2, 3, 4]));
    assert_eq!(rsv.read_close(), 1002);
    let mut opcode = bystander(s.port);
    opcode.frame(true, 0, 3, b"reserved opcode", Some([1, 2, 3, 4]));
    assert_eq!(opcode.read_close(), 1002);
    still_echoes(&mut other);
}

#[test]
fn garbage_handshake_gets_400_and_others_carry_on() {
    let s = TestServer::start(Options::default());
    let mut other = bystander(s.port);
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut g = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        g.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        g.write_all(garbage).unwrap();
        let mut answer = String::new();
        let _ = g.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "answer: {answer:?}");
    }
    still_echoes(&mut other);
    assert_eq!(
        s.count(|e| matches!(e, Ev::Open { .. })),
        1,
        "garbage never opens a connection"
    );
}

#[test]
fn incomplete_handshake_is_dropped_after_the_timeout() {
    let s = TestServer::start(Options {
        tweak: Box::new(|c| c.handshake_timeout_ms = 300),
        ..Options::default()
    });
    let mut half = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr")
        .unwrap();
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut other = bystander(s.port);
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = half.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "dropped without an answer");
    assert!(started.elapsed() < Duration::from_secs(4));
    still_echoes(&mut other);
    s.wait_for(5, "timeout error", |e| {
        matches!(e, Ev::Error { code: 6, .. })
    });
}

#[test]
fn max_connections_answers_503() {
    let s = TestServer::start(Options {
        tweak: Box::new(|c| c.max_connections = 2),
        ..Options::default()
    });
    let _a = bystander(s.port);
    let _b = bystander(s.port);
    s.wait_until(5, "two opens", || {
        s.count(|e| matches!(e, Ev::Open { .. })) == 2
    });
    let refused = RawPeer::connect(s.port, "");
    assert_eq!(refused.status(), 503, "{}", refused.head);
}
