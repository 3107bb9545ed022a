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
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
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

/// The most frame slots an emptied queue keeps (16 bytes each).
const IDLE_QUEUE_CAPACITY: usize = 8;

/// At most this many queued frames go out in one `sendmsg`.
const MAX_SLICES: usize = 64;

pub struct Wire {
    socket: Arc<Async<std::net::TcpStream>>,
    state: Mutex<Pending>,
    /// Writing failed (also in `Pending`): readable without the lock by the writer task.
    broken: AtomicBool,
    /// The writer task, woken when bytes are left that only it can finish writing.
    flusher: AtomicWaker,
}

/// Whole frames accepted but not yet written, oldest first.
#[derive(Default)]
pub struct Pending {
    chunks: VecDeque<Bytes>,
    /// Bytes in `chunks` not yet written; mirrored in the connection's `SendBudget`.
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
}

impl Wire {
    pub fn new(socket: TcpStream) -> Arc<Wire> {
        Arc::new(Wire {
            socket: socket.into(),
            state: Mutex::new(Pending::default()),
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

    /// Appends a whole frame behind what is pending (dropped once writing failed).
    pub fn push(&self, budget: &SendBudget, pending: &mut Pending, frame: Bytes) {
        if !pending.failed && !frame.is_empty() {
            pending.len += frame.len();
            budget.wire_grew(pending.len);
            pending.chunks.push_back(frame);
        }
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
        while !pending.chunks.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            for (i, chunk) in pending.chunks.iter().take(MAX_SLICES).enumerate() {
                let skip = if i == 0 { pending.written } else { 0 };
                slices[i] = IoSlice::new(&chunk[skip..]);
                count += 1;
            }
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
        pending.written = 0;
        pending.len = 0;
        budget.wire_emptied();
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
        self.socket.poll_readable(cx).map(|_| ())
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
