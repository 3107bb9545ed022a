//! Just enough RFC 6455 for a client that must not be the bottleneck: frames are encoded
//! (and masked) once up front, server frames are parsed in place, and the opening handshake
//! is written by hand.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const TEXT: u8 = 1;
pub const BINARY: u8 = 2;
const CONTINUATION: u8 = 0;
const CLOSE: u8 = 8;
const PING: u8 = 9;
const PONG: u8 = 10;

/// One fixed mask key: the server must unmask, which is all that matters for its cost.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Encodes one final, masked client frame.
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(opcode, false, payload)
}

/// Encodes one final, masked client frame, with RSV1 set for a compressed message.
pub fn frame_with(opcode: u8, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | if rsv1 { 0x40 } else { 0 } | opcode);
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// The payload of a masked frame, from its mask key on.
#[cfg(test)]
pub fn unmask(from_key: &[u8]) -> Vec<u8> {
    let (key, data) = from_key.split_at(4);
    data.iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect()
}

/// The frame a client sends to close with 1000.
pub fn close_frame() -> Vec<u8> {
    frame(CLOSE, &1000u16.to_be_bytes())
}

/// What one parsed server frame was.
pub enum Frame<'a> {
    /// A whole TEXT or BINARY message (its fragments joined); `compressed` when its first
    /// frame had RSV1 set (permessage-deflate).
    Message { payload: &'a [u8], compressed: bool },
    /// A non-final data frame (kept until its message is whole).
    Other,
    /// A ping: answer with `pong`.
    Ping(&'a [u8]),
    /// A pong, answering one of our pings.
    Pong,
    /// The server closed the connection.
    Close,
}

/// Incoming bytes of one connection, parsed frame by frame without copying.
pub struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The fragments of a message still arriving, and RSV1 of its first frame.
    partial: Vec<u8>,
    partial_rsv1: bool,
    /// The last message returned was `partial`: clear it before reading on.
    joined: bool,
}

impl Reader {
    pub fn new(capacity: usize) -> Reader {
        Reader {
            buf: vec![0; capacity],
            start: 0,
            end: 0,
            partial: Vec::new(),
            partial_rsv1: false,
            joined: false,
        }
    }

    /// Keeps bytes that arrived with the handshake response.
    pub fn preload(&mut self, bytes: &[u8]) {
        self.make_room(bytes.len());
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
    }

    /// One read from `sock`; Ok(0) means the peer closed.
    pub fn fill(&mut self, sock: &mut TcpStream) -> io::Result<usize> {
        self.make_room(4096);
        let n = sock.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    fn make_room(&mut self, want: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < want {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < want {
                let size = (self.end + want).max(self.buf.len() * 2);
                self.buf.resize(size, 0);
            }
        }
    }

    /// The next complete frame, if one is buffered.
    pub fn next(&mut self) -> Option<Frame<'_>> {
        if self.joined {
            self.joined = false;
            self.partial.clear();
        }
        let b = &self.buf[self.start..self.end];
        if b.len() < 2 {
            return None;
        }
        let (mut header, len) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
            127 if b.len() >= 10 => (
                10,
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
            ),
            126 | 127 => return None,
            n => (2, n as usize),
        };
        if b[1] & 0x80 != 0 {
            header += 4; // servers never mask, but stay in step if one does
        }
        if b.len() < header + len {
            // Make sure a frame larger than the buffer can arrive whole.
            let need = header + len;
            if self.buf.len() < need {
                self.make_room(need - (self.end - self.start));
            }
            return None;
        }
        let (fin, rsv1, opcode) = (b[0] & 0x80 != 0, b[0] & 0x40 != 0, b[0] & 0x0f);
        let at = self.start;
        self.start += header + len;
        let payload = &self.buf[at + header..at + header + len];
        Some(match opcode {
            CLOSE => Frame::Close,
            PING => Frame::Ping(payload),
            PONG => Frame::Pong,
            // The first frame of a message decides whether it is compressed.
            CONTINUATION if fin => {
                self.partial.extend_from_slice(payload);
                self.joined = true;
                Frame::Message {
                    payload: &self.partial,
                    compressed: self.partial_rsv1,
                }
            }
            CONTINUATION => {
                self.partial.extend_from_slice(payload);
                Frame::Other
            }
            _ if fin => Frame::Message {
                payload,
                compressed: rsv1,
            },
            _ => {
                self.partial.clear();
                self.partial.extend_from_slice(payload);
                self.partial_rsv1 = rsv1;
                Frame::Other
            }
        })
    }
}

/// The pong answering a ping with `payload`.
pub fn pong(payload: &[u8]) -> Vec<u8> {
    frame(PONG, payload)
}

/// A ping the server must answer with a pong.
pub fn ping(payload: &[u8]) -> Vec<u8> {
    frame(PING, payload)
}

/// An open client connection (blocking mode) and the bytes read past its handshake.
pub struct Conn {
    pub sock: TcpStream,
    pub reader: Reader,
    /// The server's `Sec-WebSocket-Extensions` answer ("" when none).
    pub extensions: String,
}

/// What a client asks for in its opening handshake.
#[derive(Clone, Copy, Default)]
pub struct Offer<'a> {
    pub protocol: Option<&'a str>,
    pub extensions: Option<&'a str>,
}

impl<'a> Offer<'a> {
    pub fn protocol(protocol: Option<&'a str>) -> Offer<'a> {
        Offer {
            protocol,
            extensions: None,
        }
    }
}

/// Whether new connections ask for a resumable session (`?luna_resume=`), whose answer, the
/// first message, they then read and drop.
static ASK_FOR_SESSIONS: AtomicBool = AtomicBool::new(false);

pub fn ask_for_sessions(ask: bool) {
    ASK_FOR_SESSIONS.store(ask, Ordering::Relaxed);
}

fn request(addr: SocketAddr, offer: Offer) -> Vec<u8> {
    let target = match ASK_FOR_SESSIONS.load(Ordering::Relaxed) {
        true => "/?luna_resume=bench",
        false => "/",
    };
    let mut r = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(p) = offer.protocol {
        r.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    if let Some(e) = offer.extensions {
        r.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// Reads the handshake response; fails unless it is 101. Returns the reader (holding what
/// came after the head) and the value of `Sec-WebSocket-Extensions`.
fn finish(sock: &mut TcpStream, reader_capacity: usize) -> io::Result<(Reader, String)> {
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        let n = sock.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::other("closed during the handshake"));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            if !head.starts_with(b"HTTP/1.1 101") {
                let line = String::from_utf8_lossy(&head[..head.len().min(60)]).into_owned();
                return Err(io::Error::other(format!("handshake refused: {line:?}")));
            }
            let mut reader = Reader::new(reader_capacity);
            reader.preload(&head[end + 4..]);
            let text = String::from_utf8_lossy(&head[..end]);
            let extensions = text
                .lines()
                .filter_map(|l| l.split_once(':'))
                .filter(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-extensions"))
                .map(|(_, value)| value.trim())
                .collect::<Vec<_>>()
                .join(", ");
            return Ok((reader, extensions));
        }
        if head.len() > 16 << 10 {
            return Err(io::Error::other("handshake response too long"));
        }
    }
}

/// Reads and drops the first message: a session's answer.
fn skip_session_answer(sock: &mut TcpStream, reader: &mut Reader) -> io::Result<()> {
    loop {
        if let Some(Frame::Message { .. }) = reader.next() {
            return Ok(());
        }
        if reader.fill(sock)? == 0 {
            return Err(io::Error::other("closed before the session's answer"));
        }
    }
}

/// Opens `n` connections, `batch` handshakes in flight at a time (within listen backlogs).
pub fn connect_many(
    addr: SocketAddr,
    n: usize,
    offer: Offer,
    reader_capacity: usize,
) -> io::Result<Vec<Conn>> {
    const BATCH: usize = 64;
    let req = request(addr, offer);
    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        let mut pending = Vec::with_capacity(BATCH);
        for _ in 0..BATCH.min(n - conns.len()) {
            let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .map_err(|e| io::Error::other(format!("connect #{}: {e}", conns.len())))?;
            sock.set_nodelay(true)?;
            sock.set_read_timeout(Some(Duration::from_secs(20)))?;
            sock.write_all(&req)?;
            pending.push(sock);
        }
        for mut sock in pending {
            let (mut reader, extensions) = finish(&mut sock, reader_capacity)
                .map_err(|e| io::Error::other(format!("handshake #{}: {e}", conns.len())))?;
            if ASK_FOR_SESSIONS.load(Ordering::Relaxed) {
                skip_session_answer(&mut sock, &mut reader)?;
            }
            conns.push(Conn {
                sock,
                reader,
                extensions,
            });
        }
    }
    Ok(conns)
}

/// Drops every connection with a TCP reset (SO_LINGER 0), as a crashed or vanished peer does:
/// the server gets no close frame.
pub fn reset_all(conns: Vec<Conn>) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    for c in &conns {
        // SAFETY: a valid socket and a linger struct of the size given.
        unsafe {
            libc::setsockopt(
                c.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
    drop(conns);
}

/// Closes every connection with a close frame so that servers see a clean end.
pub fn close_all(conns: Vec<Conn>) {
    let close = close_frame();
    for c in &conns {
        let _ = c.sock.set_nonblocking(true);
        let _ = (&c.sock).write(&close);
        let _ = c.sock.shutdown(std::net::Shutdown::Write);
    }
    // Give servers a moment to answer before the sockets go, so fewer resets.
    std::thread::sleep(Duration::from_millis(50));
    drop(conns);
}
