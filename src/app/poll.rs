//! `App::poll`: take the queued events, record the opens and closes they bring, and settle
//! the wake-up descriptor.

use super::conn_table::ConnMap;
use super::{App, Role};
use crate::conn::ConnEvent;
use crate::event::Event;
use crate::resume;

/// Messages from other nodes delivered by one poll at most, so a flood through Redis
/// cannot keep the host in `poll` for long; the rest wait for the next poll.
const MAX_REMOTE_PER_POLL: usize = 4096;

impl App {
    /// Takes up to `max` queued events and shows each to `visit`, in order; returns how
    /// many. The events (and their bytes) stay owned by the app until the next poll.
    pub fn poll(&self, max: usize, mut visit: impl FnMut(&ConnEvent)) -> usize {
        self.flush();
        if let Role::Server(server) = &self.role {
            server.upgrades().sweep();
        }
        let mut polled = self.polled.lock();
        polled.clear();
        let remote_bytes = self.take_events(&mut polled, max);
        let message_bytes = self.record(&polled, &mut visit);
        self.backlog.remove(remote_bytes + message_bytes);
        if !polled.is_empty() {
            self.batch.open();
        }
        self.settle_wakeup();
        let count = polled.len();
        drop(polled);
        if count == 0 {
            // A host that polls in a loop would otherwise keep a CPU from the I/O thread it
            // waits for; on 2 CPUs this doubled a busy `luna.update` loop's echo rate.
            std::thread::yield_now();
        }
        count
    }

    /// Moves up to `max` events for the host into `polled`. Other nodes' messages go to the
    /// local connections on the way, never to the host; a connection that broke the
    /// protocol is noted for the next flush. Returns the bytes of the remote messages.
    fn take_events(&self, polled: &mut Vec<ConnEvent>, max: usize) -> usize {
        let (mut remote, mut bytes) = (0, 0);
        let mut taking = self.events.taking();
        while polled.len() < max && remote < MAX_REMOTE_PER_POLL {
            let Some(event) = taking.next() else {
                break;
            };
            let event = match event {
                event if self.sessions.is_some() => match self.through_sessions(event) {
                    Some(event) => event,
                    None => continue,
                },
                Event::Open(conn) if self.asks_to_resume(&conn) => {
                    // An app without sessions has none to resume: the client starts anew.
                    conn.close(resume::CLOSE_NO_SESSION, "no such session");
                    continue;
                }
                other => other,
            };
            match event {
                Event::Remote {
                    audience,
                    opcode,
                    data,
                } => {
                    self.deliver_remote(&audience, opcode, &data);
                    remote += 1;
                    bytes += data.len();
                }
                Event::Failed { conn, code, reason } => {
                    self.failing.lock().push((conn, code, reason));
                }
                Event::Wake => {}
                event => polled.push(event),
            }
        }
        drop(taking);
        self.ended_sessions(polled, max);
        bytes
    }

    /// Registers the OPENs and forgets the CLOSEs (and their subscriptions) of `polled`,
    /// showing each event to `visit`; returns the bytes of the messages.
    fn record(&self, polled: &[ConnEvent], visit: &mut impl FnMut(&ConnEvent)) -> usize {
        let mut conns = self.conns.lock();
        let mut topics = self.topics.lock();
        let mut just_closed = self.just_closed.lock();
        if !just_closed.is_empty() {
            // Dropped only once no poll keeps them: a mass disconnect shrinks the table too.
            *just_closed = ConnMap::default();
        }
        let (mut closes, mut bytes) = (0, 0);
        for event in polled {
            match event {
                Event::Open(conn) => {
                    conns.insert(conn.id, conn.clone());
                }
                Event::Close { conn, .. } => {
                    closes += 1;
                    if let Some(closed) = conns.remove(conn) {
                        just_closed.insert(*conn, closed);
                    }
                    topics.forget(*conn, |topic| self.unwatch(topic));
                }
                Event::Message { data, .. } => bytes += data.len(),
                Event::Error { .. }
                | Event::Resume { .. }
                | Event::Upgrade { .. }
                | Event::Http(_)
                | Event::Log { .. }
                | Event::Wake
                | Event::Failed { .. }
                | Event::Remote { .. } => {}
            }
            visit(event);
        }
        drop((topics, just_closed));
        self.watch_open(&mut conns, closes);
        bytes
    }

    /// Clears the wake-up descriptor once no event is left.
    fn settle_wakeup(&self) {
        if self.events.is_empty() {
            self.wakeup.clear();
            // An event that raced in after the check keeps the descriptor readable.
            if !self.events.is_empty() {
                self.wakeup.signal();
            }
        }
    }
}
