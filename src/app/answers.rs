//! The host's answers to what a server holds for it: handshakes waiting for an upgrade
//! decision (UPGRADE events) and plain HTTP requests (HTTP events), and the handshake
//! request of a connection.

use std::sync::Arc;

use super::{App, Role};
use crate::error::{Error, Result};
use crate::http::request::Request;
use crate::http::response::{Field, ResponseHead};
use crate::http::websocket;
use crate::server::Server;
use crate::upgrade::{Decision, Question};

/// The largest body a host may answer a refused handshake with.
const MAX_REFUSAL_BODY: usize = 64 << 10;

impl App {
    /// The handshake request of server connection `id`, open or waiting for a decision.
    pub fn request(&self, id: u64) -> Result<Arc<Request>> {
        if let Role::Server(server) = &self.role {
            if let Some((request, _)) = server.upgrades().request(id) {
                return Ok(request);
            }
        }
        let conn = self.conn_to_read(id)?;
        let link = conn.link()?;
        link.request
            .clone()
            .ok_or_else(|| Error::invalid("a client connection has no handshake request"))
    }

    /// Accepts held handshake `id`, optionally choosing `protocol` (one the client offered
    /// and the app serves) and adding `headers` to the 101.
    pub fn accept_upgrade(
        &self,
        id: u64,
        protocol: Option<&str>,
        headers: Vec<Field>,
    ) -> Result<()> {
        let server = self.server()?;
        let request = match server.upgrades().request(id) {
            Some((request, Question::Upgrade)) => request,
            _ => {
                return Err(Error::invalid(format!(
                    "no handshake {id} waits for a decision"
                )))
            }
        };
        if let Some(name) = protocol {
            check_protocol(server, &request, name)?;
        }
        check_fields(
            &headers,
            &["sec-websocket-protocol", "sec-websocket-extensions"],
        )?;
        let decision = Decision::Accept {
            protocol: protocol.map(str::to_owned),
            headers,
        };
        server.upgrades().answer(id, Question::Upgrade, decision)
    }

    /// Refuses held handshake `id` with `status` (300-599), `headers` and `body`.
    pub fn reject_upgrade(
        &self,
        id: u64,
        status: u16,
        headers: Vec<Field>,
        body: &[u8],
    ) -> Result<()> {
        if body.len() > MAX_REFUSAL_BODY {
            return Err(Error::invalid(format!(
                "a refusal body is limited to {MAX_REFUSAL_BODY} bytes"
            )));
        }
        self.respond(id, Question::Upgrade, status, headers, body)
    }

    /// Answers held HTTP request `id` with `status` (200-599), `headers` and `body`.
    pub fn respond_http(
        &self,
        id: u64,
        status: u16,
        headers: Vec<Field>,
        body: &[u8],
    ) -> Result<()> {
        self.respond(id, Question::Http, status, headers, body)
    }

    /// Answers a held request with a status, fields and a body: a handshake only with
    /// 300-599 (a refusal), a plain request with 200-599.
    fn respond(
        &self,
        id: u64,
        question: Question,
        status: u16,
        headers: Vec<Field>,
        body: &[u8],
    ) -> Result<()> {
        let server = self.server()?;
        let (lowest, what) = match question {
            Question::Upgrade => (300, "refuse a handshake"),
            Question::Http => (200, "answer a request"),
        };
        if !(lowest..=599).contains(&status) {
            return Err(Error::invalid(format!(
                "status {status} cannot {what} (use {lowest}-599)"
            )));
        }
        check_fields(&headers, &[])?;
        let decision = Decision::Respond {
            status,
            headers,
            body: body.to_vec(),
        };
        server.upgrades().answer(id, question, decision)
    }

    fn server(&self) -> Result<&Server> {
        match &self.role {
            Role::Server(server) => Ok(server),
            Role::Client(_) => Err(Error::invalid("a client app has no handshakes to decide")),
        }
    }
}

/// Checks that the client offered subprotocol `name` and that the app serves it.
fn check_protocol(server: &Server, request: &Request, name: &str) -> Result<()> {
    let offered = websocket::offered_protocols(request).any(|p| p == name);
    if !offered || server.group_of(name).is_none() || name.is_empty() {
        return Err(Error::invalid(format!(
            "subprotocol '{name}' was not offered by the client or is not served by the app"
        )));
    }
    Ok(())
}

/// Checks header fields the host adds to a handshake answer: tokens for names, no control
/// characters in values, none of the fields luna writes itself (nor those in `also`).
fn check_fields(headers: &[Field], also: &[&str]) -> Result<()> {
    let mut scratch = ResponseHead::new(200).expect("200 is a valid status");
    for (name, value) in headers {
        if also.iter().any(|a| name.eq_ignore_ascii_case(a)) {
            return Err(Error::invalid(format!("header '{name}' is set by luna")));
        }
        scratch
            .header(name, value)
            .map_err(|e| Error::invalid(format!("header '{name}' cannot be sent: {e}")))?;
    }
    Ok(())
}
