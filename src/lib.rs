//! luna: WebSocket servers and clients (RFC 6455, `ws://` and `wss://`) that run on a small
//! pool of background I/O threads and hand their events to a host thread in batches.
//!
//! The crate is shipped as a C library (`include/luna.h`, generated from [`ffi`]) and used from
//! LuaJIT through the FFI shim in `ffi-lua/`. The host thread never blocks on I/O: it drains
//! events with `poll`, and queues outgoing messages with `send`, `broadcast` and `close`.

pub mod app;
pub mod backlog;
pub mod client;
pub mod config;
pub mod connection;
pub mod error;
pub mod event;
pub mod ffi;
mod http;
pub mod outbox;
pub mod runtime;
pub mod server;
pub mod tls;
#[cfg(feature = "tls")]
mod tls_stream;
pub mod wakeup;
pub mod wire;
