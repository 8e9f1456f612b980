//! What every OCI principal shares: the identity that signs one request, the
//! [`Credentials`] trait the principals implement ([`super::auth`] picks one),
//! and the key and token parsing they all need.

use super::sign::PrivateKey;
use crate::lifecycle::PowerError;
use async_trait::async_trait;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::RsaPrivateKey;
use std::fmt;
use std::time::Duration;

/// The environment, injected: `|name| std::env::var(name).ok()` in production.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A file-based session token is re-read when it expires within this.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// The key id and key that sign one request. `Debug` hides the key and a
/// session token.
#[derive(Clone)]
pub struct Identity {
    pub key_id: String,
    pub key: PrivateKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key_id = if self.key_id.starts_with("ST$") {
            "ST$<redacted>"
        } else {
            &self.key_id
        };
        f.debug_struct("Identity")
            .field("key_id", &key_id)
            .field("key", &self.key)
            .finish()
    }
}

/// A source of signing identities.
#[async_trait]
pub trait Credentials: Send + Sync + fmt::Debug {
    /// The identity for the next request (may re-read a rotated token, or
    /// federate again for a new one).
    async fn identity(&self) -> Result<Identity, PowerError>;
    /// The region these credentials belong to (endpoints are built from it).
    fn region(&self) -> &str;
    /// OCI refused a request signed with `rejected`: re-read (or re-federate)
    /// what can be. `Ok(true)` when the identity changed, so the request is
    /// worth sending again.
    async fn refresh(&self, _rejected: &Identity) -> Result<bool, PowerError> {
        Ok(false)
    }
}

/// A PEM private key: PKCS#1 (`RSA PRIVATE KEY`), PKCS#8 (`PRIVATE KEY`) or
/// encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`, PBES2). `source` names it in errors.
pub fn load_private_key(
    pem: &str,
    passphrase: Option<&str>,
    source: &str,
) -> Result<PrivateKey, PowerError> {
    let fail = |why: String| PowerError::Config(format!("{source}: {why}"));
    let passphrase = passphrase.filter(|p| !p.is_empty());
    let key = if pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(fail(
            "the key is encrypted in the legacy OpenSSL PEM format, which is not supported; \
             convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.pem -out new.pem` \
             (or to an unencrypted one with `openssl pkcs8 -topk8 -nocrypt -in old.pem -out new.pem`)"
                .to_owned(),
        ));
    } else if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let Some(pass) = passphrase else {
            return Err(fail(
                "the key is encrypted (ENCRYPTED PRIVATE KEY) but no passphrase was given"
                    .to_owned(),
            ));
        };
        RsaPrivateKey::from_pkcs8_encrypted_pem(pem.trim(), pass.as_bytes()).map_err(|e| {
            fail(format!(
                "cannot decrypt the PKCS#8 key (wrong passphrase, or not an RSA key?): {e}"
            ))
        })?
    } else if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs1_pem(pem.trim())
            .map_err(|e| fail(format!("not a valid PKCS#1 RSA private key: {e}")))?
    } else if pem.contains("-----BEGIN PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs8_pem(pem.trim())
            .map_err(|e| fail(format!("not a valid PKCS#8 RSA private key: {e}")))?
    } else {
        return Err(fail(
            "not a PEM private key (expected BEGIN RSA PRIVATE KEY, BEGIN PRIVATE KEY or BEGIN ENCRYPTED PRIVATE KEY)"
                .to_owned(),
        ));
    };
    Ok(PrivateKey::new(key))
}

/// The `exp` claim of a JWT (payload base64url, padded or not); the signature is
/// the server's business.
pub fn jwt_expiry(token: &str) -> Option<u64> {
    const B64URL: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let claims: serde_json::Value = serde_json::from_slice(&B64URL.decode(payload).ok()?).ok()?;
    match claims.get("exp")? {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
