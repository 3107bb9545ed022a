//! A Redis that stops answering without closing the connection is noticed, reported and
//! left, as one that closes is: a fake Redis that accepts TCP and never answers fails every
//! connect within the Redis timeout (and is tried again), and a real Redis paused with SIGSTOP
//! after the nodes joined is noticed by the PING a quiet connection sends; once it answers
//! again the nodes rejoin it. The timeout is shortened to 300 ms through
//! `LUNA_REDIS_TIMEOUT_MS` (this file runs in its own process).
mod common;

use std::ffi::CString;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis::Redis;
use common::*;

/// A server app in the cluster at `url`, with a Redis timeout of 300 ms.
fn node(url: &str) -> TestServer {
    std::env::set_var("LUNA_REDIS_TIMEOUT_MS", "300");
    let url = CString::new(url).unwrap();
    TestServer::start(Options {
        echo: false,
        tweak: Box::new(move |c| c.cluster_redis = url.as_ptr()),
        ..Options::default()
    })
}

/// Waits for an ERROR of the cluster whose message contains `what`; returns the message.
fn cluster_error(s: &TestServer, secs: u64, what: &str) -> String {
    let found = s.wait_for(
        secs,
        what,
        |e| matches!(e, Ev::Error { conn: 0, message, .. } if message.contains(what)),
    );
    let Ev::Error { message, .. } = found else {
        unreachable!()
    };
    message
}

#[test]
fn a_redis_that_accepts_and_never_answers_fails_each_connect_and_is_tried_again() {
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = fake.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    {
        let accepted = accepted.clone();
        // Holds every connection open and never writes a byte.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in fake.incoming().flatten() {
                accepted.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
    }
    let started = Instant::now();
    let s = node(&format!("redis://127.0.0.1:{port}"));
    let message = cluster_error(&s, 5, "no answer while connecting within 300 ms");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    // Both connections (subscriber and publisher) came back for more.
    s.wait_until(5, "reconnect attempts", || {
        accepted.load(Ordering::SeqCst) >= 4
    });
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_redis_that_goes_silent_is_left_and_rejoined_when_it_answers_again() {
    let redis = Redis::start();
    let (a, b) = (node(&redis.url()), node(&redis.url()));
    let mut b1 = RawPeer::connect(b.port, "");
    assert_eq!(b1.status(), 101);
    let open = b.wait_for(5, "open", |e| matches!(e, Ev::Open { .. }));
    let Ev::Open { conn, .. } = open else {
        unreachable!()
    };
    ok(b.subscribe(conn, b"room"));
    redis.wait_until(5, "b on the topic", |r| r.subscribers("5:luna:t:room") == 1);
    b1.stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    // Publishes `text` on A until B's subscriber gets it (a node may be reconnecting).
    let mut delivered = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            assert!(Instant::now() < deadline, "{text}: never reached B");
            ok(a.publish(b"room", text.as_bytes(), 1));
            // Extra copies of an earlier text (published again while it was on its way) are
            // skipped.
            while let Ok((_, _, got)) = b1.read() {
                if got == text.as_bytes() {
                    return;
                }
            }
        }
    };
    delivered("before");

    // Silent, not closed: both nodes' quiet connections ping, and give up on it.
    redis.pause();
    cluster_error(&a, 5, "no answer to a PING within 300 ms");
    cluster_error(&b, 5, "no answer to a PING within 300 ms");

    // Answering again: the nodes reconnect and B subscribes again.
    redis.resume();
    delivered("after");
}
