//! permessage-deflate (RFC 7692), end to end, in one test binary:
//! - `server`: a raw-socket client with a deflate of its own against the LuaJIT echo server
//!   set up with `compression`, then luna servers through the C ABI;
//! - `client`: a raw-socket server against `luna_client_connect` with `compression`, then a
//!   luna client against a luna server.
//!
//! Run one part with `cargo test --release --test compression server::` (or `client::`).
#[path = "../common/mod.rs"]
mod common;

mod client;
mod server;
