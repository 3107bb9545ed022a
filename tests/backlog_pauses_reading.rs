//! A host that stops polling does not make luna buffer without bound: past the app's
//! backlog limit connections stop reading, TCP pushes back on the peer, and once the host
//! polls again every message arrives, in order.
mod common;

use std::ffi::CString;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use luna::ffi::LunaResult;
use luna::ffi::DEFAULT_BACKLOG_LIMIT;
use luna::ffi::*;
use luna::ffi::{LunaEvent, LunaEventKind};

const FRAME: usize = 1 << 20;
const FRAMES: usize = 100;

#[test]
fn reading_pauses_while_the_host_is_behind() {
    let host = CString::new("127.0.0.1").unwrap();
    let mut config = LunaServerConfig::default_for_tests();
    config.host = host.as_ptr();
    let app = luna_server_new(&config);
    assert!(!app.is_null(), "{}", last_error());
    let mut port = 0;
    luna_app_port(app, &mut port);

    let sent = Arc::new(AtomicUsize::new(0));
    let writer = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            let mut c = RawPeer::connect(port, "");
            let payload = vec![0x5au8; FRAME];
            for i in 0..FRAMES {
                let mut frame = encode_frame(true, 0, 2, &payload, Some([1, 2, 3, 4]));
                // The last payload byte numbers the frame (masked with the key's byte 4).
                let end = frame.len() - 1;
                frame[end] = i as u8 ^ 4;
                c.stream.write_all(&frame).unwrap();
                sent.store(i + 1, Ordering::Release);
            }
            c
        })
    };
    // Without polling, the writer gets stuck somewhere past the backlog limit.
    let mut last = usize::MAX;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = sent.load(Ordering::Acquire);
        if now == last {
            break;
        }
        assert!(Instant::now() < deadline, "the writer never stalled");
        last = now;
    }
    assert!(
        last < FRAMES,
        "all {FRAMES} MiB were accepted although nobody polled"
    );
    assert!(
        last * FRAME >= DEFAULT_BACKLOG_LIMIT / 2,
        "stalled too early: {last} MiB"
    );

    // Polling again lets everything through, in order.
    let mut events = vec![LunaEvent::default(); 64];
    let mut got = 0usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    while got < FRAMES {
        assert!(Instant::now() < deadline, "only {got} messages arrived");
        luna_app_wait(app, 50);
        let mut n = 0;
        assert_eq!(
            luna_app_poll(app, events.as_mut_ptr(), events.len(), &mut n),
            LunaResult::Ok
        );
        for ev in &events[..n] {
            if ev.kind == LunaEventKind::Message {
                assert_eq!(ev.len, FRAME);
                // SAFETY: luna guarantees `len` bytes at `data` until the next poll.
                let last_byte = unsafe { *ev.data.add(ev.len - 1) };
                assert_eq!(last_byte, got as u8, "message {got} out of order");
                got += 1;
            }
        }
    }
    drop(writer.join().unwrap());
    assert_eq!(luna_app_free(app), LunaResult::Ok);
}

trait TestDefault {
    fn default_for_tests() -> Self;
}

impl TestDefault for LunaServerConfig {
    fn default_for_tests() -> Self {
        // SAFETY: plain data, filled by luna_server_config_default.
        let mut config: LunaServerConfig = unsafe { std::mem::zeroed() };
        assert_eq!(luna_server_config_default(&mut config), LunaResult::Ok);
        config
    }
}
