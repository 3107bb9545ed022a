//! `luna-bench suite`: starts each server, runs every mode against it, alternating servers
//! over several rounds, and prints one table of medians (min–max) and ratios to the ceiling.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::deflate::Agreement;
use crate::modes::{self, EchoSpec, Target};
use crate::{compression, procfs, ws};

/// Every knob, from `BENCH_*` environment variables.
pub struct Settings {
    pub rounds: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub conns: usize,
    pub inflight: usize,
    pub size: usize,
    pub threads: usize,
    pub pings: usize,
    pub large_conns: usize,
    pub large_inflight: usize,
    pub bcast_n: usize,
    pub bcast_rounds: usize,
    pub hold_n: usize,
    pub deflate_hold_n: usize,
    pub servers: Option<Vec<String>>,
    pub modes: Option<Vec<String>>,
}

/// The modes of the main table, in the order they run, then the compression table's.
const MAIN_MODES: [&str; 5] = ["hold", "echo", "ping", "large", "broadcast"];
const COMPRESSION: &str = "compression";

fn list(name: &str) -> Option<Vec<String>> {
    std::env::var(name)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Settings {
    pub fn from_env() -> Settings {
        Settings {
            rounds: env("BENCH_ROUNDS", 3),
            seconds: env("BENCH_SECONDS", 2.0),
            warmup: env("BENCH_WARMUP", 0.5),
            conns: env("BENCH_CONNS", 50),
            inflight: env("BENCH_INFLIGHT", 16),
            size: env("BENCH_SIZE", 32),
            threads: env("BENCH_THREADS", 1),
            pings: env("BENCH_PINGS", 10_000),
            large_conns: env("BENCH_LARGE_CONNS", 4),
            large_inflight: env("BENCH_LARGE_INFLIGHT", 4),
            bcast_n: env("BENCH_BCAST_N", 5000),
            bcast_rounds: env("BENCH_BCAST_ROUNDS", 20),
            hold_n: env("BENCH_HOLD_N", 10_000),
            deflate_hold_n: env("BENCH_DEFLATE_HOLD_N", 1000),
            servers: list("BENCH_SERVERS"),
            modes: list("BENCH_MODES"),
        }
    }

    /// Whether `BENCH_MODES` (default: all) asks for `mode`.
    fn wants(&self, mode: &str) -> bool {
        self.modes
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == mode))
    }

    pub fn echo(&self) -> EchoSpec {
        EchoSpec {
            conns: self.conns,
            inflight: self.inflight,
            size: self.size,
            opcode: ws::BINARY,
            threads: self.threads,
            warmup: Duration::from_secs_f64(self.warmup),
            run: Duration::from_secs_f64(self.seconds),
        }
    }

    fn large(&self) -> EchoSpec {
        EchoSpec {
            conns: self.large_conns,
            inflight: self.large_inflight,
            size: 16 << 10,
            ..self.echo()
        }
    }
}

/// A server under test: how to start it (from the repository root) and what it serves.
pub(crate) struct Server {
    pub name: &'static str,
    pub what: &'static str,
    pub cmd: Vec<String>,
    pub env: Vec<(&'static str, String)>,
    pub broadcast: bool,
    /// The port it was told to listen on, when it prints no ready line (nginx): it is
    /// ready once that port accepts a connection.
    pub fixed_port: Option<u16>,
}

pub(crate) fn have(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(cmd).is_file()))
}

fn servers() -> Vec<Server> {
    let mut list = peers();
    list.extend(baseline_servers());
    list
}

/// With `BENCH_BASELINE=DIR` (another checkout of luna, built with `make`), its C and LuaJIT
/// echo servers run beside this one's as `luna-c-before`, `luna-lua-wait-before` and
/// `luna-lua-update-before`, so a change is measured against what came before it in one run.
/// `BENCH_BASELINES=LABEL=DIR,LABEL=DIR,...` does the same for several checkouts at once
/// (servers named `luna-c@LABEL`, ...): a regression is found by measuring the commits that
/// could have caused it side by side.
fn baseline_servers() -> Vec<Server> {
    let mut list = vec![];
    if let Ok(dir) = std::env::var("BENCH_BASELINE") {
        list.extend(checkout_servers(&dir, "-before"));
    }
    for entry in self::list("BENCH_BASELINES").unwrap_or_default() {
        let Some((label, dir)) = entry.split_once('=') else {
            eprintln!("luna-bench: BENCH_BASELINES entry {entry:?} is not LABEL=DIR");
            continue;
        };
        list.extend(checkout_servers(dir, &format!("@{label}")));
    }
    list
}

/// The echo servers of the checkout in `dir`, their names ending in `suffix`.
pub(crate) fn checkout_servers(dir: &str, suffix: &str) -> Vec<Server> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let lib_dir = format!("{dir}/target/release");
    let lua = |mode: &str| Server {
        name: leak(format!("luna-lua-{mode}{suffix}")),
        what: leak(format!(
            "luna-lua-{mode} with the modules and library of {dir}"
        )),
        cmd: vec![
            "luajit".into(),
            format!("{dir}/bench/servers/luna_echo.lua"),
            "0".into(),
            mode.into(),
        ],
        env: vec![("LUNA_LIB", format!("{lib_dir}/libluna.so"))],
        broadcast: true,
        fixed_port: None,
    };
    vec![
        Server {
            name: leak(format!("luna-c{suffix}")),
            what: leak(format!("luna-c built from {dir}")),
            cmd: vec![
                format!("{dir}/build/echo_server"),
                "127.0.0.1".into(),
                "0".into(),
            ],
            env: vec![("LD_LIBRARY_PATH", lib_dir.clone())],
            broadcast: false,
            fixed_port: None,
        },
        lua("wait"),
        lua("update"),
    ]
}

fn peers() -> Vec<Server> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // lua-http is a Lua 5.1 module built on cqueues; LuaJIT loads it too and is what luna's
    // users run, so prefer it.
    let lua = if have("luajit") { "luajit" } else { "lua5.1" };
    vec![
        Server {
            name: "rust-ceiling",
            what: "smol + async-tungstenite, 4 KiB read buffer, batched flush (bench/servers/rust_echo.rs)",
            cmd: s(&["target/release/luna-bench-rust-echo", "0"]),
            env: vec![],
            broadcast: true,
            fixed_port: None,
        },
        Server {
            name: "uwebsockets",
            what: "uWebSockets (C++), its echo without compression (bench/servers/uws_echo.cpp; `make bench-uws UWS_DIR=...` builds it from a checkout of uWebSockets and uSockets)",
            cmd: s(&["build/uws_echo", "0"]),
            env: vec![],
            broadcast: false,
            fixed_port: None,
        },
        Server {
            name: "luna-c",
            what: "c-examples/echo_server.c (luna_app_wait + luna_app_poll)",
            cmd: s(&["build/echo_server", "127.0.0.1", "0"]),
            env: vec![],
            broadcast: false,
            fixed_port: None,
        },
        Server {
            name: "luna-lua-update",
            what: "LuaJIT, luna.update() in a busy loop (bench/servers/luna_echo.lua)",
            cmd: s(&["luajit", "bench/servers/luna_echo.lua", "0", "update"]),
            env: vec![],
            broadcast: true,
            fixed_port: None,
        },
        Server {
            name: "luna-lua-wait",
            what: "LuaJIT, luna.wait(1) loop (bench/servers/luna_echo.lua)",
            cmd: s(&["luajit", "bench/servers/luna_echo.lua", "0", "wait"]),
            env: vec![],
            broadcast: true,
            fixed_port: None,
        },
        Server {
            name: "luna-lua-wait-resume",
            what: "luna-lua-wait with resume = { window = 30 }, its clients asking for sessions",
            cmd: s(&["luajit", "bench/servers/luna_echo.lua", "0", "wait"]),
            env: vec![("BENCH_RESUME", "1".into())],
            broadcast: true,
            fixed_port: None,
        },
        Server {
            name: "node-ws",
            what: "Node ws (bench/servers/ws_echo.js)",
            cmd: s(&["node", "bench/servers/ws_echo.js", "0"]),
            env: vec![("NODE_PATH", "build/node/node_modules".into())],
            broadcast: true,
            fixed_port: None,
        },
        Server {
            name: "python-websockets",
            what: "Python websockets, asyncio (bench/servers/websockets_echo.py)",
            cmd: s(&["build/venv/bin/python", "bench/servers/websockets_echo.py", "0"]),
            env: vec![],
            broadcast: true,
            fixed_port: None,
        },
        Server {
            name: "lua-http",
            what: "lua-http + cqueues on LuaJIT (bench/servers/lua_http_echo.lua)",
            cmd: vec![lua.into(), "bench/servers/lua_http_echo.lua".into(), "0".into()],
            env: vec![],
            broadcast: true,
            fixed_port: None,
        },
    ]
}

/// The servers of the compression table: each compresses (when it agrees to) the game-state
/// messages of the compression mode.
fn compression_servers() -> Vec<Server> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let lua_at = |name, what, compression, level: Option<&str>| Server {
        name,
        what,
        cmd: s(&[
            "luajit",
            "bench/servers/luna_echo.lua",
            "0",
            "wait",
            compression,
        ]),
        env: level
            .map(|l| ("BENCH_COMPRESSION_LEVEL", l.to_string()))
            .into_iter()
            .collect(),
        broadcast: false,
        fixed_port: None,
    };
    let lua = |name, what, compression| lua_at(name, what, compression, None);
    vec![
        lua(
            "luna-lua-off",
            "luna-lua-wait with compression off: the same messages uncompressed, for scale",
            "off",
        ),
        lua(
            "luna-lua-shared",
            "luna-lua-wait with compression = \"shared\" (no context takeover either way)",
            "shared",
        ),
        lua(
            "luna-lua-dedicated",
            "luna-lua-wait with compression = \"dedicated\" (context takeover, 12-bit windows), its default level",
            "dedicated",
        ),
        lua_at(
            "luna-lua-dedicated-1",
            "luna-lua-dedicated at compression_level = 1",
            "dedicated",
            Some("1"),
        ),
        lua_at(
            "luna-lua-dedicated-4",
            "luna-lua-dedicated at compression_level = 4",
            "dedicated",
            Some("4"),
        ),
        lua_at(
            "luna-lua-dedicated-9",
            "luna-lua-dedicated at compression_level = 9",
            "dedicated",
            Some("9"),
        ),
        Server {
            name: "node-ws-deflate",
            what: "Node ws, perMessageDeflate: true (its defaults: threshold 1024, zlib level 6) (bench/servers/ws_echo.js)",
            cmd: s(&["node", "bench/servers/ws_echo.js", "0", "deflate"]),
            env: vec![("NODE_PATH", "build/node/node_modules".into())],
            broadcast: false,
            fixed_port: None,
        },
        Server {
            name: "python-websockets-deflate",
            what: "Python websockets, compression=\"deflate\" (its default) (bench/servers/websockets_echo.py)",
            cmd: s(&[
                "build/venv/bin/python",
                "bench/servers/websockets_echo.py",
                "0",
                "deflate",
            ]),
            env: vec![],
            broadcast: false,
            fixed_port: None,
        },
    ]
}

/// A started server; stopped (TERM, then KILL) when dropped.
pub(crate) struct Running {
    pub child: Child,
    pub port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) const LOG_DIR: &str = "build/bench";

pub(crate) fn start(server: &Server) -> Result<Running, String> {
    // A server with session resume gets clients that ask for a session, as luna's do.
    ws::ask_for_sessions(server.env.iter().any(|(k, _)| *k == "BENCH_RESUME"));
    let log_path = format!("{LOG_DIR}/{}.log", server.name);
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{log_path}: {e}"))?;
    let mut cmd = Command::new(&server.cmd[0]);
    cmd.args(&server.cmd[1..])
        .envs(server.env.iter().map(|(k, v)| (k, v)))
        .env("BENCH_SERVER_MAX_SECONDS", "600")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    let pin = std::env::var("BENCH_PIN_SERVER")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    // SAFETY: prctl and sched_setaffinity are async-signal-safe; the server dies with the
    // bench if it is killed, and runs on the one CPU BENCH_PIN_SERVER names.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if let Some(cpu) = pin {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", server.cmd[0]))?;
    // Read the ready line, then keep draining stdout so a chatty server never blocks.
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut running = Running { child, port: 0 };
    let deadline = Instant::now() + Duration::from_secs(20);
    if let Some(port) = server.fixed_port {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while Instant::now() < deadline {
            if let Ok(Some(status)) = running.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("exited ({status}): {}", log.trim()));
            }
            if std::net::TcpStream::connect(addr).is_ok() {
                running.port = port;
                return Ok(running);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        return Err(format!("port {port} never accepted a connection"));
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if is_ready(&line) => {
                running.port = line
                    .split(|c: char| !c.is_ascii_digit())
                    .rfind(|w| !w.is_empty())
                    .and_then(|w| w.parse().ok())
                    .ok_or_else(|| format!("no port in {line:?}"))?;
                return Ok(running);
            }
            Ok(_) => continue,
            Err(_) => {
                let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
                let last = tail
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                return Err(format!("did not start: {}", last.trim()));
            }
        }
    }
}

fn is_ready(line: &str) -> bool {
    line.starts_with("ready") || line.starts_with("listening on")
}

/// Which figure a cell holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Metric {
    Echo,
    Cpu,
    Gen,
    P50,
    P99,
    P999,
    Large,
    Bcast,
    Spread,
    Rss,
    Raw,
    Up,
    Down,
    RatioUp,
    RatioDown,
}

type Samples = HashMap<(&'static str, Metric), Vec<Result<f64, String>>>;

fn record(samples: &mut Samples, server: &'static str, m: Metric, v: Result<f64, String>) {
    samples.entry((server, m)).or_default().push(v);
}

/// Runs every mode against one started server.
fn run_modes(s: &Settings, server: &Server, target: Target, samples: &mut Samples) {
    let name = server.name;
    let fail = |e: std::io::Error| e.to_string();
    if s.wants("hold") {
        let hold = modes::hold(target, s.hold_n, Duration::from_millis(500)).map_err(fail);
        eprint!(" hold");
        record(samples, name, Metric::Rss, hold.map(|h| h.kib_per_conn));
    }
    if s.wants("echo") {
        echo_mode(s, name, target, samples);
    }
    if s.wants("ping") {
        ping_mode(s, name, target, samples);
    }
    if s.wants("large") {
        let large = modes::echo(target, &s.large()).map_err(fail);
        eprint!(" large");
        record(
            samples,
            name,
            Metric::Large,
            large.map(|e| e.bytes_per_s / 1e6),
        );
    }
    if server.broadcast && s.wants("broadcast") {
        let b = modes::broadcast(target, s.bcast_n, s.bcast_rounds, "broadcast").map_err(fail);
        eprint!(" broadcast");
        record(
            samples,
            name,
            Metric::Bcast,
            b.as_ref().map(|b| b.deliveries_per_s).map_err(Clone::clone),
        );
        record(samples, name, Metric::Spread, b.map(|b| b.spread_ms));
    }
}

fn echo_mode(s: &Settings, name: &'static str, target: Target, samples: &mut Samples) {
    let fail = |e: std::io::Error| e.to_string();
    let echo = modes::echo(target, &s.echo()).map_err(fail);
    eprint!(" echo");
    record(
        samples,
        name,
        Metric::Echo,
        echo.as_ref().map(|e| e.msgs_per_s).map_err(Clone::clone),
    );
    record(
        samples,
        name,
        Metric::Cpu,
        echo.as_ref()
            .map(|e| e.server_us_per_msg)
            .map_err(Clone::clone),
    );
    record(samples, name, Metric::Gen, echo.map(|e| e.gen_cpu_pct));
}

fn ping_mode(s: &Settings, name: &'static str, target: Target, samples: &mut Samples) {
    let fail = |e: std::io::Error| e.to_string();
    let limit = Duration::from_secs_f64(s.seconds * 2.0);
    let lat = modes::pingpong(target, s.pings, s.size, limit).map_err(fail);
    eprint!(" ping");
    record(
        samples,
        name,
        Metric::P50,
        lat.as_ref().map(|l| l.p50).map_err(Clone::clone),
    );
    record(
        samples,
        name,
        Metric::P99,
        lat.as_ref().map(|l| l.p99).map_err(Clone::clone),
    );
    record(samples, name, Metric::P999, lat.map(|l| l.p999));
}

/// The compression mode against one started server: memory per compressing connection on
/// the fresh server first, then the echo. Returns what the server agreed to.
fn run_compression(
    s: &Settings,
    name: &'static str,
    target: Target,
    samples: &mut Samples,
) -> Option<String> {
    let fail = |e: std::io::Error| e.to_string();
    let settle = Duration::from_millis(500);
    let hold = compression::hold(target, s.deflate_hold_n, settle).map_err(fail);
    eprint!(" hold");
    record(samples, name, Metric::Rss, hold.map(|h| h.kib_per_conn));
    let spec = EchoSpec {
        opcode: ws::TEXT,
        ..s.echo()
    };
    let r = compression::echo(target, &spec).map_err(fail);
    eprint!(" compression");
    let mut put = |m, f: fn(&compression::CompressionResult) -> f64| {
        record(samples, name, m, r.as_ref().map(f).map_err(Clone::clone));
    };
    put(Metric::Echo, |r| r.msgs_per_s);
    put(Metric::Cpu, |r| r.server_us_per_msg);
    put(Metric::Gen, |r| r.gen_cpu_pct);
    put(Metric::Raw, |r| r.raw_bytes);
    put(Metric::Up, |r| r.up_bytes);
    put(Metric::Down, |r| r.down_bytes);
    put(Metric::RatioUp, |r| r.raw_bytes / r.up_bytes);
    put(Metric::RatioDown, |r| r.raw_bytes / r.down_bytes);
    r.ok().map(|r| Agreement::describe(&r.agreed))
}

pub fn run(s: &Settings) -> String {
    let fd_limit = procfs::raise_fd_limit();
    // Both ends of every connection live on this machine: keep room under the fd limit.
    let room = (fd_limit as usize).saturating_sub(100);
    let s = Settings {
        hold_n: s.hold_n.min(room),
        bcast_n: s.bcast_n.min(room),
        deflate_hold_n: s.deflate_hold_n.min(room),
        servers: s.servers.clone(),
        modes: s.modes.clone(),
        ..*s
    };
    let s = &s;
    let _ = std::fs::create_dir_all(LOG_DIR);
    let chosen = |mut list: Vec<Server>| {
        if let Some(only) = &s.servers {
            list.retain(|sv| only.iter().any(|o| o == sv.name));
        }
        list
    };
    let main = match MAIN_MODES.iter().any(|m| s.wants(m)) {
        true => chosen(servers()),
        false => Vec::new(),
    };
    let compressing = match s.wants(COMPRESSION) {
        true => chosen(compression_servers()),
        false => Vec::new(),
    };
    let mut samples = Samples::new();
    let mut not_run: HashMap<&'static str, String> = HashMap::new();
    let mut agreed: HashMap<&'static str, String> = HashMap::new();
    let started = Instant::now();
    rounds(s, &main, &mut not_run, |server, target| {
        run_modes(s, server, target, &mut samples)
    });
    rounds(s, &compressing, &mut not_run, |server, target| {
        if let Some(a) = run_compression(s, server.name, target, &mut samples) {
            agreed.insert(server.name, a);
        }
    });
    let mut out = header(s, fd_limit, started.elapsed(), !main.is_empty());
    if !main.is_empty() {
        out.push_str(&table(
            &main,
            &COLUMNS,
            Some("rust-ceiling"),
            &samples,
            &not_run,
        ));
        out.push_str("\nServers:\n");
        for sv in &main {
            out.push_str(&format!("- {}: {}\n", sv.name, sv.what));
        }
    }
    if !compressing.is_empty() {
        if !main.is_empty() {
            out.push('\n');
        }
        out.push_str(&compression_header(s));
        out.push_str(&table(
            &compressing,
            &COMPRESSION_COLUMNS,
            None,
            &samples,
            &not_run,
        ));
        out.push_str("\nServers:\n");
        for sv in &compressing {
            let what = agreed
                .get(sv.name)
                .map_or(String::new(), |a| format!(" [{a}]"));
            out.push_str(&format!("- {}: {}{what}\n", sv.name, sv.what));
        }
    }
    out
}

/// Runs `measure` against each server of `list` in turn, `s.rounds` times, alternating:
/// each round starts one server later, so no server always goes first.
fn rounds(
    s: &Settings,
    list: &[Server],
    not_run: &mut HashMap<&'static str, String>,
    mut measure: impl FnMut(&Server, Target),
) {
    for round in 0..s.rounds {
        // Alternate: each round starts one server later, so no server always goes first.
        for i in 0..list.len() {
            let server = &list[(i + round) % list.len()];
            if not_run.contains_key(server.name) {
                continue;
            }
            if !Path::new(&server.cmd[0]).exists() && !have(&server.cmd[0]) {
                not_run.insert(server.name, format!("not run: {} not found", server.cmd[0]));
                continue;
            }
            eprint!("bench: round {}/{} {}:", round + 1, s.rounds, server.name);
            match start(server) {
                Ok(running) => {
                    let target = Target {
                        addr: SocketAddr::from(([127, 0, 0, 1], running.port)),
                        pid: running.child.id(),
                    };
                    measure(server, target);
                    drop(running);
                    eprintln!();
                }
                Err(e) => {
                    eprintln!(" {e}");
                    not_run.insert(server.name, format!("not run: {e}"));
                }
            }
        }
    }
}

fn compression_header(s: &Settings) -> String {
    format!(
        "Compression: ~1 KiB JSON game-state TEXT messages (6 or 7 players, 900-1060 \
         bytes, numbers at full precision, new each tick), echo C={} W={} for {} s after {} s warm-up; the client offers \
         \"{}\" and compresses at zlib level 6; bytes/msg are whole frames (header included) \
         over the run, in = client → server, out = server → client, ratio = raw / wire; RSS = server VmRSS growth per connection after {} \
         compressing connections each echoed one message.\n\n",
        s.conns,
        s.inflight,
        s.seconds,
        s.warmup,
        crate::deflate::OFFER,
        s.deflate_hold_n,
    )
}

fn header(s: &Settings, fd_limit: u64, took: Duration, main: bool) -> String {
    if !main {
        return format!(
            "Machine: {}\nRun: {} rounds, servers alternating; took {:.0} s\n\
             Cells: median (min–max) over rounds.\n\n",
            procfs::machine(),
            s.rounds,
            took.as_secs_f64(),
        );
    }
    format!(
        "Machine: {}\n\
         Run: {} rounds, servers alternating; echo C={} W={} S={} B binary, {} s after {} s warm-up, \
         {} load thread(s); ping-pong {} samples of {} B; large 16 KiB x C={} W={}; \
         broadcast 64 B to N={} receivers (+1 sender) x {}; connect-and-hold N={} (fd limit {}); \
         took {:.0} s\n\
         Cells: median (min–max) over rounds; ×N = ratio of the median to rust-ceiling's.\n\n",
        procfs::machine(),
        s.rounds,
        s.conns,
        s.inflight,
        s.size,
        s.seconds,
        s.warmup,
        s.threads,
        s.pings,
        s.size,
        s.large_conns,
        s.large_inflight,
        s.bcast_n,
        s.bcast_rounds,
        s.hold_n,
        fd_limit,
        took.as_secs_f64(),
    )
}

const COLUMNS: [Column; 10] = [
    (Metric::Echo, "echo msgs/s", true),
    (Metric::Cpu, "server CPU µs/msg", false),
    (Metric::Gen, "loadgen CPU %", false),
    (Metric::P50, "ping-pong p50 µs", false),
    (Metric::P99, "p99 µs", false),
    (Metric::P999, "p999 µs", false),
    (Metric::Large, "16 KiB echo MB/s", true),
    (Metric::Bcast, "broadcast deliveries/s", true),
    (Metric::Spread, "broadcast spread ms", false),
    (Metric::Rss, "RSS KiB/idle conn", false),
];

pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if v.is_nan() {
        "?".into()
    } else if a >= 10_000.0 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub(crate) fn stats(v: &[Result<f64, String>]) -> Result<(f64, f64, f64), String> {
    let mut ok: Vec<f64> = v.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    if ok.is_empty() {
        let e = v
            .iter()
            .find_map(|r| r.as_ref().err())
            .cloned()
            .unwrap_or_default();
        return Err(e);
    }
    let min = ok.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ok.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Ok((modes::median(&mut ok), min, max))
}

type Column = (Metric, &'static str, bool);

const COMPRESSION_COLUMNS: [Column; 9] = [
    (Metric::Echo, "msgs/s", false),
    (Metric::Cpu, "server CPU µs/msg", false),
    (Metric::Gen, "loadgen CPU %", false),
    (Metric::Raw, "raw B/msg", false),
    (Metric::Up, "wire B/msg in", false),
    (Metric::Down, "wire B/msg out", false),
    (Metric::RatioUp, "ratio in", false),
    (Metric::RatioDown, "ratio out", false),
    (Metric::Rss, "RSS KiB/conn", false),
];

/// One row per server of `list`; columns with the flag set get `×` the ratio of their median
/// to `reference`'s.
fn table(
    list: &[Server],
    columns: &[Column],
    reference: Option<&str>,
    samples: &Samples,
    not_run: &HashMap<&'static str, String>,
) -> String {
    let mut rows = vec![std::iter::once("server".to_string())
        .chain(columns.iter().map(|c| c.1.to_string()))
        .collect::<Vec<_>>()];
    let ceiling = |m| {
        samples
            .get(&(reference?, m))
            .and_then(|v| stats(v).ok())
            .map(|s| s.0)
    };
    for sv in list {
        let mut row = vec![sv.name.to_string()];
        if let Some(why) = not_run
            .get(sv.name)
            .filter(|_| !samples.keys().any(|k| k.0 == sv.name))
        {
            row.push(why.clone());
            row.extend(std::iter::repeat_n(String::new(), columns.len() - 1));
            rows.push(row);
            continue;
        }
        for &(m, _, ratio) in columns {
            let cell = match samples.get(&(sv.name, m)) {
                None if matches!(m, Metric::Bcast | Metric::Spread) => "n/a (no broadcast)".into(),
                None => "-".into(),
                Some(v) => match stats(v) {
                    Ok((med, lo, hi)) => {
                        let failed = v.iter().filter(|r| r.is_err()).count();
                        let mut c = format!("{} ({}–{})", num(med), num(lo), num(hi));
                        if let (true, Some(top)) = (ratio, ceiling(m)) {
                            c.push_str(&format!(" ×{:.2}", med / top));
                        }
                        if failed > 0 {
                            c.push_str(&format!(" [{failed} failed]"));
                        }
                        c
                    }
                    Err(e) => format!("failed: {}", e.chars().take(40).collect::<String>()),
                },
            };
            row.push(cell);
        }
        rows.push(row);
    }
    crate::table::render(&rows)
}
