//! Everything a connection sends goes through its `SendPath`, and every app's sends through
//! its `HostBatch`: together they are the one place that decides who writes a frame (the
//! host now, the host at the end of the batch it is handling, or the I/O thread) and that
//! nothing of ours follows a close frame. How many bytes may wait is the connection's
//! `SendBudget` (`send_budget.rs`), which the wire counts into too.
//!
//! A message takes four steps: it is checked and encoded once (`encode.rs`, by luna's codec),
//! admitted against the budget, routed to the wire or the outbox, and written (`path.rs`).
//! Plain-TCP connections have a `Wire` the host writes encoded frames to itself (SPEC §7
//! "direct write"); TLS connections queue them in the outbox for their writer task
//! (`writer.rs`). Frames wait in the outbox too whenever something queued before them must
//! go first.

mod batch;
mod close;
mod encode;
mod path;
mod writer;

pub(crate) use batch::HostBatch;
pub(crate) use encode::{check_close, Broadcast, Deflate};
pub(crate) use path::SendPath;
