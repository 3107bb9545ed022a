//! The server's side of the HTTP phase: serves requests (`handshake::serve`) until one asks
//! for a WebSocket, asks the host about those its `http` hook answers, and keeps the access
//! log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncWrite};

use super::{deadline_or_stop, report_timeout, Shared};
use crate::admission::Slot;
use crate::conn;
use crate::error::ErrorKind;
use crate::event::{Event, HttpRequest};
use crate::handshake::{self, AccessLog, HttpService, Outcome, Reader};
use crate::http::access_log;
use crate::http::request::Request;
use crate::upgrade::{Decision, Question};

/// Serves HTTP requests until one asks for a WebSocket (returned with the bytes read past
/// its head); asks the host about the requests its `http` hook answers; reports refusals
/// and timeouts. Ends at `stop`.
pub(super) async fn http_phase<S>(
    shared: &Shared,
    stream: &mut S,
    peer: SocketAddr,
    slot: &Slot,
) -> Option<(Arc<Request>, Vec<u8>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let log = ConnLog { shared, peer };
    let service = service(shared, slot, &log);
    let peer = conn::normalize_peer(peer);
    let mut reader = Reader::default();
    let upgrade = loop {
        let serving =
            async { Some(Box::pin(handshake::serve(stream, &service, &mut reader)).await) };
        let stopped = async {
            let _ = shared.stopped.recv().await;
            None
        };
        match serving.or(stopped).await {
            Some(Outcome::Upgrade { request, rest }) => break Some((Arc::new(request), rest)),
            Some(Outcome::Dynamic {
                request,
                body,
                lease,
                keep_alive,
                started,
            }) => {
                let ask = HttpAsk {
                    request,
                    body,
                    peer,
                    keep_alive,
                    started,
                };
                let asked = answer_http(shared, stream, ask, &service);
                let answered = Box::pin(asked).await;
                // The body's bytes are the host's now, or gone.
                drop(lease);
                if answered {
                    continue;
                }
            }
            Some(Outcome::Refused(status, why)) => {
                let message = format!("handshake from {peer} refused: {status} {why}");
                shared.sink.error(0, ErrorKind::Protocol, message);
            }
            Some(Outcome::TimedOut) => report_timeout(shared, peer),
            Some(Outcome::Done) | None => {}
        }
        break None;
    };
    upgrade
}

/// What the HTTP phase of one connection serves, from the app's config.
fn service<'a>(shared: &'a Shared, slot: &'a Slot, log: &'a ConnLog<'a>) -> HttpService<'a> {
    HttpService {
        limits: &shared.config.http_limits,
        statics: shared.statics.as_ref(),
        timeout: shared.config.limits.handshake_timeout,
        dynamic: shared.config.http_events,
        slot,
        max_http: shared.config.max_http_connections,
        bodies: &shared.bodies,
        stats: shared.sink.stats(),
        metrics: shared.config.metrics.as_ref(),
        draining: &shared.draining,
        files: &shared.files,
        access_log: match shared.config.access_log {
            true => Some(log),
            false => None,
        },
    }
}

/// A plain HTTP request for the host, as the HTTP phase read it.
struct HttpAsk {
    request: Request,
    body: Vec<u8>,
    /// The TCP peer (a trusted proxy's forwarded client is found from the request).
    peer: SocketAddr,
    keep_alive: bool,
    /// When its head arrived.
    started: Instant,
}

/// Asks the host to answer an HTTP request (an HTTP event) and sends its answer, or 503 when
/// it does not answer within the handshake timeout; false when the connection must end.
async fn answer_http<S>(
    shared: &Shared,
    stream: &mut S,
    ask: HttpAsk,
    service: &HttpService<'_>,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let HttpAsk {
        request,
        body,
        peer,
        keep_alive,
        started,
    } = ask;
    let id = conn::next_id();
    let peer = shared.client_of(peer, &request);
    let request = Arc::new(request);
    let announce = || {
        shared.sink.push(Event::Http(Box::new(HttpRequest {
            conn: id,
            request: request.clone(),
            body: body.into(),
            peer_ip: peer.ip().to_string(),
            peer_port: peer.port(),
        })))
    };
    let deadline = Instant::now() + shared.config.limits.handshake_timeout;
    let given_up = deadline_or_stop(shared, deadline);
    let asked = shared
        .upgrades
        .ask(id, request.clone(), Question::Http, announce, given_up);
    let decision = asked.await;
    let stall = shared.config.limits.handshake_timeout;
    match decision {
        Some(Decision::Respond {
            status,
            headers,
            body,
        }) => {
            let answer = (status, &headers[..], &body[..]);
            let sent = handshake::respond(stream, &request, answer, keep_alive, stall).await;
            service.answered(Some(&request), status, body.len() as u64, started);
            sent
        }
        _ => {
            let message = format!("HTTP request from {peer}: the host did not answer in time");
            shared.sink.error(id, ErrorKind::Timeout, message);
            let why = "the server did not answer in time";
            service.answered(Some(&request), 503, why.len() as u64 + 1, started);
            handshake::refuse(stream, 503, why, &[], stall).await;
            false
        }
    }
}

/// The access log of one connection's requests: lines go to the host as LOG events.
struct ConnLog<'a> {
    shared: &'a Shared,
    /// The TCP peer; a trusted proxy's forwarded client is found from each request.
    peer: SocketAddr,
}

impl AccessLog for ConnLog<'_> {
    fn record(&self, request: Option<&Request>, status: u16, bytes: u64, took: Duration) {
        let client = match request {
            Some(request) => self.shared.client_of(self.peer, request),
            None => conn::normalize_peer(self.peer),
        };
        log_access(self.shared, client, request, status, bytes, took);
    }
}

/// Queues one access log line for the host, if the app keeps a log.
pub(super) fn log_access(
    shared: &Shared,
    client: SocketAddr,
    request: Option<&Request>,
    status: u16,
    bytes: u64,
    took: Duration,
) {
    if shared.config.access_log {
        let now = std::time::SystemTime::now();
        let line = access_log::line(client.ip(), now, request, status, bytes, took);
        shared.sink.push(Event::Log { line });
    }
}
