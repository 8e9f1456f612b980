//! Server-side check of OCI request signatures (API Signature Version 1:
//! draft-cavage-http-signatures-08 with `rsa-sha256`), API keys, and the simulator's
//! resource-principal session tokens (RPST).
//!
//! Written from the protocol description (docs/reference/providers.md §3), not from
//! any client: the signing string is rebuilt from the request exactly as received.

use axum::http::{HeaderMap, Method};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// `keyId` prefix of session-token (resource / instance principal) signatures.
pub(crate) const SESSION_TOKEN_PREFIX: &str = "ST$";

/// The parameters of an `Authorization: Signature ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthParams {
    pub version: String,
    /// Lower-cased header names, in the order they were signed.
    pub headers: Vec<String>,
    pub key_id: String,
    pub algorithm: String,
    pub signature: String,
}

/// Parses `Signature version="1",headers="...",keyId="...",algorithm="rsa-sha256",signature="..."`.
/// The scheme and the parameter names are matched case-insensitively; every parameter
/// is required, each at most once.
pub(crate) fn parse_authorization(value: &str) -> Result<AuthParams, String> {
    let value = value.trim();
    let (scheme, mut rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .ok_or("the Authorization header has no parameters")?;
    if !scheme.eq_ignore_ascii_case("Signature") {
        return Err(format!(
            "the Authorization scheme is '{scheme}', expected 'Signature'"
        ));
    }
    let mut version = None;
    let mut headers = None;
    let mut key_id = None;
    let mut algorithm = None;
    let mut signature = None;
    rest = rest.trim_start();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("malformed Authorization parameter near '{rest}'"))?;
        let name = name.trim().to_ascii_lowercase();
        let after = after.trim_start().strip_prefix('"').ok_or_else(|| {
            format!("the value of Authorization parameter '{name}' is not quoted")
        })?;
        let (val, after) = after.split_once('"').ok_or_else(|| {
            format!("the value of Authorization parameter '{name}' is not terminated")
        })?;
        let slot = match name.as_str() {
            "version" => &mut version,
            "headers" => &mut headers,
            "keyid" => &mut key_id,
            "algorithm" => &mut algorithm,
            "signature" => &mut signature,
            other => return Err(format!("unknown Authorization parameter '{other}'")),
        };
        if slot.replace(val.to_string()).is_some() {
            return Err(format!("Authorization parameter '{name}' appears twice"));
        }
        rest = after.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(format!(
                "Authorization parameters must be separated by ',' (near '{rest}')"
            ));
        }
    }
    let missing = |n: &str| format!("the Authorization header has no {n} parameter");
    let version = version.ok_or_else(|| missing("version"))?;
    if version != "1" {
        return Err(format!(
            "unsupported signature version '{version}' (only \"1\")"
        ));
    }
    let algorithm = algorithm.ok_or_else(|| missing("algorithm"))?;
    if algorithm != "rsa-sha256" {
        return Err(format!(
            "unsupported signature algorithm '{algorithm}' (only \"rsa-sha256\")"
        ));
    }
    let key_id = key_id.ok_or_else(|| missing("keyId"))?;
    if key_id.is_empty() {
        return Err("the keyId is empty".to_string());
    }
    let signature = signature.ok_or_else(|| missing("signature"))?;
    let headers: Vec<String> = headers
        .ok_or_else(|| missing("headers"))?
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    if headers.is_empty() {
        return Err("the headers parameter lists no header".to_string());
    }
    Ok(AuthParams {
        version,
        headers,
        key_id,
        algorithm,
        signature,
    })
}

/// The request as received, for the signature check.
pub(crate) struct Received<'a> {
    pub method: &'a Method,
    /// Path and query exactly as received (origin form).
    pub target: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

fn has_body_headers(method: &Method) -> bool {
    method == Method::POST || method == Method::PUT || method == Method::PATCH
}

/// Headers OCI requires in the signature for this method.
pub(crate) fn check_required_headers(method: &Method, signed: &[String]) -> Result<(), String> {
    let has = |n: &str| signed.iter().any(|h| h == n);
    if !has("date") && !has("x-date") {
        return Err("the signed headers must include 'date' or 'x-date'".to_string());
    }
    let mut required = vec!["(request-target)", "host"];
    if has_body_headers(method) {
        required.extend(["content-length", "content-type", "x-content-sha256"]);
    }
    for name in required {
        if !has(name) {
            return Err(format!(
                "the signed headers of a {method} request must include '{name}' (signed: \"{}\")",
                signed.join(" ")
            ));
        }
    }
    Ok(())
}

/// The value of a header as received (several occurrences joined with ", ").
fn header_value(headers: &HeaderMap, name: &str) -> Result<String, String> {
    let mut values = Vec::new();
    for v in headers.get_all(name) {
        values.push(
            v.to_str()
                .map_err(|_| format!("header '{name}' is not printable ASCII"))?,
        );
    }
    if values.is_empty() {
        return Err(format!(
            "header '{name}' is listed in the signature but missing from the request"
        ));
    }
    Ok(values.join(", "))
}

/// `"<name>: <value>"` per signed header, joined with `\n` (no trailing newline).
pub(crate) fn signing_string(signed: &[String], req: &Received) -> Result<String, String> {
    let mut lines = Vec::with_capacity(signed.len());
    for name in signed {
        let value = if name == "(request-target)" {
            format!(
                "{} {}",
                req.method.as_str().to_ascii_lowercase(),
                req.target
            )
        } else {
            header_value(req.headers, name)?
        };
        lines.push(format!("{name}: {value}"));
    }
    Ok(lines.join("\n"))
}

/// `x-content-sha256` and `content-length`, when signed, must describe the body received.
pub(crate) fn check_body(signed: &[String], req: &Received) -> Result<(), String> {
    if signed.iter().any(|h| h == "x-content-sha256") {
        let got = header_value(req.headers, "x-content-sha256")?;
        let want = STANDARD.encode(Sha256::digest(req.body));
        if got != want {
            return Err(format!(
                "x-content-sha256 '{got}' does not match the body received (base64 SHA-256 '{want}')"
            ));
        }
    }
    if signed.iter().any(|h| h == "content-length") {
        let got = header_value(req.headers, "content-length")?;
        if got.parse::<usize>().ok() != Some(req.body.len()) {
            return Err(format!(
                "content-length '{got}' does not match the {} bytes of body received",
                req.body.len()
            ));
        }
    }
    Ok(())
}

/// RFC 1123 date in GMT as Go's `http.TimeFormat` writes it
/// (`Sun, 06 Nov 1994 08:49:37 GMT`). The weekday name is checked for form only
/// (Oracle's own test vector carries a wrong one).
pub(crate) fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    if s.len() != 29 || !s.is_ascii() || !DAYS.contains(&&s[..3]) || &s[3..5] != ", " {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(&s[5..], "%d %b %Y %H:%M:%S GMT").ok()?;
    Some(naive.and_utc())
}

/// The signed date (`x-date` wins over `date`) must be within `limit` of `now`.
pub(crate) fn check_date(
    signed: &[String],
    req: &Received,
    now: DateTime<Utc>,
    limit: Duration,
) -> Result<(), String> {
    let name = if signed.iter().any(|h| h == "x-date") {
        "x-date"
    } else {
        "date"
    };
    let value = header_value(req.headers, name)?;
    let date = parse_http_date(&value)
        .ok_or_else(|| format!("the {name} header '{value}' is not an RFC 1123 date in GMT"))?;
    let skew = (now - date).abs().to_std().unwrap_or(Duration::MAX);
    if skew > limit {
        return Err(format!(
            "the {name} header '{value}' is {}s away from the server time {} (limit {}s)",
            skew.as_secs(),
            now.format("%a, %d %b %Y %H:%M:%S GMT"),
            limit.as_secs()
        ));
    }
    Ok(())
}

/// RSASSA-PKCS1-v1_5 / SHA-256 over the signing string.
pub(crate) fn verify_signature(
    key: &RsaPublicKey,
    signing_string: &str,
    signature_b64: &str,
) -> Result<(), String> {
    let bytes = STANDARD
        .decode(signature_b64)
        .map_err(|_| "the signature is not valid base64".to_string())?;
    let sig = Signature::try_from(bytes.as_slice())
        .map_err(|_| "the signature is malformed".to_string())?;
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(signing_string.as_bytes(), &sig)
        .map_err(|_| "the signature does not verify against the key of the keyId".to_string())
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthError {
    pub reason: String,
}

impl From<String> for AuthError {
    fn from(reason: String) -> Self {
        AuthError { reason }
    }
}

/// Headers the auth service's X.509 federation endpoint requires in the
/// signature: the body headers and `date`/`x-date`, `(request-target)`; the
/// SDKs do not sign `host` there (providers.md §3.3), so it is optional.
pub(crate) fn check_federation_headers(method: &Method, signed: &[String]) -> Result<(), String> {
    let has = |n: &str| signed.iter().any(|h| h == n);
    if !has("date") && !has("x-date") {
        return Err("the signed headers must include 'date' or 'x-date'".to_string());
    }
    for name in [
        "(request-target)",
        "content-length",
        "content-type",
        "x-content-sha256",
    ] {
        if !has(name) {
            return Err(format!(
                "the signed headers of a {method} federation request must include '{name}' (signed: \"{}\")",
                signed.join(" ")
            ));
        }
    }
    Ok(())
}

/// The whole check; `Ok(keyId)` if the request is authentic. `resolve` maps a keyId
/// to its public key (or says why it cannot).
pub(crate) fn verify_request(
    req: &Received,
    now: DateTime<Utc>,
    skew_limit: Duration,
    resolve: impl FnOnce(&str) -> Result<RsaPublicKey, String>,
) -> Result<String, AuthError> {
    verify_request_with(req, now, skew_limit, check_required_headers, resolve)
}

/// [`verify_request`] with another rule for the headers that must be signed.
pub(crate) fn verify_request_with(
    req: &Received,
    now: DateTime<Utc>,
    skew_limit: Duration,
    required: fn(&Method, &[String]) -> Result<(), String>,
    resolve: impl FnOnce(&str) -> Result<RsaPublicKey, String>,
) -> Result<String, AuthError> {
    let auth = req
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| "the request has no Authorization header".to_string())?
        .to_str()
        .map_err(|_| "the Authorization header is not printable ASCII".to_string())?;
    let params = parse_authorization(auth)?;
    required(req.method, &params.headers)?;
    let text = signing_string(&params.headers, req)?;
    check_body(&params.headers, req)?;
    check_date(&params.headers, req, now, skew_limit)?;
    let key = resolve(&params.key_id)?;
    verify_signature(&key, &text, &params.signature)?;
    Ok(params.key_id)
}

// ------------------------------------------------------------------ keys

/// An RSA public key from `BEGIN PUBLIC KEY` (SPKI) or `BEGIN RSA PUBLIC KEY` (PKCS#1) PEM.
pub(crate) fn parse_public_key_pem(pem: &str) -> Result<RsaPublicKey, String> {
    let pem = pem.trim();
    if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
        RsaPublicKey::from_pkcs1_pem(pem).map_err(|e| format!("bad PKCS#1 public key: {e}"))
    } else if pem.starts_with("-----BEGIN PUBLIC KEY-----") {
        RsaPublicKey::from_public_key_pem(pem).map_err(|e| format!("bad SPKI public key: {e}"))
    } else {
        Err("expected a PEM 'BEGIN PUBLIC KEY' or 'BEGIN RSA PUBLIC KEY' block".to_string())
    }
}

/// `<tenancy>/<user>/<fingerprint>`, three non-empty parts. The fingerprint is not
/// compared with the key (Oracle's own sample keyId carries a wrong one).
pub(crate) fn check_api_key_id(key_id: &str) -> Result<(), String> {
    let parts: Vec<&str> = key_id.split('/').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "keyId '{key_id}' is not '<tenancy OCID>/<user OCID>/<fingerprint>'"
        ));
    }
    if key_id.starts_with(SESSION_TOKEN_PREFIX) {
        return Err("an API keyId cannot start with 'ST$'".to_string());
    }
    Ok(())
}

// ------------------------------------------------------------------ RPST

/// HMAC-SHA256 (RFC 2104).
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// A JWT `header.payload.signature` (base64url without padding) carrying the RPST
/// claims and the bound public key as `jwk`; signed with HMAC-SHA256 under `secret`.
pub(crate) fn mint_rpst(
    secret: &[u8],
    key: &RsaPublicKey,
    tenancy: &str,
    compartment: &str,
    lifetime: Duration,
    now: DateTime<Utc>,
) -> String {
    let claims = json!({
        "sub": format!("ocid1.resource.oc1..{}", uuid::Uuid::new_v4()),
        "ttype": "res",
        "res_type": "containerinstance",
        "res_tenant": tenancy,
        "res_compartment": compartment,
    });
    mint_token(secret, key, claims, lifetime, now)
}

/// A session token (JWT, HMAC-SHA256 under `secret`) with `claims` plus `iss`,
/// `aud`, `iat`, `exp` (`iat` + `lifetime`, rounded up to whole seconds), `jti`
/// and the bound public key as `jwk`: what [`check_rpst`] accepts, for resource
/// and instance principals alike.
pub(crate) fn mint_token(
    secret: &[u8],
    key: &RsaPublicKey,
    claims: Value,
    lifetime: Duration,
    now: DateTime<Utc>,
) -> String {
    let iat = now.timestamp();
    let secs = lifetime.as_secs() + u64::from(lifetime.subsec_nanos() > 0);
    let exp = iat.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX));
    let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
    let kid = uuid::Uuid::new_v4().to_string();
    let header = json!({ "alg": "HS256", "typ": "JWT", "kid": "gamefleet-sim" });
    let mut payload = json!({
        "iss": "authService.oracle.com",
        "aud": "oci",
        "iat": iat,
        "exp": exp,
        "jti": uuid::Uuid::new_v4().to_string(),
        "jwk": { "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": n, "e": e },
    });
    if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), claims) {
        for (k, v) in extra {
            p.entry(k).or_insert(v);
        }
    }
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let mac = hmac_sha256(secret, signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// The public key bound to an RPST minted under `secret`, if the token is intact and
/// not expired at `now`.
pub(crate) fn check_rpst(
    secret: &[u8],
    token: &str,
    now: DateTime<Utc>,
) -> Result<RsaPublicKey, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the session token is not a JWT (header.payload.signature)".to_string());
    };
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| "the session token signature is not base64url".to_string())?;
    let want = hmac_sha256(secret, format!("{header}.{payload}").as_bytes());
    let same =
        sig.len() == want.len() && sig.iter().zip(want).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0;
    if !same {
        return Err("the session token was not issued by this simulator".to_string());
    }
    let claims: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or("the session token payload is not JSON")?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("the session token has no exp")?;
    if now.timestamp() >= exp {
        return Err(format!(
            "the session token expired at {} (now {})",
            DateTime::from_timestamp(exp, 0)
                .unwrap_or_default()
                .to_rfc3339(),
            now.to_rfc3339()
        ));
    }
    let part = |name: &str| {
        claims
            .get("jwk")
            .and_then(|j| j.get(name))
            .and_then(Value::as_str)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or_else(|| format!("the session token jwk has no '{name}'"))
    };
    let n = BigUint::from_bytes_be(&part("n")?);
    let e = BigUint::from_bytes_be(&part("e")?);
    RsaPublicKey::new(n, e).map_err(|e| format!("the session token jwk is not an RSA key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};

    fn fixture() -> Value {
        let path = format!(
            "{}/../fixtures/signing/oci-signing-vectors.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (tests/fixtures is part of the repository)"));
        serde_json::from_str(&text).expect("fixture is JSON")
    }

    struct Vector {
        method: Method,
        target: String,
        headers: HeaderMap,
        body: Vec<u8>,
        expected_signing_string: String,
        now: DateTime<Utc>,
    }

    /// The request of a vector, with the `Authorization` header the SDK test expects.
    fn vector(v: &Value) -> Vector {
        let url = v["url"].as_str().expect("url");
        let after_scheme = url.split_once("://").expect("absolute url").1;
        let target = &after_scheme[after_scheme.find('/').expect("path")..];
        let mut headers = HeaderMap::new();
        for (k, val) in v["headers"].as_object().expect("headers") {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(val.as_str().expect("value")).expect("value"),
            );
        }
        headers.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(v["expected_authorization"].as_str().expect("auth"))
                .expect("auth value"),
        );
        let now = parse_http_date(v["headers"]["date"].as_str().expect("date")).expect("date");
        Vector {
            method: Method::from_bytes(v["method"].as_str().expect("method").as_bytes())
                .expect("method"),
            target: target.to_string(),
            headers,
            body: v["body"].as_str().unwrap_or("").as_bytes().to_vec(),
            expected_signing_string: v["expected_signing_string"]
                .as_str()
                .expect("signing string")
                .to_string(),
            now,
        }
    }

    fn check(vec: &Vector, key: &RsaPublicKey, key_id: &str) -> Result<String, AuthError> {
        let req = Received {
            method: &vec.method,
            target: &vec.target,
            headers: &vec.headers,
            body: &vec.body,
        };
        verify_request(&req, vec.now, Duration::from_secs(300), |id| {
            if id == key_id {
                Ok(key.clone())
            } else {
                Err(format!("unknown keyId {id}"))
            }
        })
    }

    #[test]
    fn oracle_vectors_verify_and_tampering_fails() {
        let fx = fixture();
        let key = parse_public_key_pem(fx["key"]["public_key_pem"].as_str().expect("pem"))
            .expect("fixture public key");
        let key_id = fx["key"]["key_id_as_in_oci_go_sdk_test"]
            .as_str()
            .expect("keyId");
        let vectors = fx["vectors"].as_array().expect("vectors");
        assert_eq!(vectors.len(), 2);
        for v in vectors {
            let name = v["name"].as_str().unwrap_or("?");
            let vec = vector(v);
            let auth = parse_authorization(
                vec.headers[axum::http::header::AUTHORIZATION]
                    .to_str()
                    .expect("ascii"),
            )
            .expect("authorization parses");
            let signed: Vec<String> = v["signed_headers"]
                .as_array()
                .expect("signed headers")
                .iter()
                .map(|h| h.as_str().expect("name").to_string())
                .collect();
            assert_eq!(auth.headers, signed, "{name}");
            assert_eq!(auth.key_id, key_id);
            assert_eq!(
                auth.signature,
                v["expected_signature"].as_str().expect("sig")
            );
            let req = Received {
                method: &vec.method,
                target: &vec.target,
                headers: &vec.headers,
                body: &vec.body,
            };
            assert_eq!(
                signing_string(&auth.headers, &req).expect("signing string"),
                vec.expected_signing_string,
                "{name}"
            );
            verify_signature(&key, &vec.expected_signing_string, &auth.signature)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(check(&vec, &key, key_id), Ok(key_id.to_string()), "{name}");

            // One second later is still within the skew limit.
            let mut later = vector(v);
            later.now += chrono::Duration::seconds(1);
            assert!(check(&later, &key, key_id).is_ok(), "{name}");

            // A different date (one byte) breaks the signature.
            let mut tampered = vector(v);
            tampered.headers.insert(
                "date",
                HeaderValue::from_static("Thu, 05 Jan 2014 21:31:41 GMT"),
            );
            let err = check(&tampered, &key, key_id).expect_err("date changed");
            assert!(err.reason.contains("does not verify"), "{name}: {err:?}");

            // The date must be near the server's clock.
            let mut stale = vector(v);
            stale.now += chrono::Duration::seconds(301);
            let err = check(&stale, &key, key_id).expect_err("stale");
            assert!(err.reason.contains("away from the server time"), "{err:?}");

            // Unknown keyId.
            let err = check(&vec, &key, "someone/else/00").expect_err("unknown key");
            assert!(err.reason.contains("unknown keyId"), "{err:?}");
        }

        // POST: one byte of the body flipped.
        let mut post = vector(&vectors[1]);
        assert_eq!(post.body.len(), 316);
        post.body[20] ^= 0x01;
        let err = check(&post, &key, key_id).expect_err("body changed");
        assert!(err.reason.contains("x-content-sha256"), "{err:?}");
        // POST: the signature itself flipped.
        let mut post = vector(&vectors[1]);
        let bad = vectors[1]["expected_authorization"]
            .as_str()
            .expect("auth")
            .replace("signature=\"Mje8", "signature=\"Mje9");
        post.headers.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(&bad).expect("value"),
        );
        assert!(check(&post, &key, key_id).is_err());
    }

    #[test]
    fn post_needs_the_body_headers_signed() {
        let fx = fixture();
        let key =
            parse_public_key_pem(fx["key"]["public_key_pem"].as_str().expect("pem")).expect("key");
        let key_id = fx["key"]["key_id_as_in_oci_go_sdk_test"]
            .as_str()
            .expect("keyId");
        // The GET vector's signature, replayed as a POST: the header list is too short.
        let mut get = vector(&fx["vectors"][0]);
        get.method = Method::POST;
        let err = check(&get, &key, key_id).expect_err("POST without body headers");
        assert!(err.reason.contains("'content-length'"), "{err:?}");
        assert!(check_required_headers(
            &Method::GET,
            &["x-date".into(), "(request-target)".into(), "host".into()]
        )
        .is_ok());
        assert!(
            check_required_headers(&Method::GET, &["(request-target)".into(), "host".into()])
                .is_err()
        );
    }

    #[test]
    fn public_key_pem_forms() {
        let fx = fixture();
        let spki = fx["key"]["public_key_pem"].as_str().expect("pem");
        let key = parse_public_key_pem(spki).expect("spki");
        use rsa::pkcs1::EncodeRsaPublicKey;
        let pkcs1 = key
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .expect("encode");
        assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        assert_eq!(parse_public_key_pem(&pkcs1).expect("pkcs1"), key);
        assert!(parse_public_key_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
        )
        .is_err());
        assert!(
            parse_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        assert!(check_api_key_id("t/u/fp").is_ok());
        assert!(check_api_key_id("t/u").is_err());
        assert!(check_api_key_id("t//fp").is_err());
    }

    #[test]
    fn authorization_parsing() {
        let ok = r#"Signature version="1",headers="date (request-target) host",keyId="a/b/c",algorithm="rsa-sha256",signature="c2ln""#;
        let p = parse_authorization(ok).expect("parses");
        assert_eq!(p.headers, ["date", "(request-target)", "host"]);
        assert_eq!(p.key_id, "a/b/c");
        assert_eq!(p.signature, "c2ln");
        // Scheme and parameter names are case-insensitive; spaces after commas are fine.
        let loose = r#"signature Version="1", Headers="Date (request-target) host", KEYID="a/b/c", algorithm="rsa-sha256", signature="c2ln""#;
        assert_eq!(parse_authorization(loose).expect("parses"), p);
        for bad in [
            "",
            "Signature",
            "Bearer abc",
            r#"Signature version="1",headers="date",keyId="a/b/c",algorithm="rsa-sha256""#,
            r#"Signature version="2",headers="date",keyId="a",algorithm="rsa-sha256",signature="x""#,
            r#"Signature version="1",headers="date",keyId="a",algorithm="hmac-sha256",signature="x""#,
            r#"Signature version="1",headers="date",keyId=a,algorithm="rsa-sha256",signature="x""#,
            r#"Signature version="1",headers="date",keyId="a",algorithm="rsa-sha256",signature="x"#,
            r#"Signature version="1" headers="date",keyId="a",algorithm="rsa-sha256",signature="x""#,
            r#"Signature version="1",headers="",keyId="a",algorithm="rsa-sha256",signature="x""#,
            r#"Signature version="1",version="1",headers="date",keyId="a",algorithm="rsa-sha256",signature="x""#,
            r#"Signature version="1",headers="date",keyId="a",algorithm="rsa-sha256",signature="x",extra="y""#,
        ] {
            assert!(parse_authorization(bad).is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn http_dates() {
        let d = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("rfc 1123");
        assert_eq!(d.to_rfc3339(), "1994-11-06T08:49:37+00:00");
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
        ] {
            assert!(parse_http_date(bad).is_none(), "accepted: {bad}");
        }
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6 (key longer than the block).
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn rpst_round_trip() {
        let fx = fixture();
        let key =
            parse_public_key_pem(fx["key"]["public_key_pem"].as_str().expect("pem")).expect("key");
        let now = Utc::now();
        let token = mint_rpst(
            b"secret",
            &key,
            "ocid1.tenancy.oc1..t",
            "ocid1.compartment.oc1..c",
            Duration::from_secs(60),
            now,
        );
        assert_eq!(token.split('.').count(), 3);
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).expect("payload"))
                .expect("b64"),
        )
        .expect("json");
        assert_eq!(claims["res_tenant"], "ocid1.tenancy.oc1..t");
        assert_eq!(claims["res_compartment"], "ocid1.compartment.oc1..c");
        assert_eq!(claims["exp"].as_i64(), Some(now.timestamp() + 60));
        assert_eq!(check_rpst(b"secret", &token, now), Ok(key.clone()));
        assert!(check_rpst(b"other", &token, now).is_err());
        let err = check_rpst(b"secret", &token, now + chrono::Duration::seconds(61))
            .expect_err("expired");
        assert!(err.contains("expired"), "{err}");
        let mut forged = token.clone();
        forged.insert(forged.find('.').expect("dot") + 3, 'x');
        assert!(check_rpst(b"secret", &forged, now).is_err());
        // A zero lifetime is expired at once; a sub-second one is not.
        let t0 = mint_rpst(b"s", &key, "t", "c", Duration::ZERO, now);
        assert!(check_rpst(b"s", &t0, now).is_err());
        let t1 = mint_rpst(b"s", &key, "t", "c", Duration::from_millis(200), now);
        assert!(check_rpst(b"s", &t1, now).is_ok());
    }
}
