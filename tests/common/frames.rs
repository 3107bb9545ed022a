//! Frames as bytes, both ways, without a WebSocket library: what the raw peers send and how
//! they read what comes back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

pub fn encode_frame(
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

pub fn read_frame(stream: &mut TcpStream) -> std::io::Result<(bool, u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    let fin = head[0] & 0x80 != 0;
    let opcode = head[0] & 0x0F;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b)?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b)?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    assert!(!masked, "server frames must not be masked");
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    Ok((fin, opcode, payload))
}

/// A frame as read off the wire, reserved bits included.
#[derive(Debug, Clone, PartialEq)]
pub struct WireFrame {
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as the three low bits (RSV1 = 0b100).
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    /// Unmasked.
    pub payload: Vec<u8>,
    /// Every byte of the frame as it came.
    pub raw: Vec<u8>,
}

/// Reads one frame, masked or not, keeping its reserved bits and raw bytes.
pub fn read_wire_frame(stream: &mut TcpStream) -> std::io::Result<WireFrame> {
    let mut raw = vec![0u8; 2];
    stream.read_exact(&mut raw)?;
    let extra = match raw[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mut more = vec![0u8; extra];
    stream.read_exact(&mut more)?;
    raw.extend_from_slice(&more);
    let len = match extra {
        2 => u16::from_be_bytes([more[0], more[1]]) as usize,
        8 => u64::from_be_bytes(more[..8].try_into().unwrap()) as usize,
        _ => (raw[1] & 0x7F) as usize,
    };
    let mask = if raw[1] & 0x80 != 0 {
        let mut m = [0u8; 4];
        stream.read_exact(&mut m)?;
        raw.extend_from_slice(&m);
        Some(m)
    } else {
        None
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    raw.extend_from_slice(&payload);
    if let Some(m) = mask {
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= m[i % 4]);
    }
    Ok(WireFrame {
        fin: raw[0] & 0x80 != 0,
        rsv: (raw[0] >> 4) & 0b111,
        opcode: raw[0] & 0x0F,
        mask,
        payload,
        raw,
    })
}

/// Writes `frame` over and over (in 500-frame writes, each given 2 s) until `limit` bytes
/// went out or the peer stops reading; returns how many bytes went out.
pub fn flood(stream: &mut TcpStream, frame: &[u8], limit: usize) -> usize {
    let chunk: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * 500)
        .collect();
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut sent = 0usize;
    while sent < limit {
        match stream.write(&chunk[sent % chunk.len()..]) {
            Ok(n) => sent += n,
            Err(_) => break, // the peer stopped reading
        }
    }
    sent
}
