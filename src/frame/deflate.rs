//! permessage-deflate's compression (RFC 7692 §7.2), without I/O: a [`Deflater`] turns one
//! whole message into the payload of a compressed message, an [`Inflater`] turns such a payload
//! back into the message, bounded by the message limit.
//!
//! The zlib state itself is never kept with a connection: every message borrows this thread's
//! compressor (one per window size) or decompressor, reset after each message. With context
//! takeover a connection keeps only its *history*, the last window of plaintext of that
//! direction (the bytes the peer's decompressor or compressor holds too), and primes the
//! borrowed state with it as a dictionary before each message. The bytes on the wire are a
//! valid continuation of one stream, as with a compressor kept per connection.
//!
//! Why (zlib-rs through flate2, `deflate_bench.rs`): a zlib-rs compressor allocates 245 KiB at
//! 9 window bits up to 371 KiB at 15 (a hash table of fixed size, 128 KiB, whatever the
//! memLevel, and 112 KiB of block buffers), a decompressor 46 KiB at any window size. A
//! history holds 5 KiB at 12 window bits (33 KiB at 15); the reset and the priming cost about
//! 8 µs, paid only when the connection's live compressor was taken (`deflate_pool.rs`).

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use super::decode::Violation;
use super::deflate_params::MIN_DEFLATE_WINDOW_BITS;
use super::deflate_pool::{new_owner, with_compressor, with_decompressor, with_live, Owner};

/// What a sync flush ends with; the sender removes it, the receiver puts it back (§7.2.1-2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The highest zlib compression level.
pub(crate) const MAX_LEVEL: u32 = 9;

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

/// One direction's compressor of a connection (RFC 7692 §7.2.1): its settings and, with
/// context takeover, its history.
pub(crate) struct Deflater {
    window_bits: u8,
    level: u32,
    /// With context takeover, the last window of plaintext sent.
    history: Option<History>,
    /// With context takeover, which live compressor (`deflate_pool.rs`) is ours.
    owner: Owner,
}

impl Deflater {
    /// window_bits: `MIN_DEFLATE_WINDOW_BITS..=15`, the agreed `*_max_window_bits` of the side
    /// that compresses (8 is never agreed for our own compressor; other values are clamped);
    /// level: zlib's 0-9 (clamped). Without context takeover every message stands alone.
    pub(crate) fn new(window_bits: u8, context_takeover: bool, level: u32) -> Deflater {
        debug_assert!((MIN_DEFLATE_WINDOW_BITS..=15).contains(&window_bits));
        let bits = window_bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15);
        Deflater {
            window_bits: bits,
            level: level.min(MAX_LEVEL),
            history: context_takeover.then(|| History::new(bits)),
            owner: Owner {
                id: if context_takeover { new_owner() } else { 0 },
                sent: 0,
            },
        }
    }

    /// Appends the compressed payload of one whole message to `out`: deflate with a sync
    /// flush, the trailing 00 00 FF FF removed (RFC 7692 §7.2.1). An empty message compresses
    /// to the single 0x00 byte of §7.2.3.6.
    pub(crate) fn compress(&mut self, data: &[u8], out: &mut BytesMut) {
        let (bits, level) = (self.window_bits, self.level);
        let Some(history) = &mut self.history else {
            with_compressor(bits, level, |compress| {
                compress_with(compress, &[], data, out)
            });
            return;
        };
        with_live(bits, level, self.owner, |compress, fresh| {
            let primer = if fresh { history.bytes() } else { &[] };
            ((), compress_with(compress, primer, data, out))
        });
        history.push(data);
        self.owner.sent += 1;
    }
}

/// The last window of one direction's plaintext: what the inflater at the other end can
/// refer to, and so what a fresh compressor or decompressor is primed with.
struct History {
    bytes: Vec<u8>,
    window: usize,
}

impl History {
    fn new(window_bits: u8) -> History {
        History {
            bytes: Vec::new(),
            window: 1 << window_bits,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Adds one message's plaintext, keeping the last window of it all.
    fn push(&mut self, data: &[u8]) {
        let tail = &data[data.len().saturating_sub(self.window)..];
        let excess = (self.bytes.len() + tail.len()).saturating_sub(self.window);
        if excess > 0 {
            self.bytes.drain(..excess);
        }
        if self.bytes.capacity() == 0 {
            self.bytes.reserve_exact(self.window);
        }
        self.bytes.extend_from_slice(tail);
    }

    /// A stream ended (BFINAL): the next message starts from an empty window.
    fn clear(&mut self) {
        self.bytes.clear();
    }
}

/// Compresses one message, priming the compressor with `history` first (a fresh one);
/// false if zlib failed and the compressor must not be used again.
fn compress_with(compress: &mut Compress, history: &[u8], data: &[u8], out: &mut BytesMut) -> bool {
    let start = out.len();
    let primed = history.is_empty() || compress.set_dictionary(history).is_ok();
    if !primed || !deflate(compress, data, out) {
        // zlib fails only on a broken stream state: send the message in stored blocks,
        // which the peer inflates whatever its window holds.
        out.truncate(start);
        store(data, out);
        return false;
    } else if out[start..].ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    } else {
        // No new input after a sync flush gives no output: an empty stored block then.
        debug_assert_eq!(out.len(), start, "a sync flush ends with 00 00 FF FF");
        out.truncate(start);
        out.put_u8(0);
    }
    true
}

/// Deflates `data` with a sync flush onto `out`; false if zlib failed or stalled.
fn deflate(compress: &mut Compress, data: &[u8], out: &mut BytesMut) -> bool {
    let mut rest = data;
    loop {
        // Room for the data stored uncompressed and the flush: one pass for a message of
        // up to 64 KiB; larger ones grow `out` as they go, not by their whole size first.
        let room = (rest.len() + rest.len() / 64 + 64).min(MAX_PASS);
        let at = out.len();
        out.resize(at + room, 0);
        let (read, written) = (compress.total_in(), compress.total_out());
        let result = compress.compress(rest, &mut out[at..], FlushCompress::Sync);
        let written = (compress.total_out() - written) as usize;
        out.truncate(at + written);
        let read = (compress.total_in() - read) as usize;
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

/// One direction's decompressor: with context takeover, the history of what the peer sent.
///
/// It inflates with this thread's decompressor (a 15-bit window: any window inflates what a
/// smaller one made) primed with the history, which holds the peer's agreed window (at least
/// 9 bits: zlib compresses with 9 when asked for 8). A peer that refers further back fails
/// with 1007, as a distance before the start of its stream would.
pub(crate) struct Inflater {
    history: Option<History>,
    /// With context takeover, the violation that broke the stream: the window is lost, so
    /// every later message fails the same way.
    failed: Option<Violation>,
    /// The capacity of the last output buffer, to check that a bomb never grows it past max.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(super) last_capacity: usize,
}

impl Inflater {
    /// window_bits: the peer's agreed window, 8..=15. Without context takeover every
    /// message stands alone.
    pub(crate) fn new(window_bits: u8, context_takeover: bool) -> Inflater {
        debug_assert!((8..=15).contains(&window_bits), "{window_bits} window bits");
        let bits = window_bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15);
        Inflater {
            history: context_takeover.then(|| History::new(bits)),
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
        let history = self.history.as_ref().map_or(&[][..], History::bytes);
        let (out, result) = with_decompressor(|d| inflate_with(d, history, data, max));
        #[cfg(any(test, feature = "fuzzing"))]
        {
            self.last_capacity = out.capacity();
        }
        match (result, &mut self.history) {
            (Err(violation), Some(_)) => self.failed = Some(violation),
            (Ok(true), Some(history)) => history.clear(),
            (Ok(false), Some(history)) => history.push(&out),
            (_, None) => {}
        }
        // Bytes takes the Vec over without a copy, and so does BytesMut from a unique Bytes.
        result.map(|_| BytesMut::from(Bytes::from(out)))
    }
}

/// Inflates one message with a fresh decompressor primed with `history`: the output, and
/// whether the stream ended in it (or the violation).
fn inflate_with(
    decompress: &mut Decompress,
    history: &[u8],
    data: &[u8],
    max: usize,
) -> (Vec<u8>, Result<bool, Violation>) {
    // One byte past max proves the message too large.
    let limit = max.saturating_add(1);
    let first = data.len().saturating_mul(FIRST_GUESS_RATIO);
    let mut out = Vec::with_capacity(first.max(MIN_CHUNK).min(limit));
    if !history.is_empty() && decompress.set_dictionary(history).is_err() {
        return (out, Err(CORRUPT));
    }
    let result = inflate_into(decompress, data, &mut out, limit);
    (out, result)
}

/// Inflates `data` and then the tail into `out`, growing it up to `limit` bytes; true if the
/// stream ended.
fn inflate_into(
    decompress: &mut Decompress,
    data: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<bool, Violation> {
    for (i, input) in [data, &TAIL].into_iter().enumerate() {
        let mut rest = input;
        loop {
            if out.len() == out.capacity() {
                grow(out, limit)?;
            }
            let (read, written) = (decompress.total_in(), out.len());
            let status = decompress
                .decompress_vec(rest, out, FlushDecompress::Sync)
                .map_err(|_| CORRUPT)?;
            rest = &rest[(decompress.total_in() - read) as usize..];
            if out.len() >= limit {
                return Err(TOO_BIG);
            }
            if status == Status::StreamEnd {
                return end_stream(rest, i == 0);
            }
            // Space left over means the input is used up; a full buffer may hold more.
            if rest.is_empty() && out.len() < out.capacity() {
                break;
            }
            if decompress.total_in() == read && out.len() == written {
                return Err(CORRUPT);
            }
        }
    }
    Ok(false)
}

/// The stream ended (BFINAL): what is left of the peer's bytes (and then all of the tail
/// when `in_data`, else `rest` is what is left of the tail) may be the §7.2.3.4 padding
/// byte, or nothing. The next message starts a new stream.
fn end_stream(rest: &[u8], in_data: bool) -> Result<bool, Violation> {
    match (in_data, rest) {
        (true, [] | [0x00]) | (false, []) => Ok(true),
        _ => Err(TRAILING),
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

/// [`Deflater::compress`] for a connection without context takeover.
pub(crate) fn compress_once(data: &[u8], window_bits: u8, level: u32, out: &mut BytesMut) {
    Deflater::new(window_bits, false, level).compress(data, out);
}

/// [`Inflater::inflate`] for a peer without context takeover (any window size).
pub(crate) fn inflate_once(data: &[u8], max: usize) -> Result<BytesMut, Violation> {
    Inflater::new(15, false).inflate(data, max)
}
