//! What the frame fuzz targets in `fuzz/` run (through `luna::fuzzing`), and the deterministic
//! mutation test over their seed corpus that `cargo test` runs. Each harness checks the
//! invariants a crash-only fuzzer would miss; a broken one panics.

use bytes::BytesMut;

use super::decode::{DataOpcode, Decoder, DecoderConfig, Item, Violation};
use super::deflate::{compress_once, inflate_once, Deflater, Inflater};
use super::deflate_params::{accept, check_response, offer, parse_offers, Settings};
use super::encode::{Encoder, FrameHead};
use super::{opcode, Role, MAX_CONTROL_PAYLOAD};

/// Feeds `data` to a server-role and a client-role decoder. The first byte picks the
/// settings (deflate, small limits) and how the rest is cut into reads.
pub(crate) fn decode_frames(data: &[u8]) {
    let Some((&setup, bytes)) = data.split_first() else {
        return;
    };
    for role in [Role::Server, Role::Client] {
        let config = DecoderConfig {
            role,
            deflate: setup & 1 != 0,
            max_frame_size: if setup & 2 != 0 { 64 } else { 1 << 20 },
            max_message_size: if setup & 4 != 0 { 100 } else { 1 << 20 },
        };
        // 0 feeds everything at once; otherwise reads of 1..=31 bytes.
        decode_in_reads(config, bytes, usize::from(setup >> 3));
    }
}

fn decode_in_reads(config: DecoderConfig, bytes: &[u8], read_size: usize) {
    let mut decoder = Decoder::new(config);
    let mut input = BytesMut::new();
    let reads = bytes.chunks(if read_size == 0 {
        bytes.len().max(1)
    } else {
        read_size
    });
    for read in reads {
        input.extend_from_slice(read);
        loop {
            match decoder.feed(&mut input) {
                Ok(Some(item)) => check_item(&config, &item),
                Ok(None) => break,
                Err(violation) => {
                    assert!(matches!(violation.code, 1002 | 1007 | 1009));
                    assert_eq!(decoder.feed(&mut input), Err(violation), "violations stay");
                    return;
                }
            }
        }
    }
}

/// What every item the decoder lets through must be.
fn check_item(config: &DecoderConfig, item: &Item) {
    match item {
        Item::Message(message) => {
            assert!(message.data.len() <= config.max_message_size);
            assert!(config.deflate || !message.compressed);
            if message.opcode == DataOpcode::Text && !message.compressed {
                assert!(std::str::from_utf8(&message.data).is_ok(), "text is UTF-8");
            }
        }
        Item::Ping(payload) | Item::Pong(payload) => {
            assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        }
        Item::Close(Some((code, reason))) => {
            assert!(super::close_code_allowed(*code));
            assert!(reason.len() <= MAX_CONTROL_PAYLOAD - 2);
        }
        Item::Close(None) => {}
    }
}

/// Encodes `data` as a binary message, cut where its first byte says, and decodes it back.
pub(crate) fn round_trip(data: &[u8]) {
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    for (writer, reader) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
        let encoder = Encoder::new(writer);
        let mut wire = BytesMut::new();
        let first = FrameHead {
            fin: false,
            rsv1: false,
            opcode: opcode::BINARY,
        };
        encoder.encode(first, &data[..cut], &mut wire);
        encoder.encode(
            FrameHead::single(opcode::PING),
            &data[..cut.min(125)],
            &mut wire,
        );
        let last = FrameHead {
            fin: true,
            rsv1: false,
            opcode: opcode::CONTINUATION,
        };
        encoder.encode(last, &data[cut..], &mut wire);
        let config = DecoderConfig {
            role: reader,
            max_frame_size: usize::MAX,
            max_message_size: usize::MAX,
            deflate: false,
        };
        let mut decoder = Decoder::new(config);
        let ping = decoder.feed(&mut wire);
        assert!(matches!(ping, Ok(Some(Item::Ping(_)))));
        match decoder.feed(&mut wire) {
            Ok(Some(Item::Message(message))) => assert_eq!(message.data, data),
            other => panic!("round trip gave {other:?}"),
        }
    }
}

/// Parses `data` as a `Sec-WebSocket-Extensions` value on both sides.
pub(crate) fn parse_extensions(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let offers = parse_offers(value);
    if let Some(agreed) = accept(&offers, &Settings::default()) {
        // Whatever the server answers, it answers with one valid offer-shaped element.
        assert_eq!(parse_offers(&agreed.header).len(), 1, "{}", agreed.header);
    }
    let _ = check_response(value, &Settings::default());
    assert_eq!(parse_offers(&offer(&Settings::default())).len(), 1);
}

/// Feeds `data` to inflaters, then round-trips it through a compressor. The first byte picks
/// the setup: bit 0 context takeover, bits 1-3 the window (8 + n bits), bit 4 whether the rest
/// is one message or messages each led by a length byte, bit 5 a 100-byte limit (else 64 KiB).
pub(crate) fn inflate(data: &[u8]) {
    let Some((&setup, bytes)) = data.split_first() else {
        return;
    };
    let takeover = setup & 1 != 0;
    let bits = 8 + (setup >> 1 & 7);
    let max = if setup & 0x20 != 0 { 100 } else { 64 << 10 };
    let messages = if setup & 0x10 != 0 {
        length_prefixed(bytes)
    } else {
        vec![bytes]
    };
    inflate_messages(&messages, bits, takeover, max);
    deflate_round_trip(bytes, bits.max(9), takeover);
}

/// `bytes` cut into messages that each start with their length (the last one may be short).
fn length_prefixed(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut messages = Vec::new();
    while let Some((&len, rest)) = bytes.split_first() {
        let (message, after) = rest.split_at(usize::from(len).min(rest.len()));
        messages.push(message);
        bytes = after;
    }
    messages
}

/// What every inflate must hold to: the limit, the close codes, a failed stream staying failed,
/// and the same answer from the shared decompressor as from a fresh one.
fn inflate_messages(messages: &[&[u8]], bits: u8, takeover: bool, max: usize) {
    let mut inflater = Inflater::new(bits, takeover);
    let mut failed: Option<Violation> = None;
    for message in messages {
        let result = inflater.inflate(message, max);
        assert!(
            inflater.last_capacity <= max + 1,
            "output grew past the limit"
        );
        match &result {
            Ok(out) => assert!(out.len() <= max),
            Err(violation) => assert!(matches!(violation.code, 1007 | 1009), "{violation:?}"),
        }
        if let Some(violation) = failed {
            assert_eq!(result, Err(violation), "a broken stream stays broken");
        }
        if takeover {
            failed = failed.or(result.err());
        } else {
            // Every message stands alone: the pool and a fresh decompressor agree.
            assert_eq!(inflate_once(message, max), result);
            assert_eq!(Inflater::new(15, false).inflate(message, max), result);
        }
    }
}

/// Compresses a prefix of `bytes` and then all of it, and inflates both back: through a
/// dedicated pair, with a limit of exactly the message's size, and through the shared pools.
fn deflate_round_trip(bytes: &[u8], bits: u8, takeover: bool) {
    let mut deflater = Deflater::new(bits, takeover, 6);
    let mut inflater = Inflater::new(bits, takeover);
    for message in [&bytes[..bytes.len() / 2], bytes] {
        let mut payload = BytesMut::new();
        deflater.compress(message, &mut payload);
        assert!(!payload.is_empty(), "every message has a payload");
        let inflated = inflater.inflate(&payload, message.len());
        assert_eq!(inflated.as_deref(), Ok(message), "round trip");
        let mut shared = BytesMut::new();
        compress_once(message, bits, 6, &mut shared);
        assert_eq!(inflate_once(&shared, message.len()).as_deref(), Ok(message));
    }
}

#[cfg(test)]
mod tests {
    use crate::fuzz_corpus::run;

    #[test]
    fn frame_seeds_and_their_mutations_keep_every_invariant() {
        run("frames", super::decode_frames);
        run("frames", super::round_trip);
    }

    #[test]
    fn extension_seeds_and_their_mutations_keep_every_invariant() {
        run("extensions", super::parse_extensions);
    }

    #[test]
    fn inflate_seeds_and_their_mutations_keep_every_invariant() {
        run("inflate", super::inflate);
    }
}
