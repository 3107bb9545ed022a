//! The client side of permessage-deflate (RFC 7692) for the compression mode, as a browser
//! offers it, and the game-state messages it sends.
//!
//! Every connection of one load thread sends the same sequence of messages, so their
//! compressed frames are the same too (with context takeover, frame k depends only on
//! messages 0..=k): a [`Script`] compresses each message once, through one compressor that
//! follows the agreement, and every connection sends its frames in order. The server still
//! inflates and compresses per connection; the load generator's CPU stays out of the way.
//! Replies are inflated per connection ([`Inflate`]) and compared with what was sent.

use std::fmt::Write as _;
use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::ws;

/// What Chrome and Firefox offer.
pub const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The compression level of the client's messages: zlib's default, as browsers use.
const LEVEL: u32 = 6;

/// The tail a sync flush ends with: removed by the sender, put back by the receiver.
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// What the server's `Sec-WebSocket-Extensions` agreed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// The window our compressor may use (client_max_window_bits, else 15).
    pub client_window_bits: u8,
    /// client_no_context_takeover: every message we send stands alone.
    pub client_no_context_takeover: bool,
    /// server_no_context_takeover: every message the server sends stands alone.
    pub server_no_context_takeover: bool,
}

impl Agreement {
    /// Parses the response's extension header; `None` when it agreed to no compression.
    pub fn parse(header: &str) -> io::Result<Option<Agreement>> {
        let header = header.trim();
        if header.is_empty() {
            return Ok(None);
        }
        let mut parts = header.split(';').map(str::trim);
        if parts.next() != Some("permessage-deflate") || header.contains(',') {
            return Err(io::Error::other(format!(
                "unexpected extensions: {header:?}"
            )));
        }
        let mut a = Agreement {
            client_window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        for p in parts {
            let (name, value) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (p, None),
            };
            match (name, value) {
                ("client_no_context_takeover", None) => a.client_no_context_takeover = true,
                ("server_no_context_takeover", None) => a.server_no_context_takeover = true,
                ("client_max_window_bits", Some(v)) => {
                    a.client_window_bits = v
                        .parse()
                        .ok()
                        .filter(|b| (8..=15).contains(b))
                        .ok_or_else(|| io::Error::other(format!("bad {p:?}")))?;
                }
                // Whatever the server's window, a 15-bit inflater reads it.
                ("server_max_window_bits", Some(_)) => {}
                _ => return Err(io::Error::other(format!("unexpected parameter {p:?}"))),
            }
        }
        Ok(Some(a))
    }

    /// One line for the table's footnote.
    pub fn describe(agreed: &Option<Agreement>) -> String {
        match agreed {
            None => "no compression".into(),
            Some(a) => format!(
                "client window {} bits, {} / {}",
                a.client_window_bits,
                match a.client_no_context_takeover {
                    true => "client no context takeover",
                    false => "client context takeover",
                },
                match a.server_no_context_takeover {
                    true => "server no context takeover",
                    false => "server context takeover",
                },
            ),
        }
    }
}

/// Game state at `tick`: 6 or 7 players (by turns, so messages straddle 1 KiB), JSON with
/// numbers at full precision, as `JSON.stringify` or Python's `json.dumps` write a float, and
/// positions that change unpredictably: the keys repeat, the numbers do not.
pub fn game_state(tick: u64) -> Vec<u8> {
    const NAMES: [&str; 8] = [
        "aurora_borealis",
        "brick_thrower",
        "captain_cosine",
        "delta_velocity",
        "echo_location",
        "frostbite_fern",
        "gravity_well",
        "hyperion_hawk",
    ];
    let t = tick as f64;
    let mut s = String::with_capacity(1200);
    let _ = write!(
        s,
        "{{\"type\":\"state\",\"tick\":{tick},\"time\":{},\"players\":[",
        t / 60.0
    );
    let players = 6 + (tick % 2) as usize;
    for (i, name) in NAMES.iter().take(players).enumerate() {
        let seed = tick * 16 + i as u64;
        let x = 800.0 * noise(seed, 1);
        let y = 600.0 * noise(seed, 2);
        let angle = (2.0 * noise(seed, 3) - 1.0) * std::f64::consts::PI;
        // Health drops now and then and comes back after a respawn.
        let hp = 100 - ((tick / 7 + i as u64 * 13) % 100);
        let team = if i % 2 == 0 { "red" } else { "blue" };
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"id\":{},\"name\":\"{name}\",\"x\":{x},\"y\":{y},\"angle\":{angle},\
             \"hp\":{hp},\"team\":\"{team}\",\"alive\":{}}}",
            1000 + i,
            hp > 0
        );
    }
    s.push_str("]}");
    s.into_bytes()
}

/// A number in [0, 1) from `seed` and `salt` (splitmix64): the same every run.
fn noise(seed: u64, salt: u64) -> f64 {
    let mut z = seed
        .wrapping_mul(4)
        .wrapping_add(salt)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The frames of one message sequence, compressed once for every connection of a thread.
pub struct Script {
    agreed: Option<Agreement>,
    compress: Option<Compress>,
    /// Message k's payload (what the echo must inflate to).
    pub raws: Vec<Vec<u8>>,
    /// Message k's whole client frame (masked, RSV1 when compressed).
    pub frames: Vec<Vec<u8>>,
}

impl Script {
    pub fn new(agreed: Option<Agreement>) -> Script {
        let compress = agreed.as_ref().map(|a| {
            Compress::new_with_window_bits(Compression::new(LEVEL), false, a.client_window_bits)
        });
        Script {
            agreed,
            compress,
            raws: Vec::new(),
            frames: Vec::new(),
        }
    }

    /// Message k's frame, compressing the messages up to it first.
    pub fn frame(&mut self, k: usize) -> &[u8] {
        while self.frames.len() <= k {
            let raw = game_state(self.frames.len() as u64);
            let frame = match self.compress.as_mut() {
                Some(c) => {
                    let payload = compress(c, &raw);
                    if self
                        .agreed
                        .as_ref()
                        .is_some_and(|a| a.client_no_context_takeover)
                    {
                        c.reset();
                    }
                    ws::frame_with(ws::TEXT, true, &payload)
                }
                None => ws::frame(ws::TEXT, &raw),
            };
            self.raws.push(raw);
            self.frames.push(frame);
        }
        &self.frames[k]
    }
}

/// Deflates one message with a sync flush and removes the tail (RFC 7692 §7.2.1).
fn compress(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let start = c.total_in();
    loop {
        let read = (c.total_in() - start) as usize;
        c.compress_vec(&data[read..], &mut out, FlushCompress::Sync)
            .expect("deflate of a valid stream");
        if (c.total_in() - start) as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    assert!(out.ends_with(&TAIL), "a sync flush ends with 00 00 FF FF");
    out.truncate(out.len() - TAIL.len());
    out
}

/// One connection's decompressor for what the server sends.
pub struct Inflate {
    decompress: Decompress,
    reset_each: bool,
    out: Vec<u8>,
}

impl Inflate {
    pub fn new(agreed: &Option<Agreement>) -> Inflate {
        Inflate {
            decompress: Decompress::new(false),
            reset_each: agreed.as_ref().is_none_or(|a| a.server_no_context_takeover),
            out: Vec::with_capacity(4096),
        }
    }

    /// Inflates one compressed message payload; the result lives until the next call.
    pub fn inflate(&mut self, payload: &[u8]) -> io::Result<&[u8]> {
        self.out.clear();
        for input in [payload, &TAIL[..]] {
            let mut rest = input;
            loop {
                if self.out.len() == self.out.capacity() {
                    self.out.reserve(self.out.capacity().max(4096));
                }
                let before = self.decompress.total_in();
                let status = self
                    .decompress
                    .decompress_vec(rest, &mut self.out, FlushDecompress::Sync)
                    .map_err(|e| io::Error::other(format!("inflate: {e}")))?;
                rest = &rest[(self.decompress.total_in() - before) as usize..];
                if status == Status::StreamEnd {
                    self.decompress.reset(false);
                    break;
                }
                if rest.is_empty() && self.out.len() < self.out.capacity() {
                    break;
                }
            }
        }
        if self.reset_each {
            self.decompress.reset(false);
        }
        Ok(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_straddle_a_kib_and_change_a_little() {
        for tick in [0, 1, 2, 999, 123_456] {
            let m = game_state(tick);
            assert!((800..1300).contains(&m.len()), "{} bytes", m.len());
        }
        let sizes: Vec<usize> = (0..100).map(|t| game_state(t).len()).collect();
        assert!(sizes.iter().any(|&n| n < 1024) && sizes.iter().any(|&n| n >= 1024));
        assert_ne!(game_state(1), game_state(2));
    }

    #[test]
    fn script_frames_inflate_back() {
        for agreed in [
            "permessage-deflate; client_max_window_bits=12",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ] {
            let agreed = Agreement::parse(agreed).unwrap();
            let mut script = Script::new(agreed.clone());
            let client = Agreement {
                server_no_context_takeover: agreed.as_ref().unwrap().client_no_context_takeover,
                ..agreed.clone().unwrap()
            };
            let mut inflate = Inflate::new(&Some(client));
            for k in 0..50 {
                let frame = script.frame(k).to_vec();
                assert_eq!(frame[0], 0x80 | 0x40 | ws::TEXT);
                // Two bytes, a 16-bit length past 125, then the mask key.
                let header = if frame[1] & 0x7f == 126 { 8 } else { 6 };
                let payload = ws::unmask(&frame[header - 4..]);
                assert_eq!(inflate.inflate(&payload).unwrap(), &script.raws[k][..]);
            }
        }
    }
}
