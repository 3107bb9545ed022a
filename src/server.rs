//! A listening app: binds, accepts, performs the upgrade handshake with subprotocol
//! selection, and runs each connection until it closes.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::{TcpListener, TcpStream};
use smol::{Task, Timer};
use socket2::{Domain, Protocol, Socket, Type};

use crate::admission::{AddressSlot, BodyBudget, HandshakeRate, PerAddress, Phases, Slot};
use crate::config::{Compression, ServerConfig, ServerIdentity};
use crate::conn::{self, Conn, Link, Sink, DEFAULT_GROUP};
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::frame::deflate_params::{self, Agreed};
use crate::frame::Role;
use crate::handshake::{self, AccessLog, HttpService, Outcome, Reader};
use crate::http::access_log;
use crate::http::file_cache::FileCache;
use crate::http::request::Request;
use crate::http::response::ResponseHead;
use crate::http::static_files::StaticRoot;
use crate::runtime;
use crate::send_path::Deflate;
use crate::session::{self, Opened};
use crate::stats::Refusal as Refused;
use crate::tls;
use crate::upgrade::{Decision, Question, Upgrades};
use crate::wire::Wire;

/// The I/O side of a server app.
struct Shared {
    config: ServerConfig,
    sink: Sink,
    /// Connections past their handshake and not yet finished.
    live: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Connections accepted that are not open WebSockets: handshakes and plain HTTP.
    phases: Arc<Phases>,
    /// What request bodies in flight may hold together.
    bodies: Arc<BodyBudget>,
    /// Open connections per client address (`max_connections_per_ip`).
    per_address: Arc<PerAddress>,
    /// Handshakes per second per client address (`max_handshake_rate_per_ip`).
    handshake_rate: Option<HandshakeRate>,
    /// Small static files kept after their first read.
    files: FileCache,
    stopping: AtomicBool,
    /// Set by `drain`: keep-alive answers say close, new connections are closed at once.
    draining: AtomicBool,
    /// The close a drain sends, and when it gives up waiting.
    drain: Mutex<Option<DrainPlan>>,
    /// Closed by `stop` to abort every handshake in progress.
    stop_signal: smol::channel::Sender<()>,
    stopped: smol::channel::Receiver<()>,
    /// The certificate new connections get; `reload_tls` swaps it, open ones keep theirs.
    tls: Option<Mutex<tls::Acceptor>>,
    /// The static-file root, checked when the app starts.
    statics: Option<StaticRoot>,
    /// Handshakes held for the host's decision.
    upgrades: Arc<Upgrades>,
}

impl Shared {
    /// Removes a finished connection; a mostly empty map gives its table back, so a peak of
    /// connections leaves no table behind.
    fn forget(&self, id: u64) {
        let mut live = self.live.lock();
        if live.remove(&id).is_some() {
            self.sink.stats().closed();
        }
        if live.len() < live.capacity() / 4 {
            live.shrink_to_fit();
        }
    }

    /// No connection open, handshaking or serving HTTP.
    fn is_idle(&self) -> bool {
        let phases = &self.phases;
        self.live.lock().is_empty() && phases.handshaking() == 0 && phases.http() == 0
    }

    /// The client's address: the TCP peer, or the client a trusted proxy names.
    fn client_of(&self, peer: SocketAddr, request: &Request) -> SocketAddr {
        let peer = conn::normalize_peer(peer);
        self.config.trusted_proxies.client_of(peer, request)
    }

    fn group_of(&self, protocol: &str) -> Option<u32> {
        if protocol.is_empty() {
            return Some(DEFAULT_GROUP);
        }
        let index = self.config.protocols.iter().position(|p| p == protocol)?;
        Some(index as u32)
    }
}

/// A running server; `stop` (or dropping it) shuts it down.
pub(crate) struct Server {
    shared: Arc<Shared>,
    accept_task: Mutex<Option<Task<()>>>,
    local_addr: SocketAddr,
}

impl Server {
    /// Binds and starts accepting. The port is bound when this returns.
    pub fn start(config: ServerConfig, sink: Sink) -> Result<Server> {
        // Certificates are checked before binding, so a broken one never leaves a port bound.
        let tls = match &config.tls {
            Some(identity) => Some(Mutex::new(tls::acceptor(identity)?)),
            None => None,
        };
        let statics = match &config.static_files {
            Some(files) => {
                let root = StaticRoot::new(&files.root, &files.index).map_err(|e| {
                    let root = files.root.display();
                    Error::invalid(format!("static root '{root}' cannot be served: {e}"))
                })?;
                Some(root.with_cache_control(&files.cache_control))
            }
            None => None,
        };
        let std_listener = bind(&config.host, config.port, config.reuse_port)?;
        let local_addr = std_listener
            .local_addr()
            .map_err(|e| Error::io("local address", e))?;
        let listener = TcpListener::try_from(std_listener)
            .map_err(|e| Error::io("registering the listener", e))?;
        let (stop_signal, stopped) = smol::channel::bounded(1);
        let bodies = BodyBudget::new(config.max_body_memory);
        let handshake_rate = (config.max_handshake_rate_per_ip > 0)
            .then(|| HandshakeRate::new(config.max_handshake_rate_per_ip));
        let shared = Arc::new(Shared {
            handshake_rate,
            files: FileCache::default(),
            bodies,
            per_address: Arc::default(),
            config,
            sink,
            live: Mutex::new(HashMap::new()),
            phases: Arc::new(Phases::default()),
            stopping: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            drain: Mutex::new(None),
            stop_signal,
            stopped,
            tls,
            statics,
            upgrades: Arc::new(Upgrades::default()),
        });
        let accept_task = runtime::spawn(accept_loop(listener, shared.clone()));
        Ok(Server {
            shared,
            accept_task: Mutex::new(Some(accept_task)),
            local_addr,
        })
    }

    /// The address actually bound (with the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The index of `protocol` in the app's list, `DEFAULT_GROUP` for "", `None` if unknown.
    pub fn group_of(&self, protocol: &str) -> Option<u32> {
        self.shared.group_of(protocol)
    }

    /// Serves new connections with this certificate and key; open connections keep theirs.
    /// The files are checked first: a bad one leaves the current certificate in place.
    pub fn reload_tls(&self, identity: &ServerIdentity) -> Result<()> {
        let Some(current) = &self.shared.tls else {
            return Err(Error::invalid(
                "this app serves plain ws://: start it with a certificate to reload one",
            ));
        };
        let fresh = tls::acceptor(identity)?;
        *current.lock() = fresh;
        Ok(())
    }

    /// The handshakes held for the host's decision.
    pub fn upgrades(&self) -> &Upgrades {
        &self.shared.upgrades
    }

    /// Drains the app: stops listening at once (the port is free when this returns), lets
    /// HTTP requests in flight finish (their answers say `Connection: close`), and closes every
    /// WebSocket with `code` and `reason` after what was queued for it, spread over 80% of
    /// `timeout` so that reconnecting clients do not come back as one wave. `drained` says
    /// when it is over; a second call changes nothing.
    pub fn drain(&self, timeout: Duration, code: u16, reason: &str) {
        let shared = &self.shared;
        if shared.stopping.load(Ordering::Acquire) || shared.draining.swap(true, Ordering::AcqRel) {
            return;
        }
        let started = Instant::now();
        *shared.drain.lock() = Some(DrainPlan {
            code,
            reason: reason.to_owned(),
            deadline: started + timeout,
        });
        if let Some(task) = self.accept_task.lock().take() {
            // Cancelling drops the listener, which closes the socket.
            smol::block_on(task.cancel());
        }
        let open: Vec<Arc<Conn>> = shared.live.lock().values().cloned().collect();
        let (spread, reason) = (timeout.mul_f64(0.8), reason.to_owned());
        let draining = shared.clone();
        let closing = async move {
            let count = open.len().max(1) as f64;
            for (i, conn) in open.iter().enumerate() {
                Timer::at(started + spread.mul_f64(i as f64 / count)).await;
                conn.close(code, &reason);
            }
            // A host blocked in `wait` hears when the drain is over (no event may be left to
            // wake it: an app with nothing open has none at all).
            let deadline = started + timeout;
            while !draining.is_idle() && Instant::now() < deadline {
                Timer::after(DRAIN_CHECK).await;
            }
            draining.sink.push(Event::Wake);
        };
        runtime::spawn(closing).detach();
    }

    /// Whether a drain is over: every WebSocket closed and every HTTP connection done, or its
    /// timeout passed. False when no drain was asked for.
    pub fn drained(&self) -> bool {
        let shared = &self.shared;
        let Some(deadline) = shared.drain.lock().as_ref().map(|plan| plan.deadline) else {
            return false;
        };
        self.is_idle() || Instant::now() >= deadline
    }

    /// Stops listening (the port is free when this returns), closes every connection with
    /// 1001 and waits, bounded by the close timeout, until each has emitted its close event.
    pub fn stop(&self) {
        let shared = &self.shared;
        if shared.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(task) = self.accept_task.lock().take() {
            // Cancelling drops the listener, which closes the socket.
            smol::block_on(task.cancel());
        }
        shared.stop_signal.close();
        let open: Vec<Arc<Conn>> = shared.live.lock().values().cloned().collect();
        for conn in &open {
            conn.close(1001, "going away");
        }
        let deadline = Instant::now() + shared.config.limits.close_timeout + WAIT_MARGIN;
        while !self.is_idle() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // A connection that did not finish in time still gets its one close event.
        for conn in shared.live.lock().values() {
            conn.emit_close(&shared.sink, 1006, "the app was removed".into(), false);
        }
    }

    fn is_idle(&self) -> bool {
        self.shared.is_idle()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

const WAIT_MARGIN: Duration = Duration::from_millis(250);
/// How often a drain looks whether everything has closed.
const DRAIN_CHECK: Duration = Duration::from_millis(20);

/// Binds a listening socket. `"*"` binds IPv6 dual stack, or IPv4 where IPv6 is missing.
/// `reuse_port` lets several processes listen on the same port, the kernel spreading new
/// connections among them.
fn bind(host: &str, port: u16, reuse_port: bool) -> Result<StdListener> {
    let candidates: Vec<SocketAddr> = if host == "*" {
        vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0u8; 4], port)),
        ]
    } else {
        let mut addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| Error::new(ErrorKind::Dns, format!("cannot resolve host '{host}': {e}")))?
            .collect();
        // Names like "localhost" resolve to both families; IPv4 is what clients try first.
        addrs.sort_by_key(|a| a.is_ipv6());
        addrs
    };
    let mut last_err = None;
    for addr in candidates {
        match bind_one(addr, reuse_port) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_err = Some(e),
        }
    }
    // Say what to do about the common failures, not only what happened.
    let hint = match last_err.as_ref().map(|e| e.kind()) {
        Some(std::io::ErrorKind::AddrInUse) => {
            " (another program or app uses this port: pick another, or 0 for any free one)"
        }
        Some(std::io::ErrorKind::PermissionDenied) => {
            " (ports below 1024 need privileges: use a higher port)"
        }
        Some(std::io::ErrorKind::AddrNotAvailable) => {
            " (no interface of this machine has that address: use \"*\" or 127.0.0.1)"
        }
        _ => "",
    };
    let err = last_err.map_or("no address".to_string(), |e| e.to_string());
    Err(Error::new(
        ErrorKind::Io,
        format!("cannot listen on {host}:{port}: {err}{hint}"),
    ))
}

fn bind_one(addr: SocketAddr, reuse_port: bool) -> std::io::Result<StdListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    // Lets a restarted server bind again while old connections sit in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    if reuse_port {
        set_reuse_port(&socket)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
fn set_reuse_port(socket: &Socket) -> std::io::Result<()> {
    socket.set_reuse_port(true)
}

/// Checked when the app is configured (`config::REUSE_PORT_SUPPORTED`); never reached.
#[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
fn set_reuse_port(_: &Socket) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        // Accept the next connection.
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                shared
                    .sink
                    .error(0, ErrorKind::Io, format!("accept failed: {e}"));
                // Out of descriptors, most likely: give closing connections time.
                Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let slot = Slot::handshake(&shared.phases);
        runtime::spawn(handle_connection(shared.clone(), stream, peer, slot)).detach();
    }
}

/// What a drain closes connections with, and when it stops waiting for them.
struct DrainPlan {
    code: u16,
    reason: String,
    deadline: Instant,
}

/// The outcome of the upgrade decision: which subprotocol, which group, which compression.
struct Selection {
    protocol: Option<String>,
    group: u32,
    /// permessage-deflate, when the app compresses and the client offered it.
    deflate: Option<Agreed>,
}

/// Serves one accepted connection; `slot` counts it until it is an open WebSocket or gone.
async fn handle_connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, slot: Slot) {
    match &shared.tls {
        None => {
            let mut http_side = stream.clone();
            let phase = http_phase(&shared, &mut http_side, peer, &slot).await;
            let Some((request, rest)) = phase else {
                return;
            };
            let wire = Wire::new(stream.clone());
            let transport = stream.clone();
            let upgrade = Upgrade {
                socket: stream,
                wire: Some(wire),
                peer: shared.client_of(peer, &request),
                request,
                rest,
            };
            run_connection(&shared, transport, upgrade, slot).await
        }
        Some(acceptor) => {
            let acceptor = acceptor.lock().clone();
            let deadline = Instant::now() + shared.config.limits.handshake_timeout;
            let accepted = bounded(&shared, deadline, async {
                Some(Box::pin(acceptor.accept(stream.clone())).await)
            });
            match accepted.await {
                Some(Ok(mut tls_stream)) => {
                    let phase = http_phase(&shared, &mut tls_stream, peer, &slot).await;
                    let Some((request, rest)) = phase else {
                        return;
                    };
                    let upgrade = Upgrade {
                        socket: stream,
                        wire: None,
                        peer: shared.client_of(peer, &request),
                        request,
                        rest,
                    };
                    run_connection(&shared, tls_stream, upgrade, slot).await
                }
                Some(Err(err)) => {
                    shared.sink.stats().refused(Refused::Handshake);
                    let peer = conn::normalize_peer(peer);
                    let message = format!("TLS handshake from {peer} failed: {err}");
                    shared.sink.error(0, ErrorKind::Tls, message);
                }
                None => {
                    report_timeout(&shared, peer);
                }
            }
        }
    }
}

/// Serves HTTP requests until one asks for a WebSocket (returned with the bytes read past
/// its head); asks the host about the requests its `http` hook answers; reports refusals
/// and timeouts. Ends at `stop`.
async fn http_phase<S>(
    shared: &Shared,
    stream: &mut S,
    peer: SocketAddr,
    slot: &Slot,
) -> Option<(Arc<Request>, Vec<u8>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let log = ConnLog { shared, peer };
    let service = HttpService {
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
            true => Some(&log),
            false => None,
        },
    };
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
    let answer = shared.upgrades.hold(id, request.clone(), Question::Http);
    shared.sink.push(Event::Http {
        conn: id,
        request: request.clone(),
        body: body.into(),
        peer_ip: peer.ip().to_string(),
        peer_port: peer.port(),
    });
    let deadline = Instant::now() + shared.config.limits.handshake_timeout;
    let decision = bounded(shared, deadline, async { answer.recv().await.ok() }).await;
    shared.upgrades.give_up(id);
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
fn log_access(
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

/// A WebSocket opening handshake read by the HTTP phase, not yet answered.
struct Upgrade {
    socket: TcpStream,
    /// The direct write side, for plain-TCP connections.
    wire: Option<Arc<Wire>>,
    peer: SocketAddr,
    request: Arc<Request>,
    /// What the client sent after the head (its first frames, if it did not wait).
    rest: Vec<u8>,
}

/// Why a handshake is refused, and the answer that says so.
struct Refusal {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Refusal {
    fn text(status: u16, why: &str) -> Refusal {
        Refusal {
            status,
            headers: Vec::new(),
            body: format!("{why}\n").into_bytes(),
        }
    }
}

/// An accepted handshake: the subprotocol and any extra fields of the 101.
struct Accepted {
    selection: Selection,
    headers: Vec<(String, String)>,
}

/// Answers the upgrade on `transport` and serves the connection until it closes.
async fn run_connection<S>(shared: &Arc<Shared>, mut transport: S, upgrade: Upgrade, slot: Slot)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let id = conn::next_id();
    // Boxed: the task keeps only what the open connection needs, not room for the
    // handshake's state for the connection's whole life.
    let accepted = Box::pin(settle(shared, &mut transport, &upgrade, id)).await;
    drop(slot);
    // Held as long as the connection: its place among its address's connections.
    let Some((selection, _address)) = accepted else {
        return;
    };
    let limits = &shared.config.limits;
    let conn = Conn::new(id, selection.group, limits, Role::Server);
    let tls = upgrade.wire.is_none();
    let mut link = Link::new(upgrade.socket, upgrade.peer, tls, selection.protocol);
    link.compressed = selection.deflate.is_some();
    if let Some(agreed) = &selection.deflate {
        let sending = agreed.sending(Role::Server);
        let (threshold, stats) = (limits.compression_threshold, shared.sink.shared_stats());
        conn.path
            .attach_deflate(Deflate::new(sending, threshold, stats));
    }
    conn.open(link.with_request(upgrade.request), upgrade.wire);
    shared.live.lock().insert(id, conn.clone());
    shared.sink.stats().opened();
    // Checked after registering, so `stop` either sees this connection or we see `stopping`.
    if shared.stopping.load(Ordering::Acquire) {
        shared.forget(id);
        // A host that accepted this id in an UPGRADE event hears how it ended.
        if shared.config.upgrade_events {
            conn.emit_close(&shared.sink, 1001, "going away".into(), false);
        }
        return;
    }
    shared.sink.push(Event::Open(conn.clone()));
    // Opened after a drain started (its handshake was in flight): closed like the others.
    if let Some(plan) = shared.drain.lock().as_ref() {
        conn.close(plan.code, &plan.reason);
    }
    let opened = Opened {
        stream: transport,
        // What the client sent after its head is read first (a pipelined first frame).
        rest: upgrade.rest,
        role: Role::Server,
        inflate: selection
            .deflate
            .map(|agreed| agreed.receiving(Role::Server)),
    };
    Box::pin(session::serve(
        opened,
        conn,
        shared.sink.clone(),
        limits.clone(),
    ))
    .await;
    shared.forget(id);
}

/// Decides the handshake (by luna, or by the host) and answers it: the selection once the
/// 101 went out, `None` when it was refused or the client left.
async fn settle<S>(
    shared: &Shared,
    transport: &mut S,
    upgrade: &Upgrade,
    id: u64,
) -> Option<(Selection, Option<AddressSlot>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let peer = conn::normalize_peer(upgrade.peer);
    let started = Instant::now();
    if let Some(rate) = &shared.handshake_rate {
        if !rate.allow(peer.ip(), started) {
            shared.sink.stats().refused(Refused::Address);
            let mut refusal = Refusal::text(429, "too many handshakes from this address");
            refusal.headers.push(("Retry-After".into(), "1".into()));
            refuse_upgrade(shared, transport, upgrade, refusal, started).await;
            return None;
        }
    }
    let address = match shared.config.max_connections_per_ip {
        0 => None,
        max => match shared.per_address.take(peer.ip(), max) {
            Some(slot) => Some(slot),
            None => {
                shared.sink.stats().refused(Refused::Address);
                let refusal = Refusal::text(429, "too many connections from this address");
                refuse_upgrade(shared, transport, upgrade, refusal, started).await;
                return None;
            }
        },
    };
    let decided = match decide(shared, &upgrade.request) {
        Ok(selection) if shared.config.upgrade_events => {
            let decided = ask_host(shared, id, upgrade, selection).await;
            if decided.is_err() {
                shared.sink.stats().refused(Refused::Host);
            }
            decided
        }
        Ok(selection) => Ok(Accepted {
            selection,
            headers: Vec::new(),
        }),
        Err((status, why, reason)) => {
            shared.sink.stats().refused(reason);
            Err(Refusal::text(status, why))
        }
    };
    match decided {
        Ok(accepted) => {
            let stall = shared.config.limits.handshake_timeout;
            let sent = answer_101(transport, &upgrade.request, &accepted, stall).await;
            if sent {
                let accepted = &shared.sink.stats().handshakes_accepted;
                accepted.fetch_add(1, Ordering::Relaxed);
                log_access(
                    shared,
                    peer,
                    Some(&upgrade.request),
                    101,
                    0,
                    started.elapsed(),
                );
            }
            if !sent && shared.config.upgrade_events {
                // The host accepted this id: it hears how it ended.
                let reason = "the client left before the handshake completed".to_owned();
                let event = Event::Close {
                    conn: id,
                    code: 1006,
                    reason,
                    clean: false,
                };
                shared.sink.push(event);
            }
            sent.then_some((accepted.selection, address))
        }
        Err(refusal) => {
            refuse_upgrade(shared, transport, upgrade, refusal, started).await;
            None
        }
    }
}

/// Answers a refused handshake (logged and reported) and closes in stages.
async fn refuse_upgrade<S>(
    shared: &Shared,
    transport: &mut S,
    upgrade: &Upgrade,
    refusal: Refusal,
    started: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let peer = conn::normalize_peer(upgrade.peer);
    let headers: Vec<(&str, &str)> = refusal
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let stall = shared.config.limits.handshake_timeout;
    let (status, body) = (refusal.status, &refusal.body);
    let took = started.elapsed();
    log_access(
        shared,
        peer,
        Some(&upgrade.request),
        status,
        body.len() as u64,
        took,
    );
    handshake::refuse_with(transport, status, &headers, body, stall).await;
    let why = String::from_utf8_lossy(&refusal.body);
    let message = format!("handshake from {peer} refused: {status} {}", why.trim());
    shared.sink.error(0, ErrorKind::Protocol, message);
}

/// Holds the handshake for the host's decision (an UPGRADE event), bounded by the
/// handshake timeout and by `stop`.
async fn ask_host(
    shared: &Shared,
    id: u64,
    upgrade: &Upgrade,
    default: Selection,
) -> std::result::Result<Accepted, Refusal> {
    let answer = shared
        .upgrades
        .hold(id, upgrade.request.clone(), Question::Upgrade);
    let peer = conn::normalize_peer(upgrade.peer);
    shared.sink.push(Event::Upgrade {
        conn: id,
        request: upgrade.request.clone(),
        peer_ip: peer.ip().to_string(),
        peer_port: peer.port(),
    });
    let deadline = Instant::now() + shared.config.limits.handshake_timeout;
    let decision = bounded(shared, deadline, async { answer.recv().await.ok() }).await;
    shared.upgrades.give_up(id);
    match decision {
        Some(Decision::Accept { protocol, headers }) => {
            let selection = match protocol {
                Some(name) => Selection {
                    group: shared.group_of(&name).unwrap_or(default.group),
                    protocol: Some(name),
                    deflate: default.deflate,
                },
                None => default,
            };
            Ok(Accepted { selection, headers })
        }
        Some(Decision::Respond {
            status,
            headers,
            body,
        }) => Err(Refusal {
            status,
            headers,
            body,
        }),
        None => {
            let message = format!("handshake from {peer}: the host did not decide in time");
            shared.sink.error(id, ErrorKind::Timeout, message);
            Err(Refusal::text(503, "the server did not decide in time"))
        }
    }
}

/// Writes the 101 that accepts `request`; false when the client is gone.
async fn answer_101<S>(
    transport: &mut S,
    request: &Request,
    accepted: &Accepted,
    stall: Duration,
) -> bool
where
    S: AsyncWrite + Unpin,
{
    let key = request.websocket_key().unwrap_or_default();
    let mut head = ResponseHead::switching_protocols(key);
    if let Some(protocol) = &accepted.selection.protocol {
        // Names were checked as tokens when the app was configured.
        let _ = head.header("Sec-WebSocket-Protocol", protocol);
    }
    if let Some(deflate) = &accepted.selection.deflate {
        let _ = head.header("Sec-WebSocket-Extensions", &deflate.header);
    }
    for (name, value) in &accepted.headers {
        // Checked by the host's accept call.
        let _ = head.header(name, value);
    }
    handshake::write_all_within(transport, &head.to_bytes(), stall).await
}

/// Runs `step` until `deadline`, or until `stop`; `None` when either came first.
async fn bounded<T>(
    shared: &Shared,
    deadline: Instant,
    step: impl std::future::Future<Output = Option<T>>,
) -> Option<T> {
    let timeout = async {
        Timer::at(deadline).await;
        None
    };
    let stopped = async {
        let _ = shared.stopped.recv().await;
        None
    };
    step.or(timeout).or(stopped).await
}

fn report_timeout(shared: &Shared, peer: SocketAddr) {
    if !shared.stopping.load(Ordering::Acquire) {
        shared.sink.stats().refused(Refused::Handshake);
        let peer = conn::normalize_peer(peer);
        let message = format!("handshake from {peer} timed out");
        shared.sink.error(0, ErrorKind::Timeout, message);
    }
}

/// Decides an opening handshake (SPEC §4, §4a): the origin allow-list first, then
/// `max_connections`, then the first subprotocol of the client's list that the app serves.
fn decide(
    shared: &Shared,
    request: &Request,
) -> std::result::Result<Selection, (u16, &'static str, Refused)> {
    if let Some(allowed) = &shared.config.origins {
        // Browsers always send Origin; other clients may not, and are not refused for it.
        if let Some(origin) = request.header("origin") {
            if !allowed
                .iter()
                .any(|a| a.eq_ignore_ascii_case(origin.trim()))
            {
                return Err((403, "this origin may not connect", Refused::Origin));
            }
        }
    }
    let max = shared.config.limits.max_connections;
    if max > 0 {
        let busy = shared.live.lock().len() + shared.phases.handshaking();
        if busy > max {
            return Err((503, "too many connections", Refused::Capacity));
        }
    }
    let offered = request
        .header_values("sec-websocket-protocol")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let protocols = &shared.config.protocols;
    let deflate = negotiate_deflate(shared.config.limits.compression, request);
    for name in offered {
        if let Some(index) = protocols.iter().position(|p| p == name) {
            return Ok(Selection {
                protocol: Some(name.to_owned()),
                group: index as u32,
                deflate,
            });
        }
    }
    if shared.config.has_default {
        return Ok(Selection {
            protocol: None,
            group: DEFAULT_GROUP,
            deflate,
        });
    }
    Err((
        400,
        "no requested subprotocol is served here",
        Refused::Subprotocol,
    ))
}

/// The permessage-deflate offer the app accepts (RFC 7692 §5): the client's first that it
/// can honour; none when it does not compress or the client offered nothing it can honour.
fn negotiate_deflate(compression: Compression, request: &Request) -> Option<Agreed> {
    let context_takeover = match compression {
        Compression::Off => return None,
        Compression::Shared => false,
        Compression::Dedicated => true,
    };
    let offers: Vec<&str> = request.header_values("sec-websocket-extensions").collect();
    let offers = deflate_params::parse_offers(&offers.join(", "));
    deflate_params::accept(&offers, &deflate_params::settings(context_takeover))
}
