//! Token validation against a real Keystone, the way keystonemiddleware does it in
//! front of Nova: the simulator holds a service token of its own (password auth,
//! project scope) and asks `GET /v3/auth/tokens` with `X-Auth-Token: <service token>`
//! and `X-Subject-Token: <the caller's token>`; 200 = valid (the body says who and
//! which project), 404 = unknown, revoked or expired.
//!
//! Answers are cached for [`NovaSimConfig::token_cache_ttl`](super::NovaSimConfig)
//! (never past the token's `expires_at`), so a revoked token is refused again within
//! that time. A service token Keystone no longer accepts (401/403) is replaced once
//! and the validation repeated.

use super::ServiceCredentials;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub user_id: String,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Valid(Arc<Caller>),
    /// Keystone does not know the token (or it expired / was revoked): 401.
    Invalid(String),
    /// Keystone could not be asked: 503, as keystonemiddleware answers.
    Unavailable(String),
}

struct Cached {
    outcome: Outcome,
    until: Instant,
}

pub(crate) struct Validator {
    http: reqwest::Client,
    creds: ServiceCredentials,
    ttl: Duration,
    service_token: tokio::sync::Mutex<Option<(String, DateTime<Utc>)>>,
    cache: Mutex<HashMap<String, Cached>>,
    /// `GET /v3/auth/tokens` calls made (cache misses).
    pub validations: AtomicUsize,
    /// The last token Keystone accepted (tests revoke it to see a client log in again).
    pub last_valid: Mutex<Option<String>>,
}

fn expires_at(token: &Value) -> Option<DateTime<Utc>> {
    token["expires_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl Validator {
    pub fn new(creds: ServiceCredentials, ttl: Duration) -> Validator {
        Validator {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            creds,
            ttl,
            service_token: tokio::sync::Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
            validations: AtomicUsize::new(0),
            last_valid: Mutex::new(None),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.creds.auth_url.trim_end_matches('/'))
    }

    /// The validation of `token`, from the cache or from Keystone.
    pub async fn validate(&self, token: &str) -> Outcome {
        let now = Instant::now();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.retain(|_, c| c.until > now);
            if let Some(c) = cache.get(token) {
                return c.outcome.clone();
            }
        }
        let (outcome, until) = match self.ask(token).await {
            Ok(Some(body)) => {
                let t = &body["token"];
                let caller = Caller {
                    user_id: t["user"]["id"].as_str().unwrap_or_default().to_string(),
                    project_id: t["project"]["id"].as_str().map(str::to_string),
                    roles: t["roles"]
                        .as_array()
                        .map(|rs| {
                            rs.iter()
                                .filter_map(|r| r["name"].as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                let mut until = Instant::now() + self.ttl;
                if let Some(left) = expires_at(t).and_then(|e| (e - Utc::now()).to_std().ok()) {
                    until = until.min(Instant::now() + left);
                }
                *self.last_valid.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(token.to_string());
                (Outcome::Valid(Arc::new(caller)), until)
            }
            Ok(None) => (
                Outcome::Invalid(
                    "Keystone does not know the token (invalid, expired or revoked)".into(),
                ),
                Instant::now() + self.ttl,
            ),
            // Not cached: the next request asks again.
            Err(e) => return Outcome::Unavailable(e),
        };
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            token.to_string(),
            Cached {
                outcome: outcome.clone(),
                until,
            },
        );
        outcome
    }

    /// `Ok(Some(body))` valid, `Ok(None)` refused by Keystone, `Err` Keystone not usable.
    async fn ask(&self, token: &str) -> Result<Option<Value>, String> {
        for attempt in 0..2 {
            let service = self.service_token(attempt > 0).await?;
            self.validations.fetch_add(1, Ordering::Relaxed);
            let r = self
                .http
                .get(self.url("/auth/tokens"))
                .header("X-Auth-Token", &service)
                .header("X-Subject-Token", token)
                .send()
                .await
                .map_err(|e| format!("Keystone unreachable: {e}"))?;
            match r.status().as_u16() {
                200 => {
                    return r
                        .json()
                        .await
                        .map(Some)
                        .map_err(|e| format!("Keystone validation body: {e}"))
                }
                404 => return Ok(None),
                // Our own token is no longer accepted: get a new one, once.
                401 | 403 if attempt == 0 => continue,
                s => return Err(format!("Keystone answered {s} to a token validation")),
            }
        }
        Err("Keystone refuses the simulator's service token".into())
    }

    /// The service token, fetched when missing, about to expire or `renew`.
    async fn service_token(&self, renew: bool) -> Result<String, String> {
        let mut slot = self.service_token.lock().await;
        if let Some((token, expires)) = slot.as_ref() {
            if !renew && *expires - chrono::Duration::seconds(60) > Utc::now() {
                return Ok(token.clone());
            }
        }
        let c = &self.creds;
        let body = json!({ "auth": {
            "identity": { "methods": ["password"], "password": { "user": {
                "name": c.username, "domain": { "id": c.user_domain_id }, "password": c.password } } },
            "scope": { "project": { "name": c.project_name, "domain": { "id": c.project_domain_id } } }
        }});
        let r = self
            .http
            .post(self.url("/auth/tokens?nocatalog"))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("Keystone unreachable at {}: {e}", c.auth_url))?;
        let status = r.status().as_u16();
        let token = r
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let v: Value = r.json().await.unwrap_or(Value::Null);
        match (status, token) {
            (201, Some(token)) => {
                let expires = expires_at(&v["token"])
                    .unwrap_or_else(|| Utc::now() + chrono::Duration::minutes(5));
                *slot = Some((token.clone(), expires));
                Ok(token)
            }
            _ => Err(format!(
                "the simulator's service login as '{}' failed: {status} {}",
                c.username, v["error"]["message"]
            )),
        }
    }
}
