//! The bytes of small static files, kept after their first read so that a hot file costs no
//! `open` or `read` (and no disk) again. An entry is used only while the file still has the
//! length and modification time the request's lookup just found, so a changed file is read
//! afresh. Bounded in bytes: when full, it starts over.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use parking_lot::Mutex;

/// Files larger than this are streamed, never kept.
pub(crate) const LARGEST_KEPT: u64 = 64 << 10;
/// What all kept files may hold together.
const CAPACITY: usize = 16 << 20;

#[derive(Default)]
pub(crate) struct FileCache {
    files: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_path: HashMap<PathBuf, (u64, Option<SystemTime>, Bytes)>,
    bytes: usize,
}

impl FileCache {
    /// The bytes of `path` if they were kept while it had this length and modification time.
    pub(crate) fn get(&self, path: &Path, len: u64, modified: Option<SystemTime>) -> Option<Bytes> {
        let files = self.files.lock();
        match files.by_path.get(path) {
            // Without a modification time a change of content could not be seen.
            Some((l, Some(m), bytes)) if *l == len && Some(*m) == modified => Some(bytes.clone()),
            _ => None,
        }
    }

    /// Keeps `bytes` as the content of `path` at this length and modification time.
    pub(crate) fn put(&self, path: &Path, modified: Option<SystemTime>, bytes: Bytes) {
        let len = bytes.len();
        if modified.is_none() || len as u64 > LARGEST_KEPT {
            return;
        }
        let mut files = self.files.lock();
        if files.bytes + len > CAPACITY {
            files.by_path.clear();
            files.bytes = 0;
        }
        let old = files
            .by_path
            .insert(path.to_owned(), (len as u64, modified, bytes));
        files.bytes += len;
        if let Some((_, _, old)) = old {
            files.bytes -= old.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_entry_serves_only_the_version_it_was_read_as() {
        let cache = FileCache::default();
        let path = Path::new("/www/a.txt");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        cache.put(path, Some(t0), Bytes::from_static(b"hello"));
        assert_eq!(cache.get(path, 5, Some(t0)).as_deref(), Some(&b"hello"[..]));
        assert!(cache
            .get(path, 5, Some(t0 + Duration::from_nanos(1)))
            .is_none());
        assert!(cache.get(path, 6, Some(t0)).is_none());
        cache.put(Path::new("/www/b.txt"), None, Bytes::from_static(b"x"));
        assert!(
            cache.get(Path::new("/www/b.txt"), 1, None).is_none(),
            "no time, not kept"
        );
    }

    #[test]
    fn it_stays_within_its_capacity() {
        let cache = FileCache::default();
        let t = Some(SystemTime::UNIX_EPOCH);
        let chunk = Bytes::from(vec![0u8; LARGEST_KEPT as usize]);
        for i in 0..1000 {
            cache.put(Path::new(&format!("/f{i}")), t, chunk.clone());
            assert!(cache.files.lock().bytes <= CAPACITY);
        }
        cache.put(
            Path::new("/big"),
            t,
            Bytes::from(vec![0u8; LARGEST_KEPT as usize + 1]),
        );
        assert!(cache.get(Path::new("/big"), LARGEST_KEPT + 1, t).is_none());
    }
}
