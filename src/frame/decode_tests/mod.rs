//! Every rule of the decoder on byte strings: the examples of RFC 6455 §5.7 and the framing
//! rules here; limits, UTF-8, close frames and a round trip through the encoder in
//! `limits_text_and_round_trips.rs`.

mod limits_text_and_round_trips;

use bytes::{Bytes, BytesMut};

use super::decode::{DataOpcode, Decoder, DecoderConfig, Item, Message, Violation};
use super::encode::{Encoder, FrameHead};
use super::{opcode, Role};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn config(role: Role) -> DecoderConfig {
    DecoderConfig {
        role,
        max_frame_size: 1 << 20,
        max_message_size: 4 << 20,
        deflate: false,
    }
}

/// A frame as a client sends it: masked with `KEY`, shortest length form.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = header(first, 0x80, payload.len());
    frame.extend_from_slice(&KEY);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    frame
}

/// A frame as a server sends it.
fn unmasked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = header(first, 0, payload.len());
    frame.extend_from_slice(payload);
    frame
}

fn header(first: u8, mask_bit: u8, len: usize) -> Vec<u8> {
    match len {
        0..=125 => vec![first, mask_bit | len as u8],
        126..=0xFFFF => [&[first, mask_bit | 126][..], &(len as u16).to_be_bytes()].concat(),
        _ => [&[first, mask_bit | 127][..], &(len as u64).to_be_bytes()].concat(),
    }
}

/// Feeds `bytes` at once; the items, and the violation that stopped them if any.
fn decode_with(decoder: &mut Decoder, bytes: &[u8]) -> (Vec<Item>, Option<Violation>) {
    let mut input = BytesMut::from(bytes);
    let mut items = Vec::new();
    loop {
        match decoder.feed(&mut input) {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return (items, None),
            Err(violation) => return (items, Some(violation)),
        }
    }
}

fn decode(role: Role, bytes: &[u8]) -> (Vec<Item>, Option<Violation>) {
    decode_with(&mut Decoder::new(config(role)), bytes)
}

/// The items of `bytes`, fed one byte at a time.
fn decode_bytewise(role: Role, bytes: &[u8]) -> Vec<Item> {
    let mut decoder = Decoder::new(config(role));
    let mut input = BytesMut::new();
    let mut items = Vec::new();
    for byte in bytes {
        input.extend_from_slice(&[*byte]);
        while let Some(item) = decoder.feed(&mut input).unwrap() {
            items.push(item);
        }
    }
    items
}

fn ok(role: Role, bytes: &[u8]) -> Vec<Item> {
    let (items, violation) = decode(role, bytes);
    assert_eq!(violation, None);
    assert_eq!(decode_bytewise(role, bytes), items, "fed byte by byte");
    items
}

/// The close code that refuses `bytes`.
fn refused(role: Role, bytes: &[u8]) -> u16 {
    let (_, violation) = decode(role, bytes);
    violation.expect("a violation").code
}

fn text(s: &str) -> Item {
    message(DataOpcode::Text, s.as_bytes())
}

fn message(opcode: DataOpcode, data: &[u8]) -> Item {
    Item::Message(Message {
        opcode,
        data: Bytes::copy_from_slice(data),
        compressed: false,
    })
}

#[test]
fn rfc_single_frame_unmasked_text() {
    assert_eq!(
        ok(Role::Client, b"\x81\x05\x48\x65\x6c\x6c\x6f"),
        [text("Hello")]
    );
}

#[test]
fn rfc_single_frame_masked_text() {
    let frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    assert_eq!(ok(Role::Server, frame), [text("Hello")]);
}

#[test]
fn rfc_fragmented_unmasked_text() {
    assert_eq!(
        ok(Role::Client, b"\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f"),
        [text("Hello")]
    );
}

#[test]
fn rfc_ping_and_pong() {
    let ping = Item::Ping(Bytes::from_static(b"Hello"));
    assert_eq!(ok(Role::Client, b"\x89\x05\x48\x65\x6c\x6c\x6f"), [ping]);
    let pong = b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    assert_eq!(
        ok(Role::Server, pong),
        [Item::Pong(Bytes::from_static(b"Hello"))]
    );
}

#[test]
fn ping_between_fragments_comes_out_first() {
    let bytes = [
        masked(0x01, b"Hel"),
        masked(0x89, b"ping"),
        masked(0x80, b"lo"),
    ]
    .concat();
    let ping = Item::Ping(Bytes::from_static(b"ping"));
    assert_eq!(ok(Role::Server, &bytes), [ping, text("Hello")]);
}

#[test]
fn rfc_256_byte_and_64_kib_binary_headers() {
    let small: Vec<u8> = (0..=255).collect();
    let frame = [&b"\x82\x7E\x01\x00"[..], &small].concat();
    assert_eq!(
        ok(Role::Client, &frame),
        [message(DataOpcode::Binary, &small)]
    );
    let big: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
    let frame = [&b"\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"[..], &big].concat();
    assert_eq!(
        ok(Role::Client, &frame),
        [message(DataOpcode::Binary, &big)]
    );
    assert_eq!(
        ok(Role::Server, &masked(0x82, &big)),
        [message(DataOpcode::Binary, &big)]
    );
}

#[test]
fn empty_messages_and_fragments() {
    assert_eq!(ok(Role::Client, b"\x81\x00"), [text("")]);
    assert_eq!(ok(Role::Client, b"\x01\x00\x00\x00\x80\x00"), [text("")]);
    let bytes = [masked(0x02, b""), masked(0x00, b"ab"), masked(0x80, b"")].concat();
    assert_eq!(
        ok(Role::Server, &bytes),
        [message(DataOpcode::Binary, b"ab")]
    );
}

#[test]
fn non_minimal_lengths_are_accepted() {
    let two = b"\x82\x7E\x00\x03abc";
    let eight = b"\x82\x7F\x00\x00\x00\x00\x00\x00\x00\x03abc";
    assert_eq!(ok(Role::Client, two), [message(DataOpcode::Binary, b"abc")]);
    assert_eq!(
        ok(Role::Client, eight),
        [message(DataOpcode::Binary, b"abc")]
    );
}

#[test]
fn reserved_bits_without_an_extension_are_refused() {
    for first in [0xC1, 0xA1, 0x91] {
        assert_eq!(
            refused(Role::Server, &masked(first, b"x")),
            1002,
            "{first:#x}"
        );
        assert_eq!(
            refused(Role::Client, &unmasked(first, b"x")),
            1002,
            "{first:#x}"
        );
    }
}

#[test]
fn rsv1_with_deflate_marks_the_first_frame_only() {
    let deflate = DecoderConfig {
        deflate: true,
        ..config(Role::Server)
    };
    let bytes = [masked(0x41, b"zz"), masked(0x80, b"zz")].concat();
    let (items, violation) = decode_with(&mut Decoder::new(deflate), &bytes);
    let expected = Message {
        opcode: DataOpcode::Text,
        data: Bytes::from_static(b"zzzz"),
        compressed: true,
    };
    assert_eq!((items, violation), (vec![Item::Message(expected)], None));
    let on_continuation = [masked(0x01, b"a"), masked(0xC0, b"b")].concat();
    let (_, violation) = decode_with(&mut Decoder::new(deflate), &on_continuation);
    assert_eq!(violation.unwrap().code, 1002);
    let (_, violation) = decode_with(&mut Decoder::new(deflate), &masked(0xC9, b""));
    assert_eq!(violation.unwrap().code, 1002, "RSV1 on a ping");
    let (_, violation) = decode_with(&mut Decoder::new(deflate), &masked(0xE1, b""));
    assert_eq!(violation.unwrap().code, 1002, "RSV2 even with deflate");
}

#[test]
fn compressed_text_is_not_checked_for_utf8_before_inflating() {
    let deflate = DecoderConfig {
        deflate: true,
        ..config(Role::Client)
    };
    let (items, violation) = decode_with(&mut Decoder::new(deflate), b"\xC1\x02\xff\xfe");
    assert_eq!((items.len(), violation), (1, None));
}

#[test]
fn reserved_opcodes_are_refused() {
    for code in (3..=7).chain(11..=15) {
        assert_eq!(
            refused(Role::Server, &masked(0x80 | code, b"")),
            1002,
            "{code}"
        );
        assert_eq!(
            refused(Role::Client, &unmasked(0x80 | code, b"")),
            1002,
            "{code}"
        );
    }
}

#[test]
fn masking_must_match_the_role() {
    assert_eq!(refused(Role::Server, &unmasked(0x81, b"hi")), 1002);
    assert_eq!(refused(Role::Client, &masked(0x81, b"hi")), 1002);
}

#[test]
fn control_frames_must_be_short_and_whole() {
    let long = vec![b'x'; 126];
    assert_eq!(refused(Role::Server, &masked(0x89, &long)), 1002);
    assert_eq!(refused(Role::Server, &masked(0x8A, &long)), 1002);
    assert_eq!(refused(Role::Server, &masked(0x88, &long)), 1002);
    // The bound is on the length, not its form: a non-minimal 5 is fine, 126 is not.
    let ping = Item::Ping(Bytes::from_static(b"hello"));
    assert_eq!(ok(Role::Client, b"\x89\x7E\x00\x05hello"), [ping]);
    assert_eq!(
        refused(Role::Client, b"\x89\x7E\x00\x7E"),
        1002,
        "before the payload"
    );
    let tiny_limit = DecoderConfig {
        max_frame_size: 10,
        ..config(Role::Client)
    };
    let long_ping = b"\x89\x7F\x00\x00\x00\x00\x00\x00\x10\x00";
    let (_, violation) = decode_with(&mut Decoder::new(tiny_limit), long_ping);
    assert_eq!(
        violation.unwrap().code,
        1002,
        "a long ping is a protocol error first"
    );
    assert_eq!(
        refused(Role::Server, &masked(0x09, b"")),
        1002,
        "fragmented ping"
    );
    assert_eq!(
        refused(Role::Server, &masked(0x08, b"")),
        1002,
        "fragmented close"
    );
    let max = vec![b'x'; 125];
    assert_eq!(
        ok(Role::Server, &masked(0x89, &max)),
        [Item::Ping(max.into())]
    );
}

#[test]
fn continuation_needs_a_started_message() {
    assert_eq!(refused(Role::Server, &masked(0x80, b"x")), 1002);
    assert_eq!(refused(Role::Server, &masked(0x00, b"x")), 1002);
    let done = [masked(0x81, b"a"), masked(0x80, b"b")].concat();
    assert_eq!(
        refused(Role::Server, &done),
        1002,
        "after a finished message"
    );
}

#[test]
fn a_new_data_frame_cannot_interrupt_a_message() {
    for second in [0x81, 0x01, 0x82, 0x02] {
        let bytes = [masked(0x01, b"a"), masked(second, b"b")].concat();
        assert_eq!(refused(Role::Server, &bytes), 1002, "{second:#x}");
    }
}

#[test]
fn a_64_bit_length_with_the_high_bit_is_refused() {
    let frame = b"\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x01";
    assert_eq!(refused(Role::Client, frame), 1002);
}

#[test]
fn a_huge_frame_is_refused_from_its_header_alone() {
    // The header of a 1 GiB masked frame, and none of its payload.
    let mut header = b"\x82\xFF\x00\x00\x00\x00\x40\x00\x00\x00".to_vec();
    header.extend_from_slice(&KEY);
    let mut input = BytesMut::from(&header[..]);
    let capacity = input.capacity();
    let violation = Decoder::new(config(Role::Server))
        .feed(&mut input)
        .unwrap_err();
    assert_eq!(violation.code, 1009);
    assert_eq!(input.capacity(), capacity, "nothing allocated");
}
