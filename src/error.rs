//! The crate's error type: what kind of failure, and a message for humans.

use std::fmt;

/// What kind of failure an [`Error`] is; the C ABI maps each kind to one result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The connection or app is closed (or closing); nothing was sent.
    Closed,
    /// An argument was NULL, out of range, or otherwise unusable.
    InvalidArgument,
    /// The connection's outgoing queue is full; try again after it drains.
    Backpressure,
    /// A TLS certificate, key or handshake problem.
    Tls,
    /// An operating-system I/O error (bind, connect, socket option, ...).
    Io,
    /// The operation did not complete in time.
    Timeout,
    /// The feature is not available on this platform or in this build.
    Unsupported,
    /// A text payload, close reason or string argument was not valid UTF-8.
    InvalidUtf8,
    /// A name could not be resolved to an address.
    Dns,
    /// The peer broke the WebSocket protocol or answered the handshake wrongly.
    Protocol,
    /// The peer refused the TCP connection (nothing listens there).
    Refused,
    /// The server's 101 did not agree to one of the subprotocols the client asked for.
    Subprotocol,
    /// The message is larger than the connection's send queue may ever hold.
    TooLarge,
}

/// A failed luna operation.
#[derive(Debug, Clone)]
pub(crate) struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn closed() -> Self {
        Error::new(ErrorKind::Closed, "closed")
    }

    pub fn io(context: &str, err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{context}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub(crate) type Result<T> = std::result::Result<T, Error>;
