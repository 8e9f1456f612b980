//! Allocation, pure: the Allocate request and which server a request may
//! take (the server's capacity is [`super::capacity`]) — Packed (fullest first, so GC can drain the rest) or Distributed
//! (emptiest first), preferred regions first.
//!
//! A reservation holds `players` slots until it expires (`ALLOCATION_TTL`);
//! it counts as sessions everywhere (List shows it as `reserved`, GC never
//! collects a server holding one). The same `requestId` again finds its live
//! reservation and reserves nothing more.

use super::machine::GroupState;
use super::names::{json_kind, Location, ResourceGroup};
use super::record::GroupRecord;
use chrono::{DateTime, Utc};

use serde_json::Value;

pub use super::capacity::{
    Capacity, Health, Labels, Reservation, MAX_LABELS, MAX_LABEL_LEN, MAX_PLAYERS, MAX_RESERVATIONS,
};

/// Packed fills the fullest server first; Distributed the emptiest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    #[default]
    Packed,
    Distributed,
}

/// A validated `POST /api/Allocate` body.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocateRequest {
    /// The caller's id of this allocation (PlayFab's SessionId): 1–128 of
    /// letters, digits, `-`, `_`, `.`, `:`.
    pub request_id: String,
    pub players: u32,
    /// Preferred regions, best first; empty = any.
    pub regions: Vec<Location>,
    /// The server must carry each of these labels with this value.
    pub labels: Labels,
    pub strategy: Strategy,
    pub resource_group: Option<ResourceGroup>,
}

/// Why an Allocate body was refused; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AllocateError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> AllocateError {
    AllocateError {
        field,
        message: message.into(),
    }
}

/// Labels from JSON (`{"mode": "ctf"}`): strings only, bounded.
pub fn parse_labels(field: &'static str, v: &Value) -> Result<Labels, AllocateError> {
    let Value::Object(o) = v else {
        return Err(bad(
            field,
            format!("must be an object of strings, not {}", json_kind(v)),
        ));
    };
    if o.len() > MAX_LABELS {
        return Err(bad(field, format!("at most {MAX_LABELS} labels")));
    }
    let mut labels = Labels::new();
    for (k, v) in o {
        let Value::String(s) = v else {
            return Err(bad(
                field,
                format!("{k:?} must be a string, not {}", json_kind(v)),
            ));
        };
        if k.is_empty() || k.chars().count() > MAX_LABEL_LEN || s.chars().count() > MAX_LABEL_LEN {
            return Err(bad(
                field,
                format!("keys and values are 1 to {MAX_LABEL_LEN} characters ({k:?})"),
            ));
        }
        labels.insert(k.clone(), s.clone());
    }
    Ok(labels)
}

/// `maxSessions` from JSON: a whole number from 1 to [`MAX_PLAYERS`], or null.
pub fn parse_max_sessions(v: Option<&Value>) -> Result<Option<u32>, AllocateError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| (1..=u64::from(MAX_PLAYERS)).contains(n))
            .map(|n| Some(n as u32))
            .ok_or_else(|| {
                bad(
                    "maxSessions",
                    format!("must be a whole number from 1 to {MAX_PLAYERS}"),
                )
            }),
        Some(other) => Err(bad(
            "maxSessions",
            format!("must be a number, not {}", json_kind(other)),
        )),
    }
}

impl AllocateRequest {
    pub fn parse(v: &Value) -> Result<Self, AllocateError> {
        let Value::Object(o) = v else {
            return Err(bad(
                "body",
                format!(
                    "expected an object like {{\"requestId\", \"players\"}}, not {}",
                    json_kind(v)
                ),
            ));
        };
        const KEYS: [&str; 6] = [
            "requestId",
            "players",
            "regions",
            "labels",
            "strategy",
            "resourceGroup",
        ];
        if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(bad(
                "body",
                format!("unknown key {k:?}; the keys are {}", KEYS.join(", ")),
            ));
        }
        let request_id = match o.get("requestId") {
            Some(Value::String(s))
                if (1..=128).contains(&s.len())
                    && s
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) =>
            {
                s.clone()
            }
            Some(Value::String(_)) => {
                return Err(bad(
                    "requestId",
                    "must be 1 to 128 of letters, digits, '-', '_', '.', ':' (a UUID fits)",
                ))
            }
            None | Some(Value::Null) => {
                return Err(bad(
                    "requestId",
                    "is missing: the caller's id of this allocation (the same id again returns the same server)",
                ))
            }
            Some(other) => {
                return Err(bad(
                    "requestId",
                    format!("must be a string, not {}", json_kind(other)),
                ))
            }
        };
        let players = match o.get("players") {
            None | Some(Value::Null) => 1,
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|n| (1..=u64::from(MAX_PLAYERS)).contains(n))
                .map(|n| n as u32)
                .ok_or_else(|| {
                    bad(
                        "players",
                        format!("must be a whole number from 1 to {MAX_PLAYERS}"),
                    )
                })?,
            Some(other) => {
                return Err(bad(
                    "players",
                    format!("must be a number, not {}", json_kind(other)),
                ))
            }
        };
        let regions = match o.get("regions") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.len() <= 32 => items
                .iter()
                .enumerate()
                .map(|(i, r)| match r {
                    Value::String(s) => {
                        Location::parse(s).map_err(|e| bad("regions", format!("regions[{i}]: {e}")))
                    }
                    other => Err(bad(
                        "regions",
                        format!("regions[{i}] must be a string, not {}", json_kind(other)),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(bad(
                    "regions",
                    "must be a list of up to 32 Azure regions, best first",
                ))
            }
        };
        let labels = match o.get("labels") {
            None | Some(Value::Null) => Labels::new(),
            Some(v) => parse_labels("labels", v)?,
        };
        let strategy = match o.get("strategy") {
            None | Some(Value::Null) => Strategy::Packed,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("packed") => Strategy::Packed,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("distributed") => {
                Strategy::Distributed
            }
            Some(_) => return Err(bad("strategy", "must be \"Packed\" or \"Distributed\"")),
        };
        let resource_group = match o.get("resourceGroup") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                Some(ResourceGroup::parse(s).map_err(|e| bad("resourceGroup", e.to_string()))?)
            }
            Some(other) => {
                return Err(bad(
                    "resourceGroup",
                    format!("must be a string, not {}", json_kind(other)),
                ))
            }
        };
        Ok(AllocateRequest {
            request_id,
            players,
            regions,
            labels,
            strategy,
            resource_group,
        })
    }
}

/// Whether `r` can take `req` at `now`: Running, in the resource group and one
/// of the regions asked for, carrying the labels, with the slots free.
pub fn fits(r: &GroupRecord, req: &AllocateRequest, now: DateTime<Utc>) -> bool {
    r.state == GroupState::Running
        && req
            .resource_group
            .as_ref()
            .is_none_or(|rg| rg.key() == r.key.resource_group.key())
        && (req.regions.is_empty() || req.regions.iter().any(|l| l.as_str() == r.location))
        && req
            .labels
            .iter()
            .all(|(k, v)| r.capacity.labels.get(k) == Some(v))
        && r.capacity.reservations.len() < MAX_RESERVATIONS
        && r.capacity
            .free(r.active_sessions.get(), now)
            .is_none_or(|f| f >= req.players)
}

/// The order candidates are tried in: preferred region first, then the
/// strategy (Packed: fewest free slots; Distributed: most; an unlimited
/// server counts as the emptiest). Lower is better.
pub fn rank(r: &GroupRecord, req: &AllocateRequest, now: DateTime<Utc>) -> (usize, i64) {
    let region = req
        .regions
        .iter()
        .position(|l| l.as_str() == r.location)
        .unwrap_or(0);
    let free = r
        .capacity
        .free(r.active_sessions.get(), now)
        .map_or(i64::MAX, i64::from);
    let order = match req.strategy {
        Strategy::Packed => free,
        Strategy::Distributed => -free,
    };
    (region, order)
}

/// How many of the best candidates an allocator picks among at random: many
/// allocators then spread over a few rows instead of all writing the best one.
pub const PICK_AMONG: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{ActiveSessions, ContainerGroupName, GroupKey};
    use serde_json::json;

    fn server(name: &str, location: &str, max: Option<u32>, active: u32) -> GroupRecord {
        let key = GroupKey::new(
            ResourceGroup::parse("games").unwrap(),
            ContainerGroupName::parse(name).unwrap(),
        );
        let mut r = GroupRecord::creating(key, location.into(), Utc::now());
        r.state = GroupState::Running;
        r.active_sessions = ActiveSessions::new(active).unwrap();
        r.capacity.max_sessions = max;
        r
    }

    fn req(v: Value) -> AllocateRequest {
        AllocateRequest::parse(&v).unwrap()
    }

    #[test]
    fn reservations_hold_slots_until_they_expire() {
        let now = Utc::now();
        let mut s = server("a", "westeurope", Some(10), 3);
        s.capacity = s.capacity.with(
            Reservation {
                request_id: "r1".into(),
                players: 4,
                expires_at: now + chrono::Duration::seconds(60),
            },
            now,
        );
        assert_eq!(s.capacity.reserved(now), 4);
        assert_eq!(s.capacity.free(3, now), Some(3));
        assert!(s.capacity.find("r1", now).is_some());
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(
            (s.capacity.reserved(later), s.capacity.free(3, later)),
            (0, Some(7))
        );
        assert!(s.capacity.find("r1", later).is_none());
        // The next write drops what expired.
        let next = s.capacity.with(
            Reservation {
                request_id: "r2".into(),
                players: 1,
                expires_at: later + chrono::Duration::seconds(60),
            },
            later,
        );
        assert_eq!(next.reservations.len(), 1);
    }

    #[test]
    fn a_server_fits_by_state_region_labels_and_free_slots() {
        let now = Utc::now();
        let mut s = server("a", "westeurope", Some(8), 6);
        s.capacity.labels.insert("mode".into(), "ctf".into());
        let r = req(json!({"requestId": "x", "players": 2, "labels": {"mode": "ctf"}}));
        assert!(fits(&s, &r, now));
        assert!(
            !fits(&s, &req(json!({"requestId": "x", "players": 3})), now),
            "only 2 free"
        );
        assert!(!fits(
            &s,
            &req(json!({"requestId": "x", "labels": {"mode": "dm"}})),
            now
        ));
        assert!(!fits(
            &s,
            &req(json!({"requestId": "x", "regions": ["eastus"]})),
            now
        ));
        assert!(fits(
            &s,
            &req(json!({"requestId": "x", "regions": ["eastus", "West Europe"]})),
            now
        ));
        s.state = GroupState::MarkedForDeletion;
        assert!(!fits(&s, &r, now), "a marked server is never allocated");
    }

    #[test]
    fn packed_prefers_the_fullest_and_distributed_the_emptiest_in_the_preferred_region() {
        let now = Utc::now();
        let full = server("full", "westeurope", Some(10), 8);
        let empty = server("empty", "westeurope", Some(10), 0);
        let far = server("far", "eastus", Some(10), 9);
        let packed = req(json!({"requestId": "x", "regions": ["westeurope", "eastus"]}));
        let mut order = [&empty, &far, &full];
        order.sort_by_key(|s| rank(s, &packed, now));
        assert_eq!(order.map(|s| s.key.name.as_str()), ["full", "empty", "far"]);
        let spread = req(json!({"requestId": "x", "strategy": "Distributed"}));
        order.sort_by_key(|s| rank(s, &spread, now));
        assert_eq!(order[0].key.name.as_str(), "empty");
    }

    #[test]
    fn bad_requests_name_their_field() {
        for (body, field) in [
            (json!({}), "requestId"),
            (json!({"requestId": "a b"}), "requestId"),
            (json!({"requestId": "x", "players": 0}), "players"),
            (json!({"requestId": "x", "players": "2"}), "players"),
            (
                json!({"requestId": "x", "regions": "westeurope"}),
                "regions",
            ),
            (
                json!({"requestId": "x", "regions": ["west europe!"]}),
                "regions",
            ),
            (json!({"requestId": "x", "labels": {"a": 1}}), "labels"),
            (json!({"requestId": "x", "strategy": "Random"}), "strategy"),
            (
                json!({"requestId": "x", "resourceGroup": "a/b"}),
                "resourceGroup",
            ),
            (json!({"requestId": "x", "player": 2}), "body"),
            (json!([1]), "body"),
        ] {
            assert_eq!(
                AllocateRequest::parse(&body).unwrap_err().field,
                field,
                "{body}"
            );
        }
    }
}
