//! One WebSocket connection: the handle the host sends through, and the task that reads,
//! writes and closes it on the I/O threads.

use std::future::poll_fn;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::error::ProtocolError;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;
use smol::Timer;

use crate::config::Limits;
use crate::error::{Error, LunaResult, Result};
use crate::event::{Event, EventSink};
use crate::outbox::Outbox;
use crate::wire::{self, Wire};

/// Opcodes as RFC 6455 numbers them.
pub(crate) const OP_TEXT: u32 = 1;
pub(crate) const OP_BINARY: u32 = 2;
pub(crate) const OP_PING: u32 = 9;
pub(crate) const OP_PONG: u32 = 10;

/// The group of connections served by the default handler (no subprotocol matched).
pub(crate) const DEFAULT_GROUP: u32 = u32::MAX;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh connection id; ids are never reused within a process.
pub fn next_id() -> u64 {
    NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed)
}

/// Whether `id` was ever handed out (so a missing connection is "closed", not "unknown").
pub fn was_issued(id: u64) -> bool {
    id != 0 && id < NEXT_CONN_ID.load(Ordering::Relaxed)
}

/// The shared handle of a connection: what the host needs to send to it, close it and
/// describe it. A client connection exists (and queues sends) before its socket does.
pub struct Conn {
    pub id: u64,
    /// Index of the matched protocol in the app's list, or `DEFAULT_GROUP`.
    pub group: u32,
    link: OnceLock<Link>,
    /// What the host queued for the writer.
    outbox: Outbox<Outgoing>,
    /// Set while the host holds deferred frames for this connection (see `App::flush`).
    pub(crate) dirty: AtomicBool,
    queued_bytes: AtomicUsize,
    max_send_queue: usize,
    close_on_backpressure: bool,
    close_sent: AtomicBool,
    /// Woken when a close is requested: from then on the connection has a deadline.
    closing: AtomicWaker,
    /// The close frame we sent (or decided to send), reported if the peer never answers.
    our_close: Mutex<Option<(u16, String)>>,
    close_emitted: AtomicBool,
}

/// What a connection is once its handshake has completed.
pub struct Link {
    pub socket: TcpStream,
    pub peer: SocketAddr,
    /// `peer`'s IP as text, IPv4-mapped IPv6 shown as plain IPv4.
    pub peer_ip: String,
    pub tls: bool,
    /// The subprotocol agreed in the handshake, if any.
    pub protocol: Option<String>,
    /// The shared write side of a plain-TCP server connection, which the host writes to
    /// directly; `None` for TLS and client connections, which go through tungstenite.
    pub wire: Option<Arc<Wire>>,
}

impl Link {
    pub fn new(
        socket: TcpStream,
        peer: SocketAddr,
        tls: bool,
        protocol: Option<String>,
        wire: Option<Arc<Wire>>,
    ) -> Link {
        let peer = normalize_peer(peer);
        Link {
            socket,
            peer,
            peer_ip: peer.ip().to_string(),
            tls,
            protocol,
            wire,
        }
    }
}

/// What the host queues for a connection's writer.
pub enum Outgoing {
    /// A whole encoded frame, for a connection with a `Wire`.
    Frame(Bytes),
    /// A message tungstenite encodes (TLS and client connections, pings, close frames).
    Message(Message),
}

impl Outgoing {
    /// How many bytes it counts against the send queue.
    fn len(&self) -> usize {
        match self {
            Outgoing::Frame(frame) => frame.len(),
            Outgoing::Message(Message::Text(t)) => t.len(),
            Outgoing::Message(Message::Binary(b) | Message::Ping(b) | Message::Pong(b)) => b.len(),
            Outgoing::Message(_) => 0,
        }
    }
}

/// Who writes a frame the host sends to a connection with a wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The host, now.
    Now,
    /// The host, at its next `App::flush`.
    Batch,
    /// The I/O thread.
    IoThread,
}

/// Whether a send waits for the host's next flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Deferred,
    Queued,
}

/// A message ready to go to many connections, encoded once: plain-TCP recipients share the
/// frame, the others one tungstenite message over the same payload bytes.
pub struct Broadcast {
    frame: Bytes,
    /// The payload inside `frame`, as tungstenite's message.
    message: Message,
}

impl Broadcast {
    /// Validates `data` for `opcode` and encodes it once.
    pub fn new(data: &[u8], opcode: u32) -> Result<Broadcast> {
        validate_payload(data, opcode)?;
        let (frame, header_len) = wire::encode_server_frame(opcode as u8, data);
        let message = message_of(frame.slice(header_len..), opcode);
        Ok(Broadcast { frame, message })
    }

    /// What to queue for `conn`.
    pub fn for_conn(&self, conn: &Conn) -> Outgoing {
        match conn.wire() {
            Some(_) => Outgoing::Frame(self.frame.clone()),
            None => Outgoing::Message(self.message.clone()),
        }
    }
}

/// Checks that `data` may be sent with `opcode` (opcode, UTF-8, control-frame size).
pub fn validate_payload(data: &[u8], opcode: u32) -> Result<()> {
    match opcode {
        OP_TEXT if std::str::from_utf8(data).is_err() => Err(Error::new(
            LunaResult::InvalidUtf8,
            "text message is not valid UTF-8",
        )),
        OP_TEXT | OP_BINARY => Ok(()),
        OP_PING | OP_PONG if data.len() > 125 => Err(Error::invalid(
            "ping and pong payloads are limited to 125 bytes",
        )),
        OP_PING | OP_PONG => Ok(()),
        other => Err(Error::invalid(format!(
            "opcode {other} cannot be sent (use 1 TEXT, 2 BINARY, 9 PING or 10 PONG)"
        ))),
    }
}

/// Builds a message from caller bytes, validating opcode, UTF-8 and control-frame size.
pub fn make_message(data: Bytes, opcode: u32) -> Result<Message> {
    validate_payload(&data, opcode)?;
    Ok(message_of(data, opcode))
}

/// The message for a payload `validate_payload` accepted.
fn message_of(data: Bytes, opcode: u32) -> Message {
    match opcode {
        // SAFETY: `validate_payload` checked that TEXT payloads are UTF-8.
        OP_TEXT => Message::Text(unsafe { Utf8Bytes::from_bytes_unchecked(data) }),
        OP_PING => Message::Ping(data),
        OP_PONG => Message::Pong(data),
        _ => Message::Binary(data),
    }
}

/// Checks a close code and reason a caller wants to send (RFC 6455 §7.4).
pub fn validate_close(code: u16, reason: &[u8]) -> Result<()> {
    let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !sendable {
        return Err(Error::invalid(format!(
            "close code {code} cannot be sent (use 1000-1003, 1007-1014 or 3000-4999)"
        )));
    }
    if reason.len() > 123 {
        return Err(Error::invalid("close reason is longer than 123 bytes"));
    }
    if std::str::from_utf8(reason).is_err() {
        return Err(Error::new(
            LunaResult::InvalidUtf8,
            "close reason is not valid UTF-8",
        ));
    }
    Ok(())
}

/// Shows IPv4 peers of a dual-stack socket as plain IPv4.
pub fn normalize_peer(peer: SocketAddr) -> SocketAddr {
    match peer.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), peer.port()),
            None => peer,
        },
        IpAddr::V4(_) => peer,
    }
}

impl Conn {
    /// A connection handle, with an empty outgoing queue.
    pub fn new(id: u64, group: u32, limits: &Limits) -> Arc<Conn> {
        let conn = Conn {
            id,
            group,
            link: OnceLock::new(),
            outbox: Outbox::default(),
            dirty: AtomicBool::new(false),
            queued_bytes: AtomicUsize::new(0),
            max_send_queue: limits.max_send_queue,
            close_on_backpressure: limits.close_on_backpressure,
            close_sent: AtomicBool::new(false),
            closing: AtomicWaker::new(),
            our_close: Mutex::new(None),
            close_emitted: AtomicBool::new(false),
        };
        Arc::new(conn)
    }

    /// Records the completed handshake; the first call wins.
    pub fn set_link(&self, link: Link) {
        let _ = self.link.set(link);
    }

    /// The socket, peer and protocol; an error until the handshake has completed.
    pub fn link(&self) -> Result<&Link> {
        self.link
            .get()
            .ok_or_else(|| Error::new(LunaResult::Closed, "the connection is not open yet"))
    }

    /// The direct write side, for plain-TCP server connections.
    pub fn wire(&self) -> Option<&Arc<Wire>> {
        self.link.get().and_then(|link| link.wire.as_ref())
    }

    /// Validates `data` and prepares it for this connection: an encoded frame when the
    /// host writes to it directly, else a message for tungstenite. Copies `data` once.
    pub fn outgoing(&self, data: &[u8], opcode: u32) -> Result<Outgoing> {
        if self.wire().is_some() {
            validate_payload(data, opcode)?;
            let (frame, _) = wire::encode_server_frame(opcode as u8, data);
            return Ok(Outgoing::Frame(frame));
        }
        make_message(Bytes::copy_from_slice(data), opcode).map(Outgoing::Message)
    }

    /// Sends `item`: through the wire as `delivery` says when the connection has one and
    /// nothing is queued before it, else through the outbox.
    pub fn send(&self, item: Outgoing, delivery: Delivery) -> Result<Sent> {
        if self.close_sent.load(Ordering::Acquire) {
            return Err(Error::closed());
        }
        let len = item.len();
        let pending = self.wire().map_or(0, |w| w.pending_len());
        let queued = self.queued_bytes.load(Ordering::Acquire) + pending;
        if queued > 0 && queued + len > self.max_send_queue {
            if self.close_on_backpressure {
                self.close_overflowing();
                return Err(Error::new(
                    LunaResult::Closed,
                    format!("{queued} bytes were queued: closed with 1008 (close_on_backpressure)"),
                ));
            }
            return Err(Error::new(
                LunaResult::Backpressure,
                format!("{queued} bytes are already queued for this connection"),
            ));
        }
        let item = match item {
            Outgoing::Frame(frame) => match self.write_directly(frame, delivery) {
                Ok(sent) => return Ok(sent),
                Err(frame) => Outgoing::Frame(frame),
            },
            message => message,
        };
        // Counted before the push, so the writer never subtracts what was not added yet.
        self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if self.outbox.push(item).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(Error::closed());
        }
        Ok(Sent::Queued)
    }

    /// Puts `frame` on the wire unless something queued must go first or the writer holds
    /// the wire; then the frame comes back, for the outbox.
    fn write_directly(&self, frame: Bytes, delivery: Delivery) -> std::result::Result<Sent, Bytes> {
        let Some(wire) = self.wire() else {
            return Err(frame);
        };
        let Some(mut pending) = wire.try_lock() else {
            return Err(frame);
        };
        // The writer drains the outbox under this lock, so an empty outbox here means
        // every earlier frame is already pending or written.
        if pending.busy || pending.closing || !self.outbox.is_empty() || self.outbox.is_closed() {
            return Err(frame);
        }
        wire.push(&mut pending, frame);
        match delivery {
            Delivery::Batch => return Ok(Sent::Deferred),
            Delivery::Now => drop(wire.write_out(&mut pending)),
            Delivery::IoThread => wire.wake_flusher(),
        }
        Ok(Sent::Queued)
    }

    /// Writes the frames the host deferred (`direct`), or has the writer task write them;
    /// what the socket does not take, or what finds the wire taken, is the writer's.
    pub fn flush_deferred(&self, direct: bool) {
        self.dirty.store(false, Ordering::Release);
        if let Some(wire) = self.wire() {
            match wire.try_lock().filter(|_| direct) {
                Some(mut pending) => drop(wire.write_out(&mut pending)),
                None => wire.wake_flusher(),
            }
        }
    }

    /// Starts the closing handshake; a second call is a no-op. Arguments are trusted here.
    pub fn close(&self, code: u16, reason: &str) {
        if self.close_sent.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.our_close.lock() = Some((code, reason.to_owned()));
        self.closing.wake();
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::from(reason),
        };
        let _ = self
            .outbox
            .push(Outgoing::Message(Message::Close(Some(frame))));
    }

    /// Drops everything queued and closes with 1008: the peer reads too slowly.
    fn close_overflowing(&self) {
        if self.close_sent.load(Ordering::Acquire) {
            return;
        }
        while let Some(item) = self.outbox.try_pop() {
            self.queued_bytes.fetch_sub(item.len(), Ordering::AcqRel);
        }
        self.close(1008, "send queue full");
    }

    pub fn is_closing(&self) -> bool {
        self.close_sent.load(Ordering::Acquire)
    }

    /// Emits this connection's close event unless one was emitted already.
    pub fn emit_close(&self, sink: &EventSink, code: u16, reason: String, clean: bool) {
        if !self.close_emitted.swap(true, Ordering::AcqRel) {
            sink.push(Event::Close {
                conn: self.id,
                code,
                reason,
                clean,
            });
        }
    }
}

/// What the reader learned about how the connection ended.
#[derive(Default)]
struct Ending {
    peer_close: Option<(u16, String)>,
    /// Why the connection failed, when it did (protocol error, I/O error, timeout).
    failure: Option<(u16, String)>,
}

/// Runs an open connection until it is closed: reads into events, writes what the host
/// queued, answers pings, and emits the final close event.
pub async fn serve<S>(ws: WebSocketStream<S>, conn: Arc<Conn>, sink: EventSink, limits: Limits)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, receiver) = ws.split();
    let ending = Mutex::new(Ending::default());
    let activity = Activity::new();
    let reader = read_loop(receiver, &conn, &sink, &limits, &ending, &activity);
    let writer = write_loop(sender, &conn, &limits, &ending);
    let keepalive = keepalive_loop(&conn, &limits, &activity);
    // A peer that stops reading cannot hold a closing connection open: once a close was
    // requested, the queue and the handshake get two close timeouts in all.
    let bounded_close = async {
        poll_fn(|cx| {
            conn.closing.register(cx.waker());
            match conn.is_closing() {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
        .await;
        Timer::after(limits.close_timeout * 2 + Duration::from_millis(100)).await;
    };
    reader.or(writer).or(keepalive).or(bounded_close).await;

    // Nothing can be sent any more: later sends answer "closed".
    conn.outbox.close();
    if let Some(wire) = conn.wire() {
        wire.discard(&mut wire.lock());
    }
    // The host may keep the handle (and its socket clone) for a while: end TCP now.
    if let Ok(link) = conn.link() {
        let _ = link.socket.shutdown(std::net::Shutdown::Both);
    }
    let ending = ending.into_inner();
    let (code, reason, clean) = match (ending.peer_close, ending.failure) {
        (Some((code, reason)), _) => (code, reason, true),
        (None, Some((code, reason))) => (code, reason, false),
        (None, None) => match conn.our_close.lock().clone() {
            Some((code, reason)) => (code, reason, false),
            None => (
                1006,
                "connection dropped without a closing handshake".into(),
                false,
            ),
        },
    };
    conn.emit_close(&sink, code, reason, clean);
}

/// Reads messages until the stream ends; records the peer's close frame or the failure.
async fn read_loop<S>(
    mut receiver: async_tungstenite::WebSocketReceiver<S>,
    conn: &Conn,
    sink: &EventSink,
    limits: &Limits,
    ending: &Mutex<Ending>,
    activity: &Activity,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(item) = receiver.next().await {
        activity.touch();
        let (opcode, data) = match item {
            Ok(Message::Text(text)) => (OP_TEXT, Bytes::from(text)),
            Ok(Message::Binary(data)) => (OP_BINARY, data),
            Ok(Message::Ping(data)) if limits.control_frames => (OP_PING, data),
            Ok(Message::Pong(data)) if limits.control_frames => (OP_PONG, data),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Ok(Message::Close(frame)) => {
                let (code, reason) = match frame {
                    Some(f) => (u16::from(f.code), f.reason.as_str().to_owned()),
                    None => (1005, String::new()),
                };
                ending.lock().peer_close = Some((code, reason));
                // Before tungstenite answers it: no data of ours may follow that answer.
                if let Some(wire) = conn.wire() {
                    wire.lock().closing = true;
                }
                // Reading on flushes tungstenite's answer to the close. A server's stream
                // then ends; a client waits for the server to close TCP (RFC 6455 §7.1.1),
                // but not forever.
                let rest = async { while let Some(Ok(_)) = receiver.next().await {} };
                rest.or(async {
                    Timer::after(limits.close_timeout).await;
                })
                .await;
                return;
            }
            Err(err) => {
                if fail(conn, sink, ending, err) {
                    // Let the writer flush the close frame; it ends the connection.
                    smol::future::pending::<()>().await;
                }
                return;
            }
        };
        // After we started closing, the host no longer expects messages (RFC 6455 §1.4).
        if !conn.is_closing() {
            sink.message(conn.id, opcode as u8, data).await;
        }
    }
}

/// Records why a connection failed and, where the protocol asks for it, queues a close
/// frame; returns whether it did.
fn fail(conn: &Conn, sink: &EventSink, ending: &Mutex<Ending>, err: WsError) -> bool {
    let (code, message, send_close) = match err {
        WsError::ConnectionClosed | WsError::AlreadyClosed => return false,
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => (
            1006,
            "the peer closed the TCP connection without a closing handshake".into(),
            false,
        ),
        WsError::Io(e) => (1006, format!("connection lost: {e}"), false),
        WsError::Capacity(e) => (1009, format!("message too big: {e}"), true),
        WsError::Utf8(e) => (1007, format!("invalid UTF-8 in a text message: {e}"), true),
        WsError::Protocol(e) => (1002, format!("protocol error: {e}"), true),
        other => (1011, format!("internal error: {other}"), true),
    };
    if send_close {
        sink.error(
            conn.id,
            LunaResult::Protocol,
            format!("connection {}: {message}", conn.id),
        );
        let reason = match code {
            1009 => "message too big",
            1007 => "invalid UTF-8",
            1002 => "protocol error",
            _ => "internal error",
        };
        conn.close(code, reason);
    }
    ending.lock().failure = Some((code, message));
    send_close
}

/// Writes queued messages, flushing once per batch; returns when the connection is done.
async fn write_loop<S>(
    sender: async_tungstenite::WebSocketSender<S>,
    conn: &Conn,
    limits: &Limits,
    ending: &Mutex<Ending>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let result = match conn.wire() {
        Some(wire) => wire_write_loop(sender, conn, wire, limits, ending).await,
        None => message_write_loop(sender, conn, limits, ending).await,
    };
    if let Err(err) = result {
        let mut ending = ending.lock();
        if ending.failure.is_none() && !matches!(err, WsError::ConnectionClosed) {
            ending.failure = Some((1006, format!("write failed: {err}")));
        }
    }
}

/// The writer of a connection without a wire: tungstenite encodes everything.
async fn message_write_loop<S>(
    mut sender: async_tungstenite::WebSocketSender<S>,
    conn: &Conn,
    limits: &Limits,
    ending: &Mutex<Ending>,
) -> std::result::Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(first) = conn.outbox.pop().await {
        let mut next = Some(first);
        while let Some(item) = next {
            conn.queued_bytes.fetch_sub(item.len(), Ordering::AcqRel);
            // Frames are only made for connections with a wire.
            if let Outgoing::Message(msg) = item {
                let is_close = matches!(msg, Message::Close(_));
                sender.feed(msg).await?;
                if is_close {
                    sender.flush().await?;
                    close_wait(limits, ending).await;
                    return Ok(());
                }
            }
            next = conn.outbox.try_pop();
        }
        sender.flush().await?;
    }
    Ok(())
}

/// The writer of a connection with a wire: moves queued frames to the wire, hands pings
/// and close frames to tungstenite (which writes them to the wire too), and finishes the
/// writes the host left when the socket was full.
async fn wire_write_loop<S>(
    mut sender: async_tungstenite::WebSocketSender<S>,
    conn: &Conn,
    wire: &Wire,
    limits: &Limits,
    ending: &Mutex<Ending>,
) -> std::result::Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let io_failure = |e: std::io::Error| WsError::Io(e);
    loop {
        let more = poll_fn(|cx| {
            conn.outbox.register(cx);
            wire.register_flusher(cx);
            // Checked after registering, so a push or a hand-off in between is never missed.
            if !conn.outbox.is_empty() || wire.needs_writer() {
                Poll::Ready(true)
            } else if conn.outbox.is_closed() {
                Poll::Ready(false)
            } else {
                Poll::Pending
            }
        })
        .await;
        if !more {
            return Ok(());
        }
        // Draining under the wire's lock keeps the host's direct writes behind these.
        let message = {
            let mut pending = wire.lock();
            let mut message = None;
            while let Some(item) = conn.outbox.try_pop() {
                conn.queued_bytes.fetch_sub(item.len(), Ordering::AcqRel);
                match item {
                    Outgoing::Frame(_) if pending.closing => {}
                    Outgoing::Frame(frame) => wire.push(&mut pending, frame),
                    Outgoing::Message(msg) => {
                        pending.busy = true;
                        pending.closing |= matches!(msg, Message::Close(_));
                        message = Some(msg);
                        break;
                    }
                }
            }
            message
        };
        if let Some(msg) = message {
            let is_close = matches!(msg, Message::Close(_));
            let sent = sender.send(msg).await;
            wire.lock().busy = false;
            sent?;
            if is_close {
                wire.flush().await.map_err(io_failure)?;
                close_wait(limits, ending).await;
                return Ok(());
            }
        }
        wire.flush().await.map_err(io_failure)?;
    }
}

/// After our close frame went out: a failed connection is dropped at once; a normal close
/// waits for the peer's answer, read by the reader, but not forever.
async fn close_wait(limits: &Limits, ending: &Mutex<Ending>) {
    if ending.lock().failure.is_none() {
        Timer::after(limits.close_timeout).await;
    }
}

/// When the peer last sent anything.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Sends automatic pings and closes peers that stay silent; never returns when neither
/// `ping_interval` nor `idle_timeout` is set.
async fn keepalive_loop(conn: &Conn, limits: &Limits, activity: &Activity) {
    let tick = match (limits.ping_interval, limits.idle_timeout) {
        (None, None) => return smol::future::pending().await,
        (Some(p), None) => p,
        (None, Some(i)) => i / 2,
        (Some(p), Some(i)) => p.min(i / 2),
    };
    let tick = tick.max(Duration::from_millis(10));
    loop {
        Timer::after(tick).await;
        if let Some(idle) = limits.idle_timeout {
            if activity.idle_for() >= idle {
                conn.close(1001, "idle timeout");
                return smol::future::pending().await;
            }
        }
        if limits.ping_interval.is_some() {
            let _ = conn
                .outbox
                .push(Outgoing::Message(Message::Ping(Bytes::new())));
        }
    }
}
