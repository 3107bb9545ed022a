//! A client's failures are reported as one ERROR saying which failure, then one CLOSE 1006;
//! closing while connecting gives up at once; bad URLs are refused at the call.
mod common;

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

fn failure(url: &str, timeout_ms: u32) -> (u32, String) {
    let mut client = TestClient::connect(url, |c| c.connect_timeout_ms = timeout_ms);
    client.until(15, "close", TestClient::closed);
    let errors: Vec<_> = client
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Error { code, message, .. } => Some((*code, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", client.brief());
    let closes = client
        .events
        .iter()
        .filter(|e| matches!(e, Ev::Close { code: 1006, .. }))
        .count();
    assert_eq!(closes, 1, "{:?}", client.brief());
    errors[0].clone()
}

#[test]
fn refused_dns_and_timeout_say_which() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let (code, message) = failure(&format!("ws://127.0.0.1:{port}/"), 5000);
    assert_eq!(code, LunaResult::Refused as u32, "{message}");
    let (code, message) = failure("ws://no-such-host.invalid/", 5000);
    assert_eq!(code, LunaResult::Dns as u32, "{message}");
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://127.0.0.1:{}/", silent.local_addr().unwrap().port());
    let (code, message) = failure(&url, 300);
    assert_eq!(code, LunaResult::Timeout as u32, "{message}");
}

#[test]
fn a_subprotocol_the_server_did_not_accept_has_its_own_code() {
    let server = TestServer::start(Options::default());
    let chat = CString::new("chat").unwrap();
    let protocols = [chat.as_ptr()];
    let mut client = TestClient::connect(&server.url(), |c| {
        c.protocols = protocols.as_ptr();
        c.protocol_count = 1;
    });
    client.until(15, "close", TestClient::closed);
    let error = client.events.iter().find_map(|e| match e {
        Ev::Error { code, message, .. } => Some((*code, message.clone())),
        _ => None,
    });
    let (code, message) = error.expect("an ERROR event");
    assert_eq!(code, LunaResult::Subprotocol as u32, "{message}");
    assert!(message.contains("subprotocols"), "{message}");
}

#[test]
fn http_answer_other_than_101_reports_its_status() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "ws://127.0.0.1:{}/missing",
        listener.local_addr().unwrap().port()
    );
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let _ = read_head(&mut s);
        s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    });
    let mut client = TestClient::connect(&url, |_| {});
    client.until(10, "close", TestClient::closed);
    let found = client.events.iter().any(|e| matches!(e, Ev::Error { code, message, http_status: 404, .. } if *code == LunaResult::Protocol as u32 && message.contains("404")));
    assert!(found, "{:?}", client.brief());
    drop(client);
    server.join().unwrap();
}

#[test]
fn closing_while_connecting_gives_up_at_once() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://127.0.0.1:{}/", silent.local_addr().unwrap().port());
    let mut client = TestClient::connect(&url, |c| c.connect_timeout_ms = 20_000);
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let reason = b"bye";
    let r = luna_conn_close(
        app_ptr(client.app),
        client.conn,
        4000,
        reason.as_ptr(),
        reason.len(),
    );
    assert_eq!(r, LunaResult::Ok);
    client.until(5, "close", TestClient::closed);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(client.events.last(), Some(Ev::Close { code: 1006, .. })),
        "{:?}",
        client.brief()
    );
    assert_eq!(client.send(b"late", 1), LunaResult::Closed);
}

#[test]
fn bad_urls_are_refused_at_the_call() {
    for url in [
        "ws://127.0.0.1:99999/",
        "http://example.com/",
        "ws:///nohost",
        "not a url",
        "ws://h:0/",
    ] {
        let c = CString::new(url).unwrap();
        // SAFETY: plain data, filled by luna_client_config_default.
        let mut config: LunaClientConfig = unsafe { std::mem::zeroed() };
        luna_client_config_default(&mut config);
        config.url = c.as_ptr();
        assert!(
            luna_client_connect(&config, std::ptr::null_mut()).is_null(),
            "{url} accepted"
        );
        assert!(!last_error().is_empty());
    }
}

#[test]
fn client_talks_to_a_luna_server_and_queues_before_open() {
    let server = TestServer::start(Options {
        protocols: vec!["chat"],
        ..Options::default()
    });
    let chat = CString::new("chat").unwrap();
    let protocols = [chat.as_ptr()];
    let mut client = TestClient::connect(&server.url(), |c| {
        c.protocols = protocols.as_ptr();
        c.protocol_count = 1;
    });
    for i in 0..50 {
        assert_eq!(client.send(format!("m{i}").as_bytes(), 1), LunaResult::Ok);
    }
    client.until(10, "50 echoes", |evs| {
        evs.iter().filter(|e| matches!(e, Ev::Msg { .. })).count() == 50
    });
    let texts: Vec<String> = client
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Msg { data, .. } => Some(String::from_utf8(data.clone()).unwrap()),
            _ => None,
        })
        .collect();
    let want: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, want);
    assert!(client
        .events
        .iter()
        .any(|e| matches!(e, Ev::Open { protocol, .. } if protocol == "chat")));
    assert_eq!(
        luna_conn_close(app_ptr(client.app), client.conn, 1000, std::ptr::null(), 0),
        LunaResult::Ok
    );
    client.until(10, "clean close", |evs| {
        evs.iter()
            .any(|e| matches!(e, Ev::Close { clean: true, .. }))
    });
}
