//! permessage-deflate (RFC 7692) on the client: a raw-socket server written here sees the
//! offer a luna client (`luna_client_connect`, `LunaClientConfig.compression`) makes, answers
//! it in every way the RFC allows or forbids, then exchanges compressed frames with it,
//! inflating what the client sends with the agreed window (C zlib, strict) and compressing
//! what it sends with a deflate of its own.
mod agreements;
mod luna_to_luna;
mod refusals_and_violations;

use std::io::Write;
use std::net::TcpListener;

use crate::common::deflate::*;
use crate::common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

const RSV1: u8 = 0b100;
const SHARED_OFFER: &str = "permessage-deflate; server_no_context_takeover; \
                            client_no_context_takeover; client_max_window_bits";
const DEDICATED_OFFER: &str = "permessage-deflate; server_max_window_bits=12; \
                               client_max_window_bits=12";
const SHARED_ANSWER: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// The client's `Sec-WebSocket-Extensions`, if it sent one (and only one).
fn offer(peer: &RawPeer) -> Option<String> {
    let values = peer.headers("sec-websocket-extensions");
    assert!(values.len() <= 1, "one offer line: {}", peer.head);
    values.into_iter().next()
}

/// Sends `payload` (already compressed) as one frame with RSV1, unmasked as a server does.
fn send_compressed(peer: &mut RawPeer, opcode: u8, payload: &[u8]) {
    peer.frame(true, RSV1, opcode, payload, None);
}

/// Starts a luna client (`tweak` sets its config), accepts it and answers its upgrade with
/// 101 and `extensions` (no extensions header when None). Does not wait for it to open.
fn start(
    extensions: Option<&str>,
    tweak: impl FnOnce(&mut LunaClientConfig),
) -> (RawPeer, TestClient) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The peer here never answers a close: the client need not wait a second for it.
    let client = TestClient::connect(&format!("ws://127.0.0.1:{port}/deflate"), |c| {
        c.close_timeout_ms = 200;
        tweak(c);
    });
    let extra = extensions.map_or(String::new(), |value| {
        format!("Sec-WebSocket-Extensions: {value}\r\n")
    });
    (RawPeer::accept(&listener, &extra), client)
}

/// `start` with `compression` (0 off, 1 shared, 2 dedicated), waiting for the client to open.
fn open(compression: u32, extensions: Option<&str>) -> (RawPeer, TestClient) {
    let (peer, mut client) = start(extensions, |c| c.compression = compression);
    client.until(10, "open", TestClient::opened);
    (peer, client)
}

fn is_compressed(client: &TestClient) -> u8 {
    let mut out = 7u8;
    assert_eq!(
        luna_conn_is_compressed(app_ptr(client.app), client.conn, &mut out),
        LunaResult::Ok
    );
    out
}

fn messages(client: &TestClient) -> Vec<(u32, Vec<u8>)> {
    client
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Msg { opcode, data, .. } if *opcode < 8 => Some((*opcode, data.clone())),
            _ => None,
        })
        .collect()
}

/// Waits for `n` messages and returns them.
fn wait_messages(client: &mut TestClient, n: usize) -> Vec<(u32, Vec<u8>)> {
    client.until(20, "messages", |evs| {
        evs.iter()
            .filter(|e| matches!(e, Ev::Msg { opcode, .. } if *opcode < 8))
            .count()
            >= n
    });
    messages(client)
}

fn send_ok(client: &TestClient, data: &[u8], opcode: u32) {
    assert_eq!(
        client.send(data, opcode),
        LunaResult::Ok,
        "{}",
        last_error()
    );
}

/// A 5000-byte message made of one incompressible 1000-byte block repeated.
fn far_repeats(seed: u32) -> Vec<u8> {
    noisy_text(1000, seed).repeat(5)
}
