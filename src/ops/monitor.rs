//! Monitor: Event Grid tells us *that* something happened to a group; ARM,
//! read at that moment, tells us *what is true*. Deciding on ARM's current
//! state rather than on the event makes any order and any number of
//! duplicates of the same events end in the same place.
//!
//! | event | action |
//! |---|---|
//! | write success | GET the group: Succeeded → Running with its IP (only from Creating); Failed → Failed; gone → row removed; still provisioning → retry later |
//! | write failure / cancel | Failed (with ARM's status) |
//! | delete success | GET the group: gone → row removed; it exists again (re-created) → stale event, ignored |
//! | anything else, other providers, other subscriptions, groups without a row | ignored |

use super::{App, OpsError, MAX_CONFLICT_RETRIES};
use crate::fleet::events::{EventKind, ResourceEvent};
use crate::fleet::{machine, Decision, Event, GroupKey, GroupRecord, GroupState};
use crate::ports::{Provisioning, StoreError};
use serde::Serialize;

/// What Monitor did with one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum EventOutcome {
    /// The record changed.
    Applied {
        from: GroupState,
        to: Option<GroupState>,
    },
    /// Nothing to do (already there, not ours, not relevant).
    Ignored { reason: String },
    /// Not yet decidable (ARM still provisioning): Event Grid should deliver it again.
    Retry { reason: String },
}

impl App {
    pub async fn on_event(&self, event: &ResourceEvent) -> Result<EventOutcome, OpsError> {
        let ignored = |r: &str| {
            Ok(EventOutcome::Ignored {
                reason: r.to_owned(),
            })
        };
        let Some(res) = &event.resource else {
            return ignored("no resource id in the event");
        };
        if !res.is_container_group() {
            return ignored("not a container group");
        }
        if !res
            .subscription
            .eq_ignore_ascii_case(&self.settings.subscription_id)
        {
            return ignored("another subscription");
        }
        let Some(key) = res.group_key() else {
            return ignored("not a name gamefleet could have created");
        };
        match event.kind {
            EventKind::WriteSuccess => self.settle_from_arm(&key).await,
            EventKind::WriteFailure | EventKind::WriteCancel => {
                let reason = format!(
                    "ARM reported {} ({})",
                    event.event_type.trim_start_matches("Microsoft.Resources."),
                    event.status.as_deref().unwrap_or("no status")
                );
                self.apply(&key, Event::ProvisioningFailed, None, Some(reason))
                    .await
            }
            EventKind::DeleteSuccess => match self.platform.get(&key).await? {
                None => self.apply(&key, Event::Gone, None, None).await,
                Some(_) => ignored("the group exists in ARM again (stale delete event)"),
            },
            _ => ignored("event type not handled"),
        }
    }

    /// Read ARM and move the record to what ARM says.
    async fn settle_from_arm(&self, key: &GroupKey) -> Result<EventOutcome, OpsError> {
        let Some(status) = self.platform.get(key).await? else {
            return self.apply(key, Event::Gone, None, None).await;
        };
        match status.provisioning() {
            Provisioning::Succeeded => {
                self.apply(
                    key,
                    Event::ProvisioningSucceeded,
                    status.public_ip.clone(),
                    None,
                )
                .await
            }
            Provisioning::Failed => {
                let reason = format!("ARM provisioning state {}", status.provisioning_state);
                self.apply(key, Event::ProvisioningFailed, None, Some(reason))
                    .await
            }
            Provisioning::Deleting => Ok(EventOutcome::Ignored {
                reason: "the group is being deleted in ARM".into(),
            }),
            Provisioning::InProgress => match self.find(key).await? {
                Some(r) if r.value.state == GroupState::Creating => Ok(EventOutcome::Retry {
                    reason: format!("ARM is still provisioning ({})", status.provisioning_state),
                }),
                _ => Ok(EventOutcome::Ignored {
                    reason: "no Creating record waits for this write".into(),
                }),
            },
        }
    }

    /// Apply one state-machine event to the record, conditional on its ETag.
    pub(super) async fn apply(
        &self,
        key: &GroupKey,
        event: Event,
        public_ip: Option<String>,
        reason: Option<String>,
    ) -> Result<EventOutcome, OpsError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let Some(current) = self.find(key).await? else {
                return Ok(EventOutcome::Ignored {
                    reason: "no record for this group".into(),
                });
            };
            let rec: &GroupRecord = &current.value;
            let write = match machine::next(rec.state, &event) {
                Decision::NoOp | Decision::Reject(_) => {
                    return Ok(EventOutcome::Ignored {
                        reason: format!("already {}", rec.state),
                    })
                }
                Decision::Remove => self
                    .store
                    .delete(key, Some(&current.etag))
                    .await
                    .map(|_| None),
                Decision::Move(to) => {
                    let mut next = rec.moved_to(to, crate::fleet::record::now());
                    if to == GroupState::Running {
                        next.public_ip = public_ip.clone();
                    }
                    if to == GroupState::Failed {
                        next.failure_reason = reason.clone();
                    }
                    self.store
                        .replace(&next, &current.etag)
                        .await
                        .map(|_| Some(to))
                }
            };
            match write {
                Ok(to) => {
                    tracing::info!(group = %key, from = %rec.state, to = %to.map(|s| s.as_str()).unwrap_or("(removed)"), "event applied");
                    return Ok(EventOutcome::Applied {
                        from: rec.state,
                        to,
                    });
                }
                Err(StoreError::PreconditionFailed) => continue,
                Err(StoreError::NotFound) => {
                    return Ok(EventOutcome::Ignored {
                        reason: "record removed meanwhile".into(),
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(super::state::busy(key))
    }
}
