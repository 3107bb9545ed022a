//! `TestServer`: a server app on 127.0.0.1:0 with a host thread that polls it, keeps every
//! event, and echoes messages when asked.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use luna::ffi::LunaEventKind;
use luna::ffi::LunaResult;
use luna::ffi::*;
use parking_lot::Mutex;

use super::{app_ptr, copy_event, empty_event, last_error, Ev, RawPeer};

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

    /// How many connections opened so far (OPEN events seen).
    pub fn opens(&self) -> usize {
        self.count(|e| matches!(e, Ev::Open { .. }))
    }

    /// The ids of the connections opened so far, in the order they opened.
    pub fn open_ids(&self) -> Vec<u64> {
        self.events
            .lock()
            .iter()
            .filter_map(|e| match e {
                Ev::Open { conn, .. } => Some(*conn),
                _ => None,
            })
            .collect()
    }

    /// Connects a raw client, waits for its OPEN and returns it with its connection id.
    pub fn join(&self) -> (RawPeer, u64) {
        let before = self.opens();
        let client = RawPeer::connect(self.port, "");
        assert_eq!(client.status(), 101);
        self.wait_until(5, "open", || self.opens() > before);
        (client, self.open_ids()[before])
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
        assert!(
            n <= buf.len(),
            "a poll returned {n} events for {} slots",
            buf.len()
        );
        if n == 0 {
            return total;
        }
        total += n;
        events.lock().extend(buf[..n].iter().map(copy_event));
    }
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
        assert!(
            n <= buf.len(),
            "a poll returned {n} events for {} slots",
            buf.len()
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
