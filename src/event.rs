//! Events that travel from the I/O threads to the host, and their C form.

use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::Sender;

use crate::backlog::Backlog;
use crate::connection::Conn;
use crate::error::LunaResult;
use crate::wakeup::Wakeup;

/// What happened. The numbers are part of the ABI.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LunaEventKind {
    /// A connection completed its handshake: `conn`, `data` = chosen subprotocol (empty when
    /// none), `peer`/`peer_port` = the peer's address.
    Open = 1,
    /// A whole message arrived: `conn`, `opcode`, `data`.
    Message = 2,
    /// A connection closed: `conn`, `code`, `data` = reason, `was_clean`. It is the last event
    /// of that connection.
    Close = 3,
    /// Something went wrong: `conn` (0 when no connection is concerned), `code` = a
    /// `LunaResult` saying what kind of failure, `data` = a message for humans.
    Error = 4,
}

/// One event handed to the host by `luna_app_poll`. Every pointer in it stays valid until the
/// next `luna_app_poll` (or `luna_app_free`) on the same app; copy what you keep longer.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LunaEvent {
    pub kind: LunaEventKind,
    /// MESSAGE: 1 = TEXT, 2 = BINARY, 9 = PING, 10 = PONG. Otherwise 0.
    pub opcode: u32,
    /// The connection concerned; ids are never reused within a process.
    pub conn: u64,
    /// Payload, subprotocol, close reason or error message (see `kind`). Not NUL-terminated.
    pub data: *const u8,
    pub len: usize,
    /// OPEN: the peer's IP address as text (IPv4 peers of a dual-stack socket appear as plain
    /// IPv4). Not NUL-terminated.
    pub peer: *const u8,
    pub peer_len: usize,
    /// CLOSE: the close code (1005 = none given, 1006 = no closing handshake).
    /// ERROR: the `LunaResult` class of the failure.
    pub code: u32,
    /// ERROR of a client handshake: the HTTP status the server answered instead of 101
    /// (else 0).
    pub http_status: u16,
    /// OPEN: the peer's port.
    pub peer_port: u16,
    /// CLOSE: 1 when the closing handshake completed, else 0.
    pub was_clean: u8,
}

/// An event as queued by the I/O threads; it owns the bytes a `LunaEvent` points into.
pub enum Event {
    Open(Arc<Conn>),
    Message {
        conn: u64,
        opcode: u8,
        data: Bytes,
    },
    Close {
        conn: u64,
        code: u16,
        reason: String,
        clean: bool,
    },
    Error {
        conn: u64,
        code: LunaResult,
        message: String,
        http_status: u16,
    },
}

impl Default for LunaEvent {
    /// An empty ERROR event: what a poll buffer holds before luna fills it.
    fn default() -> Self {
        LunaEvent {
            kind: LunaEventKind::Error,
            opcode: 0,
            conn: 0,
            data: std::ptr::null(),
            len: 0,
            peer: std::ptr::null(),
            peer_len: 0,
            code: 0,
            http_status: 0,
            peer_port: 0,
            was_clean: 0,
        }
    }
}

impl Event {
    /// The C view of this event, borrowing its bytes.
    pub fn to_c(&self) -> LunaEvent {
        let mut out = LunaEvent::default();
        match self {
            Event::Open(conn) => {
                out.kind = LunaEventKind::Open;
                out.conn = conn.id;
                if let Ok(link) = conn.link() {
                    let protocol = link.protocol.as_deref().unwrap_or("");
                    (out.data, out.len) = (protocol.as_ptr(), protocol.len());
                    (out.peer, out.peer_len) = (link.peer_ip.as_ptr(), link.peer_ip.len());
                    out.peer_port = link.peer.port();
                }
            }
            Event::Message { conn, opcode, data } => {
                out.kind = LunaEventKind::Message;
                out.conn = *conn;
                out.opcode = u32::from(*opcode);
                (out.data, out.len) = (data.as_ptr(), data.len());
            }
            Event::Close {
                conn,
                code,
                reason,
                clean,
            } => {
                out.kind = LunaEventKind::Close;
                out.conn = *conn;
                out.code = u32::from(*code);
                (out.data, out.len) = (reason.as_ptr(), reason.len());
                out.was_clean = u8::from(*clean);
            }
            Event::Error {
                conn,
                code,
                message,
                http_status,
            } => {
                out.conn = *conn;
                out.http_status = *http_status;
                out.code = *code as u32;
                (out.data, out.len) = (message.as_ptr(), message.len());
            }
        }
        out
    }
}

/// The I/O side's end of an app's event queue.
#[derive(Clone)]
pub struct EventSink {
    tx: Sender<Event>,
    wakeup: Arc<Wakeup>,
    backlog: Arc<Backlog>,
}

impl EventSink {
    pub fn new(tx: Sender<Event>, wakeup: Arc<Wakeup>, backlog: Arc<Backlog>) -> Self {
        EventSink {
            tx,
            wakeup,
            backlog,
        }
    }

    /// Queues a message for the host; waits first while the app's backlog is over its limit.
    pub async fn message(&self, conn: u64, opcode: u8, data: Bytes) {
        let over = self.backlog.add(data.len());
        self.push(Event::Message { conn, opcode, data });
        if over {
            self.backlog.below_limit().await;
        }
    }

    /// Queues an event for the host; dropped silently once the app is freed.
    pub fn push(&self, event: Event) {
        if self.tx.send(event).is_ok() {
            self.wakeup.signal();
        }
    }

    pub fn error(&self, conn: u64, code: LunaResult, message: String) {
        self.push(Event::Error {
            conn,
            code,
            message,
            http_status: 0,
        });
    }
}

/// WebSocket opcodes (RFC 6455), as `LunaEvent.opcode` reports them and send calls take them.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LunaOpcode {
    Continuation = 0,
    Text = 1,
    Binary = 2,
    Close = 8,
    Ping = 9,
    Pong = 10,
}
