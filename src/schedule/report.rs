//! The next fire times of a schedule, in its zone and in UTC: what
//! `GET /api/Schedules` shows and what the CLI's `schedule next` prints.

use super::Schedule;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::fmt;

/// One coming fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextFire {
    /// In the schedule's zone, with its offset (`2026-03-29T03:00:00+02:00`).
    pub local: String,
    /// The same instant in UTC (`2026-03-29T01:00:00Z`).
    pub utc: String,
}

/// A schedule's next fires after a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NextReport {
    pub name: String,
    pub cron: String,
    pub time_zone: String,
    pub enabled: bool,
    pub next: Vec<NextFire>,
}

/// The next `n` fires of `schedule` after `now` (none when it is disabled).
pub fn next_report(schedule: &Schedule, now: DateTime<Utc>, n: usize) -> NextReport {
    let next = if schedule.enabled {
        schedule
            .next_fires(now, n)
            .into_iter()
            .map(|t| NextFire {
                local: t.to_rfc3339_opts(SecondsFormat::Secs, true),
                utc: t
                    .with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
            })
            .collect()
    } else {
        Vec::new()
    };
    NextReport {
        name: schedule.name.to_string(),
        cron: schedule.cron.as_str().to_owned(),
        time_zone: schedule.zone.name().to_owned(),
        enabled: schedule.enabled,
        next,
    }
}

/// One line per fire: `2026-03-29 03:00:00 CEST (+02:00)  2026-03-29 01:00:00 UTC`.
impl fmt::Display for NextReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({} in {})", self.name, self.cron, self.time_zone)?;
        if !self.enabled {
            return writeln!(f, "  disabled: never fires");
        }
        for fire in &self.next {
            writeln!(f, "  {}  =  {}", fire.local, fire.utc)?;
        }
        Ok(())
    }
}
