//! An app's counters (`luna_app_stats`) and their Prometheus text (`metrics_path`): each
//! counter moves when what it counts happens, and only then.
mod common;

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use luna::ffi::*;

fn stats(server: &TestServer) -> LunaStats {
    let mut out = LunaStats::default();
    assert_eq!(
        luna_app_stats(app_ptr(server.app), &mut out),
        LunaResult::Ok
    );
    out
}

/// Waits until `pred` holds for the server's counters.
fn until(server: &TestServer, what: &str, pred: impl Fn(&LunaStats) -> bool) -> LunaStats {
    server.wait_until(10, what, || pred(&stats(server)));
    stats(server)
}

fn get(port: u16, target: &str, extra: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: h\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

/// The value of the series `line_start` (name and labels) in a metrics text.
fn series(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{line_start} missing from\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn every_counter_moves_when_what_it_counts_happens() {
    let origin = CString::new("http://good.example").unwrap();
    let path = CString::new("/metrics").unwrap();
    let server = TestServer::start(Options {
        tweak: Box::new(move |c| {
            c.origins = &origin.as_ptr() as *const _;
            c.origin_count = 1;
            c.metrics_path = path.as_ptr();
            c.max_connections = 2;
            c.handshake_timeout_ms = 300;
            c.max_send_queue = 64 << 10;
        }),
        ..Options::default()
    });
    assert_eq!(stats(&server).connections_total, 0);

    // An accepted connection, a message each way (the server echoes).
    let mut one = RawPeer::connect(server.port, "");
    assert_eq!(one.status(), 101);
    one.send(1, b"hello");
    assert_eq!(one.read().unwrap().2, b"hello");
    let s = until(&server, "one echo", |s| s.messages_sent == 1);
    assert_eq!(
        (
            s.connections_open,
            s.connections_total,
            s.handshakes_accepted
        ),
        (1, 1, 1)
    );
    assert_eq!(
        (s.messages_received, s.bytes_received, s.bytes_sent),
        (1, 5, 5)
    );

    // Refusals, each by its reason.
    let bad = RawPeer::connect(server.port, "Origin: http://evil.example\r\n");
    assert_eq!(bad.status(), 403);
    until(&server, "an origin refusal", |s| s.refused_origin == 1);
    // A refused client that leaves frees its slot at once (the server stops lingering).
    drop(bad);
    std::thread::sleep(Duration::from_millis(200));
    let _two = RawPeer::connect(server.port, "");
    let three = RawPeer::connect(server.port, "");
    assert_eq!(three.status(), 503);
    until(&server, "a capacity refusal", |s| s.refused_capacity == 1);
    let silent = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    until(&server, "a handshake timeout", |s| s.refused_handshake == 1);
    drop(silent);

    // Plain HTTP: a 400 (no static root, no HTTP events), then the metrics themselves.
    assert!(get(server.port, "/nothing", "").starts_with("HTTP/1.1 400"));
    until(&server, "an HTTP answer", |s| s.http_requests == 1);
    let text = get(server.port, "/metrics?x=1", "");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("Content-Type: text/plain; version=0.0.4"),
        "{text}"
    );
    assert_eq!(series(&text, "luna_connections_open"), 2);
    assert_eq!(series(&text, "luna_handshakes_accepted_total"), 2);
    assert_eq!(
        series(&text, "luna_handshakes_refused_total{reason=\"origin\"}"),
        1
    );
    assert_eq!(
        series(&text, "luna_handshakes_refused_total{reason=\"capacity\"}"),
        1
    );
    assert_eq!(
        series(&text, "luna_handshakes_refused_total{reason=\"handshake\"}"),
        1
    );
    assert_eq!(series(&text, "luna_http_requests_total{code=\"400\"}"), 1);
    assert_eq!(series(&text, "luna_messages_received_total"), 1);
    assert_eq!(series(&text, "luna_sent_bytes_total"), 5);
    assert!(
        !text.contains("luna_cluster"),
        "no cluster, no cluster series"
    );

    // Backpressure: a peer that never reads, sent to until its queue is full.
    let app = app_ptr(server.app);
    let big = vec![b'x'; 60 << 10];
    let id = match server.wait_for(5, "open", |e| matches!(e, Ev::Open { .. })) {
        Ev::Open { conn, .. } => conn,
        _ => unreachable!(),
    };
    let mut refused = 0;
    for _ in 0..200 {
        if luna_conn_send(app, id, big.as_ptr(), big.len(), 2) == LunaResult::Backpressure {
            refused += 1;
            break;
        }
    }
    assert_eq!(refused, 1, "the queue never filled");
    assert_eq!(stats(&server).backpressure, 1);

    // A close takes the connection off the open gauge, not off the total.
    drop(one);
    let s = until(&server, "a close", |s| s.connections_open < 2);
    assert_eq!(s.connections_total, 2);
}

#[test]
fn refusals_by_subprotocol_and_by_the_host_and_a_metrics_token() {
    let path = CString::new("/m").unwrap();
    let token = CString::new("s3cret").unwrap();
    let server = TestServer::start(Options {
        protocols: vec!["chat"],
        has_default: false,
        tweak: Box::new(move |c| {
            c.metrics_path = path.as_ptr();
            c.metrics_token = token.as_ptr();
        }),
        ..Options::default()
    });
    let refused = RawPeer::connect(server.port, "Sec-WebSocket-Protocol: other\r\n");
    assert_eq!(refused.status(), 400);
    until(&server, "a subprotocol refusal", |s| {
        s.refused_subprotocol == 1
    });
    let denied = get(server.port, "/m", "");
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    assert!(denied.contains("WWW-Authenticate: Bearer"), "{denied}");
    assert!(get(server.port, "/m", "Authorization: Bearer wrong\r\n").starts_with("HTTP/1.1 401"));
    let text = get(server.port, "/m", "Authorization: Bearer s3cret\r\n");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(series(&text, "luna_http_requests_total{code=\"401\"}"), 2);
    // The scheme is case-insensitive (RFC 9110 §11.1); the token is not, nor another scheme.
    for (field, status) in [
        ("bearer s3cret", "200"),
        ("BEARER  s3cret", "200"),
        ("Bearer S3CRET", "401"),
        ("Basic s3cret", "401"),
        ("Bearers3cret", "401"),
    ] {
        let answer = get(server.port, "/m", &format!("Authorization: {field}\r\n"));
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{field}: {answer}"
        );
    }

    let held = TestServer::start(Options {
        tweak: Box::new(|c| c.upgrade_events = 1),
        ..Options::default()
    });
    let mut stream = TcpStream::connect(("127.0.0.1", held.port)).unwrap();
    let head = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let conn = match held.wait_for(10, "an UPGRADE", |e| matches!(e, Ev::Upgrade { .. })) {
        Ev::Upgrade { conn, .. } => conn,
        _ => unreachable!(),
    };
    let none = std::ptr::null();
    assert_eq!(
        luna_upgrade_reject(app_ptr(held.app), conn, 401, none, 0, none.cast(), 0),
        LunaResult::Ok
    );
    until(&held, "a host refusal", |s| s.refused_host == 1);
}

#[test]
fn bad_metrics_settings_are_refused() {
    for (path, token, needle) in [
        ("metrics", None, "must start with '/'"),
        ("/m?x", None, "must start with '/'"),
        ("/m", Some("two words"), "visible ASCII"),
    ] {
        let host = CString::new("127.0.0.1").unwrap();
        let path = CString::new(path).unwrap();
        let token = token.map(|t| CString::new(t).unwrap());
        // SAFETY: plain data, filled by luna_server_config_default.
        let mut c: LunaServerConfig = unsafe { std::mem::zeroed() };
        luna_server_config_default(&mut c);
        c.host = host.as_ptr();
        c.metrics_path = path.as_ptr();
        c.metrics_token = token.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
        assert!(luna_server_new(&c).is_null());
        assert!(last_error().contains(needle), "{}", last_error());
    }
    let mut out = LunaStats::default();
    assert_eq!(
        luna_app_stats(std::ptr::null(), &mut out),
        LunaResult::InvalidArgument
    );
}

/// `access_log = 1`: a LOG event per plain HTTP request and per handshake.
#[test]
fn the_access_log_reaches_a_c_host_as_log_events() {
    let server = TestServer::start(Options {
        tweak: Box::new(|c| c.access_log = 1),
        ..Options::default()
    });
    assert!(get(server.port, "/nothing", "User-Agent: probe\r\n").starts_with("HTTP/1.1 400"));
    let ws = RawPeer::connect(server.port, "");
    assert_eq!(ws.status(), 101);
    let lines = |s: &TestServer| -> Vec<String> {
        s.snapshot()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Log { line } => Some(line),
                _ => None,
            })
            .collect()
    };
    server.wait_until(10, "two log lines", || lines(&server).len() >= 2);
    let all = lines(&server);
    assert!(all[0].starts_with("127.0.0.1 - - ["), "{all:?}");
    assert!(all[0].contains("\"GET /nothing HTTP/1.1\" 400 "), "{all:?}");
    assert!(all[0].contains("\"probe\""), "{all:?}");
    assert!(all[1].contains("\"GET / HTTP/1.1\" 101 0 "), "{all:?}");
}

/// Compressed sends count their bytes before and after permessage-deflate.
#[test]
fn compression_counts_its_bytes_both_sides_of_the_compressor() {
    let server = TestServer::start(Options {
        tweak: Box::new(|c| c.compression = 1),
        ..Options::default()
    });
    let mut client = RawPeer::connect(
        server.port,
        "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n",
    );
    assert_eq!(client.status(), 101);
    let message = "luna ".repeat(1000);
    client.send(1, message.as_bytes());
    let (_, opcode, _) = client.read().unwrap();
    assert_eq!(opcode, 1);
    let s = until(&server, "a compressed echo", |s| {
        s.compression_input_bytes > 0
    });
    assert_eq!(s.compression_input_bytes, 5000);
    assert!(
        s.compression_output_bytes > 0 && s.compression_output_bytes < 500,
        "{} bytes after compression",
        s.compression_output_bytes
    );
    assert_eq!(s.bytes_sent, 5000);
}
