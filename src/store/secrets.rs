//! [`TableSecrets`]: secrets gamefleet generated for itself (today: the
//! session-token key used when `SESSION_TOKEN_KEYS` is not set), in a table of
//! their own beside the fleet table (`<FLEET_TABLE>Keys`, e.g. `ACIDetailsKeys`).
//!
//! Only gamefleet's identity and whoever holds the storage account's keys can
//! read that table; no API returns its content, and nothing logs it. A secret
//! is written once with an insert (never a replace), so several instances
//! starting at the same moment agree on the first one stored.

use super::pipeline::{self, call_context, map_error};
use super::row::{quote, Entity};
use crate::ports::{SecretStore, StoreError};
use crate::secret::Secret;
use async_trait::async_trait;
use azure_data_tables::clients::TableClient;
use serde_json::{json, Value};

/// The partition every secret lives in.
const PARTITION: &str = "secret";

#[derive(Debug, Clone)]
pub struct TableSecrets {
    table: TableClient,
}

impl TableSecrets {
    pub(crate) fn new(table: TableClient) -> Self {
        Self { table }
    }

    async fn insert(&self, name: &str, value: &Secret) -> Result<(), StoreError> {
        let entity = json!({"PartitionKey": PARTITION, "RowKey": name, "Value": value.expose()});
        pipeline::insert_entity(&self.table, &entity)
            .await
            .map(drop)
    }
}

#[async_trait]
impl SecretStore for TableSecrets {
    async fn get(&self, name: &str) -> Result<Option<Secret>, StoreError> {
        let (ctx, retry_after) = call_context();
        let result = self
            .table
            .partition_key_client(PARTITION)
            .entity_client(quote(name))
            .get::<Entity>()
            .context(ctx)
            .await;
        match result {
            Ok(response) => match response.entity.get("Value").and_then(Value::as_str) {
                Some(v) => Ok(Some(Secret::new(v))),
                None => Err(StoreError::Rejected {
                    code: "InvalidRow".into(),
                    message: format!("stored secret {name:?} has no Value"),
                }),
            },
            Err(e) => match map_error(e, retry_after.get()) {
                StoreError::NotFound | StoreError::TableMissing => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn insert_or_get(&self, name: &str, value: &Secret) -> Result<Secret, StoreError> {
        let inserted = match self.insert(name, value).await {
            Err(StoreError::TableMissing) => {
                pipeline::create_table(&self.table).await?;
                self.insert(name, value).await
            }
            other => other,
        };
        match inserted {
            Ok(()) => Ok(value.clone()),
            // Another instance stored one first: that one is the secret.
            Err(StoreError::AlreadyExists) => self.get(name).await?.ok_or(StoreError::NotFound),
            Err(e) => Err(e),
        }
    }
}
