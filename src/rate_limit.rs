//! Per-connection rate limits on what a peer sends: a token bucket for messages and one for
//! bytes, refilled continuously. A message is always delivered (it was read already); the
//! bucket going below zero says how long to wait before reading more (`Pause`), or that the
//! peer broke the limit (`Close`). O(1) per message: two subtractions and a clock read.

use std::time::{Duration, Instant};

/// What happens to a peer over its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Stop reading its socket until the buckets refill: TCP slows the peer, nothing is lost.
    Pause,
    /// Close with 1008 (policy violation).
    Close,
}

/// A limit: `messages` and/or `bytes` per `per`, `burst` windows' worth at once.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RateLimit {
    messages: Option<f64>,
    bytes: Option<f64>,
    per: Duration,
    burst: f64,
    pub action: Action,
}

impl RateLimit {
    /// `None` when neither `messages` nor `bytes` limits anything.
    pub(crate) fn new(
        messages: u64,
        bytes: u64,
        per: Duration,
        burst: u32,
        action: Action,
    ) -> Result<Option<RateLimit>, String> {
        if messages == 0 && bytes == 0 {
            return Ok(None);
        }
        if per.is_zero() {
            return Err("a rate limit needs a period ('per') above 0".into());
        }
        let some = |n: u64| (n > 0).then_some(n as f64);
        Ok(Some(RateLimit {
            messages: some(messages),
            bytes: some(bytes),
            per,
            burst: f64::from(burst.max(1)),
            action,
        }))
    }

    /// Full buckets for a new connection.
    pub(crate) fn bucket(&self) -> Bucket {
        Bucket {
            messages: self.messages.unwrap_or(0.0) * self.burst,
            bytes: self.bytes.unwrap_or(0.0) * self.burst,
            last: Instant::now(),
        }
    }
}

/// One connection's tokens.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    messages: f64,
    bytes: f64,
    last: Instant,
}

impl Bucket {
    /// Takes one message of `len` bytes at `now`; how long until both buckets are back to
    /// zero (`Duration::ZERO` while the peer is within its limit).
    pub(crate) fn take(&mut self, limit: &RateLimit, len: usize, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        let per = limit.per.as_secs_f64();
        let mut wait: f64 = 0.0;
        for (tokens, rate, cost) in [
            (&mut self.messages, limit.messages, 1.0),
            (&mut self.bytes, limit.bytes, len as f64),
        ] {
            let Some(rate) = rate else { continue };
            *tokens = (*tokens + elapsed * rate / per).min(rate * limit.burst) - cost;
            if *tokens < 0.0 {
                wait = wait.max(-*tokens * per / rate);
            }
        }
        Duration::from_secs_f64(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limit = RateLimit::new(10, 0, Duration::from_secs(1), 1, Action::Pause)
            .unwrap()
            .unwrap();
        let start = Instant::now();
        let mut bucket = limit.bucket();
        for _ in 0..10 {
            assert_eq!(bucket.take(&limit, 100, start), Duration::ZERO);
        }
        let wait = bucket.take(&limit, 100, start);
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        // Half a second later five messages' worth came back (less the one in debt).
        let later = start + Duration::from_millis(500);
        for _ in 0..4 {
            assert_eq!(bucket.take(&limit, 1, later), Duration::ZERO);
        }
        assert!(bucket.take(&limit, 1, later) > Duration::ZERO);
    }

    #[test]
    fn bytes_limit_large_messages_and_burst_scales_the_buckets() {
        let limit = RateLimit::new(0, 1000, Duration::from_secs(1), 2, Action::Close)
            .unwrap()
            .unwrap();
        let now = Instant::now();
        let mut bucket = limit.bucket();
        assert_eq!(bucket.take(&limit, 2000, now), Duration::ZERO);
        let wait = bucket.take(&limit, 500, now);
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert_eq!(
            RateLimit::new(0, 0, Duration::ZERO, 0, Action::Pause),
            Ok(None)
        );
        assert!(RateLimit::new(1, 0, Duration::ZERO, 0, Action::Pause).is_err());
    }
}
