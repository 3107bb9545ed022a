//! HTTP/1.1 request heads: the bytes read so far in, a [`Request`] or the status that refuses it
//! out. Every request head, upgrade or not, goes through [`parse_request`].
//!
//! Decisions: HTTP/1.0 is accepted (curl `--http1.0`, `ab` and health checkers still send it;
//! it never keeps alive unless asked and never upgrades). Any other version gets 505. A
//! `Transfer-Encoding` gets 501: request bodies must carry `Content-Length`, so there is no
//! chunked decoder and no CL/TE smuggling. Bare LF line ends are accepted, as httparse does and
//! RFC 9112 §2.2 allows; a bare CR is a 400.

use std::borrow::Cow;
use std::fmt;

use data_encoding::BASE64;

/// Bounds on a request head; a head past any of them is refused before it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Request line through the blank line. Default 16 KiB, Node's default since v13.13: 8 KiB
    /// proved too small for real browser cookies (nginx allows 4 × 8 KiB lines).
    pub(crate) max_head_size: usize,
    /// Header fields. Default 100, Apache's `LimitRequestFields`: browsers send about 20, and
    /// httparse needs a slot for each up front.
    pub(crate) max_headers: usize,
    /// Request target. Default 8 KiB, nginx's request-line buffer (`large_client_header_buffers
    /// 4 8k`) and about Apache's `LimitRequestLine` (8190).
    pub(crate) max_target_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_size: 16 * 1024,
            max_headers: 100,
            max_target_len: 8 * 1024,
        }
    }
}

/// Why a request head is refused; [`RequestError::status`] is the answer to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestError {
    /// 400: not a well-formed HTTP/1.x head; the text names the part.
    BadRequest(&'static str),
    /// 414: the target is longer than `max_target_len`.
    UriTooLong,
    /// 431: the head is larger than `max_head_size` or has more than `max_headers` fields.
    HeaderFieldsTooLarge,
    /// 501: the request uses something luna does not implement (a `Transfer-Encoding`).
    NotImplemented(&'static str),
    /// 505: a version other than HTTP/1.0 and HTTP/1.1.
    VersionNotSupported,
}

impl RequestError {
    /// The status code that answers this error.
    pub(crate) fn status(self) -> u16 {
        match self {
            RequestError::BadRequest(_) => 400,
            RequestError::UriTooLong => 414,
            RequestError::HeaderFieldsTooLarge => 431,
            RequestError::NotImplemented(_) => 501,
            RequestError::VersionNotSupported => 505,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::BadRequest(what) => write!(f, "bad request: {what}"),
            RequestError::UriTooLong => f.write_str("request target too long"),
            RequestError::HeaderFieldsTooLarge => f.write_str("request head too large"),
            RequestError::NotImplemented(what) => write!(f, "not implemented: {what}"),
            RequestError::VersionNotSupported => f.write_str("HTTP version not supported"),
        }
    }
}

impl std::error::Error for RequestError {}

/// What the bytes read so far amount to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parse {
    /// The head is not complete yet and still within the limits: read more.
    Partial,
    /// A complete head, and its length: the body (if any) starts at that offset.
    Complete(Request, usize),
}

/// A parsed request head. Only [`parse_request`] makes one, so it is always well-framed: at most
/// one `Host`, a consistent `Content-Length`, no `Transfer-Encoding`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    /// The method token as sent (methods are case-sensitive); the caller decides which it allows.
    pub(crate) method: String,
    /// The raw request target: origin-form (`/a?b`), absolute-form (`http://h/a?b`) or `*`.
    pub(crate) target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) minor_version: u8,
    /// Header fields in order, names lower-cased, values as sent (outer whitespace trimmed).
    pub(crate) headers: Headers,
    content_length: u64,
}

/// Header fields in order, kept in one string: a server connection holds its request for its
/// whole life, and one allocation instead of two per field saves about half a KiB each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Headers {
    text: String,
    /// Per field: where its name ends and where its value ends in `text`.
    ends: Vec<(u32, u32)>,
}

impl Headers {
    fn push(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        let name_end = self.text.len() as u32;
        self.text.push_str(value);
        self.ends.push((name_end, self.text.len() as u32));
    }

    /// How many fields there are.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Field `index`: its lower-case name and its value.
    pub(crate) fn get(&self, index: usize) -> Option<(&str, &str)> {
        let &(name_end, value_end) = self.ends.get(index)?;
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1].1 as usize,
        };
        let (name_end, value_end) = (name_end as usize, value_end as usize);
        Some((&self.text[start..name_end], &self.text[name_end..value_end]))
    }

    /// Every field, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

const UPGRADE_WITH_BODY: &str = "a WebSocket upgrade request carries no body";

/// Parses the request head at the start of `buf` (the bytes read so far). Never panics; a
/// caller re-parses from the start as more bytes arrive, and stops reading on any error.
pub(crate) fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parse, RequestError> {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut raw = httparse::Request::new(&mut slots);
    match raw.parse(buf) {
        Ok(httparse::Status::Partial) => partial(buf, limits),
        Ok(httparse::Status::Complete(len)) => complete(&raw, len, limits),
        Err(httparse::Error::TooManyHeaders) => Err(RequestError::HeaderFieldsTooLarge),
        Err(httparse::Error::Version) => Err(version_error(buf)),
        Err(_) => Err(RequestError::BadRequest("malformed request head")),
    }
}

/// An incomplete head: keep reading unless it has already outgrown a limit.
fn partial(buf: &[u8], limits: &Limits) -> Result<Parse, RequestError> {
    let line = request_line(buf);
    let line_open = !trim_leading_newlines(buf).contains(&b'\n');
    let target_so_far = line.split(|&b| b == b' ').nth(1).map_or(0, <[u8]>::len);
    // A request line that alone fills the head is a target too long, as nginx answers.
    if line_open && (target_so_far > limits.max_target_len || buf.len() > limits.max_head_size) {
        return Err(RequestError::UriTooLong);
    }
    if buf.len() > limits.max_head_size {
        return Err(RequestError::HeaderFieldsTooLarge);
    }
    Ok(Parse::Partial)
}

/// A complete head from httparse: check the limits and the framing, then own it.
fn complete(raw: &httparse::Request, len: usize, limits: &Limits) -> Result<Parse, RequestError> {
    let method = raw.method.unwrap_or_default();
    let target = raw.path.unwrap_or_default();
    if target.len() > limits.max_target_len {
        return Err(RequestError::UriTooLong);
    }
    if len > limits.max_head_size {
        return Err(RequestError::HeaderFieldsTooLarge);
    }
    check_target(method, target)?;
    let mut headers = Headers::default();
    for h in raw.headers.iter() {
        // obs-text (RFC 9110 §5.5) is not UTF-8; U+FFFD keeps it visible rather than fatal.
        headers.push(
            &h.name.to_ascii_lowercase(),
            &String::from_utf8_lossy(h.value),
        );
    }
    headers.text.shrink_to_fit();
    headers.ends.shrink_to_fit();
    let minor_version = raw.version.unwrap_or(1);
    check_host(&headers, minor_version)?;
    let mut request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        minor_version,
        headers,
        content_length: 0,
    };
    request.content_length = match body_length(&request.headers) {
        Ok(length) => length,
        // Not a body luna cannot read but a handshake it refuses (see `websocket_refusal`).
        Err(RequestError::NotImplemented(_)) if request.asks_for_websocket() => {
            return Err(RequestError::BadRequest(UPGRADE_WITH_BODY));
        }
        Err(err) => return Err(err),
    };
    Ok(Parse::Complete(request, len))
}

/// The request line: the first non-empty line, without its line end.
fn request_line(buf: &[u8]) -> &[u8] {
    let rest = trim_leading_newlines(buf);
    let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// httparse skips empty lines before the request line (RFC 9112 §2.2); so do the checks here.
fn trim_leading_newlines(buf: &[u8]) -> &[u8] {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n');
    &buf[start.unwrap_or(buf.len())..]
}

/// `HTTP/2`, `HTTP/3.0`, `HTTP/1.2`: a version we do not speak (505); anything else is a 400.
fn version_error(buf: &[u8]) -> RequestError {
    let line = request_line(buf);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    let is_digit = |b: &u8| b.is_ascii_digit();
    match version.strip_prefix(b"HTTP/") {
        Some([major]) if is_digit(major) => RequestError::VersionNotSupported,
        Some([major, b'.', minor]) if is_digit(major) && is_digit(minor) => {
            RequestError::VersionNotSupported
        }
        _ => RequestError::BadRequest("invalid HTTP version"),
    }
}

/// Origin-form and absolute-form targets (RFC 9112 §3.2), and `*` for `OPTIONS` only.
fn check_target(method: &str, target: &str) -> Result<(), RequestError> {
    let asterisk = method == "OPTIONS" && target == "*";
    if target.starts_with('/') || strip_scheme(target).is_some() || asterisk {
        Ok(())
    } else {
        Err(RequestError::BadRequest("request target"))
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`, an HTTP/1.0 one at most one,
/// and its value must be a valid `uri-host [ ":" port ]`.
fn check_host(headers: &Headers, minor_version: u8) -> Result<(), RequestError> {
    let mut hosts = headers.iter().filter(|(name, _)| *name == "host");
    match (hosts.next(), hosts.next(), minor_version) {
        (Some((_, value)), None, _) if valid_host(value) => Ok(()),
        (Some(_), None, _) => Err(RequestError::BadRequest("invalid Host")),
        (None, _, 0) => Ok(()),
        (None, _, _) => Err(RequestError::BadRequest("missing Host")),
        _ => Err(RequestError::BadRequest("more than one Host")),
    }
}

/// RFC 3986 §3.2.2-3 `host [ ":" port ]`: an IP literal in brackets, or a reg-name (an IPv4
/// address is one too) with no byte outside unreserved, sub-delims and `%XX`; the port digits.
/// Empty is valid (RFC 9112 §3.2: a target without an authority).
fn valid_host(value: &str) -> bool {
    let (host_ok, port) = match value.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((literal, after)) => (valid_ip_literal(literal), after),
            None => return false,
        },
        None => {
            let end = value.find(':').unwrap_or(value.len());
            (valid_reg_name(&value[..end]), &value[end..])
        }
    };
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    };
    host_ok && port_ok
}

/// `*( unreserved / pct-encoded / sub-delims )`.
fn valid_reg_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !hex(i + 1) || !hex(i + 2) {
                    return false;
                }
                i += 3;
            }
            b if is_unreserved(b) || is_sub_delim(b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// What brackets hold: an IPv6 address, or `v` HEXDIG `.` a future format (RFC 3986 §3.2.2).
fn valid_ip_literal(literal: &str) -> bool {
    if let Some(future) = literal.strip_prefix(['v', 'V']) {
        let Some((version, rest)) = future.split_once('.') else {
            return false;
        };
        let version_ok = !version.is_empty() && version.bytes().all(|b| b.is_ascii_hexdigit());
        let rest_ok = rest
            .bytes()
            .all(|b| is_unreserved(b) || is_sub_delim(b) || b == b':');
        return version_ok && !rest.is_empty() && rest_ok;
    }
    literal.parse::<std::net::Ipv6Addr>().is_ok()
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn is_sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
}

/// The body's length (RFC 9112 §6.3): `Content-Length`, or 0; repeats must agree.
fn body_length(headers: &Headers) -> Result<u64, RequestError> {
    if headers.iter().any(|(name, _)| name == "transfer-encoding") {
        return Err(RequestError::NotImplemented("Transfer-Encoding"));
    }
    let mut length = None;
    let values = headers.iter().filter(|(name, _)| *name == "content-length");
    for item in values.flat_map(|(_, value)| value.split(',')) {
        let n = parse_decimal(item.trim()).ok_or(RequestError::BadRequest("Content-Length"))?;
        if length.is_some_and(|seen| seen != n) {
            return Err(RequestError::BadRequest("conflicting Content-Length"));
        }
        length = Some(n);
    }
    Ok(length.unwrap_or(0))
}

/// Digits only: `str::parse` would also take a leading `+`; overflow is `None`.
fn parse_decimal(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| s.parse().ok()).flatten()
}

/// The part after `http://` or `https://` (any case), for absolute-form targets.
fn strip_scheme(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    let known = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    known.then_some(rest)
}

impl Request {
    /// The raw path: the target without scheme, authority and query; `/` if empty. Not
    /// percent-decoded (see [`percent_decode`]); `*` for `OPTIONS *`.
    pub(crate) fn path(&self) -> &str {
        let origin = match strip_scheme(&self.target) {
            Some(rest) => rest.find(['/', '?']).map_or("", |i| &rest[i..]),
            None => &self.target,
        };
        let path = origin.split_once('?').map_or(origin, |(path, _)| path);
        if path.is_empty() {
            "/"
        } else {
            path
        }
    }

    /// The raw query, after the first `?`; empty if there is none.
    pub(crate) fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }

    /// Every value of the header `name` (lower-case), in order.
    pub(crate) fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        let named = self.headers.iter().filter(move |(n, _)| *n == name);
        named.map(|(_, value)| value)
    }

    /// The header `name` (lower-case), repeats joined as RFC 9110 §5.3 says: with ", ", except
    /// `cookie` with "; " (RFC 6265 §5.4). `set-cookie` cannot be joined: its first value only.
    pub(crate) fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut values = self.header_values(name);
        let first = values.next()?;
        let separator = match name {
            "set-cookie" => return Some(Cow::Borrowed(first)),
            "cookie" => "; ",
            _ => ", ",
        };
        let mut joined = Cow::Borrowed(first);
        for value in values {
            let joined = joined.to_mut();
            joined.push_str(separator);
            joined.push_str(value);
        }
        Some(joined)
    }

    /// Whether a comma-separated header lists `token`, case-insensitively.
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        super::websocket::lists_token(self.header_values(name), token)
    }

    /// The body's length from `Content-Length`; 0 without one.
    pub(crate) fn content_length(&self) -> u64 {
        self.content_length
    }

    /// Whether the client waits for `100 Continue` before it sends the body (RFC 9110
    /// §10.1.1; an HTTP/1.0 client cannot ask for it).
    pub(crate) fn expects_continue(&self) -> bool {
        let expect = self.header("expect");
        self.minor_version >= 1
            && expect.is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
    }

    /// Whether the connection stays open after the answer (RFC 9112 §9.3): HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub(crate) fn keep_alive(&self) -> bool {
        if self.has_token("connection", "close") {
            return false;
        }
        self.minor_version >= 1 || self.has_token("connection", "keep-alive")
    }

    /// Whether this is a WebSocket opening handshake (RFC 6455 §4.2.1) that luna can answer.
    pub(crate) fn is_websocket_upgrade(&self) -> bool {
        self.asks_for_websocket() && self.websocket_refusal().is_none()
    }

    /// Whether this request asks for a WebSocket, well-formed or not: a GET over HTTP/1.1
    /// with `Upgrade: websocket` and `Connection: upgrade`. Such a request is upgraded or
    /// refused, never answered as a plain one.
    pub(crate) fn asks_for_websocket(&self) -> bool {
        self.method == "GET"
            && self.minor_version >= 1
            && self.has_token("upgrade", "websocket")
            && self.has_token("connection", "upgrade")
    }

    /// Why a request that asks for a WebSocket cannot have one, as the status and text that
    /// answer it: a body (400; the new protocol would start inside it, RFC 9110 §7.8), a
    /// `Sec-WebSocket-Version` other than 13 (426, RFC 6455 §4.4), a `Sec-WebSocket-Key`
    /// that is not base64 of 16 bytes (400, RFC 6455 §4.2.1). `None` when it can.
    pub(crate) fn websocket_refusal(&self) -> Option<(u16, &'static str)> {
        if self.content_length > 0 {
            return Some((400, UPGRADE_WITH_BODY));
        }
        if self.header("sec-websocket-version").as_deref() != Some("13") {
            return Some((426, "this server speaks WebSocket version 13"));
        }
        if self.websocket_key().is_none() {
            return Some((400, "Sec-WebSocket-Key must be base64 of 16 bytes"));
        }
        None
    }

    /// The `Sec-WebSocket-Key`, if there is exactly one and it is base64 of 16 bytes.
    pub(crate) fn websocket_key(&self) -> Option<&str> {
        let mut keys = self.header_values("sec-websocket-key");
        let key = keys.next().filter(|_| keys.next().is_none())?;
        let decoded = BASE64.decode(key.as_bytes()).ok()?;
        (decoded.len() == 16).then_some(key)
    }
}

/// Decodes `%XX` escapes once; `None` on an escape that is not two hex digits. `+` stays `+`:
/// that rule belongs to query strings (form encoding), not paths.
pub(crate) fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = hex_value(*bytes.get(i + 1)?)?;
            let low = hex_value(*bytes.get(i + 2)?)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// One hex digit's value (`u8::from_str_radix` would also take a sign).
fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
