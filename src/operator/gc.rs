//! `gamefleet fleet gc`: what GC would delete now and why, decided by GC's
//! own rules ([`crate::fleet::gc::decide`], [`crate::fleet::gc::marks_unhealthy`])
//! applied to what List shows. The deployment's `FLEET_FAILED_TTL` and
//! `DELETE_LEASE` are not in any answer: the CLI takes them as flags, with the
//! same defaults.

use super::render::{age, Server};
use crate::fleet::gc::{decide, marks_unhealthy, GcAction, GcFacts};
use crate::fleet::GroupState;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// One server GC would delete.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub server: Server,
    /// `collect`, `resume` (a stale Deleting claim) or `markAndCollect` (unhealthy and empty).
    pub action: &'static str,
    pub reason: String,
}

impl Candidate {
    /// For `--json`: the server, the action and the reason.
    pub fn to_json(&self) -> serde_json::Value {
        let s = &self.server;
        serde_json::json!({"resourceGroup": s.resource_group,
            "containerGroupName": s.container_group_name, "state": s.state,
            "activeSessions": s.active_sessions, "reserved": s.reserved,
            "action": self.action, "reason": self.reason})
    }
}

/// The servers of `list` GC would delete at `now`, in List's order.
pub fn candidates(
    list: &[Server],
    now: DateTime<Utc>,
    failed_ttl: Duration,
    lease: Duration,
) -> Vec<Candidate> {
    list.iter()
        .filter_map(|s| {
            let facts = GcFacts {
                state: s.state,
                state_changed_at: s.state_changed_at,
                held: s.active_sessions.saturating_add(s.reserved),
            };
            let since = age(now - s.state_changed_at);
            let (action, reason) = if marks_unhealthy(&facts, s.health) {
                (
                    "markAndCollect",
                    "unhealthy (silent past HEALTH_TIMEOUT) and empty: GC marks it, then deletes it"
                        .to_owned(),
                )
            } else {
                match decide(&facts, now, failed_ttl, lease) {
                    GcAction::Collect if s.state == GroupState::Failed => (
                        "collect",
                        format!(
                            "Failed for {since} (kept {}), no sessions",
                            humantime::format_duration(failed_ttl)
                        ),
                    ),
                    GcAction::Collect => (
                        "collect",
                        format!("marked for deletion {since} ago, no sessions or reservations"),
                    ),
                    GcAction::Resume => (
                        "resume",
                        format!(
                            "Deleting for {since}, past DELETE_LEASE ({}): GC deletes it again",
                            humantime::format_duration(lease)
                        ),
                    ),
                    GcAction::Skip(_) => return None,
                }
            };
            Some(Candidate {
                server: s.clone(),
                action,
                reason,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server(state: &str, sessions: u32, reserved: u32, health: &str, ago: i64) -> Server {
        let t = (Utc::now() - chrono::TimeDelta::seconds(ago)).to_rfc3339();
        serde_json::from_value(json!({"resourceGroup": "rg", "containerGroupName": format!("{state}-{sessions}-{reserved}-{health}-{ago}").to_lowercase(),
            "state": state, "activeSessions": sessions, "reserved": reserved, "health": health,
            "location": "westeurope", "createdAt": t, "stateChangedAt": t}))
        .unwrap()
    }

    #[test]
    fn only_what_gc_would_delete_is_a_candidate() {
        let list = [
            server("MarkedForDeletion", 0, 0, "unknown", 5),
            server("MarkedForDeletion", 2, 0, "unknown", 5),
            server("MarkedForDeletion", 0, 1, "unknown", 5),
            server("Running", 0, 0, "healthy", 5),
            server("Running", 0, 0, "unhealthy", 5),
            server("Running", 1, 0, "unhealthy", 5),
            server("Failed", 0, 0, "unknown", 60),
            server("Failed", 0, 0, "unknown", 7200),
            server("Deleting", 0, 0, "unknown", 10),
            server("Deleting", 0, 0, "unknown", 600),
            server("Creating", 0, 0, "unknown", 99_999),
        ];
        let got: Vec<(String, &str)> = candidates(
            &list,
            Utc::now(),
            Duration::from_secs(3600),
            Duration::from_secs(50),
        )
        .into_iter()
        .map(|c| (c.server.container_group_name, c.action))
        .collect();
        assert_eq!(
            got,
            [
                ("markedfordeletion-0-0-unknown-5".to_owned(), "collect"),
                ("running-0-0-unhealthy-5".to_owned(), "markAndCollect"),
                ("failed-0-0-unknown-7200".to_owned(), "collect"),
                ("deleting-0-0-unknown-600".to_owned(), "resume"),
            ]
        );
    }
}
