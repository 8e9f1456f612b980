//! The use cases: one function per Azure Function, written against the ports.
//! Each decides with the pure core ([`crate::fleet`]) and writes conditionally
//! on the ETag it read; a lost race is retried a bounded number of times.

pub mod activity;
pub mod allocate;
pub mod auth;
pub mod create;
pub mod dashboard;
pub mod delete;
pub mod fleets;
pub mod gc;
pub mod keyring;
pub mod list;
pub mod migrate;
pub mod monitor;
pub mod power;
pub mod reconcile;
pub mod schedules;
pub mod sessions;
pub mod state;

use crate::fleet::{GroupKey, GroupRecord, Versioned};
use crate::ports::{ContainerPlatform, FleetStore, PlatformError, StoreError};
use gc::GcConfig;
use std::sync::Arc;

/// Everything the use cases need, built once in `main`.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn FleetStore>,
    pub platform: Arc<dyn ContainerPlatform>,
    /// The lifecycle core's providers (the Power function).
    pub power: Arc<crate::ops::power::PowerHub>,
    /// Power schedules, applied by `tick` ([`schedules`]).
    pub schedules: Arc<dyn crate::ports::ScheduleStore>,
    /// Fleet definitions, scaled by `autoscale` ([`fleets`]).
    pub fleets: Arc<dyn crate::ports::FleetDefStore>,
    /// Allocate's requestIds across instances ([`allocate`]).
    pub ledger: Arc<dyn crate::ports::AllocationLedger>,
    /// The recent GC and autoscaler actions, for the dashboard ([`activity`]).
    pub activity: Arc<dyn crate::ports::ActivityLog>,
    pub settings: Settings,
    /// Signs and checks each game server's session token.
    pub keyring: Arc<keyring::Keyring>,
    /// This process's snapshot of the servers Allocate picks from.
    pub allocation: Arc<allocate::Candidates>,
    /// When GC last reconciled the table with ARM (this process).
    pub last_reconcile: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Events about other subscriptions are ignored.
    pub subscription_id: String,
    /// ReportSessions' URL; every container gets it with its own token as
    /// `ACI_SET_SESSIONS_URL` (and `SET_SESSIONS_URL`, the original images' name).
    pub set_sessions_url: Option<url::Url>,
    /// `X-API-Key` values every route requires; empty = none (under the Functions host).
    pub api_keys: crate::ops::auth::ApiKeys,
    /// Keys of the seed's OpenStack API (`OPENSTACK_API_KEYS`).
    pub openstack_api_keys: crate::ops::auth::ApiKeys,
    pub gc: GcConfig,
    /// How long an Allocate reservation holds its slots.
    pub allocation_ttl: std::time::Duration,
    /// Silence after a server's own report that makes it Unhealthy (`None` = not checked).
    pub health_timeout: Option<std::time::Duration>,
}

/// Attempts of a read-decide-write loop before giving up on a hot record.
pub const MAX_CONFLICT_RETRIES: usize = 8;

/// Why a use case failed, by whose fault it is. Mapped to HTTP in `http::error`.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// No such container group in the table.
    #[error("container group {0} not found")]
    NotFound(GroupKey),
    /// The request conflicts with the group's current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Table Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// ARM failed or refused.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// Nothing can be done now; worth trying again after `retry_after`
    /// (`NoCapacity`, `AllocationContention`).
    #[error("{message}")]
    Unavailable {
        code: &'static str,
        message: String,
        retry_after: std::time::Duration,
    },
}

impl App {
    /// Reported once, then silent for longer than `HEALTH_TIMEOUT`.
    pub fn unhealthy(&self, r: &GroupRecord) -> bool {
        r.capacity
            .health(crate::fleet::record::now(), self.settings.health_timeout)
            == crate::fleet::allocation::Health::Unhealthy
    }

    pub async fn get(&self, key: &GroupKey) -> Result<Versioned<GroupRecord>, OpsError> {
        self.find(key)
            .await?
            .ok_or_else(|| OpsError::NotFound(key.clone()))
    }

    /// The row of `key`, if any, under the canonical key; a row the original
    /// project wrote under the caller's spelling is moved there first
    /// ([`migrate`]). Every single-group function reads through this.
    pub async fn find(&self, key: &GroupKey) -> Result<Option<Versioned<GroupRecord>>, OpsError> {
        if let Some(row) = self.store.get(key).await? {
            return Ok(Some(row));
        }
        let spelled = key.resource_group.as_str();
        if spelled == key.resource_group.key() {
            return Ok(None);
        }
        match self.store.get_at(spelled, &key.name).await? {
            Some(legacy) => self.adopt_legacy(legacy).await,
            // A move may have finished between the two reads (it inserts the
            // canonical row before it deletes the old one): look again.
            None => Ok(self.store.get(key).await?),
        }
    }
}

impl App {
    /// The container group as ARM has it (Details), for groups gamefleet
    /// manages: a row (groups the original project made carry no tag) or the
    /// `managed-by` tag. A group made outside gamefleet is not shown (409).
    pub async fn details(&self, key: &GroupKey) -> Result<serde_json::Value, OpsError> {
        match self.platform.get(key).await? {
            Some(status) if status.is_tagged_by_gamefleet() => Ok(status.raw),
            Some(status) => match self.find(key).await? {
                Some(_) => Ok(status.raw),
                None => Err(delete::not_ours(key)),
            },
            None => Err(OpsError::NotFound(key.clone())),
        }
    }

    /// Gamefleet manages `key` (a row, or ARM's group carries the tag), or ARM
    /// has no such group; `GroupExistsInAzure` for an untagged group without a row.
    async fn check_ours(&self, key: &GroupKey) -> Result<(), OpsError> {
        if self.find(key).await?.is_some() {
            return Ok(());
        }
        match self.platform.get(key).await? {
            Some(status) if !status.is_tagged_by_gamefleet() => Err(delete::not_ours(key)),
            _ => Ok(()),
        }
    }

    /// A container's logs (Details with `type: "logs"`).
    pub async fn logs(
        &self,
        key: &GroupKey,
        container: &crate::fleet::ContainerName,
        tail: Option<u32>,
    ) -> Result<String, OpsError> {
        self.check_ours(key).await?;
        self.platform
            .logs(key, container, tail)
            .await?
            .ok_or_else(|| OpsError::Conflict {
                code: "ContainerNotFound",
                message: format!(
                    "container group {key} has no container {:?} (or the group does not exist)",
                    container.as_str()
                ),
            })
    }
}
