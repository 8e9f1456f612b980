//! [`TableLedger`]: Allocate's requestIds in a table of their own beside the
//! fleet table (`<FLEET_TABLE>Allocations`), created on first write. Spread
//! over [`SHARDS`] partitions (`alloc-0` … `alloc-f`, by a hash of the
//! requestId) so that many allocators do not share one partition's limit;
//! RowKey = the requestId. Columns: `Server` (`resource group/name`),
//! `Players` and `Until` (Edm.DateTime: the reservation's expiry). GC sweeps the entries whose `Until` has passed.

use super::documents::Documents;
use super::row::Entity;
use crate::fleet::{ContainerGroupName, Etag, GroupKey, ResourceGroup, Versioned};
use crate::ports::{AllocationEntry, AllocationLedger, StoreError};
use async_trait::async_trait;
use azure_data_tables::clients::TableClient;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// Partitions of the ledger.
pub const SHARDS: u64 = 16;

#[derive(Debug, Clone)]
pub struct TableLedger {
    rows: Documents,
}

fn shard(request_id: &str) -> String {
    // FNV-1a: stable across processes and versions (std's hasher is not).
    let h = request_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("alloc-{:x}", h % SHARDS)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn to_entity(c: &AllocationEntry) -> Value {
    json!({
        "PartitionKey": shard(&c.request_id),
        "RowKey": c.request_id,
        "Until": time(c.until),
        "Until@odata.type": "Edm.DateTime",
        "Players": c.players,
        "Server": format!("{}/{}", c.server.resource_group.as_str(), c.server.name.as_str()),
    })
}

fn from_entity(e: &Entity) -> Result<AllocationEntry, StoreError> {
    let id = e.get("RowKey").and_then(Value::as_str).unwrap_or_default();
    let invalid = |m: String| StoreError::Rejected {
        code: "InvalidRow".into(),
        message: format!("allocation {id:?}: {m}"),
    };
    let until = e
        .get("Until")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| invalid("no readable Until".into()))?
        .with_timezone(&Utc);
    let s = e
        .get("Server")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("no Server".into()))?;
    let (rg, name) = s
        .split_once('/')
        .ok_or_else(|| invalid(format!("Server {s:?}")))?;
    let server = GroupKey::new(
        ResourceGroup::parse(rg).map_err(|e| invalid(e.to_string()))?,
        ContainerGroupName::parse(name).map_err(|e| invalid(e.to_string()))?,
    );
    Ok(AllocationEntry {
        request_id: id.to_owned(),
        server,
        players: e
            .get("Players")
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0),
        until,
    })
}

impl TableLedger {
    pub(crate) fn new(table: TableClient) -> Self {
        Self {
            rows: Documents::new(table),
        }
    }
}

#[async_trait]
impl AllocationLedger for TableLedger {
    async fn get(
        &self,
        request_id: &str,
    ) -> Result<Option<Versioned<AllocationEntry>>, StoreError> {
        match self.rows.get(&shard(request_id), request_id).await? {
            Some((e, etag)) => Ok(Some(Versioned::new(from_entity(&e)?, etag))),
            None => Ok(None),
        }
    }

    async fn insert(&self, c: &AllocationEntry) -> Result<Etag, StoreError> {
        self.rows.insert(&to_entity(c)).await
    }

    async fn replace(&self, c: &AllocationEntry, etag: &Etag) -> Result<Etag, StoreError> {
        self.rows
            .replace(&shard(&c.request_id), &c.request_id, &to_entity(c), etag)
            .await
    }

    async fn sweep(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = before.to_rfc3339_opts(SecondsFormat::Secs, true);
        let rows = self
            .rows
            .query(format!("Until lt datetime'{cutoff}'"))
            .await?;
        let mut swept = 0;
        for (e, etag) in rows {
            let (Some(pk), Some(rk)) = (
                e.get("PartitionKey").and_then(Value::as_str),
                e.get("RowKey").and_then(Value::as_str),
            ) else {
                continue;
            };
            // Changed since the query (taken over for a new allocation): kept.
            match self.rows.delete_at(pk, rk, &etag).await {
                Ok(true) => swept += 1,
                Ok(false) | Err(StoreError::PreconditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(swept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_and_shards_are_stable() {
        let c = AllocationEntry {
            request_id: "match-42:a".into(),
            server: GroupKey::new(
                ResourceGroup::parse("games").unwrap(),
                ContainerGroupName::parse("arena-1").unwrap(),
            ),
            players: 3,
            until: DateTime::parse_from_rfc3339("2026-12-02T12:00:00.123456Z")
                .unwrap()
                .with_timezone(&Utc),
        };
        let Value::Object(e) = to_entity(&c) else {
            panic!("an object")
        };
        assert_eq!(from_entity(&e).unwrap(), c);
        assert_eq!(shard("match-42:a"), shard("match-42:a"));
        let shards: std::collections::HashSet<String> =
            (0..200).map(|i| shard(&format!("r{i}"))).collect();
        assert_eq!(shards.len(), SHARDS as usize, "every shard used");
    }
}
