//! The HTTP side of a new server connection, before it is a WebSocket: reads request heads
//! with `http::request`, serves static files and error answers (HTTP/1.1 keep-alive), and
//! hands a WebSocket upgrade request back to the server with the bytes read past its head.
//! Static files are written by `files`, every other answer (the host's, the metrics, the
//! refusals closed in stages) by `answers`.

mod answers;
mod files;

use answers::{metrics_answer, refused};
pub(crate) use answers::{refuse, refuse_with, respond, write_all_within};
use files::serve_file;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::Timer;

use crate::admission::{BodyBudget, BodyLease, Slot};
use crate::config::MetricsEndpoint;
use crate::http::file_cache::FileCache;
use crate::http::request::{parse_request, Limits, Parse, Request};
use crate::http::response::reason_phrase;
use crate::http::static_files::{StaticAnswer, StaticRoot};
use crate::stats::Stats;

/// How a connection's HTTP phase ended.
pub(crate) enum Outcome {
    /// A WebSocket opening handshake: its request, and what the client sent after the head.
    Upgrade { request: Request, rest: Vec<u8> },
    /// The connection is done: its requests were answered, or the peer left.
    Done,
    /// A request was refused with this status and reason (already answered).
    Refused(u16, &'static str),
    /// No request arrived in time.
    TimedOut,
    /// A request for the host to answer (`respond`), with its body and its share of the
    /// body budget (held until the answer is written); call `serve` again after.
    Dynamic {
        request: Request,
        body: Vec<u8>,
        lease: BodyLease,
        keep_alive: bool,
        /// When its head arrived (for the access log).
        started: Instant,
    },
}

/// What the HTTP phase serves besides upgrades.
pub(crate) struct HttpService<'a> {
    pub limits: &'a Limits,
    pub statics: Option<&'a StaticRoot>,
    /// Each request head and body must arrive within this time (also between keep-alive
    /// requests), and each write of an answer must make progress within it.
    pub timeout: Duration,
    /// Requests no file answers go to the host (the `http` hook), with bodies up to this
    /// size; `None` = no host routes.
    pub dynamic: Option<usize>,
    /// This connection's place among the handshakes and HTTP connections.
    pub slot: &'a Slot,
    /// Plain HTTP connections served at once; past it a request is answered 503.
    pub max_http: usize,
    /// What all bodies in flight may hold together; past it a request is answered 503.
    pub bodies: &'a Arc<BodyBudget>,
    /// The app's counters (HTTP answers by status).
    pub stats: &'a Stats,
    /// Where the counters are served in the Prometheus text format, if anywhere.
    pub metrics: Option<&'a MetricsEndpoint>,
    /// The app's access log, if it keeps one.
    pub access_log: Option<&'a (dyn AccessLog + Sync)>,
    /// Set while the app drains: answers say `Connection: close`.
    pub draining: &'a AtomicBool,
    /// Small static files kept after their first read.
    pub files: &'a FileCache,
}

/// What a connection's HTTP phase has read so far, kept across the requests the host answers.
#[derive(Default)]
pub(crate) struct Reader {
    buf: Vec<u8>,
    served: usize,
}

/// Bytes read from the socket at a time while reading a head.
const READ_CHUNK: usize = 2048;
/// The most a body grows by per read: it grows as bytes arrive, never to the announced
/// length up front (a 60-byte head must not reserve a megabyte).
const BODY_CHUNK: usize = 64 << 10;
/// Requests one keep-alive connection may make before it is closed, as nginx's
/// `keepalive_requests`: a client cannot hold its HTTP slot forever by asking again.
pub(crate) const MAX_REQUESTS_PER_CONNECTION: usize = 1000;

/// Serves requests on `stream` until one asks for a WebSocket or for the host, or the
/// connection ends.
pub(crate) async fn serve<S>(
    stream: &mut S,
    service: &HttpService<'_>,
    reader: &mut Reader,
) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let head = read_head(stream, &mut reader.buf, service).await;
        let started = Instant::now();
        let (request, head_len) = match head {
            Ok(Head::Complete(request, len)) => (request, len),
            Ok(Head::Gone) => return Outcome::Done,
            // An idle keep-alive connection ending is no news.
            Ok(Head::TooSlow) if reader.served > 0 => return Outcome::Done,
            Ok(Head::TooSlow) => return Outcome::TimedOut,
            Err(status) => {
                let why = reason_phrase(status);
                return refused(stream, service, None, (status, why), started).await;
            }
        };
        if request.asks_for_websocket() {
            if let Some(refusal) = request.websocket_refusal() {
                return refused(stream, service, Some(&request), refusal, started).await;
            }
            service.slot.to_handshake();
            let rest = reader.buf.split_off(head_len);
            return Outcome::Upgrade { request, rest };
        }
        reader.buf.drain(..head_len);
        let request = &request;
        if !service.slot.to_http(service.max_http) {
            let why = "too many HTTP connections: try again later";
            return refused(stream, service, Some(request), (503, why), started).await;
        }
        reader.served += 1;
        let keep_alive = request.keep_alive()
            && reader.served < MAX_REQUESTS_PER_CONNECTION
            && !service.draining.load(Ordering::Acquire);
        let answered = answer(stream, service, reader, request, keep_alive, started).await;
        if let Some(outcome) = answered {
            return outcome;
        }
    }
}

/// Answers one plain HTTP request: the metrics, a file, or the host's (`Outcome::Dynamic`);
/// `None` when the connection goes on to its next request.
async fn answer<S>(
    stream: &mut S,
    service: &HttpService<'_>,
    reader: &mut Reader,
    request: &Request,
    keep_alive: bool,
    started: Instant,
) -> Option<Outcome>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(metrics) = service.metrics.filter(|m| request.path() == m.path) {
        let (status, headers, body) = metrics_answer(metrics, request, service.stats);
        let answer = (status, &headers[..], body.as_bytes());
        let sent = respond(stream, request, answer, keep_alive, service.timeout).await;
        service.answered(Some(request), status, body.len() as u64, started);
        return (!sent).then_some(Outcome::Done);
    }
    // Files first (no host round trip); what no file answers goes to the host.
    let answer = service.statics.map(|root| (root, root.answer(request)));
    let missing = answer
        .as_ref()
        .is_none_or(|(_, a)| matches!(a.head.status(), 404 | 405));
    if let (true, Some(max_body)) = (missing, service.dynamic) {
        let body = read_body(stream, reader, request, max_body, service).await;
        return Some(match body {
            Ok((body, lease)) => Outcome::Dynamic {
                request: request.clone(),
                body,
                lease,
                keep_alive,
                started,
            },
            Err(refusal) => refused(stream, service, Some(request), refusal, started).await,
        });
    }
    let Some((root, answer)) = answer else {
        let why = "this is a WebSocket server only.";
        return Some(refused(stream, service, Some(request), (400, why), started).await);
    };
    let file = (root, answer);
    answer_file(stream, service, request, file, keep_alive, started).await
}

/// Answers a request with a static file (or the static root's error); `None` when the
/// connection goes on to its next request.
async fn answer_file<S>(
    stream: &mut S,
    service: &HttpService<'_>,
    request: &Request,
    (root, answer): (&StaticRoot, StaticAnswer),
    keep_alive: bool,
    started: Instant,
) -> Option<Outcome>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stall = service.timeout;
    // Static files take no body; reading one would only hold the connection. A POST or
    // PUT with a body is still a 405 (its method is what is wrong), closed in stages
    // since its body is never read.
    if request.content_length() > 0 {
        if request.method != "GET" && request.method != "HEAD" {
            let allow = [("Allow", &b"GET, HEAD"[..])];
            let why = "405 Method Not Allowed";
            service.answered(Some(request), 405, why.len() as u64 + 1, started);
            refuse(stream, 405, why, &allow, stall).await;
            return Some(Outcome::Done);
        }
        let why = "requests for files carry no body";
        return Some(refused(stream, service, Some(request), (413, why), started).await);
    }
    let files = service.files;
    let served = serve_file(stream, answer, request, keep_alive, stall, files, root);
    let (status, sent, bytes) = served.await;
    service.answered(Some(request), status, bytes, started);
    if !sent || !keep_alive {
        let _ = stream.close().await;
        return Some(Outcome::Done);
    }
    None
}

impl HttpService<'_> {
    /// Counts an answered request and writes its access log line, if the app keeps one.
    pub(crate) fn answered(
        &self,
        request: Option<&Request>,
        status: u16,
        bytes: u64,
        started: Instant,
    ) {
        self.stats.http_answered(status);
        if let Some(log) = self.access_log {
            log.record(request, status, bytes, started.elapsed());
        }
    }
}

/// Where the HTTP phase reports each request it answered (an app's access log).
pub(crate) trait AccessLog {
    fn record(&self, request: Option<&Request>, status: u16, bytes: u64, took: Duration);
}

/// Reads the body of `request` (after its head, in `reader`), growing as bytes arrive, with
/// its share of the body budget; `Err` when it is too large (413), the budget is spent (503)
/// or it does not arrive in time (408). A client that waits for `100 Continue` gets it once
/// the body is wanted, not before a refusal.
async fn read_body<S>(
    stream: &mut S,
    reader: &mut Reader,
    request: &Request,
    max_body: usize,
    service: &HttpService<'_>,
) -> Result<(Vec<u8>, BodyLease), (u16, &'static str)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let len = request.content_length();
    if len > max_body as u64 {
        return Err((413, "the request body is larger than this server accepts"));
    }
    let len = len as usize;
    let Some(lease) = service.bodies.take(len) else {
        return Err((503, "too many request bodies in flight: try again later"));
    };
    // RFC 9110 §10.1.1: without it, such a client waits (curl 1 s) before sending the body.
    if request.expects_continue() && reader.buf.len() < len {
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        if !write_all_within(stream, interim, service.timeout).await {
            return Err((400, "the client left before sending the request body"));
        }
    }
    let reading = async {
        while reader.buf.len() < len {
            let start = reader.buf.len();
            reader.buf.resize(start + (len - start).min(BODY_CHUNK), 0);
            match stream.read(&mut reader.buf[start..]).await {
                Ok(0) | Err(_) => return Err((400, "the request body ended early")),
                Ok(n) => reader.buf.truncate(start + n),
            }
        }
        Ok((reader.buf.drain(..len).collect(), lease))
    };
    reading
        .or(async {
            Timer::after(service.timeout).await;
            Err((408, "the request body did not arrive in time"))
        })
        .await
}

/// What reading a head gave.
enum Head {
    Complete(Request, usize),
    /// The peer closed or reset the connection.
    Gone,
    TooSlow,
}

/// Reads until `buf` holds a whole head; `Err(status)` for a head that must be refused.
///
/// The head is parsed again only when a line ended (or it outgrew its limit), and empty lines
/// before it are dropped as they come: a head trickled a byte at a time costs linear, not
/// quadratic, time.
async fn read_head<S>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    service: &HttpService<'_>,
) -> Result<Head, u16>
where
    S: AsyncRead + Unpin,
{
    let reading = async {
        // Bytes a keep-alive client sent ahead are parsed before anything is read.
        let mut worth_parsing = !buf.is_empty();
        loop {
            if worth_parsing {
                match parse_request(buf, service.limits) {
                    Ok(Parse::Complete(request, len)) => return Ok(Head::Complete(request, len)),
                    Ok(Parse::Partial) => {}
                    Err(err) => return Err(err.status()),
                }
            }
            let start = buf.len();
            buf.resize(start + READ_CHUNK, 0);
            let read = stream.read(&mut buf[start..]).await;
            buf.truncate(start + *read.as_ref().unwrap_or(&0));
            if matches!(read, Ok(0) | Err(_)) {
                return Ok(Head::Gone);
            }
            worth_parsing = worth_parsing_after_read(buf, start, service.limits.max_head_size);
        }
    };
    reading
        .or(async {
            Timer::after(service.timeout).await;
            Ok(Head::TooSlow)
        })
        .await
}

/// After a read appended `buf[start..]` to a head not yet complete: whether parsing it again
/// can tell more. Only the first bytes (garbage is refused at once), a line end or a head
/// past its limit can; empty lines before the request line are dropped here (RFC 9112
/// §2.2), so even they cannot make a trickled head cost quadratic time.
fn worth_parsing_after_read(buf: &mut Vec<u8>, start: usize, max_head_size: usize) -> bool {
    if buf.iter().all(|&b| b == b'\r' || b == b'\n') {
        buf.clear();
        return false;
    }
    start == 0 || buf[start..].contains(&b'\n') || buf.len() > max_head_size
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head of `lines` lines trickled one byte per read is parsed once per line, plus
    /// once for its first byte: linear in its size, however it arrives.
    #[test]
    fn a_trickled_head_is_parsed_once_per_line() {
        let mut head = b"\r\n\r\nGET /chat HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..200 {
            head.extend_from_slice(format!("X-Padding-{i}: {}\r\n", "v".repeat(40)).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let limits = Limits::default();
        let (mut buf, mut parses) = (Vec::new(), 0);
        let mut outcome = None;
        for &byte in &head {
            let start = buf.len();
            buf.push(byte);
            if worth_parsing_after_read(&mut buf, start, limits.max_head_size) {
                parses += 1;
                match parse_request(&buf, &limits) {
                    Ok(Parse::Partial) => continue,
                    other => {
                        outcome = Some(other.map(|_| ()));
                        break;
                    }
                }
            }
        }
        // 102 header slots are more than the 100 allowed: 431, after about one parse a line.
        assert_eq!(
            outcome,
            Some(Err(
                crate::http::request::RequestError::HeaderFieldsTooLarge
            ))
        );
        assert!(
            parses <= 110,
            "{parses} parses for a {}-byte head",
            head.len()
        );
    }

    #[test]
    fn empty_lines_before_a_head_are_dropped_as_they_come() {
        let mut buf = b"\r\n\r".to_vec();
        assert!(!worth_parsing_after_read(&mut buf, 2, 100));
        assert!(buf.is_empty());
        let mut buf = b"G".to_vec();
        assert!(
            worth_parsing_after_read(&mut buf, 0, 100),
            "first bytes are checked"
        );
        let mut buf = b"GE".to_vec();
        assert!(!worth_parsing_after_read(&mut buf, 1, 100));
        assert!(worth_parsing_after_read(&mut buf, 1, 1), "past the limit");
    }
}
