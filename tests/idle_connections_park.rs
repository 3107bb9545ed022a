//! A plain connection with nothing to read or write parks (its reader and writer are dropped
//! until the peer sends or the host queues a frame). Parked connections must behave exactly
//! like busy ones: messages either way, pings, closes from either side, dropped TCP, idle
//! timeouts. Each test lets the connection go quiet longer than it takes to park.
mod common;

use std::thread::sleep;
use std::time::Duration;

use common::frames::encode_frame;
use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

/// Longer than a busy connection's active phase must last before it parks.
const QUIET: Duration = Duration::from_millis(40);

fn host_send(s: &TestServer, conn: u64, text: &str) {
    let result = luna_conn_send(app_ptr(s.app), conn, text.as_ptr(), text.len(), 1);
    assert_eq!(result, LunaResult::Ok);
}

#[test]
fn a_parked_connection_hears_the_peer_and_the_host_after_every_quiet_spell() {
    let s = TestServer::start(Options::default());
    let (mut client, conn) = s.join();
    for round in 0..5 {
        sleep(QUIET);
        let text = format!("from the peer, round {round}");
        client.send(1, text.as_bytes());
        assert_eq!(client.read_text(), text, "echo after a quiet spell");
        sleep(QUIET);
        let text = format!("from the host, round {round}");
        host_send(&s, conn, &text);
        assert_eq!(
            client.read_text(),
            text,
            "host's send to a parked connection"
        );
        // A burst right after waking: everything, in order.
        for i in 0..50 {
            client.send(1, format!("burst {round}.{i}").as_bytes());
        }
        for i in 0..50 {
            assert_eq!(client.read_text(), format!("burst {round}.{i}"));
        }
    }
}

#[test]
fn a_message_split_across_a_quiet_spell_arrives_whole() {
    let s = TestServer::start(Options::default());
    let (mut client, _) = s.join();
    let mask = Some([9, 8, 7, 6]);
    // Half a frame header, then the rest of the frame, then a continuation, each after the
    // connection had time to park with the decoder in the middle of a message.
    let first = encode_frame(false, 0, 1, b"first half, ", mask);
    client.write(&first[..1]);
    sleep(QUIET);
    client.write(&first[1..]);
    sleep(QUIET);
    client.frame(true, 0, 0, b"second half", mask);
    assert_eq!(client.read_text(), "first half, second half");
}

#[test]
fn parked_connections_close_from_either_side_and_on_a_dropped_socket() {
    let s = TestServer::start(Options::default());
    let (mut by_host, host_closes) = s.join();
    let (mut by_peer, peer_closes) = s.join();
    let (dropped, drops) = s.join();
    sleep(QUIET);

    let reason = b"host says bye";
    let closed = luna_conn_close(app_ptr(s.app), host_closes, 4001, reason.as_ptr(), 13);
    assert_eq!(closed, LunaResult::Ok);
    assert_eq!(by_host.read_close(), 4001);
    by_host.frame(true, 0, 8, &4001u16.to_be_bytes(), Some([1, 2, 3, 4]));
    assert!(
        by_host.tcp_closed(),
        "the server ends TCP after the handshake"
    );

    let mut close = 4002u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"peer says bye");
    by_peer.send(8, &close);
    assert_eq!(by_peer.read_close(), 4002, "the close is answered");

    drop(dropped);

    s.wait_for(
        5,
        "the host's close",
        |e| matches!(e, Ev::Close { conn, code: 4001, clean: true, .. } if *conn == host_closes),
    );
    s.wait_for(5, "the peer's close", |e| {
        matches!(e, Ev::Close { conn, code: 4002, clean: true, reason } if *conn == peer_closes && reason == "peer says bye")
    });
    s.wait_for(
        5,
        "the dropped socket",
        |e| matches!(e, Ev::Close { conn, code: 1006, clean: false, .. } if *conn == drops),
    );
}

#[test]
fn keepalive_pings_a_parked_connection_and_the_idle_timeout_closes_one() {
    let pinged = TestServer::start(Options {
        tweak: Box::new(|c| c.ping_interval_ms = 50),
        ..Options::default()
    });
    let (mut client, _) = pinged.join();
    for _ in 0..3 {
        let (_, opcode, _) = client.read().expect("a ping");
        assert_eq!(opcode, 9, "the keepalive's ping");
        client.send(10, b"");
    }

    let timed = TestServer::start(Options {
        tweak: Box::new(|c| {
            c.ping_interval_ms = 0;
            c.idle_timeout_ms = 200;
        }),
        ..Options::default()
    });
    let (mut quiet, conn) = timed.join();
    assert_eq!(quiet.read_close(), 1001, "closed for being idle");
    timed.wait_for(
        5,
        "the idle close",
        |e| matches!(e, Ev::Close { conn: c, code: 1001, .. } if *c == conn),
    );
}
