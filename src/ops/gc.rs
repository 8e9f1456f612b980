//! GC: collect every group that is MarkedForDeletion (or Failed for longer
//! than `FLEET_FAILED_TTL`) with 0 sessions, across all pages.
//!
//! For each: claim it (→ Deleting) conditional on the ETag it was read with,
//! so a SetSessions that lands in between wins and the group is kept; delete it
//! in ARM; remove the row. A failed or unfinished ARM delete leaves the row
//! Deleting. A Deleting row belongs to whoever claimed it for `DELETE_LEASE`:
//! overlapping runs, other instances and Delete leave it alone meanwhile, so
//! ARM gets one DELETE per group, not one per run. After the lease a run
//! renews the claim (conditionally: one resumer wins), looks in ARM, and sends
//! a DELETE only if the group is still there and not already being deleted. At most `GC_CONCURRENCY` groups are
//! in flight at once. A run that did something ends with a line in the
//! activity log ([`super::activity`]).

use super::migrate::Adopter;
use super::App;
use crate::fleet::gc::{plan, GcAction, GcFacts};
use crate::fleet::{GroupRecord, GroupState, Versioned};
use crate::ports::{DeleteOutcome, ListQuery, StoreError};
use futures::stream::StreamExt;
use serde::Serialize;
use std::time::Duration;

/// How GC runs (`GC_CONCURRENCY`, `FLEET_FAILED_TTL`, … read by [`crate::config`]).
#[derive(Debug, Clone)]
pub struct GcConfig {
    pub concurrency: usize,
    pub failed_ttl: Duration,
    pub delete_wait: Duration,
    /// How long a Deleting claim belongs to the run (or Delete) that made it:
    /// within it, nobody else sends a DELETE for that group.
    pub delete_lease: Duration,
    /// How often GC compares the table with ARM (0 = every run, `None` = never).
    pub reconcile_interval: Option<Duration>,
    /// A Creating row older than this is settled from ARM (a lost event, a crash).
    pub creating_timeout: Duration,
}

/// What one GC run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    /// Rows read (candidates).
    pub examined: usize,
    /// Deleted in ARM and removed from the table.
    pub deleted: usize,
    /// ARM accepted the delete but had not finished: left Deleting for the next run.
    pub pending: usize,
    /// Lost the race to a concurrent write (sessions or state changed): kept.
    pub kept: usize,
    /// ARM or the store failed for this group: left as it was (Deleting) for the next run.
    pub failed: usize,
    /// Not eligible (sessions, too-recent failure).
    pub skipped: usize,
    /// Running servers silent past `HEALTH_TIMEOUT` with 0 sessions and no
    /// reservation, marked for deletion (and collected by this same run).
    pub unhealthy_marked: usize,
    /// Allocate's ledger entries past their reservation, removed.
    pub allocations_swept: usize,
    /// The reconcile pass that ran first, if one was due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<super::reconcile::ReconcileReport>,
}

impl App {
    /// Forget the requestIds whose reservation expired over a minute ago (a
    /// retry after that allocates anew). Best effort: the next run tries again.
    async fn sweep_ledger(&self) -> usize {
        let before = crate::fleet::record::now() - chrono::Duration::minutes(1);
        self.ledger.sweep(before).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not sweep Allocate's ledger; the next GC will");
            0
        })
    }
}

impl GcReport {
    fn count(&mut self, o: One) {
        self.examined += 1;
        match o {
            One::Deleted => self.deleted += 1,
            One::Pending => self.pending += 1,
            One::Kept => self.kept += 1,
            One::Failed => self.failed += 1,
            One::Skipped => self.skipped += 1,
        }
    }
}

enum One {
    Deleted,
    Pending,
    Kept,
    Failed,
    Skipped,
}

impl App {
    pub async fn gc(&self) -> Result<GcReport, StoreError> {
        let reconciled = self.reconcile_if_due().await;
        let unhealthy_marked = self.mark_unhealthy().await;
        let allocations_swept = self.sweep_ledger().await;
        let now = crate::fleet::record::now();
        let mut report = GcReport {
            reconcile: reconciled,
            unhealthy_marked,
            allocations_swept,
            ..Default::default()
        };
        // Page by page: the next page is read while the groups of this one
        // are in flight, so memory holds about a page, whatever the fleet's
        // size. Claims and deletes behind the query's position do not move
        // it (a continuation is a key, not an offset). A page that fails ends
        // the run: what was read is finished, the next run reads the rest.
        let mut pages = self.store.list_pages(&ListQuery::GcCandidates);
        let mut adopter = Adopter::default();
        let mut queue = std::collections::VecDeque::new();
        match pages.next().await {
            Some(first) => queue.extend(self.adopt_candidates(&mut adopter, first?).await),
            None => {
                crate::metrics::gc_run(&report);
                self.record_gc(&report, crate::fleet::record::now()).await;
                tracing::info!(?report, "gc run finished");
                return Ok(report);
            }
        }
        let mut listed = false;
        let mut stopped = None;
        // At most GC_CONCURRENCY groups between their claim and ARM's answer;
        // the row deletes after it run beside the next groups' DELETEs.
        let slots = tokio::sync::Semaphore::new(self.settings.gc.concurrency);
        let most = (self.settings.gc.concurrency * 2).max(1);
        let mut in_flight = futures::stream::FuturesUnordered::new();
        loop {
            while in_flight.len() < most {
                let Some(v) = queue.pop_front() else { break };
                in_flight.push(self.collect_one(v, now, &slots));
            }
            if queue.is_empty() && !listed {
                tokio::select! {
                    page = pages.next() => match page {
                        Some(Ok(rows)) => queue.extend(self.adopt_candidates(&mut adopter, rows).await),
                        Some(Err(e)) => {
                            stopped = Some(e);
                            listed = true;
                        }
                        None => {
                            // The moved rows held back for key order.
                            queue.extend(std::mem::take(&mut adopter).finish());
                            listed = true;
                        }
                    },
                    Some(o) = in_flight.next(), if !in_flight.is_empty() => report.count(o),
                }
                continue;
            }
            match in_flight.next().await {
                Some(o) => report.count(o),
                None if queue.is_empty() => break,
                None => {}
            }
        }
        crate::metrics::gc_run(&report);
        self.record_gc(&report, crate::fleet::record::now()).await;
        if let Some(e) = stopped {
            tracing::warn!(?report, error = %e, "gc could not read every candidate; the next run reads the rest");
            return Err(e);
        }
        tracing::info!(?report, "gc run finished");
        Ok(report)
    }

    /// One page of candidates with the original project's rows moved to the
    /// canonical key first; a row that could not be moved is left for the
    /// next run.
    async fn adopt_candidates(
        &self,
        adopter: &mut Adopter,
        rows: Vec<Versioned<GroupRecord>>,
    ) -> Vec<Versioned<GroupRecord>> {
        let (rows, failed) = adopter.page(self, rows).await;
        if let Some(e) = failed {
            tracing::warn!(error = %e, "could not move the original project's rows; GC leaves them for the next run");
        }
        rows
    }

    /// Reconcile when `RECONCILE_INTERVAL` has passed since the last pass of this
    /// process. A failed pass is logged and retried next run; GC goes on.
    async fn reconcile_if_due(&self) -> Option<super::reconcile::ReconcileReport> {
        let interval = self.settings.gc.reconcile_interval?;
        let due = match self.last_reconcile.lock() {
            Ok(last) => last.is_none_or(|t| t.elapsed() >= interval),
            Err(_) => true,
        };
        if !due {
            return None;
        }
        match self.reconcile().await {
            Ok(r) => {
                if let Ok(mut last) = self.last_reconcile.lock() {
                    *last = Some(std::time::Instant::now());
                }
                tracing::info!(?r, "reconcile pass finished");
                Some(r)
            }
            Err(e) => {
                tracing::warn!(error = %e, "reconcile pass failed; GC goes on, the next run tries again");
                None
            }
        }
    }

    /// Mark the Running servers that stopped reporting and hold nobody: the
    /// autoscaler replaces them, and this run collects them (the claim is
    /// conditional on the mark, as for any marked server). One with
    /// sessions or a reservation is left alone (its players may still be
    /// connected; only its own report or the operator decides), so GC never
    /// drops players because a reporter broke.
    async fn mark_unhealthy(&self) -> usize {
        let Some(timeout) = self.settings.health_timeout else {
            return 0;
        };
        let now = crate::fleet::record::now();
        let before = now - chrono::Duration::from_std(timeout).unwrap_or(chrono::TimeDelta::MAX);
        let query = ListQuery::SilentSince { before };
        let mut pages = self.store.list_pages(&query);
        let mut marked = 0;
        while let Some(page) = pages.next().await {
            let running = match page {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the Running servers for the health check");
                    break;
                }
            };
            for v in running {
                if self.mark_if_unhealthy(&v, now).await {
                    marked += 1;
                }
            }
        }
        marked
    }

    /// Mark one Running server that is unhealthy and holds nobody; whether it was marked.
    async fn mark_if_unhealthy(
        &self,
        v: &Versioned<GroupRecord>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let r = &v.value;
        let health = r.capacity.health(now, self.settings.health_timeout);
        if v.legacy_partition.is_some()
            || !crate::fleet::gc::marks_unhealthy(&GcFacts::of(r, now), health)
        {
            return false;
        }
        let mut next = r.moved_to(GroupState::MarkedForDeletion, now);
        next.failure_reason = Some(format!(
            "unhealthy: no report of its own since {}",
            r.capacity
                .heartbeat_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        ));
        // Conditional: a report that lands meanwhile wins and the server stays.
        match self.store.replace(&next, &v.etag).await {
            Ok(_) => {
                tracing::info!(group = %r.key, "unhealthy and empty: marked for deletion");
                true
            }
            Err(e) => {
                tracing::info!(group = %r.key, error = %e, "unhealthy server changed meanwhile: left");
                false
            }
        }
    }

    async fn collect_one(
        &self,
        v: Versioned<GroupRecord>,
        now: chrono::DateTime<chrono::Utc>,
        slots: &tokio::sync::Semaphore,
    ) -> One {
        let key = v.value.key.clone();
        let gc = &self.settings.gc;
        if matches!(
            plan(&v.value, now, gc.failed_ttl, gc.delete_lease),
            GcAction::Skip(_)
        ) {
            return One::Skipped;
        }
        let Ok(slot) = slots.acquire().await else {
            return One::Failed;
        };
        let action = plan(&v.value, now, gc.failed_ttl, gc.delete_lease);
        let etag = match action {
            GcAction::Skip(_) => return One::Skipped,
            // Take the stale claim over (conditional: a concurrent resumer loses here).
            GcAction::Resume => {
                let renewed = v
                    .value
                    .moved_to(GroupState::Deleting, crate::fleet::record::now());
                match self.store.replace(&renewed, &v.etag).await {
                    Ok(etag) => etag,
                    Err(StoreError::PreconditionFailed | StoreError::NotFound) => {
                        return One::Kept;
                    }
                    Err(e) => {
                        tracing::warn!(group = %key, error = %e, "gc could not renew the stale claim");
                        return One::Failed;
                    }
                }
            }
            GcAction::Collect => {
                let claimed = v
                    .value
                    .moved_to(GroupState::Deleting, crate::fleet::record::now());
                match self.store.replace(&claimed, &v.etag).await {
                    Ok(etag) => etag,
                    Err(StoreError::PreconditionFailed | StoreError::NotFound) => {
                        tracing::info!(group = %key, "group changed since GC read it: kept");
                        return One::Kept;
                    }
                    Err(e) => {
                        tracing::warn!(group = %key, error = %e, "gc could not claim the group");
                        return One::Failed;
                    }
                }
            }
        };
        fail::fail_point!("gc-after-claim");
        let deleted = self.delete_in_arm(&key, action == GcAction::Resume).await;
        drop(slot);
        match deleted {
            Ok(DeleteOutcome::Gone) => {}
            Ok(DeleteOutcome::Pending) => return One::Pending,
            Err(e) => {
                tracing::warn!(group = %key, error = %e, "ARM delete failed; the group stays Deleting for the next run");
                return One::Failed;
            }
        }
        fail::fail_point!("gc-after-arm");
        match self.store.delete(&key, Some(&etag)).await {
            Ok(()) | Err(StoreError::NotFound) => {
                tracing::info!(group = %key, "gc deleted the group");
                One::Deleted
            }
            Err(e) => {
                tracing::warn!(group = %key, error = %e, "group deleted in ARM; row removal failed, next run retries");
                One::Failed
            }
        }
    }
}
