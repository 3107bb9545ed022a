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
use std::time::Duration;

use smol::channel::Sender;
use smol::Task;

use crate::config::{ClientTls, ClusterConfig, RedisUrl, CLUSTER_QUEUE_BYTES};
use crate::error::{Error, ErrorKind, Result};
use crate::event::{EventSink, Opcode};
use crate::resp;
use crate::runtime;
use crate::tls;

mod connect;
mod envelope;
mod publisher;
mod subscriber;

use envelope::{Channels, Kind, NodeId, NODE_ID_LEN};
use publisher::publisher;
use subscriber::Subscriber;

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

/// A change to the subscriber's channels.
enum Watch {
    Add(Vec<u8>),
    Remove(Vec<u8>),
}

impl Cluster {
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

    /// Starts both connections; `groups` are the subprotocol groups the app serves (`""` =
    /// the default handler). Fails only on settings (a TLS URL in a build without TLS);
    /// an unreachable Redis is reported later, as ERROR events, while the node retries.
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
}
