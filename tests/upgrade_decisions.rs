//! Upgrade decisions by the host through the C ABI (`upgrade_events`): an UPGRADE event per
//! handshake with its request readable; accept (with a chosen subprotocol and extra fields
//! such as Set-Cookie) opens the connection under the same id; reject answers the client with
//! the host's status, fields and body; a handshake nobody decides gets 503 after the
//! handshake timeout; bad answers are refused.
mod common;

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use luna::ffi::*;

fn server(timeout_ms: u32) -> TestServer {
    TestServer::start(Options {
        protocols: vec!["a", "b"],
        tweak: Box::new(move |c| {
            c.upgrade_events = 1;
            c.handshake_timeout_ms = timeout_ms;
        }),
        ..Options::default()
    })
}

/// Sends a handshake for `target` offering `protocols` (may be empty).
fn ask(port: u16, target: &str, protocols: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let offer = match protocols {
        "" => String::new(),
        list => format!("Sec-WebSocket-Protocol: {list}\r\n"),
    };
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// The id of the `n`-th UPGRADE event (1-based) and its target.
fn upgrade_event(server: &TestServer, n: usize) -> (u64, String) {
    let is_upgrade = |e: &Ev| matches!(e, Ev::Upgrade { .. });
    server.wait_until(10, "an UPGRADE event", || server.count(is_upgrade) >= n);
    match server.snapshot().into_iter().filter(is_upgrade).nth(n - 1) {
        Some(Ev::Upgrade { conn, target, peer }) => {
            assert_eq!(peer, "127.0.0.1");
            (conn, target)
        }
        _ => unreachable!(),
    }
}

#[test]
fn accept_chooses_the_protocol_and_adds_fields() {
    let server = server(10_000);
    let app = app_ptr(server.app);
    let mut stream = ask(server.port, "/play?token=t", "a, b");
    let (id, target) = upgrade_event(&server, 1);
    assert_eq!(target, "/play?token=t");
    // The request is readable while the host decides.
    let mut req = LunaRequest {
        method: std::ptr::null(),
        method_len: 0,
        target: std::ptr::null(),
        target_len: 0,
        header_count: 0,
    };
    assert_eq!(luna_conn_request(app, id, &mut req), LunaResult::Ok);
    assert_eq!(req.target_len, target.len());
    let cookie = CString::new("Set-Cookie: session=abc; HttpOnly").unwrap();
    let fields = [cookie.as_ptr()];
    // A protocol the client did not offer, and a field luna writes itself, are refused.
    let c = b"c";
    let refused = luna_upgrade_accept(app, id, c.as_ptr(), 1, std::ptr::null(), 0);
    assert_eq!(refused, LunaResult::InvalidArgument);
    let length = CString::new("Content-Length: 3").unwrap();
    let bad = [length.as_ptr()];
    let refused = luna_upgrade_accept(app, id, std::ptr::null(), 0, bad.as_ptr(), 1);
    assert_eq!(refused, LunaResult::InvalidArgument, "{}", last_error());
    let b = b"b";
    let accepted = luna_upgrade_accept(app, id, b.as_ptr(), 1, fields.as_ptr(), 1);
    assert_eq!(accepted, LunaResult::Ok, "{}", last_error());
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("Sec-WebSocket-Protocol: b\r\n"), "{head}");
    assert!(
        head.contains("Set-Cookie: session=abc; HttpOnly\r\n"),
        "{head}"
    );
    let open = server.wait_for(10, "OPEN", |e| matches!(e, Ev::Open { .. }));
    assert!(
        matches!(&open, Ev::Open { conn, protocol, .. } if *conn == id && protocol == "b"),
        "{open:?}"
    );
    // A second answer comes too late.
    let again = luna_upgrade_accept(app, id, std::ptr::null(), 0, std::ptr::null(), 0);
    assert_ne!(again, LunaResult::Ok);
    server.stop_and_free();
}

#[test]
fn reject_sends_the_hosts_status_fields_and_body() {
    let server = server(10_000);
    let app = app_ptr(server.app);
    let mut stream = ask(server.port, "/admin", "");
    let (id, _) = upgrade_event(&server, 1);
    let challenge = CString::new("WWW-Authenticate: Token").unwrap();
    let fields = [challenge.as_ptr()];
    let body = b"who are you?";
    assert_eq!(
        luna_upgrade_reject(app, id, 200, std::ptr::null(), 0, body.as_ptr(), body.len()),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_upgrade_reject(app, id, 401, fields.as_ptr(), 1, body.as_ptr(), body.len()),
        LunaResult::Ok,
        "{}",
        last_error()
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("WWW-Authenticate: Token\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nwho are you?"), "{answer}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.count(|e| matches!(e, Ev::Open { .. })), 0);
    // Unknown ids and client apps are refused.
    assert_eq!(
        luna_upgrade_reject(
            app,
            987_654_321,
            403,
            std::ptr::null(),
            0,
            std::ptr::null(),
            0
        ),
        LunaResult::InvalidArgument
    );
    server.stop_and_free();
}

#[test]
fn an_undecided_handshake_gets_503_and_nothing_stays() {
    let server = server(300);
    let app = app_ptr(server.app);
    let mut stream = ask(server.port, "/slow", "");
    let (id, _) = upgrade_event(&server, 1);
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let timeout = LunaResult::Timeout as u32;
    server.wait_for(
        5,
        "the TIMEOUT error",
        |e| matches!(e, Ev::Error { conn, code, .. } if *conn == id && *code == timeout),
    );
    let late = luna_upgrade_accept(app, id, std::ptr::null(), 0, std::ptr::null(), 0);
    assert_ne!(late, LunaResult::Ok);
    // The next poll forgets it: its request is gone too.
    std::thread::sleep(Duration::from_millis(50));
    let mut req = LunaRequest {
        method: std::ptr::null(),
        method_len: 0,
        target: std::ptr::null(),
        target_len: 0,
        header_count: 0,
    };
    assert_ne!(luna_conn_request(app, id, &mut req), LunaResult::Ok);
    // Many undecided handshakes leave the server as it was: a new one is still decided.
    let streams: Vec<TcpStream> = (0..20).map(|_| ask(server.port, "/x", "")).collect();
    std::thread::sleep(Duration::from_millis(600));
    drop(streams);
    let mut stream = ask(server.port, "/after", "");
    let (id, _) = upgrade_event(&server, 22);
    assert_eq!(
        luna_upgrade_accept(app, id, std::ptr::null(), 0, std::ptr::null(), 0),
        LunaResult::Ok
    );
    assert!(read_head(&mut stream).starts_with("HTTP/1.1 101"));
    server.stop_and_free();
}

/// Reads a response head as bytes, whatever they are.
fn read_head_bytes(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    head
}

/// Header values that are not UTF-8 (obs-text, RFC 9110 §5.5, or Latin-1 text) were refused
/// by the C ABI, so the answer never came: they are sent as the host gave them, in an
/// accept and in a refusal alike; control characters are still refused.
#[test]
fn header_values_with_obs_text_are_sent_as_given() {
    let server = server(10_000);
    let app = app_ptr(server.app);
    let value = CString::new(&b"X-V: caf\xc3\xa9 \xe9\xff"[..]).unwrap();
    let fields = [value.as_ptr()];
    let mut stream = ask(server.port, "/", "");
    let (id, _) = upgrade_event(&server, 1);
    let escape = CString::new(&b"X-V: \xff\x1b"[..]).unwrap();
    let bad = [escape.as_ptr()];
    let none = std::ptr::null();
    assert_eq!(
        luna_upgrade_accept(app, id, none, 0, bad.as_ptr(), 1),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_upgrade_accept(app, id, none, 0, fields.as_ptr(), 1),
        LunaResult::Ok,
        "{}",
        last_error()
    );
    let head = read_head_bytes(&mut stream);
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    let sent = b"\r\nX-V: caf\xc3\xa9 \xe9\xff\r\n";
    assert!(head.windows(sent.len()).any(|w| w == sent), "{head:?}");
    let mut stream = ask(server.port, "/", "");
    let (id, _) = upgrade_event(&server, 2);
    assert_eq!(
        luna_upgrade_reject(app, id, 403, fields.as_ptr(), 1, none.cast(), 0),
        LunaResult::Ok,
        "{}",
        last_error()
    );
    let head = read_head_bytes(&mut stream);
    assert!(head.starts_with(b"HTTP/1.1 403"), "{head:?}");
    assert!(head.windows(sent.len()).any(|w| w == sent), "{head:?}");
    server.stop_and_free();
}
