//! permessage-deflate (RFC 7692) on the server, end to end: a raw-socket client with a deflate
//! of its own (flate2, `common::deflate`) drives the LuaJIT echo server
//! (`tests/common/luna_echo.lua`) set up with `compression`. Each case checks the exact
//! `Sec-WebSocket-Extensions` answer and what crosses the wire: RSV1, window sizes, context
//! takeover or not, fragments, the reserved-bit rules, inflation limits, corrupt data, the
//! threshold, broadcasts and closes; then `luna_conn_is_compressed` through the C ABI.
mod bad_data;
mod c_abi;
mod context_takeover;
mod negotiation;
mod threshold_broadcast_close;
mod windows_and_fragments;

use std::io::Write;
use std::time::{Duration, Instant};

use crate::common::deflate::*;
use crate::common::lua_echo::LuaEcho;
use crate::common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

const MASK: Option<[u8; 4]> = Some([0x5a, 0x13, 0xc4, 0x7e]);
const RSV1: u8 = 0b100;
const SHARED: &str = "{ compression = \"shared\" }";
const DEDICATED: &str = "{ compression = \"dedicated\" }";
/// What a shared server answers a plain offer with.
const SHARED_ANSWER: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// Opens a connection offering `offer` (none when empty) on subprotocol `protocol` (if any).
fn open_with(port: u16, offer: &str, protocol: &str) -> RawPeer {
    let mut extra = String::new();
    if !offer.is_empty() {
        extra.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    }
    if !protocol.is_empty() {
        extra.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    let c = RawPeer::connect(port, &extra);
    assert_eq!(c.status(), 101, "{offer}: {}", c.head);
    c
}

fn open(port: u16, offer: &str) -> RawPeer {
    open_with(port, offer, "")
}

/// The one `Sec-WebSocket-Extensions` line of the 101, if any.
fn answer(c: &RawPeer) -> Option<String> {
    let lines = c
        .head
        .lines()
        .filter(|l| {
            l.to_ascii_lowercase()
                .starts_with("sec-websocket-extensions:")
        })
        .count();
    assert!(lines <= 1, "one extensions line at most: {}", c.head);
    c.header("Sec-WebSocket-Extensions")
}

fn read(c: &mut RawPeer) -> WireFrame {
    read_wire_frame(&mut c.stream).expect("a frame from the server")
}

/// Reads one whole server message (one frame), inflating it when RSV1 is set.
fn read_message(c: &mut RawPeer, inflater: &mut dyn Inflate, case: &str) -> (u8, Vec<u8>) {
    let f = read(c);
    assert!(f.fin, "{case}: a server message is one frame");
    assert!(f.mask.is_none(), "{case}: server frames are not masked");
    assert_eq!(f.rsv & 0b011, 0, "{case}: RSV2/RSV3 never set");
    let data = match f.rsv & RSV1 {
        0 => f.payload,
        _ => inflater
            .inflate(&f.payload)
            .unwrap_or_else(|e| panic!("{case}: {e}")),
    };
    (f.opcode, data)
}

/// Sends `data` compressed in one frame with RSV1.
fn send_compressed(c: &mut RawPeer, opcode: u8, payload: &[u8]) {
    c.frame(true, RSV1, opcode, payload, MASK);
}

/// Expects a close frame with `code` (RSV clear), then TCP closed.
fn expect_close(c: &mut RawPeer, code: u16, case: &str) {
    loop {
        let f = read(c);
        if f.opcode == 8 {
            assert_eq!(f.rsv, 0, "{case}: close frames never carry RSV bits");
            assert!(f.payload.len() >= 2, "{case}: close without a code");
            let got = u16::from_be_bytes([f.payload[0], f.payload[1]]);
            assert_eq!(got, code, "{case}: close code");
            break;
        }
    }
    assert!(c.tcp_closed(), "{case}: the server must close TCP");
}

fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    encode_frame(true, 0, 8, &payload, MASK)
}

/// 5000 bytes made of one incompressible 1000-byte block repeated: only a window of more
/// than 1000 bytes can use the repetition.
fn far_repeats(seed: u32) -> Vec<u8> {
    noisy_text(1000, seed).repeat(5)
}

/// Splits `payload` into `n` pieces (the last gets the rest; some may be empty).
fn split(payload: &[u8], n: usize) -> Vec<&[u8]> {
    let size = payload.len().div_ceil(n);
    let mut pieces: Vec<&[u8]> = payload.chunks(size.max(1)).collect();
    while pieces.len() < n {
        pieces.push(&[]);
    }
    pieces
}

/// Sends `payload` (already compressed) as `pieces` fragments: RSV1 on the first only, a
/// ping after the first.
fn send_fragmented(c: &mut RawPeer, opcode: u8, pieces: &[&[u8]]) {
    let last = pieces.len() - 1;
    for (i, piece) in pieces.iter().enumerate() {
        let (rsv, op) = if i == 0 { (RSV1, opcode) } else { (0, 0) };
        c.frame(i == last, rsv, op, piece, MASK);
        if i == 0 {
            c.frame(true, 0, 9, b"between", MASK);
        }
    }
}
