//! The subscriber connection: listens to the broadcast channels and the topics with local
//! subscribers, keeps that set current across reconnects, and queues what other nodes sent
//! for the host.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use smol::channel::Receiver;
use smol::Timer;

use super::connect::{connect, no_answer, Connection};
use super::envelope::{self, Kind};
use super::{backoff, worth_reporting, Shared, Watch, SUBSCRIBER};
use crate::error::{Error, ErrorKind, Result};
use crate::event::{Audience, EventSink, Opcode};
use crate::resp::{self, Value};

/// What woke the subscriber.
enum Step {
    Read(Result<()>),
    Change(Option<Watch>),
    /// Redis has been silent until the deadline.
    Silence,
}

/// The subscriber connection's task.
pub(super) struct Subscriber<C> {
    pub(super) shared: Arc<Shared>,
    pub(super) sink: EventSink<C>,
    /// The broadcast channels: always subscribed, whatever the topics do.
    pub(super) fixed: BTreeSet<Vec<u8>>,
    /// Every channel to be subscribed: `fixed` and the watched topics.
    pub(super) wanted: BTreeSet<Vec<u8>>,
}

impl<C: Send + 'static> Subscriber<C> {
    pub(super) async fn run(mut self, watched: Receiver<Watch>) {
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
        let Some(received) = envelope::receive(&shared.channels, &shared.node, channel, &payload)
        else {
            return;
        };
        let Ok(opcode) = Opcode::try_from(u32::from(received.opcode)) else {
            return;
        };
        let name = received.name;
        let audience = match received.kind {
            Kind::Topic => Audience::Topic(Bytes::copy_from_slice(name)),
            Kind::Everyone => Audience::Everyone,
            Kind::Group => match std::str::from_utf8(name) {
                Ok(group) => Audience::Group(group.to_owned()),
                Err(_) => return,
            },
        };
        let data = Bytes::from(payload).slice(received.data_start..);
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

#[cfg(test)]
mod tests {
    use super::*;

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
