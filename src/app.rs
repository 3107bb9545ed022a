//! The object a host holds: one server (or client) with its event queue and its host-side
//! view of the open connections.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select};
use parking_lot::Mutex;

use crate::backlog::Backlog;
use crate::client::Client;
use crate::cluster::{Cluster, Target};
use crate::config::{ClientConfig, ClusterConfig, Limits, ServerConfig, ServerIdentity};
use crate::conn::{self, Conn, ConnEvent, Sink};
use crate::error::{Error, ErrorKind, Result};
use crate::event::{Audience, Event, Opcode};
use crate::http::request::Request;
use crate::http::response::ResponseHead;
use crate::interrupt;
use crate::send_budget;
use crate::send_path::{self, Broadcast, HostBatch};
use crate::server::Server;
use crate::stats::{Snapshot, Stats};
use crate::topics::{self, Topics};
use crate::upgrade::{Decision, Question};
use crate::wakeup::Wakeup;

/// A server or client app, as the host holds it.
pub(crate) struct App {
    events: Receiver<ConnEvent>,
    wakeup: Arc<Wakeup>,
    /// Message bytes queued for the host and not yet polled.
    backlog: Arc<Backlog>,
    /// The events of the last poll: they own the bytes the caller was shown.
    polled: Mutex<Vec<ConnEvent>>,
    /// Connections whose OPEN the host has polled and whose CLOSE it has not. Only host
    /// threads touch it, so the I/O threads never wait for the host.
    conns: Mutex<ConnMap>,
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
}

/// Connections that must have ended, and at least half of the peak, for a poll to count as a
/// mass disconnect: what they held is then worth handing back to the OS (`luna_app_poll`),
/// while an app that loses a few connections now and then never pays for it.
const MASS_DISCONNECT: usize = 1000;

/// The longest a wave of CLOSE events is waited for once it counts as a mass disconnect.
const WAVE_LIMIT: Duration = Duration::from_secs(1);

/// Watches the number of open connections for a mass disconnect.
#[derive(Default)]
struct Disconnects {
    /// The most connections open at once since the last mass disconnect.
    peak: usize,
    /// When a mass disconnect was seen, while its wave of CLOSE events may still be coming.
    armed: Option<Instant>,
}

impl Disconnects {
    /// Notes `open` after a poll that brought `closes` CLOSE events; true when a mass
    /// disconnect is over: a poll brought no CLOSE, or a second passed since it was seen.
    fn after_poll(&mut self, open: usize, closes: usize) -> bool {
        self.peak = self.peak.max(open);
        let fell = self.peak - open >= MASS_DISCONNECT && open < self.peak / 2;
        if fell && self.armed.is_none() {
            self.armed = Some(Instant::now());
        }
        match self.armed {
            Some(since) if closes == 0 || since.elapsed() >= WAVE_LIMIT => {
                self.armed = None;
                self.peak = open;
                true
            }
            _ => false,
        }
    }
}

/// Messages from other nodes delivered by one poll at most, so a flood through Redis
/// cannot keep the host in `poll` for long; the rest wait for the next poll.
const MAX_REMOTE_PER_POLL: usize = 4096;

/// Connection ids are trusted, sequential numbers: one multiplication spreads them over the
/// table (SipHash would cost more than the rest of a send).
type ConnMap = HashMap<u64, Arc<Conn>, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
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
        App::new(&limits, cluster, |sink| {
            Ok(Role::Server(Server::start(config, sink)?))
        })
    }

    /// Starts a client app; it connects in the background. Its one connection exists at
    /// once (see `client_conn`), so messages can be queued before it opens.
    pub fn new_client(config: ClientConfig) -> Result<App> {
        let limits = config.limits.clone();
        let app = App::new(&limits, None, |sink| {
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
        start: impl FnOnce(Sink) -> Result<Role>,
    ) -> Result<App> {
        let (tx, events) = crossbeam_channel::unbounded();
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
        let role = start(sink)?;
        Ok(App {
            events,
            wakeup,
            backlog,
            polled: Mutex::new(Vec::new()),
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

    /// Takes up to `max` queued events and shows each to `visit`, in order; returns how
    /// many. The events (and their bytes) stay owned by the app until the next poll.
    pub fn poll(&self, max: usize, mut visit: impl FnMut(&ConnEvent)) -> usize {
        self.flush();
        if let Role::Server(server) = &self.role {
            server.upgrades().sweep();
        }
        let mut polled = self.polled.lock();
        polled.clear();
        let (mut remote, mut message_bytes) = (0, 0);
        while polled.len() < max && remote < MAX_REMOTE_PER_POLL {
            match self.events.try_recv() {
                // Other nodes' messages go to the local connections, never to the host.
                Ok(Event::Remote {
                    audience,
                    opcode,
                    data,
                }) => {
                    self.deliver_remote(&audience, opcode, &data);
                    remote += 1;
                    message_bytes += data.len();
                }
                Ok(Event::Failed { conn, code, reason }) => {
                    self.failing.lock().push((conn, code, reason));
                }
                Ok(Event::Wake) => {}
                Ok(event) => polled.push(event),
                Err(_) => break,
            }
        }
        let mut conns = self.conns.lock();
        let mut topics = self.topics.lock();
        let mut closes = 0;
        for event in polled.iter() {
            match event {
                Event::Open(conn) => {
                    conns.insert(conn.id, conn.clone());
                }
                Event::Close { conn, .. } => {
                    closes += 1;
                    conns.remove(conn);
                    topics.forget(*conn, |topic| self.unwatch(topic));
                }
                Event::Message { data, .. } => message_bytes += data.len(),
                Event::Error { .. }
                | Event::Upgrade { .. }
                | Event::Http { .. }
                | Event::Log { .. }
                | Event::Wake
                | Event::Failed { .. }
                | Event::Remote { .. } => {}
            }
            visit(event);
        }
        drop(topics);
        self.watch_open(&mut conns, closes);
        drop(conns);
        self.backlog.remove(message_bytes);
        if !polled.is_empty() {
            self.batch.open();
        }
        if self.events.is_empty() {
            self.wakeup.clear();
            // An event that raced in after the check keeps the descriptor readable.
            if !self.events.is_empty() {
                self.wakeup.signal();
            }
        }
        let count = polled.len();
        drop(polled);
        if count == 0 {
            // A host that polls in a loop would otherwise keep a CPU from the I/O thread it
            // waits for; on 2 CPUs this doubled a busy `luna.update` loop's echo rate.
            std::thread::yield_now();
        }
        count
    }

    /// Notes how many connections are open after a poll that brought `closes` CLOSE events;
    /// once a mass disconnect is over the map gives back its table, and
    /// `take_mass_disconnect` says so once.
    fn watch_open(&self, conns: &mut ConnMap, closes: usize) {
        if !self.disconnects.lock().after_poll(conns.len(), closes) {
            return;
        }
        if conns.len() < conns.capacity() / 4 {
            conns.shrink_to_fit();
        }
        self.mass_disconnect.store(true, Ordering::Relaxed);
    }

    /// Whether a mass disconnect ended since the last call: at least 1000 connections ended,
    /// and more than half of the most that were open since the last one, and then a poll
    /// brought no CLOSE event (or a second passed).
    pub fn take_mass_disconnect(&self) -> bool {
        self.mass_disconnect.swap(false, Ordering::Relaxed)
    }

    /// Blocks until an event is pending or `timeout` passes (`None` = forever).
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        wait_any(&[self], timeout)
    }

    /// The descriptor that is readable while events are pending.
    pub fn fd(&self) -> Result<i64> {
        self.wakeup.fd()
    }

    /// The host-side handle of an open connection.
    pub fn conn(&self, id: u64) -> Result<Arc<Conn>> {
        match self.conns.lock().get(&id) {
            Some(conn) => Ok(conn.clone()),
            None => Err(not_open(id)),
        }
    }

    /// The handshake request of server connection `id`, open or waiting for a decision.
    pub fn request(&self, id: u64) -> Result<Arc<Request>> {
        if let Role::Server(server) = &self.role {
            if let Some((request, _)) = server.upgrades().request(id) {
                return Ok(request);
            }
        }
        let conn = self.conn(id)?;
        let link = conn.link()?;
        link.request
            .clone()
            .ok_or_else(|| Error::invalid("a client connection has no handshake request"))
    }

    /// Accepts held handshake `id`, optionally choosing `protocol` (one the client offered
    /// and the app serves) and adding `headers` to the 101.
    pub fn accept_upgrade(
        &self,
        id: u64,
        protocol: Option<&str>,
        headers: Vec<(String, String)>,
    ) -> Result<()> {
        let server = self.server()?;
        let request = match server.upgrades().request(id) {
            Some((request, Question::Upgrade)) => request,
            _ => {
                return Err(Error::invalid(format!(
                    "no handshake {id} waits for a decision"
                )))
            }
        };
        if let Some(name) = protocol {
            let offered = request
                .header_values("sec-websocket-protocol")
                .flat_map(|v| v.split(','))
                .any(|p| p.trim() == name);
            if !offered || server.group_of(name).is_none() || name.is_empty() {
                return Err(Error::invalid(format!(
                    "subprotocol '{name}' was not offered by the client or is not served by the app"
                )));
            }
        }
        check_fields(
            &headers,
            &["sec-websocket-protocol", "sec-websocket-extensions"],
        )?;
        let decision = Decision::Accept {
            protocol: protocol.map(str::to_owned),
            headers,
        };
        server.upgrades().answer(id, Question::Upgrade, decision)
    }

    /// Refuses held handshake `id` with `status` (300-599), `headers` and `body`.
    pub fn reject_upgrade(
        &self,
        id: u64,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<()> {
        if body.len() > MAX_REFUSAL_BODY {
            return Err(Error::invalid(format!(
                "a refusal body is limited to {MAX_REFUSAL_BODY} bytes"
            )));
        }
        self.respond(id, Question::Upgrade, status, headers, body)
    }

    /// Answers held HTTP request `id` with `status` (200-599), `headers` and `body`.
    pub fn respond_http(
        &self,
        id: u64,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<()> {
        self.respond(id, Question::Http, status, headers, body)
    }

    /// Answers a held request with a status, fields and a body: a handshake only with
    /// 300-599 (a refusal), a plain request with 200-599.
    fn respond(
        &self,
        id: u64,
        question: Question,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<()> {
        let server = self.server()?;
        let (lowest, what) = match question {
            Question::Upgrade => (300, "refuse a handshake"),
            Question::Http => (200, "answer a request"),
        };
        if !(lowest..=599).contains(&status) {
            return Err(Error::invalid(format!(
                "status {status} cannot {what} (use {lowest}-599)"
            )));
        }
        check_fields(&headers, &[])?;
        let decision = Decision::Respond {
            status,
            headers,
            body: body.to_vec(),
        };
        server.upgrades().answer(id, question, decision)
    }

    fn server(&self) -> Result<&Server> {
        match &self.role {
            Role::Server(server) => Ok(server),
            Role::Client(_) => Err(Error::invalid("a client app has no handshakes to decide")),
        }
    }

    /// Copies `data` once and sends it to connection `id`: written at once, or with the
    /// rest of the batch the host is handling, or by the I/O thread when the socket is full.
    pub fn send(&self, id: u64, data: &[u8], opcode: u32) -> Result<()> {
        let opcode = Opcode::try_from(opcode)?;
        let conn = self.conn(id)?;
        let sent = self.batch.send(&conn.path, data, opcode);
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

    /// Queues one shared copy of `data` for every open connection, or only those of one
    /// subprotocol group (`""` = the default handler's). In a cluster, the other nodes'
    /// connections (of the group of the same name) get it too. Returns how many local
    /// connections accepted it.
    pub fn broadcast(&self, data: &[u8], opcode: u32, group: Option<&str>) -> Result<usize> {
        let name_of_group = group.unwrap_or("");
        let group = match (group, &self.role) {
            (Some(name), Role::Server(server)) => Some(server.group_of(name).ok_or_else(|| {
                Error::invalid(format!("the app serves no subprotocol named '{name}'"))
            })?),
            (Some(_), Role::Client(_)) => {
                return Err(Error::invalid("a client app has no subprotocol groups"))
            }
            (None, _) => None,
        };
        let opcode = Opcode::try_from(opcode)?;
        // Refused before the copy: the message may be huge.
        send_budget::check_size(data.len(), self.max_send_queue)?;
        let message = Broadcast::new(data, opcode)?;
        let accepted = self.broadcast_local(&message, group);
        if let Some(cluster) = &self.cluster {
            let target = match group {
                Some(_) => Target::Group(name_of_group),
                None => Target::Everyone,
            };
            cluster.publish(target, opcode, data);
        }
        Ok(accepted)
    }

    /// Hands `message` to every open connection (of `group` only, if given); returns how
    /// many accepted it.
    fn broadcast_local(&self, message: &Broadcast, group: Option<u32>) -> usize {
        let conns = self.conns.lock();
        let recipients = conns
            .values()
            .filter(|c| group.is_none_or(|g| c.group == g));
        let mut accepted = 0;
        for conn in recipients {
            let sent = self.batch.send_broadcast(&conn.path, message);
            self.count_sent(&sent, message.len());
            accepted += usize::from(sent.is_ok());
        }
        accepted
    }

    /// Delivers a message another node sent to the local connections it is for.
    fn deliver_remote(&self, audience: &Audience, opcode: Opcode, data: &[u8]) {
        // Another node checked it already; a node of another version might not have.
        let Ok(message) = Broadcast::new(data, opcode) else {
            return;
        };
        match (audience, &self.role) {
            (Audience::Topic(topic), _) => {
                self.publish_local(topic, &message, None);
            }
            (Audience::Everyone, _) => {
                self.broadcast_local(&message, None);
            }
            (Audience::Group(name), Role::Server(server)) => {
                if let Some(group) = server.group_of(name) {
                    self.broadcast_local(&message, Some(group));
                }
            }
            (Audience::Group(_), Role::Client(_)) => {}
        }
    }

    /// Tells the cluster (if any) that `topic` lost its last local subscriber.
    fn unwatch(&self, topic: &[u8]) {
        if let Some(cluster) = &self.cluster {
            cluster.unwatch(topic);
        }
    }

    /// Topics belong to server apps.
    fn check_server(&self) -> Result<()> {
        match &self.role {
            Role::Server(_) => Ok(()),
            Role::Client(_) => Err(Error::invalid("a client app has no topics")),
        }
    }

    /// Subscribes open connection `id` to `topic`; `false` if it already was. The
    /// subscription ends with the poll that reports the connection's CLOSE.
    pub fn subscribe(&self, id: u64, topic: &[u8]) -> Result<bool> {
        self.check_server()?;
        topics::check_topic(topic)?;
        // Under the map's lock, so a CLOSE polled on another thread cannot slip in between.
        let conns = self.conns.lock();
        let conn = conns.get(&id).ok_or_else(|| not_open(id))?;
        let mut topics = self.topics.lock();
        let changed = topics.subscribe(id, conn.clone(), topic)?;
        if let (true, Some(cluster)) = (changed && topics.count(topic) == 1, &self.cluster) {
            cluster.watch(topic);
        }
        Ok(changed)
    }

    /// Unsubscribes open connection `id` from `topic`; `false` if it was not subscribed.
    pub fn unsubscribe(&self, id: u64, topic: &[u8]) -> Result<bool> {
        self.check_server()?;
        topics::check_topic(topic)?;
        let conns = self.conns.lock();
        if !conns.contains_key(&id) {
            return Err(not_open(id));
        }
        let mut topics = self.topics.lock();
        let changed = topics.unsubscribe(id, topic)?;
        if changed && topics.count(topic) == 0 {
            self.unwatch(topic);
        }
        Ok(changed)
    }

    /// Shows open connection `id`'s topics, in the order it subscribed, to `visit`.
    pub fn with_subscriptions<R>(
        &self,
        id: u64,
        visit: impl FnOnce(&[Box<[u8]>]) -> R,
    ) -> Result<R> {
        self.check_server()?;
        let conns = self.conns.lock();
        if !conns.contains_key(&id) {
            return Err(not_open(id));
        }
        Ok(visit(self.topics.lock().subscriptions(id)))
    }

    /// Queues one shared copy of `data` for every subscriber of `topic` but `except` (an
    /// open connection), and in a cluster every other node's subscribers. Returns how many
    /// local connections accepted it.
    pub fn publish(
        &self,
        topic: &[u8],
        data: &[u8],
        opcode: u32,
        except: Option<u64>,
    ) -> Result<usize> {
        self.check_server()?;
        topics::check_topic(topic)?;
        let opcode = Opcode::try_from(opcode)?;
        // Refused before the copy: the message may be huge.
        send_budget::check_size(data.len(), self.max_send_queue)?;
        let message = Broadcast::new(data, opcode)?;
        if let Some(id) = except {
            self.conn(id)?;
        }
        let accepted = self.publish_local(topic, &message, except);
        if let Some(cluster) = &self.cluster {
            cluster.publish(Target::Topic(topic), opcode, data);
        }
        Ok(accepted)
    }

    /// Hands `message` to every local subscriber of `topic` but `except`; returns how many
    /// accepted it.
    fn publish_local(&self, topic: &[u8], message: &Broadcast, except: Option<u64>) -> usize {
        let topics = self.topics.lock();
        let mut accepted = 0;
        for (id, conn) in topics.subscribers(topic) {
            if Some(id) != except {
                let sent = self.batch.send_broadcast(&conn.path, message);
                self.count_sent(&sent, message.len());
                accepted += usize::from(sent.is_ok());
            }
        }
        accepted
    }

    /// Starts the closing handshake of connection `id`; closing twice is a no-op.
    pub fn close_conn(&self, id: u64, code: u16, reason: &[u8]) -> Result<()> {
        let reason = send_path::check_close(code, reason)?;
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
        match &self.role {
            Role::Server(server) => server.stop(),
            Role::Client(client) => client.stop(),
        }
    }
}

/// The largest body a host may answer a refused handshake with.
const MAX_REFUSAL_BODY: usize = 64 << 10;

/// Checks header fields the host adds to a handshake answer: tokens for names, no control
/// characters in values, none of the fields luna writes itself (nor those in `also`).
fn check_fields(headers: &[(String, String)], also: &[&str]) -> Result<()> {
    let mut scratch = ResponseHead::new(200).expect("200 is a valid status");
    for (name, value) in headers {
        if also.iter().any(|a| name.eq_ignore_ascii_case(a)) {
            return Err(Error::invalid(format!("header '{name}' is set by luna")));
        }
        scratch
            .header(name, value)
            .map_err(|e| Error::invalid(format!("header '{name}' cannot be sent: {e}")))?;
    }
    Ok(())
}

/// Why connection `id` is not in the map: closed, or never ours.
fn not_open(id: u64) -> Error {
    if conn::was_issued(id) {
        Error::closed()
    } else {
        Error::invalid(format!("unknown connection id {id}"))
    }
}

/// Blocks until one of `apps` has an event pending or `timeout` passes (`None` = forever).
pub(crate) fn wait_any(apps: &[&App], timeout: Option<Duration>) -> bool {
    for app in apps {
        app.batch.host_waits();
        app.flush();
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    if interrupt::pending() || spin_until_pending(apps, timeout) {
        return true;
    }
    let mut select = Select::new();
    for app in apps {
        select.recv(&app.events);
    }
    // A caught signal (luna_signals_catch) ends every wait at once.
    select.recv(interrupt::receiver());
    match deadline {
        Some(deadline) => select.ready_deadline(deadline).is_ok(),
        None => {
            select.ready();
            true
        }
    }
}

/// Checks for pending events, for up to `LUNA_WAIT_SPIN_US` microseconds (default 0: once)
/// before the caller parks. Opt-in: spinning keeps the host's CPU awake, which saves the
/// wake-up of a parked thread (tens of µs on a VM) but burns CPU and hurts when the host
/// shares its CPU with the I/O thread.
fn spin_until_pending(apps: &[&App], timeout: Option<Duration>) -> bool {
    let pending = || apps.iter().any(|a| !a.events.is_empty());
    let spin = timeout.map_or(spin_budget(), |t| t.min(spin_budget()));
    if spin.is_zero() {
        return pending();
    }
    let start = Instant::now();
    loop {
        if pending() {
            return true;
        }
        if start.elapsed() >= spin {
            return false;
        }
        std::hint::spin_loop();
    }
}

fn spin_budget() -> Duration {
    static SPIN: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *SPIN.get_or_init(|| {
        let micros = std::env::var("LUNA_WAIT_SPIN_US")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        Duration::from_micros(micros.min(1_000_000))
    })
}

#[cfg(test)]
mod tests {
    use super::Disconnects;

    #[test]
    fn a_mass_disconnect_counts_once_its_wave_is_over() {
        let mut d = Disconnects::default();
        assert!(!d.after_poll(3000, 0));
        // 1,400 fewer, but not below half the peak.
        assert!(!d.after_poll(1600, 40));
        // Below half: armed, while CLOSE events keep coming.
        assert!(!d.after_poll(1400, 200));
        assert!(!d.after_poll(900, 256));
        // The first poll without a CLOSE ends it, once.
        assert!(d.after_poll(900, 0));
        assert!(!d.after_poll(900, 0));
        // The peak starts over from there.
        assert!(!d.after_poll(400, 0));
    }

    #[test]
    fn a_few_ended_connections_never_count() {
        let mut d = Disconnects::default();
        assert!(!d.after_poll(999, 0));
        assert!(!d.after_poll(0, 999));
        assert!(!d.after_poll(0, 0));
        assert!(!d.after_poll(1500, 0));
        assert!(!d.after_poll(501, 0));
    }
}
