//! `ws.compressed` in Lua and `luna_conn_is_compressed` through the C ABI, a dedicated
//! compressor shared by sending threads, and 16 MiB messages.

use super::*;

#[test]
fn lua_ws_compressed_tells_the_handler() {
    let s = LuaEcho::start(SHARED);
    let off = LuaEcho::start("");
    for (port, offer, want) in [
        (s.port, "permessage-deflate", "compressed=true"),
        (s.port, "", "compressed=false"),
        (
            s.port,
            "permessage-deflate; server_max_window_bits=8",
            "compressed=false",
        ),
        (off.port, "permessage-deflate", "compressed=false"),
    ] {
        let mut c = open_with(port, offer, "compressed");
        c.send(1, b"?");
        let f = read(&mut c);
        assert_eq!(f.payload, want.as_bytes(), "offer {offer:?}");
    }
}

/// Opens a connection to a C-ABI test server with `offer`; returns the client and the
/// server's id for it.
fn open_on(server: &TestServer, offer: &str, opens_before: usize) -> (RawPeer, u64) {
    let c = open(server.port, offer);
    server.wait_until(5, "open", || {
        server.count(|e| matches!(e, Ev::Open { .. })) > opens_before
    });
    let conn = server.open_ids()[opens_before];
    (c, conn)
}

fn is_compressed(server: &TestServer, conn: u64) -> u8 {
    let mut out = 7u8;
    assert_eq!(
        luna_conn_is_compressed(app_ptr(server.app), conn, &mut out),
        LunaResult::Ok
    );
    out
}

#[test]
fn c_abi_compression_and_luna_conn_is_compressed() {
    for (setting, answer_want) in [
        (1u32, Some(SHARED_ANSWER)),
        (2, Some("permessage-deflate; server_max_window_bits=12")),
    ] {
        let server = TestServer::start(Options {
            tweak: Box::new(move |c| c.compression = setting),
            ..Options::default()
        });
        let (mut c, conn) = open_on(&server, "permessage-deflate", 0);
        assert_eq!(answer(&c).as_deref(), answer_want);
        assert_eq!(is_compressed(&server, conn), 1, "compression {setting}");
        // The host gets the message inflated and its echo goes back compressed.
        let msg = json_message(1, 3000);
        send_compressed(&mut c, 1, &compress_alone(&msg));
        let (op, got) = read_message(&mut c, &mut PeerInflater::new(true), "C echo");
        assert_eq!((op, got == msg), (1, true));
        server.wait_for(
            5,
            "message",
            |e| matches!(e, Ev::Msg { data, .. } if *data == msg),
        );
        let (_plain_client, plain) = open_on(&server, "", 1);
        assert_eq!(is_compressed(&server, plain), 0, "no offer");
        assert_eq!(
            luna_conn_is_compressed(app_ptr(server.app), conn, std::ptr::null_mut()),
            LunaResult::InvalidArgument
        );
        let mut out = 0u8;
        assert_ne!(
            luna_conn_is_compressed(app_ptr(server.app), 987_654, &mut out),
            LunaResult::Ok,
            "unknown connection"
        );
    }
    let off = TestServer::start(Options::default());
    let (c, conn) = open_on(&off, "permessage-deflate", 0);
    assert_eq!(answer(&c), None);
    assert_eq!(is_compressed(&off, conn), 0, "compression 0");
    // Only 0, 1 and 2 are settings.
    // SAFETY: plain data, filled by luna_server_config_default.
    let mut config: LunaServerConfig = unsafe { std::mem::zeroed() };
    assert_eq!(luna_server_config_default(&mut config), LunaResult::Ok);
    assert_eq!(config.compression, 0, "off by default");
    assert_eq!(config.compression_threshold, 256, "256 bytes by default");
    assert_eq!(config.compression_level, 6, "level 6 by default");
    // Levels are zlib's 1-9 (0 = the default).
    config.compression = 2;
    config.compression_level = 10;
    config.port = 0;
    let host = std::ffi::CString::new("127.0.0.1").unwrap();
    config.host = host.as_ptr();
    assert!(luna_server_new(&config).is_null());
    assert!(
        last_error().contains("compression_level must be 1-9"),
        "{}",
        last_error()
    );
    // 0 is the default (a zeroed field compresses at level 6).
    config.compression_level = 0;
    let app = luna_server_new(&config);
    assert!(!app.is_null(), "level 0: {}", last_error());
    assert_eq!(luna_app_stop(app), LunaResult::Ok);
    assert_eq!(luna_app_free(app), LunaResult::Ok);
    config.compression_level = 6;
    config.compression = 3;
    assert!(luna_server_new(&config).is_null());
    assert!(last_error().contains("compression"), "{}", last_error());
}

#[test]
fn a_dedicated_compressor_shared_by_sending_threads_keeps_frames_in_its_order() {
    let server = TestServer::start(Options {
        echo: false,
        tweak: Box::new(|c| c.compression = 2),
        ..Options::default()
    });
    let (mut c, conn) = open_on(&server, "permessage-deflate", 0);
    // Every message starts like every other: each frame refers back to the one compressed
    // before it, so a frame sent out of the compressor's order would not inflate right.
    let common = noisy_text(1500, 77);
    let message = move |thread: usize, i: usize| {
        [
            common.clone(),
            format!(" thread {thread} message {i}").into_bytes(),
        ]
        .concat()
    };
    let app = server.app;
    let senders: Vec<_> = (0..4)
        .map(|thread| {
            let message = message.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let data = message(thread, i);
                    let r = luna_conn_send(app_ptr(app), conn, data.as_ptr(), data.len(), 1);
                    assert_eq!(r, LunaResult::Ok, "{}", last_error());
                }
            })
        })
        .collect();
    let mut inflater = PeerInflater::new(true);
    let mut seen = std::collections::HashSet::new();
    for n in 0..400 {
        let (op, data) = read_message(&mut c, &mut inflater, &format!("frame {n}"));
        assert_eq!(op, 1);
        assert!(seen.insert(data), "frame {n} repeats an earlier message");
    }
    for s in senders {
        s.join().unwrap();
    }
    let sent: std::collections::HashSet<Vec<u8>> = (0..4)
        .flat_map(|t| (0..100).map(move |i| (t, i)))
        .map(|(t, i)| message(t, i))
        .collect();
    assert!(seen == sent, "every message arrived once, as sent");
}

#[test]
fn sixteen_mib_messages_compressed_both_ways() {
    // The default max_message_size, exactly, once inflated.
    let msg: Vec<u8> = json_message(0, 4096)
        .iter()
        .cycle()
        .zip(0..16usize << 20)
        .map(|(b, i)| if i % 4099 == 0 { b'#' } else { *b })
        .collect();
    for (config, context) in [(SHARED, false), (DEDICATED, true)] {
        let s = LuaEcho::start(config);
        let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
        let mut ours = PeerDeflater::new(12, context);
        let mut theirs = PeerInflater::new(context);
        for i in 0..2 {
            send_compressed(&mut c, 1, &ours.compress(&msg));
            let (op, got) = read_message(&mut c, &mut theirs, config);
            assert_eq!(op, 1);
            assert!(got == msg, "{config}: 16 MiB echo {i}");
        }
        let mut over = msg.clone();
        over.push(b' ');
        send_compressed(&mut c, 1, &ours.compress(&over));
        expect_close(&mut c, 1009, "16 MiB + 1 once inflated");
    }
}
