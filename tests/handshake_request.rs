//! The handshake request of a server connection through the C ABI: `luna_conn_request` and
//! `luna_conn_header` give what the client sent, in order; bad arguments are refused; a first
//! frame sent in the same write as the handshake is delivered; a refused origin never opens;
//! the request and addresses answer while the CLOSE is handled, until the next poll.
mod common;

use std::ffi::{c_char, CString};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

fn text(ptr: *const u8, len: usize) -> String {
    if len == 0 {
        return String::new();
    }
    // SAFETY: luna promises `len` bytes at `ptr` while the connection's CLOSE is not polled.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn empty_request() -> LunaRequest {
    LunaRequest {
        method: std::ptr::null(),
        method_len: 0,
        target: std::ptr::null(),
        target_len: 0,
        header_count: 0,
    }
}

fn empty_header() -> LunaHeader {
    LunaHeader {
        name: std::ptr::null(),
        name_len: 0,
        value: std::ptr::null(),
        value_len: 0,
    }
}

/// (method, target, headers) of connection `conn`, read through the C ABI.
fn request_of(app: usize, conn: u64) -> (String, String, Vec<(String, String)>) {
    let mut req = empty_request();
    assert_eq!(
        luna_conn_request(app_ptr(app), conn, &mut req),
        LunaResult::Ok,
        "{}",
        last_error()
    );
    let headers = (0..req.header_count)
        .map(|i| {
            let mut h = empty_header();
            assert_eq!(
                luna_conn_header(app_ptr(app), conn, i, &mut h),
                LunaResult::Ok
            );
            (text(h.name, h.name_len), text(h.value, h.value_len))
        })
        .collect();
    (
        text(req.method, req.method_len),
        text(req.target, req.target_len),
        headers,
    )
}

fn opened(server: &TestServer, n: usize) -> u64 {
    let opens = |e: &Ev| matches!(e, Ev::Open { .. });
    server.wait_until(10, "open", || server.count(opens) >= n);
    let events = server.snapshot();
    let open = events.iter().filter(|e| opens(e)).nth(n - 1).unwrap();
    match open {
        Ev::Open { conn, .. } => *conn,
        _ => unreachable!(),
    }
}

/// A raw handshake to `target` with `extra` header lines, and the bytes after it.
fn handshake(port: u16, target: &str, extra: &str, after: &[u8]) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut bytes = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(after);
    // One write: the head and whatever follows it arrive together.
    stream.write_all(&bytes).unwrap();
    let head = read_head(&mut stream);
    (stream, head)
}

#[test]
fn request_line_and_headers_in_order() {
    let server = TestServer::start(Options::default());
    let extra = "X-Custom:   padded value  \r\nCookie: a=1\r\nCOOKIE: b=2\r\nX-Empty:\r\n";
    let (_stream, head) = handshake(server.port, "/chat?room=7&token=abc", extra, &[]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let conn = opened(&server, 1);

    let (method, target, headers) = request_of(server.app, conn);
    assert_eq!(method, "GET");
    assert_eq!(target, "/chat?room=7&token=abc");
    let want: Vec<(String, String)> = [
        ("host", "127.0.0.1"),
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-key", KEY),
        ("sec-websocket-version", "13"),
        ("x-custom", "padded value"),
        ("cookie", "a=1"),
        ("cookie", "b=2"),
        ("x-empty", ""),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(headers, want);

    // Past the end, NULL out pointers, unknown connections.
    let app = app_ptr(server.app);
    let mut h = empty_header();
    assert_eq!(
        luna_conn_header(app, conn, want.len(), &mut h),
        LunaResult::InvalidArgument
    );
    assert!(last_error().contains("past the last"), "{}", last_error());
    assert_eq!(
        luna_conn_header(app, conn, usize::MAX, &mut h),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_conn_header(app, conn, 0, std::ptr::null_mut()),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_conn_request(app, conn, std::ptr::null_mut()),
        LunaResult::InvalidArgument
    );
    let mut req = empty_request();
    assert_ne!(
        luna_conn_request(app, 987_654_321, &mut req),
        LunaResult::Ok
    );
    assert_ne!(
        luna_conn_request(std::ptr::null_mut(), conn, &mut req),
        LunaResult::Ok
    );
    // Reading again gives the same request (nothing was consumed).
    assert_eq!(request_of(server.app, conn).2, want);
    server.stop_and_free();
}

#[test]
fn a_client_connection_has_no_request() {
    let server = TestServer::start(Options::default());
    let header = CString::new("X-Token: t1").unwrap();
    let lines = [header.as_ptr()];
    let url = format!("ws://127.0.0.1:{}/game?level=3", server.port);
    let mut client = TestClient::connect(&url, |config| {
        config.headers = lines.as_ptr();
        config.header_count = 1;
    });
    client.until(10, "client open", TestClient::opened);
    let app = app_ptr(client.app);
    let mut req = empty_request();
    assert_eq!(
        luna_conn_request(app, client.conn, &mut req),
        LunaResult::InvalidArgument
    );
    assert!(last_error().contains("client"), "{}", last_error());
    let mut h = empty_header();
    assert_eq!(
        luna_conn_header(app, client.conn, 0, &mut h),
        LunaResult::InvalidArgument
    );

    // The server side of the same connection has one, with luna's own request.
    let conn = opened(&server, 1);
    let (method, target, headers) = request_of(server.app, conn);
    assert_eq!((method.as_str(), target.as_str()), ("GET", "/game?level=3"));
    assert!(
        headers.contains(&("x-token".into(), "t1".into())),
        "{headers:?}"
    );
    drop(client);
    server.stop_and_free();
}

#[test]
fn a_first_frame_in_the_handshake_write_is_delivered() {
    let server = TestServer::start(Options::default());
    let mut after = encode_frame(true, 0, 1, b"early", Some([9, 8, 7, 6]));
    after.extend(encode_frame(
        true,
        0,
        2,
        &[0, 1, 2, 255],
        Some([1, 2, 3, 4]),
    ));
    let (mut stream, head) = handshake(server.port, "/", "", &after);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(
        read_frame(&mut stream).unwrap(),
        (true, 1, b"early".to_vec())
    );
    assert_eq!(
        read_frame(&mut stream).unwrap(),
        (true, 2, vec![0, 1, 2, 255])
    );
    let conn = opened(&server, 1);
    server.wait_for(
        10,
        "the early message",
        |e| matches!(e, Ev::Msg { conn: c, data, .. } if *c == conn && data == b"early"),
    );

    // A larger pipelined message than one read of the head (the head is read 2 KiB at a time).
    let big: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let after = encode_frame(true, 0, 2, &big, Some([5, 6, 7, 8]));
    let (mut stream, head) = handshake(server.port, "/big", "", &after);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(read_frame(&mut stream).unwrap(), (true, 2, big));
    server.stop_and_free();
}

#[test]
fn a_refused_origin_reports_an_error_and_never_opens() {
    let allowed: Vec<CString> = ["https://good.example", "http://localhost:8080"]
        .iter()
        .map(|s| CString::new(*s).unwrap())
        .collect();
    let ptrs: Vec<*const c_char> = allowed.iter().map(|s| s.as_ptr()).collect();
    let server = TestServer::start(Options {
        // The closure owns the strings and the list: both live until luna_server_new read them.
        tweak: Box::new(move |config| {
            let _ = &allowed;
            config.origins = ptrs.as_ptr();
            config.origin_count = ptrs.len();
        }),
        ..Options::default()
    });
    let mut refused = RawPeer::connect(server.port, "Origin: https://evil.example\r\n");
    assert_eq!(refused.status(), 403, "{}", refused.head);
    assert!(refused.tcp_closed(), "the refused connection is closed");
    let error = server.wait_for(10, "the refusal", |e| matches!(e, Ev::Error { .. }));
    assert!(
        matches!(&error, Ev::Error { conn: 0, message, .. } if message.contains("403")),
        "{error:?}"
    );
    // Nothing opened for it, and nothing more was reported.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.count(|e| matches!(e, Ev::Open { .. })), 0);
    assert_eq!(server.count(|e| matches!(e, Ev::Error { .. })), 1);

    let allowed = RawPeer::connect(server.port, "Origin: http://LOCALHOST:8080\r\n");
    assert_eq!(allowed.status(), 101, "{}", allowed.head);
    let conn = opened(&server, 1);
    let origin = request_of(server.app, conn).2;
    assert!(origin.contains(&("origin".into(), "http://LOCALHOST:8080".into())));
    let without = RawPeer::connect(server.port, "");
    assert_eq!(without.status(), 101, "no Origin: {}", without.head);
    opened(&server, 2);
    let events = server.stop_and_free();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Ev::Error { .. }))
            .count(),
        1,
        "{events:?}"
    );
}

/// Polls `app` (waiting up to 10 s) until an event of `kind` comes; returns its connection.
fn poll_for(app: *mut LunaApp, kind: LunaEventKind) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut events = vec![empty_event(); 16];
    loop {
        assert!(std::time::Instant::now() < deadline, "no {kind:?}");
        let _ = luna_app_wait(app, 10);
        let mut n = 0;
        assert_eq!(
            luna_app_poll(app, events.as_mut_ptr(), events.len(), &mut n),
            LunaResult::Ok
        );
        if let Some(e) = events[..n].iter().find(|e| e.kind == kind) {
            return e.conn;
        }
    }
}

#[test]
fn the_request_and_addresses_answer_while_the_close_is_handled() {
    let host = CString::new("127.0.0.1").unwrap();
    // SAFETY: LunaServerConfig is plain data; luna_server_config_default fills every field.
    let mut config: LunaServerConfig = unsafe { std::mem::zeroed() };
    assert_eq!(luna_server_config_default(&mut config), LunaResult::Ok);
    config.host = host.as_ptr();
    let app = luna_server_new(&config);
    assert!(!app.is_null(), "luna_server_new: {}", last_error());
    let mut port = 0;
    assert_eq!(luna_app_port(app, &mut port), LunaResult::Ok);

    let (stream, head) = handshake(port, "/bye?x=1", "X-Who: me\r\n", &[]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let conn = poll_for(app, LunaEventKind::Open);
    drop(stream);
    assert_eq!(poll_for(app, LunaEventKind::Close), conn);

    // The poll that returned the CLOSE: the host may still read what the connection was.
    let app_index = app as usize;
    let (method, target, headers) = request_of(app_index, conn);
    assert_eq!((method.as_str(), target.as_str()), ("GET", "/bye?x=1"));
    assert!(
        headers.contains(&("x-who".into(), "me".into())),
        "{headers:?}"
    );
    let mut ip = [0 as c_char; 64];
    let mut peer_port = 0;
    assert_eq!(
        luna_conn_peer(app, conn, ip.as_mut_ptr(), ip.len(), &mut peer_port),
        LunaResult::Ok
    );
    assert_ne!(peer_port, 0);
    let mut local_port = 0;
    assert_eq!(
        luna_conn_local(app, conn, ip.as_mut_ptr(), ip.len(), &mut local_port),
        LunaResult::Ok
    );
    assert_eq!(local_port, port);
    let mut flag = 9;
    assert_eq!(luna_conn_is_tls(app, conn, &mut flag), LunaResult::Ok);
    assert_eq!(flag, 0);
    // Nothing may be sent to it any more.
    assert_eq!(
        luna_conn_send(app, conn, b"late".as_ptr(), 4, 1),
        LunaResult::Closed
    );

    // The next poll forgets it.
    let mut n = 0;
    assert_eq!(
        luna_app_poll(app, std::ptr::null_mut(), 0, &mut n),
        LunaResult::Ok
    );
    let mut req = empty_request();
    assert_eq!(luna_conn_request(app, conn, &mut req), LunaResult::Closed);
    assert_eq!(
        luna_conn_peer(app, conn, ip.as_mut_ptr(), ip.len(), &mut peer_port),
        LunaResult::Closed
    );
    assert_eq!(luna_app_stop(app), LunaResult::Ok);
    assert_eq!(luna_app_free(app), LunaResult::Ok);
}
