//! Limits and bad data: a decompression bomb, corrupt deflate data, invalid text, final
//! blocks and empty messages.

use super::*;

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

#[test]
fn a_decompression_bomb_closes_with_1009_without_inflating_it() {
    // 64 MiB of zeros deflate to about 64 KiB: far below every frame limit.
    let zeros = vec![0u8; 64 << 20];
    let bomb = compress_alone(&zeros);
    assert!(bomb.len() < 100 << 10, "{} bytes", bomb.len());
    let one_mib = vec![0u8; 1 << 20];
    for mode in ["shared", "dedicated"] {
        let config = format!("{{ compression = \"{mode}\", max_message_size = 1024 * 1024 }}");
        let s = LuaEcho::start(&config);
        // Warm up: exactly max_message_size once inflated is delivered (and echoed).
        let mut c = open(s.port, "permessage-deflate");
        send_compressed(&mut c, 2, &compress_alone(&one_mib));
        let (_, got) = read_message(&mut c, &mut PeerInflater::new(true), mode);
        assert!(got == one_mib, "{mode}: 1 MiB exactly is echoed");
        let before = vm_kib(s.pid(), "VmHWM:");
        // One byte more is too much.
        let mut over = one_mib.clone();
        over.push(0);
        send_compressed(&mut c, 2, &compress_alone(&over));
        expect_close(&mut c, 1009, "1 MiB + 1 once inflated");
        // The bomb, whole and in fragments.
        let mut c = open(s.port, "permessage-deflate");
        send_compressed(&mut c, 2, &bomb);
        expect_close(&mut c, 1009, "64 MiB of zeros in one frame");
        let mut c = open(s.port, "permessage-deflate");
        send_fragmented(&mut c, 1, &split(&bomb, 8));
        expect_close(&mut c, 1009, "64 MiB of zeros in 8 fragments");
        let after = vm_kib(s.pid(), "VmHWM:");
        assert!(
            after < before + 4 * 1024,
            "{mode}: peak RSS grew by {} KiB for 64 MiB bombs",
            after.saturating_sub(before)
        );
    }
}

#[test]
fn corrupt_data_and_invalid_text_close_with_1007() {
    for config in [SHARED, DEDICATED] {
        let s = LuaEcho::start(config);
        let invalid = compress_alone(b"ok \xff\xfe not utf-8");
        let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "block type 3",
                vec![encode_frame(true, RSV1, 2, &[0xff; 8], MASK)],
            ),
            (
                "stored block with a bad length check",
                vec![encode_frame(
                    true,
                    RSV1,
                    2,
                    &[0x00, 5, 0, 5, 0, 1, 2, 3, 4, 5],
                    MASK,
                )],
            ),
            (
                "bytes after the final block",
                vec![encode_frame(
                    true,
                    RSV1,
                    2,
                    &[
                        PeerDeflater::new(15, false).compress_final(b"end"),
                        b"junk".to_vec(),
                    ]
                    .concat(),
                    MASK,
                )],
            ),
            (
                "compressed text that inflates to invalid UTF-8",
                vec![encode_frame(true, RSV1, 1, &invalid, MASK)],
            ),
            (
                "the same in fragments",
                vec![
                    encode_frame(false, RSV1, 1, &invalid[..4], MASK),
                    encode_frame(true, 0, 0, &invalid[4..], MASK),
                ],
            ),
            (
                "plain text with a sequence broken across fragments",
                vec![
                    encode_frame(false, 0, 1, b"caf\xc3", MASK),
                    encode_frame(true, 0, 0, b"(", MASK),
                ],
            ),
        ];
        for (case, frames) in cases {
            let mut c = open(s.port, "permessage-deflate");
            for f in frames {
                c.stream.write_all(&f).unwrap();
            }
            expect_close(&mut c, 1007, &format!("{config}: {case}"));
        }
        // The same bytes as BINARY are fine, and so is a sequence split across plain
        // fragments.
        let mut c = open(s.port, "permessage-deflate");
        send_compressed(&mut c, 2, &invalid);
        let (_, got) = read_message(&mut c, &mut PeerInflater::new(true), "binary");
        assert_eq!(got, b"ok \xff\xfe not utf-8");
        c.frame(false, 0, 1, "caf\u{e9}".as_bytes().split_at(4).0, MASK);
        c.frame(true, 0, 0, "caf\u{e9}".as_bytes().split_at(4).1, MASK);
        let (_, got) = read_message(&mut c, &mut PeerInflater::new(true), "split");
        assert_eq!(got, "caf\u{e9}".as_bytes());
    }
}

#[test]
fn final_blocks_and_empty_messages_are_accepted() {
    for (config, context) in [(SHARED, false), (DEDICATED, true)] {
        let s = LuaEcho::start(config);
        let mut c = open(s.port, "permessage-deflate; client_max_window_bits");
        let mut ours = PeerDeflater::new(12, context);
        let mut theirs = StrictInflater::new(15, context);
        // A message that ends the deflate stream (§7.2.3.4), then one with a new stream.
        let first = json_message(1, 1500);
        send_compressed(&mut c, 1, &ours.compress_final(&first));
        assert!(read_message(&mut c, &mut theirs, "final block").1 == first);
        let second = json_message(2, 1500);
        send_compressed(&mut c, 1, &ours.compress(&second));
        assert!(read_message(&mut c, &mut theirs, "after a final block").1 == second);
        // An empty message as the single 0x00 byte (§7.2.3.6), and compressed normally.
        send_compressed(&mut c, 1, &[0x00]);
        assert_eq!(read_message(&mut c, &mut theirs, "0x00").1, b"");
        send_compressed(&mut c, 2, &ours.compress(b""));
        assert_eq!(read_message(&mut c, &mut theirs, "empty").1, b"");
        let third = json_message(3, 1500);
        send_compressed(&mut c, 1, &ours.compress(&third));
        assert!(read_message(&mut c, &mut theirs, "after empties").1 == third);
    }
}
