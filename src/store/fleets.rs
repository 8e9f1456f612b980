//! [`TableFleets`]: fleet definitions in a table of their own beside the fleet
//! table (`<FLEET_TABLE>Fleets`, e.g. `ACIDetailsFleets`), created on first
//! write. Partition `fleet`, RowKey = the fleet's name: `Spec` (the
//! definition as JSON, as the API answers it) and `Status` (JSON: the
//! autoscaler's claim, last scale times, failed Creates and backoff, the last
//! tick's report). Every write after the insert is conditional on the ETag
//! read, so one instance scales a fleet at a time.

use super::documents::Documents;
use super::row::Entity;
use crate::fleet::autoscale::{Fleet, FleetName, FleetStatus};
use crate::fleet::{Etag, Versioned};
use crate::ports::{FleetDefStore, StoreError, StoredFleet};
use async_trait::async_trait;
use azure_data_tables::clients::TableClient;
use serde_json::{json, Value};

const FLEETS: &str = "fleet";

#[derive(Debug, Clone)]
pub struct TableFleets {
    rows: Documents,
}

fn invalid(message: String) -> StoreError {
    StoreError::Rejected {
        code: "InvalidRow".into(),
        message,
    }
}

fn to_entity(f: &StoredFleet) -> Value {
    json!({
        "PartitionKey": FLEETS,
        "RowKey": f.fleet.name.as_str(),
        "Spec": f.fleet.to_json().to_string(),
        "Status": serde_json::to_string(&f.status).unwrap_or_else(|_| "{}".into()),
    })
}

fn from_entity(e: &Entity) -> Result<StoredFleet, StoreError> {
    let name = e.get("RowKey").and_then(Value::as_str).unwrap_or_default();
    let spec: Value = e
        .get("Spec")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| invalid(format!("fleet {name:?} has no readable Spec")))?;
    let fleet = Fleet::parse(&spec).map_err(|err| invalid(format!("fleet {name:?}: {err}")))?;
    let status = match e.get("Status").and_then(Value::as_str) {
        None => FleetStatus::default(),
        Some(s) => serde_json::from_str(s)
            .map_err(|err| invalid(format!("fleet {name:?}: Status: {err}")))?,
    };
    Ok(StoredFleet { fleet, status })
}

impl TableFleets {
    pub(crate) fn new(table: TableClient) -> Self {
        Self {
            rows: Documents::new(table),
        }
    }
}

#[async_trait]
impl FleetDefStore for TableFleets {
    async fn list(&self) -> Result<Vec<Versioned<StoredFleet>>, StoreError> {
        let mut out = Vec::new();
        for (e, etag) in self.rows.list(FLEETS).await? {
            match from_entity(&e) {
                Ok(f) => out.push(Versioned::new(f, etag)),
                Err(err) => tracing::warn!(error = %err, "skipping a row that is not a fleet"),
            }
        }
        out.sort_by(|a, b| a.value.fleet.name.cmp(&b.value.fleet.name));
        Ok(out)
    }

    async fn get(&self, name: &FleetName) -> Result<Option<Versioned<StoredFleet>>, StoreError> {
        match self.rows.get(FLEETS, name.as_str()).await? {
            Some((e, etag)) => Ok(Some(Versioned::new(from_entity(&e)?, etag))),
            None => Ok(None),
        }
    }

    async fn insert(&self, f: &StoredFleet) -> Result<Etag, StoreError> {
        self.rows.insert(&to_entity(f)).await
    }

    async fn replace(&self, f: &StoredFleet, etag: &Etag) -> Result<Etag, StoreError> {
        self.rows
            .replace(FLEETS, f.fleet.name.as_str(), &to_entity(f), etag)
            .await
    }

    async fn delete(&self, name: &FleetName) -> Result<bool, StoreError> {
        self.rows.delete(FLEETS, name.as_str()).await
    }
}
