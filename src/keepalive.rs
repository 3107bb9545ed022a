//! Keepalive: pings open connections every `ping_interval` and closes those whose peer sent
//! nothing for `idle_timeout`. One task watches all of a server's connections (a timer per
//! connection would cost each idle one its own timer and task room); a client watches its
//! connection the same way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::Timer;

use crate::config::Limits;
use crate::conn::Conn;
use crate::frame::opcode;

/// The connections are taken in this many slices, one per round, so the pings of a large
/// server are spread over the interval instead of leaving in one burst.
const SLICES: u64 = 8;

/// The shortest pause between two rounds, however small the configured times.
const MIN_ROUND: Duration = Duration::from_millis(10);

/// Connections handled between two yields, so the I/O thread's other tasks run meanwhile.
const BETWEEN_YIELDS: usize = 64;

/// Whether `conn` is looked after in round `slice` (of `SLICES`).
pub(crate) fn in_slice(conn: &Conn, slice: u64) -> bool {
    conn.id % SLICES == slice
}

/// Runs the keepalive over the connections `watched(slice)` lists, those `in_slice` (a copy,
/// so they are not held locked while pinged); never returns, and does nothing when neither
/// `ping_interval` nor `idle_timeout` is set. Each connection is looked at every
/// `min(ping_interval, idle_timeout / 2)`.
pub(crate) async fn keep_alive(limits: &Limits, watched: impl Fn(u64) -> Vec<Arc<Conn>>) {
    let every = match (limits.ping_interval, limits.idle_timeout) {
        (None, None) => return smol::future::pending().await,
        (Some(p), None) => p,
        (None, Some(i)) => i / 2,
        (Some(p), Some(i)) => p.min(i / 2),
    };
    let round = (every / SLICES as u32).max(MIN_ROUND);
    let mut last_ping = [Instant::now(); SLICES as usize];
    for slice in (0..SLICES).cycle() {
        Timer::after(round).await;
        // Rounds may come faster than pings (a short idle timeout): ping at its own pace, or
        // the pongs would keep a peer that sends nothing else from ever being idle.
        let since = &mut last_ping[slice as usize];
        let ping = limits
            .ping_interval
            .is_some_and(|interval| since.elapsed() >= interval);
        if ping {
            *since = Instant::now();
        }
        for (n, conn) in watched(slice).into_iter().enumerate() {
            if n % BETWEEN_YIELDS == BETWEEN_YIELDS - 1 {
                smol::future::yield_now().await;
            }
            look_after(&conn, limits, ping);
        }
    }
}

/// Closes `conn` (1001) if its peer was silent too long, else pings it when `ping` says so.
fn look_after(conn: &Conn, limits: &Limits, ping: bool) {
    if conn.is_closing() {
        return;
    }
    if (limits.idle_timeout).is_some_and(|idle| conn.activity.idle_for() >= idle) {
        conn.close(1001, "idle timeout");
    } else if ping {
        conn.path.send_control(opcode::PING, &[]);
    }
}
