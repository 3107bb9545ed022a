//! Catching SIGINT and SIGTERM for a host loop that should stop cleanly (`luna.run()`).

use super::{guard, LunaResult};
use crate::error::Error;
#[cfg(not(unix))]
use crate::error::ErrorKind;
use crate::interrupt;

/// 1: SIGINT and SIGTERM no longer end the process. Each one is recorded, and every
/// `luna_app_wait` / `luna_app_wait_any`, on any thread, returns LUNA_RESULT_OK at once until
/// `luna_signal_take` takes it: the host can then stop its apps (`luna_app_stop` closes every
/// connection with 1001) and exit. 0: the handlers that were there before come back.
/// Process-wide; call it from one thread. Unix only: elsewhere LUNA_RESULT_UNSUPPORTED.
#[no_mangle]
pub extern "C" fn luna_signals_catch(enable: u8) -> LunaResult {
    guard(|| {
        #[cfg(unix)]
        {
            unix::catch(enable != 0)
        }
        #[cfg(not(unix))]
        {
            let _ = enable;
            Err(Error::new(
                ErrorKind::Unsupported,
                "catching signals is supported on Unix only",
            ))
        }
    })
}

/// The number of the signal caught since `luna_signals_catch(1)` (SIGINT is 2, SIGTERM 15),
/// or 0 if none; it is forgotten, so waits block again.
#[no_mangle]
pub extern "C" fn luna_signal_take() -> i32 {
    interrupt::take()
}

#[cfg(unix)]
mod unix {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicI32, Ordering};

    use parking_lot::Mutex;

    use super::*;
    use crate::error::Result;

    const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

    /// Where the handler writes; -1 before the first `catch`.
    static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

    /// The actions replaced by `catch(true)`, put back by `catch(false)`.
    static SAVED: Mutex<Option<[libc::sigaction; 2]>> = Mutex::new(None);

    /// Only async-signal-safe calls here: an atomic load and write(2). A failed write (a full
    /// socket: hundreds of signals not taken yet) loses nothing that matters.
    extern "C" fn on_signal(signal: libc::c_int) {
        let fd = WRITE_FD.load(Ordering::Relaxed);
        let byte = signal as u8;
        // SAFETY: `fd` is the luna-signals socket, open for the life of the process; one
        // byte is read from a live stack variable.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }

    pub(super) fn catch(enable: bool) -> Result<()> {
        let mut saved = SAVED.lock();
        match (enable, saved.is_some()) {
            (true, false) => {
                let writer = interrupt::writer()?;
                WRITE_FD.store(writer.as_raw_fd(), Ordering::Relaxed);
                *saved = Some(install()?);
            }
            (false, true) => {
                if let Some(old) = saved.take() {
                    restore(&old);
                }
            }
            // Already in the state asked for.
            _ => {}
        }
        Ok(())
    }

    /// Installs `on_signal` for SIGNALS; returns the actions it replaced.
    fn install() -> Result<[libc::sigaction; 2]> {
        // SAFETY: sigaction is plain data; all-zero is a valid value before it is filled.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `sa_mask` is a valid sigset_t to initialise.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: as above.
        let mut old: [libc::sigaction; 2] = unsafe { std::mem::zeroed() };
        for (i, signal) in SIGNALS.into_iter().enumerate() {
            // SAFETY: both pointers are to live sigaction values.
            if unsafe { libc::sigaction(signal, &action, &mut old[i]) } != 0 {
                let err = std::io::Error::last_os_error();
                restore(&old[..i]);
                return Err(Error::io("sigaction", err));
            }
        }
        Ok(old)
    }

    fn restore(old: &[libc::sigaction]) {
        for (signal, action) in SIGNALS.into_iter().zip(old) {
            // SAFETY: `action` was filled by sigaction for this signal.
            unsafe { libc::sigaction(signal, action, std::ptr::null_mut()) };
        }
    }
}
