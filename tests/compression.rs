//! permessage-deflate (RFC 7692) on the server, end to end: a raw-socket client with a deflate
//! of its own (flate2, `common::deflate`) drives the LuaJIT echo server
//! (`tests/common/luna_echo.lua`) set up with `compression`. Each case checks the exact
//! `Sec-WebSocket-Extensions` answer and what crosses the wire: RSV1, window sizes, context
//! takeover or not, fragments, the reserved-bit rules, inflation limits, corrupt data, the
//! threshold, broadcasts and closes; then `luna_conn_is_compressed` through the C ABI.
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::deflate::*;
use common::lua_echo::LuaEcho;
use common::*;
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
fn open_with(port: u16, offer: &str, protocol: &str) -> RawClient {
    let mut extra = String::new();
    if !offer.is_empty() {
        extra.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    }
    if !protocol.is_empty() {
        extra.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    let c = RawClient::connect(port, &extra);
    assert_eq!(c.status(), 101, "{offer}: {}", c.response);
    c
}

fn open(port: u16, offer: &str) -> RawClient {
    open_with(port, offer, "")
}

/// The one `Sec-WebSocket-Extensions` line of the 101, if any.
fn answer(c: &RawClient) -> Option<String> {
    let lines = c
        .response
        .lines()
        .filter(|l| {
            l.to_ascii_lowercase()
                .starts_with("sec-websocket-extensions:")
        })
        .count();
    assert!(lines <= 1, "one extensions line at most: {}", c.response);
    c.header("Sec-WebSocket-Extensions")
}

fn read(c: &mut RawClient) -> WireFrame {
    read_wire_frame(&mut c.stream).expect("a frame from the server")
}

/// Reads one whole server message (one frame), inflating it when RSV1 is set.
fn read_message(c: &mut RawClient, inflater: &mut dyn Inflate, case: &str) -> (u8, Vec<u8>) {
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
fn send_compressed(c: &mut RawClient, opcode: u8, payload: &[u8]) {
    c.frame(true, RSV1, opcode, payload, MASK);
}

/// Expects a close frame with `code` (RSV clear), then TCP closed.
fn expect_close(c: &mut RawClient, code: u16, case: &str) {
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

// ---- negotiation -----------------------------------------------------------------------

/// Each offer and the exact answer expected (None: no extension in the 101).
fn check_answers(server: &LuaEcho, cases: &[(&str, Option<&str>)]) {
    for (offer, want) in cases {
        let c = open(server.port, offer);
        assert_eq!(answer(&c).as_deref(), *want, "offer {offer:?}");
    }
}

#[test]
fn shared_server_answers_every_kind_of_offer() {
    let s = LuaEcho::start(SHARED);
    let with = |extra: &str| format!("{SHARED_ANSWER}{extra}");
    let mut cases: Vec<(String, Option<String>)> = vec![
        ("permessage-deflate".into(), Some(with(""))),
        (
            "permessage-deflate; client_max_window_bits".into(),
            Some(with("")),
        ),
        (
            "permessage-deflate; client_max_window_bits=10".into(),
            Some(with("; client_max_window_bits=10")),
        ),
        (
            "permessage-deflate; client_max_window_bits=8".into(),
            Some(with("; client_max_window_bits=8")),
        ),
        (
            "permessage-deflate; client_max_window_bits=15".into(),
            Some(with("")),
        ),
        (
            "permessage-deflate; client_max_window_bits=\"11\"".into(),
            Some(with("; client_max_window_bits=11")),
        ),
        (
            "permessage-deflate; server_no_context_takeover".into(),
            Some(with("")),
        ),
        (
            "permessage-deflate; client_no_context_takeover".into(),
            Some(with("")),
        ),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=11"
                .into(),
            Some(with("; server_max_window_bits=10; client_max_window_bits=11")),
        ),
        // A window zlib cannot compress with: declined, alone or before another offer.
        ("permessage-deflate; server_max_window_bits=8".into(), None),
        (
            "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9"
                .into(),
            Some(with("; server_max_window_bits=9")),
        ),
        // Unknown, duplicated or invalid parameters decline that offer, not the next.
        ("permessage-deflate; foo".into(), None),
        ("permessage-deflate; foo=1".into(), None),
        (
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover".into(),
            None,
        ),
        (
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10".into(),
            None,
        ),
        ("permessage-deflate; server_max_window_bits".into(), None),
        ("permessage-deflate; server_max_window_bits=16".into(), None),
        ("permessage-deflate; client_max_window_bits=08".into(), None),
        ("permessage-deflate; server_no_context_takeover=1".into(), None),
        (
            "permessage-deflate; foo, permessage-deflate; client_max_window_bits=9".into(),
            Some(with("; client_max_window_bits=9")),
        ),
        // Other extensions are ignored.
        ("x-webkit-deflate-frame".into(), None),
        ("foo; bar=1".into(), None),
        (
            "x-webkit-deflate-frame, permessage-deflate".into(),
            Some(with("")),
        ),
        (
            "foo; bar=\"a, b\", permessage-deflate; server_max_window_bits=11".into(),
            Some(with("; server_max_window_bits=11")),
        ),
    ];
    // server_max_window_bits=N for every window zlib compresses with: answered with N.
    for n in 9..=15 {
        cases.push((
            format!("permessage-deflate; server_max_window_bits={n}"),
            Some(with(&format!("; server_max_window_bits={n}"))),
        ));
    }
    let cases: Vec<(&str, Option<&str>)> = cases
        .iter()
        .map(|(o, w)| (o.as_str(), w.as_deref()))
        .collect();
    check_answers(&s, &cases);
    // Offers on two header lines are one list, in order.
    let c = RawClient::connect(
        s.port,
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n",
    );
    assert_eq!(
        answer(&c).as_deref(),
        Some(with("; server_max_window_bits=10").as_str())
    );
}

#[test]
fn dedicated_server_answers_with_12_bit_windows() {
    let s = LuaEcho::start(DEDICATED);
    let w12 = "permessage-deflate; server_max_window_bits=12";
    check_answers(
        &s,
        &[
            ("permessage-deflate", Some(w12)),
            (
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"),
            ),
            (
                "permessage-deflate; client_max_window_bits=14",
                Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
            ),
            ("permessage-deflate; server_max_window_bits=14", Some(w12)),
            (
                "permessage-deflate; server_max_window_bits=9",
                Some("permessage-deflate; server_max_window_bits=9"),
            ),
            (
                "permessage-deflate; server_no_context_takeover",
                Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=12"),
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=12"),
            ),
            ("permessage-deflate; server_max_window_bits=8", None),
            ("permessage-deflate; bogus", None),
        ],
    );
}

#[test]
fn compression_off_answers_no_offer_and_sends_plain_frames() {
    for config in ["", "{ compression = false }"] {
        let s = LuaEcho::start(config);
        let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
        assert_eq!(answer(&c), None, "config {config:?}");
        let big = json_message(1, 4000);
        c.send(1, &big);
        let f = read(&mut c);
        assert_eq!((f.rsv, f.opcode), (0, 1), "config {config:?}: plain echo");
        assert_eq!(f.payload, big);
        // RSV1 without an agreement is a protocol error.
        send_compressed(&mut c, 1, &compress_alone(b"hello"));
        expect_close(&mut c, 1002, "RSV1 with compression off");
    }
    // Compression on, but the client offered nothing: the same.
    let s = LuaEcho::start(SHARED);
    let mut c = open(s.port, "");
    assert_eq!(answer(&c), None);
    let big = json_message(2, 4000);
    c.send(2, &big);
    let f = read(&mut c);
    assert_eq!((f.rsv, f.opcode, f.payload), (0, 2, big));
    send_compressed(&mut c, 2, &compress_alone(b"hello"));
    expect_close(&mut c, 1002, "RSV1 without an offer");
    // An offer the server declined: the same.
    let mut c = open(s.port, "permessage-deflate; server_max_window_bits=8");
    assert_eq!(answer(&c), None);
    send_compressed(&mut c, 1, &compress_alone(b"hello"));
    expect_close(&mut c, 1002, "RSV1 after a declined offer");
}

// ---- context takeover -----------------------------------------------------------------

/// 200 messages each way on one connection: the client compresses with `ours`, inflates with
/// `theirs`; returns how many server frames did NOT inflate on their own (fresh state).
fn two_hundred_messages(
    c: &mut RawClient,
    ours: &mut PeerDeflater,
    theirs: &mut dyn Inflate,
) -> usize {
    let mut needed_context = 0;
    for i in 0..200 {
        let msg = json_message(i, 1100 + (i % 7) * 50);
        let opcode = 1 + (i % 2) as u8;
        send_compressed(c, opcode, &ours.compress(&msg));
        let f = read(c);
        assert_eq!(
            (f.fin, f.rsv, f.opcode),
            (true, RSV1, opcode),
            "echo {i} is compressed"
        );
        let alone = inflate_alone(&f.payload);
        if alone.as_ref() != Ok(&msg) {
            needed_context += 1;
        }
        let got = theirs
            .inflate(&f.payload)
            .unwrap_or_else(|e| panic!("echo {i}: {e}"));
        assert!(got == msg, "echo {i} differs");
    }
    needed_context
}

#[test]
fn dedicated_keeps_both_contexts_across_200_messages() {
    let s = LuaEcho::start(DEDICATED);
    let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
    assert_eq!(
        answer(&c).as_deref(),
        Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
    );
    // Our frames refer back to earlier messages; the server's do too, within 12 bits.
    let mut ours = PeerDeflater::new(12, true);
    let mut theirs = StrictInflater::new(12, true);
    let needed = two_hundred_messages(&mut c, &mut ours, &mut theirs);
    assert!(
        needed > 150,
        "context takeover: most server messages refer to earlier ones ({needed} of 200 did)"
    );
    c.stream.write_all(&close_frame(1000, b"")).unwrap();
    expect_close(&mut c, 1000, "close after 200 messages");
}

#[test]
fn shared_messages_stand_alone_both_ways() {
    let s = LuaEcho::start(SHARED);
    let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
    assert_eq!(answer(&c).as_deref(), Some(SHARED_ANSWER));
    let mut ours = PeerDeflater::new(15, false);
    // server_no_context_takeover holds: every server message inflates alone.
    let mut theirs = StrictInflater::new(15, false);
    let needed = two_hundred_messages(&mut c, &mut ours, &mut theirs);
    assert_eq!(needed, 0, "server messages that needed an earlier one");
    // A client that keeps its context although client_no_context_takeover was agreed
    // sends references the server cannot resolve.
    let mut c = open(s.port, "permessage-deflate");
    let mut rogue = PeerDeflater::new(15, true);
    let msg = noisy_text(2000, 7);
    send_compressed(&mut c, 1, &rogue.compress(&msg));
    let (_, got) = read_message(&mut c, &mut PeerInflater::new(false), "first");
    assert!(got == msg);
    send_compressed(&mut c, 1, &rogue.compress(&msg));
    expect_close(
        &mut c,
        1007,
        "a reference into a message the server did not keep",
    );
}

#[test]
fn dedicated_server_without_context_when_the_client_asks() {
    let s = LuaEcho::start(DEDICATED);
    let mut c = open(s.port, "permessage-deflate; server_no_context_takeover");
    assert_eq!(
        answer(&c).as_deref(),
        Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=12")
    );
    let msg = noisy_text(3000, 3);
    for i in 0..5 {
        c.send(1, &msg);
        let f = read(&mut c);
        assert_eq!(f.rsv, RSV1, "message {i}");
        let alone = inflate_alone(&f.payload);
        assert!(alone == Ok(msg.clone()), "message {i} inflates alone");
    }
}

/// Connects with a small receive buffer, so the server's send queue fills after a few frames.
fn open_small_buffer(port: u16, offer: &str) -> RawClient {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 << 10).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    socket.connect(&addr.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {offer}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let response = read_head(&mut stream);
    let c = RawClient { stream, response };
    assert_eq!(c.status(), 101, "{}", c.response);
    c
}

#[test]
fn dedicated_context_survives_sends_refused_for_backpressure() {
    let s = LuaEcho::start("{ compression = \"dedicated\", max_send_queue = 64 * 1024 }");
    let mut c = open_small_buffer(s.port, "permessage-deflate");
    assert_eq!(
        answer(&c).as_deref(),
        Some("permessage-deflate; server_max_window_bits=12")
    );
    // Each message starts with the (unique) end of the one before: the server's compressor
    // refers back to it. A refused echo its compressor had seen would break every later one.
    let unique = |i: u32| noise(2048, 10_000 + i);
    let sent: Vec<Vec<u8>> = (1..=200u32)
        .map(|i| [unique(i - 1), noise(30 << 10, i), unique(i)].concat())
        .collect();
    let mut writer = c.stream.try_clone().unwrap();
    let frames: Vec<Vec<u8>> = sent
        .iter()
        .map(|m| encode_frame(true, 0, 2, m, MASK))
        // Several markers: one small frame could still meet a full queue.
        .chain(std::iter::repeat_n(
            encode_frame(true, 0, 1, b"end", MASK),
            5,
        ))
        .collect();
    let sender = std::thread::spawn(move || {
        for f in frames {
            writer.write_all(&f).unwrap();
        }
    });
    // Not reading for a while: the echoes fill the queue and some are refused.
    std::thread::sleep(Duration::from_millis(300));
    let mut inflater = PeerInflater::new(true);
    let (mut next, mut received) = (0, 0);
    loop {
        let (op, data) = read_message(&mut c, &mut inflater, "echo after backpressure");
        if op == 1 && data == b"end" {
            break;
        }
        let at = sent[next..].iter().position(|m| *m == data);
        let at = at.unwrap_or_else(|| panic!("echo {received} is no later message we sent"));
        next += at + 1;
        received += 1;
    }
    sender.join().unwrap();
    assert!(
        (1..200).contains(&received),
        "{received} of 200 echoed: some must have been refused for backpressure"
    );
}

// ---- windows --------------------------------------------------------------------------

/// 5000 bytes made of one incompressible 1000-byte block repeated: only a window of more
/// than 1000 bytes can use the repetition.
fn far_repeats(seed: u32) -> Vec<u8> {
    noisy_text(1000, seed).repeat(5)
}

#[test]
fn the_strict_inflater_catches_a_window_too_large() {
    // The check below would prove nothing if a 9-bit inflater took 15-bit data.
    let data = far_repeats(1);
    let wide = PeerDeflater::new(15, false).compress(&data);
    let narrow = StrictInflater::new(9, false).inflate(&wide);
    assert!(
        narrow.as_ref().is_err_and(|e| e.contains("too far back")),
        "{narrow:?}"
    );
    assert_eq!(StrictInflater::new(15, false).inflate(&wide), Ok(data));
}

#[test]
fn server_max_window_bits_is_honoured() {
    for (config, context) in [(SHARED, false), (DEDICATED, true)] {
        for bits in [9u8, 10, 12] {
            let s = LuaEcho::start(config);
            let offer = format!("permessage-deflate; server_max_window_bits={bits}");
            let mut c = open(s.port, &offer);
            let got = answer(&c).unwrap();
            assert!(
                got.contains(&format!("server_max_window_bits={bits}")),
                "{config} {offer}: {got}"
            );
            let mut strict = StrictInflater::new(bits, context);
            for i in 0..20 {
                let msg = far_repeats(i);
                c.send(2, &msg);
                let f = read(&mut c);
                assert_eq!(f.rsv, RSV1, "{config} {bits}: message {i}");
                let got = strict.inflate(&f.payload);
                assert!(got == Ok(msg), "{config} {bits}: message {i}: {got:?}");
            }
        }
    }
}

#[test]
fn client_max_window_bits_limits_what_the_server_expects() {
    // The server inflates whatever window the client agreed to, including 8 bits (zlib
    // cannot make 8-bit streams, but a 9-bit one fits in an 8-bit agreement's inflater).
    let s = LuaEcho::start(SHARED);
    for bits in [9u8, 12, 15] {
        let mut c = open(
            s.port,
            &format!("permessage-deflate; client_max_window_bits={bits}"),
        );
        let mut ours = PeerDeflater::new(bits, false);
        let msg = far_repeats(u32::from(bits));
        send_compressed(&mut c, 1, &ours.compress(&msg));
        let (_, got) = read_message(&mut c, &mut PeerInflater::new(false), "echo");
        assert!(got == msg, "client window {bits}");
    }
}

// ---- fragments ------------------------------------------------------------------------

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
fn send_fragmented(c: &mut RawClient, opcode: u8, pieces: &[&[u8]]) {
    let last = pieces.len() - 1;
    for (i, piece) in pieces.iter().enumerate() {
        let (rsv, op) = if i == 0 { (RSV1, opcode) } else { (0, 0) };
        c.frame(i == last, rsv, op, piece, MASK);
        if i == 0 {
            c.frame(true, 0, 9, b"between", MASK);
        }
    }
}

#[test]
fn fragmented_compressed_messages_are_reassembled() {
    for (config, context) in [(SHARED, false), (DEDICATED, true)] {
        let s = LuaEcho::start(config);
        let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
        let mut ours = PeerDeflater::new(12, context);
        let mut theirs = StrictInflater::new(15, context);
        for n in 2..=6 {
            let msg = json_message(n, 6000);
            let payload = ours.compress(&msg);
            send_fragmented(&mut c, 1, &split(&payload, n));
            let pong = read(&mut c);
            assert_eq!(
                (pong.opcode, pong.payload.as_slice()),
                (10, &b"between"[..])
            );
            let (op, got) = read_message(&mut c, &mut theirs, "reassembled");
            assert_eq!(op, 1, "{config}: {n} fragments");
            assert!(got == msg, "{config}: {n} fragments");
        }
        // One byte per fragment, binary.
        let msg = noise(300, 9).repeat(4);
        let payload = ours.compress(&msg);
        let pieces: Vec<&[u8]> = payload.chunks(1).collect();
        send_fragmented(&mut c, 2, &pieces);
        let pong = read(&mut c);
        assert_eq!(pong.opcode, 10);
        let (op, got) = read_message(&mut c, &mut theirs, "1-byte fragments");
        assert_eq!((op, got == msg), (2, true), "{config}: 1-byte fragments");
        // An empty first fragment that carries RSV1.
        let msg = json_message(99, 2000);
        let payload = ours.compress(&msg);
        let mut pieces: Vec<&[u8]> = vec![&[]];
        pieces.extend(split(&payload, 3));
        send_fragmented(&mut c, 1, &pieces);
        assert_eq!(read(&mut c).opcode, 10);
        let (_, got) = read_message(&mut c, &mut theirs, "empty first fragment");
        assert!(got == msg, "{config}: empty first fragment");
    }
}

#[test]
fn rsv_rules_hold_with_compression() {
    let s = LuaEcho::start(SHARED);
    let offer = "permessage-deflate";
    let payload = compress_alone(&json_message(1, 3000));
    let (first, rest) = payload.split_at(payload.len() / 2);
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "RSV1 on the continuation of a compressed message",
            vec![
                encode_frame(false, RSV1, 1, first, MASK),
                encode_frame(true, RSV1, 0, rest, MASK),
            ],
        ),
        (
            "RSV1 on the continuation of a plain message",
            vec![
                encode_frame(false, 0, 1, b"plain ", MASK),
                encode_frame(true, RSV1, 0, &compress_alone(b"tail"), MASK),
            ],
        ),
        (
            "RSV1 on a ping",
            vec![encode_frame(true, RSV1, 9, b"", MASK)],
        ),
        (
            "RSV1 on a pong",
            vec![encode_frame(true, RSV1, 10, b"", MASK)],
        ),
        (
            "RSV1 on a close",
            vec![encode_frame(true, RSV1, 8, &1000u16.to_be_bytes(), MASK)],
        ),
        (
            "RSV1 on a ping between compressed fragments",
            vec![
                encode_frame(false, RSV1, 1, first, MASK),
                encode_frame(true, RSV1, 9, b"", MASK),
            ],
        ),
        (
            "RSV2 on a text",
            vec![encode_frame(true, 0b010, 1, b"x", MASK)],
        ),
        (
            "RSV3 on a text",
            vec![encode_frame(true, 0b001, 1, b"x", MASK)],
        ),
        (
            "RSV1 and RSV2 on a compressed text",
            vec![encode_frame(true, 0b110, 1, &payload, MASK)],
        ),
        (
            "RSV2 on a continuation",
            vec![
                encode_frame(false, RSV1, 1, first, MASK),
                encode_frame(true, 0b010, 0, rest, MASK),
            ],
        ),
    ];
    for (case, frames) in cases {
        let mut c = open(s.port, offer);
        for f in frames {
            c.stream.write_all(&f).unwrap();
        }
        expect_close(&mut c, 1002, case);
    }
}

#[test]
fn messages_before_a_violation_are_answered_before_the_close() {
    for config in [SHARED, DEDICATED] {
        let s = LuaEcho::start(config);
        let mut c = open(s.port, "permessage-deflate");
        let msg = json_message(5, 3000);
        let mut bytes = encode_frame(true, RSV1, 1, &compress_alone(&msg), MASK);
        bytes.extend(encode_frame(true, 0, 2, b"plain", MASK));
        bytes.extend(encode_frame(true, RSV1, 9, b"", MASK));
        c.stream.write_all(&bytes).unwrap();
        let (op, got) = read_message(&mut c, &mut PeerInflater::new(true), config);
        assert_eq!(
            (op, got == msg),
            (1, true),
            "{config}: compressed echo first"
        );
        let (op, got) = read_message(&mut c, &mut PeerInflater::new(true), config);
        assert_eq!((op, got.as_slice()), (2, &b"plain"[..]), "{config}");
        expect_close(&mut c, 1002, config);
    }
}

// ---- limits and bad data ---------------------------------------------------------------

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

#[test]
fn a_decompression_bomb_closes_with_1009_without_inflating_it() {
    // 64 MiB of zeros deflate to about 64 KiB: far below every frame limit.
    let zeros = vec![0u8; 64 << 20];
    let bomb = compress_alone(&zeros);
    assert!(bomb.len() < 100 << 10, "{} bytes", bomb.len());
    let one_mib = vec![0u8; 1 << 20];
    for mode in ["shared", "dedicated"] {
        let config = format!("{{ compression = \"{mode}\", max_message_size = 1024 * 1024 }}");
        let s = LuaEcho::start(&config);
        // Warm up: exactly max_message_size once inflated is delivered (and echoed).
        let mut c = open(s.port, "permessage-deflate");
        send_compressed(&mut c, 2, &compress_alone(&one_mib));
        let (_, got) = read_message(&mut c, &mut PeerInflater::new(true), mode);
        assert!(got == one_mib, "{mode}: 1 MiB exactly is echoed");
        let before = vm_kib(s.pid(), "VmHWM:");
        // One byte more is too much.
        let mut over = one_mib.clone();
        over.push(0);
        send_compressed(&mut c, 2, &compress_alone(&over));
        expect_close(&mut c, 1009, "1 MiB + 1 once inflated");
        // The bomb, whole and in fragments.
        let mut c = open(s.port, "permessage-deflate");
        send_compressed(&mut c, 2, &bomb);
        expect_close(&mut c, 1009, "64 MiB of zeros in one frame");
        let mut c = open(s.port, "permessage-deflate");
        send_fragmented(&mut c, 1, &split(&bomb, 8));
        expect_close(&mut c, 1009, "64 MiB of zeros in 8 fragments");
        let after = vm_kib(s.pid(), "VmHWM:");
        assert!(
            after < before + 4 * 1024,
            "{mode}: peak RSS grew by {} KiB for 64 MiB bombs",
            after.saturating_sub(before)
        );
    }
}

#[test]
fn corrupt_data_and_invalid_text_close_with_1007() {
    for config in [SHARED, DEDICATED] {
        let s = LuaEcho::start(config);
        let invalid = compress_alone(b"ok \xff\xfe not utf-8");
        let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "block type 3",
                vec![encode_frame(true, RSV1, 2, &[0xff; 8], MASK)],
            ),
            (
                "stored block with a bad length check",
                vec![encode_frame(
                    true,
                    RSV1,
                    2,
                    &[0x00, 5, 0, 5, 0, 1, 2, 3, 4, 5],
                    MASK,
                )],
            ),
            (
                "bytes after the final block",
                vec![encode_frame(
                    true,
                    RSV1,
                    2,
                    &[
                        PeerDeflater::new(15, false).compress_final(b"end"),
                        b"junk".to_vec(),
                    ]
                    .concat(),
                    MASK,
                )],
            ),
            (
                "compressed text that inflates to invalid UTF-8",
                vec![encode_frame(true, RSV1, 1, &invalid, MASK)],
            ),
            (
                "the same in fragments",
                vec![
                    encode_frame(false, RSV1, 1, &invalid[..4], MASK),
                    encode_frame(true, 0, 0, &invalid[4..], MASK),
                ],
            ),
            (
                "plain text with a sequence broken across fragments",
                vec![
                    encode_frame(false, 0, 1, b"caf\xc3", MASK),
                    encode_frame(true, 0, 0, b"(", MASK),
                ],
            ),
        ];
        for (case, frames) in cases {
            let mut c = open(s.port, "permessage-deflate");
            for f in frames {
                c.stream.write_all(&f).unwrap();
            }
            expect_close(&mut c, 1007, &format!("{config}: {case}"));
        }
        // The same bytes as BINARY are fine, and so is a sequence split across plain
        // fragments.
        let mut c = open(s.port, "permessage-deflate");
        send_compressed(&mut c, 2, &invalid);
        let (_, got) = read_message(&mut c, &mut PeerInflater::new(true), "binary");
        assert_eq!(got, b"ok \xff\xfe not utf-8");
        c.frame(false, 0, 1, "caf\u{e9}".as_bytes().split_at(4).0, MASK);
        c.frame(true, 0, 0, "caf\u{e9}".as_bytes().split_at(4).1, MASK);
        let (_, got) = read_message(&mut c, &mut PeerInflater::new(true), "split");
        assert_eq!(got, "caf\u{e9}".as_bytes());
    }
}

#[test]
fn final_blocks_and_empty_messages_are_accepted() {
    for (config, context) in [(SHARED, false), (DEDICATED, true)] {
        let s = LuaEcho::start(config);
        let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
        let mut ours = PeerDeflater::new(12, context);
        let mut theirs = StrictInflater::new(15, context);
        // A message that ends the deflate stream (§7.2.3.4), then one with a new stream.
        let first = json_message(1, 1500);
        send_compressed(&mut c, 1, &ours.compress_final(&first));
        assert!(read_message(&mut c, &mut theirs, "final block").1 == first);
        let second = json_message(2, 1500);
        send_compressed(&mut c, 1, &ours.compress(&second));
        assert!(read_message(&mut c, &mut theirs, "after a final block").1 == second);
        // An empty message as the single 0x00 byte (§7.2.3.6), and compressed normally.
        send_compressed(&mut c, 1, &[0x00]);
        assert_eq!(read_message(&mut c, &mut theirs, "0x00").1, b"");
        send_compressed(&mut c, 2, &ours.compress(b""));
        assert_eq!(read_message(&mut c, &mut theirs, "empty").1, b"");
        let third = json_message(3, 1500);
        send_compressed(&mut c, 1, &ours.compress(&third));
        assert!(read_message(&mut c, &mut theirs, "after empties").1 == third);
    }
}

// ---- threshold ------------------------------------------------------------------------

/// Sends `len` bytes and returns whether the echo came back with RSV1.
fn echo_is_compressed(c: &mut RawClient, len: usize, opcode: u8) -> bool {
    let msg = noisy_text(len, len as u32);
    c.send(opcode, &msg);
    let (rsv, payload) = {
        let f = read(c);
        (f.rsv, f.payload)
    };
    let got = match rsv {
        RSV1 => inflate_alone(&payload).expect("inflate"),
        _ => payload,
    };
    assert!(got == msg, "echo of {len} bytes");
    rsv == RSV1
}

#[test]
fn the_threshold_decides_what_is_compressed() {
    let s = LuaEcho::start(SHARED);
    let mut c = open(s.port, "permessage-deflate");
    for (len, want) in [
        (0, false),
        (1, false),
        (1023, false),
        (1024, true),
        (70000, true),
    ] {
        for opcode in [1, 2] {
            assert_eq!(
                echo_is_compressed(&mut c, len, opcode),
                want,
                "default threshold, {len} bytes"
            );
        }
    }
    // Small messages from the client may still come compressed.
    send_compressed(&mut c, 1, &compress_alone(b"tiny"));
    let f = read(&mut c);
    assert_eq!((f.rsv, f.payload.as_slice()), (0, &b"tiny"[..]));
    let s = LuaEcho::start("{ compression = \"dedicated\", compression_threshold = 1 }");
    let mut c = open(s.port, "permessage-deflate; server_no_context_takeover");
    for (len, want) in [(0, false), (1, true), (2, true), (500, true)] {
        assert_eq!(
            echo_is_compressed(&mut c, len, 1),
            want,
            "threshold 1, {len} bytes"
        );
    }
    let s = LuaEcho::start("{ compression = \"shared\", compression_threshold = 5000 }");
    let mut c = open(s.port, "permessage-deflate");
    for (len, want) in [(4999, false), (5000, true)] {
        assert_eq!(
            echo_is_compressed(&mut c, len, 2),
            want,
            "threshold 5000, {len} bytes"
        );
    }
}

// ---- broadcast ------------------------------------------------------------------------

/// Joins the "broadcast" group: sends a marker and waits for its copy, so the server knows
/// the connection before anyone else broadcasts.
fn join(port: u16, offer: &str, name: &str) -> RawClient {
    let mut c = open_with(port, offer, "broadcast");
    c.send(1, name.as_bytes());
    skip_until(&mut c, name.as_bytes());
    c
}

/// Reads (plain) frames until one carries `marker`.
fn skip_until(c: &mut RawClient, marker: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "marker {marker:?} never came");
        let f = read(c);
        if f.rsv == 0 && f.payload == marker {
            return;
        }
    }
}

#[test]
fn a_shared_broadcast_is_one_compressed_frame_for_every_recipient() {
    let s = LuaEcho::start(SHARED);
    let mut a = join(s.port, "permessage-deflate", "a");
    let mut b = join(s.port, "permessage-deflate; client_max_window_bits", "b");
    let mut c = join(
        s.port,
        "permessage-deflate; server_no_context_takeover",
        "c",
    );
    let mut narrow = join(s.port, "permessage-deflate; server_max_window_bits=10", "d");
    let mut plain = join(s.port, "", "e");
    // Everyone joined: from here each reads the same stream of broadcasts.
    a.send(1, b"start");
    for r in [&mut a, &mut b, &mut c, &mut narrow, &mut plain] {
        skip_until(r, b"start");
    }
    for i in 0..3 {
        let msg = json_message(i, 4000 + i * 100);
        a.send(1, &msg);
        let frames: Vec<WireFrame> = [&mut a, &mut b, &mut c].map(read).into();
        assert_eq!(frames[0].rsv, RSV1, "broadcast {i} compressed");
        assert!(
            frames.iter().all(|f| f.raw == frames[0].raw),
            "broadcast {i}: byte-identical frames"
        );
        assert!(inflate_alone(&frames[0].payload) == Ok(msg.clone()));
        let f = read(&mut narrow);
        assert_eq!(f.rsv, RSV1);
        let got = StrictInflater::new(10, false).inflate(&f.payload);
        assert!(got == Ok(msg.clone()), "10-bit recipient, broadcast {i}");
        let f = read(&mut plain);
        assert_eq!((f.rsv, f.payload == msg), (0, true), "plain recipient");
    }
}

#[test]
fn a_dedicated_broadcast_follows_each_recipients_context() {
    let s = LuaEcho::start(DEDICATED);
    let mut a = join(s.port, "permessage-deflate", "a");
    let mut b = join(s.port, "permessage-deflate", "b");
    a.send(1, b"start");
    skip_until(&mut a, b"start");
    skip_until(&mut b, b"start");
    let mut inflaters = [StrictInflater::new(12, true), StrictInflater::new(12, true)];
    let mut sizes = Vec::new();
    for i in 0..20 {
        let msg = far_repeats(0)
            .into_iter()
            .chain(json_message(i, 1200))
            .collect::<Vec<u8>>();
        let sender = if i % 2 == 0 { &mut a } else { &mut b };
        sender.send(2, &msg);
        for (r, inflater) in [&mut a, &mut b].into_iter().zip(inflaters.iter_mut()) {
            let f = read(r);
            assert_eq!(f.rsv, RSV1, "broadcast {i}");
            sizes.push(f.payload.len());
            let got = inflater.inflate(&f.payload);
            assert!(got == Ok(msg.clone()), "broadcast {i}: {got:?}");
        }
    }
    // After the first, the repeated 1000-byte block is found in the window.
    assert!(
        sizes[2..].iter().all(|&n| n < sizes[0]),
        "context takeover shrinks later broadcasts: {sizes:?}"
    );
}

// ---- closes ---------------------------------------------------------------------------

#[test]
fn closes_round_trip_with_compression_on() {
    for config in [SHARED, DEDICATED] {
        let s = LuaEcho::start(config);
        for (code, reason) in [(1000u16, &b""[..]), (4001, b"bye now"), (3000, b"x")] {
            let mut c = open(s.port, "permessage-deflate");
            let msg = json_message(1, 2000);
            send_compressed(&mut c, 1, &compress_alone(&msg));
            let (_, got) = read_message(&mut c, &mut PeerInflater::new(true), config);
            assert!(got == msg);
            c.stream.write_all(&close_frame(code, reason)).unwrap();
            let f = read(&mut c);
            assert_eq!((f.opcode, f.rsv), (8, 0), "{config}: close answer");
            assert_eq!(&f.payload[..2], code.to_be_bytes(), "{config}: code {code}");
            assert_eq!(&f.payload[2..], reason, "{config}: reason");
            assert!(c.tcp_closed(), "{config}: TCP closed after {code}");
        }
        let mut c = open(s.port, "permessage-deflate");
        c.stream.write_all(&close_frame(1005, b"")).unwrap();
        expect_close(&mut c, 1002, "close code 1005");
    }
}

// ---- ws.compressed and luna_conn_is_compressed --------------------------------------------

#[test]
fn lua_ws_compressed_tells_the_handler() {
    let s = LuaEcho::start(SHARED);
    let off = LuaEcho::start("");
    for (port, offer, want) in [
        (s.port, "permessage-deflate", "compressed=true"),
        (s.port, "", "compressed=false"),
        (
            s.port,
            "permessage-deflate; server_max_window_bits=8",
            "compressed=false",
        ),
        (off.port, "permessage-deflate", "compressed=false"),
    ] {
        let mut c = open_with(port, offer, "compressed");
        c.send(1, b"?");
        let f = read(&mut c);
        assert_eq!(f.payload, want.as_bytes(), "offer {offer:?}");
    }
}

/// Opens a connection to a C-ABI test server with `offer`; returns the client and the
/// server's id for it.
fn open_on(server: &TestServer, offer: &str, opens_before: usize) -> (RawClient, u64) {
    let c = open(server.port, offer);
    server.wait_until(5, "open", || {
        server.count(|e| matches!(e, Ev::Open { .. })) > opens_before
    });
    let conn = server
        .snapshot()
        .iter()
        .filter_map(|e| match e {
            Ev::Open { conn, .. } => Some(*conn),
            _ => None,
        })
        .nth(opens_before)
        .unwrap();
    (c, conn)
}

fn is_compressed(server: &TestServer, conn: u64) -> u8 {
    let mut out = 7u8;
    assert_eq!(
        luna_conn_is_compressed(app_ptr(server.app), conn, &mut out),
        LunaResult::Ok
    );
    out
}

#[test]
fn c_abi_compression_and_luna_conn_is_compressed() {
    for (setting, answer_want) in [
        (1u32, Some(SHARED_ANSWER)),
        (2, Some("permessage-deflate; server_max_window_bits=12")),
    ] {
        let server = TestServer::start(Options {
            tweak: Box::new(move |c| c.compression = setting),
            ..Options::default()
        });
        let (mut c, conn) = open_on(&server, "permessage-deflate", 0);
        assert_eq!(answer(&c).as_deref(), answer_want);
        assert_eq!(is_compressed(&server, conn), 1, "compression {setting}");
        // The host gets the message inflated and its echo goes back compressed.
        let msg = json_message(1, 3000);
        send_compressed(&mut c, 1, &compress_alone(&msg));
        let (op, got) = read_message(&mut c, &mut PeerInflater::new(true), "C echo");
        assert_eq!((op, got == msg), (1, true));
        server.wait_for(
            5,
            "message",
            |e| matches!(e, Ev::Msg { data, .. } if *data == msg),
        );
        let (_plain_client, plain) = open_on(&server, "", 1);
        assert_eq!(is_compressed(&server, plain), 0, "no offer");
        assert_eq!(
            luna_conn_is_compressed(app_ptr(server.app), conn, std::ptr::null_mut()),
            LunaResult::InvalidArgument
        );
        let mut out = 0u8;
        assert_ne!(
            luna_conn_is_compressed(app_ptr(server.app), 987_654, &mut out),
            LunaResult::Ok,
            "unknown connection"
        );
    }
    let off = TestServer::start(Options::default());
    let (c, conn) = open_on(&off, "permessage-deflate", 0);
    assert_eq!(answer(&c), None);
    assert_eq!(is_compressed(&off, conn), 0, "compression 0");
    // Only 0, 1 and 2 are settings.
    // SAFETY: plain data, filled by luna_server_config_default.
    let mut config: LunaServerConfig = unsafe { std::mem::zeroed() };
    assert_eq!(luna_server_config_default(&mut config), LunaResult::Ok);
    assert_eq!(config.compression, 0, "off by default");
    assert_eq!(config.compression_threshold, 1024, "1 KiB by default");
    config.compression = 3;
    config.port = 0;
    let host = std::ffi::CString::new("127.0.0.1").unwrap();
    config.host = host.as_ptr();
    assert!(luna_server_new(&config).is_null());
    assert!(last_error().contains("compression"), "{}", last_error());
}

#[test]
fn a_dedicated_compressor_shared_by_sending_threads_keeps_frames_in_its_order() {
    let server = TestServer::start(Options {
        echo: false,
        tweak: Box::new(|c| c.compression = 2),
        ..Options::default()
    });
    let (mut c, conn) = open_on(&server, "permessage-deflate", 0);
    // Every message starts like every other: each frame refers back to the one compressed
    // before it, so a frame sent out of the compressor's order would not inflate right.
    let common = noisy_text(1500, 77);
    let message = move |thread: usize, i: usize| {
        [
            common.clone(),
            format!(" thread {thread} message {i}").into_bytes(),
        ]
        .concat()
    };
    let app = server.app;
    let senders: Vec<_> = (0..4)
        .map(|thread| {
            let message = message.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let data = message(thread, i);
                    let r = luna_conn_send(app_ptr(app), conn, data.as_ptr(), data.len(), 1);
                    assert_eq!(r, LunaResult::Ok, "{}", last_error());
                }
            })
        })
        .collect();
    let mut inflater = PeerInflater::new(true);
    let mut seen = std::collections::HashSet::new();
    for n in 0..400 {
        let (op, data) = read_message(&mut c, &mut inflater, &format!("frame {n}"));
        assert_eq!(op, 1);
        assert!(seen.insert(data), "frame {n} repeats an earlier message");
    }
    for s in senders {
        s.join().unwrap();
    }
    let sent: std::collections::HashSet<Vec<u8>> = (0..4)
        .flat_map(|t| (0..100).map(move |i| (t, i)))
        .map(|(t, i)| message(t, i))
        .collect();
    assert!(seen == sent, "every message arrived once, as sent");
}

#[test]
fn sixteen_mib_messages_compressed_both_ways() {
    // The default max_message_size, exactly, once inflated.
    let msg: Vec<u8> = json_message(0, 4096)
        .iter()
        .cycle()
        .zip(0..16usize << 20)
        .map(|(b, i)| if i % 4099 == 0 { b'#' } else { *b })
        .collect();
    for (config, context) in [(SHARED, false), (DEDICATED, true)] {
        let s = LuaEcho::start(config);
        let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
        let mut ours = PeerDeflater::new(12, context);
        let mut theirs = PeerInflater::new(context);
        for i in 0..2 {
            send_compressed(&mut c, 1, &ours.compress(&msg));
            let (op, got) = read_message(&mut c, &mut theirs, config);
            assert_eq!(op, 1);
            assert!(got == msg, "{config}: 16 MiB echo {i}");
        }
        let mut over = msg.clone();
        over.push(b' ');
        send_compressed(&mut c, 1, &ours.compress(&over));
        expect_close(&mut c, 1009, "16 MiB + 1 once inflated");
    }
}
