//! A cluster's settings: the Redis URL (parsed and checked here) and the channel prefix.

use crate::error::{Error, Result};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
