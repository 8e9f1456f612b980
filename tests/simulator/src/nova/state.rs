//! Servers of one Nova simulator and how they move between states.
//!
//! Nova keeps `vm_state` (what the server is) and `task_state` (what is being done to
//! it); the API's `status` is derived from both (`nova/api/openstack/common.py`,
//! `_STATE_MAP`). A transition is stored as a list of phases, each
//! [`NovaSimConfig::transition_time`](super::NovaSimConfig) long, and evaluated
//! lazily from timestamps: nothing runs in the background, and `settle` folds a
//! finished transition into the stored state before every read or write.

use super::types::{NovaFaultRule, NovaOp, NovaRequestRecord, NovaServer};
use crate::faults::{Faults, RequestLog};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// `OS-EXT-STS:power_state` values used here.
pub(crate) const NOSTATE: u8 = 0;
pub(crate) const RUNNING: u8 = 1;
pub(crate) const SHUTDOWN: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VmState {
    Active,
    Stopped,
    Shelved,
    ShelvedOffloaded,
    Error,
}

impl VmState {
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Active => "active",
            VmState::Stopped => "stopped",
            VmState::Shelved => "shelved",
            VmState::ShelvedOffloaded => "shelved_offloaded",
            VmState::Error => "error",
        }
    }

    /// The API `status` for this vm_state while `task` runs (the part of Nova's
    /// `_STATE_MAP` these states reach).
    pub fn status(self, task: Option<&str>) -> &'static str {
        match (self, task) {
            (VmState::Active, Some("rebooting")) => "REBOOT",
            (VmState::Active, Some("rebooting_hard")) => "HARD_REBOOT",
            (VmState::Active, _) => "ACTIVE",
            (VmState::Stopped, _) => "SHUTOFF",
            (VmState::Shelved, _) => "SHELVED",
            (VmState::ShelvedOffloaded, _) => "SHELVED_OFFLOADED",
            (VmState::Error, _) => "ERROR",
        }
    }

    /// The settled state a status names, with its power state.
    pub fn from_status(status: &str) -> Option<(VmState, u8)> {
        Some(match status {
            "ACTIVE" => (VmState::Active, RUNNING),
            "SHUTOFF" => (VmState::Stopped, SHUTDOWN),
            "SHELVED" => (VmState::Shelved, SHUTDOWN),
            "SHELVED_OFFLOADED" => (VmState::ShelvedOffloaded, NOSTATE),
            "ERROR" => (VmState::Error, NOSTATE),
            _ => return None,
        })
    }
}

/// A server action, with what it needs to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Start,
    Stop,
    Shelve,
    Unshelve,
    Reboot { hard: bool },
}

impl Action {
    /// The compute API method name Nova puts in its conflict message.
    pub fn method(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Shelve => "shelve",
            Action::Unshelve => "unshelve",
            Action::Reboot { .. } => "reboot",
        }
    }

    pub fn op(self) -> NovaOp {
        match self {
            Action::Start => NovaOp::Start,
            Action::Stop => NovaOp::Stop,
            Action::Shelve => NovaOp::Shelve,
            Action::Unshelve => NovaOp::Unshelve,
            Action::Reboot { .. } => NovaOp::Reboot,
        }
    }

    /// vm_states the action is accepted in (Nova's `check_instance_state`; PAUSED,
    /// SUSPENDED and the other states are not simulated).
    fn allowed(self) -> &'static [VmState] {
        match self {
            Action::Start => &[VmState::Stopped],
            Action::Stop => &[VmState::Active, VmState::Error],
            Action::Shelve => &[VmState::Active, VmState::Stopped],
            Action::Unshelve => &[VmState::Shelved, VmState::ShelvedOffloaded],
            Action::Reboot { hard: false } => &[VmState::Active],
            Action::Reboot { hard: true } => &[VmState::Active, VmState::Stopped, VmState::Error],
        }
    }
}

/// One step of a transition: what GET shows while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Phase {
    pub vm: VmState,
    pub task: &'static str,
    pub power: u8,
}

#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub phases: Vec<Phase>,
    pub end: (VmState, u8),
    pub started: Instant,
    pub phase_len: Duration,
    /// Ends in ERROR with this fault message instead of `end`.
    pub failure: Option<String>,
}

impl Transition {
    fn total(&self) -> Duration {
        self.phase_len
            .saturating_mul(u32::try_from(self.phases.len()).unwrap_or(u32::MAX))
    }

    /// The phase at `now`; `None` once the transition is over.
    fn phase_at(&self, now: Instant) -> Option<Phase> {
        let elapsed = now.saturating_duration_since(self.started);
        if self.phase_len.is_zero() || elapsed >= self.total() {
            return None;
        }
        let i = (elapsed.as_nanos() / self.phase_len.as_nanos()) as usize;
        self.phases.get(i).copied()
    }
}

/// Why an action was refused because of the server's state (Nova's
/// `InstanceInvalidState`, answered as 409 `conflictingRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidState {
    pub attr: &'static str,
    pub state: String,
}

pub(crate) struct Server {
    pub id: String,
    pub name: String,
    pub project_id: Option<String>,
    pub vm: VmState,
    pub power: u8,
    pub transition: Option<Transition>,
    pub fault: Option<(String, DateTime<Utc>)>,
    pub fail_next: Option<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Server {
    pub fn new(name: &str, project_id: Option<String>, vm: VmState, power: u8) -> Server {
        let now = Utc::now();
        Server {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            project_id,
            vm,
            power,
            transition: None,
            fault: (vm == VmState::Error).then(|| ("Injected by gamefleet-sim.".to_string(), now)),
            fail_next: None,
            created: now,
            updated: now,
        }
    }

    /// Folds a finished transition into the stored state.
    pub fn settle(&mut self, now: Instant) {
        let Some(t) = &self.transition else { return };
        if t.phase_at(now).is_some() {
            return;
        }
        let end_utc = Utc::now()
            - chrono::Duration::from_std(now.saturating_duration_since(t.started + t.total()))
                .unwrap_or_default();
        match &t.failure {
            Some(message) => {
                self.vm = VmState::Error;
                self.fault = Some((message.clone(), end_utc));
            }
            None => {
                (self.vm, self.power) = t.end;
                self.fault = None;
            }
        }
        self.updated = end_utc;
        self.transition = None;
    }

    /// `(vm_state, task_state, power_state)` at `now` (call `settle` first).
    pub fn current(&self, now: Instant) -> (VmState, Option<&'static str>, u8) {
        match self.transition.as_ref().and_then(|t| t.phase_at(now)) {
            Some(p) => (p.vm, Some(p.task), p.power),
            None => (self.vm, None, self.power),
        }
    }

    /// Forces a settled state (no transition, no pending failure).
    pub fn force(&mut self, vm: VmState, power: u8, fault: Option<String>) {
        self.transition = None;
        self.vm = vm;
        self.power = power;
        self.updated = Utc::now();
        self.fault = match (vm, fault) {
            (VmState::Error, Some(m)) => Some((m, self.updated)),
            (VmState::Error, None) => Some(("Injected by gamefleet-sim.".into(), self.updated)),
            _ => None,
        };
    }

    /// Starts `action` if the state allows it (vm_state first, then task_state, as
    /// Nova's `check_instance_state`). `keep_shelved`: a shelve ends in SHELVED
    /// instead of going on to SHELVED_OFFLOADED.
    pub fn begin(
        &mut self,
        action: Action,
        now: Instant,
        phase_len: Duration,
        keep_shelved: bool,
    ) -> Result<(), InvalidState> {
        self.settle(now);
        let (vm, task, power) = self.current(now);
        if !action.allowed().contains(&vm) {
            return Err(InvalidState {
                attr: "vm_state",
                state: vm.as_str().to_string(),
            });
        }
        if let Some(task) = task {
            return Err(InvalidState {
                attr: "task_state",
                state: task.to_string(),
            });
        }
        let p = |vm, task, power| Phase { vm, task, power };
        let (phases, end) = match action {
            Action::Start => (
                vec![p(vm, "powering-on", power)],
                (VmState::Active, RUNNING),
            ),
            Action::Stop => (
                vec![p(vm, "powering-off", power)],
                (VmState::Stopped, SHUTDOWN),
            ),
            Action::Shelve => {
                // compute manager `_shelve_instance`: power off, snapshot, then
                // vm_state shelved and (shelved_offload_time = 0) the offload.
                let mut phases = vec![
                    p(vm, "shelving", power),
                    p(vm, "shelving_image_pending_upload", SHUTDOWN),
                    p(vm, "shelving_image_uploading", SHUTDOWN),
                ];
                if keep_shelved {
                    (phases, (VmState::Shelved, SHUTDOWN))
                } else {
                    phases.push(p(VmState::Shelved, "shelving_offloading", SHUTDOWN));
                    (phases, (VmState::ShelvedOffloaded, NOSTATE))
                }
            }
            // conductor `unshelve_instance`: a server still on its host is only
            // powered on; an offloaded one is scheduled and spawned again.
            Action::Unshelve if vm == VmState::Shelved => (
                vec![p(vm, "unshelving", power), p(vm, "powering-on", power)],
                (VmState::Active, RUNNING),
            ),
            Action::Unshelve => (
                vec![p(vm, "unshelving", power), p(vm, "spawning", power)],
                (VmState::Active, RUNNING),
            ),
            Action::Reboot { hard: false } => {
                (vec![p(vm, "rebooting", power)], (VmState::Active, RUNNING))
            }
            Action::Reboot { hard: true } => (
                vec![p(vm, "rebooting_hard", power)],
                (VmState::Active, RUNNING),
            ),
        };
        self.transition = Some(Transition {
            phases,
            end,
            started: now,
            phase_len,
            failure: self.fail_next.take(),
        });
        self.updated = Utc::now();
        Ok(())
    }

    /// The public view (call `settle` first).
    pub fn view(&self, now: Instant) -> NovaServer {
        let (vm, task, power) = self.current(now);
        NovaServer {
            id: self.id.clone(),
            name: self.name.clone(),
            status: vm.status(task).to_string(),
            vm_state: vm.as_str().to_string(),
            task_state: task.map(str::to_string),
            power_state: power,
            fault: (vm == VmState::Error)
                .then(|| self.fault.as_ref().map(|(m, _)| m.clone()))
                .flatten(),
            project_id: self.project_id.clone(),
        }
    }

    /// The `server` object of `GET /v2.1/servers/{id}` (call `settle` first).
    /// `tenant_id`/`user_id` are the caller's when the server has no owner.
    pub fn render(&self, now: Instant, base: &str, project: &str, user: &str) -> Value {
        let (vm, task, power) = self.current(now);
        let href = format!("{base}/v2.1/servers/{}", self.id);
        let mut server = json!({
            "id": self.id,
            "name": self.name,
            "status": vm.status(task),
            "tenant_id": self.project_id.as_deref().unwrap_or(project),
            "user_id": user,
            "metadata": {},
            "hostId": "",
            "image": "",
            "flavor": { "vcpus": 1, "ram": 1024, "disk": 10, "ephemeral": 0, "swap": 0,
                        "original_name": "m1.small", "extra_specs": {} },
            "addresses": {},
            "accessIPv4": "",
            "accessIPv6": "",
            "created": timestamp(self.created),
            "updated": timestamp(self.updated),
            "progress": 0,
            "locked": false,
            "OS-EXT-STS:task_state": task,
            "OS-EXT-STS:vm_state": vm.as_str(),
            "OS-EXT-STS:power_state": power,
            "OS-EXT-AZ:availability_zone": if vm == VmState::ShelvedOffloaded { "" } else { "nova" },
            "OS-DCF:diskConfig": "MANUAL",
            "links": [
                { "rel": "self", "href": href },
                { "rel": "bookmark", "href": format!("{base}/servers/{}", self.id) }
            ]
        });
        if vm == VmState::Error {
            if let Some((message, at)) = &self.fault {
                server["fault"] =
                    json!({ "code": 500, "message": message, "created": timestamp(*at) });
            }
        }
        server
    }
}

#[derive(Default)]
pub(crate) struct NovaState {
    pub servers: HashMap<String, Server>,
    pub faults: Faults<NovaFaultRule>,
    pub log: RequestLog<NovaRequestRecord, NovaOp>,
}

impl NovaState {
    /// The first fault rule matching `op` and `server`, with its count decremented.
    pub fn take_fault(&mut self, op: NovaOp, server: Option<&str>) -> Option<NovaFaultRule> {
        self.faults.take(|r| {
            r.op.is_none_or(|o| o == op) && r.server.as_deref().is_none_or(|s| Some(s) == server)
        })
    }
}

pub(crate) struct Locked(Mutex<NovaState>);

impl Locked {
    pub fn new() -> Self {
        Locked(Mutex::new(NovaState::default()))
    }

    pub fn lock(&self) -> MutexGuard<'_, NovaState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(10);

    fn server(status: &str) -> Server {
        let (vm, power) = VmState::from_status(status).expect("status");
        Server::new("s", None, vm, power)
    }

    fn status_at(s: &mut Server, now: Instant) -> (String, Option<&'static str>) {
        s.settle(now);
        let (vm, task, _) = s.current(now);
        (vm.status(task).to_string(), task)
    }

    #[test]
    fn shelve_walks_the_task_states_then_offloads() {
        let mut s = server("ACTIVE");
        let t0 = Instant::now();
        s.begin(Action::Shelve, t0, T, false).expect("accepted");
        let seen: Vec<_> = (0..5).map(|i| status_at(&mut s, t0 + T * i)).collect();
        assert_eq!(
            seen,
            vec![
                ("ACTIVE".into(), Some("shelving")),
                ("ACTIVE".into(), Some("shelving_image_pending_upload")),
                ("ACTIVE".into(), Some("shelving_image_uploading")),
                ("SHELVED".into(), Some("shelving_offloading")),
                ("SHELVED_OFFLOADED".into(), None),
            ]
        );
        assert_eq!(s.power, NOSTATE);
    }

    #[test]
    fn conflicts_name_vm_state_before_task_state() {
        let mut s = server("ACTIVE");
        let t0 = Instant::now();
        let e = s.begin(Action::Start, t0, T, false).expect_err("active");
        assert_eq!((e.attr, e.state.as_str()), ("vm_state", "active"));
        s.begin(Action::Stop, t0, T, false).expect("stop");
        let e = s.begin(Action::Shelve, t0, T, false).expect_err("busy");
        assert_eq!((e.attr, e.state.as_str()), ("task_state", "powering-off"));
        assert_eq!(status_at(&mut s, t0 + T), ("SHUTOFF".into(), None));
    }

    #[test]
    fn a_failing_transition_ends_in_error() {
        let mut s = server("SHUTOFF");
        s.fail_next = Some("No valid host was found.".into());
        let t0 = Instant::now();
        s.begin(Action::Start, t0, T, false).expect("start");
        assert_eq!(status_at(&mut s, t0 + T), ("ERROR".into(), None));
        assert_eq!(
            s.view(t0 + T).fault.as_deref(),
            Some("No valid host was found.")
        );
        s.begin(Action::Stop, t0 + T, T, false)
            .expect("stop from error");
    }
}
