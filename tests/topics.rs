//! Topics through the C ABI: publish reaches exactly the subscribers (all but the sender
//! with `luna_conn_publish`), subscribe and unsubscribe are idempotent, a connection lists
//! its topics and loses them when it closes, arguments are checked, and 1,000 subscribers
//! (and TLS ones) all receive the same bytes of one publish.
mod common;

use std::time::Instant;

use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

const BAD: LunaResult = LunaResult::InvalidArgument;

/// A server that only records events (no echo).
fn quiet_server() -> TestServer {
    TestServer::start(Options {
        echo: false,
        ..Options::default()
    })
}

fn subscriptions(s: &TestServer, conn: u64) -> Result<Vec<Vec<u8>>, LunaResult> {
    let mut count = 0usize;
    let rc = luna_conn_subscription_count(app_ptr(s.app), conn, &mut count);
    if rc != LunaResult::Ok {
        return Err(rc);
    }
    let mut topics = Vec::new();
    for i in 0..count {
        let (mut ptr, mut len) = (std::ptr::null(), 0usize);
        let rc = luna_conn_subscription(app_ptr(s.app), conn, i, &mut ptr, &mut len);
        assert_eq!(rc, LunaResult::Ok, "{}", last_error());
        // SAFETY: luna points to `len` bytes, valid until the subscriptions change.
        topics.push(unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec());
    }
    Ok(topics)
}

#[test]
fn publish_reaches_subscribers_but_the_sender_and_unsubscribe_stops_it() {
    let s = quiet_server();
    let (mut a, ida) = s.join();
    let (mut b, idb) = s.join();
    let (mut c, idc) = s.join();
    assert_eq!(s.subscribe(ida, b"room"), (LunaResult::Ok, 1));
    assert_eq!(s.subscribe(ida, b"room"), (LunaResult::Ok, 0), "idempotent");
    assert_eq!(s.subscribe(idb, b"room"), (LunaResult::Ok, 1));
    assert_eq!(s.subscribe(idc, b"other"), (LunaResult::Ok, 1));

    assert_eq!(s.publish(b"room", b"one", 1), (LunaResult::Ok, 2));
    assert_eq!(s.publish(b"other", b"two", 1), (LunaResult::Ok, 1));
    assert_eq!(s.publish(b"nobody", b"x", 1), (LunaResult::Ok, 0));
    assert_eq!(s.publish(b"", b"x", 2), (LunaResult::Ok, 0));
    assert_eq!(a.read_text(), "one");
    assert_eq!(b.read_text(), "one");
    assert_eq!(c.read_text(), "two", "c never got the room's message");

    // a publishes to its room: everyone in it but a; c need not be subscribed to publish.
    assert_eq!(s.publish_from(ida, b"room", b"from a"), (LunaResult::Ok, 1));
    assert_eq!(s.publish_from(idc, b"room", b"from c"), (LunaResult::Ok, 2));
    assert_eq!(b.read_text(), "from a");
    assert_eq!(b.read_text(), "from c");
    assert_eq!(a.read_text(), "from c", "a skipped its own message");

    assert_eq!(s.unsubscribe(idb, b"room"), (LunaResult::Ok, 1));
    assert_eq!(
        s.unsubscribe(idb, b"room"),
        (LunaResult::Ok, 0),
        "idempotent"
    );
    assert_eq!(s.unsubscribe(idb, b"never"), (LunaResult::Ok, 0));
    assert_eq!(s.publish(b"room", b"three", 1), (LunaResult::Ok, 1));
    assert_eq!(s.publish(b"other", b"four", 1), (LunaResult::Ok, 1));
    assert_eq!(a.read_text(), "three");
    assert_eq!(c.read_text(), "four");
    // b's next message is one sent to it alone: it got nothing from the room since.
    let hello = b"direct";
    assert_eq!(
        luna_conn_send(app_ptr(s.app), idb, hello.as_ptr(), hello.len(), 1),
        LunaResult::Ok
    );
    assert_eq!(b.read_text(), "direct");
    // NULL out-parameters are optional for subscribe and publish.
    let rc = luna_conn_subscribe(app_ptr(s.app), idb, b"x".as_ptr(), 1, std::ptr::null_mut());
    assert_eq!(rc, LunaResult::Ok);
    let rc = luna_app_publish(
        app_ptr(s.app),
        b"x".as_ptr(),
        1,
        b"y".as_ptr(),
        1,
        2,
        std::ptr::null_mut(),
    );
    assert_eq!(rc, LunaResult::Ok);
}

#[test]
fn subscriptions_are_listed_in_order_and_end_with_the_connection() {
    let s = quiet_server();
    let (mut a, ida) = s.join();
    let (_b, idb) = s.join();
    for topic in [&b"chat"[..], b"", b"\xff\x00bytes", b"game:42"] {
        assert_eq!(s.subscribe(ida, topic).0, LunaResult::Ok);
    }
    assert_eq!(s.subscribe(idb, b"chat").0, LunaResult::Ok);
    assert_eq!(s.unsubscribe(ida, b"").0, LunaResult::Ok);
    assert_eq!(
        subscriptions(&s, ida).unwrap(),
        [&b"chat"[..], b"\xff\x00bytes", b"game:42"]
    );
    assert_eq!(subscriptions(&s, idb).unwrap(), [b"chat"]);
    let (mut ptr, mut len) = (std::ptr::null(), 0usize);
    let app = app_ptr(s.app);
    assert_eq!(luna_conn_subscription(app, ida, 3, &mut ptr, &mut len), BAD);
    assert!(last_error().contains("past the last"), "{}", last_error());
    let null = std::ptr::null_mut();
    assert_eq!(luna_conn_subscription(app, ida, 0, null, &mut len), BAD);
    assert_eq!(
        luna_conn_subscription(app, ida, 0, &mut ptr, null.cast()),
        BAD
    );
    assert_eq!(luna_conn_subscription_count(app, ida, null.cast()), BAD);

    // a closes; once its CLOSE is polled it is in no topic.
    a.send(8, &1000u16.to_be_bytes());
    assert_eq!(a.read_close(), 1000);
    s.wait_for(
        5,
        "a's close",
        |e| matches!(e, Ev::Close { conn, .. } if *conn == ida),
    );
    assert_eq!(s.publish(b"game:42", b"x", 1), (LunaResult::Ok, 0));
    assert_eq!(s.publish(b"chat", b"x", 1), (LunaResult::Ok, 1), "b only");
    assert_eq!(subscriptions(&s, ida), Err(LunaResult::Closed));
    assert_eq!(s.subscribe(ida, b"chat").0, LunaResult::Closed);
    assert_eq!(s.unsubscribe(ida, b"chat").0, LunaResult::Closed);
    assert_eq!(s.publish_from(ida, b"chat", b"x").0, LunaResult::Closed);
    // An id luna never issued is a bad argument, not a closed connection.
    assert_eq!(s.subscribe(u64::MAX, b"chat").0, BAD);
    assert_eq!(s.publish_from(u64::MAX, b"chat", b"x").0, BAD);
    assert_eq!(subscriptions(&s, u64::MAX), Err(BAD));
}

#[test]
fn bad_topics_payloads_and_apps_are_refused() {
    let s = quiet_server();
    let (_a, ida) = s.join();
    let app = app_ptr(s.app);
    let longest = vec![b't'; 256];
    let long = vec![b't'; 257];
    assert_eq!(s.subscribe(ida, &longest), (LunaResult::Ok, 1));
    assert_eq!(s.subscribe(ida, &long).0, BAD);
    assert!(last_error().contains("256"), "{}", last_error());
    assert_eq!(s.unsubscribe(ida, &long).0, BAD);
    assert_eq!(s.publish(&long, b"x", 1).0, BAD);
    assert_eq!(s.publish_from(ida, &long, b"x").0, BAD);
    assert_eq!(s.publish(&longest, b"x", 1), (LunaResult::Ok, 1));

    // TEXT must be UTF-8, even for a topic nobody has; BINARY may be anything.
    assert_eq!(
        s.publish(b"nobody", b"\xff\xfe", 1).0,
        LunaResult::InvalidUtf8
    );
    assert_eq!(
        s.publish(&longest, b"\xff\xfe", 1).0,
        LunaResult::InvalidUtf8
    );
    assert_eq!(s.publish(&longest, b"\xff\xfe", 2), (LunaResult::Ok, 1));
    for opcode in [0, 3, 8, 99] {
        assert_eq!(s.publish(b"t", b"x", opcode).0, BAD, "opcode {opcode}");
    }
    assert_eq!(s.publish(b"t", &[b'p'; 126], 9).0, BAD, "long ping");

    // NULL with a length, NULL apps.
    let null = std::ptr::null();
    assert_eq!(
        luna_conn_subscribe(app, ida, null, 3, std::ptr::null_mut()),
        BAD
    );
    assert_eq!(
        luna_conn_unsubscribe(app, ida, null, 3, std::ptr::null_mut()),
        BAD
    );
    assert_eq!(
        luna_conn_subscribe(app, ida, null, 0, std::ptr::null_mut()),
        LunaResult::Ok
    );
    let mut n = 0usize;
    assert_eq!(
        luna_app_publish(app, null, 1, b"x".as_ptr(), 1, 1, &mut n),
        BAD
    );
    assert_eq!(
        luna_app_publish(app, b"t".as_ptr(), 1, null, 1, 1, &mut n),
        BAD
    );
    assert_eq!(
        luna_conn_publish(app, ida, null, 1, b"x".as_ptr(), 1, 1, &mut n),
        BAD
    );
    let none = std::ptr::null_mut();
    assert_eq!(
        luna_conn_subscribe(none, ida, b"t".as_ptr(), 1, std::ptr::null_mut()),
        BAD
    );
    assert_eq!(
        luna_app_publish(none, b"t".as_ptr(), 1, b"x".as_ptr(), 1, 1, &mut n),
        BAD
    );
    assert_eq!(luna_conn_subscription_count(none, ida, &mut n), BAD);

    // A client app has no topics.
    let mut client = TestClient::connect(&s.url(), |_| {});
    client.until(5, "open", TestClient::opened);
    let capp = app_ptr(client.app);
    let t = b"t".as_ptr();
    assert_eq!(
        luna_conn_subscribe(capp, client.conn, t, 1, std::ptr::null_mut()),
        BAD
    );
    assert!(last_error().contains("client"), "{}", last_error());
    assert_eq!(
        luna_conn_unsubscribe(capp, client.conn, t, 1, std::ptr::null_mut()),
        BAD
    );
    assert_eq!(luna_conn_subscription_count(capp, client.conn, &mut n), BAD);
    assert_eq!(luna_app_publish(capp, t, 1, t, 1, 1, &mut n), BAD);
    assert_eq!(
        luna_conn_publish(capp, client.conn, t, 1, t, 1, 1, &mut n),
        BAD
    );
}

#[test]
fn thousand_subscribers_receive_the_same_bytes_of_one_publish() {
    let s = quiet_server();
    let mut clients: Vec<RawPeer> = (0..1000).map(|_| RawPeer::connect(s.port, "")).collect();
    s.wait_until(20, "1,000 opens", || {
        s.count(|e| matches!(e, Ev::Open { .. })) == 1000
    });
    for conn in s.open_ids() {
        assert_eq!(s.subscribe(conn, b"everyone"), (LunaResult::Ok, 1));
    }
    let payload: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    let (rc, n) = s.publish(b"everyone", &payload, 2);
    let took = start.elapsed();
    assert_eq!((rc, n), (LunaResult::Ok, 1000));
    eprintln!("publish of 1000 bytes to 1,000 subscribers: {took:?} on the host");
    for c in &mut clients {
        let (fin, opcode, data) = c.read().expect("the published message");
        assert!(fin && opcode == 2);
        assert_eq!(data, payload);
    }
}

#[cfg(feature = "tls")]
#[test]
fn tls_subscribers_receive_a_publish() {
    use common::certs::*;
    use std::ffi::CString;
    let ca = Ca::new(temp_dir("topics"));
    let key = ec_key();
    let cert = ca.leaf(&key, &["localhost", "127.0.0.1"], valid_now(), "cert.pem");
    write_key(&key, KeyForm::Pkcs8, &ca.path("key.pem"));
    let (cert, key) = (
        CString::new(cert.to_str().unwrap()).unwrap(),
        CString::new(ca.path("key.pem").to_str().unwrap()).unwrap(),
    );
    let s = TestServer::start(Options {
        echo: false,
        tweak: Box::new(move |config| {
            config.tls_cert_file = cert.as_ptr();
            config.tls_key_file = key.as_ptr();
        }),
        ..Options::default()
    });
    let ca_file = CString::new(ca.path("ca.pem").to_str().unwrap()).unwrap();
    let url = format!("wss://localhost:{}/", s.port);
    let mut clients: Vec<TestClient> = (0..3)
        .map(|_| TestClient::connect(&url, |c| c.tls_ca_file = ca_file.as_ptr()))
        .collect();
    s.wait_until(20, "3 opens", || {
        s.count(|e| matches!(e, Ev::Open { .. })) == 3
    });
    let ids: Vec<u64> = s.open_ids();
    for id in &ids {
        assert_eq!(s.subscribe(*id, b"secure").0, LunaResult::Ok);
    }
    assert_eq!(s.publish(b"secure", b"over tls", 1), (LunaResult::Ok, 3));
    assert_eq!(
        s.publish_from(ids[0], b"secure", b"not to 0"),
        (LunaResult::Ok, 2)
    );
    for client in &mut clients {
        client.until(20, "the publish", |evs| {
            evs.iter()
                .any(|e| matches!(e, Ev::Msg { data, .. } if data == b"over tls"))
        });
    }
}
