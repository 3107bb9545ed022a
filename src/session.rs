//! The I/O task of one open connection: reads frames into events, runs the writer that
//! finishes what the host's send path left, answers pings, keeps the connection alive or
//! times it out, and emits its one close event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::error::ProtocolError;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncWrite};
use smol::Timer;

use crate::config::Limits;
use crate::conn::{Conn, Sink};
use crate::error::ErrorKind;
use crate::event::Opcode;
use crate::wire::Wire;

/// What the reader learned about how the connection ended.
#[derive(Default)]
struct Ending {
    peer_close: Option<(u16, String)>,
    /// Why the connection failed, when it did (protocol error, I/O error, timeout).
    failure: Option<(u16, String)>,
}

/// Runs an open connection until it is closed: reads into events, writes what the host
/// queued, answers pings, and emits the final close event.
pub(crate) async fn serve<S>(ws: WebSocketStream<S>, conn: Arc<Conn>, sink: Sink, limits: Limits)
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
        conn.path.closing_requested().await;
        Timer::after(limits.close_timeout * 2 + Duration::from_millis(100)).await;
    };
    reader.or(writer).or(keepalive).or(bounded_close).await;

    // Nothing can be sent any more: later sends answer "closed".
    conn.path.end();
    // The host may keep the handle (and its socket clone) for a while: end TCP now.
    if let Ok(link) = conn.link() {
        let _ = link.socket.shutdown(std::net::Shutdown::Both);
    }
    let ending = ending.into_inner();
    let (code, reason, clean) = match (ending.peer_close, ending.failure) {
        (Some((code, reason)), _) => (code, reason, true),
        (None, Some((code, reason))) => (code, reason, false),
        (None, None) => match conn.path.our_close() {
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
    sink: &Sink,
    limits: &Limits,
    ending: &Mutex<Ending>,
    activity: &Activity,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        // A peer that does not read what we send (pongs included) is not read either.
        if let Some(wire) = conn.path.wire() {
            wire.room().await;
        }
        let Some(item) = receiver.next().await else {
            break;
        };
        activity.touch();
        let (opcode, data) = match item {
            Ok(Message::Text(text)) => (Opcode::Text, Bytes::from(text)),
            Ok(Message::Binary(data)) => (Opcode::Binary, data),
            Ok(Message::Ping(data)) if limits.control_frames => (Opcode::Ping, data),
            Ok(Message::Pong(data)) if limits.control_frames => (Opcode::Pong, data),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Ok(Message::Close(frame)) => {
                let (code, reason) = match frame {
                    Some(f) => (u16::from(f.code), f.reason.as_str().to_owned()),
                    None => (1005, String::new()),
                };
                ending.lock().peer_close = Some((code, reason));
                // Before tungstenite answers it: no data of ours may follow that answer.
                conn.path.peer_closing();
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
            sink.message(conn.id, opcode, data).await;
        }
    }
}

/// Records why a connection failed and, where the protocol asks for it, queues a close
/// frame; returns whether it did.
fn fail(conn: &Conn, sink: &Sink, ending: &Mutex<Ending>, err: WsError) -> bool {
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
            ErrorKind::Protocol,
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
    let result = match conn.path.wire() {
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
    while let Some(first) = conn.path.next_message().await {
        let mut next = Some(first);
        while let Some(message) = next {
            let is_close = matches!(message, Message::Close(_));
            sender.feed(message).await?;
            if is_close {
                sender.flush().await?;
                close_wait(limits, ending).await;
                return Ok(());
            }
            next = conn.path.try_next_message();
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
    while conn.path.writer_has_work(wire).await {
        if let Some(message) = conn.path.move_to_wire(wire) {
            let is_close = matches!(message, Message::Close(_));
            let sent = sender.send(message).await;
            conn.path.message_written(wire);
            sent?;
            if is_close {
                wire.flush().await.map_err(WsError::Io)?;
                close_wait(limits, ending).await;
                return Ok(());
            }
        }
        wire.flush().await.map_err(WsError::Io)?;
    }
    Ok(())
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
            conn.path.push_control(Message::Ping(Bytes::new()));
        }
    }
}
