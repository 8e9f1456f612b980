//! A server's capacity, pure: its slots (`maxSessions`), labels, the
//! reservations held on it and its health by its own reports. Part of the
//! record ([`super::record::GroupRecord`]); Allocate ([`super::allocation`])
//! and the autoscaler read it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most labels a server or a request may carry, and their lengths.
pub const MAX_LABELS: usize = 16;
pub const MAX_LABEL_LEN: usize = 63;
/// Most players one request may reserve, and the largest `maxSessions`.
pub const MAX_PLAYERS: u32 = 10_000;
/// Live reservations one server keeps at most (the row stays small).
pub const MAX_RESERVATIONS: usize = 200;

/// A server's labels (`{"mode": "ctf"}`).
pub type Labels = BTreeMap<String, String>;

/// Slots held for one request until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub request_id: String,
    pub players: u32,
    pub expires_at: DateTime<Utc>,
}

/// What a server offers to allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capacity {
    /// Slots of the server; `None` = unlimited.
    pub max_sessions: Option<u32>,
    pub labels: Labels,
    /// As stored; expired ones are ignored and dropped on the next write.
    pub reservations: Vec<Reservation>,
    /// The public ports Create asked for (`[{"protocol", "port"}]`).
    pub ports: Vec<Value>,
    /// The server's own last report (ReportSessions is its heartbeat;
    /// SetSessions from the matchmaker is not). `None` = never reported.
    pub heartbeat_at: Option<DateTime<Utc>>,
}

/// Whether a server is alive by its own reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Health {
    /// Reported within `HEALTH_TIMEOUT` (or health is not checked).
    Healthy,
    /// Never reported: nothing to judge by (the original's images report only
    /// when a player joins or leaves).
    Unknown,
    /// Reported once, then silent for longer than `HEALTH_TIMEOUT`.
    Unhealthy,
}

impl Capacity {
    /// Health at `now` with `timeout` (`None` = not checked).
    pub fn health(&self, now: DateTime<Utc>, timeout: Option<std::time::Duration>) -> Health {
        match (self.heartbeat_at, timeout) {
            (None, _) => Health::Unknown,
            (Some(_), None) => Health::Healthy,
            (Some(at), Some(t)) => {
                let silent = now.signed_duration_since(at).to_std().unwrap_or_default();
                if silent > t {
                    Health::Unhealthy
                } else {
                    Health::Healthy
                }
            }
        }
    }
}

impl Capacity {
    /// Slots held by reservations that have not expired at `now`.
    pub fn reserved(&self, now: DateTime<Utc>) -> u32 {
        self.live(now).map(|r| r.players).sum()
    }

    pub fn live(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Reservation> {
        self.reservations.iter().filter(move |r| r.expires_at > now)
    }

    /// Free slots with `active` sessions (`None` = unlimited).
    pub fn free(&self, active: u32, now: DateTime<Utc>) -> Option<u32> {
        self.max_sessions
            .map(|m| m.saturating_sub(active.saturating_add(self.reserved(now))))
    }

    /// The live reservation of `request_id`, if any.
    pub fn find(&self, request_id: &str, now: DateTime<Utc>) -> Option<&Reservation> {
        self.live(now).find(|r| r.request_id == request_id)
    }

    /// This capacity with `r` added and the expired reservations dropped.
    pub fn with(&self, r: Reservation, now: DateTime<Utc>) -> Capacity {
        let mut reservations: Vec<Reservation> = self.live(now).cloned().collect();
        reservations.push(r);
        Capacity {
            reservations,
            ..self.clone()
        }
    }
}
