//! ARM's write throttling (off unless [`crate::SimConfig::write_bucket`] is set):
//! a token bucket per subscription — the simulator serves one subscription in
//! one region, so one bucket — spent by every write (PUT, DELETE, POST
//! start/stop/restart), as ARM's regional token-bucket throttling does
//! (learn.microsoft.com, "Request limits and throttling": writes 200 refilled
//! at 10/s per subscription and region). Real ARM counts deletes in a bucket of
//! their own (`x-ms-ratelimit-remaining-subscription-deletes`); this one bucket
//! for all writes is the stricter of the two.

use std::time::{Duration, Instant};

/// Size and refill rate of the write bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    pub capacity: u32,
    pub refill_per_sec: f64,
}

/// The header every write answer carries: tokens left after this request.
pub const REMAINING_WRITES: &str = "x-ms-ratelimit-remaining-subscription-writes";

/// A bucket's state (real time: the simulator runs against real clients).
#[derive(Debug)]
pub(crate) struct Bucket {
    cfg: TokenBucket,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(cfg: TokenBucket) -> Self {
        Self {
            cfg,
            tokens: f64::from(cfg.capacity),
            at: Instant::now(),
        }
    }

    /// One write: `Ok(tokens left)`, or `Err(Retry-After)` when the bucket is empty
    /// (whole seconds until the next token, at least 1, as ARM says it).
    pub fn take(&mut self) -> Result<u32, Duration> {
        let now = Instant::now();
        let gained = now.duration_since(self.at).as_secs_f64() * self.cfg.refill_per_sec;
        self.tokens = (self.tokens + gained).min(f64::from(self.cfg.capacity));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(self.tokens.floor() as u32);
        }
        let secs = if self.cfg.refill_per_sec > 0.0 {
            ((1.0 - self.tokens) / self.cfg.refill_per_sec).ceil()
        } else {
            3600.0
        };
        Err(Duration::from_secs(secs.max(1.0) as u64))
    }

    /// Full again (a test starting a new phase).
    pub fn refill(&mut self) {
        self.tokens = f64::from(self.cfg.capacity);
        self.at = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_the_capacity_then_says_when() {
        let mut b = Bucket::new(TokenBucket {
            capacity: 3,
            refill_per_sec: 0.5,
        });
        assert_eq!(b.take(), Ok(2));
        assert_eq!(b.take(), Ok(1));
        assert_eq!(b.take(), Ok(0));
        // 1 token at 0.5/s: 2 s.
        assert_eq!(b.take(), Err(Duration::from_secs(2)));
        let mut fast = Bucket::new(TokenBucket {
            capacity: 1,
            refill_per_sec: 1000.0,
        });
        assert_eq!(fast.take(), Ok(0));
        // A millisecond away is still "Retry-After: 1" (whole seconds, at least 1).
        if let Err(d) = fast.take() {
            assert_eq!(d, Duration::from_secs(1));
        }
    }
}
