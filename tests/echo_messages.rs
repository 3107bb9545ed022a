//! Text, binary, empty and 16 MiB messages come back unchanged through the C ABI.
mod common;

use async_tungstenite::tungstenite::{Bytes, Message};
use common::*;

#[test]
fn echoes_text_binary_empty_and_16_mib() {
    let server = TestServer::start(Options::default());
    let mut ws = ws_connect(&server.url(), &[]);
    let big: Vec<u8> = (0..16 * 1024 * 1024 - 64)
        .map(|i| (i % 251) as u8)
        .collect();
    let cases = vec![
        Message::text("hello, luna"),
        Message::text("ünïcödé ✓ 🌙"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(""),
        Message::binary(Vec::<u8>::new()),
        Message::Binary(Bytes::from(big)),
    ];
    for msg in cases {
        ws.send(msg.clone()).unwrap();
        let back = ws.read().unwrap();
        assert_eq!(back, msg);
    }
    let open = server.wait_for(5, "open", |e| matches!(e, Ev::Open { .. }));
    let Ev::Open {
        peer,
        protocol,
        port,
        ..
    } = open
    else {
        unreachable!()
    };
    assert_eq!(peer, "127.0.0.1");
    assert_eq!(protocol, "");
    assert_ne!(port, 0);
    ws.close(None).unwrap();
    server.wait_for(5, "close", |e| {
        matches!(
            e,
            Ev::Close {
                code: 1005,
                clean: true,
                ..
            }
        )
    });
}

#[test]
fn many_small_messages_arrive_in_order() {
    let server = TestServer::start(Options::default());
    let mut ws = ws_connect(&server.url(), &[]);
    for i in 0..2000 {
        ws.write(Message::text(format!("m{i}"))).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..2000 {
        assert_eq!(ws.read().unwrap(), Message::text(format!("m{i}")));
    }
}
