//! The drain: the listener closed at once, WebSockets closed over most of a timeout, and a
//! wake-up for the host once everything is done.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::Timer;

use super::Server;
use crate::conn::Conn;
use crate::event::Event;
use crate::runtime;

/// How often a drain looks whether everything has closed.
const DRAIN_CHECK: Duration = Duration::from_millis(20);

/// What a drain closes connections with, and when it stops waiting for them.
pub(super) struct DrainPlan {
    pub(super) code: u16,
    pub(super) reason: String,
    pub(super) deadline: Instant,
}

impl Server {
    /// Drains the app: stops listening at once (the port is free when this returns), lets
    /// HTTP requests in flight finish (their answers say `Connection: close`), and closes every
    /// WebSocket with `code` and `reason` after what was queued for it, spread over 80% of
    /// `timeout` so that reconnecting clients do not come back as one wave. `drained` says
    /// when it is over; a second call changes nothing.
    pub fn drain(&self, timeout: Duration, code: u16, reason: &str) {
        let shared = &self.shared;
        if shared.stopping.load(Ordering::Acquire) || shared.draining.swap(true, Ordering::AcqRel) {
            return;
        }
        let started = Instant::now();
        *shared.drain.lock() = Some(DrainPlan {
            code,
            reason: reason.to_owned(),
            deadline: started + timeout,
        });
        if let Some(task) = self.accept_task.lock().take() {
            // Cancelling drops the listener, which closes the socket.
            smol::block_on(task.cancel());
        }
        let open: Vec<Arc<Conn>> = shared.live.lock().values().cloned().collect();
        let (spread, reason) = (timeout.mul_f64(0.8), reason.to_owned());
        let draining = shared.clone();
        let closing = async move {
            let count = open.len().max(1) as f64;
            for (i, conn) in open.iter().enumerate() {
                Timer::at(started + spread.mul_f64(i as f64 / count)).await;
                conn.close(code, &reason);
            }
            // A host blocked in `wait` hears when the drain is over (no event may be left to
            // wake it: an app with nothing open has none at all).
            let deadline = started + timeout;
            while !draining.is_idle() && Instant::now() < deadline {
                Timer::after(DRAIN_CHECK).await;
            }
            draining.sink.push(Event::Wake);
        };
        runtime::spawn(closing).detach();
    }

    /// Whether a drain is over: every WebSocket closed and every HTTP connection done, or its
    /// timeout passed. False when no drain was asked for.
    pub fn drained(&self) -> bool {
        let shared = &self.shared;
        let Some(deadline) = shared.drain.lock().as_ref().map(|plan| plan.deadline) else {
            return false;
        };
        self.is_idle() || Instant::now() >= deadline
    }
}
