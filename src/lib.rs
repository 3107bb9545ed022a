//! luna: WebSocket servers and clients (RFC 6455, `ws://` and `wss://`) that run on a small
//! pool of background I/O threads and hand their events to a host thread in batches.
//!
//! The crate is shipped as a C library (`include/luna.h`, generated from [`ffi`]) and used from
//! LuaJIT through the FFI shim in `ffi-lua/`. The host thread never blocks on I/O: it drains
//! events with `poll`, and queues outgoing messages with `send`, `broadcast` and `close`.
//! `docs/ARCHITECTURE.md` maps the modules.
#![deny(missing_docs)]

mod app;
mod backlog;
mod client;
mod config;
mod conn;
mod error;
mod event;
pub mod ffi;
mod frame;
mod handshake;
mod http;
mod outbox;
mod runtime;
mod send_path;
mod server;
mod session;
mod tls;
#[cfg(feature = "tls")]
mod tls_stream;
mod wakeup;
mod wire;
