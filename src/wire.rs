//! The write side of a plain-TCP connection, shared by the host thread and the I/O thread
//! (SPEC §7 "direct write").
//!
//! The host writes the frames it sends straight to the socket while nothing else is queued,
//! so a reply needs no wake-up of the I/O thread. Only when the socket would block does the
//! connection's writer task take over the rest. Everything that writes to the socket (the
//! host, and the writer task with its pongs and close frames) goes through one lock per
//! connection, so frames never interleave mid-way; the host only ever `try_lock`s it and
//! hands off to the writer task when it is taken.
//!
//! The wire keeps no limit of its own: it reports what it holds to the connection's
//! `SendBudget`, which every writer passes in.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use parking_lot::{Mutex, MutexGuard};
use smol::net::TcpStream;
use smol::Async;

use crate::send_budget::SendBudget;

/// Flags for `sendmsg`: a peer that went away must not kill the host with SIGPIPE (Rust
/// programs ignore the signal; C and LuaJIT hosts usually do not).
#[cfg(any(target_os = "linux", target_os = "android"))]
const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SEND_FLAGS: i32 = 0;

/// At most this many queued frames go out in one `sendmsg`.
const MAX_SLICES: usize = 64;

/// Frames of at most this many bytes are encoded into the connection's open buffer.
pub(crate) const SMALL_FRAME: usize = 4096;

/// An emptied open buffer larger than this is not kept for the next batch.
const MAX_OPEN_CAPACITY: usize = 64 << 10;

pub struct Wire {
    socket: Arc<Async<std::net::TcpStream>>,
    state: Mutex<Pending>,
    /// Writing failed (also in `Pending`): readable without the lock by the writer task.
    broken: AtomicBool,
    /// The last read took less than it asked for, so the socket was empty: the next read
    /// waits for readiness first instead of trying (and failing) once more. Only the
    /// connection's I/O task reads it.
    read_drained: AtomicBool,
    /// The writer task, woken when bytes are left that only it can finish writing.
    flusher: AtomicWaker,
}

/// Whole frames accepted but not yet written, oldest first: `chunks`, then `open`.
#[derive(Default)]
pub struct Pending {
    chunks: VecDeque<Bytes>,
    /// Small frames encoded in place behind `chunks`: a batch of replies shares one buffer,
    /// kept from batch to batch while the connection is busy, instead of one allocation
    /// per frame.
    open: BytesMut,
    /// Bytes in `chunks` and `open` not yet written; mirrored in the connection's
    /// `SendBudget`.
    len: usize,
    /// How much of the first chunk has been written already.
    written: usize,
    /// Our close frame is pending or written: nothing may follow it (RFC 6455 §5.5.1).
    closing: bool,
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

impl Pending {
    /// Whether our close frame is pending or written: nothing may follow it.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    fn push(&mut self, budget: &SendBudget, frame: Bytes) {
        if self.failed || frame.is_empty() {
            return;
        }
        if !self.open.is_empty() {
            // What was encoded in place goes first.
            let open = self.open.split().freeze();
            self.chunks.push_back(open);
        }
        self.len += frame.len();
        budget.wire_grew(self.len);
        self.chunks.push_back(frame);
    }

    fn push_encoded(&mut self, budget: &SendBudget, encode: impl FnOnce(&mut BytesMut)) {
        if self.failed {
            return;
        }
        let before = self.open.len();
        encode(&mut self.open);
        self.len += self.open.len() - before;
        budget.wire_grew(self.len);
    }

    /// The next bytes to write, in order, as up to `MAX_SLICES` slices; returns how many.
    fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let mut count = 0;
        for (i, chunk) in self.chunks.iter().take(MAX_SLICES).enumerate() {
            let skip = if i == 0 { self.written } else { 0 };
            slices[i] = IoSlice::new(&chunk[skip..]);
            count += 1;
        }
        if count < MAX_SLICES && !self.open.is_empty() {
            slices[count] = IoSlice::new(&self.open);
            count += 1;
        }
        count
    }
}

impl Wire {
    pub fn new(socket: TcpStream) -> Arc<Wire> {
        Arc::new(Wire {
            socket: socket.into(),
            state: Mutex::new(Pending::default()),
            broken: AtomicBool::new(false),
            read_drained: AtomicBool::new(false),
            flusher: AtomicWaker::new(),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock()
    }

    pub fn try_lock(&self) -> Option<MutexGuard<'_, Pending>> {
        self.state.try_lock()
    }

    /// Appends a whole frame behind what is pending (dropped once writing failed).
    pub fn push(&self, budget: &SendBudget, pending: &mut Pending, frame: Bytes) {
        pending.push(budget, frame);
    }

    /// Appends a small frame that `encode` writes in place (dropped once writing failed).
    pub fn push_encoded(
        &self,
        budget: &SendBudget,
        pending: &mut Pending,
        encode: impl FnOnce(&mut BytesMut),
    ) {
        pending.push_encoded(budget, encode);
    }

    /// Appends our close frame: nothing pushed after it goes out.
    pub fn push_close(&self, budget: &SendBudget, pending: &mut Pending, frame: Bytes) {
        self.push(budget, pending, frame);
        pending.closing = true;
    }

    /// Writes what is pending without blocking; whatever is left is the writer task's.
    pub fn write_out(&self, budget: &SendBudget, pending: &mut Pending) -> Flushed {
        let flushed = self.try_write(budget, pending);
        if flushed != Flushed::All {
            self.flusher.wake();
        }
        flushed
    }

    fn try_write(&self, budget: &SendBudget, pending: &mut Pending) -> Flushed {
        if pending.failed {
            return Flushed::Failed;
        }
        let socket = socket2::SockRef::from(self.socket.get_ref());
        while pending.len > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = pending.slices(&mut slices);
            match socket.send_vectored_with_flags(&slices[..count], SEND_FLAGS) {
                Ok(0) => return self.fail(budget, pending),
                Ok(n) => advance(budget, pending, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Partly,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(budget, pending),
            }
        }
        Flushed::All
    }

    /// The connection is broken: drop what is pending; the writer task (woken by
    /// `write_out`) ends the connection.
    fn fail(&self, budget: &SendBudget, pending: &mut Pending) -> Flushed {
        pending.failed = true;
        self.broken.store(true, Ordering::Release);
        self.discard(budget, pending);
        Flushed::Failed
    }

    /// Frees what is pending (the connection ended).
    pub fn discard(&self, budget: &SendBudget, pending: &mut Pending) {
        pending.chunks = VecDeque::new();
        pending.open = BytesMut::new();
        pending.written = 0;
        pending.len = 0;
        budget.wire_emptied();
    }

    /// A connection that parks gives back its emptied queue (an idle connection keeps
    /// none); a busy one keeps it from batch to batch.
    pub fn release_idle_queue(&self) {
        if let Some(mut pending) = self.try_lock() {
            if pending.len == 0 {
                pending.chunks = VecDeque::new();
                pending.open = BytesMut::new();
            }
        }
    }

    /// Whether writing failed.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    pub fn wake_flusher(&self) {
        self.flusher.wake();
    }

    /// Registers the writer task to be woken when it has to finish a write.
    pub fn register_flusher(&self, cx: &Context<'_>) {
        self.flusher.register(cx.waker());
    }

    /// Whether the writer task has work: bytes pending, or a failure to act on.
    pub fn needs_writer(&self, budget: &SendBudget) -> bool {
        budget.wire_holds_bytes() || self.broken.load(Ordering::Acquire)
    }

    /// Ready once the socket has something to read (or an error to report), without
    /// reading: a parked connection's wait for its peer.
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        // Polled, not `Async::readable`: that future keeps a waker list in the source.
        ready!(self.socket.poll_readable(cx)).ok();
        self.read_drained.store(false, Ordering::Relaxed);
        Poll::Ready(())
    }

    /// Reads what the socket has into `buf`. A read that found the socket empty costs a
    /// system call, and the reactor's wake-up would otherwise be followed by two of them
    /// (the wake-up is consumed by the first failed read): after a short read the next one
    /// waits for readiness first, so a wake-up costs one read.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if self.read_drained.load(Ordering::Relaxed) {
            ready!(self.poll_readable(cx));
        }
        loop {
            match (&mut self.socket.get_ref()).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(n) => {
                    let drained = n > 0 && n < buf.len();
                    self.read_drained.store(drained, Ordering::Relaxed);
                    return Poll::Ready(Ok(n));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
            ready!(self.socket.poll_readable(cx))?;
        }
    }

    /// The socket, for what is written outside the wire's queue (the closing handshake's
    /// reads and writes go through `PlainSocket`).
    pub fn socket(&self) -> &Async<std::net::TcpStream> {
        &self.socket
    }

    /// The writer task's flush: writes everything pending, waiting while the socket is
    /// full; an error once writing failed.
    pub async fn flush(&self, budget: &SendBudget) -> io::Result<()> {
        loop {
            let flushed = self.try_write(budget, &mut self.lock());
            match flushed {
                Flushed::All => return Ok(()),
                Flushed::Failed => return Err(io::ErrorKind::BrokenPipe.into()),
                Flushed::Partly => self.socket.writable().await?,
            }
        }
    }
}

/// Drops the first `n` bytes of what is pending.
fn advance(budget: &SendBudget, pending: &mut Pending, mut n: usize) {
    pending.len -= n;
    budget.wire_shrank(pending.len);
    while n > 0 {
        let Some(chunk) = pending.chunks.front() else {
            // The rest is in `open`, written last.
            pending.open.advance(n);
            break;
        };
        let left = chunk.len() - pending.written;
        if n < left {
            pending.written += n;
            return;
        }
        n -= left;
        pending.written = 0;
        pending.chunks.pop_front();
    }
    // All written after a burst larger than one write: not kept for the next batch.
    if pending.chunks.is_empty() && pending.chunks.capacity() > MAX_SLICES {
        pending.chunks = VecDeque::new();
    }
    if pending.open.is_empty() && pending.open.capacity() > MAX_OPEN_CAPACITY {
        pending.open = BytesMut::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `pending` would write next, all of it.
    fn next_bytes(pending: &Pending) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let count = pending.slices(&mut slices);
        slices[..count]
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    #[test]
    fn frames_in_place_and_whole_frames_keep_their_order_across_partial_writes() {
        let budget = SendBudget::new(1 << 20);
        let mut pending = Pending::default();
        let mut expected = Vec::new();
        for round in 0..50u8 {
            let small = vec![round; 3 + round as usize % 7];
            pending.push_encoded(&budget, |out| out.extend_from_slice(&small));
            expected.extend_from_slice(&small);
            if round % 3 == 0 {
                let whole = vec![round ^ 0xAA; 11];
                pending.push(&budget, Bytes::from(whole.clone()));
                expected.extend_from_slice(&whole);
            }
            // Write an odd amount, as a socket that takes part of a batch would.
            let n = (expected.len() / 2).max(1).min(pending.len);
            assert_eq!(next_bytes(&pending), expected);
            advance(&budget, &mut pending, n);
            expected.drain(..n);
            assert_eq!(pending.len, expected.len());
        }
        let rest = pending.len;
        advance(&budget, &mut pending, rest);
        assert!(next_bytes(&pending).is_empty());
        assert!(!budget.wire_holds_bytes());
    }

    #[test]
    fn nothing_is_pushed_once_writing_failed() {
        let budget = SendBudget::new(1 << 20);
        let mut pending = Pending {
            failed: true,
            ..Pending::default()
        };
        pending.push_encoded(&budget, |out| out.extend_from_slice(b"x"));
        pending.push(&budget, Bytes::from_static(b"y"));
        assert_eq!(pending.len, 0);
        assert!(next_bytes(&pending).is_empty());
    }
}
