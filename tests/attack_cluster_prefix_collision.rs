//! Attack: two clusters share one Redis, and one's prefix extends the other's (`luna:` and
//! `luna:b:`). Channel names must not let a topic of the first (`b:room`) reach a topic of the
//! second (`room`): a publish in one cluster must never reach the other's subscribers, while
//! the nodes of each cluster still hear each other.
mod common;

use std::ffi::CString;
use std::time::Duration;

use common::redis::Redis;
use common::*;

/// A server app in the cluster `prefix` at `url`.
fn node(url: &str, prefix: &str) -> TestServer {
    let (url, prefix) = (CString::new(url).unwrap(), CString::new(prefix).unwrap());
    TestServer::start(Options {
        echo: false,
        tweak: Box::new(move |c| {
            // The CStrings live in the closure, which lives until the app started.
            c.cluster_redis = url.as_ptr();
            c.cluster_prefix = prefix.as_ptr();
        }),
        ..Options::default()
    })
}

/// A client of `s`, subscribed to `topic`.
fn subscriber(s: &TestServer, topic: &[u8]) -> RawPeer {
    let client = RawPeer::connect(s.port, "");
    assert_eq!(client.status(), 101);
    let open = s.wait_for(5, "open", |e| matches!(e, Ev::Open { .. }));
    let Ev::Open { conn, .. } = open else {
        unreachable!()
    };
    ok(s.subscribe(conn, topic));
    client
}

fn next_text(c: &mut RawPeer) -> String {
    c.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (_, _, payload) = c.read().expect("a message");
    String::from_utf8(payload).unwrap()
}

#[test]
fn a_topic_of_one_cluster_never_reaches_a_cluster_whose_prefix_extends_it() {
    let redis = Redis::start();
    let url = redis.url();
    // Cluster "luna:": a publisher node and a node with a subscriber of "b:room".
    let (a, a2) = (node(&url, "luna:"), node(&url, "luna:"));
    // Cluster "luna:b:": a publisher node and a node with a subscriber of "room".
    let (b, b2) = (node(&url, "luna:b:"), node(&url, "luna:b:"));
    let mut same_cluster = subscriber(&a2, b"b:room");
    let mut other_cluster = subscriber(&b2, b"room");
    redis.wait_until(5, "both topics subscribed in Redis", |r| {
        let rooms = r.channels().into_iter().filter(|c| c.ends_with("room"));
        rooms.map(|c| r.subscribers(&c)).sum::<usize>() == 2
    });

    // The publish in "luna:" reaches its own cluster's subscriber through Redis...
    ok(a.publish(b"b:room", b"for luna: only", 1));
    assert_eq!(next_text(&mut same_cluster), "for luna: only");
    // ...and not the other cluster's: the next thing there is its own cluster's message,
    // which Redis handled after the first one.
    ok(b.publish(b"room", b"for luna:b: only", 1));
    assert_eq!(next_text(&mut other_cluster), "for luna:b: only");
    // Nor the other way round.
    same_cluster
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let leaked = same_cluster.read();
    assert!(leaked.is_err(), "crossed clusters: {leaked:?}");
}
