//! Clients for ordinary traffic: tungstenite's (`ws_connect`) and luna's own client app
//! (`TestClient`), driven from the test thread.

use std::ffi::CString;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use luna::ffi::LunaResult;
use luna::ffi::*;

use super::{app_ptr, copy_event, empty_event, last_error, Ev};

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
