//! Shared state of one simulator instance and the rendering of container groups.

use crate::config::SimConfig;
use crate::events::RESOURCE_TYPE;
use crate::faults::{Faults, RequestLog};
use crate::types::{Delivery, FaultRule, Notice, Op, RequestRecord};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// Key of a group: (resource group lower-cased, name).
pub(crate) type GroupKey = (String, String);

pub(crate) fn key(resource_group: &str, name: &str) -> GroupKey {
    (resource_group.to_lowercase(), name.to_string())
}

pub(crate) struct Shared {
    pub cfg: SimConfig,
    pub addr: SocketAddr,
    pub arm_endpoint: String,
    /// client_id of the simulated system-assigned identity.
    pub system_client_id: String,
    pub ok_deliveries: watch::Sender<usize>,
    pub notices: broadcast::Sender<Notice>,
    /// Client used for event deliveries.
    pub http: reqwest::Client,
    st: Mutex<Inner>,
}

impl Shared {
    pub fn new(cfg: SimConfig, addr: SocketAddr) -> Shared {
        let host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        let inner = Inner {
            provisioning_delay: cfg.provisioning_delay,
            delete_delay: cfg.delete_delay,
            next_ip: fastrand::u32(0x0001_0000..0x00f0_0000),
            write_bucket: cfg.write_bucket.map(crate::throttle::Bucket::new),
            ..Inner::default()
        };
        let http = reqwest::Client::builder()
            .timeout(cfg.events.delivery_timeout)
            .build()
            .unwrap_or_default();
        Shared {
            cfg,
            addr,
            arm_endpoint: format!("http://{host}"),
            system_client_id: uuid::Uuid::new_v4().to_string(),
            ok_deliveries: watch::channel(0).0,
            notices: broadcast::channel(1024).0,
            http,
            st: Mutex::new(inner),
        }
    }

    /// The state lock. Never held across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.st
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn notice(&self, n: Notice) {
        let _ = self.notices.send(n);
    }

    /// The resource group's display name: as configured, else as first seen.
    pub fn rg_display(&self, inner: &mut Inner, rg: &str) -> String {
        let lower = rg.to_lowercase();
        if let Some(list) = &self.cfg.resource_groups {
            if let Some(c) = list.iter().find(|c| c.to_lowercase() == lower) {
                return c.clone();
            }
        }
        inner
            .rg_names
            .entry(lower)
            .or_insert_with(|| rg.to_string())
            .clone()
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    pub groups: BTreeMap<GroupKey, Group>,
    pub rg_names: HashMap<String, String>,
    pub tokens: HashMap<String, Token>,
    pub issued_tokens: usize,
    pub ops: HashMap<String, Operation>,
    pub log: RequestLog<RequestRecord, Op>,
    pub faults: Faults<FaultRule>,
    pub provisioning_delay: Duration,
    pub delete_delay: Duration,
    pub delete_handling_delay: Duration,
    pub deletes_in_flight: usize,
    pub max_deletes_in_flight: usize,
    pub queue: Vec<Value>,
    pub deliveries: Vec<Delivery>,
    pub next_ip: u32,
    pub generation: u64,
    /// ARM's write bucket (`SimConfig::write_bucket`), `None` = unlimited.
    pub write_bucket: Option<crate::throttle::Bucket>,
    /// Writes answered 429 by the bucket (since start or `reset_counts`).
    pub throttled_writes: usize,
}

impl Inner {
    pub fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// A fresh public IP, unique within this simulator (20.x.y.z, z in 1..=254).
    pub fn next_ip(&mut self) -> String {
        loop {
            self.next_ip = self.next_ip.wrapping_add(1) & 0x00ff_ffff;
            let n = self.next_ip;
            let last = n & 0xff;
            if (1..=254).contains(&last) {
                return format!("20.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, last);
            }
        }
    }

    /// First fault rule matching, with `times` decremented.
    pub fn take_fault(&mut self, op: Op, name: Option<&str>) -> Option<FaultRule> {
        self.faults.take(|r| {
            r.op.is_none_or(|o| o == op)
                && match (&r.name_contains, name) {
                    (None, _) => true,
                    (Some(part), Some(n)) => n.contains(part.as_str()),
                    (Some(_), None) => false,
                }
        })
    }
}

pub(crate) struct Token {
    pub resource: String,
    pub valid_until: Instant,
    pub expires_on: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Put,
    Delete,
    Start,
}

pub(crate) struct Operation {
    pub kind: OpKind,
    pub key: GroupKey,
    pub location: String,
    /// `InProgress`, `Succeeded`, `Failed`, `Canceled`.
    pub status: &'static str,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub error: Option<(String, String)>,
}

impl Operation {
    pub fn new(kind: OpKind, key: GroupKey, location: &str) -> Operation {
        Operation {
            kind,
            key,
            location: location.to_string(),
            status: "InProgress",
            start: Utc::now(),
            end: None,
            error: None,
        }
    }

    pub fn finish(&mut self, status: &'static str, error: Option<(String, String)>) {
        if self.status == "InProgress" {
            self.status = status;
            self.end = Some(Utc::now());
            self.error = error;
        }
    }
}

/// How much of a group to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// GET: with `instanceView` (group and containers).
    Full,
    /// PUT answers and list items: no `instanceView`.
    NoInstanceView,
}

pub(crate) struct Group {
    pub rg: String,
    pub name: String,
    pub location: String,
    pub tags: Option<Value>,
    pub properties: Map<String, Value>,
    pub containers: Vec<String>,
    /// Each container's environment as it sees it (secure values included).
    pub env: Vec<(String, Vec<(String, String)>)>,
    pub public_ip: bool,
    pub failing_image: Option<String>,
    /// `Pending`, `Succeeded`, `Failed`, `Deleting`.
    pub provisioning: &'static str,
    /// `Pending`, `Running`, `Stopped`, `Failed`.
    pub instance: &'static str,
    pub ip: Option<String>,
    /// Bumped by every PUT/start/stop; stale provisioning timers compare it.
    pub generation: u64,
    /// Operation id of a pending asynchronous delete.
    pub delete_op: Option<String>,
    pub logs: HashMap<String, Vec<String>>,
    pub restart_count: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

impl Group {
    pub fn id(&self, subscription: &str) -> String {
        format!(
            "/subscriptions/{subscription}/resourceGroups/{}/providers/{RESOURCE_TYPE}/{}",
            self.rg, self.name
        )
    }

    pub fn render(&self, subscription: &str, view: View) -> Value {
        let mut props = self.properties.clone();
        props.insert(
            "provisioningState".into(),
            Value::String(self.provisioning.into()),
        );
        if let Some(Value::Object(ip)) = props.get_mut("ipAddress") {
            if let Some(addr) = &self.ip {
                ip.insert("ip".into(), Value::String(addr.clone()));
            }
            if let Some(label) = ip.get("dnsNameLabel").and_then(Value::as_str) {
                let fqdn = format!("{label}.{}.azurecontainer.io", self.location);
                ip.insert("fqdn".into(), Value::String(fqdn));
            }
        }
        if view == View::Full {
            if let Some(Value::Array(cs)) = props.get_mut("containers") {
                for c in cs.iter_mut() {
                    if let Some(Value::Object(p)) = c.get_mut("properties") {
                        p.insert("instanceView".into(), self.container_view());
                    }
                }
            }
            let mut events = Vec::new();
            if let (Some(image), Some(at)) = (&self.failing_image, self.failed_at) {
                if self.instance == "Failed" {
                    let t = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    events.push(json!({
                        "count": 1,
                        "firstTimestamp": t,
                        "lastTimestamp": t,
                        "name": "Failed",
                        "message": format!("Failed to pull image \"{image}\" (gamefleet-sim: image name contains 'fail-provision')."),
                        "type": "Warning"
                    }));
                }
            }
            props.insert(
                "instanceView".into(),
                json!({ "events": events, "state": self.instance }),
            );
        }
        let mut obj = Map::new();
        obj.insert("id".into(), Value::String(self.id(subscription)));
        obj.insert("name".into(), Value::String(self.name.clone()));
        obj.insert("type".into(), Value::String(RESOURCE_TYPE.into()));
        obj.insert("location".into(), Value::String(self.location.clone()));
        if let Some(tags) = &self.tags {
            obj.insert("tags".into(), tags.clone());
        }
        obj.insert("properties".into(), Value::Object(props));
        Value::Object(obj)
    }

    fn container_view(&self) -> Value {
        let ts = |t: Option<DateTime<Utc>>| {
            t.map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
                .unwrap_or(Value::Null)
        };
        let current = match self.instance {
            "Running" => json!({
                "state": "Running",
                "startTime": ts(self.started_at),
                "detailStatus": ""
            }),
            "Stopped" => json!({
                "state": "Terminated",
                "startTime": ts(self.started_at),
                "finishTime": ts(self.finished_at),
                "exitCode": 0,
                "detailStatus": "Completed"
            }),
            "Failed" => json!({ "state": "Waiting", "detailStatus": "ImagePullBackOff" }),
            _ => json!({ "state": "Waiting", "detailStatus": "ContainerCreating" }),
        };
        json!({ "restartCount": self.restart_count, "currentState": current, "events": [] })
    }

    /// Log content of one container, `tail` = keep the last N lines.
    pub fn log_content(&self, container: &str, tail: Option<usize>) -> String {
        let mut lines = vec![format!("gamefleet-sim: container {container} started")];
        if let Some(extra) = self.logs.get(container) {
            lines.extend(extra.iter().cloned());
        }
        let skip = match tail {
            Some(n) => lines.len().saturating_sub(n),
            None => 0,
        };
        lines.iter().skip(skip).map(|l| format!("{l}\n")).collect()
    }
}
