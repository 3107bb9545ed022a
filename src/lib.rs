//! luna: WebSocket servers and clients (RFC 6455, `ws://` and `wss://`) that run on a small
//! pool of background I/O threads and hand their events to a host thread in batches.
//!
//! The crate is shipped as a C library (`include/luna.h`, generated from [`ffi`]) and used from
//! LuaJIT through the FFI shim in `ffi-lua/`. The host thread never blocks on I/O: it drains
//! events with `poll`, and queues outgoing messages with `send`, `broadcast` and `close`.
//! `docs/ARCHITECTURE.md` maps the modules.
#![deny(missing_docs)]

mod admission;
mod app;
mod backlog;
mod client;
mod cluster;
mod config;
mod conn;
mod error;
mod event;
pub mod ffi;
mod frame;
#[cfg(test)]
mod fuzz_corpus;
mod handshake;
mod http;
mod id_hash;
mod inbox;
mod interrupt;
mod keepalive;
mod outbox;
mod rate_limit;
mod resp;
mod resume;
mod runtime;
mod send_budget;
mod send_path;
mod server;
mod session;
mod stats;
mod tls;
#[cfg(feature = "tls")]
mod tls_stream;
mod topics;
mod upgrade;
mod wakeup;
mod wire;

/// Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`); not luna's API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// Feeds arbitrary bytes to server- and client-role frame decoders, and round-trips them.
    pub fn frames(data: &[u8]) {
        crate::frame::fuzz::decode_frames(data);
        crate::frame::fuzz::round_trip(data);
    }

    /// Parses arbitrary bytes as a `Sec-WebSocket-Extensions` value, as server and client.
    pub fn extensions(data: &[u8]) {
        crate::frame::fuzz::parse_extensions(data);
    }

    /// Inflates arbitrary bytes as permessage-deflate messages, and round-trips them.
    pub fn inflate(data: &[u8]) {
        crate::frame::fuzz::inflate(data);
    }

    /// Parses arbitrary bytes, and prefixes of them, as an HTTP request head.
    pub fn request(data: &[u8]) {
        crate::http::fuzz::request(data);
    }
}
