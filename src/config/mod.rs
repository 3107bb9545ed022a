//! Everything an app is configured with: limits, server and client settings, TLS files, and
//! the rules that turn the C and Lua form of a setting (0 = unlimited) into these values.
//! A server's own settings are in `server.rs`, a cluster's in `cluster.rs`.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
pub(crate) use crate::http::forwarded::TrustedProxies;
pub(crate) use crate::http::request::Limits as HttpLimits;
pub(crate) use crate::rate_limit::{Action as RateAction, RateLimit};

mod cluster;
mod server;

pub(crate) use cluster::*;
pub(crate) use server::*;

/// Per-connection limits. Every limit exists so that a hostile or broken peer cannot make the
/// process use unbounded memory or hold resources forever.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Largest incoming message, reassembled; larger ones close with 1009. Default 16 MiB.
    pub max_message_size: usize,
    /// Largest incoming frame; larger ones close with 1009. Default 16 MiB.
    pub max_frame_size: usize,
    /// Open connections (plus handshakes in progress) an app accepts; further handshakes are
    /// answered 503. `0` = unlimited (the default).
    pub max_connections: usize,
    /// A peer that has not completed the upgrade by then is dropped. Default 10 s.
    pub handshake_timeout: Duration,
    /// Send a ping this often; `None` = never (the default).
    pub ping_interval: Option<Duration>,
    /// Close (1001) a peer that sent nothing for this long; `None` = never (the default).
    pub idle_timeout: Option<Duration>,
    /// Outgoing bytes queued per connection before `send` answers BACKPRESSURE; a larger
    /// message is refused (TOO_LARGE). Default 16 MiB: one maximum-size message always fits.
    pub max_send_queue: usize,
    /// When a send would pass `max_send_queue`: `false` (the default) answers BACKPRESSURE and
    /// lets the host decide; `true` drops what is queued and closes with 1008, for hosts that
    /// would rather lose a slow peer than handle BACKPRESSURE.
    pub close_on_backpressure: bool,
    /// How long a closing handshake we started may take before the TCP connection is dropped.
    /// Default 1 s: peers on working networks answer in milliseconds.
    pub close_timeout: Duration,
    /// Also deliver PING and PONG payloads as message events. Default false.
    pub control_frames: bool,
    /// Bytes read from the socket at a time. Default 64 KiB: each I/O thread reads into one
    /// buffer of this size and copies what arrived into the connection's own input, so the
    /// size costs no memory per connection, and a 16 KiB message needs one read, not eight.
    pub read_buffer_size: usize,
    /// permessage-deflate (RFC 7692) that a server accepts or a client offers. Default off:
    /// a compressing connection costs memory and CPU that small messages do not repay.
    pub compression: Compression,
    /// Messages smaller than this go uncompressed on a compressing connection. Default 256
    /// bytes: on JSON game states, 280-byte messages lose 65% of their bytes with context
    /// takeover and 37% without, 160-byte ones 61% and 20% (`deflate_bench.rs`).
    pub compression_threshold: usize,
    /// zlib's compression level, 1 (fastest) to 9 (smallest, slowest). Default
    /// [`DEFAULT_COMPRESSION_LEVEL`].
    pub compression_level: u32,
    /// What each peer may send (server connections); `None` (the default) = no limit.
    pub rate_limit: Option<RateLimit>,
}

/// How a connection may compress (permessage-deflate, RFC 7692).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Compression {
    #[default]
    Off,
    /// No context takeover either way: each message is compressed on its own, so no
    /// compressor lives with the connection (one per I/O or host thread) and one compressed
    /// frame serves every recipient of a broadcast.
    Shared,
    /// Context takeover: each connection keeps its compressor and decompressor, so repeated
    /// content compresses better, at the memory measured in the README.
    Dedicated,
}

impl Compression {
    /// The C and Lua setting: 0 off, 1 shared, 2 dedicated.
    pub fn from_setting(value: u32) -> Result<Compression> {
        match value {
            0 => Ok(Compression::Off),
            1 => Ok(Compression::Shared),
            2 => Ok(Compression::Dedicated),
            other => Err(Error::invalid(format!(
                "compression must be 0 (off), 1 (shared) or 2 (dedicated), got {other}"
            ))),
        }
    }
}

pub(crate) const DEFAULT_COMPRESSION_THRESHOLD: usize = 256;

/// See `compression_level` in docs/reference: measured on ~1 KiB JSON game states, the level
/// that gives `dedicated` a ratio above 3 (zlib's own default too).
pub(crate) const DEFAULT_COMPRESSION_LEVEL: u32 = 6;

/// The C and Lua setting of `compression_level`: zlib's 1-9, 0 = the default (so a config
/// left zeroed compresses).
fn compression_level(value: u32) -> Result<u32> {
    match value {
        0 => Ok(DEFAULT_COMPRESSION_LEVEL),
        1..=9 => Ok(value),
        other => Err(Error::invalid(format!(
            "compression_level must be 1-9 (0 = the default), got {other}"
        ))),
    }
}

pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
pub(crate) const DEFAULT_MAX_FRAME_SIZE: usize = 16 << 20;
pub(crate) const DEFAULT_MAX_SEND_QUEUE: usize = 16 << 20;
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_READ_BUFFER_SIZE: usize = 64 << 10;
/// The largest request body an `http` hook gets: enough for a form or a small JSON API, small
/// enough that a client cannot make the server hold much.
pub(crate) const DEFAULT_MAX_BODY_SIZE: usize = 1 << 20;
/// What all request bodies in flight (being read, or waiting for the `http` hook) may hold
/// together: 64 bodies of the default largest size. Past it, requests are answered 503.
pub(crate) const DEFAULT_MAX_BODY_MEMORY: usize = 64 << 20;
/// Plain HTTP connections (files, `http` hook, keep-alive between requests) a server serves
/// at once; past it, requests are answered 503. They never count against `max_connections`,
/// so downloads cannot lock WebSocket upgrades out. nginx's default (512 connections per
/// worker) doubled: a browser opens up to six connections per page.
pub(crate) const DEFAULT_MAX_HTTP_CONNECTIONS: usize = 1024;
/// A server pings each WebSocket this often, so a peer that vanished without a FIN (a
/// laptop lid, a mobile hand-over) is found by `idle_timeout`, and NAT and proxy idle timers
/// (often 60 s) never drop a quiet but live connection.
pub(crate) const DEFAULT_SERVER_PING_INTERVAL: Duration = Duration::from_secs(30);
/// A server closes (1001) a WebSocket that sent nothing, not even a pong, for this long:
/// four missed pings. uWebSockets closes after 120 s too.
pub(crate) const DEFAULT_SERVER_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Descriptors kept free of connections for files, Redis and the listener itself.
const DESCRIPTOR_RESERVE: u64 = 64;
/// `max_connections` where the descriptor limit is unknown.
const FALLBACK_MAX_CONNECTIONS: usize = 10_000;

/// The default `max_connections` of a server: what the process may hold, its descriptor
/// limit (`None` where unknown) less a small reserve, so that a flood is answered 503
/// instead of making `accept` fail for everyone.
pub(crate) fn default_max_connections(descriptor_limit: Option<u64>) -> usize {
    match descriptor_limit {
        Some(limit) => limit
            .saturating_sub(DESCRIPTOR_RESERVE.min(limit / 2))
            .max(1) as usize,
        None => FALLBACK_MAX_CONNECTIONS,
    }
    .min(u32::MAX as usize)
}
/// Covers resolving, connecting, TLS and the upgrade of a client.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Long enough to mean "never" while staying far from `Instant` overflow.
const NO_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_connections: 0,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            ping_interval: None,
            idle_timeout: None,
            max_send_queue: DEFAULT_MAX_SEND_QUEUE,
            close_on_backpressure: false,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            control_frames: false,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            compression: Compression::Off,
            compression_threshold: DEFAULT_COMPRESSION_THRESHOLD,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            rate_limit: None,
        }
    }
}

/// The limits as C and Lua callers give them: sizes in bytes with 0 = unlimited, times in
/// milliseconds with 0 = off (or, for timeouts that must exist, "no limit").
#[derive(Debug, Clone, Default)]
pub(crate) struct LimitSettings {
    pub max_message_size: usize,
    pub max_frame_size: usize,
    pub max_send_queue: usize,
    pub max_connections: usize,
    pub handshake_timeout_ms: u32,
    pub ping_interval_ms: u32,
    pub idle_timeout_ms: u32,
    pub close_timeout_ms: u32,
    pub read_buffer_size: u32,
    pub control_frames: bool,
    pub close_on_backpressure: bool,
    /// 0 off, 1 shared, 2 dedicated.
    pub compression: u32,
    /// 0 = the default.
    pub compression_threshold: u32,
    /// 1-9, 0 = the default; anything else is refused.
    pub compression_level: u32,
}

impl LimitSettings {
    /// A server's defaults: those of [`LimitSettings::defaults`], with automatic pings, an
    /// idle timeout and a connection cap, as a server facing the internet needs.
    pub fn server_defaults(descriptor_limit: Option<u64>) -> LimitSettings {
        LimitSettings {
            max_connections: default_max_connections(descriptor_limit),
            ping_interval_ms: DEFAULT_SERVER_PING_INTERVAL.as_millis() as u32,
            idle_timeout_ms: DEFAULT_SERVER_IDLE_TIMEOUT.as_millis() as u32,
            ..LimitSettings::defaults()
        }
    }

    /// The defaults, as a C or Lua caller sees them (a client's; a server's are
    /// [`LimitSettings::server_defaults`]).
    pub fn defaults() -> LimitSettings {
        let limits = Limits::default();
        LimitSettings {
            max_message_size: limits.max_message_size,
            max_frame_size: limits.max_frame_size,
            max_send_queue: limits.max_send_queue,
            max_connections: 0,
            handshake_timeout_ms: limits.handshake_timeout.as_millis() as u32,
            ping_interval_ms: 0,
            idle_timeout_ms: 0,
            close_timeout_ms: limits.close_timeout.as_millis() as u32,
            read_buffer_size: limits.read_buffer_size as u32,
            control_frames: false,
            close_on_backpressure: false,
            compression: 0,
            compression_threshold: limits.compression_threshold as u32,
            compression_level: limits.compression_level,
        }
    }

    /// The limits these settings ask for; the read buffer size is kept within 256 B..1 MiB.
    pub fn limits(&self) -> Result<Limits> {
        let size = |v: usize| if v == 0 { usize::MAX } else { v };
        let optional = |ms: u32| (ms > 0).then(|| millis(ms));
        Ok(Limits {
            max_message_size: size(self.max_message_size),
            max_frame_size: size(self.max_frame_size),
            max_send_queue: size(self.max_send_queue),
            max_connections: self.max_connections,
            handshake_timeout: timeout(self.handshake_timeout_ms),
            ping_interval: optional(self.ping_interval_ms),
            idle_timeout: optional(self.idle_timeout_ms),
            close_timeout: millis(self.close_timeout_ms),
            control_frames: self.control_frames,
            close_on_backpressure: self.close_on_backpressure,
            read_buffer_size: match self.read_buffer_size {
                0 => DEFAULT_READ_BUFFER_SIZE,
                n => (n as usize).clamp(256, 1 << 20),
            },
            compression: Compression::from_setting(self.compression)?,
            compression_threshold: match self.compression_threshold {
                0 => DEFAULT_COMPRESSION_THRESHOLD,
                n => n as usize,
            },
            compression_level: compression_level(self.compression_level)?,
            rate_limit: None,
        })
    }
}

fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// A timeout in milliseconds where 0 means "no limit".
pub(crate) fn timeout(ms: u32) -> Duration {
    match ms {
        0 => NO_LIMIT,
        ms => millis(ms),
    }
}

/// Checks subprotocol names: RFC 6455 tokens (visible ASCII, no commas).
pub(crate) fn check_protocol_names(names: &[String]) -> Result<()> {
    for name in names {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            let message = format!("subprotocol name '{name}' is not a valid token");
            return Err(Error::invalid(message));
        }
    }
    Ok(())
}

/// Splits a "Name: value" header line. A CR, LF or NUL anywhere is refused, not trimmed: a
/// line that carries one was cut or forged on its way here.
pub(crate) fn parse_header_line(line: &str) -> Result<(String, String)> {
    let (name, value) = parse_header_field(line.as_bytes())?;
    // Cut from a str at ASCII bytes, the value is still UTF-8.
    Ok((name, String::from_utf8_lossy(&value).into_owned()))
}

/// Splits a "Name: value" header line of bytes, as [`parse_header_line`] does; the value
/// stays bytes, since a field value may hold obs-text (0x80-0xFF, RFC 9110 §5.5).
pub(crate) fn parse_header_field(line: &[u8]) -> Result<(String, Vec<u8>)> {
    let shown = String::from_utf8_lossy(line);
    if line.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(Error::invalid(format!(
            "header {shown:?} contains a CR, LF or NUL byte"
        )));
    }
    let colon = line.iter().position(|&b| b == b':');
    let colon =
        colon.ok_or_else(|| Error::invalid(format!("header '{shown}' is not 'Name: value'")))?;
    let name = std::str::from_utf8(trim_ows(&line[..colon]))
        .map_err(|_| Error::invalid(format!("header name in '{shown}' is not a token")))?;
    Ok((name.to_owned(), trim_ows(&line[colon + 1..]).to_vec()))
}

/// Without the spaces and tabs around it (RFC 9110 §5.6.3 OWS).
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Where and how a client connects.
#[derive(Debug, Clone)]
pub(crate) struct ClientConfig {
    pub url: String,
    pub protocols: Vec<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Covers name resolution, TCP connect, TLS and the upgrade. Default 10 s.
    pub connect_timeout: Duration,
    pub tls: ClientTls,
    pub limits: Limits,
}

/// How a client checks the server it connects to.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct ClientTls {
    /// Verify the certificate chain and the host name. Default true.
    pub verify: bool,
    /// Extra trusted CA certificates (PEM), besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) and its key (PEM, PKCS#8), for servers that ask for one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls {
            verify: true,
            ca_file: None,
            cert_file: None,
            key_file: None,
        }
    }
}

/// The certificate and key a server presents.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct ServerIdentity {
    /// PEM: the leaf certificate, optionally followed by intermediates (a full chain).
    pub cert_file: PathBuf,
    /// PEM private key: PKCS#8, PKCS#1 RSA or SEC1 EC, optionally encrypted.
    pub key_file: PathBuf,
    /// Password of an encrypted key.
    pub password: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_unlimited_and_buffers_stay_in_range() {
        let limits = LimitSettings::default().limits().unwrap();
        assert_eq!(limits.max_message_size, usize::MAX);
        assert!(limits.ping_interval.is_none());
        assert_eq!(limits.handshake_timeout, NO_LIMIT);
        assert_eq!(limits.read_buffer_size, DEFAULT_READ_BUFFER_SIZE);
        let tiny = LimitSettings {
            read_buffer_size: 1,
            ..LimitSettings::defaults()
        };
        assert_eq!(tiny.limits().unwrap().read_buffer_size, 256);
        let defaults = LimitSettings::defaults().limits().unwrap();
        assert_eq!(defaults.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
        assert_eq!(defaults.max_send_queue, DEFAULT_MAX_SEND_QUEUE);
    }

    #[test]
    fn a_server_caps_connections_below_its_descriptor_limit() {
        assert_eq!(default_max_connections(Some(20_000)), 19_936);
        assert_eq!(default_max_connections(Some(100)), 50);
        assert_eq!(default_max_connections(Some(0)), 1);
        assert_eq!(default_max_connections(Some(u64::MAX)), u32::MAX as usize);
        assert_eq!(default_max_connections(None), FALLBACK_MAX_CONNECTIONS);
        let server = LimitSettings::server_defaults(Some(1024)).limits().unwrap();
        assert_eq!(server.max_connections, 960);
        assert_eq!(server.idle_timeout, Some(DEFAULT_SERVER_IDLE_TIMEOUT));
        assert_eq!(server.ping_interval, Some(DEFAULT_SERVER_PING_INTERVAL));
    }

    #[test]
    fn header_lines_split_at_the_first_colon() {
        let (name, value) = parse_header_line("Cookie: a=1; b=2:3").unwrap();
        assert_eq!((name.as_str(), value.as_str()), ("Cookie", "a=1; b=2:3"));
        assert!(parse_header_line("no colon").is_err());
    }

    #[test]
    fn header_lines_with_line_breaks_or_nul_are_refused() {
        for line in [
            "Set-Cookie: c=evil\r\n",
            "X: a\nb",
            "X: a\0b",
            "X\r: a",
            "X: a\r",
        ] {
            let err = parse_header_line(line).unwrap_err();
            assert!(
                err.message.contains("CR, LF or NUL"),
                "{line:?}: {}",
                err.message
            );
        }
        let (_, value) = parse_header_line("X:\t a b \t").unwrap();
        assert_eq!(value, "a b");
    }

    #[test]
    fn header_fields_keep_obs_text_bytes() {
        let (name, value) = parse_header_field(b"X-V: caf\xc3\xa9 \xff ").unwrap();
        assert_eq!(
            (name.as_str(), &value[..]),
            ("X-V", &b"caf\xc3\xa9 \xff"[..])
        );
        assert!(parse_header_field(b"X-\xff: v").is_err());
        assert!(parse_header_field(b"X: \xff\r\nY: 1").is_err());
    }
}
