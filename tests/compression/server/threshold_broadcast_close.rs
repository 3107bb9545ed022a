//! What the threshold compresses, broadcasts to shared and dedicated recipients, and closes
//! with compression on.

use super::*;

/// Sends `len` bytes and returns whether the echo came back with RSV1.
fn echo_is_compressed(c: &mut RawPeer, len: usize, opcode: u8) -> bool {
    let msg = noisy_text(len, len as u32);
    c.send(opcode, &msg);
    let (rsv, payload) = {
        let f = read(c);
        (f.rsv, f.payload)
    };
    let got = match rsv {
        RSV1 => inflate_alone(&payload).expect("inflate"),
        _ => payload,
    };
    assert!(got == msg, "echo of {len} bytes");
    rsv == RSV1
}

#[test]
fn the_threshold_decides_what_is_compressed() {
    let s = LuaEcho::start(SHARED);
    let mut c = open(s.port, "permessage-deflate");
    for (len, want) in [
        (0, false),
        (1, false),
        (255, false),
        (256, true),
        (70000, true),
    ] {
        for opcode in [1, 2] {
            assert_eq!(
                echo_is_compressed(&mut c, len, opcode),
                want,
                "default threshold, {len} bytes"
            );
        }
    }
    // Small messages from the client may still come compressed.
    send_compressed(&mut c, 1, &compress_alone(b"tiny"));
    let f = read(&mut c);
    assert_eq!((f.rsv, f.payload.as_slice()), (0, &b"tiny"[..]));
    let s = LuaEcho::start("{ compression = \"dedicated\", compression_threshold = 1 }");
    let mut c = open(s.port, "permessage-deflate; server_no_context_takeover");
    for (len, want) in [(0, false), (1, true), (2, true), (500, true)] {
        assert_eq!(
            echo_is_compressed(&mut c, len, 1),
            want,
            "threshold 1, {len} bytes"
        );
    }
    let s = LuaEcho::start("{ compression = \"shared\", compression_threshold = 5000 }");
    let mut c = open(s.port, "permessage-deflate");
    for (len, want) in [(4999, false), (5000, true)] {
        assert_eq!(
            echo_is_compressed(&mut c, len, 2),
            want,
            "threshold 5000, {len} bytes"
        );
    }
}

// ---- broadcast ------------------------------------------------------------------------

/// Joins the "broadcast" group: sends a marker and waits for its copy, so the server knows
/// the connection before anyone else broadcasts.
fn join(port: u16, offer: &str, name: &str) -> RawPeer {
    let mut c = open_with(port, offer, "broadcast");
    c.send(1, name.as_bytes());
    skip_until(&mut c, name.as_bytes());
    c
}

/// Reads (plain) frames until one carries `marker`.
fn skip_until(c: &mut RawPeer, marker: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "marker {marker:?} never came");
        let f = read(c);
        if f.rsv == 0 && f.payload == marker {
            return;
        }
    }
}

#[test]
fn a_shared_broadcast_is_one_compressed_frame_for_every_recipient() {
    let s = LuaEcho::start(SHARED);
    let mut a = join(s.port, "permessage-deflate", "a");
    let mut b = join(s.port, "permessage-deflate; client_max_window_bits", "b");
    let mut c = join(
        s.port,
        "permessage-deflate; server_no_context_takeover",
        "c",
    );
    let mut narrow = join(s.port, "permessage-deflate; server_max_window_bits=10", "d");
    let mut plain = join(s.port, "", "e");
    // Everyone joined: from here each reads the same stream of broadcasts.
    a.send(1, b"start");
    for r in [&mut a, &mut b, &mut c, &mut narrow, &mut plain] {
        skip_until(r, b"start");
    }
    for i in 0..3 {
        let msg = json_message(i, 4000 + i * 100);
        a.send(1, &msg);
        let frames: Vec<WireFrame> = [&mut a, &mut b, &mut c].map(read).into();
        assert_eq!(frames[0].rsv, RSV1, "broadcast {i} compressed");
        assert!(
            frames.iter().all(|f| f.raw == frames[0].raw),
            "broadcast {i}: byte-identical frames"
        );
        assert!(inflate_alone(&frames[0].payload) == Ok(msg.clone()));
        let f = read(&mut narrow);
        assert_eq!(f.rsv, RSV1);
        let got = StrictInflater::new(10, false).inflate(&f.payload);
        assert!(got == Ok(msg.clone()), "10-bit recipient, broadcast {i}");
        let f = read(&mut plain);
        assert_eq!((f.rsv, f.payload == msg), (0, true), "plain recipient");
    }
}

#[test]
fn a_dedicated_broadcast_follows_each_recipients_context() {
    let s = LuaEcho::start(DEDICATED);
    let mut a = join(s.port, "permessage-deflate", "a");
    let mut b = join(s.port, "permessage-deflate", "b");
    a.send(1, b"start");
    skip_until(&mut a, b"start");
    skip_until(&mut b, b"start");
    let mut inflaters = [StrictInflater::new(12, true), StrictInflater::new(12, true)];
    let mut sizes = Vec::new();
    for i in 0..20 {
        let msg = far_repeats(0)
            .into_iter()
            .chain(json_message(i, 1200))
            .collect::<Vec<u8>>();
        let sender = if i % 2 == 0 { &mut a } else { &mut b };
        sender.send(2, &msg);
        for (r, inflater) in [&mut a, &mut b].into_iter().zip(inflaters.iter_mut()) {
            let f = read(r);
            assert_eq!(f.rsv, RSV1, "broadcast {i}");
            sizes.push(f.payload.len());
            let got = inflater.inflate(&f.payload);
            assert!(got == Ok(msg.clone()), "broadcast {i}: {got:?}");
        }
    }
    // After the first, the repeated 1000-byte block is found in the window.
    assert!(
        sizes[2..].iter().all(|&n| n < sizes[0]),
        "context takeover shrinks later broadcasts: {sizes:?}"
    );
}

// ---- closes ---------------------------------------------------------------------------

#[test]
fn closes_round_trip_with_compression_on() {
    for config in [SHARED, DEDICATED] {
        let s = LuaEcho::start(config);
        for (code, reason) in [(1000u16, &b""[..]), (4001, b"bye now"), (3000, b"x")] {
            let mut c = open(s.port, "permessage-deflate");
            let msg = json_message(1, 2000);
            send_compressed(&mut c, 1, &compress_alone(&msg));
            let (_, got) = read_message(&mut c, &mut PeerInflater::new(true), config);
            assert!(got == msg);
            c.stream.write_all(&close_frame(code, reason)).unwrap();
            let f = read(&mut c);
            assert_eq!((f.opcode, f.rsv), (8, 0), "{config}: close answer");
            assert_eq!(&f.payload[..2], code.to_be_bytes(), "{config}: code {code}");
            assert_eq!(&f.payload[2..], reason, "{config}: reason");
            assert!(c.tcp_closed(), "{config}: TCP closed after {code}");
        }
        let mut c = open(s.port, "permessage-deflate");
        c.stream.write_all(&close_frame(1005, b"")).unwrap();
        expect_close(&mut c, 1002, "close code 1005");
    }
}
