//! Context takeover: kept across messages by a dedicated server, dropped by a shared one
//! or when the client asks.

use super::*;

/// 200 messages each way on one connection: the client compresses with `ours`, inflates with
/// `theirs`; returns how many server frames did NOT inflate on their own (fresh state).
fn two_hundred_messages(
    c: &mut RawPeer,
    ours: &mut PeerDeflater,
    theirs: &mut dyn Inflate,
) -> usize {
    let mut needed_context = 0;
    for i in 0..200 {
        let msg = json_message(i, 1100 + (i % 7) * 50);
        let opcode = 1 + (i % 2) as u8;
        send_compressed(c, opcode, &ours.compress(&msg));
        let f = read(c);
        assert_eq!(
            (f.fin, f.rsv, f.opcode),
            (true, RSV1, opcode),
            "echo {i} is compressed"
        );
        let alone = inflate_alone(&f.payload);
        if alone.as_ref() != Ok(&msg) {
            needed_context += 1;
        }
        let got = theirs
            .inflate(&f.payload)
            .unwrap_or_else(|e| panic!("echo {i}: {e}"));
        assert!(got == msg, "echo {i} differs");
    }
    needed_context
}

#[test]
fn dedicated_keeps_both_contexts_across_200_messages() {
    let s = LuaEcho::start(DEDICATED);
    let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
    assert_eq!(
        answer(&c).as_deref(),
        Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
    );
    // Our frames refer back to earlier messages; the server's do too, within 12 bits.
    let mut ours = PeerDeflater::new(12, true);
    let mut theirs = StrictInflater::new(12, true);
    let needed = two_hundred_messages(&mut c, &mut ours, &mut theirs);
    assert!(
        needed > 150,
        "context takeover: most server messages refer to earlier ones ({needed} of 200 did)"
    );
    c.stream.write_all(&close_frame(1000, b"")).unwrap();
    expect_close(&mut c, 1000, "close after 200 messages");
}

#[test]
fn shared_messages_stand_alone_both_ways() {
    let s = LuaEcho::start(SHARED);
    let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
    assert_eq!(answer(&c).as_deref(), Some(SHARED_ANSWER));
    let mut ours = PeerDeflater::new(15, false);
    // server_no_context_takeover holds: every server message inflates alone.
    let mut theirs = StrictInflater::new(15, false);
    let needed = two_hundred_messages(&mut c, &mut ours, &mut theirs);
    assert_eq!(needed, 0, "server messages that needed an earlier one");
    // A client that keeps its context although client_no_context_takeover was agreed
    // sends references the server cannot resolve.
    let mut c = open(s.port, "permessage-deflate");
    let mut rogue = PeerDeflater::new(15, true);
    let msg = noisy_text(2000, 7);
    send_compressed(&mut c, 1, &rogue.compress(&msg));
    let (_, got) = read_message(&mut c, &mut PeerInflater::new(false), "first");
    assert!(got == msg);
    send_compressed(&mut c, 1, &rogue.compress(&msg));
    expect_close(
        &mut c,
        1007,
        "a reference into a message the server did not keep",
    );
}

#[test]
fn dedicated_server_without_context_when_the_client_asks() {
    let s = LuaEcho::start(DEDICATED);
    let mut c = open(s.port, "permessage-deflate; server_no_context_takeover");
    assert_eq!(
        answer(&c).as_deref(),
        Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=12")
    );
    let msg = noisy_text(3000, 3);
    for i in 0..5 {
        c.send(1, &msg);
        let f = read(&mut c);
        assert_eq!(f.rsv, RSV1, "message {i}");
        let alone = inflate_alone(&f.payload);
        assert!(alone == Ok(msg.clone()), "message {i} inflates alone");
    }
}

/// Connects with a small receive buffer, so the server's send queue fills after a few frames.
fn open_small_buffer(port: u16, offer: &str) -> RawPeer {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 << 10).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    socket.connect(&addr.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {offer}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let response = read_head(&mut stream);
    let c = RawPeer {
        stream,
        head: response,
        side: Side::Client,
    };
    assert_eq!(c.status(), 101, "{}", c.head);
    c
}

#[test]
fn dedicated_context_survives_sends_refused_for_backpressure() {
    let s = LuaEcho::start("{ compression = \"dedicated\", max_send_queue = 64 * 1024 }");
    let mut c = open_small_buffer(s.port, "permessage-deflate");
    assert_eq!(
        answer(&c).as_deref(),
        Some("permessage-deflate; server_max_window_bits=12")
    );
    // Each message starts with the (unique) end of the one before: the server's compressor
    // refers back to it. A refused echo its compressor had seen would break every later one.
    let unique = |i: u32| noise(2048, 10_000 + i);
    let sent: Vec<Vec<u8>> = (1..=200u32)
        .map(|i| [unique(i - 1), noise(30 << 10, i), unique(i)].concat())
        .collect();
    let mut writer = c.stream.try_clone().unwrap();
    let frames: Vec<Vec<u8>> = sent
        .iter()
        .map(|m| encode_frame(true, 0, 2, m, MASK))
        // Several markers: one small frame could still meet a full queue.
        .chain(std::iter::repeat_n(
            encode_frame(true, 0, 1, b"end", MASK),
            5,
        ))
        .collect();
    let sender = std::thread::spawn(move || {
        for f in frames {
            writer.write_all(&f).unwrap();
        }
    });
    // Not reading for a while: the echoes fill the queue and some are refused.
    std::thread::sleep(Duration::from_millis(300));
    let mut inflater = PeerInflater::new(true);
    let (mut next, mut received) = (0, 0);
    loop {
        let (op, data) = read_message(&mut c, &mut inflater, "echo after backpressure");
        if op == 1 && data == b"end" {
            break;
        }
        let at = sent[next..].iter().position(|m| *m == data);
        let at = at.unwrap_or_else(|| panic!("echo {received} is no later message we sent"));
        next += at + 1;
        received += 1;
    }
    sender.join().unwrap();
    assert!(
        (1..200).contains(&received),
        "{received} of 200 echoed: some must have been refused for backpressure"
    );
}
