//! The WebSocket opening handshake (RFC 6455 §4), both sides, without I/O. The server's
//! side: the client's subprotocol offer, the permessage-deflate it accepts and its 101. The
//! client's side: the server's response head and the checks of a 101. The accept key is
//! computed here for both.

use data_encoding::BASE64;
use sha1::{Digest, Sha1};

use super::request::Request;
use super::response::{Field, ResponseHead};
use crate::frame::deflate_params::{self, Agreed, Settings};

/// The `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub(crate) fn accept_key(key: &[u8]) -> String {
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    BASE64.encode(&sha1.finalize())
}

/// Whether comma-separated field `values` list `token`, case-insensitively.
pub(crate) fn lists_token<'a>(values: impl IntoIterator<Item = &'a str>, token: &str) -> bool {
    let items = values.into_iter().flat_map(|value| value.split(','));
    items
        .map(str::trim)
        .any(|item| item.eq_ignore_ascii_case(token))
}

/// The subprotocols a client offers, in its order (every `Sec-WebSocket-Protocol` line).
pub(crate) fn offered_protocols(request: &Request) -> impl Iterator<Item = &str> {
    let values = request.header_values("sec-websocket-protocol");
    values
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// The first subprotocol of the client's list that the app serves, and its index in `served`.
pub(crate) fn select_protocol<'r>(
    request: &'r Request,
    served: &[String],
) -> Option<(&'r str, usize)> {
    offered_protocols(request).find_map(|name| {
        let index = served.iter().position(|p| p == name)?;
        Some((name, index))
    })
}

/// The permessage-deflate offer the server accepts (RFC 7692 §5): the client's first that
/// `ours` can honour; none when the server does not compress (`ours` is `None`) or the
/// client offered nothing it can honour.
pub(crate) fn negotiate_deflate(ours: Option<&Settings>, request: &Request) -> Option<Agreed> {
    let ours = ours?;
    let offers: Vec<&str> = request.header_values("sec-websocket-extensions").collect();
    let offers = deflate_params::parse_offers(&offers.join(", "));
    deflate_params::accept(&offers, ours)
}

/// The 101 that accepts `request`, with the subprotocol, the extension and `extra` fields
/// (already checked by whoever chose them).
pub(crate) fn switching_protocols(
    request: &Request,
    protocol: Option<&str>,
    deflate: Option<&Agreed>,
    extra: &[Field],
) -> Vec<u8> {
    let key = request.websocket_key().unwrap_or_default();
    let mut head = ResponseHead::switching_protocols(key);
    if let Some(protocol) = protocol {
        // Names were checked as tokens when the app was configured.
        let _ = head.header("Sec-WebSocket-Protocol", protocol);
    }
    if let Some(deflate) = deflate {
        let _ = head.header("Sec-WebSocket-Extensions", &deflate.header);
    }
    for (name, value) in extra {
        let _ = head.header(name, value);
    }
    head.to_bytes()
}

/// A server's response head, as a client reads it.
#[derive(Debug)]
pub(crate) struct ServerAnswer {
    pub status: u16,
    headers: Vec<(String, String)>,
}

impl ServerAnswer {
    /// The values of field `name`, several lines joined with ", ".
    pub(crate) fn field(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self.values(name).collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        let named = self
            .headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name));
        named.map(|(_, v)| v.as_str())
    }
}

/// Why a client does not accept the server's answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// Not HTTP, or not a valid 101.
    Protocol(String),
    /// The 101 agreed to a subprotocol the client did not ask for, or to none of them.
    Subprotocol(String),
}

fn protocol(why: &str) -> Mismatch {
    Mismatch::Protocol(why.to_owned())
}

fn subprotocol(why: &str) -> Mismatch {
    Mismatch::Subprotocol(why.to_owned())
}

/// The response head at the start of `input` and its length; `None` until it is whole.
pub(crate) fn parse_answer(input: &[u8]) -> Result<Option<(ServerAnswer, usize)>, Mismatch> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(input) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(protocol(&format!("the server's response is not HTTP: {e}"))),
    };
    let headers = response
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).trim().to_owned();
            (h.name.to_owned(), value)
        })
        .collect();
    let status = response.code.unwrap_or(0);
    Ok(Some((ServerAnswer { status, headers }, len)))
}

/// Checks a 101 (RFC 6455 §4.1, the client's checks 2-6) against the `key` sent and the
/// `protocols` asked for; the subprotocol it agreed to.
pub(crate) fn check_upgrade(
    answer: &ServerAnswer,
    key: &[u8],
    protocols: &[String],
) -> Result<Option<String>, Mismatch> {
    if !lists_token(answer.values("upgrade"), "websocket") {
        return Err(protocol("the server's 101 has no 'Upgrade: websocket'"));
    }
    if !lists_token(answer.values("connection"), "upgrade") {
        return Err(protocol("the server's 101 has no 'Connection: Upgrade'"));
    }
    if answer.field("sec-websocket-accept").as_deref() != Some(accept_key(key).as_str()) {
        return Err(protocol(
            "the server's Sec-WebSocket-Accept does not match the key sent",
        ));
    }
    let chosen = answer
        .field("sec-websocket-protocol")
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    match chosen {
        Some(p) if protocols.contains(&p) => Ok(Some(p)),
        Some(_) if protocols.is_empty() => Err(subprotocol(
            "the server chose a subprotocol although none was requested",
        )),
        Some(_) => Err(subprotocol(
            "the server chose a subprotocol that was not requested",
        )),
        None if protocols.is_empty() => Ok(None),
        None => Err(subprotocol(
            "the server accepted none of the requested subprotocols",
        )),
    }
}

/// The extension the server accepted: only what was offered (RFC 6455 §4.1 point 5,
/// RFC 7692 §7.1).
pub(crate) fn check_extensions(
    answer: &ServerAnswer,
    offered: Option<&Settings>,
) -> Result<Option<Agreed>, Mismatch> {
    let value = answer.field("sec-websocket-extensions").unwrap_or_default();
    match offered {
        Some(settings) => deflate_params::check_response(&value, settings)
            .map_err(|why| protocol(&format!("permessage-deflate: {why}"))),
        None if value.trim().is_empty() => Ok(None),
        None => Err(protocol(&format!(
            "the server accepted extensions that were not offered: {value}"
        ))),
    }
}
