//! Arbitrary bytes into the server- and client-role frame decoders, and an encode/decode
//! round trip (src/frame/fuzz.rs says what each byte means).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        luna::fuzzing::frames(data);
    });
}
