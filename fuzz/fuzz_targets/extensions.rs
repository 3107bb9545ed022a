//! Arbitrary bytes as a Sec-WebSocket-Extensions value, parsed as a server and as a client.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        luna::fuzzing::extensions(data);
    });
}
