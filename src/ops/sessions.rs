//! SetSessions: session counts of many groups, written in entity-group
//! transactions (≤ 100 per resource group and request to Table Storage), each
//! conditional on the ETag it was read with.
//!
//! Per resource group: read the rows (one query per ≤ 1000 rows), drop the
//! items that cannot apply (unknown group, group being deleted: they fail
//! alone), write the rest in batches. A batch is all-or-nothing; when one
//! fails because a row changed (GC claimed it, another writer), re-read and try
//! again, at most [`MAX_CONFLICT_RETRIES`] times. An item is reported applied
//! only after the batch that carries it committed.

use super::{App, OpsError, MAX_CONFLICT_RETRIES};
use crate::fleet::allocation::Reservation;
use crate::fleet::{ActiveSessions, ContainerGroupName, GroupKey, ResourceGroup};
use crate::ports::{BatchOutcome, SessionWrite, StoreError, MAX_BATCH};
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, HashMap};

/// One item's result.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemResult {
    Applied,
    Failed { code: &'static str, message: String },
}

/// (index in the request, group, count).
type Item = (usize, ContainerGroupName, ActiveSessions);

/// Resource groups written at once.
const PARTITION_CONCURRENCY: usize = 8;

impl App {
    /// `items` must not name a group twice (the edge refuses that). Results come
    /// back in the order of `items`. `Err` only when nothing could be applied
    /// because the store was unavailable.
    pub async fn set_sessions(
        &self,
        items: &[(GroupKey, ActiveSessions)],
    ) -> Result<Vec<ItemResult>, OpsError> {
        self.write_counts(items, false).await
    }

    /// A game server's own report (ReportSessions): its count, and its heartbeat.
    pub async fn report_sessions(
        &self,
        key: &GroupKey,
        n: ActiveSessions,
    ) -> Result<ItemResult, OpsError> {
        let results = self.write_counts(&[(key.clone(), n)], true).await?;
        Ok(results.into_iter().next().unwrap_or(ItemResult::Failed {
            code: "Internal",
            message: "no result".into(),
        }))
    }

    async fn write_counts(
        &self,
        items: &[(GroupKey, ActiveSessions)],
        heartbeat: bool,
    ) -> Result<Vec<ItemResult>, OpsError> {
        let mut by_rg: BTreeMap<ResourceGroup, Vec<Item>> = BTreeMap::new();
        for (i, (key, n)) in items.iter().enumerate() {
            by_rg
                .entry(key.resource_group.clone())
                .or_default()
                .push((i, key.name.clone(), *n));
        }
        let per_rg: Vec<Vec<(usize, Result<ItemResult, StoreError>)>> = stream::iter(by_rg)
            .map(|(rg, group)| async move { self.set_sessions_in(&rg, group, heartbeat).await })
            .buffer_unordered(PARTITION_CONCURRENCY)
            .collect()
            .await;

        let mut results: Vec<Option<ItemResult>> = vec![None; items.len()];
        let mut unavailable: Option<StoreError> = None;
        let mut any_reached_store = false;
        for (i, r) in per_rg.into_iter().flatten() {
            results[i] = Some(match r {
                Ok(res) => {
                    any_reached_store = true;
                    res
                }
                Err(e) => {
                    let code = if matches!(e, StoreError::Unavailable { .. }) {
                        "StorageUnavailable"
                    } else {
                        "StorageRejected"
                    };
                    let res = ItemResult::Failed {
                        code,
                        message: format!("not applied: {e}"),
                    };
                    if matches!(e, StoreError::Unavailable { .. }) {
                        unavailable.get_or_insert(e);
                    } else {
                        any_reached_store = true;
                    }
                    res
                }
            });
        }
        if let (false, Some(e)) = (any_reached_store, unavailable) {
            return Err(e.into());
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or(ItemResult::Failed {
                    code: "Internal",
                    message: "no result".into(),
                })
            })
            .collect())
    }

    /// The rows of `names` under the canonical key; names missing there are
    /// looked up under the caller's spelling (rows the original project wrote)
    /// and moved first.
    async fn rows_of(
        &self,
        rg: &ResourceGroup,
        names: &[ContainerGroupName],
    ) -> Result<Vec<crate::fleet::Versioned<crate::fleet::GroupRecord>>, StoreError> {
        let mut rows = self.store.get_many(rg, names).await?;
        if rg.as_str() == rg.key() || rows.len() == names.len() {
            return Ok(rows);
        }
        let found: std::collections::HashSet<ContainerGroupName> =
            rows.iter().map(|r| r.value.key.name.clone()).collect();
        let missing: Vec<ContainerGroupName> = names
            .iter()
            .filter(|n| !found.contains(*n))
            .cloned()
            .collect();
        let legacy_rows = self.store.get_many_at(rg.as_str(), &missing).await?;
        // A move that finished between the two reads (insert, then delete):
        // the canonical row exists now.
        let still: Vec<ContainerGroupName> = missing
            .iter()
            .filter(|n| !legacy_rows.iter().any(|r| &r.value.key.name == *n))
            .cloned()
            .collect();
        if !still.is_empty() {
            rows.extend(self.store.get_many(rg, &still).await?);
        }
        for legacy in legacy_rows {
            match self.adopt_legacy(legacy).await {
                Ok(Some(row)) => rows.push(row),
                Ok(None) => {}
                Err(super::OpsError::Store(e)) => return Err(e),
                Err(e) => {
                    return Err(StoreError::Rejected {
                        code: "MigrationFailed".into(),
                        message: e.to_string(),
                    })
                }
            }
        }
        Ok(rows)
    }

    async fn set_sessions_in(
        &self,
        rg: &ResourceGroup,
        items: Vec<Item>,
        heartbeat: bool,
    ) -> Vec<(usize, Result<ItemResult, StoreError>)> {
        let mut done: Vec<(usize, Result<ItemResult, StoreError>)> =
            Vec::with_capacity(items.len());
        let mut pending = items;
        for _ in 0..MAX_CONFLICT_RETRIES {
            if pending.is_empty() {
                break;
            }
            let names: Vec<ContainerGroupName> =
                pending.iter().map(|(_, n, _)| n.clone()).collect();
            let rows = match self.rows_of(rg, &names).await {
                Ok(rows) => rows,
                Err(e) => {
                    let msg = e.to_string();
                    let retry_after = match &e {
                        StoreError::Unavailable { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    done.extend(pending.drain(..).map(|(i, _, _)| {
                        (
                            i,
                            Err(StoreError::Unavailable {
                                message: msg.clone(),
                                retry_after,
                            }),
                        )
                    }));
                    break;
                }
            };
            let found: HashMap<&str, _> = rows
                .iter()
                .map(|r| (r.value.key.name.as_str(), r))
                .collect();
            let mut writable = Vec::new();
            for (i, name, n) in pending.drain(..) {
                match found.get(name.as_str()) {
                    None => done.push((i, Ok(ItemResult::Failed {
                        code: "GroupNotFound",
                        message: format!("container group {rg}/{name} is not known to gamefleet"),
                    }))),
                    Some(row) if !row.value.state.accepts_sessions() => done.push((i, Ok(ItemResult::Failed {
                        code: "GroupDeleting",
                        message: format!("container group {rg}/{name} is being deleted; its session count can no longer change"),
                    }))),
                    Some(row) => {
                        let confirmed = if heartbeat { confirm(&row.value, n) } else { None };
                        writable.push(((i, name, n), row.etag.clone(), confirmed))
                    }
                }
            }
            for chunk in writable.chunks(MAX_BATCH) {
                let writes: Vec<SessionWrite> = chunk
                    .iter()
                    .map(|((_, name, n), etag, confirmed)| SessionWrite {
                        heartbeat,
                        name: name.clone(),
                        active_sessions: *n,
                        etag: etag.clone(),
                        reservations: confirmed.clone(),
                    })
                    .collect();
                match self.store.write_sessions(rg, &writes).await {
                    Ok(BatchOutcome::Applied(_)) => done.extend(
                        chunk
                            .iter()
                            .map(|((i, _, _), _, _)| (*i, Ok(ItemResult::Applied))),
                    ),
                    // A row changed or vanished since the read: nothing in this batch applied; read again.
                    Ok(BatchOutcome::Failed {
                        error: StoreError::PreconditionFailed | StoreError::NotFound,
                        ..
                    }) => pending.extend(chunk.iter().map(|(item, _, _)| item.clone())),
                    Ok(BatchOutcome::Failed { index, error }) => {
                        tracing::error!(resource_group = %rg, index, error = %error, "session batch refused");
                        done.extend(chunk.iter().map(|((i, _, _), _, _)| {
                            (
                                *i,
                                Err(StoreError::Rejected {
                                    code: "BatchRefused".into(),
                                    message: error.to_string(),
                                }),
                            )
                        }));
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        done.extend(chunk.iter().map(|((i, _, _), _, _)| {
                            (
                                *i,
                                Err(match &e {
                                    StoreError::Unavailable { retry_after, .. } => {
                                        StoreError::Unavailable {
                                            message: msg.clone(),
                                            retry_after: *retry_after,
                                        }
                                    }
                                    _ => StoreError::Rejected {
                                        code: "StoreError".into(),
                                        message: msg.clone(),
                                    },
                                }),
                            )
                        }));
                    }
                }
            }
        }
        done.extend(pending.into_iter().map(|(i, name, _)| (i, Ok(ItemResult::Failed {
            code: "ConcurrentUpdate",
            message: format!("container group {rg}/{name} kept changing while this request was applied; retry"),
        }))));
        done
    }
}

/// A server's own report of `n` players confirms the reservations of the
/// players who joined since its last count: the oldest live ones whose
/// players fit in the rise. Returns the reservations the row keeps, or `None`
/// when the report confirms none (nothing to write).
fn confirm(row: &crate::fleet::GroupRecord, n: ActiveSessions) -> Option<Vec<Reservation>> {
    let now = crate::fleet::record::now();
    let mut rise = n.get().saturating_sub(row.active_sessions.get());
    let mut live: Vec<Reservation> = row.capacity.live(now).cloned().collect();
    if rise == 0 || live.is_empty() {
        return None;
    }
    live.sort_by_key(|r| r.expires_at);
    let before = live.len();
    live.retain(|r| {
        if r.players <= rise {
            rise -= r.players;
            false
        } else {
            // Kept: and no younger one skips the queue past it.
            rise = 0;
            true
        }
    });
    (live.len() < before).then_some(live)
}
