//! `luna-bench web` (`make bench-web`): luna as a web server beside nginx and Node.
//!
//! - static: a 1 KiB file over HTTP/1.1 keep-alive, `wrk -t1 -c50`: requests/s and the
//!   server's CPU per request (user + system of all its threads, from `/proc/PID/stat`).
//! - connects: WebSocket opening handshakes, `BENCH_CONNECT_PARALLEL` in flight: each
//!   connection connects, sends the upgrade request, reads the 101 and is dropped (no close
//!   frame); handshakes/s and server CPU per handshake, luna with and without `on_upgrade`.
//!
//! Figures are printed, never asserted.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};

use crate::modes::Target;
use crate::procfs;
use crate::suite::{self, Server, LOG_DIR};

/// The `BENCH_*` knobs of this suite.
pub struct WebSettings {
    pub rounds: usize,
    pub seconds: u64,
    pub conns: usize,
    pub parallel: usize,
    pub servers: Option<Vec<String>>,
}

impl WebSettings {
    pub fn from_env() -> WebSettings {
        let env = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        WebSettings {
            rounds: env("BENCH_ROUNDS", 3) as usize,
            seconds: env("BENCH_WEB_SECONDS", 3),
            conns: env("BENCH_WEB_CONNS", 50) as usize,
            parallel: env("BENCH_CONNECT_PARALLEL", 50) as usize,
            servers: std::env::var("BENCH_SERVERS")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.split(',').map(|x| x.trim().to_string()).collect()),
        }
    }
}

/// The file every static server serves, and its size.
const FILE: &str = "1k.html";
const FILE_SIZE: usize = 1024;

/// Writes the served directory (`build/bench/www`): `1k.html` and an `index.html`.
fn make_root() -> io::Result<PathBuf> {
    let root = Path::new(LOG_DIR).join("www");
    std::fs::create_dir_all(&root)?;
    let mut page = b"<!doctype html><title>1 KiB</title><p>".to_vec();
    page.resize(FILE_SIZE - 1, b'x');
    page.push(b'\n');
    std::fs::write(root.join(FILE), &page)?;
    std::fs::write(
        root.join("index.html"),
        b"<!doctype html><title>luna bench</title>\n",
    )?;
    std::path::absolute(&root)
}

/// A port nothing listens on right now (for nginx, which must be told one).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// nginx (Debian `nginx-light`): one process (`master_process off`, so the measured pid is
/// the one worker), loopback only, its own prefix and config under `build/bench/nginx`.
fn nginx(root: &Path) -> io::Result<Server> {
    let port = free_port()?;
    let prefix = std::path::absolute(Path::new(LOG_DIR).join("nginx"))?;
    std::fs::create_dir_all(prefix.join("tmp"))?;
    let p = prefix.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\n\
         error_log stderr warn;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
         \x20 client_body_temp_path {p}/tmp/body;\n  proxy_temp_path {p}/tmp/proxy;\n\
         \x20 fastcgi_temp_path {p}/tmp/fastcgi;\n  uwsgi_temp_path {p}/tmp/uwsgi;\n\
         \x20 scgi_temp_path {p}/tmp/scgi;\n  types {{ text/html html; }}\n\
         \x20 server {{ listen 127.0.0.1:{port}; root {}; }}\n}}\n",
        root.display()
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let s = |v: &str| v.to_string();
    Ok(Server {
        name: "nginx",
        what:
            "Debian nginx-light, one worker process (master_process off), sendfile, access_log off",
        cmd: vec![
            s("nginx"),
            s("-p"),
            prefix.display().to_string(),
            s("-c"),
            conf_path.display().to_string(),
            s("-e"),
            s("stderr"),
        ],
        env: vec![],
        broadcast: false,
        fixed_port: Some(port),
    })
}

fn static_servers(root: &Path) -> io::Result<Vec<Server>> {
    let r = root.display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    Ok(vec![
        Server {
            name: "luna-c",
            what: "c-examples/web_server.c serving the directory (static_root)",
            cmd: s(&["build/web_server", "127.0.0.1", "0", &r]),
            env: vec![],
            broadcast: false,
            fixed_port: None,
        },
        Server {
            name: "luna-lua",
            what: "LuaJIT, `static = ROOT`, luna.wait(1) loop (bench/servers/luna_web.lua)",
            cmd: s(&["luajit", "bench/servers/luna_web.lua", "0", &r]),
            env: vec![],
            broadcast: false,
            fixed_port: None,
        },
        nginx(root)?,
        Server {
            name: "node-http",
            what: "Node http, fs.stat + fs.createReadStream per request (bench/servers/node_static.js)",
            cmd: s(&["node", "bench/servers/node_static.js", "0", &r]),
            env: vec![],
            broadcast: false,
            fixed_port: None,
        },
    ])
}

fn connect_servers(root: &Path) -> Vec<Server> {
    let r = root.display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        Server {
            name: "luna-lua",
            what:
                "LuaJIT, no on_upgrade: luna decides on the I/O thread (bench/servers/luna_web.lua)",
            cmd: s(&["luajit", "bench/servers/luna_web.lua", "0", &r]),
            env: vec![],
            broadcast: false,
            fixed_port: None,
        },
        Server {
            name: "luna-lua-on_upgrade",
            what: "the same with on_upgrade = function() return true end (one host round trip)",
            cmd: s(&["luajit", "bench/servers/luna_web.lua", "0", &r, "hook"]),
            env: vec![],
            broadcast: false,
            fixed_port: None,
        },
        Server {
            name: "node-ws",
            what: "Node ws (bench/servers/ws_echo.js), for scale",
            cmd: s(&["node", "bench/servers/ws_echo.js", "0"]),
            env: vec![("NODE_PATH", "build/node/node_modules".into())],
            broadcast: false,
            fixed_port: None,
        },
    ]
}

/// One static run's figures.
pub struct StaticResult {
    pub per_s: f64,
    pub server_us: f64,
}

/// A GET of the file on a fresh connection: 200 with the whole body, or an error.
fn check_file(addr: SocketAddr) -> io::Result<()> {
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        sock,
        "GET /{FILE} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    sock.read_to_end(&mut answer)?;
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no complete answer"))?;
    if !answer.starts_with(b"HTTP/1.1 200") || answer.len() - head_end - 4 != FILE_SIZE {
        let line = String::from_utf8_lossy(&answer[..answer.len().min(60)]).into_owned();
        return Err(io::Error::other(format!("GET /{FILE}: {line:?}")));
    }
    Ok(())
}

/// `wrk -t1 -cC -dSs`: (requests, requests/s); an error if any answer was not 2xx/3xx.
fn wrk(addr: SocketAddr, conns: usize, seconds: u64) -> io::Result<(f64, f64)> {
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{conns}"), &format!("-d{seconds}s")])
        .arg(format!("http://{addr}/{FILE}"))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(io::Error::other(format!("wrk failed: {text}")));
    }
    if let Some(bad) = text.lines().find(|l| l.contains("Non-2xx")) {
        return Err(io::Error::other(bad.trim().to_string()));
    }
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| io::Error::other(format!("no request count in wrk's output: {text}")))?;
    let per_s = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .ok_or_else(|| io::Error::other("no Requests/sec in wrk's output"))?;
    Ok((requests, per_s))
}

/// One static run: a 1 s warm-up, then `seconds` measured.
pub fn static_file(t: Target, conns: usize, seconds: u64) -> io::Result<StaticResult> {
    check_file(t.addr)?;
    wrk(t.addr, conns, 1)?;
    let cpu0 = procfs::cpu_time(t.pid);
    let (requests, per_s) = wrk(t.addr, conns, seconds)?;
    let cpu1 = procfs::cpu_time(t.pid);
    let server_us = match (cpu0, cpu1) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() * 1e6 / requests.max(1.0),
        _ => f64::NAN,
    };
    Ok(StaticResult { per_s, server_us })
}

/// The figures of a connects run.
pub struct ConnectResult {
    pub per_s: f64,
    pub server_us: f64,
}

/// Handshakes with `parallel` in flight: `warmup`, then `run` measured.
pub fn connects(
    t: Target,
    parallel: usize,
    warmup: Duration,
    run: Duration,
) -> io::Result<ConnectResult> {
    let request = format!(
        "GET /bench HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        t.addr
    );
    let poller = Poller::new()?;
    // The connection of each slot and what it has read of the answer.
    let mut slots: Vec<Option<(TcpStream, Vec<u8>)>> = (0..parallel).map(|_| None).collect();
    let open = |key: usize, poller: &Poller| -> io::Result<(TcpStream, Vec<u8>)> {
        // On loopback a blocking connect returns as soon as the kernel has the connection.
        let mut sock = TcpStream::connect(t.addr)?;
        sock.set_nodelay(true)?;
        sock.write_all(request.as_bytes())?;
        sock.set_nonblocking(true)?;
        // SAFETY: the socket is deleted from the poller before it is dropped.
        unsafe { poller.add(&sock, Event::readable(key))? };
        Ok((sock, Vec::with_capacity(256)))
    };
    for (key, slot) in slots.iter_mut().enumerate() {
        *slot = Some(open(key, &poller)?);
    }
    let mut events = Events::new();
    let mut done = 0u64;
    let start = Instant::now();
    let mut measured: Option<(Instant, u64, Option<Duration>)> = None;
    let mut chunk = [0u8; 1024];
    loop {
        let now = Instant::now();
        match measured {
            None if now >= start + warmup => {
                measured = Some((now, done, procfs::cpu_time(t.pid)));
            }
            Some((t0, _, _)) if now >= t0 + run => break,
            _ => {}
        }
        events.clear();
        poller.wait(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let key = ev.key;
            let (sock, head) = slots[key].as_mut().expect("an open slot");
            let mut complete = false;
            loop {
                match sock.read(&mut chunk) {
                    Ok(0) => return Err(io::Error::other("closed during the handshake")),
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
                if head.windows(4).any(|w| w == b"\r\n\r\n") {
                    complete = true;
                    break;
                }
            }
            if !complete {
                poller.modify(&*sock, Event::readable(key))?;
                continue;
            }
            if !head.starts_with(b"HTTP/1.1 101") {
                let line = String::from_utf8_lossy(&head[..head.len().min(60)]).into_owned();
                return Err(io::Error::other(format!("handshake refused: {line:?}")));
            }
            poller.delete(&*sock)?;
            slots[key] = None;
            done += 1;
            slots[key] = Some(open(key, &poller)?);
        }
    }
    let (t0, done0, cpu0) = measured.expect("measured");
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = procfs::cpu_time(t.pid);
    for slot in slots.iter().flatten() {
        let _ = poller.delete(&slot.0);
    }
    let n = (done - done0) as f64;
    let server_us = match (cpu0, cpu1) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() * 1e6 / n.max(1.0),
        _ => f64::NAN,
    };
    Ok(ConnectResult {
        per_s: n / elapsed,
        server_us,
    })
}

type Samples = HashMap<(&'static str, &'static str), Vec<Result<f64, String>>>;

/// Runs `measure` against every server of `list`, `rounds` times, alternating.
fn rounds(
    list: &[Server],
    rounds: usize,
    label: &str,
    samples: &mut Samples,
    mut measure: impl FnMut(Target) -> io::Result<(f64, f64)>,
) {
    for round in 0..rounds {
        for i in 0..list.len() {
            let server = &list[(i + round) % list.len()];
            if !Path::new(&server.cmd[0]).exists() && !suite::have(&server.cmd[0]) {
                let e = format!("not run: {} not found", server.cmd[0]);
                samples
                    .entry((server.name, "rate"))
                    .or_default()
                    .push(Err(e));
                continue;
            }
            eprint!(
                "bench-web: {label} round {}/{} {}:",
                round + 1,
                rounds,
                server.name
            );
            let result = suite::start(server)
                .map_err(io::Error::other)
                .and_then(|running| {
                    let target = Target {
                        addr: SocketAddr::from(([127, 0, 0, 1], running.port)),
                        pid: running.child.id(),
                    };
                    measure(target)
                });
            match &result {
                Ok((rate, cpu)) => eprintln!(" {rate:.0}/s, {cpu:.2} µs CPU each"),
                Err(e) => eprintln!(" {e}"),
            }
            let (rate, cpu) = match result {
                Ok((r, c)) => (Ok(r), Ok(c)),
                Err(e) => (Err(e.to_string()), Err(e.to_string())),
            };
            samples.entry((server.name, "rate")).or_default().push(rate);
            samples.entry((server.name, "cpu")).or_default().push(cpu);
        }
    }
}

/// A markdown table: server, rate, CPU, and the rate's ratio to `reference`'s median.
fn table(list: &[Server], samples: &Samples, rate: &str, cpu: &str, reference: &str) -> String {
    let cell = |name, what| -> (String, Option<f64>) {
        match samples.get(&(name, what)).map(|v| suite::stats(v)) {
            Some(Ok((med, lo, hi))) => (
                format!(
                    "{} ({}–{})",
                    suite::num(med),
                    suite::num(lo),
                    suite::num(hi)
                ),
                Some(med),
            ),
            Some(Err(e)) => (
                format!("failed: {}", e.chars().take(50).collect::<String>()),
                None,
            ),
            None => ("-".into(), None),
        }
    };
    let top = cell(reference, "rate").1;
    let mut out = format!("| server | {rate} | {cpu} | ×{reference} |\n|---|---|---|---|\n");
    for sv in list {
        let (r, med) = cell(sv.name, "rate");
        let (c, _) = cell(sv.name, "cpu");
        let ratio = match (med, top) {
            (Some(m), Some(t)) => format!("{:.2}", m / t),
            _ => "-".into(),
        };
        out.push_str(&format!("| {} | {r} | {c} | {ratio} |\n", sv.name));
    }
    out
}

pub fn run(s: &WebSettings) -> String {
    procfs::raise_fd_limit();
    let started = Instant::now();
    let _ = std::fs::create_dir_all(LOG_DIR);
    let root = match make_root() {
        Ok(r) => r,
        Err(e) => return format!("bench-web: cannot write {LOG_DIR}/www: {e}\n"),
    };
    let keep = |list: &mut Vec<Server>| {
        if let Some(only) = &s.servers {
            list.retain(|sv| only.iter().any(|o| o == sv.name));
        }
    };
    let mut statics = match static_servers(&root) {
        Ok(l) => l,
        Err(e) => return format!("bench-web: cannot prepare nginx: {e}\n"),
    };
    keep(&mut statics);
    let mut samples = Samples::new();
    rounds(&statics, s.rounds, "static", &mut samples, |t| {
        static_file(t, s.conns, s.seconds).map(|r| (r.per_s, r.server_us))
    });
    let static_table = table(
        &statics,
        &samples,
        "requests/s",
        "server CPU µs/request",
        "nginx",
    );

    let mut handshakes = connect_servers(&root);
    keep(&mut handshakes);
    let mut samples = Samples::new();
    let run = Duration::from_secs(s.seconds);
    rounds(&handshakes, s.rounds, "connects", &mut samples, |t| {
        connects(t, s.parallel, Duration::from_millis(500), run).map(|r| (r.per_s, r.server_us))
    });
    let connect_table = table(
        &handshakes,
        &samples,
        "handshakes/s",
        "server CPU µs/handshake",
        "luna-lua",
    );

    let mut out = format!(
        "Machine: {}\nRun: {} rounds, servers alternating; static: GET of a {FILE_SIZE}-byte file, \
         keep-alive, `wrk -t1 -c{}` for {} s after 1 s; connects: {} WebSocket handshakes in \
         flight for {} s after 0.5 s; took {:.0} s\n\
         Cells: median (min–max) over rounds.\n\n",
        procfs::machine(),
        s.rounds,
        s.conns,
        s.seconds,
        s.parallel,
        s.seconds,
        started.elapsed().as_secs_f64()
    );
    out.push_str("Static file (1 KiB):\n\n");
    out.push_str(&static_table);
    out.push_str("\nWebSocket handshakes (connect, upgrade, drop):\n\n");
    out.push_str(&connect_table);
    out.push_str("\nServers:\n");
    for (mode, list) in [("static", &statics), ("connects", &handshakes)] {
        for sv in list.iter() {
            out.push_str(&format!("- {mode} {}: {}\n", sv.name, sv.what));
        }
    }
    out
}
