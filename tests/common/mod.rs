//! Shared helpers for the Rust tests, which drive luna through its C ABI:
//! - `server`: `TestServer`, a server app polled (and echoed) by a host thread;
//! - `client`: `TestClient`, a luna client app, and `ws_connect`, tungstenite's client;
//! - `raw_peer`: `RawPeer`, raw frames from either side, for traffic a well-behaved library
//!   would never send;
//! - `topics`: subscribe, unsubscribe and publish on a `TestServer`;
//! - `deflate`, `certs`, `redis`, `lua_echo`: permessage-deflate of our own, TLS files,
//!   a Redis child process, the LuaJIT echo server as a child process.
#![allow(dead_code, unused_imports)]

#[cfg(feature = "tls")]
pub mod certs;
pub mod client;
pub mod deflate;
pub mod frames;
pub mod lua_echo;
pub mod raw_peer;
pub mod redis;
pub mod server;
pub mod topics;

pub use client::*;
pub use raw_peer::*;
pub use server::*;
pub use topics::ok;

use luna::ffi::*;
use luna::ffi::{LunaEvent, LunaEventKind};

/// An event copied out of the poll buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    Open {
        conn: u64,
        protocol: String,
        peer: String,
        port: u16,
    },
    Msg {
        conn: u64,
        opcode: u32,
        data: Vec<u8>,
    },
    Close {
        conn: u64,
        code: u32,
        reason: String,
        clean: bool,
    },
    Error {
        conn: u64,
        code: u32,
        message: String,
        http_status: u16,
    },
    Upgrade {
        conn: u64,
        target: String,
        peer: String,
    },
    Http {
        conn: u64,
        body: Vec<u8>,
    },
    Log {
        line: String,
    },
    Resume {
        conn: u64,
        peer: String,
    },
}

fn bytes_of(ptr: *const u8, len: usize) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    // SAFETY: luna guarantees `len` bytes at `ptr` until the next poll of this app.
    unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
}

pub fn copy_event(ev: &LunaEvent) -> Ev {
    let text = |p, l| String::from_utf8(bytes_of(p, l)).expect("utf-8 text in event");
    match ev.kind {
        LunaEventKind::Open => Ev::Open {
            conn: ev.conn,
            protocol: text(ev.data, ev.len),
            peer: text(ev.peer, ev.peer_len),
            port: ev.peer_port,
        },
        LunaEventKind::Message => Ev::Msg {
            conn: ev.conn,
            opcode: ev.opcode,
            data: bytes_of(ev.data, ev.len),
        },
        LunaEventKind::Close => Ev::Close {
            conn: ev.conn,
            code: ev.code,
            reason: text(ev.data, ev.len),
            clean: ev.was_clean != 0,
        },
        LunaEventKind::Error => Ev::Error {
            conn: ev.conn,
            code: ev.code,
            message: text(ev.data, ev.len),
            http_status: ev.http_status,
        },
        LunaEventKind::Resume => Ev::Resume {
            conn: ev.conn,
            peer: text(ev.peer, ev.peer_len),
        },
        LunaEventKind::Http => Ev::Http {
            conn: ev.conn,
            body: bytes_of(ev.data, ev.len),
        },
        LunaEventKind::Upgrade => Ev::Upgrade {
            conn: ev.conn,
            target: text(ev.data, ev.len),
            peer: text(ev.peer, ev.peer_len),
        },
        LunaEventKind::Log => Ev::Log {
            line: text(ev.data, ev.len),
        },
    }
}

pub fn last_error() -> String {
    // SAFETY: luna_last_error never returns NULL and the string lives until the next failure.
    unsafe { std::ffi::CStr::from_ptr(luna_last_error()) }
        .to_string_lossy()
        .into_owned()
}

pub fn app_ptr(app: usize) -> *mut LunaApp {
    app as *mut LunaApp
}

pub fn empty_event() -> LunaEvent {
    LunaEvent::default()
}

/// This process's resident memory (`VmRSS`) in KiB.
pub fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
