//! `LUNA_WAIT_SPIN_US` (opt-in): wait spins on the CPU before it parks, and still honours
//! timeouts and wakes for events that arrive while it spins or after it parked.
mod common;

use std::time::{Duration, Instant};

use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

/// The spin budget this test sets: 3 ms.
const SPIN_US: &str = "3000";

#[test]
fn a_spinning_wait_keeps_its_timeouts_and_sees_events() {
    // Read once per process, before the first wait: this file is its own test binary, and
    // this is its only test, so no other thread waits first.
    std::env::set_var("LUNA_WAIT_SPIN_US", SPIN_US);
    let server = TestServer::start(Options {
        echo: false,
        ..Options::default()
    });
    // An app with no connection: nothing ever wakes a wait on it.
    let quiet = TestServer::start(Options::default());
    let app = app_ptr(quiet.app);

    let start = Instant::now();
    assert_eq!(luna_app_wait(app, 1), LunaResult::Timeout);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1), "returned early: {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "spun past the timeout: {took:?}"
    );

    #[cfg(unix)]
    waits_spin_on_the_cpu(app);

    // Events still reach a host that spins (the other app's host thread echoes nothing,
    // so its OPEN and MESSAGE events are what we wait for).
    let mut client = RawPeer::connect(server.port, "");
    assert_eq!(client.status(), 101);
    client.send(1, b"spin");
    server.wait_for(
        10,
        "the message",
        |e| matches!(e, Ev::Msg { data, .. } if data == b"spin"),
    );
}

/// 100 waits of 3 ms with nothing to wake them: spinning, they keep this thread on the CPU
/// for about 300 ms; parked at once, they would cost it a few µs each. The bound is a tenth
/// of the spin, so a busy machine that runs this thread a tenth of the time still passes,
/// while a wait that no longer spins (a few ms of CPU in all) fails.
#[cfg(unix)]
fn waits_spin_on_the_cpu(app: *mut LunaApp) {
    let (wall, cpu) = (Instant::now(), thread_cpu_time());
    for _ in 0..100 {
        assert_eq!(luna_app_wait(app, 3), LunaResult::Timeout);
    }
    let (wall, cpu) = (wall.elapsed(), thread_cpu_time() - cpu);
    eprintln!("100 waits of 3 ms: {wall:?} on the clock, {cpu:?} on the CPU");
    assert!(
        cpu >= Duration::from_millis(30),
        "the waits did not spin: {cpu:?} of CPU in {wall:?}"
    );
}

/// The CPU time this thread used so far.
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for clock_gettime to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}
