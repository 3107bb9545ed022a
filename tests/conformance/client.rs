//! RFC 6455 conformance of the client: a raw-socket server written here sends a luna client
//! (through `luna_client_connect`) well-formed and broken frames and checks its answers.
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use crate::common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

/// Accepts the luna client that `connect` starts, answers its upgrade with 101 and waits
/// for the client to open.
fn accept(connect: impl FnOnce(&str) -> TestClient) -> (RawPeer, TestClient) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut client = connect(&format!("ws://127.0.0.1:{port}/conformance"));
    let server = RawPeer::accept(&listener, "");
    client.until(10, "open", TestClient::opened);
    (server, client)
}

fn start() -> (RawPeer, TestClient) {
    accept(|url| TestClient::connect(url, |_| {}))
}

fn messages(events: &[Ev]) -> Vec<(u32, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Ev::Msg { opcode, data, .. } => Some((*opcode, data.clone())),
            _ => None,
        })
        .collect()
}

fn close_event(c: &TestClient) -> (u32, bool) {
    c.events
        .iter()
        .find_map(|e| match e {
            Ev::Close { code, clean, .. } => Some((*code, *clean)),
            _ => None,
        })
        .expect("a close event")
}

/// The server sends `frames`; the client must answer with a close `code` and report it.
fn violation(frames: &[Vec<u8>], code: u16, case: &str) {
    let (mut server, mut client) = start();
    for f in frames {
        server.write(f);
    }
    assert_eq!(server.read_close(), code, "{case}: the client's close code");
    client.until(10, "close event", TestClient::closed);
    assert_eq!(
        close_event(&client).0,
        u32::from(code),
        "{case}: close event"
    );
    assert!(
        client.events.iter().all(|e| !matches!(e, Ev::Msg { .. })),
        "{case}: no message is delivered: {:?}",
        client.brief()
    );
}

#[test]
fn unmasked_server_frames_are_accepted_at_every_length() {
    let (mut server, mut client) = start();
    let sizes = [0usize, 1, 125, 126, 127, 65535, 65536, 1 << 20];
    for (i, len) in sizes.iter().enumerate() {
        let payload: Vec<u8> = (0..*len).map(|i| b'a' + (i % 26) as u8).collect();
        server.frame(true, 0, 1 + (i % 2) as u8, &payload, None);
    }
    client.until(20, "every message", |ev| messages(ev).len() == sizes.len());
    for (i, (opcode, data)) in messages(&client.events).into_iter().enumerate() {
        assert_eq!(opcode, 1 + (i % 2) as u32);
        assert_eq!(data.len(), sizes[i]);
    }
}

#[test]
fn masked_server_frames_are_rejected_with_1002() {
    violation(
        &[encode_frame(true, 0, 1, b"masked", Some([1, 2, 3, 4]))],
        1002,
        "masked text",
    );
}

#[test]
fn protocol_violations_from_the_server_close_with_1002() {
    violation(&[encode_frame(true, 0b100, 1, b"rsv", None)], 1002, "rsv1");
    violation(&[encode_frame(true, 0, 3, b"op", None)], 1002, "opcode 3");
    violation(&[encode_frame(true, 0, 11, b"op", None)], 1002, "opcode 11");
    violation(
        &[encode_frame(true, 0, 0, b"orphan", None)],
        1002,
        "orphan continuation",
    );
    violation(
        &[encode_frame(false, 0, 9, b"p", None)],
        1002,
        "fragmented ping",
    );
    violation(
        &[encode_frame(true, 0, 9, &[0; 126], None)],
        1002,
        "126-byte ping",
    );
    violation(
        &[
            encode_frame(false, 0, 1, b"a", None),
            encode_frame(true, 0, 2, b"b", None),
        ],
        1002,
        "new message inside a fragmented one",
    );
    violation(
        &[encode_frame(true, 0, 8, &[3], None)],
        1002,
        "1-byte close",
    );
    violation(
        &[encode_frame(true, 0, 8, &1005u16.to_be_bytes(), None)],
        1002,
        "close code 1005",
    );
}

#[test]
fn invalid_utf8_from_the_server_closes_with_1007() {
    violation(
        &[encode_frame(true, 0, 1, b"ab\xff", None)],
        1007,
        "whole text",
    );
    // The bad first fragment fails at once: no final fragment is sent.
    violation(
        &[encode_frame(false, 0, 1, b"\xed\xa0\x80", None)],
        1007,
        "first fragment",
    );
}

#[test]
fn fragmented_messages_are_reassembled_and_pings_answered() {
    let (mut server, mut client) = start();
    server.frame(false, 0, 1, "κό".as_bytes(), None);
    server.frame(true, 0, 9, b"interleaved", None);
    server.frame(false, 0, 0, &"σμε 😀".as_bytes()[..6], None);
    server.frame(true, 0, 0, &"σμε 😀".as_bytes()[6..], None);
    server.frame(false, 0, 2, b"\x00\x01", None);
    server.frame(true, 0, 0, b"\x02", None);
    let pong = server.read_wire();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (10, &b"interleaved"[..])
    );
    assert!(pong.fin && pong.mask.is_some(), "pong is one masked frame");
    client.until(10, "two messages", |ev| messages(ev).len() == 2);
    assert_eq!(
        messages(&client.events),
        vec![(1, "κόσμε 😀".as_bytes().to_vec()), (2, vec![0, 1, 2])]
    );
    server.frame(true, 0, 10, b"unsolicited pong is ignored", None);
    server.frame(true, 0, 9, &[7u8; 125], None);
    let pong = server.read_wire();
    assert_eq!((pong.opcode, pong.payload), (10, vec![7u8; 125]));
}

#[test]
fn client_frames_are_masked_with_a_fresh_key_each() {
    let (mut server, client) = start();
    for i in 0..32u8 {
        assert_eq!(client.send(&[i; 40], 2), LunaResult::Ok);
    }
    let mut keys = std::collections::HashSet::new();
    for i in 0..32u8 {
        let f = server.read_wire();
        assert_eq!((f.fin, f.opcode, f.payload), (true, 2, vec![i; 40]));
        keys.insert(f.mask.expect("client frames are masked"));
    }
    // 32 random 32-bit keys collide with probability ~1e-7.
    assert_eq!(keys.len(), 32, "a fresh masking key per frame");
}

#[test]
fn server_initiated_close_completes_the_handshake() {
    let (mut server, mut client) = start();
    let mut payload = 4001u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"done");
    server.frame(true, 0, 8, &payload, None);
    assert_eq!(
        server.read_close(),
        4001,
        "the client echoes the close code"
    );
    client.until(10, "close event", TestClient::closed);
    assert_eq!(close_event(&client), (4001, true));
    // The server closes TCP first; the client then closes its end.
    server.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(server.tcp_closed(), "the client closes TCP");
}

#[test]
fn client_initiated_close_completes_the_handshake() {
    let (mut server, mut client) = start();
    assert_eq!(
        luna_conn_close(app_ptr(client.app), client.conn, 1000, b"bye".as_ptr(), 3),
        LunaResult::Ok
    );
    assert_eq!(server.read_close(), 1000);
    server.frame(true, 0, 8, &1000u16.to_be_bytes(), None);
    client.until(10, "close event", TestClient::closed);
    assert_eq!(close_event(&client), (1000, true));
    assert!(
        server.tcp_closed(),
        "the client closes TCP after the handshake"
    );
}

#[test]
fn invalid_close_reason_from_the_server_closes_with_1007() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"\xff");
    violation(
        &[encode_frame(true, 0, 8, &payload, None)],
        1007,
        "close reason",
    );
}

#[test]
fn an_open_connection_outlives_the_connect_timeout() {
    let (mut server, mut client) =
        accept(|url| TestClient::connect(url, |c| c.connect_timeout_ms = 300));
    std::thread::sleep(Duration::from_millis(900));
    server.frame(true, 0, 1, b"later", None);
    client.until(10, "message after the connect timeout", |ev| {
        !messages(ev).is_empty()
    });
    assert!(!TestClient::closed(&client.events), "{:?}", client.brief());
    assert_eq!(client.send(b"still open", 1), LunaResult::Ok);
    assert_eq!(server.read_wire().payload, b"still open");
}

#[test]
fn a_server_that_never_closes_tcp_is_dropped_after_the_close_timeout() {
    let (mut server, mut client) =
        accept(|url| TestClient::connect(url, |c| c.close_timeout_ms = 300));
    server.frame(true, 0, 8, &1000u16.to_be_bytes(), None);
    assert_eq!(server.read_close(), 1000);
    // The server keeps TCP open; the client gives up waiting and closes it.
    client.until(10, "close event", TestClient::closed);
    assert_eq!(close_event(&client), (1000, true));
    assert!(
        server.tcp_closed(),
        "the client closes TCP after its close timeout"
    );
}

#[test]
fn a_server_that_floods_pings_and_never_reads_cannot_grow_the_client() {
    let (mut server, mut client) =
        accept(|url| TestClient::connect(url, |c| c.max_send_queue = 1 << 20));
    let before = rss_kib();
    // 48 MiB of 125-byte pings in 64 KiB writes, never reading the client's pongs.
    let ping = encode_frame(true, 0, 9, &[7u8; 125], None);
    let sent = flood(&mut server.stream, &ping, 48 << 20);
    std::thread::sleep(Duration::from_millis(300));
    let grown = rss_kib().saturating_sub(before);
    assert!(
        grown < 24 << 10,
        "RSS grew {grown} KiB after {sent} bytes of pings with a 1 MiB send queue"
    );
    assert!(
        sent < 48 << 20,
        "the client kept reading while its pongs piled up"
    );
    // Reading the pongs lets the client read on: a text after the flood arrives.
    let mut drain = server.stream.try_clone().unwrap();
    drain
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let reader = std::thread::spawn(move || {
        let (mut total, mut buf) = (0usize, vec![0u8; 64 << 10]);
        while let Ok(n @ 1..) = drain.read(&mut buf) {
            total += n;
        }
        total
    });
    server
        .stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut rest = ping[sent % ping.len()..].to_vec();
    if sent % ping.len() == 0 {
        rest.clear();
    }
    rest.extend(encode_frame(true, 0, 1, b"still alive", None));
    server
        .stream
        .write_all(&rest)
        .expect("the client reads again");
    client.until(20, "the text after the flood", |ev| {
        messages(ev).iter().any(|(_, m)| m == b"still alive")
    });
    // Every ping was answered: 127-byte pongs plus a 4-byte mask each.
    let pongs = reader.join().unwrap() / (2 + 4 + 125);
    assert!(
        pongs >= sent / ping.len(),
        "{pongs} pongs for {sent} bytes of pings"
    );
}
