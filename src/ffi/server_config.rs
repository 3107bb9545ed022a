//! `LunaServerConfig` read into the Rust `ServerConfig`, every field checked.

use super::server::LunaServerConfig;
use super::{c_str, strings};
use crate::config::{
    self, HttpLimits, LimitSettings, Limits, ServerConfig, ServerIdentity, StaticFiles,
};
use crate::error::{Error, ErrorKind, Result};

/// Copies the C config into its Rust form, checking every field.
///
/// # Safety
/// Pointers in `c` must be NULL or valid as documented on `LunaServerConfig`.
pub(super) unsafe fn server_config(c: &LunaServerConfig) -> Result<ServerConfig> {
    // SAFETY: forwarded from the caller's promise.
    let host = unsafe { c_str(c.host, "config.host")? };
    if host.is_empty() {
        return Err(Error::invalid("config.host is empty"));
    }
    // SAFETY: the caller promises `protocol_count` readable string pointers.
    let protocols = unsafe { strings(c.protocols, c.protocol_count, "config.protocols")? };
    config::check_protocol_names(&protocols)?;
    let limits = LimitSettings {
        max_message_size: c.max_message_size,
        max_frame_size: c.max_frame_size,
        max_send_queue: c.max_send_queue,
        max_connections: c.max_connections as usize,
        handshake_timeout_ms: c.handshake_timeout_ms,
        ping_interval_ms: c.ping_interval_ms,
        idle_timeout_ms: c.idle_timeout_ms,
        close_timeout_ms: c.close_timeout_ms,
        read_buffer_size: c.read_buffer_size,
        control_frames: c.control_frames != 0,
        close_on_backpressure: c.close_on_backpressure != 0,
        compression: c.compression,
        compression_threshold: c.compression_threshold,
        compression_level: c.compression_level,
    };
    let tls = match (c.tls_cert_file.is_null(), c.tls_key_file.is_null()) {
        (true, true) => None,
        (false, false) => Some(ServerIdentity {
            // SAFETY: non-NULL; the caller promises NUL-terminated strings.
            cert_file: unsafe { c_str(c.tls_cert_file, "config.tls_cert_file")? }.into(),
            // SAFETY: non-NULL; the caller promises NUL-terminated strings.
            key_file: unsafe { c_str(c.tls_key_file, "config.tls_key_file")? }.into(),
            password: match c.tls_key_password.is_null() {
                true => None,
                // SAFETY: non-NULL; the caller promises a NUL-terminated string.
                false => Some(
                    unsafe { c_str(c.tls_key_password, "config.tls_key_password")? }.to_owned(),
                ),
            },
        }),
        _ => {
            return Err(Error::invalid(
                "config.tls_cert_file and config.tls_key_file go together",
            ))
        }
    };
    Ok(ServerConfig {
        host: host.to_owned(),
        port: c.port,
        protocols,
        has_default: c.has_default != 0,
        limits: Limits {
            rate_limit: rate_limit(c)?,
            ..limits.limits()?
        },
        tls,
        // SAFETY: the caller promises `origin_count` readable string pointers.
        origins: match unsafe { strings(c.origins, c.origin_count, "config.origins")? } {
            list if list.is_empty() => None,
            list => Some(list),
        },
        // SAFETY: forwarded from the caller's promise about `c`.
        static_files: unsafe { static_files(c)? },
        http_limits: HttpLimits {
            max_head_size: match c.max_head_size {
                0 => HttpLimits::default().max_head_size,
                n => n as usize,
            },
            ..HttpLimits::default()
        },
        upgrade_events: c.upgrade_events != 0,
        http_events: (c.http_events != 0).then_some(c.max_body_size),
        // SAFETY: forwarded from the caller's promise about `c`.
        cluster: unsafe { cluster(c)? },
        max_http_connections: match c.max_http_connections {
            0 => config::DEFAULT_MAX_HTTP_CONNECTIONS,
            n => n as usize,
        },
        max_body_memory: match c.max_body_memory {
            0 => config::DEFAULT_MAX_BODY_MEMORY,
            n => n,
        },
        // SAFETY: forwarded from the caller's promise about `c`.
        metrics: unsafe { metrics(c)? },
        access_log: c.access_log != 0,
        // SAFETY: forwarded from the caller's promise about `c`.
        resume: unsafe { resume(c)? },
        max_connections_per_ip: c.max_connections_per_ip,
        max_handshake_rate_per_ip: c.max_handshake_rate_per_ip,
        trusted_proxies: {
            // SAFETY: the caller promises `trusted_proxy_count` readable string pointers.
            let list = unsafe {
                strings(
                    c.trusted_proxies,
                    c.trusted_proxy_count,
                    "config.trusted_proxies",
                )?
            };
            config::TrustedProxies::parse(&list).map_err(Error::invalid)?
        },
        reuse_port: match c.reuse_port {
            0 => false,
            _ if config::REUSE_PORT_SUPPORTED => true,
            _ => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "reuse_port needs SO_REUSEPORT, which this platform does not have",
                ))
            }
        },
    })
}

/// The rate limit of `c`, if it sets one.
fn rate_limit(c: &LunaServerConfig) -> Result<Option<config::RateLimit>> {
    let action = match c.rate_limit_close {
        0 => config::RateAction::Pause,
        _ => config::RateAction::Close,
    };
    let per = std::time::Duration::from_millis(u64::from(c.rate_limit_per_ms));
    let messages = u64::from(c.rate_limit_messages);
    config::RateLimit::new(
        messages,
        c.rate_limit_bytes,
        per,
        c.rate_limit_burst,
        action,
    )
    .map_err(Error::invalid)
}

/// The metrics settings of `c`.
///
/// # Safety
/// `metrics_path` and `metrics_token` must be NULL or NUL-terminated strings.
/// The resume settings of `c`, if it asks for sessions.
///
/// # Safety
/// `c.resume_node` is NULL or a NUL-terminated string.
unsafe fn resume(c: &LunaServerConfig) -> Result<Option<config::ResumeConfig>> {
    if c.resume_window_ms == 0 {
        return Ok(None);
    }
    let node = match c.resume_node.is_null() {
        true => None,
        // SAFETY: non-NULL; the caller promises a NUL-terminated string.
        false => Some(unsafe { c_str(c.resume_node, "config.resume_node")? }),
    };
    config::resume(c.resume_window_ms, c.resume_buffer, c.resume_memory, node).map(Some)
}

unsafe fn metrics(c: &LunaServerConfig) -> Result<Option<config::MetricsEndpoint>> {
    let token = match c.metrics_token.is_null() {
        true => None,
        // SAFETY: non-NULL; the caller promises a NUL-terminated string.
        false => Some(unsafe { c_str(c.metrics_token, "config.metrics_token")? }),
    };
    if c.metrics_path.is_null() {
        return match token {
            Some(_) => Err(Error::invalid(
                "config.metrics_token needs config.metrics_path",
            )),
            None => Ok(None),
        };
    }
    // SAFETY: non-NULL; the caller promises a NUL-terminated string.
    let path = unsafe { c_str(c.metrics_path, "config.metrics_path")? };
    config::metrics(path, token).map(Some)
}

/// The cluster settings of `c`.
///
/// # Safety
/// `cluster_redis` and `cluster_prefix` must be NULL or NUL-terminated strings.
unsafe fn cluster(c: &LunaServerConfig) -> Result<Option<config::ClusterConfig>> {
    let prefix = match c.cluster_prefix.is_null() {
        true => None,
        // SAFETY: non-NULL; the caller promises a NUL-terminated string.
        false => Some(unsafe { c_str(c.cluster_prefix, "config.cluster_prefix")? }),
    };
    if c.cluster_redis.is_null() {
        return match prefix {
            Some(_) => Err(Error::invalid(
                "config.cluster_prefix needs config.cluster_redis",
            )),
            None => Ok(None),
        };
    }
    // SAFETY: non-NULL; the caller promises a NUL-terminated string.
    let url = unsafe { c_str(c.cluster_redis, "config.cluster_redis")? };
    config::cluster(url, prefix).map(Some)
}

/// The static-file settings of `c`.
///
/// # Safety
/// `static_root`, `static_index` and `static_cache_control` must be NULL or NUL-terminated
/// strings.
unsafe fn static_files(c: &LunaServerConfig) -> Result<Option<StaticFiles>> {
    if c.static_root.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL; the caller promises a NUL-terminated string.
    let root = unsafe { c_str(c.static_root, "config.static_root")? };
    let index = match c.static_index.is_null() {
        true => config::DEFAULT_INDEX.to_owned(),
        // SAFETY: non-NULL; the caller promises a NUL-terminated string.
        false => unsafe { c_str(c.static_index, "config.static_index")? }.to_owned(),
    };
    let cache_control = match c.static_cache_control.is_null() {
        true => config::DEFAULT_CACHE_CONTROL.to_owned(),
        false => {
            // SAFETY: non-NULL; the caller promises a NUL-terminated string.
            unsafe { c_str(c.static_cache_control, "config.static_cache_control")? }.to_owned()
        }
    };
    config::static_files(root, index, cache_control).map(Some)
}
