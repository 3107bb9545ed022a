//! A luna client against a luna server in every pair of modes (over ws and wss), and
//! messages queued before the handshake ends.

use super::*;

/// A luna client and a luna server (C ABI, echoing) in every pair of modes, over `scheme`:
/// both report compression, and texts, binaries, an empty message and 1 MiB echo intact.
fn luna_to_luna(
    scheme: &str,
    tweak_server: impl Fn(&mut LunaServerConfig) + Clone + 'static,
    ca: Option<std::ffi::CString>,
) {
    for server_mode in [1u32, 2] {
        for client_mode in [1u32, 2] {
            let case = format!("{scheme}: server {server_mode}, client {client_mode}");
            let tweak = tweak_server.clone();
            let server = TestServer::start(Options {
                tweak: Box::new(move |c| {
                    c.compression = server_mode;
                    tweak(c);
                }),
                ..Options::default()
            });
            let url = format!("{scheme}://127.0.0.1:{}/", server.port);
            let mut client = TestClient::connect(&url, |c| {
                c.compression = client_mode;
                c.tls_ca_file = ca.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
            });
            client.until(10, "open", TestClient::opened);
            assert_eq!(is_compressed(&client), 1, "{case}: client side");
            let conn = match server.wait_for(5, "open", |e| matches!(e, Ev::Open { .. })) {
                Ev::Open { conn, .. } => conn,
                _ => unreachable!(),
            };
            let mut flag = 0u8;
            assert_eq!(
                luna_conn_is_compressed(app_ptr(server.app), conn, &mut flag),
                LunaResult::Ok
            );
            assert_eq!(flag, 1, "{case}: server side");
            let mut sent: Vec<(u32, Vec<u8>)> = (0..50)
                .map(|i| (1 + (i % 2) as u32, json_message(i, 1500)))
                .collect();
            sent.push((2, Vec::new()));
            sent.push((1, json_message(99, 1 << 20)));
            for (opcode, data) in &sent {
                send_ok(&client, data, *opcode);
            }
            let got = wait_messages(&mut client, sent.len());
            assert!(got == sent, "{case}: echoes differ");
        }
    }
}

#[test]
fn luna_client_and_luna_server_agree_in_every_mode() {
    luna_to_luna("ws", |_| {}, None);
}

#[cfg(feature = "tls")]
#[test]
fn luna_client_and_luna_server_agree_over_wss() {
    use crate::common::certs::*;
    use std::ffi::CString;
    let ca = Ca::new(temp_dir("deflate"));
    let key = ec_key();
    let cert = ca.leaf(&key, &["127.0.0.1"], valid_now(), "cert.pem");
    write_key(&key, KeyForm::Pkcs8, &ca.path("key.pem"));
    let path = |p: &std::path::Path| CString::new(p.to_str().unwrap()).unwrap();
    let (cert, key) = (path(&cert), path(&ca.path("key.pem")));
    let tweak = move |c: &mut LunaServerConfig| {
        c.tls_cert_file = cert.as_ptr();
        c.tls_key_file = key.as_ptr();
    };
    luna_to_luna("wss", tweak, Some(path(&ca.path("ca.pem"))));
}

#[test]
fn messages_queued_before_open_arrive_intact() {
    // Sent before the handshake agreed to anything: they may go plain or compressed, but in
    // order and intact, and a dedicated context stays in step.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://127.0.0.1:{}/", listener.local_addr().unwrap().port());
    let mut client = TestClient::connect(&url, |c| c.compression = 2);
    let sent: Vec<Vec<u8>> = (0..10).map(|i| json_message(i, 2000)).collect();
    for msg in &sent[..5] {
        send_ok(&client, msg, 1);
    }
    let mut peer = RawPeer::accept(
        &listener,
        "Sec-WebSocket-Extensions: permessage-deflate; \
         server_max_window_bits=12; client_max_window_bits=12\r\n",
    );
    client.until(10, "open", TestClient::opened);
    for msg in &sent[5..] {
        send_ok(&client, msg, 1);
    }
    let mut theirs = StrictInflater::new(12, true);
    for (i, msg) in sent.iter().enumerate() {
        let f = peer.read_wire();
        let got = match f.rsv {
            RSV1 => theirs.inflate(&f.payload),
            _ => Ok(f.payload),
        };
        assert!(
            got == Ok(msg.clone()),
            "message {i} (rsv {}): {got:?}",
            f.rsv
        );
    }
}

#[test]
fn every_compression_level_round_trips_luna_to_luna() {
    for level in [0u32, 1, 4, 6, 9] {
        let server = TestServer::start(Options {
            tweak: Box::new(move |c| {
                c.compression = 2;
                c.compression_level = level;
            }),
            ..Options::default()
        });
        let url = format!("ws://127.0.0.1:{}/", server.port);
        let mut client = TestClient::connect(&url, |c| {
            c.compression = 2;
            c.compression_level = level;
        });
        client.until(10, "open", TestClient::opened);
        assert_eq!(is_compressed(&client), 1, "level {level}");
        let sent: Vec<(u32, Vec<u8>)> = (0..40).map(|i| (1, json_message(i, 1100))).collect();
        for (opcode, data) in &sent {
            send_ok(&client, data, *opcode);
        }
        let got = wait_messages(&mut client, sent.len());
        assert!(got == sent, "level {level}: echoes differ");
    }
}
