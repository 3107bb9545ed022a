//! Limits beyond those in hostile_input.rs: max_frame_size apart from max_message_size,
//! a freed max_connections slot, automatic pings with the idle timeout, both
//! max_send_queue policies (BACKPRESSURE, or close with 1008), and a message larger than
//! max_send_queue refused outright (TOO_LARGE) on server and client connections.
mod common;

use std::time::{Duration, Instant};

use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

const MASK: Option<[u8; 4]> = Some([9, 8, 7, 6]);

fn server(tweak: impl Fn(&mut LunaServerConfig) + 'static, echo: bool) -> TestServer {
    TestServer::start(Options {
        echo,
        tweak: Box::new(tweak),
        ..Options::default()
    })
}

fn opened(s: &TestServer, n: usize) -> u64 {
    s.wait_until(5, "open", || s.count(|e| matches!(e, Ev::Open { .. })) >= n);
    s.open_ids()[n - 1]
}

#[test]
fn max_frame_size_applies_to_each_frame_not_the_message() {
    let s = server(
        |c| {
            c.max_frame_size = 100;
            c.max_message_size = 10_000;
        },
        true,
    );
    let mut c = RawPeer::connect(s.port, "");
    // Five 100-byte fragments make a 500-byte message: each frame fits.
    c.frame(false, 0, 2, &[1; 100], MASK);
    for _ in 0..3 {
        c.frame(false, 0, 0, &[1; 100], MASK);
    }
    c.frame(true, 0, 0, &[1; 100], MASK);
    assert_eq!(c.read().unwrap(), (true, 2, vec![1; 500]));
    c.frame(true, 0, 2, &[2; 101], MASK);
    assert_eq!(c.read_close(), 1009);
    assert!(c.tcp_closed());
    s.wait_for(5, "close 1009", |e| {
        matches!(e, Ev::Close { code: 1009, .. })
    });
}

#[test]
fn max_message_size_counts_the_reassembled_message() {
    let s = server(|c| c.max_message_size = 1000, true);
    let mut c = RawPeer::connect(s.port, "");
    c.send(2, &[3; 1000]);
    assert_eq!(
        c.read().unwrap(),
        (true, 2, vec![3; 1000]),
        "exactly the limit fits"
    );
    c.frame(false, 0, 1, &[b'a'; 999], MASK);
    c.frame(true, 0, 0, b"bc", MASK);
    assert_eq!(c.read_close(), 1009);
}

#[test]
fn a_freed_connection_slot_is_available_again() {
    let s = server(|c| c.max_connections = 1, true);
    let mut first = RawPeer::connect(s.port, "");
    assert_eq!(first.status(), 101);
    assert_eq!(RawPeer::connect(s.port, "").status(), 503);
    first.send(8, &1000u16.to_be_bytes());
    assert_eq!(first.read_close(), 1000);
    s.wait_for(5, "close", |e| matches!(e, Ev::Close { .. }));
    // The slot is released once the connection task ends, just after its close event.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = RawPeer::connect(s.port, "");
        if again.status() == 101 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slot never freed: {}",
            again.head
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn automatic_pings_keep_answering_peers_and_idle_ones_are_closed() {
    let s = server(
        |c| {
            c.ping_interval_ms = 100;
            c.idle_timeout_ms = 400;
        },
        true,
    );
    // The answering peer replies to every ping, for well past the idle timeout.
    let mut answering = RawPeer::connect(s.port, "");
    let answerer = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_millis(1200);
        let mut answered = 0;
        while Instant::now() < until {
            let (_, op, payload) = answering.read().expect("pings keep coming");
            assert_eq!(op, 9, "only pings, never a close");
            answering.send(10, &payload);
            answered += 1;
        }
        assert!(answered >= 3);
        answering.send(1, b"alive");
        assert_eq!(answering.read().unwrap(), (true, 1, b"alive".to_vec()));
    });
    // The silent peer reads the pings but never answers: closed with 1001.
    let mut silent = RawPeer::connect(s.port, "");
    let mut pings = 0;
    let code = loop {
        let (_, op, payload) = silent.read().expect("a ping or the close");
        match op {
            9 => pings += 1,
            8 => break u16::from_be_bytes([payload[0], payload[1]]),
            other => panic!("unexpected opcode {other}"),
        }
    };
    assert_eq!(code, 1001);
    assert!(pings >= 1, "pings were sent before giving up");
    assert!(silent.tcp_closed());
    answerer.join().expect("the answering peer stayed open");
}

/// Sends 64 KiB messages to a peer that does not read until a send is refused.
fn fill(s: &TestServer, conn: u64) -> (LunaResult, usize) {
    let chunk = vec![0x5a; 64 << 10];
    for sent in 0..10_000 {
        let r = luna_conn_send(app_ptr(s.app), conn, chunk.as_ptr(), chunk.len(), 2);
        if r != LunaResult::Ok {
            return (r, sent);
        }
    }
    panic!("10,000 messages of 64 KiB were queued: max_send_queue is not applied");
}

#[test]
fn send_queue_overflow_answers_backpressure_by_default() {
    let s = server(|c| c.max_send_queue = 256 << 10, false);
    let mut c = RawPeer::connect(s.port, "");
    let conn = opened(&s, 1);
    let (result, sent) = fill(&s, conn);
    assert_eq!(result, LunaResult::Backpressure, "{}", last_error());
    assert!(sent >= 4, "at least max_send_queue was accepted");
    // Nothing was lost and the connection is still open: the peer reads it all.
    for _ in 0..sent {
        let (_, op, payload) = c.read().unwrap();
        assert_eq!((op, payload.len()), (2, 64 << 10));
    }
    assert_eq!(
        luna_conn_send(app_ptr(s.app), conn, b"after".as_ptr(), 5, 1),
        LunaResult::Ok
    );
    assert_eq!(c.read().unwrap(), (true, 1, b"after".to_vec()));
}

#[test]
fn a_message_larger_than_max_send_queue_is_refused_even_on_an_empty_queue() {
    let s = server(|c| c.max_send_queue = 1000, true);
    let mut c = RawPeer::connect(s.port, "");
    let conn = opened(&s, 1);
    let app = app_ptr(s.app);
    let big = vec![b'x'; 1001];
    let too_large = "message of 1001 bytes is larger than max_send_queue (1000 bytes)";
    let rc = luna_conn_send(app, conn, big.as_ptr(), big.len(), 2);
    assert_eq!(rc, LunaResult::TooLarge);
    assert!(last_error().contains(too_large), "{}", last_error());
    // Broadcast and publish are refused as a whole: no recipient gets a part.
    let mut n = usize::MAX;
    let null = std::ptr::null();
    let rc = luna_app_broadcast(app, big.as_ptr(), big.len(), 2, null, 0, &mut n);
    assert_eq!((rc, n), (LunaResult::TooLarge, usize::MAX));
    let mut changed = 0;
    assert_eq!(
        luna_conn_subscribe(app, conn, b"t".as_ptr(), 1, &mut changed),
        LunaResult::Ok
    );
    let rc = luna_app_publish(app, b"t".as_ptr(), 1, big.as_ptr(), big.len(), 2, &mut n);
    assert_eq!(rc, LunaResult::TooLarge);
    assert!(last_error().contains(too_large), "{}", last_error());
    // Exactly max_send_queue still goes (its frame header on top), and the peer gets
    // nothing of the refused ones.
    let rc = luna_conn_send(app, conn, big.as_ptr(), 1000, 2);
    assert_eq!(rc, LunaResult::Ok, "{}", last_error());
    assert_eq!(c.read().unwrap(), (true, 2, vec![b'x'; 1000]));

    // A client connection: while connecting and once open.
    let mut client = TestClient::connect(&s.url(), |c| c.max_send_queue = 1000);
    assert_eq!(client.send(&big, 2), LunaResult::TooLarge);
    assert!(last_error().contains(too_large), "{}", last_error());
    client.until(5, "open", TestClient::opened);
    assert_eq!(client.send(&big, 2), LunaResult::TooLarge);
    assert_eq!(client.send(b"fits", 1), LunaResult::Ok);
    client.until(5, "the echo", |events| {
        events
            .iter()
            .any(|e| matches!(e, Ev::Msg { data, .. } if data == b"fits"))
    });
}

#[test]
fn send_queue_overflow_closes_with_1008_when_configured() {
    let s = server(
        |c| {
            c.max_send_queue = 256 << 10;
            c.close_on_backpressure = 1;
        },
        false,
    );
    let mut c = RawPeer::connect(s.port, "");
    let conn = opened(&s, 1);
    let (result, _) = fill(&s, conn);
    assert_eq!(result, LunaResult::Closed, "{}", last_error());
    assert_eq!(
        luna_conn_send(app_ptr(s.app), conn, b"x".as_ptr(), 1, 1),
        LunaResult::Closed
    );
    // What was queued is dropped; the close frame follows what was already being written.
    assert_eq!(c.read_close(), 1008);
    s.wait_for(5, "close 1008", |e| {
        matches!(e, Ev::Close { code: 1008, .. })
    });
}

#[test]
fn a_peer_that_never_reads_cannot_hold_a_closing_connection() {
    let s = server(
        |c| {
            c.max_send_queue = 256 << 10;
            c.close_on_backpressure = 1;
            c.close_timeout_ms = 200;
        },
        false,
    );
    let mut c = RawPeer::connect(s.port, "");
    let conn = opened(&s, 1);
    // Enough that the socket buffers fill and the writer blocks.
    for _ in 0..64 {
        if fill(&s, conn).0 == LunaResult::Closed {
            break;
        }
    }
    s.wait_for(5, "close event", |e| matches!(e, Ev::Close { .. }));
    // The server has ended TCP: reading drains the buffered frames, then ends.
    assert!(c.tcp_closed(), "TCP is closed");
}
