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
use crate::fleet::gc::lease_expired;
use crate::fleet::{machine, Decision, Etag, Event, GroupKey, GroupState};
use crate::ports::{DeleteOutcome, PlatformError, Provisioning, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The group is gone from ARM and the table.
    Gone,
    /// ARM accepted the delete but had not finished; the row stays Deleting and GC finishes it.
    Pending,
}

impl App {
    pub async fn delete(&self, key: &GroupKey, force: bool) -> Result<Deleted, OpsError> {
        let (claimed, resumed) = match self.claim_for_delete(key, force).await? {
            Claim::Fresh(etag) => (Some(etag), false),
            Claim::Resumed(etag) => (Some(etag), true),
            // GC (or another Delete) claimed it moments ago and is deleting it now.
            Claim::Held => return Ok(Deleted::Pending),
            Claim::NoRow => (None, false),
        };
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
        let outcome = self.delete_in_arm(key, resumed).await?;
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

    /// The ARM delete of a group whose row this caller holds as Deleting. A
    /// resumed claim (someone else's, past its lease) looks first: a group that
    /// is gone, or that ARM is still deleting, gets no second DELETE.
    pub(crate) async fn delete_in_arm(
        &self,
        key: &GroupKey,
        resumed: bool,
    ) -> Result<DeleteOutcome, PlatformError> {
        if resumed {
            match self.platform.get(key).await? {
                None => return Ok(DeleteOutcome::Gone),
                Some(s) if s.provisioning() == Provisioning::Deleting => {
                    return Ok(DeleteOutcome::Pending)
                }
                Some(_) => {}
            }
        }
        self.platform
            .delete(key, self.settings.gc.delete_wait)
            .await
    }

    /// Move the row to Deleting.
    async fn claim_for_delete(&self, key: &GroupKey, force: bool) -> Result<Claim, OpsError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let Some(current) = self.find(key).await? else {
                return Ok(Claim::NoRow);
            };
            let rec = &current.value;
            // A live reservation counts as sessions here as everywhere: the
            // players an Allocate promised are on their way. The claim below
            // is conditional on this read, so one that lands after it is seen.
            let held = crate::fleet::gc::GcFacts::of(rec, crate::fleet::record::now()).held;
            if !force && held > 0 && rec.state != crate::fleet::GroupState::Deleting {
                let reserved = held.saturating_sub(rec.active_sessions.get());
                let held = if reserved > 0 {
                    format!(
                        "{} active sessions and {reserved} reserved slots",
                        rec.active_sessions
                    )
                } else {
                    format!("{} active sessions", rec.active_sessions)
                };
                return Err(OpsError::Conflict {
                    code: "GroupHasSessions",
                    message: format!(
                        "container group {key} has {held}; set them to 0 first (a reservation expires after ALLOCATION_TTL), or send \"force\": true"
                    ),
                });
            }
            match machine::next(rec.state, &Event::Delete) {
                Decision::NoOp if rec.state == GroupState::Deleting => {
                    let now = crate::fleet::record::now();
                    return Ok(
                        if lease_expired(rec.state_changed_at, now, self.settings.gc.delete_lease) {
                            Claim::Resumed(current.etag)
                        } else {
                            Claim::Held
                        },
                    );
                }
                Decision::NoOp => return Ok(Claim::Fresh(current.etag)),
                Decision::Move(to) => match self
                    .store
                    .replace(
                        &rec.moved_to(to, crate::fleet::record::now()),
                        &current.etag,
                    )
                    .await
                {
                    Ok(etag) => return Ok(Claim::Fresh(etag)),
                    Err(StoreError::PreconditionFailed) => continue,
                    Err(StoreError::NotFound) => return Ok(Claim::NoRow),
                    Err(e) => return Err(e.into()),
                },
                other => unreachable_decision(other)?,
            }
        }
        Err(super::state::busy(key))
    }
}

/// What Delete holds after trying to claim the row.
enum Claim {
    /// This call moved the row to Deleting (or it was Deleting-free and needs no move).
    Fresh(Etag),
    /// The row was Deleting, claimed longer than `DELETE_LEASE` ago: take it over.
    Resumed(Etag),
    /// The row is Deleting and its claim is still someone else's.
    Held,
    /// No row.
    NoRow,
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
