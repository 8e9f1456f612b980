//! Schedules, the pure core: a cron expression in an IANA time zone, an action
//! of the lifecycle core and its targets, and the one rule that decides
//! **what should be true now** ([`decide`]). No I/O: the application
//! (`ops::schedules`) reads and writes the rows and hands the action to the
//! lifecycle core.
//!
//! - Time zones come from chrono-tz's compiled-in database, never the host's
//!   (Azure timers run in UTC); cron expressions are croner's (5 fields, or 6
//!   with seconds first; `L`, `#`, `W`, ranges, steps, names).
//! - DST: a fixed-time fire inside a spring-forward gap runs at the first valid
//!   time after the gap that day (`30 2 * * *` on 2026-03-29 in Berlin fires at
//!   03:00 CEST); in a fall-back fold it runs once, at the first pass. Fires are
//!   compared as instants (UTC), so nothing runs twice.
//! - The rule: a schedule acts from its first fire after `activeFrom` (when it
//!   was created or replaced); the fire that is due is the latest one at or
//!   before now and after both `activeFrom` and the last applied fire. Missed
//!   ticks apply only the latest period; a restart or several instances change
//!   nothing.

mod report;

pub use report::{next_report, NextFire, NextReport};

use crate::lifecycle::Action;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};
use std::fmt;

/// The keys a schedule passes to the Power request as they are: the provider,
/// exactly one target, and Power's polling options.
pub const TARGET_KEYS: [&str; 9] = [
    "provider",
    "resource",
    "secretId",
    "resources",
    "selector",
    "pollIntervalSeconds",
    "maxWaitSeconds",
    "wait",
    "type",
];

/// The schedule's own keys.
const OWN_KEYS: [&str; 7] = [
    "name",
    "cron",
    "timeZone",
    "action",
    "enforced",
    "retainRunning",
    "enabled",
];

/// Why a schedule was refused; `field` names the key that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScheduleError {
    /// The key of the schedule (`cron`, `timeZone`, `resources[1]` ...).
    pub field: String,
    /// A stable code: `InvalidSchedule`, or the Power parser's
    /// (`InvalidResource`, `InvalidRequest`) for the targets.
    pub code: &'static str,
    pub message: String,
}

impl ScheduleError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: "InvalidSchedule",
            message: message.into(),
        }
    }
}

/// A schedule's name: its key in the table (1–63 of `A-Z a-z 0-9 - _ .`,
/// starting with a letter or digit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScheduleName(String);

impl ScheduleName {
    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        let valid = (1..=63).contains(&s.len())
            && s.chars().all(ok_char)
            && s.starts_with(|c: char| c.is_ascii_alphanumeric());
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(ScheduleError::new(
                "name",
                format!("{s:?} is not a schedule name: 1 to 63 of letters, digits, '-', '_', '.', starting with a letter or digit"),
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScheduleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed cron expression with the text it came from.
#[derive(Debug, Clone)]
pub struct CronExpr {
    text: String,
    cron: croner::Cron,
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl CronExpr {
    /// 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds
    /// first); no year field. Day-of-month and day-of-week are OR-ed as in
    /// Vixie cron unless the day-of-week starts with `+`.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        use croner::parser::{CronParser, Seconds, Year};
        let text = text.trim();
        let fields = text.split_whitespace().count();
        if !text.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(ScheduleError::new(
                "cron",
                format!("{text:?} has {fields} fields; give 5 (minute hour day month weekday) or 6 (seconds first)"),
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(text)
            .map_err(|e| {
                ScheduleError::new("cron", format!("{text:?} is not a cron expression: {e}"))
            })?;
        Ok(Self {
            text: text.to_owned(),
            cron,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Parse an IANA zone name (`Europe/Berlin`, `UTC`) from the compiled-in database.
pub fn parse_zone(name: &str) -> Result<Tz, ScheduleError> {
    name.trim().parse::<Tz>().map_err(|_| {
        ScheduleError::new(
            "timeZone",
            format!("{name:?} is not an IANA time zone (such as \"Europe/Berlin\" or \"UTC\")"),
        )
    })
}

/// One schedule as a user wrote it, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: ScheduleName,
    pub cron: CronExpr,
    pub zone: Tz,
    /// start, stop, restart or toggle.
    pub action: Action,
    /// The provider, one target and Power's options, as Power takes them
    /// (checked by the application with the Power request parser).
    pub targets: Map<String, Value>,
    /// Apply again, inside the current period, when someone changed the state by hand.
    pub enforced: bool,
    /// A stop leaves alone what was started by hand.
    pub retain_running: bool,
    pub enabled: bool,
}

/// How far ahead a schedule must fire at least once (else it is refused).
const HORIZON_DAYS: i64 = 366 * 5;

impl Schedule {
    /// A schedule from its JSON object; the error names the key that is wrong.
    /// The targets are copied, not checked: see `ops::schedules::parse`.
    pub fn parse(body: &Value) -> Result<Self, ScheduleError> {
        let Value::Object(obj) = body else {
            return Err(ScheduleError::new(
                "body",
                format!(
                    "expected a JSON object like {{\"name\", \"cron\", \"timeZone\", \"action\", \"provider\", \"resource\"}}, not {}",
                    crate::fleet::names::json_kind(body)
                ),
            ));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !OWN_KEYS.contains(&k.as_str()) && !TARGET_KEYS.contains(&k.as_str()))
        {
            return Err(ScheduleError::new(
                k.clone(),
                format!(
                    "{k:?} is not a schedule key; the keys are {}, {}",
                    OWN_KEYS.join(", "),
                    TARGET_KEYS.join(", ")
                ),
            ));
        }
        let string = |k: &'static str| -> Result<&str, ScheduleError> {
            match obj.get(k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.as_str()),
                None | Some(Value::Null) => Err(ScheduleError::new(k, "is missing")),
                Some(Value::String(_)) => Err(ScheduleError::new(k, "must not be empty")),
                Some(other) => Err(ScheduleError::new(
                    k,
                    format!(
                        "must be a string, not {}",
                        crate::fleet::names::json_kind(other)
                    ),
                )),
            }
        };
        let flag = |k: &'static str, default: bool| -> Result<bool, ScheduleError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(other) => Err(ScheduleError::new(
                    k,
                    format!(
                        "must be true or false, not {}",
                        crate::fleet::names::json_kind(other)
                    ),
                )),
            }
        };
        let name = ScheduleName::parse(string("name")?)?;
        let cron = CronExpr::parse(string("cron")?)?;
        let zone = parse_zone(string("timeZone")?)?;
        let action = match string("action")?.parse::<Action>() {
            Ok(Action::Status) | Err(_) => {
                return Err(ScheduleError::new(
                    "action",
                    format!(
                    "{:?} is not a scheduled action; use 'start', 'stop', 'restart' or 'toggle'",
                    string("action")?
                ),
                ))
            }
            Ok(a) => a,
        };
        let enforced = flag("enforced", false)?;
        let retain_running = flag("retainRunning", false)?;
        let enabled = flag("enabled", true)?;
        if enforced && !matches!(action, Action::Start | Action::Stop) {
            return Err(ScheduleError::new(
                "enforced",
                format!("only a start or stop schedule can be enforced (a {action} applied again would not hold a state)"),
            ));
        }
        if retain_running && action != Action::Stop {
            return Err(ScheduleError::new(
                "retainRunning",
                format!("only a stop schedule can retain what runs, not a {action}"),
            ));
        }
        let targets: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| TARGET_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let schedule = Self {
            name,
            cron,
            zone,
            action,
            targets,
            enforced,
            retain_running,
            enabled,
        };
        // A pattern that never fires (`0 0 30 2 *`) is a mistake, not a schedule.
        let now = Utc::now();
        match schedule.next_fires(now, 1).first() {
            Some(t) if t.with_timezone(&Utc) - now <= ChronoDuration::days(HORIZON_DAYS) => {}
            _ => {
                return Err(ScheduleError::new(
                    "cron",
                    format!(
                        "{:?} never fires in the next {} years",
                        schedule.cron.as_str(),
                        HORIZON_DAYS / 366
                    ),
                ))
            }
        }
        Ok(schedule)
    }

    /// The schedule as it is stored and shown (camelCase, defaults filled in).
    pub fn to_json(&self) -> Value {
        let mut o = json!({
            "name": self.name.as_str(),
            "cron": self.cron.as_str(),
            "timeZone": self.zone.name(),
            "action": self.action,
            "enforced": self.enforced,
            "retainRunning": self.retain_running,
            "enabled": self.enabled,
        });
        if let Value::Object(m) = &mut o {
            m.extend(self.targets.clone());
        }
        o
    }

    /// The next `n` fire times after `after`, in the schedule's zone.
    pub fn next_fires(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Tz>> {
        self.cron
            .cron
            .iter_after(after.with_timezone(&self.zone))
            .take(n)
            .collect()
    }

    /// The latest fire at or before `now` (the start of the current period).
    /// croner's backward search follows the same DST rules as its forward one,
    /// so the fire applied is the fire `next_fires` showed (a property test
    /// holds them together).
    pub fn latest_fire(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .cron
            .find_previous_occurrence(&now.with_timezone(&self.zone), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// A claim on one fire: the instance that made it applies the fire until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub fire: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// What the store keeps about a schedule's runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// When the schedule was created or last replaced: it acts from its first fire after this.
    pub active_from: DateTime<Utc>,
    /// The last fire applied (or enforced).
    pub last_fire: Option<DateTime<Utc>>,
    pub claim: Option<Claim>,
    /// What the last run did, per target (as the application reported it).
    pub last_outcome: Option<Value>,
}

impl RunState {
    /// A new or replaced schedule: no fire applied, no claim.
    pub fn fresh(now: DateTime<Utc>) -> Self {
        Self {
            active_from: now,
            last_fire: None,
            claim: None,
            last_outcome: None,
        }
    }
}

/// What to do with a schedule at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing is due (disabled, or the current period was applied and is not enforced).
    Nothing,
    /// Apply this fire: the latest one not applied yet.
    Apply(DateTime<Utc>),
    /// The current period's fire was applied; check the targets and act again
    /// where someone changed them (enforced schedules).
    Enforce(DateTime<Utc>),
    /// Something is due, but another run holds a claim until `until`.
    Leased { until: DateTime<Utc> },
}

/// **What should be true now.** The fire that is due is the latest fire ≤
/// `now` that is after both `activeFrom` and the last applied fire; when the
/// current period was applied already, an enforced schedule checks it again.
/// A live claim (another instance applying) defers either.
pub fn decide(s: &Schedule, run: &RunState, now: DateTime<Utc>) -> Due {
    if !s.enabled {
        return Due::Nothing;
    }
    let Some(latest) = s.latest_fire(now) else {
        return Due::Nothing;
    };
    let floor = run
        .last_fire
        .map_or(run.active_from, |l| l.max(run.active_from));
    let wanted = if latest > floor {
        Due::Apply(latest)
    } else if s.enforced && run.last_fire == Some(latest) {
        Due::Enforce(latest)
    } else {
        Due::Nothing
    };
    match (wanted, run.claim) {
        (Due::Nothing, _) => Due::Nothing,
        (_, Some(c)) if c.until > now => Due::Leased { until: c.until },
        (w, _) => w,
    }
}

#[cfg(test)]
mod tests;
