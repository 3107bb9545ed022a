//! A `ws://` or `wss://` URL, checked and split into what connecting needs.

use async_tungstenite::tungstenite::http::Uri;

use crate::error::{Error, Result};

/// The parts of a `ws://` or `wss://` URL the connection needs.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Target {
    pub secure: bool,
    pub host: String,
    pub port: u16,
}

/// Checks a URL and splits out what the connection needs.
pub(super) fn parse_url(url: &str) -> Result<Target> {
    let uri: Uri = url
        .parse()
        .map_err(|e| Error::invalid(format!("invalid URL '{url}': {e}")))?;
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        Some(other) => {
            return Err(Error::invalid(format!(
                "URL scheme must be ws or wss, got '{other}'"
            )))
        }
        None => {
            return Err(Error::invalid(format!(
                "URL '{url}' has no ws:// or wss:// scheme"
            )))
        }
    };
    let host = uri.host().filter(|h| !h.is_empty());
    let host = host.ok_or_else(|| Error::invalid(format!("URL '{url}' has no host")))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    // `Uri::port` hides a port that does not fit in 16 bits: read the authority itself.
    let authority = uri.authority().map_or("", |a| a.as_str());
    let after_host = authority
        .rsplit_once(']')
        .map_or(authority, |(_, rest)| rest);
    let port = match after_host.rsplit_once(':') {
        Some((_, digits)) => digits
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| Error::invalid(format!("URL '{url}' has an invalid port '{digits}'")))?,
        None if secure => 443,
        None => 80,
    };
    Ok(Target { secure, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_or_refused() {
        let t = parse_url("ws://example.com/chat?x=1").unwrap();
        assert_eq!(
            t,
            Target {
                secure: false,
                host: "example.com".into(),
                port: 80
            }
        );
        assert_eq!(parse_url("wss://example.com").unwrap().port, 443);
        assert_eq!(parse_url("ws://127.0.0.1:8080/").unwrap().port, 8080);
        let v6 = parse_url("ws://[::1]:9000/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9000));
        assert_eq!(parse_url("wss://[::1]/").unwrap().port, 443);
        for bad in [
            "ws://127.0.0.1:99999/",
            "ws://host:0/",
            "ws://host:abc/",
            "http://host/",
            "host:80",
            "ws:///path",
            "",
        ] {
            assert!(parse_url(bad).is_err(), "{bad} should be refused");
        }
    }
}
