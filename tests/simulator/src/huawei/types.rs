//! Public value types of the Huawei simulator: operations, fault rules, request
//! records, access keys and a server snapshot.

use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// The operations the Huawei simulator counts (requests answered, whatever the
/// status, also when the signature was rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HuaweiOp {
    /// `GET /v1/{project_id}/cloudservers/detail`
    ListServersDetails,
    /// `GET /v1/{project_id}/cloudservers/{server_id}`
    ShowServer,
    /// `POST /v1/{project_id}/cloudservers/action` with `os-start`
    BatchStartServers,
    /// `POST /v1/{project_id}/cloudservers/action` with `os-stop`
    BatchStopServers,
    /// `POST /v1/{project_id}/cloudservers/action` with `reboot`
    BatchRebootServers,
    /// `GET /v1/{project_id}/jobs/{job_id}`
    ShowJob,
    /// `GET /api/v3/projects/{project_id}/clusters/{cluster_id}/nodes`
    ListNodes,
}

impl HuaweiOp {
    pub const ALL: [HuaweiOp; 7] = [
        HuaweiOp::ListServersDetails,
        HuaweiOp::ShowServer,
        HuaweiOp::BatchStartServers,
        HuaweiOp::BatchStopServers,
        HuaweiOp::BatchRebootServers,
        HuaweiOp::ShowJob,
        HuaweiOp::ListNodes,
    ];

    /// The operation name as Huawei's SDKs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            HuaweiOp::ListServersDetails => "ListServersDetails",
            HuaweiOp::ShowServer => "ShowServer",
            HuaweiOp::BatchStartServers => "BatchStartServers",
            HuaweiOp::BatchStopServers => "BatchStopServers",
            HuaweiOp::BatchRebootServers => "BatchRebootServers",
            HuaweiOp::ShowJob => "ShowJob",
            HuaweiOp::ListNodes => "ListNodes",
        }
    }
}

impl fmt::Display for HuaweiOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AK/SK pair the simulator accepts: permanent, or temporary with the security
/// token that must come (signed) in `X-Security-Token`. `Debug` hides the SK and
/// the token.
#[derive(Clone, PartialEq, Eq)]
pub struct HuaweiKey {
    pub access_key: String,
    pub secret_key: String,
    pub security_token: Option<String>,
}

impl HuaweiKey {
    pub fn permanent(access_key: &str, secret_key: &str) -> Self {
        HuaweiKey {
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            security_token: None,
        }
    }

    pub fn temporary(access_key: &str, secret_key: &str, security_token: &str) -> Self {
        HuaweiKey {
            security_token: Some(security_token.to_string()),
            ..HuaweiKey::permanent(access_key, secret_key)
        }
    }
}

impl fmt::Debug for HuaweiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HuaweiKey")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// An ECS server as `GET` would show it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuaweiServer {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SHUTOFF`, `ERROR`, ...
    pub status: String,
    /// `OS-EXT-STS:task_state`: `powering-on` / `powering-off` during an action.
    pub task_state: Option<String>,
    /// `OS-EXT-STS:vm_state`: `active`, `stopped`, `error`, ...
    pub vm_state: String,
}

/// An injected failure. Rules are checked in the order they were added, after the
/// signature check, the routing and the project check (unknown paths never reach
/// them), and for the batch actions after the body was read (so a rule for
/// [`HuaweiOp::BatchStopServers`] does not catch a start); the first rule matching
/// the operation (and resource, if the rule names one) applies and its `times` is
/// decremented (removed at 0; a rule added with `times == 0` never applies).
///
/// The answer is APIG's flat error body `{"error_code", "error_msg", "request_id"}`.
/// `status == 0` makes a "stall only" rule: the request waits `delay` and is then
/// handled normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuaweiFaultRule {
    /// `None` = any operation.
    pub op: Option<HuaweiOp>,
    /// Only requests about this id: the server, job or cluster in the path, or one
    /// of the servers of a batch action.
    pub resource: Option<String>,
    pub status: u16,
    pub error_code: String,
    pub error_msg: String,
    /// Sent as `Retry-After` (seconds); Huawei does not document one.
    pub retry_after_secs: Option<u32>,
    pub times: usize,
    /// Stall this long before answering (to provoke client timeouts).
    pub delay: Option<Duration>,
}

impl Default for HuaweiFaultRule {
    fn default() -> Self {
        HuaweiFaultRule {
            op: None,
            resource: None,
            status: 500,
            error_code: "SYS.0500".to_string(),
            error_msg: "Internal server error (injected by gamefleet-sim).".to_string(),
            retry_after_secs: None,
            times: 1,
            delay: None,
        }
    }
}

impl HuaweiFaultRule {
    /// Fail `op` once with `status`, `error_code` and `error_msg`.
    pub fn new(op: HuaweiOp, status: u16, error_code: &str, error_msg: &str) -> Self {
        HuaweiFaultRule {
            op: Some(op),
            status,
            error_code: error_code.to_string(),
            error_msg: error_msg.to_string(),
            ..HuaweiFaultRule::default()
        }
    }

    /// API gateway throttling: 429 `APIG.0308` (no `Retry-After` unless
    /// [`HuaweiFaultRule::retry_after`] adds one).
    pub fn throttled(op: HuaweiOp) -> Self {
        HuaweiFaultRule::new(
            op,
            429,
            "APIG.0308",
            "The throttling threshold has been reached: policy user over ratelimit,limit:10,time:1 minute",
        )
    }

    /// A 5xx with the default internal-error body.
    pub fn server_error(op: HuaweiOp, status: u16) -> Self {
        HuaweiFaultRule {
            op: Some(op),
            status,
            ..HuaweiFaultRule::default()
        }
    }

    /// Stall `op` for `delay`, then handle it normally.
    pub fn stall(op: HuaweiOp, delay: Duration) -> Self {
        HuaweiFaultRule::new(op, 0, "", "").delay(delay)
    }

    /// Only requests about `id`.
    pub fn resource(mut self, id: &str) -> Self {
        self.resource = Some(id.to_string());
        self
    }
}

/// One request as seen by the Huawei simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuaweiRequestRecord {
    pub method: String,
    pub path: String,
    /// Raw query string (without `?`), empty if none.
    pub query: String,
    /// Status answered; 499 if the client went away before the answer.
    pub status: u16,
    /// `error_code` (or nested `error.code`) of an error answer.
    pub error_code: Option<String>,
    /// Its message (for a 401 it ends with the simulator's reason).
    pub error_message: Option<String>,
    /// `None` for paths that are no known operation, and for a batch action whose
    /// body names neither `os-start` nor `os-stop`.
    pub op: Option<HuaweiOp>,
    /// The AK whose signature verified; `None` if it was rejected.
    pub access_key: Option<String>,
    /// For a rejected signature: the canonical request the simulator computed.
    pub expected_canonical_request: Option<String>,
    /// The `X-Request-Id` answered.
    pub request_id: String,
    pub at: DateTime<Utc>,
}

crate::faults::fault_rule_builders!(HuaweiFaultRule, message: error_msg, any_op);
