//! A connection's outgoing queue: the host pushes without taking any lock the I/O thread
//! also takes, and wakes the writer task only when it is waiting.
//!
//! An async channel would notify through event-listener, whose list sits behind a mutex
//! that both sides take on every message. The queue itself (two cache-padded heads, about
//! 0.4 KiB) is only made on the first push: most connections whose host writes directly
//! never need one.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::task::Poll;

use crossbeam_channel::{Receiver, Sender};
use futures_util::task::AtomicWaker;

pub struct Outbox<T> {
    queue: OnceLock<(Sender<T>, Receiver<T>)>,
    writer: AtomicWaker,
    closed: AtomicBool,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Outbox {
            queue: OnceLock::new(),
            writer: AtomicWaker::new(),
            closed: AtomicBool::new(false),
        }
    }
}

impl<T> Outbox<T> {
    /// Queues `item` and wakes the writer if it waits; gives `item` back once closed.
    pub fn push(&self, item: T) -> Result<(), T> {
        if self.closed.load(Ordering::Acquire) {
            return Err(item);
        }
        let (tx, _) = self.queue.get_or_init(crossbeam_channel::unbounded);
        tx.send(item).map_err(|e| e.into_inner())?;
        self.writer.wake();
        Ok(())
    }

    /// The next queued item, if any, without waiting.
    pub fn try_pop(&self) -> Option<T> {
        self.queue.get()?.1.try_recv().ok()
    }

    /// Waits for the next item; `None` once closed and drained.
    pub async fn pop(&self) -> Option<T> {
        poll_fn(|cx| {
            if let Some(item) = self.try_pop() {
                return Poll::Ready(Some(item));
            }
            self.writer.register(cx.waker());
            // Checked again after registering, so a push in between is never missed.
            match self.try_pop() {
                Some(item) => Poll::Ready(Some(item)),
                None if self.closed.load(Ordering::Acquire) => Poll::Ready(None),
                None => Poll::Pending,
            }
        })
        .await
    }

    pub fn is_empty(&self) -> bool {
        self.queue.get().is_none_or(|(_, rx)| rx.is_empty())
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Registers the writer task to be woken by the next push or by `close`.
    pub fn register(&self, cx: &std::task::Context<'_>) {
        self.writer.register(cx.waker());
    }

    /// Refuses further pushes and wakes the writer so it can finish.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.writer.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_out_in_order_and_close_ends_the_stream() {
        let outbox = std::sync::Arc::new(Outbox::default());
        let writer = {
            let outbox = outbox.clone();
            std::thread::spawn(move || {
                smol::block_on(async {
                    let mut got = Vec::new();
                    while let Some(item) = outbox.pop().await {
                        got.push(item);
                    }
                    got
                })
            })
        };
        for i in 0..10_000 {
            outbox.push(i).unwrap();
        }
        outbox.close();
        assert_eq!(outbox.push(-1), Err(-1));
        assert_eq!(writer.join().unwrap(), (0..10_000).collect::<Vec<_>>());
    }
}
