//! The C form of events and opcodes.

use crate::conn::ConnEvent;
use crate::event::{Event, Opcode};

use super::LunaResult;

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
    /// A handshake waits for the host's decision (only with `upgrade_events`): `conn` = the
    /// id the connection gets if accepted, `data` = the request target (path and query),
    /// `peer`/`peer_port` = the client's address. Read the request with `luna_conn_request`
    /// and `luna_conn_header`, then answer with `luna_upgrade_accept` or
    /// `luna_upgrade_reject` before `handshake_timeout_ms` passes (else the client gets 503
    /// and an ERROR of kind TIMEOUT follows). After an accept, OPEN follows (or CLOSE 1006
    /// if the client left first).
    Upgrade = 5,
    /// A plain HTTP request for the host (only with `http_events`): `conn` = the id to answer
    /// with `luna_http_respond`, `data` = the request body (may be empty), `peer`/`peer_port`
    /// = the client's address. Read the method, target and headers with `luna_conn_request`
    /// and `luna_conn_header`. Files of `static_root` never come here: only what no file
    /// answers (404, 405). Unanswered within `handshake_timeout_ms`: the client gets 503.
    Http = 6,
    /// One line of the access log (only with `access_log`): `data` = the line, without a
    /// line end, in the combined format of nginx and Apache with the seconds taken appended:
    /// `ADDR - - [06/Dec/2026:10:36:00 +0000] "GET / HTTP/1.1" 200 1234 "REFERER" "AGENT"
    /// 0.002`. One per plain HTTP request answered and per WebSocket handshake (101, or the
    /// refusal's status); `conn` is 0.
    Log = 7,
    /// A session's client came back (only with `resume`): `conn` = the session's id (its
    /// first connection's, which every other call keeps using), `peer`/`peer_port` = the
    /// address it came back from. Messages it missed are sent again by the library, and
    /// those the server missed arrive as MESSAGE events, in order.
    Resume = 8,
}

/// One event handed to the host by `luna_app_poll`. Every pointer in it stays valid until the
/// next `luna_app_poll` (or `luna_app_free`) on the same app; copy what you keep longer.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LunaEvent {
    /// What happened; it says which of the other fields are set.
    pub kind: LunaEventKind,
    /// MESSAGE: 1 = TEXT, 2 = BINARY, 9 = PING, 10 = PONG. Otherwise 0.
    pub opcode: u32,
    /// The connection concerned; ids are never reused within a process.
    pub conn: u64,
    /// Payload, subprotocol, close reason or error message (see `kind`). Not NUL-terminated.
    pub data: *const u8,
    /// Bytes at `data`.
    pub len: usize,
    /// OPEN, UPGRADE and HTTP: the peer's IP address as text (IPv4 peers of a dual-stack socket
    /// appear as plain IPv4). Not NUL-terminated.
    pub peer: *const u8,
    /// Bytes at `peer`.
    pub peer_len: usize,
    /// CLOSE: the close code (1005 = none given, 1006 = no closing handshake).
    /// ERROR: the `LunaResult` class of the failure.
    pub code: u32,
    /// ERROR of a client handshake: the HTTP status the server answered instead of 101
    /// (else 0).
    pub http_status: u16,
    /// OPEN, UPGRADE and HTTP: the peer's port.
    pub peer_port: u16,
    /// CLOSE: 1 when the closing handshake completed, else 0.
    pub was_clean: u8,
}

/// WebSocket opcodes (RFC 6455), as `LunaEvent.opcode` reports them and send calls take them.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LunaOpcode {
    /// Continues a fragmented message (never reported: messages arrive whole).
    Continuation = 0,
    /// A UTF-8 text message.
    Text = 1,
    /// A binary message.
    Binary = 2,
    /// A close frame (reported as a CLOSE event).
    Close = 8,
    /// A ping (answered automatically; reported when `control_frames` is set).
    Ping = 9,
    /// A pong (reported when `control_frames` is set).
    Pong = 10,
}

impl From<Opcode> for LunaOpcode {
    fn from(opcode: Opcode) -> LunaOpcode {
        match opcode {
            Opcode::Text => LunaOpcode::Text,
            Opcode::Binary => LunaOpcode::Binary,
            Opcode::Ping => LunaOpcode::Ping,
            Opcode::Pong => LunaOpcode::Pong,
        }
    }
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

/// The C view of `event`, borrowing its bytes.
pub(super) fn to_c(event: &ConnEvent) -> LunaEvent {
    let mut out = LunaEvent::default();
    match event {
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
        Event::Upgrade {
            conn,
            request,
            peer_ip,
            peer_port,
        } => {
            out.kind = LunaEventKind::Upgrade;
            out.conn = *conn;
            (out.data, out.len) = (request.target.as_ptr(), request.target.len());
            (out.peer, out.peer_len) = (peer_ip.as_ptr(), peer_ip.len());
            out.peer_port = *peer_port;
        }
        Event::Http(http) => {
            out.kind = LunaEventKind::Http;
            out.conn = http.conn;
            (out.data, out.len) = (http.body.as_ptr(), http.body.len());
            (out.peer, out.peer_len) = (http.peer_ip.as_ptr(), http.peer_ip.len());
            out.peer_port = http.peer_port;
        }
        Event::Resume { session, conn } => {
            out.kind = LunaEventKind::Resume;
            out.conn = *session;
            if let Ok(link) = conn.link() {
                (out.peer, out.peer_len) = (link.peer_ip.as_ptr(), link.peer_ip.len());
                out.peer_port = link.peer.port();
            }
        }
        Event::Message { conn, opcode, data } => {
            out.kind = LunaEventKind::Message;
            out.conn = *conn;
            out.opcode = LunaOpcode::from(*opcode) as u32;
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
            kind,
            message,
            http_status,
        } => {
            out.conn = *conn;
            out.http_status = *http_status;
            out.code = LunaResult::from(*kind) as u32;
            (out.data, out.len) = (message.as_ptr(), message.len());
        }
        Event::Log { line } => {
            out.kind = LunaEventKind::Log;
            (out.data, out.len) = (line.as_ptr(), line.len());
        }
        // `App::poll` delivers these itself and never shows them.
        Event::Remote { .. } | Event::Failed { .. } | Event::Wake => {}
    }
    out
}
