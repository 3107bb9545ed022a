//! `luna-bench room` (`make bench-room`): a chat or game room's fan-out.
//!
//! `BENCH_ROOM_N` clients (100) join one room (the server's "broadcast" or "publish" group);
//! each sends `BENCH_ROOM_RATE` (10) small messages a second, the clients' sends spread
//! evenly over each period rather than in lockstep, and every message carries its sender,
//! its number and its send time. The server sends each to all N. All clients live in this
//! process, so one clock times every delivery. Figures are printed, never asserted.

use std::io;
use std::time::{Duration, Instant};

use polling::{Events, Poller};

use crate::modes::{self, err, Peer, Target};
use crate::procfs;
use crate::suite::{self, Server};
use crate::table::render;
use crate::ws::{self, Offer};

/// The `BENCH_*` knobs of this benchmark.
pub struct RoomSettings {
    pub rounds: usize,
    pub spec: RoomSpec,
    /// The checkout whose library and LuaJIT server are measured.
    pub dir: String,
    pub servers: Option<Vec<String>>,
}

/// One room: N clients, each sending `rate` messages of `size` bytes a second.
#[derive(Clone, Copy)]
pub struct RoomSpec {
    pub n: usize,
    pub rate: f64,
    pub size: usize,
    pub warmup: Duration,
    pub run: Duration,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl RoomSettings {
    pub fn from_env() -> RoomSettings {
        RoomSettings {
            rounds: env("BENCH_ROUNDS", 3),
            spec: RoomSpec::from_env(),
            dir: env("BENCH_LUNA_DIR", ".".to_string()),
            servers: std::env::var("BENCH_SERVERS")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.split(',').map(|x| x.trim().to_string()).collect()),
        }
    }
}

impl RoomSpec {
    pub fn from_env() -> RoomSpec {
        RoomSpec {
            n: env("BENCH_ROOM_N", 100).max(1),
            rate: env("BENCH_ROOM_RATE", 10.0_f64).max(0.1),
            size: env("BENCH_ROOM_SIZE", 32).max(HEADER),
            warmup: Duration::from_secs_f64(env("BENCH_WARMUP", 1.0)),
            run: Duration::from_secs_f64(env("BENCH_ROOM_SECONDS", 5.0)),
        }
    }
}

pub struct RoomResult {
    /// Deliveries a second the room asks for: N senders × rate × N receivers.
    pub expected_per_s: f64,
    /// Deliveries a second received during the measured run.
    pub achieved_per_s: f64,
    /// Server CPU (all threads, user + system) per delivery.
    pub server_us_per_delivery: f64,
    /// Receive time − send time, in µs, over the measured run's deliveries.
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub gen_cpu_pct: f64,
    /// Messages sent, and deliveries that never came or came out of order.
    pub sent: u64,
    pub missing: u64,
    pub out_of_order: u64,
}

/// A message: kind, sender, number, send time (ns since the room's epoch), then padding.
const HEADER: usize = 24;
const KIND_WARM: u8 = 0;
const KIND_ROOM: u8 = 1;

fn message(kind: u8, sender: u32, seq: u64, sent_ns: u64, size: usize) -> Vec<u8> {
    let mut m = vec![b'r'; size];
    m[0] = kind;
    m[4..8].copy_from_slice(&sender.to_le_bytes());
    m[8..16].copy_from_slice(&seq.to_le_bytes());
    m[16..24].copy_from_slice(&sent_ns.to_le_bytes());
    ws::frame(ws::BINARY, &m)
}

fn field(m: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&m[at..at + 8]);
    u64::from_le_bytes(b)
}

/// What the clients have received, and the latencies of the measured run.
struct Tally {
    epoch: Instant,
    n: usize,
    sent: Vec<u64>,
    /// Per receiver × sender: messages received so far.
    got: Vec<u64>,
    out_of_order: u64,
    /// The last warm-up message each client received.
    warm: Vec<u64>,
    measuring: bool,
    delivered: u64,
    latencies_ns: Vec<u64>,
}

impl Tally {
    fn new(n: usize) -> Tally {
        Tally {
            epoch: Instant::now(),
            n,
            sent: vec![0; n],
            got: vec![0; n * n],
            out_of_order: 0,
            warm: vec![0; n],
            measuring: false,
            delivered: 0,
            latencies_ns: Vec::new(),
        }
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn receive(&mut self, receiver: usize, m: &[u8], now_ns: u64) {
        if m.len() < HEADER {
            return;
        }
        let seq = field(m, 8);
        if m[0] == KIND_WARM {
            self.warm[receiver] = self.warm[receiver].max(seq);
            return;
        }
        let sender = u32::from_le_bytes(m[4..8].try_into().unwrap()) as usize;
        if m[0] != KIND_ROOM || sender >= self.n {
            return;
        }
        let got = &mut self.got[receiver * self.n + sender];
        if seq != *got {
            self.out_of_order += 1;
        }
        *got += 1;
        if self.measuring {
            self.delivered += 1;
            self.latencies_ns.push(now_ns.saturating_sub(field(m, 16)));
        }
    }

    fn missing(&self) -> u64 {
        let sent: u64 = self.sent.iter().sum();
        let got: u64 = self.got.iter().sum();
        (sent * self.n as u64).saturating_sub(got)
    }
}

/// Reads what is ready on every peer the poller names (for up to `wait`) into the tally.
fn pump(
    poller: &Poller,
    peers: &mut [Peer],
    tally: &mut Tally,
    events: &mut Events,
    wait: Duration,
) -> io::Result<()> {
    events.clear();
    poller.wait(events, Some(wait))?;
    for ev in events.iter() {
        let p = &mut peers[ev.key];
        if ev.readable {
            let now = tally.now_ns();
            p.read(|m, _| tally.receive(ev.key, m, now))?;
        }
        p.flush(poller, ev.key)?;
    }
    Ok(())
}

/// Sends warm-up messages from client 0 until one reaches every client: servers may add a
/// connection to the group a little after its handshake.
fn warm_up(poller: &Poller, peers: &mut [Peer], tally: &mut Tally, size: usize) -> io::Result<()> {
    let mut events = Events::new();
    for id in 1..=10u64 {
        peers[0]
            .out
            .extend_from_slice(&message(KIND_WARM, 0, id, 0, size));
        peers[0].flush(poller, 0)?;
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            pump(poller, peers, tally, &mut events, Duration::from_millis(50))?;
            if tally.warm.iter().all(|&w| w >= id) {
                return Ok(());
            }
        }
    }
    Err(err("warm-up messages never reached every client"))
}

/// CPU times of the server and of this process at one instant.
struct Mark {
    at: Instant,
    server: Option<Duration>,
    me: Option<Duration>,
}

impl Mark {
    fn now(pid: u32) -> Mark {
        Mark {
            at: Instant::now(),
            server: procfs::cpu_time(pid),
            me: procfs::cpu_time(std::process::id()),
        }
    }
}

/// Sends on schedule for warm-up + run: send k goes from client k mod N at k × period / N,
/// stamped with the time it is written. Returns the marks around the measured run.
fn drive(
    t: Target,
    poller: &Poller,
    peers: &mut [Peer],
    tally: &mut Tally,
    spec: &RoomSpec,
) -> io::Result<(Mark, Mark)> {
    let step = Duration::from_secs_f64(1.0 / (spec.rate * spec.n as f64));
    let start = Instant::now();
    let (from, until) = (start + spec.warmup, start + spec.warmup + spec.run);
    let mut first = None;
    let mut events = Events::new();
    let mut k: u32 = 0;
    loop {
        let now = Instant::now();
        if first.is_none() && now >= from {
            first = Some(Mark::now(t.pid));
            tally.measuring = true;
        }
        if now >= until {
            break;
        }
        let due = start + step * k;
        if due <= now {
            let s = k as usize % spec.n;
            let seq = tally.sent[s];
            let frame = message(KIND_ROOM, s as u32, seq, tally.now_ns(), spec.size);
            peers[s].out.extend_from_slice(&frame);
            peers[s].flush(poller, s)?;
            tally.sent[s] += 1;
            k += 1;
            continue;
        }
        pump(
            poller,
            peers,
            tally,
            &mut events,
            (due - now).min(until - now),
        )?;
    }
    tally.measuring = false;
    Ok((first.expect("a measured run"), Mark::now(t.pid)))
}

/// Waits up to 10 s for every client to have every message.
fn drain(poller: &Poller, peers: &mut [Peer], tally: &mut Tally) -> io::Result<()> {
    let mut events = Events::new();
    let t0 = Instant::now();
    while tally.missing() > 0 && t0.elapsed() < Duration::from_secs(10) {
        pump(poller, peers, tally, &mut events, Duration::from_millis(50))?;
    }
    Ok(())
}

/// One room against a running server whose `group` ("broadcast" or "publish") sends every
/// message of a member to all members.
pub fn room(t: Target, group: &str, spec: &RoomSpec) -> io::Result<RoomResult> {
    let conns = ws::connect_many(t.addr, spec.n, Offer::protocol(Some(group)), 64 << 10)?;
    let mut peers: Vec<Peer> = conns.into_iter().map(Peer::new).collect();
    let poller = modes::register(&peers)?;
    let mut tally = Tally::new(spec.n);
    let result = (|| {
        warm_up(&poller, &mut peers, &mut tally, spec.size)?;
        let (m0, m1) = drive(t, &poller, &mut peers, &mut tally, spec)?;
        drain(&poller, &mut peers, &mut tally)?;
        Ok(summarize(spec, &mut tally, &m0, &m1))
    })();
    ws::close_all(modes::unregister(&poller, peers));
    result
}

fn summarize(spec: &RoomSpec, tally: &mut Tally, m0: &Mark, m1: &Mark) -> RoomResult {
    let secs = (m1.at - m0.at).as_secs_f64();
    let delivered = tally.delivered.max(1) as f64;
    let cpu = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => f64::NAN,
    };
    let lat = &mut tally.latencies_ns;
    lat.sort_unstable();
    let pick = |q: f64| match lat.len() {
        0 => f64::NAN,
        len => lat[((len as f64 * q) as usize).min(len - 1)] as f64 / 1e3,
    };
    RoomResult {
        expected_per_s: spec.n as f64 * spec.rate * spec.n as f64,
        achieved_per_s: tally.delivered as f64 / secs,
        server_us_per_delivery: cpu(m0.server, m1.server) * 1e6 / delivered,
        p50_us: pick(0.50),
        p99_us: pick(0.99),
        max_us: pick(1.0),
        gen_cpu_pct: cpu(m0.me, m1.me) * 100.0 / secs,
        sent: tally.sent.iter().sum(),
        missing: tally.missing(),
        out_of_order: tally.out_of_order,
    }
}

/// A server and the group its room clients ask for.
struct RoomServer {
    server: Server,
    group: &'static str,
    label: &'static str,
}

fn servers(dir: &str) -> Vec<RoomServer> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let lua = || {
        crate::connections::luna_servers(dir)
            .into_iter()
            .find(|s| s.name == "luna-lua-wait")
            .expect("the LuaJIT server of a checkout")
    };
    let mut publish = lua();
    // One stderr line per publish would be measured with it.
    publish.env.push(("BENCH_PUBLISH_LOG", "0".into()));
    let rust = Server {
        name: "rust-ceiling",
        what: "smol + async-tungstenite, its broadcast group (bench/servers/rust_echo.rs)",
        cmd: s(&["target/release/luna-bench-rust-echo", "0"]),
        env: vec![],
        broadcast: true,
        fixed_port: None,
    };
    let node = Server {
        name: "node-ws",
        what: "Node ws, its broadcast group (bench/servers/ws_echo.js)",
        cmd: s(&["node", "bench/servers/ws_echo.js", "0"]),
        env: vec![("NODE_PATH", "build/node/node_modules".into())],
        broadcast: true,
        fixed_port: None,
    };
    let row = |server, group, label| RoomServer {
        server,
        group,
        label,
    };
    vec![
        row(rust, "broadcast", "rust-ceiling"),
        row(lua(), "broadcast", "luna-lua-wait broadcast"),
        row(publish, "publish", "luna-lua-wait publish"),
        row(node, "broadcast", "node-ws"),
    ]
}

const HEADER_ROW: [&str; 9] = [
    "server",
    "deliveries/s",
    "of expected",
    "server CPU µs/delivery",
    "latency p50 ms",
    "p99 ms",
    "max ms",
    "loadgen CPU %",
    "missing + out of order",
];
const COLUMNS: [fn(&RoomResult) -> f64; 8] = [
    |r| r.achieved_per_s,
    |r| r.achieved_per_s / r.expected_per_s,
    |r| r.server_us_per_delivery,
    |r| r.p50_us / 1e3,
    |r| r.p99_us / 1e3,
    |r| r.max_us / 1e3,
    |r| r.gen_cpu_pct,
    |r| (r.missing + r.out_of_order) as f64,
];

/// Runs every round against every server (alternating) and prints the table.
pub fn run(s: &RoomSettings) -> String {
    procfs::raise_fd_limit();
    let _ = std::fs::create_dir_all(suite::LOG_DIR);
    let mut list = servers(&s.dir);
    if let Some(only) = &s.servers {
        list.retain(|r| only.iter().any(|o| o == r.server.name));
    }
    let named: Vec<(&str, &Server)> = list.iter().map(|r| (r.label, &r.server)).collect();
    let started = Instant::now();
    let results = crate::table::alternate(s.rounds, &named, |at, target| {
        room(target, list[at].group, &s.spec).map_err(|e| e.to_string())
    });
    let labels: Vec<&str> = list.iter().map(|r| r.label).collect();
    let mut out = header(s, started.elapsed());
    out.push_str(&render(&crate::table::rows(
        &HEADER_ROW,
        &labels,
        &results,
        &COLUMNS,
    )));
    out.push_str("\nServers:\n");
    for r in &list {
        out.push_str(&format!(
            "- {}: {} (group \"{}\")\n",
            r.label, r.server.what, r.group
        ));
    }
    out
}

fn header(s: &RoomSettings, took: Duration) -> String {
    let p = &s.spec;
    format!(
        "Machine: {}\n\
         Run: {} rounds, servers alternating; one room of N={} clients, each sending {} \
         messages/s of {} B (sends spread evenly, not in lockstep), each message to all N: \
         {:.0} deliveries/s expected; {} s measured after {} s warm-up; took {:.0} s\n\
         Cells: median (min–max) over rounds. Latency = receive − send time of every \
         delivery in the measured run (one clock: all clients are in the load generator); \
         missing + out of order = deliveries that never came (after up to 10 s) or came out of \
         order, over the whole run.\n\n",
        procfs::machine(),
        s.rounds,
        p.n,
        p.rate,
        p.size,
        p.n as f64 * p.rate * p.n as f64,
        p.run.as_secs_f64(),
        p.warmup.as_secs_f64(),
        took.as_secs_f64(),
    )
}

/// One line about one room run, for `luna-bench room PORT PID [GROUP]`.
pub fn describe(r: &RoomResult) -> String {
    format!(
        "{:.0} deliveries/s of {:.0} expected, server {:.3} µs CPU/delivery, latency p50 \
         {:.0} µs p99 {:.0} µs max {:.0} µs, loadgen {:.0}% CPU; {} messages sent, {} \
         deliveries missing, {} out of order",
        r.achieved_per_s,
        r.expected_per_s,
        r.server_us_per_delivery,
        r.p50_us,
        r.p99_us,
        r.max_us,
        r.gen_cpu_pct,
        r.sent,
        r.missing,
        r.out_of_order
    )
}
