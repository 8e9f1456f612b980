//! OCI Compute instances (Core API `20160918`) through the lifecycle core.
//!
//! * state: `GET /instances/{id}` → `lifecycleState`;
//! * start / stop: `POST /instances/{id}?action=START|SOFTSTOP|STOP` → 200 with
//!   the Instance; no work request, so no ticket: the core polls the state.
//!
//! Each command carries an `opc-retry-token` (one UUID per command, the same
//! on every retry of it), so a POST retried after a lost answer is done once.

use super::client::{OciAnswer, OciClient, Service};
use super::{lifecycle_state, require_ocid};
use crate::lifecycle::{Command, Observed, Phase, Power, PowerError, Ticket, Vocabulary};
use async_trait::async_trait;
use reqwest::Method;
use std::str::FromStr;
use std::sync::Arc;

pub const API: &str = "20160918";

pub const VOCABULARY: Vocabulary = Vocabulary {
    provider: "oci-compute",
    noun: "Instance",
    running: "RUNNING",
    stopped: "STOPPED",
};

/// `lifecycleState` of an instance, normalised; unknown values are transitional.
pub fn phase_of(state: &str) -> Phase {
    match state {
        "RUNNING" => Phase::Running,
        "STOPPED" => Phase::Stopped,
        "PROVISIONING" | "STARTING" | "STOPPING" | "MOVING" | "CREATING_IMAGE" | "TERMINATING" => {
            Phase::Transitional
        }
        "TERMINATED" => Phase::Gone,
        _ => Phase::Transitional,
    }
}

/// How `stop` stops an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopMode {
    /// `SOFTSTOP`: ACPI shutdown; OCI powers off after 15 minutes if the OS does not.
    #[default]
    Soft,
    /// `STOP`: immediate power-off.
    Hard,
}

impl StopMode {
    pub fn action(self) -> &'static str {
        match self {
            StopMode::Soft => "SOFTSTOP",
            StopMode::Hard => "STOP",
        }
    }

    /// The matching reboot: `SOFTRESET` (graceful) or `RESET` (power cycle).
    pub fn reset_action(self) -> &'static str {
        match self {
            StopMode::Soft => "SOFTRESET",
            StopMode::Hard => "RESET",
        }
    }
}

impl FromStr for StopMode {
    type Err = PowerError;
    /// `SOFTSTOP` / `soft` or `STOP` / `hard`, any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "softstop" | "soft" => Ok(StopMode::Soft),
            "stop" | "hard" => Ok(StopMode::Hard),
            _ => Err(PowerError::Config(format!(
                "{s:?} is not a compute stop mode: SOFTSTOP (graceful) or STOP (power off)"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Compute {
    client: Arc<OciClient>,
    stop: StopMode,
}

impl Compute {
    pub fn new(client: Arc<OciClient>, stop: StopMode) -> Self {
        Self { client, stop }
    }
}

#[async_trait]
impl Power for Compute {
    fn with_stop(&self, hard: bool) -> Option<Arc<dyn Power>> {
        let stop = if hard { StopMode::Hard } else { StopMode::Soft };
        Some(Arc::new(Compute::new(self.client.clone(), stop)))
    }

    fn vocabulary(&self) -> Vocabulary {
        VOCABULARY
    }

    async fn observe(&self, resource: &str) -> Result<Observed, PowerError> {
        let id = require_ocid(resource, super::ocid::OcidType::Instance)?;
        let url = self
            .client
            .url(Service::Compute, &[API, "instances", id], &[]);
        let body = self.client.call(Method::GET, url, &[]).await?.json()?;
        let state = lifecycle_state(&body, "instance")?;
        Ok(Observed::new(phase_of(&state), state))
    }

    async fn command(&self, resource: &str, command: Command) -> Result<Ticket, PowerError> {
        let id = require_ocid(resource, super::ocid::OcidType::Instance)?;
        let action = match command {
            Command::Start => "START",
            Command::Stop => self.stop.action(),
            Command::Restart => self.stop.reset_action(),
        };
        let url = self.client.url(
            Service::Compute,
            &[API, "instances", id],
            &[("action", action)],
        );
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.client
            .call(Method::POST, url, &[("opc-retry-token", token)])
            .await?;
        Ok(Ticket::none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_table() {
        for (state, phase) in [
            ("RUNNING", Phase::Running),
            ("STOPPED", Phase::Stopped),
            ("PROVISIONING", Phase::Transitional),
            ("STARTING", Phase::Transitional),
            ("STOPPING", Phase::Transitional),
            ("MOVING", Phase::Transitional),
            ("CREATING_IMAGE", Phase::Transitional),
            ("TERMINATING", Phase::Transitional),
            ("TERMINATED", Phase::Gone),
            ("SOMETHING_NEW", Phase::Transitional),
        ] {
            assert_eq!(phase_of(state), phase, "{state}");
        }
    }

    #[test]
    fn stop_modes() {
        assert_eq!(StopMode::default().action(), "SOFTSTOP");
        assert_eq!(StopMode::Hard.action(), "STOP");
        for (s, m) in [
            ("SOFTSTOP", StopMode::Soft),
            ("hard", StopMode::Hard),
            (" STOP ", StopMode::Hard),
        ] {
            assert_eq!(s.parse::<StopMode>().unwrap(), m, "{s}");
        }
        assert!(matches!(
            "RESET".parse::<StopMode>(),
            Err(PowerError::Config(_))
        ));
    }
}
