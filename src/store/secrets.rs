//! [`TableSecrets`]: secrets gamefleet generated for itself (today: the
//! session-token key used when `SESSION_TOKEN_KEYS` is not set), in a table of
//! their own beside the fleet table (`<FLEET_TABLE>Keys`, e.g. `ACIDetailsKeys`).
//!
//! Only gamefleet's identity and whoever holds the storage account's keys can
//! read that table; no API returns its content, and nothing logs it. A secret
//! is written once with an insert (never a replace), so several instances
//! starting at the same moment agree on the first one stored.

use super::documents::Documents;
use crate::ports::{SecretStore, StoreError};
use crate::secret::Secret;
use async_trait::async_trait;
use azure_data_tables::clients::TableClient;
use serde_json::{json, Value};

/// The partition every secret lives in.
const PARTITION: &str = "secret";

#[derive(Debug, Clone)]
pub struct TableSecrets {
    rows: Documents,
}

impl TableSecrets {
    pub(crate) fn new(table: TableClient) -> Self {
        Self {
            rows: Documents::new(table),
        }
    }
}

#[async_trait]
impl SecretStore for TableSecrets {
    async fn get(&self, name: &str) -> Result<Option<Secret>, StoreError> {
        let Some((row, _)) = self.rows.get(PARTITION, name).await? else {
            return Ok(None);
        };
        match row.get("Value").and_then(Value::as_str) {
            Some(v) => Ok(Some(Secret::new(v))),
            None => Err(StoreError::Rejected {
                code: "InvalidRow".into(),
                message: format!("stored secret {name:?} has no Value"),
            }),
        }
    }

    async fn insert_or_get(&self, name: &str, value: &Secret) -> Result<Secret, StoreError> {
        let entity = json!({"PartitionKey": PARTITION, "RowKey": name, "Value": value.expose()});
        match self.rows.insert(&entity).await {
            Ok(_) => Ok(value.clone()),
            // Another instance stored one first: that one is the secret.
            Err(StoreError::AlreadyExists) => self.get(name).await?.ok_or(StoreError::NotFound),
            Err(e) => Err(e),
        }
    }
}
