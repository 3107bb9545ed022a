//! 1,000 clients connected at once each get their own echoes.
mod common;

use std::io::Write;

use common::*;

#[test]
fn thousand_concurrent_clients_each_echo() {
    let s = TestServer::start(Options::default());
    let mut clients: Vec<RawPeer> = (0..1000).map(|_| RawPeer::connect(s.port, "")).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.status(), 101);
        let frame = encode_frame(
            true,
            0,
            1,
            format!("client {i}").as_bytes(),
            Some([4, 3, 2, 1]),
        );
        c.stream.write_all(&frame).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let (_, opcode, payload) = c.read().unwrap();
        assert_eq!(opcode, 1);
        assert_eq!(payload, format!("client {i}").as_bytes());
    }
    assert_eq!(s.count(|e| matches!(e, Ev::Open { .. })), 1000);
    let mut ids: Vec<u64> = s.open_ids();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "connection ids are unique");
}
