//! Figures behind the choices in `deflate.rs` (memory, level, window bits); ignored by default:
//! `cargo test --release --lib deflate_bench -- --ignored --nocapture --test-threads=1`.

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;

use super::deflate::{Deflater, Inflater};

/// A game server's state messages: about 1 KiB of JSON each, ten players moving in a random
/// walk, so numbers drift from tick to tick without ever repeating exactly.
struct Game {
    tick: u32,
    rng: u64,
    /// x, y, vx, vy, hp per player.
    players: [[f64; 5]; 10],
}

impl Game {
    fn new() -> Game {
        let mut game = Game {
            tick: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
            players: [[0.0; 5]; 10],
        };
        for i in 0..10 {
            let p = [game.noise() * 800.0, game.noise() * 600.0, 0.0, 0.0, 100.0];
            game.players[i] = p;
        }
        game
    }

    /// Uniform in [0, 1).
    fn noise(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next_message(&mut self) -> Vec<u8> {
        self.tick += 1;
        let tick = self.tick;
        let mut json = format!("{{\"type\":\"state\",\"tick\":{tick},\"players\":[");
        for id in 0..10 {
            let kick = (self.noise() - 0.5, self.noise() - 0.5, self.noise());
            let p = &mut self.players[id];
            p[2] = (p[2] + kick.0 * 4.0).clamp(-20.0, 20.0);
            p[3] = (p[3] + kick.1 * 4.0).clamp(-20.0, 20.0);
            p[0] = (p[0] + p[2] * 0.05).clamp(0.0, 800.0);
            p[1] = (p[1] + p[3] * 0.05).clamp(0.0, 600.0);
            if kick.2 < 0.05 {
                p[4] = (p[4] - 7.0).max(0.0);
            }
            let [x, y, vx, vy, hp] = *p;
            let team = if id % 2 == 0 { "red" } else { "blue" };
            if id > 0 {
                json.push(',');
            }
            json.push_str(&format!(
                "{{\"id\":{},\"name\":\"player_{id}\",\"x\":{x:.2},\"y\":{y:.2},\
                 \"vx\":{vx:.3},\"vy\":{vy:.3},\"hp\":{hp},\"team\":\"{team}\"}}",
                1000 + id
            ));
        }
        json.push_str("]}");
        json.into_bytes()
    }
}

/// The first `n` messages of a game.
fn game_states(n: usize) -> Vec<Vec<u8>> {
    let mut game = Game::new();
    (0..n).map(|_| game.next_message()).collect()
}

/// This process's resident memory in KiB (Linux).
fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:"));
    let kib = line.and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
    kib.unwrap_or(0)
}

/// Instances per memory figure.
const INSTANCES: usize = 1000;

/// Resident KiB per instance over [`INSTANCES`], each having handled the messages `handle`
/// gives it; in a fresh process, so no freed memory is reused.
fn rss_per_instance<T>(make: impl Fn() -> T, handle: impl Fn(&mut T)) -> f64 {
    let before = rss_kib();
    let mut all: Vec<T> = (0..INSTANCES).map(|_| make()).collect();
    all.iter_mut().for_each(handle);
    let after = rss_kib();
    black_box(&all);
    (after - before) as f64 / INSTANCES as f64
}

#[test]
#[ignore = "a measurement: run it alone, in release"]
fn memory_per_instance() {
    println!("resident KiB per instance, context takeover (RSS delta over {INSTANCES} in a fresh process)");
    println!("bits  deflater: 1 message, 64 messages   inflater: 1 message, 64 messages");
    let exe = std::env::current_exe().unwrap();
    for bits in 9..=15u8 {
        let mut figures = Vec::new();
        for case in ["deflate 1", "deflate 64", "inflate 1", "inflate 64"] {
            let out = std::process::Command::new(&exe)
                .args(["--ignored", "--exact", "frame::deflate_bench::memory_child"])
                .args(["--nocapture", "--test-threads=1"])
                .env("LUNA_DEFLATE_MEMORY", format!("{case} {bits}"))
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            // The harness prints the test's name on the same line first.
            let figure = stdout.split("kib_per_instance=").nth(1);
            let figure = figure.and_then(|rest| rest.lines().next());
            figures.push(figure.expect("the child's figure").trim().to_owned());
        }
        println!(
            "{bits:4}  {:>8} {:>8}   {:>8} {:>8}",
            figures[0], figures[1], figures[2], figures[3]
        );
    }
}

/// One figure of [`memory_per_instance`], in its own process: "deflate|inflate MESSAGES BITS".
#[test]
#[ignore = "run by memory_per_instance"]
fn memory_child() {
    let Ok(case) = std::env::var("LUNA_DEFLATE_MEMORY") else {
        return;
    };
    let words: Vec<&str> = case.split(' ').collect();
    let (messages, bits): (usize, u8) = (words[1].parse().unwrap(), words[2].parse().unwrap());
    let states = game_states(messages);
    let kib = if words[0] == "deflate" {
        rss_per_instance(
            || Deflater::new(bits, true, 6),
            |deflater| {
                let mut out = BytesMut::with_capacity(2048);
                for state in &states {
                    out.clear();
                    deflater.compress(state, &mut out);
                }
            },
        )
    } else {
        let mut deflater = Deflater::new(bits, true, 6);
        let payloads: Vec<BytesMut> = states
            .iter()
            .map(|state| {
                let mut out = BytesMut::new();
                deflater.compress(state, &mut out);
                out
            })
            .collect();
        rss_per_instance(
            || Inflater::new(bits, true),
            |inflater| {
                for payload in &payloads {
                    black_box(inflater.inflate(payload, 1 << 20).unwrap());
                }
            },
        )
    };
    println!("kib_per_instance={kib:.1}");
}

/// Game states with full-precision numbers (as `JSON.stringify` or Python's `json.dumps`
/// write a float), some just under and some just over 1 KiB: harder to compress.
fn rough_states(n: usize) -> Vec<Vec<u8>> {
    let mut game = Game::new();
    (0..n)
        .map(|tick| {
            let mut json = format!("{{\"type\":\"state\",\"tick\":{tick},\"players\":[");
            let players = 7 + (tick % 2);
            for id in 0..players {
                let (x, y, a) = (game.noise() * 800.0, game.noise() * 600.0, game.noise());
                let hp = (game.noise() * 100.0) as u32;
                if id > 0 {
                    json.push(',');
                }
                json.push_str(&format!(
                    "{{\"id\":\"p{id}\",\"x\":{x},\"y\":{y},\"angle\":{a},\"hp\":{hp},\
                     \"name\":\"player{id}\",\"alive\":true}}"
                ));
            }
            json.push_str("]}");
            json.into_bytes()
        })
        .collect()
}

#[test]
#[ignore = "a measurement: run it alone, in release"]
fn ratio_and_speed() {
    const MESSAGES: u32 = 10_000;
    for (name, messages) in [
        ("smooth", game_states(MESSAGES as usize)),
        ("rough", rough_states(MESSAGES as usize)),
    ] {
        let raw: usize = messages.iter().map(Vec::len).sum();
        let avg = raw / messages.len();
        println!("{MESSAGES} {name} game-state messages, {avg} bytes on average");
        println!("level bits takeover  ratio  compress µs  inflate µs");
        for level in [1u32, 2, 3, 4, 5, 6, 9] {
            for bits in [15u8, 12] {
                for takeover in [true, false] {
                    ratio_row(&messages, level, bits, takeover);
                }
            }
        }
    }
}

/// One row of [`ratio_and_speed`].
fn ratio_row(messages: &[Vec<u8>], level: u32, bits: u8, takeover: bool) {
    let raw: usize = messages.iter().map(Vec::len).sum();
    let mut deflater = Deflater::new(bits, takeover, level);
    let mut payloads = Vec::with_capacity(messages.len());
    let start = Instant::now();
    for message in messages {
        let mut out = BytesMut::with_capacity(message.len());
        deflater.compress(message, &mut out);
        payloads.push(out);
    }
    let compress = start.elapsed();
    let mut inflater = Inflater::new(bits, takeover);
    let start = Instant::now();
    for payload in &payloads {
        black_box(inflater.inflate(payload, 1 << 20).unwrap());
    }
    let inflate = start.elapsed();
    let compressed: usize = payloads.iter().map(BytesMut::len).sum();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / messages.len() as f64;
    println!(
        "{level:5} {bits:4} {takeover:8}  {:5.2}  {:11.2}  {:10.2}",
        raw as f64 / compressed as f64,
        per(compress),
        per(inflate)
    );
}

/// What priming a reset compressor with the history costs against a compressor kept per
/// connection, side by side (alternating batches, so both see the same noise).
#[test]
#[ignore = "a measurement: run it alone, in release"]
fn priming_cost() {
    use flate2::{Compress, Compression, FlushCompress};
    let messages = rough_states(2000);
    println!("level bits  kept µs  primed µs  (per message, rough states, median of 15 batches)");
    for level in [1u32, 4, 6] {
        for bits in [10u8, 12] {
            let (mut kept, mut primed) = (Vec::new(), Vec::new());
            for _ in 0..15 {
                let mut compress =
                    Compress::new_with_window_bits(Compression::new(level), false, bits);
                let start = Instant::now();
                for message in &messages {
                    let mut out = Vec::with_capacity(message.len() + 64);
                    compress
                        .compress_vec(message, &mut out, FlushCompress::Sync)
                        .unwrap();
                    black_box(out);
                }
                kept.push(start.elapsed().as_secs_f64() * 1e6 / messages.len() as f64);
                let mut deflater = Deflater::new(bits, true, level);
                let start = Instant::now();
                for message in &messages {
                    let mut out = BytesMut::with_capacity(message.len());
                    deflater.compress(message, &mut out);
                    black_box(out);
                }
                primed.push(start.elapsed().as_secs_f64() * 1e6 / messages.len() as f64);
            }
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            println!(
                "{level:5} {bits:4}  {:7.2}  {:9.2}",
                median(&mut kept),
                median(&mut primed)
            );
        }
    }
}

/// Compression CPU by level, side by side (alternating batches, so every level sees the same
/// noise): µs per message with context takeover at 12 bits, median of 15 batches.
#[test]
#[ignore = "a measurement: run it alone, in release"]
fn level_cost() {
    let levels = [1u32, 2, 3, 4, 5, 6, 9];
    for (name, messages) in [("smooth", game_states(1000)), ("rough", rough_states(1000))] {
        let mut times = vec![Vec::new(); levels.len()];
        for _ in 0..15 {
            for (i, &level) in levels.iter().enumerate() {
                let mut deflater = Deflater::new(12, true, level);
                let start = Instant::now();
                for message in &messages {
                    let mut out = BytesMut::with_capacity(message.len());
                    deflater.compress(message, &mut out);
                    black_box(out);
                }
                times[i].push(start.elapsed().as_secs_f64() * 1e6 / messages.len() as f64);
            }
        }
        let medians: Vec<String> = times
            .iter_mut()
            .zip(levels)
            .map(|(t, level)| {
                t.sort_by(f64::total_cmp);
                format!("{level}: {:.2}", t[t.len() / 2])
            })
            .collect();
        println!("{name}: {}", medians.join("  "));
    }
}

/// Where compressing starts to pay: game states of 1 to 8 players (about 160 to 950
/// bytes), wire bytes saved per message and the µs it costs, dedicated and shared, level 6.
#[test]
#[ignore = "a measurement: run it alone, in release"]
fn threshold() {
    let states = rough_states(4000);
    println!("bytes  dedicated: saved µs   shared: saved µs");
    for players in [1usize, 2, 4, 8] {
        let messages: Vec<Vec<u8>> = states.iter().map(|m| first_players(m, players)).collect();
        let raw = messages.iter().map(Vec::len).sum::<usize>() / messages.len();
        let mut row = format!("{raw:5}");
        for takeover in [true, false] {
            let mut deflater = Deflater::new(12, takeover, 6);
            let start = Instant::now();
            let mut wire = 0;
            for message in &messages {
                let mut out = BytesMut::with_capacity(message.len());
                deflater.compress(message, &mut out);
                wire += out.len();
            }
            let us = start.elapsed().as_secs_f64() * 1e6 / messages.len() as f64;
            let saved = raw as f64 - wire as f64 / messages.len() as f64;
            row.push_str(&format!("   {saved:9.0} {us:5.2}"));
        }
        println!("{row}");
    }
}

/// A game state cut to its first `players` players.
fn first_players(state: &[u8], players: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(state);
    let cut: Vec<&str> = text.splitn(players + 1, "},{").collect();
    let mut json = cut[..players.min(cut.len())].join("},{");
    if !json.ends_with("]}") {
        json.push_str("}]}");
    }
    json.into_bytes()
}
