//! The keys behind each game server's session token.
//!
//! - `SESSION_TOKEN_KEYS` set: the first configured key signs, every configured
//!   key verifies (rotation).
//! - Not set: gamefleet generates one 32-byte key (OS randomness) the first time
//!   it needs one and stores it with an insert in `<FLEET_TABLE>Keys`
//!   ([`crate::ports::SecretStore`]); every instance uses the one stored first.
//!   Zero configuration is therefore safe: a container always gets a token that
//!   its ReportSessions URL accepts, and never a shared credential.
//! - A token signed by the generated key (key id [`GENERATED_KEY_ID`]) stays
//!   valid after keys are configured later, as long as the stored key exists,
//!   so servers created before the change keep reporting their players.

use crate::fleet::GroupKey;
use crate::ops::auth::{SessionKeys, GENERATED_KEY_ID};
use crate::ports::{SecretStore, StoreError};
use std::sync::Arc;

/// Name of the generated key in the secret store.
const GENERATED_KEY_NAME: &str = "session-token-key";

pub struct Keyring {
    configured: Option<SessionKeys>,
    store: Arc<dyn SecretStore>,
    /// The generated key, once read or made (never cached as absent).
    generated: tokio::sync::OnceCell<SessionKeys>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("configured", &self.configured)
            .field("generated_loaded", &self.generated.initialized())
            .finish()
    }
}

impl Keyring {
    pub fn new(configured: Option<SessionKeys>, store: Arc<dyn SecretStore>) -> Self {
        Self {
            configured,
            store,
            generated: tokio::sync::OnceCell::new(),
        }
    }

    /// The token a new container of `key` gets.
    pub async fn issue(&self, key: &GroupKey) -> Result<String, StoreError> {
        let keys = match &self.configured {
            Some(keys) => keys,
            None => self.generated(true).await?.ok_or(StoreError::NotFound)?,
        };
        keys.issue(key).ok_or_else(|| StoreError::Rejected {
            code: "InvalidKey".into(),
            message: "the session-token key cannot sign".into(),
        })
    }

    /// Whether `token` was issued for `key` (constant time in the signature).
    /// Reads the generated key only for tokens that name it.
    pub async fn verify(&self, token: &str, key: &GroupKey) -> Result<bool, StoreError> {
        if SessionKeys::token_key_id(token) == Some(GENERATED_KEY_ID) {
            let create = self.configured.is_none();
            return Ok(match self.generated(create).await? {
                Some(keys) => keys.verify(token, key),
                None => false,
            });
        }
        Ok(self
            .configured
            .as_ref()
            .is_some_and(|keys| keys.verify(token, key)))
    }

    /// The generated key: read it, or (with `create`) make and store it.
    async fn generated(&self, create: bool) -> Result<Option<&SessionKeys>, StoreError> {
        if let Some(keys) = self.generated.get() {
            return Ok(Some(keys));
        }
        let stored = match self.store.get(GENERATED_KEY_NAME).await? {
            Some(s) => s,
            None if create => {
                let fresh = SessionKeys::generate_secret().map_err(|m| StoreError::Rejected {
                    code: "NoRandomness".into(),
                    message: m.to_string(),
                })?;
                let stored = self.store.insert_or_get(GENERATED_KEY_NAME, &fresh).await?;
                tracing::info!(
                    "SESSION_TOKEN_KEYS is not set: using the session-token key stored in the secrets table"
                );
                stored
            }
            None => return Ok(None),
        };
        let invalid = |m: String| StoreError::Rejected {
            code: "InvalidKey".into(),
            message: m,
        };
        let raw = SessionKeys::decode_secret(&stored)
            .ok_or_else(|| invalid("the stored session-token key is not base64".into()))?;
        let keys =
            SessionKeys::single(GENERATED_KEY_ID, &raw).map_err(|e| invalid(e.to_string()))?;
        Ok(Some(self.generated.get_or_init(|| async { keys }).await))
    }
}
