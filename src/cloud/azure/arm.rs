//! The ARM client for `Microsoft.ContainerInstance/containerGroups`.
//!
//! One instance per process: one pooled HTTP client, one token cache. Every
//! call goes through the shared [`Transport`] (retries of what is transient,
//! honouring `Retry-After`; one token refresh on a 401); this file knows only
//! ARM's URLs, bodies, long-running operations and error shape, and paces
//! its writes ([`ArmClient::with_write_pacer`], `src/cloud/pacer.rs`).

use crate::cloud::azure::token::TokenCache;
use crate::cloud::pacer::{PaceConfig, Pacer};
use crate::cloud::retry::{self, Backoff};
use crate::cloud::transport::{
    AnswerHook, Authenticator, Class, Outgoing, Response, SendError, Transport,
};
use crate::fleet::{ContainerName, GroupKey};
use crate::ports::{ContainerPlatform, DeleteOutcome, GroupStatus, PlatformError};
use async_trait::async_trait;
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The ACI api-version gamefleet speaks (stable, deployed in every public region).
pub const API_VERSION: &str = "2023-05-01";
/// OAuth scope of Azure Resource Manager.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

#[derive(Debug)]
pub struct ArmClient {
    transport: Transport,
    auth: BearerToken,
    endpoint: url::Url,
    subscription: String,
    /// Longest pause between two polls of a long-running operation.
    max_poll_interval: Duration,
    /// Every write (PUT, DELETE, POST) takes a token here first; `None` = unpaced.
    writes: Option<WritePacing>,
}

#[derive(Debug)]
struct WritePacing {
    pacer: Arc<Pacer>,
    /// A write that would wait longer for its token fails at once (`Throttled`).
    max_wait: Duration,
}

/// ARM's remaining-writes headers (the token bucket's count after this request;
/// real ARM keeps deletes in a bucket of their own and reports it separately).
pub const REMAINING_WRITES_HEADERS: [&str; 2] = [
    "x-ms-ratelimit-remaining-subscription-writes",
    "x-ms-ratelimit-remaining-subscription-deletes",
];

/// PUT, PATCH, DELETE and POST count against ARM's write limit; GET and HEAD do not.
fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// What an answer to a write says about ARM's bucket: its remaining count.
fn remaining_writes(r: &Response) -> Option<u32> {
    REMAINING_WRITES_HEADERS
        .iter()
        .filter_map(|h| r.header(h).and_then(|v| v.trim().parse::<u32>().ok()))
        .min()
}

/// An answer from ARM after retries.
pub type ArmResponse = Response;

/// Reading ARM's answers.
pub trait ArmAnswer {
    fn json(&self) -> Result<Value, PlatformError>;
    /// Map a non-success answer to the platform error it means.
    fn into_error(self) -> PlatformError;
}

/// `{"error":{"code","message"}}` of an ARM error answer.
fn error_parts(r: &Response) -> (String, String) {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let e = v.get("error").unwrap_or(&v);
    let code = e
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
        .to_owned();
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| r.body_excerpt(500));
    (code, message)
}

impl ArmAnswer for Response {
    fn json(&self) -> Result<Value, PlatformError> {
        serde_json::from_slice(&self.body).map_err(|e| PlatformError::Unavailable {
            message: format!(
                "ARM answered {} with a body that is not JSON: {e}",
                self.status
            ),
        })
    }

    fn into_error(self) -> PlatformError {
        let status = self.status.as_u16();
        let (code, message) = error_parts(&self);
        match self.class() {
            Class::Throttled { retry_after } => PlatformError::Throttled { retry_after },
            Class::Unavailable => PlatformError::Unavailable {
                message: format!("ARM answered {status}: {code}: {message}"),
            },
            Class::Unauthorized => PlatformError::Unauthorized {
                status,
                code,
                message,
            },
            Class::NotFound | Class::Conflict | Class::Rejected => PlatformError::Rejected {
                status,
                code,
                message,
            },
        }
    }
}

/// ARM's credential: a bearer token from the process's one token cache; a 401
/// drops the cached token once so the next attempt fetches a new one.
#[derive(Debug)]
struct BearerToken(Arc<TokenCache>);

#[async_trait]
impl Authenticator<PlatformError> for BearerToken {
    async fn authorize(
        &self,
        _req: &Outgoing,
    ) -> Result<Vec<(&'static str, String)>, PlatformError> {
        let token = self
            .0
            .token()
            .await
            .map_err(|e| PlatformError::Unavailable {
                message: format!("no ARM token from the identity endpoint: {e}"),
            })?;
        Ok(vec![(
            "authorization",
            format!("Bearer {}", token.token.secret()),
        )])
    }

    async fn reauthenticate(&self) -> Result<bool, PlatformError> {
        // Revoked or expired early: fetch a new one, once.
        self.0.invalidate().await;
        Ok(true)
    }
}

impl ArmClient {
    pub fn new(
        http: reqwest::Client,
        endpoint: url::Url,
        subscription: impl Into<String>,
        tokens: Arc<TokenCache>,
        backoff: Backoff,
    ) -> Self {
        Self {
            transport: Transport::new(http, backoff, "ARM"),
            auth: BearerToken(tokens),
            endpoint,
            subscription: subscription.into(),
            max_poll_interval: Duration::from_secs(5),
            writes: None,
        }
    }

    /// Pace every write with one token bucket (`ARM_WRITE_BURST`, `ARM_WRITE_RATE`),
    /// lowered to ARM's own count when an answer reports less; a write whose
    /// token is more than `max_wait` away fails at once with `Throttled`.
    pub fn with_write_pacer(mut self, cfg: PaceConfig, max_wait: Duration) -> Self {
        let pacer = Arc::new(Pacer::new(cfg));
        let seen = pacer.clone();
        self.transport =
            self.transport
                .clone()
                .on_answer(AnswerHook(Arc::new(move |req, answer| {
                    if is_write(&req.method) {
                        if let Some(n) = remaining_writes(answer) {
                            seen.observe_remaining(n);
                        }
                    }
                })));
        self.writes = Some(WritePacing { pacer, max_wait });
        self
    }

    /// The write pacer, if writes are paced.
    pub fn write_pacer(&self) -> Option<&Pacer> {
        self.writes.as_ref().map(|w| &*w.pacer)
    }

    pub fn subscription(&self) -> &str {
        &self.subscription
    }

    /// `{endpoint}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerInstance/containerGroups/{name}[/{extra}...]?api-version=`
    pub fn group_url(&self, key: &GroupKey, extra: &[&str]) -> url::Url {
        self.container_group_url(
            &self.subscription,
            key.resource_group.as_str(),
            key.name.as_str(),
            extra,
        )
    }

    /// The same for any subscription (the lifecycle core addresses groups by ARM id).
    pub fn container_group_url(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
        extra: &[&str],
    ) -> url::Url {
        let mut url = self.endpoint.clone();
        // A base URL always has path segments; a "cannot-be-a-base" URL was refused by config.
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty()
                .extend([
                    "subscriptions",
                    subscription,
                    "resourceGroups",
                    resource_group,
                ])
                .extend([
                    "providers",
                    "Microsoft.ContainerInstance",
                    "containerGroups",
                    name,
                ])
                .extend(extra);
        }
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        url
    }

    /// One read of a long-running operation's `Azure-AsyncOperation` URL:
    /// `InProgress`, `Succeeded`, `Failed`, `Canceled`... (with ARM's error, if any).
    pub async fn operation_status(
        &self,
        url: &url::Url,
    ) -> Result<(String, Option<String>), PlatformError> {
        let r = self.send(Method::GET, url.clone(), None).await?;
        if !r.status.is_success() {
            return Err(r.into_error());
        }
        let v = r.json()?;
        let status = v
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("InProgress")
            .to_owned();
        let error = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok((status, error))
    }

    /// Send one request, retrying what is transient; any final status is returned.
    /// A write first waits for its token (once: its retries take none).
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&Value>,
    ) -> Result<ArmResponse, PlatformError> {
        if let (Some(w), true) = (&self.writes, is_write(&method)) {
            if let Err(t) = w.pacer.acquire(w.max_wait).await {
                tracing::warn!(
                    method = %method,
                    path = url.path(),
                    wait_ms = t.retry_after.as_millis() as u64,
                    max_wait_ms = w.max_wait.as_millis() as u64,
                    "ARM write not sent: its turn under the write pacer is later than the call may wait"
                );
                // Whole seconds, as a Retry-After says it; at least 1.
                let secs = t.retry_after.as_secs_f64().ceil().max(1.0) as u64;
                return Err(PlatformError::Throttled {
                    retry_after: Some(Duration::from_secs(secs)),
                });
            }
        }
        let mut req = Outgoing::new(method, url)
            .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string());
        if let Some(b) = body {
            req = req.json(b);
        }
        match self.transport.send(&self.auth, &req).await {
            Ok(r) => Ok(r),
            Err(SendError::Auth(e)) => Err(e),
            Err(SendError::Unreachable(message)) => Err(PlatformError::Unavailable { message }),
        }
    }

    /// Follow a long-running operation until it ends or `deadline`.
    /// `Ok(true)` = finished successfully, `Ok(false)` = still running at the deadline.
    async fn wait_lro(
        &self,
        accepted: &ArmResponse,
        deadline: Instant,
    ) -> Result<bool, PlatformError> {
        let async_op = header_url(&accepted.headers, "azure-asyncoperation");
        let location = header_url(&accepted.headers, "location");
        let Some(poll_url) = async_op.clone().or(location) else {
            return Ok(false);
        };
        let mut wait = retry::retry_after(&accepted.headers).unwrap_or(Duration::from_secs(1));
        loop {
            let pause = wait.clamp(Duration::from_millis(50), self.max_poll_interval);
            if Instant::now() + pause > deadline {
                return Ok(false);
            }
            tokio::time::sleep(pause).await;
            let r = self.send(Method::GET, poll_url.clone(), None).await?;
            wait = retry::retry_after(&r.headers).unwrap_or(Duration::from_secs(1));
            if async_op.is_some() {
                if !r.status.is_success() {
                    return Err(r.into_error());
                }
                let status = r
                    .json()?
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                match status.as_str() {
                    "succeeded" => return Ok(true),
                    "failed" | "canceled" | "cancelled" => {
                        return Err(PlatformError::Unavailable {
                            message: format!(
                                "ARM long-running operation ended {status}: {}",
                                String::from_utf8_lossy(&r.body)
                            ),
                        })
                    }
                    _ => {}
                }
            } else {
                match r.status {
                    StatusCode::ACCEPTED => {}
                    s if s.is_success() || s == StatusCode::NOT_FOUND => return Ok(true),
                    _ => return Err(r.into_error()),
                }
            }
        }
    }
}

fn header_url(h: &HeaderMap, name: &str) -> Option<url::Url> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| url::Url::parse(s).ok())
}

/// Parse the fields gamefleet acts on out of an ARM container group.
pub fn group_status(raw: Value) -> GroupStatus {
    let props = raw.get("properties");
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    GroupStatus {
        provisioning_state: s(props.and_then(|p| p.get("provisioningState"))).unwrap_or_default(),
        instance_state: s(props.and_then(|p| p.pointer("/instanceView/state"))),
        public_ip: s(props.and_then(|p| p.pointer("/ipAddress/ip"))).filter(|ip| !ip.is_empty()),
        tags: raw
            .get("tags")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        location: s(raw.get("location")),
        raw,
    }
}

#[async_trait]
impl ContainerPlatform for ArmClient {
    async fn get(&self, key: &GroupKey) -> Result<Option<GroupStatus>, PlatformError> {
        let r = self
            .send(Method::GET, self.group_url(key, &[]), None)
            .await?;
        match r.status {
            StatusCode::OK => Ok(Some(group_status(r.json()?))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(r.into_error()),
        }
    }

    async fn create(&self, key: &GroupKey, body: &Value) -> Result<GroupStatus, PlatformError> {
        let r = self
            .send(Method::PUT, self.group_url(key, &[]), Some(body))
            .await?;
        if r.status.is_success() {
            Ok(group_status(r.json()?))
        } else {
            Err(r.into_error())
        }
    }

    async fn delete(&self, key: &GroupKey, wait: Duration) -> Result<DeleteOutcome, PlatformError> {
        let deadline = Instant::now() + wait;
        let r = self
            .send(Method::DELETE, self.group_url(key, &[]), None)
            .await?;
        match r.status {
            StatusCode::OK | StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => {
                Ok(DeleteOutcome::Gone)
            }
            StatusCode::ACCEPTED => Ok(if self.wait_lro(&r, deadline).await? {
                DeleteOutcome::Gone
            } else {
                DeleteOutcome::Pending
            }),
            _ => Err(r.into_error()),
        }
    }

    async fn list(&self) -> Result<Vec<(GroupKey, GroupStatus)>, PlatformError> {
        let mut url = self.endpoint.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().extend([
                "subscriptions",
                &self.subscription,
                "providers",
                "Microsoft.ContainerInstance",
                "containerGroups",
            ]);
        }
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        let mut next = Some(url);
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(page_url) = next.take() {
            pages += 1;
            if pages > 10_000 {
                return Err(PlatformError::Unavailable {
                    message: "ARM list did not end after 10,000 pages".into(),
                });
            }
            let r = self.send(Method::GET, page_url, None).await?;
            if !r.status.is_success() {
                return Err(r.into_error());
            }
            let mut v = r.json()?;
            next = v
                .get("nextLink")
                .and_then(Value::as_str)
                .and_then(|s| url::Url::parse(s).ok());
            let items = match v.get_mut("value").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            for item in items {
                let key = item
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(crate::fleet::events::ResourceId::parse)
                    .and_then(|id| id.group_key());
                // Names gamefleet could not have created (ARM accepts more than its own rules say) are skipped.
                if let Some(key) = key {
                    let mut status = group_status(item);
                    status.raw = Value::Null;
                    out.push((key, status));
                }
            }
        }
        Ok(out)
    }

    async fn logs(
        &self,
        key: &GroupKey,
        container: &ContainerName,
        tail: Option<u32>,
    ) -> Result<Option<String>, PlatformError> {
        let mut url = self.group_url(key, &["containers", container.as_str(), "logs"]);
        if let Some(n) = tail {
            url.query_pairs_mut().append_pair("tail", &n.to_string());
        }
        let r = self.send(Method::GET, url, None).await?;
        match r.status {
            StatusCode::OK => Ok(Some(
                r.json()?
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(r.into_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn writes_are_paced_and_arms_count_is_read_from_either_header() {
        for m in [Method::PUT, Method::DELETE, Method::POST, Method::PATCH] {
            assert!(is_write(&m), "{m}");
        }
        assert!(!is_write(&Method::GET) && !is_write(&Method::HEAD));
        let answer = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (k, v) in pairs {
                headers.insert(*k, HeaderValue::from_static(v));
            }
            Response {
                status: StatusCode::OK,
                headers,
                body: bytes::Bytes::new(),
            }
        };
        assert_eq!(remaining_writes(&answer(&[])), None);
        assert_eq!(
            remaining_writes(&answer(&[(
                "x-ms-ratelimit-remaining-subscription-writes",
                "17"
            )])),
            Some(17)
        );
        assert_eq!(
            remaining_writes(&answer(&[
                ("x-ms-ratelimit-remaining-subscription-writes", "17"),
                ("x-ms-ratelimit-remaining-subscription-deletes", "5"),
            ])),
            Some(5)
        );
        assert_eq!(
            remaining_writes(&answer(&[(
                "x-ms-ratelimit-remaining-subscription-writes",
                "many"
            )])),
            None
        );
    }
}
