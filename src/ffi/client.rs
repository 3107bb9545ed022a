//! Creating client apps.

use std::ffi::c_char;
use std::path::PathBuf;

use super::{c_str, guard, lookup, register, strings, write_out, LunaApp, LunaResult};
use crate::app::App;
use crate::config::{self, ClientConfig, ClientTls, LimitSettings};
use crate::error::{Error, Result};

/// How to connect. Fill it with `luna_client_config_default`, then set what you need.
/// Strings are NUL-terminated UTF-8 and only read during `luna_client_connect`.
#[repr(C)]
pub struct LunaClientConfig {
    /// `ws://host[:port][/path][?query]` or `wss://...`. Required.
    pub url: *const c_char,
    /// Subprotocols to request, in order of preference; may be NULL when the count is 0.
    /// When any are requested, the server must agree to one or the connection fails.
    pub protocols: *const *const c_char,
    /// How many names `protocols` points to.
    pub protocol_count: usize,
    /// Extra request headers as "Name: value" strings; may be NULL when the count is 0.
    pub headers: *const *const c_char,
    /// How many lines `headers` points to.
    pub header_count: usize,
    /// Limit for resolving, connecting, TLS and the upgrade together. Default 10000.
    pub connect_timeout_ms: u32,
    /// wss://: verify the server's certificate and host name. Default 1.
    pub tls_verify: u8,
    /// Also deliver PING and PONG payloads as MESSAGE events. Default 0.
    pub control_frames: u8,
    /// What a send that would pass `max_send_queue` does: 0 (the default) answers
    /// LUNA_RESULT_BACKPRESSURE and queues nothing, so the host can retry or close; 1 drops
    /// what is queued, closes the connection with 1008 (policy violation: the peer does not
    /// read fast enough) and answers LUNA_RESULT_CLOSED.
    pub close_on_backpressure: u8,
    /// wss://: extra trusted CA certificates (PEM file); NULL = the system's only.
    pub tls_ca_file: *const c_char,
    /// wss://: a client certificate (PEM) and its PKCS#8 key (PEM); both or neither.
    pub tls_cert_file: *const c_char,
    /// The key file that goes with `tls_cert_file`.
    pub tls_key_file: *const c_char,
    /// Largest incoming message; larger ones close with 1009. Default 16 MiB; 0 = unlimited.
    pub max_message_size: usize,
    /// Largest incoming frame; larger ones close with 1009. Default 16 MiB; 0 = unlimited.
    pub max_frame_size: usize,
    /// Outgoing bytes queued before sends answer LUNA_RESULT_BACKPRESSURE (including those
    /// queued while connecting); a message larger than this is refused with
    /// LUNA_RESULT_TOO_LARGE. Default 16 MiB; 0 = unlimited.
    pub max_send_queue: usize,
    /// Send a ping this often. Default 0 = never.
    pub ping_interval_ms: u32,
    /// Close (1001) when the server sent nothing for this long. Default 0 = never.
    pub idle_timeout_ms: u32,
    /// How long a closing handshake we start may take. Default 1000.
    pub close_timeout_ms: u32,
    /// Bytes read from the socket at a time (one buffer per I/O thread, not per
    /// connection). Default 65536.
    pub read_buffer_size: u32,
    /// permessage-deflate (RFC 7692) offered to the server: 0 off (the
    /// default: CPU), 1 shared (no context takeover: no compressor per connection, one
    /// compressed frame for every broadcast or publish recipient), 2 dedicated (context
    /// takeover: a better ratio on repeated content; each connection keeps the last 4 KiB it
    /// sent and received (12-bit windows), 17 KiB resident per connection measured against 7.5
    /// without compression, while each thread that compresses holds up to four compressors
    /// of ~260 KiB for all its connections). Anything else fails with
    /// LUNA_RESULT_INVALID_ARGUMENT.
    pub compression: u32,
    /// On a compressing connection, messages smaller than this many bytes go uncompressed.
    /// Default 256; 0 = the default.
    pub compression_threshold: u32,
    /// zlib's compression level on a compressing connection: 1 fastest to 9 smallest. It
    /// costs CPU, not memory. Default 6; 0 = the default. Above 9 fails with
    /// LUNA_RESULT_INVALID_ARGUMENT.
    pub compression_level: u32,
}

/// Fills `config` with the defaults documented on each field (url NULL).
#[no_mangle]
pub extern "C" fn luna_client_config_default(config: *mut LunaClientConfig) -> LunaResult {
    guard(|| {
        let limits = LimitSettings::defaults();
        let defaults = LunaClientConfig {
            url: std::ptr::null(),
            protocols: std::ptr::null(),
            protocol_count: 0,
            headers: std::ptr::null(),
            header_count: 0,
            connect_timeout_ms: config::DEFAULT_CONNECT_TIMEOUT.as_millis() as u32,
            tls_verify: 1,
            control_frames: u8::from(limits.control_frames),
            close_on_backpressure: u8::from(limits.close_on_backpressure),
            tls_ca_file: std::ptr::null(),
            tls_cert_file: std::ptr::null(),
            tls_key_file: std::ptr::null(),
            max_message_size: limits.max_message_size,
            max_frame_size: limits.max_frame_size,
            max_send_queue: limits.max_send_queue,
            ping_interval_ms: limits.ping_interval_ms,
            idle_timeout_ms: limits.idle_timeout_ms,
            close_timeout_ms: limits.close_timeout_ms,
            read_buffer_size: limits.read_buffer_size,
            compression: limits.compression,
            compression_threshold: limits.compression_threshold,
            compression_level: limits.compression_level,
        };
        // SAFETY: `config` is checked for NULL; the caller promises it is writable.
        unsafe { write_out(config, defaults, "config") }
    })
}

/// Starts a client app and returns at once; the connection is made in the background and
/// reported by an OPEN event, or by an ERROR event (which failure: LUNA_RESULT_DNS, _REFUSED,
/// _TIMEOUT, _TLS, _IO, _SUBPROTOCOL, _PROTOCOL with `http_status` for an HTTP answer other
/// than 101) followed by CLOSE 1006. `out_conn` (may be NULL) receives the connection's id, usable with
/// `luna_conn_send` at once: messages sent before OPEN are queued and sent in order.
/// Returns NULL when it cannot start; `luna_last_result` gives the code and
/// `luna_last_error` says why: LUNA_RESULT_INVALID_ARGUMENT (or _INVALID_UTF8) for a bad
/// config or URL, LUNA_RESULT_TLS for a client certificate that cannot be loaded,
/// LUNA_RESULT_UNSUPPORTED for wss:// in a build without TLS.
#[no_mangle]
pub extern "C" fn luna_client_connect(
    config: *const LunaClientConfig,
    out_conn: *mut u64,
) -> *mut LunaApp {
    let mut app = std::ptr::null_mut();
    guard(|| {
        if config.is_null() {
            return Err(Error::invalid("config is NULL"));
        }
        // SAFETY: non-NULL; the caller promises a config filled by luna_client_config_default.
        let config = unsafe { client_config(&*config)? };
        let client = App::new_client(config)?;
        let conn = client.client_conn()?;
        let handle = register(client);
        if !out_conn.is_null() {
            // SAFETY: non-NULL; the caller promises it is writable.
            unsafe { write_out(out_conn, conn, "out_conn")? };
        }
        app = handle;
        Ok(())
    });
    app
}

/// The id of a client app's connection.
#[no_mangle]
pub extern "C" fn luna_client_conn(app: *mut LunaApp, out_conn: *mut u64) -> LunaResult {
    guard(|| {
        let conn = lookup(app)?.client_conn()?;
        // SAFETY: checked for NULL; the caller promises it is writable.
        unsafe { write_out(out_conn, conn, "out_conn") }
    })
}

/// Reads an optional path.
///
/// # Safety
/// `ptr` must be NULL or a NUL-terminated string.
unsafe fn path(ptr: *const c_char, what: &str) -> Result<Option<PathBuf>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from the caller's promise.
    Ok(Some(PathBuf::from(unsafe { c_str(ptr, what)? })))
}

/// Copies the C config into its Rust form, checking every field.
///
/// # Safety
/// Pointers in `c` must be NULL or valid as documented on `LunaClientConfig`.
unsafe fn client_config(c: &LunaClientConfig) -> Result<ClientConfig> {
    // SAFETY: forwarded from the caller's promise about `c`.
    let url = unsafe { c_str(c.url, "config.url")? }.to_owned();
    // SAFETY: forwarded from the caller's promise about `c`.
    let protocols = unsafe { strings(c.protocols, c.protocol_count, "config.protocols")? };
    config::check_protocol_names(&protocols)?;
    // SAFETY: forwarded from the caller's promise about `c`.
    let lines = unsafe { strings(c.headers, c.header_count, "config.headers")? };
    let headers = lines
        .iter()
        .map(|line| config::parse_header_line(line))
        .collect::<Result<Vec<_>>>()?;
    let tls = ClientTls {
        verify: c.tls_verify != 0,
        // SAFETY: forwarded from the caller's promise about `c`.
        ca_file: unsafe { path(c.tls_ca_file, "config.tls_ca_file")? },
        // SAFETY: forwarded from the caller's promise about `c`.
        cert_file: unsafe { path(c.tls_cert_file, "config.tls_cert_file")? },
        // SAFETY: forwarded from the caller's promise about `c`.
        key_file: unsafe { path(c.tls_key_file, "config.tls_key_file")? },
    };
    let limits = LimitSettings {
        max_message_size: c.max_message_size,
        max_frame_size: c.max_frame_size,
        max_send_queue: c.max_send_queue,
        ping_interval_ms: c.ping_interval_ms,
        idle_timeout_ms: c.idle_timeout_ms,
        close_timeout_ms: c.close_timeout_ms,
        read_buffer_size: c.read_buffer_size,
        control_frames: c.control_frames != 0,
        close_on_backpressure: c.close_on_backpressure != 0,
        compression: c.compression,
        compression_threshold: c.compression_threshold,
        compression_level: c.compression_level,
        ..LimitSettings::defaults()
    };
    Ok(ClientConfig {
        url,
        protocols,
        headers,
        connect_timeout: config::timeout(c.connect_timeout_ms),
        tls,
        limits: limits.limits()?,
    })
}
