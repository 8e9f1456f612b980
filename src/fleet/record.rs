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
    #[serde(serialize_with = "rfc3339::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::utc")]
    pub state_changed_at: DateTime<Utc>,
    /// Slots of the server (`null` = unlimited).
    pub max_sessions: Option<u32>,
    pub labels: &'a super::capacity::Labels,
    /// Slots held by live reservations (they count as sessions).
    pub reserved: u32,
    /// The server's own last report (ReportSessions); `null` = never.
    #[serde(serialize_with = "rfc3339::utc_or_null")]
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// A group as List (and the dashboard) lists it: [`GroupView`] and its health.
#[derive(Debug, Serialize)]
pub struct ListedView<'a> {
    #[serde(flatten)]
    pub group: GroupView<'a>,
    pub health: super::capacity::Health,
}

impl GroupRecord {
    /// The record as List shows it at `now` (health judged with `HEALTH_TIMEOUT`).
    pub fn listed(
        &self,
        now: DateTime<Utc>,
        health_timeout: Option<std::time::Duration>,
    ) -> ListedView<'_> {
        ListedView {
            group: self.view(),
            health: self.capacity.health(now, health_timeout),
        }
    }
}

/// A `DateTime<Utc>` exactly as chrono's serde writes it (RFC 3339 with `Z`,
/// the fraction in 0, 3, 6 or 9 digits), without `core::fmt`: List writes
/// two or three per group, and chrono's path through `collect_str` was the
/// largest part of rendering a row (callgrind, bench/README.md §3b).
mod rfc3339 {
    use chrono::{DateTime, Datelike, Timelike, Utc};
    use serde::{Serialize, Serializer};

    pub fn utc<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 30];
        match write(t, &mut buf).and_then(|n| std::str::from_utf8(&buf[..n]).ok()) {
            Some(text) => s.serialize_str(text),
            // Years outside 0000–9999: chrono's own form.
            None => t.serialize(s),
        }
    }

    pub fn utc_or_null<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => utc(t, s),
            None => s.serialize_none(),
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z` into `buf`; its length.
    pub(super) fn write(t: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let mut nano = t.nanosecond();
        let mut sec = t.second();
        if nano >= 1_000_000_000 {
            // A leap second: chrono writes it as second 60.
            sec += 1;
            nano -= 1_000_000_000;
        }
        let mut n = put(buf, 0, year, 4);
        for (sep, value) in [
            (b'-', t.month()),
            (b'-', t.day()),
            (b'T', t.hour()),
            (b':', t.minute()),
            (b':', sec),
        ] {
            buf[n] = sep;
            n = put(buf, n + 1, value, 2);
        }
        let fraction = match nano {
            0 => None,
            _ if nano.is_multiple_of(1_000_000) => Some((nano / 1_000_000, 3)),
            _ if nano.is_multiple_of(1_000) => Some((nano / 1_000, 6)),
            _ => Some((nano, 9)),
        };
        if let Some((value, width)) = fraction {
            buf[n] = b'.';
            n = put(buf, n + 1, value, width);
        }
        buf[n] = b'Z';
        Some(n + 1)
    }

    /// `value` in `width` decimal digits at `at`; the position after them.
    fn put(buf: &mut [u8; 30], at: usize, mut value: u32, width: usize) -> usize {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        at + width
    }
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
    fn timestamps_render_exactly_as_chrono_writes_them() {
        use chrono::TimeZone;
        #[derive(Serialize)]
        struct Ours(#[serde(serialize_with = "super::rfc3339::utc")] DateTime<Utc>);
        let base = Utc.with_ymd_and_hms(2026, 12, 2, 14, 5, 9).unwrap();
        let mut cases = vec![
            base,
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 15, 7, 8, 9).unwrap(),
            Utc::now(),
        ];
        for nanos in [1, 999, 1_000, 120_000, 5_000_000, 123_456_789, 999_999_999] {
            cases.push(base + chrono::Duration::nanoseconds(nanos));
        }
        // A leap second (nanosecond ≥ 10⁹).
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_250_000_000))
            .unwrap()
            .and_utc();
        cases.push(leap);
        for t in cases {
            assert_eq!(
                serde_json::to_string(&Ours(t)).unwrap(),
                serde_json::to_string(&t).unwrap()
            );
        }
    }

    #[test]
    fn failure_reasons_are_bounded() {
        assert_eq!(bounded_reason("ARM said no".into()), "ARM said no");
        let long = format!("The image '{}' is not accessible.", "é".repeat(70_000));
        let cut = bounded_reason(long.clone());
        assert_eq!(cut.chars().count(), MAX_FAILURE_REASON);
        assert!(long.starts_with(&cut));
    }
}
