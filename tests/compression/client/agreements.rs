//! What the client offers, and the frames it sends and takes under each agreement: shared,
//! dedicated, small windows, its own threshold, a server that keeps its context.

use super::*;

#[test]
fn the_offer_follows_the_config() {
    for (compression, want) in [
        (0u32, None),
        (1, Some(SHARED_OFFER)),
        (2, Some(DEDICATED_OFFER)),
    ] {
        // Answered without the extension: the client opens and sends plain frames.
        let (mut peer, client) = open(compression, None);
        assert_eq!(offer(&peer).as_deref(), want, "compression {compression}");
        assert_eq!(is_compressed(&client), 0);
        let msg = json_message(1, 3000);
        send_ok(&client, &msg, 1);
        let f = peer.read_wire();
        assert_eq!((f.rsv, f.opcode, f.payload == msg), (0, 1, true));
    }
    // SAFETY: plain data, filled by luna_client_config_default.
    let mut config: LunaClientConfig = unsafe { std::mem::zeroed() };
    assert_eq!(luna_client_config_default(&mut config), LunaResult::Ok);
    assert_eq!(
        (
            config.compression,
            config.compression_threshold,
            config.compression_level
        ),
        (0, 256, 6),
        "off, 256 bytes and level 6 by default"
    );
    let url = std::ffi::CString::new("ws://127.0.0.1:9/").unwrap();
    config.url = url.as_ptr();
    // Levels are zlib's 1-9 (0 = the default).
    config.compression = 2;
    config.compression_level = 10;
    let mut conn = 0u64;
    assert!(luna_client_connect(&config, &mut conn).is_null());
    assert!(
        last_error().contains("compression_level must be 1-9"),
        "{}",
        last_error()
    );
    config.compression_level = 6;
    config.compression = 3;
    assert!(luna_client_connect(&config, &mut conn).is_null());
    assert!(last_error().contains("compression"), "{}", last_error());
}

#[test]
fn shared_agreement_compresses_each_message_alone() {
    let (mut peer, mut client) = open(1, Some(SHARED_ANSWER));
    assert_eq!(offer(&peer).as_deref(), Some(SHARED_OFFER));
    assert_eq!(is_compressed(&client), 1);
    // From the server: compressed messages, text and binary, each alone.
    let sent: Vec<Vec<u8>> = (0..20).map(|i| json_message(i, 3000)).collect();
    for (i, msg) in sent.iter().enumerate() {
        send_compressed(&mut peer, 1 + (i % 2) as u8, &compress_alone(msg));
    }
    let got = wait_messages(&mut client, sent.len());
    for (i, msg) in sent.iter().enumerate() {
        assert_eq!(got[i].0, 1 + (i % 2) as u32, "opcode of {i}");
        assert!(got[i].1 == *msg, "message {i}");
    }
    // From the client: the same message five times, each frame alone (RSV1, masked).
    let msg = json_message(7, 2000);
    for i in 0..5 {
        send_ok(&client, &msg, 2);
        let f = peer.read_wire();
        assert_eq!((f.fin, f.rsv, f.opcode), (true, RSV1, 2), "frame {i}");
        let alone = StrictInflater::new(15, false).inflate(&f.payload);
        assert!(alone == Ok(msg.clone()), "frame {i} inflates alone");
    }
    // Under the threshold (256 bytes by default): plain.
    for len in [0usize, 1, 255] {
        send_ok(&client, &vec![b'a'; len], 1);
        let f = peer.read_wire();
        assert_eq!((f.rsv, f.payload.len()), (0, len), "{len} bytes go plain");
    }
}

#[test]
fn the_client_threshold_is_its_own() {
    let (mut peer, client) = start(Some(SHARED_ANSWER), |c| {
        c.compression = 1;
        c.compression_threshold = 1;
    });
    let mut client = client;
    client.until(10, "open", TestClient::opened);
    for (len, rsv) in [(0usize, 0), (1, RSV1), (10, RSV1)] {
        let msg = vec![b'z'; len];
        send_ok(&client, &msg, 1);
        let f = peer.read_wire();
        assert_eq!(f.rsv, rsv, "{len} bytes");
        if rsv == RSV1 {
            assert_eq!(inflate_alone(&f.payload), Ok(msg));
        }
    }
}

/// The client sends `count` messages that repeat each other; returns how many of its frames
/// needed earlier ones (did not inflate alone). `theirs` inflates as the agreement says.
fn client_messages(
    peer: &mut RawPeer,
    client: &TestClient,
    count: usize,
    theirs: &mut StrictInflater,
) -> usize {
    let mut needed = 0;
    for i in 0..count {
        let msg = json_message(i, 1500);
        send_ok(client, &msg, 1);
        let f = peer.read_wire();
        assert_eq!(
            (f.fin, f.rsv, f.opcode),
            (true, RSV1, 1),
            "client frame {i}"
        );
        if inflate_alone(&f.payload).as_ref() != Ok(&msg) {
            needed += 1;
        }
        let got = theirs.inflate(&f.payload);
        assert!(got == Ok(msg), "client frame {i}: {got:?}");
    }
    needed
}

#[test]
fn dedicated_agreement_with_a_10_bit_server_window() {
    let answer = "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12";
    let (mut peer, mut client) = open(2, Some(answer));
    assert_eq!(offer(&peer).as_deref(), Some(DEDICATED_OFFER));
    assert_eq!(is_compressed(&client), 1);
    // The server keeps a 10-bit context: its messages refer to earlier ones.
    let mut ours = PeerDeflater::new(10, true);
    let sent: Vec<Vec<u8>> = (0..50).map(|i| json_message(i, 1500)).collect();
    for msg in &sent {
        send_compressed(&mut peer, 1, &ours.compress(msg));
    }
    let got = wait_messages(&mut client, sent.len());
    for (i, msg) in sent.iter().enumerate() {
        assert!(got[i].1 == *msg, "server message {i}");
    }
    // The client keeps a context too, within the 12 bits agreed.
    let needed = client_messages(&mut peer, &client, 50, &mut StrictInflater::new(12, true));
    assert!(
        needed > 40,
        "context takeover: {needed} of 50 frames used it"
    );
}

#[test]
fn nine_bit_windows_both_ways() {
    let answer = "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9";
    let (mut peer, mut client) = open(2, Some(answer));
    let mut ours = PeerDeflater::new(9, true);
    let sent: Vec<Vec<u8>> = (0..10).map(far_repeats).collect();
    for msg in &sent {
        send_compressed(&mut peer, 2, &ours.compress(msg));
    }
    let got = wait_messages(&mut client, sent.len());
    assert!(got.iter().map(|m| &m.1).eq(sent.iter()), "server messages");
    let mut strict = StrictInflater::new(9, true);
    for (i, msg) in sent.iter().enumerate() {
        send_ok(&client, msg, 2);
        let f = peer.read_wire();
        assert_eq!(f.rsv, RSV1);
        let got = strict.inflate(&f.payload);
        assert!(
            got == Ok(msg.clone()),
            "client frame {i} within 9 bits: {got:?}"
        );
    }
}

#[test]
fn client_max_window_bits_above_the_offer_keeps_the_offered_window() {
    // The offer said 12; RFC 7692 §7.1.2.2 lets a server ignore that hint. luna then keeps
    // to its own 12 bits. (Node's ws and Python's websockets refuse such an answer.)
    let answer = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=14";
    let (mut peer, client) = open(2, Some(answer));
    let mut strict = StrictInflater::new(12, true);
    for i in 0..10 {
        let msg = noisy_text(3000, 5).repeat(2);
        send_ok(&client, &msg, 2);
        let f = peer.read_wire();
        let got = strict.inflate(&f.payload);
        assert!(got == Ok(msg), "frame {i} within 12 bits: {got:?}");
    }
}

#[test]
fn a_server_that_keeps_its_context_after_a_shared_offer() {
    // The offer asked for server_no_context_takeover; the server may decline it by leaving
    // it out, and then refers back to earlier messages.
    let (mut peer, mut client) = open(1, Some("permessage-deflate; client_no_context_takeover"));
    let mut ours = PeerDeflater::new(15, true);
    let sent: Vec<Vec<u8>> = (0..30).map(|i| json_message(i, 2000)).collect();
    for msg in &sent {
        send_compressed(&mut peer, 1, &ours.compress(msg));
    }
    let got = wait_messages(&mut client, sent.len());
    assert!(
        got.iter().map(|m| &m.1).eq(sent.iter()),
        "inflated with context"
    );
    // A bare answer: the client still compresses each message alone, as it offered.
    let (mut peer, client) = open(1, Some("permessage-deflate"));
    let needed = client_messages(&mut peer, &client, 10, &mut StrictInflater::new(15, false));
    assert_eq!(needed, 0, "client frames that needed an earlier one");
}
