//! Signals a host asked luna to catch (SIGINT, SIGTERM): the signal handler (in `ffi`) writes
//! the signal's number to a socket pair, and a thread named `luna-signals` turns it into a
//! pending signal and a message that wakes every `wait` at once, so a host blocked in
//! `luna.run()` stops within milliseconds instead of at its next timeout.

use std::io::Read;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::inbox::Waiter;

/// The signal caught and not taken yet; 0 = none.
static PENDING: AtomicI32 = AtomicI32::new(0);

/// The hosts blocked in a wait: a caught signal wakes them all.
static WAITERS: Mutex<Vec<Arc<Waiter>>> = Mutex::new(Vec::new());

/// Lists `waiter` to be woken by the next caught signal until the guard is dropped.
pub(crate) fn watch(waiter: &Arc<Waiter>) -> Watching {
    WAITERS.lock().push(waiter.clone());
    Watching(waiter.clone())
}

/// A waiter listed for signals; unlisted when dropped.
pub(crate) struct Watching(Arc<Waiter>);

impl Drop for Watching {
    fn drop(&mut self) {
        WAITERS.lock().retain(|w| !Arc::ptr_eq(w, &self.0));
    }
}

/// Whether a caught signal waits to be taken.
pub(crate) fn pending() -> bool {
    PENDING.load(Ordering::Acquire) != 0
}

/// The caught signal's number (0 if none), forgotten: waits block again.
pub(crate) fn take() -> i32 {
    PENDING.swap(0, Ordering::AcqRel)
}

fn raise(signal: i32) {
    PENDING.store(signal, Ordering::Release);
    for waiter in WAITERS.lock().iter() {
        waiter.wake();
    }
}

/// Starts the `luna-signals` thread (once); returns the socket the signal handler writes
/// each signal's number to, as one byte.
#[cfg(unix)]
pub(crate) fn writer() -> Result<&'static std::os::unix::net::UnixStream> {
    use std::os::unix::net::UnixStream;
    static WRITER: std::sync::OnceLock<UnixStream> = std::sync::OnceLock::new();
    if let Some(writer) = WRITER.get() {
        return Ok(writer);
    }
    let (mut reader, writer) =
        UnixStream::pair().map_err(|e| Error::io("signal socket pair", e))?;
    writer
        .set_nonblocking(true)
        .map_err(|e| Error::io("signal socket", e))?;
    std::thread::Builder::new()
        .name("luna-signals".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            while let Ok(1) = reader.read(&mut byte) {
                raise(i32::from(byte[0]));
            }
        })
        .map_err(|e| Error::io("starting the luna-signals thread", e))?;
    Ok(WRITER.get_or_init(|| writer))
}
