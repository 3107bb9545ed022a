//! An app's event queue. I/O threads push one event at a time under a short lock; the host
//! that polls takes everything queued at once into a deque of its own and pops from there
//! without touching what the I/O threads share. A host that blocks registers a `Waiter`,
//! which the next push wakes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};

/// A deque emptied by the host keeps at most this many slots: after a burst, the memory of
/// the burst goes back.
const KEPT_SLOTS: usize = 1024;

/// The pushing end, one per app, shared by the I/O threads.
pub(crate) struct Inbox<T> {
    shared: Mutex<Shared<T>>,
    /// Something is queued (set and cleared under the lock): a host that polls in a loop
    /// finds the queue empty with one load, not by taking the lock the pushes need.
    queued: AtomicBool,
}

struct Shared<T> {
    queued: VecDeque<T>,
    /// The host end is gone: pushes are refused.
    closed: bool,
    /// Hosts blocked until something is pushed.
    waiters: Vec<Arc<Waiter>>,
}

/// The host's end: what it took and has not handed out yet.
pub(crate) struct Taker<T> {
    inbox: Arc<Inbox<T>>,
    taken: Mutex<VecDeque<T>>,
}

/// Creates an app's queue: the end the I/O threads push to and the end the host takes from.
pub(crate) fn inbox<T>() -> (Arc<Inbox<T>>, Taker<T>) {
    let inbox = Arc::new(Inbox {
        shared: Mutex::new(Shared {
            queued: VecDeque::new(),
            closed: false,
            waiters: Vec::new(),
        }),
        queued: AtomicBool::new(false),
    });
    let taker = Taker {
        inbox: inbox.clone(),
        taken: Mutex::new(VecDeque::new()),
    };
    (inbox, taker)
}

impl<T> Inbox<T> {
    /// Queues `item` and wakes the hosts waiting for one; false (and `item` dropped) once
    /// the host end is gone.
    pub fn push(&self, item: T) -> bool {
        let mut shared = self.shared.lock();
        if shared.closed {
            drop(shared);
            return false;
        }
        shared.queued.push_back(item);
        if !self.queued.load(Ordering::Relaxed) {
            self.queued.store(true, Ordering::Release);
        }
        // A waiter stays listed until its host stops waiting; once woken it costs a load.
        for waiter in &shared.waiters {
            waiter.wake();
        }
        true
    }

    fn is_empty(&self) -> bool {
        !self.queued.load(Ordering::Acquire)
    }

    fn watch(&self, waiter: &Arc<Waiter>) {
        self.shared.lock().waiters.push(waiter.clone());
    }

    fn unwatch(&self, waiter: &Arc<Waiter>) {
        self.shared
            .lock()
            .waiters
            .retain(|w| !Arc::ptr_eq(w, waiter));
    }
}

impl<T> Taker<T> {
    /// The host's view of the queue while it takes events (one host at a time).
    pub fn taking(&self) -> Taking<'_, T> {
        Taking {
            inbox: &self.inbox,
            taken: self.taken.lock(),
        }
    }

    /// Whether no event waits, neither taken nor queued.
    pub fn is_empty(&self) -> bool {
        self.taken.lock().is_empty() && self.inbox.is_empty()
    }

    /// Lists `waiter` to be woken by the next push; `false` when events already wait (it is
    /// then not listed).
    pub fn watch(&self, waiter: &Arc<Waiter>) -> bool {
        self.inbox.watch(waiter);
        // Checked after listing, so a push in between is never missed.
        if self.is_empty() {
            return true;
        }
        self.inbox.unwatch(waiter);
        false
    }

    pub fn unwatch(&self, waiter: &Arc<Waiter>) {
        self.inbox.unwatch(waiter);
    }
}

impl<T> Drop for Taker<T> {
    /// Refuses further pushes; what was queued is dropped here, outside the lock.
    fn drop(&mut self) {
        let queued = {
            let mut shared = self.inbox.shared.lock();
            shared.closed = true;
            std::mem::take(&mut shared.queued)
        };
        drop(queued);
    }
}

/// The host taking events: `next` pops what it took, and takes everything queued again
/// when that is used up.
pub(crate) struct Taking<'a, T> {
    inbox: &'a Inbox<T>,
    taken: MutexGuard<'a, VecDeque<T>>,
}

impl<T> Iterator for Taking<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if let Some(item) = self.taken.pop_front() {
            return Some(item);
        }
        if self.inbox.is_empty() {
            return None;
        }
        if self.taken.capacity() > KEPT_SLOTS {
            self.taken.shrink_to(KEPT_SLOTS);
        }
        // Swapped, not copied: the I/O threads get the host's empty deque back.
        let mut shared = self.inbox.shared.lock();
        std::mem::swap(&mut *self.taken, &mut shared.queued);
        self.inbox.queued.store(false, Ordering::Release);
        drop(shared);
        self.taken.pop_front()
    }
}

/// A blocked host: woken once by whatever it watches.
pub(crate) struct Waiter {
    thread: Thread,
    woken: AtomicBool,
}

impl Waiter {
    /// The calling thread's waiter, ready for a new wait (one per thread, kept).
    pub fn current() -> Arc<Waiter> {
        thread_local! {
            static WAITER: Arc<Waiter> = Arc::new(Waiter {
                thread: std::thread::current(),
                woken: AtomicBool::new(false),
            });
        }
        let waiter = WAITER.with(Arc::clone);
        waiter.woken.store(false, Ordering::Release);
        waiter
    }

    pub fn wake(&self) {
        if !self.woken.load(Ordering::Acquire) && !self.woken.swap(true, Ordering::AcqRel) {
            self.thread.unpark();
        }
    }

    /// Blocks until woken (true) or `deadline` passes (false).
    pub fn wait(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.woken.load(Ordering::Acquire) {
                return true;
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return self.woken.load(Ordering::Acquire);
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn events_come_out_in_order_across_refills() {
        let (inbox, taker) = inbox::<u32>();
        for i in 0..3 {
            assert!(inbox.push(i));
        }
        let mut taking = taker.taking();
        assert_eq!(taking.next(), Some(0));
        // Pushed while the host holds what it took: comes after it.
        assert!(inbox.push(3));
        let rest: Vec<u32> = taking.by_ref().collect();
        assert_eq!(rest, [1, 2, 3]);
        drop(taking);
        assert!(taker.is_empty());
    }

    #[test]
    fn a_push_after_the_host_end_is_gone_is_refused() {
        let (inbox, taker) = inbox::<Arc<u8>>();
        let item = Arc::new(1);
        assert!(inbox.push(item.clone()));
        drop(taker);
        // The queued one was dropped with the host end, the new one is not kept.
        assert_eq!(Arc::strong_count(&item), 1);
        assert!(!inbox.push(item.clone()));
        assert_eq!(Arc::strong_count(&item), 1);
    }

    #[test]
    fn a_push_wakes_a_waiting_host() {
        let (inbox, taker) = inbox::<u32>();
        let waiter = Waiter::current();
        assert!(taker.watch(&waiter));
        let pusher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            inbox.push(7);
            inbox
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(waiter.wait(Some(deadline)));
        taker.unwatch(&waiter);
        let _inbox = pusher.join().unwrap();
        assert_eq!(taker.taking().next(), Some(7));
    }

    #[test]
    fn a_wait_ends_at_its_deadline_and_watch_sees_what_waits() {
        let (inbox, taker) = inbox::<u32>();
        let waiter = Waiter::current();
        assert!(taker.watch(&waiter));
        assert!(!waiter.wait(Some(Instant::now() + Duration::from_millis(10))));
        taker.unwatch(&waiter);
        inbox.push(1);
        let waiter = Waiter::current();
        assert!(!taker.watch(&waiter), "an event already waits");
    }
}
