//! Static files: which file a request path names, and the head that answers it. This file is
//! the one place that decides whether a path is inside the static root.
//!
//! Decisions: a path is percent-decoded once, segment by segment. An invalid escape, a NUL, an
//! encoded `/` or `\`, a raw `\` or a `..` segment is a 400; no file outside the root is ever
//! looked up. Dotfiles (`.git`, `.env`) are a 404, except `.well-known`. The file found is
//! canonicalized and must lie under the canonical root, so a symlink out of the root is a 404
//! (symlinks within it work); the dotfile rule holds for what a symlink leads to as well as
//! for the names asked, so a link to `.env` serves nothing. Directories serve their index, never a listing, and a directory
//! named without its trailing slash is a 301 to it (relative links in its index need it).

use std::fs::{self, Metadata};
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
            return head_only(head);
        }
        let mut head = status_head(200);
        head.content_type(file.content_type);
        head.content_length(file.len);
        validators(&mut head, &file, &self.cache_control);
        let body = (req.method == "GET").then_some(file);
        StaticAnswer { head, body }
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
        let Ok(relative) = canonical.strip_prefix(&self.root) else {
            return Err(404);
        };
        let hidden = relative.components().any(|part| match part {
            Component::Normal(name) => is_hidden(&name.to_string_lossy()),
            _ => true,
        });
        if hidden {
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

fn head_only(head: ResponseHead) -> StaticAnswer {
    StaticAnswer { head, body: None }
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
mod tests {
    use super::*;
    use crate::http::request::{parse_request, Limits, Parse};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A temporary tree, removed when dropped: `root/` is served, `outside/` must never be.
    struct Tree {
        base: PathBuf,
        root: StaticRoot,
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.base);
        }
    }

    fn tree() -> Tree {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "luna-static-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let base = std::env::temp_dir().join(unique);
        let files = [
            ("root/index.html", "<h1>home</h1>"),
            ("root/app.JS", "let x;"),
            ("root/sub/index.html", "sub"),
            ("root/sub/page.txt", "page"),
            ("root/%2e%2e", "a literal name"),
            ("root/.env", "SECRET=1"),
            ("root/.well-known/acme", "token"),
            ("root/noindex/file.css", "p{}"),
            ("outside/secret.txt", "secret"),
        ];
        for (path, text) in files {
            let path = base.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            let root = base.join("root");
            symlink(base.join("outside/secret.txt"), root.join("absolute-out")).unwrap();
            symlink("../outside/secret.txt", root.join("relative-out")).unwrap();
            symlink("../outside", root.join("dir-out")).unwrap();
            symlink("sub/page.txt", root.join("link-in")).unwrap();
            symlink(base.join("outside/secret.txt"), root.join("sub/index.txt")).unwrap();
            symlink(".env", root.join("env.txt")).unwrap();
            symlink(".well-known", root.join("wk")).unwrap();
        }
        let root = StaticRoot::new(&base.join("root"), DEFAULT_INDEX).unwrap();
        Tree { base, root }
    }

    fn request(method: &str, target: &str, extra: &str) -> Request {
        let head = format!("{method} {target} HTTP/1.1\r\nHost: h\r\n{extra}\r\n");
        match parse_request(head.as_bytes(), &Limits::default()) {
            Ok(Parse::Complete(req, _)) => req,
            other => panic!("{other:?}"),
        }
    }

    /// The status, and the file's text for a 200 to GET.
    fn get(tree: &Tree, target: &str) -> (u16, String) {
        let answer = tree.root.answer(&request("GET", target, ""));
        let text = answer
            .body
            .map(|f| fs::read_to_string(f.path).unwrap())
            .unwrap_or_default();
        (answer.head.status(), text)
    }

    fn field(head: &ResponseHead, name: &str) -> Option<String> {
        let text = String::from_utf8(head.to_bytes()).unwrap();
        let prefix = format!("{name}: ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
    }

    #[test]
    fn serves_files_and_directory_indexes() {
        let tree = tree();
        assert_eq!(get(&tree, "/"), (200, "<h1>home</h1>".to_owned()));
        assert_eq!(
            get(&tree, "/index.html?v=2"),
            (200, "<h1>home</h1>".to_owned())
        );
        assert_eq!(get(&tree, "/sub/"), (200, "sub".to_owned()));
        assert_eq!(get(&tree, "/./sub//page.txt"), (200, "page".to_owned()));
        assert_eq!(
            get(&tree, "http://h/sub/page.txt"),
            (200, "page".to_owned())
        );
        let answer = tree.root.answer(&request("GET", "/app.JS", ""));
        assert_eq!(
            field(&answer.head, "Content-Type").unwrap(),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(field(&answer.head, "Content-Length").unwrap(), "6");
        assert!(field(&answer.head, "ETag").unwrap().starts_with("W/\"6-"));
        assert!(field(&answer.head, "Last-Modified")
            .unwrap()
            .ends_with(" GMT"));
    }

    #[test]
    fn a_directory_without_its_slash_redirects_to_it() {
        let tree = tree();
        let answer = tree.root.answer(&request("GET", "/sub?x=1", ""));
        assert_eq!(answer.head.status(), 301);
        assert_eq!(field(&answer.head, "Location").unwrap(), "/sub/?x=1");
        let answer = tree.root.answer(&request("GET", "//sub", ""));
        assert_eq!(field(&answer.head, "Location").unwrap(), "/sub/");
    }

    #[test]
    fn missing_files_and_directories_without_index_are_404() {
        let tree = tree();
        assert_eq!(get(&tree, "/nope.html").0, 404);
        assert_eq!(get(&tree, "/sub/nope/").0, 404);
        assert_eq!(get(&tree, "/noindex/").0, 404, "no listing");
        assert_eq!(get(&tree, "/index.html/").0, 404);
    }

    #[test]
    fn head_answers_like_get_without_the_body() {
        let tree = tree();
        let answer = tree.root.answer(&request("HEAD", "/sub/page.txt", ""));
        assert_eq!((answer.head.status(), answer.body), (200, None));
        assert_eq!(field(&answer.head, "Content-Length").unwrap(), "4");
    }

    #[test]
    fn other_methods_are_405_with_allow() {
        let tree = tree();
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
            let answer = tree.root.answer(&request(method, "/index.html", ""));
            assert_eq!(answer.head.status(), 405, "{method}");
            assert_eq!(field(&answer.head, "Allow").unwrap(), "GET, HEAD");
        }
    }

    #[test]
    fn if_none_match_answers_304() {
        let tree = tree();
        let first = tree.root.answer(&request("GET", "/sub/page.txt", ""));
        let etag = field(&first.head, "ETag").unwrap();
        let strong = etag.trim_start_matches("W/");
        let matching = [
            etag.clone(),
            strong.to_owned(),
            format!("\"a,b\", {etag}"),
            format!("W/\"x\",{strong}"),
            "*".to_owned(),
        ];
        for list in matching {
            let answer = tree.root.answer(&request(
                "GET",
                "/sub/page.txt",
                &format!("If-None-Match: {list}\r\n"),
            ));
            assert_eq!((answer.head.status(), &answer.body), (304, &None), "{list}");
            assert_eq!(field(&answer.head, "ETag").unwrap(), etag);
            assert!(!answer.head.has_header("content-length"));
        }
        for list in ["\"other\"", "W/\"6-0\"", "garbage", ""] {
            let answer = tree.root.answer(&request(
                "GET",
                "/sub/page.txt",
                &format!("If-None-Match: {list}\r\n"),
            ));
            assert_eq!(answer.head.status(), 200, "{list}");
        }
    }

    #[test]
    fn if_modified_since_answers_304_unless_if_none_match_is_there() {
        let tree = tree();
        let first = tree.root.answer(&request("HEAD", "/sub/page.txt", ""));
        let modified = field(&first.head, "Last-Modified").unwrap();
        let ims = format!("If-Modified-Since: {modified}\r\n");
        assert_eq!(
            tree.root
                .answer(&request("GET", "/sub/page.txt", &ims))
                .head
                .status(),
            304
        );
        let later = format!(
            "If-Modified-Since: {}\r\n",
            httpdate::fmt_http_date(SystemTime::now() + std::time::Duration::from_secs(60))
        );
        assert_eq!(
            tree.root
                .answer(&request("HEAD", "/sub/page.txt", &later))
                .head
                .status(),
            304
        );
        let old = "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
        assert_eq!(
            tree.root
                .answer(&request("GET", "/sub/page.txt", old))
                .head
                .status(),
            200
        );
        let bad = "If-Modified-Since: yesterday\r\n";
        assert_eq!(
            tree.root
                .answer(&request("GET", "/sub/page.txt", bad))
                .head
                .status(),
            200
        );
        // RFC 9110 §13.2.2: a non-matching If-None-Match wins over a current If-Modified-Since.
        let both = format!("{ims}If-None-Match: \"other\"\r\n");
        assert_eq!(
            tree.root
                .answer(&request("GET", "/sub/page.txt", &both))
                .head
                .status(),
            200
        );
    }

    #[test]
    fn traversal_is_refused_in_every_form() {
        let tree = tree();
        let refused = [
            "/../outside/secret.txt",
            "/..",
            "/%2e%2e/outside/secret.txt",
            "/%2E%2e%2foutside%2fsecret.txt",
            "/..%2foutside/secret.txt",
            "/sub/../../outside/secret.txt",
            "/a/../../b",
            "/sub/%2e%2e/%2e%2e/outside/secret.txt",
            "/..\\outside\\secret.txt",
            "/sub\\..\\..\\outside\\secret.txt",
            "/%5c..%5coutside",
            "/secret.txt%00.html",
            "/%00",
            "/%zz",
            "/%2",
            "/%ff",
            "*",
        ];
        for path in refused {
            assert_eq!(tree.root.resolve(path), Err(400), "{path}");
        }
        assert_eq!(get(&tree, "/../outside/secret.txt").0, 400);
    }

    #[test]
    fn odd_paths_stay_inside_the_root() {
        let tree = tree();
        // Decoded once: `%252e%252e` is the file literally named `%2e%2e`, never `..`.
        assert_eq!(
            get(&tree, "/%252e%252e"),
            (200, "a literal name".to_owned())
        );
        assert_eq!(get(&tree, "/%252e%252e/outside/secret.txt").0, 404);
        assert_eq!(get(&tree, "//outside/secret.txt").0, 404);
        assert_eq!(get(&tree, "/C:/outside/secret.txt").0, 404);
        assert_eq!(get(&tree, "/sub/page%2Etxt"), (200, "page".to_owned()));
    }

    #[test]
    fn dotfiles_are_404_except_well_known() {
        let tree = tree();
        assert_eq!(get(&tree, "/.env").0, 404);
        assert_eq!(get(&tree, "/%2eenv").0, 404);
        assert_eq!(get(&tree, "/.../x").0, 404);
        assert_eq!(get(&tree, "/.well-known/acme"), (200, "token".to_owned()));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_root_are_404() {
        let tree = tree();
        assert_eq!(get(&tree, "/absolute-out").0, 404);
        assert_eq!(get(&tree, "/relative-out").0, 404);
        assert_eq!(get(&tree, "/dir-out/secret.txt").0, 404);
        assert_eq!(get(&tree, "/dir-out/").0, 404);
        assert_eq!(get(&tree, "/sub/index.txt").0, 404);
        assert_eq!(get(&tree, "/link-in"), (200, "page".to_owned()));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_a_dotfile_serves_nothing() {
        let tree = tree();
        assert_eq!(get(&tree, "/env.txt").0, 404);
        assert_eq!(get(&tree, "/wk/acme"), (200, "token".to_owned()));
    }

    /// Plain paths take the lstat-per-component way, paths through a symlink are
    /// canonicalized: either way the file found is the canonical path, with its own metadata.
    #[cfg(unix)]
    #[test]
    fn the_file_found_is_canonical_with_or_without_symlinks_on_the_way() {
        let tree = tree();
        let root = tree.base.join("root").canonicalize().unwrap();
        std::os::unix::fs::symlink("sub", root.join("dir-in")).unwrap();
        let page = root.join("sub/page.txt");
        for target in [
            "/sub/page.txt",
            "/link-in",
            "/dir-in/page.txt",
            "/sub/./page.txt",
        ] {
            match tree.root.resolve(target) {
                Ok(Resolved::File(file)) => {
                    assert_eq!(file.path, page, "{target}");
                    assert_eq!(file.len, 4, "{target}");
                }
                other => panic!("{target}: {other:?}"),
            }
        }
        // A directory symlink inside the root works; one out of it never does.
        assert_eq!(get(&tree, "/dir-in/page.txt"), (200, "page".to_owned()));
        assert_eq!(get(&tree, "/dir-out/secret.txt").0, 404);
    }

    #[cfg(unix)]
    #[test]
    fn an_index_that_links_out_is_404() {
        let tree = tree();
        let sub = tree.base.join("root/sub");
        fs::remove_file(sub.join("index.html")).unwrap();
        std::os::unix::fs::symlink(tree.base.join("outside/secret.txt"), sub.join("index.html"))
            .unwrap();
        assert_eq!(get(&tree, "/sub/").0, 404);
    }

    #[test]
    fn random_paths_never_resolve_outside_the_root() {
        let tree = tree();
        let alphabet: &[&str] = &[
            "/",
            ".",
            "..",
            "%2e",
            "%2E",
            "%2f",
            "%5c",
            "%25",
            "%00",
            "\\",
            "sub",
            "outside",
            "secret.txt",
            "dir-out",
            "%",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..2000 {
            let mut path = String::from("/");
            for _ in 0..state % 9 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                path.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            if let Ok(Resolved::File(file)) = tree.root.resolve(&path) {
                assert!(
                    file.path.starts_with(&tree.root.root),
                    "{path} -> {:?}",
                    file.path
                );
                assert_ne!(fs::read_to_string(&file.path).unwrap(), "secret", "{path}");
            }
        }
    }

    #[test]
    fn the_root_must_be_a_directory() {
        let tree = tree();
        assert!(StaticRoot::new(&tree.base.join("root/index.html"), DEFAULT_INDEX).is_err());
        assert!(StaticRoot::new(&tree.base.join("missing"), DEFAULT_INDEX).is_err());
    }

    #[test]
    fn content_types_by_extension() {
        let cases = [
            ("a.html", "text/html; charset=utf-8"),
            ("a.CSS", "text/css; charset=utf-8"),
            ("a.mjs", "text/javascript; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.js.map", "application/json"),
            ("a.jpeg", "image/jpeg"),
            ("a.svg", "image/svg+xml"),
            ("a.wasm", "application/wasm"),
            ("a.woff2", "font/woff2"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a.ogg", "audio/ogg"),
            ("Makefile", "application/octet-stream"),
            ("a.exe", "application/octet-stream"),
        ];
        for (name, expected) in cases {
            assert_eq!(content_type(Path::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn files_carry_the_configured_cache_control() {
        let tree = tree();
        let plain = tree.root.answer(&request("GET", "/index.html", ""));
        assert_eq!(
            field(&plain.head, "Cache-Control").as_deref(),
            Some("no-cache")
        );
        let cached = tree.root.clone().with_cache_control("public, max-age=60");
        let answer = cached.answer(&request("GET", "/index.html", ""));
        let value = field(&answer.head, "Cache-Control");
        assert_eq!(value.as_deref(), Some("public, max-age=60"));
    }
}
