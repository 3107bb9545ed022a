//! Sending to, closing and inspecting one connection of an app.

use std::ffi::c_char;

use super::LunaResult;
use super::{bytes, guard, lookup, write_out, LunaApp};
use crate::error::{Error, Result};

/// Sends one message to connection `conn`. The bytes are copied before this returns.
/// `opcode`: 1 = TEXT (must be valid UTF-8), 2 = BINARY, 9 = PING, 10 = PONG (≤ 125 bytes).
/// Messages sent while handling the events of a `luna_app_poll` are written together, one
/// write per connection, by the next `luna_app_poll`, `luna_app_wait` or `luna_app_flush`
/// of the app; at other times they are written at once. What the socket cannot take yet is
/// written by the I/O thread.
/// Returns LUNA_RESULT_CLOSED when the connection has closed (or is closing),
/// LUNA_RESULT_BACKPRESSURE when its outgoing queue is full. Never blocks.
#[no_mangle]
pub extern "C" fn luna_conn_send(
    app: *mut LunaApp,
    conn: u64,
    data: *const u8,
    len: usize,
    opcode: u32,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises `len` readable bytes at `data`.
        let data = unsafe { bytes(data, len, "data")? };
        app.send(conn, data, opcode)
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

/// The peer's address (IPv4 peers of a dual-stack socket appear as plain IPv4).
#[no_mangle]
pub extern "C" fn luna_conn_peer(
    app: *mut LunaApp,
    conn: u64,
    ip: *mut c_char,
    ip_capacity: usize,
    out_port: *mut u16,
) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn(conn)?;
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
        let conn = lookup(app)?.conn(conn)?;
        let local = conn
            .link()?
            .socket
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
        let fd = raw_fd(&conn.link()?.socket)?;
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_fd, fd, "out_fd") }
    })
}

#[cfg(unix)]
fn raw_fd(socket: &smol::net::TcpStream) -> Result<i64> {
    use std::os::fd::AsRawFd;
    Ok(socket.as_raw_fd() as i64)
}

#[cfg(windows)]
fn raw_fd(socket: &smol::net::TcpStream) -> Result<i64> {
    use std::os::windows::io::AsRawSocket;
    Ok(socket.as_raw_socket() as i64)
}

/// 1 in `out_tls` when the connection is encrypted (wss://), else 0.
#[no_mangle]
pub extern "C" fn luna_conn_is_tls(app: *mut LunaApp, conn: u64, out_tls: *mut u8) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn(conn)?;
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_tls, u8::from(conn.link()?.tls), "out_tls") }
    })
}

/// Turns Nagle's algorithm off (`enable` 1 = TCP_NODELAY on, the default for luna) or on.
#[no_mangle]
pub extern "C" fn luna_conn_set_nodelay(app: *mut LunaApp, conn: u64, enable: u8) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn(conn)?;
        conn.link()?
            .socket
            .set_nodelay(enable != 0)
            .map_err(|e| Error::io("TCP_NODELAY", e))
    })
}

/// Turns TCP keepalive probes on (1) or off (0).
#[no_mangle]
pub extern "C" fn luna_conn_set_keepalive(app: *mut LunaApp, conn: u64, enable: u8) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.conn(conn)?;
        socket2::SockRef::from(&conn.link()?.socket)
            .set_keepalive(enable != 0)
            .map_err(|e| Error::io("SO_KEEPALIVE", e))
    })
}
