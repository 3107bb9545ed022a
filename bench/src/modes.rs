//! The measurements: each runs against one server that is already listening.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

use crate::procfs;
use crate::ws::{self, Conn, Frame, Offer};

/// The server under test.
#[derive(Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    pub pid: u32,
}

/// Echo throughput: C connections, W messages in flight on each, S bytes per message.
pub struct EchoSpec {
    pub conns: usize,
    pub inflight: usize,
    pub size: usize,
    pub opcode: u8,
    pub threads: usize,
    pub warmup: Duration,
    pub run: Duration,
}

pub struct EchoResult {
    pub msgs_per_s: f64,
    pub bytes_per_s: f64,
    /// Server CPU (all threads, user + system) per echoed message.
    pub server_us_per_msg: f64,
    /// The load generator's own CPU use, in % of one CPU: near 100 × threads means it is
    /// the bottleneck.
    pub gen_cpu_pct: f64,
}

pub(crate) fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn reader_capacity(frame_len: usize, inflight: usize) -> usize {
    (frame_len * inflight).clamp(4096, 1 << 20)
}

/// One connection inside a poll loop: what it still has to write.
pub(crate) struct Peer {
    pub conn: Conn,
    pub out: Vec<u8>,
    sent: usize,
    writable: bool,
    /// Bytes read from the socket so far.
    pub bytes_in: u64,
    /// Pongs read so far (answers to our pings).
    pub pongs: u64,
}

impl Peer {
    pub fn new(conn: Conn) -> Peer {
        Peer {
            conn,
            out: Vec::new(),
            sent: 0,
            writable: false,
            bytes_in: 0,
            pongs: 0,
        }
    }

    /// Writes what it can; asks for writability only while bytes are left.
    pub fn flush(&mut self, poller: &Poller, key: usize) -> io::Result<()> {
        while self.sent < self.out.len() {
            match (&self.conn.sock).write(&self.out[self.sent..]) {
                Ok(0) => return Err(err("server stopped reading")),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
        let want = !self.out.is_empty();
        if want != self.writable {
            self.writable = want;
            let ev = if want {
                Event::all(key)
            } else {
                Event::readable(key)
            };
            poller.modify_with_mode(&self.conn.sock, ev, PollMode::Level)?;
        }
        Ok(())
    }

    /// Reads once and parses what arrived; calls `on_message` with each message's payload
    /// and whether it is compressed. Pings are answered.
    pub fn read(&mut self, mut on_message: impl FnMut(&[u8], bool)) -> io::Result<()> {
        match self.conn.reader.fill(&mut self.conn.sock) {
            Ok(0) => return Err(err("server closed the connection")),
            Ok(n) => self.bytes_in += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
        self.drain(&mut on_message)
    }

    fn drain(&mut self, on_message: &mut impl FnMut(&[u8], bool)) -> io::Result<()> {
        while let Some(frame) = self.conn.reader.next() {
            match frame {
                Frame::Message {
                    payload,
                    compressed,
                } => on_message(payload, compressed),
                Frame::Ping(p) => self.out.extend_from_slice(&ws::pong(p)),
                Frame::Pong => self.pongs += 1,
                Frame::Other => {}
                Frame::Close => return Err(err("server sent a close frame")),
            }
        }
        Ok(())
    }
}

/// Registers every peer (level-triggered, readable) with a new poller.
pub(crate) fn register(peers: &[Peer]) -> io::Result<Poller> {
    let poller = Poller::new()?;
    for (key, p) in peers.iter().enumerate() {
        p.conn.sock.set_nonblocking(true)?;
        // SAFETY: every socket is removed from the poller before it is dropped
        // (`unregister`), as polling requires.
        unsafe { poller.add_with_mode(&p.conn.sock, Event::readable(key), PollMode::Level)? };
    }
    Ok(poller)
}

pub(crate) fn unregister(poller: &Poller, peers: Vec<Peer>) -> Vec<Conn> {
    peers
        .into_iter()
        .map(|p| {
            let _ = poller.delete(&p.conn.sock);
            p.conn
        })
        .collect()
}

pub fn echo(t: Target, spec: &EchoSpec) -> io::Result<EchoResult> {
    let payload = vec![b'x'; spec.size];
    let frame = ws::frame(spec.opcode, &payload);
    let burst = frame.repeat(spec.inflight);
    let cap = reader_capacity(frame.len(), spec.inflight);
    let conns = ws::connect_many(t.addr, spec.conns, Offer::default(), cap)?;
    let threads = spec.threads.clamp(1, spec.conns.max(1));
    let mut shares: Vec<Vec<Conn>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, c) in conns.into_iter().enumerate() {
        shares[i % threads].push(c);
    }
    let count = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (result, conns) = std::thread::scope(|s| {
        let workers: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let (count, stop, frame, burst) = (&count, &stop, &frame, &burst);
                s.spawn(move || echo_worker(share, frame, burst, count, stop))
            })
            .collect();
        let measured = measure(t, spec, &count, &stop);
        stop.store(true, Ordering::Relaxed);
        let mut conns = Vec::new();
        let mut failure = None;
        for w in workers {
            match w.join().expect("echo worker panicked") {
                (cs, Ok(())) => conns.extend(cs),
                (cs, Err(e)) => {
                    conns.extend(cs);
                    failure.get_or_insert(e);
                }
            }
        }
        (failure.map_or(measured, Err), conns)
    });
    ws::close_all(conns);
    result
}

/// Waits out the warm-up, then samples counters and CPU times around the measured run.
pub(crate) fn measure(
    t: Target,
    spec: &EchoSpec,
    count: &AtomicU64,
    stop: &AtomicBool,
) -> io::Result<EchoResult> {
    std::thread::sleep(spec.warmup);
    let me = std::process::id();
    let (c0, s0, g0, t0) = (
        count.load(Ordering::Relaxed),
        procfs::cpu_time(t.pid),
        procfs::cpu_time(me),
        Instant::now(),
    );
    // Stop early if the workers fail.
    let end = t0 + spec.run;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (c1, s1, g1, dt) = (
        count.load(Ordering::Relaxed),
        procfs::cpu_time(t.pid),
        procfs::cpu_time(me),
        t0.elapsed().as_secs_f64(),
    );
    let msgs = (c1 - c0) as f64;
    if msgs == 0.0 {
        return Err(err("no message echoed"));
    }
    let server = match (s0, s1) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() * 1e6 / msgs,
        _ => f64::NAN,
    };
    let gen = match (g0, g1) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() * 100.0 / dt,
        _ => f64::NAN,
    };
    Ok(EchoResult {
        msgs_per_s: msgs / dt,
        bytes_per_s: msgs * spec.size as f64 / dt,
        server_us_per_msg: server,
        gen_cpu_pct: gen,
    })
}

/// Keeps `inflight` messages outstanding on each connection until told to stop.
fn echo_worker(
    conns: Vec<Conn>,
    frame: &[u8],
    burst: &[u8],
    count: &AtomicU64,
    stop: &AtomicBool,
) -> (Vec<Conn>, io::Result<()>) {
    let mut peers: Vec<Peer> = conns.into_iter().map(Peer::new).collect();
    let poller = match register(&peers) {
        Ok(p) => p,
        Err(e) => return (peers.into_iter().map(|p| p.conn).collect(), Err(e)),
    };
    let mut run = || -> io::Result<()> {
        for (key, p) in peers.iter_mut().enumerate() {
            p.out.extend_from_slice(burst);
            p.flush(&poller, key)?;
        }
        let mut events = Events::new();
        while !stop.load(Ordering::Relaxed) {
            events.clear();
            poller.wait(&mut events, Some(Duration::from_millis(50)))?;
            let mut done = 0u64;
            for ev in events.iter() {
                let p = &mut peers[ev.key];
                if ev.readable {
                    let mut k = 0usize;
                    p.read(|_, _| k += 1)?;
                    // Answer each echo with the next message.
                    for _ in 0..k {
                        p.out.extend_from_slice(frame);
                    }
                    done += k as u64;
                }
                p.flush(&poller, ev.key)?;
            }
            count.fetch_add(done, Ordering::Relaxed);
        }
        Ok(())
    };
    let result = run();
    if result.is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    (unregister(&poller, peers), result)
}

/// Round-trip latency percentiles, in microseconds.
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

/// One connection, one message at a time.
pub fn pingpong(t: Target, samples: usize, size: usize, limit: Duration) -> io::Result<Latency> {
    let mut conns = ws::connect_many(t.addr, 1, Offer::default(), 4096)?;
    let Conn {
        mut sock,
        mut reader,
        extensions,
    } = conns.pop().unwrap();
    let frame = ws::frame(ws::BINARY, &vec![b'p'; size]);
    let warmup = 200;
    let mut times = Vec::with_capacity(samples);
    let start = Instant::now();
    for i in 0..warmup + samples {
        let t0 = Instant::now();
        sock.write_all(&frame)?;
        wait_message(&mut sock, &mut reader)?;
        if i >= warmup {
            times.push(t0.elapsed().as_nanos() as u64);
        }
        if start.elapsed() > limit && times.len() >= 1000 {
            break;
        }
    }
    ws::close_all(vec![Conn {
        sock,
        reader,
        extensions,
    }]);
    times.sort_unstable();
    let pick =
        |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)] as f64 / 1e3;
    Ok(Latency {
        p50: pick(0.50),
        p99: pick(0.99),
        p999: pick(0.999),
    })
}

fn wait_message(sock: &mut TcpStream, reader: &mut ws::Reader) -> io::Result<()> {
    loop {
        match reader.next() {
            Some(Frame::Message { .. }) => return Ok(()),
            Some(Frame::Ping(p)) => sock.write_all(&ws::pong(p))?,
            Some(Frame::Other | Frame::Pong) => {}
            Some(Frame::Close) => return Err(err("server sent a close frame")),
            None => {
                if reader.fill(sock)? == 0 {
                    return Err(err("server closed the connection"));
                }
            }
        }
    }
}

pub struct Broadcast {
    /// Median over broadcasts of receivers / (time of the last delivery after the send).
    pub deliveries_per_s: f64,
    /// Median over broadcasts of the time between the first and the last delivery.
    pub spread_ms: f64,
}

/// `receivers` connections plus one sender, all in the server's `group` (the subprotocol
/// "broadcast" or "publish"); the sender sends `rounds` 64-byte messages one at a time, each
/// delivered to all.
pub fn broadcast(t: Target, receivers: usize, rounds: usize, group: &str) -> io::Result<Broadcast> {
    let conns = ws::connect_many(t.addr, receivers + 1, Offer::protocol(Some(group)), 4096)?;
    let mut peers: Vec<Peer> = conns.into_iter().map(Peer::new).collect();
    let poller = register(&peers)?;
    let result = (|| {
        let mut last_seen = vec![0u32; peers.len()];
        // Servers may register a connection a little after its handshake: repeat a
        // warm-up broadcast until one reaches everybody.
        let mut id = 0;
        let mut warm = false;
        for _ in 0..10 {
            id += 1;
            if one_broadcast(
                &poller,
                &mut peers,
                &mut last_seen,
                id,
                Duration::from_secs(3),
            )?
            .is_some()
            {
                warm = true;
                break;
            }
        }
        if !warm {
            return Err(err("warm-up broadcasts never reached every receiver"));
        }
        let mut rates = Vec::with_capacity(rounds);
        let mut spreads = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            id += 1;
            let (total, spread) = one_broadcast(
                &poller,
                &mut peers,
                &mut last_seen,
                id,
                Duration::from_secs(20),
            )?
            .ok_or_else(|| err("a broadcast did not reach every receiver in 20 s"))?;
            rates.push(peers.len() as f64 / total.as_secs_f64());
            spreads.push(spread.as_secs_f64() * 1e3);
        }
        Ok(Broadcast {
            deliveries_per_s: median(&mut rates),
            spread_ms: median(&mut spreads),
        })
    })();
    ws::close_all(unregister(&poller, peers));
    result
}

/// Sends broadcast `id` from peer 0; returns (send → last delivery, first → last delivery)
/// once every peer has it, or None at the deadline.
fn one_broadcast(
    poller: &Poller,
    peers: &mut [Peer],
    last_seen: &mut [u32],
    id: u32,
    limit: Duration,
) -> io::Result<Option<(Duration, Duration)>> {
    let mut payload = vec![b'b'; 64];
    payload[..4].copy_from_slice(&id.to_be_bytes());
    peers[0]
        .out
        .extend_from_slice(&ws::frame(ws::BINARY, &payload));
    let t0 = Instant::now();
    peers[0].flush(poller, 0)?;
    let (mut got, mut first, mut last) = (0, None, t0);
    let mut events = Events::new();
    while got < peers.len() {
        let left = limit.saturating_sub(t0.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        events.clear();
        poller.wait(&mut events, Some(left))?;
        for ev in events.iter() {
            let p = &mut peers[ev.key];
            let mut fresh = false;
            if ev.readable {
                p.read(|m, _| fresh |= m.len() >= 4 && m[..4] == id.to_be_bytes())?;
            }
            if fresh && last_seen[ev.key] != id {
                last_seen[ev.key] = id;
                got += 1;
                last = Instant::now();
                first.get_or_insert(last);
            }
            p.flush(poller, ev.key)?;
        }
    }
    Ok(Some((last - t0, last - first.unwrap_or(last))))
}

pub struct Hold {
    pub kib_per_conn: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
}

/// Opens `n` connections, echoes one message on each (so the server has set each one up
/// fully), lets them sit idle, and reads the server's RSS before and after.
pub fn hold(t: Target, n: usize, settle: Duration) -> io::Result<Hold> {
    let before = procfs::rss_kib(t.pid).ok_or_else(|| err("cannot read the server's VmRSS"))?;
    let conns = ws::connect_many(t.addr, n, Offer::default(), 512)?;
    let mut peers: Vec<Peer> = conns.into_iter().map(Peer::new).collect();
    let poller = register(&peers)?;
    let result = (|| {
        echo_once(&poller, &mut peers, &ws::frame(ws::BINARY, &[b'h'; 32]))?;
        std::thread::sleep(settle);
        let after = procfs::rss_kib(t.pid).ok_or_else(|| err("cannot read the server's VmRSS"))?;
        Ok(Hold {
            kib_per_conn: (after as f64 - before as f64) / n as f64,
            rss_before_kib: before,
            rss_after_kib: after,
        })
    })();
    ws::close_all(unregister(&poller, peers));
    result
}

/// Server RSS around a peak of idle connections: before, with them, and after they all
/// reset (or closed cleanly) and the server let go of their sockets.
pub struct Peak {
    pub before_kib: u64,
    pub peak_kib: u64,
    pub after_kib: u64,
    /// How long the server took to close every socket after the resets.
    pub drained: Duration,
}

/// Opens `n` connections and echoes one message on each (as `hold`), waits `settle` and reads
/// the server's RSS; then ends them all at once, with TCP resets (`reset`) or close frames,
/// waits until the server's open descriptors are back to what they were before (its sockets
/// are gone) and then `after`, and reads its RSS again.
pub fn peak(
    t: Target,
    n: usize,
    reset: bool,
    settle: Duration,
    after: Duration,
) -> io::Result<Peak> {
    let rss = || procfs::rss_kib(t.pid).ok_or_else(|| err("cannot read the server's VmRSS"));
    let fds = || procfs::open_fds(t.pid).ok_or_else(|| err("cannot list the server's fds"));
    let (before_kib, fds_before) = (rss()?, fds()?);
    let conns = ws::connect_many(t.addr, n, Offer::default(), 512)?;
    let mut peers: Vec<Peer> = conns.into_iter().map(Peer::new).collect();
    let poller = register(&peers)?;
    let echoed = echo_once(&poller, &mut peers, &ws::frame(ws::BINARY, &[b'h'; 32]));
    let conns = unregister(&poller, peers);
    if let Err(e) = echoed {
        ws::close_all(conns);
        return Err(e);
    }
    std::thread::sleep(settle);
    let peak_kib = rss()?;
    let t0 = Instant::now();
    match reset {
        true => ws::reset_all(conns),
        false => ws::close_all(conns),
    }
    while fds()? > fds_before {
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(err("the server kept its sockets for 60 s"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let drained = t0.elapsed();
    std::thread::sleep(after);
    Ok(Peak {
        before_kib,
        peak_kib,
        after_kib: rss()?,
        drained,
    })
}

/// Sends `frame` on every peer and waits until each has had a message back.
pub(crate) fn echo_once(poller: &Poller, peers: &mut [Peer], frame: &[u8]) -> io::Result<()> {
    for (key, p) in peers.iter_mut().enumerate() {
        p.out.extend_from_slice(frame);
        p.flush(poller, key)?;
    }
    let mut answered = vec![false; peers.len()];
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut events = Events::new();
    while got < peers.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(err(format!(
                "only {got} of {} connections echoed",
                peers.len()
            )));
        }
        events.clear();
        poller.wait(&mut events, Some(left))?;
        for ev in events.iter() {
            let p = &mut peers[ev.key];
            let mut echoed = false;
            if ev.readable {
                p.read(|_, _| echoed = true)?;
            }
            if echoed && !answered[ev.key] {
                answered[ev.key] = true;
                got += 1;
            }
            p.flush(poller, ev.key)?;
        }
    }
    Ok(())
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}
