//! Limits and options of an app, with their defaults.

use std::time::Duration;

/// Per-connection limits. Every limit exists so that a hostile or broken peer cannot make the
/// process use unbounded memory or hold resources forever.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest incoming message, reassembled; larger ones close with 1009. Default 16 MiB.
    pub max_message_size: usize,
    /// Largest incoming frame; larger ones close with 1009. Default 16 MiB.
    pub max_frame_size: usize,
    /// Open connections (plus handshakes in progress) an app accepts; further handshakes are
    /// answered 503. `0` = unlimited (the default).
    pub max_connections: usize,
    /// A peer that has not completed the upgrade by then is dropped. Default 10 s.
    pub handshake_timeout: Duration,
    /// Send a ping this often; `None` = never (the default).
    pub ping_interval: Option<Duration>,
    /// Close (1001) a peer that sent nothing for this long; `None` = never (the default).
    pub idle_timeout: Option<Duration>,
    /// Outgoing bytes queued per connection before `send` answers BACKPRESSURE. Default 16 MiB:
    /// one maximum-size message always fits.
    pub max_send_queue: usize,
    /// When a send would pass `max_send_queue`: `false` (the default) answers BACKPRESSURE and
    /// lets the host decide; `true` drops what is queued and closes with 1008, for hosts that
    /// would rather lose a slow peer than handle BACKPRESSURE.
    pub close_on_backpressure: bool,
    /// How long a closing handshake we started may take before the TCP connection is dropped.
    /// Default 1 s: peers on working networks answer in milliseconds.
    pub close_timeout: Duration,
    /// Also deliver PING and PONG payloads as message events. Default false.
    pub control_frames: bool,
    /// Bytes read from the socket at a time. Default 2 KiB: tungstenite's 128 KiB default is
    /// zero-filled before every read and costs that much memory per connection; measured,
    /// 2 KiB holds 10,000 idle connections in 2 KiB less each than 4 KiB did, with no
    /// measurable loss for 32-byte or 16 KiB echoes.
    pub read_buffer_size: usize,
}

pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
pub(crate) const DEFAULT_MAX_FRAME_SIZE: usize = 16 << 20;
pub(crate) const DEFAULT_MAX_SEND_QUEUE: usize = 16 << 20;
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_READ_BUFFER_SIZE: usize = 2048;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_connections: 0,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            ping_interval: None,
            idle_timeout: None,
            max_send_queue: DEFAULT_MAX_SEND_QUEUE,
            close_on_backpressure: false,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            control_frames: false,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
        }
    }
}

impl Limits {
    /// The tungstenite settings that enforce these limits.
    pub fn websocket_config(&self) -> async_tungstenite::tungstenite::protocol::WebSocketConfig {
        async_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            // Frames collect in the write buffer until the writer flushes its whole batch.
            .write_buffer_size(64 << 10)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }
}

/// Checks subprotocol names: RFC 6455 tokens (visible ASCII, no commas).
pub fn check_protocol_names(names: &[String]) -> crate::error::Result<()> {
    for name in names {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            let message = format!("subprotocol name '{name}' is not a valid token");
            return Err(crate::error::Error::invalid(message));
        }
    }
    Ok(())
}

/// What a server app listens on and which subprotocols it serves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `"*"` = every interface (IPv6 dual stack where possible), else a name or an address.
    pub host: String,
    pub port: u16,
    /// Subprotocols the app serves, other than the default handler.
    pub protocols: Vec<String>,
    /// Whether connections that match no protocol are served (by the default handler).
    pub has_default: bool,
    pub limits: Limits,
    /// Serve `wss://` with this certificate and key.
    pub tls: Option<crate::tls::ServerIdentity>,
}
