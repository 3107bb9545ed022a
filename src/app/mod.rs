//! The object a host holds: one server (or client) with its event queue and its host-side
//! view of the open connections. Its parts, each read alone: `poll.rs` (take events, record
//! opens and closes, settle the wake-up), `fanout.rs` (broadcast, publish, subscriptions,
//! other nodes' messages), `answers.rs` (held upgrades and HTTP requests), `wait.rs`, and
//! `conn_table.rs` (the open connections, the mass-disconnect watch).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::backlog::Backlog;
use crate::client::Client;
use crate::cluster::Cluster;
use crate::config::{
    ClientConfig, ClusterConfig, Limits, ResumeConfig, ServerConfig, ServerIdentity,
};
use crate::conn::{Conn, ConnEvent, Sink};
use crate::error::{Error, ErrorKind, Result};
use crate::event::Opcode;
use crate::inbox::{self, Taker};
use crate::send_budget;
use crate::send_path::{self, HostBatch};
use crate::server::Server;
use crate::stats::{Snapshot, Stats};
use crate::topics::Topics;
use crate::wakeup::Wakeup;

mod answers;
mod conn_table;
mod fanout;
mod poll;
mod resuming;
mod sessions;
mod wait;

use conn_table::{ConnMap, Disconnects};
use sessions::{Kept, PauseLimits, Sessions};
pub(crate) use wait::wait_any;

/// A server or client app, as the host holds it.
pub(crate) struct App {
    events: Taker<ConnEvent>,
    wakeup: Arc<Wakeup>,
    /// Message bytes queued for the host and not yet polled.
    backlog: Arc<Backlog>,
    /// The events of the last poll: they own the bytes the caller was shown.
    polled: Mutex<Vec<ConnEvent>>,
    /// Connections whose OPEN the host has polled and whose CLOSE it has not. Only host
    /// threads touch it, so the I/O threads never wait for the host.
    conns: Mutex<ConnMap>,
    /// The connections whose CLOSE the last poll returned: what the host reads of them (the
    /// request, the addresses) stays readable while it handles that CLOSE, until the next poll.
    just_closed: Mutex<ConnMap>,
    /// Which of those connections subscribed to which topics (server apps only). Host
    /// threads only; taken after `conns` when both are held.
    topics: Mutex<Topics<Arc<Conn>>>,
    /// Who writes what the host sends.
    batch: HostBatch,
    /// Connections that broke the protocol, closed by the next flush: after the host has
    /// answered the messages they sent before (`Event::Failed`).
    failing: Mutex<Vec<(u64, u16, &'static str)>>,
    /// The other nodes, through Redis (server apps with a cluster config only).
    cluster: Option<Cluster>,
    /// Every connection's send queue limit: a broadcast or publish larger than it is refused
    /// as a whole, before any connection or node sees it.
    max_send_queue: usize,
    role: Role,
    /// Host threads only, like `conns`.
    disconnects: Mutex<Disconnects>,
    /// Set by the poll that ended a mass disconnect, taken by `take_mass_disconnect`.
    mass_disconnect: AtomicBool,
    /// Counters, shared with the I/O side through the sink.
    stats: Arc<Stats>,
    /// The sessions clients may resume (server apps with `resume` only).
    sessions: Option<Mutex<Sessions>>,
}

/// What kind of app this is.
enum Role {
    Server(Server),
    Client(Client),
}

impl App {
    /// Starts a server app; the port is bound when this returns.
    pub fn new_server(config: ServerConfig) -> Result<App> {
        let limits = config.limits.clone();
        let cluster = config.cluster.clone().map(|cluster| {
            let mut groups = config.protocols.clone();
            if config.has_default {
                groups.push(String::new());
            }
            (cluster, groups)
        });
        let resume = config.resume.clone().map(|resume| {
            let pause_limits = PauseLimits {
                total: limits.max_connections,
                per_address: config.max_connections_per_ip,
            };
            (resume, pause_limits)
        });
        App::new(&limits, cluster, resume, |sink| {
            Ok(Role::Server(Server::start(config, sink)?))
        })
    }

    /// Starts a client app; it connects in the background. Its one connection exists at
    /// once (see `client_conn`), so messages can be queued before it opens.
    pub fn new_client(config: ClientConfig) -> Result<App> {
        let limits = config.limits.clone();
        let app = App::new(&limits, None, None, |sink| {
            Ok(Role::Client(Client::connect(config, sink)?))
        })?;
        if let Role::Client(client) = &app.role {
            let conn = client.conn().clone();
            app.conns.lock().insert(conn.id, conn);
        }
        Ok(app)
    }

    fn new(
        limits: &Limits,
        cluster: Option<(ClusterConfig, Vec<String>)>,
        resume: Option<(ResumeConfig, PauseLimits)>,
        start: impl FnOnce(Sink) -> Result<Role>,
    ) -> Result<App> {
        let (tx, events) = inbox::inbox();
        let wakeup = Arc::new(Wakeup::default());
        let backlog = Arc::new(Backlog::new(limits.max_message_size));
        let stats = Arc::new(Stats::default());
        let sink = Sink::new(tx, wakeup.clone(), backlog.clone(), stats.clone());
        // Before the role, so a cluster setting that fails leaves no port bound.
        let cluster = match cluster {
            Some((config, groups)) => Some(Cluster::start(&config, &groups, sink.clone())?),
            None => None,
        };
        if let Some(cluster) = &cluster {
            stats.cluster.watch(cluster.probe());
        }
        let sessions = resume.map(|(config, pause_limits)| {
            Mutex::new(Sessions::new(config, sink.clone(), pause_limits))
        });
        let role = start(sink)?;
        Ok(App {
            events,
            wakeup,
            backlog,
            polled: Mutex::new(Vec::new()),
            just_closed: Mutex::new(ConnMap::default()),
            conns: Mutex::new(ConnMap::default()),
            topics: Mutex::new(Topics::default()),
            batch: HostBatch::default(),
            failing: Mutex::new(Vec::new()),
            cluster,
            max_send_queue: limits.max_send_queue,
            role,
            disconnects: Mutex::new(Disconnects::default()),
            mass_disconnect: AtomicBool::new(false),
            stats,
            sessions,
        })
    }

    /// The bound port of a server app.
    pub fn port(&self) -> Result<u16> {
        match &self.role {
            Role::Server(server) => Ok(server.local_addr().port()),
            Role::Client(_) => Err(Error::invalid("a client app has no listening port")),
        }
    }

    /// Drains a server app (see `Server::drain`): `code` and `reason` checked as a close's.
    pub fn drain(&self, timeout: Duration, code: u16, reason: &[u8]) -> Result<()> {
        let reason = send_path::check_close(code, reason)?;
        match &self.role {
            Role::Server(server) => {
                server.drain(timeout, code, reason);
                Ok(())
            }
            Role::Client(_) => Err(Error::invalid(
                "a client app has nothing to drain: close it instead",
            )),
        }
    }

    /// Whether a drain of this server app is over.
    pub fn drained(&self) -> Result<bool> {
        match &self.role {
            Role::Server(server) => Ok(server.drained()),
            Role::Client(_) => Err(Error::invalid("a client app has nothing to drain")),
        }
    }

    /// Serves new connections of a server app with this certificate and key.
    pub fn reload_tls(&self, identity: &ServerIdentity) -> Result<()> {
        match &self.role {
            Role::Server(server) => server.reload_tls(identity),
            Role::Client(_) => Err(Error::invalid("a client app has no certificate to reload")),
        }
    }

    /// The id of a client app's connection.
    pub fn client_conn(&self) -> Result<u64> {
        match &self.role {
            Role::Client(client) => Ok(client.conn().id),
            Role::Server(_) => Err(Error::invalid("a server app has many connections")),
        }
    }

    /// Copies `data` once and sends it to connection `id`: written at once, or with the
    /// rest of the batch the host is handling, or by the I/O thread when the socket is full.
    pub fn send(&self, id: u64, data: &[u8], opcode: u32) -> Result<()> {
        let opcode = Opcode::try_from(opcode)?;
        if self.sessions.is_none() {
            // The common case, under the map's lock (host threads only, and the send path
            // never comes back to it): no handle cloned and dropped per message.
            let sent = match self.conns.lock().get(&id) {
                Some(conn) => self.batch.send(&conn.path, data, opcode),
                None => Err(conn_table::not_open(id)),
            };
            self.count_sent(&sent, data.len());
            return sent;
        }
        // A session's message is checked before it is kept in its ring.
        let conn = self.conn(id)?;
        send_budget::check_size(data.len(), self.max_send_queue)?;
        send_path::check_payload(data, opcode)?;
        let kept = self.keep(id, opcode, data);
        let sent = match kept {
            Kept::Paused => Ok(()),
            Kept::Live | Kept::No => self.batch.send(&conn.path, data, opcode),
        };
        let sent = kept.despite_a_drop(sent);
        self.count_sent(&sent, data.len());
        sent
    }

    /// Counts a send for the app's stats.
    fn count_sent(&self, sent: &Result<()>, len: usize) {
        match sent {
            Ok(()) => self.stats.sent(1, len),
            Err(e) if e.kind == ErrorKind::Backpressure => {
                self.stats.backpressure.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }

    /// The app's counters now.
    pub fn stats(&self) -> Snapshot {
        self.stats.snapshot()
    }

    /// Writes what was sent during the batch the host handled, and closes the batch: later
    /// sends go out at once. `poll` and `wait` call it first.
    pub fn flush(&self) {
        self.batch.flush();
        let failing = std::mem::take(&mut *self.failing.lock());
        for (id, code, reason) in failing {
            if let Some(conn) = self.conns.lock().get(&id) {
                conn.close(code, reason);
            }
        }
    }

    /// Starts the closing handshake of connection `id`; closing twice is a no-op.
    pub fn close_conn(&self, id: u64, code: u16, reason: &[u8]) -> Result<()> {
        let reason = send_path::check_close(code, reason)?;
        if let Some(sessions) = &self.sessions {
            sessions.lock().close(id, code, reason);
        }
        let conn = match self.conn(id) {
            Err(e) if e.kind == ErrorKind::Closed => return Ok(()),
            other => other?,
        };
        match &self.role {
            // Nothing to close yet: give up the attempt (CLOSE 1006 follows).
            Role::Client(client) if conn.link().is_err() => client.stop(),
            _ => conn.close(code, reason),
        }
        Ok(())
    }

    /// Server: stops listening and closes every connection with 1001. Client: closes with
    /// 1000. The close events stay queued for the next polls.
    pub fn stop(&self) {
        self.flush();
        if let Some(sessions) = &self.sessions {
            sessions.lock().close_all(1001, "going away");
        }
        match &self.role {
            Role::Server(server) => server.stop(),
            Role::Client(client) => client.stop(),
        }
    }
}
