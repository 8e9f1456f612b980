//! OCI Vault secret bundles (Secrets API `20190301`): the plaintext of a
//! secret, as the original OCI function kept its target OCID.

use super::client::{OciAnswer, OciClient, Service};
use super::require_ocid;
use crate::lifecycle::PowerError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::Method;
use serde_json::Value;

pub const API: &str = "20190301";

/// `GET /secretbundles/{secretId}` (current version) → the decoded content, trimmed.
pub async fn secret(client: &OciClient, secret_id: &str) -> Result<String, PowerError> {
    let id = require_ocid(secret_id, super::ocid::OcidType::VaultSecret)?;
    let url = client.url(Service::Secrets, &[API, "secretbundles", id], &[]);
    let bundle = client.call(Method::GET, url, &[]).await?.json()?;
    decode_bundle(&bundle, id)
}

/// `secretBundleContent: {contentType: "BASE64", content}` → UTF-8 text, trimmed.
pub fn decode_bundle(bundle: &Value, secret_id: &str) -> Result<String, PowerError> {
    let fail = |why: &str| PowerError::Config(format!("secret {secret_id}: {why}"));
    let content = bundle
        .get("secretBundleContent")
        .ok_or_else(|| fail("the secret bundle has no secretBundleContent"))?;
    match content.get("contentType").and_then(Value::as_str) {
        Some("BASE64") => {}
        Some(other) => {
            return Err(fail(&format!(
                "content type {other} is not supported (only BASE64)"
            )))
        }
        None => return Err(fail("the secret bundle has no contentType")),
    }
    let encoded = content
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("the secret bundle has no content"))?;
    let bytes = B64
        .decode(encoded.trim())
        .map_err(|_| fail("the content is not valid base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| fail("the content is not UTF-8 text"))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(fail("the secret is empty"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_base64_content_trimmed() {
        let b = json!({"secretId": "s", "secretBundleContent": {
            "contentType": "BASE64",
            "content": B64.encode("ocid1.containerinstance.oc1..abc\n")
        }});
        assert_eq!(
            decode_bundle(&b, "s").unwrap(),
            "ocid1.containerinstance.oc1..abc"
        );
    }

    #[test]
    fn anything_else_is_a_config_error_that_shows_no_content() {
        for (bundle, why) in [
            (json!({}), "no secretBundleContent"),
            (
                json!({"secretBundleContent": {"contentType": "TEXT", "content": "x"}}),
                "TEXT is not supported",
            ),
            (
                json!({"secretBundleContent": {"content": "x"}}),
                "no contentType",
            ),
            (
                json!({"secretBundleContent": {"contentType": "BASE64"}}),
                "no content",
            ),
            (
                json!({"secretBundleContent": {"contentType": "BASE64", "content": "hunter2!!"}}),
                "not valid base64",
            ),
            (
                json!({"secretBundleContent": {"contentType": "BASE64", "content": B64.encode([0xff, 0xfe])}}),
                "not UTF-8",
            ),
            (
                json!({"secretBundleContent": {"contentType": "BASE64", "content": B64.encode("  \n")}}),
                "empty",
            ),
        ] {
            match decode_bundle(&bundle, "ocid1.vaultsecret.x") {
                Err(PowerError::Config(m)) => {
                    assert!(m.starts_with("secret ocid1.vaultsecret.x: "), "{m}");
                    assert!(m.contains(why), "{m}");
                    assert!(!m.contains("hunter2"), "{m}");
                }
                other => panic!("{why}: {other:?}"),
            }
        }
    }
}
