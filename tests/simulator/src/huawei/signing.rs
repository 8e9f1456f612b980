//! Server-side check of Huawei `SDK-HMAC-SHA256` request signatures, written from
//! the algorithm (docs/reference/providers.md §5.5), not from gamefleet's
//! signer, so that the two check each other.
//!
//! The simulator recomputes the canonical request from what it received: the
//! method; the path with every segment decoded and re-encoded (only
//! `A-Za-z0-9-_.~` kept) and a `/` appended; the query decoded as a form, sorted
//! by name then value and re-encoded; the headers named in `SignedHeaders`
//! (`name:trimmed value`); the list; and the hex SHA-256 of the body (or the
//! literal `UNSIGNED-PAYLOAD` when `X-Sdk-Content-Sha256` says so). HMAC-SHA256 is
//! written out here over `sha2`.

use super::types::HuaweiKey;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};
use std::time::Duration;

const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// What the simulator received.
pub(crate) struct Received<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Why a request was refused, and the canonical request computed for it (once
/// the request got that far).
#[derive(Debug)]
pub(crate) struct Refused {
    pub reason: String,
    pub canonical_request: Option<String>,
}

fn refuse(reason: impl Into<String>) -> Refused {
    Refused {
        reason: reason.into(),
        canonical_request: None,
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 (RFC 2104): H((K ^ opad) || H((K ^ ipad) || m)), 64-byte blocks.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
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

fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn unescape(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let pair = bytes.get(i + 1..i + 3).filter(|_| bytes[i] == b'%');
        match pair
            .and_then(|p| std::str::from_utf8(p).ok())
            .and_then(|p| u8::from_str_radix(p, 16).ok())
        {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

pub(crate) fn canonical_path(path: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for segment in path.split('/') {
        out.push(escape(&unescape(segment)));
    }
    let mut joined = out.join("/");
    if !joined.ends_with('/') {
        joined.push('/');
    }
    joined
}

pub(crate) fn canonical_query(query: Option<&str>) -> String {
    let mut params: Vec<(String, String)> = match query {
        Some(q) => form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        None => Vec::new(),
    };
    params.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let encoded: Vec<String> = params
        .into_iter()
        .map(|(k, v)| escape(k.as_bytes()) + "=" + &escape(v.as_bytes()))
        .collect();
    encoded.join("&")
}

/// `(Access, SignedHeaders, Signature)` of an `Authorization` header.
fn parse_authorization(value: &str) -> Result<(&str, Vec<&str>, &str), Refused> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| refuse(format!("Authorization does not start with '{ALGORITHM} '")))?;
    let (mut access, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(|| {
            refuse(format!(
                "Authorization part '{}' is no key=value",
                part.trim()
            ))
        })?;
        let slot = match k {
            "Access" => &mut access,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            other => return Err(refuse(format!("unknown Authorization part '{other}'"))),
        };
        if slot.replace(v).is_some() {
            return Err(refuse(format!("Authorization part '{k}' given twice")));
        }
    }
    let access = access.ok_or_else(|| refuse("Authorization has no Access"))?;
    let signed = signed.ok_or_else(|| refuse("Authorization has no SignedHeaders"))?;
    let signature = signature.ok_or_else(|| refuse("Authorization has no Signature"))?;
    let names: Vec<&str> = signed.split(';').collect();
    if names
        .iter()
        .any(|n| n.is_empty() || n.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(refuse(format!(
            "SignedHeaders '{signed}' must be lower-case names"
        )));
    }
    if names.windows(2).any(|w| w[0] >= w[1]) {
        return Err(refuse(format!(
            "SignedHeaders '{signed}' must be sorted, without repeats"
        )));
    }
    Ok((access, names, signature))
}

/// The single value of a header, trimmed.
fn header_value<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Refused> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(refuse(format!("header '{name}' sent more than once")));
    }
    let v = first
        .to_str()
        .map_err(|_| refuse(format!("header '{name}' is not ASCII")))?;
    Ok(Some(v.trim()))
}

/// Checks the signature of `r`; returns the AK that signed it.
pub(crate) fn verify(
    r: &Received<'_>,
    now: DateTime<Utc>,
    skew_limit: Duration,
    key_of: impl Fn(&str) -> Option<HuaweiKey>,
) -> Result<String, Refused> {
    let auth = header_value(r.headers, "authorization")?
        .ok_or_else(|| refuse("no Authorization header"))?;
    let (access, names, signature) = parse_authorization(auth)?;
    let key = key_of(access).ok_or_else(|| refuse(format!("unknown access key '{access}'")))?;
    if !names.contains(&"x-sdk-date") {
        return Err(refuse("x-sdk-date is not signed"));
    }

    let sent_token = header_value(r.headers, "x-security-token")?;
    match (&key.security_token, sent_token) {
        (Some(want), Some(got)) if want == got => {
            if !names.contains(&"x-security-token") {
                return Err(refuse("x-security-token is not signed"));
            }
        }
        (Some(_), Some(_)) => return Err(refuse("wrong security token")),
        (Some(_), None) => {
            return Err(refuse(format!(
                "access key '{access}' is temporary but no X-Security-Token was sent"
            )))
        }
        (None, Some(_)) => {
            return Err(refuse(format!(
                "X-Security-Token sent with the permanent access key '{access}'"
            )))
        }
        (None, None) => {}
    }

    let mut canonical_headers = String::new();
    let mut date = "";
    for name in &names {
        let value = header_value(r.headers, name)?
            .ok_or_else(|| refuse(format!("signed header '{name}' is missing")))?;
        if *name == "x-sdk-date" {
            date = value;
        }
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value);
        canonical_headers.push('\n');
    }
    let signed_at = NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| refuse(format!("X-Sdk-Date '{date}' is not YYYYMMDDTHHMMSSZ")))?
        .and_utc();
    let off = (now - signed_at).abs().to_std().unwrap_or(Duration::MAX);
    if off > skew_limit {
        return Err(refuse(format!(
            "X-Sdk-Date {date} is {}s away from the simulator's clock (limit {}s)",
            off.as_secs(),
            skew_limit.as_secs()
        )));
    }

    let unsigned = header_value(r.headers, "x-sdk-content-sha256")? == Some("UNSIGNED-PAYLOAD");
    let payload = if unsigned {
        "UNSIGNED-PAYLOAD".to_string()
    } else {
        to_hex(&Sha256::digest(r.body))
    };
    let canonical_request = [
        r.method.to_string(),
        canonical_path(r.path),
        canonical_query(r.query),
        canonical_headers,
        names.join(";"),
        payload,
    ]
    .join("\n");
    let string_to_sign = format!(
        "{ALGORITHM}\n{date}\n{}",
        to_hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let expected = to_hex(&hmac_sha256(
        key.secret_key.as_bytes(),
        string_to_sign.as_bytes(),
    ));
    let same = expected.len() == signature.len()
        && expected
            .bytes()
            .zip(signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(Refused {
            reason: "verify aksk signature fail".to_string(),
            canonical_request: Some(canonical_request),
        });
    }
    Ok(access.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};
    use serde_json::Value;

    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            to_hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            to_hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn canonical_parts() {
        assert_eq!(canonical_path("/v1/p/jobs/j"), "/v1/p/jobs/j/");
        assert_eq!(canonical_path("/a%2fb/c d/"), "/a%2Fb/c%20d/");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(
            canonical_query(Some("server_id=b,a&limit=5&a=2&a=1&e")),
            "a=1&a=2&e=&limit=5&server_id=b%2Ca"
        );
        assert_eq!(canonical_query(None), "");
    }

    /// Every published vector verifies (with the headers that vector signs).
    #[test]
    fn accepts_every_fixture_vector() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/signing/huawei-signing-vectors.json"
        );
        let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let vectors = f["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            let s = |k: &str| v[k].as_str().unwrap();
            let url = url_parts(s("url"));
            let mut headers = HeaderMap::new();
            for (n, val) in v["headers"].as_object().unwrap() {
                headers.insert(
                    HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).unwrap(),
                    HeaderValue::from_str(val.as_str().unwrap()).unwrap(),
                );
            }
            headers.insert(
                "authorization",
                HeaderValue::from_str(s("expected_authorization")).unwrap(),
            );
            let date = NaiveDateTime::parse_from_str(
                v["headers"]["X-Sdk-Date"].as_str().unwrap(),
                "%Y%m%dT%H%M%SZ",
            )
            .unwrap()
            .and_utc();
            let r = Received {
                method: s("method"),
                path: &url.0,
                query: url.1.as_deref(),
                headers: &headers,
                body: s("body").as_bytes(),
            };
            let key = HuaweiKey::permanent(s("ak"), s("sk"));
            let got = verify(&r, date, Duration::from_secs(900), |ak| {
                (ak == key.access_key).then(|| key.clone())
            });
            assert_eq!(
                got.map_err(|e| e.reason).as_deref(),
                Ok(s("ak")),
                "{}",
                s("name")
            );
            let wrong = HuaweiKey::permanent(s("ak"), "wrong");
            let refused = verify(&r, date, Duration::from_secs(900), |_| Some(wrong.clone()))
                .expect_err("a wrong SK is refused");
            assert_eq!(
                refused.canonical_request.as_deref(),
                Some(s("expected_canonical_request")),
                "{}",
                s("name")
            );
        }
    }

    /// `(path, query)` of an absolute URL, without a URL crate.
    fn url_parts(url: &str) -> (String, Option<String>) {
        let after_scheme = url.split_once("://").unwrap().1;
        let path_and_query = &after_scheme[after_scheme.find('/').unwrap()..];
        match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_and_query.to_string(), None),
        }
    }
}
