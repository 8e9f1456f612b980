//! [`TableSchedules`]: power schedules in a table of their own beside the
//! fleet table (`<FLEET_TABLE>Schedules`, e.g. `ACIDetailsSchedules`), created
//! on first write like the Keys table.
//!
//! - Partition `schedule`, RowKey = the schedule's name: `Spec` (the schedule
//!   as JSON), `ActiveFrom`, and what its runs left: `LastFire`, `ClaimFire` +
//!   `ClaimUntil` (the lease of the run applying a fire), `LastOutcome` (JSON).
//!   Every write after the first is conditional on the ETag read, so one
//!   instance wins each claim.
//! - Partition `resource`, RowKey = base64url of `provider\nresource id` (ids
//!   hold `/`, which a RowKey may not): the last action a schedule applied to
//!   that resource (`LastAction`, `Schedule`, `At`), for `retainRunning`.

use super::documents::Documents;
use super::row::Entity;
use crate::fleet::{Etag, Versioned};
use crate::lifecycle::Action;
use crate::ports::{ResourceMark, ScheduleStore, StoreError, StoredSchedule};
use crate::schedule::{Claim, RunState, Schedule, ScheduleName};
use async_trait::async_trait;
use azure_data_tables::clients::TableClient;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

const SCHEDULES: &str = "schedule";
const RESOURCES: &str = "resource";
/// `LastOutcome` is cut to this many characters (a property holds 64 KiB).
const MAX_OUTCOME: usize = 30_000;

#[derive(Debug, Clone)]
pub struct TableSchedules {
    rows: Documents,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn invalid(message: String) -> StoreError {
    StoreError::Rejected {
        code: "InvalidRow".into(),
        message,
    }
}

/// The row of a schedule.
fn to_entity(s: &StoredSchedule) -> Value {
    let mut e = json!({
        "PartitionKey": SCHEDULES,
        "RowKey": s.schedule.name.as_str(),
        "Spec": s.schedule.to_json().to_string(),
        "ActiveFrom": time(s.run.active_from),
    });
    if let Some(l) = s.run.last_fire {
        e["LastFire"] = json!(time(l));
    }
    if let Some(c) = s.run.claim {
        e["ClaimFire"] = json!(time(c.fire));
        e["ClaimUntil"] = json!(time(c.until));
    }
    if let Some(o) = &s.run.last_outcome {
        let mut text = o.to_string();
        if text.len() > MAX_OUTCOME {
            text = json!({"truncated": true, "result": o.get("result")}).to_string();
        }
        e["LastOutcome"] = json!(text);
    }
    e
}

fn from_entity(e: &Entity) -> Result<StoredSchedule, StoreError> {
    let name = e.get("RowKey").and_then(Value::as_str).unwrap_or_default();
    let when = |k: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        match e.get(k).and_then(Value::as_str) {
            None => Ok(None),
            Some(t) => DateTime::parse_from_rfc3339(t)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|err| invalid(format!("schedule {name:?}: {k} {t:?}: {err}"))),
        }
    };
    let spec: Value = e
        .get("Spec")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| invalid(format!("schedule {name:?} has no readable Spec")))?;
    let schedule =
        Schedule::parse(&spec).map_err(|err| invalid(format!("schedule {name:?}: {err}")))?;
    let claim = match (when("ClaimFire")?, when("ClaimUntil")?) {
        (Some(fire), Some(until)) => Some(Claim { fire, until }),
        _ => None,
    };
    Ok(StoredSchedule {
        schedule,
        run: RunState {
            active_from: when("ActiveFrom")?
                .ok_or_else(|| invalid(format!("schedule {name:?} has no ActiveFrom")))?,
            last_fire: when("LastFire")?,
            claim,
            last_outcome: e
                .get("LastOutcome")
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str(s).ok()),
        },
    })
}

fn resource_key(provider: &str, resource: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{provider}\n{resource}"))
}

impl TableSchedules {
    pub(crate) fn new(table: TableClient) -> Self {
        Self {
            rows: Documents::new(table),
        }
    }
}

#[async_trait]
impl ScheduleStore for TableSchedules {
    async fn list(&self) -> Result<Vec<Versioned<StoredSchedule>>, StoreError> {
        let mut out = Vec::new();
        for (e, etag) in self.rows.list(SCHEDULES).await? {
            match from_entity(&e) {
                Ok(s) => out.push(Versioned::new(s, etag)),
                Err(err) => tracing::warn!(error = %err, "skipping a row that is not a schedule"),
            }
        }
        out.sort_by(|a, b| a.value.schedule.name.cmp(&b.value.schedule.name));
        Ok(out)
    }

    async fn get(
        &self,
        name: &ScheduleName,
    ) -> Result<Option<Versioned<StoredSchedule>>, StoreError> {
        match self.rows.get(SCHEDULES, name.as_str()).await? {
            Some((e, etag)) => Ok(Some(Versioned::new(from_entity(&e)?, etag))),
            None => Ok(None),
        }
    }

    async fn put(&self, s: &StoredSchedule) -> Result<Etag, StoreError> {
        self.rows
            .upsert(SCHEDULES, s.schedule.name.as_str(), &to_entity(s))
            .await
    }

    async fn replace(&self, s: &StoredSchedule, etag: &Etag) -> Result<Etag, StoreError> {
        self.rows
            .replace(SCHEDULES, s.schedule.name.as_str(), &to_entity(s), etag)
            .await
    }

    async fn delete(&self, name: &ScheduleName) -> Result<bool, StoreError> {
        self.rows.delete(SCHEDULES, name.as_str()).await
    }

    async fn last_action(
        &self,
        provider: &str,
        resource: &str,
    ) -> Result<Option<ResourceMark>, StoreError> {
        let Some((e, _)) = self
            .rows
            .get(RESOURCES, &resource_key(provider, resource))
            .await?
        else {
            return Ok(None);
        };
        let action = e
            .get("LastAction")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<Action>().ok());
        let at = e
            .get("At")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        match (action, at) {
            (Some(action), Some(at)) => Ok(Some(ResourceMark {
                action,
                schedule: e
                    .get("Schedule")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                at: at.with_timezone(&Utc),
            })),
            _ => Err(invalid(format!(
                "the last-action row of {provider} {resource} is not readable"
            ))),
        }
    }

    async fn record_action(
        &self,
        provider: &str,
        resource: &str,
        mark: &ResourceMark,
    ) -> Result<(), StoreError> {
        let rk = resource_key(provider, resource);
        let entity = json!({
            "PartitionKey": RESOURCES, "RowKey": rk, "Provider": provider, "Resource": resource,
            "LastAction": mark.action.as_str(), "Schedule": mark.schedule, "At": time(mark.at),
        });
        self.rows.upsert(RESOURCES, &rk, &entity).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_as_it_was_written() {
        let schedule = Schedule::parse(&json!({"name": "night", "cron": "0 23 * * *", "timeZone": "Europe/Berlin",
            "action": "stop", "provider": "aci", "resources": ["rg/a", "rg/b"], "retainRunning": true}))
        .unwrap();
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let stored = StoredSchedule {
            schedule,
            run: RunState {
                active_from: t("2026-06-01T10:00:00.250Z"),
                last_fire: Some(t("2026-06-01T21:00:00Z")),
                claim: Some(Claim {
                    fire: t("2026-06-01T21:00:00Z"),
                    until: t("2026-06-01T21:05:00Z"),
                }),
                last_outcome: Some(json!({"result": "succeeded"})),
            },
        };
        let e = to_entity(&stored);
        let Value::Object(map) = e else {
            panic!("an object")
        };
        assert_eq!(from_entity(&map).unwrap(), stored);
        // Ids with '/' make RowKeys without it.
        assert!(!resource_key("aci", "/subscriptions/x/resourceGroups/rg").contains('/'));
    }
}
