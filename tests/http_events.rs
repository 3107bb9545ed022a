//! HTTP requests answered by the host through the C ABI (`http_events`): an HTTP event with
//! the body, the request readable while it waits, `luna_http_respond` with status, fields and
//! body on a keep-alive connection; bad answers refused; an unanswered request gets 503.
mod common;

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use luna::ffi::*;

fn server(timeout_ms: u32) -> TestServer {
    TestServer::start(Options {
        tweak: Box::new(move |c| {
            c.http_events = 1;
            c.max_body_size = 16;
            c.handshake_timeout_ms = timeout_ms;
        }),
        ..Options::default()
    })
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// The `n`-th HTTP event (1-based): its id and body.
fn http_event(server: &TestServer, n: usize) -> (u64, Vec<u8>) {
    let is_http = |e: &Ev| matches!(e, Ev::Http { .. });
    server.wait_until(10, "an HTTP event", || server.count(is_http) >= n);
    match server.snapshot().into_iter().filter(is_http).nth(n - 1) {
        Some(Ev::Http { conn, body }) => (conn, body),
        _ => unreachable!(),
    }
}

/// Reads one response with a Content-Length body.
fn read_response(stream: &mut TcpStream) -> (String, String) {
    let head = read_head(stream);
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

#[test]
fn the_host_answers_requests_on_a_kept_alive_connection() {
    let server = server(10_000);
    let app = app_ptr(server.app);
    let mut stream = connect(server.port);
    stream
        .write_all(b"POST /api/items?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let (id, body) = http_event(&server, 1);
    assert_eq!(body, b"hello");
    let mut req = LunaRequest {
        method: std::ptr::null(),
        method_len: 0,
        target: std::ptr::null(),
        target_len: 0,
        header_count: 0,
    };
    assert_eq!(luna_conn_request(app, id, &mut req), LunaResult::Ok);
    assert_eq!(
        (req.method_len, req.target_len, req.header_count),
        (4, 14, 2)
    );
    // 101 is no answer to a request, nor a field luna writes, nor an upgrade call.
    let none = std::ptr::null();
    assert_eq!(
        luna_http_respond(app, id, 101, none, 0, none.cast(), 0),
        LunaResult::InvalidArgument
    );
    let date = CString::new("Date: today").unwrap();
    let bad = [date.as_ptr()];
    assert_eq!(
        luna_http_respond(app, id, 200, bad.as_ptr(), 1, none.cast(), 0),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_upgrade_accept(app, id, none.cast(), 0, none, 0),
        LunaResult::InvalidArgument
    );
    let json = CString::new("Content-Type: application/json").unwrap();
    let fields = [json.as_ptr()];
    let answer = b"{\"id\":7}";
    assert_eq!(
        luna_http_respond(
            app,
            id,
            201,
            fields.as_ptr(),
            1,
            answer.as_ptr(),
            answer.len()
        ),
        LunaResult::Ok,
        "{}",
        last_error()
    );
    let (head, body) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 201"), "{head}");
    assert!(
        head.contains("Content-Type: application/json\r\n"),
        "{head}"
    );
    assert!(head.contains("Connection: keep-alive\r\n"), "{head}");
    assert_eq!(body, "{\"id\":7}");
    // The same connection carries the next request; its body is over max_body_size.
    stream
        .write_all(b"GET /second HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let (id2, body) = http_event(&server, 2);
    assert!(body.is_empty());
    assert_ne!(id2, id);
    let text = b"second";
    assert_eq!(
        luna_http_respond(app, id2, 200, none, 0, text.as_ptr(), 6),
        LunaResult::Ok
    );
    let (head, body) = read_response(&mut stream);
    assert!(
        head.starts_with("HTTP/1.1 200") && head.contains("text/plain"),
        "{head}"
    );
    assert_eq!(body, "second");
    stream
        .write_all(b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    server.stop_and_free();
}

#[test]
fn an_unanswered_request_gets_503() {
    let server = server(300);
    let app = app_ptr(server.app);
    let mut stream = connect(server.port);
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let (id, _) = http_event(&server, 1);
    let (head, _) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let none = std::ptr::null();
    assert_ne!(
        luna_http_respond(app, id, 200, none, 0, none.cast(), 0),
        LunaResult::Ok
    );
    server.stop_and_free();
}

/// A 205 says "reset the form": it never has content (RFC 9110 §15.3.6), so a body from the
/// host is dropped, and `Content-Length: 0` frames it for the next request on the connection.
#[test]
fn a_205_answer_has_no_body_and_a_zero_length() {
    let server = server(10_000);
    let app = app_ptr(server.app);
    let mut stream = connect(server.port);
    stream
        .write_all(b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx")
        .unwrap();
    let (id, _) = http_event(&server, 1);
    let none = std::ptr::null();
    let body = b"content";
    assert_eq!(
        luna_http_respond(app, id, 205, none, 0, body.as_ptr(), body.len()),
        LunaResult::Ok
    );
    let (head, body) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 205 Reset Content\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Length: 0\r\n"), "{head}");
    assert!(!head.contains("Content-Type"), "{head}");
    assert_eq!(body, "");
    // What follows on the connection is the next answer, not the dropped body.
    stream
        .write_all(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let (id2, _) = http_event(&server, 2);
    assert_eq!(
        luna_http_respond(app, id2, 200, none, 0, b"ok".as_ptr(), 2),
        LunaResult::Ok
    );
    let (head, body) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, "ok");
    server.stop_and_free();
}

/// A header value that is not UTF-8 (obs-text, RFC 9110 §5.5) was refused by the C ABI, so
/// the client waited for the handshake timeout and got 503: it is sent as the host gave it.
#[test]
fn a_header_value_with_obs_text_is_sent_as_given() {
    let server = server(10_000);
    let app = app_ptr(server.app);
    let mut stream = connect(server.port);
    stream
        .write_all(b"GET /v HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let (id, _) = http_event(&server, 1);
    let value = CString::new(&b"X-V: caf\xc3\xa9 \xe9\xff"[..]).unwrap();
    let fields = [value.as_ptr()];
    let none: *const u8 = std::ptr::null();
    assert_eq!(
        luna_http_respond(app, id, 200, fields.as_ptr(), 1, b"ok".as_ptr(), 2),
        LunaResult::Ok,
        "{}",
        last_error()
    );
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"), "{head:?}");
    let sent = b"\r\nX-V: caf\xc3\xa9 \xe9\xff\r\n";
    assert!(head.windows(sent.len()).any(|w| w == sent), "{head:?}");
    // A name that is not a token is still refused.
    stream
        .write_all(b"GET /w HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let (id2, _) = http_event(&server, 2);
    let name = CString::new(&b"X-\xff: v"[..]).unwrap();
    let bad = [name.as_ptr()];
    assert_eq!(
        luna_http_respond(app, id2, 200, bad.as_ptr(), 1, none, 0),
        LunaResult::InvalidArgument
    );
    server.stop_and_free();
}

/// A client that sends `Expect: 100-continue` waits for `100 Continue` before it sends the
/// body (curl waits 1 s, then sends it anyway): it gets the 100 at once, and the final answer
/// after the body. A body the server would refuse gets the refusal, without the 100.
#[test]
fn expect_100_continue_gets_100_before_the_body_is_read() {
    let server = server(10_000);
    let app = app_ptr(server.app);
    let mut stream = connect(server.port);
    stream
        .set_read_timeout(Some(Duration::from_millis(900)))
        .unwrap();
    stream
        .write_all(
            b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap();
    let interim = read_head(&mut stream);
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"hello").unwrap();
    let (id, body) = http_event(&server, 1);
    assert_eq!(body, b"hello");
    let none = std::ptr::null();
    assert_eq!(
        luna_http_respond(app, id, 200, none, 0, b"ok".as_ptr(), 2),
        LunaResult::Ok
    );
    let (head, body) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, "ok");
    // Over max_body_size (16): the final status at once, no 100.
    stream
        .write_all(
            b"POST /big HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 17\r\n\r\n",
        )
        .unwrap();
    let (head, _) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    server.stop_and_free();
}
