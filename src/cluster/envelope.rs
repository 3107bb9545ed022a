//! What a node writes into Redis and reads back, without I/O: channel names and the
//! message envelope.
//!
//! A channel is named `{len}:{prefix}{kind}:{name}`: the prefix's length in bytes, the
//! prefix, one letter for the kind (`t` a topic, `g` a subprotocol group, `b` everyone,
//! whose name is empty), and the topic or group name. The length makes every name decode
//! one way only, so no two (prefix, kind, name) share a channel: with prefixes `luna:` and
//! `luna:b:`, topic `b:room` of the first is `5:luna:t:b:room` and topic `room` of the second
//! is `7:luna:b:t:room`. A message is the sending node's id, its kind, its opcode, then its
//! data.

/// Bytes of a node id.
pub(super) const NODE_ID_LEN: usize = 16;
/// Node id, kind, opcode.
const HEADER_LEN: usize = NODE_ID_LEN + 2;

/// A node's random id: it skips its own messages.
pub(super) type NodeId = [u8; NODE_ID_LEN];

/// Who a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Topic,
    Everyone,
    Group,
}

impl Kind {
    /// The letter in a channel name.
    fn letter(self) -> u8 {
        match self {
            Kind::Topic => b't',
            Kind::Everyone => b'b',
            Kind::Group => b'g',
        }
    }

    /// The byte in an envelope.
    fn byte(self) -> u8 {
        match self {
            Kind::Topic => 0,
            Kind::Everyone => 1,
            Kind::Group => 2,
        }
    }

    fn from_letter(letter: u8) -> Option<Kind> {
        [Kind::Topic, Kind::Everyone, Kind::Group]
            .into_iter()
            .find(|kind| kind.letter() == letter)
    }
}

/// The channel names of one cluster.
#[derive(Debug)]
pub(super) struct Channels {
    /// `{len}:{prefix}`: the start of every channel of this cluster.
    head: Vec<u8>,
}

impl Channels {
    /// `prefix` is not empty (config refuses an empty one).
    pub(super) fn new(prefix: &str) -> Channels {
        Channels {
            head: format!("{}:{prefix}", prefix.len()).into_bytes(),
        }
    }

    /// The channel of `name` (empty for `Kind::Everyone`).
    pub(super) fn name(&self, kind: Kind, name: &[u8]) -> Vec<u8> {
        [&self.head[..], &[kind.letter(), b':'], name].concat()
    }

    /// The kind and name of `channel`; `None` when it is not one of this cluster's.
    pub(super) fn parse<'a>(&self, channel: &'a [u8]) -> Option<(Kind, &'a [u8])> {
        let rest = channel.strip_prefix(&self.head[..])?;
        let [letter, b':', name @ ..] = rest else {
            return None;
        };
        let kind = Kind::from_letter(*letter)?;
        (kind != Kind::Everyone || name.is_empty()).then_some((kind, name))
    }
}

/// A message for the other nodes.
pub(super) fn seal(node: &NodeId, kind: Kind, opcode: u8, data: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(HEADER_LEN + data.len());
    payload.extend_from_slice(node);
    payload.extend_from_slice(&[kind.byte(), opcode]);
    payload.extend_from_slice(data);
    payload
}

/// A message as read: who sent it, its kind and opcode, and where its data starts.
#[derive(Debug, PartialEq, Eq)]
struct Opened {
    pub node: NodeId,
    pub kind: Kind,
    pub opcode: u8,
    pub data_start: usize,
}

/// Reads an envelope; `None` when it is too short or of an unknown kind.
fn open(payload: &[u8]) -> Option<Opened> {
    let header = payload.get(..HEADER_LEN)?;
    let kind = [Kind::Topic, Kind::Everyone, Kind::Group]
        .into_iter()
        .find(|kind| kind.byte() == header[NODE_ID_LEN])?;
    Some(Opened {
        node: header[..NODE_ID_LEN].try_into().ok()?,
        kind,
        opcode: header[NODE_ID_LEN + 1],
        data_start: HEADER_LEN,
    })
}

/// A message from another node of this cluster, as the subscriber delivers it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Received<'a> {
    pub kind: Kind,
    /// The topic or group name (empty for everyone).
    pub name: &'a [u8],
    pub opcode: u8,
    pub data_start: usize,
}

/// Reads a message that arrived on `channel`; `None` for this node's own (delivered locally
/// already), a channel of another cluster, a garbled envelope, or one whose kind disagrees
/// with its channel.
pub(super) fn receive<'a>(
    channels: &Channels,
    own: &NodeId,
    channel: &'a [u8],
    payload: &[u8],
) -> Option<Received<'a>> {
    let (kind, name) = channels.parse(channel)?;
    let opened = open(payload)?;
    if opened.node == *own || opened.kind != kind {
        return None;
    }
    Some(Received {
        kind,
        name,
        opcode: opened.opcode,
        data_start: opened.data_start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [Kind; 3] = [Kind::Topic, Kind::Everyone, Kind::Group];

    #[test]
    fn channel_names_read_as_documented() {
        let luna = Channels::new("luna:");
        assert_eq!(luna.name(Kind::Topic, b"room"), b"5:luna:t:room");
        assert_eq!(luna.name(Kind::Group, b"chat"), b"5:luna:g:chat");
        assert_eq!(luna.name(Kind::Group, b""), b"5:luna:g:");
        assert_eq!(luna.name(Kind::Everyone, b""), b"5:luna:b:");
    }

    #[test]
    fn no_two_prefix_kind_name_triples_share_a_channel() {
        // Prefixes that are prefixes of each other, end in a kind letter, or look like a
        // length; names that look like the rest of another channel.
        let prefixes = [
            "luna:", "luna:b:", "luna:t:", "l", "5:luna:", "1:l", "a:b", "é",
        ];
        let names: [&[u8]; 8] = [
            b"", b"room", b"b:room", b"t:room", b":", b"t:", b"\0", b"5:",
        ];
        let mut seen = std::collections::HashMap::new();
        for prefix in prefixes {
            let channels = Channels::new(prefix);
            for kind in KINDS {
                for name in names {
                    if kind == Kind::Everyone && !name.is_empty() {
                        continue;
                    }
                    let channel = channels.name(kind, name);
                    let triple = (prefix, kind, name);
                    if let Some(other) = seen.insert(channel.clone(), triple) {
                        panic!("{triple:?} and {other:?} share {channel:?}");
                    }
                    // Each cluster reads back exactly its own triple, and no other's.
                    for other in prefixes {
                        let parsed = Channels::new(other).parse(&channel);
                        match other == prefix {
                            true => assert_eq!(parsed, Some((kind, name))),
                            false => assert_eq!(parsed, None, "{other} reads {channel:?}"),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn foreign_and_malformed_channels_are_not_this_clusters() {
        let luna = Channels::new("luna:");
        for channel in [
            &b"luna:room"[..],
            b"5:luna:",
            b"5:luna:x:room",
            b"5:luna:troom",
            b"5:luna:b:extra",
            b"7:luna:b:t:room",
        ] {
            assert_eq!(luna.parse(channel), None, "{channel:?}");
        }
    }

    #[test]
    fn envelopes_round_trip_and_short_or_unknown_ones_are_refused() {
        let node = [7u8; NODE_ID_LEN];
        for kind in KINDS {
            let sealed = seal(&node, kind, 2, b"data");
            let opened = open(&sealed).unwrap();
            assert_eq!((opened.node, opened.kind, opened.opcode), (node, kind, 2));
            assert_eq!(&sealed[opened.data_start..], b"data");
        }
        assert_eq!(open(&[0; HEADER_LEN - 1]), None);
        let mut unknown = seal(&node, Kind::Topic, 1, b"");
        unknown[NODE_ID_LEN] = 9;
        assert_eq!(open(&unknown), None);
    }

    #[test]
    fn empty_and_binary_data_round_trip_with_their_opcode() {
        let node = [0xff; NODE_ID_LEN];
        let binary: Vec<u8> = (0..=255).collect();
        for (opcode, data) in [(1, &b""[..]), (2, &binary[..]), (1, "é€".as_bytes())] {
            let sealed = seal(&node, Kind::Group, opcode, data);
            assert_eq!(sealed.len(), HEADER_LEN + data.len());
            let opened = open(&sealed).unwrap();
            assert_eq!(opened.opcode, opcode);
            assert_eq!(&sealed[opened.data_start..], data);
        }
    }

    #[test]
    fn a_message_from_another_node_is_received_with_its_channel() {
        let (luna, own, other) = (Channels::new("luna:"), [1u8; NODE_ID_LEN], [2u8; 16]);
        let channel = luna.name(Kind::Topic, b"room");
        let sealed = seal(&other, Kind::Topic, 2, b"hi");
        let received = receive(&luna, &own, &channel, &sealed).unwrap();
        assert_eq!(
            received,
            Received {
                kind: Kind::Topic,
                name: b"room",
                opcode: 2,
                data_start: HEADER_LEN
            }
        );
        assert_eq!(&sealed[received.data_start..], b"hi");
        let everyone = luna.name(Kind::Everyone, b"");
        let sealed = seal(&other, Kind::Everyone, 1, b"all");
        let received = receive(&luna, &own, &everyone, &sealed).unwrap();
        assert_eq!((received.kind, received.name), (Kind::Everyone, &b""[..]));
    }

    #[test]
    fn own_foreign_garbled_and_mismatched_messages_are_dropped() {
        let (luna, own, other) = (Channels::new("luna:"), [1u8; NODE_ID_LEN], [2u8; 16]);
        let topic = luna.name(Kind::Topic, b"room");
        let group = luna.name(Kind::Group, b"chat");
        let sealed = seal(&other, Kind::Topic, 1, b"x");
        // This node's own message was delivered locally already.
        assert_eq!(
            receive(&luna, &own, &topic, &seal(&own, Kind::Topic, 1, b"x")),
            None
        );
        // Another cluster's channel, even with a well-formed envelope.
        let foreign = Channels::new("other:").name(Kind::Topic, b"room");
        assert_eq!(receive(&luna, &own, &foreign, &sealed), None);
        assert_eq!(receive(&luna, &own, b"room", &sealed), None);
        // The envelope's kind disagrees with its channel.
        assert_eq!(receive(&luna, &own, &group, &sealed), None);
        // Garbled: too short, an unknown kind, or not an envelope at all.
        assert_eq!(
            receive(&luna, &own, &topic, &sealed[..HEADER_LEN - 1]),
            None
        );
        let mut unknown = sealed.clone();
        unknown[NODE_ID_LEN] = 0x7f;
        assert_eq!(receive(&luna, &own, &topic, &unknown), None);
        assert_eq!(receive(&luna, &own, &topic, b"hello from redis-cli"), None);
        assert_eq!(receive(&luna, &own, &topic, b""), None);
    }
}
