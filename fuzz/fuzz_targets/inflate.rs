//! Arbitrary bytes as permessage-deflate messages into inflaters, with and without context
//! takeover, and a compress/inflate round trip (src/frame/fuzz.rs says what each byte means).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        luna::fuzzing::inflate(data);
    });
}
