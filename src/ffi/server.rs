//! Creating server apps.

use std::ffi::c_char;

use super::server_config::server_config;
use super::{guard, register, write_out, LunaApp, LunaResult};
use crate::app::App;
use crate::config::{self, HttpLimits, LimitSettings};
use crate::error::Error;

/// How to start a server. Fill it with `luna_server_config_default`, then set what you need.
/// Strings are NUL-terminated UTF-8 and only read during `luna_server_new`.
#[repr(C)]
pub struct LunaServerConfig {
    /// Address or name to listen on; "*" = every interface, IPv4 and IPv6. Required.
    pub host: *const c_char,
    /// Port to listen on; 0 picks a free one (read it back with `luna_app_port`).
    pub port: u16,
    /// Whether connections that request none of `protocols` are accepted (the default
    /// handler). Without it they are refused with HTTP 400. Default 1.
    pub has_default: u8,
    /// Also deliver PING and PONG payloads as MESSAGE events (opcodes 9 and 10). Default 0.
    pub control_frames: u8,
    /// What a send that would pass `max_send_queue` does: 0 (the default) answers
    /// LUNA_RESULT_BACKPRESSURE and queues nothing, so the host can retry or close; 1 drops
    /// what is queued, closes the connection with 1008 (policy violation: the peer does not
    /// read fast enough) and answers LUNA_RESULT_CLOSED.
    pub close_on_backpressure: u8,
    /// Subprotocol names served, `protocol_count` of them; may be NULL when the count is 0.
    pub protocols: *const *const c_char,
    /// How many names `protocols` points to.
    pub protocol_count: usize,
    /// Largest incoming message; larger ones close the connection with 1009.
    /// Default 16 MiB; 0 = unlimited.
    pub max_message_size: usize,
    /// Largest incoming frame; larger ones close with 1009. Default 16 MiB; 0 = unlimited.
    pub max_frame_size: usize,
    /// Outgoing bytes queued per connection before sends answer LUNA_RESULT_BACKPRESSURE; a
    /// message larger than this (before framing and compression) is refused with
    /// LUNA_RESULT_TOO_LARGE, even on an empty queue. Default 16 MiB (one maximum-size
    /// message fits); 0 = unlimited.
    pub max_send_queue: usize,
    /// WebSocket connections (open plus handshaking) beyond which handshakes get HTTP 503.
    /// Plain HTTP connections count against `max_http_connections` instead. Default: the
    /// process's descriptor limit (RLIMIT_NOFILE) less 64 kept for files and other sockets
    /// (10000 where the platform has no such limit), so a flood is answered 503 instead of
    /// making accept fail; 0 = unlimited.
    pub max_connections: u32,
    /// A peer that has not completed the upgrade by then is dropped; in the HTTP phase, also
    /// the longest wait for each request head and body, and for each write of an answer to
    /// make progress (a client that stops reading a download is dropped). Default 10000;
    /// 0 = no limit.
    pub handshake_timeout_ms: u32,
    /// Send a ping this often, so vanished peers are found and proxies keep the connection.
    /// Default 30000; 0 = never.
    pub ping_interval_ms: u32,
    /// Close (1001) a peer that sent nothing (not even a pong) for this long. Default
    /// 120000 (four missed pings); 0 = never.
    pub idle_timeout_ms: u32,
    /// How long a closing handshake we start may take before TCP is dropped. Default 1000.
    pub close_timeout_ms: u32,
    /// Bytes read from a socket at a time (one buffer per I/O thread, not per connection).
    /// Default 65536.
    pub read_buffer_size: u32,
    /// Serve wss://: the certificate (PEM; leaf first, intermediates may follow) and the
    /// private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC). Both or neither; NULL = plain ws://.
    /// A missing, unreadable, mismatched or expired pair makes `luna_server_new` fail with
    /// LUNA_RESULT_TLS; a build without TLS fails with LUNA_RESULT_UNSUPPORTED.
    pub tls_cert_file: *const c_char,
    /// The private key file that goes with `tls_cert_file`.
    pub tls_key_file: *const c_char,
    /// Password of an encrypted key, or NULL.
    pub tls_key_password: *const c_char,
    /// Browser origins allowed to connect, such as "https://example.com" (compared with the
    /// handshake's Origin header, ignoring case); a handshake from another origin is refused
    /// with HTTP 403 before any event. Count 0 = every origin (the default). Handshakes
    /// without an Origin header (non-browser clients) are not refused.
    pub origins: *const *const c_char,
    /// How many strings `origins` points to.
    pub origin_count: usize,
    /// Serve the files under this directory to plain HTTP GET and HEAD requests on the same
    /// port (Content-Type by extension, ETag/Last-Modified with 304, keep-alive; nothing
    /// outside the directory, no listings). NULL (the default): plain requests get HTTP 400.
    pub static_root: *const c_char,
    /// The file that answers for a directory. NULL = "index.html".
    pub static_index: *const c_char,
    /// Largest request head (request line and headers) in bytes; larger ones are answered
    /// 431. Default 16384; 0 = the default.
    pub max_head_size: u32,
    /// 1 = hold every handshake that passed the origin, connection-count and subprotocol
    /// checks until the host decides it: an UPGRADE event, answered by `luna_upgrade_accept`
    /// or `luna_upgrade_reject` (authentication, routing, cookies). Costs one host round trip
    /// per handshake. Default 0: luna accepts on its own.
    pub upgrade_events: u8,
    /// 1 = plain HTTP requests that no file of `static_root` answers (a missing file, a
    /// method other than GET/HEAD, or every request without `static_root`) become HTTP
    /// events, answered by `luna_http_respond` (dynamic routes, health checks, small APIs).
    /// Default 0: they get 404/405 (with `static_root`) or 400.
    pub http_events: u8,
    /// Largest request body an HTTP event carries; larger ones are answered 413.
    /// Default 1 MiB.
    pub max_body_size: usize,
    /// Join a cluster through Redis pub/sub: "redis://[[user]:password@]host[:port][/db]" or
    /// "rediss://..." (TLS, verified against the system's trust store). Publishes and
    /// broadcasts then also reach the matching connections of every app with the same Redis
    /// and prefix (their counts stay local). The app subscribes in Redis only to topics with
    /// local subscribers. An unreachable Redis does not fail `luna_server_new`: local traffic
    /// goes on, ERROR events (code LUNA_RESULT_IO, `conn` 0) report it, the app reconnects
    /// with backoff (100 ms to 5 s), and cross-node messages wait in a 64 MiB queue (then are
    /// dropped, and reported). A Redis that stops answering counts as unreachable: connecting
    /// (TCP, TLS, AUTH, SELECT, PING) must finish within 5 s, and after 5 s without a byte
    /// from Redis a PING must be answered within 5 s (the environment variable
    /// LUNA_REDIS_TIMEOUT_MS changes the 5 s). NULL (the default): no Redis code runs.
    pub cluster_redis: *const c_char,
    /// The name of the cluster: apps with the same Redis and prefix form one, so several
    /// clusters can share one Redis. Channels are named "{length}:{prefix}{kind}:{name}"
    /// (topic "room" of "luna:" is "5:luna:t:room"; kind t = topic, g = group, b = everyone),
    /// so no two clusters share a channel even when one prefix starts with another. NULL =
    /// "luna:"; an empty one is a bad config (luna_server_new returns NULL). Only with
    /// `cluster_redis`.
    pub cluster_prefix: *const c_char,
    /// The Cache-Control of static file answers, such as "public, max-age=3600" for files
    /// that never change under their name. NULL = "no-cache" (browsers revalidate every time:
    /// a changed file shows at once, an unchanged one costs a 304).
    pub static_cache_control: *const c_char,
    /// permessage-deflate (RFC 7692) for clients that offer it (browsers do): 0 off (the
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
    /// Plain HTTP connections (static files, HTTP events, keep-alive waits between requests)
    /// served at once; a request beyond them is answered 503 and closed. They never count
    /// against `max_connections`, so downloads cannot lock WebSocket upgrades out. A
    /// keep-alive connection closes after 1000 requests. Default 1024; 0 = the default.
    pub max_http_connections: u32,
    /// Bytes all request bodies in flight (being read, or waiting for `luna_http_respond`)
    /// may hold together; a request whose announced body does not fit is answered 503. A
    /// body's memory grows as its bytes arrive, never to the announced length up front.
    /// Default 64 MiB; 0 = the default.
    pub max_body_memory: usize,
    /// 1 = listen with SO_REUSEPORT: several processes (one per core, say) may listen on the
    /// same host and port, and the kernel spreads new connections among them; share topics
    /// between them with `cluster_redis`. A platform without it (Windows) makes
    /// `luna_server_new` fail with LUNA_RESULT_UNSUPPORTED. Default 0.
    pub reuse_port: u8,
    /// Addresses ("127.0.0.1", "::1") or networks ("10.0.0.0/8") of reverse proxies in front
    /// of this server, `trusted_proxy_count` of them. When a connection comes from one, the
    /// client address it forwards (`Forwarded: for=`, else `X-Forwarded-For`, read from the
    /// right past every trusted hop) is the peer that OPEN, UPGRADE and HTTP events and
    /// `luna_conn_peer` report, with port 0 unless the header gives one; from any other peer
    /// those headers are ignored. Count 0 (the default): the TCP peer is always the peer.
    pub trusted_proxies: *const *const c_char,
    /// How many strings `trusted_proxies` points to.
    pub trusted_proxy_count: usize,
    /// Serve the app's counters (those of `luna_app_stats`) in the Prometheus text format to
    /// GET requests for exactly this path, such as "/metrics", on the app's own port (before
    /// static files and HTTP events). NULL (the default): not served.
    pub metrics_path: *const c_char,
    /// With `metrics_path`: the metrics answer only requests with `Authorization: Bearer
    /// TOKEN` (others get 401). NULL (the default): anyone who reaches the port may read them.
    pub metrics_token: *const c_char,
    /// 1 = a LOG event per plain HTTP request answered and per WebSocket handshake, its
    /// `data` a line in the combined log format (see LUNA_EVENT_KIND_LOG). Default 0.
    pub access_log: u8,
    /// Open WebSocket connections one client address may hold (the address a trusted proxy
    /// forwards, else the TCP peer's); further handshakes from it get HTTP 429. Default 0 =
    /// unlimited (players behind one NAT share an address: set it with care).
    pub max_connections_per_ip: u32,
    /// WebSocket handshakes per second one client address may start (bursts of as many);
    /// beyond it HTTP 429 with `Retry-After: 1`. Default 0 = unlimited.
    pub max_handshake_rate_per_ip: u32,
    /// Rate limit on what each WebSocket peer sends: this many messages per
    /// `rate_limit_per_ms` (0 = no message limit)...
    pub rate_limit_messages: u32,
    /// ...and this many payload bytes per `rate_limit_per_ms` (0 = no byte limit). A token
    /// bucket: `rate_limit_burst` periods' worth may come at once, then the rate holds. A
    /// message over the limit is still delivered; then the peer's socket is not read until
    /// the buckets refill (TCP slows it, nothing is lost), or with `rate_limit_close` the
    /// connection is closed with 1008. Each costs O(1) per message. Default 0 and 0: none.
    pub rate_limit_bytes: u64,
    /// The period of the rate limit. Default 1000.
    pub rate_limit_per_ms: u32,
    /// Periods' worth a quiet peer may send at once. Default 1; 0 = 1.
    pub rate_limit_burst: u32,
    /// 1 = close a peer over its rate limit with 1008 instead of pausing it. Default 0.
    pub rate_limit_close: u8,
    /// Session resume: a client that asks for a session (luna's clients do when they
    /// reconnect) keeps it for this long after its connection drops, and coming back within
    /// it gets what it missed while the host sees one unbroken connection (a RESUME event).
    /// Default 0 = no sessions: nothing on the wire changes.
    pub resume_window_ms: u32,
    /// Bytes of sent messages each session keeps for a resend. Default 262144; 0 = default.
    pub resume_buffer: usize,
    /// Bytes all sessions of the app keep together; past it, live sessions give up their
    /// oldest messages and a paused one ends. Default 64 MiB; 0 = default.
    pub resume_memory: usize,
    /// Put in front of every session token (letters, digits, `-`, `_`), so a proxy can send
    /// a resume to the node that holds the session; NULL = none.
    pub resume_node: *const c_char,
}

/// Fills `config` with the defaults documented on each field (host NULL, port 0).
#[no_mangle]
pub extern "C" fn luna_server_config_default(config: *mut LunaServerConfig) -> LunaResult {
    guard(|| {
        let limits = LimitSettings::server_defaults(descriptor_limit());
        let defaults = LunaServerConfig {
            host: std::ptr::null(),
            port: 0,
            has_default: 1,
            control_frames: u8::from(limits.control_frames),
            close_on_backpressure: u8::from(limits.close_on_backpressure),
            protocols: std::ptr::null(),
            protocol_count: 0,
            max_message_size: limits.max_message_size,
            max_frame_size: limits.max_frame_size,
            max_send_queue: limits.max_send_queue,
            max_connections: limits.max_connections as u32,
            handshake_timeout_ms: limits.handshake_timeout_ms,
            ping_interval_ms: limits.ping_interval_ms,
            idle_timeout_ms: limits.idle_timeout_ms,
            close_timeout_ms: limits.close_timeout_ms,
            read_buffer_size: limits.read_buffer_size,
            tls_cert_file: std::ptr::null(),
            tls_key_file: std::ptr::null(),
            tls_key_password: std::ptr::null(),
            origins: std::ptr::null(),
            origin_count: 0,
            static_root: std::ptr::null(),
            static_index: std::ptr::null(),
            max_head_size: HttpLimits::default().max_head_size as u32,
            upgrade_events: 0,
            http_events: 0,
            max_body_size: config::DEFAULT_MAX_BODY_SIZE,
            cluster_redis: std::ptr::null(),
            cluster_prefix: std::ptr::null(),
            static_cache_control: std::ptr::null(),
            compression: limits.compression,
            compression_threshold: limits.compression_threshold,
            compression_level: limits.compression_level,
            max_http_connections: config::DEFAULT_MAX_HTTP_CONNECTIONS as u32,
            max_body_memory: config::DEFAULT_MAX_BODY_MEMORY,
            reuse_port: 0,
            trusted_proxies: std::ptr::null(),
            trusted_proxy_count: 0,
            metrics_path: std::ptr::null(),
            metrics_token: std::ptr::null(),
            access_log: 0,
            max_connections_per_ip: 0,
            max_handshake_rate_per_ip: 0,
            rate_limit_messages: 0,
            rate_limit_bytes: 0,
            rate_limit_per_ms: 1000,
            rate_limit_burst: 1,
            rate_limit_close: 0,
            resume_window_ms: 0,
            resume_buffer: config::DEFAULT_RESUME_BUFFER,
            resume_memory: config::DEFAULT_RESUME_MEMORY,
            resume_node: std::ptr::null(),
        };
        // SAFETY: `config` is checked for NULL; the caller promises it is writable.
        unsafe { write_out(config, defaults, "config") }
    })
}

/// The soft limit on this process's open descriptors, where the platform has one.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer to a local.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (read == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn descriptor_limit() -> Option<u64> {
    None
}

/// Starts a server app. Returns NULL on failure; `luna_last_result` gives the code and
/// `luna_last_error` says why: LUNA_RESULT_INVALID_ARGUMENT (or _INVALID_UTF8) for a bad
/// config, LUNA_RESULT_UNSUPPORTED for TLS in a build without it, and runtime failures such as
/// LUNA_RESULT_IO (port in use), _DNS (unresolvable host) or _TLS (a broken certificate).
/// When it returns an app, the port is bound.
#[no_mangle]
pub extern "C" fn luna_server_new(config: *const LunaServerConfig) -> *mut LunaApp {
    let mut app = std::ptr::null_mut();
    guard(|| {
        if config.is_null() {
            return Err(Error::invalid("config is NULL"));
        }
        // SAFETY: non-NULL; the caller promises a config filled by luna_server_config_default.
        let config = unsafe { server_config(&*config)? };
        app = register(App::new_server(config)?);
        Ok(())
    });
    app
}
