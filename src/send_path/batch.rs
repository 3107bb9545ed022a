//! The host's side of writing, per app: while the host handles a polled batch, its sends
//! are deferred and written together at the next flush (one write per connection, SPEC §7);
//! a host that blocks in `wait` writes its sends itself; one that never waits (a game loop)
//! leaves writing to the I/O thread, so its busy loop never shares a CPU with socket work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::encode::Broadcast;
use super::path::SendPath;
use crate::error::Result;
use crate::event::Opcode;

/// Who writes a frame the host sends to a connection with a wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    /// The host, now.
    Now,
    /// The host, when it flushes the batch it is handling.
    Batch,
    /// The I/O thread.
    IoThread,
}

/// Whether a send waits for the host's next flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    Deferred,
    Queued,
}

/// The most connections a waiting host writes to itself at the end of a batch.
const HOST_WRITES_AT_MOST: usize = 256;

/// Who writes what the host of one app sends, and the connections holding deferred frames.
#[derive(Default)]
pub(crate) struct HostBatch {
    /// Set from a poll that returned events until the next flush.
    open: AtomicBool,
    /// Set once the host blocks in `wait`.
    host_waits: AtomicBool,
    /// Connections holding deferred frames. Host threads only.
    deferred: Mutex<Vec<Arc<SendPath>>>,
}

impl HostBatch {
    /// A poll handed events to the host: what it sends now waits for the flush.
    pub fn open(&self) {
        self.open.store(true, Ordering::Relaxed);
    }

    /// The host blocks in `wait`: from now on it writes its sends itself.
    pub fn host_waits(&self) {
        self.host_waits.store(true, Ordering::Relaxed);
    }

    fn delivery(&self) -> Delivery {
        if self.open.load(Ordering::Relaxed) {
            Delivery::Batch
        } else if self.host_waits.load(Ordering::Relaxed) {
            Delivery::Now
        } else {
            Delivery::IoThread
        }
    }

    /// Copies `data` once and sends it on `path`.
    pub fn send(&self, path: &Arc<SendPath>, data: &[u8], opcode: Opcode) -> Result<()> {
        let sent = path.send_message(data, opcode, self.delivery())?;
        self.remember(path, sent);
        Ok(())
    }

    /// Sends one shared copy of `message` on `path`.
    pub fn send_broadcast(&self, path: &Arc<SendPath>, message: &Broadcast) -> Result<()> {
        let sent = path.send_broadcast(message, self.delivery())?;
        self.remember(path, sent);
        Ok(())
    }

    /// Remembers a connection that holds deferred frames, for the flush.
    fn remember(&self, path: &Arc<SendPath>, sent: Sent) {
        if sent == Sent::Deferred && !path.in_batch.swap(true, Ordering::AcqRel) {
            self.deferred.lock().push(path.clone());
        }
    }

    /// Writes what was sent during the batch and closes it: later sends go out at once.
    pub fn flush(&self) {
        self.open.store(false, Ordering::Relaxed);
        let mut deferred = self.deferred.lock();
        // A batch that touched many connections (a broadcast, a publish to a big room) goes
        // to the I/O thread: written by the host it would stall it for ~15 µs per socket.
        let direct =
            self.host_waits.load(Ordering::Relaxed) && deferred.len() <= HOST_WRITES_AT_MOST;
        for path in deferred.drain(..) {
            write_deferred(&path, direct);
        }
    }
}

/// Writes the frames the host deferred on `path` (`direct`), or has its writer task write
/// them; what the socket does not take, or what finds the wire taken, is the writer's.
fn write_deferred(path: &SendPath, direct: bool) {
    path.in_batch.store(false, Ordering::Release);
    if let Some(wire) = path.wire() {
        match wire.try_lock().filter(|_| direct) {
            Some(mut pending) => drop(wire.write_out(&path.budget, &mut pending)),
            None => wire.wake_flusher(),
        }
    }
}
