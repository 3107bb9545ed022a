//! A client app: one outgoing connection, established in the background.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::http::{HeaderName, HeaderValue, Uri};
use async_tungstenite::tungstenite::Error as WsError;
use parking_lot::Mutex;
use smol::future::FutureExt;
use smol::net::TcpStream;
use smol::{Task, Timer};

use crate::config::ClientConfig;
use crate::conn::{self, Conn, Link, Sink, DEFAULT_GROUP};
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::runtime;
use crate::session;
use crate::tls;

/// The parts of a `ws://` or `wss://` URL the connection needs.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    pub secure: bool,
    pub host: String,
    pub port: u16,
}

/// Checks a URL and splits out what the connection needs.
fn parse_url(url: &str) -> Result<Target> {
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

/// A client connection running on the I/O threads.
pub(crate) struct Client {
    conn: Arc<Conn>,
    task: Mutex<Option<Task<()>>>,
    close_timeout: Duration,
    sink: Sink,
}

impl Client {
    /// Checks the config and starts connecting; returns at once. Messages sent before the
    /// connection opens are queued and written, in order, once it does.
    pub fn connect(config: ClientConfig, sink: Sink) -> Result<Client> {
        let target = parse_url(&config.url)?;
        if target.secure && !cfg!(feature = "tls") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "wss:// needs a build with TLS",
            ));
        }
        let request = build_request(&config)?;
        let tls = if target.secure {
            Some(tls::connector(&config.tls)?)
        } else {
            None
        };
        let conn = Conn::new(conn::next_id(), DEFAULT_GROUP, &config.limits);
        let close_timeout = config.limits.close_timeout;
        let run = run(config, target, request, tls, conn.clone(), sink.clone());
        let task = runtime::spawn(run);
        Ok(Client {
            conn,
            task: Mutex::new(Some(task)),
            close_timeout,
            sink,
        })
    }

    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }

    /// Closes with 1000 (or gives up connecting) and waits, bounded by the close timeout,
    /// for the close event to be queued.
    pub fn stop(&self) {
        let Some(task) = self.task.lock().take() else {
            return;
        };
        if self.conn.link().is_ok() {
            self.conn.close(1000, "");
            let waited = smol::block_on(async {
                let done = async {
                    task.await;
                    None
                };
                done.or(async {
                    Timer::after(self.close_timeout + Duration::from_millis(250)).await;
                    Some(())
                })
                .await
            });
            // Task::drop cancels a task that overran the close timeout.
            let _ = waited;
        } else {
            smol::block_on(task.cancel());
        }
        let reason = "disconnected before the connection opened";
        self.conn.emit_close(&self.sink, 1006, reason.into(), false);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
    }
}

fn build_request(config: &ClientConfig) -> Result<Request> {
    let mut request = config
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::invalid(format!("invalid URL '{}': {e}", config.url)))?;
    let headers = request.headers_mut();
    for (name, value) in &config.headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| Error::invalid(format!("invalid header name '{name}'")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| Error::invalid(format!("invalid value for header '{name}'")))?;
        headers.append(name, value);
    }
    // Never an empty Sec-WebSocket-Protocol header: some servers refuse it.
    if !config.protocols.is_empty() {
        let list = config.protocols.join(", ");
        let value = HeaderValue::try_from(list.as_str())
            .map_err(|_| Error::invalid(format!("invalid subprotocol list '{list}'")))?;
        headers.insert("sec-websocket-protocol", value);
    }
    Ok(request)
}

/// Why a connection attempt failed.
struct Failure {
    kind: ErrorKind,
    message: String,
    http_status: u16,
}

impl Failure {
    fn new(kind: ErrorKind, message: String) -> Failure {
        Failure {
            kind,
            message,
            http_status: 0,
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        Failure::new(err.kind, err.message)
    }
}

async fn run(
    config: ClientConfig,
    target: Target,
    request: Request,
    tls: Option<tls::Connector>,
    conn: Arc<Conn>,
    sink: Sink,
) {
    // The connect timeout bounds connecting, TLS and the upgrade, not the open connection.
    let deadline = Instant::now() + config.connect_timeout;
    let establish = establish(&config, &target, request, tls, &conn, &sink, deadline);
    if let Err(failure) = establish.await {
        let message = format!("{}: {}", config.url, failure.message);
        sink.push(Event::Error {
            conn: conn.id,
            kind: failure.kind,
            message: message.clone(),
            http_status: failure.http_status,
        });
        conn.emit_close(&sink, 1006, message, false);
    }
}

/// Runs one step of connecting; fails with TIMEOUT once `deadline` has passed.
async fn within<T>(
    config: &ClientConfig,
    deadline: Instant,
    step: impl std::future::Future<Output = std::result::Result<T, Failure>>,
) -> std::result::Result<T, Failure> {
    let expired = async {
        Timer::at(deadline).await;
        Err(Failure::new(
            ErrorKind::Timeout,
            format!(
                "connecting to {} timed out after {} ms",
                config.url,
                config.connect_timeout.as_millis()
            ),
        ))
    };
    step.or(expired).await
}

/// Connects, upgrades and then serves the connection; errors only before it opened.
#[allow(clippy::too_many_arguments)]
async fn establish(
    config: &ClientConfig,
    target: &Target,
    request: Request,
    tls: Option<tls::Connector>,
    conn: &Arc<Conn>,
    sink: &Sink,
    deadline: Instant,
) -> std::result::Result<(), Failure> {
    let (socket, peer) = within(config, deadline, tcp_connect(target)).await?;
    let _ = socket.set_nodelay(true);
    let ws_config = Some(config.limits.websocket_config());
    let secure = tls.is_some();
    let link = |protocol| Link::new(socket.clone(), peer, secure, protocol);
    match tls {
        None => {
            let upgrade =
                async_tungstenite::client_async_with_config(request, socket.clone(), ws_config);
            let (ws, resp) = within(config, deadline, async {
                upgrade.await.map_err(handshake_failure)
            })
            .await?;
            conn.open(link(agreed_protocol(&resp)), None);
            sink.push(Event::Open(conn.clone()));
            session::serve(ws, conn.clone(), sink.clone(), config.limits.clone()).await;
        }
        Some(connector) => {
            let handshake = async {
                let stream = connector.connect(&target.host, socket.clone()).await;
                stream.map_err(Failure::from)
            };
            let stream = within(config, deadline, handshake).await?;
            let upgrade = async_tungstenite::client_async_with_config(request, stream, ws_config);
            let (ws, resp) = within(config, deadline, async {
                upgrade.await.map_err(handshake_failure)
            })
            .await?;
            conn.open(link(agreed_protocol(&resp)), None);
            sink.push(Event::Open(conn.clone()));
            session::serve(ws, conn.clone(), sink.clone(), config.limits.clone()).await;
        }
    }
    Ok(())
}

fn agreed_protocol(
    resp: &async_tungstenite::tungstenite::handshake::client::Response,
) -> Option<String> {
    let value = resp.headers().get("sec-websocket-protocol")?;
    value
        .to_str()
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Resolves the host and connects to the first address that answers.
async fn tcp_connect(target: &Target) -> std::result::Result<(TcpStream, SocketAddr), Failure> {
    let host = target.host.as_str();
    let addrs = smol::net::resolve((host, target.port))
        .await
        .map_err(|e| Failure::new(ErrorKind::Dns, format!("cannot resolve host '{host}': {e}")))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok((stream, addr)),
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Failure::new(ErrorKind::Refused, format!("connection refused by {addr}"))
        }
        Some((addr, e)) => Failure::new(ErrorKind::Io, format!("cannot connect to {addr}: {e}")),
        None => Failure::new(ErrorKind::Dns, format!("host '{host}' has no address")),
    })
}

fn handshake_failure(err: WsError) -> Failure {
    use async_tungstenite::tungstenite::error::{ProtocolError, SubProtocolError};
    match err {
        WsError::Http(resp) => {
            // The body says why (e.g. which subprotocols are served): keep its start, on
            // one line, so a refused client can tell its user.
            const MAX_BODY: usize = 200;
            let body = resp.body().as_deref().unwrap_or_default();
            let text = String::from_utf8_lossy(&body[..body.len().min(MAX_BODY)]);
            let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if body.len() > MAX_BODY {
                text.push_str("...");
            }
            let mut message = format!(
                "the server answered HTTP {} instead of upgrading",
                resp.status()
            );
            if !text.is_empty() {
                message = format!("{message}: {text}");
            }
            Failure {
                kind: ErrorKind::Protocol,
                message,
                http_status: resp.status().as_u16(),
            }
        }
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(e)) => {
            let why = match e {
                SubProtocolError::NoSubProtocol => {
                    "the server accepted none of the requested subprotocols"
                }
                SubProtocolError::InvalidSubProtocol => {
                    "the server chose a subprotocol that was not requested"
                }
                SubProtocolError::ServerSentSubProtocolNoneRequested => {
                    "the server chose a subprotocol although none was requested"
                }
            };
            Failure::new(ErrorKind::Protocol, why.into())
        }
        WsError::Protocol(ProtocolError::HandshakeIncomplete)
        | WsError::Io(_)
        | WsError::ConnectionClosed => Failure::new(
            ErrorKind::Io,
            format!("the server closed the connection during the handshake ({err})"),
        ),
        other => Failure::new(ErrorKind::Protocol, format!("handshake failed: {other}")),
    }
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
