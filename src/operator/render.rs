//! What the operator sees: List's item as a typed [`Server`], its table,
//! ages like `3h12m`, the per-item results of mark/unmark/drain/delete/gc, and
//! `show`'s summary of Details (ARM's container group).

use crate::fleet::capacity::{Health, Labels};
use crate::fleet::{ContainerGroupName, GroupKey, GroupState, ResourceGroup};
use chrono::{DateTime, Utc};
use comfy_table::{presets, CellAlignment, Table};
use serde::Deserialize;
use serde_json::Value;

/// One item of List's array, as far as the operator reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    pub resource_group: String,
    pub container_group_name: String,
    pub state: GroupState,
    #[serde(default)]
    pub public_ip: Option<String>,
    pub active_sessions: u32,
    pub location: String,
    #[serde(default)]
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub state_changed_at: DateTime<Utc>,
    #[serde(default)]
    pub max_sessions: Option<u32>,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub reserved: u32,
    #[serde(default)]
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    #[serde(default = "unknown")]
    pub health: Health,
}

fn unknown() -> Health {
    Health::Unknown
}

impl Server {
    /// List's items, typed; the error names the first item that is not a server.
    pub fn parse_all(items: &[Value]) -> Result<Vec<Server>, String> {
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                Server::deserialize(v).map_err(|e| {
                    format!("List's item {i} is not a server as gamefleet shows one: {e}")
                })
            })
            .collect()
    }

    /// Its key (resource groups compare case-insensitively, as in ARM).
    pub fn key(&self) -> Option<GroupKey> {
        Some(GroupKey::new(
            ResourceGroup::parse(&self.resource_group).ok()?,
            ContainerGroupName::parse(&self.container_group_name).ok()?,
        ))
    }

    pub fn name(&self) -> String {
        format!("{}/{}", self.resource_group, self.container_group_name)
    }

    /// `3/16`, or `3/-` without a maximum.
    pub fn sessions(&self) -> String {
        match self.max_sessions {
            Some(m) => format!("{}/{m}", self.active_sessions),
            None => format!("{}/-", self.active_sessions),
        }
    }
}

pub fn health(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::Unknown => "unknown",
        Health::Unhealthy => "unhealthy",
    }
}

/// A duration as its two largest units: `45s`, `12m5s`, `3h12m`, `2d3h`
/// (negative, from clock skew: `0s`).
pub fn age(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d{hours}h")
    } else if hours > 0 {
        format!("{hours}h{mins}m")
    } else if mins > 0 {
        format!("{mins}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// A plain column-aligned table (no borders: greppable, like kubectl's).
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(header.to_vec());
    t
}

/// Lines of `t` without the padding comfy-table puts at each line's ends.
pub fn lines(t: &Table) -> String {
    t.lines()
        .map(|l| {
            let l = l.strip_prefix(' ').unwrap_or(&l);
            l.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `fleet list`'s table.
pub fn servers(list: &[Server], now: DateTime<Utc>) -> Table {
    let mut t = table(&[
        "RESOURCE GROUP",
        "NAME",
        "STATE",
        "REGION",
        "SESSIONS",
        "RESERVED",
        "HEALTH",
        "AGE",
    ]);
    for s in list {
        t.add_row(vec![
            s.resource_group.clone(),
            s.container_group_name.clone(),
            s.state.as_str().to_owned(),
            s.location.clone(),
            s.sessions(),
            s.reserved.to_string(),
            health(s.health).to_owned(),
            age(now - s.created_at),
        ]);
    }
    for c in [4, 5] {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

/// `fleet show`'s summary: the List item, then Details (ARM's view).
pub fn show(s: &Server, details: Option<&Value>, now: DateTime<Utc>) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    let mut row = |k: &str, v: String| {
        t.add_row(vec![k.to_owned(), v]);
    };
    row("server", s.name());
    row(
        "state",
        format!(
            "{} (for {})",
            s.state.as_str(),
            age(now - s.state_changed_at)
        ),
    );
    if let Some(r) = &s.failure_reason {
        row("reason", r.clone());
    }
    row("region", s.location.clone());
    row(
        "public ip",
        s.public_ip.clone().unwrap_or_else(|| "-".into()),
    );
    row(
        "sessions",
        format!("{} (reserved {})", s.sessions(), s.reserved),
    );
    row(
        "health",
        match s.last_heartbeat_at {
            Some(at) => format!("{} (last report {} ago)", health(s.health), age(now - at)),
            None => format!("{} (never reported)", health(s.health)),
        },
    );
    if !s.labels.is_empty() {
        let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        row("labels", labels.join(","));
    }
    row(
        "created",
        format!(
            "{} ({} ago)",
            s.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            age(now - s.created_at)
        ),
    );
    if let Some(d) = details {
        for (k, v) in arm_summary(d) {
            row(&k, v);
        }
    }
    t
}

/// Details' ARM container group, in a few lines: provisioning, IP and
/// ports, each container's image, state and restarts.
pub fn arm_summary(d: &Value) -> Vec<(String, String)> {
    let p = &d["properties"];
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let mut out = vec![(
        "arm".to_owned(),
        format!(
            "provisioning {}, instance {}, {}",
            text(&p["provisioningState"]),
            text(&p["instanceView"]["state"]),
            text(&p["osType"])
        ),
    )];
    let ports: Vec<String> = p["ipAddress"]["ports"]
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .map(|x| format!("{}/{}", x["port"], text(&x["protocol"]).to_lowercase()))
                .collect()
        })
        .unwrap_or_default();
    if !ports.is_empty() {
        out.push((
            "arm ip".to_owned(),
            format!("{} {}", text(&p["ipAddress"]["ip"]), ports.join(" ")),
        ));
    }
    for c in p["containers"].as_array().into_iter().flatten() {
        let cp = &c["properties"];
        let current = &cp["instanceView"]["currentState"]["state"];
        let restarts = cp["instanceView"]["restartCount"]
            .as_u64()
            .map_or("-".into(), |n| n.to_string());
        out.push((
            format!("container {}", text(&c["name"])),
            format!(
                "{}, {}, restarts {restarts}",
                text(&cp["image"]),
                text(current)
            ),
        ));
    }
    out
}

/// `fleet gc --dry-run`'s table: each server GC would delete, and why.
pub fn candidates(found: &[super::gc::Candidate]) -> Table {
    let mut t = table(&["SERVER", "STATE", "SESSIONS", "RESERVED", "WHY"]);
    for c in found {
        t.add_row(vec![
            c.server.name(),
            c.server.state.as_str().to_owned(),
            c.server.sessions(),
            c.server.reserved.to_string(),
            c.reason.clone(),
        ]);
    }
    t
}

/// How one item of mark/unmark/drain/delete/gc ended.
#[derive(Debug, Clone)]
pub struct ItemResult {
    pub server: String,
    /// Done (`marked`, `deleted`, …) or not.
    pub ok: bool,
    /// What happened, in a word or two.
    pub result: String,
    pub detail: String,
    /// The API's answer or the failure, for `--json`.
    pub json: Value,
}

/// The per-item results table.
pub fn results(items: &[ItemResult]) -> Table {
    let mut t = table(&["SERVER", "RESULT", "DETAIL"]);
    for i in items {
        t.add_row(vec![i.server.clone(), i.result.clone(), i.detail.clone()]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_show_their_two_largest_units() {
        let d = chrono::TimeDelta::seconds;
        assert_eq!(age(d(45)), "45s");
        assert_eq!(age(d(12 * 60 + 5)), "12m5s");
        assert_eq!(age(d(3 * 3600 + 12 * 60 + 59)), "3h12m");
        assert_eq!(age(d(2 * 86_400 + 3 * 3600)), "2d3h");
        assert_eq!(age(d(-5)), "0s");
    }

    #[test]
    fn the_list_table_is_column_aligned() {
        let now = Utc::now();
        let item = |rg: &str, name: &str, max: Value| {
            serde_json::json!({"resourceGroup": rg, "containerGroupName": name, "state": "Running",
                "publicIp": null, "activeSessions": 3, "location": "westeurope",
                "createdAt": (now - chrono::TimeDelta::seconds(3 * 3600 + 12 * 60)).to_rfc3339(),
                "stateChangedAt": now.to_rfc3339(), "maxSessions": max, "labels": {}, "reserved": 0,
                "lastHeartbeatAt": null, "health": "unknown"})
        };
        let list = Server::parse_all(&[
            item("arena", "alpha", serde_json::json!(16)),
            item("games-eu", "b", Value::Null),
        ])
        .unwrap();
        let text = lines(&servers(&list, now));
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert!(rows[0].starts_with("RESOURCE GROUP"), "{text}");
        assert!(
            rows[1].contains("3/16") && rows[1].contains("3h12m"),
            "{text}"
        );
        assert!(rows[2].contains("3/-"), "{text}");
        // Every row's NAME column starts at the same place.
        let at = |r: &str, word: &str| r.find(word).unwrap();
        assert_eq!(at(rows[0], "NAME"), at(rows[1], "alpha"));
        assert_eq!(at(rows[0], "NAME"), at(rows[2], " b ") + 1);
    }
}
