//! Public value types of the OCI simulator: operations, fault rules and request records.

use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// The operations the OCI simulator counts (requests answered, whatever the status,
/// also when the signature was rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OciOp {
    /// `GET /20210415/containerInstances/{id}`
    GetContainerInstance,
    /// `POST /20210415/containerInstances/{id}/actions/start`
    StartContainerInstance,
    /// `POST /20210415/containerInstances/{id}/actions/stop`
    StopContainerInstance,
    /// `POST /20210415/containerInstances/{id}/actions/restart`
    RestartContainerInstance,
    /// `GET /20210415/workRequests/{id}`
    GetWorkRequest,
    /// `GET /20210415/workRequests/{id}/errors`
    ListWorkRequestErrors,
    /// `GET /20160918/instances/{id}`
    GetInstance,
    /// `POST /20160918/instances/{id}?action=...`
    InstanceAction,
    /// `GET /20190301/secretbundles/{id}`
    GetSecretBundle,
    /// `GET /opc/v2/...`: the instance metadata service (any path).
    GetMetadata,
    /// `POST /v1/x509`: the auth service's instance-principal federation.
    FederateX509,
}

impl OciOp {
    pub const ALL: [OciOp; 11] = [
        OciOp::GetContainerInstance,
        OciOp::StartContainerInstance,
        OciOp::StopContainerInstance,
        OciOp::RestartContainerInstance,
        OciOp::GetWorkRequest,
        OciOp::ListWorkRequestErrors,
        OciOp::GetInstance,
        OciOp::InstanceAction,
        OciOp::GetSecretBundle,
        OciOp::GetMetadata,
        OciOp::FederateX509,
    ];

    /// The operation name as the OCI SDKs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            OciOp::GetContainerInstance => "GetContainerInstance",
            OciOp::StartContainerInstance => "StartContainerInstance",
            OciOp::StopContainerInstance => "StopContainerInstance",
            OciOp::RestartContainerInstance => "RestartContainerInstance",
            OciOp::GetWorkRequest => "GetWorkRequest",
            OciOp::ListWorkRequestErrors => "ListWorkRequestErrors",
            OciOp::GetInstance => "GetInstance",
            OciOp::InstanceAction => "InstanceAction",
            OciOp::GetSecretBundle => "GetSecretBundle",
            OciOp::GetMetadata => "GetMetadata",
            OciOp::FederateX509 => "FederateX509",
        }
    }
}

impl fmt::Display for OciOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An injected failure. Rules are checked in the order they were added, after the
/// signature check and the routing (unknown paths and wrong methods never reach
/// them); the first rule matching the request's operation (and resource, if the rule
/// names one) applies and its `times` is decremented (removed at 0; a rule added with
/// `times == 0` never applies).
///
/// `status == 0` makes a "stall only" rule: the request waits `delay` and is then
/// handled normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciFaultRule {
    /// `None` = any operation.
    pub op: Option<OciOp>,
    /// Only requests about this OCID (container instance, work request, instance or
    /// secret, as it appears in the path).
    pub resource: Option<String>,
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Sent as `retry-after` (seconds).
    pub retry_after_secs: Option<u32>,
    pub times: usize,
    /// Stall this long before answering (to provoke client timeouts).
    pub delay: Option<Duration>,
}

impl Default for OciFaultRule {
    fn default() -> Self {
        OciFaultRule {
            op: None,
            resource: None,
            status: 500,
            code: "InternalServerError".to_string(),
            message: "Internal server error (injected by gamefleet-sim).".to_string(),
            retry_after_secs: None,
            times: 1,
            delay: None,
        }
    }
}

impl OciFaultRule {
    /// Fail `op` once with `status`, `code` and `message`.
    pub fn new(op: OciOp, status: u16, code: &str, message: &str) -> Self {
        OciFaultRule {
            op: Some(op),
            status,
            code: code.to_string(),
            message: message.to_string(),
            ..OciFaultRule::default()
        }
    }

    /// OCI throttling: 429 `TooManyRequests` with `retry-after`.
    pub fn throttled(op: OciOp, retry_after_secs: u32) -> Self {
        OciFaultRule::new(
            op,
            429,
            "TooManyRequests",
            "Too many requests for the user.",
        )
        .retry_after(retry_after_secs)
    }

    /// Stall `op` for `delay`, then handle it normally.
    pub fn stall(op: OciOp, delay: Duration) -> Self {
        OciFaultRule::new(op, 0, "", "").delay(delay)
    }

    /// Only requests about `ocid`.
    pub fn resource(mut self, ocid: &str) -> Self {
        self.resource = Some(ocid.to_string());
        self
    }
}

/// One request as seen by the OCI simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRequestRecord {
    pub method: String,
    pub path: String,
    /// Raw query string (without `?`), empty if none.
    pub query: String,
    /// Status answered; 499 if the client went away before the answer.
    pub status: u16,
    /// `code` of an error answer.
    pub error_code: Option<String>,
    /// `message` of an error answer (for a 401 it ends with the simulator's reason).
    pub error_message: Option<String>,
    /// `None` for paths that are no known operation (or a method not allowed there).
    pub op: Option<OciOp>,
    /// The `keyId` whose signature verified; `None` if the request was unsigned or its
    /// signature was rejected.
    pub key_id: Option<String>,
    /// The `opc-request-id` answered.
    pub opc_request_id: String,
    pub at: DateTime<Utc>,
}

crate::faults::fault_rule_builders!(OciFaultRule, message: message, any_op);
