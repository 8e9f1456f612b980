//! [`TableStore`]: [`FleetStore`] on Azure Table Storage (or Azurite).
//!
//! Single-entity operations and queries go through azure_data_tables 0.21;
//! entity-group transactions are built by [`super::batch`] and sent through an
//! azure_core pipeline with the same credentials, retry policy and HTTP client.

use super::batch::{self, BatchOp, Boundaries, Decoded};
use super::connection::{self, Connection, StoreConfigError};
use super::pipeline::{self, call_context, map_error, map_status};
use super::row::{self, Entity};
use crate::fleet::{ContainerGroupName, Etag, GroupKey, GroupRecord, ResourceGroup, Versioned};
use crate::ports::{
    BatchOutcome, FleetStore, ListQuery, Page, SessionWrite, StoreError, MAX_BATCH,
};
use async_trait::async_trait;
use azure_core::headers::{HeaderName, Headers, ACCEPT, CONTENT_TYPE};
use azure_core::{Method, Pipeline, StatusCode, Url};
use azure_data_tables::clients::{EntityClient, TableClient, TableServiceClientBuilder};
use azure_data_tables::IfMatchCondition;
use azure_storage::CloudLocation;
use futures::stream::{BoxStream, StreamExt};
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;
use tracing::{debug, warn};

/// The table the original project used (`FLEET_TABLE` overrides it).
pub const DEFAULT_TABLE: &str = "ACIDetails";

/// Filters may hold at most 15 discrete comparisons: PartitionKey + 14 RowKeys.
const MAX_KEYS_PER_FILTER: usize = 14;
/// At most this many OR queries side by side before a range query is cheaper.
const MAX_OR_QUERIES: usize = 4;

/// Retry behaviour of every store request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Retries after the first attempt, for connection failures, 408/429/5xx
    /// (not for POSTs that may have been applied). Default 2.
    pub max_retries: u32,
    /// Pause between attempts; capped at 1 s. Default 200 ms.
    pub retry_delay: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_retries: 2,
            retry_delay: Duration::from_millis(200),
        }
    }
}

/// Fleet records in one table.
#[derive(Debug, Clone)]
pub struct TableStore {
    table: TableClient,
    table_name: String,
    /// Table service base URL (no trailing slash).
    endpoint: Url,
    /// For `$batch`: same credentials, options and HTTP client as `table`.
    pipeline: Pipeline,
    /// Secrets gamefleet generated (`<table>Keys`), same account and client.
    secrets: super::secrets::TableSecrets,
    /// Power schedules (`<table>Schedules`), same account and client.
    schedules: super::schedules::TableSchedules,
    /// Fleet definitions and the autoscaler's state (`<table>Fleets`).
    fleets: super::fleets::TableFleets,
    /// Allocate's requestIds across instances (`<table>Allocations`).
    ledger: super::allocations::TableLedger,
    /// The recent GC and autoscaler actions (`<table>Activity`).
    activity: super::activity::TableActivity,
}

impl TableStore {
    /// `connection_string`: an Azure Storage connection string.
    /// `UseDevelopmentStorage=true` means Azurite at `127.0.0.1:10002`; otherwise
    /// `AccountName` + `AccountKey` or `SharedAccessSignature`, with
    /// `TableEndpoint` or `DefaultEndpointsProtocol`/`EndpointSuffix`.
    ///
    /// `http`: the process's pooled reqwest client (keep-alive on, with a
    /// timeout); every store request uses it.
    pub fn from_connection_string(
        connection_string: &str,
        table: &str,
        http: reqwest::Client,
        opts: StoreOptions,
    ) -> Result<Self, StoreConfigError> {
        let connection = connection::parse(connection_string)?;
        Self::from_connection(connection, table, http, opts)
    }

    /// The table service at `endpoint`, signed with bearer tokens from
    /// `credential` (azure_storage asks it for `https://storage.azure.com/.default`;
    /// give it a caching one, [`crate::cloud::azure::token::CachedCredential`]).
    pub fn with_token_credential(
        endpoint: url::Url,
        account: &str,
        credential: std::sync::Arc<dyn azure_core::auth::TokenCredential>,
        table: &str,
        http: reqwest::Client,
        opts: StoreOptions,
    ) -> Result<Self, StoreConfigError> {
        let connection = Connection {
            account: account.to_owned(),
            endpoint,
            credentials: azure_storage::StorageCredentials::token_credential(credential),
        };
        Self::from_connection(connection, table, http, opts)
    }

    fn from_connection(
        connection: Connection,
        table: &str,
        http: reqwest::Client,
        opts: StoreOptions,
    ) -> Result<Self, StoreConfigError> {
        connection::validate_table_name(table)?;
        let secrets_table = format!("{table}Keys");
        connection::validate_table_name(&secrets_table)?;
        let schedules_table = format!("{table}Schedules");
        connection::validate_table_name(&schedules_table)?;
        let fleets_table = format!("{table}Fleets");
        connection::validate_table_name(&fleets_table)?;
        let ledger_table = format!("{table}Allocations");
        connection::validate_table_name(&ledger_table)?;
        let activity_table = format!("{table}Activity");
        connection::validate_table_name(&activity_table)?;
        let Connection {
            account,
            endpoint,
            credentials,
        } = connection;
        let options = pipeline::client_options(http, opts.max_retries, opts.retry_delay);
        let location = CloudLocation::Custom {
            account,
            uri: endpoint.as_str().trim_end_matches('/').to_owned(),
        };
        let service = TableServiceClientBuilder::with_location(location, credentials.clone())
            .client_options(options.clone())
            .build();
        Ok(Self {
            table: service.table_client(table),
            table_name: table.to_owned(),
            endpoint,
            pipeline: azure_storage::clients::new_pipeline_from_options(options, credentials),
            secrets: super::secrets::TableSecrets::new(service.table_client(secrets_table)),
            schedules: super::schedules::TableSchedules::new(service.table_client(schedules_table)),
            fleets: super::fleets::TableFleets::new(service.table_client(fleets_table)),
            ledger: super::allocations::TableLedger::new(service.table_client(ledger_table)),
            activity: super::activity::TableActivity::new(service.table_client(activity_table)),
        })
    }

    /// Insert a row exactly as given (tests and tools that play the original
    /// project, which wrote rows gamefleet must read).
    #[doc(hidden)]
    pub async fn insert_raw(&self, entity: &serde_json::Value) -> Result<(), StoreError> {
        pipeline::insert_entity(&self.table, entity).await.map(drop)
    }

    /// Every row of the table exactly as stored (tests, tools).
    #[doc(hidden)]
    pub async fn raw_rows(
        &self,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
        self.query(None).await
    }

    /// Write up to [`MAX_BATCH`] records of one resource group as they are
    /// (insert or replace) in one entity-group transaction: tools and the
    /// bench seed large tables with it.
    #[doc(hidden)]
    pub async fn put_batch(&self, records: &[GroupRecord]) -> Result<(), StoreError> {
        let ops: Vec<BatchOp> = records
            .iter()
            .map(|r| BatchOp {
                method: "PUT",
                url: self
                    .entity_url(r.key.resource_group.key(), r.key.name.as_str())
                    .to_string(),
                if_match: None,
                body: Some(serde_json::Value::Object(row::to_entity(r)).to_string()),
            })
            .collect();
        match self.send_batch(&ops).await? {
            Decoded::Applied(_) => Ok(()),
            Decoded::Failed {
                status,
                code,
                message,
                ..
            } => Err(map_status(status, code, message.unwrap_or_default(), None)),
        }
    }

    /// The store of secrets gamefleet generated, beside this table.
    pub fn secrets(&self) -> super::secrets::TableSecrets {
        self.secrets.clone()
    }

    /// The power schedules, beside this table.
    pub fn schedules(&self) -> super::schedules::TableSchedules {
        self.schedules.clone()
    }

    /// The fleet definitions, beside this table.
    pub fn fleets(&self) -> super::fleets::TableFleets {
        self.fleets.clone()
    }

    /// Allocate's requestIds, beside this table.
    pub fn ledger(&self) -> super::allocations::TableLedger {
        self.ledger.clone()
    }

    /// The recent GC and autoscaler actions, beside this table.
    pub fn activity(&self) -> super::activity::TableActivity {
        self.activity.clone()
    }

    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    fn entity_client(&self, pk: &str, rk: &str) -> EntityClient {
        self.table
            .partition_key_client(row::quote(pk))
            .entity_client(row::quote(rk))
    }

    /// `{endpoint}/{segment}` with the segment percent-encoded like the crate does.
    fn url_with(&self, segment: &str) -> Url {
        let mut url = self.endpoint.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(segment);
        }
        url
    }

    pub(super) fn entity_url(&self, pk: &str, rk: &str) -> Url {
        self.url_with(&format!(
            "{}(PartitionKey='{}',RowKey='{}')",
            self.table_name,
            row::quote(pk),
            row::quote(rk)
        ))
    }

    /// Every row matching `filter` (all rows when `None`), across all pages.
    async fn query(&self, filter: Option<String>) -> Result<Vec<Entity>, StoreError> {
        let (ctx, retry_after) = call_context();
        let mut builder = self.table.query().context(ctx);
        if let Some(f) = filter {
            builder = builder.filter(f);
        }
        let mut pages = builder.into_stream::<Entity>();
        let mut rows = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_error(e, retry_after.get()))?;
            rows.extend(page.entities);
        }
        Ok(rows)
    }

    /// Rows → records; rows that are not records are skipped with a warning.
    fn records(&self, rows: Vec<Entity>) -> Vec<Versioned<GroupRecord>> {
        rows.into_iter()
            .filter_map(|e| match row::from_entity(&e, None) {
                Ok(r) => Some(r),
                Err(err) => {
                    warn!(
                        table = %self.table_name,
                        partition_key = e.get("PartitionKey").and_then(|v| v.as_str()).unwrap_or(""),
                        row_key = e.get("RowKey").and_then(|v| v.as_str()).unwrap_or(""),
                        error = %err,
                        "skipping a row that is not a fleet record"
                    );
                    None
                }
            })
            .collect()
    }

    pub(super) async fn send_batch(&self, ops: &[BatchOp]) -> Result<Decoded, StoreError> {
        let (content_type, body) = self.send_batch_raw(ops).await?;
        batch::decode(&content_type, &body, ops.len()).map_err(|e| StoreError::Rejected {
            code: "InvalidResponse".into(),
            message: e.to_string(),
        })
    }

    /// POST `$batch`; the `Content-Type` and body of the 202 answer.
    pub(super) async fn send_batch_raw(
        &self,
        ops: &[BatchOp],
    ) -> Result<(String, String), StoreError> {
        let boundaries = Boundaries::random();
        let body = batch::encode(&boundaries, ops);
        let mut headers = Headers::new();
        headers.insert(CONTENT_TYPE, boundaries.content_type());
        headers.insert(ACCEPT, "application/json;odata=minimalmetadata");
        headers.insert(HeaderName::from_static("dataserviceversion"), "3.0");
        headers.insert(
            HeaderName::from_static("maxdataserviceversion"),
            "3.0;NetFx",
        );
        let mut request = azure_storage::clients::finalize_request(
            self.url_with("$batch"),
            Method::Post,
            headers,
            Some(bytes::Bytes::from(body).into()),
        )
        .map_err(|e| map_error(e, None))?;

        let (ctx, retry_after) = call_context();
        let response = self
            .pipeline
            .send(&ctx, &mut request)
            .await
            .map_err(|e| map_error(e, retry_after.get()))?;
        let (status, headers, body) = response.deconstruct();
        let body = body
            .collect()
            .await
            .map_err(|e| map_error(e, retry_after.get()))?;
        if status != StatusCode::Accepted {
            return Err(StoreError::Rejected {
                code: "InvalidResponse".into(),
                message: format!("batch answered {status}, expected 202"),
            });
        }
        let content_type = headers
            .get_optional_str(&CONTENT_TYPE)
            .unwrap_or_default()
            .to_owned();
        Ok((content_type, String::from_utf8_lossy(&body).into_owned()))
    }

    /// The MERGE operation of one session write.
    pub(super) fn session_op(
        &self,
        resource_group: &ResourceGroup,
        w: &SessionWrite,
        now: chrono::DateTime<chrono::Utc>,
    ) -> BatchOp {
        BatchOp {
            method: "MERGE",
            url: self
                .entity_url(resource_group.key(), w.name.as_str())
                .to_string(),
            if_match: Some(w.etag.as_str().to_owned()),
            body: Some(row::sessions_patch(
                w.active_sessions,
                now,
                w.heartbeat,
                w.reservations.as_deref(),
            )),
        }
    }
    /// One row by its exact keys.
    async fn get_entity(
        &self,
        pk: &str,
        rk: &str,
    ) -> Result<Option<Versioned<GroupRecord>>, StoreError> {
        let (ctx, retry_after) = call_context();
        let result = self
            .entity_client(pk, rk)
            .get::<Entity>()
            .context(ctx)
            .await;
        match result {
            Ok(response) => row::from_entity(&response.entity, Some(response.etag.to_string()))
                .map(Some)
                .map_err(|e| StoreError::Rejected {
                    code: "InvalidRow".into(),
                    message: format!("stored row {pk}/{rk} is not a fleet record: {e}"),
                }),
            Err(e) => match map_error(e, retry_after.get()) {
                StoreError::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn delete_entity(
        &self,
        pk: &str,
        rk: &str,
        etag: Option<&Etag>,
    ) -> Result<(), StoreError> {
        let (ctx, retry_after) = call_context();
        let condition = match etag {
            Some(etag) => IfMatchCondition::Etag(azure_core::Etag::from(etag.as_str())),
            None => IfMatchCondition::Any,
        };
        self.entity_client(pk, rk)
            .delete()
            .if_match(condition)
            .context(ctx)
            .await
            .map(|_| ())
            .map_err(|e| map_error(e, retry_after.get()))
    }

    /// The rows of `names` under the PartitionKey `pk`, in as few round trips as possible.
    async fn get_many_in(
        &self,
        pk: &str,
        names: &[ContainerGroupName],
    ) -> Result<Vec<Versioned<GroupRecord>>, StoreError> {
        let wanted: BTreeSet<&str> = names.iter().map(ContainerGroupName::as_str).collect();
        let (Some(first), Some(last)) = (wanted.first(), wanted.last()) else {
            return Ok(Vec::new());
        };
        let pk = format!("PartitionKey eq '{}'", row::quote(pk));
        // Up to 14 names: one query with an OR of RowKeys (Table Storage allows 15
        // comparisons per filter). Up to 4 × 14: such queries side by side, each
        // reading exactly its rows. More: one range query over [min, max],
        // filtered here: ceil(rows in range / 1000) round trips, the right call
        // when the names are dense (a matchmaker reporting its whole fleet).
        let rows = if wanted.len() <= MAX_KEYS_PER_FILTER * MAX_OR_QUERIES {
            let names: Vec<&str> = wanted.iter().copied().collect();
            let queries = names.chunks(MAX_KEYS_PER_FILTER).map(|chunk| {
                let ors = chunk
                    .iter()
                    .map(|rk| format!("RowKey eq '{}'", row::quote(rk)))
                    .collect::<Vec<_>>()
                    .join(" or ");
                self.query(Some(format!("{pk} and ({ors})")))
            });
            futures::future::try_join_all(queries)
                .await?
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
        } else {
            self.query(Some(format!(
                "{pk} and RowKey ge '{}' and RowKey le '{}'",
                row::quote(first),
                row::quote(last)
            )))
            .await?
        };
        let rows = rows
            .into_iter()
            .filter(|e| {
                e.get("RowKey")
                    .and_then(|v| v.as_str())
                    .is_some_and(|rk| wanted.contains(rk))
            })
            .collect();
        Ok(self.records(rows))
    }
}

/// The `$filter` of a listing (`None`: every row).
fn list_filter(query: &ListQuery) -> Option<String> {
    match query {
        ListQuery::ByState {
            state,
            resource_group,
        } => {
            // The canonical key, and the caller's spelling if it differs
            // (rows the original wrote under it, not moved yet).
            let parts: Vec<String> = resource_group
                .iter()
                .map(|rg| {
                    let canonical = format!("PartitionKey eq '{}'", row::quote(rg.key()));
                    if rg.as_str() == rg.key() {
                        canonical
                    } else {
                        format!(
                            "({canonical} or PartitionKey eq '{}')",
                            row::quote(rg.as_str())
                        )
                    }
                })
                .chain(state.iter().map(|s| format!("State eq '{}'", s.as_str())))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" and "))
        }
        ListQuery::GcCandidates => Some(
            "(State eq 'MarkedForDeletion' and ActiveSessions eq 0) \
             or (State eq 'Failed' and ActiveSessions eq 0) \
             or State eq 'Deleting'"
                .to_owned(),
        ),
        // A row without HeartbeatAt does not match a comparison on it.
        ListQuery::SilentSince { before } => Some(format!(
            "State eq 'Running' and ActiveSessions eq 0 and HeartbeatAt lt datetime'{}'",
            row::edm_datetime(*before)
        )),
    }
}

#[async_trait]
impl FleetStore for TableStore {
    async fn ensure_ready(&self) -> Result<(), StoreError> {
        pipeline::create_table(&self.table).await
    }

    async fn insert(&self, record: &GroupRecord) -> Result<Etag, StoreError> {
        let entity = serde_json::Value::Object(row::to_entity(record));
        pipeline::insert_entity(&self.table, &entity)
            .await
            .map(Etag)
    }

    async fn get(&self, key: &GroupKey) -> Result<Option<Versioned<GroupRecord>>, StoreError> {
        self.get_entity(key.resource_group.key(), key.name.as_str())
            .await
    }

    async fn get_many(
        &self,
        resource_group: &ResourceGroup,
        names: &[ContainerGroupName],
    ) -> Result<Vec<Versioned<GroupRecord>>, StoreError> {
        self.get_many_in(resource_group.key(), names).await
    }

    async fn get_at(
        &self,
        partition: &str,
        name: &ContainerGroupName,
    ) -> Result<Option<Versioned<GroupRecord>>, StoreError> {
        self.get_entity(partition, name.as_str()).await
    }

    async fn get_many_at(
        &self,
        partition: &str,
        names: &[ContainerGroupName],
    ) -> Result<Vec<Versioned<GroupRecord>>, StoreError> {
        self.get_many_in(partition, names).await
    }

    async fn delete_at(
        &self,
        partition: &str,
        name: &ContainerGroupName,
        etag: &Etag,
    ) -> Result<(), StoreError> {
        self.delete_entity(partition, name.as_str(), Some(etag))
            .await
    }

    async fn replace(&self, record: &GroupRecord, etag: &Etag) -> Result<Etag, StoreError> {
        let (ctx, retry_after) = call_context();
        let entity = row::to_entity(record);
        let response = self
            .entity_client(record.key.resource_group.key(), record.key.name.as_str())
            .update(
                &entity,
                IfMatchCondition::Etag(azure_core::Etag::from(etag.as_str())),
            )
            .map_err(|e| map_error(e, None))?
            .context(ctx)
            .await
            .map_err(|e| map_error(e, retry_after.get()))?;
        Ok(Etag(response.etag.to_string()))
    }

    async fn delete(&self, key: &GroupKey, etag: Option<&Etag>) -> Result<(), StoreError> {
        self.delete_entity(key.resource_group.key(), key.name.as_str(), etag)
            .await
    }

    fn list_pages<'a>(&'a self, query: &'a ListQuery) -> BoxStream<'a, Page> {
        let (ctx, retry_after) = call_context();
        let mut builder = self.table.query().context(ctx);
        if let Some(f) = list_filter(query) {
            builder = builder.filter(f);
        }
        builder
            .into_stream::<Entity>()
            .map(move |page| match page {
                Ok(page) => Ok(self.records(page.entities)),
                Err(e) => Err(map_error(e, retry_after.get())),
            })
            .boxed()
    }

    async fn write_sessions(
        &self,
        resource_group: &ResourceGroup,
        writes: &[SessionWrite],
    ) -> Result<BatchOutcome, StoreError> {
        if writes.is_empty() {
            return Ok(BatchOutcome::Applied(Vec::new()));
        }
        if writes.len() > MAX_BATCH {
            return Err(StoreError::Rejected {
                code: "TooManyOperations".into(),
                message: format!(
                    "{} session writes in one transaction; at most {MAX_BATCH} are allowed",
                    writes.len()
                ),
            });
        }
        let mut seen = HashSet::new();
        if let Some(dup) = writes.iter().find(|w| !seen.insert(&w.name)) {
            return Err(StoreError::Rejected {
                code: "DuplicateOperation".into(),
                message: format!("{} appears twice in one transaction", dup.name),
            });
        }
        let now = chrono::Utc::now();
        let ops: Vec<BatchOp> = writes
            .iter()
            .map(|w| self.session_op(resource_group, w, now))
            .collect();
        debug!(table = %self.table_name, resource_group = %resource_group, ops = ops.len(), "session batch");
        match self.send_batch(&ops).await? {
            Decoded::Applied(etags) => {
                Ok(BatchOutcome::Applied(etags.into_iter().map(Etag).collect()))
            }
            Decoded::Failed {
                index,
                status,
                code,
                message,
            } => {
                let error = map_status(status, code, message.unwrap_or_default(), None);
                match (index, &error) {
                    // Transient: the whole call failed, nothing applied.
                    (_, StoreError::Unavailable { .. }) => Err(error),
                    (Some(index), _) => Ok(BatchOutcome::Failed { index, error }),
                    (None, _) => Err(error),
                }
            }
        }
    }
}
