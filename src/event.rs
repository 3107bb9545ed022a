//! Events that travel from the I/O threads to the host through an app's queue.
//!
//! The queue does not know what a connection handle is: `C` is the handle an OPEN event
//! carries (`conn::Conn` behind an `Arc`), which keeps this module a leaf.

use std::sync::Arc;

use bytes::Bytes;

use crate::backlog::Backlog;
use crate::error::{Error, ErrorKind, Result};
use crate::http::request::Request;
use crate::inbox::Inbox;
use crate::stats::Stats;
use crate::wakeup::Wakeup;

/// The opcodes of the messages a host sends and receives (RFC 6455 §5.2 numbers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opcode {
    Text = 1,
    Binary = 2,
    Ping = 9,
    Pong = 10,
}

impl Opcode {
    /// The opcode of a message kept for a resend (`Opcode as u8`): it was one of these.
    pub(crate) fn from_kept(number: u8) -> Opcode {
        match number {
            1 => Opcode::Text,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => Opcode::Binary,
        }
    }
}

impl TryFrom<u32> for Opcode {
    type Error = Error;

    /// The opcode a caller asked to send; anything but a data or ping/pong opcode is misuse.
    fn try_from(number: u32) -> Result<Opcode> {
        match number {
            1 => Ok(Opcode::Text),
            2 => Ok(Opcode::Binary),
            9 => Ok(Opcode::Ping),
            10 => Ok(Opcode::Pong),
            other => Err(Error::invalid(format!(
                "opcode {other} cannot be sent (use 1 TEXT, 2 BINARY, 9 PING or 10 PONG)"
            ))),
        }
    }
}

/// What happened, as queued by the I/O threads; it owns its bytes.
pub(crate) enum Event<C> {
    /// A connection completed its handshake.
    Open(C),
    /// A handshake waits for the host's decision (`upgrade_events`); `conn` becomes the
    /// connection's id if the host accepts.
    Upgrade {
        conn: u64,
        request: Arc<Request>,
        peer_ip: String,
        peer_port: u16,
    },
    /// A plain HTTP request for the host (`http` hook). Boxed, as the rare events are:
    /// every queued event takes the room of the largest, and messages are most of them.
    Http(Box<HttpRequest>),
    /// A session's client came back on connection `conn` (`resume`): the host knows the
    /// session by `session`, its first connection's id, which it keeps.
    Resume { session: u64, conn: C },
    /// A whole message arrived.
    Message {
        conn: u64,
        opcode: Opcode,
        data: Bytes,
    },
    /// A connection closed; the last event of that connection.
    Close {
        conn: u64,
        code: u16,
        reason: String,
        clean: bool,
    },
    /// Something went wrong (`conn` 0 when no connection is concerned).
    Error {
        conn: u64,
        kind: ErrorKind,
        message: String,
        /// The HTTP status a server answered a client's handshake with, else 0.
        http_status: u16,
    },
    /// A connection broke a rule of RFC 6455 after the events queued before this one: the
    /// host's next flush (after writing what it sent in answer to them) closes it with
    /// `code`. Never shown to the host.
    Failed {
        conn: u64,
        code: u16,
        reason: &'static str,
    },
    /// One access log line (`access_log`): an HTTP request or a handshake answered.
    Log { line: String },
    /// Wakes a host blocked in `wait` (a drain is over); never shown to the host.
    Wake,
    /// A message another node of the cluster sent: the host's next poll delivers it to the
    /// local `audience` and never shows it to the host.
    Remote {
        audience: Box<Audience>,
        opcode: Opcode,
        data: Bytes,
    },
}

/// A plain HTTP request for the host; `conn` identifies the answer.
pub(crate) struct HttpRequest {
    pub conn: u64,
    /// Held until the next poll, so what `luna_conn_request` showed stays valid.
    #[allow(dead_code)]
    pub request: Arc<Request>,
    pub body: Bytes,
    pub peer_ip: String,
    pub peer_port: u16,
}

/// Who a message from another node is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The subscribers of a topic.
    Topic(Bytes),
    /// Every open connection.
    Everyone,
    /// The connections of one subprotocol group (`""` = the default handler's).
    Group(String),
}

/// The I/O side's end of an app's event queue.
pub(crate) struct EventSink<C> {
    tx: Arc<Inbox<Event<C>>>,
    wakeup: Arc<Wakeup>,
    backlog: Arc<Backlog>,
    stats: Arc<Stats>,
}

impl<C> Clone for EventSink<C> {
    fn clone(&self) -> Self {
        EventSink {
            tx: self.tx.clone(),
            wakeup: self.wakeup.clone(),
            backlog: self.backlog.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<C> EventSink<C> {
    pub fn new(
        tx: Arc<Inbox<Event<C>>>,
        wakeup: Arc<Wakeup>,
        backlog: Arc<Backlog>,
        stats: Arc<Stats>,
    ) -> Self {
        EventSink {
            tx,
            wakeup,
            backlog,
            stats,
        }
    }

    /// The app's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The app's counters, to keep (a connection's compressor counts its bytes).
    pub fn shared_stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Queues a message for the host; waits first while the app's backlog is over its limit.
    pub async fn message(&self, conn: u64, opcode: Opcode, data: Bytes) {
        self.stats.received(data.len());
        let over = self.backlog.add(data.len());
        self.push(Event::Message { conn, opcode, data });
        if over {
            self.backlog.below_limit().await;
        }
    }

    /// Counts a connection's unfinished messages into the app's (`Backlog::hold`).
    pub fn hold(&self, before: usize, after: usize) -> bool {
        self.backlog.hold(before, after)
    }

    /// Queues a message from another node; waits first while the backlog is over its limit.
    pub async fn remote(&self, audience: Audience, opcode: Opcode, data: Bytes) {
        let over = self.backlog.add(data.len());
        self.push(Event::Remote {
            audience: Box::new(audience),
            opcode,
            data,
        });
        if over {
            self.backlog.below_limit().await;
        }
    }

    /// Queues an event for the host; dropped silently once the app is freed.
    pub fn push(&self, event: Event<C>) {
        if self.tx.push(event) {
            self.wakeup.signal();
        }
    }

    pub fn error(&self, conn: u64, kind: ErrorKind, message: String) {
        self.push(Event::Error {
            conn,
            kind,
            message,
            http_status: 0,
        });
    }
}

#[cfg(test)]
mod size {
    /// Every queued event takes the room of the largest variant, and a message event with
    /// its slot in the queue should fit one cache line: the rare, bulky events are boxed.
    /// (The queue's events hold a connection handle: one pointer, as here.)
    #[test]
    fn an_event_is_no_larger_than_a_message() {
        assert!(std::mem::size_of::<super::Event<std::sync::Arc<u8>>>() <= 48);
    }
}
