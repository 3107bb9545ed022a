//! A message sent in many fragments, with pings between them, arrives whole; every ping is
//! answered with a pong carrying its payload.
mod common;

use common::*;

#[test]
fn fragmented_message_with_interleaved_pings_arrives_whole() {
    let server = TestServer::start(Options::default());
    let mut client = RawPeer::connect(server.port, "");
    assert_eq!(client.status(), 101, "{}", client.head);
    let text = "fragments ".repeat(50);
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(37).collect();
    let mut pongs_expected = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 { 1 } else { 0 };
        client.frame(i == chunks.len() - 1, 0, opcode, chunk, Some([9, 8, 7, 6]));
        if i % 3 == 0 {
            client.send(9, format!("ping{i}").as_bytes());
            pongs_expected += 1;
        }
    }
    let mut pongs = 0;
    loop {
        let (fin, opcode, payload) = client.read().unwrap();
        match opcode {
            10 => {
                assert!(String::from_utf8(payload).unwrap().starts_with("ping"));
                pongs += 1;
            }
            1 => {
                assert!(fin);
                assert_eq!(payload, text.as_bytes());
                break;
            }
            other => panic!("unexpected opcode {other}"),
        }
    }
    while pongs < pongs_expected {
        let (_, opcode, _) = client.read().unwrap();
        assert_eq!(opcode, 10);
        pongs += 1;
    }
    // Pings are answered by luna, not handed to the host by default.
    assert_eq!(server.count(|e| matches!(e, Ev::Msg { opcode: 9, .. })), 0);
}

#[test]
fn control_frames_option_delivers_pings_and_pongs() {
    let server = TestServer::start(Options {
        tweak: Box::new(|c| c.control_frames = 1),
        ..Options::default()
    });
    let mut client = RawPeer::connect(server.port, "");
    client.send(9, b"are you there");
    client.send(10, b"unsolicited");
    assert_eq!(
        client.read().unwrap(),
        (true, 10, b"are you there".to_vec())
    );
    server.wait_for(
        5,
        "ping event",
        |e| matches!(e, Ev::Msg { opcode: 9, data, .. } if data == b"are you there"),
    );
    server.wait_for(
        5,
        "pong event",
        |e| matches!(e, Ev::Msg { opcode: 10, data, .. } if data == b"unsolicited"),
    );
}
