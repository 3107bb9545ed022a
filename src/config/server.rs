//! A server app's own settings: what it serves, resume, metrics, static files.

use std::path::PathBuf;
use std::time::Duration;

use super::{ClusterConfig, HttpLimits, Limits, ServerIdentity, TrustedProxies};
use crate::error::{Error, Result};

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
