//! Answering the requests the host decides: UPGRADE events (accept or reject the
//! handshake) and HTTP events (the response).

use std::ffi::c_char;

use super::{byte_strings, bytes, guard, lookup, LunaApp, LunaResult};
use crate::config;
use crate::error::{Error, ErrorKind, Result};
use crate::http::response::Field;

/// Accepts the handshake of UPGRADE event `conn`: `protocol` (may be NULL when
/// `protocol_len` is 0: luna's own choice) must be one the client offered and the app serves;
/// `headers` are extra "Name: value" fields for the 101 answer, such as "Set-Cookie: ...",
/// `header_count` of them (NULL when 0; a value may hold bytes 0x80-0xFF, sent as they are).
/// LUNA_RESULT_CLOSED when the handshake already timed out or was answered;
/// LUNA_RESULT_INVALID_ARGUMENT for a field luna writes itself or one with a line break or
/// another control character.
#[no_mangle]
pub extern "C" fn luna_upgrade_accept(
    app: *mut LunaApp,
    conn: u64,
    protocol: *const u8,
    protocol_len: usize,
    headers: *const *const c_char,
    header_count: usize,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises `protocol_len` readable bytes at `protocol`.
        let protocol = unsafe { bytes(protocol, protocol_len, "protocol")? };
        let protocol = std::str::from_utf8(protocol)
            .map_err(|_| Error::new(ErrorKind::InvalidUtf8, "protocol is not valid UTF-8"))?;
        // SAFETY: the caller promises `header_count` readable string pointers.
        let headers = unsafe { header_lines(headers, header_count)? };
        let protocol = (!protocol.is_empty()).then_some(protocol);
        app.accept_upgrade(conn, protocol, headers)
    })
}

/// Refuses the handshake of UPGRADE event `conn` with HTTP `status` (300-599, such as 401,
/// 403 or 404), extra "Name: value" `headers` (NULL when `header_count` is 0) and a `body`
/// of at most 64 KiB (may be NULL when `body_len` is 0; sent as text/plain unless a
/// Content-Type header says otherwise). The client sees the status and the body.
#[no_mangle]
pub extern "C" fn luna_upgrade_reject(
    app: *mut LunaApp,
    conn: u64,
    status: u32,
    headers: *const *const c_char,
    header_count: usize,
    body: *const u8,
    body_len: usize,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises `header_count` readable string pointers.
        let headers = unsafe { header_lines(headers, header_count)? };
        // SAFETY: the caller promises `body_len` readable bytes at `body`.
        let body = unsafe { bytes(body, body_len, "body")? };
        let status = u16::try_from(status)
            .map_err(|_| Error::invalid(format!("status {status} is out of range")))?;
        app.reject_upgrade(conn, status, headers, body)
    })
}

/// Answers HTTP event `conn` with `status` (200-599), extra "Name: value" `headers` (NULL
/// when `header_count` is 0; Content-Type defaults to text/plain; Content-Length, Date and
/// Connection are luna's) and a `body` (may be NULL when `body_len` is 0; left out for HEAD
/// and for statuses without content: 1xx, 204, 205 (sent with `Content-Length: 0`) and 304).
/// The connection stays open for the client's next request when HTTP allows it.
#[no_mangle]
pub extern "C" fn luna_http_respond(
    app: *mut LunaApp,
    conn: u64,
    status: u32,
    headers: *const *const c_char,
    header_count: usize,
    body: *const u8,
    body_len: usize,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises `header_count` readable string pointers.
        let headers = unsafe { header_lines(headers, header_count)? };
        // SAFETY: the caller promises `body_len` readable bytes at `body`.
        let body = unsafe { bytes(body, body_len, "body")? };
        let status = u16::try_from(status)
            .map_err(|_| Error::invalid(format!("status {status} is out of range")))?;
        app.respond_http(conn, status, headers, body)
    })
}

/// Reads "Name: value" lines; values are bytes (obs-text, 0x80-0xFF, is sent as it is).
///
/// # Safety
/// `list` must be NULL or point to `count` NUL-terminated strings.
unsafe fn header_lines(list: *const *const c_char, count: usize) -> Result<Vec<Field>> {
    // SAFETY: forwarded from the caller's promise.
    let lines = unsafe { byte_strings(list, count, "headers")? };
    lines
        .iter()
        .map(|line| config::parse_header_field(line))
        .collect()
}
