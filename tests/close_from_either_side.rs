//! Closing from either side carries code and reason to the other; a closed id answers
//! LUNA_RESULT_CLOSED and never reaches a newer connection.
mod common;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message;
use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

#[test]
fn client_close_code_and_reason_reach_the_host() {
    let s = TestServer::start(Options::default());
    let mut ws = ws_connect(&s.url(), &[]);
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4321),
        reason: "done here".into(),
    }))
    .unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    s.wait_for(
        5,
        "close 4321",
        |e| matches!(e, Ev::Close { code: 4321, reason, clean: true, .. } if reason == "done here"),
    );
}

#[test]
fn server_close_code_and_reason_reach_the_client_and_the_id_is_closed_after() {
    let s = TestServer::start(Options::default());
    let mut client = RawPeer::connect(s.port, "");
    let Ev::Open { conn, .. } = s.wait_for(5, "open", |e| matches!(e, Ev::Open { .. })) else {
        unreachable!()
    };
    let reason = b"server says bye";
    assert_eq!(
        luna_conn_close(app_ptr(s.app), conn, 3001, reason.as_ptr(), reason.len()),
        LunaResult::Ok
    );
    let (_, opcode, payload) = client.read().unwrap();
    assert_eq!(opcode, 8);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 3001);
    assert_eq!(&payload[2..], reason);
    // Sending after close was requested is refused at once.
    assert_eq!(
        luna_conn_send(app_ptr(s.app), conn, b"x".as_ptr(), 1, 1),
        LunaResult::Closed
    );
    // Closing twice is a no-op.
    assert_eq!(
        luna_conn_close(app_ptr(s.app), conn, 1000, std::ptr::null(), 0),
        LunaResult::Ok
    );
    client.frame(true, 0, 8, &payload, Some([1, 1, 1, 1]));
    assert!(
        client.tcp_closed(),
        "the server closes TCP after the closing handshake"
    );
    s.wait_for(
        5,
        "close event",
        |e| matches!(e, Ev::Close { conn: c, code: 3001, clean: true, .. } if *c == conn),
    );
    // Once the CLOSE event was polled the id stays closed, even with newer connections open.
    let _newer = RawPeer::connect(s.port, "");
    s.wait_for(
        5,
        "second open",
        |e| matches!(e, Ev::Open { conn: c, .. } if *c != conn),
    );
    assert_eq!(
        luna_conn_send(app_ptr(s.app), conn, b"x".as_ptr(), 1, 1),
        LunaResult::Closed
    );
    assert_eq!(
        luna_conn_close(app_ptr(s.app), conn, 1000, std::ptr::null(), 0),
        LunaResult::Ok
    );
}

#[test]
fn peer_vanishing_gives_1006_after_its_messages() {
    let s = TestServer::start(Options {
        echo: false,
        ..Options::default()
    });
    let mut client = RawPeer::connect(s.port, "");
    client.send(1, b"last words");
    drop(client);
    let close = s.wait_for(5, "close", |e| matches!(e, Ev::Close { .. }));
    assert!(
        matches!(
            close,
            Ev::Close {
                code: 1006,
                clean: false,
                ..
            }
        ),
        "{close:?}"
    );
    let events = s.snapshot();
    let msg_at = events
        .iter()
        .position(|e| matches!(e, Ev::Msg { data, .. } if data == b"last words"));
    let close_at = events.iter().position(|e| matches!(e, Ev::Close { .. }));
    assert!(
        msg_at.unwrap() < close_at.unwrap(),
        "message before close: {events:?}"
    );
}

#[test]
fn bad_close_codes_and_reasons_are_refused() {
    let s = TestServer::start(Options::default());
    let _client = RawPeer::connect(s.port, "");
    let Ev::Open { conn, .. } = s.wait_for(5, "open", |e| matches!(e, Ev::Open { .. })) else {
        unreachable!()
    };
    for code in [0u32, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 70000] {
        assert_eq!(
            luna_conn_close(app_ptr(s.app), conn, code, std::ptr::null(), 0),
            LunaResult::InvalidArgument,
            "code {code}"
        );
    }
    let long = [b'a'; 124];
    assert_eq!(
        luna_conn_close(app_ptr(s.app), conn, 1000, long.as_ptr(), long.len()),
        LunaResult::InvalidArgument
    );
    let bad = [0xffu8, 0xfe];
    assert_eq!(
        luna_conn_close(app_ptr(s.app), conn, 1000, bad.as_ptr(), 2),
        LunaResult::InvalidUtf8
    );
    // The connection is still open and usable.
    assert_eq!(
        luna_conn_send(app_ptr(s.app), conn, b"ok".as_ptr(), 2, 1),
        LunaResult::Ok
    );
}
