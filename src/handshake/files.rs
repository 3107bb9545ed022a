//! Static files as the HTTP phase writes them: each opened and checked before its head goes
//! out, small ones from the cache in one write with their head, larger ones streamed in
//! chunks read on the blocking pool.

use std::fs::File;
use std::io::Read;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use smol::io::{AsyncReadExt, AsyncWrite};

use super::answers::write_all_within;
use crate::http::file_cache::{FileCache, LARGEST_KEPT};
use crate::http::request::Request;
use crate::http::response::{has_content, reason_phrase};
use crate::http::static_files::{StaticAnswer, StaticFile, StaticRoot};

/// Bytes of a file written at a time.
const FILE_CHUNK: usize = 64 << 10;

/// What serves the body of a file answer, once the file passed its check.
enum Content {
    /// All of a small file's bytes, kept or just read.
    Bytes(Bytes),
    /// A larger file, opened, to stream.
    Opened(File),
    /// Nothing to send but the head (HEAD, 304).
    Checked,
}

/// Answers one static-file request: the status sent, whether the connection may go on, and
/// the body bytes.
pub(super) async fn serve_file<S>(
    stream: &mut S,
    mut answer: StaticAnswer,
    request: &Request,
    keep_alive: bool,
    stall: Duration,
    files: &FileCache,
    root: &StaticRoot,
) -> (u16, bool, u64)
where
    S: AsyncWrite + Unpin,
{
    // The file the head describes is checked before the head goes out: a 404 if it fails.
    let mut content = None;
    if let Some(file) = answer.source.take() {
        content = check(root, files, file, answer.body.is_some()).await;
        if content.is_none() {
            answer = StaticAnswer::not_found();
        }
    }
    let status = answer.head.status();
    let text = format!("{status} {}\n", reason_phrase(status));
    let error_body = answer.body.is_none() && has_content(status) && status != 200;
    if error_body {
        answer.head.content_type("text/plain; charset=utf-8");
        answer.head.content_length(text.len() as u64);
    }
    answer.head.date(SystemTime::now()).connection(keep_alive);
    let mut out = answer.head.to_bytes();
    if error_body && request.method != "HEAD" {
        out.extend_from_slice(text.as_bytes());
    }
    let bytes = match &answer.body {
        Some(file) => file.len,
        None if error_body && request.method != "HEAD" => text.len() as u64,
        None => 0,
    };
    let sent = match (answer.body, content) {
        // Small files go out with their head in one write.
        (Some(_), Some(Content::Bytes(bytes))) => {
            out.extend_from_slice(&bytes);
            write_all_within(stream, &out, stall).await
        }
        (Some(file), Some(Content::Opened(opened))) => {
            write_all_within(stream, &out, stall).await
                && send_file(stream, opened, file.len, stall).await
        }
        _ => write_all_within(stream, &out, stall).await,
    };
    (status, sent, bytes)
}

/// Opens `file` and checks it (`StaticRoot::open`) on the blocking pool (a slow disk never
/// stalls the I/O thread), reading a small one whose bytes are wanted; or finds it kept from
/// an earlier read of the same version of the same file. `None` when it failed the check.
async fn check(
    root: &StaticRoot,
    files: &FileCache,
    file: StaticFile,
    wanted: bool,
) -> Option<Content> {
    let small = file.len <= LARGEST_KEPT;
    if small {
        if let Some(kept) = files.get(&file) {
            return Some(Content::Bytes(kept));
        }
    }
    let root = root.clone();
    let read = smol::unblock(move || {
        let mut opened = root.open(&file)?;
        let content = match (wanted, small) {
            (true, true) => Content::Bytes(read_small(&mut opened, file.len)?.into()),
            (true, false) => Content::Opened(opened),
            (false, _) => Content::Checked,
        };
        Some((content, file))
    });
    let (content, file) = read.await?;
    if let Content::Bytes(bytes) = &content {
        files.put(&file, bytes.clone());
    }
    Some(content)
}

/// The `len` bytes of a small file its head announced, if it still has them: one `read`
/// (`fs::read` would add a `statx` and a `read` to see the end).
fn read_small(opened: &mut File, len: u64) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; len as usize];
    opened.read_exact(&mut bytes).ok()?;
    Some(bytes)
}

/// Streams `len` bytes of an opened file in chunks, read on the blocking pool; false when it
/// could not send exactly that length, or the client stopped reading.
async fn send_file<S>(stream: &mut S, opened: File, len: u64, stall: Duration) -> bool
where
    S: AsyncWrite + Unpin,
{
    let mut reader = smol::Unblock::with_capacity(FILE_CHUNK, opened.take(len));
    let mut chunk = vec![0u8; FILE_CHUNK];
    let mut sent = 0u64;
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) => return sent == len,
            Ok(n) => {
                if !write_all_within(stream, &chunk[..n], stall).await {
                    return false;
                }
                sent += n as u64;
            }
            Err(_) => return false,
        }
    }
}
