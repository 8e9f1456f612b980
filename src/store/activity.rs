//! [`TableActivity`]: the recent GC and autoscaler actions in a table of
//! their own beside the fleet table (`<FLEET_TABLE>Activity`), created on
//! first write, read by every instance (the dashboard).
//!
//! One partition, `activity`; RowKey = the time inverted (13 digits of
//! milliseconds before 2286) and a random suffix, so a query reads the
//! newest first and `$top` stops it after the few the dashboard shows. Each
//! write then reads the newest [`KEEP`] + [`PRUNE`] and deletes those past
//! [`KEEP`]: the table stays at about [`KEEP`] rows, whatever the rate.
//! Columns: `At` (Edm.DateTime), `Source` (`gc`, `autoscale`), `Summary`,
//! `Report` (the run's report as JSON, cut to [`MAX_REPORT`] characters).

use super::documents::Documents;
use super::row::Entity;
use crate::ports::{ActivityEntry, ActivityLog, StoreError};
use async_trait::async_trait;
use azure_data_tables::clients::TableClient;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

const PARTITION: &str = "activity";
/// Entries kept.
pub const KEEP: usize = 50;
/// Old entries one write deletes at most.
const PRUNE: usize = 20;
/// `Report` is cut to this many characters (a property holds 64 KiB).
const MAX_REPORT: usize = 30_000;
/// Milliseconds since 1970 of 2286-11-20: the inverted times keep 13 digits.
const LAST_MS: i64 = 9_999_999_999_999;

#[derive(Debug, Clone)]
pub struct TableActivity {
    rows: Documents,
}

/// The RowKey of an entry at `at`: newer sorts first; `suffix` tells two
/// entries of the same millisecond apart.
fn row_key(at: DateTime<Utc>, suffix: u32) -> String {
    let inverted = (LAST_MS - at.timestamp_millis()).clamp(0, LAST_MS);
    format!("{inverted:013}-{suffix:08x}")
}

fn filter() -> String {
    format!("PartitionKey eq '{PARTITION}'")
}

fn to_entity(e: &ActivityEntry, suffix: u32) -> Value {
    let mut report = e.report.to_string();
    if report.len() > MAX_REPORT {
        report = json!({"truncated": true}).to_string();
    }
    json!({
        "PartitionKey": PARTITION,
        "RowKey": row_key(e.at, suffix),
        "At": e.at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "At@odata.type": "Edm.DateTime",
        "Source": e.source,
        "Summary": e.summary,
        "Report": report,
    })
}

fn from_entity(e: &Entity) -> Option<ActivityEntry> {
    let at = e
        .get("At")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())?
        .with_timezone(&Utc);
    let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(ActivityEntry {
        at,
        source: text("Source")?,
        summary: text("Summary").unwrap_or_default(),
        report: text("Report")
            .and_then(|r| serde_json::from_str(&r).ok())
            .unwrap_or(Value::Null),
    })
}

impl TableActivity {
    pub(crate) fn new(table: TableClient) -> Self {
        Self {
            rows: Documents::new(table),
        }
    }

    /// Every row stored (tests: the pruning holds the table at [`KEEP`]).
    #[doc(hidden)]
    pub async fn stored(&self) -> Result<usize, StoreError> {
        Ok(self.rows.query(filter()).await?.len())
    }

    /// Delete the entries past the newest [`KEEP`] (at most [`PRUNE`] of them).
    async fn prune(&self) -> Result<(), StoreError> {
        let rows = self.rows.query_top(filter(), (KEEP + PRUNE) as u32).await?;
        for (e, _) in rows.iter().skip(KEEP) {
            if let Some(rk) = e.get("RowKey").and_then(Value::as_str) {
                // Gone already (another instance pruned it): as good.
                self.rows.delete(PARTITION, rk).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ActivityLog for TableActivity {
    async fn record(&self, entry: &ActivityEntry) -> Result<(), StoreError> {
        self.rows
            .insert(&to_entity(entry, fastrand::u32(..)))
            .await?;
        self.prune().await
    }

    async fn recent(&self, limit: usize) -> Result<Vec<ActivityEntry>, StoreError> {
        let n = limit.min(KEEP) as u32;
        let rows = self.rows.query_top(filter(), n).await?;
        Ok(rows
            .iter()
            .filter_map(|(e, _)| {
                let parsed = from_entity(e);
                if parsed.is_none() {
                    let row = e.get("RowKey").and_then(Value::as_str).unwrap_or_default();
                    tracing::warn!(row, "skipping an activity row it cannot read");
                }
                parsed
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn newer_entries_sort_first() {
        let old = row_key(at("2026-12-03T12:00:00.000Z"), 0xffff_ffff);
        let new = row_key(at("2026-12-03T12:00:00.001Z"), 0);
        assert!(new < old, "{new} before {old}");
        assert_eq!(new.len(), 22);
        assert_eq!(
            row_key(at("1970-01-01T00:00:00Z"), 1),
            "9999999999999-00000001"
        );
    }

    #[test]
    fn an_entry_reads_back() {
        let e = ActivityEntry {
            at: at("2026-12-03T12:00:00.123Z"),
            source: "gc".into(),
            summary: "deleted 2".into(),
            report: json!({"deleted": 2}),
        };
        let Value::Object(row) = to_entity(&e, 7) else {
            panic!("an object")
        };
        assert_eq!(from_entity(&row), Some(e.clone()));
        let big = ActivityEntry {
            report: json!("x".repeat(MAX_REPORT)),
            ..e
        };
        let Value::Object(row) = to_entity(&big, 7) else {
            panic!("an object")
        };
        assert_eq!(
            from_entity(&row).unwrap().report,
            json!({"truncated": true})
        );
    }
}
