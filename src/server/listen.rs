//! Binding the listening socket, accepting, and the TLS handshake of each connection.

use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::net::{TcpListener, TcpStream};
use smol::Timer;
use socket2::{Domain, Protocol, Socket, Type};

use super::http_phase::http_phase;
use super::open::{run_connection, Upgrade};
use super::{bounded, report_timeout, Shared};
use crate::admission::Slot;
use crate::conn;
use crate::error::{Error, ErrorKind, Result};
use crate::runtime;
use crate::session::PlainSocket;
use crate::stats::Refusal as Refused;
use crate::tls;
use crate::wire::Wire;

/// Binds a listening socket. `"*"` binds IPv6 dual stack, or IPv4 where IPv6 is missing.
/// `reuse_port` lets several processes listen on the same port, the kernel spreading new
/// connections among them.
pub(super) fn bind(host: &str, port: u16, reuse_port: bool) -> Result<StdListener> {
    let candidates: Vec<SocketAddr> = if host == "*" {
        vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0u8; 4], port)),
        ]
    } else {
        let mut addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| Error::new(ErrorKind::Dns, format!("cannot resolve host '{host}': {e}")))?
            .collect();
        // Names like "localhost" resolve to both families; IPv4 is what clients try first.
        addrs.sort_by_key(|a| a.is_ipv6());
        addrs
    };
    let mut last_err = None;
    for addr in candidates {
        match bind_one(addr, reuse_port) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_err = Some(e),
        }
    }
    // Say what to do about the common failures, not only what happened.
    let hint = match last_err.as_ref().map(|e| e.kind()) {
        Some(std::io::ErrorKind::AddrInUse) => {
            " (another program or app uses this port: pick another, or 0 for any free one)"
        }
        Some(std::io::ErrorKind::PermissionDenied) => {
            " (ports below 1024 need privileges: use a higher port)"
        }
        Some(std::io::ErrorKind::AddrNotAvailable) => {
            " (no interface of this machine has that address: use \"*\" or 127.0.0.1)"
        }
        _ => "",
    };
    let err = last_err.map_or("no address".to_string(), |e| e.to_string());
    Err(Error::new(
        ErrorKind::Io,
        format!("cannot listen on {host}:{port}: {err}{hint}"),
    ))
}

fn bind_one(addr: SocketAddr, reuse_port: bool) -> std::io::Result<StdListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    // Lets a restarted server bind again while old connections sit in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    if reuse_port {
        set_reuse_port(&socket)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
fn set_reuse_port(socket: &Socket) -> std::io::Result<()> {
    socket.set_reuse_port(true)
}

/// Checked when the app is configured (`config::REUSE_PORT_SUPPORTED`); never reached.
#[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
fn set_reuse_port(_: &Socket) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        // Accept the next connection.
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                shared
                    .sink
                    .error(0, ErrorKind::Io, format!("accept failed: {e}"));
                // Out of descriptors, most likely: give closing connections time.
                Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let slot = Slot::handshake(&shared.phases);
        runtime::spawn(handle_connection(shared.clone(), stream, peer, slot)).detach();
    }
}

/// Serves one accepted connection; `slot` counts it until it is an open WebSocket or gone.
async fn handle_connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, slot: Slot) {
    match &shared.tls {
        None => {
            let mut http_side = stream.clone();
            // Boxed, like the TLS side: the task holds the HTTP phase's state only while it
            // runs.
            let phase = Box::pin(http_phase(&shared, &mut http_side, peer, &slot)).await;
            let Some((request, rest)) = phase else {
                return;
            };
            let wire = Wire::new(stream.clone());
            let transport = PlainSocket::new(wire.clone());
            let upgrade = Upgrade {
                socket: stream,
                wire: Some(wire),
                peer: shared.client_of(peer, &request),
                request,
                rest,
            };
            run_connection(&shared, transport, upgrade, slot).await
        }
        Some(acceptor) => {
            let acceptor = acceptor.lock().clone();
            Box::pin(serve_tls(&shared, acceptor, stream, peer, slot)).await
        }
    }
}

/// A connection to a `wss://` server: the TLS handshake, then as a plain one.
async fn serve_tls(
    shared: &Arc<Shared>,
    acceptor: tls::Acceptor,
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
) {
    let deadline = Instant::now() + shared.config.limits.handshake_timeout;
    let accepted = bounded(shared, deadline, async {
        Some(Box::pin(acceptor.accept(stream.clone())).await)
    });
    match accepted.await {
        Some(Ok(mut tls_stream)) => {
            let phase = Box::pin(http_phase(shared, &mut tls_stream, peer, &slot)).await;
            let Some((request, rest)) = phase else {
                return;
            };
            let upgrade = Upgrade {
                socket: stream,
                wire: None,
                peer: shared.client_of(peer, &request),
                request,
                rest,
            };
            run_connection(shared, tls_stream, upgrade, slot).await
        }
        Some(Err(err)) => {
            shared.sink.stats().refused(Refused::Handshake);
            let peer = conn::normalize_peer(peer);
            let message = format!("TLS handshake from {peer} failed: {err}");
            shared.sink.error(0, ErrorKind::Tls, message);
        }
        None => {
            report_timeout(shared, peer);
        }
    }
}
