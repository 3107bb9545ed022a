//! Sending to, closing and inspecting one connection of an app.

use std::ffi::c_char;

use super::LunaResult;
use super::{bytes, guard, lookup, with_app, write_count, write_out, LunaApp};
use crate::error::{Error, Result};

/// Sends one message to connection `conn`. The bytes are copied before this returns.
/// `opcode`: 1 = TEXT (must be valid UTF-8), 2 = BINARY, 9 = PING, 10 = PONG (≤ 125 bytes).
/// Messages sent while handling the events of a `luna_app_poll` are written together, one
/// write per connection, by the next `luna_app_poll`, `luna_app_wait` or `luna_app_flush`
/// of the app; at other times they are written at once. What the socket cannot take yet is
/// written by the I/O thread.
/// Returns LUNA_RESULT_CLOSED when the connection has closed (or is closing),
/// LUNA_RESULT_BACKPRESSURE when its outgoing queue is full (retry once it drains), and
/// LUNA_RESULT_TOO_LARGE when `len` is larger than its `max_send_queue`: such a message could
/// never be queued, so it is refused even on an empty queue. Never blocks.
#[no_mangle]
pub extern "C" fn luna_conn_send(
    app: *mut LunaApp,
    conn: u64,
    data: *const u8,
    len: usize,
    opcode: u32,
) -> LunaResult {
    guard(|| {
        with_app(app, |app| {
            // SAFETY: the caller promises `len` readable bytes at `data`.
            let data = unsafe { bytes(data, len, "data")? };
            app.send(conn, data, opcode)
        })
    })
}

/// Starts the closing handshake of `conn` with `code` (1000-1003, 1007-1014, 3000-4999)
/// and a UTF-8 `reason` of at most 123 bytes (may be NULL when `reason_len` is 0). The CLOSE
/// event follows once the handshake is done. Closing a closed connection is a no-op.
#[no_mangle]
pub extern "C" fn luna_conn_close(
    app: *mut LunaApp,
    conn: u64,
    code: u32,
    reason: *const u8,
    reason_len: usize,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises `reason_len` readable bytes at `reason`.
        let reason = unsafe { bytes(reason, reason_len, "reason")? };
        let code = u16::try_from(code)
            .map_err(|_| Error::invalid(format!("close code {code} is out of range")))?;
        app.close_conn(conn, code, reason)
    })
}

/// Writes `addr` as NUL-terminated text into `ip` (of `ip_capacity` bytes; 46 always
/// suffice) and its port into `out_port` (may be NULL).
fn write_addr(
    addr: std::net::SocketAddr,
    ip: *mut c_char,
    ip_capacity: usize,
    out_port: *mut u16,
) -> Result<()> {
    let text = addr.ip().to_string();
    if ip.is_null() {
        return Err(Error::invalid("ip buffer is NULL"));
    }
    if text.len() + 1 > ip_capacity {
        return Err(Error::invalid(format!(
            "ip buffer needs {} bytes",
            text.len() + 1
        )));
    }
    // SAFETY: `ip` is non-NULL and the caller promises `ip_capacity` writable bytes, which
    // we checked are enough for the text and its NUL.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), ip.cast::<u8>(), text.len());
        *ip.add(text.len()) = 0;
    }
    if !out_port.is_null() {
        // SAFETY: non-NULL; the caller promises it is writable.
        unsafe { write_out(out_port, addr.port(), "out_port")? };
    }
    Ok(())
}

/// The peer's address (IPv4 peers of a dual-stack socket appear as plain IPv4). Like
/// `luna_conn_local`, `luna_conn_is_tls` and `luna_conn_is_compressed`, readable from the
/// OPEN event until the poll after the one that returns the connection's CLOSE.
#[no_mangle]
pub extern "C" fn luna_conn_peer(
    app: *mut LunaApp,
    conn: u64,
    ip: *mut c_char,
    ip_capacity: usize,
    out_port: *mut u16,
) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn_to_read(conn)?;
        write_addr(conn.link()?.peer, ip, ip_capacity, out_port)
    })
}

/// The local address of the connection's socket.
#[no_mangle]
pub extern "C" fn luna_conn_local(
    app: *mut LunaApp,
    conn: u64,
    ip: *mut c_char,
    ip_capacity: usize,
    out_port: *mut u16,
) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn_to_read(conn)?;
        let local = conn
            .link()?
            .socket()?
            .get_ref()
            .local_addr()
            .map_err(|e| Error::io("local address", e))?;
        write_addr(
            crate::conn::normalize_peer(local),
            ip,
            ip_capacity,
            out_port,
        )
    })
}

/// The connection's socket descriptor, valid until its CLOSE event is polled. Use it for
/// socket options only: reading or writing it corrupts the WebSocket stream.
#[no_mangle]
pub extern "C" fn luna_conn_fd(app: *mut LunaApp, conn: u64, out_fd: *mut i64) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn(conn)?;
        let fd = raw_fd(conn.link()?.socket()?)?;
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_fd, fd, "out_fd") }
    })
}

#[cfg(unix)]
fn raw_fd(socket: &smol::Async<std::net::TcpStream>) -> Result<i64> {
    use std::os::fd::AsRawFd;
    Ok(socket.as_raw_fd() as i64)
}

#[cfg(windows)]
fn raw_fd(socket: &smol::Async<std::net::TcpStream>) -> Result<i64> {
    use std::os::windows::io::AsRawSocket;
    Ok(socket.as_raw_socket() as i64)
}

/// 1 in `out_tls` when the connection is encrypted (wss://), else 0.
#[no_mangle]
pub extern "C" fn luna_conn_is_tls(app: *mut LunaApp, conn: u64, out_tls: *mut u8) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn_to_read(conn)?;
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_tls, u8::from(conn.link()?.tls), "out_tls") }
    })
}

/// 1 in `out_compressed` when the connection negotiated permessage-deflate (RFC 7692),
/// else 0.
#[no_mangle]
pub extern "C" fn luna_conn_is_compressed(
    app: *mut LunaApp,
    conn: u64,
    out_compressed: *mut u8,
) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn_to_read(conn)?;
        let compressed = u8::from(conn.link()?.compressed);
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_compressed, compressed, "out_compressed") }
    })
}

/// Turns Nagle's algorithm off (`enable` 1 = TCP_NODELAY on, the default for luna) or on.
#[no_mangle]
pub extern "C" fn luna_conn_set_nodelay(app: *mut LunaApp, conn: u64, enable: u8) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn(conn)?;
        conn.link()?
            .socket()?
            .get_ref()
            .set_nodelay(enable != 0)
            .map_err(|e| Error::io("TCP_NODELAY", e))
    })
}

/// Turns TCP keepalive probes on (1) or off (0).
#[no_mangle]
pub extern "C" fn luna_conn_set_keepalive(app: *mut LunaApp, conn: u64, enable: u8) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn(conn)?;
        socket2::SockRef::from(conn.link()?.socket()?.get_ref())
            .set_keepalive(enable != 0)
            .map_err(|e| Error::io("SO_KEEPALIVE", e))
    })
}

/// The opening handshake request of a server connection, as `luna_conn_request` gives it.
/// Not NUL-terminated. Read from an OPEN event, the pointers stay valid until the
/// `luna_app_poll` after the one that returns the connection's CLOSE event (so a host may
/// still read the request while it handles the CLOSE), or `luna_app_free`. Read from
/// an UPGRADE or HTTP event, they stay valid until the first `luna_app_poll` on the app after
/// the request was answered (`luna_upgrade_accept`, `luna_upgrade_reject`,
/// `luna_http_respond`) or given up (handshake timeout, client gone), or `luna_app_free`: a
/// refused or timed-out handshake and an answered HTTP request get no CLOSE event. Copy what
/// must outlive the batch in which you answer.
#[repr(C)]
pub struct LunaRequest {
    /// "GET".
    pub method: *const u8,
    /// Bytes at `method`.
    pub method_len: usize,
    /// The request target as sent: path and query, such as "/chat?room=1".
    pub target: *const u8,
    /// Bytes at `target`.
    pub target_len: usize,
    /// How many header fields `luna_conn_header` can read (0 .. header_count - 1).
    pub header_count: usize,
}

/// One header field of a handshake request: the name in lower case, the value as sent
/// (repeated fields come one by one, in order). Valid as long as `LunaRequest`'s pointers.
#[repr(C)]
pub struct LunaHeader {
    /// The field name, lower case.
    pub name: *const u8,
    /// Bytes at `name`.
    pub name_len: usize,
    /// The value, without surrounding whitespace.
    pub value: *const u8,
    /// Bytes at `value`.
    pub value_len: usize,
}

/// The handshake request of server connection `conn`: readable from its UPGRADE or HTTP
/// event (see `upgrade_events`, `http_events`) until the first poll after it was answered or
/// timed out, and from its OPEN event until the poll after the one that returns its CLOSE
/// (`LunaRequest` says how long the pointers live).
/// A client connection has none: LUNA_RESULT_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn luna_conn_request(
    app: *mut LunaApp,
    conn: u64,
    out_request: *mut LunaRequest,
) -> LunaResult {
    guard(|| {
        let request = lookup(app)?.request(conn)?;
        let out = LunaRequest {
            method: request.method.as_ptr(),
            method_len: request.method.len(),
            target: request.target.as_ptr(),
            target_len: request.target.len(),
            header_count: request.headers.len(),
        };
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_request, out, "out_request") }
    })
}

/// Header field `index` (0-based, in the order sent) of connection `conn`'s handshake
/// request; LUNA_RESULT_INVALID_ARGUMENT past the last one.
#[no_mangle]
pub extern "C" fn luna_conn_header(
    app: *mut LunaApp,
    conn: u64,
    index: usize,
    out_header: *mut LunaHeader,
) -> LunaResult {
    guard(|| {
        let request = lookup(app)?.request(conn)?;
        let (name, value) = request.headers.get(index).ok_or_else(|| {
            let count = request.headers.len();
            Error::invalid(format!(
                "header index {index} is past the last ({count} fields)"
            ))
        })?;
        let out = LunaHeader {
            name: name.as_ptr(),
            name_len: name.len(),
            value: value.as_ptr(),
            value_len: value.len(),
        };
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_header, out, "out_header") }
    })
}

/// Subscribes open server connection `conn` to `topic`: `topic_len` bytes (any bytes, at
/// most 256; may be NULL when `topic_len` is 0). `out_changed` (may be NULL) receives 1 when
/// it was not subscribed yet, 0 when it already was. Subscriptions end by themselves with
/// the `luna_app_poll` that returns the connection's CLOSE event. Returns
/// LUNA_RESULT_CLOSED for a closed connection, LUNA_RESULT_INVALID_ARGUMENT for a longer
/// topic or a client app (clients have no topics).
#[no_mangle]
pub extern "C" fn luna_conn_subscribe(
    app: *mut LunaApp,
    conn: u64,
    topic: *const u8,
    topic_len: usize,
    out_changed: *mut u8,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises `topic_len` readable bytes at `topic`.
        let topic = unsafe { bytes(topic, topic_len, "topic")? };
        let changed = app.subscribe(conn, topic)?;
        write_changed(out_changed, changed)
    })
}

/// Unsubscribes open server connection `conn` from `topic` (as in `luna_conn_subscribe`).
/// `out_changed` (may be NULL) receives 1 when it was subscribed, 0 when it was not.
#[no_mangle]
pub extern "C" fn luna_conn_unsubscribe(
    app: *mut LunaApp,
    conn: u64,
    topic: *const u8,
    topic_len: usize,
    out_changed: *mut u8,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises `topic_len` readable bytes at `topic`.
        let topic = unsafe { bytes(topic, topic_len, "topic")? };
        let changed = app.unsubscribe(conn, topic)?;
        write_changed(out_changed, changed)
    })
}

fn write_changed(out_changed: *mut u8, changed: bool) -> Result<()> {
    if out_changed.is_null() {
        return Ok(());
    }
    // SAFETY: non-NULL; the caller promises it is writable.
    unsafe { write_out(out_changed, u8::from(changed), "out_changed") }
}

/// How many topics open server connection `conn` is subscribed to, in `out_count`.
#[no_mangle]
pub extern "C" fn luna_conn_subscription_count(
    app: *mut LunaApp,
    conn: u64,
    out_count: *mut usize,
) -> LunaResult {
    guard(|| {
        let count = lookup(app)?.with_subscriptions(conn, |topics| topics.len())?;
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_count, count, "out_count") }
    })
}

/// Topic `index` (0-based, in the order subscribed) of open server connection `conn`:
/// `out_topic` points to its `out_len` bytes (not NUL-terminated). The bytes stay valid
/// until the connection's subscriptions next change (`luna_conn_subscribe`,
/// `luna_conn_unsubscribe`, the `luna_app_poll` that returns its CLOSE) or `luna_app_free`;
/// copy them before. LUNA_RESULT_INVALID_ARGUMENT past the last one.
#[no_mangle]
pub extern "C" fn luna_conn_subscription(
    app: *mut LunaApp,
    conn: u64,
    index: usize,
    out_topic: *mut *const u8,
    out_len: *mut usize,
) -> LunaResult {
    guard(|| {
        if out_topic.is_null() || out_len.is_null() {
            return Err(Error::invalid("out_topic or out_len is NULL"));
        }
        let topic = lookup(app)?.with_subscriptions(conn, |topics| {
            let topic = topics.get(index).ok_or_else(|| {
                let count = topics.len();
                Error::invalid(format!(
                    "subscription index {index} is past the last ({count} topics)"
                ))
            })?;
            Ok::<_, Error>((topic.as_ptr(), topic.len()))
        })??;
        // SAFETY: both checked for NULL; the caller promises they are writable.
        unsafe {
            write_out(out_topic, topic.0, "out_topic")?;
            write_out(out_len, topic.1, "out_len")
        }
    })
}

/// Sends one message to every subscriber of `topic` but `conn` (typically the connection
/// whose message is being handled, so a sender does not get its own message back), as
/// `luna_app_publish` does (other nodes' subscribers included). `conn` need not be subscribed; LUNA_RESULT_CLOSED when it has
/// closed (nothing is sent).
#[no_mangle]
pub extern "C" fn luna_conn_publish(
    app: *mut LunaApp,
    conn: u64,
    topic: *const u8,
    topic_len: usize,
    data: *const u8,
    len: usize,
    opcode: u32,
    out_count: *mut usize,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises `topic_len` readable bytes at `topic`.
        let topic = unsafe { bytes(topic, topic_len, "topic")? };
        // SAFETY: the caller promises `len` readable bytes at `data`.
        let data = unsafe { bytes(data, len, "data")? };
        let sent = app.publish(topic, data, opcode, Some(conn))?;
        write_count(out_count, sent)
    })
}
