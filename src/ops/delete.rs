//! Delete: claim the row (→ Deleting), delete in ARM, remove the row. Idempotent.
//!
//! Without a row, the group is deleted only if it carries gamefleet's
//! `managed-by` tag (an orphan of a crashed Create); a group made outside
//! gamefleet answers 409 `GroupExistsInAzure` and is left alone.
//!
//! A group that holds sessions is refused (409) unless `force`: an explicit
//! delete must not silently drop players. The claim is conditional on the ETag,
//! so a session count written at the same moment either lands before the claim
//! (and is seen) or after it (and is refused with `GroupDeleting`).

use super::{App, OpsError, MAX_CONFLICT_RETRIES};
use crate::fleet::{machine, Decision, Etag, Event, GroupKey};
use crate::ports::{DeleteOutcome, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The group is gone from ARM and the table.
    Gone,
    /// ARM accepted the delete but had not finished; the row stays Deleting and GC finishes it.
    Pending,
}

impl App {
    pub async fn delete(&self, key: &GroupKey, force: bool) -> Result<Deleted, OpsError> {
        let claimed = self.claim_for_delete(key, force).await?;
        if claimed.is_none() {
            // No row: gamefleet deletes the group only if it made it (its tag).
            match self.platform.get(key).await? {
                None => return Ok(Deleted::Gone),
                Some(status) if status.is_tagged_by_gamefleet() => {
                    tracing::info!(group = %key, "deleting a tagged group that has no row");
                }
                Some(_) => return Err(not_ours(key)),
            }
        }
        fail::fail_point!("delete-after-claim");
        let outcome = self
            .platform
            .delete(key, self.settings.gc.delete_wait)
            .await?;
        fail::fail_point!("delete-after-arm");
        if outcome == DeleteOutcome::Pending {
            return Ok(Deleted::Pending);
        }
        if let Some(etag) = claimed {
            match self.store.delete(key, Some(&etag)).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                // Someone touched the Deleting row (a Monitor event): remove it anyway, the group is gone.
                Err(StoreError::PreconditionFailed) => match self.store.delete(key, None).await {
                    Ok(()) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                },
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(group = %key, "container group deleted");
        Ok(Deleted::Gone)
    }

    /// Move the row to Deleting; `None` if there is no row.
    async fn claim_for_delete(
        &self,
        key: &GroupKey,
        force: bool,
    ) -> Result<Option<Etag>, OpsError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let Some(current) = self.find(key).await? else {
                return Ok(None);
            };
            let rec = &current.value;
            if !force
                && !rec.active_sessions.is_zero()
                && rec.state != crate::fleet::GroupState::Deleting
            {
                return Err(OpsError::Conflict {
                    code: "GroupHasSessions",
                    message: format!(
                        "container group {key} has {} active sessions; set them to 0 first, or send \"force\": true",
                        rec.active_sessions
                    ),
                });
            }
            match machine::next(rec.state, &Event::Delete) {
                Decision::NoOp => return Ok(Some(current.etag)),
                Decision::Move(to) => match self
                    .store
                    .replace(
                        &rec.moved_to(to, crate::fleet::record::now()),
                        &current.etag,
                    )
                    .await
                {
                    Ok(etag) => return Ok(Some(etag)),
                    Err(StoreError::PreconditionFailed) => continue,
                    Err(StoreError::NotFound) => return Ok(None),
                    Err(e) => return Err(e.into()),
                },
                other => unreachable_decision(other)?,
            }
        }
        Err(super::state::busy(key))
    }
}

/// A group of that name exists in Azure, but gamefleet neither tracks it nor made it.
pub(crate) fn not_ours(key: &GroupKey) -> OpsError {
    OpsError::Conflict {
        code: "GroupExistsInAzure",
        message: format!("container group {key} exists in Azure but was not created by this gamefleet (no row, no managed-by tag); gamefleet never changes or deletes it"),
    }
}

fn unreachable_decision(d: Decision) -> Result<(), OpsError> {
    Err(OpsError::Conflict {
        code: "IllegalTransition",
        message: format!("delete is not possible here ({d:?})"),
    })
}
