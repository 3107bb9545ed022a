//! Shared helpers for the C ABI tests: a host thread that drives a server app through the
//! exported functions, and raw-socket WebSocket clients for well-formed and hostile traffic.
#![allow(dead_code)]

#[cfg(feature = "tls")]
pub mod certs;
pub mod redis;

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use luna::ffi::LunaResult;
use luna::ffi::*;
use luna::ffi::{LunaEvent, LunaEventKind};
use parking_lot::Mutex;

/// An event copied out of the poll buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    Open {
        conn: u64,
        protocol: String,
        peer: String,
        port: u16,
    },
    Msg {
        conn: u64,
        opcode: u32,
        data: Vec<u8>,
    },
    Close {
        conn: u64,
        code: u32,
        reason: String,
        clean: bool,
    },
    Error {
        conn: u64,
        code: u32,
        message: String,
        http_status: u16,
    },
    Upgrade {
        conn: u64,
        target: String,
        peer: String,
    },
    Http {
        conn: u64,
        body: Vec<u8>,
    },
    Log {
        line: String,
    },
}

fn bytes_of(ptr: *const u8, len: usize) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    // SAFETY: luna guarantees `len` bytes at `ptr` until the next poll of this app.
    unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
}

pub fn copy_event(ev: &LunaEvent) -> Ev {
    let text = |p, l| String::from_utf8(bytes_of(p, l)).expect("utf-8 text in event");
    match ev.kind {
        LunaEventKind::Open => Ev::Open {
            conn: ev.conn,
            protocol: text(ev.data, ev.len),
            peer: text(ev.peer, ev.peer_len),
            port: ev.peer_port,
        },
        LunaEventKind::Message => Ev::Msg {
            conn: ev.conn,
            opcode: ev.opcode,
            data: bytes_of(ev.data, ev.len),
        },
        LunaEventKind::Close => Ev::Close {
            conn: ev.conn,
            code: ev.code,
            reason: text(ev.data, ev.len),
            clean: ev.was_clean != 0,
        },
        LunaEventKind::Error => Ev::Error {
            conn: ev.conn,
            code: ev.code,
            message: text(ev.data, ev.len),
            http_status: ev.http_status,
        },
        LunaEventKind::Http => Ev::Http {
            conn: ev.conn,
            body: bytes_of(ev.data, ev.len),
        },
        LunaEventKind::Upgrade => Ev::Upgrade {
            conn: ev.conn,
            target: text(ev.data, ev.len),
            peer: text(ev.peer, ev.peer_len),
        },
        LunaEventKind::Log => Ev::Log {
            line: text(ev.data, ev.len),
        },
    }
}

pub fn last_error() -> String {
    // SAFETY: luna_last_error never returns NULL and the string lives until the next failure.
    unsafe { std::ffi::CStr::from_ptr(luna_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Server options the tests vary.
pub struct Options {
    pub protocols: Vec<&'static str>,
    pub has_default: bool,
    pub echo: bool,
    pub tweak: Box<dyn Fn(&mut LunaServerConfig)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            protocols: vec![],
            has_default: true,
            echo: true,
            tweak: Box::new(|_| {}),
        }
    }
}

/// A server app on 127.0.0.1:0 with a host thread that polls it (and echoes when asked).
pub struct TestServer {
    pub app: usize,
    pub port: u16,
    pub events: Arc<Mutex<Vec<Ev>>>,
    running: Arc<AtomicBool>,
    host: Option<JoinHandle<()>>,
}

pub fn app_ptr(app: usize) -> *mut LunaApp {
    app as *mut LunaApp
}

impl TestServer {
    pub fn start(options: Options) -> TestServer {
        Self::start_on("127.0.0.1", options)
    }

    pub fn start_on(host: &str, options: Options) -> TestServer {
        let host = CString::new(host).unwrap();
        let names: Vec<CString> = options
            .protocols
            .iter()
            .map(|p| CString::new(*p).unwrap())
            .collect();
        let ptrs: Vec<*const std::ffi::c_char> = names.iter().map(|n| n.as_ptr()).collect();
        // SAFETY: LunaServerConfig is plain data; luna_server_config_default fills every field.
        let mut config: LunaServerConfig = unsafe { std::mem::zeroed() };
        assert_eq!(luna_server_config_default(&mut config), LunaResult::Ok);
        config.host = host.as_ptr();
        config.port = 0;
        config.protocols = ptrs.as_ptr();
        config.protocol_count = ptrs.len();
        config.has_default = u8::from(options.has_default);
        (options.tweak)(&mut config);
        let app = luna_server_new(&config);
        assert!(!app.is_null(), "luna_server_new failed: {}", last_error());
        let mut port = 0u16;
        assert_eq!(luna_app_port(app, &mut port), LunaResult::Ok);
        let events = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(AtomicBool::new(true));
        let host = {
            let (events, running, app, echo) =
                (events.clone(), running.clone(), app as usize, options.echo);
            std::thread::spawn(move || host_loop(app, echo, &events, &running))
        };
        TestServer {
            app: app as usize,
            port,
            events,
            running,
            host: Some(host),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    pub fn snapshot(&self) -> Vec<Ev> {
        self.events.lock().clone()
    }

    /// Waits until an event matches `pred`, failing the test after `secs`.
    pub fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&Ev) -> bool) -> Ev {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(ev) = self.events.lock().iter().find(|e| pred(e)) {
                return ev.clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; events: {:?}",
                self.summary()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until `cond` holds, failing the test after `secs`.
    pub fn wait_until(&self, secs: u64, what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; events: {:?}",
                self.summary()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn count(&self, pred: impl Fn(&Ev) -> bool) -> usize {
        self.events.lock().iter().filter(|e| pred(e)).count()
    }

    fn summary(&self) -> Vec<String> {
        self.events
            .lock()
            .iter()
            .rev()
            .take(20)
            .map(|e| match e {
                Ev::Msg { conn, opcode, data } => {
                    format!("Msg{{conn {conn}, op {opcode}, {} bytes}}", data.len())
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// Stops the host thread, then the app (polling its final events), then frees it.
    pub fn stop_and_free(mut self) -> Vec<Ev> {
        self.halt_host();
        assert_eq!(luna_app_stop(app_ptr(self.app)), LunaResult::Ok);
        drain(self.app, &self.events);
        assert_eq!(luna_app_free(app_ptr(self.app)), LunaResult::Ok);
        self.app = 0;
        self.snapshot()
    }

    fn halt_host(&mut self) {
        self.running.store(false, Ordering::Release);
        if let Some(h) = self.host.take() {
            h.join().expect("host thread");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.halt_host();
        if self.app != 0 {
            luna_app_free(app_ptr(self.app));
        }
    }
}

fn drain(app: usize, events: &Mutex<Vec<Ev>>) -> usize {
    let mut buf = vec![empty_event(); 256];
    let mut total = 0;
    loop {
        let mut n = 0usize;
        assert_eq!(
            luna_app_poll(app_ptr(app), buf.as_mut_ptr(), buf.len(), &mut n),
            LunaResult::Ok
        );
        if n == 0 {
            return total;
        }
        total += n;
        events.lock().extend(buf[..n].iter().map(copy_event));
    }
}

pub fn empty_event() -> LunaEvent {
    LunaEvent::default()
}

fn host_loop(app: usize, echo: bool, events: &Mutex<Vec<Ev>>, running: &AtomicBool) {
    let mut buf = vec![empty_event(); 256];
    while running.load(Ordering::Acquire) {
        let waited = luna_app_wait(app_ptr(app), 5);
        assert!(
            matches!(waited, LunaResult::Ok | LunaResult::Timeout),
            "wait: {}",
            last_error()
        );
        let mut n = 0usize;
        assert_eq!(
            luna_app_poll(app_ptr(app), buf.as_mut_ptr(), buf.len(), &mut n),
            LunaResult::Ok
        );
        for ev in &buf[..n] {
            if echo && ev.kind == LunaEventKind::Message && (ev.opcode == 1 || ev.opcode == 2) {
                let r = luna_conn_send(app_ptr(app), ev.conn, ev.data, ev.len, ev.opcode);
                assert!(
                    matches!(r, LunaResult::Ok | LunaResult::Closed),
                    "echo: {r:?} {}",
                    last_error()
                );
            }
        }
        events.lock().extend(buf[..n].iter().map(copy_event));
    }
}

// ---- raw WebSocket client -------------------------------------------------------------

/// A client speaking raw frames, for traffic a well-behaved library would never send.
pub struct RawClient {
    pub stream: TcpStream,
    pub response: String,
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

impl RawClient {
    /// Connects and sends an upgrade request with `extra` header lines; reads the response head.
    pub fn connect(port: u16, extra: &str) -> RawClient {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let response = read_head(&mut stream);
        RawClient { stream, response }
    }

    pub fn status(&self) -> u32 {
        self.response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.response.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// Sends one frame; `mask` None sends it unmasked (illegal from a client).
    pub fn frame(&mut self, fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
        let bytes = encode_frame(fin, rsv, opcode, payload, mask);
        self.stream.write_all(&bytes).unwrap();
    }

    pub fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.frame(true, 0, opcode, payload, Some([1, 2, 3, 4]));
    }

    /// Reads one frame: (fin, opcode, payload).
    pub fn read(&mut self) -> std::io::Result<(bool, u8, Vec<u8>)> {
        read_frame(&mut self.stream)
    }

    /// Reads frames until a close frame; returns its code (1005 when empty).
    pub fn read_close(&mut self) -> u16 {
        loop {
            let (_, opcode, payload) = self.read().expect("read until close");
            if opcode == 8 {
                return if payload.len() >= 2 {
                    u16::from_be_bytes([payload[0], payload[1]])
                } else {
                    1005
                };
            }
        }
    }

    /// True when the server closed TCP (read returns 0 bytes) within the timeout.
    pub fn tcp_closed(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

pub fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

pub fn encode_frame(
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

pub fn read_frame(stream: &mut TcpStream) -> std::io::Result<(bool, u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    let fin = head[0] & 0x80 != 0;
    let opcode = head[0] & 0x0F;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b)?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b)?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    assert!(!masked, "server frames must not be masked");
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    Ok((fin, opcode, payload))
}

/// A frame as read off the wire, reserved bits included.
#[derive(Debug, Clone, PartialEq)]
pub struct WireFrame {
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as the three low bits (RSV1 = 0b100).
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    /// Unmasked.
    pub payload: Vec<u8>,
    /// Every byte of the frame as it came.
    pub raw: Vec<u8>,
}

/// Reads one frame, masked or not, keeping its reserved bits and raw bytes.
pub fn read_wire_frame(stream: &mut TcpStream) -> std::io::Result<WireFrame> {
    let mut raw = vec![0u8; 2];
    stream.read_exact(&mut raw)?;
    let extra = match raw[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mut more = vec![0u8; extra];
    stream.read_exact(&mut more)?;
    raw.extend_from_slice(&more);
    let len = match extra {
        2 => u16::from_be_bytes([more[0], more[1]]) as usize,
        8 => u64::from_be_bytes(more[..8].try_into().unwrap()) as usize,
        _ => (raw[1] & 0x7F) as usize,
    };
    let mask = if raw[1] & 0x80 != 0 {
        let mut m = [0u8; 4];
        stream.read_exact(&mut m)?;
        raw.extend_from_slice(&m);
        Some(m)
    } else {
        None
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    raw.extend_from_slice(&payload);
    if let Some(m) = mask {
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= m[i % 4]);
    }
    Ok(WireFrame {
        fin: raw[0] & 0x80 != 0,
        rsv: (raw[0] >> 4) & 0b111,
        opcode: raw[0] & 0x0F,
        mask,
        payload,
        raw,
    })
}

/// A well-behaved client (tungstenite's), for ordinary traffic.
pub type WsClient = async_tungstenite::tungstenite::WebSocket<
    async_tungstenite::tungstenite::stream::MaybeTlsStream<TcpStream>,
>;

pub fn ws_connect(url: &str, protocols: &[&str]) -> WsClient {
    use async_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().unwrap();
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            protocols.join(", ").parse().unwrap(),
        );
    }
    let (ws, _) = async_tungstenite::tungstenite::connect(request).expect("client connect");
    if let async_tungstenite::tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    ws
}

// ---- luna client apps ------------------------------------------------------------------

/// A luna client app driven from the test thread.
pub struct TestClient {
    pub app: usize,
    pub conn: u64,
    pub events: Vec<Ev>,
}

impl TestClient {
    pub fn connect(url: &str, tweak: impl FnOnce(&mut LunaClientConfig)) -> TestClient {
        let url = CString::new(url).unwrap();
        // SAFETY: plain data, filled by luna_client_config_default.
        let mut config: LunaClientConfig = unsafe { std::mem::zeroed() };
        assert_eq!(luna_client_config_default(&mut config), LunaResult::Ok);
        config.url = url.as_ptr();
        tweak(&mut config);
        let mut conn = 0u64;
        let app = luna_client_connect(&config, &mut conn);
        assert!(!app.is_null(), "luna_client_connect: {}", last_error());
        TestClient {
            app: app as usize,
            conn,
            events: Vec::new(),
        }
    }

    /// Polls until `pred` holds for the events so far, failing after `secs`.
    pub fn until(&mut self, secs: u64, what: &str, pred: impl Fn(&[Ev]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut buf = vec![empty_event(); 64];
        while !pred(&self.events) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                self.brief()
            );
            luna_app_wait(app_ptr(self.app), 10);
            let mut n = 0usize;
            assert_eq!(
                luna_app_poll(app_ptr(self.app), buf.as_mut_ptr(), buf.len(), &mut n),
                LunaResult::Ok
            );
            self.events.extend(buf[..n].iter().map(copy_event));
        }
    }

    pub fn send(&self, data: &[u8], opcode: u32) -> LunaResult {
        luna_conn_send(
            app_ptr(self.app),
            self.conn,
            data.as_ptr(),
            data.len(),
            opcode,
        )
    }

    pub fn brief(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| match e {
                Ev::Msg { opcode, data, .. } => format!("Msg(op {opcode}, {} bytes)", data.len()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    pub fn opened(events: &[Ev]) -> bool {
        events.iter().any(|e| matches!(e, Ev::Open { .. }))
    }

    pub fn closed(events: &[Ev]) -> bool {
        events.iter().any(|e| matches!(e, Ev::Close { .. }))
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        luna_app_free(app_ptr(self.app));
    }
}

pub mod deflate;
pub mod lua_echo;

/// This process's resident memory (`VmRSS`) in KiB.
pub fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Writes `frame` over and over (in 500-frame writes, each given 2 s) until `limit` bytes
/// went out or the peer stops reading; returns how many bytes went out.
pub fn flood(stream: &mut TcpStream, frame: &[u8], limit: usize) -> usize {
    let chunk: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * 500)
        .collect();
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut sent = 0usize;
    while sent < limit {
        match stream.write(&chunk[sent % chunk.len()..]) {
            Ok(n) => sent += n,
            Err(_) => break, // the peer stopped reading
        }
    }
    sent
}

/// Accepts the one client `listener` gets (10 s at most) and reads its opening request;
/// returns the socket (10 s read timeout), the request head and its Sec-WebSocket-Key.
pub fn accept_upgrade(listener: &std::net::TcpListener) -> (TcpStream, String, String) {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("the client never connected: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = read_head(&mut stream);
    let key = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_string())
        })
        .expect("request has a key");
    (stream, head, key)
}
