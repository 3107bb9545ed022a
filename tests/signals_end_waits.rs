//! luna_signals_catch: a caught SIGINT or SIGTERM, raised on any thread, ends every wait at
//! once and is taken once; turning catching off gives the previous handlers back.
#![cfg(unix)]

use std::ffi::CString;
use std::time::{Duration, Instant};

use luna::ffi::*;

#[test]
fn a_caught_signal_ends_waits_until_it_is_taken() {
    let host = CString::new("127.0.0.1").unwrap();
    // SAFETY: plain data, filled by luna_server_config_default.
    let mut config: LunaServerConfig = unsafe { std::mem::zeroed() };
    assert_eq!(luna_server_config_default(&mut config), LunaResult::Ok);
    config.host = host.as_ptr();
    let app = luna_server_new(&config);
    assert!(!app.is_null());
    assert_eq!(luna_signal_take(), 0, "nothing caught yet");
    assert_eq!(luna_signals_catch(1), LunaResult::Ok);
    assert_eq!(luna_signals_catch(1), LunaResult::Ok, "twice is harmless");

    // Raised on this thread before the wait: the wait returns at once.
    // SAFETY: raise(3) with a signal whose handler luna installed.
    assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
    let start = Instant::now();
    assert_eq!(luna_app_wait(app, 10_000), LunaResult::Ok);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(luna_signal_take(), libc::SIGTERM);
    assert_eq!(luna_signal_take(), 0, "taken once");
    assert_eq!(
        luna_app_wait(app, 50),
        LunaResult::Timeout,
        "waits block again"
    );

    // Sent to the process while the host waits: it wakes up.
    let sender = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: kill(2) of our own process with a signal luna catches.
        unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
    });
    let start = Instant::now();
    assert_eq!(luna_app_wait(app, 10_000), LunaResult::Ok);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    sender.join().unwrap();
    assert_eq!(luna_signal_take(), libc::SIGINT);

    assert_eq!(luna_signals_catch(0), LunaResult::Ok);
    assert_eq!(luna_signals_catch(0), LunaResult::Ok, "twice is harmless");
    assert_eq!(luna_app_stop(app), LunaResult::Ok);
    assert_eq!(luna_app_free(app), LunaResult::Ok);
}
