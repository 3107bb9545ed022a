//! Window sizes both ways, compressed fragments, and the reserved-bit rules with
//! compression on.

use super::*;

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
