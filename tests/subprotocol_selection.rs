//! Subprotocol selection: the client's order wins, unmatched clients go to the default
//! handler, and without a default they are refused with HTTP 400.
mod common;

use common::*;

fn server(has_default: bool) -> TestServer {
    TestServer::start(Options {
        protocols: vec!["chat", "game"],
        has_default,
        ..Options::default()
    })
}

#[test]
fn matching_protocol_is_answered() {
    let s = server(true);
    let c = RawPeer::connect(s.port, "Sec-WebSocket-Protocol: game\r\n");
    assert_eq!(c.status(), 101);
    assert_eq!(c.header("sec-websocket-protocol").as_deref(), Some("game"));
    s.wait_for(
        5,
        "open with game",
        |e| matches!(e, Ev::Open { protocol, .. } if protocol == "game"),
    );
}

#[test]
fn client_order_wins() {
    let s = server(true);
    let c = RawPeer::connect(s.port, "Sec-WebSocket-Protocol: unknown, game, chat\r\n");
    assert_eq!(c.header("sec-websocket-protocol").as_deref(), Some("game"));
    let c2 = RawPeer::connect(
        s.port,
        "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: game\r\n",
    );
    assert_eq!(c2.header("sec-websocket-protocol").as_deref(), Some("chat"));
}

#[test]
fn no_match_falls_back_to_default_without_answering_a_protocol() {
    let s = server(true);
    let c = RawPeer::connect(s.port, "Sec-WebSocket-Protocol: other\r\n");
    assert_eq!(c.status(), 101);
    assert_eq!(c.header("sec-websocket-protocol"), None);
    // The original Lunac client sends an empty header; that is "no protocol", not an error.
    let empty = RawPeer::connect(s.port, "Sec-WebSocket-Protocol: \r\n");
    assert_eq!(empty.status(), 101);
    let none = RawPeer::connect(s.port, "");
    assert_eq!(none.status(), 101);
    s.wait_until(5, "three opens", || {
        s.count(|e| matches!(e, Ev::Open { protocol, .. } if protocol.is_empty())) == 3
    });
}

#[test]
fn no_match_without_default_is_refused_with_400() {
    let s = server(false);
    let c = RawPeer::connect(s.port, "Sec-WebSocket-Protocol: other\r\n");
    assert_eq!(c.status(), 400, "{}", c.head);
    let none = RawPeer::connect(s.port, "");
    assert_eq!(none.status(), 400);
    let ok = RawPeer::connect(s.port, "Sec-WebSocket-Protocol: chat\r\n");
    assert_eq!(ok.status(), 101);
}
