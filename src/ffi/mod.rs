//! The C ABI. Every exported function is a thin wrapper: a panic boundary, argument checks
//! that return error codes, then one call into safe Rust. All `unsafe` code of the crate
//! lives in this module.

// C callers cannot see `unsafe`: each function documents the pointers it reads or writes
// and checks them for NULL, like any C API.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod app;
mod client;
mod clock;
mod conn;
mod event;
mod result;
mod server;
mod server_config;
mod signal;
mod upgrade;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

use crate::app::App;
use crate::error::{Error, ErrorKind, Result};
use crate::id_hash::IdBuild;

pub use app::*;
pub use client::*;
pub use clock::*;
pub use conn::*;
pub use event::{LunaEvent, LunaEventKind, LunaOpcode};
pub use result::LunaResult;
pub use server::*;
pub use signal::*;
pub use upgrade::*;

/// Undelivered message bytes per app before its connections pause reading (for tests; the
/// C API documents the figure on `luna_app_poll`).
pub const DEFAULT_BACKLOG_LIMIT: usize = crate::backlog::DEFAULT_BACKLOG_LIMIT;

/// An app: a server or a client. Opaque; created by `luna_server_new` or
/// `luna_client_connect`, released by `luna_app_free`.
pub struct LunaApp {
    _private: [u8; 0],
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    static LAST_RESULT: Cell<LunaResult> = const { Cell::new(LunaResult::Ok) };
}

fn set_last_error(code: LunaResult, message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = text);
    LAST_RESULT.with(|slot| slot.set(code));
}

/// Runs `f` behind the panic boundary and turns its outcome into a result code.
fn guard(f: impl FnOnce() -> Result<()>) -> LunaResult {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => LunaResult::Ok,
        Ok(Err(err)) => {
            let code = LunaResult::from(err.kind);
            set_last_error(code, &err.message);
            code
        }
        Err(panic) => {
            let message = format!("internal error (caught panic): {}", panic_message(&panic));
            set_last_error(LunaResult::Internal, &message);
            LunaResult::Internal
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Live apps by handle. Handles are counters, never addresses, so a freed handle can never
/// alias a newer app; only host threads take this lock.
static APPS: LazyLock<RwLock<HashMap<usize, Arc<App>, IdBuild>>> = LazyLock::new(Default::default);
static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(1);

fn register(app: App) -> *mut LunaApp {
    let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed) << 4;
    APPS.write().insert(handle, Arc::new(app));
    handle as *mut LunaApp
}

fn lookup(handle: *const LunaApp) -> Result<Arc<App>> {
    if handle.is_null() {
        return Err(Error::invalid("app is NULL"));
    }
    APPS.read()
        .get(&(handle as usize))
        .cloned()
        .ok_or_else(|| Error::invalid("not a live app (already freed, or never created)"))
}

/// Runs `f` on the live app `handle` under the table's read lock: for the calls made per
/// message, which would otherwise clone and drop the app's handle each time.
fn with_app<R>(handle: *const LunaApp, f: impl FnOnce(&App) -> Result<R>) -> Result<R> {
    if handle.is_null() {
        return Err(Error::invalid("app is NULL"));
    }
    match APPS.read().get(&(handle as usize)) {
        Some(app) => f(app),
        None => Err(Error::invalid(
            "not a live app (already freed, or never created)",
        )),
    }
}

fn unregister(handle: *const LunaApp) -> Result<Arc<App>> {
    APPS.write()
        .remove(&(handle as usize))
        .ok_or_else(|| Error::invalid("not a live app (already freed, or never created)"))
}

/// Borrows `len` bytes at `ptr`; `ptr` may be NULL when `len` is 0.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes that outlive the returned slice.
unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!("{what} length {len} is too large")));
    }
    // SAFETY: non-NULL, length checked above; the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a NUL-terminated UTF-8 string.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string that outlives the returned str.
unsafe fn c_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL; the caller promises NUL termination.
    let raw = unsafe { CStr::from_ptr(ptr) };
    raw.to_str()
        .map_err(|_| Error::new(ErrorKind::InvalidUtf8, format!("{what} is not valid UTF-8")))
}

/// Reads `count` NUL-terminated strings.
///
/// # Safety
/// `list` must be NULL or point to `count` readable string pointers.
unsafe fn strings(list: *const *const c_char, count: usize, what: &str) -> Result<Vec<String>> {
    if list.is_null() && count > 0 {
        return Err(Error::invalid(format!(
            "{what} is NULL but its count is {count}"
        )));
    }
    let mut out = Vec::with_capacity(count.min(1024));
    for i in 0..count {
        // SAFETY: the caller promises `count` readable string pointers.
        out.push(unsafe { c_str(*list.add(i), what)? }.to_owned());
    }
    Ok(out)
}

/// Reads `count` NUL-terminated strings as bytes, whatever their encoding.
///
/// # Safety
/// `list` must be NULL or point to `count` readable string pointers, each NUL-terminated and
/// outliving the returned slices.
unsafe fn byte_strings<'a>(
    list: *const *const c_char,
    count: usize,
    what: &str,
) -> Result<Vec<&'a [u8]>> {
    if list.is_null() && count > 0 {
        return Err(Error::invalid(format!(
            "{what} is NULL but its count is {count}"
        )));
    }
    let mut out = Vec::with_capacity(count.min(1024));
    for i in 0..count {
        // SAFETY: the caller promises `count` readable string pointers.
        let ptr = unsafe { *list.add(i) };
        if ptr.is_null() {
            return Err(Error::invalid(format!("{what} is NULL")));
        }
        // SAFETY: non-NULL; the caller promises NUL termination.
        out.push(unsafe { CStr::from_ptr(ptr) }.to_bytes());
    }
    Ok(out)
}

/// Writes an out-parameter, refusing NULL.
///
/// # Safety
/// A non-NULL `ptr` must be valid for a write of `T`.
unsafe fn write_out<T>(ptr: *mut T, value: T, what: &str) -> Result<()> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL; the caller promises it is writable.
    unsafe { ptr.write(value) };
    Ok(())
}

/// Writes an optional count out-parameter: NULL means the caller does not want it.
fn write_count(out_count: *mut usize, count: usize) -> Result<()> {
    if out_count.is_null() {
        return Ok(());
    }
    // SAFETY: non-NULL; the caller promises it is writable.
    unsafe { write_out(out_count, count, "out_count") }
}

/// The message of the last failed luna call on this thread ("" if none). The string stays
/// valid until the next failing call on the same thread.
#[no_mangle]
pub extern "C" fn luna_last_error() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// The result code of the last failed luna call on this thread (LUNA_RESULT_OK if none
/// failed yet), set together with `luna_last_error`'s message. It tells why a call that
/// returns a handle, `luna_server_new` or `luna_client_connect`, returned NULL: for example
/// LUNA_RESULT_INVALID_ARGUMENT for a bad config, LUNA_RESULT_IO for a port in use.
#[no_mangle]
pub extern "C" fn luna_last_result() -> LunaResult {
    LAST_RESULT.with(Cell::get)
}

/// A static name for a result code, such as "LUNA_RESULT_CLOSED"; never NULL.
#[no_mangle]
pub extern "C" fn luna_result_name(code: u32) -> *const c_char {
    let name = LunaResult::try_from(code).map_or("LUNA_RESULT_UNKNOWN\0", LunaResult::name);
    name.as_ptr().cast()
}

/// The library version, such as "0.1.0"; static, never NULL.
#[no_mangle]
pub extern "C" fn luna_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// 1 when the library was built with TLS (`wss://`) support, else 0.
#[no_mangle]
pub extern "C" fn luna_has_tls() -> u8 {
    u8::from(cfg!(feature = "tls"))
}
