//! UTF-8 checked as it arrives: a text message may be cut anywhere (between fragments, or
//! between two reads of one frame), so up to 3 bytes of a cut code point are carried over.
//!
//! `simdutf8::compat` does the checking: SIMD-fast on large messages, and, like `std`, its
//! error tells an invalid byte (`error_len` is `Some`) from input that merely ends inside a
//! code point (`None`), which is what lets a bad byte fail at once and a cut one wait.

use simdutf8::compat::from_utf8;

/// The bytes are not UTF-8, whatever follows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Invalid;

/// The state of one text being checked: the start of a code point cut by the last piece.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Utf8Stream {
    carry: [u8; 4],
    carried: usize,
}

impl Utf8Stream {
    /// Checks the next piece of the text.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), Invalid> {
        let rest = self.complete_carry(bytes)?;
        if self.carried > 0 {
            return Ok(());
        }
        match from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &rest[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carried = tail.len();
                Ok(())
            }
            Err(_) => Err(Invalid),
        }
    }

    /// Whether the text so far ends on a code point boundary (it may end here).
    pub(crate) fn is_complete(&self) -> bool {
        self.carried == 0
    }

    /// Finishes the carried code point with the first bytes of `bytes`; returns the rest.
    fn complete_carry<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], Invalid> {
        let mut used = 0;
        while self.carried > 0 && used < bytes.len() {
            // A cut code point is at most 3 bytes; a 4th either completes it or is invalid.
            if self.carried == self.carry.len() {
                return Err(Invalid);
            }
            self.carry[self.carried] = bytes[used];
            self.carried += 1;
            used += 1;
            match from_utf8(&self.carry[..self.carried]) {
                Ok(_) => self.carried = 0,
                Err(e) if e.error_len().is_none() => {}
                Err(_) => return Err(Invalid),
            }
        }
        Ok(&bytes[used..])
    }
}

#[cfg(test)]
mod tests {
    use super::{Invalid, Utf8Stream};

    fn check_split(text: &[u8]) -> Vec<Result<bool, Invalid>> {
        // Every way of cutting `text` in two: Ok(complete) or the error.
        (0..=text.len())
            .map(|at| {
                let mut stream = Utf8Stream::default();
                stream.push(&text[..at])?;
                stream.push(&text[at..])?;
                Ok(stream.is_complete())
            })
            .collect()
    }

    #[test]
    fn valid_text_cut_anywhere_is_valid() {
        let text = "aé€😀z".as_bytes();
        assert!(check_split(text).iter().all(|r| *r == Ok(true)));
    }

    #[test]
    fn text_cut_byte_by_byte_is_valid() {
        let mut stream = Utf8Stream::default();
        for byte in "κόσμε😀".as_bytes() {
            stream.push(&[*byte]).unwrap();
        }
        assert!(stream.is_complete());
    }

    #[test]
    fn invalid_bytes_fail_wherever_the_cut_is() {
        for bad in [
            &b"ab\xffcd"[..],
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
        ] {
            assert!(
                check_split(bad).iter().all(|r| *r == Err(Invalid)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_impossible_prefix_fails_before_the_code_point_ends() {
        let mut stream = Utf8Stream::default();
        // F4 90 can never start a code point (above U+10FFFF): no need to wait for more.
        assert_eq!(stream.push(b"ok\xf4\x90"), Err(Invalid));
        let mut stream = Utf8Stream::default();
        stream.push(b"ok\xf4").unwrap();
        assert_eq!(stream.push(b"\x90"), Err(Invalid));
    }

    #[test]
    fn a_text_ending_inside_a_code_point_is_incomplete() {
        let mut stream = Utf8Stream::default();
        stream.push("€".as_bytes().split_at(2).0).unwrap();
        assert!(!stream.is_complete());
    }
}
