//! Attacks on a server's HTTP phase (before a connection is a WebSocket), each as a raw
//! client would make it: request heads that announce bodies they never send, downloads that
//! are never read, a refusal with a status that has no body, a symlink to a dotfile, more
//! plain HTTP connections than the server serves, a keep-alive client that never stops.
mod common;

use std::ffi::CString;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use luna::ffi::*;
use socket2::{Domain, Socket, Type};

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Everything the server sends until it closes (or stops sending for 10 s).
fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(response: &str) -> u32 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A fresh directory for a static root.
fn static_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("luna-attack-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn serving(dir: &std::path::Path, tweak: impl Fn(&mut LunaServerConfig) + 'static) -> TestServer {
    let root = CString::new(dir.to_str().unwrap()).unwrap();
    TestServer::start(Options {
        tweak: Box::new(move |c| {
            c.static_root = root.as_ptr();
            tweak(c);
        }),
        ..Options::default()
    })
}

/// 150 heads announcing 1 MiB bodies that never come (about 9 KB sent) used to reserve
/// 150 MiB: now a body grows only as its bytes arrive, and what all announced bodies may hold
/// together is bounded (64 MiB by default), past which requests are answered 503.
#[test]
fn attack_announced_bodies_reserve_no_memory() {
    let server = TestServer::start(Options {
        tweak: Box::new(|c| c.http_events = 1),
        ..Options::default()
    });
    let before = rss_kib();
    let head = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n\r\n";
    let mut held: Vec<TcpStream> = (0..150)
        .map(|_| {
            let mut stream = connect(server.port);
            stream.write_all(head.as_bytes()).unwrap();
            stream
        })
        .collect();
    // Past the budget (64 announced megabytes), each further request is answered at once;
    // the others wait for bodies that never come.
    std::thread::sleep(Duration::from_millis(1000));
    let mut refused = 0;
    for stream in &mut held {
        stream.set_nonblocking(true).unwrap();
        let mut answer = vec![0u8; 4096];
        if let Ok(n) = stream.read(&mut answer) {
            let response = String::from_utf8_lossy(&answer[..n]).into_owned();
            assert_eq!(status_of(&response), 503, "{response}");
            assert!(response.contains("request bodies"), "{response}");
            refused += 1;
        }
    }
    assert_eq!(refused, 150 - 64);
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 32, "the server grew by {grown_mib} MiB");
}

/// A small budget: one body in flight takes it, the next is refused with 503 while the first
/// still arrives, and the first reaches the host whole.
#[test]
fn attack_bodies_in_flight_share_one_budget() {
    let server = TestServer::start(Options {
        tweak: Box::new(|c| {
            c.http_events = 1;
            c.max_body_memory = 100;
        }),
        ..Options::default()
    });
    let mut first = connect(server.port);
    first
        .write_all(b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 80\r\n\r\n0123456789")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut second = connect(server.port);
    second
        .write_all(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\n")
        .unwrap();
    let response = read_all(&mut second);
    assert_eq!(status_of(&response), 503, "{response}");
    first.write_all(&[b'x'; 70]).unwrap();
    let ev = server.wait_for(10, "the first body", |e| matches!(e, Ev::Http { .. }));
    let Ev::Http { body, .. } = ev else {
        unreachable!()
    };
    assert_eq!(body.len(), 80);
    assert!(body.starts_with(b"0123456789x"));
}

/// A client socket whose receive window stays tiny.
fn tiny_window_connect(port: u16) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(1024).unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    socket.connect(&addr.into()).unwrap();
    socket.into()
}

/// Ten downloads of a large file that are never read, with `max_connections = 10`, used to
/// hold every slot (a WebSocket upgrade got 503) with no end. Now plain HTTP connections
/// count against `max_http_connections` only, and a write that makes no progress for the
/// handshake timeout drops the download.
#[test]
fn attack_downloads_never_read_neither_lock_out_upgrades_nor_live_on() {
    let dir = static_dir("downloads");
    let size = 32 << 20;
    std::fs::write(dir.join("big.bin"), vec![7u8; size]).unwrap();
    let server = serving(&dir, |c| {
        c.max_connections = 10;
        c.handshake_timeout_ms = 1000;
    });
    let mut downloads: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut stream = tiny_window_connect(server.port);
            stream
                .write_all(b"GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut ws = RawPeer::connect(server.port, "");
    assert_eq!(ws.status(), 101, "{}", ws.head);
    ws.send(1, b"still here");
    assert_eq!(ws.read().unwrap().2, b"still here");
    // Each stalled download was dropped: reading now finds its end well before the file's.
    std::thread::sleep(Duration::from_secs(3));
    for stream in &mut downloads {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        let mut got = 0usize;
        let mut chunk = vec![0u8; 1 << 16];
        let ended = loop {
            match stream.read(&mut chunk) {
                Ok(0) => break true,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        assert!(ended, "a stalled download was still open");
        assert!(got < size, "the whole file arrived: nothing was dropped");
        assert!(started.elapsed() < Duration::from_secs(9));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// More plain HTTP connections than `max_http_connections`: the extra one is answered 503,
/// and a WebSocket upgrade still gets through.
#[test]
fn plain_http_connections_past_their_cap_get_503_and_upgrades_still_work() {
    let dir = static_dir("cap");
    std::fs::write(dir.join("a.txt"), "a").unwrap();
    let server = serving(&dir, |c| c.max_http_connections = 2);
    let get = b"GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut kept: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = connect(server.port);
            stream.write_all(get).unwrap();
            let head = read_head(&mut stream);
            assert_eq!(status_of(&head), 200, "{head}");
            stream
        })
        .collect();
    let mut third = connect(server.port);
    third.write_all(get).unwrap();
    let response = read_all(&mut third);
    assert_eq!(status_of(&response), 503, "{response}");
    assert!(response.contains("too many HTTP connections"), "{response}");
    let ws = RawPeer::connect(server.port, "");
    assert_eq!(ws.status(), 101, "{}", ws.head);
    // A kept-alive connection that leaves frees its place.
    kept.pop();
    std::thread::sleep(Duration::from_millis(200));
    let mut fourth = connect(server.port);
    fourth.write_all(get).unwrap();
    assert_eq!(status_of(&read_head(&mut fourth)), 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A keep-alive client cannot keep one connection forever: the 1000th answer says close.
#[test]
fn a_keep_alive_connection_closes_after_1000_requests() {
    let dir = static_dir("keepalive");
    std::fs::write(dir.join("a.txt"), "a").unwrap();
    let server = serving(&dir, |_| {});
    let mut stream = connect(server.port);
    let get = b"GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n";
    for i in 1..=1000 {
        stream.write_all(get).unwrap();
        let head = read_head(&mut stream);
        let mut body = [0u8; 1];
        stream.read_exact(&mut body).unwrap();
        let closing = head.contains("Connection: close");
        assert_eq!(closing, i == 1000, "answer {i}: {head}");
    }
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).unwrap_or(0), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `luna_upgrade_reject` with 304 and a body that is itself a response: the body was read
/// by the client as a second response. A status without content is sent without a body.
#[test]
fn attack_a_refusal_with_304_carries_no_body() {
    let server = TestServer::start(Options {
        tweak: Box::new(|c| c.upgrade_events = 1),
        ..Options::default()
    });
    let app = app_ptr(server.app);
    let mut stream = connect(server.port);
    let head = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let ev = server.wait_for(10, "an UPGRADE event", |e| matches!(e, Ev::Upgrade { .. }));
    let Ev::Upgrade { conn, .. } = ev else {
        unreachable!()
    };
    let smuggled = b"HTTP/1.1 200 OK\r\nX-Smuggled: 1\r\nContent-Length: 0\r\n\r\n";
    let none = std::ptr::null();
    let rc = luna_upgrade_reject(app, conn, 304, none, 0, smuggled.as_ptr(), smuggled.len());
    assert_eq!(rc, LunaResult::Ok, "{}", last_error());
    let response = read_all(&mut stream);
    assert!(response.starts_with("HTTP/1.1 304 "), "{response}");
    assert!(!response.contains("X-Smuggled"), "{response}");
    assert_eq!(response.matches("HTTP/1.1").count(), 1, "{response}");
    assert!(response.ends_with("\r\n\r\n"), "{response}");
}

/// A symlink inside the static root that points at a dotfile (`.env`) served the secret:
/// the dotfile rule now holds for what the link leads to.
#[cfg(unix)]
#[test]
fn attack_a_symlink_to_a_dotfile_serves_nothing() {
    let dir = static_dir("dotfile");
    std::fs::write(dir.join(".env"), "SECRET=hunter2").unwrap();
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    std::fs::write(dir.join(".git/config"), "[core] secret").unwrap();
    std::os::unix::fs::symlink(".env", dir.join("env.txt")).unwrap();
    std::os::unix::fs::symlink(".git", dir.join("repo")).unwrap();
    std::fs::write(dir.join("ok.txt"), "fine").unwrap();
    std::os::unix::fs::symlink("ok.txt", dir.join("ok-link.txt")).unwrap();
    let server = serving(&dir, |_| {});
    for path in ["/env.txt", "/repo/config", "/.env"] {
        let mut stream = connect(server.port);
        let request = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let response = read_all(&mut stream);
        assert_eq!(status_of(&response), 404, "{path}: {response}");
        assert!(!response.contains("secret") && !response.contains("SECRET"));
    }
    let mut stream = connect(server.port);
    stream
        .write_all(b"GET /ok-link.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let response = read_all(&mut stream);
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("fine"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The defaults a server ships with: pings, an idle timeout, a connection cap below the
/// descriptor limit, and caps on plain HTTP connections and request bodies in flight.
#[test]
fn a_server_config_has_production_defaults() {
    // SAFETY: plain data, filled by luna_server_config_default.
    let mut c: LunaServerConfig = unsafe { std::mem::zeroed() };
    assert_eq!(luna_server_config_default(&mut c), LunaResult::Ok);
    assert_eq!(c.ping_interval_ms, 30_000);
    assert_eq!(c.idle_timeout_ms, 120_000);
    assert_eq!(c.handshake_timeout_ms, 10_000);
    assert_eq!(c.max_http_connections, 1024);
    assert_eq!(c.max_body_memory, 64 << 20);
    assert_eq!(c.max_body_size, 1 << 20);
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let soft: u32 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(c.max_connections, soft - 64.min(soft / 2));
}

/// A Host value that is no `uri-host [":" port]` (RFC 9112 §3.2) was served like any other:
/// it is a 400 now, and valid names, addresses and ports are still served.
#[test]
fn attack_an_invalid_host_value_is_refused() {
    let dir = static_dir("host");
    std::fs::write(dir.join("a.txt"), "a").unwrap();
    let server = serving(&dir, |_| {});
    let get = |host: &str| {
        let mut stream = connect(server.port);
        let request = format!("GET /a.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        status_of(&read_all(&mut stream))
    };
    for host in ["a b", "a/b", "a@b", "a, b", "a:b:c", "[::1", "a?b"] {
        assert_eq!(get(host), 400, "{host:?}");
    }
    for host in [
        "example.com",
        "example.com:8080",
        "127.0.0.1:9",
        "[::1]",
        "[::1]:80",
    ] {
        assert_eq!(get(host), 200, "{host:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A WebSocket handshake with a version luna does not speak or a malformed key, sent to an
/// app with static files, was served `index.html` as a plain GET (and without static files
/// got a 400 that named no version): it is a 426 with `Sec-WebSocket-Version: 13` or a 400
/// now, whichever the app serves.
#[test]
fn attack_a_handshake_with_a_bad_version_or_key_is_refused() {
    let dir = static_dir("version");
    std::fs::write(dir.join("index.html"), "INDEX").unwrap();
    let with_files = serving(&dir, |_| {});
    let bare = TestServer::start(Options::default());
    let handshake = |port: u16, key: &str, version: &str| {
        let mut stream = connect(port);
        let head = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        read_all(&mut stream)
    };
    for port in [with_files.port, bare.port] {
        for version in ["8", "12", "14"] {
            let response = handshake(port, KEY, version);
            assert_eq!(status_of(&response), 426, "{version}: {response}");
            assert!(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
            assert!(
                response.contains("\r\nSec-WebSocket-Version: 13\r\n"),
                "{response}"
            );
            assert!(
                response.contains("\r\nUpgrade: websocket\r\n"),
                "{response}"
            );
            assert!(!response.contains("INDEX"), "{response}");
        }
        for key in ["c2hvcnQ=", "!!!!!!!!!!!!!!!!!!!!!!!=", ""] {
            let response = handshake(port, key, "13");
            assert_eq!(status_of(&response), 400, "{key:?}: {response}");
            assert!(!response.contains("INDEX"), "{response}");
        }
        assert_eq!(status_of(&handshake(port, KEY, "13")), 101);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A handshake that carried a body was upgraded, and the body read as the first WebSocket
/// frames (here a TEXT frame the echo server sent back): it is a 400 now, never upgraded.
#[test]
fn attack_a_handshake_with_a_body_is_refused() {
    let server = TestServer::start(Options::default());
    let frame = encode_frame(true, 0, 1, b"from-body", Some([1, 2, 3, 4]));
    for framing in [
        format!("Content-Length: {}\r\n", frame.len()),
        "Transfer-Encoding: chunked\r\n".to_owned(),
    ] {
        let mut stream = connect(server.port);
        let head = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{framing}\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&frame).unwrap();
        let response = read_all(&mut stream);
        assert_eq!(status_of(&response), 400, "{framing}: {response}");
        assert!(!response.contains("from-body"), "{response}");
    }
    assert_eq!(server.count(|e| matches!(e, Ev::Open { .. })), 0);
}

/// Requests `path` over and over for 2 s while `swap` runs in a loop on another thread;
/// panics if an answer carries `secret`. Returns how many answers were 200.
#[cfg(unix)]
fn race(port: u16, path: &str, secret: &str, swap: impl Fn() + Send + 'static) -> usize {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                swap();
            }
        })
    };
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let mut stream = connect(port);
        let request = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let response = read_all(&mut stream);
        if response.contains(secret) {
            stop.store(true, Ordering::Relaxed);
            let _ = swapper.join();
            panic!("a file outside the root was served: {response}");
        }
        served += usize::from(status_of(&response) == 200);
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    served
}

/// A file inside the root swapped (by rename) for a symlink out of it between the server's
/// lookup and its open served the outside file: what is opened is checked now.
#[cfg(unix)]
#[test]
fn attack_a_file_swapped_for_a_symlink_out_serves_nothing_outside() {
    let dir = static_dir("race-file");
    let outside = static_dir("race-file-outside");
    // As long as the file inside: a head that announces its length would carry all of it.
    std::fs::write(outside.join("secret.txt"), "TOP-SECRET").unwrap();
    std::fs::write(dir.join("race.txt"), "inside-ok!").unwrap();
    let server = serving(&dir, |_| {});
    let (root, secret) = (dir.clone(), outside.join("secret.txt"));
    let inside = std::sync::atomic::AtomicBool::new(false);
    let served = race(server.port, "/race.txt", "TOP-", move || {
        let was_inside = inside.fetch_xor(true, std::sync::atomic::Ordering::Relaxed);
        if !was_inside {
            std::fs::write(root.join("f2"), "inside-ok!").unwrap();
            std::fs::rename(root.join("f2"), root.join("race.txt")).unwrap();
        } else {
            let _ = std::fs::remove_file(root.join("l2"));
            std::os::unix::fs::symlink(&secret, root.join("l2")).unwrap();
            std::fs::rename(root.join("l2"), root.join("race.txt")).unwrap();
        }
    });
    assert!(served > 0, "the file inside was never served");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&outside);
}

/// The same with a directory on the way swapped for a symlink to a directory outside.
#[cfg(unix)]
#[test]
fn attack_a_directory_swapped_for_a_symlink_out_serves_nothing_outside() {
    let dir = static_dir("race-dir");
    let outside = static_dir("race-dir-outside");
    std::fs::write(outside.join("passwd"), "TOP-SECRET").unwrap();
    let server = serving(&dir, |_| {});
    let (root, target) = (dir.clone(), outside.clone());
    race(server.port, "/dd/passwd", "TOP-", move || {
        let dd = root.join("dd");
        let _ = std::fs::remove_file(&dd);
        let _ = std::fs::remove_dir_all(&dd);
        let _ = std::fs::create_dir(root.join("d2"));
        let _ = std::fs::write(root.join("d2/passwd"), "inside-ok!");
        let _ = std::fs::rename(root.join("d2"), &dd);
        std::thread::sleep(Duration::from_micros(300));
        let _ = std::fs::remove_dir_all(&dd);
        let _ = std::os::unix::fs::symlink(&target, &dd);
        std::thread::sleep(Duration::from_micros(300));
    });
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&outside);
}
