//! The write side of a plain-TCP connection, shared by the host thread and the I/O thread
//! (SPEC §7 "direct write").
//!
//! The host writes the frames it sends straight to the socket while nothing else is queued,
//! so a reply needs no wake-up of the I/O thread. Only when the socket would block does the
//! connection's writer task take over the rest. Everything that writes to the socket (the
//! host, and the writer task with its pongs and close frames) goes through one lock per
//! connection, so frames never interleave mid-way; the host only ever `try_lock`s it and
//! hands off to the writer task when it is taken.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Context;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::{Mutex, MutexGuard};
use smol::net::TcpStream;
use smol::Async;

/// Flags for `sendmsg`: a peer that went away must not kill the host with SIGPIPE (Rust
/// programs ignore the signal; C and LuaJIT hosts usually do not).
#[cfg(any(target_os = "linux", target_os = "android"))]
const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SEND_FLAGS: i32 = 0;

/// The most frame slots an emptied queue keeps (16 bytes each).
const IDLE_QUEUE_CAPACITY: usize = 8;

/// At most this many queued frames go out in one `sendmsg`.
const MAX_SLICES: usize = 64;

pub struct Wire {
    socket: Arc<Async<std::net::TcpStream>>,
    /// The connection's `max_send_queue`: below it, a reader waiting for room is woken.
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
    /// A close frame was received or is being sent: only the writer's frames (the close
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
        // All written after a burst: an idle connection keeps no queue.
        if pending.chunks.is_empty() && pending.chunks.capacity() > IDLE_QUEUE_CAPACITY {
            pending.chunks = VecDeque::new();
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

    /// Registers a reader that waits for what is pending to fall below the limit.
    pub fn register_drained(&self, cx: &Context<'_>) {
        self.drained.register(cx.waker());
        self.full.store(true, Ordering::Release);
    }

    /// Whether writing failed.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
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
