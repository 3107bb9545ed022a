//! Topics through the C ABI on a `TestServer`: subscribe, unsubscribe and publish, each
//! returning luna's result with its out-value, and `ok` for callers that expect success.

use luna::ffi::LunaResult;
use luna::ffi::*;

use super::{app_ptr, last_error, TestServer};

/// Fails the test with luna's last error unless `rc` is OK; returns the out-value.
pub fn ok<T>((rc, out): (LunaResult, T)) -> T {
    assert_eq!(rc, LunaResult::Ok, "{}", last_error());
    out
}

impl TestServer {
    /// Subscribes connection `conn` to `topic`; the flag tells whether it was new (starts at
    /// 9 so a call that never writes it shows).
    pub fn subscribe(&self, conn: u64, topic: &[u8]) -> (LunaResult, u8) {
        let mut changed = 9u8;
        let rc = luna_conn_subscribe(
            app_ptr(self.app),
            conn,
            topic.as_ptr(),
            topic.len(),
            &mut changed,
        );
        (rc, changed)
    }

    /// Unsubscribes connection `conn` from `topic`; the flag as for `subscribe`.
    pub fn unsubscribe(&self, conn: u64, topic: &[u8]) -> (LunaResult, u8) {
        let mut changed = 9u8;
        let rc = luna_conn_unsubscribe(
            app_ptr(self.app),
            conn,
            topic.as_ptr(),
            topic.len(),
            &mut changed,
        );
        (rc, changed)
    }

    /// Publishes `data` on `topic` from the app; returns how many local subscribers got it.
    pub fn publish(&self, topic: &[u8], data: &[u8], opcode: u32) -> (LunaResult, usize) {
        let mut n = usize::MAX;
        let rc = luna_app_publish(
            app_ptr(self.app),
            topic.as_ptr(),
            topic.len(),
            data.as_ptr(),
            data.len(),
            opcode,
            &mut n,
        );
        (rc, n)
    }

    /// Publishes a text from connection `conn`, which does not get it back.
    pub fn publish_from(&self, conn: u64, topic: &[u8], data: &[u8]) -> (LunaResult, usize) {
        let mut n = usize::MAX;
        let rc = luna_conn_publish(
            app_ptr(self.app),
            conn,
            topic.as_ptr(),
            topic.len(),
            data.as_ptr(),
            data.len(),
            1,
            &mut n,
        );
        (rc, n)
    }
}
