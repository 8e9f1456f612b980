//! State of one Huawei simulator: servers, batch jobs, CCE clusters, keys, faults
//! and the request log.
//!
//! Nothing runs in the background: an action stores, per server, when its
//! sub-job leaves `INIT` and when it ends; statuses at any moment are computed
//! from that, and `settle` folds a finished action into the server's status
//! before every read or write.

use super::types::{HuaweiFaultRule, HuaweiKey, HuaweiOp, HuaweiRequestRecord, HuaweiServer};
use super::HuaweiSimConfig;
use crate::faults::{Faults, RequestLog};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The `error_code` of a sub-job made to fail with `fail_next_action` (invented:
/// Huawei's codes for a failed power action were not found).
pub(crate) const SIM_FAIL_CODE: &str = "Ecs.9999";

pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn utc_at(base_utc: DateTime<Utc>, base: Instant, at: Instant) -> DateTime<Utc> {
    base_utc + chrono::Duration::from_std(at.saturating_duration_since(base)).unwrap_or_default()
}

/// A 32-hex id, as ECS job ids look.
pub(crate) fn hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A power action in progress on one server.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub task_state: &'static str,
    pub target_status: &'static str,
    /// When the sub-job leaves `INIT` (the task state shows from then on).
    pub starts: Instant,
    pub ends: Instant,
    pub fails: bool,
}

pub(crate) struct Server {
    pub id: String,
    pub name: String,
    pub status: String,
    pub task: Option<Task>,
    /// `fail_reason` of the next action's sub-job.
    pub fail_next: Option<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

fn vm_state(status: &str) -> String {
    match status {
        "ACTIVE" => "active".to_string(),
        "SHUTOFF" => "stopped".to_string(),
        "BUILD" => "building".to_string(),
        "SHELVED_OFFLOADED" => "shelved_offloaded".to_string(),
        other => other.to_ascii_lowercase(),
    }
}

impl Server {
    pub fn settle(&mut self, now: Instant) {
        if let Some(t) = &self.task {
            if now >= t.ends {
                if !t.fails {
                    self.status = t.target_status.to_string();
                }
                self.updated = Utc::now();
                self.task = None;
            }
        }
    }

    pub fn task_state(&self, now: Instant) -> Option<&'static str> {
        self.task
            .as_ref()
            .filter(|t| now >= t.starts && now < t.ends)
            .map(|t| t.task_state)
    }

    pub fn view(&self, now: Instant) -> HuaweiServer {
        HuaweiServer {
            id: self.id.clone(),
            name: self.name.clone(),
            status: self.status.clone(),
            task_state: self.task_state(now).map(str::to_string),
            vm_state: vm_state(&self.status),
        }
    }

    pub fn render(&self, now: Instant, project_id: &str) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "OS-EXT-STS:task_state": self.task_state(now),
            "OS-EXT-STS:vm_state": vm_state(&self.status),
            "OS-EXT-STS:power_state": if self.status == "ACTIVE" { 1 } else { 4 },
            "tenant_id": project_id,
            "flavor": { "id": "s6.small.1", "name": "s6.small.1", "vcpus": "1", "ram": "1024" },
            "metadata": {},
            "tags": [],
            "locked": false,
            "created": self.created.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "updated": self.updated.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        })
    }
}

pub(crate) struct SubJob {
    pub id: String,
    pub server_id: String,
    pub starts: Instant,
    pub ends: Instant,
    /// `(error_code, fail_reason)` if it ends in `FAIL`.
    pub failure: Option<(String, String)>,
}

impl SubJob {
    pub fn status(&self, now: Instant) -> &'static str {
        if now < self.starts {
            "INIT"
        } else if now < self.ends {
            "RUNNING"
        } else if self.failure.is_some() {
            "FAIL"
        } else {
            "SUCCESS"
        }
    }
}

pub(crate) struct Job {
    pub id: String,
    /// `batchStartServers` / `batchStopServers`.
    pub job_type: &'static str,
    /// `startServer` / `stopServer`.
    pub sub_job_type: &'static str,
    pub begin: Instant,
    pub begin_utc: DateTime<Utc>,
    pub sub_jobs: Vec<SubJob>,
}

impl Job {
    /// INIT while every sub-job is, RUNNING while any is, then FAIL if any
    /// failed, else SUCCESS.
    pub fn status(&self, now: Instant) -> &'static str {
        let all: Vec<&str> = self.sub_jobs.iter().map(|s| s.status(now)).collect();
        if all.iter().all(|s| *s == "INIT") {
            "INIT"
        } else if all.iter().any(|s| matches!(*s, "INIT" | "RUNNING")) {
            "RUNNING"
        } else if all.contains(&"FAIL") {
            "FAIL"
        } else {
            "SUCCESS"
        }
    }

    fn end(&self) -> Instant {
        self.sub_jobs
            .iter()
            .map(|s| s.ends)
            .max()
            .unwrap_or(self.begin)
    }

    pub fn render(&self, now: Instant) -> Value {
        let status = self.status(now);
        let done = matches!(status, "SUCCESS" | "FAIL");
        let end_utc = done.then(|| timestamp(utc_at(self.begin_utc, self.begin, self.end())));
        let first_failure = self
            .sub_jobs
            .iter()
            .filter(|s| s.status(now) == "FAIL")
            .find_map(|s| s.failure.clone());
        let sub_jobs: Vec<Value> = self
            .sub_jobs
            .iter()
            .map(|s| {
                let st = s.status(now);
                let fail = s.failure.as_ref().filter(|_| st == "FAIL");
                json!({
                    "status": st,
                    "job_id": s.id,
                    "job_type": self.sub_job_type,
                    "begin_time": timestamp(utc_at(self.begin_utc, self.begin, s.starts)),
                    "end_time": matches!(st, "SUCCESS" | "FAIL")
                        .then(|| timestamp(utc_at(self.begin_utc, self.begin, s.ends))),
                    "error_code": fail.map(|f| f.0.clone()),
                    "fail_reason": fail.map(|f| f.1.clone()),
                    "entities": { "server_id": s.server_id },
                })
            })
            .collect();
        json!({
            "status": status,
            "job_id": self.id,
            "job_type": self.job_type,
            "begin_time": timestamp(self.begin_utc),
            "end_time": end_utc,
            "error_code": first_failure.as_ref().map(|f| f.0.clone()),
            "fail_reason": first_failure.as_ref().map(|f| f.1.clone()),
            "entities": {
                "sub_jobs_total": self.sub_jobs.len(),
                "sub_jobs": sub_jobs,
            },
        })
    }
}

pub(crate) struct Node {
    pub name: String,
    pub uid: String,
    pub server_id: String,
}

pub(crate) struct Cluster {
    pub nodes: Vec<Node>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub keys: HashMap<String, HuaweiKey>,
    /// In the order added (the list answers in this order).
    pub servers: Vec<Server>,
    pub jobs: HashMap<String, Job>,
    /// The `type` of every batch stop and reboot, in order.
    pub stop_types: Vec<String>,
    pub clusters: HashMap<String, Cluster>,
    pub faults: Faults<HuaweiFaultRule>,
    pub log: RequestLog<HuaweiRequestRecord, HuaweiOp>,
}

impl Inner {
    pub fn server_mut(&mut self, id: &str) -> Option<&mut Server> {
        self.servers.iter_mut().find(|s| s.id == id)
    }

    /// First fault rule matching, with `times` decremented.
    pub fn take_fault(&mut self, op: HuaweiOp, resources: &[&str]) -> Option<HuaweiFaultRule> {
        self.faults.take(|r| {
            r.op.is_none_or(|o| o == op)
                && r.resource
                    .as_deref()
                    .is_none_or(|want| resources.contains(&want))
        })
    }
}

pub(crate) struct HuaweiShared {
    pub cfg: HuaweiSimConfig,
    pub addr: SocketAddr,
    pub endpoint: String,
    st: Mutex<Inner>,
}

impl HuaweiShared {
    pub fn new(cfg: HuaweiSimConfig, addr: SocketAddr) -> HuaweiShared {
        let host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        let inner = Inner {
            keys: cfg
                .keys
                .iter()
                .map(|k| (k.access_key.clone(), k.clone()))
                .collect(),
            ..Inner::default()
        };
        HuaweiShared {
            cfg,
            addr,
            endpoint: format!("http://{host}"),
            st: Mutex::new(inner),
        }
    }

    /// The state lock. Never held across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.st
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How long an action takes on a server, by kind.
pub(crate) fn action_time(cfg: &HuaweiSimConfig, stop_type: Option<&str>) -> Duration {
    match stop_type {
        Some("HARD") => cfg.hard_stop_time,
        _ => cfg.transition_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(now: Instant, starts_ms: u64, ends_ms: u64, fails: bool) -> SubJob {
        SubJob {
            id: hex_id(),
            server_id: "s".into(),
            starts: now + Duration::from_millis(starts_ms),
            ends: now + Duration::from_millis(ends_ms),
            failure: fails.then(|| ("c".into(), "r".into())),
        }
    }

    #[test]
    fn job_status_follows_its_sub_jobs() {
        let t0 = Instant::now();
        let job = Job {
            id: hex_id(),
            job_type: "batchStartServers",
            sub_job_type: "startServer",
            begin: t0,
            begin_utc: Utc::now(),
            sub_jobs: vec![sub(t0, 10, 20, false), sub(t0, 10, 30, true)],
        };
        assert_eq!(job.status(t0), "INIT");
        assert_eq!(job.status(t0 + Duration::from_millis(15)), "RUNNING");
        assert_eq!(job.status(t0 + Duration::from_millis(25)), "RUNNING");
        assert_eq!(job.status(t0 + Duration::from_millis(30)), "FAIL");
        let body = job.render(t0 + Duration::from_millis(30));
        assert_eq!(body["entities"]["sub_jobs_total"], 2);
        assert_eq!(body["entities"]["sub_jobs"][0]["status"], "SUCCESS");
        assert_eq!(body["entities"]["sub_jobs"][1]["fail_reason"], "r");
        assert_eq!(body["fail_reason"], "r");
        assert_eq!(hex_id().len(), 32);
    }
}
