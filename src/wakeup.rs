//! A file descriptor per app that becomes readable while events are pending, so hosts with
//! their own event loop (epoll, libuv, cqueues) can wait on it: the read end of a Unix
//! socket pair, or on Windows of a loopback TCP pair (a `SOCKET`). It costs nothing until a host
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

/// Windows has no socketpair: a loopback TCP pair, the classic stand-in (what Python's
/// `socket.socketpair` and libuv do there). The readable end is a `SOCKET`, which a host waits
/// on with `select`, `WSAPoll` or `WSAEventSelect`; safe std code as well.
#[cfg(windows)]
struct WakeFd {
    reader: std::net::TcpStream,
    writer: std::net::TcpStream,
}

#[cfg(windows)]
impl WakeFd {
    fn new() -> Result<Self> {
        use crate::error::Error;
        use std::net::{Ipv4Addr, TcpListener, TcpStream};
        let io = |what: &'static str| move |e: std::io::Error| Error::io(what, e);
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("wake-up listener"))?;
        let addr = listener.local_addr().map_err(io("wake-up listener"))?;
        let writer = TcpStream::connect(addr).map_err(io("wake-up connect"))?;
        let mine = writer.local_addr().map_err(io("wake-up connect"))?;
        // Another local program could connect to the port in between: take only our own.
        let reader = loop {
            let (stream, peer) = listener.accept().map_err(io("wake-up accept"))?;
            if peer == mine {
                break stream;
            }
        };
        for s in [&reader, &writer] {
            s.set_nonblocking(true).map_err(io("wake-up socket"))?;
            s.set_nodelay(true).map_err(io("wake-up socket"))?;
        }
        Ok(WakeFd { reader, writer })
    }

    fn readable(&self) -> i64 {
        use std::os::windows::io::AsRawSocket;
        self.reader.as_raw_socket() as i64
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

#[cfg(not(any(unix, windows)))]
struct WakeFd;

#[cfg(not(any(unix, windows)))]
impl WakeFd {
    fn new() -> Result<Self> {
        Err(crate::error::Error::new(
            crate::error::ErrorKind::Unsupported,
            "a wake-up descriptor is not available on this platform; use wait or poll",
        ))
    }
    fn readable(&self) -> i64 {
        -1
    }
    fn raise(&self) {}
    fn lower(&self) {}
}
