//! Bounds the bytes of messages an app has read but its host has not polled yet: past the
//! limit, connections stop reading (TCP then pushes back on the peers) until the host
//! catches up. The hot path is one atomic add per message and one subtract per poll.

use std::sync::atomic::{AtomicUsize, Ordering};

use event_listener::Event;

/// Undelivered message bytes per app before its connections pause reading.
pub const DEFAULT_BACKLOG_LIMIT: usize = 64 << 20;

pub struct Backlog {
    bytes: AtomicUsize,
    /// Bytes of messages (and frames) connections have begun to read and not finished: held
    /// in their buffers, not queued, so never polled away; bounded by the same limit.
    unfinished: AtomicUsize,
    limit: usize,
    drained: Event,
}

impl Backlog {
    /// A backlog that always lets one message of `max_message_size` through.
    pub fn new(max_message_size: usize) -> Backlog {
        let limit = DEFAULT_BACKLOG_LIMIT.max(max_message_size.saturating_add(1 << 20));
        Backlog {
            bytes: AtomicUsize::new(0),
            unfinished: AtomicUsize::new(0),
            limit,
            drained: Event::new(),
        }
    }

    /// Counts a queued message; true when the backlog is now over its limit.
    pub fn add(&self, len: usize) -> bool {
        self.bytes.fetch_add(len, Ordering::AcqRel) + len > self.limit
    }

    /// A connection now holds `after` bytes of unfinished messages instead of `before`; true
    /// when it grew and all connections together now hold more than the limit.
    pub fn hold(&self, before: usize, after: usize) -> bool {
        if after > before {
            let grown = after - before;
            self.unfinished.fetch_add(grown, Ordering::Relaxed) + grown > self.limit
        } else {
            self.unfinished.fetch_sub(before - after, Ordering::Relaxed);
            false
        }
    }

    /// Uncounts polled messages, waking paused readers once below the limit.
    pub fn remove(&self, len: usize) {
        if len == 0 {
            return;
        }
        let before = self.bytes.fetch_sub(len, Ordering::AcqRel);
        if before > self.limit && before - len <= self.limit {
            self.drained.notify(usize::MAX);
        }
    }

    /// Waits until the host has polled the backlog below its limit.
    pub async fn below_limit(&self) {
        loop {
            if self.bytes.load(Ordering::Acquire) <= self.limit {
                return;
            }
            let listener = self.drained.listen();
            // Checked again after listening, so a drain in between is never missed.
            if self.bytes.load(Ordering::Acquire) <= self.limit {
                return;
            }
            listener.await;
        }
    }
}
