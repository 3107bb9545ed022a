//! Two server apps in one process sharing a real Redis (tests/common/redis.rs): a publish on
//! one node reaches the subscribers of both exactly once and in order, broadcasts cross
//! nodes, a node subscribes in Redis only to topics with local subscribers, Redis killed
//! never stops local delivery and is reported, Redis restarted is rejoined, and an app
//! without a cluster setting never connects to Redis.
mod common;

use std::ffi::CString;
use std::time::Duration;

use common::redis::Redis;
use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

/// A server app that records events and joins the cluster at `url` (none when empty).
fn node(url: &str) -> TestServer {
    let url = CString::new(url).unwrap();
    TestServer::start(Options {
        echo: false,
        tweak: Box::new(move |c| {
            if !url.as_bytes().is_empty() {
                // The CString lives in the closure, which lives until the app started.
                c.cluster_redis = url.as_ptr();
            }
        }),
        ..Options::default()
    })
}

/// Asserts that `c` receives nothing more within a short while.
fn silent(c: &mut RawPeer) {
    c.stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let got = c.read();
    assert!(got.is_err(), "unexpected message: {got:?}");
    c.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
}

#[test]
fn publish_reaches_both_nodes_once_and_in_order() {
    let redis = Redis::start();
    let (a, b) = (node(&redis.url()), node(&redis.url()));
    let (mut a1, ida1) = a.join();
    let (mut a2, _) = a.join();
    let (mut b1, idb1) = b.join();
    ok(a.subscribe(ida1, b"room"));
    ok(b.subscribe(idb1, b"room"));
    redis.wait_until(5, "both nodes on 5:luna:t:room", |r| {
        r.subscribers("5:luna:t:room") == 2
    });

    // Counts are local: one subscriber on node A.
    for i in 0..1000 {
        assert_eq!(ok(a.publish(b"room", format!("m{i}").as_bytes(), 1)), 1);
    }
    for i in 0..1000 {
        assert_eq!(a1.read_text(), format!("m{i}"), "node A, in order");
        assert_eq!(b1.read_text(), format!("m{i}"), "node B, in order");
    }
    // ws:publish on B skips its sender there and reaches A's subscriber.
    let mut n = usize::MAX;
    let rc = luna_conn_publish(
        app_ptr(b.app),
        idb1,
        b"room".as_ptr(),
        4,
        b"from b".as_ptr(),
        6,
        1,
        &mut n,
    );
    assert_eq!((rc, n), (LunaResult::Ok, 0));
    assert_eq!(a1.read_text(), "from b");
    // Exactly once: nothing more anywhere, and nothing for the connection not subscribed.
    silent(&mut a1);
    silent(&mut b1);
    silent(&mut a2);
    // No ERROR events: Redis was there all along.
    assert_eq!(
        a.count(|e| matches!(e, Ev::Error { .. })),
        0,
        "{:?}",
        a.snapshot()
    );
    assert_eq!(b.count(|e| matches!(e, Ev::Error { .. })), 0);
}

#[test]
fn a_node_subscribes_in_redis_only_to_topics_with_local_subscribers() {
    let redis = Redis::start();
    let a = node(&redis.url());
    redis.wait_until(5, "the broadcast channels", |r| {
        r.channels() == ["5:luna:b:", "5:luna:g:"]
    });
    let (_c1, id1) = a.join();
    let (c2, id2) = a.join();
    ok(a.subscribe(id1, b"red"));
    ok(a.subscribe(id2, b"red"));
    ok(a.subscribe(id2, b"blue"));
    redis.wait_until(5, "red and blue", |r| {
        r.channels() == ["5:luna:b:", "5:luna:g:", "5:luna:t:blue", "5:luna:t:red"]
    });
    // One Redis subscription per topic, however many local subscribers.
    assert_eq!(redis.subscribers("5:luna:t:red"), 1);
    ok(a.unsubscribe(id1, b"red"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        redis.channels().contains(&"5:luna:t:red".to_owned()),
        "id2 still in red"
    );
    // The last subscriber leaves by closing: both its topics go.
    drop(c2);
    redis.wait_until(5, "red and blue dropped", |r| {
        r.channels() == ["5:luna:b:", "5:luna:g:"]
    });
}

#[test]
fn broadcasts_reach_every_node_and_groups_match_by_name() {
    let redis = Redis::start();
    let (a, b) = (node(&redis.url()), node(&redis.url()));
    let (mut a1, _) = a.join();
    let (mut b1, _) = b.join();
    redis.wait_until(5, "both nodes on the broadcast channel", |r| {
        r.subscribers("5:luna:b:") == 2
    });
    let mut n = usize::MAX;
    let rc = luna_app_broadcast(
        app_ptr(a.app),
        b"hi all".as_ptr(),
        6,
        1,
        std::ptr::null(),
        0,
        &mut n,
    );
    assert_eq!((rc, n), (LunaResult::Ok, 1), "the count is local");
    assert_eq!(a1.read_text(), "hi all");
    assert_eq!(b1.read_text(), "hi all");
    // The default handler's group, by its name "".
    let rc = luna_app_broadcast(
        app_ptr(b.app),
        b"group".as_ptr(),
        5,
        1,
        b"".as_ptr(),
        0,
        &mut n,
    );
    assert_eq!((rc, n), (LunaResult::Ok, 1));
    assert_eq!(b1.read_text(), "group");
    assert_eq!(a1.read_text(), "group");
    silent(&mut a1);
    silent(&mut b1);
}

#[test]
fn redis_killed_keeps_local_delivery_and_restarted_is_rejoined() {
    let mut redis = Redis::start();
    let (a, b) = (node(&redis.url()), node(&redis.url()));
    let (mut a1, ida1) = a.join();
    let (mut b1, idb1) = b.join();
    ok(a.subscribe(ida1, b"room"));
    ok(b.subscribe(idb1, b"room"));
    redis.wait_until(5, "both nodes on 5:luna:t:room", |r| {
        r.subscribers("5:luna:t:room") == 2
    });
    assert_eq!(ok(a.publish(b"room", b"before", 1)), 1);
    assert_eq!(b1.read_text(), "before");
    assert_eq!(a1.read_text(), "before");

    redis.kill();
    let error = a.wait_for(
        5,
        "an ERROR about Redis",
        |e| matches!(e, Ev::Error { conn: 0, message, .. } if message.contains("cluster")),
    );
    let Ev::Error { code, message, .. } = error else {
        unreachable!()
    };
    assert_eq!(code, LunaResult::Io as u32, "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{}", redis.port)),
        "{message}"
    );
    // Local delivery goes on.
    assert_eq!(ok(a.publish(b"room", b"local", 1)), 1);
    assert_eq!(a1.read_text(), "local");

    redis.restart();
    redis.wait_until(10, "both nodes back on 5:luna:t:room", |r| {
        r.subscribers("5:luna:t:room") == 2
    });
    // What A queued during the outage may reach B before B resubscribed: skip it.
    assert_eq!(ok(a.publish(b"room", b"after", 1)), 1);
    assert_eq!(a1.read_text(), "after");
    loop {
        match b1.read_text().as_str() {
            "after" => break,
            "local" => continue,
            other => panic!("unexpected {other}"),
        }
    }
    silent(&mut b1);
}

#[test]
fn without_a_cluster_setting_no_redis_connection_is_made() {
    let redis = Redis::start();
    let clients = |r: &Redis| r.cli(&["CLIENT", "LIST"]).lines().count();
    assert_eq!(clients(&redis), 1, "only redis-cli itself");
    let plain = node("");
    let (_c, id) = plain.join();
    ok(plain.subscribe(id, b"room"));
    assert_eq!(ok(plain.publish(b"room", b"x", 1)), 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(clients(&redis), 1);
    // A clustered node, for contrast: its subscriber and publisher connections.
    let _clustered = node(&redis.url());
    redis.wait_until(5, "two connections", |r| clients(r) == 3);
}

#[test]
fn bad_cluster_settings_fail_the_app() {
    let bad = |url: Option<&str>, prefix: Option<&str>| {
        let host = c"127.0.0.1";
        let url = url.map(|u| CString::new(u).unwrap());
        let prefix = prefix.map(|p| CString::new(p).unwrap());
        // SAFETY: plain data; luna_server_config_default fills every field.
        let mut config: LunaServerConfig = unsafe { std::mem::zeroed() };
        luna_server_config_default(&mut config);
        assert!(config.cluster_redis.is_null() && config.cluster_prefix.is_null());
        config.host = host.as_ptr();
        config.cluster_redis = url.as_ref().map_or(std::ptr::null(), |u| u.as_ptr());
        config.cluster_prefix = prefix.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
        let app = luna_server_new(&config);
        assert!(app.is_null());
        last_error()
    };
    assert!(bad(Some("http://127.0.0.1"), None).contains("redis://"));
    assert!(bad(Some("redis://127.0.0.1:notaport"), None).contains("bad port"));
    assert!(bad(None, Some("x:")).contains("cluster_prefix needs"));
    let empty = bad(Some("redis://127.0.0.1"), Some(""));
    assert!(empty.contains("cluster prefix is empty"), "{empty}");
    let hidden = bad(Some("redis://:hunter2@127.0.0.1/x"), None);
    assert!(!hidden.contains("hunter2"), "{hidden}");
}

/// Figures for docs/SCALING.md (not run by `make test`):
/// `cargo test --release --test cluster -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_cross_node_throughput_and_latency() {
    let redis = Redis::start();
    let (a, b) = (node(&redis.url()), node(&redis.url()));
    let (_a1, ida1) = a.join();
    let (mut b1, idb1) = b.join();
    ok(a.subscribe(ida1, b"room"));
    ok(b.subscribe(idb1, b"room"));
    redis.wait_until(5, "both nodes on 5:luna:t:room", |r| {
        r.subscribers("5:luna:t:room") == 2
    });
    let payload = [b'x'; 64];
    let total = 200_000;
    let start = std::time::Instant::now();
    let reader = std::thread::spawn(move || {
        for _ in 0..total {
            b1.read().expect("a message");
        }
        (b1, start.elapsed())
    });
    for _ in 0..total {
        ok(a.publish(b"room", &payload, 1));
    }
    let published = start.elapsed();
    let (mut b1, received) = reader.join().unwrap();
    println!(
        "{total} x 64 B: published in {published:?} ({:.0}/s on the host), received on node B in {received:?} ({:.0}/s)",
        total as f64 / published.as_secs_f64(),
        total as f64 / received.as_secs_f64()
    );
    let mut rtt = Vec::new();
    for _ in 0..2000 {
        let t = std::time::Instant::now();
        ok(a.publish(b"room", &payload, 1));
        b1.read().expect("a message");
        rtt.push(t.elapsed());
    }
    rtt.sort();
    println!(
        "publish on A -> frame read on B: p50 {:?}, p99 {:?}",
        rtt[rtt.len() / 2],
        rtt[rtt.len() * 99 / 100]
    );
}

#[test]
fn redis_unreachable_at_start_is_a_degraded_state_with_errors() {
    // A port nobody listens on: the app starts, reports, and serves locally.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = node(&format!("redis://127.0.0.1:{port}"));
    let error = a.wait_for(5, "an ERROR about Redis", |e| matches!(e, Ev::Error { .. }));
    let Ev::Error { conn, message, .. } = error else {
        unreachable!()
    };
    assert_eq!(conn, 0);
    assert!(message.starts_with("cluster "), "{message}");
    assert!(message.contains("cannot connect"), "{message}");
    let (mut c, id) = a.join();
    ok(a.subscribe(id, b"room"));
    assert_eq!(ok(a.publish(b"room", b"local", 1)), 1);
    assert_eq!(c.read_text(), "local");
}

/// The cluster's link in the app's counters: connected once both Redis connections are up,
/// disconnected while Redis is gone, connected again after it returns.
#[test]
fn the_cluster_link_shows_in_the_counters() {
    let mut redis = Redis::start();
    let a = node(&redis.url());
    let stats = |s: &TestServer| {
        let mut out = LunaStats::default();
        assert_eq!(luna_app_stats(app_ptr(s.app), &mut out), LunaResult::Ok);
        out
    };
    a.wait_until(10, "the link up", || stats(&a).cluster_connected == 1);
    assert_eq!(stats(&a).cluster_dropped, 0);
    redis.kill();
    a.wait_until(15, "the link down", || stats(&a).cluster_connected == 0);
    redis.restart();
    a.wait_until(20, "the link up again", || stats(&a).cluster_connected == 1);
    let plain = node("");
    assert_eq!(stats(&plain).cluster_connected, 0);
}
