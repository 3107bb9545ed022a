//! Answers the client must refuse, bad compressed frames from the server, and compressed
//! fragments that must arrive whole.

use super::*;

/// A failed handshake: one ERROR mentioning `needle`, then CLOSE 1006, never an OPEN, and
/// the client drops TCP.
fn refused(compression: u32, answer: &str, needle: &str) {
    let (mut peer, mut client) = start(Some(answer), |c| c.compression = compression);
    client.until(10, "close", TestClient::closed);
    let case = format!("compression {compression}, answer {answer:?}");
    let errors: Vec<(u32, String)> = client
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Error { code, message, .. } => Some((*code, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{case}: {:?}", client.brief());
    assert_eq!(errors[0].0, LunaResult::Protocol as u32, "{case}");
    assert!(
        errors[0].1.contains(needle),
        "{case}: {:?} lacks {needle:?}",
        errors[0].1
    );
    let closes: Vec<u32> = client
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::Close { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(closes, [1006], "{case}");
    assert!(!TestClient::opened(&client.events), "{case}: never opened");
    assert!(peer.tcp_closed(), "{case}: the client drops TCP");
}

#[test]
fn answers_the_client_must_refuse() {
    let cases = [
        (0, "permessage-deflate", "not offered"),
        (1, "x-webkit-deflate-frame", "not offered"),
        (1, "permessage-deflate, permessage-deflate", "more than one"),
        (1, "permessage-deflate, x-foo", "more than one"),
        (1, "permessage-deflate; foo", "unknown parameter"),
        (
            1,
            "permessage-deflate; client_max_window_bits",
            "needs a value",
        ),
        (1, "permessage-deflate; client_max_window_bits=8", "9..15"),
        (
            1,
            "permessage-deflate; server_max_window_bits=16",
            "window bits",
        ),
        (
            1,
            "permessage-deflate; server_max_window_bits=7",
            "window bits",
        ),
        (
            1,
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "twice",
        ),
        (
            1,
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate",
        ),
        (2, "permessage-deflate", "server_max_window_bits"),
        (
            2,
            "permessage-deflate; server_max_window_bits=13",
            "more than offered",
        ),
        (
            2,
            "permessage-deflate; server_max_window_bits=15",
            "more than offered",
        ),
    ];
    for (compression, answer, needle) in cases {
        refused(compression, answer, needle);
    }
}

/// The peer sends `frames` on a shared agreement (after `tweak`); the client must close with
/// `code` and report it, delivering no message.
fn violation(frames: &[Vec<u8>], code: u16, case: &str, tweak: impl FnOnce(&mut LunaClientConfig)) {
    let (mut peer, mut client) = start(Some(SHARED_ANSWER), |c| {
        c.compression = 1;
        tweak(c);
    });
    client.until(10, "open", TestClient::opened);
    for f in frames {
        peer.stream.write_all(f).unwrap();
    }
    assert_eq!(peer.read_close(), code, "{case}: the client's close code");
    client.until(10, "close", TestClient::closed);
    let close = client.events.iter().find_map(|e| match e {
        Ev::Close { code, .. } => Some(*code),
        _ => None,
    });
    assert_eq!(close, Some(u32::from(code)), "{case}: close event");
    assert!(messages(&client).is_empty(), "{case}: {:?}", client.brief());
}

fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode_frame(fin, rsv, opcode, payload, None)
}

#[test]
fn bad_compressed_frames_fail_the_client() {
    let payload = compress_alone(&json_message(1, 3000));
    let (first, rest) = payload.split_at(payload.len() / 2);
    let bomb = compress_alone(&vec![0u8; 32 << 20]);
    let invalid = compress_alone(b"caf\xc3(");
    let one_mib = |c: &mut LunaClientConfig| c.max_message_size = 1 << 20;
    violation(
        &[frame(true, RSV1, 2, &bomb)],
        1009,
        "32 MiB of zeros",
        one_mib,
    );
    violation(
        &[frame(
            true,
            RSV1,
            2,
            &compress_alone(&vec![1u8; (1 << 20) + 1]),
        )],
        1009,
        "1 MiB + 1 once inflated",
        one_mib,
    );
    let cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        ("block type 3", vec![frame(true, RSV1, 2, &[0xff; 6])], 1007),
        (
            "text inflating to invalid UTF-8",
            vec![frame(true, RSV1, 1, &invalid)],
            1007,
        ),
        (
            "RSV1 on a continuation",
            vec![frame(false, RSV1, 1, first), frame(true, RSV1, 0, rest)],
            1002,
        ),
        ("RSV1 on a ping", vec![frame(true, RSV1, 9, b"")], 1002),
        ("RSV2 on a text", vec![frame(true, 0b010, 1, b"x")], 1002),
        ("RSV3 on a binary", vec![frame(true, 0b001, 2, b"x")], 1002),
    ];
    for (case, frames, code) in cases {
        violation(&frames, code, case, |_| {});
    }
    // A message before the violation, in the same write: delivered, then the close.
    let (mut peer, mut client) = open(1, Some(SHARED_ANSWER));
    let msg = json_message(3, 2000);
    let mut bytes = frame(true, RSV1, 1, &compress_alone(&msg));
    bytes.extend(frame(true, RSV1, 9, b""));
    peer.stream.write_all(&bytes).unwrap();
    assert_eq!(peer.read_close(), 1002, "RSV1 on a ping after a message");
    client.until(10, "close", TestClient::closed);
    assert_eq!(
        messages(&client),
        [(1, msg)],
        "the message before the violation"
    );
    // RSV1 when nothing was agreed.
    let (mut peer, mut client) = open(1, None);
    send_compressed(&mut peer, 1, &compress_alone(b"hello"));
    assert_eq!(peer.read_close(), 1002, "RSV1 without an agreement");
    client.until(10, "close", TestClient::closed);
    assert!(messages(&client).is_empty());
}

#[test]
fn fragmented_compressed_messages_reach_the_client_whole() {
    let (mut peer, mut client) = open(2, Some("permessage-deflate; server_max_window_bits=12"));
    let mut ours = PeerDeflater::new(12, true);
    let mut sent = Vec::new();
    for n in [2usize, 3, 7] {
        let msg = json_message(n, 8000);
        let payload = ours.compress(&msg);
        let size = payload.len().div_ceil(n);
        let pieces: Vec<&[u8]> = payload.chunks(size).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let (rsv, op) = if i == 0 { (RSV1, 1) } else { (0, 0) };
            peer.frame(i == pieces.len() - 1, rsv, op, piece, None);
            if i == 0 {
                peer.frame(true, 0, 9, b"mid", None);
            }
        }
        let pong = peer.read_wire();
        assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"mid"[..]));
        sent.push(msg);
    }
    let got = wait_messages(&mut client, sent.len());
    assert!(got.iter().map(|m| &m.1).eq(sent.iter()), "reassembled");
    // The closing handshake after compressed traffic: plain close frames both ways.
    peer.frame(true, 0, 8, &[0x0f, 0xa1, b'o', b'k'], None);
    assert_eq!(peer.read_close(), 4001);
    client.until(10, "close", TestClient::closed);
}
