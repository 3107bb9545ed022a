//! A file descriptor per app that becomes readable while events are pending, so hosts with
//! their own event loop (epoll, libuv, cqueues) can wait on it. It costs nothing until a host
//! asks for it: measured, signalling it on every event halves throughput.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::error::Result;

#[derive(Default)]
pub struct Wakeup {
    fd: OnceLock<WakeFd>,
    signalled: AtomicBool,
}

impl Wakeup {
    /// The readable descriptor, created on first call.
    pub fn fd(&self) -> Result<i64> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd.readable());
        }
        let created = WakeFd::new()?;
        Ok(self.fd.get_or_init(|| created).readable())
    }

    /// Marks events as pending (one relaxed load when nobody asked for the descriptor).
    pub fn signal(&self) {
        if let Some(fd) = self.fd.get() {
            if !self.signalled.swap(true, Ordering::AcqRel) {
                fd.raise();
            }
        }
    }

    /// Marks the queue as drained; the caller re-signals if events raced in.
    pub fn clear(&self) {
        if let Some(fd) = self.fd.get() {
            if self.signalled.swap(false, Ordering::AcqRel) {
                fd.lower();
            }
        }
    }
}

/// A connected socket pair: safe std code that works on every Unix.
#[cfg(unix)]
struct WakeFd {
    reader: std::os::unix::net::UnixStream,
    writer: std::os::unix::net::UnixStream,
}

#[cfg(unix)]
impl WakeFd {
    fn new() -> Result<Self> {
        use crate::error::Error;
        let (reader, writer) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| Error::io("wake-up socket pair", e))?;
        reader
            .set_nonblocking(true)
            .map_err(|e| Error::io("wake-up socket", e))?;
        writer
            .set_nonblocking(true)
            .map_err(|e| Error::io("wake-up socket", e))?;
        Ok(WakeFd { reader, writer })
    }

    fn readable(&self) -> i64 {
        use std::os::fd::AsRawFd;
        self.reader.as_raw_fd() as i64
    }

    fn raise(&self) {
        use std::io::Write;
        let _ = (&self.writer).write(b"!");
    }

    fn lower(&self) {
        use std::io::Read;
        let mut buf = [0u8; 64];
        while matches!((&self.reader).read(&mut buf), Ok(n) if n > 0) {}
    }
}

#[cfg(not(unix))]
struct WakeFd;

#[cfg(not(unix))]
impl WakeFd {
    fn new() -> Result<Self> {
        Err(crate::error::Error::new(
            crate::error::LunaResult::Unsupported,
            "a wake-up descriptor is not available on this platform yet; use wait or poll",
        ))
    }
    fn readable(&self) -> i64 {
        -1
    }
    fn raise(&self) {}
    fn lower(&self) {}
}
