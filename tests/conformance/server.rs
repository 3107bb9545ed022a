//! RFC 6455 conformance of the server, end to end: a raw-socket client drives the LuaJIT
//! echo server (every message echoed through `luna.update`), so each case crosses socket →
//! Rust → FFI → Lua → back. Each case checks the answer (echo, pong, or close code) and that
//! the server completes the closing handshake and closes TCP.
use crate::common::lua_echo::LuaEcho;
use crate::common::*;

const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

fn open(server: &LuaEcho) -> RawPeer {
    let c = RawPeer::connect(server.port, "");
    assert_eq!(c.status(), 101, "{}", c.head);
    c
}

/// The server answers with a close frame carrying `code` and then closes TCP.
fn expect_close(c: &mut RawPeer, code: u16, case: &str) {
    assert_eq!(c.read_close(), code, "{case}: close code");
    assert!(c.tcp_closed(), "{case}: the server must close TCP");
}

fn expect_echo(c: &mut RawPeer, opcode: u8, payload: &[u8], case: &str) {
    let (fin, op, data) = c.read().unwrap_or_else(|e| panic!("{case}: {e}"));
    assert!(fin, "{case}: echo is one frame");
    assert_eq!(op, opcode, "{case}: opcode");
    assert!(
        data == payload,
        "{case}: payload differs ({} bytes)",
        data.len()
    );
}

/// Opens a connection, sends `frames`, and expects `code` back without sending anything more.
fn violation(server: &LuaEcho, frames: &[Vec<u8>], code: u16, case: &str) {
    use std::io::Write;
    let mut c = open(server);
    for f in frames {
        c.stream.write_all(f).unwrap();
    }
    expect_close(&mut c, code, case);
}

fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode_frame(fin, rsv, opcode, payload, MASK)
}

fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    frame(true, 0, 8, &payload)
}

#[test]
fn echoes_frames_at_every_length_boundary() {
    let s = LuaEcho::start("");
    let mut c = open(&s);
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 16 << 20] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        c.send(2, &payload);
        expect_echo(&mut c, 2, &payload, &format!("binary {len}"));
        let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        c.send(1, &text);
        expect_echo(&mut c, 1, &text, &format!("text {len}"));
    }
    c.stream_close_handshake();
}

#[test]
fn pings_are_answered_and_unsolicited_pongs_ignored() {
    let s = LuaEcho::start("");
    let mut c = open(&s);
    c.send(9, b"");
    expect_echo(&mut c, 10, b"", "empty ping");
    let big = [0xa5u8; 125];
    c.send(9, &big);
    expect_echo(&mut c, 10, &big, "125-byte ping");
    c.send(10, b"unsolicited");
    c.send(10, b"");
    c.send(1, b"after pongs");
    expect_echo(&mut c, 1, b"after pongs", "pongs are ignored");
    c.stream_close_handshake();
    violation(&s, &[frame(true, 0, 9, &[0u8; 126])], 1002, "126-byte ping");
    violation(
        &s,
        &[frame(true, 0, 10, &[0u8; 126])],
        1002,
        "126-byte pong",
    );
}

#[test]
fn reserved_bits_close_with_1002() {
    let s = LuaEcho::start("");
    for rsv in 1..8u8 {
        violation(
            &s,
            &[frame(true, rsv, 1, b"rsv")],
            1002,
            &format!("rsv {rsv:03b} text"),
        );
    }
    violation(&s, &[frame(true, 0b010, 9, b"")], 1002, "rsv on a ping");
    // A connection that was fine until then fails the same way.
    let mut c = open(&s);
    c.send(1, b"first");
    expect_echo(&mut c, 1, b"first", "valid message before the violation");
    c.frame(true, 0b001, 1, b"second", MASK);
    expect_close(&mut c, 1002, "rsv after a valid message");
}

#[test]
fn unmasked_frames_and_impossible_lengths_are_refused() {
    let s = LuaEcho::start("");
    violation(
        &s,
        &[encode_frame(true, 0, 1, b"no mask", None)],
        1002,
        "unmasked text",
    );
    violation(
        &s,
        &[encode_frame(true, 0, 9, b"", None)],
        1002,
        "unmasked ping",
    );
    // A 64-bit length with the most significant bit set is not a length (RFC 6455 §5.2
    // "MUST be 0"): a protocol error, not a size.
    let mut bad_len = vec![0x82, 0x80 | 127];
    bad_len.extend_from_slice(&(1u64 << 63).to_be_bytes());
    bad_len.extend_from_slice(&[1, 2, 3, 4]);
    violation(&s, &[bad_len], 1002, "64-bit length with the top bit set");
    // A frame announced larger than max_frame_size fails before its payload arrives.
    let mut huge = vec![0x82, 0x80 | 127];
    huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4]);
    violation(&s, &[huge], 1009, "announced 1 TiB frame");
}

#[test]
fn reserved_opcodes_close_with_1002() {
    let s = LuaEcho::start("");
    for op in (3..=7).chain(11..=15) {
        violation(
            &s,
            &[frame(true, 0, op, b"x")],
            1002,
            &format!("opcode {op}"),
        );
    }
    violation(&s, &[frame(true, 0, 5, b"")], 1002, "empty opcode 5");
}

#[test]
fn fragmented_messages_with_interleaved_pings_are_reassembled() {
    let s = LuaEcho::start("");
    let mut c = open(&s);
    for opcode in [1u8, 2] {
        c.frame(false, 0, opcode, b"Hello", MASK);
        c.frame(true, 0, 9, b"p1", MASK);
        c.frame(false, 0, 0, b", ", MASK);
        c.frame(true, 0, 9, b"p2", MASK);
        c.frame(true, 0, 0, b"world", MASK);
        expect_echo(&mut c, 10, b"p1", "first interleaved ping");
        expect_echo(&mut c, 10, b"p2", "second interleaved ping");
        expect_echo(&mut c, opcode, b"Hello, world", "reassembled");
    }
    // Empty fragments, one byte at a time, and an empty final fragment.
    c.frame(false, 0, 1, b"", MASK);
    for b in b"abc" {
        c.frame(false, 0, 0, &[*b], MASK);
    }
    c.frame(true, 0, 0, b"", MASK);
    expect_echo(&mut c, 1, b"abc", "byte-wise fragments");
    c.stream_close_handshake();
}

#[test]
fn fragmentation_violations_close_with_1002() {
    let s = LuaEcho::start("");
    violation(
        &s,
        &[frame(true, 0, 0, b"orphan")],
        1002,
        "continuation, no start",
    );
    violation(
        &s,
        &[frame(false, 0, 0, b"orphan")],
        1002,
        "non-final continuation, no start",
    );
    violation(
        &s,
        &[frame(false, 0, 1, b"one"), frame(true, 0, 1, b"two")],
        1002,
        "text inside a fragmented text",
    );
    violation(
        &s,
        &[frame(false, 0, 2, b"one"), frame(false, 0, 1, b"two")],
        1002,
        "text inside a fragmented binary",
    );
    violation(&s, &[frame(false, 0, 9, b"ping")], 1002, "fragmented ping");
    violation(&s, &[frame(false, 0, 10, b"pong")], 1002, "fragmented pong");
    violation(
        &s,
        &[frame(false, 0, 8, &1000u16.to_be_bytes())],
        1002,
        "fragmented close",
    );
}

#[test]
fn valid_utf8_is_echoed_whole_and_split_anywhere() {
    let s = LuaEcho::start("");
    let mut c = open(&s);
    let text = "κόσμε, 𝄞 music, 😀 and 中文 at U+10FFFF: \u{10FFFF}".as_bytes();
    c.send(1, text);
    expect_echo(&mut c, 1, text, "whole");
    // Split at every byte, so fragments end inside 2-, 3- and 4-byte sequences.
    for split in 1..text.len() {
        c.frame(false, 0, 1, &text[..split], MASK);
        c.frame(true, 0, 0, &text[split..], MASK);
        expect_echo(&mut c, 1, text, &format!("split at {split}"));
    }
    c.stream_close_handshake();
}

#[test]
fn invalid_utf8_closes_with_1007_as_early_as_possible() {
    let s = LuaEcho::start("");
    let cases: [(&str, &[u8]); 6] = [
        ("lone 0xff", b"ab\xffcd"),
        ("overlong", b"\xc0\xaf"),
        ("surrogate", b"\xce\xba\xed\xa0\x80"),
        ("above U+10FFFF", b"\xf4\x90\x80\x80"),
        ("truncated at the end", b"ok\xe2\x82"),
        ("continuation byte first", b"\x80"),
    ];
    for (name, bad) in cases {
        violation(
            &s,
            &[frame(true, 0, 1, bad)],
            1007,
            &format!("whole: {name}"),
        );
    }
    // Fragmented: the bad fragment fails the connection before the message ends; no final
    // fragment is ever sent.
    for (name, bad) in &cases[..4] {
        violation(
            &s,
            &[frame(false, 0, 1, bad)],
            1007,
            &format!("first fragment: {name}"),
        );
        violation(
            &s,
            &[
                frame(false, 0, 1, "κόσμε".as_bytes()),
                frame(false, 0, 0, bad),
            ],
            1007,
            &format!("middle fragment: {name}"),
        );
    }
    // A sequence that only becomes invalid across the fragment boundary.
    violation(
        &s,
        &[frame(false, 0, 1, b"\xf0\x9f"), frame(false, 0, 0, b"\x41")],
        1007,
        "sequence broken across fragments",
    );
    // A message that ends inside a sequence.
    violation(
        &s,
        &[
            frame(false, 0, 1, b"ok\xf0\x9f"),
            frame(true, 0, 0, b"\x98"),
        ],
        1007,
        "message ends inside a sequence",
    );
}

#[test]
fn messages_before_a_violation_are_echoed_before_the_close() {
    use std::io::Write;
    let s = LuaEcho::start("");
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("reserved opcode", frame(true, 0, 3, b""), 1002),
        ("invalid UTF-8", frame(true, 0, 1, b"\xff"), 1007),
        ("unmasked frame", encode_frame(true, 0, 2, b"x", None), 1002),
        (
            "continuation without a message",
            frame(true, 0, 0, b"x"),
            1002,
        ),
    ];
    for (name, bad, code) in cases {
        let mut c = open(&s);
        // One write: the good messages and the bad frame arrive in the same read.
        let mut bytes = frame(true, 0, 1, b"first");
        bytes.extend(frame(false, 0, 2, b"sec"));
        bytes.extend(frame(true, 0, 0, b"ond"));
        bytes.extend(bad);
        c.stream.write_all(&bytes).unwrap();
        expect_echo(&mut c, 1, b"first", name);
        expect_echo(&mut c, 2, b"second", name);
        expect_close(&mut c, code, name);
    }
}

#[test]
fn close_codes_valid_are_echoed_and_invalid_answered_1002() {
    let s = LuaEcho::start("");
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999, 4000, 4999,
    ] {
        let mut c = open(&s);
        c.stream_write(&close_frame(code, b"bye"));
        expect_close(&mut c, code, &format!("valid code {code}"));
    }
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        violation(
            &s,
            &[close_frame(code, b"")],
            1002,
            &format!("invalid code {code}"),
        );
    }
    violation(
        &s,
        &[frame(true, 0, 8, &[0x03])],
        1002,
        "1-byte close payload",
    );
    violation(
        &s,
        &[close_frame(1000, b"bad \xff reason")],
        1007,
        "invalid UTF-8 reason",
    );
}

#[test]
fn empty_close_and_long_reason_complete_the_handshake() {
    let s = LuaEcho::start("");
    let mut c = open(&s);
    c.stream_write(&frame(true, 0, 8, b""));
    let (_, op, payload) = c.read().unwrap();
    assert_eq!(op, 8, "close answered");
    assert!(
        payload.is_empty() || payload[..2] == 1000u16.to_be_bytes(),
        "{payload:?}"
    );
    assert!(c.tcp_closed());
    let mut c = open(&s);
    c.stream_write(&close_frame(1000, &[b'r'; 123]));
    expect_close(&mut c, 1000, "123-byte reason");
}

#[test]
fn data_after_close_is_ignored() {
    let s = LuaEcho::start("");
    let mut c = open(&s);
    let mut bytes = close_frame(1000, b"");
    bytes.extend(frame(true, 0, 1, b"after close"));
    bytes.extend(frame(true, 0, 9, b"ping after close"));
    c.stream_write(&bytes);
    expect_close(&mut c, 1000, "close followed by data");
}

#[test]
fn other_connections_carry_on_while_one_fails() {
    let s = LuaEcho::start("");
    let mut good = open(&s);
    violation(&s, &[frame(true, 0, 1, b"\xff")], 1007, "bad one");
    good.send(1, b"still here");
    expect_echo(&mut good, 1, b"still here", "bystander");
    good.stream_close_handshake();
}

trait Handshake {
    fn stream_write(&mut self, bytes: &[u8]);
    fn stream_close_handshake(&mut self);
}

impl Handshake for RawPeer {
    fn stream_write(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.stream.write_all(bytes).unwrap();
    }

    /// Closes with 1000 and checks the server answers 1000 and closes TCP.
    fn stream_close_handshake(&mut self) {
        self.stream_write(&close_frame(1000, b""));
        expect_close(self, 1000, "closing handshake");
    }
}
