//! The activity log the dashboard shows: what GC and the autoscaler did, in
//! a line each, written at the end of a run that did something (deleted,
//! marked, created, unmarked, failed) and never for a quiet one. The log
//! lives in the table ([`crate::ports::ActivityLog`]), so every instance
//! shows the same. Writing it is best effort: a failure is logged and never
//! fails the run.

use super::fleets::AutoscaleReport;
use super::gc::GcReport;
use super::App;
use crate::ports::ActivityEntry;
use chrono::{DateTime, Utc};

/// `n what`, or nothing when `n` is 0.
fn part(n: usize, what: &str) -> Option<String> {
    (n > 0).then(|| format!("{n} {what}"))
}

/// A GC run in a line, `None` when it did nothing worth showing.
pub fn gc_summary(r: &GcReport) -> Option<String> {
    let mut parts: Vec<String> = [
        part(r.deleted, "deleted"),
        part(r.pending, "deleting (ARM not done)"),
        part(r.unhealthy_marked, "unhealthy marked"),
        part(r.failed, "failed"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(c) = &r.reconcile {
        parts.extend(
            [
                part(c.adopted, "adopted from ARM"),
                part(c.removed, "rows of vanished groups removed"),
                part(c.settled, "stuck Creating settled"),
            ]
            .into_iter()
            .flatten(),
        );
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// An Autoscale tick in a line (`fleet: what`; …), `None` when no fleet
/// was scaled and none failed.
pub fn autoscale_summary(r: &AutoscaleReport) -> Option<String> {
    let fleets: Vec<String> = r
        .runs
        .iter()
        .filter_map(|run| {
            let parts: Vec<String> = [
                part(run.created as usize, "created"),
                part(run.unmarked as usize, "unmarked"),
                part(run.marked as usize, "marked"),
                part(run.failed as usize, "create failed"),
            ]
            .into_iter()
            .flatten()
            .collect();
            let errors = run.result == "failed" && parts.is_empty();
            if parts.is_empty() && !errors {
                return None;
            }
            let what = if errors {
                format!("failed: {}", run.errors.first().map_or("", String::as_str))
            } else {
                parts.join(", ")
            };
            Some(format!("{}: {what}", run.fleet))
        })
        .collect();
    (!fleets.is_empty()).then(|| fleets.join("; "))
}

impl App {
    /// Log a GC run that did something.
    pub(crate) async fn record_gc(&self, report: &GcReport, at: DateTime<Utc>) {
        if let Some(summary) = gc_summary(report) {
            let report = serde_json::to_value(report).unwrap_or_default();
            self.record_activity("gc", summary, report, at).await;
        }
    }

    /// Log an Autoscale tick that did something.
    pub(crate) async fn record_autoscale(&self, report: &AutoscaleReport, at: DateTime<Utc>) {
        if let Some(summary) = autoscale_summary(report) {
            let report = serde_json::to_value(report).unwrap_or_default();
            self.record_activity("autoscale", summary, report, at).await;
        }
    }

    async fn record_activity(
        &self,
        source: &str,
        summary: String,
        report: serde_json::Value,
        at: DateTime<Utc>,
    ) {
        let entry = ActivityEntry {
            at,
            source: source.to_owned(),
            summary,
            report,
        };
        if let Err(e) = self.activity.record(&entry).await {
            tracing::warn!(source, error = %e, "could not write the activity log; the run itself is done");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::fleets::FleetRun;

    #[test]
    fn a_quiet_gc_run_is_not_logged() {
        let quiet = GcReport {
            examined: 4,
            skipped: 3,
            kept: 1,
            allocations_swept: 2,
            ..Default::default()
        };
        assert_eq!(gc_summary(&quiet), None);
        let busy = GcReport {
            deleted: 2,
            unhealthy_marked: 1,
            failed: 1,
            ..quiet
        };
        assert_eq!(
            gc_summary(&busy).as_deref(),
            Some("2 deleted, 1 unhealthy marked, 1 failed")
        );
    }

    #[test]
    fn an_autoscale_tick_names_the_fleets_that_moved() {
        let run = |fleet: &str, result: &'static str| FleetRun {
            fleet: fleet.into(),
            result,
            ..FleetRun::default()
        };
        let mut report = AutoscaleReport {
            at: "2026-12-03T12:00:00.000Z".into(),
            fleets: 3,
            runs: vec![run("eu", "steady"), run("us", "skipped")],
        };
        assert_eq!(autoscale_summary(&report), None);
        report.runs[0].created = 2;
        report.runs[0].result = "scaled";
        let mut failed = run("asia", "failed");
        failed
            .errors
            .push("could not count the servers: down".into());
        report.runs.push(failed);
        assert_eq!(
            autoscale_summary(&report).as_deref(),
            Some("eu: 2 created; asia: failed: could not count the servers: down")
        );
    }
}
