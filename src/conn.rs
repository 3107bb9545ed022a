//! The host-side handle of one connection: its id, what its handshake agreed, and the send
//! path the host writes through. The I/O task that runs it is `session`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use smol::net::TcpStream;
use smol::Async;

use crate::config::Limits;
use crate::error::{Error, ErrorKind, Result};
use crate::event::{Event, EventSink};
use crate::frame::Role;
use crate::http::request::Request;
use crate::send_path::SendPath;
use crate::wire::Wire;

/// The events of an app: an OPEN carries the connection's handle.
pub(crate) type ConnEvent = Event<Arc<Conn>>;
/// The I/O side's end of an app's event queue.
pub(crate) type Sink = EventSink<Arc<Conn>>;

/// The group of connections served by the default handler (no subprotocol matched).
pub(crate) const DEFAULT_GROUP: u32 = u32::MAX;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh connection id; ids are never reused within a process.
pub(crate) fn next_id() -> u64 {
    NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed)
}

/// Whether `id` was ever handed out (so a missing connection is "closed", not "unknown").
pub(crate) fn was_issued(id: u64) -> bool {
    id != 0 && id < NEXT_CONN_ID.load(Ordering::Relaxed)
}

/// Shows IPv4 peers of a dual-stack socket as plain IPv4.
pub(crate) fn normalize_peer(peer: SocketAddr) -> SocketAddr {
    match peer.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), peer.port()),
            None => peer,
        },
        IpAddr::V4(_) => peer,
    }
}

/// The shared handle of a connection. A client connection exists (and queues sends)
/// before its socket does.
pub(crate) struct Conn {
    pub id: u64,
    /// Index of the matched protocol in the app's list, or `DEFAULT_GROUP`.
    pub group: u32,
    link: OnceLock<Link>,
    /// Everything outgoing; shared with the app's batch while it holds deferred frames.
    pub path: Arc<SendPath>,
    /// When the peer last sent anything, for the keepalive.
    pub activity: Activity,
    close_emitted: AtomicBool,
}

/// When the peer last sent anything, in milliseconds of `clock_micros`'s clock: one number
/// per connection, not a start time of its own.
pub(crate) struct Activity {
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            last_ms: AtomicU64::new(clock_micros() / 1000),
        }
    }

    pub fn touch(&self) {
        let now = clock_micros() / 1000;
        // Stored only when it changed (at most once a millisecond): the host reads this
        // connection's other fields on every send, and a store on every read would keep
        // taking their cache line from it.
        if self.last_ms.load(Ordering::Relaxed) != now {
            self.last_ms.store(now, Ordering::Relaxed);
        }
    }

    pub fn idle_for(&self) -> Duration {
        let idle_ms = (clock_micros() / 1000).saturating_sub(self.last_ms.load(Ordering::Relaxed));
        Duration::from_millis(idle_ms)
    }
}

/// Microseconds on a monotonic clock shared by every connection (it starts at its first
/// reading).
pub(crate) fn clock_micros() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// What a connection is once its handshake has completed.
pub(crate) struct Link {
    /// The bare reactor source (a `TcpStream` would also keep room for readiness futures);
    /// `None` in what a paused session keeps of its dropped connection.
    socket: Option<Arc<Async<std::net::TcpStream>>>,
    pub peer: SocketAddr,
    /// `peer`'s IP as text, IPv4-mapped IPv6 shown as plain IPv4.
    pub peer_ip: String,
    pub tls: bool,
    /// The subprotocol agreed in the handshake, if any.
    pub protocol: Option<String>,
    /// A server connection's opening handshake request.
    pub request: Option<Arc<Request>>,
    /// permessage-deflate was negotiated.
    pub compressed: bool,
}

impl Link {
    pub fn new(socket: TcpStream, peer: SocketAddr, tls: bool, protocol: Option<String>) -> Link {
        let peer = normalize_peer(peer);
        Link {
            socket: Some(socket.into()),
            peer,
            peer_ip: peer.ip().to_string(),
            tls,
            protocol,
            request: None,
            compressed: false,
        }
    }

    /// The socket; an error once only the handshake is kept (a paused session's).
    pub fn socket(&self) -> Result<&Async<std::net::TcpStream>> {
        self.socket
            .as_deref()
            .ok_or_else(|| Error::new(ErrorKind::Closed, "the connection is closed"))
    }

    /// The same handshake (addresses, protocol, request, flags) without the socket.
    fn without_socket(&self) -> Link {
        Link {
            socket: None,
            peer: self.peer,
            peer_ip: self.peer_ip.clone(),
            tls: self.tls,
            protocol: self.protocol.clone(),
            request: self.request.clone(),
            compressed: self.compressed,
        }
    }

    /// The link of a server connection, which keeps its handshake request.
    pub fn with_request(self, request: Arc<Request>) -> Link {
        Link {
            request: Some(request),
            ..self
        }
    }
}

impl Conn {
    /// A connection handle, with nothing queued; `role` is our end of it.
    pub fn new(id: u64, group: u32, limits: &Limits, role: Role) -> Arc<Conn> {
        Arc::new(Conn {
            id,
            group,
            link: OnceLock::new(),
            path: Arc::new(SendPath::new(limits, role)),
            activity: Activity::new(),
            close_emitted: AtomicBool::new(false),
        })
    }

    /// What a paused session keeps of this dropped connection: its id, group and handshake
    /// (what the host may still read), not its socket, so the descriptor goes back now.
    /// Nothing is ever written through it: sends to a paused session are kept for its return.
    pub fn detached(&self) -> Arc<Conn> {
        let conn = Conn::new(self.id, self.group, &Limits::default(), Role::Server);
        if let Ok(link) = self.link() {
            conn.open(link.without_socket(), None);
        }
        conn.path.end();
        conn.close_emitted.store(true, Ordering::Release);
        conn
    }

    /// Records the completed handshake (the first call wins); with a `wire`, the host
    /// writes to the socket itself from now on.
    pub fn open(&self, link: Link, wire: Option<Arc<Wire>>) {
        if let Some(wire) = wire {
            self.path.attach_wire(wire);
        }
        let _ = self.link.set(link);
    }

    /// The socket, peer and protocol; an error until the handshake has completed.
    pub fn link(&self) -> Result<&Link> {
        self.link
            .get()
            .ok_or_else(|| Error::new(ErrorKind::Closed, "the connection is not open yet"))
    }

    /// Starts the closing handshake; a second call is a no-op. Arguments are trusted here.
    pub fn close(&self, code: u16, reason: &str) {
        self.path.close(code, reason);
    }

    pub fn is_closing(&self) -> bool {
        self.path.is_closing()
    }

    /// Emits this connection's close event unless one was emitted already.
    pub fn emit_close(&self, sink: &Sink, code: u16, reason: String, clean: bool) {
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
