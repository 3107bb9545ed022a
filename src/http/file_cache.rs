//! The bytes of small static files, kept after their first read so that a hot file costs no
//! `open` or `read` (and no disk) again. An entry is used only while the file still has the
//! length, modification time and device and inode the request's lookup just found, so a
//! changed file is read afresh. Only bytes read through `StaticRoot::open`'s check are kept,
//! so an entry is a file that was under the root: a lookup fooled into another file finds
//! another inode, and no entry. Bounded in bytes: when full, it starts over.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use parking_lot::Mutex;

use super::static_files::{FileId, StaticFile};

/// Files larger than this are streamed, never kept.
pub(crate) const LARGEST_KEPT: u64 = 64 << 10;
/// What all kept files may hold together.
const CAPACITY: usize = 16 << 20;

#[derive(Default)]
pub(crate) struct FileCache {
    files: Mutex<Entries>,
}

/// A kept file: the version it was read as, and its bytes.
struct Entry {
    modified: SystemTime,
    id: FileId,
    bytes: Bytes,
}

#[derive(Default)]
struct Entries {
    by_path: HashMap<PathBuf, Entry>,
    bytes: usize,
}

impl FileCache {
    /// The bytes of `file` if they were kept while it had this length, modification time,
    /// device and inode.
    pub(crate) fn get(&self, file: &StaticFile) -> Option<Bytes> {
        let files = self.files.lock();
        let entry = files.by_path.get(&file.path)?;
        // Without a modification time a change of content could not be seen.
        let same = entry.bytes.len() as u64 == file.len
            && Some(entry.modified) == file.modified
            && entry.id == file.id;
        same.then(|| entry.bytes.clone())
    }

    /// Keeps `bytes`, read from `file` once it passed `StaticRoot::open`'s check.
    pub(crate) fn put(&self, file: &StaticFile, bytes: Bytes) {
        let len = bytes.len();
        let Some(modified) = file.modified else {
            return;
        };
        if len as u64 > LARGEST_KEPT {
            return;
        }
        let mut files = self.files.lock();
        if files.bytes + len > CAPACITY {
            files.by_path.clear();
            files.bytes = 0;
        }
        let entry = Entry {
            modified,
            id: file.id,
            bytes,
        };
        let old = files.by_path.insert(file.path.clone(), entry);
        files.bytes += len;
        if let Some(old) = old {
            files.bytes -= old.bytes.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file(path: &str, len: u64, modified: Option<SystemTime>, id: FileId) -> StaticFile {
        StaticFile {
            path: PathBuf::from(path),
            len,
            modified,
            content_type: "text/plain",
            id,
        }
    }

    #[test]
    fn an_entry_serves_only_the_version_it_was_read_as() {
        let cache = FileCache::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        let id = Some((1, 2));
        cache.put(
            &file("/www/a.txt", 5, Some(t0), id),
            Bytes::from_static(b"hello"),
        );
        let hit = cache.get(&file("/www/a.txt", 5, Some(t0), id));
        assert_eq!(hit.as_deref(), Some(&b"hello"[..]));
        let later = Some(t0 + Duration::from_nanos(1));
        assert!(cache.get(&file("/www/a.txt", 5, later, id)).is_none());
        assert!(cache.get(&file("/www/a.txt", 6, Some(t0), id)).is_none());
        let b = file("/www/b.txt", 1, None, id);
        cache.put(&b, Bytes::from_static(b"x"));
        assert!(cache.get(&b).is_none(), "no time, not kept");
    }

    /// A lookup fooled into another file (a symlink swapped in) finds another inode: the
    /// bytes kept for the path are not its own.
    #[test]
    fn an_entry_serves_only_the_file_it_was_read_from() {
        let cache = FileCache::default();
        let t0 = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(10));
        cache.put(
            &file("/www/a.txt", 5, t0, Some((1, 2))),
            Bytes::from_static(b"hello"),
        );
        assert!(cache
            .get(&file("/www/a.txt", 5, t0, Some((1, 3))))
            .is_none());
        assert!(cache
            .get(&file("/www/a.txt", 5, t0, Some((9, 2))))
            .is_none());
    }

    #[test]
    fn it_stays_within_its_capacity() {
        let cache = FileCache::default();
        let t = Some(SystemTime::UNIX_EPOCH);
        let chunk = Bytes::from(vec![0u8; LARGEST_KEPT as usize]);
        for i in 0..1000 {
            cache.put(
                &file(&format!("/f{i}"), LARGEST_KEPT, t, None),
                chunk.clone(),
            );
            assert!(cache.files.lock().bytes <= CAPACITY);
        }
        let big = file("/big", LARGEST_KEPT + 1, t, None);
        cache.put(&big, Bytes::from(vec![0u8; LARGEST_KEPT as usize + 1]));
        assert!(cache.get(&big).is_none());
    }
}
