//! A client app: one outgoing connection, established in the background.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

// tungstenite builds the request (URL, Host, a fresh Sec-WebSocket-Key); luna writes it and
// checks the answer itself (`http::websocket`), so the server's first frames, read with its
// 101, stay luna's to decode.
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use parking_lot::Mutex;
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::net::TcpStream;
use smol::{Task, Timer};

use crate::config::{ClientConfig, Compression};
use crate::conn::{self, Conn, Link, Sink, DEFAULT_GROUP};
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::frame::deflate_params::{self, Settings};
use crate::frame::Role;
use crate::http::websocket::{self, Mismatch, ServerAnswer};
use crate::keepalive::{in_slice, keep_alive};
use crate::runtime;
use crate::send_path::Deflate;
use crate::session::{self, Opened};
use crate::tls;

mod url;

use url::{parse_url, Target};

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
                "this libluna was built without TLS support (no wss://)",
            ));
        }
        let request = build_request(&config)?;
        let tls = if target.secure {
            Some(tls::connector(&config.tls)?)
        } else {
            None
        };
        let conn = Conn::new(conn::next_id(), DEFAULT_GROUP, &config.limits, Role::Client);
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

/// The permessage-deflate the client offers, if it compresses.
fn offered_deflate(config: &ClientConfig) -> Option<Settings> {
    match config.limits.compression {
        Compression::Off => None,
        Compression::Shared => Some(deflate_params::settings(false)),
        Compression::Dedicated => Some(deflate_params::settings(true)),
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
    if let Some(settings) = offered_deflate(config) {
        let offer = deflate_params::offer(&settings);
        let value = HeaderValue::try_from(offer).map_err(|_| Error::invalid("invalid offer"))?;
        headers.insert("sec-websocket-extensions", value);
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
        // The host knows the URL of its app: the message says only what went wrong.
        sink.push(Event::Error {
            conn: conn.id,
            kind: failure.kind,
            message: failure.message.clone(),
            http_status: failure.http_status,
        });
        conn.emit_close(&sink, 1006, failure.message, false);
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
                "no connection within {} ms",
                config.connect_timeout.as_millis()
            ),
        ))
    };
    step.or(expired).await
}

/// Connects, upgrades and then serves the connection; errors only before it opened.
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
    let secure = tls.is_some();
    let link = |agreed: &Agreed| {
        let mut link = Link::new(socket.clone(), peer, secure, agreed.protocol.clone());
        link.compressed = agreed.deflate.is_some();
        link
    };
    match tls {
        None => {
            let mut stream = socket.clone();
            let upgrade = upgrade(&mut stream, &request, config);
            let agreed = within(config, deadline, upgrade).await?;
            // No wire: a client's sends go out through its writer task as soon as they are
            // made, whether or not its host polls again.
            conn.open(link(&agreed), None);
            serve(stream, agreed, config, conn, sink).await;
        }
        Some(connector) => {
            let handshake = async {
                let stream = connector.connect(&target.host, socket.clone()).await;
                stream.map_err(Failure::from)
            };
            let mut stream = within(config, deadline, handshake).await?;
            let upgrade = upgrade(&mut stream, &request, config);
            let agreed = within(config, deadline, upgrade).await?;
            conn.open(link(&agreed), None);
            serve(stream, agreed, config, conn, sink).await;
        }
    }
    Ok(())
}

/// Announces the open connection and runs it until it closes.
async fn serve<S>(stream: S, agreed: Agreed, config: &ClientConfig, conn: &Arc<Conn>, sink: &Sink)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if let Some(deflate) = &agreed.deflate {
        let sending = deflate.sending(Role::Client);
        let stats = sink.shared_stats();
        conn.path
            .attach_deflate(Deflate::new(sending, &config.limits, stats));
    }
    sink.push(Event::Open(conn.clone()));
    let opened = Opened {
        stream,
        rest: agreed.rest,
        role: Role::Client,
        inflate: agreed.deflate.map(|d| d.receiving(Role::Client)),
        on_end: None,
    };
    let limits = Arc::new(config.limits.clone());
    let session = session::serve(opened, conn.clone(), Arc::new(sink.clone()), limits);
    // The keepalive never ends: the connection's end ends both.
    session
        .or(keep_alive(&config.limits, |slice| {
            // A list only in the connection's own round (an empty one allocates nothing).
            match in_slice(conn, slice) {
                true => vec![conn.clone()],
                false => Vec::new(),
            }
        }))
        .await;
}

/// What the server's 101 agreed to.
struct Agreed {
    protocol: Option<String>,
    /// permessage-deflate, when offered and accepted.
    deflate: Option<deflate_params::Agreed>,
    /// What the server sent after its response head (its first frames).
    rest: Vec<u8>,
}

/// The longest response head read from a server.
const MAX_RESPONSE_HEAD: usize = 16 << 10;

/// Sends the opening handshake and checks the server's answer (RFC 6455 §4.1).
async fn upgrade<S>(
    stream: &mut S,
    request: &Request,
    config: &ClientConfig,
) -> std::result::Result<Agreed, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let lost = |e: std::io::Error| {
        Failure::new(
            ErrorKind::Io,
            format!("the server closed the connection during the handshake ({e})"),
        )
    };
    stream
        .write_all(&request_head(request))
        .await
        .map_err(lost)?;
    stream.flush().await.map_err(lost)?;
    let mut input = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, head_len) = loop {
        let n = stream.read(&mut chunk).await.map_err(lost)?;
        if n == 0 {
            return Err(lost(std::io::ErrorKind::UnexpectedEof.into()));
        }
        input.extend_from_slice(&chunk[..n]);
        if let Some(parsed) = websocket::parse_answer(&input)? {
            break parsed;
        }
        if input.len() > MAX_RESPONSE_HEAD {
            return Err(protocol_failure("the server's response head is too long"));
        }
    };
    if head.status != 101 {
        let body = read_body(stream, &head, input.split_off(head_len)).await;
        return Err(refused(head.status, &body));
    }
    let key = request
        .headers()
        .get("sec-websocket-key")
        .map_or(&b""[..], |v| v.as_bytes());
    let protocol = websocket::check_upgrade(&head, key, &config.protocols)?;
    let deflate = websocket::check_extensions(&head, offered_deflate(config).as_ref())?;
    Ok(Agreed {
        protocol,
        deflate,
        rest: input.split_off(head_len),
    })
}

/// The request head as it goes on the wire.
fn request_head(request: &Request) -> Vec<u8> {
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!("GET {target} HTTP/1.1\r\n").into_bytes();
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// The most of a refusal's body a failure message shows.
const MAX_BODY: usize = 200;

/// The start of a refusal's body: what was read with the head, and more up to its
/// Content-Length (at most `MAX_BODY` bytes).
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    head: &ServerAnswer,
    mut body: Vec<u8>,
) -> Vec<u8> {
    let length = head
        .field("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY);
    let mut chunk = [0u8; 1024];
    while body.len() < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body
}

/// A server that answered with another status than 101; its body says why (e.g. which
/// subprotocols are served): its start is kept, on one line, so a client can tell its user.
fn refused(status: u16, body: &[u8]) -> Failure {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_BODY)]);
    let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.len() > MAX_BODY {
        text.push_str("...");
    }
    let mut message = format!("the server answered HTTP {status} instead of upgrading");
    if !text.is_empty() {
        message = format!("{message}: {text}");
    }
    Failure {
        kind: ErrorKind::Protocol,
        message,
        http_status: status,
    }
}

fn protocol_failure(why: &str) -> Failure {
    Failure::new(ErrorKind::Protocol, why.to_owned())
}

impl From<Mismatch> for Failure {
    fn from(mismatch: Mismatch) -> Failure {
        match mismatch {
            Mismatch::Protocol(why) => Failure::new(ErrorKind::Protocol, why),
            Mismatch::Subprotocol(why) => Failure::new(ErrorKind::Subprotocol, why),
        }
    }
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
