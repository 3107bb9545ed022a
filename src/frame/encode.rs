//! Frames out: headers in their shortest form, client payloads masked with a fresh key per
//! frame (RFC 6455 §5.3), and close payloads.

use bytes::{BufMut, Bytes, BytesMut};
use rand::Rng;

use super::mask::apply_mask;
use super::Role;

/// The first header byte of a frame to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHead {
    /// The last (or only) frame of its message.
    pub fin: bool,
    /// permessage-deflate: set on the first frame of a compressed message only.
    pub rsv1: bool,
    /// One of [`super::opcode`].
    pub opcode: u8,
}

impl FrameHead {
    /// A whole message, or a control frame, in one frame.
    pub(crate) fn single(opcode: u8) -> FrameHead {
        FrameHead {
            fin: true,
            rsv1: false,
            opcode,
        }
    }
}

/// Writes the frames of one connection; shared by the host thread and the I/O thread.
#[derive(Debug)]
pub(crate) struct Encoder {
    /// A client masks every frame; a server does not.
    masked: bool,
}

impl Encoder {
    pub(crate) fn new(role: Role) -> Encoder {
        Encoder {
            masked: role == Role::Client,
        }
    }

    /// Appends one frame carrying `payload` to `out`.
    pub(crate) fn encode(&self, head: FrameHead, payload: &[u8], out: &mut BytesMut) {
        let key = self.masked.then(mask_key);
        out.reserve(header_len(payload.len(), key.is_some()) + payload.len());
        put_header(out, head, payload.len(), key);
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(key) = key {
            apply_mask(&mut out[start..], key, 0);
        }
    }

    /// The size of a frame with FIN set carrying `len` bytes.
    pub(crate) fn frame_len(&self, len: usize) -> usize {
        header_len(len, self.masked) + len
    }

    /// One frame with FIN set, on its own.
    pub(crate) fn frame(&self, opcode: u8, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(FrameHead::single(opcode), payload, &mut out);
        out.freeze()
    }

    /// A close frame (RFC 6455 §5.5.1): the code and reason, or no payload for `None`.
    /// Arguments are trusted: `send_path::check_close` checks what callers give.
    pub(crate) fn close_frame(&self, close: Option<(u16, &str)>) -> Bytes {
        let mut payload = Vec::new();
        if let Some((code, reason)) = close {
            payload.extend_from_slice(&code.to_be_bytes());
            payload.extend_from_slice(reason.as_bytes());
        }
        self.frame(super::opcode::CLOSE, &payload)
    }
}

/// A fresh mask key from the thread's CSPRNG: RFC 6455 §5.3 asks for a strong source of
/// entropy, so that a page's script cannot predict the bytes a proxy sees. rand's
/// `ThreadRng` is ChaCha12 seeded (and reseeded) from the OS per thread; one key costs a few
/// nanoseconds, less than the atomic counter it replaces.
fn mask_key() -> [u8; 4] {
    rand::rng().next_u32().to_ne_bytes()
}

/// The size of a header for a payload of `len` bytes.
pub(crate) fn header_len(len: usize, masked: bool) -> usize {
    let field = match len {
        0..=125 => 0,
        126..=0xFFFF => 2,
        _ => 8,
    };
    2 + field + if masked { 4 } else { 0 }
}

/// Appends a header with the shortest length form RFC 6455 §5.2 asks of senders.
fn put_header(out: &mut BytesMut, head: FrameHead, len: usize, key: Option<[u8; 4]>) {
    let fin = if head.fin { 0x80 } else { 0 };
    let rsv1 = if head.rsv1 { 0x40 } else { 0 };
    out.put_u8(fin | rsv1 | (head.opcode & 0x0F));
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => out.put_u8(mask_bit | len as u8),
        126..=0xFFFF => {
            out.put_u8(mask_bit | 126);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(mask_bit | 127);
            out.put_u64(len as u64);
        }
    }
    if let Some(key) = key {
        out.put_slice(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::opcode;

    #[test]
    fn server_frames_match_rfc_6455_section_5_7() {
        let server = Encoder::new(Role::Server);
        let hello = server.frame(opcode::TEXT, b"Hello");
        assert_eq!(&hello[..], b"\x81\x05Hello");
        assert_eq!(&server.frame(opcode::PING, b"Hello")[..], b"\x89\x05Hello");
        let mut out = BytesMut::new();
        let first = FrameHead {
            fin: false,
            rsv1: false,
            opcode: opcode::TEXT,
        };
        let last = FrameHead {
            fin: true,
            rsv1: false,
            opcode: opcode::CONTINUATION,
        };
        server.encode(first, b"Hel", &mut out);
        server.encode(last, b"lo", &mut out);
        assert_eq!(&out[..], b"\x01\x03Hel\x80\x02lo");
    }

    #[test]
    fn lengths_use_the_shortest_form() {
        let server = Encoder::new(Role::Server);
        assert_eq!(&server.frame(opcode::BINARY, &[0; 125])[..2], b"\x82\x7d");
        assert_eq!(
            &server.frame(opcode::BINARY, &[0; 256])[..4],
            b"\x82\x7e\x01\x00"
        );
        assert_eq!(
            &server.frame(opcode::BINARY, &vec![0; 65536])[..10],
            b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"
        );
        assert_eq!(server.frame(opcode::BINARY, &[0; 65535]).len(), 4 + 65535);
    }

    #[test]
    fn client_frames_are_masked_with_changing_keys() {
        let client = Encoder::new(Role::Client);
        let a = client.frame(opcode::TEXT, b"Hello");
        let b = client.frame(opcode::TEXT, b"Hello");
        assert_eq!(a[1], 0x85);
        assert_eq!(a.len(), 2 + 4 + 5);
        let unmasked: Vec<u8> = (0..5).map(|i| a[6 + i] ^ a[2 + i % 4]).collect();
        assert_eq!(unmasked, b"Hello");
        assert_ne!(a[2..6], b[2..6], "a fresh key per frame");
    }

    #[test]
    fn mask_keys_are_not_shared_between_clients_or_threads() {
        let keys = || {
            let client = Encoder::new(Role::Client);
            (0..256)
                .map(|_| <[u8; 4]>::try_from(&client.frame(opcode::BINARY, b"")[2..6]).unwrap())
                .collect::<Vec<_>>()
        };
        let (first, second) = (keys(), keys());
        let other_thread = std::thread::spawn(keys).join().unwrap();
        // 768 random 32-bit keys hold a repeat with odds of about 1 in 15,000; a constant,
        // a short cycle or a sequence shared by two clients repeats hundreds of times.
        let distinct: std::collections::HashSet<_> =
            first.iter().chain(&second).chain(&other_thread).collect();
        assert!(distinct.len() >= 766, "{} distinct of 768", distinct.len());
        assert_ne!(first, second);
        assert_ne!(first, other_thread);
    }

    #[test]
    fn rsv1_is_written_when_asked() {
        let server = Encoder::new(Role::Server);
        let head = FrameHead {
            fin: true,
            rsv1: true,
            opcode: opcode::TEXT,
        };
        let mut out = BytesMut::new();
        server.encode(head, b"x", &mut out);
        assert_eq!(out[0], 0xC1);
    }

    #[test]
    fn close_frames_carry_the_code_and_reason_or_nothing() {
        let server = Encoder::new(Role::Server);
        assert_eq!(
            &server.close_frame(Some((1000, "bye")))[..],
            b"\x88\x05\x03\xe8bye"
        );
        assert_eq!(&server.close_frame(None)[..], b"\x88\x00");
    }
}
