//! HTTP/1.1 response heads: a status line and header fields, checked as they are added so no
//! caller-supplied name or value (from `on_upgrade` or the `http` hook) can inject a line.

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use super::websocket::accept_key;

/// Why a response head refused a status or a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// A status outside 100..=599.
    InvalidStatus(u16),
    /// A field name that is empty or not an RFC 9110 token.
    InvalidName,
    /// A value with CR, LF, NUL or another control character but tab: it would split the head.
    InvalidValue,
    /// A field luna sets itself because it frames the message or the handshake.
    Reserved,
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::InvalidStatus(status) => write!(f, "invalid HTTP status {status}"),
            HeadError::InvalidName => f.write_str("invalid header name"),
            HeadError::InvalidValue => f.write_str("header value contains a control character"),
            HeadError::Reserved => f.write_str("header is set by luna"),
        }
    }
}

impl std::error::Error for HeadError {}

/// A header field from the host: its name, and its value as bytes, since a value may hold
/// obs-text (0x80-0xFF, RFC 9110 §5.5), which is sent as it is.
pub(crate) type Field = (String, Vec<u8>);

/// Fields only luna writes: a caller's copy would contradict the framing or the handshake.
const RESERVED: [&str; 6] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "date",
    "sec-websocket-accept",
];

/// The reason phrase of a status (RFC 9110 §15, plus 428, 429 and 431 of RFC 6585 and 451 of
/// RFC 7725); an unregistered status from a hook gets an empty phrase, which HTTP/1.1 allows.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Whether a response with this status has content (RFC 9110 §6.4.1, §15.3.6): not 1xx, 204,
/// 205 or 304.
pub(crate) fn has_content(status: u16) -> bool {
    !(status < 200 || status == 204 || status == 205 || status == 304)
}

/// A response head being built; [`ResponseHead::encode`] writes it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    status: u16,
    headers: Vec<(Cow<'static, str>, Vec<u8>)>,
}

impl ResponseHead {
    /// A head with this status and no fields yet.
    pub(crate) fn new(status: u16) -> Result<Self, HeadError> {
        if !(100..=599).contains(&status) {
            return Err(HeadError::InvalidStatus(status));
        }
        let headers = Vec::new();
        Ok(ResponseHead { status, headers })
    }

    /// The 101 that accepts a WebSocket handshake with this `Sec-WebSocket-Key`.
    pub(crate) fn switching_protocols(key: &str) -> Self {
        let mut head = ResponseHead::new(101).expect("101 is a valid status");
        head.push("Upgrade", "websocket".to_owned());
        head.push("Connection", "Upgrade".to_owned());
        head.push("Sec-WebSocket-Accept", accept_key(key.as_bytes()));
        head
    }

    /// The status code.
    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    /// Adds a field supplied by the app: the name must be a token, the value free of control
    /// characters (bytes 0x80-0xFF are obs-text and allowed), and the field not one luna sets
    /// itself.
    pub(crate) fn header(
        &mut self,
        name: &str,
        value: impl AsRef<[u8]>,
    ) -> Result<&mut Self, HeadError> {
        let value = value.as_ref();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(HeadError::InvalidName);
        }
        if value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(HeadError::InvalidValue);
        }
        if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
            return Err(HeadError::Reserved);
        }
        self.headers
            .push((Cow::Owned(name.to_owned()), value.to_vec()));
        Ok(self)
    }

    /// Whether a field named `name` (any case) is already there.
    pub(crate) fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// `Content-Length`; left out for statuses without content, where RFC 9110 forbids it,
    /// but for 205, whose empty content a keep-alive client needs framed (RFC 9110 §15.3.6).
    pub(crate) fn content_length(&mut self, len: u64) -> &mut Self {
        if has_content(self.status) {
            self.push("Content-Length", len.to_string());
        } else if self.status == 205 {
            self.push("Content-Length", "0".to_owned());
        }
        self
    }

    /// `Content-Type`, from luna's own table (app types go through [`ResponseHead::header`]).
    pub(crate) fn content_type(&mut self, value: &'static str) -> &mut Self {
        self.push("Content-Type", value.to_owned());
        self
    }

    /// `Date` in IMF-fixdate (RFC 9110 §5.6.7), which every origin server with a clock sends.
    pub(crate) fn date(&mut self, now: SystemTime) -> &mut Self {
        self.push("Date", httpdate::fmt_http_date(now));
        self
    }

    /// `Connection: keep-alive` or `close`, said both ways so HTTP/1.0 clients hear it too;
    /// with `upgrade` too after an `Upgrade` field, which is hop-by-hop (RFC 9110 §7.8).
    pub(crate) fn connection(&mut self, keep_alive: bool) -> &mut Self {
        let value = if keep_alive { "keep-alive" } else { "close" };
        let value = match self.has_header("upgrade") {
            true => format!("Upgrade, {value}"),
            false => value.to_owned(),
        };
        self.push("Connection", value);
        self
    }

    /// The fields of a 426 that asks for a WebSocket: the protocol (RFC 9110 §15.5.22) and
    /// the only version luna speaks (RFC 6455 §4.4); fields already there are kept.
    pub(crate) fn websocket_required(&mut self) -> &mut Self {
        if !self.has_header("upgrade") {
            self.push("Upgrade", "websocket".to_owned());
        }
        if !self.has_header("sec-websocket-version") {
            self.push("Sec-WebSocket-Version", "13".to_owned());
        }
        self
    }

    /// Appends the head, blank line included, to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let status_line = format!(
            "HTTP/1.1 {} {}\r\n",
            self.status,
            reason_phrase(self.status)
        );
        out.extend_from_slice(status_line.as_bytes());
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The head as bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.encode(&mut out);
        out
    }

    /// Adds a field luna itself wrote: a static name and a value known to be clean.
    pub(super) fn push(&mut self, name: &'static str, value: String) {
        debug_assert!(!value.bytes().any(|b| b < b' ' || b == 0x7f));
        self.headers.push((Cow::Borrowed(name), value.into_bytes()));
    }
}

/// RFC 9110 §5.6.2 `tchar`: the bytes of a token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn text(head: &ResponseHead) -> String {
        String::from_utf8(head.to_bytes()).unwrap()
    }

    #[test]
    fn every_status_luna_uses_has_its_reason() {
        let used = [
            100, 101, 200, 204, 205, 304, 400, 401, 403, 404, 405, 408, 413, 414, 426, 429, 431,
            500, 501, 503, 505,
        ];
        for status in used {
            assert!(!reason_phrase(status).is_empty(), "{status}");
        }
        let head = ResponseHead::new(431).unwrap();
        assert_eq!(
            text(&head),
            "HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n"
        );
        assert_eq!(
            text(&ResponseHead::new(418).unwrap()),
            "HTTP/1.1 418 \r\n\r\n"
        );
    }

    #[test]
    fn statuses_outside_100_to_599_are_refused() {
        for status in [0, 99, 600, 1000] {
            assert_eq!(
                ResponseHead::new(status),
                Err(HeadError::InvalidStatus(status))
            );
        }
    }

    #[test]
    fn builds_a_full_head_in_order() {
        let mut head = ResponseHead::new(200).unwrap();
        let rfc_example = SystemTime::UNIX_EPOCH + Duration::from_secs(784111777);
        head.date(rfc_example)
            .content_type("text/plain; charset=utf-8");
        head.content_length(5).connection(false);
        head.header("X-Id", "a\tb").unwrap();
        assert!(head.has_header("x-id") && !head.has_header("x-other"));
        assert_eq!(
            text(&head),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\
             Connection: close\r\nX-Id: a\tb\r\n\r\n"
        );
    }

    #[test]
    fn content_length_is_left_out_where_there_is_no_content() {
        for status in [101, 204, 304] {
            let mut head = ResponseHead::new(status).unwrap();
            head.content_length(10);
            assert!(!head.has_header("content-length"), "{status}");
        }
        let mut head = ResponseHead::new(205).unwrap();
        head.content_length(10);
        assert_eq!(
            text(&head),
            "HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn a_426_names_the_websocket_version() {
        let mut head = ResponseHead::new(426).unwrap();
        head.websocket_required().connection(false);
        assert_eq!(
            text(&head),
            "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nConnection: Upgrade, close\r\n\r\n"
        );
    }

    #[test]
    fn switching_protocols_answers_the_rfc_example() {
        let head = ResponseHead::switching_protocols("dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(
            text(&head),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
    }

    #[test]
    fn header_injection_is_refused() {
        let mut head = ResponseHead::new(200).unwrap();
        let values = [
            "a\r\nSet-Cookie: x=1",
            "a\nb",
            "a\rb",
            "a\0b",
            "a\x7fb",
            "\x1b[0m",
        ];
        for value in values {
            assert_eq!(
                head.header("X-A", value),
                Err(HeadError::InvalidValue),
                "{value:?}"
            );
        }
        for name in ["", "X A", "X:A", "X\r\nY", "X\0", "Ü", "(x)"] {
            assert_eq!(
                head.header(name, "v"),
                Err(HeadError::InvalidName),
                "{name:?}"
            );
        }
        assert_eq!(text(&head), "HTTP/1.1 200 OK\r\n\r\n");
    }

    #[test]
    fn obs_text_in_a_value_is_sent_as_it_is() {
        let mut head = ResponseHead::new(200).unwrap();
        head.header("X-V", b"caf\xc3\xa9 \xff").unwrap();
        assert_eq!(
            head.to_bytes(),
            b"HTTP/1.1 200 OK\r\nX-V: caf\xc3\xa9 \xff\r\n\r\n"
        );
    }

    #[test]
    fn fields_luna_owns_are_reserved() {
        let mut head = ResponseHead::new(101).unwrap();
        for name in [
            "Content-Length",
            "transfer-encoding",
            "CONNECTION",
            "Upgrade",
            "Date",
        ] {
            assert_eq!(head.header(name, "1"), Err(HeadError::Reserved), "{name}");
        }
        assert_eq!(
            head.header("Sec-WebSocket-Accept", "x"),
            Err(HeadError::Reserved)
        );
        assert!(head.header("Set-Cookie", "id=1; HttpOnly; Secure").is_ok());
        assert!(head.header("Sec-WebSocket-Protocol", "chat").is_ok());
    }
}
