//! Rows the original project wrote under a mixed-case resource group.
//!
//! The key rule (one for every function): PartitionKey = the resource group
//! lower-cased, as ARM treats names case-insensitively. The original project
//! wrote the caller's spelling (`TeeWorlds-RG`), so after switching, its rows
//! sit under another key. Every function that meets such a row (List, GC,
//! reconcile, and any single-group call that misses the canonical row and
//! finds one under the caller's spelling) first moves it:
//!
//! 1. insert a copy under the canonical key (an insert: if a canonical row
//!    exists already, it is newer, and it wins);
//! 2. delete the old row, conditional on the ETag it was copied at.
//!
//! Nothing but this code writes a non-canonical row, so the copy cannot miss
//! a write made by gamefleet; a crash between the steps leaves both rows, and
//! the next pass finishes (the canonical one wins). `gamefleet migrate` runs
//! the same move over the whole table at once: idempotent, safe while live.
//! The original's own columns (`ContainerName`, `Image`, ...) move with the row.

use super::{App, OpsError};
use crate::fleet::{GroupRecord, Versioned};
use crate::ports::{ListQuery, StoreError};
use serde::Serialize;

/// [`App::adopt_all`] for a listing read page by page: legacy rows are moved
/// as their page comes, and their canonical rows are handed out in key order.
///
/// A legacy PartitionKey (`TeeWorlds-RG`) sorts before its canonical one
/// (`teeworlds-rg`: an upper-case letter sorts before its lower-case one), so
/// the scan meets a legacy row before the key its canonical row has. The
/// moved row is held here until the scan passes its key; if the scan reads
/// that key itself (a canonical row that existed already, or the copy just
/// inserted), the scanned row wins and is shown once. Only moved rows are
/// held: at most the legacy rows of the listing, none in a migrated table.
#[derive(Default)]
pub(crate) struct Adopter {
    held: std::collections::BTreeMap<crate::fleet::GroupKey, Versioned<GroupRecord>>,
}

impl Adopter {
    /// One page in key order → the rows to hand out now, in key order; the
    /// first failure to move a row (that row is left out, the rest go on).
    pub(crate) async fn page(
        &mut self,
        app: &App,
        rows: Vec<Versioned<GroupRecord>>,
    ) -> (Vec<Versioned<GroupRecord>>, Option<OpsError>) {
        if self.held.is_empty() && rows.iter().all(|r| r.legacy_partition.is_none()) {
            return (rows, None);
        }
        let mut out = Vec::with_capacity(rows.len());
        let mut failed = None;
        for r in rows {
            if r.legacy_partition.is_some() {
                let key = r.value.key.clone();
                match app.adopt_legacy(r).await {
                    Ok(Some(canonical)) => {
                        self.held.entry(key).or_insert(canonical);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
                continue;
            }
            while let Some(first) = self.held.first_entry() {
                if *first.key() >= r.value.key {
                    break;
                }
                out.push(first.remove());
            }
            self.held.remove(&r.value.key);
            out.push(r);
        }
        (out, failed)
    }

    /// The moved rows whose keys sort after every scanned row.
    pub(crate) fn finish(self) -> Vec<Versioned<GroupRecord>> {
        self.held.into_values().collect()
    }
}

/// What one migration pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateReport {
    /// Rows read.
    pub rows: usize,
    /// Rows under a non-canonical PartitionKey.
    pub legacy: usize,
    /// Copied to the canonical key and removed.
    pub moved: usize,
    /// A canonical row existed already (an earlier pass, or a crash mid-move): the old one removed.
    pub superseded: usize,
    /// Could not be moved now (storage, or the old row changed meanwhile); the next pass retries.
    pub failed: usize,
}

/// How one move ended.
enum Moved {
    Copied(Versioned<GroupRecord>),
    Superseded(Option<Versioned<GroupRecord>>),
}

impl App {
    /// Move one row stored under a non-canonical PartitionKey to the canonical
    /// key; returns the canonical row (`None` if it vanished meanwhile). A row
    /// already canonical is returned as it is.
    pub async fn adopt_legacy(
        &self,
        row: Versioned<GroupRecord>,
    ) -> Result<Option<Versioned<GroupRecord>>, OpsError> {
        match self.move_legacy(row).await? {
            Moved::Copied(v) => Ok(Some(v)),
            Moved::Superseded(v) => Ok(v),
        }
    }

    async fn move_legacy(&self, row: Versioned<GroupRecord>) -> Result<Moved, OpsError> {
        let Some(partition) = row.legacy_partition.clone() else {
            return Ok(Moved::Copied(row));
        };
        let key = row.value.key.clone();
        let moved = match self.store.insert(&row.value).await {
            Ok(etag) => Moved::Copied(Versioned::new(row.value.clone(), etag)),
            Err(StoreError::AlreadyExists) => Moved::Superseded(self.store.get(&key).await?),
            Err(e) => return Err(e.into()),
        };
        match self.store.delete_at(&partition, &key.name, &row.etag).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(StoreError::PreconditionFailed) => {
                // Only the original project writes those rows: it still runs.
                tracing::warn!(group = %key, partition = %partition, "the original project's row changed while it was moved; the next pass removes it (stop the original's functions)");
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(group = %key, from = %partition, "moved a row the original project wrote to the canonical key");
        Ok(moved)
    }

    /// Rows as the store listed them, with every legacy row moved first (and
    /// shown once, in its canonical form).
    pub(crate) async fn adopt_all(
        &self,
        rows: Vec<Versioned<GroupRecord>>,
    ) -> Result<Vec<Versioned<GroupRecord>>, OpsError> {
        if rows.iter().all(|r| r.legacy_partition.is_none()) {
            return Ok(rows);
        }
        let mut out: std::collections::BTreeMap<crate::fleet::GroupKey, Versioned<GroupRecord>> =
            Default::default();
        let mut legacy = Vec::new();
        for r in rows {
            if r.legacy_partition.is_some() {
                legacy.push(r);
            } else {
                out.insert(r.value.key.clone(), r);
            }
        }
        for r in legacy {
            let key = r.value.key.clone();
            if let Some(canonical) = self.adopt_legacy(r).await? {
                out.entry(key).or_insert(canonical);
            }
        }
        Ok(out.into_values().collect())
    }

    /// `gamefleet migrate`: move every row of the table to the canonical key.
    pub async fn migrate(&self) -> Result<MigrateReport, OpsError> {
        let rows = self
            .store
            .list(&ListQuery::ByState {
                state: None,
                resource_group: None,
            })
            .await?;
        let mut report = MigrateReport {
            rows: rows.len(),
            ..Default::default()
        };
        for r in rows.into_iter().filter(|r| r.legacy_partition.is_some()) {
            report.legacy += 1;
            match self.move_legacy(r).await {
                Ok(Moved::Copied(_)) => report.moved += 1,
                Ok(Moved::Superseded(_)) => report.superseded += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "could not move a row; the next pass retries");
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }
}
