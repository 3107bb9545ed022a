//! The result codes every C function returns, and the error type behind them.

use std::fmt;

/// Status of a luna call. The numbers are part of the ABI: never reuse or renumber them.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LunaResult {
    /// The call succeeded.
    Ok = 0,
    /// The connection or app is closed (or closing); nothing was sent.
    Closed = 1,
    /// An argument was NULL, out of range, or otherwise unusable.
    InvalidArgument = 2,
    /// The connection's outgoing queue is full; try again after it drains.
    Backpressure = 3,
    /// A TLS certificate, key or handshake problem.
    Tls = 4,
    /// An operating-system I/O error (bind, connect, socket option, ...).
    Io = 5,
    /// The operation did not complete in time.
    Timeout = 6,
    /// The feature is not available on this platform or in this build.
    Unsupported = 7,
    /// A bug inside luna (a caught panic); the message says where.
    Internal = 8,
    /// A text payload, close reason or string argument was not valid UTF-8.
    InvalidUtf8 = 9,
    /// A name could not be resolved to an address.
    Dns = 10,
    /// The peer broke the WebSocket protocol or answered the handshake wrongly.
    Protocol = 11,
    /// The peer refused the TCP connection (nothing listens there).
    Refused = 12,
}

impl LunaResult {
    /// A static, NUL-terminated name for the code, as C sees it.
    pub fn name(self) -> &'static str {
        match self {
            LunaResult::Ok => "LUNA_RESULT_OK\0",
            LunaResult::Closed => "LUNA_RESULT_CLOSED\0",
            LunaResult::InvalidArgument => "LUNA_RESULT_INVALID_ARGUMENT\0",
            LunaResult::Backpressure => "LUNA_RESULT_BACKPRESSURE\0",
            LunaResult::Tls => "LUNA_RESULT_TLS\0",
            LunaResult::Io => "LUNA_RESULT_IO\0",
            LunaResult::Timeout => "LUNA_RESULT_TIMEOUT\0",
            LunaResult::Unsupported => "LUNA_RESULT_UNSUPPORTED\0",
            LunaResult::Internal => "LUNA_RESULT_INTERNAL\0",
            LunaResult::InvalidUtf8 => "LUNA_RESULT_INVALID_UTF8\0",
            LunaResult::Dns => "LUNA_RESULT_DNS\0",
            LunaResult::Protocol => "LUNA_RESULT_PROTOCOL\0",
            LunaResult::Refused => "LUNA_RESULT_REFUSED\0",
        }
    }
}

/// A failed luna operation: what kind of failure, and a message for humans.
#[derive(Debug, Clone)]
pub struct Error {
    pub code: LunaResult,
    pub message: String,
}

impl Error {
    pub fn new(code: LunaResult, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(LunaResult::InvalidArgument, message)
    }

    pub fn closed() -> Self {
        Error::new(LunaResult::Closed, "closed")
    }

    pub fn io(context: &str, err: std::io::Error) -> Self {
        Error::new(LunaResult::Io, format!("{context}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
