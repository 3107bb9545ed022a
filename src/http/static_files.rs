//! Static files: which file a request path names, and the head that answers it. This file is
//! the one place that decides whether a path is inside the static root.
//!
//! Decisions: a path is percent-decoded once, segment by segment. An invalid escape, a NUL, an
//! encoded `/` or `\`, a raw `\` or a `..` segment is a 400; no file outside the root is ever
//! looked up. Dotfiles (`.git`, `.env`) are a 404, except `.well-known`. The file found is
//! canonicalized and must lie under the canonical root, so a symlink out of the root is a 404
//! (symlinks within it work); the dotfile rule holds for what a symlink leads to as well as
//! for the names asked, so a link to `.env` serves nothing. A lookup and the open that
//! follows it are two steps, between which a file or a directory on the way may be swapped
//! for a symlink; so what is opened is checked again ([`StaticRoot::open`]): the same file
//! the lookup found, and under the root. Directories serve their index, never a listing,
//! and a directory named without its trailing slash is a 301 to it (relative links in its
//! index need it).

use std::fs::{self, File, Metadata};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::request::{percent_decode, Request};
use super::response::ResponseHead;

/// The file a directory request serves.
pub(crate) const DEFAULT_INDEX: &str = "index.html";

/// Revalidate before every reuse: a changed file shows at once, an unchanged one costs a 304.
pub(crate) const DEFAULT_CACHE_CONTROL: &str = "no-cache";

/// A directory served as static files.
#[derive(Clone, Debug)]
pub(crate) struct StaticRoot {
    root: PathBuf,
    index: String,
    /// The `Cache-Control` of every file answer.
    cache_control: String,
}

/// A regular file under the root, as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StaticFile {
    /// The canonical path: open this one, it has no symlinks left to follow.
    pub(crate) path: PathBuf,
    /// Its size in bytes: the `Content-Length`.
    pub(crate) len: u64,
    /// Its modification time, where the platform has one.
    pub(crate) modified: Option<SystemTime>,
    /// `Content-Type` by extension.
    pub(crate) content_type: &'static str,
    /// Which file it is: its device and inode, where the platform has them.
    pub(crate) id: FileId,
}

/// A file's device and inode (`None` where the platform has no such numbers in `std`).
pub(crate) type FileId = Option<(u64, u64)>;

/// The device and inode of a file's metadata.
pub(crate) fn file_id(meta: &Metadata) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// Where a request path leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// A regular file to serve.
    File(StaticFile),
    /// A directory named without its trailing slash: the path to redirect to.
    AddSlash(String),
}

/// The answer to a request for static files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StaticAnswer {
    /// The status and the fields this module decides (type, length, validators, `Allow`,
    /// `Location`). The caller adds `Date` and `Connection`, and for 301 and 4xx the short
    /// body every error answer has.
    pub(crate) head: ResponseHead,
    /// The file whose bytes follow the head: set only for a 200 to GET.
    pub(crate) body: Option<StaticFile>,
    /// The file the head describes (a 200 or a 304): checked with [`StaticRoot::open`]
    /// before the head goes out, since it was found by a lookup that a swapped symlink can
    /// fool.
    pub(crate) source: Option<StaticFile>,
}

impl StaticAnswer {
    /// The 404 that answers a file that failed its check when opened.
    pub(crate) fn not_found() -> Self {
        head_only(status_head(404))
    }
}

impl StaticRoot {
    /// Serves `root`, which must be an existing directory; `index` is the file a directory
    /// serves (usually [`DEFAULT_INDEX`]).
    pub(crate) fn new(root: &Path, index: &str) -> io::Result<Self> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "static root"));
        }
        let index = index.to_owned();
        let cache_control = DEFAULT_CACHE_CONTROL.to_owned();
        Ok(StaticRoot {
            root,
            index,
            cache_control,
        })
    }

    /// Answers files with this `Cache-Control` (checked by the caller: no control characters).
    pub(crate) fn with_cache_control(self, value: &str) -> Self {
        StaticRoot {
            cache_control: value.to_owned(),
            ..self
        }
    }

    /// Answers a request: GET and HEAD of files under the root, 304 when the client's copy is
    /// current, 405 for other methods.
    pub(crate) fn answer(&self, req: &Request) -> StaticAnswer {
        if req.method != "GET" && req.method != "HEAD" {
            let mut head = status_head(405);
            head.push("Allow", "GET, HEAD".to_owned());
            return head_only(head);
        }
        let file = match self.resolve(req.path()) {
            Ok(Resolved::File(file)) => file,
            Ok(Resolved::AddSlash(location)) => return redirect(location, req.query()),
            Err(status) => return head_only(status_head(status)),
        };
        if not_modified(req, &file) {
            let mut head = status_head(304);
            validators(&mut head, &file, &self.cache_control);
            let source = Some(file);
            return StaticAnswer {
                head,
                body: None,
                source,
            };
        }
        let mut head = status_head(200);
        head.content_type(file.content_type);
        head.content_length(file.len);
        validators(&mut head, &file, &self.cache_control);
        let body = (req.method == "GET").then(|| file.clone());
        let source = Some(file);
        StaticAnswer { head, body, source }
    }

    /// Opens `file`, as a lookup ([`StaticRoot::resolve`]) found it, if what is opened is
    /// that file and lies under the root; `None` otherwise, which is a 404. Blocks on the
    /// file system: call it off the I/O thread.
    pub(crate) fn open(&self, file: &StaticFile) -> Option<File> {
        let opened = open_without_waiting(&file.path).ok()?;
        let meta = opened.metadata().ok()?;
        // Another file than the lookup found: the path changed in between.
        if !meta.is_file() || file_id(&meta) != file.id {
            return None;
        }
        self.opened_inside(&opened, &file.path, &meta)
            .then_some(opened)
    }

    /// Whether the file opened from `path` lies under the root. Linux names an open file's
    /// path (`/proc/self/fd`), which no later swap can change; elsewhere (or without `/proc`)
    /// see [`StaticRoot::reopens_inside`].
    fn opened_inside(&self, opened: &File, path: &Path, meta: &Metadata) -> bool {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let link = format!("/proc/self/fd/{}", opened.as_raw_fd());
            if let Ok(real) = fs::read_link(link) {
                return self.lies_under(&real);
            }
        }
        let _ = opened;
        self.reopens_inside(path, meta)
    }

    /// Whether `path`, canonicalized again, lies under the root and is the file `meta`
    /// describes (same device and inode, where the platform has them).
    fn reopens_inside(&self, path: &Path, meta: &Metadata) -> bool {
        let Ok(canonical) = path.canonicalize() else {
            return false;
        };
        let again = fs::metadata(&canonical).ok();
        self.lies_under(&canonical) && again.is_some_and(|again| file_id(&again) == file_id(meta))
    }

    /// Whether a canonical path lies under the root, with no dotfile on the way.
    fn lies_under(&self, canonical: &Path) -> bool {
        let Ok(relative) = canonical.strip_prefix(&self.root) else {
            return false;
        };
        !relative.components().any(|part| match part {
            Component::Normal(name) => is_hidden(&name.to_string_lossy()),
            _ => true,
        })
    }

    /// The file a raw (not yet decoded) request path names, or the status that refuses it:
    /// 400 for a path that tries to leave the root or is malformed, 404 for anything missing.
    pub(crate) fn resolve(&self, raw_path: &str) -> Result<Resolved, u16> {
        let (path, mut meta) = self.inside(&self.root.join(relative_path(raw_path)?))?;
        let path = match (meta.is_dir(), raw_path.ends_with('/')) {
            (false, false) => path,
            (true, false) => {
                let location = format!("/{}/", raw_path.trim_matches('/'));
                return Ok(Resolved::AddSlash(location));
            }
            (true, true) => {
                let (index, index_meta) = self.inside(&path.join(&self.index))?;
                meta = index_meta;
                index
            }
            // A file named as a directory, as `open` refuses it: its relative links would break.
            (false, true) => return Err(404),
        };
        // Regular files only: a FIFO or a device would block or never end.
        if !meta.is_file() {
            return Err(404);
        }
        Ok(Resolved::File(StaticFile::new(path, &meta)))
    }

    /// The canonical form of `path`, if it exists and lies under the root (symlinks resolved),
    /// and its metadata (of the file a symlink leads to).
    ///
    /// The root is canonical, so a path below it whose every component is a plain name and no
    /// symlink (one `lstat` each) is canonical already: that common case costs one system call
    /// per component under the root instead of `canonicalize`'s `readlink` for every component
    /// from `/`, and the last `lstat` is the file's metadata. Anything else (a symlink on the
    /// way) is canonicalized and must still lie under the root.
    fn inside(&self, path: &Path) -> Result<(PathBuf, Metadata), u16> {
        if let Ok(relative) = path.strip_prefix(&self.root) {
            let mut walked = self.root.clone();
            let mut last = None;
            for part in relative.components() {
                let Component::Normal(name) = part else {
                    last = None;
                    break;
                };
                walked.push(name);
                let meta = fs::symlink_metadata(&walked).map_err(|_| 404u16)?;
                if meta.file_type().is_symlink() {
                    last = None;
                    break;
                }
                last = Some(meta);
            }
            if let Some(meta) = last {
                return Ok((walked, meta));
            }
        }
        let canonical = path.canonicalize().map_err(|_| 404u16)?;
        if !self.lies_under(&canonical) {
            return Err(404);
        }
        let meta = fs::metadata(&canonical).map_err(|_| 404u16)?;
        Ok((canonical, meta))
    }
}

/// The decoded path relative to the root; refuses every way out of it before any lookup.
fn relative_path(raw_path: &str) -> Result<PathBuf, u16> {
    let rest = raw_path.strip_prefix('/').ok_or(400u16)?;
    let mut relative = PathBuf::new();
    for raw in rest.split('/') {
        let decoded = percent_decode(raw).ok_or(400u16)?;
        let segment = String::from_utf8(decoded).map_err(|_| 400u16)?;
        // Decoded separators and NUL would change what the segment means to the file system.
        if segment.contains(['/', '\\', '\0']) {
            return Err(400);
        }
        match segment.as_str() {
            "" | "." => continue,
            ".." => return Err(400),
            hidden if is_hidden(hidden) => return Err(404),
            _ => {}
        }
        // One plain name, nothing else: on Windows `C:` would replace the root when joined.
        let mut components = Path::new(&segment).components();
        let plain = matches!(components.next(), Some(Component::Normal(_)));
        if !plain || components.next().is_some() {
            return Err(400);
        }
        relative.push(segment);
    }
    Ok(relative)
}

/// A dotfile or dot-directory (`.env`, `.git`): never served, except `.well-known`.
fn is_hidden(name: &str) -> bool {
    name.starts_with('.') && name != ".well-known"
}

impl StaticFile {
    fn new(path: PathBuf, meta: &Metadata) -> Self {
        let content_type = content_type(&path);
        let (len, modified) = (meta.len(), meta.modified().ok());
        StaticFile {
            path,
            len,
            modified,
            content_type,
            id: file_id(meta),
        }
    }

    /// A weak `ETag` from size and modification time (nanoseconds where the file system has
    /// them): weak because it is not derived from the bytes (RFC 9110 §8.8.1), which is all
    /// `If-None-Match` needs. `None` without a modification time: size alone would lie.
    pub(crate) fn etag(&self) -> Option<String> {
        let opaque = self.opaque_tag()?;
        Some(format!("W/\"{opaque}\""))
    }

    fn opaque_tag(&self) -> Option<String> {
        let nanos = self.modified?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
        Some(format!("{:x}-{:x}", self.len, nanos))
    }
}

/// The fields a 200 and a 304 share (RFC 9110 §15.4.5).
fn validators(head: &mut ResponseHead, file: &StaticFile, cache_control: &str) {
    if let Some(etag) = file.etag() {
        head.push("ETag", etag);
    }
    if let Some(modified) = file.modified {
        head.push("Last-Modified", httpdate::fmt_http_date(modified));
    }
    head.push("Cache-Control", cache_control.to_owned());
    // Browsers must not guess a script or a page from the bytes of an unknown type.
    head.push("X-Content-Type-Options", "nosniff".to_owned());
}

/// Whether the client's copy is current. `If-None-Match` takes precedence over
/// `If-Modified-Since` (RFC 9110 §13.2.2); an unreadable date is ignored.
fn not_modified(req: &Request, file: &StaticFile) -> bool {
    if let Some(list) = req.header("if-none-match") {
        return list.trim() == "*" || file.opaque_tag().is_some_and(|tag| lists_tag(&list, &tag));
    }
    let since = req.header("if-modified-since");
    let since = since.and_then(|date| httpdate::parse_http_date(date.trim()).ok());
    match (since, file.modified) {
        (Some(since), Some(modified)) => unix_seconds(modified) <= unix_seconds(since),
        _ => false,
    }
}

/// Whether an `If-None-Match` list names `opaque` (weak comparison: `W/` ignored). Parsed by
/// quotes, not commas: an entity tag may contain a comma.
fn lists_tag(list: &str, opaque: &str) -> bool {
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let tag = rest.strip_prefix("W/").unwrap_or(rest);
        let Some((candidate, after)) = tag.strip_prefix('"').and_then(|t| t.split_once('"')) else {
            return false;
        };
        if candidate == opaque {
            return true;
        }
        rest = after;
    }
}

/// Whole seconds since the epoch: HTTP dates have no finer unit.
fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Opens `path` for reading. On Unix without waiting: a FIFO swapped in after the lookup
/// would otherwise hold the thread until something writes to it (it is refused as not a
/// regular file once opened; reads of a regular file are unaffected by the flag).
fn open_without_waiting(path: &Path) -> io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

fn head_only(head: ResponseHead) -> StaticAnswer {
    StaticAnswer {
        head,
        body: None,
        source: None,
    }
}

fn status_head(status: u16) -> ResponseHead {
    ResponseHead::new(status).expect("static files use valid statuses")
}

/// 301 to the directory with its slash, query kept. Built from the path's own bytes, which
/// the request parser already limited to visible ASCII; leading slashes collapse to one so
/// `//evil.example` cannot become a redirect off-site.
fn redirect(location: String, query: &str) -> StaticAnswer {
    let mut head = status_head(301);
    let location = if query.is_empty() {
        location
    } else {
        format!("{location}?{query}")
    };
    head.push("Location", location);
    head_only(head)
}

/// `Content-Type` by extension (case-insensitive); text types say UTF-8.
pub(crate) fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "wasm" => "application/wasm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
#[path = "static_files_tests.rs"]
mod tests;
