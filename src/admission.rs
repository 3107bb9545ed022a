//! What a server holds for connections that are not (yet) WebSockets, and the caps on it:
//! handshakes in progress, plain HTTP connections, and the bytes of request bodies in
//! flight. Each holder is a guard value, so every way out of a phase gives its place back.
//!
//! Decisions: a new connection counts as a handshake (against `max_connections`, with the
//! open WebSockets) until its first request turns out to be plain HTTP; from then on it
//! counts against `max_http_connections` only, so downloads and keep-alive browsers can never
//! lock WebSocket upgrades out, and a flood of HTTP requests is answered 503 without touching
//! the WebSocket slots.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The server-wide counts.
#[derive(Debug, Default)]
pub(crate) struct Phases {
    handshaking: AtomicUsize,
    http: AtomicUsize,
}

impl Phases {
    /// Connections accepted and not yet open WebSockets, nor plain HTTP connections.
    pub(crate) fn handshaking(&self) -> usize {
        self.handshaking.load(Ordering::Acquire)
    }

    /// Connections serving plain HTTP requests (or waiting for the next on a keep-alive).
    pub(crate) fn http(&self) -> usize {
        self.http.load(Ordering::Acquire)
    }
}

const HANDSHAKE: u8 = 0;
const HTTP: u8 = 1;
const RELEASED: u8 = 2;

/// One connection's place in [`Phases`]; dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct Slot {
    phases: Arc<Phases>,
    /// Atomic only so that `&Slot` may cross `.await` on a multi-threaded executor.
    phase: AtomicU8,
}

impl Slot {
    /// A new connection, counted as a handshake.
    pub(crate) fn handshake(phases: &Arc<Phases>) -> Slot {
        phases.handshaking.fetch_add(1, Ordering::AcqRel);
        Slot {
            phases: phases.clone(),
            phase: AtomicU8::new(HANDSHAKE),
        }
    }

    /// Moves this connection to the plain-HTTP count; false (and no move) when `max` HTTP
    /// connections are already served.
    pub(crate) fn to_http(&self, max: usize) -> bool {
        if self.phase.load(Ordering::Acquire) == HTTP {
            return true;
        }
        let taken = self
            .phases
            .http
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        if taken.is_err() {
            return false;
        }
        self.leave(HTTP);
        true
    }

    /// Moves a keep-alive HTTP connection that now asks for a WebSocket back to the
    /// handshake count.
    pub(crate) fn to_handshake(&self) {
        if self.phase.load(Ordering::Acquire) == HTTP {
            self.phases.handshaking.fetch_add(1, Ordering::AcqRel);
            self.leave(HANDSHAKE);
        }
    }

    /// Leaves the current phase for `next` (already counted there by the caller).
    fn leave(&self, next: u8) {
        match self.phase.swap(next, Ordering::AcqRel) {
            HANDSHAKE => self.phases.handshaking.fetch_sub(1, Ordering::AcqRel),
            HTTP => self.phases.http.fetch_sub(1, Ordering::AcqRel),
            _ => 0,
        };
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.leave(RELEASED);
    }
}

/// The bytes all request bodies being read, or waiting for the host's answer, may hold
/// together.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    used: AtomicUsize,
    max: usize,
}

impl BodyBudget {
    pub(crate) fn new(max: usize) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            used: AtomicUsize::new(0),
            max,
        })
    }

    /// Reserves `len` bytes; `None` when that would pass the budget.
    pub(crate) fn take(self: &Arc<Self>, len: usize) -> Option<BodyLease> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(len).filter(|&total| total <= self.max)
            })
            .ok()?;
        Some(BodyLease {
            budget: self.clone(),
            len,
        })
    }

    /// Bytes reserved now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// A body's share of the [`BodyBudget`], given back on drop.
#[derive(Debug)]
pub(crate) struct BodyLease {
    budget: Arc<BodyBudget>,
    len: usize,
}

impl Drop for BodyLease {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.len, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_counted_in_exactly_one_phase_until_dropped() {
        let phases = Arc::new(Phases::default());
        let a = Slot::handshake(&phases);
        let b = Slot::handshake(&phases);
        assert_eq!((phases.handshaking(), phases.http()), (2, 0));
        assert!(a.to_http(1));
        assert!(a.to_http(1), "already there");
        assert_eq!((phases.handshaking(), phases.http()), (1, 1));
        assert!(!b.to_http(1), "the HTTP cap is full");
        assert_eq!((phases.handshaking(), phases.http()), (1, 1));
        a.to_handshake();
        assert_eq!((phases.handshaking(), phases.http()), (2, 0));
        drop(a);
        drop(b);
        assert_eq!((phases.handshaking(), phases.http()), (0, 0));
    }

    #[test]
    fn the_body_budget_refuses_past_its_size_and_returns_on_drop() {
        let budget = BodyBudget::new(100);
        let first = budget.take(60).unwrap();
        assert!(budget.take(41).is_none());
        let second = budget.take(40).unwrap();
        assert_eq!(budget.used(), 100);
        assert!(budget.take(usize::MAX).is_none(), "no overflow");
        drop(first);
        drop(second);
        assert_eq!(budget.used(), 0);
    }
}

/// Open WebSocket connections (and handshakes past the decision) per client address, for
/// `max_connections_per_ip`.
#[derive(Debug, Default)]
pub(crate) struct PerAddress {
    counts: parking_lot::Mutex<std::collections::HashMap<std::net::IpAddr, u32>>,
}

impl PerAddress {
    /// Takes one of `max` places of `ip`; `None` when all are taken.
    pub(crate) fn take(self: &Arc<Self>, ip: std::net::IpAddr, max: u32) -> Option<AddressSlot> {
        let mut counts = self.counts.lock();
        let count = counts.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            owner: self.clone(),
            ip,
        })
    }
}

/// One connection's place among its address's; dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    owner: Arc<PerAddress>,
    ip: std::net::IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock();
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod per_address_tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_places_and_gets_them_back() {
        let per = Arc::new(PerAddress::default());
        let ip: std::net::IpAddr = "203.0.113.7".parse().unwrap();
        let a = per.take(ip, 2).unwrap();
        let _b = per.take(ip, 2).unwrap();
        assert!(per.take(ip, 2).is_none());
        assert!(per.take("203.0.113.8".parse().unwrap(), 2).is_some());
        drop(a);
        assert!(per.take(ip, 2).is_some());
        assert!(per.counts.lock().len() <= 2, "empty entries are removed");
    }
}

/// Handshakes per second one client address may start (`max_handshake_rate_per_ip`), as a
/// token bucket per address that holds one second's worth.
#[derive(Debug)]
pub(crate) struct HandshakeRate {
    per_second: f64,
    buckets: parking_lot::Mutex<std::collections::HashMap<std::net::IpAddr, (f64, Instant)>>,
}

/// Addresses remembered before the full buckets (addresses quiet for a second) are forgotten.
const RATE_ADDRESSES: usize = 1 << 16;

impl HandshakeRate {
    pub(crate) fn new(per_second: u32) -> HandshakeRate {
        HandshakeRate {
            per_second: f64::from(per_second.max(1)),
            buckets: Default::default(),
        }
    }

    /// Whether `ip` may start a handshake at `now` (and takes its token if so).
    pub(crate) fn allow(&self, ip: std::net::IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock();
        if buckets.len() >= RATE_ADDRESSES {
            let full = Duration::from_secs(1);
            buckets.retain(|_, (_, last)| now.saturating_duration_since(*last) < full);
        }
        let (tokens, last) = buckets.entry(ip).or_insert((self.per_second, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.per_second).min(self.per_second);
        *last = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod handshake_rate_tests {
    use super::*;

    #[test]
    fn an_address_gets_its_rate_and_others_are_unaffected() {
        let rate = HandshakeRate::new(5);
        let (ip, other) = (
            "203.0.113.7".parse().unwrap(),
            "203.0.113.8".parse().unwrap(),
        );
        let now = Instant::now();
        assert!((0..5).all(|_| rate.allow(ip, now)));
        assert!(!rate.allow(ip, now));
        assert!(rate.allow(other, now));
        assert!(
            rate.allow(ip, now + Duration::from_millis(200)),
            "one token back"
        );
        assert!(!rate.allow(ip, now + Duration::from_millis(200)));
    }

    #[test]
    fn the_table_forgets_quiet_addresses_when_it_is_full() {
        let rate = HandshakeRate::new(1);
        let now = Instant::now();
        for i in 0..RATE_ADDRESSES as u32 {
            rate.allow(std::net::IpAddr::from(i.to_be_bytes()), now);
        }
        let later = now + Duration::from_secs(2);
        assert!(rate.allow("198.51.100.1".parse().unwrap(), later));
        assert_eq!(rate.buckets.lock().len(), 1);
    }
}
