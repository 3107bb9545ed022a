//! RESP2, the Redis protocol, as far as the cluster's pub/sub needs it: commands are encoded
//! as arrays of bulk strings, replies parsed from bytes. No I/O: `cluster` moves the bytes.

use crate::error::{Error, ErrorKind, Result};

/// The largest bulk string accepted: Redis's own limit (`proto-max-bulk-len`).
const MAX_BULK: usize = 512 << 20;
/// The most elements an array may announce; pub/sub replies have three.
const MAX_ARRAY: usize = 1 << 20;
/// How deep arrays may nest; pub/sub replies nest one level.
const MAX_DEPTH: usize = 8;
/// The longest `+`, `-` or `:` line, and the longest length header.
const MAX_LINE: usize = 64 << 10;

/// One reply from Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// `+OK`
    Simple(Vec<u8>),
    /// `-ERR ...`: the command failed; the connection is still usable.
    Error(Vec<u8>),
    /// `:42`
    Integer(i64),
    /// `$3\r\nabc` (`None` for the null bulk string `$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...` (`None` for the null array `*-1`).
    Array(Option<Vec<Value>>),
}

/// Appends `args` to `out` as one command (an array of bulk strings).
pub(crate) fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses one reply from the start of `buf`: `Ok(None)` while it is incomplete, else the
/// value and how many bytes it took. An error means the stream cannot be trusted any more.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Value, usize)>> {
    let Some((line, next)) = line(buf, at)? else {
        return Ok(None);
    };
    let (&kind, rest) = line
        .split_first()
        .ok_or_else(|| bad("an empty line where a reply starts"))?;
    match kind {
        b'+' => Ok(Some((Value::Simple(rest.to_vec()), next))),
        b'-' => Ok(Some((Value::Error(rest.to_vec()), next))),
        b':' => Ok(Some((Value::Integer(number(rest)?), next))),
        b'$' => match length(rest, MAX_BULK)? {
            None => Ok(Some((Value::Bulk(None), next))),
            Some(len) => {
                let end = next + len;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(bad("a bulk string not followed by CRLF"));
                }
                Ok(Some((Value::Bulk(Some(buf[next..end].to_vec())), end + 2)))
            }
        },
        b'*' => {
            let Some(count) = length(rest, MAX_ARRAY)? else {
                return Ok(Some((Value::Array(None), next)));
            };
            if depth >= MAX_DEPTH {
                return Err(bad("arrays nested too deep"));
            }
            let mut items = Vec::with_capacity(count.min(16));
            let mut pos = next;
            for _ in 0..count {
                let Some((item, after)) = parse_at(buf, pos, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                pos = after;
            }
            Ok(Some((Value::Array(Some(items)), pos)))
        }
        other => Err(bad(&format!("unknown reply type byte 0x{other:02x}"))),
    }
}

/// The line starting at `at` (without CRLF) and where the next one starts.
fn line(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>> {
    let rest = &buf[at.min(buf.len())..];
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(end) if end <= MAX_LINE => Ok(Some((&rest[..end], at + end + 2))),
        Some(_) => Err(bad("a reply line too long")),
        None if rest.len() > MAX_LINE => Err(bad("a reply line too long")),
        None => Ok(None),
    }
}

fn number(digits: &[u8]) -> Result<i64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("a malformed integer"))
}

/// A length header: `None` for -1 (null), else at most `max`.
fn length(digits: &[u8], max: usize) -> Result<Option<usize>> {
    match number(digits)? {
        -1 => Ok(None),
        n if n >= 0 && (n as u64) <= max as u64 => Ok(Some(n as usize)),
        n => Err(bad(&format!("a length of {n}"))),
    }
}

fn bad(what: &str) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("redis sent {what}: not the Redis protocol"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Value {
        let (value, used) = parse(bytes).unwrap().expect("complete");
        assert_eq!(used, bytes.len());
        value
    }

    fn bulk(b: &[u8]) -> Value {
        Value::Bulk(Some(b.to_vec()))
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&mut out, &[b"PUBLISH", b"luna:room", b"\x00\r\n"]);
        assert_eq!(
            out,
            b"*3\r\n$7\r\nPUBLISH\r\n$9\r\nluna:room\r\n$3\r\n\x00\r\n\r\n"
        );
        // What we encode, we parse back.
        let Value::Array(Some(items)) = whole(&out) else {
            panic!("not an array")
        };
        assert_eq!(items[2], bulk(b"\x00\r\n"));
    }

    #[test]
    fn every_reply_type() {
        assert_eq!(whole(b"+OK\r\n"), Value::Simple(b"OK".to_vec()));
        assert_eq!(
            whole(b"-NOAUTH Authentication required.\r\n"),
            Value::Error(b"NOAUTH Authentication required.".to_vec())
        );
        assert_eq!(whole(b":-42\r\n"), Value::Integer(-42));
        assert_eq!(whole(b"$0\r\n\r\n"), bulk(b""));
        assert_eq!(whole(b"$-1\r\n"), Value::Bulk(None));
        assert_eq!(whole(b"*-1\r\n"), Value::Array(None));
        assert_eq!(whole(b"*0\r\n"), Value::Array(Some(vec![])));
        let message = b"*3\r\n$7\r\nmessage\r\n$6\r\nluna:a\r\n$5\r\nhello\r\n";
        assert_eq!(
            whole(message),
            Value::Array(Some(vec![
                bulk(b"message"),
                bulk(b"luna:a"),
                bulk(b"hello")
            ]))
        );
        let subscribed = b"*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n";
        assert_eq!(
            whole(subscribed),
            Value::Array(Some(vec![
                bulk(b"subscribe"),
                bulk(b"x"),
                Value::Integer(1)
            ]))
        );
    }

    #[test]
    fn incomplete_replies_wait_for_more_bytes_at_every_cut() {
        let two = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$4\r\n\r\n\r\n\r\n:7\r\n";
        let first_len = two.len() - 4;
        for cut in 0..first_len {
            assert_eq!(parse(&two[..cut]).unwrap(), None, "cut at {cut}");
        }
        let (_, used) = parse(two).unwrap().unwrap();
        assert_eq!(used, first_len);
        assert_eq!(whole(&two[used..]), Value::Integer(7));
    }

    #[test]
    fn broken_streams_are_errors() {
        for broken in [
            &b"?what\r\n"[..],
            b"\r\n",
            b":12x\r\n",
            b"$3\r\nabcd\r\n",
            b"$-2\r\n",
            b"*-5\r\n",
            b"$536870913\r\n",
            b"*1048577\r\n",
        ] {
            assert!(parse(broken).is_err(), "{broken:?}");
        }
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).is_err());
        let long = vec![b'+'; MAX_LINE + 2];
        assert!(parse(&long).is_err());
    }

    #[test]
    fn a_huge_announced_array_allocates_nothing_up_front() {
        // A million elements announced, two present: incomplete, not a large allocation.
        assert_eq!(parse(b"*1000000\r\n:1\r\n:2\r\n").unwrap(), None);
    }
}
