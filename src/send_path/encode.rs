//! What a message becomes before it is admitted: checked (`check_payload`, `check_close`)
//! and encoded once into a frame, compressed as the connection agreed (`Deflate`), or
//! shared by many connections (`Broadcast`).

use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use crate::config::Limits;
use crate::error::{Error, ErrorKind, Result};
use crate::event::Opcode;
use crate::frame::deflate::{self, Deflater};
use crate::frame::deflate_params::{Direction, MIN_DEFLATE_WINDOW_BITS};
use crate::frame::encode::{Encoder, FrameHead};
use crate::frame::{self, Role};
use crate::stats::Stats;

/// A server message ready to go to many connections, encoded once and shared; compressed
/// once per window size for the recipients that compress without context takeover.
pub(crate) struct Broadcast {
    pub(super) frame: Bytes,
    header_len: usize,
    pub(super) opcode: Opcode,
    /// Compressed frames for window bits 9..=15, made on first need.
    compressed: [OnceLock<Bytes>; 7],
}

impl Broadcast {
    /// Validates `data` for `opcode` and encodes it once.
    pub fn new(data: &[u8], opcode: Opcode) -> Result<Broadcast> {
        check_payload(data, opcode)?;
        let frame = Encoder::new(Role::Server).frame(opcode as u8, data);
        Ok(Broadcast {
            header_len: frame.len() - data.len(),
            frame,
            opcode,
            compressed: Default::default(),
        })
    }

    pub fn payload(&self) -> &[u8] {
        &self.frame[self.header_len..]
    }

    pub fn opcode(&self) -> Opcode {
        self.opcode
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.frame.len() - self.header_len
    }

    /// The frame compressed on its own with a window of `window_bits` at `level` (one per
    /// window size: every connection of an app compresses at the app's level).
    pub(super) fn compressed(&self, window_bits: u8, level: u32) -> Bytes {
        let bits = window_bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15);
        let slot = &self.compressed[usize::from(bits - MIN_DEFLATE_WINDOW_BITS)];
        slot.get_or_init(|| {
            let encoder = Encoder::new(Role::Server);
            compressed_frame(&encoder, self.opcode, |out| {
                deflate::compress_once(self.payload(), bits, level, out)
            })
        })
        .clone()
    }
}

/// How a connection compresses what it sends (permessage-deflate, RFC 7692).
pub(crate) struct Deflate {
    /// Messages shorter than this go uncompressed.
    pub(super) threshold: usize,
    pub(super) window_bits: u8,
    /// zlib's compression level, 0-9.
    pub(super) level: u32,
    /// With context takeover, the connection's own compressor (its window of what it sent;
    /// the zlib state is lent by the thread). It stays locked from compressing a message
    /// until its frame is queued, so frames leave in the order the compressor saw them.
    pub(super) own: Option<Mutex<Deflater>>,
    /// The app's counters: bytes before and after compression.
    pub(super) stats: Arc<Stats>,
}

impl Deflate {
    /// `stats` counts the bytes before and after compression.
    pub fn new(direction: Direction, settings: &Limits, stats: Arc<Stats>) -> Deflate {
        let Direction {
            window_bits,
            context_takeover,
        } = direction;
        let level = settings.compression_level;
        Deflate {
            threshold: settings.compression_threshold,
            window_bits,
            level,
            own: context_takeover.then(|| Mutex::new(Deflater::new(window_bits, true, level))),
            stats,
        }
    }

    /// `data` compressed on its own (no context takeover) into one frame.
    pub(super) fn compress_once(&self, encoder: &Encoder, opcode: Opcode, data: &[u8]) -> Bytes {
        compressed_frame(encoder, opcode, |out| {
            deflate::compress_once(data, self.window_bits, self.level, out)
        })
    }
}

/// A compressed message in one frame (RSV1 set, RFC 7692 §6); `compress` writes its payload.
pub(super) fn compressed_frame(
    encoder: &Encoder,
    opcode: Opcode,
    compress: impl FnOnce(&mut BytesMut),
) -> Bytes {
    let mut payload = BytesMut::new();
    compress(&mut payload);
    let head = FrameHead {
        fin: true,
        rsv1: true,
        opcode: opcode as u8,
    };
    let mut frame = BytesMut::new();
    encoder.encode(head, &payload, &mut frame);
    frame.freeze()
}

/// Checks that `data` may be sent with `opcode`: UTF-8 text, control payloads ≤ 125 bytes.
pub(crate) fn check_payload(data: &[u8], opcode: Opcode) -> Result<()> {
    if opcode == Opcode::Text && simdutf8::basic::from_utf8(data).is_err() {
        return Err(Error::new(
            ErrorKind::InvalidUtf8,
            "text message is not valid UTF-8",
        ));
    }
    match opcode {
        Opcode::Ping | Opcode::Pong if data.len() > frame::MAX_CONTROL_PAYLOAD => Err(
            Error::invalid("ping and pong payloads are limited to 125 bytes"),
        ),
        _ => Ok(()),
    }
}

/// Checks a close code and reason a caller wants to send (RFC 6455 §7.4).
pub(crate) fn check_close(code: u16, reason: &[u8]) -> Result<&str> {
    if !frame::close_code_allowed(code) {
        return Err(Error::invalid(format!(
            "close code {code} cannot be sent (use 1000-1003, 1007-1014 or 3000-4999)"
        )));
    }
    if reason.len() > 123 {
        return Err(Error::invalid("close reason is longer than 123 bytes"));
    }
    std::str::from_utf8(reason)
        .map_err(|_| Error::new(ErrorKind::InvalidUtf8, "close reason is not valid UTF-8"))
}
