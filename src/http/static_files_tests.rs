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

fn found(tree: &Tree, path: &str) -> StaticFile {
    match tree.root.resolve(path) {
        Ok(Resolved::File(file)) => file,
        other => panic!("{path}: {other:?}"),
    }
}

#[test]
fn what_a_lookup_found_opens_and_a_symlink_within_the_root_too() {
    let tree = tree();
    let mut text = String::new();
    let mut opened = tree.root.open(&found(&tree, "/sub/page.txt")).unwrap();
    std::io::Read::read_to_string(&mut opened, &mut text).unwrap();
    assert_eq!(text, "page");
    #[cfg(unix)]
    assert!(tree.root.open(&found(&tree, "/link-in")).is_some());
}

/// Between the lookup and the open, the file is swapped for a symlink out of the root, or a
/// directory on its way is: what is opened is another file, outside, and refused.
#[cfg(unix)]
#[test]
fn a_symlink_swapped_in_after_the_lookup_opens_nothing() {
    use std::os::unix::fs::symlink;
    let tree = tree();
    let root = tree.base.join("root");
    let file = found(&tree, "/sub/page.txt");
    fs::remove_file(root.join("sub/page.txt")).unwrap();
    symlink(
        tree.base.join("outside/secret.txt"),
        root.join("sub/page.txt"),
    )
    .unwrap();
    assert!(tree.root.open(&file).is_none());
    let file = found(&tree, "/noindex/file.css");
    fs::rename(root.join("noindex"), root.join("moved")).unwrap();
    fs::write(tree.base.join("outside/file.css"), "outside").unwrap();
    symlink(tree.base.join("outside"), root.join("noindex")).unwrap();
    assert!(tree.root.open(&file).is_none());
    // The same inode under another path outside the root (a lookup fooled twice) is
    // refused by where it lies.
    let outside = StaticFile::new(
        tree.base.join("outside/secret.txt"),
        &fs::metadata(tree.base.join("outside/secret.txt")).unwrap(),
    );
    assert!(tree.root.open(&outside).is_none());
}

/// A FIFO swapped in after the lookup is refused at once: opening it does not wait for a
/// writer.
#[cfg(unix)]
#[test]
fn a_fifo_swapped_in_after_the_lookup_is_refused_without_waiting() {
    let tree = tree();
    let file = found(&tree, "/sub/page.txt");
    let path = tree.base.join("root/sub/page.txt");
    fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let (done, opened) = std::sync::mpsc::channel();
    let root = tree.root.clone();
    std::thread::spawn(move || done.send(root.open(&file).is_none()));
    let refused = opened.recv_timeout(std::time::Duration::from_secs(5));
    assert_eq!(refused, Ok(true), "the open waited for a writer");
}

/// Where no open file names its path, the path is canonicalized again after the open: it
/// must lie under the root and lead to the file opened.
#[cfg(unix)]
#[test]
fn without_proc_the_path_must_lead_to_the_file_opened() {
    use std::os::unix::fs::symlink;
    let tree = tree();
    let root = tree.base.join("root");
    let path = root.join("sub/page.txt");
    let page = fs::metadata(&path).unwrap();
    let secret = fs::metadata(tree.base.join("outside/secret.txt")).unwrap();
    assert!(tree.root.reopens_inside(&path, &page));
    assert!(!tree.root.reopens_inside(&path, &secret), "another file");
    fs::remove_file(&path).unwrap();
    symlink(tree.base.join("outside/secret.txt"), &path).unwrap();
    assert!(
        !tree.root.reopens_inside(&path, &secret),
        "outside the root"
    );
    // The page moved away keeps its inode, so the new one cannot reuse it.
    fs::rename(root.join("sub/index.html"), root.join("kept")).unwrap();
    let kept = fs::metadata(root.join("kept")).unwrap();
    fs::remove_file(&path).unwrap();
    fs::write(&path, "page").unwrap();
    assert!(!tree.root.reopens_inside(&path, &kept), "another inode");
}
