//! The result code every C function returns.

use crate::error::ErrorKind;

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
    /// A client's connection failed because the server accepted none of the subprotocols it
    /// asked for (or chose one it did not ask for).
    Subprotocol = 13,
    /// The message is larger than the connection's `max_send_queue`, so it could never be
    /// queued; nothing was sent. Unlike BACKPRESSURE, retrying does not help.
    TooLarge = 14,
}

impl From<ErrorKind> for LunaResult {
    fn from(kind: ErrorKind) -> LunaResult {
        match kind {
            ErrorKind::Closed => LunaResult::Closed,
            ErrorKind::InvalidArgument => LunaResult::InvalidArgument,
            ErrorKind::Backpressure => LunaResult::Backpressure,
            ErrorKind::Tls => LunaResult::Tls,
            ErrorKind::Io => LunaResult::Io,
            ErrorKind::Timeout => LunaResult::Timeout,
            ErrorKind::Unsupported => LunaResult::Unsupported,
            ErrorKind::InvalidUtf8 => LunaResult::InvalidUtf8,
            ErrorKind::Dns => LunaResult::Dns,
            ErrorKind::Protocol => LunaResult::Protocol,
            ErrorKind::Refused => LunaResult::Refused,
            ErrorKind::Subprotocol => LunaResult::Subprotocol,
            ErrorKind::TooLarge => LunaResult::TooLarge,
        }
    }
}

impl TryFrom<u32> for LunaResult {
    type Error = u32;

    /// The code with this number, or the number back when no code has it.
    fn try_from(number: u32) -> Result<LunaResult, u32> {
        Ok(match number {
            0 => LunaResult::Ok,
            1 => LunaResult::Closed,
            2 => LunaResult::InvalidArgument,
            3 => LunaResult::Backpressure,
            4 => LunaResult::Tls,
            5 => LunaResult::Io,
            6 => LunaResult::Timeout,
            7 => LunaResult::Unsupported,
            8 => LunaResult::Internal,
            9 => LunaResult::InvalidUtf8,
            10 => LunaResult::Dns,
            11 => LunaResult::Protocol,
            12 => LunaResult::Refused,
            13 => LunaResult::Subprotocol,
            14 => LunaResult::TooLarge,
            other => return Err(other),
        })
    }
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
            LunaResult::Subprotocol => "LUNA_RESULT_SUBPROTOCOL\0",
            LunaResult::TooLarge => "LUNA_RESULT_TOO_LARGE\0",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the header declares converts back from its number under its own name, so
    /// a code added to the enum but not to `try_from` fails here.
    #[test]
    fn every_header_code_round_trips() {
        let header = include_str!("../../include/luna.h");
        let mut seen = 0;
        for line in header.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("LUNA_RESULT_") else {
                continue;
            };
            let (name, number) = rest.split_once(" = ").expect("LUNA_RESULT_X = n,");
            let number: u32 = number.trim_end_matches(',').parse().unwrap();
            let code = LunaResult::try_from(number).expect("a declared code converts");
            assert_eq!(code.name(), format!("LUNA_RESULT_{name}\0"));
            assert_eq!(code as u32, number);
            seen += 1;
        }
        assert!(seen >= 15, "only {seen} codes found in the header");
        assert_eq!(LunaResult::try_from(15), Err(15));
    }
}
