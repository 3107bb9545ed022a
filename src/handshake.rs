//! The HTTP side of a new server connection, before it is a WebSocket: reads request heads
//! with `http::request`, serves static files and error answers (HTTP/1.1 keep-alive), and
//! hands a WebSocket upgrade request back to the server with the bytes read past its head.

use std::io::Read;
use std::time::{Duration, SystemTime};

use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::Timer;

use crate::http::request::{parse_request, Limits, Parse, Request};
use crate::http::response::{has_content, reason_phrase, ResponseHead};
use crate::http::static_files::{StaticAnswer, StaticFile, StaticRoot};

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
    /// A request for the host to answer (`respond`), with its body; call `serve` again after.
    Dynamic { request: Request, body: Vec<u8> },
}

/// What the HTTP phase serves besides upgrades.
pub(crate) struct HttpService<'a> {
    pub limits: &'a Limits,
    pub statics: Option<&'a StaticRoot>,
    /// Each request head must arrive within this time (also between keep-alive requests).
    pub timeout: Duration,
    /// Requests no file answers go to the host (the `http` hook), with bodies up to this
    /// size; `None` = no host routes.
    pub dynamic: Option<usize>,
}

/// What a connection's HTTP phase has read so far, kept across the requests the host answers.
#[derive(Default)]
pub(crate) struct Reader {
    buf: Vec<u8>,
    served: usize,
}

/// Bytes read from the socket at a time while reading a head.
const READ_CHUNK: usize = 2048;
/// Bytes of a file written at a time.
const FILE_CHUNK: usize = 64 << 10;
/// After an error answer, read (and drop) at most this much for at most `LINGER`, so the
/// client reads the answer instead of a reset (RFC 9112 §9.6).
const LINGER_BYTES: usize = 1 << 20;
const LINGER: Duration = Duration::from_secs(2);

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
        let (request, head_len) = match head {
            Ok(Head::Complete(request, len)) => (request, len),
            Ok(Head::Gone) => return Outcome::Done,
            // An idle keep-alive connection ending is no news.
            Ok(Head::TooSlow) if reader.served > 0 => return Outcome::Done,
            Ok(Head::TooSlow) => return Outcome::TimedOut,
            Err(status) => return refused(stream, status, reason_phrase(status)).await,
        };
        if request.is_websocket_upgrade() {
            let rest = reader.buf.split_off(head_len);
            return Outcome::Upgrade { request, rest };
        }
        reader.buf.drain(..head_len);
        reader.served += 1;
        // Files first (no host round trip); what no file answers goes to the host.
        let answer = service.statics.map(|statics| statics.answer(&request));
        let missing = answer
            .as_ref()
            .is_none_or(|a| matches!(a.head.status(), 404 | 405));
        if let (true, Some(max_body)) = (missing, service.dynamic) {
            return match read_body(stream, reader, &request, max_body, service.timeout).await {
                Ok(body) => Outcome::Dynamic { request, body },
                Err(status) => refused(stream, status, reason_phrase(status)).await,
            };
        }
        let Some(answer) = answer else {
            return refused(stream, 400, "this is a WebSocket server only.").await;
        };
        // Static files take no body; reading one would only hold the connection. A POST or
        // PUT with a body is still a 405 (its method is what is wrong), closed in stages
        // since its body is never read.
        if request.content_length() > 0 {
            if request.method != "GET" && request.method != "HEAD" {
                let allow = [("Allow", "GET, HEAD")];
                refuse(stream, 405, "405 Method Not Allowed", &allow).await;
                return Outcome::Done;
            }
            return refused(stream, 413, "requests for files carry no body").await;
        }
        let keep_alive = request.keep_alive();
        if !serve_file(stream, answer, &request, keep_alive).await || !keep_alive {
            let _ = stream.close().await;
            return Outcome::Done;
        }
    }
}

/// Reads the body of `request` (after its head, in `reader`); `Err(status)` when it is too
/// large (413) or does not arrive in time (408).
async fn read_body<S>(
    stream: &mut S,
    reader: &mut Reader,
    request: &Request,
    max_body: usize,
    timeout: Duration,
) -> Result<Vec<u8>, u16>
where
    S: AsyncRead + Unpin,
{
    let len = request.content_length();
    if len > max_body as u64 {
        return Err(413);
    }
    let len = len as usize;
    let reading = async {
        while reader.buf.len() < len {
            let start = reader.buf.len();
            reader.buf.resize(len, 0);
            match stream.read(&mut reader.buf[start..]).await {
                Ok(0) | Err(_) => return Err(400),
                Ok(n) => reader.buf.truncate(start + n),
            }
        }
        Ok(reader.buf.drain(..len).collect())
    };
    reading
        .or(async {
            Timer::after(timeout).await;
            Err(408)
        })
        .await
}

/// Writes the host's answer to `request`; false when the connection must end.
pub(crate) async fn respond<S>(
    stream: &mut S,
    request: &Request,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> bool
where
    S: AsyncWrite + Unpin,
{
    let keep_alive = request.keep_alive();
    let mut head = ResponseHead::new(status).unwrap_or_else(|_| ResponseHead::new(500).unwrap());
    for (name, value) in headers {
        // Checked by the host's respond call.
        let _ = head.header(name, value);
    }
    if has_content(status) && !head.has_header("content-type") {
        head.content_type("text/plain; charset=utf-8");
    }
    head.content_length(body.len() as u64)
        .date(SystemTime::now())
        .connection(keep_alive);
    let mut out = head.to_bytes();
    if request.method != "HEAD" && has_content(status) {
        out.extend_from_slice(body);
    }
    let sent = stream.write_all(&out).await.is_ok();
    if !sent || !keep_alive {
        let _ = stream.close().await;
        return false;
    }
    true
}

/// What reading a head gave.
enum Head {
    Complete(Request, usize),
    /// The peer closed or reset the connection.
    Gone,
    TooSlow,
}

/// Reads until `buf` holds a whole head; `Err(status)` for a head that must be refused.
async fn read_head<S>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    service: &HttpService<'_>,
) -> Result<Head, u16>
where
    S: AsyncRead + Unpin,
{
    let reading = async {
        loop {
            if !buf.is_empty() {
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
        }
    };
    reading
        .or(async {
            Timer::after(service.timeout).await;
            Ok(Head::TooSlow)
        })
        .await
}

/// Answers one static-file request; false when the connection must end.
async fn serve_file<S>(
    stream: &mut S,
    mut answer: StaticAnswer,
    request: &Request,
    keep_alive: bool,
) -> bool
where
    S: AsyncWrite + Unpin,
{
    let status = answer.head.status();
    let text = format!("{status} {}\n", reason_phrase(status));
    let error_body = answer.body.is_none() && has_content(status) && status != 200;
    if error_body {
        answer.head.content_type("text/plain; charset=utf-8");
        answer.head.content_length(text.len() as u64);
    }
    answer.head.date(SystemTime::now()).connection(keep_alive);
    let mut out = answer.head.to_bytes();
    if error_body && request.method != "HEAD" {
        out.extend_from_slice(text.as_bytes());
    }
    match answer.body {
        // Small files go out with their head in one write.
        Some(file) if file.len as usize <= FILE_CHUNK => match read_small(&file) {
            Some(bytes) => {
                out.extend_from_slice(&bytes);
                stream.write_all(&out).await.is_ok()
            }
            None => false,
        },
        Some(file) => stream.write_all(&out).await.is_ok() && send_file(stream, &file).await,
        None => stream.write_all(&out).await.is_ok(),
    }
}

/// The `len` bytes of a small file its head announced, if it still has them: one `open`, one
/// `read` (`fs::read` would add a `statx` and a `read` to see the end).
fn read_small(file: &StaticFile) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; file.len as usize];
    std::fs::File::open(&file.path)
        .ok()?
        .read_exact(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// Streams a file in chunks; false when it could not send exactly the announced length.
async fn send_file<S>(stream: &mut S, file: &StaticFile) -> bool
where
    S: AsyncWrite + Unpin,
{
    let Ok(opened) = std::fs::File::open(&file.path) else {
        return false;
    };
    let mut reader = opened.take(file.len);
    let mut chunk = vec![0u8; FILE_CHUNK];
    let mut sent = 0u64;
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return sent == file.len,
            Ok(n) => {
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return false;
                }
                sent += n as u64;
            }
            Err(_) => return false,
        }
    }
}

async fn refused<S>(stream: &mut S, status: u16, why: &'static str) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    refuse(stream, status, why, &[]).await;
    Outcome::Refused(status, why)
}

/// Answers `status` with a short text and closes in stages: our side first, then whatever the
/// client still sends is read and dropped for a while, so it sees the answer, not a reset.
pub(crate) async fn refuse<S>(stream: &mut S, status: u16, why: &str, extra: &[(&str, &str)])
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let body = format!("{why}\n");
    refuse_with(stream, status, extra, body.as_bytes()).await
}

/// Like `refuse`, with a body of the caller's.
pub(crate) async fn refuse_with<S>(stream: &mut S, status: u16, extra: &[(&str, &str)], body: &[u8])
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut out = error_head(status, body.len(), extra);
    out.extend_from_slice(body);
    if stream.write_all(&out).await.is_err() || stream.close().await.is_err() {
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

/// The head of an error answer with a text body of `len` bytes and `extra` fields.
fn error_head(status: u16, len: usize, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut head = ResponseHead::new(status).unwrap_or_else(|_| ResponseHead::new(500).unwrap());
    for (name, value) in extra {
        let _ = head.header(name, value);
    }
    if !head.has_header("content-type") {
        head.content_type("text/plain; charset=utf-8");
    }
    head.content_length(len as u64)
        .date(SystemTime::now())
        .connection(false);
    head.to_bytes()
}
