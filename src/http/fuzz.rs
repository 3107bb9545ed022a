//! What the `request` fuzz target in `fuzz/` runs (through `luna::fuzzing`), and the
//! deterministic mutation test over its seed corpus. The harness checks the invariants a
//! crash-only fuzzer would miss; a broken one panics.

use super::request::{parse_request, Limits, Parse, Request};

/// The limits of the harness's second pass: small enough for the fuzzer to cross each.
const SMALL: Limits = Limits {
    max_head_size: 64,
    max_headers: 3,
    max_target_len: 16,
};

/// Parses `data` as the bytes read so far of a request head, with the default and small
/// limits, and a few of its prefixes as the reads before them.
pub(crate) fn request(data: &[u8]) {
    for limits in [Limits::default(), SMALL] {
        let whole = parse_request(data, &limits);
        let end = match &whole {
            Ok(Parse::Complete(request, len)) => {
                check_request(request, *len, data, &limits);
                *len
            }
            Ok(Parse::Partial) => data.len(),
            Err(error) => {
                assert!(matches!(error.status(), 400 | 414 | 431 | 501 | 505));
                data.len()
            }
        };
        // Each earlier read is a prefix of this one: never complete, and never refused when
        // the whole head is accepted (the answer must not depend on how the bytes arrived).
        let accepted = matches!(whole, Ok(Parse::Complete(..)));
        for cut in cuts(end) {
            match parse_request(&data[..cut], &limits) {
                Ok(Parse::Complete(_, len)) => panic!("prefix of {cut} complete at {len}"),
                Err(error) if accepted => panic!(
                    "prefix of {cut} refused: {error}: {:?}",
                    String::from_utf8_lossy(data)
                ),
                _ => {}
            }
        }
    }
}

/// Up to 12 prefix lengths below `end`: the last few bytes, where the head ends, and a spread.
fn cuts(end: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (1..=4).filter_map(|back| end.checked_sub(back)).collect();
    cuts.extend((1..8).map(|i| end * i / 8));
    cuts.retain(|&cut| cut < end);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// What a complete head must be: within the input and the limits, re-parsed the same from
/// its own bytes, and every accessor safe to call.
fn check_request(request: &Request, len: usize, data: &[u8], limits: &Limits) {
    assert!(len <= data.len(), "head of {len} in {} bytes", data.len());
    assert!(len <= limits.max_head_size);
    assert!(request.target.len() <= limits.max_target_len);
    assert!(request.headers.len() <= limits.max_headers);
    assert!(request.minor_version <= 1);
    for (name, value) in request.headers.iter() {
        assert!(!name.is_empty() && !name.bytes().any(|b| b.is_ascii_uppercase()));
        assert!(!value.contains(['\r', '\n']), "{value:?}");
    }
    match parse_request(&data[..len], limits) {
        Ok(Parse::Complete(again, again_len)) => {
            assert_eq!(
                (&again, again_len),
                (request, len),
                "the head alone parses the same"
            );
        }
        other => panic!("the head alone gave {other:?}"),
    }
    let _ = (request.path(), request.query(), request.keep_alive());
    let _ = (request.is_websocket_upgrade(), request.websocket_key());
    let _ = (request.header("cookie"), request.header("host"));
    let _ = request.content_length();
}

#[cfg(test)]
mod tests {
    use crate::fuzz_corpus::run;

    #[test]
    fn request_seeds_and_their_mutations_keep_every_invariant() {
        run("request", super::request);
    }
}
