//! Where the app meets its sessions (`sessions.rs`, server apps with `resume`): each event
//! from the queue passes through them, an OPEN that asks for a session starts one or resumes
//! one, and every send to a session is kept in its ring.

use std::sync::Arc;

use super::sessions::{Kept, Resumed};
use super::App;
use crate::conn::{Conn, ConnEvent};
use crate::event::{Event, Opcode};
use crate::resume;

impl App {
    /// The event the host sees for `event` from the queue, if any.
    pub(super) fn through_sessions(&self, event: ConnEvent) -> Option<ConnEvent> {
        let sessions = self.sessions.as_ref()?;
        match event {
            Event::Open(conn) => self.open_session(conn),
            other => sessions.lock().filter(other),
        }
    }

    /// A new connection: a session starts when it asks for one (its answer goes first), a
    /// session resumes when it names one (RESUME instead of OPEN), or the connection is
    /// refused with a close code when it names one there is no more.
    fn open_session(&self, conn: Arc<Conn>) -> Option<ConnEvent> {
        let sessions = self.sessions.as_ref()?;
        let target = conn.link().ok().and_then(|link| link.request.clone());
        let query = target.as_ref().map_or("", |request| request.query());
        let Some(ask) = resume::parse_ask(query) else {
            return Some(Event::Open(conn));
        };
        let Some((token, had)) = ask.session else {
            let address = conn.link().ok().map(|link| link.peer.ip());
            let answer = sessions.lock().start(conn.id, address, ask.nonce);
            let _ = self.batch.send(&conn.path, answer.as_bytes(), Opcode::Text);
            return Some(Event::Open(conn));
        };
        let resumed = sessions.lock().resume(conn.id, ask.nonce, token, had);
        match resumed {
            Ok(resumed) => Some(self.attach(resumed, conn)),
            Err(code) => {
                let reason = match code {
                    resume::CLOSE_RING_OVERFLOW => "resume buffer overflow",
                    _ => "no such session",
                };
                conn.close(code, reason);
                None
            }
        }
    }

    /// Puts `conn` in the place of the session's connection, then sends it the answer and
    /// what its client missed.
    fn attach(&self, resumed: Resumed, conn: Arc<Conn>) -> ConnEvent {
        let id = resumed.session;
        {
            let mut conns = self.conns.lock();
            if let (Some(_), Some(old)) = (resumed.replaced, conns.get(&id)) {
                old.close(1001, "resumed on another connection");
            }
            conns.insert(id, conn.clone());
        }
        self.topics.lock().rebind(id, &conn);
        let _ = self
            .batch
            .send(&conn.path, resumed.answer.as_bytes(), Opcode::Text);
        for (opcode, payload) in &resumed.missed {
            let _ = self.batch.send(&conn.path, payload, *opcode);
        }
        Event::Resume { session: id, conn }
    }

    /// Whether a new connection of a server app asks to resume a session (`luna_session` in
    /// its query).
    pub(super) fn asks_to_resume(&self, conn: &Conn) -> bool {
        let Ok(link) = conn.link() else {
            return false;
        };
        link.request.as_ref().is_some_and(|request| {
            resume::parse_ask(request.query()).is_some_and(|a| a.session.is_some())
        })
    }

    /// Keeps a message for connection `id` when it carries a session.
    pub(super) fn keep(&self, id: u64, opcode: Opcode, payload: &[u8]) -> Kept {
        match &self.sessions {
            Some(sessions) => sessions.lock().keep(id, opcode, payload),
            None => Kept::No,
        }
    }

    /// The CLOSE events of sessions that ended outside the queue (a window passed, a ring
    /// overflowed, the host closed a paused one), for the host, as many as `polled` has room
    /// for up to `max`; their connections close. Sessions that paused give their dropped
    /// connections' sockets back.
    pub(super) fn ended_sessions(&self, polled: &mut Vec<ConnEvent>, max: usize) {
        let Some(sessions) = &self.sessions else {
            return;
        };
        let (ended, paused) = {
            let mut sessions = sessions.lock();
            let room = max.saturating_sub(polled.len());
            (sessions.take_ended(room), sessions.take_newly_paused())
        };
        for id in paused {
            self.detach(id);
        }
        for (id, code, reason) in ended {
            if let Some(conn) = self.conns.lock().get(&id) {
                conn.close(1001, "session ended");
            }
            polled.push(Event::Close {
                conn: id,
                code,
                reason,
                clean: false,
            });
        }
    }

    /// A paused session keeps its connection's handshake, not its socket: the connection
    /// table and the topics hold a detached copy until the client comes back.
    fn detach(&self, id: u64) {
        let mut conns = self.conns.lock();
        let Some(conn) = conns.get(&id) else {
            return;
        };
        let detached = conn.detached();
        conns.insert(id, detached.clone());
        drop(conns);
        self.topics.lock().rebind(id, &detached);
    }
}
