//! Everything a connection sends goes through its `SendPath`, and every app's sends through
//! its `HostBatch`: together they are the one place that decides who writes a frame (the
//! host now, the host at the end of the batch it is handling, or the I/O thread), how many
//! bytes may wait (backpressure), and that nothing of ours follows a close frame.
//!
//! Plain-TCP server connections have a `Wire` the host writes encoded frames to itself
//! (SPEC §7 "direct write"); TLS and client connections queue tungstenite messages in the
//! outbox for their writer task. Frames wait in the outbox too whenever something queued
//! before them must go first.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Message, Utf8Bytes};
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

use crate::config::Limits;
use crate::error::{Error, ErrorKind, Result};
use crate::event::Opcode;
use crate::outbox::Outbox;
use crate::wire::{self, Wire};

/// What the host queues for a connection's writer.
pub(crate) enum Outgoing {
    /// A whole encoded frame, for a connection with a wire.
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
enum Delivery {
    /// The host, now.
    Now,
    /// The host, when it flushes the batch it is handling.
    Batch,
    /// The I/O thread.
    IoThread,
}

/// Whether a send waits for the host's next flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Deferred,
    Queued,
}

/// A message ready to go to many connections, encoded once: plain-TCP recipients share the
/// frame, the others one tungstenite message over the same payload bytes.
pub(crate) struct Broadcast {
    frame: Bytes,
    /// The payload inside `frame`, as tungstenite's message.
    message: Message,
}

impl Broadcast {
    /// Validates `data` for `opcode` and encodes it once.
    pub fn new(data: &[u8], opcode: Opcode) -> Result<Broadcast> {
        check_control(data, opcode)?;
        let (frame, header_len) = wire::encode_server_frame(opcode as u8, data);
        let message = message_of(frame.slice(header_len..), opcode)?;
        Ok(Broadcast { frame, message })
    }

    fn for_path(&self, path: &SendPath) -> Outgoing {
        match path.wire.get() {
            Some(_) => Outgoing::Frame(self.frame.clone()),
            None => Outgoing::Message(self.message.clone()),
        }
    }
}

/// Checks that `data` may be sent with `opcode`: UTF-8 text, control payloads ≤ 125 bytes.
fn check_payload(data: &[u8], opcode: Opcode) -> Result<()> {
    if opcode == Opcode::Text && std::str::from_utf8(data).is_err() {
        return Err(not_utf8());
    }
    check_control(data, opcode)
}

/// Control frames carry at most 125 bytes (RFC 6455 §5.5).
fn check_control(data: &[u8], opcode: Opcode) -> Result<()> {
    match opcode {
        Opcode::Ping | Opcode::Pong if data.len() > 125 => Err(Error::invalid(
            "ping and pong payloads are limited to 125 bytes",
        )),
        _ => Ok(()),
    }
}

fn not_utf8() -> Error {
    Error::new(ErrorKind::InvalidUtf8, "text message is not valid UTF-8")
}

/// The tungstenite message for `data`; a text payload is checked for UTF-8 here.
fn message_of(data: Bytes, opcode: Opcode) -> Result<Message> {
    Ok(match opcode {
        Opcode::Text => Message::Text(Utf8Bytes::try_from(data).map_err(|_| not_utf8())?),
        Opcode::Binary => Message::Binary(data),
        Opcode::Ping => Message::Ping(data),
        Opcode::Pong => Message::Pong(data),
    })
}

/// Checks a close code and reason a caller wants to send (RFC 6455 §7.4).
pub(crate) fn check_close(code: u16, reason: &[u8]) -> Result<&str> {
    let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !sendable {
        return Err(Error::invalid(format!(
            "close code {code} cannot be sent (use 1000-1003, 1007-1014 or 3000-4999)"
        )));
    }
    if reason.len() > 123 {
        return Err(Error::invalid("close reason is longer than 123 bytes"));
    }
    std::str::from_utf8(reason)
        .map_err(|_| Error::new(ErrorKind::InvalidUtf8, "close reason is not valid UTF-8"))
}

/// The outgoing side of one connection.
pub(crate) struct SendPath {
    /// What waits for the writer task.
    outbox: Outbox<Outgoing>,
    /// Bytes in the outbox (the wire counts its own).
    queued_bytes: AtomicUsize,
    /// The shared write side of a plain-TCP server connection, set once it opens.
    wire: OnceLock<Arc<Wire>>,
    max_send_queue: usize,
    close_on_backpressure: bool,
    /// Set while the host's batch holds deferred frames of this connection.
    dirty: AtomicBool,
    close_sent: AtomicBool,
    /// Woken when a close is requested: from then on the connection has a deadline.
    closing: AtomicWaker,
    /// The close frame we sent (or decided to send), reported if the peer never answers.
    our_close: Mutex<Option<(u16, String)>>,
}

impl SendPath {
    pub fn new(limits: &Limits) -> SendPath {
        SendPath {
            outbox: Outbox::default(),
            queued_bytes: AtomicUsize::new(0),
            wire: OnceLock::new(),
            max_send_queue: limits.max_send_queue,
            close_on_backpressure: limits.close_on_backpressure,
            dirty: AtomicBool::new(false),
            close_sent: AtomicBool::new(false),
            closing: AtomicWaker::new(),
            our_close: Mutex::new(None),
        }
    }

    /// From now on the host writes frames to `wire` itself.
    pub fn attach_wire(&self, wire: Arc<Wire>) {
        let _ = self.wire.set(wire);
    }

    pub fn wire(&self) -> Option<&Arc<Wire>> {
        self.wire.get()
    }

    /// Validates `data` and prepares it for this connection: an encoded frame when the
    /// host writes to it directly, else a message for tungstenite. Copies `data` once.
    fn prepare(&self, data: &[u8], opcode: Opcode) -> Result<Outgoing> {
        if self.wire.get().is_some() {
            check_payload(data, opcode)?;
            let (frame, _) = wire::encode_server_frame(opcode as u8, data);
            return Ok(Outgoing::Frame(frame));
        }
        check_control(data, opcode)?;
        message_of(Bytes::copy_from_slice(data), opcode).map(Outgoing::Message)
    }

    /// Queues a message the I/O side makes (an automatic ping); dropped once closed.
    pub fn push_control(&self, message: Message) {
        let _ = self.outbox.push(Outgoing::Message(message));
    }

    /// Sends `item`: through the wire as `delivery` says when the connection has one and
    /// nothing is queued before it, else through the outbox.
    fn send(&self, item: Outgoing, delivery: Delivery) -> Result<Sent> {
        if self.is_closing() {
            return Err(Error::closed());
        }
        let len = item.len();
        self.admit(len)?;
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

    /// Backpressure: whether `len` more bytes may wait. An empty queue takes any message.
    fn admit(&self, len: usize) -> Result<()> {
        let pending = self.wire.get().map_or(0, |w| w.pending_len());
        let queued = self.queued_bytes.load(Ordering::Acquire) + pending;
        if queued == 0 || queued + len <= self.max_send_queue {
            return Ok(());
        }
        if self.close_on_backpressure {
            self.close_overflowing();
            return Err(Error::new(
                ErrorKind::Closed,
                format!("{queued} bytes were queued: closed with 1008 (close_on_backpressure)"),
            ));
        }
        Err(Error::new(
            ErrorKind::Backpressure,
            format!("{queued} bytes are already queued for this connection"),
        ))
    }

    /// Puts `frame` on the wire unless something queued must go first or the writer holds
    /// the wire; then the frame comes back, for the outbox.
    fn write_directly(&self, frame: Bytes, delivery: Delivery) -> std::result::Result<Sent, Bytes> {
        let Some(wire) = self.wire.get() else {
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
    fn flush_deferred(&self, direct: bool) {
        self.dirty.store(false, Ordering::Release);
        if let Some(wire) = self.wire.get() {
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
        if self.is_closing() {
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

    /// The close frame we sent, if we did.
    pub fn our_close(&self) -> Option<(u16, String)> {
        self.our_close.lock().clone()
    }

    /// Waits until a close has been requested.
    pub async fn closing_requested(&self) {
        poll_fn(|cx| {
            self.closing.register(cx.waker());
            match self.is_closing() {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
        .await
    }

    /// The peer's close frame arrived: no data of ours may follow the answer to it.
    pub fn peer_closing(&self) {
        if let Some(wire) = self.wire.get() {
            wire.lock().closing = true;
        }
    }

    /// The connection ended: later sends answer "closed", and what waits is freed.
    pub fn end(&self) {
        self.outbox.close();
        if let Some(wire) = self.wire.get() {
            wire.discard(&mut wire.lock());
        }
    }

    /// Writer task of a connection without a wire: the next message, waiting for one;
    /// `None` once the connection ended.
    pub async fn next_message(&self) -> Option<Message> {
        loop {
            let item = self.outbox.pop().await?;
            if let Some(message) = self.uncount(item) {
                return Some(message);
            }
        }
    }

    /// Like `next_message`, without waiting.
    pub fn try_next_message(&self) -> Option<Message> {
        while let Some(item) = self.outbox.try_pop() {
            if let Some(message) = self.uncount(item) {
                return Some(message);
            }
        }
        None
    }

    fn uncount(&self, item: Outgoing) -> Option<Message> {
        self.queued_bytes.fetch_sub(item.len(), Ordering::AcqRel);
        match item {
            Outgoing::Message(message) => Some(message),
            // Frames are only made for connections with a wire.
            Outgoing::Frame(_) => None,
        }
    }

    /// Writer task of a connection with a wire: waits until there is something to do;
    /// `false` once the connection ended.
    pub async fn writer_has_work(&self, wire: &Wire) -> bool {
        poll_fn(|cx: &mut Context<'_>| {
            self.outbox.register(cx);
            wire.register_flusher(cx);
            // Checked after registering, so a push or a hand-off in between is never missed.
            if !self.outbox.is_empty() || wire.needs_writer() {
                Poll::Ready(true)
            } else if self.outbox.is_closed() {
                Poll::Ready(false)
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Writer task of a connection with a wire: moves queued frames to the wire, up to the
    /// first message tungstenite must encode, which it returns. Until `message_written`,
    /// the host's frames wait behind it.
    pub fn move_to_wire(&self, wire: &Wire) -> Option<Message> {
        // Draining under the wire's lock keeps the host's direct writes behind these.
        let mut pending = wire.lock();
        while let Some(item) = self.outbox.try_pop() {
            self.queued_bytes.fetch_sub(item.len(), Ordering::AcqRel);
            match item {
                Outgoing::Frame(_) if pending.closing => {}
                Outgoing::Frame(frame) => wire.push(&mut pending, frame),
                Outgoing::Message(message) => {
                    pending.busy = true;
                    pending.closing |= matches!(message, Message::Close(_));
                    return Some(message);
                }
            }
        }
        None
    }

    /// Tungstenite has written the message `move_to_wire` returned.
    pub fn message_written(&self, wire: &Wire) {
        wire.lock().busy = false;
    }
}

/// The most connections a waiting host writes to itself at the end of a batch.
const HOST_WRITES_AT_MOST: usize = 256;

/// The host's side of writing, per app: while the host handles a polled batch, its sends
/// are deferred and written together at the next flush (one write per connection, SPEC §7);
/// a host that blocks in `wait` writes its sends itself; one that never waits (a game loop)
/// leaves writing to the I/O thread, so its busy loop never shares a CPU with socket work.
#[derive(Default)]
pub(crate) struct HostBatch {
    /// Set from a poll that returned events until the next flush.
    open: AtomicBool,
    /// Set once the host blocks in `wait`.
    host_waits: AtomicBool,
    /// Connections holding deferred frames. Host threads only.
    dirty: Mutex<Vec<Arc<SendPath>>>,
}

impl HostBatch {
    /// A poll handed events to the host: what it sends now waits for the flush.
    pub fn open(&self) {
        self.open.store(true, Ordering::Relaxed);
    }

    /// The host blocks in `wait`: from now on it writes its sends itself.
    pub fn host_waits(&self) {
        self.host_waits.store(true, Ordering::Relaxed);
    }

    fn delivery(&self) -> Delivery {
        if self.open.load(Ordering::Relaxed) {
            Delivery::Batch
        } else if self.host_waits.load(Ordering::Relaxed) {
            Delivery::Now
        } else {
            Delivery::IoThread
        }
    }

    /// Copies `data` once and sends it on `path`.
    pub fn send(&self, path: &Arc<SendPath>, data: &[u8], opcode: Opcode) -> Result<()> {
        let item = path.prepare(data, opcode)?;
        self.send_item(path, item)
    }

    /// Sends one shared copy of `message` on `path`.
    pub fn send_broadcast(&self, path: &Arc<SendPath>, message: &Broadcast) -> Result<()> {
        self.send_item(path, message.for_path(path))
    }

    fn send_item(&self, path: &Arc<SendPath>, item: Outgoing) -> Result<()> {
        let sent = path.send(item, self.delivery())?;
        if sent == Sent::Deferred && !path.dirty.swap(true, Ordering::AcqRel) {
            self.dirty.lock().push(path.clone());
        }
        Ok(())
    }

    /// Writes what was sent during the batch and closes it: later sends go out at once.
    pub fn flush(&self) {
        self.open.store(false, Ordering::Relaxed);
        let mut dirty = self.dirty.lock();
        // A batch that touched many connections (a broadcast, a publish to a big room) goes
        // to the I/O thread: written by the host it would stall it for ~15 µs per socket.
        let direct = self.host_waits.load(Ordering::Relaxed) && dirty.len() <= HOST_WRITES_AT_MOST;
        for path in dirty.drain(..) {
            path.flush_deferred(direct);
        }
    }
}
