//! The hasher of maps keyed by ids luna hands out itself (connections, sessions, apps):
//! trusted, sequential numbers, which one multiplication spreads over a table. SipHash,
//! the default, would cost more than the rest of a send.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds `IdHasher`s: the third parameter of such a map.
pub(crate) type IdBuild = BuildHasherDefault<IdHasher>;

#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
        self.0 = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, id: usize) {
        self.write_u64(id as u64);
    }
}
