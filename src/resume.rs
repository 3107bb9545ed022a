//! Session resume, without I/O: what a client asks in its handshake's query, the message that
//! answers it, the unguessable tokens, and each session's replay ring of sent messages.
//!
//! The exchange goes through the URL and the messages because a browser's WebSocket can
//! neither set request headers nor read response headers. A client that wants a session
//! adds `luna_resume=NONCE` to its URL (and, coming back, `luna_session=TOKEN` and
//! `luna_received=N`, the messages it has had). A server with resume answers with one text
//! message before any other, `luna-session NONCE TOKEN N` (N: the messages it has had from
//! the client); the client knows it by its own fresh NONCE, so no message of the app can be
//! taken for it, and a server without resume never sends it. Nothing else on the wire
//! changes: no message carries a sequence number, each side counts.

use std::collections::VecDeque;

use rand::RngExt;

/// The close code of a resume that cannot be honoured: no such session (expired, ended,
/// never issued, or bound to another app). The client starts a new session.
pub(crate) const CLOSE_NO_SESSION: u16 = 4404;
/// The close code of a session whose replay ring lost a message the client had not had.
pub(crate) const CLOSE_RING_OVERFLOW: u16 = 4413;

/// What a handshake's query asks of resume.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Ask<'a> {
    /// The client's fresh nonce, echoed in the answer.
    pub nonce: &'a str,
    /// A session to resume and how many of its messages the client has had.
    pub session: Option<(&'a str, u64)>,
}

/// Longest nonce or token accepted: they are short hex strings, and a query read from a
/// peer must not make the session table large.
const MAX_WORD: usize = 96;

fn plain_word(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= MAX_WORD
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// Reads the resume parameters of a handshake's query (`a=1&b=2`, without the `?`). None
/// when the client does not ask to resume, or asks in a malformed way (it is then served as
/// a plain WebSocket client).
pub(crate) fn parse_ask(query: &str) -> Option<Ask<'_>> {
    let (mut nonce, mut token, mut received) = (None, None, None);
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "luna_resume" => nonce = Some(value),
            "luna_session" => token = Some(value),
            "luna_received" => received = Some(value),
            _ => {}
        }
    }
    let nonce = nonce.filter(|n| plain_word(n))?;
    let session = match (token, received) {
        (None, None) => None,
        (Some(token), Some(received)) if plain_word(token) => {
            Some((token, received.parse::<u64>().ok()?))
        }
        _ => return None,
    };
    Some(Ask { nonce, session })
}

/// The message that answers a client's ask: the first the client gets on that connection.
pub(crate) fn answer(nonce: &str, token: &str, received: u64) -> String {
    format!("luna-session {nonce} {token} {received}")
}

/// A fresh session token: 128 bits from the thread's CSPRNG (ChaCha, seeded by the OS), in
/// hex, after `node` and a dot when the app names its node (so a proxy can route a resume
/// to the node that holds the session).
pub(crate) fn new_token(node: Option<&str>) -> String {
    let bits: u128 = rand::rng().random();
    match node {
        Some(node) => format!("{node}.{bits:032x}"),
        None => format!("{bits:032x}"),
    }
}

/// The messages sent to one session, newest last, at most `limit` bytes (payloads plus a
/// few bytes of bookkeeping each): what a client that comes back may have missed. Each keeps
/// its number (1 for the first message of the session), so a client that says it had N gets
/// N+1 onwards. The payloads lie end to end in one buffer: keeping a message costs a copy
/// into memory that is already there, not an allocation.
pub(crate) struct Replay {
    /// Every kept payload, oldest first.
    data: VecDeque<u8>,
    /// Each kept message's opcode and length, oldest first.
    index: VecDeque<(u8, u32)>,
    /// The number of the first entry.
    first: u64,
    limit: usize,
}

/// What a kept message costs beyond its payload: its index entry.
const ENTRY_COST: usize = std::mem::size_of::<(u8, u32)>();

impl Replay {
    pub fn new(limit: usize) -> Replay {
        Replay {
            data: VecDeque::new(),
            index: VecDeque::new(),
            first: 1,
            limit,
        }
    }

    /// Messages sent so far.
    pub fn sent(&self) -> u64 {
        self.first + self.index.len() as u64 - 1
    }

    /// What the kept messages cost, in bytes.
    pub fn bytes(&self) -> usize {
        self.data.len() + self.index.len() * ENTRY_COST
    }

    /// Keeps a sent message, dropping the oldest past the limit. Returns how many bytes the
    /// ring grew by (negative when it shrank), for the app's memory budget.
    pub fn push(&mut self, opcode: u8, payload: &[u8]) -> isize {
        let before = self.bytes() as isize;
        self.data.extend(payload);
        self.index.push_back((opcode, payload.len() as u32));
        while self.bytes() > self.limit {
            self.drop_oldest();
        }
        self.bytes() as isize - before
    }

    fn drop_oldest(&mut self) {
        if let Some((_, len)) = self.index.pop_front() {
            self.data.drain(..len as usize);
            self.first += 1;
        }
    }

    /// The messages after the first `had` (opcode and payload), in order; None when the ring
    /// no longer holds all of them (or `had` is more than was sent: a client that lies or
    /// another session).
    pub fn after(&self, had: u64) -> Option<Vec<(u8, Vec<u8>)>> {
        if had > self.sent() || had + 1 < self.first {
            return None;
        }
        let skip = (had + 1 - self.first) as usize;
        let mut at: usize = self
            .index
            .iter()
            .take(skip)
            .map(|(_, len)| *len as usize)
            .sum();
        let mut missed = Vec::with_capacity(self.index.len() - skip);
        for &(opcode, len) in self.index.iter().skip(skip) {
            let payload = self.data.range(at..at + len as usize).copied().collect();
            missed.push((opcode, payload));
            at += len as usize;
        }
        Some(missed)
    }

    /// The number of the oldest message kept (one past `sent()` when none is).
    pub fn first(&self) -> u64 {
        self.first
    }

    /// Drops the oldest messages until they cost at most `bytes`; returns the bytes freed.
    pub fn trim_to(&mut self, bytes: usize) -> usize {
        let before = self.bytes();
        while self.bytes() > bytes {
            self.drop_oldest();
        }
        before - self.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_without_resume_asks_nothing() {
        assert_eq!(parse_ask(""), None);
        assert_eq!(parse_ask("name=ann&room=1"), None);
    }

    #[test]
    fn a_new_session_is_asked_with_a_nonce() {
        let ask = parse_ask("name=ann&luna_resume=abc123").unwrap();
        assert_eq!(ask.nonce, "abc123");
        assert_eq!(ask.session, None);
    }

    #[test]
    fn a_resume_names_its_token_and_what_it_had() {
        let ask = parse_ask("luna_resume=n1&luna_session=node-a.ff00&luna_received=42").unwrap();
        assert_eq!(ask.session, Some(("node-a.ff00", 42)));
    }

    #[test]
    fn a_malformed_ask_is_no_ask() {
        for query in [
            "luna_resume=",
            "luna_resume=a%20b",
            "luna_resume=n&luna_session=t",
            "luna_resume=n&luna_received=3",
            "luna_resume=n&luna_session=t&luna_received=-1",
            "luna_resume=n&luna_session=t&luna_received=x",
            "luna_resume=n&luna_session=t%0a&luna_received=1",
        ] {
            assert_eq!(parse_ask(query), None, "{query}");
        }
        let long = format!("luna_resume={}", "a".repeat(MAX_WORD + 1));
        assert_eq!(parse_ask(&long), None);
    }

    #[test]
    fn tokens_are_long_distinct_and_carry_the_node() {
        let a = new_token(None);
        let b = new_token(None);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(new_token(Some("node-7")).starts_with("node-7."));
    }

    #[test]
    fn the_ring_replays_what_a_client_missed_in_order() {
        let mut ring = Replay::new(1000);
        for s in ["one", "two", "three"] {
            ring.push(1, s.as_bytes());
        }
        assert_eq!(ring.sent(), 3);
        let missed = ring.after(1).unwrap();
        assert_eq!(missed, vec![(1, b"two".to_vec()), (1, b"three".to_vec())]);
        assert_eq!(ring.after(3).unwrap().len(), 0);
        assert!(ring.after(4).is_none(), "more than was sent");
    }

    #[test]
    fn the_ring_keeps_only_its_limit_and_knows_what_it_lost() {
        // Each message costs its 4 bytes and an index entry.
        let limit = 2 * (4 + ENTRY_COST) + 1;
        let mut ring = Replay::new(limit);
        for s in ["aaaa", "bbbb", "cccc"] {
            ring.push(2, s.as_bytes());
        }
        assert_eq!(ring.bytes(), 2 * (4 + ENTRY_COST));
        assert!(ring.after(0).is_none(), "message 1 was dropped");
        assert_eq!(
            ring.after(1).unwrap(),
            vec![(2, b"bbbb".to_vec()), (2, b"cccc".to_vec())]
        );
        assert_eq!(ring.first(), 2);
        assert_eq!(ring.trim_to(4 + ENTRY_COST), 4 + ENTRY_COST);
        assert_eq!((ring.first(), ring.sent()), (3, 3));
        assert_eq!(ring.after(2).unwrap(), vec![(2, b"cccc".to_vec())]);
    }
}
