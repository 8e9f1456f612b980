//! Standby capacity, pure: a fleet (a Create template with `min`, `max`, a
//! `buffer` of ready capacity and a `cooldown`), what its servers are doing
//! ([`Census`]), and what the autoscaler does about it ([`plan`]).
//!
//! - **In service** = Creating, or Running, not marked and not Unhealthy.
//!   `min` and `max` bound the servers in service; a marked server draining
//!   its last players and an Unhealthy one waiting for GC do not count (they
//!   are leaving), so an Unhealthy server is replaced at once.
//! - **Buffer**: free slots (`{"slots": 32}`, needs `maxSessions`) or ready
//!   servers with nobody on them (`{"servers": 2}`), absolute or a percentage
//!   (`"25%"`: of all slots, or of the servers in service, as Agones' Buffer
//!   policy computes it: `ceil(used / (1 − p))`). A Creating server counts as
//!   ready: it will be, and counting it again each tick would create twice.
//! - **Up**: first take back MarkedForDeletion servers that still run (a
//!   SetState `Running`, as AzureGameRoomsScaler reused them), then Create.
//!   Never waits for the cooldown: a refused player costs more than a server.
//!   After a failed Create, no Create until the backoff has passed.
//! - **Down**: mark ready servers with 0 sessions and 0 reservations, newest
//!   first, only once `cooldown` has passed since the last scale in either
//!   direction (no flapping), never below `min` or the buffer.

use super::allocation::{Health, Labels, MAX_PLAYERS};
use super::machine::GroupState;
use super::names::{json_kind, ContainerGroupName, GroupKey, Location, ResourceGroup};
use super::record::GroupRecord;
use super::spec::ContainerGroupSpec;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// The label every server of a fleet carries (`{"fleet": "<name>"}`):
/// Allocate can ask for a fleet by it, and the autoscaler finds its servers.
pub const FLEET_LABEL: &str = "fleet";
/// The most servers one fleet may keep.
pub const MAX_FLEET_SERVERS: u32 = 5_000;
/// The longest fleet name: the servers are `<name>-<8 characters>`, and a
/// container group name holds 63.
pub const MAX_FLEET_NAME: usize = 40;
/// Cooldown when the fleet names none (the original's autoscaler waited 10 minutes).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(600);
/// First wait after a failed Create; doubled per failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(30);
pub const MAX_BACKOFF: Duration = Duration::from_secs(900);

/// Why a fleet definition was refused; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FleetError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> FleetError {
    FleetError {
        field,
        message: message.into(),
    }
}

/// A fleet's name: 1–40 of `a-z`, `0-9`, `-`, starting with a letter, not
/// ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FleetName(String);

impl FleetName {
    pub fn parse(raw: &str) -> Result<Self, FleetError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_FLEET_NAME
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && !raw.ends_with('-')
            && !raw.contains("--")
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(bad(
                "name",
                format!("{raw:?} is not a fleet name: 1-{MAX_FLEET_NAME} of a-z, 0-9 and single '-', starting with a letter, not ending with '-'"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A new server's name: `<fleet>-<8 random a-z0-9>`.
    pub fn server_name(&self, rng: &mut fastrand::Rng) -> Result<ContainerGroupName, FleetError> {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let suffix: String = (0..8)
            .map(|_| char::from(CHARS[rng.usize(..CHARS.len())]))
            .collect();
        ContainerGroupName::parse(&format!("{}-{suffix}", self.0))
            .map_err(|e| bad("name", e.to_string()))
    }
}

impl std::fmt::Display for FleetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute amount or a percentage (1–99).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Count(u32),
    Percent(u8),
}

/// What ready capacity to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffer {
    /// Free slots over the servers in service.
    Slots(Amount),
    /// Servers in service with nobody on them (and nothing reserved).
    Servers(Amount),
}

impl Buffer {
    fn parse(v: &Value, max_sessions: Option<u32>) -> Result<Self, FleetError> {
        let field = "buffer";
        let Value::Object(o) = v else {
            return Err(bad(
                field,
                format!(
                    "must be {{\"slots\": n}} or {{\"servers\": n}} (n a number or \"25%\"), not {}",
                    json_kind(v)
                ),
            ));
        };
        let (unit, amount) = match (o.len(), o.iter().next()) {
            (1, Some((k, a))) => (k.as_str(), a),
            _ => {
                return Err(bad(
                    field,
                    "must have exactly one of \"slots\" or \"servers\"",
                ))
            }
        };
        let amount = match amount {
            Value::Number(n) => match n.as_u64() {
                Some(n) if n <= u64::from(MAX_PLAYERS) * u64::from(MAX_FLEET_SERVERS) => {
                    Amount::Count(n as u32)
                }
                _ => {
                    return Err(bad(
                        field,
                        format!("{n} is not a whole number of {unit} in range"),
                    ))
                }
            },
            Value::String(s) => match s.strip_suffix('%').map(|p| p.trim().parse::<u8>()) {
                Some(Ok(p)) if (1..=99).contains(&p) => Amount::Percent(p),
                _ => {
                    return Err(bad(
                        field,
                        format!("{s:?} is not a percentage from \"1%\" to \"99%\""),
                    ))
                }
            },
            other => {
                return Err(bad(
                    field,
                    format!(
                        "{unit} must be a number or a percentage like \"25%\", not {}",
                        json_kind(other)
                    ),
                ))
            }
        };
        match unit {
            "slots" if max_sessions.is_none() => Err(bad(
                field,
                "a buffer of slots needs maxSessions (the slots of each server); use {\"servers\": n} for servers without a limit",
            )),
            "slots" => Ok(Buffer::Slots(amount)),
            "servers" => Ok(Buffer::Servers(amount)),
            other => Err(bad(
                field,
                format!("{other:?} is not a unit; use \"slots\" or \"servers\""),
            )),
        }
    }

    fn to_json(self) -> Value {
        let (unit, amount) = match self {
            Buffer::Slots(a) => ("slots", a),
            Buffer::Servers(a) => ("servers", a),
        };
        let a = match amount {
            Amount::Count(n) => Value::from(n),
            Amount::Percent(p) => Value::from(format!("{p}%")),
        };
        let mut o = Map::new();
        o.insert(unit.into(), a);
        Value::Object(o)
    }
}

/// A validated fleet definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub name: FleetName,
    pub resource_group: ResourceGroup,
    pub location: Location,
    /// The Create template as given (with the fleet's location), kept for the answer.
    pub template: Value,
    pub spec: ContainerGroupSpec,
    pub max_sessions: Option<u32>,
    /// The template's labels plus `fleet: <name>`.
    pub labels: Labels,
    pub min: u32,
    pub max: u32,
    pub buffer: Buffer,
    pub cooldown: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FleetBody {
    name: Value,
    resource_group: Value,
    location: Option<Value>,
    container_group: Value,
    max_sessions: Option<Value>,
    labels: Option<Value>,
    min: Option<Value>,
    max: Value,
    buffer: Value,
    cooldown: Option<Value>,
}

fn count(field: &'static str, v: &Value) -> Result<u32, FleetError> {
    match v.as_u64() {
        Some(n) if n <= u64::from(MAX_FLEET_SERVERS) => Ok(n as u32),
        _ => Err(bad(
            field,
            format!("must be a whole number from 0 to {MAX_FLEET_SERVERS}, not {v}"),
        )),
    }
}

fn string<'a>(field: &'static str, v: &'a Value) -> Result<&'a str, FleetError> {
    v.as_str()
        .ok_or_else(|| bad(field, format!("must be a string, not {}", json_kind(v))))
}

impl Fleet {
    /// A `POST /api/Fleets` body (also what [`Fleet::to_json`] wrote).
    pub fn parse(v: &Value) -> Result<Self, FleetError> {
        if !v.is_object() {
            return Err(bad(
                "body",
                format!("must be a JSON object, not {}", json_kind(v)),
            ));
        }
        let b: FleetBody =
            serde_json::from_value(v.clone()).map_err(|e| bad("body", e.to_string()))?;
        let name = FleetName::parse(string("name", &b.name)?)?;
        let resource_group = ResourceGroup::parse(string("resourceGroup", &b.resource_group)?)
            .map_err(|e| bad("resourceGroup", e.to_string()))?;
        let mut template = b.container_group.clone();
        let Value::Object(t) = &mut template else {
            return Err(bad(
                "containerGroup",
                format!("must be an object, not {}", json_kind(&b.container_group)),
            ));
        };
        // The fleet's location fills (or must agree with) the template's.
        match (b.location.as_ref(), t.get("location")) {
            (Some(l), Some(tl)) if l != tl => {
                return Err(bad(
                    "location",
                    format!("{l} differs from containerGroup.location {tl}; give one"),
                ))
            }
            (Some(l), _) => {
                t.insert(
                    "location".into(),
                    Value::String(string("location", l)?.to_owned()),
                );
            }
            (None, _) => {}
        }
        let spec = ContainerGroupSpec::parse(&template)
            .map_err(|e| bad("containerGroup", e.to_string()))?;
        let location =
            Location::parse(spec.location()).map_err(|e| bad("location", e.to_string()))?;
        let max_sessions = super::allocation::parse_max_sessions(b.max_sessions.as_ref())
            .map_err(|e| bad("maxSessions", e.message))?;
        let mut labels = match &b.labels {
            None | Some(Value::Null) => Labels::new(),
            Some(l) => super::allocation::parse_labels("labels", l)
                .map_err(|e| bad("labels", e.message))?,
        };
        if let Some(other) = labels.get(FLEET_LABEL).filter(|l| *l != name.as_str()) {
            return Err(bad(
                "labels",
                format!("\"{FLEET_LABEL}\" is set by gamefleet to the fleet's name, not {other:?}"),
            ));
        }
        labels.insert(FLEET_LABEL.into(), name.as_str().into());
        if labels.len() > super::allocation::MAX_LABELS {
            return Err(bad(
                "labels",
                format!(
                    "at most {} labels, \"{FLEET_LABEL}\" included",
                    super::allocation::MAX_LABELS
                ),
            ));
        }
        let min = match &b.min {
            None => 0,
            Some(m) => count("min", m)?,
        };
        let max = count("max", &b.max)?;
        if min > max {
            return Err(bad("min", format!("{min} is above max {max}")));
        }
        let buffer = Buffer::parse(&b.buffer, max_sessions)?;
        let cooldown = match &b.cooldown {
            None => DEFAULT_COOLDOWN,
            Some(c) => {
                let s = string("cooldown", c)?;
                humantime::parse_duration(s.trim()).map_err(|e| {
                    bad(
                        "cooldown",
                        format!("{s:?} is not a duration like 30s, 5m, 1h: {e}"),
                    )
                })?
            }
        };
        Ok(Fleet {
            name,
            resource_group,
            location,
            template,
            spec,
            max_sessions,
            labels,
            min,
            max,
            buffer,
            cooldown,
        })
    }

    /// The definition as the API answers it and the store keeps it.
    pub fn to_json(&self) -> Value {
        let mut labels = self.labels.clone();
        labels.remove(FLEET_LABEL);
        serde_json::json!({
            "name": self.name.as_str(),
            "resourceGroup": self.resource_group.as_str(),
            "location": self.location.as_str(),
            "containerGroup": self.template,
            "maxSessions": self.max_sessions,
            "labels": labels,
            "min": self.min,
            "max": self.max,
            "buffer": self.buffer.to_json(),
            "cooldown": humantime::format_duration(self.cooldown).to_string(),
        })
    }

    /// Whether `r` is one of this fleet's servers.
    pub fn owns(&self, r: &GroupRecord) -> bool {
        r.key.resource_group.key() == self.resource_group.key()
            && r.capacity.labels.get(FLEET_LABEL).map(String::as_str) == Some(self.name.as_str())
    }
}

/// What the autoscaler remembers of a fleet between ticks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetStatus {
    /// The instance applying a tick holds the fleet until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scale_up: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scale_down: Option<DateTime<Utc>>,
    /// Failed Creates in a row (0 after one succeeds).
    #[serde(default)]
    pub create_failures: u32,
    /// No Create before then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The last tick's report (what it counted and did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Value>,
}

impl FleetStatus {
    /// After `failures` failed Creates in a row: how long to wait.
    pub fn backoff(failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        FIRST_BACKOFF
            .saturating_mul(1 << doublings)
            .min(MAX_BACKOFF)
    }
}

/// A fleet's servers by what they can do, at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Census {
    /// Creating, or Running unmarked and not Unhealthy.
    pub in_service: u32,
    pub creating: u32,
    /// In service and Running with sessions or reservations.
    pub busy: u32,
    /// Sessions + live reservations on the servers in service.
    pub used_slots: u64,
    /// Free slots on the servers in service (a Creating one counts whole).
    pub free_slots: u64,
    /// MarkedForDeletion, still running, not Unhealthy.
    pub marked: u32,
    pub unhealthy: u32,
    #[serde(skip)]
    idle: Vec<(DateTime<Utc>, GroupKey)>,
    #[serde(skip)]
    reusable: Vec<(u32, GroupKey)>,
}

impl Census {
    /// Count `servers` (any records; those not of `fleet` are ignored).
    pub fn of<'a>(
        fleet: &Fleet,
        servers: impl IntoIterator<Item = &'a GroupRecord>,
        now: DateTime<Utc>,
        health_timeout: Option<Duration>,
    ) -> Census {
        let slots = u64::from(fleet.max_sessions.unwrap_or(0));
        let mut c = Census::default();
        for r in servers.into_iter().filter(|r| fleet.owns(r)) {
            let unhealthy = r.capacity.health(now, health_timeout) == Health::Unhealthy;
            let used = r
                .active_sessions
                .get()
                .saturating_add(r.capacity.reserved(now));
            match r.state {
                GroupState::Creating => {
                    c.in_service += 1;
                    c.creating += 1;
                    c.free_slots += slots;
                }
                GroupState::Running if unhealthy => c.unhealthy += 1,
                GroupState::Running => {
                    c.in_service += 1;
                    c.used_slots += u64::from(used);
                    c.free_slots +=
                        u64::from(r.capacity.free(r.active_sessions.get(), now).unwrap_or(0));
                    if used > 0 {
                        c.busy += 1;
                    } else {
                        c.idle.push((r.created_at, r.key.clone()));
                    }
                }
                GroupState::MarkedForDeletion if unhealthy => c.unhealthy += 1,
                GroupState::MarkedForDeletion => {
                    c.marked += 1;
                    c.reusable.push((used, r.key.clone()));
                }
                GroupState::Failed | GroupState::Deleting => {}
            }
        }
        // Newest idle first; emptiest marked first.
        c.idle
            .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
        c.reusable
            .sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        c
    }

    /// Ready servers: in service with nobody on them (Creating included).
    pub fn ready(&self) -> u32 {
        self.in_service - self.busy
    }
}

/// What one tick does to a fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Servers in service the fleet should have.
    pub desired: u32,
    /// MarkedForDeletion servers to take back (SetState Running).
    pub unmark: Vec<GroupKey>,
    /// New servers to Create.
    pub create: u32,
    /// Idle servers to mark.
    pub mark: Vec<GroupKey>,
    /// What held the plan back: `max`, `min`, `backoff`, `cooldown`.
    pub limited_by: Option<&'static str>,
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

/// The servers in service the buffer asks for, before `min`/`max`.
fn wanted(fleet: &Fleet, c: &Census) -> u32 {
    let slots = u64::from(fleet.max_sessions.unwrap_or(1)).max(1);
    let keep_free = |free_target: u64| -> u64 {
        if c.free_slots >= free_target {
            // Surplus: idle servers whose slots the buffer does not need.
            let spare = (c.free_slots - free_target) / slots;
            u64::from(c.in_service) - spare.min(c.idle.len() as u64)
        } else {
            u64::from(c.in_service) + ceil_div(free_target - c.free_slots, slots)
        }
    };
    let n = match fleet.buffer {
        Buffer::Servers(Amount::Count(b)) => u64::from(c.busy) + u64::from(b),
        Buffer::Servers(Amount::Percent(p)) => {
            ceil_div(u64::from(c.busy) * 100, 100 - u64::from(p))
        }
        Buffer::Slots(Amount::Count(b)) => keep_free(u64::from(b)),
        Buffer::Slots(Amount::Percent(p)) => {
            keep_free(ceil_div(c.used_slots * u64::from(p), 100 - u64::from(p)))
        }
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The tick's decision for `fleet` with `census`, at `now`.
pub fn plan(fleet: &Fleet, census: &Census, status: &FleetStatus, now: DateTime<Utc>) -> Plan {
    let want = wanted(fleet, census);
    let desired = want.clamp(fleet.min, fleet.max);
    let mut p = Plan {
        desired,
        limited_by: if want > fleet.max {
            Some("max")
        } else if want < fleet.min {
            Some("min")
        } else {
            None
        },
        ..Plan::default()
    };
    if desired > census.in_service {
        let mut need = desired - census.in_service;
        // A marked server with players on it adds no ready server.
        let reusable = census.reusable.iter().filter(|(used, _)| {
            *used == 0
                || matches!(fleet.buffer, Buffer::Slots(_))
                    && fleet.max_sessions.is_some_and(|m| *used < m)
        });
        for (_, key) in reusable.take(need as usize) {
            p.unmark.push(key.clone());
            need -= 1;
        }
        if need > 0 {
            if status.backoff_until.is_some_and(|t| now < t) {
                p.limited_by = Some("backoff");
            } else {
                p.create = need;
            }
        }
    } else if desired < census.in_service {
        let last = status.last_scale_up.max(status.last_scale_down);
        let cooled = last.is_none_or(|t| {
            now.signed_duration_since(t).to_std().unwrap_or_default() >= fleet.cooldown
        });
        if cooled {
            let surplus = (census.in_service - desired) as usize;
            p.mark = census
                .idle
                .iter()
                .take(surplus)
                .map(|(_, k)| k.clone())
                .collect();
        } else {
            p.limited_by = Some("cooldown");
        }
    }
    p
}

#[cfg(test)]
mod tests;
