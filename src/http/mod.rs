//! The web server's I/O-free parts (SPEC §4a): request heads in, response heads out, and the
//! static-file decision. Each is a plain function over bytes, paths and metadata, so every rule
//! is a unit test and the request parser can be fed to a fuzzer; the I/O tasks only move bytes.

// A few helpers (percent_decode, reason phrases for codes luna does not send yet) wait for
// the `http` hook of issue 14.
#![allow(dead_code)]

pub(crate) mod access_log;
pub(crate) mod file_cache;
pub(crate) mod forwarded;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fuzz;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod static_files;
pub(crate) mod websocket;
#[cfg(test)]
mod websocket_tests;
