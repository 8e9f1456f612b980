//! The table row of a [`GroupRecord`], in the original Node project's column
//! names so an existing `ACIDetails` table keeps working.
//!
//! | column           | type                       | notes                                              |
//! |------------------|----------------------------|----------------------------------------------------|
//! | PartitionKey     | string                     | `resource_group.key()` (lower-cased)               |
//! | RowKey           | string                     | container group name                               |
//! | State            | string                     | `GroupState::as_str`                               |
//! | ActiveSessions   | Edm.Int32 (plain integer)  | read: number or numeric string; missing = 0        |
//! | PublicIP         | string                     | omitted when none; empty = none                    |
//! | Location         | string                     | missing = ""                                       |
//! | ResourceGroup    | string                     | caller's spelling; missing = PartitionKey          |
//! | FailureReason    | string                     | optional                                           |
//! | CreatedAt        | Edm.DateTime               | missing = the row's Timestamp                      |
//! | StateChangedAt   | Edm.DateTime               | missing = the row's Timestamp                      |
//! | SessionsUpdatedAt| Edm.DateTime               | written by session batches only; not in the record |
//! | MaxSessions      | Edm.Int32                  | slots (Allocate); missing = unlimited              |
//! | Labels           | string (JSON object)       | the server's labels; missing = none                |
//! | Reservations     | string (JSON array)        | live reservations `[{requestId, players, expiresAt}]`; missing = none |
//! | Ports            | string (JSON array)        | the public ports Create asked for; missing = none  |
//! | HeartbeatAt      | Edm.DateTime               | the server's own last report (ReportSessions); missing = never |
//! | anything else    | as stored                  | kept verbatim (the original's `ContainerName`, `Image`, `CPU`, `RAM`, ...) |
//!
//! The key rule: PartitionKey = the resource group lower-cased (ARM's names
//! are case-insensitive). A row under any other spelling (the original wrote
//! the caller's) is read with [`Versioned::legacy_partition`] set, so the use
//! cases move it to the canonical key before they act on it.
//!
//! DateTimes are written with 7 fractional digits (100 ns, the service's
//! precision): sub-100 ns parts of a record's timestamps are truncated.

use crate::fleet::{
    ActiveSessions, ContainerGroupName, Etag, GroupKey, GroupRecord, GroupState, ResourceGroup,
    Versioned,
};
use chrono::{DateTime, Timelike, Utc};
use serde_json::{json, Map, Value};

pub(crate) type Entity = Map<String, Value>;

const EDM_DATETIME: &str = "Edm.DateTime";

/// `2026-11-22T04:02:02.5195018Z`: at most 7 fractional digits, as Azure wants.
pub(crate) fn edm_datetime(t: DateTime<Utc>) -> String {
    let ticks = t.nanosecond() % 1_000_000_000 / 100;
    format!("{}.{ticks:07}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// Columns (and their annotations) gamefleet owns; every other one is kept as read.
const OWN_COLUMNS: [&str; 17] = [
    "PartitionKey",
    "RowKey",
    "Timestamp",
    "State",
    "ActiveSessions",
    "PublicIP",
    "Location",
    "ResourceGroup",
    "FailureReason",
    "CreatedAt",
    "StateChangedAt",
    "SessionsUpdatedAt",
    "MaxSessions",
    "Labels",
    "Reservations",
    "Ports",
    "HeartbeatAt",
];

fn is_own_column(name: &str) -> bool {
    let base = name.strip_suffix("@odata.type").unwrap_or(name);
    base.starts_with("odata.") || OWN_COLUMNS.contains(&base)
}

/// The whole row for insert / replace (columns gamefleet does not own first,
/// as they were read, then gamefleet's).
pub(crate) fn to_entity(r: &GroupRecord) -> Entity {
    let mut e = Map::new();
    for (k, v) in &r.other_columns {
        if !is_own_column(k) {
            e.insert(k.clone(), v.clone());
        }
    }
    e.insert("PartitionKey".into(), json!(r.key.resource_group.key()));
    e.insert("RowKey".into(), json!(r.key.name.as_str()));
    e.insert("State".into(), json!(r.state.as_str()));
    e.insert("ActiveSessions".into(), json!(r.active_sessions.get()));
    if let Some(ip) = r.public_ip.as_deref().filter(|ip| !ip.is_empty()) {
        e.insert("PublicIP".into(), json!(ip));
    }
    e.insert("Location".into(), json!(r.location));
    e.insert("ResourceGroup".into(), json!(r.key.resource_group.as_str()));
    if let Some(reason) = &r.failure_reason {
        e.insert("FailureReason".into(), json!(reason));
    }
    e.insert("CreatedAt".into(), json!(edm_datetime(r.created_at)));
    e.insert("CreatedAt@odata.type".into(), json!(EDM_DATETIME));
    e.insert(
        "StateChangedAt".into(),
        json!(edm_datetime(r.state_changed_at)),
    );
    e.insert("StateChangedAt@odata.type".into(), json!(EDM_DATETIME));
    let c = &r.capacity;
    if let Some(m) = c.max_sessions {
        e.insert("MaxSessions".into(), json!(m));
    }
    if !c.labels.is_empty() {
        e.insert("Labels".into(), json!(json!(c.labels).to_string()));
    }
    if let Some(h) = c.heartbeat_at {
        e.insert("HeartbeatAt".into(), json!(edm_datetime(h)));
        e.insert("HeartbeatAt@odata.type".into(), json!(EDM_DATETIME));
    }
    if !c.ports.is_empty() {
        e.insert("Ports".into(), json!(json!(c.ports).to_string()));
    }
    if !c.reservations.is_empty() {
        e.insert(
            "Reservations".into(),
            json!(json!(c.reservations).to_string()),
        );
    }
    e
}

/// The capacity columns, leniently: a column gamefleet cannot read is as if
/// missing (an odd value must not make the server unreadable).
fn capacity_of(e: &Entity) -> crate::fleet::allocation::Capacity {
    let max_sessions = match e.get("MaxSessions") {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|m| *m > 0);
    fn json_column<T: serde::de::DeserializeOwned + Default>(e: &Entity, name: &str) -> T {
        str_field(e, name)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }
    crate::fleet::allocation::Capacity {
        max_sessions,
        labels: json_column(e, "Labels"),
        reservations: json_column(e, "Reservations"),
        ports: json_column(e, "Ports"),
        heartbeat_at: datetime_field(e, "HeartbeatAt"),
    }
}

/// The MERGE body of one session write.
pub(crate) fn sessions_patch(
    n: ActiveSessions,
    now: DateTime<Utc>,
    heartbeat: bool,
    reservations: Option<&[crate::fleet::allocation::Reservation]>,
) -> String {
    let mut patch = json!({
        "ActiveSessions": n.get(),
        "SessionsUpdatedAt": edm_datetime(now),
        "SessionsUpdatedAt@odata.type": EDM_DATETIME,
    });
    if heartbeat {
        patch["HeartbeatAt"] = json!(edm_datetime(now));
        patch["HeartbeatAt@odata.type"] = json!(EDM_DATETIME);
    }
    if let Some(r) = reservations {
        // A MERGE cannot remove a property: none left is "[]".
        patch["Reservations"] = json!(json!(r).to_string());
    }
    patch.to_string()
}

/// Why a stored row could not be read as a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct RowError(pub String);

fn str_field<'a>(e: &'a Entity, name: &str) -> Option<&'a str> {
    e.get(name).and_then(Value::as_str)
}

fn datetime_field(e: &Entity, name: &str) -> Option<DateTime<Utc>> {
    str_field(e, name)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn sessions_field(e: &Entity) -> Result<ActiveSessions, RowError> {
    let bad = |v: &Value| RowError(format!("ActiveSessions {v} is not a session count"));
    match e.get("ActiveSessions") {
        None | Some(Value::Null) => Ok(ActiveSessions::ZERO),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u32>()
            .ok()
            .and_then(|n| ActiveSessions::new(n).ok())
            .ok_or_else(|| bad(&Value::String(s.clone()))),
        Some(v @ Value::Number(n)) => {
            let whole = n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            });
            whole
                .and_then(|u| u32::try_from(u).ok())
                .and_then(|n| ActiveSessions::new(n).ok())
                .ok_or_else(|| bad(v))
        }
        Some(v) => Err(bad(v)),
    }
}

/// A stored row (full or minimal metadata) as a record, leniently: old rows
/// may lack most columns. `etag` overrides the row's `odata.etag`.
pub(crate) fn from_entity(
    e: &Entity,
    etag: Option<String>,
) -> Result<Versioned<GroupRecord>, RowError> {
    let pk = str_field(e, "PartitionKey").ok_or_else(|| RowError("no PartitionKey".into()))?;
    let rk = str_field(e, "RowKey").ok_or_else(|| RowError("no RowKey".into()))?;
    let name = ContainerGroupName::parse(rk)
        .map_err(|err| RowError(format!("RowKey is not a container group name: {err}")))?;
    // The display spelling if it folds to the key; the key itself otherwise.
    let resource_group = str_field(e, "ResourceGroup")
        .and_then(|rg| ResourceGroup::parse(rg).ok())
        .filter(|rg| rg.key() == pk)
        .map_or_else(|| ResourceGroup::parse(pk), Ok)
        .map_err(|err| RowError(format!("PartitionKey is not a resource group: {err}")))?;
    let state_raw = str_field(e, "State").ok_or_else(|| RowError("no State".into()))?;
    let state: GroupState = state_raw.parse().map_err(RowError)?;
    let etag = etag
        .or_else(|| str_field(e, "odata.etag").map(str::to_owned))
        .ok_or_else(|| RowError("no ETag".into()))?;
    let timestamp = datetime_field(e, "Timestamp").unwrap_or(DateTime::UNIX_EPOCH);
    let non_empty = |name: &str| {
        str_field(e, name)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let legacy_partition = (resource_group.key() != pk).then(|| pk.to_owned());
    let other_columns = e
        .iter()
        .filter(|(k, _)| !is_own_column(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Versioned {
        legacy_partition,
        value: GroupRecord {
            key: GroupKey::new(resource_group, name),
            state,
            active_sessions: sessions_field(e)?,
            public_ip: non_empty("PublicIP"),
            location: str_field(e, "Location").unwrap_or_default().to_owned(),
            failure_reason: non_empty("FailureReason"),
            created_at: datetime_field(e, "CreatedAt").unwrap_or(timestamp),
            state_changed_at: datetime_field(e, "StateChangedAt").unwrap_or(timestamp),
            capacity: capacity_of(e),
            other_columns,
        },
        etag: Etag(etag),
    })
}

/// `'` doubled, for OData string literals and `(PartitionKey='..',RowKey='..')`.
pub(crate) fn quote(s: &str) -> String {
    s.replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record() -> GroupRecord {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        GroupRecord {
            key: GroupKey::new(
                ResourceGroup::parse("My-RG").unwrap(),
                ContainerGroupName::parse("cg-1").unwrap(),
            ),
            state: GroupState::Running,
            active_sessions: ActiveSessions::new(7).unwrap(),
            public_ip: Some("20.1.2.3".into()),
            location: "westeurope".into(),
            failure_reason: None,
            created_at: t,
            state_changed_at: t,
            capacity: Default::default(),
            other_columns: Default::default(),
        }
    }

    #[test]
    fn datetimes_have_seven_fraction_digits() {
        let r = record();
        assert_eq!(edm_datetime(r.created_at), "2026-01-02T03:04:05.1234567Z");
        assert_eq!(
            edm_datetime(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()),
            "2026-01-02T03:04:05.0000000Z"
        );
    }

    #[test]
    fn entity_has_the_original_columns_and_annotations() {
        let e = to_entity(&record());
        assert_eq!(e["PartitionKey"], "my-rg");
        assert_eq!(e["RowKey"], "cg-1");
        assert_eq!(e["State"], "Running");
        assert_eq!(e["ActiveSessions"], 7);
        assert_eq!(e["PublicIP"], "20.1.2.3");
        assert_eq!(e["Location"], "westeurope");
        assert_eq!(e["ResourceGroup"], "My-RG");
        assert_eq!(e["CreatedAt@odata.type"], "Edm.DateTime");
        assert_eq!(e["StateChangedAt@odata.type"], "Edm.DateTime");
        assert!(!e.contains_key("FailureReason"));
    }

    #[test]
    fn round_trips_at_100ns_precision() {
        let r = record();
        let mut e = to_entity(&r);
        e.insert("odata.etag".into(), json!("W/\"x\""));
        let back = from_entity(&e, None).unwrap();
        let mut expected = r.clone();
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::nanoseconds(123_456_700);
        expected.created_at = t;
        expected.state_changed_at = t;
        assert_eq!(back.value, expected);
        assert_eq!(back.etag, Etag("W/\"x\"".into()));
    }

    #[test]
    fn old_rows_are_read_leniently() {
        let e: Entity = serde_json::from_value(json!({
            "odata.etag": "W/\"e\"",
            "PartitionKey": "games-rg",
            "RowKey": "srv-7",
            "Timestamp": "2025-05-06T07:08:09.1234567Z",
            "State": "Running",
            "PublicIP": "",
            "ActiveSessions": "4",
            "Location": "eastus"
        }))
        .unwrap();
        let r = from_entity(&e, None).unwrap().value;
        assert_eq!(r.key.resource_group.as_str(), "games-rg");
        assert_eq!(r.active_sessions.get(), 4);
        assert_eq!(r.public_ip, None);
        assert_eq!(
            r.created_at.to_rfc3339(),
            "2025-05-06T07:08:09.123456700+00:00"
        );
        assert_eq!(r.state_changed_at, r.created_at);
    }

    #[test]
    fn resource_group_spelling_must_fold_to_the_key() {
        let mut e = to_entity(&record());
        e.insert("ResourceGroup".into(), json!("Other-RG"));
        let r = from_entity(&e, Some("W/\"1\"".into())).unwrap().value;
        assert_eq!(r.key.resource_group.as_str(), "my-rg");
    }

    #[test]
    fn bad_rows_say_why() {
        let mut e = to_entity(&record());
        e.insert("State".into(), json!("Exploded"));
        assert!(from_entity(&e, Some("x".into()))
            .unwrap_err()
            .0
            .contains("Exploded"));
        let mut e = to_entity(&record());
        e.insert("ActiveSessions".into(), json!(-1));
        assert!(from_entity(&e, Some("x".into())).is_err());
        let mut e = to_entity(&record());
        e.insert("ActiveSessions".into(), json!(3.0));
        assert_eq!(
            from_entity(&e, Some("x".into()))
                .unwrap()
                .value
                .active_sessions
                .get(),
            3
        );
        let e = to_entity(&record());
        assert!(from_entity(&e, None).unwrap_err().0.contains("ETag"));
    }

    #[test]
    fn the_originals_rows_keep_their_columns_and_say_where_they_live() {
        let e: Entity = serde_json::from_value(json!({
            "odata.etag": "W/\"e\"",
            "PartitionKey": "TeeWorlds-RG",
            "RowKey": "tw-1",
            "Timestamp": "2025-05-06T07:08:09.1234567Z",
            "State": "Running",
            "ActiveSessions": 2.0,
            "ActiveSessions@odata.type": "Edm.Double",
            "ContainerName": "teeworlds",
            "Image": "dgkanatsios/docker-teeworlds",
            "CPU": 1,
            "RAM": 1.5,
            "Started@odata.type": "Edm.DateTime",
            "Started": "2025-05-06T07:08:09Z"
        }))
        .unwrap();
        let v = from_entity(&e, None).unwrap();
        assert_eq!(v.legacy_partition.as_deref(), Some("TeeWorlds-RG"));
        assert_eq!(v.value.key.resource_group.key(), "teeworlds-rg");
        let back = to_entity(&v.value);
        assert_eq!(
            back["PartitionKey"], "teeworlds-rg",
            "written under the canonical key"
        );
        assert_eq!(back["ResourceGroup"], "TeeWorlds-RG");
        for col in [
            "ContainerName",
            "Image",
            "CPU",
            "RAM",
            "Started",
            "Started@odata.type",
        ] {
            assert_eq!(back.get(col), e.get(col), "{col}");
        }
        assert_eq!(back["ActiveSessions"], 2);
        assert!(
            !back.contains_key("ActiveSessions@odata.type"),
            "gamefleet's own columns are its own"
        );
        assert!(!back.contains_key("odata.etag") && !back.contains_key("Timestamp"));
        // A row gamefleet wrote is canonical.
        let mut own = to_entity(&record());
        own.insert("odata.etag".into(), json!("W/\"x\""));
        assert_eq!(from_entity(&own, None).unwrap().legacy_partition, None);
    }

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(quote("o'brien''s"), "o''brien''''s");
    }
}
