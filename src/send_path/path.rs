//! The outgoing side of one connection, on the host's side: a message is encoded, admitted
//! against the connection's `SendBudget`, routed to the wire or the outbox, and written.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::{Mutex, MutexGuard};

use super::batch::{Delivery, Sent};
use super::encode::{check_payload, compressed_frame, Broadcast, Deflate};
use crate::config::Limits;
use crate::error::{Error, ErrorKind, Result};
use crate::event::Opcode;
use crate::frame::encode::{Encoder, FrameHead};
use crate::frame::Role;
use crate::outbox::Outbox;
use crate::send_budget::SendBudget;
use crate::wire::{Pending, Wire, SMALL_FRAME};

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

/// The outgoing side of one connection.
pub(crate) struct SendPath {
    /// Frames for this connection's end: masked for a client.
    pub(super) encoder: Encoder,
    /// What waits for the writer task.
    pub(super) outbox: Outbox<Outgoing>,
    /// How many bytes may wait, in the outbox and on the wire.
    pub(super) budget: SendBudget,
    /// The shared write side of a plain-TCP connection, set once it opens.
    wire: OnceLock<Arc<Wire>>,
    /// permessage-deflate, set when the handshake agreed to it (boxed: a connection without
    /// it keeps a pointer, not the settings).
    deflate: OnceLock<Box<Deflate>>,
    close_on_backpressure: bool,
    /// Set while the host's batch holds deferred frames of this connection.
    pub(super) in_batch: AtomicBool,
    pub(super) close_sent: AtomicBool,
    /// Woken when a close is requested: from then on the connection has a deadline.
    pub(super) closing: AtomicWaker,
    /// The close frame we sent (or decided to send), reported if the peer never answers;
    /// boxed, as only a closing connection has one.
    pub(super) our_close: Mutex<Option<Box<(u16, String)>>>,
}

impl SendPath {
    pub fn new(limits: &Limits, role: Role) -> SendPath {
        SendPath {
            encoder: Encoder::new(role),
            outbox: Outbox::default(),
            budget: SendBudget::new(limits.max_send_queue),
            wire: OnceLock::new(),
            deflate: OnceLock::new(),
            close_on_backpressure: limits.close_on_backpressure,
            in_batch: AtomicBool::new(false),
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

    /// From now on messages of at least the threshold go compressed.
    pub fn attach_deflate(&self, deflate: Deflate) {
        let _ = self.deflate.set(Box::new(deflate));
    }

    /// The compression for a message of `len` bytes, when it gets one.
    fn compression_for(&self, len: usize, opcode: Opcode) -> Option<&Deflate> {
        let deflate: &Deflate = self.deflate.get()?;
        let data = matches!(opcode, Opcode::Text | Opcode::Binary);
        (data && len >= deflate.threshold).then_some(deflate)
    }

    /// Checks a host's message and sends it.
    pub(super) fn send_message(
        &self,
        data: &[u8],
        opcode: Opcode,
        delivery: Delivery,
    ) -> Result<Sent> {
        self.budget.check_size(data.len())?;
        check_payload(data, opcode)?;
        self.encode_and_route(data, opcode, delivery)
    }

    /// Encodes a checked message (compressed when agreed and worth it; copied once either
    /// way), admits it and routes it.
    fn encode_and_route(&self, data: &[u8], opcode: Opcode, delivery: Delivery) -> Result<Sent> {
        let Some(deflate) = self.compression_for(data.len(), opcode) else {
            return self.encode_plain_and_route(data, opcode, delivery);
        };
        let Some(own) = &deflate.own else {
            let frame = deflate.compress_once(&self.encoder, opcode, data);
            return self.route_compressed(frame, data.len(), deflate, delivery);
        };
        let mut deflater = own.lock();
        // Admitted before it is compressed: a message refused after the compressor saw it
        // would leave the peer's window behind ours.
        self.admit(data.len())?;
        let frame = compressed_frame(&self.encoder, opcode, |out| deflater.compress(data, out));
        deflate.stats.compressed(data.len(), frame.len());
        self.route(Outgoing::data(frame), delivery)
    }

    /// An uncompressed message: a small one is encoded straight into the wire's open buffer
    /// when it may go onto the wire (no allocation of its own), else framed on its own.
    fn encode_plain_and_route(
        &self,
        data: &[u8],
        opcode: Opcode,
        delivery: Delivery,
    ) -> Result<Sent> {
        if data.len() > SMALL_FRAME {
            return self.admit_and_route(self.encoder.frame(opcode as u8, data), delivery);
        }
        self.admit(self.encoder.frame_len(data.len()))?;
        if let Some((wire, mut pending)) = self.writable_wire() {
            let head = FrameHead::single(opcode as u8);
            wire.push_encoded(&self.budget, &mut pending, |out| {
                self.encoder.encode(head, data, out)
            });
            return Ok(pushed(wire, &self.budget, &mut pending, delivery));
        }
        let item = Outgoing::data(self.encoder.frame(opcode as u8, data));
        match self.queue(item) {
            true => Ok(Sent::Queued),
            false => Err(Error::closed()),
        }
    }

    /// Sends a broadcast's shared frame, its shared compressed frame, or (with a compressor
    /// of its own) the message compressed for this connection.
    pub(super) fn send_broadcast(&self, message: &Broadcast, delivery: Delivery) -> Result<Sent> {
        let payload = message.payload();
        self.budget.check_size(payload.len())?;
        match self.compression_for(payload.len(), message.opcode) {
            None => self.admit_and_route(message.frame.clone(), delivery),
            Some(deflate @ Deflate { own: None, .. }) => {
                let frame = message.compressed(deflate.window_bits, deflate.level);
                self.route_compressed(frame, payload.len(), deflate, delivery)
            }
            Some(_) => self.encode_and_route(payload, message.opcode, delivery),
        }
    }

    /// Admits and routes a frame compressed on its own from `len` bytes; counts the
    /// compression once it is sent.
    fn route_compressed(
        &self,
        frame: Bytes,
        len: usize,
        deflate: &Deflate,
        delivery: Delivery,
    ) -> Result<Sent> {
        let compressed = frame.len();
        let sent = self.admit_and_route(frame, delivery)?;
        deflate.stats.compressed(len, compressed);
        Ok(sent)
    }

    /// Sends a ping or pong the I/O side makes (automatic pings, answers to the peer's
    /// pings); dropped once closing. Never refused for backpressure: the reader stops
    /// reading instead (`room`), which bounds what a peer's pings can queue.
    pub fn send_control(&self, opcode: u8, payload: &[u8]) {
        if self.is_closing() {
            return;
        }
        let item = Outgoing::data(self.encoder.frame(opcode, payload));
        if let Err(item) = self.write_to_wire(item, Delivery::Now) {
            self.queue(item);
        }
    }

    fn admit_and_route(&self, frame: Bytes, delivery: Delivery) -> Result<Sent> {
        self.admit(frame.len())?;
        self.route(Outgoing::data(frame), delivery)
    }

    /// Whether `len` more bytes may be sent: the connection is not closing, and they fit
    /// the budget. A send that does not fit answers BACKPRESSURE, or closes the connection
    /// with 1008 under `close_on_backpressure`.
    fn admit(&self, len: usize) -> Result<()> {
        if self.is_closing() {
            return Err(Error::closed());
        }
        let Err(queued) = self.budget.admit(len) else {
            return Ok(());
        };
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

    /// Routes an admitted frame: onto the wire as `delivery` says when the connection has
    /// one and nothing is queued before it, else into the outbox.
    fn route(&self, item: Outgoing, delivery: Delivery) -> Result<Sent> {
        let item = match self.write_to_wire(item, delivery) {
            Ok(sent) => return Ok(sent),
            Err(item) => item,
        };
        match self.queue(item) {
            true => Ok(Sent::Queued),
            false => Err(Error::closed()),
        }
    }

    /// Puts `item` on the wire unless something queued must go first or the writer holds
    /// the wire; then the item comes back, for the outbox.
    fn write_to_wire(
        &self,
        item: Outgoing,
        delivery: Delivery,
    ) -> std::result::Result<Sent, Outgoing> {
        let Some((wire, mut pending)) = self.writable_wire() else {
            return Err(item);
        };
        wire.push(&self.budget, &mut pending, item.frame);
        Ok(pushed(wire, &self.budget, &mut pending, delivery))
    }

    /// The wire, locked, when a frame may go onto it now: the connection has one, the
    /// writer does not hold it, and nothing queued must go first.
    fn writable_wire(&self) -> Option<(&Wire, MutexGuard<'_, Pending>)> {
        let wire = self.wire.get()?;
        let pending = wire.try_lock()?;
        // The writer drains the outbox under this lock, so an empty outbox here means
        // every earlier frame is already pending or written.
        if pending.is_closing() || !self.outbox.is_empty() || self.outbox.is_closed() {
            return None;
        }
        Some((wire, pending))
    }

    /// Queues `item` for the writer task; false once the connection ended.
    pub(super) fn queue(&self, item: Outgoing) -> bool {
        let len = item.frame.len();
        self.budget.outbox_grew(len);
        if self.outbox.push(item).is_err() {
            self.budget.outbox_shrank(len);
            return false;
        }
        true
    }
}

/// After a frame went onto the wire: written now, at the batch's flush, or by the I/O
/// thread, as `delivery` says.
fn pushed(wire: &Wire, budget: &SendBudget, pending: &mut Pending, delivery: Delivery) -> Sent {
    match delivery {
        Delivery::Batch => return Sent::Deferred,
        Delivery::Now => drop(wire.write_out(budget, pending)),
        Delivery::IoThread => wire.wake_flusher(),
    }
    Sent::Queued
}
