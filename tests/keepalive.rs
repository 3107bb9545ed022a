//! Keepalive: a server pings every open connection and closes, one by one, those whose
//! peer went silent (others stay open); a client pings its server and closes a silent one.
mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::*;

#[test]
fn a_server_closes_its_silent_connections_and_keeps_the_talking_ones() {
    let server = TestServer::start(Options {
        tweak: Box::new(|c| {
            c.ping_interval_ms = 100;
            c.idle_timeout_ms = 700;
        }),
        ..Options::default()
    });
    let mut talking: Vec<(RawPeer, u64)> = (0..5).map(|_| server.join()).collect();
    let mut silent: Vec<(RawPeer, u64)> = (0..5).map(|_| server.join()).collect();
    for (peer, _) in talking.iter_mut().chain(silent.iter_mut()) {
        peer.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (_, opcode, _) = peer.read().expect("a ping");
        assert_eq!(opcode, 9, "every connection gets the keepalive's ping");
    }
    // The talking peers send a message every 100 ms for 1.4 s (twice the idle timeout);
    // the silent ones send nothing, pongs included.
    for _ in 0..14 {
        for (peer, _) in &mut talking {
            peer.send(1, b"still here");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for (peer, conn) in &mut silent {
        assert_eq!(peer.read_close(), 1001, "closed for being idle");
        let conn = *conn;
        server.wait_for(
            5,
            "the idle close",
            |e| matches!(e, Ev::Close { conn: c, code: 1001, .. } if *c == conn),
        );
    }
    for (peer, conn) in &mut talking {
        let conn = *conn;
        let closed = server
            .snapshot()
            .into_iter()
            .any(|e| matches!(e, Ev::Close { conn: c, .. } if c == conn));
        assert!(!closed, "a connection whose peer talks is not idle");
        // Still served: its echo comes back after the pings it was sent.
        peer.send(1, b"echo me");
        loop {
            let (_, opcode, payload) = peer.read().expect("the echo");
            match opcode {
                9 => continue,
                1 if payload == b"still here" => continue,
                _ => {
                    assert_eq!((opcode, payload.as_slice()), (1, &b"echo me"[..]));
                    break;
                }
            }
        }
    }
}

#[test]
fn a_client_pings_its_server_and_closes_a_silent_one() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://127.0.0.1:{}/", listener.local_addr().unwrap().port());
    let server = std::thread::spawn(move || {
        let mut peer = RawPeer::accept(&listener, "");
        peer.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Answered pings are the server's activity: the client stays open through them.
        for _ in 0..4 {
            let (_, opcode, _) = peer.read().expect("the client's ping");
            assert_eq!(opcode, 9, "the client's keepalive pings");
            peer.send(10, b"");
        }
        // Then silence: the client gives up on the server with 1001.
        peer.read_close()
    });
    let mut client = TestClient::connect(&url, |c| {
        c.ping_interval_ms = 100;
        c.idle_timeout_ms = 1000;
    });
    client.until(15, "close", TestClient::closed);
    assert_eq!(
        server.join().unwrap(),
        1001,
        "the client's close for a silent server"
    );
    let closes: Vec<_> = client
        .events
        .iter()
        .filter(|e| matches!(e, Ev::Close { .. }))
        .collect();
    assert_eq!(closes.len(), 1, "{:?}", client.brief());
}
