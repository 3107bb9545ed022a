//! An app's counters: connections, handshakes (accepted, refused by reason), HTTP requests by
//! status, messages and bytes each way, backpressure, and the cluster's queue. Every counter is
//! a relaxed atomic bumped where the thing happens (an I/O thread or the host), so reading them
//! costs nothing to the traffic; `render` writes them in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Why a handshake was refused, as the `reason` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Refusal {
    /// `origins` does not list the page's origin (403).
    Origin,
    /// `max_connections` reached (503).
    Capacity,
    /// No requested subprotocol is served and there is no default handler (400).
    Subprotocol,
    /// The host (`on_upgrade`) refused, or did not decide in time.
    Host,
    /// `max_connections_per_ip` reached for the client's address (429).
    Address,
    /// TLS failed or the upgrade request did not arrive in time.
    Handshake,
}

const REFUSALS: [(Refusal, &str); 6] = [
    (Refusal::Origin, "origin"),
    (Refusal::Capacity, "capacity"),
    (Refusal::Subprotocol, "subprotocol"),
    (Refusal::Host, "host"),
    (Refusal::Address, "address"),
    (Refusal::Handshake, "handshake"),
];

/// Counters of one app. Padded apart: the I/O thread bumps the incoming ones, the host the
/// outgoing ones, and neither should slow the other down.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    incoming: Padded<Flow>,
    outgoing: Padded<Flow>,
    /// WebSocket connections opened since the app started.
    pub connections_total: AtomicU64,
    /// WebSocket connections open now.
    pub connections_open: AtomicUsize,
    pub handshakes_accepted: AtomicU64,
    refused: [AtomicU64; REFUSALS.len()],
    /// Plain HTTP answers by status (100..=599).
    http: HttpCounts,
    /// Sends refused because the connection's queue was full.
    pub backpressure: AtomicU64,
    /// Times a peer went over its rate limit (paused, or closed).
    pub rate_limited: AtomicU64,
    /// Payload bytes of messages sent compressed, before and after permessage-deflate.
    deflated: Deflated,
    /// The cluster's state, when the app has one.
    pub cluster: ClusterGauges,
}

/// Messages and payload bytes one way.
#[derive(Debug, Default)]
struct Flow {
    messages: AtomicU64,
    bytes: AtomicU64,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// Bytes of the messages sent compressed, before and after compression.
#[derive(Debug, Default)]
struct Deflated {
    before: AtomicU64,
    after: AtomicU64,
}

#[derive(Debug)]
struct HttpCounts([AtomicU64; 500]);

impl Default for HttpCounts {
    fn default() -> Self {
        HttpCounts(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// Reads a cluster app's Redis link: both connections up, bytes of publishes waiting for
/// Redis, publishes for other nodes lost.
type ClusterProbe = Box<dyn Fn() -> (bool, usize, u64) + Send + Sync>;

/// The cluster's probe, set once when the app joins a cluster.
#[derive(Default)]
pub(crate) struct ClusterGauges(OnceLock<ClusterProbe>);

impl std::fmt::Debug for ClusterGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "cluster"
        } else {
            "no cluster"
        })
    }
}

impl ClusterGauges {
    pub(crate) fn watch(&self, probe: impl Fn() -> (bool, usize, u64) + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(probe));
    }

    fn read(&self) -> Option<(bool, usize, u64)> {
        self.0.get().map(|probe| probe())
    }
}

/// The counters at one moment, as plain numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub connections_open: u64,
    pub connections_total: u64,
    pub handshakes_accepted: u64,
    pub handshakes_refused: [u64; REFUSALS.len()],
    pub http_requests: u64,
    pub messages_in: u64,
    pub bytes_in: u64,
    pub messages_out: u64,
    pub bytes_out: u64,
    pub backpressure: u64,
    pub rate_limited: u64,
    pub compressed_in: u64,
    pub compressed_out: u64,
    pub cluster_connected: bool,
    pub cluster_queued_bytes: u64,
    pub cluster_dropped: u64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Stats {
    /// A message (or control frame handed to the host) read from a peer.
    pub(crate) fn received(&self, bytes: usize) {
        bump(&self.incoming.0.messages, 1);
        bump(&self.incoming.0.bytes, bytes as u64);
    }

    /// `count` messages of `bytes` each accepted for sending.
    pub(crate) fn sent(&self, count: usize, bytes: usize) {
        bump(&self.outgoing.0.messages, count as u64);
        bump(&self.outgoing.0.bytes, (count * bytes) as u64);
    }

    /// A message of `before` payload bytes went out compressed to `after` bytes.
    pub(crate) fn compressed(&self, before: usize, after: usize) {
        bump(&self.deflated.before, before as u64);
        bump(&self.deflated.after, after as u64);
    }

    pub(crate) fn refused(&self, why: Refusal) {
        bump(&self.refused[why as usize], 1);
    }

    /// A plain HTTP request answered with `status` (luna's answers and the host's).
    pub(crate) fn http_answered(&self, status: u16) {
        if let Some(counter) = self.http.0.get(usize::from(status).wrapping_sub(100)) {
            bump(counter, 1);
        }
    }

    pub(crate) fn opened(&self) {
        bump(&self.connections_total, 1);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let (connected, queued, dropped) = self.cluster.read().unwrap_or_default();
        Snapshot {
            connections_open: self.connections_open.load(Ordering::Relaxed) as u64,
            connections_total: read(&self.connections_total),
            handshakes_accepted: read(&self.handshakes_accepted),
            handshakes_refused: std::array::from_fn(|i| read(&self.refused[i])),
            http_requests: self.http.0.iter().map(read).sum(),
            messages_in: read(&self.incoming.0.messages),
            bytes_in: read(&self.incoming.0.bytes),
            messages_out: read(&self.outgoing.0.messages),
            bytes_out: read(&self.outgoing.0.bytes),
            backpressure: read(&self.backpressure),
            rate_limited: read(&self.rate_limited),
            compressed_in: read(&self.deflated.before),
            compressed_out: read(&self.deflated.after),
            cluster_connected: connected,
            cluster_queued_bytes: queued as u64,
            cluster_dropped: dropped,
        }
    }

    /// The counters in the Prometheus text exposition format (version 0.0.4). One app serves
    /// one port, so the scraper's own `instance` label tells apps apart.
    pub(crate) fn render(&self) -> String {
        let s = self.snapshot();
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, series: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP luna_{name} {help}");
            let _ = writeln!(out, "# TYPE luna_{name} {kind}");
            for (labels, value) in series {
                let _ = writeln!(out, "luna_{name}{labels} {value}");
            }
        };
        let one = |value: u64| [(String::new(), value)];
        metric(
            "connections_open",
            "gauge",
            "WebSocket connections open now.",
            &one(s.connections_open),
        );
        metric(
            "connections_total",
            "counter",
            "WebSocket connections opened.",
            &one(s.connections_total),
        );
        metric(
            "handshakes_accepted_total",
            "counter",
            "WebSocket handshakes accepted.",
            &one(s.handshakes_accepted),
        );
        let refused: Vec<(String, u64)> = REFUSALS
            .iter()
            .map(|&(why, label)| {
                (
                    format!("{{reason=\"{label}\"}}"),
                    s.handshakes_refused[why as usize],
                )
            })
            .collect();
        metric(
            "handshakes_refused_total",
            "counter",
            "WebSocket handshakes refused, by reason.",
            &refused,
        );
        let http: Vec<(String, u64)> = (self.http.0.iter().enumerate())
            .map(|(i, counter)| (i + 100, read(counter)))
            .filter(|&(_, count)| count > 0)
            .map(|(status, count)| (format!("{{code=\"{status}\"}}"), count))
            .collect();
        metric(
            "http_requests_total",
            "counter",
            "Plain HTTP requests answered, by status.",
            &http,
        );
        let flows = [
            (
                "messages_received_total",
                "Messages received.",
                s.messages_in,
            ),
            (
                "received_bytes_total",
                "Payload bytes received.",
                s.bytes_in,
            ),
            (
                "messages_sent_total",
                "Messages accepted for sending (each recipient counts).",
                s.messages_out,
            ),
            (
                "sent_bytes_total",
                "Payload bytes accepted for sending.",
                s.bytes_out,
            ),
            (
                "backpressure_total",
                "Sends refused because a connection's queue was full.",
                s.backpressure,
            ),
            (
                "rate_limited_total",
                "Times a peer went over its rate limit.",
                s.rate_limited,
            ),
            (
                "compression_input_bytes_total",
                "Payload bytes of messages sent compressed, before compression.",
                s.compressed_in,
            ),
            (
                "compression_output_bytes_total",
                "The same messages' bytes on the wire, after compression.",
                s.compressed_out,
            ),
        ];
        for (name, help, value) in flows {
            metric(name, "counter", help, &one(value));
        }
        if self.cluster.read().is_some() {
            let gauges = [
                (
                    "cluster_connected",
                    "gauge",
                    "1 while both Redis connections are up.",
                    u64::from(s.cluster_connected),
                ),
                (
                    "cluster_queued_bytes",
                    "gauge",
                    "Bytes of publishes waiting for Redis.",
                    s.cluster_queued_bytes,
                ),
                (
                    "cluster_dropped_total",
                    "counter",
                    "Publishes for other nodes lost.",
                    s.cluster_dropped,
                ),
            ];
            for (name, kind, help, value) in gauges {
                metric(name, kind, help, &one(value));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_shows_in_the_text_format() {
        let stats = Stats::default();
        stats.received(10);
        stats.sent(3, 4);
        stats.refused(Refusal::Origin);
        stats.http_answered(200);
        stats.http_answered(404);
        stats.http_answered(99);
        stats.opened();
        stats.opened();
        stats.closed();
        let text = stats.render();
        for line in [
            "luna_connections_open 1",
            "luna_connections_total 2",
            "luna_handshakes_refused_total{reason=\"origin\"} 1",
            "luna_handshakes_refused_total{reason=\"capacity\"} 0",
            "luna_http_requests_total{code=\"404\"} 1",
            "luna_messages_received_total 1",
            "luna_received_bytes_total 10",
            "luna_messages_sent_total 3",
            "luna_sent_bytes_total 12",
            "# TYPE luna_connections_open gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(!text.contains("cluster"), "no cluster, no cluster series");
        assert_eq!(stats.snapshot().http_requests, 2);
    }
}
