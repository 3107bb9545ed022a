//! The I/O side of a connection's send path: its writer task takes what the host could not
//! write, and its reader pauses while the send queue is full.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use super::path::{Outgoing, SendPath};
use crate::wire::Wire;

impl SendPath {
    /// The connection ended: later sends answer "closed", and what waits is freed.
    pub fn end(&self) {
        self.outbox.close();
        while let Some(item) = self.outbox.try_pop() {
            self.budget.outbox_shrank(item.frame.len());
        }
        if let Some(wire) = self.wire() {
            wire.discard(&self.budget, &mut wire.lock());
        }
    }

    fn has_room(&self) -> bool {
        self.budget.has_room()
            || self.outbox.is_closed()
            || self.wire().is_some_and(|w| w.is_broken())
    }

    /// Waits while `max_send_queue` bytes wait to be written: the reader calls it before
    /// reading on, so a peer that does not read its pongs (or anything else) stops being read.
    pub async fn room(&self) {
        poll_fn(|cx| {
            if self.has_room() {
                return Poll::Ready(());
            }
            self.budget.wait_for_room(cx);
            if let Some(wire) = self.wire() {
                wire.wake_flusher();
            }
            // Checked again after registering, so a drain in between is never missed.
            match self.has_room() {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
        .await
    }

    /// Writer task of a TLS connection: the next frame, waiting for one; `None` once the
    /// connection ended.
    pub async fn next_frame(&self) -> Option<Outgoing> {
        let item = self.outbox.pop().await?;
        self.budget.outbox_shrank(item.frame.len());
        Some(item)
    }

    /// Like `next_frame`, without waiting.
    pub fn try_next_frame(&self) -> Option<Outgoing> {
        let item = self.outbox.try_pop()?;
        self.budget.outbox_shrank(item.frame.len());
        Some(item)
    }

    /// Writer task of a connection with a wire: waits until there is something to do;
    /// `false` once the connection ended.
    pub async fn writer_has_work(&self, wire: &Wire) -> bool {
        poll_fn(|cx: &mut Context<'_>| self.poll_writer_has_work(wire, cx)).await
    }

    /// `writer_has_work` as a poll, for a wait that also watches the socket.
    pub fn poll_writer_has_work(&self, wire: &Wire, cx: &Context<'_>) -> Poll<bool> {
        self.outbox.register(cx);
        wire.register_flusher(cx);
        // Checked after registering, so a push or a hand-off in between is never missed.
        if !self.outbox.is_empty() || wire.needs_writer(&self.budget) {
            Poll::Ready(true)
        } else if self.outbox.is_closed() {
            Poll::Ready(false)
        } else {
            Poll::Pending
        }
    }

    /// Writer task of a connection with a wire: moves queued frames to the wire; returns
    /// whether the close frame was among them (nothing follows it).
    pub fn move_to_wire(&self, wire: &Wire) -> bool {
        // Draining under the wire's lock keeps the host's direct writes behind these.
        let mut pending = wire.lock();
        while let Some(item) = self.outbox.try_pop() {
            self.budget.outbox_shrank(item.frame.len());
            if pending.is_closing() {
                continue;
            }
            if item.close {
                wire.push_close(&self.budget, &mut pending, item.frame);
                return true;
            }
            wire.push(&self.budget, &mut pending, item.frame);
        }
        false
    }

    /// Writer task of a connection with a wire: writes everything on it, waiting while the
    /// socket is full; an error once writing failed.
    pub async fn flush_wire(&self, wire: &Wire) -> io::Result<()> {
        wire.flush(&self.budget).await
    }
}
