//! OCI API request signatures (Signature Version 1: draft-cavage-http-signatures-08,
//! `rsa-sha256` = RSASSA-PKCS1-v1_5 over SHA-256, base64).
//!
//! Signed headers, in this order (as Oracle's SDKs sign them):
//! * every request: `date (request-target) host`;
//! * POST, PUT, PATCH: also `content-length content-type x-content-sha256`, where
//!   `x-content-sha256` = base64(SHA-256(body)), for an empty body too.
//!
//! `(request-target)` is the lowercase method, a space, and the path and query
//! exactly as sent (already percent-encoded); `host` is the URL's host, with the
//! port when it is not the scheme's default (what the `Host` header carries).
//! See docs/reference/providers.md §3.1; the unit tests reproduce the
//! published vectors byte for byte.

use crate::lifecycle::PowerError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::Method;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};
use std::fmt;

/// The content type gamefleet sends (and signs) with every request body.
pub const CONTENT_TYPE: &str = "application/json";

/// An RSA private key ready to sign; its `Debug` never shows the key.
#[derive(Clone)]
pub struct PrivateKey(SigningKey<Sha256>);

impl PrivateKey {
    pub fn new(key: RsaPrivateKey) -> Self {
        Self(SigningKey::new(key))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// One signed request: the headers to add (`date`, the body headers for
/// POST/PUT/PATCH, `authorization`) and, for tests, what was signed.
#[derive(Clone)]
pub struct Signed {
    pub headers: Vec<(&'static str, String)>,
    pub signing_string: String,
    /// base64 of the RSA signature.
    pub signature: String,
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Signed")
            .field("headers", &names)
            .field("signing_string", &self.signing_string)
            .field("signature", &"<redacted>")
            .finish()
    }
}

impl Signed {
    /// The `authorization` header's value.
    pub fn authorization(&self) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| *n == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// Do requests with this method carry (and sign) a body?
pub fn signs_body(method: &Method) -> bool {
    *method == Method::POST || *method == Method::PUT || *method == Method::PATCH
}

/// The `host` value as the `Host` header carries it.
pub fn host_header(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// Sign one request. `date` is the IMF-fixdate sent in the `date` header
/// (`httpdate::fmt_http_date(SystemTime::now())` in production; fixed in tests).
/// `body` is ignored for GET/DELETE/HEAD; for POST/PUT/PATCH it is the exact
/// bytes sent (empty for the action calls).
pub fn sign(
    method: &Method,
    url: &url::Url,
    body: &[u8],
    date: &str,
    key_id: &str,
    key: &PrivateKey,
) -> Result<Signed, PowerError> {
    sign_with(method, url, body, date, key_id, key, true)
}

/// As [`sign`], without `host` among the signed headers: what the X.509
/// federation endpoint of the auth service is sent (instance principal;
/// providers.md §3.3, oci-go-sdk `federation_client.go`).
pub fn sign_without_host(
    method: &Method,
    url: &url::Url,
    body: &[u8],
    date: &str,
    key_id: &str,
    key: &PrivateKey,
) -> Result<Signed, PowerError> {
    sign_with(method, url, body, date, key_id, key, false)
}

fn sign_with(
    method: &Method,
    url: &url::Url,
    body: &[u8],
    date: &str,
    key_id: &str,
    key: &PrivateKey,
    with_host: bool,
) -> Result<Signed, PowerError> {
    let host = host_header(url)
        .ok_or_else(|| PowerError::Config(format!("cannot sign a request to {url}: no host")))?;
    let mut target = format!("{} {}", method.as_str().to_ascii_lowercase(), url.path());
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }

    let mut headers: Vec<(&'static str, String)> = vec![("date", date.to_owned())];
    let mut signed: Vec<(&'static str, String)> =
        vec![("date", date.to_owned()), ("(request-target)", target)];
    if with_host {
        signed.push(("host", host));
    }
    if signs_body(method) {
        let body_headers = [
            ("content-length", body.len().to_string()),
            ("content-type", CONTENT_TYPE.to_owned()),
            ("x-content-sha256", B64.encode(Sha256::digest(body))),
        ];
        signed.extend(body_headers.iter().cloned());
        headers.extend(body_headers);
    }

    let signing_string = signed
        .iter()
        .map(|(n, v)| format!("{n}: {v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let names = signed.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" ");
    // Blinded (random) RSA: PKCS#1 v1.5 signatures are still deterministic.
    let signature = key
        .0
        .try_sign_with_rng(&mut rsa::rand_core::OsRng, signing_string.as_bytes())
        .map_err(|e| PowerError::Config(format!("signing an OCI request failed: {e}")))?;
    let signature = B64.encode(signature.to_bytes());
    headers.push((
        "authorization",
        format!(
            r#"Signature version="1",headers="{names}",keyId="{key_id}",algorithm="rsa-sha256",signature="{signature}""#
        ),
    ));
    Ok(Signed {
        headers,
        signing_string,
        signature,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use serde_json::Value;

    pub(crate) const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/signing/oci-signing-vectors.json"
    );

    pub(crate) fn fixture() -> Value {
        let text = std::fs::read_to_string(VECTORS)
            .expect("the OCI signing vectors sit in tests/fixtures/signing");
        serde_json::from_str(&text).expect("vectors are JSON")
    }

    pub(crate) fn fixture_key() -> PrivateKey {
        let f = fixture();
        let pem = f["key"]["private_key_pem"].as_str().unwrap();
        PrivateKey::new(RsaPrivateKey::from_pkcs1_pem(pem).unwrap())
    }

    #[test]
    fn reproduces_every_published_vector_byte_for_byte() {
        let f = fixture();
        let key = fixture_key();
        let vectors = f["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 2);
        for v in vectors {
            let name = v["name"].as_str().unwrap();
            let method = Method::from_bytes(v["method"].as_str().unwrap().as_bytes()).unwrap();
            let url = url::Url::parse(v["url"].as_str().unwrap()).unwrap();
            let body = v["body"].as_str().unwrap_or("").as_bytes();
            let date = v["headers"]["date"].as_str().unwrap();
            assert_eq!(host_header(&url).as_deref(), v["headers"]["host"].as_str());

            for (key_id, expected) in [
                ("key_id_as_in_oci_go_sdk_test", "expected_authorization"),
                (
                    "key_id_with_actual_fingerprint",
                    "expected_authorization_with_actual_fingerprint",
                ),
            ] {
                let key_id = f["key"][key_id].as_str().unwrap();
                let s = sign(&method, &url, body, date, key_id, &key).unwrap();
                assert_eq!(
                    s.signing_string,
                    v["expected_signing_string"].as_str().unwrap(),
                    "{name}: signing string"
                );
                assert_eq!(
                    s.signature,
                    v["expected_signature"].as_str().unwrap(),
                    "{name}: signature"
                );
                assert_eq!(
                    s.authorization(),
                    v[expected].as_str().unwrap(),
                    "{name}: {expected}"
                );
                // Every header that was signed (except the two computed by the
                // transport: host, request-target) is among the headers to add.
                let want: Vec<&str> = v["signed_headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h.as_str().unwrap())
                    .filter(|h| !matches!(*h, "host" | "(request-target)"))
                    .collect();
                let names: Vec<&str> = s
                    .headers
                    .iter()
                    .map(|(n, _)| *n)
                    .filter(|n| *n != "authorization")
                    .collect();
                assert_eq!(names, want, "{name}: headers to add");
                for (n, value) in &s.headers {
                    if let Some(exp) = v["headers"][*n].as_str() {
                        assert_eq!(value, exp, "{name}: header {n}");
                    }
                }
            }
        }
    }

    #[test]
    fn empty_post_signs_the_empty_body_and_a_port() {
        let key = fixture_key();
        let url = url::Url::parse(
            "http://127.0.0.1:8123/20160918/instances/ocid1.instance.oc1..x?action=SOFTSTOP",
        )
        .unwrap();
        let s = sign(
            &Method::POST,
            &url,
            b"",
            "Sun, 05 Jan 2014 21:31:40 GMT",
            "k",
            &key,
        )
        .unwrap();
        assert_eq!(
            s.signing_string,
            "date: Sun, 05 Jan 2014 21:31:40 GMT\n\
             (request-target): post /20160918/instances/ocid1.instance.oc1..x?action=SOFTSTOP\n\
             host: 127.0.0.1:8123\n\
             content-length: 0\n\
             content-type: application/json\n\
             x-content-sha256: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        // A default port is not part of the Host header.
        let url = url::Url::parse("https://iaas.us-ashburn-1.oraclecloud.com:443/x").unwrap();
        assert_eq!(
            host_header(&url).as_deref(),
            Some("iaas.us-ashburn-1.oraclecloud.com")
        );
        let s = sign(&Method::DELETE, &url, b"ignored", "d", "k", &key).unwrap();
        assert_eq!(
            s.signing_string,
            "date: d\n(request-target): delete /x\nhost: iaas.us-ashburn-1.oraclecloud.com"
        );
        assert_eq!(s.headers.len(), 2, "date + authorization");
    }

    #[test]
    fn debug_never_shows_the_key_or_the_signature() {
        let key = fixture_key();
        assert_eq!(format!("{key:?}"), "PrivateKey(<redacted>)");
        let url = url::Url::parse("https://h/p").unwrap();
        let s = sign(&Method::GET, &url, b"", "d", "k", &key).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains(&s.signature), "{shown}");
    }
}
