//! permessage-deflate (RFC 7692) on the client: a raw-socket server written here sees the
//! offer a luna client (`luna_client_connect`, `LunaClientConfig.compression`) makes, answers
//! it in every way the RFC allows or forbids, then exchanges compressed frames with it,
//! inflating what the client sends with the agreed window (C zlib, strict) and compressing
//! what it sends with a deflate of its own.
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use common::deflate::*;
use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

const RSV1: u8 = 0b100;
const SHARED_OFFER: &str = "permessage-deflate; server_no_context_takeover; \
                            client_no_context_takeover; client_max_window_bits";
const DEDICATED_OFFER: &str = "permessage-deflate; server_max_window_bits=12; \
                               client_max_window_bits=12";
const SHARED_ANSWER: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// The server end of one luna client connection.
struct Peer {
    stream: TcpStream,
    /// The client's upgrade request head.
    request: String,
}

impl Peer {
    /// The client's `Sec-WebSocket-Extensions`, if it sent one (and only one).
    fn offer(&self) -> Option<String> {
        let values: Vec<String> = self
            .request
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("sec-websocket-extensions")
                    .then(|| v.trim().to_string())
            })
            .collect();
        assert!(values.len() <= 1, "one offer line: {}", self.request);
        values.into_iter().next()
    }

    fn send(&mut self, fin: bool, rsv: u8, opcode: u8, payload: &[u8]) {
        let bytes = encode_frame(fin, rsv, opcode, payload, None);
        self.stream.write_all(&bytes).unwrap();
    }

    fn send_compressed(&mut self, opcode: u8, payload: &[u8]) {
        self.send(true, RSV1, opcode, payload);
    }

    /// Reads one client frame, which must be masked.
    fn read(&mut self) -> WireFrame {
        let f = read_wire_frame(&mut self.stream).expect("a frame from the client");
        assert!(f.mask.is_some(), "client frames are masked");
        f
    }

    /// Reads the client's close frame (skipping anything before it); returns its code.
    fn read_close(&mut self) -> u16 {
        loop {
            let f = self.read();
            if f.opcode == 8 {
                assert_eq!(f.rsv, 0, "a close frame carries no RSV bit");
                return match f.payload.len() {
                    0 => 1005,
                    _ => u16::from_be_bytes([f.payload[0], f.payload[1]]),
                };
            }
        }
    }

    /// True when the client closed TCP within the read timeout.
    fn tcp_closed(&mut self) -> bool {
        let mut buf = [0u8; 256];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        }
    }
}

/// Starts a luna client (`tweak` sets its config), accepts it and answers its upgrade with
/// 101 and `extensions` (no extensions header when None). Does not wait for it to open.
fn start(
    extensions: Option<&str>,
    tweak: impl FnOnce(&mut LunaClientConfig),
) -> (Peer, TestClient) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The peer here never answers a close: the client need not wait a second for it.
    let client = TestClient::connect(&format!("ws://127.0.0.1:{port}/deflate"), |c| {
        c.close_timeout_ms = 200;
        tweak(c);
    });
    let (mut stream, request, key) = accept_upgrade(&listener);
    let mut answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if let Some(value) = extensions {
        answer.push_str(&format!("Sec-WebSocket-Extensions: {value}\r\n"));
    }
    answer.push_str("\r\n");
    stream.write_all(answer.as_bytes()).unwrap();
    (Peer { stream, request }, client)
}

/// `start` with `compression` (0 off, 1 shared, 2 dedicated), waiting for the client to open.
fn open(compression: u32, extensions: Option<&str>) -> (Peer, TestClient) {
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

#[test]
fn the_offer_follows_the_config() {
    for (compression, want) in [
        (0u32, None),
        (1, Some(SHARED_OFFER)),
        (2, Some(DEDICATED_OFFER)),
    ] {
        // Answered without the extension: the client opens and sends plain frames.
        let (mut peer, client) = open(compression, None);
        assert_eq!(peer.offer().as_deref(), want, "compression {compression}");
        assert_eq!(is_compressed(&client), 0);
        let msg = json_message(1, 3000);
        send_ok(&client, &msg, 1);
        let f = peer.read();
        assert_eq!((f.rsv, f.opcode, f.payload == msg), (0, 1, true));
    }
    // SAFETY: plain data, filled by luna_client_config_default.
    let mut config: LunaClientConfig = unsafe { std::mem::zeroed() };
    assert_eq!(luna_client_config_default(&mut config), LunaResult::Ok);
    assert_eq!(
        (config.compression, config.compression_threshold),
        (0, 1024),
        "off and 1 KiB by default"
    );
    let url = std::ffi::CString::new("ws://127.0.0.1:9/").unwrap();
    config.url = url.as_ptr();
    config.compression = 3;
    let mut conn = 0u64;
    assert!(luna_client_connect(&config, &mut conn).is_null());
    assert!(last_error().contains("compression"), "{}", last_error());
}

#[test]
fn shared_agreement_compresses_each_message_alone() {
    let (mut peer, mut client) = open(1, Some(SHARED_ANSWER));
    assert_eq!(peer.offer().as_deref(), Some(SHARED_OFFER));
    assert_eq!(is_compressed(&client), 1);
    // From the server: compressed messages, text and binary, each alone.
    let sent: Vec<Vec<u8>> = (0..20).map(|i| json_message(i, 3000)).collect();
    for (i, msg) in sent.iter().enumerate() {
        peer.send_compressed(1 + (i % 2) as u8, &compress_alone(msg));
    }
    let got = wait_messages(&mut client, sent.len());
    for (i, msg) in sent.iter().enumerate() {
        assert_eq!(got[i].0, 1 + (i % 2) as u32, "opcode of {i}");
        assert!(got[i].1 == *msg, "message {i}");
    }
    // From the client: the same message five times, each frame alone (RSV1, masked).
    let msg = json_message(7, 2000);
    for i in 0..5 {
        send_ok(&client, &msg, 2);
        let f = peer.read();
        assert_eq!((f.fin, f.rsv, f.opcode), (true, RSV1, 2), "frame {i}");
        let alone = StrictInflater::new(15, false).inflate(&f.payload);
        assert!(alone == Ok(msg.clone()), "frame {i} inflates alone");
    }
    // Under the threshold (1 KiB by default): plain.
    for len in [0usize, 1, 1023] {
        send_ok(&client, &vec![b'a'; len], 1);
        let f = peer.read();
        assert_eq!((f.rsv, f.payload.len()), (0, len), "{len} bytes go plain");
    }
}

#[test]
fn the_client_threshold_is_its_own() {
    let (mut peer, client) = start(Some(SHARED_ANSWER), |c| {
        c.compression = 1;
        c.compression_threshold = 1;
    });
    let mut client = client;
    client.until(10, "open", TestClient::opened);
    for (len, rsv) in [(0usize, 0), (1, RSV1), (10, RSV1)] {
        let msg = vec![b'z'; len];
        send_ok(&client, &msg, 1);
        let f = peer.read();
        assert_eq!(f.rsv, rsv, "{len} bytes");
        if rsv == RSV1 {
            assert_eq!(inflate_alone(&f.payload), Ok(msg));
        }
    }
}

/// The client sends `count` messages that repeat each other; returns how many of its frames
/// needed earlier ones (did not inflate alone). `theirs` inflates as the agreement says.
fn client_messages(
    peer: &mut Peer,
    client: &TestClient,
    count: usize,
    theirs: &mut StrictInflater,
) -> usize {
    let mut needed = 0;
    for i in 0..count {
        let msg = json_message(i, 1500);
        send_ok(client, &msg, 1);
        let f = peer.read();
        assert_eq!(
            (f.fin, f.rsv, f.opcode),
            (true, RSV1, 1),
            "client frame {i}"
        );
        if inflate_alone(&f.payload).as_ref() != Ok(&msg) {
            needed += 1;
        }
        let got = theirs.inflate(&f.payload);
        assert!(got == Ok(msg), "client frame {i}: {got:?}");
    }
    needed
}

#[test]
fn dedicated_agreement_with_a_10_bit_server_window() {
    let answer = "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12";
    let (mut peer, mut client) = open(2, Some(answer));
    assert_eq!(peer.offer().as_deref(), Some(DEDICATED_OFFER));
    assert_eq!(is_compressed(&client), 1);
    // The server keeps a 10-bit context: its messages refer to earlier ones.
    let mut ours = PeerDeflater::new(10, true);
    let sent: Vec<Vec<u8>> = (0..50).map(|i| json_message(i, 1500)).collect();
    for msg in &sent {
        peer.send_compressed(1, &ours.compress(msg));
    }
    let got = wait_messages(&mut client, sent.len());
    for (i, msg) in sent.iter().enumerate() {
        assert!(got[i].1 == *msg, "server message {i}");
    }
    // The client keeps a context too, within the 12 bits agreed.
    let needed = client_messages(&mut peer, &client, 50, &mut StrictInflater::new(12, true));
    assert!(
        needed > 40,
        "context takeover: {needed} of 50 frames used it"
    );
}

#[test]
fn nine_bit_windows_both_ways() {
    let answer = "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9";
    let (mut peer, mut client) = open(2, Some(answer));
    let mut ours = PeerDeflater::new(9, true);
    let sent: Vec<Vec<u8>> = (0..10).map(far_repeats).collect();
    for msg in &sent {
        peer.send_compressed(2, &ours.compress(msg));
    }
    let got = wait_messages(&mut client, sent.len());
    assert!(got.iter().map(|m| &m.1).eq(sent.iter()), "server messages");
    let mut strict = StrictInflater::new(9, true);
    for (i, msg) in sent.iter().enumerate() {
        send_ok(&client, msg, 2);
        let f = peer.read();
        assert_eq!(f.rsv, RSV1);
        let got = strict.inflate(&f.payload);
        assert!(
            got == Ok(msg.clone()),
            "client frame {i} within 9 bits: {got:?}"
        );
    }
}

#[test]
fn client_max_window_bits_above_the_offer_keeps_the_offered_window() {
    // The offer said 12; RFC 7692 §7.1.2.2 lets a server ignore that hint. luna then keeps
    // to its own 12 bits. (Node's ws and Python's websockets refuse such an answer.)
    let answer = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=14";
    let (mut peer, client) = open(2, Some(answer));
    let mut strict = StrictInflater::new(12, true);
    for i in 0..10 {
        let msg = noisy_text(3000, 5).repeat(2);
        send_ok(&client, &msg, 2);
        let f = peer.read();
        let got = strict.inflate(&f.payload);
        assert!(got == Ok(msg), "frame {i} within 12 bits: {got:?}");
    }
}

#[test]
fn a_server_that_keeps_its_context_after_a_shared_offer() {
    // The offer asked for server_no_context_takeover; the server may decline it by leaving
    // it out, and then refers back to earlier messages.
    let (mut peer, mut client) = open(1, Some("permessage-deflate; client_no_context_takeover"));
    let mut ours = PeerDeflater::new(15, true);
    let sent: Vec<Vec<u8>> = (0..30).map(|i| json_message(i, 2000)).collect();
    for msg in &sent {
        peer.send_compressed(1, &ours.compress(msg));
    }
    let got = wait_messages(&mut client, sent.len());
    assert!(
        got.iter().map(|m| &m.1).eq(sent.iter()),
        "inflated with context"
    );
    // A bare answer: the client still compresses each message alone, as it offered.
    let (mut peer, client) = open(1, Some("permessage-deflate"));
    let needed = client_messages(&mut peer, &client, 10, &mut StrictInflater::new(15, false));
    assert_eq!(needed, 0, "client frames that needed an earlier one");
}

/// A failed handshake: one ERROR mentioning `needle`, then CLOSE 1006, never an OPEN, and
/// the client drops TCP.
fn refused(compression: u32, answer: &str, needle: &str) {
    let (mut peer, mut client) = start(Some(answer), |c| c.compression = compression);
    client.until(10, "close", TestClient::closed);
    let case = format!("compression {compression}, answer {answer:?}");
    let errors: Vec<(u32, String)> = client
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Error { code, message, .. } => Some((*code, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{case}: {:?}", client.brief());
    assert_eq!(errors[0].0, LunaResult::Protocol as u32, "{case}");
    assert!(
        errors[0].1.contains(needle),
        "{case}: {:?} lacks {needle:?}",
        errors[0].1
    );
    let closes: Vec<u32> = client
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Close { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(closes, [1006], "{case}");
    assert!(!TestClient::opened(&client.events), "{case}: never opened");
    assert!(peer.tcp_closed(), "{case}: the client drops TCP");
}

#[test]
fn answers_the_client_must_refuse() {
    let cases = [
        (0, "permessage-deflate", "not offered"),
        (1, "x-webkit-deflate-frame", "not offered"),
        (1, "permessage-deflate, permessage-deflate", "more than one"),
        (1, "permessage-deflate, x-foo", "more than one"),
        (1, "permessage-deflate; foo", "unknown parameter"),
        (
            1,
            "permessage-deflate; client_max_window_bits",
            "needs a value",
        ),
        (1, "permessage-deflate; client_max_window_bits=8", "9..15"),
        (
            1,
            "permessage-deflate; server_max_window_bits=16",
            "window bits",
        ),
        (
            1,
            "permessage-deflate; server_max_window_bits=7",
            "window bits",
        ),
        (
            1,
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "twice",
        ),
        (
            1,
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate",
        ),
        (2, "permessage-deflate", "server_max_window_bits"),
        (
            2,
            "permessage-deflate; server_max_window_bits=13",
            "more than offered",
        ),
        (
            2,
            "permessage-deflate; server_max_window_bits=15",
            "more than offered",
        ),
    ];
    for (compression, answer, needle) in cases {
        refused(compression, answer, needle);
    }
}

/// The peer sends `frames` on a shared agreement (after `tweak`); the client must close with
/// `code` and report it, delivering no message.
fn violation(frames: &[Vec<u8>], code: u16, case: &str, tweak: impl FnOnce(&mut LunaClientConfig)) {
    let (mut peer, mut client) = start(Some(SHARED_ANSWER), |c| {
        c.compression = 1;
        tweak(c);
    });
    client.until(10, "open", TestClient::opened);
    for f in frames {
        peer.stream.write_all(f).unwrap();
    }
    assert_eq!(peer.read_close(), code, "{case}: the client's close code");
    client.until(10, "close", TestClient::closed);
    let close = client.events.iter().find_map(|e| match e {
        Ev::Close { code, .. } => Some(*code),
        _ => None,
    });
    assert_eq!(close, Some(u32::from(code)), "{case}: close event");
    assert!(messages(&client).is_empty(), "{case}: {:?}", client.brief());
}

fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode_frame(fin, rsv, opcode, payload, None)
}

#[test]
fn bad_compressed_frames_fail_the_client() {
    let payload = compress_alone(&json_message(1, 3000));
    let (first, rest) = payload.split_at(payload.len() / 2);
    let bomb = compress_alone(&vec![0u8; 32 << 20]);
    let invalid = compress_alone(b"caf\xc3(");
    let one_mib = |c: &mut LunaClientConfig| c.max_message_size = 1 << 20;
    violation(
        &[frame(true, RSV1, 2, &bomb)],
        1009,
        "32 MiB of zeros",
        one_mib,
    );
    violation(
        &[frame(
            true,
            RSV1,
            2,
            &compress_alone(&vec![1u8; (1 << 20) + 1]),
        )],
        1009,
        "1 MiB + 1 once inflated",
        one_mib,
    );
    let cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        ("block type 3", vec![frame(true, RSV1, 2, &[0xff; 6])], 1007),
        (
            "text inflating to invalid UTF-8",
            vec![frame(true, RSV1, 1, &invalid)],
            1007,
        ),
        (
            "RSV1 on a continuation",
            vec![frame(false, RSV1, 1, first), frame(true, RSV1, 0, rest)],
            1002,
        ),
        ("RSV1 on a ping", vec![frame(true, RSV1, 9, b"")], 1002),
        ("RSV2 on a text", vec![frame(true, 0b010, 1, b"x")], 1002),
        ("RSV3 on a binary", vec![frame(true, 0b001, 2, b"x")], 1002),
    ];
    for (case, frames, code) in cases {
        violation(&frames, code, case, |_| {});
    }
    // A message before the violation, in the same write: delivered, then the close.
    let (mut peer, mut client) = open(1, Some(SHARED_ANSWER));
    let msg = json_message(3, 2000);
    let mut bytes = frame(true, RSV1, 1, &compress_alone(&msg));
    bytes.extend(frame(true, RSV1, 9, b""));
    peer.stream.write_all(&bytes).unwrap();
    assert_eq!(peer.read_close(), 1002, "RSV1 on a ping after a message");
    client.until(10, "close", TestClient::closed);
    assert_eq!(
        messages(&client),
        [(1, msg)],
        "the message before the violation"
    );
    // RSV1 when nothing was agreed.
    let (mut peer, mut client) = open(1, None);
    peer.send_compressed(1, &compress_alone(b"hello"));
    assert_eq!(peer.read_close(), 1002, "RSV1 without an agreement");
    client.until(10, "close", TestClient::closed);
    assert!(messages(&client).is_empty());
}

#[test]
fn fragmented_compressed_messages_reach_the_client_whole() {
    let (mut peer, mut client) = open(2, Some("permessage-deflate; server_max_window_bits=12"));
    let mut ours = PeerDeflater::new(12, true);
    let mut sent = Vec::new();
    for n in [2usize, 3, 7] {
        let msg = json_message(n, 8000);
        let payload = ours.compress(&msg);
        let size = payload.len().div_ceil(n);
        let pieces: Vec<&[u8]> = payload.chunks(size).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let (rsv, op) = if i == 0 { (RSV1, 1) } else { (0, 0) };
            peer.send(i == pieces.len() - 1, rsv, op, piece);
            if i == 0 {
                peer.send(true, 0, 9, b"mid");
            }
        }
        let pong = peer.read();
        assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"mid"[..]));
        sent.push(msg);
    }
    let got = wait_messages(&mut client, sent.len());
    assert!(got.iter().map(|m| &m.1).eq(sent.iter()), "reassembled");
    // The closing handshake after compressed traffic: plain close frames both ways.
    peer.send(true, 0, 8, &[0x0f, 0xa1, b'o', b'k']);
    assert_eq!(peer.read_close(), 4001);
    client.until(10, "close", TestClient::closed);
}

/// A luna client and a luna server (C ABI, echoing) in every pair of modes, over `scheme`:
/// both report compression, and texts, binaries, an empty message and 1 MiB echo intact.
fn luna_to_luna(
    scheme: &str,
    tweak_server: impl Fn(&mut LunaServerConfig) + Clone + 'static,
    ca: Option<std::ffi::CString>,
) {
    for server_mode in [1u32, 2] {
        for client_mode in [1u32, 2] {
            let case = format!("{scheme}: server {server_mode}, client {client_mode}");
            let tweak = tweak_server.clone();
            let server = TestServer::start(Options {
                tweak: Box::new(move |c| {
                    c.compression = server_mode;
                    tweak(c);
                }),
                ..Options::default()
            });
            let url = format!("{scheme}://127.0.0.1:{}/", server.port);
            let mut client = TestClient::connect(&url, |c| {
                c.compression = client_mode;
                c.tls_ca_file = ca.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
            });
            client.until(10, "open", TestClient::opened);
            assert_eq!(is_compressed(&client), 1, "{case}: client side");
            let conn = match server.wait_for(5, "open", |e| matches!(e, Ev::Open { .. })) {
                Ev::Open { conn, .. } => conn,
                _ => unreachable!(),
            };
            let mut flag = 0u8;
            assert_eq!(
                luna_conn_is_compressed(app_ptr(server.app), conn, &mut flag),
                LunaResult::Ok
            );
            assert_eq!(flag, 1, "{case}: server side");
            let mut sent: Vec<(u32, Vec<u8>)> = (0..50)
                .map(|i| (1 + (i % 2) as u32, json_message(i, 1500)))
                .collect();
            sent.push((2, Vec::new()));
            sent.push((1, json_message(99, 1 << 20)));
            for (opcode, data) in &sent {
                send_ok(&client, data, *opcode);
            }
            let got = wait_messages(&mut client, sent.len());
            assert!(got == sent, "{case}: echoes differ");
        }
    }
}

#[test]
fn luna_client_and_luna_server_agree_in_every_mode() {
    luna_to_luna("ws", |_| {}, None);
}

#[cfg(feature = "tls")]
#[test]
fn luna_client_and_luna_server_agree_over_wss() {
    use common::certs::*;
    use std::ffi::CString;
    let ca = Ca::new(temp_dir("deflate"));
    let key = ec_key();
    let cert = ca.leaf(&key, &["127.0.0.1"], valid_now(), "cert.pem");
    write_key(&key, KeyForm::Pkcs8, &ca.path("key.pem"));
    let path = |p: &std::path::Path| CString::new(p.to_str().unwrap()).unwrap();
    let (cert, key) = (path(&cert), path(&ca.path("key.pem")));
    let tweak = move |c: &mut LunaServerConfig| {
        c.tls_cert_file = cert.as_ptr();
        c.tls_key_file = key.as_ptr();
    };
    luna_to_luna("wss", tweak, Some(path(&ca.path("ca.pem"))));
}

#[test]
fn messages_queued_before_open_arrive_intact() {
    // Sent before the handshake agreed to anything: they may go plain or compressed, but in
    // order and intact, and a dedicated context stays in step.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://127.0.0.1:{}/", listener.local_addr().unwrap().port());
    let mut client = TestClient::connect(&url, |c| c.compression = 2);
    let sent: Vec<Vec<u8>> = (0..10).map(|i| json_message(i, 2000)).collect();
    for msg in &sent[..5] {
        send_ok(&client, msg, 1);
    }
    let (mut stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = read_head(&mut stream);
    let key = request
        .lines()
        .find_map(|l| {
            l.strip_prefix("sec-websocket-key: ")
                .or(l.strip_prefix("Sec-WebSocket-Key: "))
        })
        .expect("a key")
        .trim()
        .to_string();
    write!(
        stream,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: permessage-deflate; \
         server_max_window_bits=12; client_max_window_bits=12\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
    .unwrap();
    client.until(10, "open", TestClient::opened);
    for msg in &sent[5..] {
        send_ok(&client, msg, 1);
    }
    let mut peer = Peer { stream, request };
    let mut theirs = StrictInflater::new(12, true);
    for (i, msg) in sent.iter().enumerate() {
        let f = peer.read();
        let got = match f.rsv {
            RSV1 => theirs.inflate(&f.payload),
            _ => Ok(f.payload),
        };
        assert!(
            got == Ok(msg.clone()),
            "message {i} (rsv {}): {got:?}",
            f.rsv
        );
    }
}
