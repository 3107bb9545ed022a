//! Every function answers NULL pointers, bad lengths, unknown ids and bad values with an
//! error code and a message, never a crash; calls from several threads at once are safe.
use std::ffi::CString;

use crate::common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

#[test]
fn null_and_garbage_arguments_return_errors() {
    let null_app: *mut LunaApp = std::ptr::null_mut();
    let bogus = 0x1234usize as *mut LunaApp;
    let mut n = 0usize;
    let mut port = 0u16;
    let mut fd = 0i64;
    assert_eq!(luna_server_new(std::ptr::null()), std::ptr::null_mut());
    assert!(last_error().contains("NULL"), "{}", last_error());
    assert_eq!(
        luna_server_config_default(std::ptr::null_mut()),
        LunaResult::InvalidArgument
    );
    for app in [null_app, bogus] {
        assert_eq!(luna_app_port(app, &mut port), LunaResult::InvalidArgument);
        assert_eq!(
            luna_app_poll(app, std::ptr::null_mut(), 0, &mut n),
            LunaResult::InvalidArgument
        );
        assert_eq!(luna_app_wait(app, 0), LunaResult::InvalidArgument);
        assert_eq!(luna_app_fd(app, &mut fd), LunaResult::InvalidArgument);
        assert_eq!(luna_app_stop(app), LunaResult::InvalidArgument);
        assert_eq!(
            luna_conn_send(app, 1, b"x".as_ptr(), 1, 1),
            LunaResult::InvalidArgument
        );
        assert_eq!(
            luna_app_broadcast(app, b"x".as_ptr(), 1, 1, std::ptr::null(), 0, &mut n),
            LunaResult::InvalidArgument
        );
    }
    assert_eq!(luna_app_free(bogus), LunaResult::InvalidArgument);

    let s = TestServer::start(Options {
        echo: false,
        ..Options::default()
    });
    let app = app_ptr(s.app);
    assert_eq!(
        luna_app_port(app, std::ptr::null_mut()),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_app_poll(app, std::ptr::null_mut(), 10, &mut n),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_app_poll(app, std::ptr::null_mut(), usize::MAX, &mut n),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_conn_send(app, 0, b"x".as_ptr(), 1, 1),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_conn_send(app, u64::MAX, b"x".as_ptr(), 1, 1),
        LunaResult::InvalidArgument
    );
    assert!(
        last_error().contains("unknown connection"),
        "{}",
        last_error()
    );

    let _client = RawPeer::connect(s.port, "");
    let Ev::Open { conn, .. } = s.wait_for(5, "open", |e| matches!(e, Ev::Open { .. })) else {
        unreachable!()
    };
    assert_eq!(
        luna_conn_send(app, conn, std::ptr::null(), 5, 2),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_conn_send(app, conn, std::ptr::null(), 0, 2),
        LunaResult::Ok,
        "empty payload may be NULL"
    );
    assert_eq!(
        luna_conn_send(app, conn, b"x".as_ptr(), usize::MAX, 2),
        LunaResult::InvalidArgument
    );
    for opcode in [0u32, 3, 8, 11, 1000] {
        assert_eq!(
            luna_conn_send(app, conn, b"x".as_ptr(), 1, opcode),
            LunaResult::InvalidArgument,
            "opcode {opcode}"
        );
    }
    let bad = [0xc3u8, 0x28];
    assert_eq!(
        luna_conn_send(app, conn, bad.as_ptr(), 2, 1),
        LunaResult::InvalidUtf8
    );
    assert_eq!(
        luna_conn_send(app, conn, bad.as_ptr(), 2, 2),
        LunaResult::Ok,
        "binary may hold anything"
    );
    let long_ping = [0u8; 126];
    assert_eq!(
        luna_conn_send(app, conn, long_ping.as_ptr(), 126, 9),
        LunaResult::InvalidArgument
    );
    assert_eq!(
        luna_conn_peer(app, conn, std::ptr::null_mut(), 0, std::ptr::null_mut()),
        LunaResult::InvalidArgument
    );
    let mut small = [0 as std::ffi::c_char; 4];
    assert_eq!(
        luna_conn_peer(app, conn, small.as_mut_ptr(), 4, &mut port),
        LunaResult::InvalidArgument
    );
    let mut ip = [0 as std::ffi::c_char; 46];
    assert_eq!(
        luna_conn_peer(app, conn, ip.as_mut_ptr(), 46, &mut port),
        LunaResult::Ok
    );
    // SAFETY: luna wrote a NUL-terminated string into `ip`.
    assert_eq!(
        unsafe { std::ffi::CStr::from_ptr(ip.as_ptr()) }
            .to_str()
            .unwrap(),
        "127.0.0.1"
    );
    assert_eq!(luna_conn_fd(app, conn, &mut fd), LunaResult::Ok);
    assert!(fd > 2);
    assert_eq!(luna_conn_set_nodelay(app, conn, 1), LunaResult::Ok);
    assert_eq!(luna_conn_set_keepalive(app, conn, 1), LunaResult::Ok);
    let mut tls = 9u8;
    assert_eq!(luna_conn_is_tls(app, conn, &mut tls), LunaResult::Ok);
    assert_eq!(tls, 0);
    let unknown_protocol = CString::new("nope").unwrap();
    assert_eq!(
        luna_app_broadcast(
            app,
            b"x".as_ptr(),
            1,
            1,
            unknown_protocol.as_ptr().cast(),
            4,
            &mut n
        ),
        LunaResult::InvalidArgument
    );
}

#[test]
fn bad_configs_are_refused_with_a_message() {
    // SAFETY: plain data, filled by luna_server_config_default.
    let mut c: LunaServerConfig = unsafe { std::mem::zeroed() };
    luna_server_config_default(&mut c);
    assert!(luna_server_new(&c).is_null(), "host is required");
    assert!(last_error().contains("host"));
    assert_eq!(
        luna_last_result(),
        LunaResult::InvalidArgument,
        "a bad config is misuse"
    );
    let host = CString::new("no-such-host.invalid").unwrap();
    c.host = host.as_ptr();
    assert!(luna_server_new(&c).is_null());
    assert!(
        last_error().contains("no-such-host.invalid"),
        "{}",
        last_error()
    );
    let host = CString::new("127.0.0.1").unwrap();
    c.host = host.as_ptr();
    c.protocol_count = 3;
    assert!(luna_server_new(&c).is_null(), "protocols NULL with a count");
    let bad_name = CString::new("has space").unwrap();
    let names = [bad_name.as_ptr()];
    c.protocols = names.as_ptr();
    c.protocol_count = 1;
    assert!(luna_server_new(&c).is_null());
    assert!(last_error().contains("token"), "{}", last_error());
    assert_eq!(luna_last_result(), LunaResult::InvalidArgument);
    // A successful call leaves the code of the last failure as it was.
    assert_eq!(luna_server_config_default(&mut c), LunaResult::Ok);
    assert_eq!(luna_last_result(), LunaResult::InvalidArgument);
}

#[test]
fn port_in_use_is_an_io_error() {
    let s = TestServer::start(Options::default());
    let port = s.port;
    let host = CString::new("127.0.0.1").unwrap();
    // SAFETY: plain data, filled by luna_server_config_default.
    let mut c: LunaServerConfig = unsafe { std::mem::zeroed() };
    luna_server_config_default(&mut c);
    c.host = host.as_ptr();
    c.port = port;
    assert!(luna_server_new(&c).is_null());
    assert!(last_error().contains(&port.to_string()), "{}", last_error());
    assert_eq!(
        luna_last_result(),
        LunaResult::Io,
        "a busy port is a runtime failure"
    );
}

#[test]
fn client_connect_tells_its_failure_by_code() {
    let url = CString::new("http://example.com/").unwrap();
    // SAFETY: plain data, filled by luna_client_config_default.
    let mut c: LunaClientConfig = unsafe { std::mem::zeroed() };
    luna_client_config_default(&mut c);
    c.url = url.as_ptr();
    assert!(luna_client_connect(&c, std::ptr::null_mut()).is_null());
    assert_eq!(
        luna_last_result(),
        LunaResult::InvalidArgument,
        "{}",
        last_error()
    );
}

#[test]
fn names_of_results_are_static() {
    // SAFETY: luna_result_name returns static NUL-terminated strings.
    let name = |c| {
        unsafe { std::ffi::CStr::from_ptr(luna_result_name(c)) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(name(0), "LUNA_RESULT_OK");
    assert_eq!(name(1), "LUNA_RESULT_CLOSED");
    assert_eq!(name(3), "LUNA_RESULT_BACKPRESSURE");
    assert_eq!(name(999), "LUNA_RESULT_UNKNOWN");
}

#[test]
fn calls_from_many_threads_at_once_are_safe() {
    let s = TestServer::start(Options::default());
    let mut clients: Vec<RawPeer> = (0..8).map(|_| RawPeer::connect(s.port, "")).collect();
    s.wait_until(5, "opens", || {
        s.count(|e| matches!(e, Ev::Open { .. })) == 8
    });
    let ids: Vec<u64> = s.open_ids();
    let app = s.app;
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let ids = ids.clone();
            std::thread::spawn(move || {
                for i in 0..250 {
                    let msg = format!("t{t} m{i}");
                    for id in &ids {
                        let r = luna_conn_send(app_ptr(app), *id, msg.as_ptr(), msg.len(), 1);
                        assert_eq!(r, LunaResult::Ok);
                    }
                    let mut n = 0;
                    luna_app_broadcast(
                        app_ptr(app),
                        msg.as_ptr(),
                        msg.len(),
                        2,
                        std::ptr::null(),
                        0,
                        &mut n,
                    );
                    luna_conn_send(app_ptr(app), 999_999_999, msg.as_ptr(), msg.len(), 1);
                }
            })
        })
        .collect();
    for t in senders {
        t.join().unwrap();
    }
    for c in clients.iter_mut() {
        let mut per_thread = [0usize; 4];
        for _ in 0..2000 {
            let (_, _, payload) = c.read().unwrap();
            let text = String::from_utf8(payload).unwrap();
            let t: usize = text[1..2].parse().unwrap();
            per_thread[t] += 1;
        }
        assert_eq!(per_thread, [500; 4]);
    }
}
