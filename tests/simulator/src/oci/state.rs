//! State of one OCI simulator: resources, lazily evaluated transitions, work requests.
//!
//! Nothing runs in the background: a transition is stored as `(phases, final state,
//! start instant, phase length)` and the state at any moment is computed from it
//! ([`Transition::phase_at`]); `settle` folds a finished transition into the stored
//! state before every read or write.

use super::types::{OciFaultRule, OciOp, OciRequestRecord};
use super::OciSimConfig;
use crate::faults::{Faults, RequestLog};
use chrono::{DateTime, SecondsFormat, Utc};
use rsa::RsaPublicKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) const REGION: &str = "us-ashburn-1";
pub(crate) const REGION_KEY: &str = "iad";
pub(crate) const AVAILABILITY_DOMAIN: &str = "Uocm:US-ASHBURN-AD-1";
/// How long an `opc-retry-token` is remembered.
pub(crate) const RETRY_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// `ocid1.<kind>.oc1.<region>.<60 base32 chars>`; `region` empty for global resources.
pub(crate) fn new_ocid(kind: &str, region: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let unique: String = std::iter::once('a')
        .chain((0..59).map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())])))
        .collect();
    format!("ocid1.{kind}.oc1.{region}.{unique}")
}

pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A strong etag: the first 16 bytes of SHA-256 over the resource's version (bumped
/// by every action) and its rendering, in hex. It changes with every state change,
/// also one back to an earlier state.
pub(crate) fn etag_of(body: &Value, version: u64) -> String {
    Sha256::new()
        .chain_update(version.to_be_bytes())
        .chain_update(body.to_string().as_bytes())
        .finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A state change in progress: `phases` one after the other, each `phase_len` long,
/// then `final_state` (or, for a failing container-instance transition, `FAILED`).
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub phases: Vec<&'static str>,
    pub phase_len: Duration,
    pub final_state: String,
    pub started: Instant,
    pub started_utc: DateTime<Utc>,
    /// `lifecycleDetails` of a container instance whose transition fails.
    pub failure: Option<String>,
    pub work_request: Option<String>,
}

impl Transition {
    pub fn new(phases: Vec<&'static str>, final_state: &str, phase_len: Duration) -> Transition {
        Transition {
            phases,
            phase_len,
            final_state: final_state.to_string(),
            started: Instant::now(),
            started_utc: Utc::now(),
            failure: None,
            work_request: None,
        }
    }

    pub fn total(&self) -> Duration {
        self.phase_len
            .saturating_mul(u32::try_from(self.phases.len()).unwrap_or(u32::MAX))
    }

    /// The transitional state at `now`; `None` once the transition is over.
    pub fn phase_at(&self, now: Instant) -> Option<&'static str> {
        let elapsed = now.saturating_duration_since(self.started);
        if self.phase_len.is_zero() || elapsed >= self.total() {
            return None;
        }
        let i = (elapsed.as_nanos() / self.phase_len.as_nanos()) as usize;
        self.phases.get(i).copied()
    }

    pub fn end_utc(&self) -> DateTime<Utc> {
        self.started_utc + chrono::Duration::from_std(self.total()).unwrap_or_default()
    }
}

pub(crate) struct ContainerInstance {
    pub id: String,
    pub display_name: String,
    pub compartment_id: String,
    pub containers: Vec<(String, String)>,
    pub time_created: DateTime<Utc>,
    pub time_updated: DateTime<Utc>,
    pub state: String,
    pub details: Option<String>,
    pub transition: Option<Transition>,
    pub fail_next: bool,
    /// Bumped by every action and forced state (part of the etag).
    pub version: u64,
}

impl ContainerInstance {
    /// Folds a finished transition into the stored state.
    pub fn settle(&mut self, now: Instant) {
        if let Some(t) = &self.transition {
            if t.phase_at(now).is_none() {
                self.time_updated = t.end_utc();
                match &t.failure {
                    Some(why) => {
                        self.state = "FAILED".to_string();
                        self.details = Some(why.clone());
                    }
                    None => {
                        self.state = t.final_state.clone();
                        self.details = None;
                    }
                }
                self.transition = None;
            }
        }
    }

    pub fn current_state(&self, now: Instant) -> String {
        self.transition
            .as_ref()
            .and_then(|t| t.phase_at(now))
            .map_or_else(|| self.state.clone(), str::to_string)
    }

    pub fn render(&self, now: Instant) -> Value {
        let mut v = json!({
            "id": self.id,
            "displayName": self.display_name,
            "compartmentId": self.compartment_id,
            "availabilityDomain": AVAILABILITY_DOMAIN,
            "faultDomain": "FAULT-DOMAIN-1",
            "lifecycleState": self.current_state(now),
            "containers": self.containers.iter().map(|(id, name)| json!({
                "containerId": id,
                "displayName": name,
            })).collect::<Vec<_>>(),
            "containerCount": self.containers.len(),
            "shape": "CI.Standard.E4.Flex",
            "shapeConfig": {
                "ocpus": 1.0,
                "memoryInGBs": 4.0,
                "processorDescription": "2.25 GHz AMD EPYC 7J13 (Milan)",
                "networkingBandwidthInGbps": 1.0
            },
            "vnics": [],
            "containerRestartPolicy": "ALWAYS",
            "gracefulShutdownTimeoutInSeconds": 0,
            "timeCreated": timestamp(self.time_created),
            "timeUpdated": timestamp(self.time_updated),
            "freeformTags": {},
            "definedTags": {},
            "systemTags": {},
        });
        if let Some(d) = &self.details {
            v["lifecycleDetails"] = json!(d);
        }
        v
    }
}

pub(crate) struct ComputeInstance {
    pub id: String,
    pub display_name: String,
    pub compartment_id: String,
    pub time_created: DateTime<Utc>,
    pub state: String,
    pub transition: Option<Transition>,
    pub fail_next: bool,
    /// Bumped by every action and forced state (part of the etag).
    pub version: u64,
}

impl ComputeInstance {
    pub fn settle(&mut self, now: Instant) {
        if let Some(t) = &self.transition {
            if t.phase_at(now).is_none() {
                self.state = t.final_state.clone();
                self.transition = None;
            }
        }
    }

    pub fn current_state(&self, now: Instant) -> String {
        self.transition
            .as_ref()
            .and_then(|t| t.phase_at(now))
            .map_or_else(|| self.state.clone(), str::to_string)
    }

    pub fn render(&self, now: Instant) -> Value {
        json!({
            "id": self.id,
            "displayName": self.display_name,
            "compartmentId": self.compartment_id,
            "availabilityDomain": AVAILABILITY_DOMAIN,
            "faultDomain": "FAULT-DOMAIN-1",
            "region": REGION,
            "shape": "VM.Standard.E4.Flex",
            "lifecycleState": self.current_state(now),
            "timeCreated": timestamp(self.time_created),
            "freeformTags": {},
            "definedTags": {},
        })
    }
}

pub(crate) struct Secret {
    pub id: String,
    /// Standard base64 of the plaintext, as Vault stores it.
    pub content: String,
    pub time_created: DateTime<Utc>,
}

pub(crate) struct WorkRequest {
    pub id: String,
    pub operation_type: &'static str,
    pub resource_id: String,
    pub compartment_id: String,
    pub accepted_utc: DateTime<Utc>,
    pub started: Instant,
    pub total: Duration,
    /// `(code, message)` if it ends FAILED.
    pub error: Option<(String, String)>,
    pub canceled_at: Option<DateTime<Utc>>,
}

impl WorkRequest {
    /// `(status, percentComplete, timeFinished)` at `now`.
    pub fn status(&self, now: Instant) -> (&'static str, f64, Option<DateTime<Utc>>) {
        if let Some(at) = self.canceled_at {
            return ("CANCELED", 0.0, Some(at));
        }
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed < self.total {
            let pct = (elapsed.as_secs_f64() / self.total.as_secs_f64() * 100.0).floor();
            return ("IN_PROGRESS", pct.min(99.0), None);
        }
        let finished =
            self.accepted_utc + chrono::Duration::from_std(self.total).unwrap_or_default();
        match self.error {
            Some(_) => ("FAILED", 100.0, Some(finished)),
            None => ("SUCCEEDED", 100.0, Some(finished)),
        }
    }

    pub fn in_progress(&self, now: Instant) -> bool {
        matches!(self.status(now).0, "ACCEPTED" | "IN_PROGRESS")
    }

    pub fn render(&self, now: Instant) -> Value {
        let (status, pct, finished) = self.status(now);
        let mut v = json!({
            "id": self.id,
            "operationType": self.operation_type,
            "status": status,
            "compartmentId": self.compartment_id,
            "resources": [{
                "entityType": "ContainerInstance",
                // OCI's ActionType: IN_PROGRESS while the work request runs.
                "actionType": match status {
                    "IN_PROGRESS" => "IN_PROGRESS",
                    "FAILED" => "FAILED",
                    _ => "UPDATED",
                },
                "identifier": self.resource_id,
                "entityUri": format!("/20210415/containerInstances/{}", self.resource_id),
            }],
            "percentComplete": pct,
            "timeAccepted": timestamp(self.accepted_utc),
            "timeStarted": timestamp(self.accepted_utc),
        });
        if let Some(f) = finished {
            v["timeFinished"] = json!(timestamp(f));
        }
        v
    }

    /// `items` of `GET /workRequests/{id}/errors` at `now`.
    pub fn errors(&self, now: Instant) -> Vec<Value> {
        match (self.status(now), &self.error) {
            (("FAILED", _, Some(at)), Some((code, message))) => vec![json!({
                "code": code,
                "message": message,
                "timestamp": timestamp(at),
            })],
            _ => Vec::new(),
        }
    }
}

/// A remembered `opc-retry-token` answer.
pub(crate) struct RetryEntry {
    /// `METHOD target` of the first request.
    pub request: String,
    pub body: Value,
    pub etag: String,
    pub at: Instant,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub containers: HashMap<String, ContainerInstance>,
    pub computes: HashMap<String, ComputeInstance>,
    pub secrets: HashMap<String, Secret>,
    pub work_requests: HashMap<String, WorkRequest>,
    pub api_keys: HashMap<String, RsaPublicKey>,
    pub retry_tokens: HashMap<String, RetryEntry>,
    pub faults: Faults<OciFaultRule>,
    pub log: RequestLog<OciRequestRecord, OciOp>,
    /// The instance principal's certificates (IMDS, federation), once enabled.
    pub instance: Option<super::instance::Identity>,
}

impl Inner {
    /// First fault rule matching, with `times` decremented.
    pub fn take_fault(&mut self, op: OciOp, resource: Option<&str>) -> Option<OciFaultRule> {
        self.faults.take(|r| {
            r.op.is_none_or(|o| o == op)
                && match (&r.resource, resource) {
                    (None, _) => true,
                    (Some(want), Some(got)) => want == got,
                    (Some(_), None) => false,
                }
        })
    }
}

pub(crate) struct OciShared {
    pub cfg: OciSimConfig,
    pub addr: SocketAddr,
    pub endpoint: String,
    pub tenancy_id: String,
    pub compartment_id: String,
    /// HMAC key of the resource-principal tokens this simulator mints.
    pub token_secret: [u8; 32],
    st: Mutex<Inner>,
}

impl OciShared {
    pub fn new(cfg: OciSimConfig, addr: SocketAddr) -> OciShared {
        let host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        let mut token_secret = [0u8; 32];
        token_secret.iter_mut().for_each(|b| *b = fastrand::u8(..));
        OciShared {
            cfg,
            addr,
            endpoint: format!("http://{host}"),
            tenancy_id: new_ocid("tenancy", ""),
            compartment_id: new_ocid("compartment", ""),
            token_secret,
            st: Mutex::new(Inner::default()),
        }
    }

    /// The state lock. Never held across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.st
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_phases_follow_the_clock() {
        let mut t = Transition::new(
            vec!["STOPPING", "STARTING"],
            "RUNNING",
            Duration::from_millis(100),
        );
        let t0 = Instant::now();
        t.started = t0;
        assert_eq!(t.phase_at(t0), Some("STOPPING"));
        assert_eq!(t.phase_at(t0 + Duration::from_millis(99)), Some("STOPPING"));
        assert_eq!(
            t.phase_at(t0 + Duration::from_millis(100)),
            Some("STARTING")
        );
        assert_eq!(t.phase_at(t0 + Duration::from_millis(200)), None);
        let zero = Transition::new(vec!["UPDATING"], "ACTIVE", Duration::ZERO);
        assert_eq!(zero.phase_at(zero.started), None);
    }

    #[test]
    fn ocids_look_like_ocids() {
        let id = new_ocid("instance", REGION_KEY);
        assert!(id.starts_with("ocid1.instance.oc1.iad.a"));
        assert_eq!(id.rsplit('.').next().map(str::len), Some(60));
        assert!(new_ocid("tenancy", "").starts_with("ocid1.tenancy.oc1..a"));
        assert_ne!(new_ocid("instance", "iad"), new_ocid("instance", "iad"));
    }
}
