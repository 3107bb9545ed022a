//! permessage-deflate negotiation (RFC 7692 §5, §7.1), without I/O: the server picks the first
//! offer it can honour from a `Sec-WebSocket-Extensions` request value and writes the
//! response; the client writes its offer and checks the response as the RFC tells it to.
//!
//! Parameter names follow the RFC: `server_*` is what the server compresses (and the client
//! inflates), `client_*` the other way round.

use super::Role;

/// Smallest LZ77 window luna can compress with: zlib's raw deflate (and flate2) takes 9..=15
/// and silently raises 8 to 9, which a peer holding an 8-bit window could not inflate. Any
/// window inflates data made with a smaller one, so 8 is fine for the peer's side.
pub(crate) const MIN_DEFLATE_WINDOW_BITS: u8 = 9;

/// The extension's registered name.
const NAME: &str = "permessage-deflate";

/// `client_max_window_bits` as sent: it may come without a value in an offer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ClientWindow {
    #[default]
    Absent,
    /// The client can limit its window and lets the server choose.
    AnySize,
    AtMost(u8),
}

/// The parameters of one offer or response, as sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Params {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: ClientWindow,
}

/// What one side is willing to do (a server's config, or what a client offers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The server compresses each message on its own: one compressed frame can then go to
    /// every recipient, and no window is kept between messages.
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own: the server keeps no inflate window.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window, `MIN_DEFLATE_WINDOW_BITS..=15`.
    pub server_max_window_bits: u8,
    /// The client's LZ77 window, 8..=15 (a server can ask for it only when offered).
    pub client_max_window_bits: u8,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// The configuration both sides use after the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Agreed {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
    /// The `Sec-WebSocket-Extensions` response value that states it.
    pub header: String,
}

/// One direction of an agreement: the LZ77 window its compressor may use, and whether that
/// window carries over from message to message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Direction {
    pub window_bits: u8,
    pub context_takeover: bool,
}

impl Agreed {
    /// What `role` compresses with.
    pub(crate) fn sending(&self, role: Role) -> Direction {
        match role {
            Role::Server => self.server_side(),
            Role::Client => self.client_side(),
        }
    }

    /// What `role`'s peer compresses with, so what `role` inflates.
    pub(crate) fn receiving(&self, role: Role) -> Direction {
        match role {
            Role::Server => self.client_side(),
            Role::Client => self.server_side(),
        }
    }

    fn server_side(&self) -> Direction {
        Direction {
            window_bits: self.server_max_window_bits,
            context_takeover: !self.server_no_context_takeover,
        }
    }

    fn client_side(&self) -> Direction {
        Direction {
            window_bits: self.client_max_window_bits,
            context_takeover: !self.client_no_context_takeover,
        }
    }
}

/// What a server accepts, or a client offers: with context takeover both ways (each
/// connection keeps its last window of plaintext each way), or none (each message on its
/// own, no state kept).
///
/// With context takeover both sides use 12 window bits: a connection keeps 4 KiB each way
/// instead of 32 KiB at 15, and on 1 KiB game states with numbers at full precision the ratio
/// is no worse (3.32 at 12 bits, 3.22 at 15, level 6, `deflate_bench.rs`); 10 bits cannot
/// reach back to the previous message (2.74). Without it, messages stand alone: the full
/// window costs nothing per connection and helps large messages.
pub(crate) fn settings(context_takeover: bool) -> Settings {
    let window_bits = if context_takeover { 12 } else { 15 };
    Settings {
        server_no_context_takeover: !context_takeover,
        client_no_context_takeover: !context_takeover,
        server_max_window_bits: window_bits,
        client_max_window_bits: window_bits,
    }
}

/// The permessage-deflate offers in a request's `Sec-WebSocket-Extensions` value (several
/// header lines joined with ", "), in the client's order of preference. An offer with an
/// unknown, repeated or invalid parameter is left out, which declines it (RFC 7692 §5.1);
/// other extensions are ignored.
pub(crate) fn parse_offers(value: &str) -> Vec<Params> {
    split_quoted(value, ',')
        .into_iter()
        .filter_map(|element| match parse_element(element) {
            Ok((name, params)) if name.eq_ignore_ascii_case(NAME) => params.ok(),
            _ => None,
        })
        .collect()
}

/// The server's answer: the first offer it can honour, with the response header; `None`
/// declines them all (the response then carries no extension).
pub(crate) fn accept(offers: &[Params], ours: &Settings) -> Option<Agreed> {
    offers.iter().find_map(|offer| accept_one(offer, ours))
}

fn accept_one(offer: &Params, ours: &Settings) -> Option<Agreed> {
    // The client asks for a window we cannot compress with: decline this offer.
    if offer
        .server_max_window_bits
        .is_some_and(|b| b < MIN_DEFLATE_WINDOW_BITS)
    {
        return None;
    }
    let server_bits = ours
        .server_max_window_bits
        .clamp(MIN_DEFLATE_WINDOW_BITS, 15)
        .min(offer.server_max_window_bits.unwrap_or(15));
    // The client's window can only be limited when it said it can limit it.
    let client_bits = match offer.client_max_window_bits {
        ClientWindow::Absent => 15,
        ClientWindow::AnySize => ours.client_max_window_bits.clamp(8, 15),
        ClientWindow::AtMost(bits) => ours.client_max_window_bits.clamp(8, 15).min(bits),
    };
    let mut agreed = Agreed {
        server_no_context_takeover: offer.server_no_context_takeover
            || ours.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || ours.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        header: String::new(),
    };
    // An offered server_max_window_bits is accepted only by answering it (§7.1.2.1).
    agreed.header = render(&agreed, offer.server_max_window_bits.is_some());
    Some(agreed)
}

/// The response value stating `agreed`.
fn render(agreed: &Agreed, always_server_bits: bool) -> String {
    let mut header = String::from(NAME);
    if agreed.server_no_context_takeover {
        header.push_str("; server_no_context_takeover");
    }
    if agreed.client_no_context_takeover {
        header.push_str("; client_no_context_takeover");
    }
    if always_server_bits || agreed.server_max_window_bits < 15 {
        header.push_str(&format!(
            "; server_max_window_bits={}",
            agreed.server_max_window_bits
        ));
    }
    if agreed.client_max_window_bits < 15 {
        header.push_str(&format!(
            "; client_max_window_bits={}",
            agreed.client_max_window_bits
        ));
    }
    header
}

/// The client's offer. It always says it can limit its own window (as browsers do), with a
/// value when `settings` limit it.
pub(crate) fn offer(settings: &Settings) -> String {
    let mut header = String::from(NAME);
    if settings.server_no_context_takeover {
        header.push_str("; server_no_context_takeover");
    }
    if settings.client_no_context_takeover {
        header.push_str("; client_no_context_takeover");
    }
    if settings.server_max_window_bits < 15 {
        let bits = settings.server_max_window_bits.max(8);
        header.push_str(&format!("; server_max_window_bits={bits}"));
    }
    let client_bits = settings
        .client_max_window_bits
        .clamp(MIN_DEFLATE_WINDOW_BITS, 15);
    header.push_str("; client_max_window_bits");
    if client_bits < 15 {
        header.push_str(&format!("={client_bits}"));
    }
    header
}

/// The client's check of the server's `Sec-WebSocket-Extensions` value against what
/// [`offer`] sent: `Ok(None)` when it accepted nothing, `Err` (fail the connection, RFC 7692
/// §7 and RFC 6455 §4.1) for anything not offered, invalid, repeated or not supported.
pub(crate) fn check_response(value: &str, offered: &Settings) -> Result<Option<Agreed>, String> {
    let elements: Vec<&str> = split_quoted(value, ',')
        .into_iter()
        .filter(|element| !element.trim().is_empty())
        .collect();
    let element = match elements[..] {
        [] => return Ok(None),
        [element] => element,
        _ => return Err("the server accepted more than one extension".into()),
    };
    let (name, params) = parse_element(element)?;
    if !name.eq_ignore_ascii_case(NAME) {
        return Err(format!(
            "the server accepted extension {name:?}, which was not offered"
        ));
    }
    let params = params.map_err(|why| format!("invalid {NAME} response: {why}"))?;
    agree_to_response(&params, offered).map(Some)
}

fn agree_to_response(params: &Params, offered: &Settings) -> Result<Agreed, String> {
    let asked_server_bits = offered.server_max_window_bits.max(8);
    let server_bits = match params.server_max_window_bits {
        Some(bits) if asked_server_bits < 15 && bits > asked_server_bits => {
            return Err(format!(
                "server_max_window_bits={bits} is more than offered"
            ))
        }
        Some(bits) => bits,
        None if asked_server_bits < 15 => {
            return Err("the server did not accept server_max_window_bits".into())
        }
        None => 15,
    };
    let client_bits = match params.client_max_window_bits {
        ClientWindow::Absent => 15,
        ClientWindow::AnySize => return Err("client_max_window_bits needs a value".into()),
        ClientWindow::AtMost(bits) if bits < MIN_DEFLATE_WINDOW_BITS => {
            return Err(format!(
                "client_max_window_bits={bits}: luna compresses with 9..15"
            ))
        }
        ClientWindow::AtMost(bits) => bits,
    };
    let mut agreed = Agreed {
        server_no_context_takeover: params.server_no_context_takeover,
        client_no_context_takeover: params.client_no_context_takeover
            || offered.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits.min(offered.client_max_window_bits.max(9)),
        header: String::new(),
    };
    agreed.header = render(&agreed, params.server_max_window_bits.is_some());
    Ok(agreed)
}

/// One extension element: its name, and its parameters or why they are invalid.
fn parse_element(element: &str) -> Result<(&str, Result<Params, String>), String> {
    let parts = split_quoted(element, ';');
    let name = parts[0].trim();
    if !is_token(name) {
        return Err(format!("invalid extension name {name:?}"));
    }
    Ok((name, parse_params(&parts[1..])))
}

fn parse_params(parts: &[&str]) -> Result<Params, String> {
    let mut params = Params::default();
    let mut seen: Vec<&str> = Vec::new();
    for part in parts {
        let (name, value) = split_param(part)?;
        if seen.contains(&name) {
            return Err(format!("{name} appears twice"));
        }
        seen.push(name);
        apply_param(&mut params, name, value)?;
    }
    Ok(params)
}

fn apply_param(params: &mut Params, name: &str, value: Option<String>) -> Result<(), String> {
    match (name, value) {
        ("server_no_context_takeover", None) => params.server_no_context_takeover = true,
        ("client_no_context_takeover", None) => params.client_no_context_takeover = true,
        ("server_max_window_bits", Some(value)) => {
            params.server_max_window_bits = Some(window_bits(&value)?);
        }
        ("client_max_window_bits", None) => params.client_max_window_bits = ClientWindow::AnySize,
        ("client_max_window_bits", Some(value)) => {
            params.client_max_window_bits = ClientWindow::AtMost(window_bits(&value)?);
        }
        (name, _) => return Err(format!("unknown parameter or missing value: {name}")),
    }
    Ok(())
}

/// A window size: a decimal 8..=15 without leading zeros (RFC 7692 §7.1.2).
fn window_bits(value: &str) -> Result<u8, String> {
    match value {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => Ok(value.parse().unwrap_or(15)),
        _ => Err(format!("invalid window bits {value:?}")),
    }
}

/// A parameter's name and value (unquoted), syntax checked.
fn split_param(part: &str) -> Result<(&str, Option<String>), String> {
    let (name, value) = match part.split_once('=') {
        Some((name, value)) => (name.trim(), Some(unquote(value.trim())?)),
        None => (part.trim(), None),
    };
    if !is_token(name) {
        return Err(format!("invalid parameter name {name:?}"));
    }
    Ok((name, value))
}

/// A token, or the content of a quoted-string (RFC 7230 §3.2.6).
fn unquote(value: &str) -> Result<String, String> {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return match is_token(value) {
            true => Ok(value.to_owned()),
            false => Err(format!("invalid parameter value {value:?}")),
        };
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => return Err("stray quote in a quoted value".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Splits on `sep` outside quoted strings (a quoted value may hold commas and semicolons).
fn split_quoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
#[path = "deflate_params_tests.rs"]
mod tests;
