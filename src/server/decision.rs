//! The upgrade decision: the per-address limits, the origin allow-list, `max_connections`,
//! the subprotocol and permessage-deflate, then the host's `on_upgrade` if set; and the
//! answer (a 101, or a refusal closed in stages).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use smol::io::{AsyncRead, AsyncWrite};

use super::http_phase::log_access;
use super::open::Upgrade;
use super::{deadline_or_stop, Shared};
use crate::admission::AddressSlot;
use crate::config::Compression;
use crate::conn::{self, DEFAULT_GROUP};
use crate::error::ErrorKind;
use crate::event::Event;
use crate::frame::deflate_params::{self, Agreed};
use crate::handshake;
use crate::http::request::Request;
use crate::http::response::Field;
use crate::http::websocket;
use crate::stats::Refusal as Refused;
use crate::upgrade::{Decision, Question};

/// The outcome of the upgrade decision: which subprotocol, which group, which compression.
pub(super) struct Selection {
    pub(super) protocol: Option<String>,
    pub(super) group: u32,
    /// permessage-deflate, when the app compresses and the client offered it.
    pub(super) deflate: Option<Agreed>,
}

/// Why a handshake is refused, and the answer that says so.
struct Refusal {
    status: u16,
    headers: Vec<Field>,
    body: Vec<u8>,
}

impl Refusal {
    fn text(status: u16, why: &str) -> Refusal {
        Refusal {
            status,
            headers: Vec::new(),
            body: format!("{why}\n").into_bytes(),
        }
    }
}

/// An accepted handshake: the subprotocol and any extra fields of the 101.
struct Accepted {
    selection: Selection,
    headers: Vec<Field>,
}

/// Decides the handshake (by luna, or by the host) and answers it: the selection once the
/// 101 went out, `None` when it was refused or the client left.
pub(super) async fn settle<S>(
    shared: &Shared,
    transport: &mut S,
    upgrade: &Upgrade,
    id: u64,
) -> Option<(Selection, Option<AddressSlot>)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    let address = match admit_address(shared, upgrade.peer, started) {
        Ok(address) => address,
        Err(refusal) => {
            refuse_upgrade(shared, transport, upgrade, refusal, started).await;
            return None;
        }
    };
    match choose(shared, id, upgrade).await {
        Ok(accepted) => {
            let sent = accept(shared, transport, upgrade, &accepted, id, started).await;
            sent.then_some((accepted.selection, address))
        }
        Err(refusal) => {
            refuse_upgrade(shared, transport, upgrade, refusal, started).await;
            None
        }
    }
}

/// The per-address limits: the handshake rate, then a place among the address's
/// connections (held as long as the connection).
fn admit_address(
    shared: &Shared,
    peer: SocketAddr,
    now: Instant,
) -> std::result::Result<Option<AddressSlot>, Refusal> {
    let ip = conn::normalize_peer(peer).ip();
    if let Some(rate) = &shared.handshake_rate {
        if !rate.allow(ip, now) {
            shared.sink.stats().refused(Refused::Address);
            let mut refusal = Refusal::text(429, "too many handshakes from this address");
            refusal.headers.push(("Retry-After".into(), "1".into()));
            return Err(refusal);
        }
    }
    match shared.config.max_connections_per_ip {
        0 => Ok(None),
        max => match shared.per_address.take(ip, max) {
            Some(slot) => Ok(Some(slot)),
            None => {
                shared.sink.stats().refused(Refused::Address);
                Err(Refusal::text(429, "too many connections from this address"))
            }
        },
    }
}

/// luna's decision, then the host's when the app asks it (`upgrade_events`).
async fn choose(
    shared: &Shared,
    id: u64,
    upgrade: &Upgrade,
) -> std::result::Result<Accepted, Refusal> {
    match decide(shared, &upgrade.request) {
        Ok(selection) if shared.config.upgrade_events => {
            let decided = ask_host(shared, id, upgrade, selection).await;
            if decided.is_err() {
                shared.sink.stats().refused(Refused::Host);
            }
            decided
        }
        Ok(selection) => Ok(Accepted {
            selection,
            headers: Vec::new(),
        }),
        Err((status, why, reason)) => {
            shared.sink.stats().refused(reason);
            Err(Refusal::text(status, why))
        }
    }
}

/// Writes the 101 (counted and logged); false when the client left first, which a host
/// that accepted this id hears as a CLOSE.
async fn accept<S>(
    shared: &Shared,
    transport: &mut S,
    upgrade: &Upgrade,
    accepted: &Accepted,
    id: u64,
    started: Instant,
) -> bool
where
    S: AsyncWrite + Unpin,
{
    let stall = shared.config.limits.handshake_timeout;
    let sent = answer_101(transport, &upgrade.request, accepted, stall).await;
    if sent {
        let counted = &shared.sink.stats().handshakes_accepted;
        counted.fetch_add(1, Ordering::Relaxed);
        let peer = conn::normalize_peer(upgrade.peer);
        let request = Some(&*upgrade.request);
        log_access(shared, peer, request, 101, 0, started.elapsed());
    } else if shared.config.upgrade_events {
        let reason = "the client left before the handshake completed".to_owned();
        let event = Event::Close {
            conn: id,
            code: 1006,
            reason,
            clean: false,
        };
        shared.sink.push(event);
    }
    sent
}

/// Answers a refused handshake (logged and reported) and closes in stages.
async fn refuse_upgrade<S>(
    shared: &Shared,
    transport: &mut S,
    upgrade: &Upgrade,
    refusal: Refusal,
    started: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let peer = conn::normalize_peer(upgrade.peer);
    let headers: Vec<(&str, &[u8])> = refusal
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let stall = shared.config.limits.handshake_timeout;
    let (status, body) = (refusal.status, &refusal.body);
    let took = started.elapsed();
    log_access(
        shared,
        peer,
        Some(&upgrade.request),
        status,
        body.len() as u64,
        took,
    );
    handshake::refuse_with(transport, status, &headers, body, stall).await;
    let why = String::from_utf8_lossy(&refusal.body);
    let message = format!("handshake from {peer} refused: {status} {}", why.trim());
    shared.sink.error(0, ErrorKind::Protocol, message);
}

/// Holds the handshake for the host's decision (an UPGRADE event), bounded by the
/// handshake timeout and by `stop`.
async fn ask_host(
    shared: &Shared,
    id: u64,
    upgrade: &Upgrade,
    default: Selection,
) -> std::result::Result<Accepted, Refusal> {
    let peer = conn::normalize_peer(upgrade.peer);
    let announce = || {
        shared.sink.push(Event::Upgrade {
            conn: id,
            request: upgrade.request.clone(),
            peer_ip: peer.ip().to_string(),
            peer_port: peer.port(),
        })
    };
    let deadline = Instant::now() + shared.config.limits.handshake_timeout;
    let given_up = deadline_or_stop(shared, deadline);
    let request = upgrade.request.clone();
    let asked = shared
        .upgrades
        .ask(id, request, Question::Upgrade, announce, given_up);
    let decision = asked.await;
    match decision {
        Some(Decision::Accept { protocol, headers }) => {
            let selection = match protocol {
                Some(name) => Selection {
                    group: shared.group_of(&name).unwrap_or(default.group),
                    protocol: Some(name),
                    deflate: default.deflate,
                },
                None => default,
            };
            Ok(Accepted { selection, headers })
        }
        Some(Decision::Respond {
            status,
            headers,
            body,
        }) => Err(Refusal {
            status,
            headers,
            body,
        }),
        None => {
            let message = format!("handshake from {peer}: the host did not decide in time");
            shared.sink.error(id, ErrorKind::Timeout, message);
            Err(Refusal::text(503, "the server did not decide in time"))
        }
    }
}

/// Writes the 101 that accepts `request`; false when the client is gone.
async fn answer_101<S>(
    transport: &mut S,
    request: &Request,
    accepted: &Accepted,
    stall: Duration,
) -> bool
where
    S: AsyncWrite + Unpin,
{
    let selection = &accepted.selection;
    let protocol = selection.protocol.as_deref();
    // The host's fields were checked by its accept call.
    let head = websocket::switching_protocols(
        request,
        protocol,
        selection.deflate.as_ref(),
        &accepted.headers,
    );
    handshake::write_all_within(transport, &head, stall).await
}

/// Decides an opening handshake (SPEC §4, §4a): the origin allow-list first, then
/// `max_connections`, then the first subprotocol of the client's list that the app serves.
fn decide(
    shared: &Shared,
    request: &Request,
) -> std::result::Result<Selection, (u16, &'static str, Refused)> {
    if let Some(allowed) = &shared.config.origins {
        // Browsers always send Origin; other clients may not, and are not refused for it.
        if let Some(origin) = request.header("origin") {
            if !allowed
                .iter()
                .any(|a| a.eq_ignore_ascii_case(origin.trim()))
            {
                return Err((403, "this origin may not connect", Refused::Origin));
            }
        }
    }
    let max = shared.config.limits.max_connections;
    if max > 0 {
        let busy = shared.live.lock().len() + shared.phases.handshaking();
        if busy > max {
            return Err((503, "too many connections", Refused::Capacity));
        }
    }
    let deflate = negotiate_deflate(shared.config.limits.compression, request);
    if let Some((name, index)) = websocket::select_protocol(request, &shared.config.protocols) {
        return Ok(Selection {
            protocol: Some(name.to_owned()),
            group: index as u32,
            deflate,
        });
    }
    if shared.config.has_default {
        return Ok(Selection {
            protocol: None,
            group: DEFAULT_GROUP,
            deflate,
        });
    }
    Err((
        400,
        "no requested subprotocol is served here",
        Refused::Subprotocol,
    ))
}

/// The permessage-deflate the app accepts: none when it does not compress.
fn negotiate_deflate(compression: Compression, request: &Request) -> Option<Agreed> {
    let ours = match compression {
        Compression::Off => None,
        Compression::Shared => Some(deflate_params::settings(false)),
        Compression::Dedicated => Some(deflate_params::settings(true)),
    };
    websocket::negotiate_deflate(ours.as_ref(), request)
}
