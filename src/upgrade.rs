//! Requests the host answers (SPEC §4a): upgrade decisions (`on_upgrade`) and HTTP routes
//! (`http`). While the host decides, the I/O task holds the request and waits here for the
//! answer, bounded by the handshake timeout.
//!
//! Entries are removed only on the host thread (at its next poll), so a request the host
//! reads through `luna_conn_request` stays valid until then, whatever the I/O side does.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use smol::future::FutureExt;

use crate::error::{Error, ErrorKind, Result};
use crate::http::request::Request;
use crate::http::response::Field;

/// What the host decided for a held handshake.
pub(crate) enum Decision {
    /// Answer 101, with this subprotocol (else luna's own choice) and extra header fields.
    Accept {
        protocol: Option<String>,
        headers: Vec<Field>,
    },
    /// Answer `status` with these fields and this body (and, for a handshake, close).
    Respond {
        status: u16,
        headers: Vec<Field>,
        body: Vec<u8>,
    },
}

/// What the host is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Question {
    /// Accept or refuse a WebSocket handshake.
    Upgrade,
    /// Answer a plain HTTP request.
    Http,
}

/// One request waiting for the host.
pub(crate) struct Held {
    pub request: Arc<Request>,
    pub question: Question,
    reply: smol::channel::Sender<Decision>,
    /// Answered, or given up by the I/O side: the host's next poll forgets it.
    done: AtomicBool,
}

/// The handshakes an app's host has not decided yet, by connection id.
#[derive(Default)]
pub(crate) struct Upgrades {
    held: Mutex<HashMap<u64, Arc<Held>>>,
}

impl Upgrades {
    /// I/O side: holds handshake `id`; the answer arrives on the returned channel.
    fn hold(
        &self,
        id: u64,
        request: Arc<Request>,
        question: Question,
    ) -> smol::channel::Receiver<Decision> {
        let (reply, answer) = smol::channel::bounded(1);
        let held = Held {
            request,
            question,
            reply,
            done: AtomicBool::new(false),
        };
        self.held.lock().insert(id, Arc::new(held));
        answer
    }

    /// I/O side: holds request `id`, calls `announce` (which tells the host), and waits for
    /// the answer until `given_up` resolves (a timeout, `stop`); `None` when it came first.
    /// Either way the request is then forgotten at the host's next poll.
    pub async fn ask(
        &self,
        id: u64,
        request: Arc<Request>,
        question: Question,
        announce: impl FnOnce(),
        given_up: impl Future<Output = ()>,
    ) -> Option<Decision> {
        let answer = self.hold(id, request, question);
        announce();
        let answered = async { answer.recv().await.ok() };
        let given_up = async {
            given_up.await;
            None
        };
        let decision = answered.or(given_up).await;
        self.give_up(id);
        decision
    }

    /// I/O side: handshake `id` ended without an answer (timeout, client gone, stop).
    fn give_up(&self, id: u64) {
        if let Some(held) = self.held.lock().get(&id) {
            held.done.store(true, Ordering::Release);
            held.reply.close();
        }
    }

    /// Host: the request of held request `id`, and what is asked.
    pub fn request(&self, id: u64) -> Option<(Arc<Request>, Question)> {
        let held = self.held.lock();
        held.get(&id).map(|h| (h.request.clone(), h.question))
    }

    /// Host: answers request `id`, which must ask `question`; CLOSED once it was answered
    /// or given up.
    pub fn answer(&self, id: u64, question: Question, decision: Decision) -> Result<()> {
        let held = self.held.lock().get(&id).cloned();
        let Some(held) = held.filter(|h| h.question == question) else {
            let what = match question {
                Question::Upgrade => "handshake",
                Question::Http => "HTTP request",
            };
            return Err(Error::invalid(format!(
                "no {what} {id} waits for an answer"
            )));
        };
        if held.done.swap(true, Ordering::AcqRel) || held.reply.try_send(decision).is_err() {
            return Err(Error::new(
                ErrorKind::Closed,
                format!("request {id} was already answered or has timed out"),
            ));
        }
        Ok(())
    }

    /// Host, at each poll: forgets the handshakes that were answered or given up.
    pub fn sweep(&self) {
        let mut held = self.held.lock();
        if !held.is_empty() {
            held.retain(|_, h| !h.done.load(Ordering::Acquire));
        }
    }
}
