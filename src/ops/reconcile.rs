//! Reconcile: the table against ARM, so a lost Event Grid event, a missing
//! subscription, a crash between two steps, or a group made out of band costs
//! minutes, not a stuck or forgotten server.
//!
//! | ARM | table | action |
//! |---|---|---|
//! | group tagged `managed-by: gamefleet` | no row | adopt: insert a row in the state ARM shows (never a group ARM is deleting) |
//! | group without the tag | no row | report (`untracked`), never touch |
//! | no group | row Creating, younger than `FLEET_CREATING_TIMEOUT` | leave (a Create is between its row and its PUT) |
//! | no group in the list, and a GET answers 404 | any other row | remove the row (conditional on its ETag) |
//! | group | row Creating, older than the timeout | move on from ARM: Running with its IP, or Failed |
//!
//! Rows are read before ARM is listed, so a Create that runs in between shows
//! up as "ARM has it, no row": the adopting insert then fails with
//! AlreadyExists and changes nothing.

use super::{App, OpsError};
use crate::fleet::{Event, GroupKey, GroupRecord, GroupState};
use crate::ports::{GroupStatus, ListQuery, Provisioning, StoreError};
use serde::Serialize;
use std::collections::HashMap;

/// What one reconcile pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// Groups in ARM / rows in the table when the pass started.
    pub arm_groups: usize,
    pub rows: usize,
    /// Tagged groups without a row, now tracked.
    pub adopted: usize,
    /// Rows whose group no longer exists, removed.
    pub removed: usize,
    /// Creating rows past the timeout moved to what ARM says.
    pub settled: usize,
    /// Groups without the gamefleet tag and without a row: reported, untouched.
    pub untracked: usize,
    /// Rows the list did not show but a GET found alive (the list moved under us): kept.
    pub confirmed_live: usize,
}

pub fn is_managed(status: &GroupStatus) -> bool {
    status.is_tagged_by_gamefleet()
}

impl App {
    pub async fn reconcile(&self) -> Result<ReconcileReport, OpsError> {
        let now = crate::fleet::record::now();
        let listed = self
            .store
            .list(&ListQuery::ByState {
                state: None,
                resource_group: None,
            })
            .await?;
        // The original project's rows under another spelling move to the canonical key.
        let rows = self.adopt_all(listed).await?;
        let arm = self.platform.list().await?;
        let mut report = ReconcileReport {
            arm_groups: arm.len(),
            rows: rows.len(),
            ..Default::default()
        };
        let in_arm: HashMap<&GroupKey, &GroupStatus> = arm.iter().map(|(k, s)| (k, s)).collect();
        let in_table: HashMap<&GroupKey, ()> = rows.iter().map(|r| (&r.value.key, ())).collect();

        for (key, status) in &arm {
            if in_table.contains_key(key) {
                continue;
            }
            if !is_managed(status) {
                report.untracked += 1;
                continue;
            }
            let state = match status.provisioning() {
                Provisioning::Deleting => continue,
                Provisioning::Succeeded => GroupState::Running,
                Provisioning::Failed => GroupState::Failed,
                Provisioning::InProgress => GroupState::Creating,
            };
            let location = status.location.clone().unwrap_or_default();
            let mut row = GroupRecord::creating(key.clone(), location, now);
            row.state = state;
            row.public_ip = status.public_ip.clone();
            if state == GroupState::Failed {
                row.failure_reason = Some(format!(
                    "adopted by reconcile; ARM provisioning state {}",
                    status.provisioning_state
                ));
            }
            match self.store.insert(&row).await {
                Ok(_) => {
                    tracing::warn!(group = %key, state = %state, "reconcile adopted a gamefleet group that had no row");
                    report.adopted += 1;
                }
                Err(StoreError::AlreadyExists) => {}
                Err(e) => return Err(e.into()),
            }
        }

        for row in &rows {
            let rec = &row.value;
            let age = now
                .signed_duration_since(rec.state_changed_at)
                .to_std()
                .unwrap_or_default();
            match in_arm.get(&rec.key) {
                None if rec.state == GroupState::Creating
                    && age < self.settings.gc.creating_timeout => {}
                None => {
                    // ARM's paged list is not a snapshot: a delete on an earlier
                    // page shifts later pages and a live group can be skipped.
                    // Only a GET that answers 404 proves the group is gone.
                    if self.platform.get(&rec.key).await?.is_some() {
                        report.confirmed_live += 1;
                        continue;
                    }
                    match self.store.delete(&rec.key, Some(&row.etag)).await {
                        Ok(()) => {
                            tracing::warn!(group = %rec.key, state = %rec.state, "reconcile removed a row whose group is gone from ARM");
                            report.removed += 1;
                        }
                        Err(StoreError::NotFound | StoreError::PreconditionFailed) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(status)
                    if rec.state == GroupState::Creating
                        && age >= self.settings.gc.creating_timeout =>
                {
                    let (event, reason) = match status.provisioning() {
                        Provisioning::Succeeded => (Event::ProvisioningSucceeded, None),
                        Provisioning::Failed => (
                            Event::ProvisioningFailed,
                            Some(format!(
                                "ARM provisioning state {} (found by reconcile)",
                                status.provisioning_state
                            )),
                        ),
                        _ => continue,
                    };
                    // The list has no instance view but has the IP; read the group for the freshest one.
                    let ip = match self.platform.get(&rec.key).await? {
                        Some(s) => s.public_ip,
                        None => continue,
                    };
                    let outcome = self.apply(&rec.key, event, ip, reason).await?;
                    if matches!(outcome, super::monitor::EventOutcome::Applied { .. }) {
                        tracing::warn!(group = %rec.key, "reconcile settled a group stuck in Creating (lost event?)");
                        report.settled += 1;
                    }
                }
                Some(_) => {}
            }
        }
        Ok(report)
    }
}
