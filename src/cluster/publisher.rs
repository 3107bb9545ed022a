//! The publisher connection: writes what the host published, in order and pipelined, from
//! a queue bounded in bytes; what a failed connection left unconfirmed counts as dropped.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use smol::channel::Receiver;
use smol::Timer;

use super::connect::{connect, Connection};
use super::{backoff, worth_reporting, Shared, MAX_PIPELINE, MAX_PIPELINE_BYTES, PUBLISHER};
use crate::error::{Error, ErrorKind};
use crate::event::EventSink;
use crate::resp::Value;

/// The publisher connection's task: writes queued publishes in order, pipelined.
pub(super) async fn publisher<C>(
    shared: Arc<Shared>,
    queue: Receiver<Vec<u8>>,
    sink: EventSink<C>,
) {
    let mut failures = 0;
    let mut reported = 0;
    loop {
        let error = match connect(&shared).await {
            Ok(mut conn) => {
                failures = 0;
                shared.up[PUBLISHER].store(true, Ordering::Relaxed);
                let published =
                    publish_queued(&shared, &mut conn, &queue, &sink, &mut reported).await;
                shared.up[PUBLISHER].store(false, Ordering::Relaxed);
                match published {
                    Some(error) => error,
                    None => return,
                }
            }
            Err(error) => error,
        };
        if worth_reporting(failures) {
            shared.report(&sink, "publisher", &error);
        }
        shared.report_dropped(&sink, &mut reported);
        Timer::after(backoff(failures)).await;
        failures = failures.saturating_add(1);
    }
}

/// Publishes until the connection fails (the error) or the app is gone (`None`).
async fn publish_queued<C>(
    shared: &Shared,
    conn: &mut Connection,
    queue: &Receiver<Vec<u8>>,
    sink: &EventSink<C>,
    reported: &mut u64,
) -> Option<Error> {
    loop {
        // A quiet publisher checks that Redis is still there.
        let idle = async {
            Timer::after(shared.timeout).await;
            Ok(None)
        };
        let mut batch = match smol::future::or(async { queue.recv().await.map(Some) }, idle).await {
            Ok(Some(batch)) => batch,
            Ok(None) => match conn.ping().await {
                Ok(()) => continue,
                Err(e) => return Some(e),
            },
            Err(_) => return None,
        };
        shared.queued.fetch_sub(batch.len(), Ordering::AcqRel);
        let mut count = 1;
        while count < MAX_PIPELINE && batch.len() < MAX_PIPELINE_BYTES {
            let Ok(more) = queue.try_recv() else { break };
            shared.queued.fetch_sub(more.len(), Ordering::AcqRel);
            batch.extend_from_slice(&more);
            count += 1;
        }
        if let Err(e) = conn.write(&batch).await {
            shared.dropped.fetch_add(count as u64, Ordering::Relaxed);
            return Some(e);
        }
        for confirmed in 0..count {
            match conn.next().await {
                Ok(Value::Error(text)) => {
                    let error = Error::new(ErrorKind::Io, String::from_utf8_lossy(&text));
                    shared.report(sink, "publisher", &error);
                }
                Ok(_) => {}
                Err(e) => {
                    shared
                        .dropped
                        .fetch_add((count - confirmed) as u64, Ordering::Relaxed);
                    return Some(e);
                }
            }
        }
        shared.report_dropped(sink, reported);
    }
}
