//! Create: the row first, then ARM.
//!
//! 1. Insert the `Creating` row (the original wrote it after the PUT, so an
//!    Event Grid event that came first found no row and the group stayed
//!    Creating forever). The insert is the name lock: a second Create of the
//!    same name gets 409 and changes nothing. A `Failed` row whose group ARM
//!    does not have may be taken over, so a rejected create can be retried.
//! 2. If ARM already has a group of that name (made outside gamefleet), undo
//!    the row and answer 409: gamefleet never overwrites a group it did not make.
//! 3. PUT the group. ARM's rejection marks the row Failed with ARM's reason; a
//!    transient failure is checked with a GET: created after all → keep the row;
//!    not created → remove the row (no phantom); unknown → keep `Creating` for
//!    Monitor or reconcile to settle.

use super::{App, OpsError};
use crate::fleet::spec::ContainerGroupSpec;
use crate::fleet::{Etag, GroupKey, GroupRecord, GroupState};
use crate::ports::{PlatformError, Provisioning, StoreError};

impl App {
    pub async fn create(
        &self,
        key: &GroupKey,
        spec: &ContainerGroupSpec,
    ) -> Result<GroupRecord, OpsError> {
        self.create_with(key, spec, Default::default()).await
    }

    /// [`Self::create`] of a server with `capacity` (its slots and labels, for Allocate).
    pub async fn create_with(
        &self,
        key: &GroupKey,
        spec: &ContainerGroupSpec,
        capacity: crate::fleet::allocation::Capacity,
    ) -> Result<GroupRecord, OpsError> {
        // The container's token first: a storage failure here changes nothing.
        let token = self.keyring.issue(key).await?;
        // A row the original wrote under this spelling moves to the canonical
        // key first, so the insert below sees the name as taken.
        if key.resource_group.as_str() != key.resource_group.key() {
            self.find(key).await?;
        }
        let now = crate::fleet::record::now();
        let mut row = GroupRecord::creating(key.clone(), spec.location().to_owned(), now);
        row.capacity = capacity;
        let etag = match self.store.insert(&row).await {
            Ok(etag) => etag,
            Err(StoreError::AlreadyExists) => self.take_over_failed(&row).await?,
            Err(e) => return Err(e.into()),
        };
        fail::fail_point!("create-after-row");

        match self.platform.get(key).await {
            Ok(None) => {}
            Ok(Some(_)) => {
                self.undo(key, &etag).await;
                return Err(OpsError::Conflict {
                    code: "GroupExistsInAzure",
                    message: format!("a container group named {key} already exists in Azure and was not created by this gamefleet; pick another name or delete it first"),
                });
            }
            Err(e) => {
                self.undo(key, &etag).await;
                return Err(e.into());
            }
        }

        let report_url = self
            .settings
            .set_sessions_url
            .as_ref()
            .map(|u| report_url_for(u, &token));
        let body = spec.to_arm_body_with_token(key, report_url.as_deref(), Some(&token));
        match self.platform.create(key, &body).await {
            Ok(status) => {
                fail::fail_point!("create-after-put");
                tracing::info!(group = %key, provisioning = %status.provisioning_state, "container group accepted by ARM");
                Ok(row)
            }
            Err(PlatformError::Rejected {
                status,
                code,
                message,
            }) => {
                let reason =
                    format!("ARM rejected the container group ({status} {code}): {message}");
                let mut failed = row.moved_to(GroupState::Failed, crate::fleet::record::now());
                failed.failure_reason = Some(crate::fleet::record::bounded_reason(reason));
                if let Err(e) = self.store.replace(&failed, &etag).await {
                    tracing::error!(group = %key, error = %e, "could not mark the rejected group Failed");
                }
                Err(PlatformError::Rejected {
                    status,
                    code,
                    message,
                }
                .into())
            }
            Err(e) => {
                // The PUT may or may not have reached ARM: ask.
                match self.platform.get(key).await {
                    Ok(Some(status)) if status.provisioning() != Provisioning::Deleting => {
                        tracing::warn!(group = %key, error = %e, "PUT failed but ARM has the group: keeping it");
                        Ok(row)
                    }
                    Ok(_) => {
                        self.undo(key, &etag).await;
                        Err(e.into())
                    }
                    Err(check) => {
                        tracing::error!(group = %key, error = %e, check = %check, "PUT outcome unknown; the row stays Creating until Monitor or reconcile settles it");
                        Err(e.into())
                    }
                }
            }
        }
    }

    /// The name is taken: allowed only over a `Failed` row whose group ARM does not have.
    async fn take_over_failed(&self, row: &GroupRecord) -> Result<Etag, OpsError> {
        let key = &row.key;
        let exists = || OpsError::Conflict {
            code: "GroupExists",
            message: format!(
                "container group {key} already exists; pick another name, or Delete it first"
            ),
        };
        let Some(current) = self.store.get(key).await? else {
            return Err(exists());
        };
        if current.value.state != GroupState::Failed || self.platform.get(key).await?.is_some() {
            return Err(exists());
        }
        match self.store.replace(row, &current.etag).await {
            Ok(etag) => Ok(etag),
            Err(StoreError::PreconditionFailed | StoreError::NotFound) => Err(exists()),
            Err(e) => Err(e.into()),
        }
    }
}

/// ReportSessions' URL with the container's own token in its query: a game
/// server reports with nothing but this URL (the original's images POST to it
/// with plain wget/curl and no other header).
pub fn report_url_for(base: &url::Url, token: &str) -> String {
    let mut url = base.clone();
    url.query_pairs_mut().append_pair("token", token);
    url.into()
}

impl App {
    /// Remove the row Create wrote (only if nobody changed it since).
    async fn undo(&self, key: &GroupKey, etag: &Etag) {
        if let Err(e) = self.store.delete(key, Some(etag)).await {
            tracing::error!(group = %key, error = %e, "could not remove the Creating row after a failed create");
        }
    }
}
