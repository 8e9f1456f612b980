//! [`Documents`]: a small table of rows read and written whole, each with its
//! ETag — the one place for the side tables beside the fleet table
//! (`<table>Schedules`, `<table>Fleets`, `<table>Activity`). The table is created on the first
//! write; reading a table that does not exist yet finds nothing.
//!
//! - `replace` is conditional on the ETag read (a row deleted meanwhile is
//!   "changed": [`StoreError::PreconditionFailed`]), so one instance wins each
//!   claim written through it.
//! - `insert` fails with [`StoreError::AlreadyExists`] when the row is there.
//! - Rows come back as the service's JSON ([`Entity`]); each side table turns
//!   them into its own types and skips (with a warning) what it cannot read.

use super::pipeline::{self, call_context, map_error};
use super::row::{quote, Entity};
use crate::fleet::Etag;
use crate::ports::StoreError;
use azure_data_tables::clients::{EntityClient, TableClient};
use azure_data_tables::IfMatchCondition;
use futures::StreamExt;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Documents {
    table: TableClient,
}

/// A row as stored and the ETag it had.
pub type Row = (Entity, Etag);

impl Documents {
    pub(crate) fn new(table: TableClient) -> Self {
        Self { table }
    }

    fn entity(&self, pk: &str, rk: &str) -> EntityClient {
        self.table
            .partition_key_client(quote(pk))
            .entity_client(quote(rk))
    }

    /// One row, `None` when it (or the table) does not exist.
    pub async fn get(&self, pk: &str, rk: &str) -> Result<Option<Row>, StoreError> {
        let (ctx, retry_after) = call_context();
        match self.entity(pk, rk).get::<Entity>().context(ctx).await {
            Ok(r) => Ok(Some((r.entity, Etag(r.etag.to_string())))),
            Err(e) => match map_error(e, retry_after.get()) {
                StoreError::NotFound | StoreError::TableMissing => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Every row of partition `pk` (none when the table does not exist).
    pub async fn list(&self, pk: &str) -> Result<Vec<Row>, StoreError> {
        self.query(format!("PartitionKey eq '{}'", pk.replace('\'', "''")))
            .await
    }

    /// The rows matching an OData `filter` (none when the table does not exist).
    pub async fn query(&self, filter: String) -> Result<Vec<Row>, StoreError> {
        self.query_first(filter, None).await
    }

    /// The first `limit` rows matching `filter` in key order (`$top`: the
    /// service reads no further than that).
    pub async fn query_top(&self, filter: String, limit: u32) -> Result<Vec<Row>, StoreError> {
        self.query_first(filter, Some(limit)).await
    }

    async fn query_first(
        &self,
        filter: String,
        limit: Option<u32>,
    ) -> Result<Vec<Row>, StoreError> {
        let (ctx, retry_after) = call_context();
        let mut query = self.table.query().context(ctx).filter(filter);
        if let Some(n) = limit {
            query = query.top(azure_data_tables::Top::new(n));
        }
        let mut pages = query.into_stream::<Entity>();
        let wanted = limit.map_or(usize::MAX, |n| n as usize);
        let mut out = Vec::new();
        while out.len() < wanted {
            let Some(page) = pages.next().await else {
                break;
            };
            let page = match page.map_err(|e| map_error(e, retry_after.get())) {
                Ok(p) => p,
                Err(StoreError::TableMissing) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            for e in page.entities {
                match e.get("odata.etag").and_then(Value::as_str) {
                    Some(t) => {
                        let etag = Etag(t.to_owned());
                        out.push((e, etag));
                    }
                    None => {
                        let row = e.get("RowKey").and_then(Value::as_str).unwrap_or_default();
                        tracing::warn!(row, "row without an ETag; skipped")
                    }
                }
            }
        }
        out.truncate(wanted);
        Ok(out)
    }

    /// Runs `once`, and again after creating the table when it was missing.
    async fn creating_table<F, Fut>(&self, once: F) -> Result<Etag, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Etag, StoreError>>,
    {
        match once().await {
            Err(StoreError::TableMissing) => {
                pipeline::create_table(&self.table).await?;
                once().await
            }
            other => other,
        }
    }

    /// Insert or replace, whatever is there.
    pub async fn upsert(&self, pk: &str, rk: &str, entity: &Value) -> Result<Etag, StoreError> {
        self.creating_table(|| async {
            let (ctx, retry_after) = call_context();
            self.entity(pk, rk)
                .insert_or_replace(entity)
                .map_err(|e| map_error(e, None))?
                .context(ctx)
                .await
                .map(|r| Etag(r.etag.to_string()))
                .map_err(|e| map_error(e, retry_after.get()))
        })
        .await
    }

    /// Insert a row that must not exist yet.
    pub async fn insert(&self, entity: &Value) -> Result<Etag, StoreError> {
        self.creating_table(|| async {
            pipeline::insert_entity(&self.table, entity).await.map(Etag)
        })
        .await
    }

    /// Replace the row if it still has `etag`.
    pub async fn replace(
        &self,
        pk: &str,
        rk: &str,
        entity: &Value,
        etag: &Etag,
    ) -> Result<Etag, StoreError> {
        let (ctx, retry_after) = call_context();
        let r = self
            .entity(pk, rk)
            .update(
                entity,
                IfMatchCondition::Etag(azure_core::Etag::from(etag.as_str())),
            )
            .map_err(|e| map_error(e, None))?
            .context(ctx)
            .await
            .map_err(|e| match map_error(e, retry_after.get()) {
                // Deleted meanwhile: as good as changed.
                StoreError::NotFound | StoreError::TableMissing => StoreError::PreconditionFailed,
                other => other,
            })?;
        Ok(Etag(r.etag.to_string()))
    }

    /// Delete the row; `false` when there was none.
    pub async fn delete(&self, pk: &str, rk: &str) -> Result<bool, StoreError> {
        self.delete_if(pk, rk, IfMatchCondition::Any).await
    }

    /// Delete the row if it still has `etag`: `PreconditionFailed` when it
    /// changed, `false` when there was none.
    pub async fn delete_at(&self, pk: &str, rk: &str, etag: &Etag) -> Result<bool, StoreError> {
        self.delete_if(
            pk,
            rk,
            IfMatchCondition::Etag(azure_core::Etag::from(etag.as_str())),
        )
        .await
    }

    async fn delete_if(
        &self,
        pk: &str,
        rk: &str,
        condition: IfMatchCondition,
    ) -> Result<bool, StoreError> {
        let (ctx, retry_after) = call_context();
        match self
            .entity(pk, rk)
            .delete()
            .if_match(condition)
            .context(ctx)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match map_error(e, retry_after.get()) {
                StoreError::NotFound | StoreError::TableMissing => Ok(false),
                other => Err(other),
            },
        }
    }
}
