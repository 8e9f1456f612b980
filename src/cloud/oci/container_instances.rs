//! OCI Container Instances (API `20210415`) through the lifecycle core.
//!
//! * state: `GET /containerInstances/{id}` → `lifecycleState`;
//! * start / stop: `POST /containerInstances/{id}/actions/start|stop` (no body)
//!   → 202 with `opc-work-request-id`, returned as the [`Ticket`];
//! * progress: `GET /workRequests/{id}` → `status`; a FAILED or CANCELED work
//!   request is explained by `GET /workRequests/{id}/errors`.
//!
//! OCI starts only an INACTIVE instance and stops only an ACTIVE one; the
//! core decides before acting, so a 409 `IncorrectState` here is a race and is
//! reported as [`PowerError::Rejected`]. The action POSTs are retried like any
//! call (5xx, timeouts); these actions take no retry token, so a retry after a
//! lost success answer meets that 409 too.

use super::client::{OciAnswer, OciClient, Service};
use super::{lifecycle_state, require_ocid};
use crate::lifecycle::{
    Command, Observed, Phase, Power, PowerError, Ticket, TicketStatus, Vocabulary,
};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;

pub const API: &str = "20210415";

pub const VOCABULARY: Vocabulary = Vocabulary {
    provider: "oci-container-instance",
    noun: "Container instance",
    running: "ACTIVE",
    stopped: "INACTIVE",
};

/// `lifecycleState` of a container instance, normalised; an unknown value is
/// taken as transitional (poll again), never as done.
pub fn phase_of(state: &str) -> Phase {
    match state {
        "ACTIVE" => Phase::Running,
        "INACTIVE" => Phase::Stopped,
        "CREATING" | "UPDATING" | "DELETING" => Phase::Transitional,
        "FAILED" => Phase::Failed,
        "DELETED" => Phase::Gone,
        _ => Phase::Transitional,
    }
}

/// Work request `status` → ticket status (`None`: failed, look up why).
pub fn work_request_status(status: &str) -> Option<TicketStatus> {
    match status {
        "SUCCEEDED" => Some(TicketStatus::Succeeded),
        "FAILED" | "CANCELED" => None,
        // ACCEPTED, IN_PROGRESS, CANCELING, and anything new.
        _ => Some(TicketStatus::InProgress),
    }
}

#[derive(Debug, Clone)]
pub struct ContainerInstances {
    client: Arc<OciClient>,
}

impl ContainerInstances {
    pub fn new(client: Arc<OciClient>) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Power for ContainerInstances {
    fn vocabulary(&self) -> Vocabulary {
        VOCABULARY
    }

    async fn observe(&self, resource: &str) -> Result<Observed, PowerError> {
        let id = require_ocid(resource, super::ocid::OcidType::ContainerInstance)?;
        let url = self.client.url(
            Service::ContainerInstances,
            &[API, "containerInstances", id],
            &[],
        );
        let body = self.client.call(Method::GET, url, &[]).await?.json()?;
        let state = lifecycle_state(&body, "container instance")?;
        Ok(Observed::new(phase_of(&state), state))
    }

    async fn command(&self, resource: &str, command: Command) -> Result<Ticket, PowerError> {
        let id = require_ocid(resource, super::ocid::OcidType::ContainerInstance)?;
        let action = match command {
            Command::Start => "start",
            Command::Stop => "stop",
            Command::Restart => "restart",
        };
        let url = self.client.url(
            Service::ContainerInstances,
            &[API, "containerInstances", id, "actions", action],
            &[],
        );
        let r = self.client.call(Method::POST, url, &[]).await?;
        Ok(match r.header("opc-work-request-id") {
            Some(wr) => Ticket::follow(wr),
            None => Ticket::none(),
        })
    }

    async fn check(&self, ticket: &Ticket) -> Result<TicketStatus, PowerError> {
        let Some(wr) = ticket.id.as_deref() else {
            return Ok(TicketStatus::Unknown);
        };
        let url = self
            .client
            .url(Service::ContainerInstances, &[API, "workRequests", wr], &[]);
        let body = self.client.call(Method::GET, url, &[]).await?.json()?;
        let status = body.get("status").and_then(Value::as_str).unwrap_or("");
        if let Some(s) = work_request_status(status) {
            return Ok(s);
        }
        // Why it failed: best effort, the status alone is still an answer.
        let url = self.client.url(
            Service::ContainerInstances,
            &[API, "workRequests", wr, "errors"],
            &[],
        );
        let why = match self
            .client
            .call(Method::GET, url, &[])
            .await
            .and_then(|r| r.json())
        {
            Ok(errors) => error_messages(&errors),
            Err(e) => {
                tracing::warn!(work_request = wr, error = %e, "could not read the work request's errors");
                None
            }
        };
        Ok(TicketStatus::Failed(match why {
            Some(why) => why,
            None => format!("work request {wr} ended {status}"),
        }))
    }
}

/// Messages of `GET /workRequests/{id}/errors` (`{"items":[{code,message,timestamp}]}`,
/// or a bare array).
fn error_messages(errors: &Value) -> Option<String> {
    let items = errors
        .get("items")
        .and_then(Value::as_array)
        .or_else(|| errors.as_array())?;
    let msgs: Vec<String> = items
        .iter()
        .filter_map(|i| {
            let msg = i.get("message").and_then(Value::as_str)?;
            Some(match i.get("code").and_then(Value::as_str) {
                Some(code) if !code.is_empty() => format!("{code}: {msg}"),
                _ => msg.to_owned(),
            })
        })
        .collect();
    (!msgs.is_empty()).then(|| msgs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phase_table() {
        for (state, phase) in [
            ("ACTIVE", Phase::Running),
            ("INACTIVE", Phase::Stopped),
            ("CREATING", Phase::Transitional),
            ("UPDATING", Phase::Transitional),
            ("DELETING", Phase::Transitional),
            ("FAILED", Phase::Failed),
            ("DELETED", Phase::Gone),
            ("SOMETHING_NEW", Phase::Transitional),
            ("active", Phase::Transitional),
        ] {
            assert_eq!(phase_of(state), phase, "{state}");
        }
    }

    #[test]
    fn work_request_table() {
        for (s, want) in [
            ("ACCEPTED", Some(TicketStatus::InProgress)),
            ("IN_PROGRESS", Some(TicketStatus::InProgress)),
            ("CANCELING", Some(TicketStatus::InProgress)),
            ("SUCCEEDED", Some(TicketStatus::Succeeded)),
            ("FAILED", None),
            ("CANCELED", None),
        ] {
            assert_eq!(work_request_status(s), want, "{s}");
        }
    }

    #[test]
    fn work_request_errors_are_joined() {
        let e = json!({"items": [
            {"code": "InternalError", "message": "out of capacity", "timestamp": "t"},
            {"message": "retry later"}
        ]});
        assert_eq!(
            error_messages(&e).as_deref(),
            Some("InternalError: out of capacity; retry later")
        );
        assert_eq!(
            error_messages(&json!([{"message": "x"}])).as_deref(),
            Some("x")
        );
        assert_eq!(error_messages(&json!({"items": []})), None);
    }
}
