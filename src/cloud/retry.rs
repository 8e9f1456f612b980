//! Retrying on purpose: only what is transient (429, 5xx, timeouts, refused
//! connections), a bounded number of times, honouring `Retry-After`.

use reqwest::header::HeaderMap;
use std::time::Duration;

/// Exponential backoff with full jitter, bounded, that prefers the server's
/// `Retry-After` when it gives one.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// Delay before the first retry (before jitter).
    pub base: Duration,
    /// Largest computed delay.
    pub cap: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// A `Retry-After` longer than this is not waited for inside one call:
    /// the caller gets the error (with the hint) instead.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(8),
            max_retries: 4,
            max_retry_after: Duration::from_secs(20),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    After(Duration),
    GiveUp,
}

impl Backoff {
    /// Decide after failed attempt number `attempt` (1 = the first call).
    pub fn next(&self, attempt: u32, retry_after: Option<Duration>) -> Retry {
        if attempt > self.max_retries {
            return Retry::GiveUp;
        }
        if let Some(ra) = retry_after {
            return if ra <= self.max_retry_after {
                Retry::After(ra)
            } else {
                Retry::GiveUp
            };
        }
        let exp = self
            .base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.cap);
        // Full jitter: uniform in [exp/2, exp], so concurrent clients spread out.
        let half = exp / 2;
        let jitter = Duration::from_nanos(fastrand::u64(0..=half.as_nanos() as u64));
        Retry::After(half + jitter)
    }
}

/// `Retry-After` (seconds or HTTP date) or Azure's `retry-after-ms` / `x-ms-retry-after-ms`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_from(|name| headers.get(name).and_then(|v| v.to_str().ok()))
}

/// The one `Retry-After` reading, over any header lookup (reqwest's, azure_core's):
/// `retry-after-ms`, `x-ms-retry-after-ms`, then `retry-after` in seconds or as
/// an HTTP date (a date in the past is 0).
pub fn retry_after_from<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = get(name).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let v = get("retry-after")?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.signed_duration_since(chrono::Utc::now());
    Some(delta.to_std().unwrap_or_default())
}

/// Is this status worth another attempt?
pub fn is_transient(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status.is_server_error() && status != reqwest::StatusCode::NOT_IMPLEMENTED
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn honours_retry_after_within_bound() {
        let b = Backoff::default();
        assert_eq!(
            b.next(1, Some(Duration::from_secs(3))),
            Retry::After(Duration::from_secs(3))
        );
        assert_eq!(b.next(1, Some(Duration::from_secs(60))), Retry::GiveUp);
        assert_eq!(b.next(5, Some(Duration::from_secs(1))), Retry::GiveUp);
    }

    #[test]
    fn exponential_with_jitter_and_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(500),
            max_retries: 10,
            ..Default::default()
        };
        for attempt in 1..=10 {
            let Retry::After(d) = b.next(attempt, None) else {
                panic!("gave up at {attempt}")
            };
            let exp =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_millis(500));
            assert!(
                d >= exp / 2 && d <= exp,
                "attempt {attempt}: {d:?} not in [{:?}, {exp:?}]",
                exp / 2
            );
        }
        assert_eq!(b.next(11, None), Retry::GiveUp);
    }

    #[test]
    fn parses_retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("x-ms-retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn transient_statuses() {
        for s in [429u16, 408, 500, 502, 503, 504] {
            assert!(
                is_transient(reqwest::StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
        for s in [400u16, 401, 403, 404, 409, 412, 501] {
            assert!(
                !is_transient(reqwest::StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
    }
}
