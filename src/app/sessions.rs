//! The sessions of a server app with `resume`: which connection carries each, what it was
//! sent (its replay ring), how many messages it had from its client, and the sessions paused
//! while their client is away. The host sees one connection per session: events of the
//! connection that carries a session now are shown with the session's id (its first
//! connection's), a drop pauses the session instead of closing it, and a resume is told as
//! a RESUME event. Host threads only, like the connection table.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use smol::Timer;

use crate::config::ResumeConfig;
use crate::conn::{ConnEvent, Sink};
use crate::error::{self, ErrorKind};
use crate::event::{Event, Opcode};
use crate::id_hash::IdBuild;
use crate::resume::{self, Replay};
use crate::runtime;

/// One session.
struct Session {
    token: String,
    /// Its client's address, when known: paused sessions are counted per address.
    address: Option<IpAddr>,
    /// The connection that carries it now.
    current: u64,
    /// Data messages the host was shown from its client.
    received: u64,
    replay: Replay,
    paused_at: Option<Instant>,
    /// Messages sent when it paused: the client cannot have had more.
    sent_at_pause: u64,
    /// The host closed it (or the app stops): its next CLOSE ends it, whatever the cause.
    ending: bool,
}

/// What a send to a connection becomes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Kept {
    /// Not a session: send as usual.
    No,
    /// Kept in the ring; the connection is live: send as usual.
    Live,
    /// Kept for the client's return; nothing to send now.
    Paused,
}

impl Kept {
    /// A kept message is accepted even when its connection just dropped (the session
    /// pauses when the host hears of the drop): the client gets it when it comes back.
    pub fn despite_a_drop(&self, sent: error::Result<()>) -> error::Result<()> {
        match (self, sent) {
            (Kept::Live, Err(e)) if e.kind == ErrorKind::Closed => Ok(()),
            (_, sent) => sent,
        }
    }
}

/// What a resume asks of the app, once `Sessions::resume` accepted it.
pub(super) struct Resumed {
    pub session: u64,
    /// The connection that carried the session until now, when it is still open (the
    /// client saw it drop before the server did): to be closed.
    pub replaced: Option<u64>,
    /// The answer, then the messages the client missed.
    pub answer: String,
    pub missed: Vec<(Opcode, Vec<u8>)>,
}

type IdMap<V> = HashMap<u64, V, IdBuild>;

pub(super) struct Sessions {
    config: ResumeConfig,
    /// By id, hashed as the connection table is: this is looked up for every message.
    by_id: IdMap<Session>,
    by_token: HashMap<String, u64>,
    /// A connection that carries a resumed session → the session's id.
    alias: IdMap<u64>,
    /// Connections whose remaining events the host never sees: replaced by a resume, or a
    /// resume refused.
    hidden: HashSet<u64, IdBuild>,
    /// Sessions ended outside a poll (a ring that overflowed while paused, the host's close
    /// of a paused session): their CLOSE comes with the next poll.
    ended: Vec<(u64, u16, String)>,
    /// Bytes in every ring.
    memory: usize,
    /// Wakes a waiting host when a window may have passed.
    sink: Sink,
    /// How many sessions may be paused at once, in all and per client address.
    pause_limits: PauseLimits,
    paused: usize,
    paused_by_address: HashMap<IpAddr, u32>,
    /// Sessions paused since the app last asked: it keeps their connections detached.
    newly_paused: Vec<u64>,
}

/// How many sessions may wait for their client at once (0 = no limit): as many as the app
/// accepts connections, in all and from one address, so dropped connections cannot hold
/// more than open ones could.
#[derive(Clone, Copy, Default)]
pub(super) struct PauseLimits {
    pub total: usize,
    pub per_address: u32,
}

impl Sessions {
    pub fn new(config: ResumeConfig, sink: Sink, pause_limits: PauseLimits) -> Sessions {
        Sessions {
            pause_limits,
            paused: 0,
            paused_by_address: HashMap::new(),
            newly_paused: Vec::new(),
            config,
            by_id: IdMap::default(),
            by_token: HashMap::new(),
            alias: IdMap::default(),
            hidden: HashSet::default(),
            ended: Vec::new(),
            memory: 0,
            sink,
        }
    }

    /// A new session for connection `conn`, which asked with `nonce`; returns the answer to
    /// send it first.
    pub fn start(&mut self, conn: u64, address: Option<IpAddr>, nonce: &str) -> String {
        let token = resume::new_token(self.config.node.as_deref());
        let answer = resume::answer(nonce, &token, 0);
        self.by_token.insert(token.clone(), conn);
        self.by_id.insert(
            conn,
            Session {
                token,
                address,
                current: conn,
                received: 0,
                replay: Replay::new(self.config.buffer),
                paused_at: None,
                sent_at_pause: 0,
                ending: false,
            },
        );
        answer
    }

    /// Connection `conn` asks to resume the session of `token`, having had `had` of its
    /// messages. The session's close code when it cannot be (the connection is then hidden
    /// from the host); else what to send and which connection it replaces.
    pub fn resume(
        &mut self,
        conn: u64,
        nonce: &str,
        token: &str,
        had: u64,
    ) -> Result<Resumed, u16> {
        let Some(&id) = self.by_token.get(token) else {
            self.hidden.insert(conn);
            return Err(resume::CLOSE_NO_SESSION);
        };
        let session = self.by_id.get_mut(&id).expect("a token names a session");
        if session.ending {
            self.hidden.insert(conn);
            return Err(resume::CLOSE_NO_SESSION);
        }
        let Some(missed) = session.replay.after(had) else {
            self.hidden.insert(conn);
            self.end(
                id,
                1006,
                "not resumed: its messages no longer fit its buffer",
            );
            return Err(resume::CLOSE_RING_OVERFLOW);
        };
        let missed: Vec<_> = missed
            .into_iter()
            .map(|(opcode, payload)| (Opcode::from_kept(opcode), payload))
            .collect();
        let replaced = match session.paused_at.take() {
            Some(_) => None,
            None => Some(session.current),
        };
        let (was_paused, address) = (replaced.is_none(), session.address);
        let answer = resume::answer(nonce, token, session.received);
        if session.current != id {
            self.alias.remove(&session.current);
        }
        if let Some(old) = replaced {
            self.hidden.insert(old);
        }
        session.current = conn;
        if conn != id {
            self.alias.insert(conn, id);
        }
        if was_paused {
            self.unpaused(address);
        }
        Ok(Resumed {
            session: id,
            replaced,
            answer,
            missed,
        })
    }

    /// Keeps a message sent to connection `id` (a session's id) in its ring. Pings and pongs
    /// are neither kept nor counted, on either side.
    pub fn keep(&mut self, id: u64, opcode: Opcode, payload: &[u8]) -> Kept {
        if !matches!(opcode, Opcode::Text | Opcode::Binary) {
            return Kept::No;
        }
        let Some(session) = self.by_id.get_mut(&id) else {
            return Kept::No;
        };
        let len = payload.len();
        let paused = session.paused_at.is_some();
        if paused && self.memory + len > self.config.memory {
            self.end(
                id,
                1006,
                "not resumed: the app's sessions hold all they may",
            );
            return Kept::Paused;
        }
        let grew = session.replay.push(opcode as u8, payload);
        self.memory = self.memory.saturating_add_signed(grew);
        if paused && session.replay.first() > session.sent_at_pause + 1 {
            // The ring dropped a message sent while the client was away: it cannot have it.
            self.end(id, 1006, "not resumed: more was sent than its buffer holds");
            return Kept::Paused;
        }
        if self.memory > self.config.memory {
            // Live sessions give up their oldest messages first: a resume may then fail,
            // but memory stays bounded.
            self.memory -= session.replay.trim_to(0);
        }
        if paused {
            Kept::Paused
        } else {
            Kept::Live
        }
    }

    /// The host closes session `id` (or the app stops, for every session): a paused one
    /// ends now, a live one with its connection's CLOSE.
    pub fn close(&mut self, id: u64, code: u16, reason: &str) {
        let Some(session) = self.by_id.get_mut(&id) else {
            return;
        };
        session.ending = true;
        if session.paused_at.is_some() {
            self.end(id, code, reason);
        }
    }

    pub fn close_all(&mut self, code: u16, reason: &str) {
        let ids: Vec<u64> = self.by_id.keys().copied().collect();
        for id in ids {
            self.close(id, code, reason);
        }
    }

    /// Ends session `id`; its CLOSE goes to the host with the next poll.
    fn end(&mut self, id: u64, code: u16, reason: &str) {
        if let Some(session) = self.forget(id) {
            if session.paused_at.is_some() {
                self.ended.push((id, code, reason.into()));
            } else {
                // Its connection still runs: hide it, and close it after the host hears.
                self.hidden.insert(session.current);
                self.ended.push((id, code, reason.into()));
            }
        }
    }

    fn forget(&mut self, id: u64) -> Option<Session> {
        let session = self.by_id.remove(&id)?;
        self.by_token.remove(&session.token);
        self.alias.remove(&session.current);
        self.memory -= session.replay.bytes();
        if session.paused_at.is_some() {
            self.unpaused(session.address);
        }
        Some(session)
    }

    /// Whether one more session of `address` may pause.
    fn may_pause(&self, address: Option<IpAddr>) -> bool {
        let PauseLimits { total, per_address } = self.pause_limits;
        let of_address = address.map_or(0, |a| *self.paused_by_address.get(&a).unwrap_or(&0));
        (total == 0 || self.paused < total) && (per_address == 0 || of_address < per_address)
    }

    fn unpaused(&mut self, address: Option<IpAddr>) {
        self.paused -= 1;
        if let Some(address) = address {
            if let Some(count) = self.paused_by_address.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    self.paused_by_address.remove(&address);
                }
            }
        }
    }

    /// Shows one event from the queue through the sessions: the event the host sees (the
    /// same, or with the session's id), or None when the host must not see it (a drop that
    /// paused a session, an event of a hidden connection).
    pub fn filter(&mut self, event: ConnEvent) -> Option<ConnEvent> {
        match event {
            Event::Message { conn, opcode, data } => {
                let conn = self.shown(conn)?;
                let data_message = matches!(opcode, Opcode::Text | Opcode::Binary);
                if let Some(session) = self.by_id.get_mut(&conn).filter(|_| data_message) {
                    session.received += 1;
                }
                Some(Event::Message { conn, opcode, data })
            }
            Event::Close {
                conn,
                code,
                reason,
                clean,
            } => self.closed(conn, code, reason, clean),
            Event::Failed { conn, code, reason } => Some(Event::Failed {
                conn: self.shown(conn)?,
                code,
                reason,
            }),
            Event::Error {
                conn,
                kind,
                message,
                http_status,
            } => Some(Event::Error {
                conn: self.shown(conn)?,
                kind,
                message,
                http_status,
            }),
            Event::Wake => {
                self.expire();
                Some(Event::Wake)
            }
            other => Some(other),
        }
    }

    /// The id the host knows connection `conn` by; None for a hidden one.
    fn shown(&self, conn: u64) -> Option<u64> {
        // Both are empty unless a client came back: most messages skip the lookups.
        if !self.hidden.is_empty() && self.hidden.contains(&conn) {
            return None;
        }
        if self.alias.is_empty() {
            return Some(conn);
        }
        Some(self.alias.get(&conn).copied().unwrap_or(conn))
    }

    fn closed(&mut self, conn: u64, code: u16, reason: String, clean: bool) -> Option<ConnEvent> {
        if self.hidden.remove(&conn) {
            return None;
        }
        let id = self.alias.get(&conn).copied().unwrap_or(conn);
        let dropped = !clean && (code == 1006 || reason == "idle timeout");
        let address = self.by_id.get(&id).and_then(|session| session.address);
        let may_pause = self.may_pause(address);
        match self.by_id.get_mut(&id) {
            Some(session) if session.current == conn && dropped && !session.ending && may_pause => {
                session.paused_at = Some(Instant::now());
                session.sent_at_pause = session.replay.sent();
                self.alias.remove(&conn);
                self.paused += 1;
                if let Some(address) = address {
                    *self.paused_by_address.entry(address).or_default() += 1;
                }
                self.newly_paused.push(id);
                self.wake_after(self.config.window);
                None
            }
            Some(_) => {
                self.forget(id);
                Some(Event::Close {
                    conn: id,
                    code,
                    reason,
                    clean,
                })
            }
            None => Some(Event::Close {
                conn: id,
                code,
                reason,
                clean,
            }),
        }
    }

    /// Ends the sessions whose window passed.
    fn expire(&mut self) {
        let window = self.config.window;
        let late: Vec<u64> = self
            .by_id
            .iter()
            .filter(|(_, s)| s.paused_at.is_some_and(|at| at.elapsed() >= window))
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            let reason = format!("connection lost; not resumed within {} s", window.as_secs());
            self.end(id, 1006, &reason);
        }
    }

    /// Up to `room` CLOSE events of sessions ended outside a poll (and so the connections to
    /// close); the rest wait for the next polls, which a Wake in the queue brings.
    pub fn take_ended(&mut self, room: usize) -> Vec<(u64, u16, String)> {
        if self.ended.len() <= room {
            return std::mem::take(&mut self.ended);
        }
        let rest = self.ended.split_off(room);
        self.sink.push(Event::Wake);
        std::mem::replace(&mut self.ended, rest)
    }

    /// The sessions paused since the last call and paused still (one may have been resumed
    /// in the same poll: its new connection stays as it is).
    pub fn take_newly_paused(&mut self) -> Vec<u64> {
        let mut paused = std::mem::take(&mut self.newly_paused);
        paused.retain(|id| self.by_id.get(id).is_some_and(|s| s.paused_at.is_some()));
        paused
    }

    /// Wakes the host (a Wake event, which expires sessions) once `after` has passed.
    fn wake_after(&self, after: Duration) {
        let sink = self.sink.clone();
        runtime::spawn(async move {
            Timer::after(after + Duration::from_millis(5)).await;
            sink.push(Event::Wake);
        })
        .detach();
    }
}
