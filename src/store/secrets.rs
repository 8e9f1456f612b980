//! [`TableSecrets`]: secrets gamefleet generated for itself (today: the
//! session-token key used when `SESSION_TOKEN_KEYS` is not set), in a table of
//! their own beside the fleet table (`<FLEET_TABLE>Keys`, e.g. `ACIDetailsKeys`).
//!
//! Only gamefleet's identity and whoever holds the storage account's keys can
//! read that table; no API returns its content, and nothing logs it. A secret
//! is written once with an insert (never a replace), so several instances
//! starting at the same moment agree on the first one stored.

use super::pipeline::{call_context, map_error};
use super::row::{quote, Entity};
use crate::ports::{SecretStore, StoreError};
use crate::secret::Secret;
use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::StatusCode;
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

    async fn create_table(&self) -> Result<(), StoreError> {
        let (ctx, retry_after) = call_context();
        match self.table.create().context(ctx).await {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::HttpResponse { status: StatusCode::Conflict, error_code }
                        if error_code.as_deref() == Some("TableAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(map_error(e, retry_after.get())),
        }
    }

    async fn insert(&self, name: &str, value: &Secret) -> Result<(), StoreError> {
        let (ctx, retry_after) = call_context();
        let entity = json!({"PartitionKey": PARTITION, "RowKey": name, "Value": value.expose()});
        self.table
            .insert::<_, Value>(&entity)
            .map_err(|e| map_error(e, None))?
            .context(ctx)
            .await
            .map(|_| ())
            .map_err(|e| map_error(e, retry_after.get()))
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
                self.create_table().await?;
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
