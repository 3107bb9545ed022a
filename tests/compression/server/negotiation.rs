//! What the server answers each `permessage-deflate` offer with, in every mode.

use super::*;

/// Each offer and the exact answer expected (None: no extension in the 101).
fn check_answers(server: &LuaEcho, cases: &[(&str, Option<&str>)]) {
    for (offer, want) in cases {
        let c = open(server.port, offer);
        assert_eq!(answer(&c).as_deref(), *want, "offer {offer:?}");
    }
}

#[test]
fn shared_server_answers_every_kind_of_offer() {
    let s = LuaEcho::start(SHARED);
    let with = |extra: &str| format!("{SHARED_ANSWER}{extra}");
    let mut cases: Vec<(String, Option<String>)> = vec![
        ("permessage-deflate".into(), Some(with(""))),
        (
            "permessage-deflate; client_max_window_bits".into(),
            Some(with("")),
        ),
        (
            "permessage-deflate; client_max_window_bits=10".into(),
            Some(with("; client_max_window_bits=10")),
        ),
        (
            "permessage-deflate; client_max_window_bits=8".into(),
            Some(with("; client_max_window_bits=8")),
        ),
        (
            "permessage-deflate; client_max_window_bits=15".into(),
            Some(with("")),
        ),
        (
            "permessage-deflate; client_max_window_bits=\"11\"".into(),
            Some(with("; client_max_window_bits=11")),
        ),
        (
            "permessage-deflate; server_no_context_takeover".into(),
            Some(with("")),
        ),
        (
            "permessage-deflate; client_no_context_takeover".into(),
            Some(with("")),
        ),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=11"
                .into(),
            Some(with("; server_max_window_bits=10; client_max_window_bits=11")),
        ),
        // A window zlib cannot compress with: declined, alone or before another offer.
        ("permessage-deflate; server_max_window_bits=8".into(), None),
        (
            "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9"
                .into(),
            Some(with("; server_max_window_bits=9")),
        ),
        // Unknown, duplicated or invalid parameters decline that offer, not the next.
        ("permessage-deflate; foo".into(), None),
        ("permessage-deflate; foo=1".into(), None),
        (
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover".into(),
            None,
        ),
        (
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10".into(),
            None,
        ),
        ("permessage-deflate; server_max_window_bits".into(), None),
        ("permessage-deflate; server_max_window_bits=16".into(), None),
        ("permessage-deflate; client_max_window_bits=08".into(), None),
        ("permessage-deflate; server_no_context_takeover=1".into(), None),
        (
            "permessage-deflate; foo, permessage-deflate; client_max_window_bits=9".into(),
            Some(with("; client_max_window_bits=9")),
        ),
        // Other extensions are ignored.
        ("x-webkit-deflate-frame".into(), None),
        ("foo; bar=1".into(), None),
        (
            "x-webkit-deflate-frame, permessage-deflate".into(),
            Some(with("")),
        ),
        (
            "foo; bar=\"a, b\", permessage-deflate; server_max_window_bits=11".into(),
            Some(with("; server_max_window_bits=11")),
        ),
    ];
    // server_max_window_bits=N for every window zlib compresses with: answered with N.
    for n in 9..=15 {
        cases.push((
            format!("permessage-deflate; server_max_window_bits={n}"),
            Some(with(&format!("; server_max_window_bits={n}"))),
        ));
    }
    let cases: Vec<(&str, Option<&str>)> = cases
        .iter()
        .map(|(o, w)| (o.as_str(), w.as_deref()))
        .collect();
    check_answers(&s, &cases);
    // Offers on two header lines are one list, in order.
    let c = RawPeer::connect(
        s.port,
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n",
    );
    assert_eq!(
        answer(&c).as_deref(),
        Some(with("; server_max_window_bits=10").as_str())
    );
}

#[test]
fn dedicated_server_answers_with_12_bit_windows() {
    let s = LuaEcho::start(DEDICATED);
    let w12 = "permessage-deflate; server_max_window_bits=12";
    check_answers(
        &s,
        &[
            ("permessage-deflate", Some(w12)),
            (
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"),
            ),
            (
                "permessage-deflate; client_max_window_bits=14",
                Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
            ),
            ("permessage-deflate; server_max_window_bits=14", Some(w12)),
            (
                "permessage-deflate; server_max_window_bits=9",
                Some("permessage-deflate; server_max_window_bits=9"),
            ),
            (
                "permessage-deflate; server_no_context_takeover",
                Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=12"),
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=12"),
            ),
            ("permessage-deflate; server_max_window_bits=8", None),
            ("permessage-deflate; bogus", None),
        ],
    );
}

#[test]
fn compression_off_answers_no_offer_and_sends_plain_frames() {
    for config in ["", "{ compression = false }"] {
        let s = LuaEcho::start(config);
        let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
        assert_eq!(answer(&c), None, "config {config:?}");
        let big = json_message(1, 4000);
        c.send(1, &big);
        let f = read(&mut c);
        assert_eq!((f.rsv, f.opcode), (0, 1), "config {config:?}: plain echo");
        assert_eq!(f.payload, big);
        // RSV1 without an agreement is a protocol error.
        send_compressed(&mut c, 1, &compress_alone(b"hello"));
        expect_close(&mut c, 1002, "RSV1 with compression off");
    }
    // Compression on, but the client offered nothing: the same.
    let s = LuaEcho::start(SHARED);
    let mut c = open(s.port, "");
    assert_eq!(answer(&c), None);
    let big = json_message(2, 4000);
    c.send(2, &big);
    let f = read(&mut c);
    assert_eq!((f.rsv, f.opcode, f.payload), (0, 2, big));
    send_compressed(&mut c, 2, &compress_alone(b"hello"));
    expect_close(&mut c, 1002, "RSV1 without an offer");
    // An offer the server declined: the same.
    let mut c = open(s.port, "permessage-deflate; server_max_window_bits=8");
    assert_eq!(answer(&c), None);
    send_compressed(&mut c, 1, &compress_alone(b"hello"));
    expect_close(&mut c, 1002, "RSV1 after a declined offer");
}
