//! A cluster of apps through Redis pub/sub: what one node publishes to a topic, a group or
//! everyone also reaches the matching connections of every other node. `App` starts it only
//! when its config names a Redis; without one, nothing here runs.
//!
//! Two Redis connections per node, on the I/O threads. The subscriber listens to the topics
//! that have local subscribers (the app says when one gains its first or loses its last) and
//! to the broadcast channels, and queues what other nodes sent as `Event::Remote` for the
//! host's next poll. The publisher writes what the host published, from a queue bounded in
//! bytes. Every message starts with the sending node's random id, so a node skips its own
//! (delivered locally already): each message arrives once, in the order its node sent it.
//! Channel names and the message envelope are in `envelope.rs`; a message on a channel that
//! is not this cluster's, or whose kind disagrees with its channel, is dropped.
//! Redis going away never stops local traffic: both connections report the failure to the
//! host as an ERROR event and reconnect with backoff; the subscriber subscribes again. A
//! Redis that stops answering without closing counts as gone: connecting (TCP, TLS, AUTH,
//! SELECT and a PING) must finish within one deadline, and a connection that has heard
//! nothing for that long sends a PING that must be answered as fast.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use smol::channel::{Receiver, Sender};
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::net::TcpStream;
use smol::{Task, Timer};

use crate::config::{ClientTls, ClusterConfig, RedisUrl, CLUSTER_QUEUE_BYTES};
use crate::error::{Error, ErrorKind, Result};
use crate::event::{Audience, EventSink, Opcode};
use crate::resp::{self, Value};
use crate::runtime;
use crate::tls;

mod envelope;

use envelope::{Channels, Kind, NodeId, NODE_ID_LEN};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long Redis may take to answer: to connect (TCP, TLS, AUTH, SELECT, PING), to a
/// command, and to a PING sent after this long without a byte from it. The environment
/// variable `LUNA_REDIS_TIMEOUT_MS` changes it (tests use a fraction of a second).
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// Publishes written in one go before their replies are read.
const MAX_PIPELINE: usize = 1024;
const MAX_PIPELINE_BYTES: usize = 256 << 10;
/// While Redis stays away, one ERROR per this many failed attempts (about a minute apart
/// at the longest backoff), after the first.
const REPORT_EVERY: u32 = 12;

/// Who a host publish is for, as `Cluster::publish` takes it.
pub(crate) enum Target<'a> {
    Topic(&'a [u8]),
    Everyone,
    Group(&'a str),
}

/// The host's side of a node's cluster; dropping it closes both Redis connections.
pub(crate) struct Cluster {
    shared: Arc<Shared>,
    watch: Sender<Watch>,
    outgoing: Sender<Vec<u8>>,
    _tasks: [Task<()>; 2],
}

/// Indexes of `Shared::up`.
const SUBSCRIBER: usize = 0;
const PUBLISHER: usize = 1;

/// What both connections read.
struct Shared {
    url: RedisUrl,
    tls: Option<tls::Connector>,
    node: NodeId,
    channels: Channels,
    /// `REDIS_TIMEOUT`, or what the environment asks for.
    timeout: Duration,
    /// Bytes waiting in `outgoing`.
    queued: AtomicUsize,
    /// Publishes lost: queue full, or unconfirmed when the publisher's connection failed.
    dropped: AtomicU64,
    /// Whether the subscriber's and the publisher's connections are up (for the metrics).
    up: [AtomicBool; 2],
}

/// What woke the subscriber.
enum Step {
    Read(Result<()>),
    Change(Option<Watch>),
    /// Redis has been silent until the deadline.
    Silence,
}

/// A change to the subscriber's channels.
enum Watch {
    Add(Vec<u8>),
    Remove(Vec<u8>),
}

impl Cluster {
    /// Starts both connections; `groups` are the subprotocol groups the app serves (`""` =
    /// the default handler). Fails only on settings (a TLS URL in a build without TLS);
    /// an unreachable Redis is reported later, as ERROR events, while the node retries.
    /// Reads the link's state for the metrics: both connections up, bytes queued, publishes
    /// lost.
    pub fn probe(&self) -> impl Fn() -> (bool, usize, u64) + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || {
            let up = shared.up.iter().all(|up| up.load(Ordering::Relaxed));
            let queued = shared.queued.load(Ordering::Relaxed);
            (up, queued, shared.dropped.load(Ordering::Relaxed))
        }
    }

    pub fn start<C: Send + 'static>(
        config: &ClusterConfig,
        groups: &[String],
        sink: EventSink<C>,
    ) -> Result<Cluster> {
        // Built here, on the host thread: loading the trust store takes tens of ms.
        let tls = match config.redis.tls {
            true => Some(tls::connector(&ClientTls::default())?),
            false => None,
        };
        let mut node = [0u8; NODE_ID_LEN];
        for chunk in node.chunks_mut(8) {
            let random = getrandom::u64()
                .map_err(|e| Error::new(ErrorKind::Io, format!("no random node id: {e}")))?;
            chunk.copy_from_slice(&random.to_le_bytes()[..chunk.len()]);
        }
        let shared = Arc::new(Shared {
            url: config.redis.clone(),
            tls,
            node,
            channels: Channels::new(&config.prefix),
            timeout: redis_timeout(),
            queued: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            up: Default::default(),
        });
        let mut fixed = BTreeSet::new();
        fixed.insert(shared.channels.name(Kind::Everyone, b""));
        for group in groups {
            fixed.insert(shared.channels.name(Kind::Group, group.as_bytes()));
        }
        let (watch, watched) = smol::channel::unbounded();
        let (outgoing, queue) = smol::channel::unbounded();
        let subscriber = Subscriber {
            shared: shared.clone(),
            sink: sink.clone(),
            fixed: fixed.clone(),
            wanted: fixed,
        };
        let tasks = [
            runtime::spawn(subscriber.run(watched)),
            runtime::spawn(publisher(shared.clone(), queue, sink)),
        ];
        Ok(Cluster {
            shared,
            watch,
            outgoing,
            _tasks: tasks,
        })
    }

    /// `topic` gained its first local subscriber: listen to it in Redis.
    pub fn watch(&self, topic: &[u8]) {
        let _ = self
            .watch
            .try_send(Watch::Add(self.shared.channels.name(Kind::Topic, topic)));
    }

    /// `topic` lost its last local subscriber: stop listening to it.
    pub fn unwatch(&self, topic: &[u8]) {
        let _ = self
            .watch
            .try_send(Watch::Remove(self.shared.channels.name(Kind::Topic, topic)));
    }

    /// Queues `data` for the other nodes; dropped (and counted) while the queue is full.
    pub fn publish(&self, target: Target<'_>, opcode: Opcode, data: &[u8]) {
        let shared = &self.shared;
        let (kind, name) = match target {
            Target::Topic(topic) => (Kind::Topic, topic),
            Target::Everyone => (Kind::Everyone, &b""[..]),
            Target::Group(name) => (Kind::Group, name.as_bytes()),
        };
        let channel = shared.channels.name(kind, name);
        let payload = envelope::seal(&shared.node, kind, opcode as u8, data);
        let mut command = Vec::with_capacity(payload.len() + channel.len() + 48);
        resp::command(&mut command, &[b"PUBLISH", &channel, &payload]);
        let size = command.len();
        if shared.queued.fetch_add(size, Ordering::AcqRel) + size > CLUSTER_QUEUE_BYTES
            || self.outgoing.try_send(command).is_err()
        {
            shared.queued.fetch_sub(size, Ordering::AcqRel);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Shared {
    fn report<C>(&self, sink: &EventSink<C>, role: &str, error: &Error) {
        let message = format!("cluster {role}: redis {}: {error}", self.url);
        sink.error(0, ErrorKind::Io, message);
    }

    /// Reports publishes dropped since `*reported`.
    fn report_dropped<C>(&self, sink: &EventSink<C>, reported: &mut u64) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > *reported {
            let message = format!(
                "cluster publisher: {} message(s) for other nodes dropped ({dropped} in all): \
                 redis {} is unreachable or slower than the publishes",
                dropped - *reported,
                self.url
            );
            sink.error(0, ErrorKind::Io, message);
            *reported = dropped;
        }
    }
}

/// `LUNA_REDIS_TIMEOUT_MS` when it is a positive number of milliseconds, else `REDIS_TIMEOUT`.
fn redis_timeout() -> Duration {
    std::env::var("LUNA_REDIS_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .filter(|&ms| ms > 0)
        .map_or(REDIS_TIMEOUT, Duration::from_millis)
}

/// How long to wait after `failures` failed attempts in a row: 100 ms doubling to 5 s.
fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << failures.min(8))
        .min(MAX_BACKOFF)
}

/// Whether the `failures`-th failure in a row (0 = the first) is reported.
fn worth_reporting(failures: u32) -> bool {
    failures % REPORT_EVERY == 0
}

/// The subscriber connection's task.
struct Subscriber<C> {
    shared: Arc<Shared>,
    sink: EventSink<C>,
    /// The broadcast channels: always subscribed, whatever the topics do.
    fixed: BTreeSet<Vec<u8>>,
    /// Every channel to be subscribed: `fixed` and the watched topics.
    wanted: BTreeSet<Vec<u8>>,
}

impl<C: Send + 'static> Subscriber<C> {
    async fn run(mut self, watched: Receiver<Watch>) {
        let mut failures = 0;
        loop {
            let error = match connect(&self.shared).await {
                Ok(mut conn) => {
                    failures = 0;
                    self.shared.up[SUBSCRIBER].store(true, Ordering::Relaxed);
                    let listened = self.listen(&mut conn, &watched).await;
                    self.shared.up[SUBSCRIBER].store(false, Ordering::Relaxed);
                    match listened {
                        Some(error) => error,
                        None => return,
                    }
                }
                Err(error) => error,
            };
            if worth_reporting(failures) {
                self.shared.report(&self.sink, "subscriber", &error);
            }
            // Waits, keeping the channel set current for the next connection.
            let retry = Timer::after(backoff(failures));
            failures = failures.saturating_add(1);
            let mut retry = std::pin::pin!(retry);
            loop {
                let step = smol::future::or(async { Some(watched.recv().await) }, async {
                    (&mut retry).await;
                    None
                });
                match step.await {
                    Some(Ok(change)) => {
                        self.apply(change);
                    }
                    Some(Err(_)) => return,
                    None => break,
                }
            }
        }
    }

    /// Updates `wanted`; returns the command that makes Redis agree, if any is needed.
    fn apply(&mut self, change: Watch) -> Option<Vec<u8>> {
        let mut command = Vec::new();
        match change {
            Watch::Add(channel) => {
                if self.wanted.insert(channel.clone()) {
                    resp::command(&mut command, &[b"SUBSCRIBE", &channel]);
                }
            }
            Watch::Remove(channel) => {
                if !self.fixed.contains(&channel) && self.wanted.remove(&channel) {
                    resp::command(&mut command, &[b"UNSUBSCRIBE", &channel]);
                }
            }
        }
        (!command.is_empty()).then_some(command)
    }

    /// Subscribes to `wanted` and delivers messages until the connection fails (the error)
    /// or the app is gone (`None`).
    async fn listen(&mut self, conn: &mut Connection, watched: &Receiver<Watch>) -> Option<Error> {
        let mut command = Vec::new();
        let channels: Vec<&[u8]> = self.wanted.iter().map(Vec::as_slice).collect();
        for chunk in channels.chunks(512) {
            let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
            args.extend_from_slice(chunk);
            resp::command(&mut command, &args);
        }
        // The PING's answer comes after every confirmation: the set-up is bounded like a PING.
        resp::command(&mut command, &[b"PING"]);
        if let Err(e) = conn.write(&command).await {
            return Some(e);
        }
        let mut liveness = Liveness::pinged(self.shared.timeout);
        loop {
            // Deliver every reply already read, then apply pending changes (first, so a
            // busy channel cannot starve them), then wait for either.
            loop {
                match conn.take() {
                    Ok(Some(reply)) => self.handle(reply).await,
                    Ok(None) => break,
                    Err(e) => return Some(e),
                }
            }
            let mut commands = Vec::new();
            while let Ok(change) = watched.try_recv() {
                commands.extend(self.apply(change).unwrap_or_default());
            }
            if !commands.is_empty() {
                if let Err(e) = conn.write(&commands).await {
                    return Some(e);
                }
            }
            let read = async { Step::Read(conn.fill().await) };
            let change = async { Step::Change(watched.recv().await.ok()) };
            let silence = async {
                Timer::at(liveness.deadline()).await;
                Step::Silence
            };
            match smol::future::or(smol::future::or(read, change), silence).await {
                Step::Read(Ok(())) => liveness.heard(),
                Step::Read(Err(e)) => return Some(e),
                Step::Change(Some(change)) => {
                    if let Some(command) = self.apply(change) {
                        if let Err(e) = conn.write(&command).await {
                            return Some(e);
                        }
                    }
                }
                Step::Change(None) => return None,
                Step::Silence => {
                    // In subscribe mode (RESP2) Redis answers a PING with a `pong` push.
                    if let Err(e) = liveness.silence() {
                        return Some(e);
                    }
                    let mut ping = Vec::new();
                    resp::command(&mut ping, &[b"PING"]);
                    if let Err(e) = conn.write(&ping).await {
                        return Some(e);
                    }
                }
            }
        }
    }

    /// A reply on the subscriber connection: a message, a (un)subscribe confirmation or an
    /// error (such as a channel the Redis user may not use).
    async fn handle(&self, reply: Value) {
        match reply {
            Value::Array(Some(items)) => {
                let mut items = items.into_iter();
                if let (
                    Some(Value::Bulk(Some(kind))),
                    Some(Value::Bulk(Some(channel))),
                    Some(Value::Bulk(Some(payload))),
                ) = (items.next(), items.next(), items.next())
                {
                    if kind == b"message" {
                        self.deliver(&channel, payload).await;
                    }
                }
            }
            Value::Error(text) => {
                let error = Error::new(ErrorKind::Io, String::from_utf8_lossy(&text));
                self.shared.report(&self.sink, "subscriber", &error);
            }
            _ => {}
        }
    }

    /// Queues a message from another node for the host; skips this node's own, and drops
    /// what is not this cluster's or does not agree with its channel.
    async fn deliver(&self, channel: &[u8], payload: Vec<u8>) {
        let shared = &self.shared;
        let (Some((kind, name)), Some(opened)) =
            (shared.channels.parse(channel), envelope::open(&payload))
        else {
            return;
        };
        if opened.node == shared.node || opened.kind != kind {
            return;
        }
        let Ok(opcode) = Opcode::try_from(u32::from(opened.opcode)) else {
            return;
        };
        let audience = match kind {
            Kind::Topic => Audience::Topic(Bytes::copy_from_slice(name)),
            Kind::Everyone => Audience::Everyone,
            Kind::Group => match std::str::from_utf8(name) {
                Ok(group) => Audience::Group(group.to_owned()),
                Err(_) => return,
            },
        };
        let data = Bytes::from(payload).slice(opened.data_start..);
        self.sink.remote(audience, opcode, data).await;
    }
}

/// When a quiet subscriber connection is checked with a PING, and when it counts as gone.
struct Liveness {
    timeout: Duration,
    /// When Redis was last heard from, or when the unanswered PING was sent.
    since: Instant,
    /// A PING waits for its answer.
    pinged: bool,
}

impl Liveness {
    /// A PING (or a command answered like one) was just sent.
    fn pinged(timeout: Duration) -> Liveness {
        Liveness {
            timeout,
            since: Instant::now(),
            pinged: true,
        }
    }

    /// Redis sent something: it is there.
    fn heard(&mut self) {
        self.since = Instant::now();
        self.pinged = false;
    }

    fn deadline(&self) -> Instant {
        self.since + self.timeout
    }

    /// The deadline passed in silence: an error when a PING went unanswered, else the
    /// caller sends one now.
    fn silence(&mut self) -> Result<()> {
        if self.pinged {
            return Err(no_answer(self.timeout, "to a PING"));
        }
        *self = Liveness::pinged(self.timeout);
        Ok(())
    }
}

/// Redis left `what` unanswered for `timeout`.
fn no_answer(timeout: Duration, what: &str) -> Error {
    let ms = timeout.as_millis();
    Error::new(
        ErrorKind::Timeout,
        format!("no answer {what} within {ms} ms"),
    )
}

/// The publisher connection's task: writes queued publishes in order, pipelined.
async fn publisher<C>(shared: Arc<Shared>, queue: Receiver<Vec<u8>>, sink: EventSink<C>) {
    let mut failures = 0;
    let mut reported = 0;
    loop {
        let error = match connect(&shared).await {
            Ok(mut conn) => {
                failures = 0;
                shared.up[PUBLISHER].store(true, Ordering::Relaxed);
                let published =
                    publish_queued(&shared, &mut conn, &queue, &sink, &mut reported).await;
                shared.up[PUBLISHER].store(false, Ordering::Relaxed);
                match published {
                    Some(error) => error,
                    None => return,
                }
            }
            Err(error) => error,
        };
        if worth_reporting(failures) {
            shared.report(&sink, "publisher", &error);
        }
        shared.report_dropped(&sink, &mut reported);
        Timer::after(backoff(failures)).await;
        failures = failures.saturating_add(1);
    }
}

/// Publishes until the connection fails (the error) or the app is gone (`None`).
async fn publish_queued<C>(
    shared: &Shared,
    conn: &mut Connection,
    queue: &Receiver<Vec<u8>>,
    sink: &EventSink<C>,
    reported: &mut u64,
) -> Option<Error> {
    loop {
        // A quiet publisher checks that Redis is still there.
        let idle = async {
            Timer::after(shared.timeout).await;
            Ok(None)
        };
        let mut batch = match smol::future::or(async { queue.recv().await.map(Some) }, idle).await {
            Ok(Some(batch)) => batch,
            Ok(None) => match conn.ping().await {
                Ok(()) => continue,
                Err(e) => return Some(e),
            },
            Err(_) => return None,
        };
        shared.queued.fetch_sub(batch.len(), Ordering::AcqRel);
        let mut count = 1;
        while count < MAX_PIPELINE && batch.len() < MAX_PIPELINE_BYTES {
            let Ok(more) = queue.try_recv() else { break };
            shared.queued.fetch_sub(more.len(), Ordering::AcqRel);
            batch.extend_from_slice(&more);
            count += 1;
        }
        if let Err(e) = conn.write(&batch).await {
            shared.dropped.fetch_add(count as u64, Ordering::Relaxed);
            return Some(e);
        }
        for confirmed in 0..count {
            match conn.next().await {
                Ok(Value::Error(text)) => {
                    let error = Error::new(ErrorKind::Io, String::from_utf8_lossy(&text));
                    shared.report(sink, "publisher", &error);
                }
                Ok(_) => {}
                Err(e) => {
                    shared
                        .dropped
                        .fetch_add((count - confirmed) as u64, Ordering::Relaxed);
                    return Some(e);
                }
            }
        }
        shared.report_dropped(sink, reported);
    }
}

/// Any byte stream to Redis: TCP, or TLS over TCP.
trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// One Redis connection: the stream and the replies read but not yet taken.
struct Connection {
    stream: Box<dyn Duplex>,
    buf: Vec<u8>,
    /// Where the first reply not yet taken starts in `buf`.
    start: usize,
    /// Where reads land, so a read cancelled halfway leaves `buf` as it was.
    scratch: Box<[u8]>,
    /// How long a reply may take.
    timeout: Duration,
}

/// Connects, upgrades to TLS for `rediss://`, authenticates, selects the database and sees
/// a PING answered, all within the Redis timeout: a Redis that accepts TCP and then says
/// nothing fails here, and is tried again.
async fn connect(shared: &Shared) -> Result<Connection> {
    let timeout = async {
        Timer::after(shared.timeout).await;
        Err(no_answer(shared.timeout, "while connecting"))
    };
    // A command's own timeout may fire first: it is the same silence.
    smol::future::or(connect_unbounded(shared), timeout)
        .await
        .map_err(|e| match e.kind {
            ErrorKind::Timeout => no_answer(shared.timeout, "while connecting"),
            _ => e,
        })
}

async fn connect_unbounded(shared: &Shared) -> Result<Connection> {
    let url = &shared.url;
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| Error::io("cannot connect", e))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Duplex> = match &shared.tls {
        Some(connector) => Box::new(connector.connect(&url.host, tcp).await?),
        None => Box::new(tcp),
    };
    let mut conn = Connection {
        stream,
        buf: Vec::new(),
        start: 0,
        scratch: vec![0; 64 << 10].into_boxed_slice(),
        timeout: shared.timeout,
    };
    let mut hello = Vec::new();
    if let Some(password) = &url.password {
        match &url.username {
            Some(user) => {
                resp::command(&mut hello, &[b"AUTH", user.as_bytes(), password.as_bytes()])
            }
            None => resp::command(&mut hello, &[b"AUTH", password.as_bytes()]),
        }
    }
    if url.db != 0 {
        resp::command(&mut hello, &[b"SELECT", url.db.to_string().as_bytes()]);
    }
    // Answered even without AUTH or SELECT: proof that Redis is there, not just its port.
    resp::command(&mut hello, &[b"PING"]);
    let replies = 1 + usize::from(url.password.is_some()) + usize::from(url.db != 0);
    conn.write(&hello).await?;
    for _ in 0..replies {
        if let Value::Error(text) = conn.next().await? {
            let text = String::from_utf8_lossy(&text);
            return Err(Error::new(
                ErrorKind::Io,
                format!("refused the login: {text}"),
            ));
        }
    }
    Ok(conn)
}

impl Connection {
    /// Writes `bytes`; an error when Redis has not taken them within the timeout (it stopped
    /// reading: the connection is given up, so a half-written command does not matter).
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let timeout = self.timeout;
        let written = async {
            let done = async {
                self.stream.write_all(bytes).await?;
                self.stream.flush().await
            };
            done.await.map_err(|e| Error::io("lost the connection", e))
        };
        let silence = async {
            Timer::after(timeout).await;
            let ms = timeout.as_millis();
            Err(Error::new(
                ErrorKind::Timeout,
                format!("stopped reading: what was sent was not taken within {ms} ms"),
            ))
        };
        smol::future::or(written, silence).await
    }

    /// The next complete reply already read, if any.
    fn take(&mut self) -> Result<Option<Value>> {
        match resp::parse(&self.buf[self.start..])? {
            Some((value, used)) => {
                self.start += used;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                Ok(Some(value))
            }
            None => Ok(None),
        }
    }

    /// Reads more bytes; an error when the connection ended. Safe to cancel.
    async fn fill(&mut self) -> Result<()> {
        let n = match self.stream.read(&mut self.scratch).await {
            Ok(0) => return Err(Error::new(ErrorKind::Io, "closed the connection")),
            Ok(n) => n,
            Err(e) => return Err(Error::io("lost the connection", e)),
        };
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(&self.scratch[..n]);
        Ok(())
    }

    /// The next reply, reading as needed; an error when Redis stays silent for the timeout.
    async fn next(&mut self) -> Result<Value> {
        let timeout = self.timeout;
        let reply = async {
            loop {
                if let Some(value) = self.take()? {
                    return Ok(value);
                }
                self.fill().await?;
            }
        };
        let silence = async {
            Timer::after(timeout).await;
            Err(no_answer(timeout, "to a command"))
        };
        smol::future::or(reply, silence).await
    }

    /// Sends a PING (outside subscribe mode) and waits for its answer.
    async fn ping(&mut self) -> Result<()> {
        let mut ping = Vec::new();
        resp::command(&mut ping, &[b"PING"]);
        self.write(&ping).await?;
        match self.next().await {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::Timeout => Err(no_answer(self.timeout, "to a PING")),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100_ms_to_5_s() {
        let waits: Vec<u64> = (0..9).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
        assert!(worth_reporting(0) && !worth_reporting(1) && worth_reporting(REPORT_EVERY));
    }

    #[test]
    fn silence_asks_for_a_ping_then_gives_up_unless_redis_is_heard() {
        let timeout = Duration::from_millis(300);
        let mut liveness = Liveness::pinged(timeout);
        assert!(
            liveness.silence().is_err(),
            "the set-up's PING went unanswered"
        );
        liveness.heard();
        let heard_until = liveness.deadline();
        assert!(liveness.silence().is_ok(), "quiet: send a PING");
        assert!(
            liveness.deadline() >= heard_until,
            "and wait for its answer"
        );
        let error = liveness.silence().unwrap_err();
        assert_eq!(error.message, "no answer to a PING within 300 ms");
        liveness.heard();
        assert!(liveness.silence().is_ok());
    }
}
