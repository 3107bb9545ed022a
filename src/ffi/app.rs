//! Polling, waiting, broadcasting and releasing apps.

use std::ffi::c_char;
use std::time::Duration;

use super::event::{to_c, LunaEvent};
use super::{bytes, c_str, guard, lookup, unregister, write_count, write_out, LunaApp, LunaResult};
use crate::app::{self, App};
use crate::config::ServerIdentity;
use crate::error::{Error, ErrorKind};

/// Sends now what was sent while handling the last `luna_app_poll`'s events, instead of at
/// the next poll or wait, and ends that batch: later sends go out at once. Call it after
/// handling a batch when you will not poll again soon. (A host that has blocked in
/// `luna_app_wait` writes them itself; one that never waits hands them to the I/O thread.)
#[no_mangle]
pub extern "C" fn luna_app_flush(app: *mut LunaApp) -> LunaResult {
    guard(|| {
        lookup(app)?.flush();
        Ok(())
    })
}

/// The port the app listens on (the one the OS chose when the config said 0).
#[no_mangle]
pub extern "C" fn luna_app_port(app: *const LunaApp, out_port: *mut u16) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_port, app.port()?, "out_port") }
    })
}

/// Drains a server app, for a restart or a deploy: stops listening at once (the port is free
/// when this returns, for the process that replaces this one), lets HTTP requests in flight
/// finish (their answers say `Connection: close`), and closes every WebSocket with `code`
/// and `reason` (`reason_len` bytes, may be NULL when 0; checked as `luna_conn_close` checks
/// them; 1001 "going away" is the usual pair) after everything already queued for it has been
/// written, spread over 80% of `timeout_ms` so that reconnecting clients do not return as one
/// wave. Keep polling as usual (CLOSE events arrive) until `luna_app_drained` says 1, then
/// free the app. A second call changes nothing. A client app answers
/// LUNA_RESULT_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn luna_app_drain(
    app: *mut LunaApp,
    timeout_ms: u32,
    code: u16,
    reason: *const u8,
    reason_len: usize,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises `reason_len` readable bytes (checked for NULL).
        let reason = unsafe { bytes(reason, reason_len, "reason")? };
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        app.drain(timeout, code, reason)
    })
}

/// Stores in `out_drained` 1 when a drain started by `luna_app_drain` is over (every
/// WebSocket closed and every HTTP connection done, or its timeout passed), else 0 (also when
/// no drain was asked for).
#[no_mangle]
pub extern "C" fn luna_app_drained(app: *const LunaApp, out_drained: *mut u8) -> LunaResult {
    guard(|| {
        let drained = lookup(app)?.drained()?;
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_drained, u8::from(drained), "out_drained") }
    })
}

/// An app's counters since it started (`luna_app_stats`). Counts of messages and bytes are
/// of payloads (what `send` was given and `MESSAGE` events carry), each recipient of a
/// broadcast or publish counting once.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct LunaStats {
    /// WebSocket connections open now (server apps).
    pub connections_open: u64,
    /// WebSocket connections opened (server apps).
    pub connections_total: u64,
    /// WebSocket handshakes accepted (server apps).
    pub handshakes_accepted: u64,
    /// Handshakes refused because `origins` does not list the page's origin (403).
    pub refused_origin: u64,
    /// Handshakes refused because `max_connections` was reached (503).
    pub refused_capacity: u64,
    /// Handshakes refused because no requested subprotocol is served (400).
    pub refused_subprotocol: u64,
    /// Handshakes refused by the host (`luna_upgrade_reject`, or no decision in time).
    pub refused_host: u64,
    /// Handshakes refused because the client's address holds `max_connections_per_ip` (429).
    pub refused_address: u64,
    /// Connections dropped before an upgrade request arrived: TLS failures and timeouts.
    pub refused_handshake: u64,
    /// Plain HTTP requests answered (files, HTTP events, errors, metrics).
    pub http_requests: u64,
    /// Messages received (and PING/PONG payloads handed over with `control_frames`).
    pub messages_received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Messages accepted for sending.
    pub messages_sent: u64,
    /// Payload bytes accepted for sending.
    pub bytes_sent: u64,
    /// Sends refused with LUNA_RESULT_BACKPRESSURE (a broadcast counts each full queue).
    pub backpressure: u64,
    /// Times a peer went over `rate_limit_*` (its reading paused, or it was closed).
    pub rate_limited: u64,
    /// Payload bytes of the messages sent compressed (permessage-deflate), before...
    pub compression_input_bytes: u64,
    /// ...and after compression, as written: their ratio is what compression saves.
    pub compression_output_bytes: u64,
    /// 1 while a cluster app's Redis connections are both up.
    pub cluster_connected: u8,
    /// Bytes of publishes waiting for Redis.
    pub cluster_queued_bytes: u64,
    /// Publishes for other nodes lost (queue full, or Redis failed before confirming).
    pub cluster_dropped: u64,
}

/// Fills `out` with the app's counters (cheap: relaxed reads, no lock). The same counters
/// are served in the Prometheus text format at `metrics_path`.
#[no_mangle]
pub extern "C" fn luna_app_stats(app: *const LunaApp, out: *mut LunaStats) -> LunaResult {
    guard(|| {
        let s = lookup(app)?.stats();
        let [origin, capacity, subprotocol, host, address, handshake] = s.handshakes_refused;
        let stats = LunaStats {
            connections_open: s.connections_open,
            connections_total: s.connections_total,
            handshakes_accepted: s.handshakes_accepted,
            refused_origin: origin,
            refused_capacity: capacity,
            refused_subprotocol: subprotocol,
            refused_host: host,
            refused_address: address,
            refused_handshake: handshake,
            http_requests: s.http_requests,
            messages_received: s.messages_in,
            bytes_received: s.bytes_in,
            messages_sent: s.messages_out,
            bytes_sent: s.bytes_out,
            backpressure: s.backpressure,
            rate_limited: s.rate_limited,
            compression_input_bytes: s.compressed_in,
            compression_output_bytes: s.compressed_out,
            cluster_connected: u8::from(s.cluster_connected),
            cluster_queued_bytes: s.cluster_queued_bytes,
            cluster_dropped: s.cluster_dropped,
        };
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out, stats, "out") }
    })
}

/// Serves new connections of a `wss://` server app with this certificate (PEM, leaf first,
/// intermediates may follow) and private key (PEM), `key_password` for an encrypted key or
/// NULL: for certificates that renew (Let's Encrypt) without a restart. Open connections keep
/// the certificate they started with. The files are read and checked (key matches, dates)
/// before anything changes: on LUNA_RESULT_TLS (unreadable, mismatched or expired) the
/// current certificate stays in place and `luna_last_error` says why. A plain `ws://` app or
/// a client app answers LUNA_RESULT_INVALID_ARGUMENT. Reads the files on the calling thread.
#[no_mangle]
pub extern "C" fn luna_app_reload_tls(
    app: *mut LunaApp,
    cert_file: *const c_char,
    key_file: *const c_char,
    key_password: *const c_char,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises NUL-terminated strings (checked for NULL).
        let cert_file = unsafe { c_str(cert_file, "cert_file")? };
        // SAFETY: as above.
        let key_file = unsafe { c_str(key_file, "key_file")? };
        let password = match key_password.is_null() {
            true => None,
            // SAFETY: non-NULL; the caller promises a NUL-terminated string.
            false => Some(unsafe { c_str(key_password, "key_password")? }.to_owned()),
        };
        app.reload_tls(&ServerIdentity {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            password,
        })
    })
}

/// Moves up to `capacity` pending events into `events` and stores how many in `out_count`
/// (0 when nothing is pending: it never blocks, but then yields the CPU once, so a host
/// polling in a loop leaves time to the I/O thread). The pointers inside the events stay valid
/// until the next `luna_app_poll` or `luna_app_free` of this app. Call it from one thread at
/// a time per app. On glibc Linux, the poll that ends a mass disconnect (at least 1000
/// connections, and more than half of those open, ended since the last) hands the memory
/// they held back to the OS (`malloc_trim`): about 10 ms once after 10,000 connections.
#[no_mangle]
pub extern "C" fn luna_app_poll(
    app: *mut LunaApp,
    events: *mut LunaEvent,
    capacity: usize,
    out_count: *mut usize,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        if out_count.is_null() {
            return Err(Error::invalid("out_count is NULL"));
        }
        if events.is_null() && capacity > 0 {
            return Err(Error::invalid("events is NULL but capacity is not 0"));
        }
        if capacity > isize::MAX as usize / std::mem::size_of::<LunaEvent>() {
            return Err(Error::invalid("capacity is too large"));
        }
        let slots = if capacity == 0 {
            &mut [][..]
        } else {
            // SAFETY: non-NULL and size-checked; the caller promises `capacity` writable events.
            unsafe { std::slice::from_raw_parts_mut(events, capacity) }
        };
        let mut slots = slots.iter_mut();
        let count = app.poll(capacity, |event| {
            if let Some(slot) = slots.next() {
                *slot = to_c(event);
            }
        });
        if app.take_mass_disconnect() {
            return_freed_memory();
        }
        // SAFETY: checked for NULL above; the caller promises it is writable.
        unsafe { write_out(out_count, count, "out_count") }
    })
}

/// Hands the heap pages that ended connections freed back to the OS: glibc keeps free pages
/// inside its arenas (the I/O threads' too), so after 10,000 connections reset a server would
/// stay at their peak (58 MiB more than before) until it needed that memory again. It takes
/// milliseconds on a large heap, so only a mass disconnect calls it (`App::poll`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_freed_memory() {
    // SAFETY: malloc_trim has no preconditions; it takes the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (musl, macOS, Windows) return free memory by their own rules.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_memory() {}

fn timeout(ms: i32) -> Option<Duration> {
    (ms >= 0).then(|| Duration::from_millis(ms as u64))
}

/// Blocks until an event is pending (LUNA_RESULT_OK) or `timeout_ms` passes
/// (LUNA_RESULT_TIMEOUT); a negative timeout waits forever. It does not consume events.
/// It first writes what the last batch sent (see `luna_conn_send`). With the environment
/// variable LUNA_WAIT_SPIN_US=N it checks for events for up to N µs before the thread
/// sleeps: lower latency for more CPU (opt-in). A signal caught after `luna_signals_catch`
/// ends it at once, with LUNA_RESULT_OK.
#[no_mangle]
pub extern "C" fn luna_app_wait(app: *mut LunaApp, timeout_ms: i32) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        match app.wait(timeout(timeout_ms)) {
            true => Ok(()),
            false => Err(Error::new(
                ErrorKind::Timeout,
                "no event before the timeout",
            )),
        }
    })
}

/// Like `luna_app_wait`, for several apps at once: returns LUNA_RESULT_OK as soon as any of
/// the `count` apps has an event pending. With `count` 0 it just sleeps for the timeout (and
/// refuses a negative one with LUNA_RESULT_INVALID_ARGUMENT).
#[no_mangle]
pub extern "C" fn luna_app_wait_any(
    apps: *const *mut LunaApp,
    count: usize,
    timeout_ms: i32,
) -> LunaResult {
    guard(|| {
        if apps.is_null() && count > 0 {
            return Err(Error::invalid("apps is NULL but count is not 0"));
        }
        let mut live = Vec::with_capacity(count.min(1024));
        for i in 0..count {
            // SAFETY: the caller promises `count` readable handles.
            live.push(lookup(unsafe { *apps.add(i) })?);
        }
        if live.is_empty() {
            // Waiting forever for nothing would hang the caller: refuse it.
            let pause = timeout(timeout_ms)
                .ok_or_else(|| Error::invalid("no apps to wait for and no timeout"))?;
            std::thread::sleep(pause);
            return Err(Error::new(ErrorKind::Timeout, "no apps to wait for"));
        }
        let refs: Vec<&App> = live.iter().map(|a| a.as_ref()).collect();
        match app::wait_any(&refs, timeout(timeout_ms)) {
            true => Ok(()),
            false => Err(Error::new(
                ErrorKind::Timeout,
                "no event before the timeout",
            )),
        }
    })
}

/// A descriptor that is readable while events are pending, for hosts with their own event
/// loop (epoll, libuv, ...). Read-only for the caller: do not read, write or close it; it
/// becomes unreadable again once `luna_app_poll` has drained the queue.
/// On Unix it is a file descriptor (one end of a socket pair). On Windows it is a Winsock
/// `SOCKET` (the read end of a loopback TCP pair), widened to int64_t: cast it back to
/// `SOCKET` and wait on it with `select`, `WSAPoll` or `WSAEventSelect`, not with CRT
/// functions that take C runtime descriptors.
#[no_mangle]
pub extern "C" fn luna_app_fd(app: *mut LunaApp, out_fd: *mut i64) -> LunaResult {
    guard(|| {
        let fd = lookup(app)?.fd()?;
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_fd, fd, "out_fd") }
    })
}

/// Sends one message to every open connection (those whose OPEN was polled and whose CLOSE
/// was not), or, when `protocol` is not NULL, only to those served by the subprotocol of
/// `protocol_len` bytes at `protocol` (a non-NULL `protocol` with `protocol_len` 0 = the
/// default handler's). The payload is copied once and shared. `out_count`
/// (may be NULL) receives how many connections accepted it (those closing or past their
/// `max_send_queue` are skipped); a message larger than the app's `max_send_queue` is
/// refused as a whole with LUNA_RESULT_TOO_LARGE. In a cluster (`cluster_redis`)
/// the message also reaches every other node's connections (of the subprotocol of the same
/// name); `out_count` still counts this app's only. LUNA_RESULT_INVALID_ARGUMENT for a
/// subprotocol the app does not serve, LUNA_RESULT_INVALID_UTF8 for one that is not UTF-8.
#[no_mangle]
pub extern "C" fn luna_app_broadcast(
    app: *mut LunaApp,
    data: *const u8,
    len: usize,
    opcode: u32,
    protocol: *const u8,
    protocol_len: usize,
    out_count: *mut usize,
) -> LunaResult {
    guard(|| {
        let app = lookup(app)?;
        // SAFETY: the caller promises `len` readable bytes at `data`.
        let data = unsafe { bytes(data, len, "data")? };
        let group = match protocol.is_null() && protocol_len == 0 {
            true => None,
            // SAFETY: the caller promises `protocol_len` readable bytes at `protocol`.
            false => Some(unsafe { bytes(protocol, protocol_len, "protocol")? }),
        };
        let group = group
            .map(std::str::from_utf8)
            .transpose()
            .map_err(|_| Error::new(ErrorKind::InvalidUtf8, "protocol is not valid UTF-8"))?;
        let sent = app.broadcast(data, opcode, group)?;
        write_count(out_count, sent)
    })
}

/// Sends one message to every subscriber of `topic` (`topic_len` bytes, at most 256; may be
/// NULL when `topic_len` is 0; see `luna_conn_subscribe`). `data` and `opcode` as in
/// `luna_conn_send`: it is checked and encoded once, and the frame shared by every
/// recipient, plain and TLS. `out_count` (may be NULL) receives how many connections
/// accepted it (0 for a topic nobody subscribed to); those that are closing or past their
/// `max_send_queue` are skipped. A message larger than the app's `max_send_queue` is refused
/// as a whole with LUNA_RESULT_TOO_LARGE: no connection or node gets it. In a cluster (`cluster_redis`) the message also reaches the
/// subscribers of every other node, once each; `out_count` still counts this app's only.
/// LUNA_RESULT_INVALID_UTF8 for TEXT that is not UTF-8, LUNA_RESULT_INVALID_ARGUMENT for a
/// longer topic or a client app.
#[no_mangle]
pub extern "C" fn luna_app_publish(
    app: *mut LunaApp,
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
        let sent = app.publish(topic, data, opcode, None)?;
        write_count(out_count, sent)
    })
}

/// Stops the app: stops listening (the port can be bound again when this returns), closes
/// every connection with 1001 "going away", and waits (at most the close timeout plus a
/// little) for them to finish. Their CLOSE events stay queued: poll them before freeing.
/// Stopping twice is a no-op.
#[no_mangle]
pub extern "C" fn luna_app_stop(app: *mut LunaApp) -> LunaResult {
    guard(|| {
        lookup(app)?.stop();
        Ok(())
    })
}

/// Stops the app if needed and releases it; unpolled events are discarded. NULL is a no-op;
/// a handle that was already freed returns LUNA_RESULT_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn luna_app_free(app: *mut LunaApp) -> LunaResult {
    guard(|| {
        if app.is_null() {
            return Ok(());
        }
        let app = unregister(app)?;
        app.stop();
        Ok(())
    })
}
