//! The one HTTP transport every provider adapter sends through: ARM, OCI,
//! OpenStack, Huawei. What differs between clouds — how a request is
//! authenticated, and how an error body reads — is the adapter's; what is the
//! same is here, once:
//!
//! - **Retries on purpose** ([`Backoff`]): 429, 408 and 5xx but 501, refused
//!   connections and timeouts, a bounded number of times with jittered
//!   exponential backoff, honouring `Retry-After` (a longer one than the
//!   backoff allows ends the call with the answer, so the caller can pass the
//!   hint on). Everything else is the caller's to decide at once.
//! - **Fresh credentials on every attempt**: [`Authenticator::authorize`] runs
//!   before each send (a signature has a date; a token may have been refreshed).
//! - **One re-authentication on 401** per call: [`Authenticator::reauthenticate`]
//!   refreshes (a new token, a rotated session key); if it says that can help,
//!   the request goes again without counting as a retry.
//! - **Timeouts** come from the pooled `reqwest::Client` each adapter is built
//!   with (one per dependency, built once).
//! - **Error mapping**: a final answer's [`Class`] says what it means for any
//!   provider (unauthorized, not found, conflict, throttled, unavailable,
//!   rejected); the adapter turns it into its port's error with its own words.
//!
//! Nothing here logs a header or a body: only method, path, attempt, status
//! and the transport's own error text (reqwest's, which names the URL; URLs
//! carry no secret in any adapter).

use super::retry::{self, Backoff, Retry};
use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use std::time::Duration;

/// A pooled client with keep-alive and a per-request timeout: each
/// dependency gets one, built once per process.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("gamefleet/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A request before it is authenticated.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: Method,
    pub url: url::Url,
    /// Headers the adapter sets (content type, idempotency keys, versions).
    pub headers: Vec<(&'static str, String)>,
    /// The body; `None` sends none.
    pub body: Option<Bytes>,
}

impl Outgoing {
    pub fn new(method: Method, url: url::Url) -> Self {
        Self {
            method,
            url,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// A JSON body (and its content type).
    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.headers
            .push(("content-type", "application/json".into()));
        self.body = Some(Bytes::from(body.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }
}

/// How one provider proves who it is. `E` is the adapter's error type.
#[async_trait]
pub trait Authenticator<E>: Send + Sync {
    /// The headers that authenticate `req` (a bearer token, a signature).
    async fn authorize(&self, req: &Outgoing) -> Result<Vec<(&'static str, String)>, E>;

    /// After a 401: refresh what can be refreshed; `true` if sending again can help.
    async fn reauthenticate(&self) -> Result<bool, E> {
        Ok(false)
    }
}

/// A final answer (after retries), whatever its status.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What a final non-success answer means, for any provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 401 / 403: our credentials or signature were refused.
    Unauthorized,
    NotFound,
    /// 409: the resource's state does not allow it (the lifecycle core decides).
    Conflict,
    /// 429 after our retries.
    Throttled {
        retry_after: Option<Duration>,
    },
    /// 408 / 5xx after our retries.
    Unavailable,
    /// Any other 4xx: the request as asked cannot succeed.
    Rejected,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// What this answer means when it is not a success.
    pub fn class(&self) -> Class {
        match self.status.as_u16() {
            401 | 403 => Class::Unauthorized,
            404 => Class::NotFound,
            409 => Class::Conflict,
            429 => Class::Throttled {
                retry_after: retry::retry_after(&self.headers),
            },
            408 => Class::Unavailable,
            _ if self.status.is_server_error() => Class::Unavailable,
            _ => Class::Rejected,
        }
    }

    /// The body as text, cut to `max` characters (for error messages).
    pub fn body_excerpt(&self, max: usize) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(max)
            .collect()
    }
}

/// A final answer's [`Class`] as the lifecycle core's error: every provider
/// maps the same way (the text is the provider's own).
pub fn power_error(class: Class, text: String) -> crate::lifecycle::PowerError {
    use crate::lifecycle::PowerError;
    match class {
        Class::Unauthorized => PowerError::Unauthorized(text),
        Class::NotFound => PowerError::NotFound(text),
        Class::Throttled { .. } | Class::Unavailable => PowerError::Unavailable(text),
        Class::Conflict | Class::Rejected => PowerError::Rejected(text),
    }
}

/// Why [`Transport::send`] got no answer.
#[derive(Debug)]
pub enum SendError<E> {
    /// The authenticator failed (no token, no key): the adapter's own error.
    Auth(E),
    /// No answer after the retries (connection refused, timeouts, a body cut short).
    Unreachable(String),
}

/// Called with every answer, also the ones retried (a 429 before the success):
/// how an adapter learns what the server says about its limits.
#[derive(Clone)]
pub struct AnswerHook(pub std::sync::Arc<AnswerFn>);

/// What an [`AnswerHook`] calls: the request and one answer to it.
pub type AnswerFn = dyn Fn(&Outgoing, &Response) + Send + Sync;

impl std::fmt::Debug for AnswerHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnswerHook")
    }
}

/// One pooled HTTP client and the retry policy; cheap to clone.
#[derive(Debug, Clone)]
pub struct Transport {
    http: reqwest::Client,
    backoff: Backoff,
    /// The service's name in log lines and messages ("ARM", "OCI", "Nova").
    service: &'static str,
    on_answer: Option<AnswerHook>,
}

impl Transport {
    pub fn new(http: reqwest::Client, backoff: Backoff, service: &'static str) -> Self {
        Self {
            http,
            backoff,
            service,
            on_answer: None,
        }
    }

    /// Show every answer to `hook` (ARM's write pacer reads its rate-limit headers).
    pub fn on_answer(mut self, hook: AnswerHook) -> Self {
        self.on_answer = Some(hook);
        self
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Send `req`, authenticated by `auth`, retrying what is transient; the
    /// final answer whatever its status.
    pub async fn send<E>(
        &self,
        auth: &dyn Authenticator<E>,
        req: &Outgoing,
    ) -> Result<Response, SendError<E>> {
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let credentials = auth.authorize(req).await.map_err(SendError::Auth)?;
            let mut r = self.http.request(req.method.clone(), req.url.clone());
            for (name, value) in req.headers.iter().chain(&credentials) {
                r = r.header(*name, value);
            }
            if let Some(body) = &req.body {
                r = r.body(body.clone());
            }
            let started = std::time::Instant::now();
            let sent = r.send().await;
            crate::metrics::provider_call(
                self.service,
                sent.as_ref().ok().map(|a| a.status().as_u16()),
                started.elapsed(),
            );
            let (retry_after, failure) = match sent {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(body) => {
                            let answer = Response {
                                status,
                                headers,
                                body,
                            };
                            if let Some(hook) = &self.on_answer {
                                (hook.0)(req, &answer);
                            }
                            if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                                reauthenticated = true;
                                if auth.reauthenticate().await.map_err(SendError::Auth)? {
                                    attempt -= 1;
                                    continue;
                                }
                            }
                            if !retry::is_transient(status) {
                                return Ok(answer);
                            }
                            (retry::retry_after(&answer.headers), Ok(answer))
                        }
                        Err(e) => (None, Err(self.describe(&e, "reading the answer"))),
                    }
                }
                Err(e) => (None, Err(self.describe(&e, "sending"))),
            };
            match self.backoff.next(attempt, retry_after) {
                Retry::After(delay) => {
                    tracing::warn!(
                        service = self.service,
                        method = %req.method,
                        path = req.url.path(),
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        status = failure.as_ref().map(|a| a.status.as_u16()).ok(),
                        error = failure.as_ref().err().map(String::as_str),
                        "retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                Retry::GiveUp => return failure.map_err(SendError::Unreachable),
            }
        }
    }

    fn describe(&self, e: &reqwest::Error, doing: &str) -> String {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "failed"
        };
        // reqwest's Display carries the URL: ids, never a secret (those are headers).
        format!("{} request {kind} ({doing}): {e}", self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn answer(status: u16, headers: &[(&'static str, &'static str)]) -> Response {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_static(v));
        }
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: h,
            body: Bytes::new(),
        }
    }

    #[test]
    fn final_answers_are_classified_the_same_for_every_provider() {
        assert_eq!(answer(401, &[]).class(), Class::Unauthorized);
        assert_eq!(answer(403, &[]).class(), Class::Unauthorized);
        assert_eq!(answer(404, &[]).class(), Class::NotFound);
        assert_eq!(answer(409, &[]).class(), Class::Conflict);
        assert_eq!(
            answer(429, &[("retry-after", "30")]).class(),
            Class::Throttled {
                retry_after: Some(Duration::from_secs(30))
            }
        );
        for s in [408, 500, 502, 503, 504] {
            assert_eq!(answer(s, &[]).class(), Class::Unavailable, "{s}");
        }
        for s in [400, 405, 406, 412, 422, 501] {
            let want = if s == 501 {
                Class::Unavailable
            } else {
                Class::Rejected
            };
            assert_eq!(answer(s, &[]).class(), want, "{s}");
        }
    }
}
