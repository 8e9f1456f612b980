//! Schedules, the application: create or replace, list, delete, and `tick`,
//! which applies every due schedule through the lifecycle core
//! ([`crate::ops::power::PowerHub`]), exactly as a Power request would.
//!
//! **Claim.** Each fire is applied once across instances. A run first claims
//! it on the schedule's row (`claimFire=F, claimUntil=now+lease`, conditional
//! on the ETag it read), then applies it, then writes `lastFire=F` and the
//! outcome (conditional on the claim's ETag). A lost claim (412) means another
//! instance won: skipped, no error. While a lease holds nobody else applies;
//! a run that died after its claim is taken over once the lease expired,
//! because `lastFire` is still before `F`. The lease is the request's longest
//! wait plus [`LEASE_MARGIN`].
//!
//! **Enforced** schedules run the same start or stop again on every tick
//! inside their current period: the lifecycle core's decision table acts only
//! where a target is not in the target state. **retainRunning** stops skip a
//! resource that runs although the last schedule action on it was not a start
//! (it was started by hand); every applied start or stop is remembered per
//! resource for that.

use super::power::{parse_request, Defaults, PowerRequest, Target};
use super::App;
use crate::fleet::Versioned;
use crate::lifecycle::{
    Action, Command, Member, Outcome, OutcomeKind, Phase, PowerError, SystemClock,
};
use crate::ops::power::Executed;
use crate::ports::{ResourceMark, StoreError, StoredSchedule};
use crate::schedule::{
    decide, next_report, Claim, Due, RunState, Schedule, ScheduleError, ScheduleName,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::str::FromStr;
use std::time::Duration;

/// Added to a request's longest wait to make a claim's lease.
pub const LEASE_MARGIN: Duration = Duration::from_secs(60);
/// Next fires shown per schedule.
pub const NEXT_SHOWN: usize = 5;

/// Why a schedule use case failed. Mapped to HTTP in `http::error`.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleOpsError {
    /// The schedule is malformed (the caller's): nothing was stored.
    #[error(transparent)]
    Invalid(#[from] ScheduleError),
    #[error("no schedule named {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const TARGETS: [&str; 4] = ["resource", "secretId", "resources", "selector"];

/// A schedule from a request body, its targets checked by the Power request
/// parser (the provider registry's id checks), so nothing odd is stored.
pub fn parse(body: &Value, defaults: &Defaults) -> Result<(Schedule, PowerRequest), ScheduleError> {
    let schedule = Schedule::parse(body)?;
    let req = request_for(&schedule, defaults)?;
    Ok((schedule, req))
}

/// The Power request a schedule hands to the lifecycle core.
pub fn request_for(s: &Schedule, defaults: &Defaults) -> Result<PowerRequest, ScheduleError> {
    let provider = match s.targets.get("provider") {
        Some(Value::String(p)) => p,
        None | Some(Value::Null) => {
            return Err(ScheduleError::new(
                "provider",
                format!(
                    "is missing: one of {}",
                    crate::cloud::registry::one_of(&super::power::Provider::names())
                ),
            ))
        }
        Some(other) => {
            return Err(ScheduleError::new(
                "provider",
                format!(
                    "must be a string, not {}",
                    crate::fleet::names::json_kind(other)
                ),
            ))
        }
    };
    if let Err(e) = super::power::Provider::from_str(provider.trim()) {
        return Err(ScheduleError::new("provider", e.to_string()));
    }
    let given: Vec<&str> = TARGETS
        .into_iter()
        .filter(|k| s.targets.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    let field = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err(ScheduleError::new(
                "resource",
                "is missing: give one of resource, secretId, resources or selector",
            ))
        }
        [first, ..] => {
            return Err(ScheduleError::new(
                *first,
                format!("give one of {}, not several", given.join(", ")),
            ))
        }
    };
    let mut body: Map<String, Value> = s.targets.clone();
    body.insert("action".into(), json!(s.action.as_str()));
    let defaults = Defaults {
        action: None,
        provider: None,
        target: None,
        settings: defaults.settings,
    };
    parse_request(&Value::Object(body), &defaults).map_err(|e| {
        // Option errors start with the option's name; the rest are the target's.
        let option = ["pollIntervalSeconds", "maxWaitSeconds", "wait", "type"]
            .into_iter()
            .find(|k| e.code != "InvalidResource" && e.message.starts_with(k));
        ScheduleError {
            field: option.unwrap_or(field).to_owned(),
            code: e.code,
            message: e.message,
        }
    })
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stored schedule as GET and POST show it: the schedule, its state, and
/// its next fires in its zone and in UTC.
pub fn view(stored: &StoredSchedule, now: DateTime<Utc>) -> Value {
    let mut v = stored.schedule.to_json();
    v["activeFrom"] = json!(time(stored.run.active_from));
    v["lastFire"] = json!(stored.run.last_fire.map(time));
    v["lastOutcome"] = stored.run.last_outcome.clone().unwrap_or(Value::Null);
    v["next"] = json!(next_report(&stored.schedule, now, NEXT_SHOWN).next);
    v
}

/// What one tick did with one schedule.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickEntry {
    pub name: String,
    /// `applied`, `enforced`, `skipped`, `retry` (a start or stop whose
    /// provider was unreachable: the fire stays due) or `failed`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fire: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Value>,
}

/// What one tick did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    pub at: String,
    /// Schedules read.
    pub schedules: usize,
    /// The schedules something was due for (idle ones are left out).
    pub runs: Vec<TickEntry>,
}

impl TickEntry {
    fn new(name: &ScheduleName, result: &'static str, fire: Option<DateTime<Utc>>) -> Self {
        Self {
            name: name.to_string(),
            result,
            fire: fire.map(time),
            reason: None,
            outcome: None,
        }
    }
    fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// A target left alone, and why.
#[derive(Debug, Clone, Serialize)]
struct Skipped {
    resource: String,
    result: &'static str,
    reason: String,
}

impl App {
    fn power_defaults(&self) -> &Defaults {
        &self.power.defaults
    }

    /// Create or replace the schedule named in `body`; it acts from its first
    /// fire after `now`, with no claim and no applied fire.
    pub async fn put_schedule(
        &self,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<Value, ScheduleOpsError> {
        let (schedule, _) = parse(body, self.power_defaults())?;
        let stored = StoredSchedule {
            schedule,
            run: RunState::fresh(now),
        };
        self.schedules.put(&stored).await?;
        tracing::info!(schedule = %stored.schedule.name, cron = stored.schedule.cron.as_str(), zone = stored.schedule.zone.name(), "schedule stored");
        Ok(view(&stored, now))
    }

    /// Every schedule, with its next fires after `now`.
    pub async fn list_schedules(&self, now: DateTime<Utc>) -> Result<Vec<Value>, ScheduleOpsError> {
        let rows = self.schedules.list().await?;
        Ok(rows.iter().map(|r| view(&r.value, now)).collect())
    }

    /// One schedule by name.
    pub async fn schedule(&self, name: &str) -> Result<StoredSchedule, ScheduleOpsError> {
        let parsed = ScheduleName::parse(name)?;
        self.schedules
            .get(&parsed)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| ScheduleOpsError::NotFound(name.to_owned()))
    }

    pub async fn delete_schedule(&self, name: &str) -> Result<(), ScheduleOpsError> {
        let parsed = ScheduleName::parse(name)?;
        if self.schedules.delete(&parsed).await? {
            tracing::info!(schedule = %parsed, "schedule deleted");
            Ok(())
        } else {
            Err(ScheduleOpsError::NotFound(name.to_owned()))
        }
    }

    /// Apply every schedule that is due at `now` (the timer passes the real
    /// clock; tests pass their own). Schedules run side by side.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, StoreError> {
        let rows = self.schedules.list().await?;
        let count = rows.len();
        // Fires first, then enforcement, so an enforced start sees the stop a
        // later schedule applied in this same tick (and yields to it).
        let (enforcing, firing): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| {
            matches!(
                decide(&r.value.schedule, &r.value.run, now),
                Due::Enforce(_)
            )
        });
        let mut runs = Vec::new();
        for phase in [firing, enforcing] {
            let done =
                futures::future::join_all(phase.into_iter().map(|r| self.tick_one(r, now))).await;
            runs.extend(done.into_iter().flatten());
        }
        Ok(TickReport {
            at: time(now),
            schedules: count,
            runs,
        })
    }

    async fn tick_one(
        &self,
        row: Versioned<StoredSchedule>,
        now: DateTime<Utc>,
    ) -> Option<TickEntry> {
        let stored = row.value;
        let name = stored.schedule.name.clone();
        let (fire, enforce) = match decide(&stored.schedule, &stored.run, now) {
            Due::Nothing => return None,
            Due::Leased { until } => {
                return Some(
                    TickEntry::new(&name, "skipped", stored.run.claim.map(|c| c.fire))
                        .because(format!("another run holds the claim until {}", time(until))),
                )
            }
            Due::Apply(f) => (f, false),
            Due::Enforce(f) => (f, true),
        };
        let req = match request_for(&stored.schedule, self.power_defaults()) {
            Ok(r) => r,
            Err(e) => {
                return Some(TickEntry::new(&name, "failed", Some(fire)).because(e.to_string()))
            }
        };
        let wait = if req.settings.wait {
            req.settings.max_wait
        } else {
            Duration::ZERO
        };
        let lease = chrono::Duration::from_std(wait + LEASE_MARGIN)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        let mut claimed = stored.clone();
        claimed.run.claim = Some(Claim {
            fire,
            until: now + lease,
        });
        let etag = match self.schedules.replace(&claimed, &row.etag).await {
            Ok(e) => e,
            Err(StoreError::PreconditionFailed) => {
                return Some(
                    TickEntry::new(&name, "skipped", Some(fire))
                        .because("another instance claimed this fire"),
                )
            }
            Err(e) => {
                tracing::error!(schedule = %name, error = %e, "could not claim a schedule's fire");
                return Some(TickEntry::new(&name, "failed", Some(fire)).because(e.to_string()));
            }
        };
        let (outcome, kind) = self
            .apply_schedule(&stored.schedule, &req, fire, enforce, now)
            .await;
        // Only a start or stop is safe to send again (the decision table skips
        // what is already there); a toggle or restart is the fire's, whatever it did.
        let retry = matches!(kind, Some(OutcomeKind::Error(PowerError::Unavailable(_))))
            && matches!(stored.schedule.action, Action::Start | Action::Stop);
        let mut done = claimed;
        done.run.claim = None;
        if !retry {
            done.run.last_fire = Some(fire);
        }
        done.run.last_outcome = Some(outcome.clone());
        if let Err(e) = self.schedules.replace(&done, &etag).await {
            // Replaced or deleted meanwhile (its state was reset), or storage failed:
            // the claim runs out and the new state decides.
            tracing::warn!(schedule = %name, error = %e, "the outcome of a fire was not recorded");
        }
        let result = match (retry, enforce) {
            (true, _) => "retry",
            (false, true) => "enforced",
            (false, false) => "applied",
        };
        let outcome_kind = kind.as_ref().map_or("noAction", OutcomeKind::as_str);
        if enforce && matches!(kind, None | Some(OutcomeKind::NoAction)) {
            // An enforced schedule looks on every tick; only a change is news.
            tracing::debug!(schedule = %name, fire = %time(fire), result, outcome = outcome_kind, "schedule run");
        } else {
            tracing::info!(schedule = %name, fire = %time(fire), result, outcome = outcome_kind, "schedule run");
        }
        let mut entry = TickEntry::new(&name, result, Some(fire));
        entry.outcome = Some(outcome);
        Some(entry)
    }

    /// Run the schedule's action through the lifecycle core; the outcome as
    /// JSON (with the targets left alone, and why) and its kind (`None` when
    /// every target was left alone).
    async fn apply_schedule(
        &self,
        s: &Schedule,
        req: &PowerRequest,
        fire: DateTime<Utc>,
        enforce: bool,
        now: DateTime<Utc>,
    ) -> (Value, Option<OutcomeKind>) {
        let mut req = req.clone();
        let mut skipped = Vec::new();
        if enforce || (s.retain_running && s.action == Action::Stop) {
            match self.left_alone(s, &req, fire, enforce).await {
                Ok((keep, left)) => {
                    skipped = left;
                    if keep.is_empty() {
                        let v = json!({"result": "noAction", "action": s.action,
                            "provider": req.provider.as_str(), "message": "every target was left alone",
                            "targets": [], "skipped": skipped});
                        return (v, None);
                    }
                    if skipped.is_empty() {
                        // Nothing left out: run the request as it is.
                    } else if keep.len() == 1
                        && !matches!(req.target, Target::Many(_) | Target::Selector(_))
                    {
                        req.target = Target::Resource(keep[0].resource.clone());
                    } else {
                        req.target = Target::Many(keep.into_iter().map(|m| m.resource).collect());
                    }
                }
                Err(e) => {
                    let v = json!({"result": "error", "action": s.action, "provider": req.provider.as_str(),
                        "message": format!("Failed to resolve the targets: {e}")});
                    return (v, Some(OutcomeKind::Error(e)));
                }
            }
        }
        let clock = SystemClock::default();
        let done = self.power.execute_any(&req, &clock, &mut |_| {}).await;
        self.remember(s, req.provider.as_str(), &done, now).await;
        let mut v = done.to_json();
        if !skipped.is_empty() {
            v["skipped"] = json!(skipped);
        }
        (v, Some(done.kind().clone()))
    }

    /// Split the targets into those to act on and those to leave alone:
    /// - enforcing: a resource another schedule acted on after this period
    ///   began belongs to that schedule now (a night stop ends a day's start);
    /// - a retaining stop: a running resource whose last schedule action was
    ///   not a start was started by hand.
    async fn left_alone(
        &self,
        s: &Schedule,
        req: &PowerRequest,
        fire: DateTime<Utc>,
        enforce: bool,
    ) -> Result<(Vec<Member>, Vec<Skipped>), PowerError> {
        let provider = req.provider.as_str();
        let members = self.power.members(req).await?;
        let retain = s.retain_running && s.action == Action::Stop;
        let power = if retain {
            Some(self.power.provider(req.provider).await?)
        } else {
            None
        };
        let mut keep = Vec::new();
        let mut left = Vec::new();
        for m in members {
            let mark = self.schedules.last_action(provider, &m.resource).await;
            let skip = |reason: String| Skipped {
                resource: m.resource.clone(),
                result: "skipped",
                reason,
            };
            if enforce {
                if let Ok(Some(mk)) = &mark {
                    if mk.schedule != s.name.as_str() && mk.at > fire {
                        left.push(skip(format!(
                            "enforced: schedule {:?} applied a {} at {}, after this period began",
                            mk.schedule,
                            mk.action,
                            time(mk.at)
                        )));
                        continue;
                    }
                }
            }
            if let Some(power) = &power {
                let running =
                    matches!(power.observe(&m.resource).await, Ok(o) if o.phase == Phase::Running);
                if running {
                    match &mark {
                        Ok(Some(mk)) if mk.action == Action::Start => {}
                        Ok(Some(mk)) => {
                            left.push(skip(format!(
                                "retainRunning: running, but the last schedule action on it was a {} by {:?} at {}: started by hand",
                                mk.action, mk.schedule, time(mk.at)
                            )));
                            continue;
                        }
                        Ok(None) => {
                            left.push(skip(
                                "retainRunning: running, and no schedule started it: started by hand".to_owned(),
                            ));
                            continue;
                        }
                        // Cannot tell: leave it running rather than stop what may be someone's.
                        Err(e) => {
                            left.push(skip(format!(
                                "retainRunning: the last schedule action could not be read ({e})"
                            )));
                            continue;
                        }
                    }
                }
            }
            keep.push(m);
        }
        Ok((keep, left))
    }

    /// Remember, per resource, the start or stop this schedule applied (or found done).
    async fn remember(&self, s: &Schedule, provider: &str, done: &Executed, now: DateTime<Utc>) {
        let outcomes: Vec<&Outcome> = match done {
            Executed::One(o) => vec![o],
            Executed::Set(set) => set.members.iter().map(|(_, o)| o).collect(),
        };
        for o in outcomes {
            let applied = match (&o.kind, o.command, s.action) {
                (OutcomeKind::Succeeded | OutcomeKind::Accepted, Some(Command::Start), _) => {
                    Action::Start
                }
                (OutcomeKind::Succeeded | OutcomeKind::Accepted, Some(Command::Stop), _) => {
                    Action::Stop
                }
                (OutcomeKind::NoAction, None, a @ (Action::Start | Action::Stop)) => a,
                _ => continue,
            };
            if o.resource.is_empty() {
                continue;
            }
            let mark = ResourceMark {
                action: applied,
                schedule: s.name.to_string(),
                at: now,
            };
            if let Err(e) = self
                .schedules
                .record_action(provider, &o.resource, &mark)
                .await
            {
                tracing::warn!(schedule = %s.name, resource = %o.resource, error = %e, "could not remember the schedule's last action on a resource");
            }
        }
    }
}
