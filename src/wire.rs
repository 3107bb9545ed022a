//! The write side of a plain-TCP server connection, shared by the host thread and the I/O
//! thread (SPEC §7 "direct write").
//!
//! The host writes the frames it sends straight to the socket while nothing else is queued,
//! so a reply needs no wake-up of the I/O thread. Only when the socket would block does the
//! connection's writer task take over the rest. Everything that writes to the socket —
//! the host, the writer task and tungstenite's own pongs and close replies — goes through
//! one lock per connection, so frames never interleave mid-way; the host only ever
//! `try_lock`s it and hands off to the writer task when it is taken.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use parking_lot::{Mutex, MutexGuard};
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;
use smol::Async;

/// Flags for `sendmsg`: a peer that went away must not kill the host with SIGPIPE (Rust
/// programs ignore the signal; C and LuaJIT hosts usually do not).
#[cfg(any(target_os = "linux", target_os = "android"))]
const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SEND_FLAGS: i32 = 0;

/// At most this many queued frames go out in one `sendmsg`.
const MAX_SLICES: usize = 64;

/// Encodes one unmasked (server-to-client) frame with FIN set; `opcode` is an RFC 6455
/// opcode. Returns the frame and the length of its header.
pub fn encode_server_frame(opcode: u8, payload: &[u8]) -> (Bytes, usize) {
    let len = payload.len();
    let mut frame = BytesMut::with_capacity(len + 10);
    frame.extend_from_slice(&[0x80 | opcode]);
    if len < 126 {
        frame.extend_from_slice(&[len as u8]);
    } else if len <= 0xFFFF {
        frame.extend_from_slice(&[126]);
        frame.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        frame.extend_from_slice(&[127]);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let header_len = frame.len();
    frame.extend_from_slice(payload);
    (frame.freeze(), header_len)
}

pub struct Wire {
    socket: Arc<Async<std::net::TcpStream>>,
    /// Bytes pending past which tungstenite's own frames (pongs, close answers) wait: the
    /// connection's `max_send_queue`, so a peer that sends pings and never reads stops being
    /// read instead of growing the server.
    limit: usize,
    /// The reader, woken once what is pending fell below `limit` again.
    drained: AtomicWaker,
    /// Set while the reader waits for `drained`.
    full: AtomicBool,
    state: Mutex<Pending>,
    /// Bytes accepted but not yet written; read without the lock for backpressure checks.
    pending_len: AtomicUsize,
    /// Writing failed (also in `Pending`): readable without the lock by the writer task.
    broken: AtomicBool,
    /// The writer task, woken when bytes are left that only it can finish writing.
    flusher: AtomicWaker,
}

/// Whole frames accepted but not yet written, oldest first.
#[derive(Default)]
pub struct Pending {
    chunks: VecDeque<Bytes>,
    /// Bytes in `chunks` not yet written; mirrored in `Wire::pending_len`.
    len: usize,
    /// How much of the first chunk has been written already.
    written: usize,
    /// The writer task is handing a message to tungstenite: later frames must wait in the
    /// outbox behind it.
    pub busy: bool,
    /// A close frame was received or is being sent: only tungstenite's frames (its close
    /// answer) may still go out, never the host's data (RFC 6455 §5.5.1).
    pub closing: bool,
    /// Writing failed; the connection is ending and further frames are dropped.
    failed: bool,
}

/// How an attempt to write what is pending went.
#[derive(Debug, PartialEq, Eq)]
pub enum Flushed {
    All,
    /// The socket would block; the rest waits for the writer task.
    Partly,
    Failed,
}

impl Wire {
    pub fn new(socket: TcpStream, limit: usize) -> Arc<Wire> {
        Arc::new(Wire {
            socket: socket.into(),
            limit,
            drained: AtomicWaker::new(),
            full: AtomicBool::new(false),
            state: Mutex::new(Pending::default()),
            pending_len: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
            flusher: AtomicWaker::new(),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock()
    }

    pub fn try_lock(&self) -> Option<MutexGuard<'_, Pending>> {
        self.state.try_lock()
    }

    pub fn pending_len(&self) -> usize {
        self.pending_len.load(Ordering::Acquire)
    }

    /// Appends a whole frame behind what is pending (dropped once writing failed).
    pub fn push(&self, pending: &mut Pending, frame: Bytes) {
        if !pending.failed && !frame.is_empty() {
            pending.len += frame.len();
            self.pending_len.store(pending.len, Ordering::Release);
            pending.chunks.push_back(frame);
        }
    }

    /// Writes what is pending without blocking; whatever is left is the writer task's.
    pub fn write_out(&self, pending: &mut Pending) -> Flushed {
        let flushed = self.try_write(pending);
        if flushed != Flushed::All {
            self.flusher.wake();
        }
        flushed
    }

    fn try_write(&self, pending: &mut Pending) -> Flushed {
        if pending.failed {
            return Flushed::Failed;
        }
        let socket = socket2::SockRef::from(self.socket.get_ref());
        while !pending.chunks.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            for (i, chunk) in pending.chunks.iter().take(MAX_SLICES).enumerate() {
                let skip = if i == 0 { pending.written } else { 0 };
                slices[i] = IoSlice::new(&chunk[skip..]);
                count += 1;
            }
            match socket.send_vectored_with_flags(&slices[..count], SEND_FLAGS) {
                Ok(0) => return self.fail(pending),
                Ok(n) => self.advance(pending, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Partly,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(pending),
            }
        }
        Flushed::All
    }

    /// Drops the first `n` bytes of what is pending.
    fn advance(&self, pending: &mut Pending, mut n: usize) {
        pending.len -= n;
        self.pending_len.store(pending.len, Ordering::Release);
        if pending.len < self.limit {
            self.wake_reader();
        }
        while n > 0 {
            let left = pending.chunks[0].len() - pending.written;
            if n < left {
                pending.written += n;
                return;
            }
            n -= left;
            pending.written = 0;
            pending.chunks.pop_front();
        }
    }

    /// The connection is broken: drop what is pending; the writer task (woken by
    /// `write_out`) ends the connection.
    fn fail(&self, pending: &mut Pending) -> Flushed {
        pending.failed = true;
        self.broken.store(true, Ordering::Release);
        self.discard(pending);
        Flushed::Failed
    }

    /// Frees what is pending (the connection ended).
    pub fn discard(&self, pending: &mut Pending) {
        pending.chunks = VecDeque::new();
        pending.written = 0;
        pending.len = 0;
        self.pending_len.store(0, Ordering::Release);
        self.wake_reader();
    }

    /// Waits until what is pending is below the limit: the reader calls it before reading
    /// on, so a peer that does not read its pongs (or anything else) stops being read.
    pub async fn room(&self) {
        std::future::poll_fn(|cx| {
            if self.pending_len() < self.limit || self.broken.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.drained.register(cx.waker());
            self.full.store(true, Ordering::Release);
            // Checked again after registering, so a drain in between is never missed.
            if self.pending_len() < self.limit {
                return Poll::Ready(());
            }
            self.flusher.wake();
            Poll::Pending
        })
        .await
    }

    /// Wakes a reader that waits for room, if one does.
    fn wake_reader(&self) {
        if self.full.swap(false, Ordering::AcqRel) {
            self.drained.wake();
        }
    }

    pub fn wake_flusher(&self) {
        self.flusher.wake();
    }

    /// Registers the writer task to be woken when it has to finish a write.
    pub fn register_flusher(&self, cx: &Context<'_>) {
        self.flusher.register(cx.waker());
    }

    /// Whether the writer task has work: bytes pending, or a failure to act on.
    pub fn needs_writer(&self) -> bool {
        self.pending_len() > 0 || self.broken.load(Ordering::Acquire)
    }

    /// The writer task's flush: writes everything pending, waiting while the socket is
    /// full; an error once writing failed.
    pub async fn flush(&self) -> io::Result<()> {
        loop {
            let flushed = self.try_write(&mut self.lock());
            match flushed {
                Flushed::All => return Ok(()),
                Flushed::Failed => return Err(io::ErrorKind::BrokenPipe.into()),
                Flushed::Partly => self.socket.writable().await?,
            }
        }
    }
}

/// The stream tungstenite reads from and writes to: reads go straight to the socket, writes
/// join the connection's pending frames.
pub struct WireStream {
    wire: Arc<Wire>,
}

impl WireStream {
    pub fn new(wire: Arc<Wire>) -> WireStream {
        WireStream { wire }
    }
}

impl AsyncRead for WireStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.wire.socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for WireStream {
    /// Takes all of `buf` and writes what it can: tungstenite hands over whole frames (its
    /// pongs, close frames), which must not interleave with the host's. Past the wire's limit
    /// it waits instead.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let wire = &self.wire;
        let mut pending = wire.lock();
        if pending.failed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if pending.len >= wire.limit && wire.try_write(&mut pending) == Flushed::Partly {
            // The peer does not read: wait (and stop reading) until the writer task, woken
            // here, has made room. Registered under the lock that `advance` takes.
            wire.drained.register(cx.waker());
            wire.full.store(true, Ordering::Release);
            wire.flusher.wake();
            return Poll::Pending;
        }
        self.wire.push(&mut pending, Bytes::copy_from_slice(buf));
        // tungstenite does not always flush after writing (its answer to a close frame).
        self.wire.write_out(&mut pending);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.wire.write_out(&mut self.wire.lock()) {
            Flushed::Failed => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            // What is left is the writer task's to finish.
            Flushed::All | Flushed::Partly => Poll::Ready(Ok(())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers_use_the_shortest_length_form() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let payload = vec![7u8; len];
            let (frame, header_len) = encode_server_frame(2, &payload);
            assert_eq!(header_len, header, "payload of {len} bytes");
            assert_eq!(frame[0], 0x82);
            assert_eq!(&frame[header_len..], &payload[..]);
        }
        let (frame, _) = encode_server_frame(1, &[0u8; 300]);
        assert_eq!(&frame[..4], &[0x81, 126, 1, 44]);
    }
}
