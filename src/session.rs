//! The I/O task of one open connection: reads frames with luna's codec (`frame::decode`)
//! into events, runs the writer that finishes what the host's send path left, answers
//! pings and close frames, keeps the connection alive or times it out, and emits its one
//! close event. A plain-TCP connection with nothing to read or write parks: its reader and
//! writer are dropped and a small wait for the peer's next bytes or the host's next frame
//! stands in for them, so an idle connection keeps only what it must.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use smol::Timer;

use crate::config::{Limits, RateAction};
use crate::conn::{clock_micros, Conn, Sink};
use crate::error::ErrorKind;
use crate::event::{Event, Opcode};
use crate::frame::decode::{DataOpcode, Decoder, DecoderConfig, Item, Message, Violation};
use crate::frame::deflate::{self, Inflater};
use crate::frame::deflate_params::Direction;
use crate::frame::{opcode, Role};
use crate::rate_limit::{Bucket, RateLimit};
use crate::wire::Wire;

/// A reservation for a frame's payload is made up front up to this size; past it the buffer
/// grows as bytes arrive, so a peer that only announces a huge frame costs nothing.
const MAX_UPFRONT_RESERVE: usize = 1 << 20;

/// A busy connection (its last park lasted less than this) parks again only once its active
/// phase is this old: one that trades messages all the time would otherwise box and drop
/// its reader and writer for every message. One that goes quiet sooner parks at its next
/// wake-up (when the keepalive's ping is answered, at the latest). Any other connection
/// parks as soon as it is idle.
const PARK_AFTER: Duration = Duration::from_millis(10);

/// `parked_at` of a connection that never parked.
const NEVER: u64 = u64::MAX;

/// While an app's connections hold more unfinished messages than its backlog limit, those
/// holding at least this much are closed (1013); smaller ones are not the cause.
const HOLD_SHARE: usize = 64 << 10;

/// TLS connections gather small frames into writes of about this size.
const TLS_WRITE_BATCH: usize = 64 << 10;

/// What a connection is once its opening handshake is done.
pub(crate) struct Opened<S> {
    /// The byte stream: a plain TCP socket (written through the connection's wire) or a
    /// TLS stream (read and written here).
    pub stream: S,
    /// What the peer sent after its handshake (its first frames, if it did not wait).
    pub rest: Vec<u8>,
    pub role: Role,
    /// permessage-deflate as the peer compresses, when agreed.
    pub inflate: Option<Direction>,
    /// Run once the connection is over and its close event emitted (a server forgets it
    /// here). Carried in, not run by the caller after `serve`, so the task holds no second
    /// copy of this future.
    pub on_end: Option<Box<dyn FnOnce() + Send>>,
}

/// A plain TCP socket as the session reads it: through its wire, which waits on the bare
/// reactor source (a `smol::net::TcpStream` also carries room for a readiness future each
/// way, which every idle connection would keep) and skips the reads bound to fail.
pub(crate) struct PlainSocket(Arc<Wire>);

impl PlainSocket {
    pub fn new(wire: Arc<Wire>) -> Self {
        PlainSocket(wire)
    }
}

impl AsyncRead for PlainSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_read(cx, buf)
    }
}

impl AsyncWrite for PlainSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0.socket()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.socket()).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.socket()).poll_close(cx)
    }
}

/// What the reader learned about how the connection ended. Boxed codes and reasons: only an
/// ending connection has them, so the others keep two pointers.
#[derive(Default)]
struct Ending {
    peer_close: Option<Box<(u16, String)>>,
    /// Why the connection failed, when it did (protocol error, I/O error, timeout).
    failure: Option<Box<(u16, String)>>,
}

/// The parts of a connection its reader and writer share.
struct Session<'a> {
    conn: &'a Conn,
    sink: &'a Sink,
    limits: &'a Limits,
    role: Role,
    ending: Mutex<Ending>,
    /// The reader waits for the peer with nothing left to decode.
    reader_idle: AtomicBool,
    /// The writer waits for the host with nothing left to write.
    writer_idle: AtomicBool,
    /// The current active phase read or wrote something.
    phase_moved: AtomicBool,
    /// When the current active phase began (`Activity`'s clock, in microseconds).
    phase_start: AtomicU64,
    /// The last park was shorter than `PARK_AFTER`.
    phase_busy: AtomicBool,
    /// When the connection last parked (`Activity`'s clock), `NEVER` before its first.
    parked_at: AtomicU64,
    /// Bytes of unfinished messages and frames it holds, as counted in the app's backlog.
    held: AtomicUsize,
}

/// What the reader keeps from one read to the next, also while the connection is parked.
/// The rarely used parts are boxed, so a connection without them keeps no room for them.
struct ReadState<'a> {
    /// Made when bytes come, dropped when a plain connection parks between two messages: a
    /// parked connection keeps a pointer, not the decoder.
    decoder: Option<Box<Decoder>>,
    /// Our end, and whether the peer compresses: with the limits, the decoder's settings.
    role: Role,
    inflating: bool,
    /// With context takeover the peer's window lives here; without, each I/O thread lends
    /// one decompressor per message.
    own_inflater: Option<Box<Inflater>>,
    limiter: Option<Box<(&'a RateLimit, Bucket)>>,
    /// Read and not yet decoded (empty and unallocated while idle).
    input: BytesMut,
}

/// What comes after a phase of a plain connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Both sides are idle: the connection parks.
    Park,
    /// The connection is over.
    End,
}

/// Runs an open connection until it is closed: reads into events, writes what the host
/// queued, answers pings, and emits the final close event.
pub(crate) async fn serve<S>(
    mut opened: Opened<S>,
    conn: Arc<Conn>,
    sink: Arc<Sink>,
    limits: Arc<Limits>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let session = Session {
        conn: &conn,
        sink: &sink,
        limits: &limits,
        role: opened.role,
        ending: Mutex::new(Ending::default()),
        reader_idle: AtomicBool::new(false),
        writer_idle: AtomicBool::new(false),
        phase_moved: AtomicBool::new(false),
        phase_start: AtomicU64::new(0),
        phase_busy: AtomicBool::new(false),
        parked_at: AtomicU64::new(NEVER),
        held: AtomicUsize::new(0),
    };
    let rest = BytesMut::from(&std::mem::take(&mut opened.rest)[..]);
    let mut reading = ReadState::new(&limits, opened.role, opened.inflate, rest);
    conn.activity.touch();
    // One expression: a future bound to a name would keep its room in the task after being
    // moved into the next one.
    session
        .running(&mut opened.stream, &mut reading)
        .or(session.bounded_close())
        .await;
    session.end();
    if let Some(on_end) = opened.on_end {
        on_end();
    }
}

impl<'a> ReadState<'a> {
    fn new(limits: &'a Limits, role: Role, inflate: Option<Direction>, input: BytesMut) -> Self {
        ReadState {
            decoder: None,
            role,
            inflating: inflate.is_some(),
            own_inflater: inflate
                .filter(|d| d.context_takeover)
                .map(|d| Box::new(Inflater::new(d.window_bits, true))),
            limiter: (limits.rate_limit.as_ref()).map(|limit| Box::new((limit, limit.bucket()))),
            input,
        }
    }

    /// Drops the decoder when it holds nothing of a frame or message (nor does the input):
    /// the next read makes a fresh one.
    fn drop_idle_decoder(&mut self) {
        if self.input.is_empty() && self.decoder.as_ref().is_some_and(|d| d.is_idle()) {
            self.decoder = None;
        }
    }
}

impl Session<'_> {
    /// The reader and the writer, until the connection is over.
    async fn running<S>(&self, stream: &mut S, reading: &mut ReadState<'_>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        match self.conn.path.wire() {
            // A plain socket: the host and the writer write through the wire.
            Some(wire) => self.serve_plain(stream, wire, reading).await,
            // Boxed: a connection without a wire never parks, and its state would only widen
            // the others'.
            None => Box::pin(self.serve_stream(stream, reading)).await,
        }
    }

    /// A peer that stops reading cannot hold a closing connection open: once a close was
    /// requested, the queue and the handshake get two close timeouts in all.
    async fn bounded_close(&self) {
        self.conn.path.closing_requested().await;
        // Boxed: only a closing connection needs room for the timer.
        Box::pin(sleep(
            self.limits.close_timeout * 2 + Duration::from_millis(100),
        ))
        .await;
    }

    /// A plain-TCP connection: its reader and writer run (boxed) until both wait with
    /// nothing to do; then it parks until the peer sends or the host queues a frame.
    async fn serve_plain<S>(&self, stream: &mut S, wire: &Wire, reading: &mut ReadState<'_>)
    where
        S: AsyncRead + Unpin + Send,
    {
        loop {
            if self.active(stream, wire, reading).await == Next::End {
                return;
            }
            reading.drop_idle_decoder();
            wire.release_idle_queue();
            let now = clock_micros();
            self.parked_at.store(now, Ordering::Relaxed);
            // Readiness, not a read: the reader's last read already found the socket empty.
            // One poll for both (references only), as this is all a parked connection keeps.
            let woken = poll_fn(|cx| match wire.poll_readable(cx) {
                Poll::Ready(()) => Poll::Ready(true),
                Poll::Pending => self.conn.path.poll_writer_has_work(wire, cx),
            });
            if !woken.await {
                return;
            }
        }
    }

    /// The reader and writer of a plain connection, boxed (a parked connection keeps no room
    /// for them), until both are idle (`Park`) or the connection is over.
    fn active<'s, S>(
        &'s self,
        stream: &'s mut S,
        wire: &'s Wire,
        reading: &'s mut ReadState<'_>,
    ) -> Pin<Box<dyn Future<Output = Next> + Send + 's>>
    where
        S: AsyncRead + Unpin + Send,
    {
        self.reader_idle.store(false, Ordering::Relaxed);
        self.writer_idle.store(false, Ordering::Relaxed);
        self.phase_moved.store(false, Ordering::Relaxed);
        let now = clock_micros();
        self.phase_start.store(now, Ordering::Relaxed);
        let parked_at = self.parked_at.load(Ordering::Relaxed);
        let busy =
            parked_at != NEVER && now.saturating_sub(parked_at) < PARK_AFTER.as_micros() as u64;
        self.phase_busy.store(busy, Ordering::Relaxed);
        let reader = self.read_loop(stream, reading);
        Box::pin(reader.or(self.wire_write_loop(wire)))
    }

    /// A connection without a wire (TLS, or a client's): reader and writer on the two halves
    /// of the stream, never parked (a TLS session's state is kept whatever the connection
    /// does, and a client holds few connections).
    async fn serve_stream<S>(&self, stream: &mut S, reading: &mut ReadState<'_>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut reader, writer) = smol::io::split(stream);
        let reader = async {
            self.read_loop(&mut reader, reading).await;
        };
        reader.or(self.stream_write_loop(writer)).await;
    }

    /// Awaits `wait`, one side's wait with nothing to do; `None` instead once the other side
    /// waits too and the connection may park (checked again at every wake-up).
    async fn idle_point<T>(
        &self,
        mine: &AtomicBool,
        other: &AtomicBool,
        wait: impl Future<Output = T>,
    ) -> Option<T> {
        let mut wait = pin!(wait);
        poll_fn(|cx| {
            if let Poll::Ready(ready) = wait.as_mut().poll(cx) {
                mine.store(false, Ordering::Relaxed);
                return Poll::Ready(Some(ready));
            }
            mine.store(true, Ordering::Relaxed);
            match other.load(Ordering::Relaxed) && self.may_park() {
                true => Poll::Ready(None),
                false => Poll::Pending,
            }
        })
        .await
    }

    /// Whether an idle connection parks now: at once unless it is busy and this phase moved
    /// data, else once the phase is `PARK_AFTER` old.
    fn may_park(&self) -> bool {
        if !self.phase_busy.load(Ordering::Relaxed) || !self.phase_moved.load(Ordering::Relaxed) {
            return true;
        }
        let age = clock_micros().saturating_sub(self.phase_start.load(Ordering::Relaxed));
        age >= PARK_AFTER.as_micros() as u64
    }

    /// Reads what the peer sent into `input`; false once the connection is lost (recorded).
    async fn read_into<R: AsyncRead + Unpin>(&self, reader: &mut R, input: &mut BytesMut) -> bool {
        match read_more(reader, input, self.limits.read_buffer_size).await {
            Ok(0) => {
                let why = "the peer closed the TCP connection without a closing handshake";
                self.fail(1006, why.into());
                false
            }
            Ok(_) => {
                self.conn.activity.touch();
                self.phase_moved.store(true, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.fail(1006, format!("connection lost: {e}"));
                false
            }
        }
    }

    /// Reads frames until the connection ends (`End`, the peer's close frame or the failure
    /// recorded) or, on a plain connection, until it may park.
    async fn read_loop<R: AsyncRead + Unpin>(
        &self,
        reader: &mut R,
        state: &mut ReadState<'_>,
    ) -> Next {
        let ReadState {
            decoder,
            role,
            inflating,
            own_inflater,
            limiter,
            input,
        } = state;
        let config = DecoderConfig {
            role: *role,
            max_frame_size: self.limits.max_frame_size,
            max_message_size: self.limits.max_message_size,
            deflate: *inflating,
        };
        let decoder = decoder.get_or_insert_with(|| Box::new(Decoder::new(config)));
        loop {
            // Everything already read first: messages before a broken rule are delivered.
            loop {
                let item = match decoder.feed(input) {
                    Ok(Some(Item::Close(close))) => {
                        // Boxed (as the other ways out): room for them is not kept by every
                        // reader.
                        Box::pin(self.peer_closed(close, reader)).await;
                        return Next::End;
                    }
                    Ok(Some(Item::Message(message))) if message.compressed => inflate(
                        message,
                        own_inflater.as_deref_mut(),
                        self.limits.max_message_size,
                    ),
                    Ok(Some(item)) => Ok(item),
                    Ok(None) => break,
                    Err(violation) => Err(violation),
                };
                match item {
                    Ok(item) => {
                        let counted = match &item {
                            Item::Message(message) => Some(message.data.len()),
                            _ => None,
                        };
                        self.deliver(item).await;
                        if let (Some(len), Some((limit, bucket))) =
                            (counted, limiter.as_deref_mut())
                        {
                            let owed = bucket.take(limit, len, Instant::now());
                            let paused = |owed| Box::pin(self.over_rate_limit(limit.action, owed));
                            if !owed.is_zero() && !paused(owed).await {
                                *limiter = None;
                            }
                        }
                    }
                    Err(violation) => {
                        Box::pin(self.violated(violation)).await;
                        return Next::End;
                    }
                }
            }
            if let Some(violation) = self.hold(input.len() + decoder.unfinished()) {
                Box::pin(self.violated(violation)).await;
                return Next::End;
            }
            if input.is_empty() {
                // Idle: the buffer goes back, so an idle connection holds no read memory.
                *input = BytesMut::new();
            }
            // A peer that does not read what we send (pongs included) is not read either.
            self.conn.path.room().await;
            // A frame larger than one read gets its room at once, not by repeated doubling.
            let missing = decoder.missing(input);
            if missing > self.limits.read_buffer_size {
                input.reserve(missing.min(MAX_UPFRONT_RESERVE));
            }
            let read = self.read_into(reader, input);
            match self
                .idle_point(&self.reader_idle, &self.writer_idle, read)
                .await
            {
                Some(true) => {}
                Some(false) => return Next::End,
                None => return Next::Park,
            }
        }
    }

    /// Counts the `held` bytes of unfinished messages into the app's total. While all its
    /// connections together hold more than the backlog limit, one that holds a share of it
    /// (`HOLD_SHARE` or more) is closed with 1013: slow, half-sent messages cannot take the
    /// memory that whole ones waiting for the host may not.
    fn hold(&self, held: usize) -> Option<Violation> {
        let before = self.held.swap(held, Ordering::Relaxed);
        if before == held {
            return None;
        }
        let over = self.sink.hold(before, held);
        (over && held >= HOLD_SHARE).then_some(Violation {
            code: 1013,
            reason: "the server holds too many unfinished messages; try again later",
        })
    }

    /// A peer went over its rate limit by `owed`: paused that long (what it sent stays
    /// buffered, TCP slows it), or closed with 1008; false when it is closing.
    async fn over_rate_limit(&self, action: RateAction, owed: Duration) -> bool {
        self.sink
            .stats()
            .rate_limited
            .fetch_add(1, Ordering::Relaxed);
        match action {
            RateAction::Pause => {
                Timer::after(owed).await;
                true
            }
            RateAction::Close => {
                self.conn.close(1008, "rate limit exceeded");
                false
            }
        }
    }

    /// Hands a message, ping or pong to the host; answers a ping.
    async fn deliver(&self, item: Item) {
        let (opcode, data) = match item {
            Item::Message(message) => {
                let opcode = match message.opcode {
                    DataOpcode::Text => Opcode::Text,
                    DataOpcode::Binary => Opcode::Binary,
                };
                (opcode, message.data)
            }
            Item::Ping(payload) => {
                self.conn.path.send_control(opcode::PONG, &payload);
                (Opcode::Ping, payload)
            }
            Item::Pong(payload) => (Opcode::Pong, payload),
            Item::Close(_) => return,
        };
        let control = matches!(opcode, Opcode::Ping | Opcode::Pong);
        // After we started closing, the host no longer expects messages (RFC 6455 §1.4).
        if (!control || self.limits.control_frames) && !self.conn.is_closing() {
            self.sink.message(self.conn.id, opcode, data).await;
        }
    }

    /// The peer's close frame arrived: answer it and end as RFC 6455 §7.1 says.
    async fn peer_closed<R: AsyncRead + Unpin>(
        &self,
        close: Option<(u16, String)>,
        reader: &mut R,
    ) {
        let recorded = close.clone().unwrap_or((1005, String::new()));
        self.ending.lock().peer_close = Some(Box::new(recorded));
        let echo = close
            .as_ref()
            .map(|(code, reason)| (*code, reason.as_str()));
        let answered = self.conn.path.answer_close(echo);
        match self.role {
            // The writer ends the connection once the answer is out (the server closes TCP
            // first); when we had closed first, the handshake is complete now.
            Role::Server if answered => smol::future::pending().await,
            Role::Server => {}
            // A client waits for the server to close TCP, but not forever.
            Role::Client => {
                drain(reader).or(sleep(self.limits.close_timeout)).await;
            }
        }
    }

    /// The peer broke a rule of RFC 6455. What it sent before is queued for the host; the
    /// host's next flush closes the connection with the rule's code, after what it sent in
    /// answer to those messages. A host that does not flush in time is not waited for.
    async fn violated(&self, violation: Violation) {
        let Violation { code, reason } = violation;
        let id = self.conn.id;
        let message = format!("connection {id}: {reason} (closing with {code})");
        self.sink.error(id, ErrorKind::Protocol, message);
        self.sink.push(Event::Failed {
            conn: id,
            code,
            reason,
        });
        self.ending.lock().failure = Some(Box::new((code, reason.to_owned())));
        let host_closed = self.conn.path.closing_requested();
        host_closed.or(sleep(self.limits.close_timeout)).await;
        self.conn.close(code, reason);
        // The writer ends the connection once the close frame is out.
        smol::future::pending().await
    }

    /// Records a failure that ends the connection without a closing handshake.
    fn fail(&self, code: u16, why: String) {
        let mut ending = self.ending.lock();
        if ending.failure.is_none() {
            ending.failure = Some(Box::new((code, why)));
        }
    }

    /// The writer of a plain-TCP connection: moves queued frames to the wire and finishes
    /// the writes the host left when the socket was full, until the connection ends or may
    /// park.
    async fn wire_write_loop(&self, wire: &Wire) -> Next {
        loop {
            let work = self.conn.path.writer_has_work(wire);
            match self
                .idle_point(&self.writer_idle, &self.reader_idle, work)
                .await
            {
                Some(true) => self.phase_moved.store(true, Ordering::Relaxed),
                Some(false) => return Next::End,
                None => return Next::Park,
            }
            let closed = self.conn.path.move_to_wire(wire);
            if let Err(e) = self.conn.path.flush_wire(wire).await {
                self.fail(1006, format!("write failed: {e}"));
                return Next::End;
            }
            if closed {
                self.after_close().await;
                return Next::End;
            }
        }
    }

    /// The writer of a TLS connection: writes queued frames, a batch at a time (one TLS
    /// record and write for many small frames).
    async fn stream_write_loop<W: AsyncWrite + Unpin>(&self, mut writer: W) {
        while let Some(first) = self.conn.path.next_frame().await {
            // A fresh batch each time: an idle connection keeps no write buffer.
            let mut batch = Vec::new();
            let mut next = Some(first);
            let mut closed = false;
            while let Some(item) = next.take() {
                batch.extend_from_slice(&item.frame);
                closed = item.close;
                if closed || batch.len() >= TLS_WRITE_BATCH {
                    break;
                }
                next = self.conn.path.try_next_frame();
            }
            let written = async {
                writer.write_all(&batch).await?;
                writer.flush().await
            };
            if let Err(e) = written.await {
                return self.fail(1006, format!("write failed: {e}"));
            }
            if closed {
                return self.after_close().await;
            }
        }
    }

    /// After our close frame went out: a failed connection is dropped at once; an answered
    /// close is complete (a client still waits for the server to close TCP); a close we
    /// started waits for the peer's answer, read by the reader, but not forever.
    async fn after_close(&self) {
        let (failed, answered) = {
            let ending = self.ending.lock();
            (ending.failure.is_some(), ending.peer_close.is_some())
        };
        match (failed, answered, self.role) {
            (true, _, _) | (false, true, Role::Server) => {}
            (false, true, Role::Client) => smol::future::pending().await,
            (false, false, _) => sleep(self.limits.close_timeout).await,
        }
    }

    /// The connection is over: no more sends, TCP shut, the one close event emitted.
    fn end(self) {
        self.sink.hold(self.held.load(Ordering::Relaxed), 0);
        let conn = self.conn;
        // Nothing can be sent any more: later sends answer "closed".
        conn.path.end();
        // The host may keep the handle (and its socket clone) for a while: end TCP now.
        if let Ok(socket) = conn.link().and_then(|link| link.socket()) {
            let _ = socket.get_ref().shutdown(std::net::Shutdown::Both);
        }
        let ending = self.ending.into_inner();
        let (code, reason, clean) = match (ending.peer_close, ending.failure) {
            (Some(close), _) => (close.0, close.1, true),
            (None, Some(failure)) => (failure.0, failure.1, false),
            (None, None) => match conn.path.our_close() {
                Some((code, reason)) => (code, reason, false),
                None => (
                    1006,
                    "connection dropped without a closing handshake".into(),
                    false,
                ),
            },
        };
        conn.emit_close(self.sink, code, reason, clean);
    }
}

/// A compressed message inflated, bounded by `max` (1009 past it), its text checked (1007).
fn inflate(message: Message, own: Option<&mut Inflater>, max: usize) -> Result<Item, Violation> {
    let data = match own {
        Some(inflater) => inflater.inflate(&message.data, max)?,
        None => deflate::inflate_once(&message.data, max)?,
    };
    if message.opcode == DataOpcode::Text && simdutf8::basic::from_utf8(&data).is_err() {
        return Err(Violation {
            code: 1007,
            reason: "invalid UTF-8 in a text message",
        });
    }
    Ok(Item::Message(Message {
        opcode: message.opcode,
        data: data.freeze(),
        compressed: false,
    }))
}

thread_local! {
    /// Each I/O thread reads into one buffer of its own and copies what arrived into the
    /// connection's input, so an idle connection holds no read buffer and nothing is
    /// zero-filled per read.
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads what the socket has (up to `size` bytes) and appends it to `input`; 0 at the end
/// of the stream.
async fn read_more<R: AsyncRead + Unpin>(
    reader: &mut R,
    input: &mut BytesMut,
    size: usize,
) -> io::Result<usize> {
    poll_fn(|cx| {
        READ_BUFFER.with_borrow_mut(|buffer| {
            if buffer.len() < size {
                buffer.resize(size, 0);
            }
            let polled = Pin::new(&mut *reader).poll_read(cx, &mut buffer[..size]);
            if let Poll::Ready(Ok(n)) = polled {
                input.extend_from_slice(&buffer[..n]);
            }
            polled
        })
    })
    .await
}

async fn sleep(duration: Duration) {
    Timer::after(duration).await;
}

/// Reads and drops everything until the stream ends.
async fn drain<R: AsyncRead + Unpin>(reader: &mut R) {
    let mut scratch = BytesMut::new();
    while let Ok(1..) = read_more(reader, &mut scratch, 4096).await {
        scratch.clear();
    }
}
