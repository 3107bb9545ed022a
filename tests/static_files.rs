//! Static files read off the I/O thread: small files are kept after their first read and a
//! changed file is served afresh (same length or not); large files stream whole.
mod common;

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn get(port: u16, path: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    out.split_off(split)
}

#[test]
fn a_changed_file_is_served_afresh_and_large_files_stream_whole() {
    let dir = std::env::temp_dir().join(format!("luna-static-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a.txt");
    std::fs::write(&file, "one").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    let root = CString::new(dir.to_str().unwrap()).unwrap();
    let server = TestServer::start(Options {
        tweak: Box::new(move |c| c.static_root = root.as_ptr()),
        ..Options::default()
    });
    assert_eq!(get(server.port, "/a.txt"), b"one");
    assert_eq!(get(server.port, "/a.txt"), b"one", "kept");
    std::fs::write(&file, "two!").unwrap();
    assert_eq!(get(server.port, "/a.txt"), b"two!", "a new length");
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&file, "tw0!").unwrap();
    assert_eq!(
        get(server.port, "/a.txt"),
        b"tw0!",
        "the same length, a new time"
    );
    assert_eq!(get(server.port, "/big.bin"), big);
    let _ = std::fs::remove_dir_all(&dir);
}
