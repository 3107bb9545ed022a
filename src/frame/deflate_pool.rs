//! The zlib states a thread lends to connections (`deflate.rs` says why none is kept per
//! connection): fresh ones by window size and level, reset after every message, and a few
//! *live* compressors, each left as one connection's last message left it, so a connection
//! that sends again before four others have taken its place on this thread goes on without
//! the reset and the priming (a host answering a batch of one peer's messages, say).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::{Compress, Compression, Decompress};

use super::deflate::MAX_LEVEL;
use super::deflate_params::MIN_DEFLATE_WINDOW_BITS;

/// Window sizes our compressor can use: `MIN_DEFLATE_WINDOW_BITS..=15`.
const WINDOW_SIZES: usize = (16 - MIN_DEFLATE_WINDOW_BITS) as usize;

/// Compression levels: 0..=MAX_LEVEL.
const LEVELS: usize = MAX_LEVEL as usize + 1;

/// Live compressors per thread: each holds ~256 KiB at 12 window bits.
const LIVE_SLOTS: usize = 4;

/// One thread's fresh compressors, by window size and level.
type Compressors = [[Option<Compress>; LEVELS]; WINDOW_SIZES];

/// A compressor in the state one connection's last message left it.
struct Live {
    compress: Compress,
    window_bits: u8,
    level: u32,
    owner: Owner,
}

/// Which connection's compressor, after how many of its messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Owner {
    pub id: u64,
    pub sent: u64,
}

/// Ids of connections' compressors, never reused.
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// A new id for one connection's compressor.
pub(super) fn new_owner() -> u64 {
    NEXT_OWNER.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    /// This thread's fresh compressors, made on first need.
    static COMPRESSORS: RefCell<Compressors> =
        const { RefCell::new([const { [const { None }; LEVELS] }; WINDOW_SIZES]) };
    /// This thread's live compressors, the least recently used first.
    static LIVE: RefCell<Vec<Live>> = const { RefCell::new(Vec::new()) };
    /// This thread's decompressor, reset after every message.
    static DECOMPRESSOR: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

fn new_compress(window_bits: u8, level: u32) -> Compress {
    Compress::new_with_window_bits(Compression::new(level), false, window_bits)
}

/// Runs `f` with this thread's fresh compressor for `window_bits` and `level`, and resets it
/// after. It is taken out while it works, so one a panic interrupts is dropped rather than
/// reused half-way through a message.
pub(super) fn with_compressor<T>(
    window_bits: u8,
    level: u32,
    f: impl FnOnce(&mut Compress) -> T,
) -> T {
    let slot = usize::from(window_bits - MIN_DEFLATE_WINDOW_BITS);
    let level = level.min(MAX_LEVEL) as usize;
    let taken = COMPRESSORS.with(|pool| pool.borrow_mut()[slot][level].take());
    let mut compress = taken.unwrap_or_else(|| new_compress(window_bits, level as u32));
    let result = f(&mut compress);
    compress.reset();
    COMPRESSORS.with(|pool| pool.borrow_mut()[slot][level] = Some(compress));
    result
}

/// Runs `f` with the compressor `owner`'s last message left on this thread (`f`'s flag
/// false), or else a fresh one that `f` must prime with the history (flag true). `f` returns
/// whether the compressor may go on: a failed one is dropped.
pub(super) fn with_live<T>(
    window_bits: u8,
    level: u32,
    owner: Owner,
    f: impl FnOnce(&mut Compress, bool) -> (T, bool),
) -> T {
    let level = level.min(MAX_LEVEL);
    let hit = LIVE.with(|live| {
        let mut live = live.borrow_mut();
        let at = live
            .iter()
            .position(|l| l.owner == owner && l.window_bits == window_bits && l.level == level);
        at.map(|i| live.remove(i))
    });
    let fresh = hit.is_none();
    let mut live = hit.unwrap_or_else(|| victim(window_bits, level));
    let (result, healthy) = f(&mut live.compress, fresh);
    if healthy {
        live.owner = Owner {
            id: owner.id,
            sent: owner.sent + 1,
        };
        LIVE.with(|slots| slots.borrow_mut().push(live));
    }
    result
}

/// A reset compressor for `window_bits` and `level`: the least recently used live one when
/// every slot is taken (reused when its settings match), else a new one.
fn victim(window_bits: u8, level: u32) -> Live {
    let oldest = LIVE.with(|live| {
        let mut live = live.borrow_mut();
        (live.len() >= LIVE_SLOTS).then(|| live.remove(0))
    });
    let compress = match oldest {
        Some(mut l) if l.window_bits == window_bits && l.level == level => {
            l.compress.reset();
            l.compress
        }
        _ => new_compress(window_bits, level),
    };
    Live {
        compress,
        window_bits,
        level,
        owner: Owner { id: 0, sent: 0 },
    }
}

/// Runs `f` with this thread's fresh decompressor, and resets it after, an error included,
/// so no byte of one connection's message can be referred to by another's.
pub(super) fn with_decompressor<T>(f: impl FnOnce(&mut Decompress) -> T) -> T {
    let taken = DECOMPRESSOR.with(|slot| slot.borrow_mut().take());
    let mut decompress = taken.unwrap_or_else(|| Decompress::new(false));
    let result = f(&mut decompress);
    decompress.reset(false);
    DECOMPRESSOR.with(|slot| *slot.borrow_mut() = Some(decompress));
    result
}
