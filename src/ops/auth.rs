//! Who may call what.
//!
//! - **Game servers** report their own session count with a token gamefleet
//!   gives each container at Create (`ACI_SESSIONS_TOKEN`, a secure environment
//!   variable ARM never echoes): `<key id>.<base64url HMAC-SHA256>` over the
//!   group's resource group and name, so a server can set only its own count.
//!   Several keys are accepted (`SESSION_TOKEN_KEYS`, the first issues), so a
//!   key rotates without downtime: add the new key first, remove the old one
//!   once the servers it signed for are gone.
//! - **Outside the Functions host**, every route but `GET /` and
//!   `ReportSessions` requires `X-API-Key` (`GAMEFLEET_API_KEYS`, several
//!   accepted), compared in constant time.

use crate::fleet::GroupKey;
use crate::secret::Secret;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Keys that sign and check session tokens; the first one signs.
#[derive(Clone)]
pub struct SessionKeys {
    keys: Vec<(String, Secret)>,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "SessionKeys({ids:?})")
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Key id of the key gamefleet generates and stores when `SESSION_TOKEN_KEYS`
/// is not set (reserved: a configured key may not use it).
pub const GENERATED_KEY_ID: &str = "auto";

/// Why a key setting (`SESSION_TOKEN_KEYS`, `GAMEFLEET_API_KEYS`) was refused.
/// No message holds a secret: keys are named by their id or position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key {index} is not id:base64secret")]
    NotIdAndSecret { index: usize },
    #[error("key {index}: the id must be letters, digits, '-' or '_'")]
    BadId { index: usize },
    #[error("key {id}: the secret is not base64")]
    NotBase64 { id: String },
    #[error("key {id}: the secret is {len} bytes; use at least 32 (openssl rand -base64 32)")]
    TooShort { id: String, len: usize },
    #[error("key {index}: the id {GENERATED_KEY_ID:?} is reserved for the key gamefleet generates; pick another")]
    ReservedId { index: usize },
    #[error("key id {id} is given twice")]
    Duplicate { id: String },
    #[error("no key given")]
    Empty,
    #[error("every API key must be at least 16 characters")]
    ApiKeyTooShort,
    #[error("no OS randomness: {0}")]
    NoRandomness(String),
}

impl SessionKeys {
    /// One key from raw secret bytes (at least 32).
    pub fn single(id: &str, secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < 32 {
            return Err(KeyError::TooShort {
                id: id.to_owned(),
                len: secret.len(),
            });
        }
        Ok(Self {
            keys: vec![(id.to_owned(), Secret::new(B64.encode(secret)))],
        })
    }

    /// A fresh 32-byte secret from the OS, base64 (what [`Self::single`] takes back via [`Self::decode_secret`]).
    pub fn generate_secret() -> Result<Secret, KeyError> {
        let mut raw = [0u8; 32];
        getrandom::getrandom(&mut raw).map_err(|e| KeyError::NoRandomness(e.to_string()))?;
        Ok(Secret::new(B64.encode(raw)))
    }

    /// Whether a token names `id` as its key (no check of the signature).
    pub fn token_key_id(token: &str) -> Option<&str> {
        token.trim().split_once('.').map(|(id, _)| id)
    }

    /// Whether this set has a key with this id.
    pub fn has_key(&self, id: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == id)
    }

    /// `id:base64secret[,id:base64secret...]`; each secret at least 32 bytes.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for (i, part) in spec
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            let (id, secret) = part
                .split_once(':')
                .ok_or(KeyError::NotIdAndSecret { index: i + 1 })?;
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(KeyError::BadId { index: i + 1 });
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(secret.trim())
                .or_else(|_| B64.decode(secret.trim()))
                .map_err(|_| KeyError::NotBase64 { id: id.to_owned() })?;
            if bytes.len() < 32 {
                return Err(KeyError::TooShort {
                    id: id.to_owned(),
                    len: bytes.len(),
                });
            }
            if id == GENERATED_KEY_ID {
                return Err(KeyError::ReservedId { index: i + 1 });
            }
            if keys.iter().any(|(k, _): &(String, Secret)| k == id) {
                return Err(KeyError::Duplicate { id: id.to_owned() });
            }
            keys.push((id.to_owned(), Secret::new(B64.encode(bytes))));
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys })
    }

    /// The raw bytes of a secret made by [`Self::generate_secret`].
    pub fn decode_secret(secret: &Secret) -> Option<Vec<u8>> {
        B64.decode(secret.expose()).ok()
    }

    fn mac(secret: &Secret, key: &GroupKey) -> Option<HmacSha256> {
        let raw = B64.decode(secret.expose()).ok()?;
        let mut mac = HmacSha256::new_from_slice(&raw).ok()?;
        mac.update(b"gamefleet/sessions/v1\n");
        mac.update(key.resource_group.key().as_bytes());
        mac.update(b"\n");
        mac.update(key.name.as_str().as_bytes());
        Some(mac)
    }

    /// The token for one group, signed with the current key.
    pub fn issue(&self, key: &GroupKey) -> Option<String> {
        let (id, secret) = self.keys.first()?;
        let tag = Self::mac(secret, key)?.finalize().into_bytes();
        Some(format!("{id}.{}", B64.encode(tag)))
    }

    /// Whether `token` was issued for `key` by any accepted key (constant time).
    pub fn verify(&self, token: &str, key: &GroupKey) -> bool {
        let Some((id, tag)) = token.trim().split_once('.') else {
            return false;
        };
        let Ok(tag) = B64.decode(tag) else {
            return false;
        };
        self.keys
            .iter()
            .filter(|(k, _)| k == id)
            .any(|(_, secret)| Self::mac(secret, key).is_some_and(|m| m.verify_slice(&tag).is_ok()))
    }
}

/// API keys for standalone mode.
#[derive(Clone, Default)]
pub struct ApiKeys(Vec<[u8; 32]>);

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} configured)", self.0.len())
    }
}

impl ApiKeys {
    /// Comma-separated keys (rotation: give the new and the old one).
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for k in spec.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            if k.len() < 16 {
                return Err(KeyError::ApiKeyTooShort);
            }
            keys.push(Sha256::digest(k.as_bytes()).into());
        }
        Ok(Self(keys))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant time in the key's content (digests of equal length are compared).
    pub fn accepts(&self, candidate: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        let mut ok = subtle::Choice::from(0u8);
        for k in &self.0 {
            ok |= k.ct_eq(&d);
        }
        ok.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{ContainerGroupName, ResourceGroup};

    fn key(rg: &str, n: &str) -> GroupKey {
        GroupKey::new(
            ResourceGroup::parse(rg).unwrap(),
            ContainerGroupName::parse(n).unwrap(),
        )
    }

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // 32 bytes
    const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn a_token_opens_only_its_own_group() {
        let keys = SessionKeys::parse(&format!("k1:{K1}")).unwrap();
        let t = keys.issue(&key("Games", "srv-1")).unwrap();
        assert!(t.starts_with("k1."));
        assert!(
            keys.verify(&t, &key("games", "srv-1")),
            "resource groups are case-insensitive"
        );
        assert!(!keys.verify(&t, &key("games", "srv-2")));
        assert!(!keys.verify(&t, &key("other", "srv-1")));
        assert!(!keys.verify("k1.AAAA", &key("games", "srv-1")));
        assert!(!keys.verify("", &key("games", "srv-1")));
        assert!(!keys.verify(&t.replace("k1.", "k2."), &key("games", "srv-1")));
    }

    #[test]
    fn keys_rotate_without_downtime() {
        let old = SessionKeys::parse(&format!("k1:{K1}")).unwrap();
        let t_old = old.issue(&key("rg", "a")).unwrap();
        // Rotation: the new key signs, the old one is still accepted.
        let both = SessionKeys::parse(&format!("k2:{K2},k1:{K1}")).unwrap();
        let t_new = both.issue(&key("rg", "a")).unwrap();
        assert!(t_new.starts_with("k2."));
        assert!(both.verify(&t_old, &key("rg", "a")) && both.verify(&t_new, &key("rg", "a")));
        // Then the old key goes.
        let new_only = SessionKeys::parse(&format!("k2:{K2}")).unwrap();
        assert!(!new_only.verify(&t_old, &key("rg", "a")));
        assert!(new_only.verify(&t_new, &key("rg", "a")));
    }

    #[test]
    fn bad_key_specs_are_refused_without_echoing_them() {
        for bad in [
            "",
            "nocolon",
            "k1:!!!",
            "k1:c2hvcnQ=",
            &format!("k1:{K1},k1:{K2}"),
            &format!("bad id:{K1}"),
        ] {
            let e = SessionKeys::parse(bad).unwrap_err().to_string();
            assert!(!e.contains(K1) && !e.contains("c2hvcnQ"), "{e}");
        }
        assert!(!format!("{:?}", SessionKeys::parse(&format!("k1:{K1}")).unwrap()).contains(K1));
    }

    #[test]
    fn api_keys() {
        let keys = ApiKeys::parse("first-key-0123456789, second-key-0123456789").unwrap();
        assert!(keys.accepts("first-key-0123456789") && keys.accepts("second-key-0123456789"));
        assert!(!keys.accepts("first-key-012345678") && !keys.accepts(""));
        assert!(ApiKeys::parse("short").is_err());
        assert!(ApiKeys::parse("").unwrap().is_empty());
        assert!(!format!("{keys:?}").contains("first"));
    }
}
