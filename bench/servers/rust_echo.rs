//! The ceiling for `make bench`: a WebSocket echo server on luna's own stack (smol +
//! async-tungstenite) with the settings SPEC §7 measured best, and without luna.
//!
//! usage: luna-bench-rust-echo PORT   (0 picks a free port; prints "ready PORT")
//!
//! Connections asking for the subprotocol "broadcast" are a broadcast group: each message
//! one of them sends goes to all of them. Every other connection is echoed.
//! `BENCH_RUST_THREADS` sets the executor threads (default 1, like luna's I/O threads).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_util::{FutureExt, SinkExt, StreamExt};
use smol::{Async, Executor};

type Ws = WebSocketStream<Async<TcpStream>>;
type Group = Arc<Mutex<HashMap<u64, smol::channel::Sender<Message>>>>;

static EX: Executor<'static> = Executor::new();

const BROADCAST: &str = "broadcast";

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let threads: usize = std::env::var("BENCH_RUST_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).expect("bind");
    let listener = Async::new(listener).expect("non-blocking listener");
    println!("ready {}", listener.get_ref().local_addr().unwrap().port());

    for _ in 1..threads {
        std::thread::spawn(|| smol::block_on(EX.run(smol::future::pending::<()>())));
    }
    let group: Group = Arc::default();
    let next_id = AtomicU64::new(1);
    smol::block_on(EX.run(async {
        loop {
            // Accept the next connection and serve it on its own task.
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.get_ref().set_nodelay(true);
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            EX.spawn(serve(stream, id, group.clone())).detach();
        }
    }));
}

/// 4 KiB read buffer (tungstenite's 128 KiB default is zero-filled per read and costs
/// ~128 KiB per connection); frames collect in the write buffer until the batch flushes.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(64 << 10)
}

// tungstenite's handshake callback fixes the (large) error type.
#[allow(clippy::result_large_err)]
async fn serve(stream: Async<TcpStream>, id: u64, group: Group) {
    let mut broadcast = false;
    let pick = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let asked = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == BROADCAST);
        if asked {
            resp.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static(BROADCAST),
            );
            broadcast = true;
        }
        Ok(resp)
    };
    let Ok(ws) =
        async_tungstenite::accept_hdr_async_with_config(stream, pick, Some(config())).await
    else {
        return;
    };
    if broadcast {
        serve_broadcast(ws, id, group).await;
    } else {
        echo(ws).await;
    }
}

/// Echoes every data message; feeds all that is already readable, then flushes once.
async fn echo(mut ws: Ws) {
    while let Some(Ok(msg)) = ws.next().await {
        if feed(&mut ws, msg).await.is_err() {
            return;
        }
        while let Some(Some(Ok(msg))) = ws.next().now_or_never() {
            if feed(&mut ws, msg).await.is_err() {
                return;
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

async fn feed(ws: &mut Ws, msg: Message) -> Result<(), ()> {
    match msg {
        Message::Text(_) | Message::Binary(_) => ws.feed(msg).await.map_err(|_| ()),
        _ => Ok(()),
    }
}

/// Joins the broadcast group: a writer task drains this connection's queue (one flush per
/// batch) while the reader sends each message to every member (payload shared, not copied).
async fn serve_broadcast(ws: Ws, id: u64, group: Group) {
    let (mut sink, mut stream) = ws.split();
    let (tx, rx) = smol::channel::bounded::<Message>(1024);
    group.lock().unwrap().insert(id, tx);
    let writer = EX.spawn(async move {
        while let Ok(msg) = rx.recv().await {
            if sink.feed(msg).await.is_err() {
                return;
            }
            while let Ok(msg) = rx.try_recv() {
                if sink.feed(msg).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            let members: Vec<_> = group.lock().unwrap().values().cloned().collect();
            for member in members {
                let _ = member.try_send(msg.clone());
            }
        }
    }
    group.lock().unwrap().remove(&id);
    writer.cancel().await;
}
