//! The one OCI HTTP client: regional endpoints, a signature on every request,
//! retries of what is transient, and OCI's errors mapped to [`PowerError`].
//!
//! Retried with the project's [`Backoff`] (honouring `retry-after`): 429, 408,
//! 5xx except 501, refused connections and timeouts. Everything else is
//! returned at once — in particular 409 `IncorrectState`, which the lifecycle
//! core decides about. Each attempt is signed afresh (new `date`). A 401 makes
//! the credentials re-read a rotated session token once ([`Credentials::refresh`]);
//! if it changed, the request is sent again (an instance principal federates
//! again for it).

use super::auth::Credentials;
use super::sign::{self, CONTENT_TYPE};
use crate::cloud::retry::{self, Backoff, Retry};
use crate::lifecycle::PowerError;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
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
    pub fn from_env(env: super::auth::Env, region: &str) -> Result<Self, PowerError> {
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
#[derive(Debug)]
pub struct OciResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl OciResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Result<Value, PowerError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PowerError::Unavailable(format!(
                "OCI answered {} with a body that is not JSON: {e}{}",
                self.status,
                self.request_id_suffix()
            ))
        })
    }

    fn request_id_suffix(&self) -> String {
        self.header("opc-request-id")
            .map(|id| format!(" (opc-request-id: {id})"))
            .unwrap_or_default()
    }

    /// `{"code","message"}` of an OCI error answer.
    pub fn error_parts(&self) -> (String, String) {
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let code = s("code").unwrap_or_else(|| {
            self.status
                .canonical_reason()
                .unwrap_or("Unknown")
                .replace(' ', "")
        });
        let message = s("message").unwrap_or_else(|| {
            String::from_utf8_lossy(&self.body)
                .chars()
                .take(300)
                .collect()
        });
        (code, message)
    }

    /// What a non-success answer means.
    pub fn error(&self) -> PowerError {
        let (code, message) = self.error_parts();
        let status = self.status.as_u16();
        let text = format!(
            "OCI answered {status} {code}: {message}{}",
            self.request_id_suffix()
        );
        match status {
            401 | 403 => PowerError::Unauthorized(text),
            404 => PowerError::NotFound(text),
            408 | 429 => PowerError::Unavailable(text),
            _ if self.status.is_server_error() => PowerError::Unavailable(text),
            _ => PowerError::Rejected(text),
        }
    }
}

/// Signs, sends and retries; one per process, shared by the providers.
#[derive(Debug, Clone)]
pub struct OciClient {
    http: reqwest::Client,
    credentials: Arc<dyn Credentials>,
    endpoints: Endpoints,
    backoff: Backoff,
}

impl OciClient {
    pub fn new(
        http: reqwest::Client,
        credentials: Arc<dyn Credentials>,
        endpoints: Endpoints,
        backoff: Backoff,
    ) -> Self {
        Self {
            http,
            credentials,
            endpoints,
            backoff,
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
        let body: &[u8] = b"";
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let id = self.credentials.identity().await?;
            let date = httpdate::fmt_http_date(SystemTime::now());
            let signed = sign::sign(&method, &url, body, &date, &id.key_id, &id.key)?;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header("accept", CONTENT_TYPE)
                .header("opc-request-id", uuid::Uuid::new_v4().simple().to_string());
            for (name, value) in signed.headers.iter().chain(headers) {
                req = req.header(*name, value);
            }
            if sign::signs_body(&method) {
                req = req.body(body.to_vec());
            }
            let (retry_after, failure) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(body) => {
                            let answer = OciResponse {
                                status,
                                headers,
                                body,
                            };
                            if status == StatusCode::UNAUTHORIZED && !refreshed {
                                // A rotated session token: re-read it once and resend.
                                refreshed = true;
                                if self.credentials.refresh(&id).await? {
                                    attempt -= 1;
                                    continue;
                                }
                            }
                            if !retry::is_transient(status) {
                                return Ok(answer);
                            }
                            (retry::retry_after(&answer.headers), Ok(answer))
                        }
                        Err(e) => (None, Err(describe(&e, "reading the answer"))),
                    }
                }
                Err(e) => (None, Err(describe(&e, "sending"))),
            };
            match self.backoff.next(attempt, retry_after) {
                Retry::After(delay) => {
                    tracing::warn!(
                        %method,
                        path = url.path(),
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        status = failure.as_ref().map(|a| a.status.as_u16()).ok(),
                        opc_request_id = failure.as_ref().ok().and_then(|a| a.header("opc-request-id")),
                        error = failure.as_ref().err().map(String::as_str),
                        "retrying OCI call"
                    );
                    tokio::time::sleep(delay).await;
                }
                Retry::GiveUp => {
                    return failure.map_err(PowerError::Unavailable);
                }
            }
        }
    }
}

fn describe(e: &reqwest::Error, doing: &str) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "failed"
    };
    // reqwest's Display carries the URL: OCIDs, no secret (those are headers).
    format!("OCI request {kind} ({doing}): {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_endpoints_per_realm() {
        let e = Endpoints::for_region("us-ashburn-1").unwrap();
        assert_eq!(
            e.base(Service::ContainerInstances).as_str(),
            "https://compute-containers.us-ashburn-1.oci.oraclecloud.com/"
        );
        assert_eq!(
            e.base(Service::Compute).as_str(),
            "https://iaas.us-ashburn-1.oraclecloud.com/"
        );
        assert_eq!(
            e.base(Service::Secrets).as_str(),
            "https://secrets.vaults.us-ashburn-1.oci.oraclecloud.com/"
        );
        for (region, sld) in [
            ("eu-frankfurt-1", "oraclecloud.com"),
            ("us-langley-1", "oraclegovcloud.com"),
            ("us-gov-phoenix-1", "oraclegovcloud.com"),
            ("uk-gov-london-1", "oraclegovcloud.uk"),
            ("ap-chiyoda-1", "oraclecloud8.com"),
        ] {
            assert_eq!(
                Endpoints::for_region(region)
                    .unwrap()
                    .base(Service::Compute)
                    .as_str(),
                format!("https://iaas.{region}.{sld}/")
            );
        }
        for bad in ["", "US-ASHBURN-1", "evil.com/x", "a b"] {
            assert!(
                matches!(Endpoints::for_region(bad), Err(PowerError::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn oci_endpoint_overrides_every_host() {
        let env = |k: &str| (k == "OCI_ENDPOINT").then(|| "http://127.0.0.1:8123".to_owned());
        let e = Endpoints::from_env(&env, "us-ashburn-1").unwrap();
        for s in [
            Service::ContainerInstances,
            Service::Compute,
            Service::Secrets,
        ] {
            assert_eq!(e.base(s).as_str(), "http://127.0.0.1:8123/");
        }
        for bad in ["127.0.0.1:8123", "ftp://x", "not a url"] {
            assert!(
                matches!(Endpoints::single(bad), Err(PowerError::Config(m)) if m.contains("OCI_ENDPOINT")),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_map_by_status_and_carry_code_message_and_request_id() {
        let answer = |status: u16, body: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("opc-request-id", "REQ1".parse().unwrap());
            OciResponse {
                status: StatusCode::from_u16(status).unwrap(),
                headers,
                body: Bytes::from(body.to_owned()),
            }
        };
        let e = answer(
            401,
            r#"{"code":"NotAuthenticated","message":"bad signature"}"#,
        )
        .error();
        assert_eq!(
            e,
            PowerError::Unauthorized(
                "OCI answered 401 NotAuthenticated: bad signature (opc-request-id: REQ1)".into()
            )
        );
        for (status, want) in [
            (403, "Unauthorized"),
            (404, "NotFound"),
            (400, "Rejected"),
            (409, "Rejected"),
            (412, "Rejected"),
            (429, "Unavailable"),
            (500, "Unavailable"),
            (501, "Unavailable"),
            (503, "Unavailable"),
        ] {
            let e = answer(status, r#"{"code":"C","message":"m"}"#).error();
            let got = format!("{e:?}");
            assert!(got.starts_with(want), "{status}: {got}");
            assert!(e.to_string().contains(&format!("{status} C: m")), "{e}");
        }
        let e = answer(502, "<html>bad gateway</html>").error();
        assert_eq!(
            e.to_string(),
            "OCI answered 502 BadGateway: <html>bad gateway</html> (opc-request-id: REQ1)"
        );
    }
}
