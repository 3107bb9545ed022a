//! `RawPeer`: either end of a WebSocket connection, speaking raw frames over a plain socket,
//! for traffic a well-behaved library would never send. As a client it talks to a luna
//! server (`RawPeer::connect`); as a server it answers a luna client (`RawPeer::accept`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::handshake::derive_accept_key;

pub use super::frames::*;

/// The Sec-WebSocket-Key every raw client sends (the RFC 6455 example).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Which end of the connection a raw peer is: it decides who masks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Side {
    Client,
    Server,
}

/// One end of a WebSocket connection after its opening handshake.
pub struct RawPeer {
    pub stream: TcpStream,
    /// What the other end sent before any frame: the 101 answer (a client's view) or the
    /// upgrade request (a server's view).
    pub head: String,
    pub side: Side,
}

impl RawPeer {
    /// Connects and sends an upgrade request with `extra` header lines; reads the response head.
    pub fn connect(port: u16, extra: &str) -> RawPeer {
        Self::connect_to(port, "/", extra)
    }

    /// `connect`, asking for `target` (a path and query) instead of `/`.
    pub fn connect_to(port: u16, target: &str, extra: &str) -> RawPeer {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let head = read_head(&mut stream);
        RawPeer {
            stream,
            head,
            side: Side::Client,
        }
    }

    /// Accepts the one client `listener` gets and answers its upgrade with 101 and `extra`
    /// header lines (each ending in CRLF). Does not wait for the client to see it.
    pub fn accept(listener: &TcpListener, extra: &str) -> RawPeer {
        let (mut stream, head, key) = accept_upgrade(listener);
        let accept = derive_accept_key(key.as_bytes());
        write!(
            stream,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
        )
        .unwrap();
        RawPeer {
            stream,
            head,
            side: Side::Server,
        }
    }

    /// The status of the answer to a raw client's upgrade (0 when there was none).
    pub fn status(&self) -> u32 {
        self.head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The first value of header `name` in the head.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }

    /// Every value of header `name` in the head, in order.
    pub fn headers(&self, name: &str) -> Vec<String> {
        header_values(&self.head, name)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends one frame; `mask` None sends it unmasked (illegal from a client).
    pub fn frame(&mut self, fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
        self.write(&encode_frame(fin, rsv, opcode, payload, mask));
    }

    /// Sends one whole message, masked from a client and unmasked from a server, as RFC 6455
    /// asks.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mask = (self.side == Side::Client).then_some([1, 2, 3, 4]);
        self.frame(true, 0, opcode, payload, mask);
    }

    /// Reads one frame: (fin, opcode, payload).
    pub fn read(&mut self) -> std::io::Result<(bool, u8, Vec<u8>)> {
        let f = self.read_wire_frame()?;
        Ok((f.fin, f.opcode, f.payload))
    }

    /// Reads one whole text message (a single frame).
    pub fn read_text(&mut self) -> String {
        let (fin, opcode, payload) = self.read().expect("a text message");
        assert!(fin);
        assert_eq!(opcode, 1);
        String::from_utf8(payload).unwrap()
    }

    /// Reads one frame with its reserved bits, mask and raw bytes; fails the test when the
    /// connection ends first.
    pub fn read_wire(&mut self) -> WireFrame {
        self.read_wire_frame().expect("a frame from the other end")
    }

    /// Reads one frame and checks its masking: only a client masks.
    fn read_wire_frame(&mut self) -> std::io::Result<WireFrame> {
        let f = read_wire_frame(&mut self.stream)?;
        match self.side {
            Side::Client => assert!(f.mask.is_none(), "server frames must not be masked"),
            Side::Server => assert!(f.mask.is_some(), "client frames are masked"),
        }
        Ok(f)
    }

    /// Reads frames until a close frame; returns its code (1005 when empty).
    pub fn read_close(&mut self) -> u16 {
        loop {
            let f = self.read_wire_frame().expect("read until close");
            if f.opcode == 8 {
                assert_eq!(f.rsv, 0, "a close frame carries no RSV bit");
                return match f.payload.len() {
                    0 | 1 => 1005,
                    _ => u16::from_be_bytes([f.payload[0], f.payload[1]]),
                };
            }
        }
    }

    /// True when the other end closed TCP (read returns 0 bytes) within the timeout.
    pub fn tcp_closed(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        }
    }
}

/// Every value of header `name` in an HTTP head, in order.
pub fn header_values(head: &str, name: &str) -> Vec<String> {
    head.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .collect()
}

/// Accepts the one client `listener` gets (10 s at most) and reads its opening request;
/// returns the socket (10 s read timeout), the request head and its Sec-WebSocket-Key.
pub fn accept_upgrade(listener: &TcpListener) -> (TcpStream, String, String) {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("the client never connected: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = read_head(&mut stream);
    let key = header_values(&head, "sec-websocket-key")
        .into_iter()
        .next()
        .expect("request has a key");
    (stream, head, key)
}
