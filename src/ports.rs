//! The small traits the core needs from the outside world. Their errors are
//! outcomes the core branches on, not transport details.

use crate::fleet::{
    ActiveSessions, ContainerGroupName, ContainerName, Etag, GroupKey, GroupRecord, GroupState,
    ResourceGroup, Versioned,
};
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::time::Duration;

// ---------------------------------------------------------------------------
// FleetStore: the records, with ETags.
// ---------------------------------------------------------------------------

/// Failure of a store call, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist.
    #[error("record not found")]
    NotFound,
    /// Insert of a record that already exists.
    #[error("record already exists")]
    AlreadyExists,
    /// The record changed since it was read (ETag mismatch).
    #[error("record changed since it was read")]
    PreconditionFailed,
    /// The store refused the request as malformed: a bug on our side, not the caller's.
    #[error("store rejected the request: {code}: {message}")]
    Rejected { code: String, message: String },
    /// The table itself does not exist (never created, deleted, storage lost it).
    #[error("the table does not exist")]
    TableMissing,
    /// The store could not be reached or answered 5xx/429: retry later.
    #[error("store unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
}

/// Which records to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListQuery {
    /// Records in `state` (all states when `None`), optionally one resource group.
    ByState {
        state: Option<GroupState>,
        resource_group: Option<ResourceGroup>,
    },
    /// What GC may act on: MarkedForDeletion or Failed with 0 sessions, and Deleting.
    GcCandidates,
    /// Running servers with 0 sessions whose own last report is older than
    /// `before` (the health check's candidates; a server that never reported
    /// is not among them). The store filters, so the health check reads the
    /// silent few, not every Running row.
    SilentSince {
        before: chrono::DateTime<chrono::Utc>,
    },
}

/// One session-count write inside an entity-group transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionWrite {
    pub name: ContainerGroupName,
    pub active_sessions: ActiveSessions,
    /// Written only if the row still has this ETag.
    pub etag: Etag,
    /// The server reported it itself (ReportSessions): also its heartbeat.
    pub heartbeat: bool,
    /// The reservations the row keeps after this write, when it changes them
    /// (a report confirming players who joined); `None` = left as they are.
    pub reservations: Option<Vec<crate::fleet::allocation::Reservation>>,
}

/// Result of one entity-group transaction (all or nothing).
#[derive(Debug)]
pub enum BatchOutcome {
    /// Every write applied; the new ETags, in request order.
    Applied(Vec<Etag>),
    /// Nothing applied: the write at `index` failed with `error`
    /// (`PreconditionFailed`, `NotFound`...).
    Failed { index: usize, error: StoreError },
}

/// Maximum operations in one entity-group transaction (Table Storage limit).
pub const MAX_BATCH: usize = 100;

/// One page of a listing (Table Storage answers at most 1,000 rows a page).
pub type Page = Result<Vec<Versioned<GroupRecord>>, StoreError>;

#[async_trait]
pub trait FleetStore: Send + Sync + 'static {
    /// Create the table if needed. Called once at start.
    async fn ensure_ready(&self) -> Result<(), StoreError>;

    /// Insert a new record; `AlreadyExists` if the key is taken.
    async fn insert(&self, record: &GroupRecord) -> Result<Etag, StoreError>;

    async fn get(&self, key: &GroupKey) -> Result<Option<Versioned<GroupRecord>>, StoreError>;

    /// The records of these names in one resource group (missing ones are left out),
    /// in as few round trips as the store allows.
    async fn get_many(
        &self,
        resource_group: &ResourceGroup,
        names: &[ContainerGroupName],
    ) -> Result<Vec<Versioned<GroupRecord>>, StoreError>;

    /// The row stored under exactly this PartitionKey (a spelling the original
    /// project used), whatever its canonical key.
    async fn get_at(
        &self,
        partition: &str,
        name: &ContainerGroupName,
    ) -> Result<Option<Versioned<GroupRecord>>, StoreError>;

    /// As [`FleetStore::get_many`], under exactly this PartitionKey.
    async fn get_many_at(
        &self,
        partition: &str,
        names: &[ContainerGroupName],
    ) -> Result<Vec<Versioned<GroupRecord>>, StoreError>;

    /// Delete the row under exactly this PartitionKey if it still has `etag`.
    async fn delete_at(
        &self,
        partition: &str,
        name: &ContainerGroupName,
        etag: &Etag,
    ) -> Result<(), StoreError>;

    /// Replace the record if it still has `etag`.
    async fn replace(&self, record: &GroupRecord, etag: &Etag) -> Result<Etag, StoreError>;

    /// Delete the record if it still has `etag` (any version when `None`).
    /// `NotFound` when it is already gone.
    async fn delete(&self, key: &GroupKey, etag: Option<&Etag>) -> Result<(), StoreError>;

    /// The matching records page by page, in key order (PartitionKey, then
    /// RowKey: Table Storage's order, which is [`GroupKey`]'s for canonical
    /// rows). Nothing is read before the stream is polled; an error ends it.
    /// Readers that only need one page at a time (List, GC) hold one page.
    fn list_pages<'a>(&'a self, query: &'a ListQuery) -> BoxStream<'a, Page>;

    /// Every matching record, across all pages (all of them in memory: use
    /// [`FleetStore::list_pages`] where the table may be large).
    async fn list(&self, query: &ListQuery) -> Result<Vec<Versioned<GroupRecord>>, StoreError> {
        let mut pages = self.list_pages(query);
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            all.extend(page?);
        }
        Ok(all)
    }

    /// Write session counts of up to [`MAX_BATCH`] groups of one resource group
    /// in one entity-group transaction, each conditional on its ETag.
    async fn write_sessions(
        &self,
        resource_group: &ResourceGroup,
        writes: &[SessionWrite],
    ) -> Result<BatchOutcome, StoreError>;
}

// ---------------------------------------------------------------------------
// SecretStore: secrets gamefleet generated for itself.
// ---------------------------------------------------------------------------

/// Secrets gamefleet made itself and keeps where only it can read them.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// The secret stored under `name`, if any.
    async fn get(&self, name: &str) -> Result<Option<crate::secret::Secret>, StoreError>;

    /// Store `value` under `name` unless a secret is stored there already;
    /// returns the one that is stored (ours, or the one another instance stored first).
    async fn insert_or_get(
        &self,
        name: &str,
        value: &crate::secret::Secret,
    ) -> Result<crate::secret::Secret, StoreError>;
}

// ---------------------------------------------------------------------------
// ScheduleStore: power schedules, their claims, the last action per resource.
// ---------------------------------------------------------------------------

/// A schedule as stored: what the user wrote, and what its runs left.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSchedule {
    pub schedule: crate::schedule::Schedule,
    pub run: crate::schedule::RunState,
}

/// The last action a schedule applied to one resource (for `retainRunning`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMark {
    /// The command the schedule sent, or found done (`start` or `stop`).
    pub action: crate::lifecycle::Action,
    pub schedule: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Schedules by name, each read with its ETag so a fire is claimed by one
/// conditional write; created on first use.
#[async_trait]
pub trait ScheduleStore: Send + Sync + 'static {
    /// Every schedule (rows that are not schedules are skipped with a warning).
    async fn list(&self) -> Result<Vec<Versioned<StoredSchedule>>, StoreError>;

    async fn get(
        &self,
        name: &crate::schedule::ScheduleName,
    ) -> Result<Option<Versioned<StoredSchedule>>, StoreError>;

    /// Create, or replace whatever is stored under the name.
    async fn put(&self, schedule: &StoredSchedule) -> Result<Etag, StoreError>;

    /// Replace the schedule if it still has `etag` (`PreconditionFailed` otherwise).
    async fn replace(&self, schedule: &StoredSchedule, etag: &Etag) -> Result<Etag, StoreError>;

    /// Delete the schedule; `false` when there was none.
    async fn delete(&self, name: &crate::schedule::ScheduleName) -> Result<bool, StoreError>;

    /// The last action any schedule applied to `resource` of `provider`.
    async fn last_action(
        &self,
        provider: &str,
        resource: &str,
    ) -> Result<Option<ResourceMark>, StoreError>;

    /// Remember the last action a schedule applied to `resource`.
    async fn record_action(
        &self,
        provider: &str,
        resource: &str,
        mark: &ResourceMark,
    ) -> Result<(), StoreError>;
}

/// A fleet definition and what the autoscaler remembers of it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFleet {
    pub fleet: crate::fleet::autoscale::Fleet,
    pub status: crate::fleet::autoscale::FleetStatus,
}

/// Fleets by name, each read with its ETag so one instance scales a fleet at
/// a time (the claim is a conditional write); created on first use.
#[async_trait]
pub trait FleetDefStore: Send + Sync + 'static {
    /// Every fleet by name (rows that are not fleets are skipped with a warning).
    async fn list(&self) -> Result<Vec<Versioned<StoredFleet>>, StoreError>;

    async fn get(
        &self,
        name: &crate::fleet::autoscale::FleetName,
    ) -> Result<Option<Versioned<StoredFleet>>, StoreError>;

    /// Store a new fleet (`AlreadyExists` when the name is taken).
    async fn insert(&self, fleet: &StoredFleet) -> Result<Etag, StoreError>;

    /// Replace the fleet if it still has `etag` (`PreconditionFailed` otherwise).
    async fn replace(&self, fleet: &StoredFleet, etag: &Etag) -> Result<Etag, StoreError>;

    /// Delete the fleet; `false` when there was none.
    async fn delete(&self, name: &crate::fleet::autoscale::FleetName) -> Result<bool, StoreError>;
}

/// One Allocate `requestId` across every instance: the server it reserved
/// on, its players and the reservation's expiry. Written with a conditional
/// insert after the reservation, so the same requestId at two instances ends
/// with one reservation (the loser of the insert takes its own back).
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationEntry {
    pub request_id: String,
    pub server: GroupKey,
    pub players: u32,
    pub until: chrono::DateTime<chrono::Utc>,
}

#[async_trait]
pub trait AllocationLedger: Send + Sync + 'static {
    async fn get(&self, request_id: &str)
        -> Result<Option<Versioned<AllocationEntry>>, StoreError>;
    /// `AlreadyExists` when the requestId has an entry already.
    async fn insert(&self, claim: &AllocationEntry) -> Result<Etag, StoreError>;
    /// `PreconditionFailed` when the entry changed since `etag`.
    async fn replace(&self, claim: &AllocationEntry, etag: &Etag) -> Result<Etag, StoreError>;
    /// Delete the entries whose `until` is before `before`; how many.
    async fn sweep(&self, before: chrono::DateTime<chrono::Utc>) -> Result<usize, StoreError>;
}

/// One thing GC or the autoscaler did, as the dashboard lists it
/// ([`crate::ops::activity`]): when, who, a line for people, and the run's
/// report as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    /// `gc` or `autoscale`.
    pub source: String,
    pub summary: String,
    pub report: serde_json::Value,
}

/// The recent GC and autoscaler actions, shared by every instance, newest
/// first, kept to the last few ([`crate::store::activity`]).
#[async_trait]
pub trait ActivityLog: Send + Sync + 'static {
    /// Add an entry (and drop the oldest beyond what is kept).
    async fn record(&self, entry: &ActivityEntry) -> Result<(), StoreError>;
    /// The newest `limit` entries, newest first.
    async fn recent(&self, limit: usize) -> Result<Vec<ActivityEntry>, StoreError>;
}

// ---------------------------------------------------------------------------
// ContainerPlatform: container groups in ARM.
// ---------------------------------------------------------------------------

/// Failure of a platform call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlatformError {
    /// ARM refused the request because of what was asked (4xx other than auth/throttling):
    /// the caller can fix it. `status` is ARM's.
    #[error("ARM rejected the request ({status}): {code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// ARM refused our identity (401/403): a deployment problem, not the caller's.
    #[error("ARM refused gamefleet's identity ({status}): {code}: {message}")]
    Unauthorized {
        status: u16,
        code: String,
        message: String,
    },
    /// 429 after our retries: come back later.
    #[error("ARM is throttling requests")]
    Throttled { retry_after: Option<Duration> },
    /// ARM 5xx, timeouts, connection failures, token endpoint down: after our retries.
    #[error("ARM unavailable: {message}")]
    Unavailable { message: String },
}

/// ARM's view of a container group (the parts gamefleet acts on) plus the raw body.
#[derive(Debug, Clone)]
pub struct GroupStatus {
    /// `properties.provisioningState` (Accepted, Pending, Creating, Succeeded, Failed, Canceled, Deleting...).
    pub provisioning_state: String,
    /// `properties.instanceView.state` (Running, Stopped, Pending...), only on GET.
    pub instance_state: Option<String>,
    /// `properties.ipAddress.ip`.
    pub public_ip: Option<String>,
    /// Tags on the group.
    pub tags: serde_json::Map<String, serde_json::Value>,
    /// `location`, ARM's region name.
    pub location: Option<String>,
    /// The whole ARM body, as Details returns it; `Null` in a list's items
    /// (reconcile holds every group of the subscription at once, and needs
    /// only the fields above: a body is kilobytes, the fields a few dozen bytes).
    pub raw: serde_json::Value,
}

impl GroupStatus {
    /// Whether gamefleet made this group (its `managed-by: gamefleet` tag).
    /// Groups the original project made carry no tag: they are gamefleet's only
    /// through their row.
    pub fn is_tagged_by_gamefleet(&self) -> bool {
        let (k, v) = crate::fleet::spec::MANAGED_TAG;
        self.tags.get(k).and_then(|t| t.as_str()) == Some(v)
    }

    /// What the state machine makes of ARM's provisioning state.
    pub fn provisioning(&self) -> Provisioning {
        match self.provisioning_state.to_ascii_lowercase().as_str() {
            "succeeded" => Provisioning::Succeeded,
            "failed" | "canceled" | "cancelled" | "unhealthy" => Provisioning::Failed,
            "deleting" => Provisioning::Deleting,
            _ => Provisioning::InProgress,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioning {
    InProgress,
    Succeeded,
    Failed,
    Deleting,
}

/// How a delete ended within the time we were willing to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// ARM no longer has the group (deleted now, or already gone).
    Gone,
    /// ARM accepted the delete but it had not finished when we stopped waiting.
    Pending,
}

#[async_trait]
pub trait ContainerPlatform: Send + Sync + 'static {
    /// The group, or `None` if ARM does not have it.
    async fn get(&self, key: &GroupKey) -> Result<Option<GroupStatus>, PlatformError>;

    /// PUT the container group (ARM REST shape). Returns ARM's answer.
    async fn create(
        &self,
        key: &GroupKey,
        body: &serde_json::Value,
    ) -> Result<GroupStatus, PlatformError>;

    /// DELETE the group and wait for the long-running operation at most `wait`.
    async fn delete(&self, key: &GroupKey, wait: Duration) -> Result<DeleteOutcome, PlatformError>;

    /// Every container group in the subscription (all pages; no instance view).
    async fn list(&self) -> Result<Vec<(GroupKey, GroupStatus)>, PlatformError>;

    /// A container's logs; `None` if the group or container does not exist.
    async fn logs(
        &self,
        key: &GroupKey,
        container: &ContainerName,
        tail: Option<u32>,
    ) -> Result<Option<String>, PlatformError>;
}
