//! ARM bearer tokens: where they come from and how long they are kept.
//!
//! The App Service / Functions managed-identity protocol (`IDENTITY_ENDPOINT` +
//! `IDENTITY_HEADER`) is implemented here rather than with azure_identity's
//! `AppServiceManagedIdentityCredential`, because that one reads both variables
//! from the process environment on every call (so two instances in one process
//! cannot point at different endpoints, which tests need) and cannot ask for a
//! user-assigned identity. Every other source (workload identity, client secret,
//! Azure CLI...) comes from azure_identity's default chain.

use crate::config::{IdentityConfig, Secret};
use async_trait::async_trait;
use azure_core::auth::{AccessToken, TokenCredential};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{Mutex, RwLock};

/// The managed-identity token endpoint of App Service and Azure Functions.
#[derive(Debug)]
pub struct AppServiceIdentity {
    http: reqwest::Client,
    endpoint: url::Url,
    header: Secret,
    client_id: Option<String>,
}

#[derive(Deserialize)]
struct MsiToken {
    access_token: String,
    /// Unix seconds, sent as a string (sometimes as a number).
    expires_on: serde_json::Value,
}

impl AppServiceIdentity {
    pub fn new(
        http: reqwest::Client,
        endpoint: url::Url,
        header: Secret,
        client_id: Option<String>,
    ) -> Self {
        Self {
            http,
            endpoint,
            header,
            client_id,
        }
    }
}

#[async_trait]
impl TokenCredential for AppServiceIdentity {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        use azure_core::error::{Error, ErrorKind};
        let [scope] = scopes else {
            return Err(Error::message(
                ErrorKind::Credential,
                "managed identity takes exactly one scope",
            ));
        };
        let resource = scope.strip_suffix("/.default").unwrap_or(scope);
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("api-version", "2019-08-01")
            .append_pair("resource", resource);
        if let Some(id) = &self.client_id {
            url.query_pairs_mut().append_pair("client_id", id);
        }
        let resp = self
            .http
            .get(url)
            .header("X-IDENTITY-HEADER", self.header.expose())
            .send()
            .await
            .map_err(|e| Error::full(ErrorKind::Io, e, "managed identity endpoint unreachable"))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Error::with_message(ErrorKind::Credential, || {
                format!("managed identity endpoint answered {status}")
            }));
        }
        let tok: MsiToken = resp.json().await.map_err(|e| {
            Error::full(
                ErrorKind::DataConversion,
                e,
                "managed identity answer is not a token",
            )
        })?;
        let secs = match &tok.expires_on {
            serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
            serde_json::Value::Number(n) => n.as_i64(),
            _ => None,
        }
        .ok_or_else(|| {
            Error::message(
                ErrorKind::DataConversion,
                "managed identity token has no expires_on",
            )
        })?;
        let expires_on = OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|e| Error::full(ErrorKind::DataConversion, e, "bad expires_on"))?;
        Ok(AccessToken::new(tok.access_token, expires_on))
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        Ok(())
    }
}

/// Build the credential the configuration asks for.
pub fn credential(
    identity: &IdentityConfig,
    http: &reqwest::Client,
) -> azure_core::Result<Arc<dyn TokenCredential>> {
    match identity {
        IdentityConfig::AppService {
            endpoint,
            header,
            client_id,
        } => Ok(Arc::new(AppServiceIdentity::new(
            http.clone(),
            endpoint.clone(),
            header.clone(),
            client_id.clone(),
        ))),
        IdentityConfig::Default => azure_identity::create_credential(),
    }
}

/// One token per scope for the whole process, refreshed `margin` before it
/// expires; concurrent callers wait for one refresh instead of each fetching.
#[derive(Debug)]
pub struct TokenCache {
    credential: Arc<dyn TokenCredential>,
    scope: String,
    margin: Duration,
    current: RwLock<Option<AccessToken>>,
    refresh: Mutex<()>,
}

impl TokenCache {
    /// Refresh five minutes before expiry (Microsoft's guidance for MSI tokens).
    pub const DEFAULT_MARGIN: Duration = Duration::from_secs(300);

    pub fn new(credential: Arc<dyn TokenCredential>, scope: impl Into<String>) -> Self {
        Self {
            credential,
            scope: scope.into(),
            margin: Self::DEFAULT_MARGIN,
            current: RwLock::new(None),
            refresh: Mutex::new(()),
        }
    }

    fn fresh(&self, t: &AccessToken) -> bool {
        t.expires_on > OffsetDateTime::now_utc() + self.margin
    }

    /// A token valid for at least the margin.
    pub async fn token(&self) -> azure_core::Result<AccessToken> {
        if let Some(t) = self.current.read().await.as_ref().filter(|t| self.fresh(t)) {
            return Ok(t.clone());
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(t) = self.current.read().await.as_ref().filter(|t| self.fresh(t)) {
            return Ok(t.clone());
        }
        // Inner credentials cache too (azure_identity until 20 s before expiry):
        // clear it so a refresh really fetches a new token.
        let _ = self.credential.clear_cache().await;
        let t = self.credential.get_token(&[self.scope.as_str()]).await?;
        *self.current.write().await = Some(t.clone());
        Ok(t)
    }

    /// Forget the token (after ARM refused it).
    pub async fn invalidate(&self) {
        *self.current.write().await = None;
    }
}

/// A [`TokenCredential`] that answers from a [`TokenCache`]: one token for
/// its scope per process, refreshed before expiry, for clients that ask on
/// every request (azure_storage's bearer policy does).
#[derive(Debug)]
pub struct CachedCredential(TokenCache);

impl CachedCredential {
    pub fn new(credential: Arc<dyn TokenCredential>, scope: impl Into<String>) -> Self {
        Self(TokenCache::new(credential, scope))
    }
}

#[async_trait]
impl TokenCredential for CachedCredential {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        if scopes != [self.0.scope.as_str()] {
            return Err(azure_core::error::Error::with_message(
                azure_core::error::ErrorKind::Credential,
                || format!("this credential holds tokens for {} only", self.0.scope),
            ));
        }
        self.0.token().await
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        self.0.invalidate().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        lifetime: time::Duration,
    }

    #[async_trait]
    impl TokenCredential for Counting {
        async fn get_token(&self, _: &[&str]) -> azure_core::Result<AccessToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(AccessToken::new(
                format!("t{n}"),
                OffsetDateTime::now_utc() + self.lifetime,
            ))
        }
        async fn clear_cache(&self) -> azure_core::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn one_fetch_for_many_concurrent_callers() {
        let cred = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: time::Duration::hours(1),
        });
        let cache = Arc::new(TokenCache::new(
            cred.clone(),
            "https://management.azure.com/.default",
        ));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let c = cache.clone();
                tokio::spawn(async move { c.token().await.map(|t| t.token.secret().to_owned()) })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "t0");
        }
        assert_eq!(cred.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refreshes_inside_the_margin() {
        // Lifetime shorter than the 5-minute margin: every call refreshes.
        let cred = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: time::Duration::minutes(4),
        });
        let cache = TokenCache::new(cred.clone(), "s");
        cache.token().await.unwrap();
        cache.token().await.unwrap();
        assert_eq!(cred.calls.load(Ordering::SeqCst), 2);
        cache.invalidate().await;
        cache.token().await.unwrap();
        assert_eq!(cred.calls.load(Ordering::SeqCst), 3);
    }
}
