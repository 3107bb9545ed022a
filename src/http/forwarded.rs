//! The client behind a trusted proxy: `trusted_proxies` lists addresses and networks whose
//! `Forwarded` (RFC 7239) or `X-Forwarded-For` headers are believed.
//!
//! Decisions: headers are read only when the TCP peer itself is trusted; otherwise anyone could
//! claim any address. The list is walked from the right (each proxy appends what it saw), past
//! every trusted hop, and the first address that is not a trusted proxy is the client, so a
//! client cannot hide behind an address it wrote itself. `Forwarded` wins over
//! `X-Forwarded-For` when both are present. An entry that is no address (`unknown`, an
//! obfuscated name, garbage) stops the walk: the hop before it is the best known. The client's
//! port is the one the header gives, else 0 (the proxy's own port would mislead).

use std::net::{IpAddr, SocketAddr};

use super::request::Request;

/// Addresses and networks (`10.0.0.0/8`, `::1`, `127.0.0.1`) of trusted proxies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Parses `addr` or `addr/prefix` entries; `Err` names the first bad one.
    pub(crate) fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        let mut networks = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = entry.as_ref().trim();
            let bad =
                || format!("trusted proxy '{entry}' is not an address or a network (a.b.c.d/n)");
            let (addr, prefix) = match entry.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
                None => (entry, None),
            };
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            let bits = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = prefix.unwrap_or(bits);
            if prefix > bits {
                return Err(bad());
            }
            networks.push((canonical(ip), prefix));
        }
        Ok(TrustedProxies { networks })
    }

    /// Whether `ip` is one of the trusted proxies.
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks
            .iter()
            .any(|&(net, prefix)| same_network(ip, net, prefix))
    }

    /// The client's address: `peer` itself, unless `peer` is trusted and the request names
    /// the client it forwards.
    pub(crate) fn client_of(&self, peer: SocketAddr, request: &Request) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        let hops: Vec<Option<SocketAddr>> = match request.header("forwarded") {
            Some(forwarded) => forwarded.split(',').map(forwarded_for).collect(),
            None => match request.header("x-forwarded-for") {
                Some(list) => list.split(',').map(parse_node).collect(),
                None => return peer,
            },
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Some(hop) = hop else {
                break;
            };
            client = hop;
            if !self.trusts(hop.ip()) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (a dual-stack socket's IPv4 peers) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn same_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (ip, net, bits) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = bits - u32::from(prefix);
    shift >= 128 || (ip >> shift) == (net >> shift)
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.60;proto=http;by=...`).
fn forwarded_for(element: &str) -> Option<SocketAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })?;
    parse_node(value.trim_matches('"'))
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
fn parse_node(node: &str) -> Option<SocketAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(SocketAddr::new(canonical(addr.ip()), addr.port()));
    }
    let bare = node.strip_prefix('[').and_then(|n| n.strip_suffix(']'));
    let ip: IpAddr = bare.unwrap_or(node).parse().ok()?;
    Some(SocketAddr::new(canonical(ip), 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{parse_request, Limits, Parse};

    fn request(extra: &str) -> Request {
        let head = format!("GET / HTTP/1.1\r\nHost: h\r\n{extra}\r\n");
        match parse_request(head.as_bytes(), &Limits::default()) {
            Ok(Parse::Complete(req, _)) => req,
            other => panic!("{other:?}"),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_are_addresses_or_networks() {
        let proxies = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8", "fd00::/8"]).unwrap();
        assert!(proxies.trusts("10.200.3.4".parse().unwrap()));
        assert!(proxies.trusts("::ffff:127.0.0.1".parse().unwrap()));
        assert!(proxies.trusts("fd12::1".parse().unwrap()));
        assert!(!proxies.trusts("127.0.0.2".parse().unwrap()));
        assert!(!proxies.trusts("11.0.0.1".parse().unwrap()));
        assert!(TrustedProxies::parse(&["0.0.0.0/0"])
            .unwrap()
            .trusts("8.8.8.8".parse().unwrap()));
        for bad in ["", "localhost", "10.0.0.0/33", "::/129", "1.2.3.4/x"] {
            assert!(TrustedProxies::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_count_only_from_a_trusted_peer() {
        let proxies = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
        let req = request("X-Forwarded-For: 203.0.113.7\r\n");
        let direct = addr("198.51.100.1:5000");
        assert_eq!(proxies.client_of(direct, &req), direct);
        let via = addr("127.0.0.1:6000");
        assert_eq!(proxies.client_of(via, &req), addr("203.0.113.7:0"));
        assert_eq!(proxies.client_of(via, &request("")), via);
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_hop_from_the_right() {
        let proxies = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).unwrap();
        let via = addr("127.0.0.1:1");
        // The client wrote 1.1.1.1 itself; 203.0.113.7 is what the first trusted proxy saw.
        let req = request("X-Forwarded-For: 1.1.1.1, 203.0.113.7, 10.0.0.5\r\n");
        assert_eq!(proxies.client_of(via, &req), addr("203.0.113.7:0"));
        // Repeated header lines are one list.
        let req = request("X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 203.0.113.9\r\n");
        assert_eq!(proxies.client_of(via, &req), addr("203.0.113.9:0"));
        // All hops trusted: the leftmost is the best known.
        let req = request("X-Forwarded-For: 10.1.1.1, 10.0.0.5\r\n");
        assert_eq!(proxies.client_of(via, &req), addr("10.1.1.1:0"));
        // Garbage stops the walk at the last good hop.
        let req = request("X-Forwarded-For: 1.1.1.1, nonsense, 10.0.0.5\r\n");
        assert_eq!(proxies.client_of(via, &req), addr("10.0.0.5:0"));
    }

    #[test]
    fn forwarded_wins_and_carries_ports_and_ipv6() {
        let proxies = TrustedProxies::parse(&["::1"]).unwrap();
        let via = addr("[::1]:1");
        let req = request(
            "Forwarded: for=192.0.2.43:4711;proto=https, for=\"[2001:db8:cafe::17]:4711\"\r\n\
             X-Forwarded-For: 9.9.9.9\r\n",
        );
        assert_eq!(
            proxies.client_of(via, &req),
            addr("[2001:db8:cafe::17]:4711")
        );
        let req = request("Forwarded: for=unknown\r\n");
        assert_eq!(proxies.client_of(via, &req), via);
    }
}
