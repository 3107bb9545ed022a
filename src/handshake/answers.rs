//! The answers the HTTP phase writes besides files: the host's, the metrics, and refusals
//! closed in stages; every write bounded by the stall time.

use std::io;
use std::time::{Duration, Instant, SystemTime};

use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::Timer;

use super::{HttpService, Outcome};
use crate::config::MetricsEndpoint;
use crate::http::request::Request;
use crate::http::response::{has_content, Field, ResponseHead};
use crate::stats::Stats;

/// After an error answer, read (and drop) at most this much for at most `LINGER`, so the
/// client reads the answer instead of a reset (RFC 9112 §9.6).
const LINGER_BYTES: usize = 1 << 20;
const LINGER: Duration = Duration::from_secs(2);

/// The answer to a request for the metrics: the counters (200), or 401 without the token,
/// or 405 for a method other than GET and HEAD.
pub(super) fn metrics_answer(
    metrics: &MetricsEndpoint,
    request: &Request,
    stats: &Stats,
) -> (u16, Vec<Field>, String) {
    let text = |s: &str| vec![("Content-Type".to_owned(), s.into())];
    if request.method != "GET" && request.method != "HEAD" {
        let mut headers = text("text/plain; charset=utf-8");
        headers.push(("Allow".to_owned(), "GET, HEAD".into()));
        return (405, headers, "405 Method Not Allowed\n".to_owned());
    }
    if let Some(token) = &metrics.token {
        let given = request.header("authorization");
        let given = given.as_deref().and_then(bearer_token);
        if !given.is_some_and(|given| same_secret(given, token)) {
            let mut headers = text("text/plain; charset=utf-8");
            headers.push(("WWW-Authenticate".to_owned(), "Bearer".into()));
            return (401, headers, "401 Unauthorized\n".to_owned());
        }
    }
    let body = stats.render();
    (200, text("text/plain; version=0.0.4; charset=utf-8"), body)
}

/// The token of a `Bearer` credential; the scheme is case-insensitive (RFC 9110 §11.1).
fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches([' ', '\t']))
}

/// Compares two secrets in time that depends on their lengths only, not on where they differ.
fn same_secret(given: &str, secret: &str) -> bool {
    let (a, b) = (given.as_bytes(), secret.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes the host's answer to `request`; false when the connection must end. Statuses
/// without content (1xx, 204, 205, 304) get no body, and a length only for 205 (0).
pub(crate) async fn respond<S>(
    stream: &mut S,
    request: &Request,
    answer: (u16, &[Field], &[u8]),
    keep_alive: bool,
    stall: Duration,
) -> bool
where
    S: AsyncWrite + Unpin,
{
    let (status, headers, body) = answer;
    let mut head = ResponseHead::new(status).unwrap_or_else(|_| ResponseHead::new(500).unwrap());
    for (name, value) in headers {
        // Checked by the host's respond call.
        let _ = head.header(name, value);
    }
    if has_content(status) && !head.has_header("content-type") {
        head.content_type("text/plain; charset=utf-8");
    }
    head.content_length(body.len() as u64);
    head.date(SystemTime::now()).connection(keep_alive);
    let mut out = head.to_bytes();
    if request.method != "HEAD" && has_content(status) {
        out.extend_from_slice(body);
    }
    let sent = write_all_within(stream, &out, stall).await;
    if !sent || !keep_alive {
        let _ = stream.close().await;
        return false;
    }
    true
}

/// Writes all of `bytes`; false when the peer is gone or one write makes no progress within
/// `stall`, so a client that stops reading cannot hold its connection (and its slot).
pub(crate) async fn write_all_within<S>(stream: &mut S, mut bytes: &[u8], stall: Duration) -> bool
where
    S: AsyncWrite + Unpin,
{
    async fn stalled<T>(stall: Duration) -> io::Result<T> {
        Timer::after(stall).await;
        Err(io::Error::from(io::ErrorKind::TimedOut))
    }
    while !bytes.is_empty() {
        match stream.write(bytes).or(stalled(stall)).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => bytes = &bytes[n..],
        }
    }
    stream.flush().or(stalled(stall)).await.is_ok()
}

/// Refuses a request of the HTTP phase (counted and logged) and closes in stages.
pub(super) async fn refused<S>(
    stream: &mut S,
    service: &HttpService<'_>,
    request: Option<&Request>,
    (status, why): (u16, &'static str),
    started: Instant,
) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    service.answered(request, status, why.len() as u64 + 1, started);
    refuse(stream, status, why, &[], service.timeout).await;
    Outcome::Refused(status, why)
}

/// Answers `status` with a short text and closes in stages: our side first, then whatever the
/// client still sends is read and dropped for a while, so it sees the answer, not a reset.
pub(crate) async fn refuse<S>(
    stream: &mut S,
    status: u16,
    why: &str,
    extra: &[(&str, &[u8])],
    stall: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let body = format!("{why}\n");
    refuse_with(stream, status, extra, body.as_bytes(), stall).await
}

/// Like `refuse`, with a body of the caller's. A status without content (1xx, 204, 205, 304) is
/// sent without it: a body after such a head would be read as the next response.
pub(crate) async fn refuse_with<S>(
    stream: &mut S,
    status: u16,
    extra: &[(&str, &[u8])],
    body: &[u8],
    stall: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let body = if has_content(status) { body } else { &[] };
    let mut out = error_head(status, body.len(), extra);
    out.extend_from_slice(body);
    if !write_all_within(stream, &out, stall).await || stream.close().await.is_err() {
        return;
    }
    let drain = async {
        // On the heap: this future's state would otherwise live as long as the connection.
        let mut sink = vec![0u8; 4096];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    drain
        .or(async {
            Timer::after(LINGER).await;
        })
        .await;
}

/// The head of an error answer with a text body of `len` bytes and `extra` fields (no
/// type or length for a status without content).
fn error_head(status: u16, len: usize, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut head = ResponseHead::new(status).unwrap_or_else(|_| ResponseHead::new(500).unwrap());
    for (name, value) in extra {
        let _ = head.header(name, value);
    }
    if status == 426 {
        head.websocket_required();
    }
    if has_content(status) && !head.has_header("content-type") {
        head.content_type("text/plain; charset=utf-8");
    }
    head.content_length(len as u64);
    head.date(SystemTime::now()).connection(false);
    head.to_bytes()
}
