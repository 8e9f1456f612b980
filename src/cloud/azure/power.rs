//! Azure container groups through the lifecycle core: start (a long-running
//! operation), stop (synchronous), and their state read from
//! `properties.provisioningState` + `properties.instanceView.state`.

use super::arm::{group_status, ArmAnswer, ArmClient};
use crate::fleet::events::ResourceId;
use crate::lifecycle::{
    Command, Observed, Phase, Power, PowerError, Ticket, TicketStatus, Vocabulary,
};
use crate::ports::{GroupStatus, PlatformError};
use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use std::sync::Arc;

pub const VOCABULARY: Vocabulary = Vocabulary {
    provider: "aci",
    noun: "Container group",
    running: "Running",
    stopped: "Stopped",
};

/// ACI start/stop over the process's one ARM client.
#[derive(Debug, Clone)]
pub struct AciPower {
    arm: Arc<ArmClient>,
}

impl AciPower {
    pub fn new(arm: Arc<ArmClient>) -> Self {
        Self { arm }
    }

    /// A full ARM id, or `resourceGroup/name` in the configured subscription.
    fn locate(&self, resource: &str) -> Result<(String, String, String), PowerError> {
        split(resource, self.arm.subscription())
    }
}

/// The registry's check of an `aci` resource: an ARM id of a container group,
/// or `<resourceGroup>/<name>`, with names ARM would accept.
pub fn check_resource(resource: &str) -> Result<(), crate::lifecycle::InvalidResource> {
    split(resource, "00000000-0000-0000-0000-000000000000")
        .map(drop)
        .map_err(|e| crate::lifecycle::InvalidResource(e.to_string()))
}

/// (subscription, resource group, name) of a resource id.
fn split(resource: &str, subscription: &str) -> Result<(String, String, String), PowerError> {
    if let Some(id) = ResourceId::parse(resource) {
        if !id.is_container_group() {
            return Err(PowerError::InvalidResource(format!(
                "{resource} is a {}, not a Microsoft.ContainerInstance/containerGroups resource",
                id.resource_type
            )));
        }
        return checked(id.subscription, id.resource_group, id.name);
    }
    match resource.split_once('/') {
        Some((rg, name)) if !rg.is_empty() && !name.is_empty() && !name.contains('/') => {
            checked(subscription.to_owned(), rg.to_owned(), name.to_owned())
        }
        _ => Err(PowerError::InvalidResource(format!(
            "{resource:?} is not a container group: give its ARM id (/subscriptions/…/containerGroups/<name>) or <resourceGroup>/<name>"
        ))),
    }
}

/// Names ARM would accept, so nothing odd (`..`, `%2F`) reaches a URL path.
fn checked(sub: String, rg: String, name: String) -> Result<(String, String, String), PowerError> {
    let bad = |e: crate::fleet::NameError| PowerError::InvalidResource(e.to_string());
    crate::fleet::ResourceGroup::parse(&rg).map_err(bad)?;
    crate::fleet::ContainerGroupName::parse(&name).map_err(bad)?;
    if sub.is_empty() || !sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(PowerError::InvalidResource(format!(
            "{sub:?} is not a subscription id"
        )));
    }
    Ok((sub, rg, name))
}

/// ARM's two state fields, normalised (see docs/reference/providers.md §0).
pub fn phase_of(status: &GroupStatus) -> Observed {
    let prov = status.provisioning_state.as_str();
    let inst = status.instance_state.as_deref().unwrap_or("");
    let p = prov.to_ascii_lowercase();
    let i = inst.to_ascii_lowercase();
    if matches!(p.as_str(), "failed" | "canceled" | "unhealthy") {
        return Observed::new(Phase::Failed, prov);
    }
    if i == "failed" {
        return Observed::new(Phase::Failed, inst);
    }
    if matches!(
        p.as_str(),
        "accepted"
            | "pending"
            | "creating"
            | "updating"
            | "repairing"
            | "deleting"
            | "notspecified"
    ) {
        return Observed::new(Phase::Transitional, prov);
    }
    match i.as_str() {
        "running" if p == "succeeded" => Observed::new(Phase::Running, inst),
        // Stopped, or every container exited (restart policy Never/OnFailure): start re-runs it.
        "stopped" | "succeeded" | "terminated" => Observed::new(Phase::Stopped, inst),
        "" => Observed::new(
            Phase::Transitional,
            if prov.is_empty() { "Unknown" } else { prov },
        ),
        _ => Observed::new(Phase::Transitional, inst),
    }
}

fn power_error(e: PlatformError) -> PowerError {
    match e {
        PlatformError::Rejected {
            status: 404,
            code,
            message,
        } => PowerError::NotFound(format!("{code}: {message}")),
        PlatformError::Rejected {
            status,
            code,
            message,
        } => PowerError::Rejected(format!("ARM {status} {code}: {message}")),
        PlatformError::Unauthorized {
            status,
            code,
            message,
        } => PowerError::Unauthorized(format!("ARM {status} {code}: {message}")),
        PlatformError::Throttled { .. } => {
            PowerError::Unavailable("ARM is throttling requests".into())
        }
        PlatformError::Unavailable { message } => PowerError::Unavailable(message),
    }
}

#[async_trait]
impl Power for AciPower {
    fn vocabulary(&self) -> Vocabulary {
        VOCABULARY
    }

    async fn observe(&self, resource: &str) -> Result<Observed, PowerError> {
        let (sub, rg, name) = self.locate(resource)?;
        let r = self
            .arm
            .send(
                Method::GET,
                self.arm.container_group_url(&sub, &rg, &name, &[]),
                None,
            )
            .await
            .map_err(power_error)?;
        match r.status {
            StatusCode::OK => Ok(phase_of(&group_status(r.json().map_err(power_error)?))),
            _ => Err(power_error(r.into_error())),
        }
    }

    async fn command(&self, resource: &str, command: Command) -> Result<Ticket, PowerError> {
        let (sub, rg, name) = self.locate(resource)?;
        let action = match command {
            Command::Start => "start",
            Command::Stop => "stop",
            Command::Restart => "restart",
        };
        let r = self
            .arm
            .send(
                Method::POST,
                self.arm.container_group_url(&sub, &rg, &name, &[action]),
                None,
            )
            .await
            .map_err(power_error)?;
        if !r.status.is_success() {
            return Err(power_error(r.into_error()));
        }
        let op = r
            .headers
            .get("azure-asyncoperation")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(match op {
            Some(url) => Ticket::follow(url),
            // 204 without an operation to follow: ARM finished it (stop, restart).
            None if r.status == StatusCode::NO_CONTENT => Ticket::completed(),
            None => Ticket::none(),
        })
    }

    async fn check(&self, ticket: &Ticket) -> Result<TicketStatus, PowerError> {
        let Some(url) = ticket.id.as_deref().and_then(|u| url::Url::parse(u).ok()) else {
            return Ok(TicketStatus::Unknown);
        };
        let (status, error) = self.arm.operation_status(&url).await.map_err(power_error)?;
        Ok(match status.to_ascii_lowercase().as_str() {
            "succeeded" => TicketStatus::Succeeded,
            "failed" | "canceled" | "cancelled" => TicketStatus::Failed(error.unwrap_or(status)),
            _ => TicketStatus::InProgress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn st(prov: &str, inst: Option<&str>) -> Observed {
        let mut props = json!({"provisioningState": prov});
        if let Some(i) = inst {
            props["instanceView"] = json!({"state": i});
        }
        phase_of(&group_status(json!({"properties": props})))
    }

    #[test]
    fn arm_states_map_to_phases() {
        use Phase::*;
        let cases = [
            (("Succeeded", Some("Running")), (Running, "Running")),
            (("Succeeded", Some("Stopped")), (Stopped, "Stopped")),
            (("Succeeded", Some("Succeeded")), (Stopped, "Succeeded")),
            (("Pending", Some("Pending")), (Transitional, "Pending")),
            (("Creating", None), (Transitional, "Creating")),
            (("Succeeded", Some("Pending")), (Transitional, "Pending")),
            (("Failed", Some("Running")), (Failed, "Failed")),
            (("Succeeded", Some("Failed")), (Failed, "Failed")),
            (("Unhealthy", None), (Failed, "Unhealthy")),
            (("Deleting", Some("Running")), (Transitional, "Deleting")),
            (("Succeeded", None), (Transitional, "Succeeded")),
        ];
        for ((prov, inst), (phase, word)) in cases {
            assert_eq!(
                st(prov, inst),
                Observed::new(phase, word),
                "{prov}/{inst:?}"
            );
        }
    }
}
