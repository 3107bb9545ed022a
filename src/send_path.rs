//! Everything a connection sends goes through its `SendPath`, and every app's sends through
//! its `HostBatch`: together they are the one place that decides who writes a frame (the
//! host now, the host at the end of the batch it is handling, or the I/O thread), how many
//! bytes may wait (backpressure, control frames included), and that nothing of ours follows
//! a close frame.
//!
//! Every frame is encoded once, here, by luna's codec (`frame::encode`). Plain-TCP
//! connections have a `Wire` the host writes encoded frames to itself (SPEC §7 "direct
//! write"); TLS connections queue them in the outbox for their writer task. Frames wait in
//! the outbox too whenever something queued before them must go first.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

use crate::config::Limits;
use crate::error::{Error, ErrorKind, Result};
use crate::event::Opcode;
use crate::frame::deflate::{self, Deflater};
use crate::frame::deflate_params::{Direction, MIN_DEFLATE_WINDOW_BITS};
use crate::frame::encode::{Encoder, FrameHead};
use crate::frame::{self, Role};
use crate::outbox::Outbox;
use crate::stats::Stats;
use crate::wire::Wire;

/// An encoded frame waiting for a connection's writer.
pub(crate) struct Outgoing {
    pub frame: Bytes,
    /// The close frame: nothing may follow it.
    pub close: bool,
}

impl Outgoing {
    fn data(frame: Bytes) -> Outgoing {
        Outgoing {
            frame,
            close: false,
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

/// A server message ready to go to many connections, encoded once and shared; compressed
/// once per window size for the recipients that compress without context takeover.
pub(crate) struct Broadcast {
    frame: Bytes,
    header_len: usize,
    opcode: Opcode,
    /// Compressed frames for window bits 9..=15, made on first need.
    compressed: [OnceLock<Bytes>; 7],
}

impl Broadcast {
    /// Validates `data` for `opcode` and encodes it once.
    pub fn new(data: &[u8], opcode: Opcode) -> Result<Broadcast> {
        check_payload(data, opcode)?;
        let frame = Encoder::new(Role::Server).frame(opcode as u8, data);
        Ok(Broadcast {
            header_len: frame.len() - data.len(),
            frame,
            opcode,
            compressed: Default::default(),
        })
    }

    fn payload(&self) -> &[u8] {
        &self.frame[self.header_len..]
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.frame.len() - self.header_len
    }

    /// The frame compressed on its own with a window of `window_bits`.
    fn compressed(&self, window_bits: u8) -> Bytes {
        let bits = window_bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15);
        let slot = &self.compressed[usize::from(bits - MIN_DEFLATE_WINDOW_BITS)];
        slot.get_or_init(|| {
            let encoder = Encoder::new(Role::Server);
            compressed_frame(&encoder, self.opcode, |out| {
                deflate::compress_once(self.payload(), bits, out)
            })
        })
        .clone()
    }
}

/// How a connection compresses what it sends (permessage-deflate, RFC 7692).
pub(crate) struct Deflate {
    /// Messages shorter than this go uncompressed.
    threshold: usize,
    window_bits: u8,
    /// With context takeover, the connection's own compressor. It stays locked from
    /// compressing a message until its frame is queued, so frames leave in the order the
    /// compressor saw them.
    own: Option<Mutex<Deflater>>,
    /// The app's counters: bytes before and after compression.
    stats: Arc<Stats>,
}

impl Deflate {
    /// `stats` counts the bytes before and after compression.
    pub fn new(direction: Direction, threshold: usize, stats: Arc<Stats>) -> Deflate {
        let Direction {
            window_bits,
            context_takeover,
        } = direction;
        Deflate {
            threshold,
            window_bits,
            own: context_takeover.then(|| Mutex::new(Deflater::new(window_bits, true))),
            stats,
        }
    }
}

/// A compressed message in one frame (RSV1 set, RFC 7692 §6); `compress` writes its payload.
fn compressed_frame(
    encoder: &Encoder,
    opcode: Opcode,
    compress: impl FnOnce(&mut BytesMut),
) -> Bytes {
    let mut payload = BytesMut::new();
    compress(&mut payload);
    let head = FrameHead {
        fin: true,
        rsv1: true,
        opcode: opcode as u8,
    };
    let mut frame = BytesMut::new();
    encoder.encode(head, &payload, &mut frame);
    frame.freeze()
}

/// Checks that `data` may be sent with `opcode`: UTF-8 text, control payloads ≤ 125 bytes.
fn check_payload(data: &[u8], opcode: Opcode) -> Result<()> {
    if opcode == Opcode::Text && simdutf8::basic::from_utf8(data).is_err() {
        return Err(Error::new(
            ErrorKind::InvalidUtf8,
            "text message is not valid UTF-8",
        ));
    }
    match opcode {
        Opcode::Ping | Opcode::Pong if data.len() > frame::MAX_CONTROL_PAYLOAD => Err(
            Error::invalid("ping and pong payloads are limited to 125 bytes"),
        ),
        _ => Ok(()),
    }
}

/// Refuses a message of `len` bytes (before framing and compression) that a send queue of
/// `max_send_queue` bytes could never hold. Anything smaller is admitted to an empty queue,
/// so the limit bounds what one connection may hold, whatever the host sends.
pub(crate) fn check_size(len: usize, max_send_queue: usize) -> Result<()> {
    if len <= max_send_queue {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::TooLarge,
        format!(
            "message of {len} bytes is larger than max_send_queue ({max_send_queue} bytes): it \
             can never be queued; raise max_send_queue or send it in parts"
        ),
    ))
}

/// Checks a close code and reason a caller wants to send (RFC 6455 §7.4).
pub(crate) fn check_close(code: u16, reason: &[u8]) -> Result<&str> {
    if !frame::close_code_allowed(code) {
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
    /// Frames for this connection's end: masked for a client.
    encoder: Encoder,
    /// What waits for the writer task.
    outbox: Outbox<Outgoing>,
    /// Bytes in the outbox (the wire counts its own).
    queued_bytes: AtomicUsize,
    /// The shared write side of a plain-TCP connection, set once it opens.
    wire: OnceLock<Arc<Wire>>,
    /// permessage-deflate, set when the handshake agreed to it.
    deflate: OnceLock<Deflate>,
    max_send_queue: usize,
    close_on_backpressure: bool,
    /// Set while the host's batch holds deferred frames of this connection.
    dirty: AtomicBool,
    close_sent: AtomicBool,
    /// Woken when a close is requested: from then on the connection has a deadline.
    closing: AtomicWaker,
    /// The close frame we sent (or decided to send), reported if the peer never answers.
    our_close: Mutex<Option<(u16, String)>>,
    /// The reader, paused while `max_send_queue` bytes wait, woken as they drain.
    drained: AtomicWaker,
    /// Set while the reader waits for `drained`.
    full: AtomicBool,
}

impl SendPath {
    pub fn new(limits: &Limits, role: Role) -> SendPath {
        SendPath {
            encoder: Encoder::new(role),
            outbox: Outbox::default(),
            queued_bytes: AtomicUsize::new(0),
            wire: OnceLock::new(),
            deflate: OnceLock::new(),
            max_send_queue: limits.max_send_queue,
            close_on_backpressure: limits.close_on_backpressure,
            dirty: AtomicBool::new(false),
            close_sent: AtomicBool::new(false),
            closing: AtomicWaker::new(),
            our_close: Mutex::new(None),
            drained: AtomicWaker::new(),
            full: AtomicBool::new(false),
        }
    }

    /// From now on the host writes frames to `wire` itself.
    pub fn attach_wire(&self, wire: Arc<Wire>) {
        let _ = self.wire.set(wire);
    }

    pub fn wire(&self) -> Option<&Arc<Wire>> {
        self.wire.get()
    }

    /// From now on messages of at least the threshold go compressed.
    pub fn attach_deflate(&self, deflate: Deflate) {
        let _ = self.deflate.set(deflate);
    }

    /// The compression for a message of `len` bytes, when it gets one.
    fn compression_for(&self, len: usize, opcode: Opcode) -> Option<&Deflate> {
        let deflate = self.deflate.get()?;
        let data = matches!(opcode, Opcode::Text | Opcode::Binary);
        (data && len >= deflate.threshold).then_some(deflate)
    }

    /// Validates `data`, encodes it (compressed when agreed and worth it; copied once
    /// either way) and sends it.
    fn send_data(&self, data: &[u8], opcode: Opcode, delivery: Delivery) -> Result<Sent> {
        check_size(data.len(), self.max_send_queue)?;
        check_payload(data, opcode)?;
        self.send_checked(data, opcode, delivery)
    }

    fn send_checked(&self, data: &[u8], opcode: Opcode, delivery: Delivery) -> Result<Sent> {
        let Some(deflate) = self.compression_for(data.len(), opcode) else {
            return self.send(
                Outgoing::data(self.encoder.frame(opcode as u8, data)),
                delivery,
            );
        };
        let Some(own) = &deflate.own else {
            let frame = compressed_frame(&self.encoder, opcode, |out| {
                deflate::compress_once(data, deflate.window_bits, out)
            });
            let len = frame.len();
            let sent = self.send(Outgoing::data(frame), delivery)?;
            deflate.stats.compressed(data.len(), len);
            return Ok(sent);
        };
        let mut deflater = own.lock();
        // Admitted before it is compressed: a message refused after the compressor saw it
        // would leave the peer's window behind ours.
        self.admit_open(data.len())?;
        let frame = compressed_frame(&self.encoder, opcode, |out| deflater.compress(data, out));
        deflate.stats.compressed(data.len(), frame.len());
        self.send_admitted(Outgoing::data(frame), delivery)
    }

    /// Sends a broadcast's shared frame, its shared compressed frame, or (with a compressor
    /// of its own) the message compressed for this connection.
    fn send_broadcast(&self, message: &Broadcast, delivery: Delivery) -> Result<Sent> {
        let payload = message.payload();
        check_size(payload.len(), self.max_send_queue)?;
        match self.compression_for(payload.len(), message.opcode) {
            None => self.send(Outgoing::data(message.frame.clone()), delivery),
            Some(Deflate {
                own: None,
                window_bits,
                stats,
                ..
            }) => {
                let frame = message.compressed(*window_bits);
                let len = frame.len();
                let sent = self.send(Outgoing::data(frame), delivery)?;
                stats.compressed(payload.len(), len);
                Ok(sent)
            }
            Some(_) => self.send_checked(payload, message.opcode, delivery),
        }
    }

    /// Sends a ping or pong the I/O side makes (automatic pings, answers to the peer's
    /// pings); dropped once closing. Never refused for backpressure: the reader stops
    /// reading instead (`room`), which bounds what a peer's pings can queue.
    pub fn send_control(&self, opcode: u8, payload: &[u8]) {
        if self.is_closing() {
            return;
        }
        let item = Outgoing::data(self.encoder.frame(opcode, payload));
        if let Err(item) = self.write_directly(item, Delivery::Now) {
            self.enqueue(item);
        }
    }

    /// Sends `item`: through the wire as `delivery` says when the connection has one and
    /// nothing is queued before it, else through the outbox.
    fn send(&self, item: Outgoing, delivery: Delivery) -> Result<Sent> {
        self.admit_open(item.frame.len())?;
        self.send_admitted(item, delivery)
    }

    /// Whether `len` more bytes may be sent: the connection is not closing, and they fit.
    fn admit_open(&self, len: usize) -> Result<()> {
        if self.is_closing() {
            return Err(Error::closed());
        }
        self.admit(len)
    }

    fn send_admitted(&self, item: Outgoing, delivery: Delivery) -> Result<Sent> {
        let item = match self.write_directly(item, delivery) {
            Ok(sent) => return Ok(sent),
            Err(item) => item,
        };
        match self.enqueue(item) {
            true => Ok(Sent::Queued),
            false => Err(Error::closed()),
        }
    }

    /// Queues `item` for the writer task; false once the connection ended.
    fn enqueue(&self, item: Outgoing) -> bool {
        let len = item.frame.len();
        // Counted before the push, so the writer never subtracts what was not added yet.
        self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if self.outbox.push(item).is_err() {
            self.uncount(len);
            return false;
        }
        true
    }

    /// Bytes waiting to be written: in the outbox and on the wire.
    fn queued(&self) -> usize {
        let pending = self.wire.get().map_or(0, |w| w.pending_len());
        self.queued_bytes.load(Ordering::Acquire) + pending
    }

    /// Backpressure: whether `len` more bytes may wait. An empty queue takes any message
    /// (`check_size` refused those it could never hold).
    fn admit(&self, len: usize) -> Result<()> {
        let queued = self.queued();
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

    /// Puts `item` on the wire unless something queued must go first or the writer holds
    /// the wire; then the item comes back, for the outbox.
    fn write_directly(
        &self,
        item: Outgoing,
        delivery: Delivery,
    ) -> std::result::Result<Sent, Outgoing> {
        let Some(wire) = self.wire.get() else {
            return Err(item);
        };
        let Some(mut pending) = wire.try_lock() else {
            return Err(item);
        };
        // The writer drains the outbox under this lock, so an empty outbox here means
        // every earlier frame is already pending or written.
        if pending.closing || !self.outbox.is_empty() || self.outbox.is_closed() {
            return Err(item);
        }
        wire.push(&mut pending, item.frame);
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
        self.queue_close(Some((code, reason)));
    }

    /// Answers the peer's close frame by echoing its code and reason (RFC 6455 §5.5.1),
    /// unless we sent one already; returns whether it queued the answer.
    pub fn answer_close(&self, peer: Option<(u16, &str)>) -> bool {
        if self.close_sent.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.queue_close(peer);
        true
    }

    fn queue_close(&self, close: Option<(u16, &str)>) {
        self.closing.wake();
        let item = Outgoing {
            frame: self.encoder.close_frame(close),
            close: true,
        };
        self.enqueue(item);
    }

    /// Drops everything queued and closes with 1008: the peer reads too slowly.
    fn close_overflowing(&self) {
        if self.is_closing() {
            return;
        }
        while let Some(item) = self.outbox.try_pop() {
            self.uncount(item.frame.len());
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

    /// The connection ended: later sends answer "closed", and what waits is freed.
    pub fn end(&self) {
        self.outbox.close();
        while let Some(item) = self.outbox.try_pop() {
            self.uncount(item.frame.len());
        }
        if let Some(wire) = self.wire.get() {
            wire.discard(&mut wire.lock());
        }
    }

    fn has_room(&self) -> bool {
        self.queued() < self.max_send_queue
            || self.outbox.is_closed()
            || self.wire.get().is_some_and(|w| w.is_broken())
    }

    /// Waits while `max_send_queue` bytes wait to be written: the reader calls it before
    /// reading on, so a peer that does not read its pongs (or anything else) stops being read.
    pub async fn room(&self) {
        poll_fn(|cx| {
            if self.has_room() {
                return Poll::Ready(());
            }
            self.drained.register(cx.waker());
            self.full.store(true, Ordering::Release);
            if let Some(wire) = self.wire.get() {
                wire.register_drained(cx);
                wire.wake_flusher();
            }
            // Checked again after registering, so a drain in between is never missed.
            match self.has_room() {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
        .await
    }

    /// `len` bytes left the outbox.
    fn uncount(&self, len: usize) {
        let before = self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
        if before - len < self.max_send_queue && self.full.swap(false, Ordering::AcqRel) {
            self.drained.wake();
        }
    }

    /// Writer task of a TLS connection: the next frame, waiting for one; `None` once the
    /// connection ended.
    pub async fn next_frame(&self) -> Option<Outgoing> {
        let item = self.outbox.pop().await?;
        self.uncount(item.frame.len());
        Some(item)
    }

    /// Like `next_frame`, without waiting.
    pub fn try_next_frame(&self) -> Option<Outgoing> {
        let item = self.outbox.try_pop()?;
        self.uncount(item.frame.len());
        Some(item)
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

    /// Writer task of a connection with a wire: moves queued frames to the wire; returns
    /// whether the close frame was among them (nothing follows it).
    pub fn move_to_wire(&self, wire: &Wire) -> bool {
        // Draining under the wire's lock keeps the host's direct writes behind these.
        let mut pending = wire.lock();
        while let Some(item) = self.outbox.try_pop() {
            self.uncount(item.frame.len());
            if pending.closing {
                continue;
            }
            wire.push(&mut pending, item.frame);
            if item.close {
                pending.closing = true;
                return true;
            }
        }
        false
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
        let sent = path.send_data(data, opcode, self.delivery())?;
        self.note(path, sent)
    }

    /// Sends one shared copy of `message` on `path`.
    pub fn send_broadcast(&self, path: &Arc<SendPath>, message: &Broadcast) -> Result<()> {
        let sent = path.send_broadcast(message, self.delivery())?;
        self.note(path, sent)
    }

    /// Remembers a connection that holds deferred frames, for the flush.
    fn note(&self, path: &Arc<SendPath>, sent: Sent) -> Result<()> {
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
