//! Delete: claim the row (→ Deleting), delete in ARM, remove the row. Idempotent.
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
            let Some(current) = self.store.get(key).await? else {
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

fn unreachable_decision(d: Decision) -> Result<(), OpsError> {
    Err(OpsError::Conflict {
        code: "IllegalTransition",
        message: format!("delete is not possible here ({d:?})"),
    })
}
