//! Frames in: a [`Decoder`] per connection turns the bytes read so far into [`Item`]s, or the
//! [`Violation`] (close code and reason) that ends the connection.
//!
//! The caller owns the read buffer and only moves bytes: it appends what the socket gave and
//! calls [`Decoder::feed`] until it returns `Ok(None)`. A frame's header is consumed as soon
//! as it is whole and checked against every limit, so a frame that is too large is refused
//! before its payload is buffered. The payload is unmasked and, in a text message, checked
//! for UTF-8 in place as it arrives, so a bad byte fails at once; a whole frame then leaves
//! the buffer without a copy. The decoder never zero-fills or grows the buffer itself:
//! [`Decoder::missing`] says how much the current frame still needs.

use bytes::{Buf, Bytes, BytesMut};

use super::mask::apply_mask;
use super::utf8::Utf8Stream;
use super::{close_code_allowed, opcode, Role, MAX_CONTROL_PAYLOAD};

/// How one connection's frames are read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DecoderConfig {
    /// Our end: a server expects masked frames, a client unmasked ones.
    pub role: Role,
    /// Largest frame payload; larger ones close with 1009. `usize::MAX` for no limit.
    pub max_frame_size: usize,
    /// Largest message (its frames' payloads together); larger ones close with 1009.
    pub max_message_size: usize,
    /// permessage-deflate was negotiated: RSV1 may mark the first frame of a data message.
    pub deflate: bool,
}

/// The kind of a data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataOpcode {
    Text,
    Binary,
}

/// A whole data message, its fragments joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    pub opcode: DataOpcode,
    /// The payload as sent: still deflated when `compressed`.
    pub data: Bytes,
    /// RSV1 was set (permessage-deflate): the payload needs inflating, and a text message's
    /// UTF-8 is checked after that, not here.
    pub compressed: bool,
}

/// What the peer sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    Message(Message),
    Ping(Bytes),
    Pong(Bytes),
    /// A close frame: its code and reason, or `None` when it had no payload.
    Close(Option<(u16, String)>),
}

/// A broken rule of RFC 6455: the close code to send and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

/// 1002: the frame breaks the protocol.
const fn protocol(reason: &'static str) -> Violation {
    Violation { code: 1002, reason }
}

/// 1009: the frame or message is past a limit.
const fn too_big(reason: &'static str) -> Violation {
    Violation { code: 1009, reason }
}

/// 1007: a text message or close reason is not UTF-8.
const fn not_utf8(reason: &'static str) -> Violation {
    Violation { code: 1007, reason }
}

/// A frame header, checked and consumed.
#[derive(Clone, Copy, Debug)]
struct Header {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: usize,
}

impl Header {
    fn is_data(&self) -> bool {
        self.opcode < opcode::CLOSE
    }
}

/// A data message whose frames are still arriving.
#[derive(Debug)]
struct Partial {
    opcode: DataOpcode,
    compressed: bool,
    /// The payloads of the frames before the current one.
    data: BytesMut,
    /// The payload lengths announced so far, current frame included.
    size: usize,
    /// The UTF-8 check of an uncompressed text message.
    utf8: Option<Utf8Stream>,
}

impl Partial {
    fn new(header: &Header) -> Partial {
        let text = header.opcode == opcode::TEXT;
        Partial {
            opcode: if text {
                DataOpcode::Text
            } else {
                DataOpcode::Binary
            },
            compressed: header.rsv1,
            data: BytesMut::new(),
            size: 0,
            utf8: (text && !header.rsv1).then(Utf8Stream::default),
        }
    }

    /// Counts the next frame against the message limit, from its header alone.
    fn announce(&mut self, len: usize, max: usize) -> Result<(), Violation> {
        self.size = self.size.saturating_add(len);
        if self.size > max {
            return Err(too_big("message larger than max_message_size"));
        }
        Ok(())
    }

    fn append(&mut self, payload: BytesMut) {
        // The first frame's payload is kept as it is: a single-frame message is never copied.
        if self.data.is_empty() {
            self.data = payload;
        } else {
            self.data.extend_from_slice(&payload);
        }
    }

    fn finish(self) -> Result<Message, Violation> {
        if self.utf8.is_some_and(|utf8| !utf8.is_complete()) {
            return Err(not_utf8("text message ends inside a UTF-8 sequence"));
        }
        Ok(Message {
            opcode: self.opcode,
            data: self.data.freeze(),
            compressed: self.compressed,
        })
    }
}

/// Where the connection is, as far as reading goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// A close frame arrived: the peer may send nothing after it (RFC 6455 §5.5.1).
    Closed,
    /// A rule was broken; the same violation is returned from then on.
    Failed(Violation),
}

/// Reads the frames of one connection.
#[derive(Debug)]
pub(crate) struct Decoder {
    config: DecoderConfig,
    /// The frame whose header was consumed and whose payload is arriving.
    frame: Option<Header>,
    /// How many bytes of that payload are already unmasked (and checked).
    checked: usize,
    message: Option<Partial>,
    state: State,
}

impl Decoder {
    pub(crate) fn new(config: DecoderConfig) -> Decoder {
        Decoder {
            config,
            frame: None,
            checked: 0,
            message: None,
            state: State::Open,
        }
    }

    /// Consumes what it can of `input`: the next item, `Ok(None)` when more bytes are needed,
    /// or the violation that must close the connection. Items that arrived before a violation
    /// come out first; after a close frame, further input is discarded.
    pub(crate) fn feed(&mut self, input: &mut BytesMut) -> Result<Option<Item>, Violation> {
        match self.state {
            State::Failed(violation) => return Err(violation),
            State::Closed => {
                input.clear();
                return Ok(None);
            }
            State::Open => {}
        }
        let result = self.decode(input);
        match &result {
            Err(violation) => self.state = State::Failed(*violation),
            Ok(Some(Item::Close(_))) => self.state = State::Closed,
            Ok(_) => {}
        }
        result
    }

    /// Bytes the current frame still needs beyond `input`: the rest of its header or payload.
    /// A hint for how much to reserve before the next read; 0 when a feed can make progress.
    pub(crate) fn missing(&self, input: &[u8]) -> usize {
        let needed = match self.frame {
            Some(header) => header.len,
            None => header_size(input),
        };
        needed.saturating_sub(input.len())
    }

    /// Bytes of the message being reassembled (its frames so far).
    pub(crate) fn unfinished(&self) -> usize {
        self.message
            .as_ref()
            .map_or(0, |message| message.data.len())
    }

    /// No frame or message is half-read and the connection is open: a fresh decoder would
    /// go on the same, so this one may be dropped until more bytes come.
    pub(crate) fn is_idle(&self) -> bool {
        self.frame.is_none() && self.message.is_none() && self.state == State::Open
    }

    fn decode(&mut self, input: &mut BytesMut) -> Result<Option<Item>, Violation> {
        loop {
            let header = match self.frame {
                Some(header) => header,
                None => match self.start_frame(input)? {
                    Some(header) => header,
                    None => return Ok(None),
                },
            };
            self.check_payload(header, input)?;
            if input.len() < header.len {
                return Ok(None);
            }
            self.frame = None;
            self.checked = 0;
            let payload = input.split_to(header.len);
            if let Some(item) = self.end_frame(header, payload)? {
                return Ok(Some(item));
            }
        }
    }

    /// Reads and checks the next header, and consumes it once it is whole.
    fn start_frame(&mut self, input: &mut BytesMut) -> Result<Option<Header>, Violation> {
        let Some((header, header_len)) = parse_header(input, &self.config)? else {
            return Ok(None);
        };
        self.check_sequence(&header)?;
        input.advance(header_len);
        self.frame = Some(header);
        Ok(Some(header))
    }

    /// The rules that depend on the frames before: fragments and the message limit.
    fn check_sequence(&mut self, header: &Header) -> Result<(), Violation> {
        let max = self.config.max_message_size;
        match (header.opcode, &mut self.message) {
            (opcode::CONTINUATION, Some(partial)) => partial.announce(header.len, max),
            (opcode::CONTINUATION, None) => Err(protocol("continuation frame without a message")),
            (opcode::TEXT | opcode::BINARY, Some(_)) => Err(protocol(
                "new data frame before the fragmented message ended",
            )),
            (opcode::TEXT | opcode::BINARY, None) => {
                let mut partial = Partial::new(header);
                partial.announce(header.len, max)?;
                self.message = Some(partial);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Unmasks, and in a text message checks, the payload bytes that arrived since last time.
    fn check_payload(&mut self, header: Header, input: &mut BytesMut) -> Result<(), Violation> {
        let end = header.len.min(input.len());
        // min: a caller that dropped buffered bytes gets a wrong frame, never a panic.
        let start = self.checked.min(end);
        let fresh = &mut input[start..end];
        if let Some(key) = header.mask {
            apply_mask(fresh, key, start);
        }
        self.checked = end;
        let utf8 = self.message.as_mut().and_then(|m| m.utf8.as_mut());
        match utf8 {
            Some(utf8) if header.is_data() => utf8
                .push(fresh)
                .map_err(|_| not_utf8("invalid UTF-8 in a text message")),
            _ => Ok(()),
        }
    }

    fn end_frame(&mut self, header: Header, payload: BytesMut) -> Result<Option<Item>, Violation> {
        match header.opcode {
            opcode::PING => Ok(Some(Item::Ping(payload.freeze()))),
            opcode::PONG => Ok(Some(Item::Pong(payload.freeze()))),
            opcode::CLOSE => parse_close(&payload).map(|close| Some(Item::Close(close))),
            _ => self.end_data_frame(header.fin, payload),
        }
    }

    fn end_data_frame(&mut self, fin: bool, payload: BytesMut) -> Result<Option<Item>, Violation> {
        // check_sequence started the message; a missing one is a bug reported as the peer's.
        let Some(mut partial) = self.message.take() else {
            return Err(protocol("continuation frame without a message"));
        };
        partial.append(payload);
        if !fin {
            self.message = Some(partial);
            return Ok(None);
        }
        partial.finish().map(|message| Some(Item::Message(message)))
    }
}

/// The header at the start of `input`, checked, and its length; `None` until it is whole.
/// The rules of the first two bytes are checked as soon as they are here.
fn parse_header(
    input: &[u8],
    config: &DecoderConfig,
) -> Result<Option<(Header, usize)>, Violation> {
    let [first, second, ..] = *input else {
        return Ok(None);
    };
    let (fin, rsv1, opcode) = check_first_byte(first, config.deflate)?;
    let masked = check_second_byte(second, fin, opcode, config.role)?;
    let len_end = 2 + length_field_size(second);
    let Some(field) = input.get(2..len_end) else {
        return Ok(None);
    };
    let len = payload_len(second & 0x7F, field)?;
    let len = check_len(len, opcode, config.max_frame_size)?;
    let header_len = len_end + if masked { 4 } else { 0 };
    let Some(key) = input.get(len_end..header_len) else {
        return Ok(None);
    };
    let mask = if masked {
        <[u8; 4]>::try_from(key).ok()
    } else {
        None
    };
    let header = Header {
        fin,
        rsv1,
        opcode,
        mask,
        len,
    };
    Ok(Some((header, header_len)))
}

/// FIN, RSV1 and the opcode, once the reserved bits and opcodes are ruled out.
fn check_first_byte(byte: u8, deflate: bool) -> Result<(bool, bool, u8), Violation> {
    let (fin, rsv1, code) = (byte & 0x80 != 0, byte & 0x40 != 0, byte & 0x0F);
    if byte & 0x30 != 0 {
        return Err(protocol("RSV2 or RSV3 set: no extension defines them"));
    }
    if !matches!(code, 0x0..=0x2 | 0x8..=0xA) {
        return Err(protocol("reserved opcode"));
    }
    if rsv1 && !deflate {
        return Err(protocol("RSV1 set without a negotiated extension"));
    }
    // permessage-deflate marks a message on its first frame only (RFC 7692 §6).
    if rsv1 && !matches!(code, opcode::TEXT | opcode::BINARY) {
        return Err(protocol(
            "RSV1 set on a frame that does not start a data message",
        ));
    }
    Ok((fin, rsv1, code))
}

/// Whether the frame is masked, once masking and control-frame rules are checked.
fn check_second_byte(byte: u8, fin: bool, code: u8, role: Role) -> Result<bool, Violation> {
    let masked = byte & 0x80 != 0;
    match (role, masked) {
        (Role::Server, false) => return Err(protocol("client frame not masked")),
        (Role::Client, true) => return Err(protocol("server frame masked")),
        _ => {}
    }
    if code >= opcode::CLOSE && !fin {
        return Err(protocol("fragmented control frame"));
    }
    Ok(masked)
}

/// Bytes of extended payload length that follow the second header byte.
fn length_field_size(second: u8) -> usize {
    match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

/// Header bytes needed to know the frame: 2, then all of them once the second is here.
fn header_size(input: &[u8]) -> usize {
    match input {
        [_, second, ..] => 2 + length_field_size(*second) + if second & 0x80 != 0 { 4 } else { 0 },
        _ => 2,
    }
}

/// The payload length from the 7-bit field and its extension. Longer forms than needed are
/// allowed: RFC 6455 §5.2 asks senders for the minimal form, and no receiver rule refuses
/// others.
fn payload_len(len7: u8, field: &[u8]) -> Result<u64, Violation> {
    let start = if field.is_empty() { u64::from(len7) } else { 0 };
    let len = field
        .iter()
        .fold(start, |acc, byte| acc << 8 | u64::from(*byte));
    if len >> 63 != 0 {
        return Err(protocol("64-bit payload length with the high bit set"));
    }
    Ok(len)
}

/// The length checked against the control-frame bound (a protocol error, so first) and the
/// frame limit.
fn check_len(len: u64, code: u8, max: usize) -> Result<usize, Violation> {
    if code >= opcode::CLOSE && len > MAX_CONTROL_PAYLOAD as u64 {
        return Err(protocol("control frame payload longer than 125 bytes"));
    }
    if len > max as u64 {
        return Err(too_big("frame larger than max_frame_size"));
    }
    Ok(len as usize)
}

/// A close frame's code and reason (RFC 6455 §5.5.1, §7.4).
fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, Violation> {
    match payload {
        [] => Ok(None),
        [_] => Err(protocol("close frame with a 1-byte payload")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !close_code_allowed(code) {
                return Err(protocol("close code not allowed on the wire"));
            }
            let reason = simdutf8::basic::from_utf8(reason)
                .map_err(|_| not_utf8("close reason is not UTF-8"))?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}
