//! RFC 6455 conformance, end to end, in one test binary: `server` (a raw-socket client
//! against the LuaJIT echo server) and `client` (a raw-socket server against
//! `luna_client_connect`). Run one side with `cargo test --release --test conformance server::`.
#[path = "../common/mod.rs"]
mod common;

mod client;
mod server;
