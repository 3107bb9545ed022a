//! Waiting for events: a host blocks in `wait` (one app) or `wait_any` (several), after
//! writing what it sent; a short spin first only when `LUNA_WAIT_SPIN_US` asks for one.

use std::time::{Duration, Instant};

use super::App;
use crate::error::Result;
use crate::inbox::Waiter;
use crate::interrupt;

impl App {
    /// Blocks until an event is pending or `timeout` passes (`None` = forever).
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        wait_any(&[self], timeout)
    }

    /// The descriptor that is readable while events are pending.
    pub fn fd(&self) -> Result<i64> {
        self.wakeup.fd()
    }
}

/// Blocks until one of `apps` has an event pending or `timeout` passes (`None` = forever).
pub(crate) fn wait_any(apps: &[&App], timeout: Option<Duration>) -> bool {
    for app in apps {
        app.batch.host_waits();
        app.flush();
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    if interrupt::pending() || spin_until_pending(apps, timeout) {
        return true;
    }
    let waiter = Waiter::current();
    // A caught signal (luna_signals_catch) ends every wait at once.
    let _signals = interrupt::watch(&waiter);
    let mut watched = 0;
    // An app with events already waiting ends the wait before it blocks.
    let mut ready = interrupt::pending();
    for app in apps {
        if ready || !app.events.watch(&waiter) {
            ready = true;
            break;
        }
        watched += 1;
    }
    let ready = ready || waiter.wait(deadline);
    for app in &apps[..watched] {
        app.events.unwatch(&waiter);
    }
    ready
}

/// Checks for pending events, for up to `LUNA_WAIT_SPIN_US` microseconds (default 0: once)
/// before the caller parks. Opt-in: spinning keeps the host's CPU awake, which saves the
/// wake-up of a parked thread (tens of µs on a VM) but burns CPU and hurts when the host
/// shares its CPU with the I/O thread.
fn spin_until_pending(apps: &[&App], timeout: Option<Duration>) -> bool {
    let pending = || apps.iter().any(|a| !a.events.is_empty());
    let spin = timeout.map_or(spin_budget(), |t| t.min(spin_budget()));
    if spin.is_zero() {
        return pending();
    }
    let start = Instant::now();
    loop {
        if pending() {
            return true;
        }
        if start.elapsed() >= spin {
            return false;
        }
        std::hint::spin_loop();
    }
}

fn spin_budget() -> Duration {
    static SPIN: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *SPIN.get_or_init(|| {
        let micros = std::env::var("LUNA_WAIT_SPIN_US")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        Duration::from_micros(micros.min(1_000_000))
    })
}
