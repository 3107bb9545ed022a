//! A connection's closing handshake, as far as sending goes: one close frame at most, after
//! which nothing of ours is admitted.

use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::task::Poll;

use super::path::{Outgoing, SendPath};

impl SendPath {
    /// Starts the closing handshake; a second call is a no-op. Arguments are trusted here.
    pub fn close(&self, code: u16, reason: &str) {
        if self.close_sent.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.our_close.lock() = Some(Box::new((code, reason.to_owned())));
        self.queue_close(Some((code, reason)));
    }

    /// Answers the peer's close frame by echoing its code and reason (RFC 6455 §5.5.1),
    /// unless we sent one already; returns whether it queued the answer.
    pub fn answer_close(&self, peer: Option<(u16, &str)>) -> bool {
        if self.close_sent.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.queue_close(peer);
        true
    }

    fn queue_close(&self, close: Option<(u16, &str)>) {
        self.closing.wake();
        let item = Outgoing {
            frame: self.encoder.close_frame(close),
            close: true,
        };
        self.queue(item);
    }

    /// Drops everything queued and closes with 1008: the peer reads too slowly.
    pub(super) fn close_overflowing(&self) {
        if self.is_closing() {
            return;
        }
        while let Some(item) = self.outbox.try_pop() {
            self.budget.outbox_shrank(item.frame.len());
        }
        self.close(1008, "send queue full");
    }

    pub fn is_closing(&self) -> bool {
        self.close_sent.load(Ordering::Acquire)
    }

    /// The close frame we sent, if we did.
    pub fn our_close(&self) -> Option<(u16, String)> {
        self.our_close.lock().as_deref().cloned()
    }

    /// Waits until a close has been requested.
    pub async fn closing_requested(&self) {
        poll_fn(|cx| {
            self.closing.register(cx.waker());
            match self.is_closing() {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
        .await
    }
}
