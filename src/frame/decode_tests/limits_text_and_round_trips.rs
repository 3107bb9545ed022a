//! The decoder's limits, UTF-8 across fragments, close frames, what comes out before a
//! violation, and round trips through the encoder.

use super::*;

#[test]
fn a_frame_over_the_limit_is_refused_before_its_mask_key() {
    let small = DecoderConfig {
        max_frame_size: 255,
        ..config(Role::Server)
    };
    let mut input = BytesMut::from(&b"\x82\xFE\x01\x00"[..]);
    let violation = Decoder::new(small).feed(&mut input).unwrap_err();
    assert_eq!(violation.code, 1009);
    let mut at_limit = BytesMut::from(&masked(0x82, &[7; 255])[..]);
    assert!(Decoder::new(small).feed(&mut at_limit).unwrap().is_some());
}

#[test]
fn a_message_over_the_limit_is_refused_at_the_header_that_passes_it() {
    let small = DecoderConfig {
        max_frame_size: 100,
        max_message_size: 150,
        ..config(Role::Server)
    };
    let mut decoder = Decoder::new(small);
    let first = masked(0x02, &[1; 100]);
    let mut input = BytesMut::from(&first[..]);
    assert_eq!(decoder.feed(&mut input), Ok(None));
    // Only the header of the second fragment: 100 + 51 > 150.
    input.extend_from_slice(&header(0x80, 0x80, 51));
    input.extend_from_slice(&KEY);
    assert_eq!(decoder.feed(&mut input).unwrap_err().code, 1009);
    let fits = [masked(0x02, &[1; 100]), masked(0x80, &[2; 50])].concat();
    let (items, violation) = decode_with(&mut Decoder::new(small), &fits);
    assert_eq!((items.len(), violation), (1, None));
}

#[test]
fn invalid_utf8_is_refused() {
    assert_eq!(refused(Role::Server, &masked(0x81, b"ok\xff")), 1007);
    assert_eq!(
        refused(Role::Server, &masked(0x81, b"\xed\xa0\x80")),
        1007,
        "surrogate"
    );
    assert_eq!(
        refused(Role::Server, &masked(0x81, b"\xc0\x80")),
        1007,
        "overlong"
    );
    assert_eq!(
        refused(Role::Server, &masked(0x81, b"\xe2\x82")),
        1007,
        "cut at the end"
    );
    let binary = masked(0x82, b"\xff\xfe");
    assert_eq!(
        ok(Role::Server, &binary),
        [message(DataOpcode::Binary, b"\xff\xfe")]
    );
}

#[test]
fn invalid_utf8_in_the_first_fragment_fails_before_the_last_arrives() {
    let mut decoder = Decoder::new(config(Role::Server));
    let mut input = BytesMut::from(&masked(0x01, b"fine \xff")[..]);
    assert_eq!(decoder.feed(&mut input).unwrap_err().code, 1007);
}

#[test]
fn invalid_utf8_fails_before_its_frame_is_whole() {
    // The header and the first 8 payload bytes of a 1000-byte text frame.
    let frame = masked(0x81, &[&b"abc\xf8defg"[..], &[b'x'; 990]].concat());
    let mut decoder = Decoder::new(config(Role::Server));
    let mut input = BytesMut::from(&frame[..2 + 2 + 4 + 8]);
    assert_eq!(decoder.feed(&mut input).unwrap_err().code, 1007);
}

#[test]
fn a_code_point_split_across_fragments_is_accepted() {
    let euro = "€".as_bytes();
    let bytes = [
        masked(0x01, &[b"a", &euro[..1]].concat()),
        masked(0x89, b""),
        masked(0x00, &euro[1..2]),
        masked(0x80, &[&euro[2..], &b"b"[..]].concat()),
    ]
    .concat();
    let ping = Item::Ping(Bytes::new());
    assert_eq!(ok(Role::Server, &bytes), [ping, text("a€b")]);
}

#[test]
fn a_split_code_point_that_turns_out_invalid_is_refused() {
    let bytes = [masked(0x01, b"\xe2\x82"), masked(0x80, b"\x41")].concat();
    assert_eq!(refused(Role::Server, &bytes), 1007);
    let cut = [masked(0x01, b"a\xe2"), masked(0x80, b"\x82")].concat();
    assert_eq!(
        refused(Role::Server, &cut),
        1007,
        "message ends inside the code point"
    );
}

#[test]
fn close_frames_carry_a_code_and_a_reason() {
    assert_eq!(ok(Role::Server, &masked(0x88, b"")), [Item::Close(None)]);
    let normal = Item::Close(Some((1000, "bye €".to_owned())));
    assert_eq!(
        ok(
            Role::Server,
            &masked(0x88, &[&b"\x03\xe8"[..], "bye €".as_bytes()].concat())
        ),
        [normal]
    );
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
    ]
    .into_iter()
    .chain([3000, 3999, 4000, 4999])
    {
        let items = ok(Role::Client, &unmasked(0x88, &code.to_be_bytes()));
        assert_eq!(items, [Item::Close(Some((code, String::new())))], "{code}");
    }
}

#[test]
fn bad_close_frames_are_refused() {
    assert_eq!(
        refused(Role::Server, &masked(0x88, b"\x03")),
        1002,
        "1-byte payload"
    );
    for code in [
        0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let frame = masked(0x88, &code.to_be_bytes());
        assert_eq!(refused(Role::Server, &frame), 1002, "{code}");
    }
    assert_eq!(refused(Role::Server, &masked(0x88, b"\x03\xe8\xff")), 1007);
}

#[test]
fn input_after_a_close_frame_is_discarded() {
    let bytes = [
        masked(0x88, b"\x03\xe8"),
        masked(0x81, b"late"),
        vec![0xFF; 3],
    ]
    .concat();
    let mut input = BytesMut::from(&bytes[..]);
    let mut decoder = Decoder::new(config(Role::Server));
    assert!(matches!(decoder.feed(&mut input), Ok(Some(Item::Close(_)))));
    assert_eq!(decoder.feed(&mut input), Ok(None));
    assert!(input.is_empty());
}

#[test]
fn messages_before_a_violation_come_out_first() {
    let bytes = [masked(0x81, b"good message"), masked(0x81, b"bad \xff")].concat();
    let mut input = BytesMut::from(&bytes[..]);
    let mut decoder = Decoder::new(config(Role::Server));
    assert_eq!(decoder.feed(&mut input), Ok(Some(text("good message"))));
    let violation = decoder.feed(&mut input).unwrap_err();
    assert_eq!(violation.code, 1007);
    assert_eq!(
        decoder.feed(&mut input),
        Err(violation),
        "the violation stays"
    );
    let (items, violation) = decode(
        Role::Server,
        &[masked(0x89, b"p"), vec![0x83, 0x80]].concat(),
    );
    assert_eq!((items.len(), violation.map(|v| v.code)), (1, Some(1002)));
}

#[test]
fn missing_says_what_the_frame_still_needs() {
    let frame = masked(0x82, &[0; 300]);
    let mut decoder = Decoder::new(config(Role::Server));
    assert_eq!(decoder.missing(&[]), 2);
    assert_eq!(
        decoder.missing(&frame[..2]),
        6,
        "16-bit length and key to come"
    );
    let mut input = BytesMut::from(&frame[..100]);
    assert_eq!(decoder.feed(&mut input), Ok(None));
    assert_eq!(decoder.missing(&input), 300 - (100 - 8));
    assert!(!decoder.is_idle());
    input.extend_from_slice(&frame[100..]);
    assert!(decoder.feed(&mut input).unwrap().is_some());
    assert!(decoder.is_idle());
    assert_eq!(decoder.missing(&input), 2);
}

#[test]
fn a_frame_is_unmasked_in_pieces_as_it_arrives() {
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let frame = masked(0x82, &payload);
    let mut decoder = Decoder::new(config(Role::Server));
    let mut input = BytesMut::new();
    let mut items = Vec::new();
    for piece in frame.chunks(37) {
        input.extend_from_slice(piece);
        items.extend(decoder.feed(&mut input).unwrap());
    }
    assert_eq!(items, [message(DataOpcode::Binary, &payload)]);
}

/// A small deterministic PRNG (xorshift64*) for the round trips.
struct TestRng(u64);

impl TestRng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Sizes that cross the 125 and 65535 length forms now and then.
    fn size(&mut self) -> usize {
        match self.below(10) {
            0 => 0,
            1..=5 => self.below(200),
            6..=8 => self.below(5000),
            _ => self.below(70_000),
        }
    }

    fn text(&mut self, len: usize) -> String {
        let alphabet = ['a', 'Z', ' ', 'é', '€', '😀', 'ж'];
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

/// Encodes `data` as a message in random fragments with pings between them.
fn encode_fragmented(
    enc: &mut Encoder,
    rng: &mut TestRng,
    code: u8,
    data: &[u8],
    out: &mut BytesMut,
) {
    let mut start = 0;
    let mut first = true;
    loop {
        let end = (start + rng.size()).min(data.len());
        let fin = end == data.len() && rng.below(4) != 0;
        let opcode = if first { code } else { opcode::CONTINUATION };
        let head = FrameHead {
            fin,
            rsv1: false,
            opcode,
        };
        enc.encode(head, &data[start..end], out);
        if fin {
            return;
        }
        if rng.below(3) == 0 {
            enc.encode(FrameHead::single(opcode::PING), b"between", out);
        }
        (start, first) = (end, false);
    }
}

fn round_trip(writer: Role, reader: Role, seed: u64) {
    let mut rng = TestRng(seed);
    let mut encoder = Encoder::new(writer);
    let mut wire = BytesMut::new();
    let mut sent = Vec::new();
    for _ in 0..60 {
        let len = rng.size();
        let (code, kind, data) = if rng.below(2) == 0 {
            (
                opcode::TEXT,
                DataOpcode::Text,
                rng.text(len / 4).into_bytes(),
            )
        } else {
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            (opcode::BINARY, DataOpcode::Binary, data)
        };
        encode_fragmented(&mut encoder, &mut rng, code, &data, &mut wire);
        sent.push(message(kind, &data));
    }
    let mut decoder = Decoder::new(config(reader));
    let mut input = BytesMut::new();
    let mut received = Vec::new();
    while !wire.is_empty() {
        let piece = wire.split_to((1 + rng.size()).min(wire.len()));
        input.extend_from_slice(&piece);
        while let Some(item) = decoder.feed(&mut input).unwrap() {
            if !matches!(item, Item::Ping(_)) {
                received.push(item);
            }
        }
    }
    assert_eq!(received, sent, "seed {seed}");
    assert!(decoder.is_idle() && input.is_empty());
}

#[test]
fn round_trip_client_to_server() {
    for seed in 1..=6 {
        round_trip(Role::Client, Role::Server, seed);
    }
}

#[test]
fn round_trip_server_to_client() {
    for seed in 7..=12 {
        round_trip(Role::Server, Role::Client, seed);
    }
}

#[test]
fn a_single_frame_message_leaves_the_buffer_without_a_copy() {
    let payload = vec![b'a'; 16 * 1024];
    let frame = masked(0x81, &payload);
    let mut input = BytesMut::from(&frame[..]);
    let payload_at = input[frame.len() - payload.len()..].as_ptr();
    let item = Decoder::new(config(Role::Server)).feed(&mut input).unwrap();
    let Some(Item::Message(message)) = item else {
        panic!("a message, got {item:?}");
    };
    assert_eq!(
        message.data.as_ptr(),
        payload_at,
        "unmasked in place, split off"
    );
    assert_eq!(message.data, payload);
}
