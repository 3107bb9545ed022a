//! A monotonic clock for hosts that schedule things between waits (a client's reconnect
//! backoff in Lua, which has no such clock of its own on every platform).

use std::sync::LazyLock;
use std::time::Instant;

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since an arbitrary moment fixed the first time it is called: they never go
/// back, whatever happens to the wall clock. For measuring intervals only.
#[no_mangle]
pub extern "C" fn luna_clock_ms() -> u64 {
    START.elapsed().as_millis() as u64
}
