//! The one OCI HTTP client: regional endpoints, a signature on every request,
//! and OCI's errors mapped to [`PowerError`], over the shared [`Transport`]
//! (retries of 429, 408, 5xx except 501, refused connections and timeouts,
//! honouring `retry-after`). Everything else is returned at once — in
//! particular 409 `IncorrectState`, which the lifecycle core decides about.
//! Each attempt is signed afresh (new `date`). A 401 makes the credentials
//! re-read a rotated session token once ([`Credentials::refresh`]); if it
//! changed, the request is sent again (an instance principal federates
//! again for it).

use super::credentials::Credentials;
use super::sign::{self, CONTENT_TYPE};
use crate::cloud::retry::Backoff;
use crate::cloud::transport::{Authenticator, Outgoing, Response, SendError, Transport};
use crate::lifecycle::PowerError;
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::SystemTime;

/// The OCI services gamefleet calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `https://compute-containers.{region}.oci.{sld}` (API 20210415).
    ContainerInstances,
    /// `https://iaas.{region}.{sld}` (API 20160918).
    Compute,
    /// `https://secrets.vaults.{region}.oci.{sld}` (API 20190301).
    Secrets,
}

/// The realm's second-level domain for a region; `oraclecloud.com` (oc1)
/// unless the region is one of the known government / dedicated ones.
pub fn second_level_domain(region: &str) -> &'static str {
    match region {
        // oc2, oc3
        "us-langley-1" | "us-luke-1" | "us-gov-ashburn-1" | "us-gov-chicago-1"
        | "us-gov-phoenix-1" => "oraclegovcloud.com",
        // oc4
        "uk-gov-london-1" | "uk-gov-cardiff-1" => "oraclegovcloud.uk",
        // oc8
        "ap-chiyoda-1" | "ap-ibaraki-1" => "oraclecloud8.com",
        _ => "oraclecloud.com",
    }
}

/// Where each service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    container_instances: url::Url,
    compute: url::Url,
    secrets: url::Url,
}

impl Endpoints {
    /// The public endpoints of `region`.
    pub fn for_region(region: &str) -> Result<Self, PowerError> {
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(PowerError::Config(format!(
                "OCI region {region:?} is not a region identifier (like us-ashburn-1)"
            )));
        }
        let sld = second_level_domain(region);
        let parse = |s: String| {
            url::Url::parse(&s)
                .map_err(|e| PowerError::Config(format!("OCI endpoint {s} is not a URL: {e}")))
        };
        Ok(Self {
            container_instances: parse(format!("https://compute-containers.{region}.oci.{sld}"))?,
            compute: parse(format!("https://iaas.{region}.{sld}"))?,
            secrets: parse(format!("https://secrets.vaults.{region}.oci.{sld}"))?,
        })
    }

    /// One base URL for every service (`OCI_ENDPOINT`: tests, private endpoints).
    pub fn single(base: &str) -> Result<Self, PowerError> {
        let url = url::Url::parse(base.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                PowerError::Config(format!(
                    "OCI_ENDPOINT={base:?} is not an http(s) URL like http://127.0.0.1:8080"
                ))
            })?;
        Ok(Self {
            container_instances: url.clone(),
            compute: url.clone(),
            secrets: url,
        })
    }

    /// `OCI_ENDPOINT` when set, else the region's endpoints.
    pub fn from_env(env: super::credentials::Env, region: &str) -> Result<Self, PowerError> {
        match env("OCI_ENDPOINT").filter(|v| !v.trim().is_empty()) {
            Some(base) => Self::single(&base),
            None => Self::for_region(region),
        }
    }

    pub fn base(&self, service: Service) -> &url::Url {
        match service {
            Service::ContainerInstances => &self.container_instances,
            Service::Compute => &self.compute,
            Service::Secrets => &self.secrets,
        }
    }
}

/// A final answer (after retries).
pub type OciResponse = Response;

/// Reading OCI's answers.
pub trait OciAnswer {
    fn json(&self) -> Result<Value, PowerError>;
    /// `{"code","message"}` of an OCI error answer.
    fn error_parts(&self) -> (String, String);
    /// What a non-success answer means.
    fn error(&self) -> PowerError;
}

fn request_id_suffix(r: &Response) -> String {
    r.header("opc-request-id")
        .map(|id| format!(" (opc-request-id: {id})"))
        .unwrap_or_default()
}

impl OciAnswer for Response {
    fn json(&self) -> Result<Value, PowerError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PowerError::Unavailable(format!(
                "OCI answered {} with a body that is not JSON: {e}{}",
                self.status,
                request_id_suffix(self)
            ))
        })
    }

    fn error_parts(&self) -> (String, String) {
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let code = s("code").unwrap_or_else(|| {
            self.status
                .canonical_reason()
                .unwrap_or("Unknown")
                .replace(' ', "")
        });
        let message = s("message").unwrap_or_else(|| self.body_excerpt(300));
        (code, message)
    }

    fn error(&self) -> PowerError {
        let (code, message) = self.error_parts();
        let status = self.status.as_u16();
        let text = format!(
            "OCI answered {status} {code}: {message}{}",
            request_id_suffix(self)
        );
        power_error(self.class(), text)
    }
}

pub use crate::cloud::transport::power_error;

/// OCI's credential: a fresh API-key signature (with a new `date`) on every
/// attempt; a 401 re-reads a rotated session token once.
struct Signer(Arc<dyn Credentials>);

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

#[async_trait::async_trait]
impl Authenticator<PowerError> for Signer {
    async fn authorize(&self, req: &Outgoing) -> Result<Vec<(&'static str, String)>, PowerError> {
        let id = self.0.identity().await?;
        let date = httpdate::fmt_http_date(SystemTime::now());
        let body = req.body.as_deref().unwrap_or_default();
        let signed = sign::sign(&req.method, &req.url, body, &date, &id.key_id, &id.key)?;
        Ok(signed.headers)
    }

    async fn reauthenticate(&self) -> Result<bool, PowerError> {
        // The identity in use now (another request may have renewed it already).
        let current = self.0.identity().await?;
        self.0.refresh(&current).await
    }
}

/// Signs, sends and retries; one per process, shared by the providers.
#[derive(Debug, Clone)]
pub struct OciClient {
    transport: Transport,
    credentials: Arc<dyn Credentials>,
    signer: Arc<Signer>,
    endpoints: Endpoints,
}

impl OciClient {
    pub fn new(
        http: reqwest::Client,
        credentials: Arc<dyn Credentials>,
        endpoints: Endpoints,
        backoff: Backoff,
    ) -> Self {
        Self {
            transport: Transport::new(http, backoff, "OCI"),
            signer: Arc::new(Signer(credentials.clone())),
            credentials,
            endpoints,
        }
    }

    pub fn region(&self) -> &str {
        self.credentials.region()
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// `{base}/{segments…}?{query}`, each segment percent-encoded.
    pub fn url(&self, service: Service, segments: &[&str], query: &[(&str, &str)]) -> url::Url {
        let mut url = self.endpoints.base(service).clone();
        // An http(s) base always has path segments (checked when it was built).
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// A 2xx answer, or the error the final answer means.
    pub async fn call(
        &self,
        method: Method,
        url: url::Url,
        headers: &[(&'static str, String)],
    ) -> Result<OciResponse, PowerError> {
        let r = self.send(method, url, headers).await?;
        if r.status.is_success() {
            Ok(r)
        } else {
            Err(r.error())
        }
    }

    /// Send one request (an empty body for POST/PUT/PATCH), retrying what is
    /// transient; the final answer whatever its status, or `Unavailable` when
    /// OCI could not be reached.
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        headers: &[(&'static str, String)],
    ) -> Result<OciResponse, PowerError> {
        let mut req = Outgoing::new(method.clone(), url)
            .header("accept", CONTENT_TYPE)
            .header("opc-request-id", uuid::Uuid::new_v4().simple().to_string());
        req.headers.extend(headers.iter().cloned());
        if sign::signs_body(&method) {
            req = req.body(bytes::Bytes::new());
        }
        match self.transport.send(&*self.signer, &req).await {
            Ok(r) => Ok(r),
            Err(SendError::Auth(e)) => Err(e),
            Err(SendError::Unreachable(m)) => Err(PowerError::Unavailable(m)),
        }
    }
}
