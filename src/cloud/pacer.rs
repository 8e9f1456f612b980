//! Client-side pacing of a cloud's write limit: a token bucket of `burst`
//! tokens refilled at `per_sec`, mirroring ARM's own (200 refilled at 10/s per
//! subscription and region), so a burst of writes waits here instead of
//! turning into a storm of 429s.
//!
//! - **One token per logical write**, reserved before the first attempt; the
//!   transport's retries of that write (after a 429's `Retry-After`) do not take
//!   another, so no write waits twice for the same refill.
//! - **Reservations, not polling**: a caller takes its token at once and learns
//!   how long to sleep (the bucket may go into debt), so waiters are served in
//!   the order they came and the rate is kept exactly.
//! - **Deadlines**: a wait longer than the caller's `max_wait` takes nothing and
//!   fails at once with the wait it would have needed ([`TooLong`]).
//! - **Shared buckets**: the server's own count (`x-ms-ratelimit-remaining-…`)
//!   lowers the local tokens when it is lower: other instances spend the same
//!   subscription's bucket. A 429 empties the local bucket and books one token
//!   for the retry the transport will send (else every retry would spend a
//!   token nobody counted, and one 429 would breed the next).
//! - **Headroom for travel time**: the server counts a write when it arrives,
//!   we when we send it. Both buckets start full, but the server's starts
//!   refilling only when the first write arrives, and a later write may travel
//!   faster than the first: the server can see writes closer together than we
//!   sent them. The last `HEADROOM` of the bucket (what refills in 50 ms, at
//!   least 1 token, never the whole bucket) is therefore never spent.
//!
//! Written here rather than with `governor`: governor keeps its own clock
//! (tokio's paused time does not drive it), cannot be lowered to a server's
//! count, and has no "reserve unless longer than" call.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Size and refill rate of a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceConfig {
    pub burst: u32,
    pub per_sec: f64,
}

/// The token would come later than the caller can wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    /// When a token will be free (for the caller's `Retry-After`).
    pub retry_after: Duration,
}

/// How much travel-time jitter the headroom covers.
const HEADROOM_TIME: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct Pacer {
    cfg: PaceConfig,
    /// Tokens kept back (see the module doc).
    headroom: f64,
    /// Tokens (negative = reserved ahead) as of the instant.
    state: Mutex<(f64, Instant)>,
}

impl Pacer {
    /// A full bucket. `per_sec` must be > 0 (config refuses the rest).
    pub fn new(cfg: PaceConfig) -> Self {
        let burst = f64::from(cfg.burst);
        let headroom = (cfg.per_sec * HEADROOM_TIME.as_secs_f64())
            .max(1.0)
            .min(burst - 1.0)
            .max(0.0);
        Self {
            cfg,
            headroom,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    pub fn config(&self) -> PaceConfig {
        self.cfg
    }

    fn with_refilled<T>(&self, f: impl FnOnce(&mut f64) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let gained = now.duration_since(s.1).as_secs_f64() * self.cfg.per_sec;
        s.0 = (s.0 + gained).min(f64::from(self.cfg.burst));
        s.1 = now;
        f(&mut s.0)
    }

    /// Take one token: how long to wait before using it, or [`TooLong`]
    /// (nothing taken) when that is more than `max_wait`.
    pub fn reserve(&self, max_wait: Duration) -> Result<Duration, TooLong> {
        let per_sec = self.cfg.per_sec;
        let need = 1.0 + self.headroom;
        self.with_refilled(|tokens| {
            let wait = Duration::from_secs_f64(((need - *tokens) / per_sec).max(0.0));
            if wait > max_wait {
                return Err(TooLong { retry_after: wait });
            }
            *tokens -= 1.0;
            Ok(wait)
        })
    }

    /// Wait for a token, at most `max_wait`.
    pub async fn acquire(&self, max_wait: Duration) -> Result<Duration, TooLong> {
        let wait = self.reserve(max_wait)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(wait)
    }

    /// The server says `remaining` tokens are left: believe it when it is lower.
    pub fn observe_remaining(&self, remaining: u32) {
        self.with_refilled(|tokens| *tokens = tokens.min(f64::from(remaining)));
    }

    /// The server refused a write (429) that the transport will send again:
    /// nothing is left, and that retry's token is booked.
    pub fn observe_throttled(&self) {
        self.with_refilled(|tokens| *tokens = tokens.min(0.0) - 1.0);
    }

    /// Tokens now (negative = reserved ahead).
    pub fn tokens(&self) -> f64 {
        self.with_refilled(|tokens| *tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: PaceConfig = PaceConfig {
        burst: 5,
        per_sec: 10.0,
    };

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_rate() {
        let p = Pacer::new(CFG);
        let start = Instant::now();
        // 5 tokens, 1 kept back as headroom.
        for _ in 0..4 {
            assert_eq!(p.acquire(Duration::ZERO).await, Ok(Duration::ZERO));
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        // 20 more at 10/s: the last one 2 s after the start.
        for i in 1..=20u32 {
            p.acquire(Duration::from_secs(10)).await.unwrap();
            let at = start.elapsed().as_secs_f64();
            assert!((at - f64::from(i) / 10.0).abs() < 1e-6, "token {i} at {at}");
        }
        // Idle for long: the bucket holds `burst`, not more.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!((p.tokens() - 5.0).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_are_spaced_and_a_long_wait_fails_fast() {
        let p = std::sync::Arc::new(Pacer::new(PaceConfig {
            burst: 1,
            per_sec: 4.0,
        }));
        let start = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move {
                    p.acquire(Duration::from_secs(1)).await.unwrap();
                    start.elapsed()
                })
            })
            .collect();
        let mut at = Vec::new();
        for t in tasks {
            at.push(t.await.unwrap().as_millis());
        }
        at.sort_unstable();
        assert_eq!(at, [0, 250, 500, 750]);
        // A wait longer than the caller's bound takes nothing and says how long.
        let p = Pacer::new(PaceConfig {
            burst: 1,
            per_sec: 4.0,
        });
        assert_eq!(p.reserve(Duration::ZERO), Ok(Duration::ZERO));
        assert_eq!(
            p.reserve(Duration::ZERO),
            Err(TooLong {
                retry_after: Duration::from_millis(250)
            })
        );
        assert!(p.tokens().abs() < 1e-9, "the refused call took a token");
        assert_eq!(
            p.reserve(Duration::from_secs(1)),
            Ok(Duration::from_millis(250))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_server_count_lowers_the_local_bucket_never_raises_it() {
        let p = Pacer::new(CFG);
        p.observe_remaining(2);
        assert!((p.tokens() - 2.0).abs() < 1e-9);
        p.observe_remaining(4);
        assert!((p.tokens() - 2.0).abs() < 1e-9);
        p.observe_remaining(0);
        // 1 token and the 1 of headroom: 200 ms at 10/s.
        assert_eq!(
            p.reserve(Duration::ZERO),
            Err(TooLong {
                retry_after: Duration::from_millis(200)
            })
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(p.reserve(Duration::ZERO), Ok(Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_empties_the_bucket_and_books_the_retry() {
        let p = Pacer::new(CFG);
        p.observe_throttled();
        assert!((p.tokens() + 1.0).abs() < 1e-9);
        // The retry's token, then 1 for this write and 1 of headroom: 300 ms.
        assert_eq!(
            p.reserve(Duration::from_secs(1)),
            Ok(Duration::from_millis(300))
        );
    }

    #[test]
    fn headroom_is_50ms_of_refill_at_least_1_never_the_bucket() {
        let h = |burst, per_sec| Pacer::new(PaceConfig { burst, per_sec }).headroom;
        assert_eq!(h(200, 10.0), 1.0);
        assert_eq!(h(20, 100.0), 5.0);
        assert_eq!(h(3, 100.0), 2.0);
        assert_eq!(h(1, 10.0), 0.0);
    }
}
