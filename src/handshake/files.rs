//! Static files as the HTTP phase writes them: small ones from the cache in one write with
//! their head, larger ones streamed in chunks read on the blocking pool.

use std::io::Read;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use smol::io::{AsyncReadExt, AsyncWrite};

use super::answers::write_all_within;
use crate::http::file_cache::{FileCache, LARGEST_KEPT};
use crate::http::request::Request;
use crate::http::response::{has_content, reason_phrase};
use crate::http::static_files::{StaticAnswer, StaticFile};

/// Bytes of a file written at a time.
const FILE_CHUNK: usize = 64 << 10;

/// Answers one static-file request: whether the connection may go on, and the body bytes.
pub(super) async fn serve_file<S>(
    stream: &mut S,
    mut answer: StaticAnswer,
    request: &Request,
    keep_alive: bool,
    stall: Duration,
    files: &FileCache,
) -> (bool, u64)
where
    S: AsyncWrite + Unpin,
{
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
    let sent = match answer.body {
        // Small files go out with their head in one write.
        Some(file) if file.len <= LARGEST_KEPT => match small_file(files, file).await {
            Some(bytes) => {
                out.extend_from_slice(&bytes);
                write_all_within(stream, &out, stall).await
            }
            None => false,
        },
        Some(file) => {
            write_all_within(stream, &out, stall).await && send_file(stream, &file, stall).await
        }
        None => write_all_within(stream, &out, stall).await,
    };
    (sent, bytes)
}

/// The bytes of a small file as its head announced them: kept from an earlier read of the
/// same version, or read now on the blocking pool (a slow disk never stalls the I/O thread).
async fn small_file(files: &FileCache, file: StaticFile) -> Option<Bytes> {
    if let Some(kept) = files.get(&file.path, file.len, file.modified) {
        return Some(kept);
    }
    let (path, modified) = (file.path.clone(), file.modified);
    let bytes = Bytes::from(smol::unblock(move || read_small(&file)).await?);
    files.put(&path, modified, bytes.clone());
    Some(bytes)
}

/// The `len` bytes of a small file its head announced, if it still has them: one `open`, one
/// `read` (`fs::read` would add a `statx` and a `read` to see the end).
fn read_small(file: &StaticFile) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; file.len as usize];
    std::fs::File::open(&file.path)
        .ok()?
        .read_exact(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// Streams a file in chunks, read on the blocking pool; false when it could not send exactly
/// the announced length, or the client stopped reading.
async fn send_file<S>(stream: &mut S, file: &StaticFile, stall: Duration) -> bool
where
    S: AsyncWrite + Unpin,
{
    let path = file.path.clone();
    let Ok(opened) = smol::unblock(move || std::fs::File::open(path)).await else {
        return false;
    };
    let mut reader = smol::Unblock::with_capacity(FILE_CHUNK, opened.take(file.len));
    let mut chunk = vec![0u8; FILE_CHUNK];
    let mut sent = 0u64;
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) => return sent == file.len,
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
