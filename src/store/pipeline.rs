//! How requests to Table Storage are sent and how their failures become
//! [`StoreError`]s.
//!
//! - **Retries are few and short** (an HTTP handler must answer 503 within a
//!   couple of seconds when storage is down, not retry for 30 s as azure_core's
//!   default would): [`ShortRetry`], at most `max_retries` retries `retry_delay`
//!   apart (≤ 1 s, a server's `Retry-After` is honoured up to that cap), and no
//!   new retry once [`RETRY_BUDGET`] has passed.
//! - **Non-idempotent requests are not retried blindly**: a POST (insert, batch)
//!   whose connection broke *after* it was sent, or that got a 500/502/504/408,
//!   may have been applied; repeating it would turn our own success into a
//!   false `AlreadyExists`/`PreconditionFailed`. [`GuardPolicy`] stops those from
//!   being retried and reports them as `Unavailable` with "outcome unknown".
//!   Connection refused, 429 and 503 (not applied) are still retried.
//! - **`Retry-After`** of a 429/503 is recorded per call into the request
//!   [`Context`] so the final error can carry it (azure_core's `HttpError` does
//!   not expose response headers).

use crate::ports::StoreError;
use async_trait::async_trait;
use azure_core::error::{ErrorKind, HttpError};
use azure_core::headers::Headers;
use azure_core::{
    ClientOptions, Context, Method, Policy, PolicyResult, Request, RetryOptions, RetryPolicy,
    StatusCode, TransportOptions,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest wait between two attempts, whatever the options or the server say.
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(1);
/// No new retry starts once this much time has passed since the first answer.
pub(crate) const RETRY_BUDGET: Duration = Duration::from_secs(2);

/// The pipeline options every store request uses: the caller's pooled reqwest
/// client, our retry policy and the guard.
pub(crate) fn client_options(
    http: reqwest::Client,
    max_retries: u32,
    retry_delay: Duration,
) -> ClientOptions {
    let mut options = ClientOptions::new(TransportOptions::new(Arc::new(http))).retry(
        RetryOptions::custom(Arc::new(ShortRetry {
            max_retries,
            delay: retry_delay.min(MAX_RETRY_DELAY),
        })),
    );
    options
        .per_retry_policies_mut()
        .push(Arc::new(GuardPolicy) as Arc<dyn Policy>);
    options
}

#[derive(Debug, Clone)]
pub(crate) struct ShortRetry {
    max_retries: u32,
    delay: Duration,
}

#[async_trait]
impl RetryPolicy for ShortRetry {
    fn is_expired(&self, since_first_answer: Duration, retry_count: u32) -> bool {
        retry_count >= self.max_retries || since_first_answer >= RETRY_BUDGET
    }

    fn sleep_duration(&self, _retry_count: u32) -> Duration {
        self.delay
    }

    async fn wait(
        &self,
        _error: &azure_core::Error,
        _retry_count: u32,
        retry_after: Option<Duration>,
    ) {
        let wait = retry_after.map_or(self.delay, |ra| ra.max(self.delay));
        tokio::time::sleep(wait.min(MAX_RETRY_DELAY)).await;
    }
}

/// Per-call slot for the server's `Retry-After`, shared through the [`Context`].
#[derive(Debug, Default)]
pub(crate) struct RetryAfter(Mutex<Option<Duration>>);

impl RetryAfter {
    pub fn get(&self) -> Option<Duration> {
        self.0.lock().map(|g| *g).unwrap_or(None)
    }
    fn set(&self, d: Duration) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(d);
        }
    }
}

/// A fresh context for one store call: the table service type (the shared-key
/// signer needs it) and an empty `Retry-After` slot.
pub(crate) fn call_context() -> (Context, Arc<RetryAfter>) {
    let slot = Arc::new(RetryAfter::default());
    let mut ctx = Context::new();
    ctx.insert(azure_storage::clients::ServiceType::Table);
    ctx.insert(slot.clone());
    (ctx, slot)
}

/// The request may have been applied, but we cannot know: the connection
/// failed after the request was sent, or the server failed mid-way.
#[derive(Debug, thiserror::Error)]
#[error("outcome unknown: {0}")]
pub(crate) struct OutcomeUnknown(String);

/// Sits between the retry policy and the transport (after signing).
#[derive(Debug)]
struct GuardPolicy;

#[async_trait]
impl Policy for GuardPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let result = next[0].send(ctx, request, &next[1..]).await;
        let not_idempotent = *request.method() == Method::Post;
        match result {
            Ok(response) => {
                let status = response.status();
                if matches!(
                    status,
                    StatusCode::TooManyRequests | StatusCode::ServiceUnavailable
                ) {
                    if let (Some(slot), Some(d)) = (
                        ctx.get::<Arc<RetryAfter>>(),
                        retry_after(response.headers()),
                    ) {
                        slot.set(d);
                    }
                }
                if not_idempotent
                    && matches!(
                        status,
                        StatusCode::RequestTimeout
                            | StatusCode::InternalServerError
                            | StatusCode::BadGateway
                            | StatusCode::GatewayTimeout
                    )
                {
                    // Returned as a non-I/O error, so the retry policy gives up.
                    let http_error = HttpError::new(response).await;
                    let kind = ErrorKind::http_response(
                        status,
                        http_error.error_code().map(str::to_owned),
                    );
                    return Err(azure_core::Error::full(
                        kind,
                        http_error,
                        "POST failed server-side; not retried",
                    ));
                }
                Ok(response)
            }
            Err(e) if not_idempotent && *e.kind() == ErrorKind::Io && !is_connect_error(&e) => Err(
                azure_core::Error::new(ErrorKind::Other, OutcomeUnknown(describe_io(&e))),
            ),
            Err(e) => Err(e),
        }
    }
}

/// `retry-after-ms`, `x-ms-retry-after-ms`, then `Retry-After` (seconds or HTTP
/// date): the one reading in [`crate::cloud::retry`].
pub(crate) fn retry_after(headers: &Headers) -> Option<Duration> {
    crate::cloud::retry::retry_after_from(|name| {
        headers.get_optional_str(&azure_core::headers::HeaderName::from(name.to_owned()))
    })
}

/// Walk the source chain for an error of type `T`.
fn find<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

fn is_connect_error(e: &azure_core::Error) -> bool {
    find::<reqwest::Error>(e).is_some_and(reqwest::Error::is_connect)
}

/// An I/O failure in words, **without the URL** (it may carry a SAS token).
fn describe_io(e: &azure_core::Error) -> String {
    match find::<reqwest::Error>(e) {
        Some(re) => {
            let what = if re.is_timeout() {
                "request timed out"
            } else if re.is_connect() {
                "cannot connect to table storage"
            } else if re.is_body() || re.is_decode() {
                "connection broke while reading the response"
            } else {
                "request failed"
            };
            // reqwest's own Display names the URL; its sources do not.
            let mut detail = Vec::new();
            let mut cur = std::error::Error::source(re);
            while let Some(s) = cur {
                detail.push(s.to_string());
                cur = s.source();
            }
            if detail.is_empty() {
                what.to_owned()
            } else {
                format!("{what}: {}", detail.join(": "))
            }
        }
        None => "I/O error talking to table storage".to_owned(),
    }
}

/// Create `table` if it is not there (`TableAlreadyExists` is success).
pub(crate) async fn create_table(
    table: &azure_data_tables::clients::TableClient,
) -> Result<(), StoreError> {
    let (ctx, retry_after) = call_context();
    match table.create().context(ctx).await {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::HttpResponse { status: StatusCode::Conflict, error_code }
                    if error_code.as_deref() == Some("TableAlreadyExists")
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(map_error(e, retry_after.get())),
    }
}

/// Insert one entity as given; its new ETag (`AlreadyExists` if the key is taken).
pub(crate) async fn insert_entity(
    table: &azure_data_tables::clients::TableClient,
    entity: &serde_json::Value,
) -> Result<String, StoreError> {
    let (ctx, retry_after) = call_context();
    let response = table
        .insert::<_, serde_json::Value>(entity)
        .map_err(|e| map_error(e, None))?
        .context(ctx)
        .await
        .map_err(|e| map_error(e, retry_after.get()))?;
    Ok(response.etag.to_string())
}

/// The one mapping of transport/HTTP failures to [`StoreError`].
pub(crate) fn map_error(e: azure_core::Error, retry_after: Option<Duration>) -> StoreError {
    if let Some(unknown) = find::<OutcomeUnknown>(&e) {
        return StoreError::Unavailable {
            message: unknown.to_string(),
            retry_after,
        };
    }
    match e.kind() {
        ErrorKind::HttpResponse { status, error_code } => {
            let message = e
                .as_http_error()
                .and_then(HttpError::error_message)
                .map(first_line)
                .unwrap_or_default();
            map_status(u16::from(*status), error_code.clone(), message, retry_after)
        }
        ErrorKind::Io => StoreError::Unavailable {
            message: describe_io(&e),
            retry_after,
        },
        ErrorKind::Credential => StoreError::Unavailable {
            message: "could not obtain a storage credential".to_owned(),
            retry_after,
        },
        ErrorKind::DataConversion => StoreError::Rejected {
            code: "InvalidResponse".to_owned(),
            message: format!("unexpected response from table storage: {e}"),
        },
        _ => StoreError::Rejected {
            code: "ClientError".to_owned(),
            message: e.to_string(),
        },
    }
}

/// Status (and service error code) → [`StoreError`], for whole requests and
/// for single operations inside a batch.
pub(crate) fn map_status(
    status: u16,
    code: Option<String>,
    message: String,
    retry_after: Option<Duration>,
) -> StoreError {
    match status {
        412 => StoreError::PreconditionFailed,
        // The table itself is missing (not created yet, or deleted): not "no such record".
        404 if code.as_deref() == Some("TableNotFound") => StoreError::TableMissing,
        404 => StoreError::NotFound,
        409 if code.as_deref() == Some("EntityAlreadyExists") => StoreError::AlreadyExists,
        409 if code.as_deref() == Some("TableBeingDeleted") => StoreError::Unavailable {
            message: "table is being deleted".to_owned(),
            retry_after,
        },
        408 | 429 | 500..=599 => StoreError::Unavailable {
            message: match code {
                Some(code) => format!("HTTP {status} {code}"),
                None => format!("HTTP {status}"),
            },
            retry_after,
        },
        _ => StoreError::Rejected {
            code: code.unwrap_or_else(|| format!("HTTP{status}")),
            message,
        },
    }
}

/// Service messages end with `\nRequestId:...\nTime:...`; keep the sentence.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::headers::HeaderValue;

    #[test]
    fn statuses_map_to_what_the_caller_can_do() {
        let m = |s, c: Option<&str>| map_status(s, c.map(str::to_owned), "m".into(), None);
        assert!(matches!(
            m(412, Some("UpdateConditionNotSatisfied")),
            StoreError::PreconditionFailed
        ));
        assert!(matches!(
            m(404, Some("ResourceNotFound")),
            StoreError::NotFound
        ));
        assert!(matches!(
            m(409, Some("EntityAlreadyExists")),
            StoreError::AlreadyExists
        ));
        assert!(matches!(
            m(409, Some("TableBeingDeleted")),
            StoreError::Unavailable { .. }
        ));
        assert!(matches!(
            m(503, Some("ServerBusy")),
            StoreError::Unavailable { .. }
        ));
        assert!(matches!(m(429, None), StoreError::Unavailable { .. }));
        assert!(matches!(m(500, None), StoreError::Unavailable { .. }));
        assert!(matches!(m(408, None), StoreError::Unavailable { .. }));
        match m(400, Some("InvalidInput")) {
            StoreError::Rejected { code, message } => {
                assert_eq!(code, "InvalidInput");
                assert_eq!(message, "m");
            }
            other => panic!("{other:?}"),
        }
        match m(403, None) {
            StoreError::Rejected { code, .. } => assert_eq!(code, "HTTP403"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_reads_ms_seconds_and_dates() {
        use azure_core::headers::{RETRY_AFTER, X_MS_RETRY_AFTER_MS};
        let mut h = Headers::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(X_MS_RETRY_AFTER_MS, HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = Headers::new();
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn retry_policy_is_short() {
        let p = ShortRetry {
            max_retries: 2,
            delay: Duration::from_millis(200),
        };
        assert!(!p.is_expired(Duration::ZERO, 0));
        assert!(!p.is_expired(Duration::from_millis(500), 1));
        assert!(p.is_expired(Duration::from_millis(500), 2));
        assert!(p.is_expired(RETRY_BUDGET, 0));
    }
}
