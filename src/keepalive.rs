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

/// The shortest pause between two rounds, however small the configured times.
const MIN_TICK: Duration = Duration::from_millis(10);

/// Runs the keepalive over the connections `watched` lists (a copy, so they are not held
/// locked while pinged); never returns, and does nothing when neither `ping_interval` nor
/// `idle_timeout` is set.
pub(crate) async fn keep_alive(limits: &Limits, watched: impl Fn() -> Vec<Arc<Conn>>) {
    let tick = match (limits.ping_interval, limits.idle_timeout) {
        (None, None) => return smol::future::pending().await,
        (Some(p), None) => p,
        (None, Some(i)) => i / 2,
        (Some(p), Some(i)) => p.min(i / 2),
    };
    let mut last_ping = Instant::now();
    loop {
        Timer::after(tick.max(MIN_TICK)).await;
        // Rounds may come faster than pings (a short idle timeout): ping at its own pace, or
        // the pongs would keep a peer that sends nothing else from ever being idle.
        let ping = limits
            .ping_interval
            .is_some_and(|every| last_ping.elapsed() >= every);
        if ping {
            last_ping = Instant::now();
        }
        for conn in watched() {
            if conn.is_closing() {
                continue;
            }
            if limits
                .idle_timeout
                .is_some_and(|idle| conn.activity.idle_for() >= idle)
            {
                conn.close(1001, "idle timeout");
            } else if ping {
                conn.path.send_control(opcode::PING, &[]);
            }
        }
    }
}
