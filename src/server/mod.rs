//! A listening app: binds and accepts (`listen`), serves each connection's HTTP phase
//! (`http_phase`), decides and answers its upgrade (`decision`), runs it as a WebSocket until
//! it closes (`open`), and drains (`drain`).

mod decision;
mod drain;
mod http_phase;
mod listen;
mod open;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use smol::future::FutureExt;
use smol::net::TcpListener;
use smol::{Task, Timer};

use crate::admission::{BodyBudget, HandshakeRate, PerAddress, Phases};
use crate::config::{Limits, ServerConfig, ServerIdentity};
use crate::conn::{self, Conn, Sink, DEFAULT_GROUP};
use crate::error::{Error, ErrorKind, Result};
use crate::http::file_cache::FileCache;
use crate::http::request::Request;
use crate::http::static_files::StaticRoot;
use crate::keepalive::{in_slice, keep_alive};
use crate::runtime;
use crate::stats::Refusal as Refused;
use crate::tls;
use crate::upgrade::Upgrades;

use drain::DrainPlan;
use listen::{accept_loop, bind};

/// The I/O side of a server app.
struct Shared {
    config: ServerConfig,
    /// `config.limits`, shared by every open connection's task.
    limits: Arc<Limits>,
    /// Shared the same way (a pointer per task, not a copy of the queue's ends).
    sink: Arc<Sink>,
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
    /// Cancelled by `stop`, so no task keeps the server's state once it stopped.
    keepalive_task: Mutex<Option<Task<()>>>,
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
            limits: Arc::new(config.limits.clone()),
            config,
            sink: Arc::new(sink),
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
        let keepalive = runtime::spawn(keep_alive_open_connections(shared.clone()));
        Ok(Server {
            shared,
            accept_task: Mutex::new(Some(accept_task)),
            keepalive_task: Mutex::new(Some(keepalive)),
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
        if let Some(task) = self.keepalive_task.lock().take() {
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

/// Pings the open connections and closes the silent ones (until `stop` cancels it).
async fn keep_alive_open_connections(shared: Arc<Shared>) {
    // Only the round's slice is copied, under the lock.
    let open = |slice| {
        let live = shared.live.lock();
        let mine = live.values().filter(|conn| in_slice(conn, slice));
        mine.cloned().collect()
    };
    keep_alive(&shared.limits, open).await
}

/// Resolves at `deadline`, or at `stop`, whichever comes first.
async fn deadline_or_stop(shared: &Shared, deadline: Instant) {
    let timeout = Timer::at(deadline);
    let stopped = async {
        let _ = shared.stopped.recv().await;
    };
    async {
        timeout.await;
    }
    .or(stopped)
    .await
}

/// Runs `step` until `deadline`, or until `stop`; `None` when either came first.
async fn bounded<T>(
    shared: &Shared,
    deadline: Instant,
    step: impl std::future::Future<Output = Option<T>>,
) -> Option<T> {
    let given_up = async {
        deadline_or_stop(shared, deadline).await;
        None
    };
    step.or(given_up).await
}
fn report_timeout(shared: &Shared, peer: SocketAddr) {
    if !shared.stopping.load(Ordering::Acquire) {
        shared.sink.stats().refused(Refused::Handshake);
        let peer = conn::normalize_peer(peer);
        let message = format!("handshake from {peer} timed out");
        shared.sink.error(0, ErrorKind::Timeout, message);
    }
}
