//! Instance principal: an OCI instance signs as itself, with no key on disk.
//! What a cron job on an OCI VM uses (the start-compute seed falls back to it
//! outside OCI Functions). See docs/reference/providers.md §3.3.
//!
//! 1. The instance metadata service (IMDS v2, header `Authorization: Bearer
//!    Oracle`) hands out the instance's leaf certificate, its private key and
//!    the intermediate certificate (`/opc/v2/identity/{cert,key,intermediate}.pem`)
//!    and the region (`/opc/v2/instance/region`; a short code like `iad` is
//!    resolved through `/opc/v2/instance/canonicalRegionName`). The tenancy OCID
//!    is the `opc-tenant:` attribute of the leaf's subject.
//! 2. A fresh 2048-bit RSA session key is generated (off the async threads: it
//!    takes up to a second in a debug build) and federated:
//!    `POST <auth>/v1/x509` with `{"certificate", "publicKey",
//!    "intermediateCertificates", "purpose": "DEFAULT", "fingerprintAlgorithm":
//!    "SHA256"}`, signed with the **leaf** key under keyId
//!    `<tenancy>/fed-x509-sha256/<SHA-256 of the leaf DER, lowercase colon hex>`
//!    over `date (request-target) content-length content-type x-content-sha256`
//!    (no `host`) — what current OCI SDKs send (oci-go-sdk
//!    `common/auth/federation_client.go`; older SDKs used SHA-1 and `fed-x509`).
//!    The answer is `{"token": "<JWT>"}`.
//! 3. API requests are then signed with the session key under `ST$<token>`.
//!
//! The session is renewed — certificates fetched again (they rotate), a new key,
//! a new token — [`REFRESH_BEFORE_EXPIRY`] before the token's `exp` (at
//! half-life for a token that lives less than twice that), and when OCI answers
//! 401 to a request signed with the current token. If a renewal fails while the
//! token is still valid, the old one goes on signing.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OCI_METADATA_ENDPOINT` | metadata service base URL | `http://169.254.169.254` |
//! | `OCI_FEDERATION_ENDPOINT` | auth service base URL (`/v1/x509` is appended) | `https://auth.<region>.<realm domain>` |

use super::client::second_level_domain;
use super::credentials::{jwt_expiry, load_private_key, Credentials, Env, Identity};
use super::sign::{self, PrivateKey};
use crate::cloud::retry::{self, Backoff, Retry};
use crate::lifecycle::PowerError;
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::{Method, StatusCode};
use rsa::pkcs8::EncodePublicKey;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;
use x509_cert::der::{Decode, Tag, Tagged};
use x509_cert::Certificate;

pub use super::credentials::REFRESH_BEFORE_EXPIRY;

pub const METADATA_ENDPOINT_VAR: &str = "OCI_METADATA_ENDPOINT";
pub const FEDERATION_ENDPOINT_VAR: &str = "OCI_FEDERATION_ENDPOINT";
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";
/// Per-request timeout of metadata calls: the service is local or absent.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// The size of the session key OCI's SDKs generate.
pub const SESSION_KEY_BITS: usize = 2048;

/// Where the metadata and auth services are (read from the environment once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    metadata: url::Url,
    federation: Option<url::Url>,
}

fn base_url(var: &str, value: &str) -> Result<url::Url, PowerError> {
    url::Url::parse(value.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            PowerError::Config(format!(
                "{var}={value:?} is not an http(s) URL like http://169.254.169.254"
            ))
        })
}

impl Settings {
    pub fn from_env(env: Env) -> Result<Self, PowerError> {
        let get = |var: &str| env(var).filter(|v| !v.trim().is_empty());
        let metadata = match get(METADATA_ENDPOINT_VAR) {
            Some(v) => base_url(METADATA_ENDPOINT_VAR, &v)?,
            None => base_url(METADATA_ENDPOINT_VAR, DEFAULT_METADATA_ENDPOINT)?,
        };
        let federation = get(FEDERATION_ENDPOINT_VAR)
            .map(|v| base_url(FEDERATION_ENDPOINT_VAR, &v))
            .transpose()?;
        Ok(Self {
            metadata,
            federation,
        })
    }

    /// The metadata service's base URL (named in errors).
    pub fn metadata_endpoint(&self) -> &str {
        self.metadata.as_str().trim_end_matches('/')
    }

    /// `<base>/v1/x509`; the base from `OCI_FEDERATION_ENDPOINT` or the region.
    pub fn federation_url(&self, region: &str) -> Result<url::Url, PowerError> {
        let mut url = match &self.federation {
            Some(u) => u.clone(),
            None => base_url(
                FEDERATION_ENDPOINT_VAR,
                &format!("https://auth.{region}.{}", second_level_domain(region)),
            )?,
        };
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().extend(["v1", "x509"]);
        }
        Ok(url)
    }
}

/// What the leaf certificate tells: its DER, the tenancy, the keyId fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub der: Vec<u8>,
    pub tenancy: String,
    /// SHA-256 of the DER, lowercase hex bytes joined with `:`.
    pub fingerprint: String,
}

/// The DER of every `CERTIFICATE` block in `pem`, in order.
pub fn certificates_der(pem: &str, what: &str) -> Result<Vec<Vec<u8>>, PowerError> {
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let block = &rest[start..];
        let end = block
            .find("-----END CERTIFICATE-----")
            .map(|e| e + "-----END CERTIFICATE-----".len())
            .ok_or_else(|| PowerError::Config(format!("{what}: a certificate is not closed")))?;
        let (_label, der) = x509_cert::der::pem::decode_vec(&block.as_bytes()[..end])
            .map_err(|e| PowerError::Config(format!("{what}: not a PEM certificate: {e}")))?;
        out.push(der);
        rest = &block[end..];
    }
    if out.is_empty() {
        return Err(PowerError::Config(format!(
            "{what}: no BEGIN CERTIFICATE block"
        )));
    }
    Ok(out)
}

/// Colon-separated lowercase hex of SHA-256(`der`).
pub fn fingerprint_sha256(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The leaf certificate: parsed, its tenancy found, its fingerprint taken.
pub fn parse_leaf(pem: &str, what: &str) -> Result<Leaf, PowerError> {
    let der = certificates_der(pem, what)?
        .into_iter()
        .next()
        .ok_or_else(|| PowerError::Config(format!("{what}: no certificate")))?;
    let cert = Certificate::from_der(&der)
        .map_err(|e| PowerError::Config(format!("{what}: not an X.509 certificate: {e}")))?;
    let tenancy = tenancy_of(&cert).ok_or_else(|| {
        PowerError::Config(format!(
            "{what}: the certificate subject has no opc-tenant: attribute"
        ))
    })?;
    Ok(Leaf {
        fingerprint: fingerprint_sha256(&der),
        der,
        tenancy,
    })
}

/// The value after `opc-tenant:` in any string attribute of the subject (OCI
/// puts it in an OU; the SDKs look at every attribute).
fn tenancy_of(cert: &Certificate) -> Option<String> {
    cert.tbs_certificate.subject.0.iter().find_map(|rdn| {
        rdn.0.iter().find_map(|atv| {
            let text = matches!(
                atv.value.tag(),
                Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString
            )
            .then(|| std::str::from_utf8(atv.value.value()).ok())
            .flatten()?;
            text.strip_prefix("opc-tenant:")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        })
    })
}

/// A federated session.
struct Session {
    token: String,
    key: PrivateKey,
    /// Seconds since the epoch.
    issued: u64,
    expires: u64,
    fingerprint: String,
    tenancy: String,
}

impl Session {
    /// [`REFRESH_BEFORE_EXPIRY`] before `exp`, or at half-life for a token
    /// that lives less than twice that.
    fn renew_at(&self) -> u64 {
        let life = self.expires.saturating_sub(self.issued);
        self.expires
            .saturating_sub((life / 2).min(REFRESH_BEFORE_EXPIRY.as_secs()))
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Instance principal credentials: keyId `ST$<token>`, the session key.
/// `Debug` shows where they come from, never a key or token.
pub struct InstancePrincipal {
    settings: Settings,
    http: reqwest::Client,
    backoff: Backoff,
    region: String,
    tenancy: String,
    federation: url::Url,
    /// Held across a renewal, so concurrent requests wait for one federation.
    session: Mutex<Session>,
}

impl fmt::Debug for InstancePrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstancePrincipal")
            .field("metadata", &self.settings.metadata_endpoint())
            .field("federation", &self.federation.as_str())
            .field("region", &self.region)
            .field("tenancy", &self.tenancy)
            .finish_non_exhaustive()
    }
}

impl InstancePrincipal {
    /// Ask the metadata service for the region, then federate a first session.
    pub async fn federate(
        settings: Settings,
        http: reqwest::Client,
        backoff: Backoff,
    ) -> Result<Self, PowerError> {
        let imds = Imds {
            settings: &settings,
            http: &http,
        };
        let region = imds.region().await?;
        let federation = settings.federation_url(&region)?;
        let session = new_session(&imds, &federation, None, &backoff).await?;
        let tenancy = session.tenancy.clone();
        tracing::info!(
            region,
            tenancy,
            leaf_fingerprint = session.fingerprint,
            expires = session.expires,
            "instance principal federated"
        );
        Ok(Self {
            settings,
            http,
            backoff,
            region,
            tenancy,
            federation,
            session: Mutex::new(session),
        })
    }

    async fn renew(&self, session: &mut Session) -> Result<(), PowerError> {
        let imds = Imds {
            settings: &self.settings,
            http: &self.http,
        };
        let fresh =
            new_session(&imds, &self.federation, Some(&self.tenancy), &self.backoff).await?;
        tracing::info!(
            leaf_fingerprint = fresh.fingerprint,
            expires = fresh.expires,
            "instance principal session renewed"
        );
        *session = fresh;
        Ok(())
    }
}

#[async_trait]
impl Credentials for InstancePrincipal {
    async fn identity(&self) -> Result<Identity, PowerError> {
        let mut session = self.session.lock().await;
        let now = now_secs();
        if now >= session.renew_at() {
            if let Err(e) = self.renew(&mut session).await {
                if now >= session.expires {
                    return Err(e);
                }
                tracing::warn!(error = %e, expires = session.expires, "instance principal renewal failed; the current token is still valid");
            }
        }
        Ok(Identity {
            key_id: format!("ST${}", session.token),
            key: session.key.clone(),
        })
    }

    fn region(&self) -> &str {
        &self.region
    }

    async fn refresh(&self, rejected: &Identity) -> Result<bool, PowerError> {
        let mut session = self.session.lock().await;
        if rejected.key_id.strip_prefix("ST$") != Some(session.token.as_str()) {
            // Renewed since (by a request that got its 401 first): send again.
            return Ok(true);
        }
        self.renew(&mut session).await?;
        Ok(true)
    }
}

/// The metadata service.
struct Imds<'a> {
    settings: &'a Settings,
    http: &'a reqwest::Client,
}

impl Imds<'_> {
    async fn get(&self, path: &str) -> Result<String, PowerError> {
        let base = self.settings.metadata_endpoint();
        let url = format!("{base}/opc/v2/{path}");
        let unreachable = |why: String| {
            PowerError::Unavailable(format!(
                "instance principal: the instance metadata service at {base} ({METADATA_ENDPOINT_VAR}) \
                 did not answer GET /opc/v2/{path}: {why}. Outside an OCI instance, configure an API key \
                 (~/.oci/config or OCI_CONFIG_FILE) or a resource principal, or set OCI_AUTH"
            ))
        };
        let resp = self
            .http
            .get(&url)
            .header("authorization", "Bearer Oracle")
            .timeout(METADATA_TIMEOUT)
            .send()
            .await
            .map_err(|e| unreachable(reqwest_kind(&e)))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| unreachable(reqwest_kind(&e)))?;
        if status != StatusCode::OK {
            return Err(unreachable(format!("it answered {status}")));
        }
        Ok(body)
    }

    /// `/instance/region`; a short code (`iad`) → `/instance/canonicalRegionName`.
    async fn region(&self) -> Result<String, PowerError> {
        let mut region = self.get("instance/region").await?.trim().to_owned();
        if !region.contains('-') {
            region = self
                .get("instance/canonicalRegionName")
                .await?
                .trim()
                .to_owned();
        }
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(PowerError::Config(format!(
                "instance principal: the metadata service at {} gave a region {region:?} that is not a region identifier",
                self.settings.metadata_endpoint()
            )));
        }
        Ok(region)
    }
}

fn reqwest_kind(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "failed"
    };
    // reqwest's Display carries the URL, no header: no secret.
    format!("{kind} ({e})")
}

/// Certificates and key from the metadata service, a new session key, a token.
async fn new_session(
    imds: &Imds<'_>,
    federation: &url::Url,
    tenancy: Option<&str>,
    backoff: &Backoff,
) -> Result<Session, PowerError> {
    let base = imds.settings.metadata_endpoint();
    let leaf_pem = imds.get("identity/cert.pem").await?;
    let key_pem = imds.get("identity/key.pem").await?;
    let intermediate_pem = imds.get("identity/intermediate.pem").await?;
    let leaf = parse_leaf(&leaf_pem, &format!("{base}/opc/v2/identity/cert.pem"))?;
    if let Some(t) = tenancy.filter(|t| *t != leaf.tenancy) {
        return Err(PowerError::Config(format!(
            "instance principal: the leaf certificate's tenancy changed from {t} to {}",
            leaf.tenancy
        )));
    }
    let leaf_key = load_private_key(&key_pem, None, &format!("{base}/opc/v2/identity/key.pem"))?;
    let intermediates = certificates_der(
        &intermediate_pem,
        &format!("{base}/opc/v2/identity/intermediate.pem"),
    )?;

    let session_key = tokio::task::spawn_blocking(|| {
        RsaPrivateKey::new(&mut rsa::rand_core::OsRng, SESSION_KEY_BITS)
    })
    .await
    .map_err(|e| PowerError::Config(format!("generating the session key failed: {e}")))?
    .map_err(|e| PowerError::Config(format!("generating the session key failed: {e}")))?;
    let public = session_key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| PowerError::Config(format!("encoding the session public key failed: {e}")))?;

    let body = serde_json::json!({
        "certificate": B64.encode(&leaf.der),
        "publicKey": B64.encode(public.as_bytes()),
        "intermediateCertificates": intermediates.iter().map(|d| B64.encode(d)).collect::<Vec<_>>(),
        "purpose": "DEFAULT",
        "fingerprintAlgorithm": "SHA256",
    })
    .to_string();
    let key_id = format!("{}/fed-x509-sha256/{}", leaf.tenancy, leaf.fingerprint);
    let issued = now_secs();
    let token = post_federation(
        imds.http,
        federation,
        body.as_bytes(),
        &key_id,
        &leaf_key,
        backoff,
    )
    .await?;
    let expires = jwt_expiry(&token).ok_or_else(|| {
        PowerError::Unavailable(format!(
            "instance principal: the auth service at {federation} answered with a token that is not a JWT with an exp claim"
        ))
    })?;
    Ok(Session {
        token,
        key: PrivateKey::new(session_key),
        issued,
        expires,
        fingerprint: leaf.fingerprint,
        tenancy: leaf.tenancy,
    })
}

/// `POST /v1/x509`, retrying what is transient; the token.
async fn post_federation(
    http: &reqwest::Client,
    url: &url::Url,
    body: &[u8],
    key_id: &str,
    leaf_key: &PrivateKey,
    backoff: &Backoff,
) -> Result<String, PowerError> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let date = httpdate::fmt_http_date(SystemTime::now());
        let signed = sign::sign_without_host(&Method::POST, url, body, &date, key_id, leaf_key)?;
        let mut req = http
            .post(url.clone())
            .header("accept", sign::CONTENT_TYPE)
            .header("opc-request-id", uuid::Uuid::new_v4().simple().to_string());
        for (name, value) in &signed.headers {
            req = req.header(*name, value);
        }
        let (retry_after, failure) = match req.body(body.to_vec()).send().await {
            Ok(resp) => {
                let status = resp.status();
                let headers = resp.headers().clone();
                let text = resp.text().await.unwrap_or_default();
                if status.is_success() {
                    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                        PowerError::Unavailable(format!(
                            "instance principal: the auth service at {url} answered {status} with a body that is not JSON: {e}"
                        ))
                    })?;
                    return v
                        .get("token")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            PowerError::Unavailable(format!(
                                "instance principal: the auth service at {url} answered {status} without a token"
                            ))
                        });
                }
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let part = |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
                let message = format!(
                    "instance principal: the auth service at {url} answered {} {}: {}",
                    status.as_u16(),
                    part("code"),
                    part("message")
                );
                if !retry::is_transient(status) {
                    return Err(if matches!(status.as_u16(), 401 | 403) {
                        PowerError::Unauthorized(message)
                    } else {
                        PowerError::Rejected(message)
                    });
                }
                (retry::retry_after(&headers), message)
            }
            Err(e) => (
                None,
                format!(
                    "instance principal: the auth service at {url} could not be reached: {}",
                    reqwest_kind(&e)
                ),
            ),
        };
        match backoff.next(attempt, retry_after) {
            Retry::After(delay) => {
                tracing::warn!(attempt, delay_ms = delay.as_millis() as u64, error = %failure, "retrying instance principal federation");
                tokio::time::sleep(delay).await;
            }
            Retry::GiveUp => return Err(PowerError::Unavailable(failure)),
        }
    }
}

#[cfg(test)]
mod tests;
