//! luna's load generator (`make bench`; see bench/README.md).
//!
//! usage:
//!   luna-bench suite                      every mode against every server, one table
//!   luna-bench echo PORT [PID]            one echo run against a running server
//!   luna-bench large PORT [PID]           16 KiB echo
//!   luna-bench ping PORT                  ping-pong latency
//!   luna-bench broadcast PORT             broadcast fan-out (subprotocol "broadcast")
//!   luna-bench publish PORT               the same through a topic (subprotocol "publish")
//!   luna-bench hold PORT PID              connect-and-hold, server RSS per connection
//!   luna-bench peak PORT PID [close]     server RSS before, at and after a peak of idle
//!                                         connections that all reset (or close)
//!   luna-bench compression PORT [PID]     1 KiB JSON echo with permessage-deflate
//!   luna-bench deflate-hold PORT PID      RSS per compressing connection after one message
//!   luna-bench web                        static files and handshakes vs nginx and Node
//!   luna-bench connections                19,000 idle connections per server: memory,
//!                                         handshakes/s, a ping sweep, a mass reset
//!   luna-bench room                       a chat room's fan-out against every server
//!   luna-bench room PORT PID [GROUP]      the same against a running server
//!   luna-bench static PORT [PID]          wrk against a running server's /1k.html
//!   luna-bench connects PORT [PID]        WebSocket handshakes/s against a running server
//! Settings come from BENCH_* environment variables (bench/README.md lists them).

mod compression;
mod connections;
mod deflate;
mod modes;
mod procfs;
mod room;
mod suite;
mod table;
mod web;
mod ws;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use modes::Target;
use suite::Settings;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let s = Settings::from_env();
    let Some(mode) = args.first() else {
        eprintln!("usage: luna-bench suite | web | echo|large|ping|broadcast|publish|hold|peak|compression|deflate-hold|static|connects|room PORT [PID] | connections | room");
        return ExitCode::from(2);
    };
    if mode == "suite" {
        print!("{}", suite::run(&s));
        return ExitCode::SUCCESS;
    }
    if mode == "connections" {
        print!(
            "{}",
            connections::run(&connections::ConnSettings::from_env())
        );
        return ExitCode::SUCCESS;
    }
    if mode == "room" && args.len() == 1 {
        print!("{}", room::run(&room::RoomSettings::from_env()));
        return ExitCode::SUCCESS;
    }
    if mode == "web" {
        print!("{}", web::run(&web::WebSettings::from_env()));
        return ExitCode::SUCCESS;
    }
    procfs::raise_fd_limit();
    let port: u16 = match args.get(1).and_then(|p| p.parse().ok()) {
        Some(p) => p,
        None => {
            eprintln!("luna-bench {mode}: PORT missing");
            return ExitCode::from(2);
        }
    };
    let pid = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let t = Target {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        pid,
    };
    let result = match mode.as_str() {
        "echo" | "large" => {
            let mut spec = s.echo();
            if mode == "large" {
                spec.size = 16 << 10;
                spec.conns = s.large_conns;
                spec.inflight = s.large_inflight;
            }
            modes::echo(t, &spec).map(|e| {
                format!(
                    "{:.0} msgs/s, {:.1} MB/s, server {:.3} µs CPU/msg, loadgen {:.0}% CPU",
                    e.msgs_per_s,
                    e.bytes_per_s / 1e6,
                    e.server_us_per_msg,
                    e.gen_cpu_pct
                )
            })
        }
        "ping" => {
            let limit = Duration::from_secs_f64(s.seconds * 2.0);
            modes::pingpong(t, s.pings, s.size, limit).map(|l| {
                format!(
                    "p50 {:.1} µs, p99 {:.1} µs, p999 {:.1} µs",
                    l.p50, l.p99, l.p999
                )
            })
        }
        // The same fan-out through a topic: the server's "publish" group subscribes each
        // connection and publishes every message (bench/servers/luna_echo.lua).
        "broadcast" | "publish" => modes::broadcast(t, s.bcast_n, s.bcast_rounds, mode).map(|b| {
            format!(
                "{} receivers: {:.0} deliveries/s, spread {:.2} ms",
                s.bcast_n, b.deliveries_per_s, b.spread_ms
            )
        }),
        "hold" => modes::hold(t, s.hold_n, Duration::from_millis(500)).map(|h| {
            format!(
                "{} connections: {:.2} KiB/conn (VmRSS {} -> {} KiB)",
                s.hold_n, h.kib_per_conn, h.rss_before_kib, h.rss_after_kib
            )
        }),
        "peak" => {
            let reset = args.get(3).is_none_or(|a| a != "close");
            // A host that waits one second at a time polls the last CLOSE events (and hands
            // their memory back) up to a second after the wave.
            let after = Duration::from_millis(1500);
            modes::peak(t, s.hold_n, reset, Duration::from_millis(500), after).map(|p| {
                format!(
                    "{} connections, {}: VmRSS {} KiB before, {} KiB with them \
                     ({:.2} KiB/conn), {} KiB after (+{} KiB); sockets gone in {} ms",
                    s.hold_n,
                    if reset { "reset" } else { "closed" },
                    p.before_kib,
                    p.peak_kib,
                    (p.peak_kib as f64 - p.before_kib as f64) / s.hold_n as f64,
                    p.after_kib,
                    p.after_kib as i64 - p.before_kib as i64,
                    p.drained.as_millis()
                )
            })
        }
        "compression" => {
            let spec = modes::EchoSpec {
                opcode: crate::ws::TEXT,
                ..s.echo()
            };
            compression::echo(t, &spec).map(|r| {
                format!(
                    "{:.0} msgs/s, server {:.2} µs CPU/msg, loadgen {:.0}% CPU; {:.0} B raw, \
                     wire in {:.0} B (×{:.2}), out {:.0} B (×{:.2}); {}",
                    r.msgs_per_s,
                    r.server_us_per_msg,
                    r.gen_cpu_pct,
                    r.raw_bytes,
                    r.up_bytes,
                    r.raw_bytes / r.up_bytes,
                    r.down_bytes,
                    r.raw_bytes / r.down_bytes,
                    deflate::Agreement::describe(&r.agreed)
                )
            })
        }
        "deflate-hold" => {
            compression::hold(t, s.deflate_hold_n, Duration::from_millis(500)).map(|h| {
                format!(
                    "{} compressing connections: {:.2} KiB/conn (VmRSS {} -> {} KiB)",
                    s.deflate_hold_n, h.kib_per_conn, h.rss_before_kib, h.rss_after_kib
                )
            })
        }
        "static" => {
            let w = web::WebSettings::from_env();
            web::static_file(t, w.conns, w.seconds).map(|r| {
                format!(
                    "{:.0} requests/s, server {:.2} µs CPU/request",
                    r.per_s, r.server_us
                )
            })
        }
        "room" => {
            let group = args.get(3).map_or("broadcast", String::as_str);
            room::room(t, group, &room::RoomSpec::from_env()).map(|r| room::describe(&r))
        }
        "connects" => {
            let w = web::WebSettings::from_env();
            let run = Duration::from_secs(w.seconds);
            web::connects(t, w.parallel, Duration::from_millis(500), run).map(|r| {
                format!(
                    "{:.0} handshakes/s, server {:.2} µs CPU/handshake",
                    r.per_s, r.server_us
                )
            })
        }
        other => {
            eprintln!("luna-bench: unknown mode {other:?}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("luna-bench {mode}: {e}");
            ExitCode::FAILURE
        }
    }
}
