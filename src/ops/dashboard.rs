//! The dashboard's data (`GET /api/Dashboard?view=data`): the servers with
//! their counts by state and region, the fleets, the schedules and the
//! recent GC and autoscaler actions, in one answer the page polls.
//!
//! The servers are read a page at a time, as List and the metrics gauges
//! read them: every row is counted, the first [`MAX_SERVERS`] are kept to be
//! shown, so memory holds a page and those rows whatever the fleet's size.
//! Nothing is moved or written (legacy rows are shown where they are).

use super::fleets::FleetOpsError;
use super::schedules::ScheduleOpsError;
use super::{App, OpsError};
use crate::ports::StoreError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// Servers listed by one answer; the counts cover every one.
pub const MAX_SERVERS: usize = 500;
/// Activity entries shown.
pub const ACTIVITY_SHOWN: usize = 50;

/// Why the dashboard's data could not be read (each part's own error).
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ops(#[from] OpsError),
    #[error(transparent)]
    Fleets(#[from] FleetOpsError),
    #[error(transparent)]
    Schedules(#[from] ScheduleOpsError),
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl App {
    /// Everything the dashboard shows, read at `now`.
    pub async fn dashboard(&self, now: DateTime<Utc>) -> Result<Value, DashboardError> {
        let (servers, fleets, schedules, activity) = tokio::join!(
            self.dashboard_servers(now),
            self.list_fleets(now),
            self.list_schedules(now),
            self.activity.recent(ACTIVITY_SHOWN),
        );
        let activity: Vec<Value> = activity?
            .into_iter()
            .map(|e| json!({"at": time(e.at), "source": e.source, "summary": e.summary}))
            .collect();
        let mut data = servers?;
        data["at"] = json!(time(now));
        // The template and the last tick's whole report are left out: the page
        // shows the definition's figures and the servers now.
        let fleets: Vec<Value> = fleets?
            .into_iter()
            .map(|mut f| {
                if let Value::Object(o) = &mut f {
                    o.remove("containerGroup");
                }
                if let Some(Value::Object(s)) = f.get_mut("status") {
                    s.remove("lastRun");
                }
                f
            })
            .collect();
        data["fleets"] = json!(fleets);
        data["schedules"] = json!(schedules?);
        data["activity"] = json!(activity);
        Ok(data)
    }

    /// The servers part: `servers` (the first [`MAX_SERVERS`] in key order,
    /// `total`, `limit`), `counts` by state and region, `regions` (sessions
    /// and reservations).
    async fn dashboard_servers(&self, now: DateTime<Utc>) -> Result<Value, DashboardError> {
        let mut shown = Vec::new();
        let census = self
            .census_scan(now, |r| {
                if shown.len() < MAX_SERVERS {
                    let item = r.listed(now, self.settings.health_timeout);
                    shown.push(serde_json::to_value(&item).unwrap_or(Value::Null));
                }
            })
            .await?;
        let counts: Vec<Value> = census
            .servers()
            .map(|(state, region, n)| json!({"state": state, "region": region, "servers": n}))
            .collect();
        let regions: Vec<Value> = census
            .regions()
            .map(|(region, sessions, reserved)| {
                json!({"region": region, "sessions": sessions, "reserved": reserved})
            })
            .collect();
        Ok(json!({
            "servers": shown,
            "total": census.total(),
            "limit": MAX_SERVERS,
            "counts": counts,
            "regions": regions,
        }))
    }
}
