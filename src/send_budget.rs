//! How much one connection may hold unsent: its `max_send_queue`, the bytes waiting in its
//! outbox and on its wire, and the reader that pauses while they fill the queue. Every
//! writer of the connection counts here, so "can the send queue grow without bound?" is
//! answered in this file: a message is admitted only to an empty queue or one it still
//! fits in (`admit`), and one larger than the limit is never admitted (`check_size`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Context;

use futures_util::task::AtomicWaker;

use crate::error::{Error, ErrorKind, Result};

/// The send queue of one connection, held by its send path and its wire.
pub(crate) struct SendBudget {
    /// `max_send_queue`, at least 1.
    limit: usize,
    /// Bytes in the outbox, counted before the push so the writer never subtracts what was
    /// not added yet.
    in_outbox: AtomicUsize,
    /// Bytes on the wire not yet written; stored under the wire's lock.
    on_wire: AtomicUsize,
    /// The reader, paused while the queue is full, woken as it drains.
    drained: AtomicWaker,
    /// Set while the reader waits for `drained`.
    full: AtomicBool,
}

impl SendBudget {
    pub fn new(limit: usize) -> SendBudget {
        SendBudget {
            limit,
            in_outbox: AtomicUsize::new(0),
            on_wire: AtomicUsize::new(0),
            drained: AtomicWaker::new(),
            full: AtomicBool::new(false),
        }
    }

    /// Refuses a message the queue could never hold (see `check_size`).
    pub fn check_size(&self, len: usize) -> Result<()> {
        check_size(len, self.limit)
    }

    /// Bytes waiting to be written: in the outbox and on the wire.
    pub fn queued(&self) -> usize {
        self.in_outbox.load(Ordering::Acquire) + self.on_wire.load(Ordering::Acquire)
    }

    /// Whether `len` more bytes may wait; otherwise what is queued already. An empty queue
    /// takes any message (`check_size` refused those it could never hold).
    pub fn admit(&self, len: usize) -> std::result::Result<(), usize> {
        let queued = self.queued();
        match queued == 0 || queued + len <= self.limit {
            true => Ok(()),
            false => Err(queued),
        }
    }

    /// Whether the reader may read on: less than the limit waits.
    pub fn has_room(&self) -> bool {
        self.queued() < self.limit
    }

    /// `len` bytes are about to enter the outbox.
    pub fn outbox_grew(&self, len: usize) {
        self.in_outbox.fetch_add(len, Ordering::AcqRel);
    }

    /// `len` bytes left the outbox.
    pub fn outbox_shrank(&self, len: usize) {
        let before = self.in_outbox.fetch_sub(len, Ordering::AcqRel);
        if before - len < self.limit {
            self.wake_reader();
        }
    }

    /// The wire now holds `len` unwritten bytes, more than before.
    pub fn wire_grew(&self, len: usize) {
        self.on_wire.store(len, Ordering::Release);
    }

    /// The wire now holds `len` unwritten bytes, fewer than before.
    pub fn wire_shrank(&self, len: usize) {
        self.on_wire.store(len, Ordering::Release);
        if len < self.limit {
            self.wake_reader();
        }
    }

    /// The wire dropped everything it held (the connection ended).
    pub fn wire_emptied(&self) {
        self.on_wire.store(0, Ordering::Release);
        self.wake_reader();
    }

    /// Whether the wire holds unwritten bytes.
    pub fn wire_holds_bytes(&self) -> bool {
        self.on_wire.load(Ordering::Acquire) > 0
    }

    /// Registers the reader to be woken once the queue drains below the limit.
    pub fn wait_for_room(&self, cx: &Context<'_>) {
        self.drained.register(cx.waker());
        self.full.store(true, Ordering::Release);
    }

    fn wake_reader(&self) {
        if self.full.swap(false, Ordering::AcqRel) {
            self.drained.wake();
        }
    }
}

/// Refuses a message of `len` bytes (before framing and compression) that a send queue of
/// `max_send_queue` bytes could never hold. Anything smaller is admitted to an empty queue,
/// so the limit bounds what one connection may hold, whatever the host sends.
pub(crate) fn check_size(len: usize, max_send_queue: usize) -> Result<()> {
    if len <= max_send_queue {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::TooLarge,
        format!(
            "message of {len} bytes is larger than max_send_queue ({max_send_queue} bytes): it \
             can never be queued; raise max_send_queue or send it in parts"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_queue_takes_any_message_a_full_one_none() {
        let budget = SendBudget::new(100);
        assert!(budget.check_size(101).is_err());
        assert_eq!(budget.admit(100), Ok(()));
        budget.outbox_grew(60);
        budget.wire_grew(30);
        assert_eq!(budget.admit(10), Ok(()));
        assert_eq!(budget.admit(11), Err(90));
        assert!(budget.has_room());
        budget.wire_grew(40);
        assert!(!budget.has_room());
        budget.outbox_shrank(60);
        budget.wire_emptied();
        assert_eq!(budget.queued(), 0);
        assert_eq!(budget.admit(1000), Ok(()));
    }
}
