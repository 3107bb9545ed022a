//! Tests only: each fuzz target's seed corpus (`fuzz/corpus/TARGET/`) and deterministic
//! mutations of it, run through the target's harness by the leaves' `fuzz.rs` tests, so
//! `cargo test` replays every seed (and every crash input copied there) without AFL.

use std::path::Path;

/// The seed corpus of a fuzz target.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// Deterministic mutations of `seed`: bit flips, byte changes, cuts and splices.
fn mutations(seed: &[u8], rng: &mut u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for _ in 0..300 {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let mut bytes = seed.to_vec();
        let at = (*rng >> 8) as usize % bytes.len().max(1);
        match *rng % 5 {
            0 if !bytes.is_empty() => bytes[at] ^= 1 << ((*rng >> 40) % 8),
            1 if !bytes.is_empty() => bytes[at] = (*rng >> 32) as u8,
            2 => bytes.truncate(at),
            3 => bytes.extend_from_slice(&seed[at.min(seed.len())..]),
            _ => bytes.insert(at.min(bytes.len()), (*rng >> 24) as u8),
        }
        out.push(bytes);
    }
    out
}

/// Runs every seed of `target` and 300 mutations of each through `harness`.
pub(crate) fn run(target: &str, harness: fn(&[u8])) {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let seeds = seeds(target);
    assert!(seeds.len() >= 5, "a seed corpus for {target}");
    for seed in &seeds {
        harness(seed);
        for mutant in mutations(seed, &mut rng) {
            harness(&mutant);
        }
    }
}
