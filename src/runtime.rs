//! The private executor that runs every listener and connection of every app.

use std::future::Future;
use std::sync::OnceLock;

use smol::{Executor, Task};

static EXECUTOR: OnceLock<Executor<'static>> = OnceLock::new();

/// The shared executor, with its threads started on first use.
fn executor() -> &'static Executor<'static> {
    let mut started = false;
    let ex = EXECUTOR.get_or_init(|| {
        started = true;
        Executor::new()
    });
    if started {
        for n in 0..io_thread_count() {
            std::thread::Builder::new()
                .name(format!("luna-io-{n}"))
                .spawn(move || run_forever(ex))
                .expect("spawn luna I/O thread");
        }
    }
    ex
}

/// One I/O thread is the measured best default on small machines (a second one added
/// wake-up latency and no throughput); `LUNA_IO_THREADS` overrides it.
fn io_thread_count() -> usize {
    std::env::var("LUNA_IO_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| (1..=64).contains(&n))
        .unwrap_or(1)
}

/// Runs tasks until the process ends; a panicking task does not take the thread down.
fn run_forever(ex: &'static Executor<'static>) {
    loop {
        let run = std::panic::catch_unwind(|| {
            smol::block_on(ex.run(smol::future::pending::<()>()));
        });
        if run.is_err() {
            eprintln!("luna: an I/O task panicked; the thread carries on");
        }
    }
}

/// Runs `future` on the I/O threads.
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    executor().spawn(future)
}
