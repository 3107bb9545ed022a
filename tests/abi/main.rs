//! The C ABI itself, in one test binary: `bad_arguments` (NULL pointers, bad lengths, unknown
//! ids, calls from several threads) and `every_function` (each exported function with
//! freed and unknown handles, and connection calls while the app is freed).
#[path = "../common/mod.rs"]
mod common;

mod bad_arguments;
mod every_function;
