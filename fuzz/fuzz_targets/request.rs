//! Arbitrary bytes, and prefixes of them, as an HTTP request head (src/http/fuzz.rs).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        luna::fuzzing::request(data);
    });
}
