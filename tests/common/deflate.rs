//! A permessage-deflate peer's side of compression (RFC 7692 §7.2), written with flate2 apart
//! from luna's: raw deflate with a sync flush and the 00 00 FF FF tail stripped, an inflater,
//! and a strict one (C zlib through python3) that fails on any reference further back than
//! its window.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// What a sync flush ends with (RFC 7692 §7.2.1).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// One direction's compressor as a peer keeps it.
pub struct PeerDeflater {
    compress: Compress,
    context_takeover: bool,
}

impl PeerDeflater {
    /// `bits`: 9..=15; without context takeover the LZ77 state is reset after each message.
    pub fn new(bits: u8, context_takeover: bool) -> PeerDeflater {
        PeerDeflater {
            compress: Compress::new_with_window_bits(Compression::new(6), false, bits),
            context_takeover,
        }
    }

    /// The payload of one compressed message: deflate, sync flush, tail removed.
    pub fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = self.run(data, FlushCompress::Sync);
        if out.is_empty() {
            // Nothing new to flush (an empty message right after another): the single
            // 0x00 byte of RFC 7692 §7.2.3.6.
            out.push(0x00);
        } else {
            assert!(out.ends_with(&TAIL), "a sync flush ends with 00 00 FF FF");
            out.truncate(out.len() - TAIL.len());
        }
        if !self.context_takeover {
            self.compress.reset();
        }
        out
    }

    /// The payload of one message that ends the deflate stream (a final block, as
    /// RFC 7692 §7.2.3.4 allows); the next message starts a new stream.
    pub fn compress_final(&mut self, data: &[u8]) -> Vec<u8> {
        let out = self.run(data, FlushCompress::Finish);
        self.compress.reset();
        out
    }

    fn run(&mut self, data: &[u8], flush: FlushCompress) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() / 2 + 1024);
        let start = self.compress.total_in();
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            let read = (self.compress.total_in() - start) as usize;
            let status = self
                .compress
                .compress_vec(&data[read..], &mut out, flush)
                .expect("deflate");
            let done = (self.compress.total_in() - start) as usize == data.len();
            if status == Status::StreamEnd || (done && out.len() < out.capacity()) {
                return out;
            }
        }
    }
}

/// Compresses one message on its own with a full window (what a shared server sends).
pub fn compress_alone(data: &[u8]) -> Vec<u8> {
    PeerDeflater::new(15, false).compress(data)
}

/// Either inflater, for code that reads messages.
pub trait Inflate {
    fn inflate(&mut self, payload: &[u8]) -> Result<Vec<u8>, String>;
}

impl Inflate for PeerInflater {
    fn inflate(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        PeerInflater::inflate(self, payload)
    }
}

impl Inflate for StrictInflater {
    fn inflate(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        StrictInflater::inflate(self, payload)
    }
}

/// One direction's decompressor, flate2's: checks content, not windows (zlib-rs keeps a
/// 32 KiB window whatever the window bits, so it takes references a smaller window lacks).
pub struct PeerInflater {
    decompress: Decompress,
    context_takeover: bool,
}

impl PeerInflater {
    pub fn new(context_takeover: bool) -> PeerInflater {
        PeerInflater {
            decompress: Decompress::new(false),
            context_takeover,
        }
    }

    /// Inflates one message's payload (the tail appended); Err on invalid data.
    pub fn inflate(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut input = payload.to_vec();
        input.extend_from_slice(&TAIL);
        let result = self.run(&input);
        if !self.context_takeover || result.is_err() {
            self.decompress.reset(false);
        }
        result
    }

    fn run(&mut self, input: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(input.len() * 4);
        let start = self.decompress.total_in();
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(1024));
            }
            let used = (self.decompress.total_in() - start) as usize;
            let written = out.len();
            let status = self
                .decompress
                .decompress_vec(&input[used..], &mut out, FlushDecompress::Sync)
                .map_err(|e| format!("inflate: {e}"))?;
            if status == Status::StreamEnd {
                // A final block: the next message starts a new stream.
                self.decompress.reset(false);
                return Ok(out);
            }
            let now_used = (self.decompress.total_in() - start) as usize;
            if now_used == input.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            if now_used == used && out.len() == written {
                return Err("inflate: no progress".into());
            }
        }
    }
}

/// Inflates one message on its own.
pub fn inflate_alone(payload: &[u8]) -> Result<Vec<u8>, String> {
    PeerInflater::new(false).inflate(payload)
}

/// The strict inflater: C zlib (Python's `zlib` module) with a window of `bits`, fed into
/// 64-byte outputs. zlib lets a reference reach into the output of the same call whatever
/// its window, so small steps make any reference further back than the window (plus one
/// step) fail as "invalid distance too far back".
const STRICT_INFLATER: &str = r#"
import struct, sys, zlib
bits, context = int(sys.argv[1]), sys.argv[2] == "1"
inp, out = sys.stdin.buffer, sys.stdout.buffer
d = zlib.decompressobj(-bits)
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    data = inp.read(struct.unpack(">I", head)[0]) + b"\x00\x00\xff\xff"
    if not context:
        d = zlib.decompressobj(-bits)
    try:
        res = b""
        while not d.eof:
            chunk = d.decompress(data, 64)
            left = d.unconsumed_tail
            res += chunk
            if not chunk and (not left or left == data):
                break
            data = left
        if d.eof:
            d = zlib.decompressobj(-bits)
        out.write(b"\x00" + struct.pack(">I", len(res)) + res)
    except zlib.error as e:
        d = zlib.decompressobj(-bits)
        msg = str(e).encode()
        out.write(b"\x01" + struct.pack(">I", len(msg)) + msg)
    out.flush()
"#;

/// An inflater that holds the peer to its window: C zlib in a `python3` child process.
pub struct StrictInflater {
    child: Child,
}

impl StrictInflater {
    /// `bits`: the agreed window (9..=15); with context takeover the window carries over.
    pub fn new(bits: u8, context_takeover: bool) -> StrictInflater {
        let child = Command::new("python3")
            .args(["-c", STRICT_INFLATER, &bits.to_string()])
            .arg(if context_takeover { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (with its zlib module) must be installed for the window checks");
        StrictInflater { child }
    }

    /// Inflates one message's payload (the tail appended); Err with zlib's message.
    pub fn inflate(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin
            .write_all(&(payload.len() as u32).to_be_bytes())
            .and_then(|()| stdin.write_all(payload))
            .and_then(|()| stdin.flush())
            .expect("write to the python3 inflater");
        let stdout = self.child.stdout.as_mut().unwrap();
        let mut head = [0u8; 5];
        stdout
            .read_exact(&mut head)
            .expect("the python3 inflater's answer");
        let mut data = vec![0u8; u32::from_be_bytes(head[1..].try_into().unwrap()) as usize];
        stdout
            .read_exact(&mut data)
            .expect("the python3 inflater's answer");
        match head[0] {
            0 => Ok(data),
            _ => Err(String::from_utf8_lossy(&data).into_owned()),
        }
    }
}

impl Drop for StrictInflater {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Pseudo-random bytes (xorshift), reproducible: incompressible on their own.
pub fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// `len` bytes of printable pseudo-random text.
pub fn noisy_text(len: usize, seed: u32) -> Vec<u8> {
    noise(len, seed)
        .into_iter()
        .map(|b| b'!' + b % 90)
        .collect()
}

/// A JSON-ish game-state message of about `len` bytes: repetitive, as real traffic is.
pub fn json_message(seq: usize, len: usize) -> Vec<u8> {
    let mut s = format!("{{\"seq\":{seq},\"players\":[");
    let mut i = 0;
    while s.len() + 64 < len {
        s.push_str(&format!(
            "{{\"id\":{i},\"x\":{},\"y\":{},\"hp\":{}}},",
            (seq * 7 + i * 13) % 1000,
            (seq * 3 + i * 29) % 1000,
            100 - (i % 100)
        ));
        i += 1;
    }
    s.push_str("{}]}");
    while s.len() < len {
        s.push(' ');
    }
    s.into_bytes()
}
