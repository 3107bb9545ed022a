//! permessage-deflate's compression (RFC 7692 §7.2), without I/O: a [`Deflater`] turns one
//! whole message into the payload of a compressed message, an [`Inflater`] turns such a payload
//! back into the message, bounded by the message limit.
//!
//! A connection with context takeover keeps one of each per direction that uses it: the LZ77
//! window carries over from message to message. Without context takeover every message stands
//! alone, so no state needs to live with the connection: [`compress_once`] and
//! [`inflate_once`] borrow one compressor (per window size) and one decompressor per thread,
//! reset after each message.
//!
//! Memory (zlib-rs through flate2, which fixes zlib's memLevel at 8; `deflate_bench.rs`): a
//! compressor allocates 245 KiB at 9 window bits up to 371 KiB at 15 (a 128 KiB hash table and
//! 112 KiB of block buffers at any window size, and 4 bytes per window byte), a decompressor
//! 46 KiB at any window size.

use std::cell::RefCell;

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::decode::Violation;
use super::deflate_params::MIN_DEFLATE_WINDOW_BITS;

/// What a sync flush ends with; the sender removes it, the receiver puts it back (§7.2.1-2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The compression level. On 1 KiB game-state messages with context takeover, level 1 leaves
/// 27% of the bytes in 3.5 µs and level 6 18% in 14 µs: with a compressor per connection, the
/// CPU matters more than the last tenth.
pub(crate) const LEVEL: u32 = 1;

/// The first output buffer of an inflate is this many times the compressed size (at least
/// [`MIN_CHUNK`], at most the limit); it then doubles, never past the limit.
const FIRST_GUESS_RATIO: usize = 4;

/// The most output space a compress pass zero-fills at a time.
const MAX_PASS: usize = 64 * 1024;

/// The smallest output buffer an inflate starts with.
const MIN_CHUNK: usize = 256;

/// 1009: the inflated message is past `max_message_size`.
const TOO_BIG: Violation = Violation {
    code: 1009,
    reason: "message larger than max_message_size once inflated",
};

/// 1007: not valid deflate data (RFC 7692 §8 fails the connection; 1007 as Node's ws sends).
const CORRUPT: Violation = Violation {
    code: 1007,
    reason: "invalid permessage-deflate data",
};

/// 1007: bytes after a block with BFINAL set, other than the RFC 7692 §7.2.3.4 padding.
const TRAILING: Violation = Violation {
    code: 1007,
    reason: "permessage-deflate data after the end of the stream",
};

/// One direction's compressor of a connection (RFC 7692 §7.2.1).
pub(crate) struct Deflater {
    compress: Compress,
    context_takeover: bool,
}

impl Deflater {
    /// window_bits: `MIN_DEFLATE_WINDOW_BITS..=15`, the agreed `*_max_window_bits` of the side
    /// that compresses (8 is never agreed for our own compressor; other values are clamped).
    /// Without context takeover the LZ77 state is reset after every message.
    pub(crate) fn new(window_bits: u8, context_takeover: bool) -> Deflater {
        Deflater::with_level(window_bits, context_takeover, LEVEL)
    }

    /// [`Deflater::new`] at another level (0-9), for measurements.
    pub(crate) fn with_level(window_bits: u8, context_takeover: bool, level: u32) -> Deflater {
        debug_assert!((MIN_DEFLATE_WINDOW_BITS..=15).contains(&window_bits));
        let bits = window_bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15);
        Deflater {
            compress: Compress::new_with_window_bits(Compression::new(level.min(9)), false, bits),
            context_takeover,
        }
    }

    /// Appends the compressed payload of one whole message to `out`: deflate with a sync
    /// flush, the trailing 00 00 FF FF removed (RFC 7692 §7.2.1). An empty message compresses
    /// to the single 0x00 byte of §7.2.3.6 when the compressor has nothing to flush.
    pub(crate) fn compress(&mut self, data: &[u8], out: &mut BytesMut) {
        let start = out.len();
        if !self.deflate(data, out) {
            // zlib fails only on a broken stream state: start over and send the message in
            // stored blocks, which the peer inflates whatever its window holds.
            out.truncate(start);
            self.compress.reset();
            store(data, out);
        } else if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        } else {
            // No new input after a sync flush gives no output: an empty stored block then.
            debug_assert_eq!(out.len(), start, "a sync flush ends with 00 00 FF FF");
            out.truncate(start);
            out.put_u8(0);
        }
        if !self.context_takeover {
            self.compress.reset();
        }
    }

    /// Deflates `data` with a sync flush onto `out`; false if zlib failed or stalled.
    fn deflate(&mut self, data: &[u8], out: &mut BytesMut) -> bool {
        let mut rest = data;
        loop {
            // Room for the data stored uncompressed and the flush: one pass for a message of
            // up to 64 KiB; larger ones grow `out` as they go, not by their whole size first.
            let room = (rest.len() + rest.len() / 64 + 64).min(MAX_PASS);
            let at = out.len();
            out.resize(at + room, 0);
            let (read, written) = (self.compress.total_in(), self.compress.total_out());
            let result = self
                .compress
                .compress(rest, &mut out[at..], FlushCompress::Sync);
            let written = (self.compress.total_out() - written) as usize;
            out.truncate(at + written);
            let read = (self.compress.total_in() - read) as usize;
            rest = &rest[read..];
            // Output space left over means the input is consumed and the flush complete.
            match result {
                Ok(_) if written < room && rest.is_empty() => return true,
                Ok(_) if written < room && read == 0 => return false,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }
}

/// `data` as stored (uncompressed) deflate blocks ending in the header of an empty one, the
/// form of RFC 7692 §7.2.3.3: valid after any earlier message, since it refers to none.
pub(super) fn store(data: &[u8], out: &mut BytesMut) {
    for block in data.chunks(usize::from(u16::MAX)) {
        let len = block.len() as u16;
        out.put_u8(0);
        out.put_u16_le(len);
        out.put_u16_le(!len);
        out.extend_from_slice(block);
    }
    out.put_u8(0);
}

/// One direction's decompressor.
///
/// It always inflates with a 15-bit window: any window inflates what a smaller one made, and
/// zlib-rs allocates 32 KiB for every window size anyway, while flate2 can reset only a 15-bit
/// decompressor in place (it allocates a new one for the others). A peer that refers further
/// back than its agreed window is therefore not caught; nothing is at stake in that.
pub(crate) struct Inflater {
    decompress: Decompress,
    context_takeover: bool,
    /// With context takeover, the violation that broke the stream: the window is lost, so
    /// every later message fails the same way.
    failed: Option<Violation>,
    /// The capacity of the last output buffer, to check that a bomb never grows it past max.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(super) last_capacity: usize,
}

impl Inflater {
    /// window_bits: the peer's agreed window, 8..=15 (see the type's doc for why it is not
    /// used). Without context takeover the state is reset after each message.
    pub(crate) fn new(window_bits: u8, context_takeover: bool) -> Inflater {
        debug_assert!((8..=15).contains(&window_bits), "{window_bits} window bits");
        Inflater {
            decompress: Decompress::new(false),
            context_takeover,
            failed: None,
            #[cfg(any(test, feature = "fuzzing"))]
            last_capacity: 0,
        }
    }

    /// Inflates one whole message's payload (all its fragments' payloads joined), appending
    /// the 00 00 FF FF tail itself (RFC 7692 §7.2.2). Past `max` bytes of output it fails with
    /// 1009, having never held more than `max + 1`; invalid data fails with 1007.
    ///
    /// A stream may end in the message (a block with BFINAL set, §7.2.3.4): then only the
    /// §7.2.3.4 padding byte may follow (anything else is 1007), and the next message starts a
    /// new stream. A message cut inside a block inflates to what its bytes hold, as zlib does.
    pub(crate) fn inflate(&mut self, data: &[u8], max: usize) -> Result<BytesMut, Violation> {
        if let Some(violation) = self.failed {
            return Err(violation);
        }
        let result = self.run(data, max);
        match (&result, self.context_takeover) {
            (Err(violation), true) => self.failed = Some(*violation),
            (_, false) => self.decompress.reset(false),
            (Ok(_), true) => {}
        }
        result
    }

    fn run(&mut self, data: &[u8], max: usize) -> Result<BytesMut, Violation> {
        // One byte past max proves the message too large.
        let limit = max.saturating_add(1);
        let first = data.len().saturating_mul(FIRST_GUESS_RATIO);
        let mut out = Vec::with_capacity(first.max(MIN_CHUNK).min(limit));
        let result = self.inflate_into(data, &mut out, limit);
        #[cfg(any(test, feature = "fuzzing"))]
        {
            self.last_capacity = out.capacity();
        }
        // Bytes takes the Vec over without a copy, and so does BytesMut from a unique Bytes.
        result.map(|()| BytesMut::from(Bytes::from(out)))
    }

    /// Inflates `data` and then the tail into `out`, growing it up to `limit` bytes.
    fn inflate_into(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), Violation> {
        for (i, input) in [data, &TAIL].into_iter().enumerate() {
            let mut rest = input;
            loop {
                if out.len() == out.capacity() {
                    grow(out, limit)?;
                }
                let (read, written) = (self.decompress.total_in(), out.len());
                let status = self
                    .decompress
                    .decompress_vec(rest, out, FlushDecompress::Sync)
                    .map_err(|_| CORRUPT)?;
                rest = &rest[(self.decompress.total_in() - read) as usize..];
                if out.len() >= limit {
                    return Err(TOO_BIG);
                }
                if status == Status::StreamEnd {
                    return self.end_stream(rest, i == 0);
                }
                // Space left over means the input is used up; a full buffer may hold more.
                if rest.is_empty() && out.len() < out.capacity() {
                    break;
                }
                if self.decompress.total_in() == read && out.len() == written {
                    return Err(CORRUPT);
                }
            }
        }
        Ok(())
    }

    /// The stream ended (BFINAL): what is left of the peer's bytes (and then all of the tail
    /// when `in_data`, else `rest` is what is left of the tail) may be the §7.2.3.4 padding
    /// byte, or nothing. The next message starts a new stream.
    fn end_stream(&mut self, rest: &[u8], in_data: bool) -> Result<(), Violation> {
        self.decompress.reset(false);
        match (in_data, rest) {
            (true, [] | [0x00]) | (false, []) => Ok(()),
            _ => Err(TRAILING),
        }
    }
}

/// Grows `out` by doubling (at least [`MIN_CHUNK`]), never to more than `limit` bytes.
fn grow(out: &mut Vec<u8>, limit: usize) -> Result<(), Violation> {
    let room = out.capacity().max(MIN_CHUNK).min(limit - out.len());
    if room == 0 {
        return Err(TOO_BIG);
    }
    out.reserve_exact(room);
    Ok(())
}

/// Window sizes our compressor can use: `MIN_DEFLATE_WINDOW_BITS..=15`.
const WINDOW_SIZES: usize = (16 - MIN_DEFLATE_WINDOW_BITS) as usize;

thread_local! {
    /// One shared compressor per window size on this thread, for connections without context
    /// takeover.
    static DEFLATERS: RefCell<[Option<Deflater>; WINDOW_SIZES]> =
        const { RefCell::new([const { None }; WINDOW_SIZES]) };
    /// One shared decompressor on this thread, for peers without context takeover.
    static INFLATER: RefCell<Option<Inflater>> = const { RefCell::new(None) };
}

/// [`Deflater::compress`] for a connection without context takeover, with this thread's
/// shared compressor for `window_bits`. A compressor is taken out while it works, so one a
/// panic interrupts is dropped rather than reused half-way through a message.
pub(crate) fn compress_once(data: &[u8], window_bits: u8, out: &mut BytesMut) {
    let bits = window_bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15);
    let slot = usize::from(bits - MIN_DEFLATE_WINDOW_BITS);
    let taken = DEFLATERS.with(|pool| pool.borrow_mut()[slot].take());
    let mut deflater = taken.unwrap_or_else(|| Deflater::new(bits, false));
    deflater.compress(data, out);
    DEFLATERS.with(|pool| pool.borrow_mut()[slot] = Some(deflater));
}

/// [`Inflater::inflate`] for a peer without context takeover (any window size), with this
/// thread's shared decompressor, reset after every message, an error included, so no byte of
/// one connection's message can be referred to by another's.
pub(crate) fn inflate_once(data: &[u8], max: usize) -> Result<BytesMut, Violation> {
    let taken = INFLATER.with(|slot| slot.borrow_mut().take());
    let mut inflater = taken.unwrap_or_else(|| Inflater::new(15, false));
    let result = inflater.inflate(data, max);
    INFLATER.with(|slot| *slot.borrow_mut() = Some(inflater));
    result
}
