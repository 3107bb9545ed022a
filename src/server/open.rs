//! An accepted upgrade becomes an open WebSocket: answered, registered, served by
//! `session` until it closes, then forgotten.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;

use super::decision::settle;
use super::Shared;
use crate::admission::Slot;
use crate::conn::{self, Conn, Link};
use crate::event::Event;
use crate::frame::deflate_params::Agreed;
use crate::frame::Role;
use crate::http::request::Request;
use crate::runtime;
use crate::send_path::Deflate;
use crate::session::{self, Opened};
use crate::wire::Wire;

/// A WebSocket opening handshake read by the HTTP phase, not yet answered.
pub(super) struct Upgrade {
    pub(super) socket: TcpStream,
    /// The direct write side, for plain-TCP connections.
    pub(super) wire: Option<Arc<Wire>>,
    pub(super) peer: SocketAddr,
    pub(super) request: Arc<Request>,
    /// What the client sent after the head (its first frames, if it did not wait).
    pub(super) rest: Vec<u8>,
}

/// Answers the upgrade on `transport` and hands the open connection to a task of its own,
/// which serves it until it closes.
pub(super) async fn run_connection<S>(
    shared: &Arc<Shared>,
    mut transport: S,
    upgrade: Upgrade,
    slot: Slot,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let id = conn::next_id();
    // Boxed, like the HTTP phase: the handshake's task holds each phase's state only while
    // that phase runs.
    let accepted = Box::pin(settle(shared, &mut transport, &upgrade, id)).await;
    drop(slot);
    let Some((selection, address)) = accepted else {
        return;
    };
    let Upgrade {
        socket,
        wire,
        peer,
        request,
        rest,
    } = upgrade;
    let mut link = Link::new(socket, peer, wire.is_none(), selection.protocol);
    link.compressed = selection.deflate.is_some();
    let link = link.with_request(request);
    let deflate = selection.deflate.as_ref();
    let Some(conn) = register(shared, id, selection.group, deflate, link, wire) else {
        return;
    };
    // Held as long as the connection: its place among its address's connections.
    let shared_at_end = shared.clone();
    let on_end = move || {
        shared_at_end.forget(id);
        drop(address);
    };
    let opened = Opened {
        stream: transport,
        // What the client sent after its head is read first (a pipelined first frame).
        rest,
        role: Role::Server,
        inflate: selection
            .deflate
            .map(|agreed| agreed.receiving(Role::Server)),
        on_end: Some(Box::new(on_end)),
    };
    let sink = shared.sink.clone();
    // A task of its own: the handshake's task ends here, so an open connection keeps no
    // room for the handshake's state.
    let session = session::serve(opened, conn, sink, shared.limits.clone());
    runtime::spawn(session).detach();
}

/// Opens connection `id` on `link` and registers it, so the host hears OPEN; `None` when
/// the app stopped meanwhile.
fn register(
    shared: &Shared,
    id: u64,
    group: u32,
    deflate: Option<&Agreed>,
    link: Link,
    wire: Option<Arc<Wire>>,
) -> Option<Arc<Conn>> {
    let limits = &shared.config.limits;
    let conn = Conn::new(id, group, limits, Role::Server);
    if let Some(agreed) = deflate {
        let sending = agreed.sending(Role::Server);
        let stats = shared.sink.shared_stats();
        conn.path
            .attach_deflate(Deflate::new(sending, limits, stats));
    }
    conn.open(link, wire);
    shared.live.lock().insert(id, conn.clone());
    shared.sink.stats().opened();
    // Checked after registering, so `stop` either sees this connection or we see `stopping`.
    if shared.stopping.load(Ordering::Acquire) {
        shared.forget(id);
        // A host that accepted this id in an UPGRADE event hears how it ended.
        if shared.config.upgrade_events {
            conn.emit_close(&shared.sink, 1001, "going away".into(), false);
        }
        return None;
    }
    shared.sink.push(Event::Open(conn.clone()));
    // Opened after a drain started (its handshake was in flight): closed like the others.
    if let Some(plan) = shared.drain.lock().as_ref() {
        conn.close(plan.code, &plan.reason);
    }
    Some(conn)
}
