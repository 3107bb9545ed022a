//! RFC 6455 frames without I/O (SPEC §4c, issue 15): a [`decode::Decoder`] that turns the
//! bytes a connection has read into messages, pings, pongs and closes (or the close code that
//! refuses them), an [`encode::Encoder`] for the frames it writes, and permessage-deflate
//! (RFC 7692): its negotiation ([`deflate_params`]) and its compression ([`deflate`]). Each is a
//! plain state machine over a buffer the caller owns, so every rule is a unit test on byte
//! strings and the same code feeds the fuzzer.

pub(crate) mod decode;
pub(crate) mod deflate;
pub(crate) mod deflate_params;
mod deflate_pool;
pub(crate) mod encode;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fuzz;
mod mask;
mod utf8;

#[cfg(test)]
mod decode_tests;
#[cfg(test)]
mod deflate_bench;
#[cfg(test)]
mod deflate_tests;

/// Which end of the connection the codec serves: it decides who masks (RFC 6455 §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Reads masked frames from clients, writes unmasked ones.
    Server,
    /// Reads unmasked frames from a server, writes masked ones.
    Client,
}

/// The opcodes of RFC 6455 §5.2; the others are reserved.
pub(crate) mod opcode {
    pub(crate) const CONTINUATION: u8 = 0x0;
    pub(crate) const TEXT: u8 = 0x1;
    pub(crate) const BINARY: u8 = 0x2;
    pub(crate) const CLOSE: u8 = 0x8;
    pub(crate) const PING: u8 = 0x9;
    pub(crate) const PONG: u8 = 0xA;
}

/// Largest control-frame payload (RFC 6455 §5.5).
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

/// Whether a close code may travel in a close frame: RFC 6455 §7.4.1 plus the IANA registry
/// (1012-1014), and the library/application ranges; 1004-1006 and 1015 are never sent.
pub(crate) fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
