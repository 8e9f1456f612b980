//! SetState: the caller marks a group MarkedForDeletion or Failed, or takes a
//! marked one back (Running).

use super::{App, OpsError, MAX_CONFLICT_RETRIES};
use crate::fleet::{machine, Decision, Event, GroupKey, GroupRecord, GroupState, Rejection};
use crate::ports::StoreError;

/// The states a caller may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    MarkedForDeletion,
    Failed,
    /// Unmark a MarkedForDeletion server that still runs.
    Running,
}

impl App {
    /// Apply the transition, conditional on the ETag; returns the record as stored.
    pub async fn set_state(
        &self,
        key: &GroupKey,
        target: Target,
        reason: Option<String>,
    ) -> Result<GroupRecord, OpsError> {
        let event = match target {
            Target::MarkedForDeletion => Event::MarkForDeletion,
            Target::Failed => Event::MarkFailed,
            Target::Running => Event::Unmark,
        };
        for _ in 0..MAX_CONFLICT_RETRIES {
            let current = self.get(key).await?;
            let rec = current.value;
            match machine::next(rec.state, &event) {
                Decision::NoOp => return Ok(rec),
                Decision::Move(to) => {
                    let mut next = rec.moved_to(to, crate::fleet::record::now());
                    if to == GroupState::Failed {
                        next.failure_reason = Some(
                            reason
                                .clone()
                                .unwrap_or_else(|| "marked Failed by SetState".into()),
                        );
                    }
                    match self.store.replace(&next, &current.etag).await {
                        Ok(_) => {
                            tracing::info!(group = %key, from = %rec.state, to = %to, "state set");
                            return Ok(next);
                        }
                        Err(StoreError::PreconditionFailed) => continue,
                        Err(StoreError::NotFound) => return Err(OpsError::NotFound(key.clone())),
                        Err(e) => return Err(e.into()),
                    }
                }
                Decision::Reject(Rejection::Illegal | Rejection::HasSessions)
                | Decision::Remove => {
                    return Err(OpsError::Conflict {
                        code: "IllegalTransition",
                        message: format!(
                            "container group {key} is {}; it cannot become {}",
                            rec.state,
                            match target {
                                Target::MarkedForDeletion => "MarkedForDeletion",
                                Target::Failed => "Failed",
                                Target::Running => "Running again",
                            }
                        ),
                    })
                }
            }
        }
        Err(busy(key))
    }
}

/// The record kept changing under us.
pub(crate) fn busy(key: &GroupKey) -> OpsError {
    OpsError::Conflict {
        code: "ConcurrentUpdate",
        message: format!("container group {key} changed {MAX_CONFLICT_RETRIES} times while this request was applied; retry"),
    }
}
