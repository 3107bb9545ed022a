//! The compression mode: ~1 KiB JSON game-state messages echoed with permessage-deflate both
//! ways (context takeover when the server agrees to it), and the server's memory per
//! compressing connection.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use polling::Events;

use crate::deflate::{Agreement, Inflate, Script, OFFER};
use crate::modes::{self, err, EchoSpec, Hold, Peer, Target};
use crate::procfs;
use crate::ws::{self, Conn, Offer};

/// What the server agreed to and what crossed the wire.
pub struct CompressionResult {
    pub msgs_per_s: f64,
    pub server_us_per_msg: f64,
    pub gen_cpu_pct: f64,
    /// Message size before compression (the mean).
    pub raw_bytes: f64,
    /// Bytes on the wire per message, frame header included: client → server.
    pub up_bytes: f64,
    /// Server → client.
    pub down_bytes: f64,
    pub agreed: Option<Agreement>,
}

/// The offer every connection of this mode makes.
fn offer() -> Offer<'static> {
    Offer {
        protocol: None,
        extensions: Some(OFFER),
    }
}

/// The agreement all of `conns` got; they must all have the same.
fn agreement(conns: &[Conn]) -> io::Result<Option<Agreement>> {
    let first = conns.first().map_or("", |c| c.extensions.as_str());
    if let Some(other) = conns.iter().find(|c| c.extensions != first) {
        return Err(err(format!(
            "connections agreed differently: {first:?} and {:?}",
            other.extensions
        )));
    }
    Agreement::parse(first)
}

/// Totals of one run (warm-up included), for the per-message byte counts.
#[derive(Default)]
struct Totals {
    sent: AtomicU64,
    received: AtomicU64,
    up: AtomicU64,
    down: AtomicU64,
    raw: AtomicU64,
}

pub fn echo(t: Target, spec: &EchoSpec) -> io::Result<CompressionResult> {
    let frame_len = ws::frame(ws::TEXT, &crate::deflate::game_state(0)).len();
    let cap = (frame_len * spec.inflight).clamp(4096, 1 << 20);
    let conns = ws::connect_many(t.addr, spec.conns, offer(), cap)?;
    let agreed = match agreement(&conns) {
        Ok(a) => a,
        Err(e) => {
            ws::close_all(conns);
            return Err(e);
        }
    };
    let threads = spec.threads.clamp(1, spec.conns.max(1));
    let mut shares: Vec<Vec<Conn>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, c) in conns.into_iter().enumerate() {
        shares[i % threads].push(c);
    }
    let count = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let totals = Totals::default();
    let (result, conns) = std::thread::scope(|s| {
        let workers: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let (count, stop, totals, agreed) = (&count, &stop, &totals, &agreed);
                let inflight = spec.inflight;
                s.spawn(move || worker(share, agreed, inflight, count, totals, stop))
            })
            .collect();
        let measured = modes::measure(t, spec, &count, &stop);
        stop.store(true, Ordering::Relaxed);
        let mut conns = Vec::new();
        let mut failure = None;
        for w in workers {
            let (cs, r) = w.join().expect("compression worker panicked");
            conns.extend(cs);
            if let Err(e) = r {
                failure.get_or_insert(e);
            }
        }
        (failure.map_or(measured, Err), conns)
    });
    ws::close_all(conns);
    let e = result?;
    let per = |bytes: &AtomicU64, msgs: &AtomicU64| {
        bytes.load(Ordering::Relaxed) as f64 / msgs.load(Ordering::Relaxed).max(1) as f64
    };
    Ok(CompressionResult {
        msgs_per_s: e.msgs_per_s,
        server_us_per_msg: e.server_us_per_msg,
        gen_cpu_pct: e.gen_cpu_pct,
        raw_bytes: per(&totals.raw, &totals.received),
        up_bytes: per(&totals.up, &totals.sent),
        down_bytes: per(&totals.down, &totals.received),
        agreed,
    })
}

/// One connection's place in the script.
struct Progress {
    next_send: usize,
    next_reply: usize,
    inflate: Inflate,
}

/// Keeps `inflight` messages outstanding on each connection, checking every echo against
/// what was sent, until told to stop.
fn worker(
    conns: Vec<Conn>,
    agreed: &Option<Agreement>,
    inflight: usize,
    count: &AtomicU64,
    totals: &Totals,
    stop: &AtomicBool,
) -> (Vec<Conn>, io::Result<()>) {
    let mut peers: Vec<Peer> = conns.into_iter().map(Peer::new).collect();
    let poller = match modes::register(&peers) {
        Ok(p) => p,
        Err(e) => return (peers.into_iter().map(|p| p.conn).collect(), Err(e)),
    };
    let mut script = Script::new(agreed.clone());
    let mut progress: Vec<Progress> = peers
        .iter()
        .map(|_| Progress {
            next_send: 0,
            next_reply: 0,
            inflate: Inflate::new(agreed),
        })
        .collect();
    let (mut sent, mut up) = (0u64, 0u64);
    let (mut received, mut raw) = (0u64, 0u64);
    let mut run = || -> io::Result<()> {
        for (key, p) in peers.iter_mut().enumerate() {
            let pr = &mut progress[key];
            for _ in 0..inflight {
                let frame = script.frame(pr.next_send);
                p.out.extend_from_slice(frame);
                up += frame.len() as u64;
                sent += 1;
                pr.next_send += 1;
            }
            p.flush(&poller, key)?;
        }
        let mut events = Events::new();
        while !stop.load(Ordering::Relaxed) {
            events.clear();
            poller.wait(&mut events, Some(Duration::from_millis(50)))?;
            let mut done = 0u64;
            for ev in events.iter() {
                let (p, pr) = (&mut peers[ev.key], &mut progress[ev.key]);
                if ev.readable {
                    let (mut k, mut bad) = (0usize, None);
                    p.read(|payload, compressed| {
                        let check = check_echo(&script.raws, pr, payload, compressed);
                        match check {
                            Ok(n) => raw += n as u64,
                            Err(e) => {
                                bad.get_or_insert(e);
                            }
                        }
                        k += 1;
                    })?;
                    if let Some(e) = bad {
                        return Err(e);
                    }
                    // Answer each echo with the next message.
                    for _ in 0..k {
                        let frame = script.frame(pr.next_send);
                        p.out.extend_from_slice(frame);
                        up += frame.len() as u64;
                        pr.next_send += 1;
                    }
                    sent += k as u64;
                    received += k as u64;
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
    totals.sent.fetch_add(sent, Ordering::Relaxed);
    totals.up.fetch_add(up, Ordering::Relaxed);
    totals.received.fetch_add(received, Ordering::Relaxed);
    totals.raw.fetch_add(raw, Ordering::Relaxed);
    let down: u64 = peers.iter().map(|p| p.bytes_in).sum();
    totals.down.fetch_add(down, Ordering::Relaxed);
    (modes::unregister(&poller, peers), result)
}

/// Inflates one echo (when compressed) and compares it with the message it answers; returns
/// its size.
fn check_echo(
    raws: &[Vec<u8>],
    pr: &mut Progress,
    payload: &[u8],
    compressed: bool,
) -> io::Result<usize> {
    let message = match compressed {
        true => pr.inflate.inflate(payload)?,
        false => payload,
    };
    let expected = &raws[pr.next_reply];
    pr.next_reply += 1;
    if message != &expected[..] {
        return Err(err(format!(
            "echo {} differs from what was sent ({} bytes, expected {})",
            pr.next_reply - 1,
            message.len(),
            expected.len()
        )));
    }
    Ok(message.len())
}

/// Opens `n` compressing connections, echoes one game-state message on each (so the server
/// has inflated and compressed once on each), lets them sit idle, and reads the server's RSS
/// before and after.
pub fn hold(t: Target, n: usize, settle: Duration) -> io::Result<Hold> {
    let before = procfs::rss_kib(t.pid).ok_or_else(|| err("cannot read the server's VmRSS"))?;
    let conns = ws::connect_many(t.addr, n, offer(), 4096)?;
    let agreed = agreement(&conns);
    let mut peers: Vec<Peer> = conns.into_iter().map(Peer::new).collect();
    let poller = modes::register(&peers)?;
    let result = (|| {
        let mut script = Script::new(agreed?);
        let frame = script.frame(0).to_vec();
        for (key, p) in peers.iter_mut().enumerate() {
            p.out.extend_from_slice(&frame);
            p.flush(&poller, key)?;
        }
        // The first message of any stream inflates on its own: one inflater, reset each time.
        let mut inflate = Inflate::new(&None);
        let expected = &script.raws[0];
        let mut answered = vec![false; peers.len()];
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut events = Events::new();
        while got < peers.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(err(format!("only {got} of {n} connections echoed")));
            }
            events.clear();
            poller.wait(&mut events, Some(left))?;
            for ev in events.iter() {
                let p = &mut peers[ev.key];
                let (mut echoed, mut bad) = (false, None);
                if ev.readable {
                    p.read(|payload, compressed| {
                        let same = match compressed {
                            true => inflate.inflate(payload).map(|m| m == &expected[..]),
                            false => Ok(payload == &expected[..]),
                        };
                        match same {
                            Ok(true) => echoed = true,
                            Ok(false) => bad = Some(err("an echo differs from the message")),
                            Err(e) => bad = Some(e),
                        }
                    })?;
                }
                if let Some(e) = bad {
                    return Err(e);
                }
                if echoed && !answered[ev.key] {
                    answered[ev.key] = true;
                    got += 1;
                }
                p.flush(&poller, ev.key)?;
            }
        }
        std::thread::sleep(settle);
        let after = procfs::rss_kib(t.pid).ok_or_else(|| err("cannot read the server's VmRSS"))?;
        Ok(Hold {
            kib_per_conn: (after as f64 - before as f64) / n as f64,
            rss_before_kib: before,
            rss_after_kib: after,
        })
    })();
    ws::close_all(modes::unregister(&poller, peers));
    result
}
