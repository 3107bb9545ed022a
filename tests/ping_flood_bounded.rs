//! A peer that floods pings and never reads the pongs cannot grow the server without bound:
//! pongs count against `max_send_queue`, and past it the connection stops being read (TCP
//! pushes back on the peer) until the peer reads again; then it carries on normally.
mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

#[test]
fn unread_pongs_stop_at_the_send_queue() {
    let server = TestServer::start(Options {
        tweak: Box::new(|c| c.max_send_queue = 1 << 20),
        ..Options::default()
    });
    let mut client = RawPeer::connect(server.port, "");
    assert_eq!(client.status(), 101, "{}", client.head);
    let before = rss_kib();
    // 48 MiB of 125-byte pings, sent in 64 KiB writes, never reading.
    let ping = encode_frame(true, 0, 9, &[7u8; 125], Some([1, 2, 3, 4]));
    let sent = flood(&mut client.stream, &ping, 48 << 20);
    std::thread::sleep(Duration::from_millis(300));
    let grown = rss_kib().saturating_sub(before);
    assert!(
        grown < 24 << 10,
        "RSS grew {grown} KiB after {sent} bytes of pings with a 1 MiB send queue"
    );
    // Reading again lets the connection go on: the pongs arrive, then the echo of a text
    // message sent after the flood.
    let mut out = client.stream.try_clone().unwrap();
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut pongs = 0usize;
        loop {
            let (_, opcode, payload) = client.read().expect("frames after the flood");
            match opcode {
                10 => pongs += 1,
                1 => return (pongs, payload),
                other => panic!("unexpected opcode {other}"),
            }
        }
    });
    out.set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Finish the ping the flood stopped in, then say something.
    let mut text = ping[sent % ping.len()..].to_vec();
    if sent % ping.len() == 0 {
        text.clear();
    }
    text.extend(encode_frame(true, 0, 1, b"still alive", Some([5, 6, 7, 8])));
    out.write_all(&text)
        .expect("the server reads again once its pongs are read");
    let (pongs, echo) = reader.join().unwrap();
    assert!(pongs > 1000, "only {pongs} pongs");
    assert_eq!(echo, b"still alive");
    server.stop_and_free();
}
