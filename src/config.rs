//! Everything an app is configured with: limits, server and client settings, TLS files, and
//! the rules that turn the C and Lua form of a setting (0 = unlimited) into these values.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
pub(crate) use crate::http::forwarded::TrustedProxies;
pub(crate) use crate::http::request::Limits as HttpLimits;
pub(crate) use crate::rate_limit::{Action as RateAction, RateLimit};

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
    /// Messages smaller than this go uncompressed on a compressing connection. Default
    /// 1 KiB, as in Node's `ws`: below it, deflate saves little and costs a compressor pass.
    pub compression_threshold: usize,
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

pub(crate) const DEFAULT_COMPRESSION_THRESHOLD: usize = 1024;

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
    if line.contains(['\r', '\n', '\0']) {
        return Err(Error::invalid(format!(
            "header {line:?} contains a CR, LF or NUL byte"
        )));
    }
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| Error::invalid(format!("header '{line}' is not 'Name: value'")))?;
    let ows: &[char] = &[' ', '\t'];
    Ok((
        name.trim_matches(ows).to_owned(),
        value.trim_matches(ows).to_owned(),
    ))
}

/// What a server app listens on and which subprotocols it serves.
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    /// `"*"` = every interface (IPv6 dual stack where possible), else a name or an address.
    pub host: String,
    pub port: u16,
    /// Subprotocols the app serves, other than the default handler.
    pub protocols: Vec<String>,
    /// Whether connections that match no protocol are served (by the default handler).
    pub has_default: bool,
    pub limits: Limits,
    /// Serve `wss://` with this certificate and key.
    pub tls: Option<ServerIdentity>,
    /// Browser origins allowed to connect (`Origin` header, compared case-insensitively);
    /// `None` = every origin.
    pub origins: Option<Vec<String>>,
    /// Files served to plain HTTP requests on the same port; `None` = none (400).
    pub static_files: Option<StaticFiles>,
    /// Bounds on request heads.
    pub http_limits: HttpLimits,
    /// Hold each handshake for the host's decision (an UPGRADE event).
    pub upgrade_events: bool,
    /// Hand requests no file answers to the host (HTTP events), with bodies up to this many
    /// bytes; `None` = no host routes.
    pub http_events: Option<usize>,
    /// Join a cluster of apps through Redis; `None` (the default) = no Redis code runs.
    pub cluster: Option<ClusterConfig>,
    /// Plain HTTP connections served at once.
    pub max_http_connections: usize,
    /// What all request bodies in flight may hold together, in bytes.
    pub max_body_memory: usize,
    /// Listen with SO_REUSEPORT, so several processes share the port.
    pub reuse_port: bool,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` name the client; empty = none.
    pub trusted_proxies: TrustedProxies,
    /// Serve the app's counters in the Prometheus text format; `None` = nowhere.
    pub metrics: Option<MetricsEndpoint>,
    /// Hand the host one access log line per HTTP request and handshake (LOG events).
    pub access_log: bool,
    /// Open WebSocket connections one client address may hold; 0 = unlimited.
    pub max_connections_per_ip: u32,
    /// WebSocket handshakes per second one client address may start; 0 = unlimited.
    pub max_handshake_rate_per_ip: u32,
    /// Keep a dropped connection's session for its client to resume; `None` = no sessions.
    pub resume: Option<ResumeConfig>,
}

/// Session resume: how long a dropped connection's session waits for its client, and what
/// its messages may hold while it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResumeConfig {
    pub window: Duration,
    /// Bytes of sent messages each session keeps for a resend.
    pub buffer: usize,
    /// Bytes all of an app's sessions keep together.
    pub memory: usize,
    /// Put in front of every token, so a proxy can send a resume to the node that holds it.
    pub node: Option<String>,
}

/// Default bytes of sent messages a session keeps: ~1000 game updates of 256 bytes.
pub(crate) const DEFAULT_RESUME_BUFFER: usize = 256 << 10;
/// Default bytes an app's sessions keep together.
pub(crate) const DEFAULT_RESUME_MEMORY: usize = 64 << 20;

/// Checks the resume settings (0 bytes = the default).
pub(crate) fn resume(
    window_ms: u32,
    buffer: usize,
    memory: usize,
    node: Option<&str>,
) -> Result<ResumeConfig> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if let Some(node) = node.filter(|node| !plain(node)) {
        return Err(Error::invalid(format!(
            "resume node '{}' must be 1-32 letters, digits, '-' or '_'",
            node.escape_default()
        )));
    }
    let or_default = |n: usize, default: usize| if n == 0 { default } else { n };
    Ok(ResumeConfig {
        window: Duration::from_millis(u64::from(window_ms)),
        buffer: or_default(buffer, DEFAULT_RESUME_BUFFER),
        memory: or_default(memory, DEFAULT_RESUME_MEMORY),
        node: node.map(str::to_owned),
    })
}

/// Where an app serves its counters, and the token a scraper must send, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetricsEndpoint {
    /// A path such as `/metrics`: requests for exactly this path (any query) get the text.
    pub path: String,
    /// `Authorization: Bearer TOKEN` required when set.
    pub token: Option<String>,
}

/// Checks a metrics setting: an absolute path and an optional token of visible characters.
pub(crate) fn metrics(path: &str, token: Option<&str>) -> Result<MetricsEndpoint> {
    if !path.starts_with('/')
        || path.contains('?')
        || path.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(Error::invalid(format!(
            "metrics path '{}' must start with '/' and hold no query, space or control character",
            path.escape_default()
        )));
    }
    if let Some(token) = token {
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "the metrics token must be non-empty visible ASCII (it is sent as a Bearer token)",
            ));
        }
    }
    Ok(MetricsEndpoint {
        path: path.to_owned(),
        token: token.map(str::to_owned),
    })
}

/// Whether this platform lets several processes listen on one port (SO_REUSEPORT with the
/// kernel spreading connections: Linux, the BSDs, macOS; not Windows).
pub(crate) const REUSE_PORT_SUPPORTED: bool = cfg!(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos"))
));

/// The prefix of every Redis channel a cluster uses when the host names none.
pub(crate) const DEFAULT_CLUSTER_PREFIX: &str = "luna:";

/// Cross-node messages waiting for Redis, in bytes, beyond which publishes are dropped (and
/// counted): one maximum-size message fits, and an outage of seconds at a busy node does
/// not grow memory without bound.
pub(crate) const CLUSTER_QUEUE_BYTES: usize = 64 << 20;

/// Where a cluster's Redis is and which channel names it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterConfig {
    pub redis: RedisUrl,
    /// Every channel name starts with it, so several clusters can share one Redis.
    pub prefix: String,
}

/// A parsed `redis://[[user]:password@]host[:port][/db]` (or `rediss://` for TLS) URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RedisUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub db: u32,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for RedisUrl {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        write!(f, "{scheme}://{}:{}/{}", self.host, self.port, self.db)
    }
}

impl std::fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// Checks a cluster setting: a Redis URL and a channel prefix (`None` = `"luna:"`). An empty
/// prefix is refused: it would put the cluster's channels beside every other user's of that
/// Redis, with nothing to tell them apart.
pub(crate) fn cluster(url: &str, prefix: Option<&str>) -> Result<ClusterConfig> {
    if prefix == Some("") {
        return Err(Error::invalid(
            "cluster prefix is empty: name the cluster, such as \"myapp:\" (apps with the same \
             Redis and prefix form one cluster)",
        ));
    }
    Ok(ClusterConfig {
        redis: parse_redis_url(url)?,
        prefix: prefix.unwrap_or(DEFAULT_CLUSTER_PREFIX).to_owned(),
    })
}

/// Parses a Redis URL; user and password may be percent-encoded.
pub(crate) fn parse_redis_url(url: &str) -> Result<RedisUrl> {
    let invalid = |why: &str| {
        Error::invalid(format!(
            "cluster URL '{}' {why} (use redis://[:password@]host[:port][/db] or rediss://)",
            hide_password(url)
        ))
    };
    let (tls, rest) = if let Some(rest) = url.strip_prefix("redis://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("rediss://") {
        (true, rest)
    } else {
        return Err(invalid("is not a redis:// or rediss:// URL"));
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, pass) = info.split_once(':').unwrap_or(("", info));
            let decode = |s: &str| percent_decode(s).ok_or_else(|| invalid("has a bad %-escape"));
            let user = (!user.is_empty()).then(|| decode(user)).transpose()?;
            (user, Some(decode(pass)?))
        }
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| invalid("has no ']'"))?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("has no host"));
    }
    let port = match port {
        None => 6379,
        Some(p) => p.parse().map_err(|_| invalid("has a bad port"))?,
    };
    let db = match path.split(['?', '#']).next().unwrap_or("") {
        "" => 0,
        db => db
            .parse()
            .map_err(|_| invalid("has a bad database number"))?,
    };
    Ok(RedisUrl {
        tls,
        host: host.to_owned(),
        port,
        db,
        username,
        password,
    })
}

/// `url` with any password replaced by `***`, for messages.
fn hide_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}***{}", &url[..start + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) use crate::http::static_files::DEFAULT_INDEX;

pub(crate) use crate::http::static_files::DEFAULT_CACHE_CONTROL;

/// Checks static-file settings: a root, an index file name (no path separators) and a
/// `Cache-Control` value (no control characters).
pub(crate) fn static_files(
    root: &str,
    index: String,
    cache_control: String,
) -> Result<StaticFiles> {
    if cache_control.is_empty() || cache_control.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "static cache control '{}' must be a non-empty header value",
            cache_control.escape_default()
        )));
    }
    if root.is_empty() {
        return Err(Error::invalid("the static root is empty"));
    }
    if index.is_empty() || index.contains(['/', '\\', '\0']) || index == ".." {
        return Err(Error::invalid(format!(
            "static index '{index}' must be a plain file name"
        )));
    }
    Ok(StaticFiles {
        root: PathBuf::from(root),
        index,
        cache_control,
    })
}

/// A directory served over HTTP beside the WebSocket endpoint.
#[derive(Debug, Clone)]
pub(crate) struct StaticFiles {
    pub root: PathBuf,
    /// The file that answers for a directory. Default `index.html`.
    pub index: String,
    /// The `Cache-Control` of file answers. Default `no-cache` (revalidate: a changed file
    /// shows at once, an unchanged one costs a 304).
    pub cache_control: String,
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
    fn redis_urls() {
        let plain = parse_redis_url("redis://127.0.0.1:7000/2").unwrap();
        assert_eq!(
            (plain.tls, plain.host.as_str(), plain.port, plain.db),
            (false, "127.0.0.1", 7000, 2)
        );
        assert_eq!((plain.username, plain.password), (None, None));
        let secure = parse_redis_url("rediss://:p%40ss@cache.example:6380").unwrap();
        assert_eq!((secure.tls, secure.port, secure.db), (true, 6380, 0));
        assert_eq!(secure.password.as_deref(), Some("p@ss"));
        let user = parse_redis_url("redis://app:secret@[::1]/").unwrap();
        assert_eq!(user.host, "::1");
        assert_eq!(user.port, 6379);
        assert_eq!(user.username.as_deref(), Some("app"));
        assert_eq!(user.password.as_deref(), Some("secret"));
        assert_eq!(format!("{user:?}"), "redis://::1:6379/0");
        for bad in [
            "http://x",
            "redis://",
            "redis://:6379",
            "redis://h:port",
            "redis://h/db",
            "redis://:%zz@h",
        ] {
            assert!(parse_redis_url(bad).is_err(), "{bad}");
        }
        let err = parse_redis_url("redis://:hunter2@h:x").unwrap_err();
        assert!(!err.message.contains("hunter2"), "{}", err.message);
        assert_eq!(cluster("redis://h", None).unwrap().prefix, "luna:");
        let empty = cluster("redis://h", Some("")).unwrap_err();
        assert!(
            empty.message.contains("prefix is empty"),
            "{}",
            empty.message
        );
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
}
