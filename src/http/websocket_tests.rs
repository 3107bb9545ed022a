//! The opening handshake, both sides, on byte strings.

use super::request::{parse_request, Limits, Parse, Request};
use super::websocket::*;
use crate::frame::deflate_params;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn request(fields: &str) -> Request {
    let head = format!(
        "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{fields}\r\n"
    );
    match parse_request(head.as_bytes(), &Limits::default()) {
        Ok(Parse::Complete(request, _)) => request,
        _ => panic!("not a request: {head}"),
    }
}

fn answer(head: &str) -> ServerAnswer {
    match parse_answer(head.as_bytes()) {
        Ok(Some((answer, len))) => {
            assert_eq!(len, head.len());
            answer
        }
        other => panic!("{head}: {other:?}"),
    }
}

fn served(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn accept_key_matches_rfc_6455() {
    // The worked example of RFC 6455 §1.3 (also what Python's hashlib + base64 give).
    assert_eq!(accept_key(KEY.as_bytes()), ACCEPT);
}

#[test]
fn tokens_are_found_in_any_line_and_any_case() {
    assert!(lists_token(["keep-alive, Upgrade"], "upgrade"));
    assert!(lists_token(["a", " b ,UPGRADE"], "upgrade"));
    assert!(!lists_token(["upgraded, x-upgrade"], "upgrade"));
    assert!(!lists_token([], "upgrade"));
}

#[test]
fn the_offer_is_read_in_order_across_lines() {
    let req = request("Sec-WebSocket-Protocol: a, ,b\r\nSec-WebSocket-Protocol: c\r\n");
    assert_eq!(offered_protocols(&req).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(offered_protocols(&request("")).count(), 0);
}

#[test]
fn the_first_offered_subprotocol_that_is_served_wins() {
    let req = request("Sec-WebSocket-Protocol: x, chat, echo\r\n");
    assert_eq!(
        select_protocol(&req, &served(&["echo", "chat"])),
        Some(("chat", 1))
    );
    assert_eq!(select_protocol(&req, &served(&["other"])), None);
    assert_eq!(select_protocol(&request(""), &served(&["chat"])), None);
}

#[test]
fn deflate_is_agreed_only_when_both_sides_want_it() {
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    let ours = deflate_params::settings(false);
    assert!(negotiate_deflate(Some(&ours), &request(offer)).is_some());
    assert!(negotiate_deflate(None, &request(offer)).is_none());
    assert!(negotiate_deflate(Some(&ours), &request("")).is_none());
}

#[test]
fn the_101_carries_the_accept_key_and_the_choices() {
    let req = request("");
    let extra = [("Set-Cookie".to_owned(), "a=b".into())];
    let head = switching_protocols(&req, Some("chat"), None, &extra);
    let text = String::from_utf8(head).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(text.contains(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n")));
    assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
    assert!(text.contains("Set-Cookie: a=b\r\n"));
    assert!(!text.contains("Sec-WebSocket-Extensions"));
}

#[test]
fn a_server_101_is_checked_as_the_client_sees_it() {
    // What a luna server writes, a luna client accepts: one accept key for both sides.
    let req = request("Sec-WebSocket-Protocol: chat\r\n");
    let head = switching_protocols(&req, Some("chat"), None, &[]);
    let answer = answer(std::str::from_utf8(&head).unwrap());
    assert_eq!(answer.status, 101);
    let chosen = check_upgrade(&answer, KEY.as_bytes(), &served(&["chat"]));
    assert_eq!(chosen, Ok(Some("chat".to_owned())));
    assert_eq!(check_extensions(&answer, None), Ok(None));
}

#[test]
fn a_bad_101_is_refused_with_the_reason() {
    let ok =
        format!("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n");
    let head = |fields: &str| answer(&format!("HTTP/1.1 101 Switching Protocols\r\n{fields}\r\n"));
    let key = KEY.as_bytes();
    let none: &[String] = &[];
    let no_upgrade = head(&format!(
        "Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n"
    ));
    assert!(matches!(
        check_upgrade(&no_upgrade, key, none),
        Err(Mismatch::Protocol(_))
    ));
    let no_connection = head(&format!(
        "Upgrade: websocket\r\nSec-WebSocket-Accept: {ACCEPT}\r\n"
    ));
    assert!(matches!(
        check_upgrade(&no_connection, key, none),
        Err(Mismatch::Protocol(_))
    ));
    let wrong_key =
        head("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n");
    assert!(matches!(
        check_upgrade(&wrong_key, key, none),
        Err(Mismatch::Protocol(_))
    ));
    assert_eq!(check_upgrade(&head(&ok), key, none), Ok(None));
    // Subprotocols: only one that was asked for, and one when any was asked for.
    let chose = head(&format!("{ok}Sec-WebSocket-Protocol: chat\r\n"));
    assert!(matches!(
        check_upgrade(&chose, key, none),
        Err(Mismatch::Subprotocol(_))
    ));
    let other = served(&["echo"]);
    assert!(matches!(
        check_upgrade(&chose, key, &other),
        Err(Mismatch::Subprotocol(_))
    ));
    assert!(matches!(
        check_upgrade(&head(&ok), key, &other),
        Err(Mismatch::Subprotocol(_))
    ));
    // Extensions: none that was not offered.
    let deflate = head(&format!(
        "{ok}Sec-WebSocket-Extensions: permessage-deflate\r\n"
    ));
    assert!(matches!(
        check_extensions(&deflate, None),
        Err(Mismatch::Protocol(_))
    ));
    let offered = deflate_params::settings(false);
    assert!(check_extensions(&deflate, Some(&offered))
        .unwrap()
        .is_some());
}

#[test]
fn a_partial_or_garbled_answer_is_told_apart() {
    assert!(matches!(parse_answer(b"HTTP/1.1 101 Switching"), Ok(None)));
    assert!(matches!(
        parse_answer(b"SSH-2.0-OpenSSH\r\n\r\n"),
        Err(Mismatch::Protocol(_))
    ));
    let (refused, _) = parse_answer(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!")
        .unwrap()
        .unwrap();
    assert_eq!(
        (refused.status, refused.field("content-length")),
        (403, Some("3".into()))
    );
}
