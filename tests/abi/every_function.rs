//! Every function of include/luna.h with NULL, zero lengths, freed and unknown handles and
//! ids (the ones `bad_arguments` does not cover, and the client ones), and every
//! connection function hammered from several threads while the app is freed under them.
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

const BAD: LunaResult = LunaResult::InvalidArgument;

fn freed_server() -> *mut LunaApp {
    let s = TestServer::start(Options::default());
    let app = app_ptr(s.app);
    s.stop_and_free();
    app
}

/// Every per-app and per-connection call on `app`, which must answer `want`.
fn every_call_answers(app: *mut LunaApp, conn: u64, want: LunaResult) {
    let mut u16_out = 0u16;
    let mut u64_out = 0u64;
    let mut i64_out = 0i64;
    let mut u8_out = 0u8;
    let mut n = 0usize;
    let mut ip = [0 as std::ffi::c_char; 64];
    let mut ev = [empty_event(); 4];
    assert_eq!(luna_app_port(app, &mut u16_out), want);
    assert_eq!(luna_app_poll(app, ev.as_mut_ptr(), ev.len(), &mut n), want);
    assert_eq!(luna_app_wait(app, 0), want);
    assert_eq!(luna_app_fd(app, &mut i64_out), want);
    assert_eq!(
        luna_app_broadcast(app, b"x".as_ptr(), 1, 1, std::ptr::null(), 0, &mut n),
        want
    );
    assert_eq!(luna_client_conn(app, &mut u64_out), want);
    assert_eq!(luna_conn_send(app, conn, b"x".as_ptr(), 1, 1), want);
    assert_eq!(luna_conn_close(app, conn, 1000, std::ptr::null(), 0), want);
    assert_eq!(
        luna_conn_peer(app, conn, ip.as_mut_ptr(), ip.len(), &mut u16_out),
        want
    );
    assert_eq!(
        luna_conn_local(app, conn, ip.as_mut_ptr(), ip.len(), &mut u16_out),
        want
    );
    assert_eq!(luna_conn_fd(app, conn, &mut i64_out), want);
    assert_eq!(luna_conn_is_tls(app, conn, &mut u8_out), want);
    assert_eq!(luna_conn_is_compressed(app, conn, &mut u8_out), want);
    assert_eq!(luna_conn_set_nodelay(app, conn, 1), want);
    assert_eq!(luna_conn_set_keepalive(app, conn, 1), want);
    let topic = b"t".as_ptr();
    assert_eq!(luna_conn_subscribe(app, conn, topic, 1, &mut u8_out), want);
    assert_eq!(
        luna_conn_unsubscribe(app, conn, topic, 1, &mut u8_out),
        want
    );
    assert_eq!(luna_conn_subscription_count(app, conn, &mut n), want);
    let mut topic_out = std::ptr::null();
    assert_eq!(
        luna_conn_subscription(app, conn, 0, &mut topic_out, &mut n),
        want
    );
    assert_eq!(luna_app_publish(app, topic, 1, topic, 1, 1, &mut n), want);
    assert_eq!(
        luna_conn_publish(app, conn, topic, 1, topic, 1, 1, &mut n),
        want
    );
    let file = c"f.pem".as_ptr();
    assert_eq!(luna_app_reload_tls(app, file, file, std::ptr::null()), want);
    assert_eq!(luna_app_stop(app), want);
    assert!(!last_error().is_empty());
}

#[test]
fn null_bogus_and_freed_handles_are_refused_by_every_function() {
    every_call_answers(std::ptr::null_mut(), 1, BAD);
    every_call_answers(0xdead_0000usize as *mut LunaApp, 1, BAD);
    let freed = freed_server();
    every_call_answers(freed, 1, BAD);
    assert_eq!(luna_app_free(freed), BAD, "double free");
    assert_eq!(luna_app_free(std::ptr::null_mut()), LunaResult::Ok);
}

#[test]
fn static_functions_never_return_null() {
    // SAFETY: both return static NUL-terminated strings.
    let version = unsafe { CStr::from_ptr(luna_version()) }.to_str().unwrap();
    assert!(
        version.chars().next().unwrap().is_ascii_digit(),
        "{version}"
    );
    assert!(luna_has_tls() <= 1);
    for code in [0u32, 1, 2, 3, 99, 1000, u32::MAX] {
        // SAFETY: never NULL, static.
        let name = unsafe { CStr::from_ptr(luna_result_name(code)) };
        assert!(!name.to_bytes().is_empty(), "name of {code}");
    }
    assert!(!luna_last_error().is_null());
    assert!(LunaResult::try_from(luna_last_result() as u32).is_ok());
    assert_eq!(luna_signal_take(), 0, "no signal caught");
}

#[test]
fn wait_any_checks_its_list() {
    assert_eq!(luna_app_wait_any(std::ptr::null(), 3, 0), BAD);
    assert_eq!(
        luna_app_wait_any(std::ptr::null(), 0, 1),
        LunaResult::Timeout
    );
    // Nothing to wait for, forever: refused instead of hanging.
    assert_eq!(luna_app_wait_any(std::ptr::null(), 0, -1), BAD);
    let freed = freed_server();
    let list = [freed];
    assert_eq!(luna_app_wait_any(list.as_ptr(), 1, 0), BAD);
    let s = TestServer::start(Options {
        echo: false,
        ..Options::default()
    });
    let list = [app_ptr(s.app), std::ptr::null_mut()];
    assert_eq!(luna_app_wait_any(list.as_ptr(), 2, 0), BAD);
    assert_eq!(luna_app_wait_any(list.as_ptr(), 1, 0), LunaResult::Timeout);
}

#[test]
fn client_functions_refuse_bad_configs_and_handles() {
    assert_eq!(luna_client_config_default(std::ptr::null_mut()), BAD);
    let mut conn = 7u64;
    assert!(luna_client_connect(std::ptr::null(), &mut conn).is_null());
    assert_eq!(conn, 7, "out-parameters are written only on success");
    // SAFETY: plain data, filled by luna_client_config_default.
    let mut config: LunaClientConfig = unsafe { std::mem::zeroed() };
    assert_eq!(luna_client_config_default(&mut config), LunaResult::Ok);
    assert!(
        luna_client_connect(&config, &mut conn).is_null(),
        "NULL url"
    );
    for url in ["", "http://x/", "ws://", "ws://host:99999/", "ws://a b/"] {
        let url = CString::new(url).unwrap();
        config.url = url.as_ptr();
        assert!(luna_client_connect(&config, &mut conn).is_null(), "{url:?}");
        assert!(!last_error().is_empty());
    }
    let url = CString::new("ws://127.0.0.1:9/").unwrap();
    config.url = url.as_ptr();
    config.protocol_count = 2;
    assert!(
        luna_client_connect(&config, &mut conn).is_null(),
        "NULL protocols"
    );
    config.protocol_count = 0;
    config.header_count = 1;
    assert!(
        luna_client_connect(&config, &mut conn).is_null(),
        "NULL headers"
    );
    config.header_count = 0;
    assert_eq!(conn, 7);
    // A server app has no client connection.
    let s = TestServer::start(Options::default());
    assert_eq!(luna_client_conn(app_ptr(s.app), &mut conn), BAD);
    // A client's connection id works; NULL out-parameters are refused.
    let app = luna_client_connect(&config, std::ptr::null_mut());
    assert!(!app.is_null(), "{}", last_error());
    assert_eq!(luna_client_conn(app, std::ptr::null_mut()), BAD);
    assert_eq!(luna_client_conn(app, &mut conn), LunaResult::Ok);
    assert_eq!(
        luna_conn_send(app, conn, std::ptr::null(), 0, 2),
        LunaResult::Ok
    );
    assert_eq!(luna_conn_send(app, conn + 1000, b"x".as_ptr(), 1, 2), BAD);
    assert_eq!(luna_app_free(app), LunaResult::Ok);
    every_call_answers(app, conn, BAD);
}

#[test]
fn conn_close_and_local_check_their_arguments() {
    let s = TestServer::start(Options {
        echo: false,
        ..Options::default()
    });
    let app = app_ptr(s.app);
    let _client = RawPeer::connect(s.port, "");
    let Ev::Open { conn, .. } = s.wait_for(5, "open", |e| matches!(e, Ev::Open { .. })) else {
        unreachable!()
    };
    for code in [0u32, 999, 1004, 1005, 1006, 1015, 2999, 5000, 70000] {
        assert_eq!(
            luna_conn_close(app, conn, code, std::ptr::null(), 0),
            BAD,
            "{code}"
        );
    }
    assert_eq!(luna_conn_close(app, conn, 1000, std::ptr::null(), 5), BAD);
    assert_eq!(
        luna_conn_close(app, conn, 1000, [b'r'; 124].as_ptr(), 124),
        BAD
    );
    assert_eq!(
        luna_conn_close(app, conn, 1000, b"\xff".as_ptr(), 1),
        LunaResult::InvalidUtf8
    );
    assert_eq!(luna_conn_close(app, 0, 1000, std::ptr::null(), 0), BAD);
    assert_eq!(
        luna_conn_close(app, u64::MAX, 1000, std::ptr::null(), 0),
        BAD
    );
    let mut port = 0u16;
    let mut ip = [0 as std::ffi::c_char; 64];
    assert_eq!(
        luna_conn_local(app, conn, std::ptr::null_mut(), 64, &mut port),
        BAD
    );
    assert_eq!(
        luna_conn_local(app, conn, ip.as_mut_ptr(), 0, &mut port),
        BAD
    );
    assert_eq!(
        luna_conn_local(app, conn, ip.as_mut_ptr(), 3, &mut port),
        BAD
    );
    assert_eq!(
        luna_conn_local(app, conn, ip.as_mut_ptr(), 64, &mut port),
        LunaResult::Ok
    );
    assert_eq!(port, s.port);
    // The valid close works once; a second is a no-op.
    assert_eq!(
        luna_conn_close(app, conn, 1000, b"bye".as_ptr(), 3),
        LunaResult::Ok
    );
    assert_eq!(
        luna_conn_close(app, conn, 1000, std::ptr::null(), 0),
        LunaResult::Ok
    );
    s.wait_for(5, "close", |e| matches!(e, Ev::Close { .. }));
    assert_eq!(
        luna_conn_send(app, conn, b"x".as_ptr(), 1, 1),
        LunaResult::Closed
    );
}

#[test]
fn connection_calls_from_many_threads_while_the_app_is_freed() {
    for round in 0..3 {
        let s = TestServer::start(Options::default());
        let clients: Vec<RawPeer> = (0..8).map(|_| RawPeer::connect(s.port, "")).collect();
        s.wait_until(5, "opens", || {
            s.count(|e| matches!(e, Ev::Open { .. })) == 8
        });
        let ids: Vec<u64> = s.open_ids();
        let app = s.app;
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let (ids, stop) = (ids.clone(), stop.clone());
                std::thread::spawn(move || {
                    let app = app_ptr(app);
                    let mut ip = [0 as std::ffi::c_char; 64];
                    let (mut port, mut fd, mut flag, mut n) = (0u16, 0i64, 0u8, 0usize);
                    let mut i = 0usize;
                    while !stop.load(Ordering::Acquire) {
                        let conn = ids[i % ids.len()] + (i % 3 == 2) as u64 * 1000;
                        let _ = luna_conn_send(app, conn, b"hi".as_ptr(), 2, 1);
                        let _ = luna_conn_peer(app, conn, ip.as_mut_ptr(), 64, &mut port);
                        let _ = luna_conn_local(app, conn, ip.as_mut_ptr(), 64, &mut port);
                        let _ = luna_conn_fd(app, conn, &mut fd);
                        let _ = luna_conn_is_tls(app, conn, &mut flag);
                        let _ = luna_conn_is_compressed(app, conn, &mut flag);
                        let _ = luna_conn_set_nodelay(app, conn, 1);
                        let _ = luna_conn_set_keepalive(app, conn, (i % 2) as u8);
                        let _ = luna_app_broadcast(
                            app,
                            b"b".as_ptr(),
                            1,
                            2,
                            std::ptr::null(),
                            0,
                            &mut n,
                        );
                        let (topic, no) = (b"room".as_ptr(), std::ptr::null_mut());
                        let _ = luna_conn_subscribe(app, conn, topic, 4, no);
                        let _ = luna_app_publish(app, topic, 4, b"p".as_ptr(), 1, 2, &mut n);
                        let _ = luna_conn_publish(app, conn, topic, 4, topic, 1, 2, &mut n);
                        let _ = luna_conn_subscription_count(app, conn, &mut n);
                        if i % 3 == 0 {
                            let _ = luna_conn_unsubscribe(app, conn, topic, 4, no);
                        }
                        if i % 50 == 49 && t == round {
                            let _ = luna_conn_close(app, conn, 1000, std::ptr::null(), 0);
                        }
                        i += 1;
                    }
                    i
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(200));
        // Free the app under the workers: later calls answer INVALID_ARGUMENT, never crash.
        drop(s);
        std::thread::sleep(std::time::Duration::from_millis(50));
        stop.store(true, Ordering::Release);
        for w in workers {
            assert!(w.join().expect("no worker panicked") > 0);
        }
        assert_eq!(
            luna_conn_send(app_ptr(app), ids[0], b"x".as_ptr(), 1, 1),
            BAD
        );
        drop(clients);
    }
}
