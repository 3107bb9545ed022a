//! The host's table of open connections (those whose OPEN it polled and whose CLOSE it has
//! not), and the watch for a mass disconnect, after which the memory it freed is worth
//! handing back to the OS.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::App;
use crate::conn::{self, Conn};
use crate::error::{Error, Result};
use crate::id_hash::IdBuild;

/// The open connections by id.
pub(super) type ConnMap = HashMap<u64, Arc<Conn>, IdBuild>;

impl App {
    /// The host-side handle of an open connection.
    pub fn conn(&self, id: u64) -> Result<Arc<Conn>> {
        match self.conns.lock().get(&id) {
            Some(conn) => Ok(conn.clone()),
            None => Err(not_open(id)),
        }
    }

    /// An open connection, or one whose CLOSE the last poll returned: for reading what it
    /// was (request, addresses, TLS, compression), never for sending.
    pub fn conn_to_read(&self, id: u64) -> Result<Arc<Conn>> {
        self.conn(id)
            .or_else(|e| self.just_closed.lock().get(&id).cloned().ok_or(e))
    }

    /// Notes how many connections are open after a poll that brought `closes` CLOSE events;
    /// once a mass disconnect is over the map gives back its table, and
    /// `take_mass_disconnect` says so once.
    pub(super) fn watch_open(&self, conns: &mut ConnMap, closes: usize) {
        if !self.disconnects.lock().after_poll(conns.len(), closes) {
            return;
        }
        if conns.len() < conns.capacity() / 4 {
            conns.shrink_to_fit();
        }
        self.mass_disconnect.store(true, Ordering::Relaxed);
    }

    /// Whether a mass disconnect ended since the last call: at least 1000 connections ended,
    /// and more than half of the most that were open since the last one, and then a poll
    /// brought no CLOSE event (or a second passed).
    pub fn take_mass_disconnect(&self) -> bool {
        self.mass_disconnect.swap(false, Ordering::Relaxed)
    }
}

/// Why connection `id` is not in the map: closed, or never ours.
pub(super) fn not_open(id: u64) -> Error {
    if conn::was_issued(id) {
        Error::closed()
    } else {
        Error::invalid(format!("unknown connection id {id}"))
    }
}

/// Connections that must have ended, and at least half of the peak, for a poll to count as a
/// mass disconnect: what they held is then worth handing back to the OS (`luna_app_poll`),
/// while an app that loses a few connections now and then never pays for it.
const MASS_DISCONNECT: usize = 1000;

/// The longest a wave of CLOSE events is waited for once it counts as a mass disconnect.
const WAVE_LIMIT: Duration = Duration::from_secs(1);

/// Watches the number of open connections for a mass disconnect.
#[derive(Default)]
pub(super) struct Disconnects {
    /// The most connections open at once since the last mass disconnect.
    peak: usize,
    /// When a mass disconnect was seen, while its wave of CLOSE events may still be coming.
    armed: Option<Instant>,
}

impl Disconnects {
    /// Notes `open` after a poll that brought `closes` CLOSE events; true when a mass
    /// disconnect is over: a poll brought no CLOSE, or a second passed since it was seen.
    fn after_poll(&mut self, open: usize, closes: usize) -> bool {
        self.peak = self.peak.max(open);
        let fell = self.peak - open >= MASS_DISCONNECT && open < self.peak / 2;
        if fell && self.armed.is_none() {
            self.armed = Some(Instant::now());
        }
        match self.armed {
            Some(since) if closes == 0 || since.elapsed() >= WAVE_LIMIT => {
                self.armed = None;
                self.peak = open;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Disconnects;

    #[test]
    fn a_mass_disconnect_counts_once_its_wave_is_over() {
        let mut d = Disconnects::default();
        assert!(!d.after_poll(3000, 0));
        // 1,400 fewer, but not below half the peak.
        assert!(!d.after_poll(1600, 40));
        // Below half: armed, while CLOSE events keep coming.
        assert!(!d.after_poll(1400, 200));
        assert!(!d.after_poll(900, 256));
        // The first poll without a CLOSE ends it, once.
        assert!(d.after_poll(900, 0));
        assert!(!d.after_poll(900, 0));
        // The peak starts over from there.
        assert!(!d.after_poll(400, 0));
    }

    #[test]
    fn a_few_ended_connections_never_count() {
        let mut d = Disconnects::default();
        assert!(!d.after_poll(999, 0));
        assert!(!d.after_poll(0, 999));
        assert!(!d.after_poll(0, 0));
        assert!(!d.after_poll(1500, 0));
        assert!(!d.after_poll(501, 0));
    }
}
