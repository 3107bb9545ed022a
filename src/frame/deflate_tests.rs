//! permessage-deflate's compression on byte strings: round trips, the examples of RFC 7692
//! §7.2.3, interop with a plain zlib raw inflate, bombs, corrupt data and the shared pools.

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use super::decode::Violation;
use super::deflate::{compress_once, inflate_once, store, Deflater, Inflater};

const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// xorshift64: random-looking bytes without a dev-dependency.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

/// Text that compresses like real messages: words from a small vocabulary.
fn text(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 8] = ["player", "score", "x", "y", "42", "team", "red", "\"hp\":"];
    let picks = random_bytes(len, seed);
    let mut out = Vec::with_capacity(len + 8);
    for pick in picks {
        if out.len() >= len {
            break;
        }
        out.extend_from_slice(WORDS[usize::from(pick) % WORDS.len()].as_bytes());
        out.push(b' ');
    }
    out.truncate(len);
    out
}

fn compress(deflater: &mut Deflater, data: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    deflater.compress(data, &mut out);
    out.to_vec()
}

/// What a zlib raw inflate that knows nothing of luna makes of one payload.
fn zlib_inflate(decompress: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let input = [payload, &TAIL].concat();
    let mut out = Vec::with_capacity(input.len() * 8 + 1024);
    let before = decompress.total_in();
    loop {
        let used = (decompress.total_in() - before) as usize;
        out.reserve(64 * 1024);
        decompress
            .decompress_vec(&input[used..], &mut out, FlushDecompress::Sync)
            .expect("valid deflate data");
        if decompress.total_in() - before == input.len() as u64 && out.len() < out.capacity() {
            return out;
        }
    }
}

fn inflate_err(inflater: &mut Inflater, payload: &[u8], max: usize) -> Violation {
    inflater.inflate(payload, max).expect_err("refused")
}

#[test]
fn messages_round_trip_with_and_without_context_takeover() {
    let messages = [
        Vec::new(),
        b"Hello".to_vec(),
        text(100_000, 1),
        random_bytes(200_000, 2),
        Vec::new(),
        text(3, 3),
    ];
    for takeover in [true, false] {
        let mut deflater = Deflater::new(15, takeover, 6);
        let mut inflater = Inflater::new(15, takeover);
        for message in &messages {
            let payload = compress(&mut deflater, message);
            assert!(!payload.is_empty());
            let inflated = inflater.inflate(&payload, 1 << 20).unwrap();
            assert_eq!(&inflated[..], &message[..]);
        }
    }
}

#[test]
fn empty_messages_compress_to_one_zero_byte_and_keep_the_stream_usable() {
    let mut deflater = Deflater::new(15, true, 6);
    let mut inflater = Inflater::new(15, true);
    for message in [&b""[..], b"", b"abc", b"", b"", b"abcabc"] {
        let payload = compress(&mut deflater, message);
        if message.is_empty() {
            assert_eq!(payload, [0x00], "RFC 7692 §7.2.3.6");
        }
        assert_eq!(&inflater.inflate(&payload, 100).unwrap()[..], message);
    }
}

#[test]
fn context_takeover_shrinks_repeated_messages_and_a_plain_zlib_inflates_them() {
    let message = text(1024, 7);
    let mut deflater = Deflater::new(15, true, 6);
    let mut zlib = Decompress::new_with_window_bits(false, 15);
    let mut sizes = Vec::new();
    for i in 0..1000 {
        // Mostly the same message, a counter changing in it.
        let mut data = message.clone();
        data.extend_from_slice(format!("tick {i}").as_bytes());
        let payload = compress(&mut deflater, &data);
        sizes.push(payload.len());
        assert_eq!(zlib_inflate(&mut zlib, &payload), data, "message {i}");
    }
    assert!(sizes[1] * 4 < sizes[0], "{sizes:?}");
    assert!(sizes[999] < 40, "{}", sizes[999]);
}

#[test]
fn without_context_takeover_each_message_inflates_on_its_own() {
    let message = text(1024, 8);
    let mut deflater = Deflater::new(15, false, 6);
    let first = compress(&mut deflater, &message);
    for _ in 0..50 {
        let payload = compress(&mut deflater, &message);
        assert_eq!(payload, first, "no state carried over");
        let mut fresh = Decompress::new_with_window_bits(false, 15);
        assert_eq!(zlib_inflate(&mut fresh, &payload), message);
        assert_eq!(
            &Inflater::new(15, false).inflate(&payload, 2048).unwrap()[..],
            message
        );
    }
}

#[test]
fn every_window_size_round_trips_within_its_window() {
    // Repeats 3 KiB apart: a 9-bit window cannot reach them, a 15-bit one can.
    let unit = text(3000, 9);
    let data: Vec<u8> = unit.iter().chain(&unit).chain(&unit).copied().collect();
    for bits in 9..=15u8 {
        for takeover in [true, false] {
            let mut deflater = Deflater::new(bits, takeover, 6);
            // A strict inflater with exactly the agreed window catches a distance past it.
            let mut strict = Decompress::new_with_window_bits(false, bits);
            let mut ours = Inflater::new(bits, takeover);
            for round in 0..3 {
                let payload = compress(&mut deflater, &data);
                if !takeover {
                    strict = Decompress::new_with_window_bits(false, bits);
                }
                assert_eq!(zlib_inflate(&mut strict, &payload), data, "{bits} {round}");
                assert_eq!(&ours.inflate(&payload, 1 << 20).unwrap()[..], data);
            }
        }
    }
}

#[test]
fn window_bits_8_inflates_with_a_larger_window() {
    let mut compress = Compress::new_with_window_bits(Compression::default(), false, 9);
    let data = text(5000, 10);
    let mut payload = Vec::with_capacity(8000);
    compress
        .compress_vec(&data, &mut payload, FlushCompress::Sync)
        .unwrap();
    assert!(payload.ends_with(&TAIL));
    payload.truncate(payload.len() - 4);
    let mut inflater = Inflater::new(8, true);
    assert_eq!(&inflater.inflate(&payload, 8000).unwrap()[..], data);
}

#[test]
fn rfc_7692_examples_inflate() {
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    // §7.2.3.1: one message; §7.2.3.2: the second one refers to the first.
    let mut inflater = Inflater::new(15, true);
    assert_eq!(&inflater.inflate(&hello, 100).unwrap()[..], b"Hello");
    let again = [0xf2, 0x00, 0x11, 0x00, 0x00];
    assert_eq!(&inflater.inflate(&again, 100).unwrap()[..], b"Hello");
    // §7.2.3.3: a stored block; §7.2.3.4: BFINAL and a padding byte; §7.2.3.5: two blocks;
    // §7.2.3.6: empty.
    let examples: [&[u8]; 4] = [
        &[
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ],
        &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
        &[
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ],
        &[0x00],
    ];
    for takeover in [true, false] {
        let mut inflater = Inflater::new(15, takeover);
        for example in examples {
            let expected: &[u8] = if example.len() == 1 { b"" } else { b"Hello" };
            assert_eq!(&inflater.inflate(example, 100).unwrap()[..], expected);
        }
        assert_eq!(&inflater.inflate(&hello, 100).unwrap()[..], b"Hello");
    }
    // Our compressor writes the §7.2.3.1 bytes, and the §7.2.3.2 reference (or shorter).
    let mut deflater = Deflater::new(15, true, 6);
    assert_eq!(compress(&mut deflater, b"Hello"), hello);
    assert!(compress(&mut deflater, b"Hello").len() <= again.len());
}

#[test]
fn a_stream_ended_with_bfinal_allows_only_the_padding_byte_after_it() {
    let final_hello = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut inflater = Inflater::new(15, true);
    // Nothing after it (zlib's Z_FINISH), then the next message starts a new stream.
    assert_eq!(&inflater.inflate(&final_hello, 100).unwrap()[..], b"Hello");
    let mut deflater = Deflater::new(15, true, 6);
    let next = compress(&mut deflater, b"Hello again");
    assert_eq!(&inflater.inflate(&next, 100).unwrap()[..], b"Hello again");
    for garbage in [
        &[0x00, 0x00][..],
        &[0x01],
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    ] {
        let payload = [&final_hello[..], garbage].concat();
        let violation = inflate_err(&mut Inflater::new(15, false), &payload, 100);
        assert_eq!(violation.code, 1007, "{garbage:?}");
    }
}

#[test]
fn a_bomb_stops_at_max_without_growing_past_it() {
    let zeros = vec![0u8; 10 << 20];
    // Level 9: level 1 matches at most 258 bytes at a time and makes 100 KiB of it.
    let mut deflater = Deflater::new(15, false, 9);
    let bomb = compress(&mut deflater, &zeros);
    assert!(bomb.len() < 12 << 10, "{}", bomb.len());
    let max = 1 << 20;
    for takeover in [true, false] {
        let mut inflater = Inflater::new(15, takeover);
        let violation = inflate_err(&mut inflater, &bomb, max);
        assert_eq!(violation.code, 1009);
        assert!(
            inflater.last_capacity <= max + 1,
            "{}",
            inflater.last_capacity
        );
    }
    // Exactly max is fine; one byte more is not.
    let exact = compress(&mut deflater, &zeros[..max]);
    let mut inflater = Inflater::new(15, false);
    assert_eq!(inflater.inflate(&exact, max).unwrap().len(), max);
    assert_eq!(inflater.last_capacity, max + 1);
    assert_eq!(inflate_err(&mut inflater, &exact, max - 1).code, 1009);
    assert_eq!(
        inflater
            .inflate(&compress(&mut deflater, b""), 0)
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        inflate_err(&mut inflater, &compress(&mut deflater, b"x"), 0).code,
        1009
    );
}

#[test]
fn the_output_buffer_grows_from_a_small_guess() {
    let data = text(200_000, 11);
    let payload = compress(&mut Deflater::new(15, false, 6), &data);
    let mut inflater = Inflater::new(15, false);
    assert_eq!(&inflater.inflate(&payload, usize::MAX).unwrap()[..], data);
    // Doubling from 4x the payload: never more than twice the message.
    assert!(
        inflater.last_capacity < 2 * data.len(),
        "{}",
        inflater.last_capacity
    );
}

#[test]
fn corrupt_data_is_1007_and_the_inflater_survives_it() {
    let corrupt: [&[u8]; 4] = [
        // BTYPE 11 is reserved.
        &[0xff, 0xff, 0xff],
        // A stored block whose NLEN is not the complement of LEN.
        &[0x00, 0x05, 0x00, 0x00, 0x00, b'H'],
        // A distance before the start of the stream.
        &[0xf2, 0x00, 0x11, 0x00, 0x00],
        // A dynamic block with an impossible code length set.
        &[0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    for payload in corrupt {
        // Without context takeover the next message is fine.
        let mut inflater = Inflater::new(15, false);
        assert_eq!(
            inflate_err(&mut inflater, payload, 100).code,
            1007,
            "{payload:?}"
        );
        assert_eq!(&inflater.inflate(&hello, 100).unwrap()[..], b"Hello");
        // With it the window is lost: the same violation from then on.
        let mut inflater = Inflater::new(15, true);
        let violation = inflate_err(&mut inflater, payload, 100);
        assert_eq!(inflate_err(&mut inflater, &hello, 100), violation);
    }
}

#[test]
fn truncated_payloads_never_panic() {
    let data = text(5000, 12);
    let payload = compress(&mut Deflater::new(15, false, 1), &data);
    for end in 0..payload.len() {
        let mut inflater = Inflater::new(15, false);
        if let Ok(inflated) = inflater.inflate(&payload[..end], 1 << 20) {
            assert!(inflated.len() <= data.len());
        }
    }
}

#[test]
fn the_shared_pools_round_trip_and_keep_connections_apart() {
    for bits in 9..=15u8 {
        let data = text(2000 + usize::from(bits), u64::from(bits));
        let mut payload = BytesMut::new();
        compress_once(&data, bits, 6, &mut payload);
        // The same bytes as a dedicated compressor without context takeover.
        assert_eq!(
            &payload[..],
            compress(&mut Deflater::new(bits, false, 6), &data)
        );
        assert_eq!(&inflate_once(&payload, 1 << 20).unwrap()[..], data);
    }
    // The second message of §7.2.3.2 refers back to the first: never across the pool.
    assert_eq!(
        &inflate_once(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100).unwrap()[..],
        b"Hello"
    );
    assert_eq!(
        inflate_once(&[0xf2, 0x00, 0x11, 0x00, 0x00], 100)
            .unwrap_err()
            .code,
        1007
    );
    // An error resets the shared decompressor too.
    assert_eq!(inflate_once(&[0xff, 0xff], 100).unwrap_err().code, 1007);
    assert_eq!(inflate_once(&[0x00], 100).unwrap().len(), 0);
}

#[test]
fn stored_blocks_inflate_in_any_stream_state() {
    // Stored blocks refer to nothing: they fit between any two messages of a stream.
    let mut inflater = Inflater::new(15, true);
    for message in [b"Hello".to_vec(), Vec::new(), random_bytes(200_000, 13)] {
        let before = compress(&mut Deflater::new(15, false, 6), &text(500, 14));
        assert_eq!(
            &inflater.inflate(&before, 1 << 20).unwrap()[..],
            text(500, 14)
        );
        let mut payload = BytesMut::new();
        store(&message, &mut payload);
        assert_eq!(&inflater.inflate(&payload, 1 << 20).unwrap()[..], message);
        assert_eq!(&inflate_once(&payload, 1 << 20).unwrap()[..], message);
    }
    let mut payload = BytesMut::new();
    store(b"Hello", &mut payload);
    assert_eq!(
        payload,
        [0x00, 0x05, 0x00, 0xfa, 0xff, b'H', b'e', b'l', b'l', b'o', 0x00][..]
    );
}

#[test]
fn connections_sharing_a_threads_compressors_each_keep_their_own_stream() {
    // More connections than live compressors per thread, sending by turns and in bursts:
    // each stream inflates in a plain zlib that saw only its own messages.
    let mut pairs: Vec<(Deflater, Decompress)> = (0..7)
        .map(|i| {
            let level = [1, 4, 6, 9][i % 4];
            let deflater = Deflater::new(12, true, level);
            (deflater, Decompress::new_with_window_bits(false, 12))
        })
        .collect();
    for round in 0..40u64 {
        for (i, (deflater, zlib)) in pairs.iter_mut().enumerate() {
            let burst = 1 + (round as usize + i) % 3;
            for k in 0..burst {
                let data = text(900 + i * 37 + k, round * 100 + i as u64);
                let payload = compress(deflater, &data);
                assert_eq!(zlib_inflate(zlib, &payload), data, "conn {i} round {round}");
            }
        }
    }
}

#[test]
fn a_peer_reaching_past_its_agreed_window_fails_with_1007() {
    // 3000 bytes, then the same 3000 bytes: the second message refers 3000 bytes back.
    let unit = text(3000, 21);
    let mut wide = Deflater::new(15, true, 6);
    let first = compress(&mut wide, &unit);
    let second = compress(&mut wide, &unit);
    // Agreed at 9 bits (512 bytes): the reference is past the window.
    let mut strict = Inflater::new(9, true);
    assert_eq!(&strict.inflate(&first, 1 << 20).unwrap()[..], unit);
    assert_eq!(inflate_err(&mut strict, &second, 1 << 20).code, 1007);
    // Agreed at 12 bits (4 KiB): it is within.
    let mut fits = Inflater::new(12, true);
    assert_eq!(&fits.inflate(&first, 1 << 20).unwrap()[..], unit);
    assert_eq!(&fits.inflate(&second, 1 << 20).unwrap()[..], unit);
}
