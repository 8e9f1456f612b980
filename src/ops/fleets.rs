//! Fleets and the autoscaler: `POST/GET/DELETE /api/Fleets` keep the
//! definitions; the Autoscale timer applies [`crate::fleet::autoscale::plan`]
//! to each fleet.
//!
//! One tick of one fleet:
//! 1. **Claim** the fleet: a conditional write of `claimUntil` on its row, so
//!    among many instances (the host scales out) one scales a fleet at a time
//!    and two cannot both create up to `max`. A live claim of another run is
//!    left alone (`skipped`).
//! 2. **Count** its servers (the fleet table, one resource group) and plan.
//! 3. **Act**: unmark (SetState Running), then Create (at most
//!    [`CREATE_CONCURRENCY`] at once, each through ARM's write pacer; the first
//!    refusal stops the rest of this tick: a throttled Create is `deferred` to
//!    the next tick, a failed one starts the backoff and is reported, never
//!    counted as done), or mark idle servers (each re-read and marked only if
//!    still Running with 0 sessions and 0 reservations, conditional on its
//!    ETag, so an Allocate that lands first wins).
//! 4. **Release**: write the fleet's status (last scale times, failures,
//!    backoff, the run's report) and drop the claim.
//!
//! A tick that scaled or failed ends with a line in the activity log
//! ([`super::activity`]).

use super::state::Target;
use super::{App, OpsError, MAX_CONFLICT_RETRIES};
use crate::fleet::autoscale::{plan, Census, Fleet, FleetError, FleetName, FleetStatus, Plan};
use crate::fleet::{GroupKey, GroupState, Versioned};
use crate::ports::{ListQuery, PlatformError, StoreError, StoredFleet};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Creates of one fleet in flight at once (each waits for its ARM write token).
pub const CREATE_CONCURRENCY: usize = 8;
/// How long a tick holds a fleet; a crashed run's claim lapses after it.
pub const CLAIM: Duration = Duration::from_secs(180);
/// Errors kept in a run's report.
const MAX_ERRORS: usize = 5;

/// Why a fleet call failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetOpsError {
    #[error(transparent)]
    Invalid(#[from] FleetError),
    #[error("no fleet named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One fleet in a tick's report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FleetRun {
    pub fleet: String,
    /// `scaled`, `steady`, `skipped` (another run holds it) or `failed`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub census: Option<Census>,
    pub desired: u32,
    pub unmarked: u32,
    pub created: u32,
    pub marked: u32,
    /// Creates not sent because ARM's write limit was spent (next tick).
    pub deferred: u32,
    pub failed: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limited_by: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// What one Autoscale tick did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoscaleReport {
    pub at: String,
    pub fleets: usize,
    pub runs: Vec<FleetRun>,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A fleet as the API answers it: the definition, its servers now, and what
/// the autoscaler last did.
pub fn view(stored: &StoredFleet, census: Option<&Census>, now: DateTime<Utc>) -> Value {
    let mut v = stored.fleet.to_json();
    let mut status = serde_json::to_value(&stored.status).unwrap_or_else(|_| json!({}));
    if let Value::Object(s) = &mut status {
        // A lapsed claim is noise.
        if stored.status.claim_until.is_some_and(|t| t <= now) {
            s.remove("claimUntil");
        }
        if let Some(c) = census {
            s.insert("servers".into(), json!(c));
            s.insert(
                "desired".into(),
                json!(plan(&stored.fleet, c, &stored.status, now).desired),
            );
        }
    }
    v["status"] = status;
    v
}

/// What one of a tick's Creates came to.
enum Created {
    Done,
    /// Not sent: ARM's write limit is spent, or an earlier Create of this
    /// tick was refused (the next tick tries again).
    Deferred,
    Failed(String),
}

impl App {
    /// Create or replace a fleet's definition; what the autoscaler remembers
    /// of it (backoff, last scale times) is kept.
    pub async fn put_fleet(
        &self,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<Value, FleetOpsError> {
        let fleet = Fleet::parse(body)?;
        for _ in 0..MAX_CONFLICT_RETRIES {
            let stored = match self.fleets.get(&fleet.name).await? {
                Some(current) => {
                    let next = StoredFleet {
                        fleet: fleet.clone(),
                        status: current.value.status,
                    };
                    match self.fleets.replace(&next, &current.etag).await {
                        Ok(_) => next,
                        Err(StoreError::PreconditionFailed) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {
                    let next = StoredFleet {
                        fleet: fleet.clone(),
                        status: FleetStatus::default(),
                    };
                    match self.fleets.insert(&next).await {
                        Ok(_) => next,
                        Err(StoreError::AlreadyExists) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            tracing::info!(fleet = %fleet.name, min = fleet.min, max = fleet.max, "fleet stored");
            let census = self.census(&stored.fleet, now).await?;
            return Ok(view(&stored, Some(&census), now));
        }
        Err(StoreError::PreconditionFailed.into())
    }

    /// Every row of the fleet's resource group (its servers among them).
    async fn servers_of(
        &self,
        fleet: &Fleet,
    ) -> Result<Vec<crate::fleet::GroupRecord>, StoreError> {
        Ok(self
            .store
            .list(&ListQuery::ByState {
                state: None,
                resource_group: Some(fleet.resource_group.clone()),
            })
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    async fn census(&self, fleet: &Fleet, now: DateTime<Utc>) -> Result<Census, StoreError> {
        let rows = self.servers_of(fleet).await?;
        Ok(Census::of(fleet, &rows, now, self.settings.health_timeout))
    }

    /// Every fleet with its servers now.
    pub async fn list_fleets(&self, now: DateTime<Utc>) -> Result<Vec<Value>, FleetOpsError> {
        let fleets = self.fleets.list().await?;
        // One read per resource group, however many fleets share it.
        let mut rows: HashMap<String, Vec<crate::fleet::GroupRecord>> = HashMap::new();
        let mut out = Vec::with_capacity(fleets.len());
        for f in &fleets {
            let fleet = &f.value.fleet;
            let rg = fleet.resource_group.key().to_owned();
            if !rows.contains_key(&rg) {
                let listed = self.servers_of(fleet).await?;
                rows.insert(rg.clone(), listed);
            }
            let census = Census::of(
                fleet,
                rows.get(&rg).into_iter().flatten(),
                now,
                self.settings.health_timeout,
            );
            out.push(view(&f.value, Some(&census), now));
        }
        Ok(out)
    }

    /// One fleet with its servers now.
    pub async fn fleet(&self, name: &str, now: DateTime<Utc>) -> Result<Value, FleetOpsError> {
        let parsed = FleetName::parse(name)?;
        let f = self
            .fleets
            .get(&parsed)
            .await?
            .ok_or_else(|| FleetOpsError::NotFound(name.to_owned()))?;
        let census = self.census(&f.value.fleet, now).await?;
        Ok(view(&f.value, Some(&census), now))
    }

    /// Delete a fleet's definition. Its servers stay (they are ordinary
    /// servers from then on) unless `drain`: then every one that runs is
    /// marked, and GC deletes each once its players have left.
    pub async fn delete_fleet(&self, name: &str, drain: bool) -> Result<Value, FleetOpsError> {
        let parsed = FleetName::parse(name)?;
        let Some(f) = self.fleets.get(&parsed).await? else {
            return Err(FleetOpsError::NotFound(name.to_owned()));
        };
        if !self.fleets.delete(&parsed).await? {
            return Err(FleetOpsError::NotFound(name.to_owned()));
        }
        tracing::info!(fleet = %parsed, drain, "fleet deleted");
        let mut marked = 0u32;
        let mut left = 0u32;
        let rows = self
            .store
            .list(&ListQuery::ByState {
                state: None,
                resource_group: Some(f.value.fleet.resource_group.clone()),
            })
            .await?;
        for r in rows.iter().filter(|r| f.value.fleet.owns(&r.value)) {
            let live = matches!(r.value.state, GroupState::Creating | GroupState::Running);
            if drain && r.value.state == GroupState::Running {
                match self
                    .set_state(&r.value.key, Target::MarkedForDeletion, None)
                    .await
                {
                    Ok(_) => marked += 1,
                    Err(e) => {
                        tracing::warn!(group = %r.value.key, error = %e, "could not mark a server of a deleted fleet");
                        left += 1;
                    }
                }
            } else if live {
                left += 1;
            }
        }
        Ok(json!({"name": parsed.as_str(), "deleted": true, "marked": marked, "serversLeft": left}))
    }

    /// One Autoscale tick at `now` (the timer passes the real clock). Fleets
    /// are scaled side by side.
    pub async fn autoscale(&self, now: DateTime<Utc>) -> Result<AutoscaleReport, StoreError> {
        let fleets = self.fleets.list().await?;
        let count = fleets.len();
        let runs =
            futures::future::join_all(fleets.into_iter().map(|f| self.scale_one(f, now))).await;
        let report = AutoscaleReport {
            at: time(now),
            fleets: count,
            runs,
        };
        crate::metrics::autoscale_run(&report);
        self.record_autoscale(&report, now).await;
        Ok(report)
    }

    async fn scale_one(&self, row: Versioned<StoredFleet>, now: DateTime<Utc>) -> FleetRun {
        let name = row.value.fleet.name.to_string();
        let mut run = FleetRun {
            fleet: name.clone(),
            ..FleetRun::default()
        };
        if let Some(until) = row.value.status.claim_until.filter(|t| *t > now) {
            run.result = "skipped";
            run.errors
                .push(format!("another run holds the fleet until {}", time(until)));
            return run;
        }
        // 1. Claim.
        let mut claimed = row.value.clone();
        claimed.status.claim_until = Some(
            now + chrono::Duration::from_std(CLAIM)
                .unwrap_or_else(|_| chrono::Duration::minutes(3)),
        );
        let etag = match self.fleets.replace(&claimed, &row.etag).await {
            Ok(e) => e,
            Err(StoreError::PreconditionFailed) => {
                run.result = "skipped";
                run.errors
                    .push("another instance claimed the fleet or changed it".into());
                return run;
            }
            Err(e) => {
                run.result = "failed";
                run.errors.push(format!("could not claim the fleet: {e}"));
                return run;
            }
        };
        let fleet = &claimed.fleet;
        // 2. Count and plan.
        let census = match self.census(fleet, now).await {
            Ok(c) => c,
            Err(e) => {
                run.result = "failed";
                run.errors.push(format!("could not count the servers: {e}"));
                self.release(claimed, etag, &run, now).await;
                return run;
            }
        };
        let p = plan(fleet, &census, &claimed.status, now);
        run.desired = p.desired;
        run.limited_by = p.limited_by;
        run.census = Some(census);
        // 3. Act.
        self.apply_plan(fleet, &p, &mut run).await;
        run.result = if run.unmarked + run.created + run.marked > 0 {
            "scaled"
        } else if run.failed > 0 {
            "failed"
        } else {
            "steady"
        };
        // 4. Release.
        self.release(claimed, etag, &run, now).await;
        run
    }

    async fn apply_plan(&self, fleet: &Fleet, p: &Plan, run: &mut FleetRun) {
        for key in &p.unmark {
            match self.set_state(key, Target::Running, None).await {
                Ok(r) if r.state == GroupState::Running => run.unmarked += 1,
                Ok(r) => run
                    .errors
                    .push(format!("{key} is {}, not taken back", r.state)),
                Err(e) => run.errors.push(format!("could not take back {key}: {e}")),
            }
        }
        if p.create > 0 {
            // The first refusal stops the Creates not started yet.
            let stop = AtomicBool::new(false);
            let outcomes: Vec<Created> = futures::stream::iter(0..p.create)
                .map(|_| self.create_one(fleet, &stop))
                .buffer_unordered(CREATE_CONCURRENCY)
                .collect()
                .await;
            for o in outcomes {
                match o {
                    Created::Done => run.created += 1,
                    Created::Deferred => run.deferred += 1,
                    Created::Failed(e) => {
                        run.failed += 1;
                        run.errors.push(e);
                    }
                }
            }
        }
        for key in &p.mark {
            match self.mark_if_idle(key).await {
                Ok(true) => run.marked += 1,
                Ok(false) => {}
                Err(e) => run.errors.push(format!("could not mark {key}: {e}")),
            }
        }
        run.errors.truncate(MAX_ERRORS);
        tracing::info!(
            fleet = %fleet.name, desired = p.desired, unmarked = run.unmarked, created = run.created,
            marked = run.marked, deferred = run.deferred, failed = run.failed,
            limited_by = p.limited_by.unwrap_or("-"), "autoscaled"
        );
    }

    async fn create_one(&self, fleet: &Fleet, stop: &AtomicBool) -> Created {
        if stop.load(Ordering::Relaxed) {
            return Created::Deferred;
        }
        let capacity = crate::fleet::allocation::Capacity {
            max_sessions: fleet.max_sessions,
            labels: fleet.labels.clone(),
            reservations: Vec::new(),
            ports: fleet.spec.ports(),
            heartbeat_at: None,
        };
        let mut rng = fastrand::Rng::new();
        // A name taken (by chance, or by a group outside gamefleet) gets another.
        for _ in 0..3 {
            let key = match fleet.name.server_name(&mut rng) {
                Ok(n) => GroupKey::new(fleet.resource_group.clone(), n),
                Err(e) => return Created::Failed(e.to_string()),
            };
            match self.create_with(&key, &fleet.spec, capacity.clone()).await {
                Ok(_) => return Created::Done,
                Err(OpsError::Conflict { .. }) => continue,
                Err(OpsError::Platform(PlatformError::Throttled { .. })) => {
                    stop.store(true, Ordering::Relaxed);
                    return Created::Deferred;
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    tracing::warn!(fleet = %fleet.name, group = %key, error = %e, "autoscaler's Create failed");
                    return Created::Failed(format!("Create {key}: {e}"));
                }
            }
        }
        Created::Failed("three server names in a row were taken".into())
    }

    /// Mark `key` if it is still Running with nobody on it and nothing
    /// reserved; `false` when it no longer is (left alone).
    async fn mark_if_idle(&self, key: &GroupKey) -> Result<bool, OpsError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let Some(current) = self.store.get(key).await? else {
                return Ok(false);
            };
            let r = &current.value;
            let now = crate::fleet::record::now();
            if r.state != GroupState::Running
                || !r.active_sessions.is_zero()
                || r.capacity.reserved(now) > 0
            {
                return Ok(false);
            }
            let next = r.moved_to(GroupState::MarkedForDeletion, now);
            match self.store.replace(&next, &current.etag).await {
                Ok(_) => {
                    tracing::info!(group = %key, "idle server marked by the autoscaler");
                    return Ok(true);
                }
                Err(StoreError::PreconditionFailed) => continue,
                Err(StoreError::NotFound) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }

    /// Write the run's outcome and drop the claim (re-reading the row when the
    /// definition changed meanwhile, so a PUT during the tick is kept).
    async fn release(
        &self,
        mut claimed: StoredFleet,
        mut etag: crate::fleet::Etag,
        run: &FleetRun,
        now: DateTime<Utc>,
    ) {
        let up = run.unmarked + run.created > 0;
        let s = &mut claimed.status;
        s.claim_until = None;
        if up {
            s.last_scale_up = Some(now);
        }
        if run.marked > 0 {
            s.last_scale_down = Some(now);
        }
        if run.failed > 0 {
            s.create_failures = s.create_failures.saturating_add(1);
            let wait = FleetStatus::backoff(s.create_failures);
            s.backoff_until = Some(
                now + chrono::Duration::from_std(wait)
                    .unwrap_or_else(|_| chrono::Duration::minutes(15)),
            );
            s.last_error = run.errors.last().cloned();
        } else if run.created > 0 {
            s.create_failures = 0;
            s.backoff_until = None;
        }
        let mut report = json!(run);
        report["at"] = json!(time(now));
        s.last_run = Some(report);
        for _ in 0..MAX_CONFLICT_RETRIES {
            match self.fleets.replace(&claimed, &etag).await {
                Ok(_) => return,
                Err(StoreError::PreconditionFailed) => {
                    match self.fleets.get(&claimed.fleet.name).await {
                        // Changed by a PUT during the tick: its definition, our status.
                        Ok(Some(fresh)) => {
                            claimed.fleet = fresh.value.fleet;
                            etag = fresh.etag;
                        }
                        Ok(None) => return,
                        Err(e) => {
                            tracing::error!(fleet = %claimed.fleet.name, error = %e, "could not write the autoscaler's status");
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(fleet = %claimed.fleet.name, error = %e, "could not write the autoscaler's status; the claim lapses by itself");
                    return;
                }
            }
        }
    }
}
