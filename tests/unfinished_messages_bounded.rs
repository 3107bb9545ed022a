//! Messages sent slowly, a fragment at a time and never finished, are held in the server's
//! buffers, not queued for the host: an app's connections may hold no more of them together
//! than its backlog limit (64 MiB by default). Past it, a connection holding a share of it is
//! closed with 1013; the others finish their messages.
mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

#[test]
fn unfinished_messages_past_the_backlog_limit_close_with_1013() {
    let server = TestServer::start(Options::default());
    let fragment = vec![7u8; 64 << 10];
    let fragments = 240; // 15 MiB each, under the 16 MiB message limit
    let mut peers = Vec::new();
    for _ in 0..10 {
        let mut peer = RawPeer::connect(server.port, "");
        // A closed connection stops reading: the writes then fail instead of waiting.
        peer.stream
            .set_write_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        for i in 0..fragments {
            let opcode = if i == 0 { 2 } else { 0 };
            let frame = encode_frame(false, 0, opcode, &fragment, Some([1, 2, 3, 4]));
            if peer.stream.write_all(&frame).is_err() {
                break;
            }
        }
        peers.push(peer);
    }
    // Four hold 60 MiB together; each of the others passes the limit and is closed.
    server.wait_until(20, "1013 closes", || {
        server.count(|e| matches!(e, Ev::Close { code: 1013, .. })) >= 5
    });
    // The first one still finishes its message, and gets it back whole.
    peers[0].frame(true, 0, 0, b"end", Some([1, 2, 3, 4]));
    let (fin, opcode, payload) = peers[0].read().expect("the echo");
    assert!(fin);
    assert_eq!(opcode, 2);
    assert_eq!(payload.len(), fragments * fragment.len() + 3);
}
