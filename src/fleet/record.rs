//! The container-group record: one table row per group.

use super::machine::GroupState;
use super::names::{ActiveSessions, GroupKey};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The current time at the precision Table Storage keeps (100 ns), so a record
/// answered right after a write equals the record read back later.
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(7)
}

/// Longest `failure_reason` kept, in characters: a caller's SetState reason, or
/// ARM's message (which may quote the caller's input) in a rejected Create.
/// Well below Table Storage's 64 KiB per property.
pub const MAX_FAILURE_REASON: usize = 1024;

/// `reason` cut to its first [`MAX_FAILURE_REASON`] characters.
pub fn bounded_reason(reason: String) -> String {
    if reason.chars().count() <= MAX_FAILURE_REASON {
        return reason;
    }
    reason.chars().take(MAX_FAILURE_REASON).collect()
}

/// One container group as gamefleet tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub key: GroupKey,
    pub state: GroupState,
    pub active_sessions: ActiveSessions,
    pub public_ip: Option<String>,
    pub location: String,
    /// Why the group is Failed (ARM's error, or the caller's SetState).
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub state_changed_at: DateTime<Utc>,
    /// Slots, labels and the reservations held on it (Allocate).
    pub capacity: super::capacity::Capacity,
    /// Columns of the row that gamefleet does not own (the original project's
    /// `ContainerName`, `Image`, `CPU`, `RAM`, ...), kept verbatim by every write.
    pub other_columns: OtherColumns,
}

/// Row columns kept as they were read, with their `@odata.type` annotations.
pub type OtherColumns = std::collections::BTreeMap<String, serde_json::Value>;

impl GroupRecord {
    /// The row Create writes before it calls ARM.
    pub fn creating(key: GroupKey, location: String, now: DateTime<Utc>) -> Self {
        Self {
            key,
            state: GroupState::Creating,
            active_sessions: ActiveSessions::ZERO,
            public_ip: None,
            location,
            failure_reason: None,
            created_at: now,
            state_changed_at: now,
            capacity: Default::default(),
            other_columns: OtherColumns::new(),
        }
    }

    /// Same record in `state`, stamped `now`.
    pub fn moved_to(&self, state: GroupState, now: DateTime<Utc>) -> Self {
        Self {
            state,
            state_changed_at: now,
            ..self.clone()
        }
    }

    /// The JSON shape every function answers with (camelCase).
    pub fn view(&self) -> GroupView<'_> {
        GroupView {
            resource_group: self.key.resource_group.as_str(),
            container_group_name: self.key.name.as_str(),
            state: self.state,
            public_ip: self.public_ip.as_deref(),
            active_sessions: self.active_sessions.get(),
            location: &self.location,
            failure_reason: self.failure_reason.as_deref(),
            created_at: self.created_at,
            state_changed_at: self.state_changed_at,
            max_sessions: self.capacity.max_sessions,
            labels: &self.capacity.labels,
            reserved: self.capacity.reserved(now()),
            last_heartbeat_at: self.capacity.heartbeat_at,
        }
    }
}

/// Response rendering of a [`GroupRecord`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView<'a> {
    pub resource_group: &'a str,
    pub container_group_name: &'a str,
    pub state: GroupState,
    pub public_ip: Option<&'a str>,
    pub active_sessions: u32,
    pub location: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub state_changed_at: DateTime<Utc>,
    /// Slots of the server (`null` = unlimited).
    pub max_sessions: Option<u32>,
    pub labels: &'a super::capacity::Labels,
    /// Slots held by live reservations (they count as sessions).
    pub reserved: u32,
    /// The server's own last report (ReportSessions); `null` = never.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// An opaque version of a stored record (Table Storage ETag).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Etag(pub String);

impl Etag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A record with the version it was read at; every write back is conditional on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub etag: Etag,
    /// `Some(PartitionKey)` when the row is stored under a PartitionKey other
    /// than the canonical one (the original project wrote the resource group
    /// as the caller spelled it, e.g. `TeeWorlds-RG`). Such a row is moved to
    /// the canonical key before anything else touches it (`ops::migrate`).
    pub legacy_partition: Option<String>,
}

impl<T> Versioned<T> {
    /// A row stored under its canonical key.
    pub fn new(value: T, etag: Etag) -> Self {
        Self {
            value,
            etag,
            legacy_partition: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reasons_are_bounded() {
        assert_eq!(bounded_reason("ARM said no".into()), "ARM said no");
        let long = format!("The image '{}' is not accessible.", "é".repeat(70_000));
        let cut = bounded_reason(long.clone());
        assert_eq!(cut.chars().count(), MAX_FAILURE_REASON);
        assert!(long.starts_with(&cut));
    }
}
