//! Public value types of the Nova simulator: operations, fault rules, request records
//! and the server view the tests inspect.

use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// The operations the Nova simulator counts (requests answered, whatever the status,
/// 401 included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NovaOp {
    /// `GET /` and `GET /v2.1/` (no token needed, as in Nova)
    Versions,
    /// `GET /v2.1/servers/{id}`
    GetServer,
    /// `POST /v2.1/servers/{id}/action` `{"os-start": null}`
    Start,
    /// `{"os-stop": null}`
    Stop,
    /// `{"shelve": null}`
    Shelve,
    /// `{"unshelve": null}` (or an object from 2.77)
    Unshelve,
    /// `{"reboot": {"type": "SOFT" | "HARD"}}`
    Reboot,
    /// A `POST .../action` whose body names no action (400) before it is read.
    Action,
}

impl NovaOp {
    pub const ALL: [NovaOp; 8] = [
        NovaOp::Versions,
        NovaOp::GetServer,
        NovaOp::Start,
        NovaOp::Stop,
        NovaOp::Shelve,
        NovaOp::Unshelve,
        NovaOp::Reboot,
        NovaOp::Action,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NovaOp::Versions => "Versions",
            NovaOp::GetServer => "GetServer",
            NovaOp::Start => "Start",
            NovaOp::Stop => "Stop",
            NovaOp::Shelve => "Shelve",
            NovaOp::Unshelve => "Unshelve",
            NovaOp::Reboot => "Reboot",
            NovaOp::Action => "Action",
        }
    }
}

impl fmt::Display for NovaOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Nova's fault name for an HTTP status (`nova/api/openstack/wsgi.py`, `_fault_names`;
/// `computeFault` for the rest).
pub fn fault_name(status: u16) -> &'static str {
    match status {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

/// An injected failure. Rules are checked in the order they were added, after the
/// token check, the microversion check and the routing (so a faulted request was
/// authenticated); the first rule matching the request's operation (and server, if
/// the rule names one) applies and its `times` is decremented (removed at 0; a rule
/// added with `times == 0` never applies).
///
/// The answer is Nova's fault body `{"<faultName>": {"code", "message"}}` (the name
/// follows from `status`, see [`fault_name`]); with `retry_after_secs` it carries a
/// `Retry-After` header, and for 413/429 also `retryAfter` in the body, as Nova's
/// `overLimit` does. `status == 0` makes a "stall only" rule: the request waits
/// `delay` and is then handled normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NovaFaultRule {
    /// `None` = any operation.
    pub op: Option<NovaOp>,
    /// Only requests about this server id.
    pub server: Option<String>,
    pub status: u16,
    pub message: String,
    pub retry_after_secs: Option<u32>,
    pub times: usize,
    /// Stall this long before answering (to provoke client timeouts).
    pub delay: Option<Duration>,
}

impl Default for NovaFaultRule {
    fn default() -> Self {
        NovaFaultRule {
            op: None,
            server: None,
            status: 500,
            message: "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class 'Exception'> (injected by gamefleet-sim)".to_string(),
            retry_after_secs: None,
            times: 1,
            delay: None,
        }
    }
}

impl NovaFaultRule {
    /// Fail `op` once with `status` and `message`.
    pub fn new(op: NovaOp, status: u16, message: &str) -> Self {
        NovaFaultRule {
            op: Some(op),
            status,
            message: message.to_string(),
            ..NovaFaultRule::default()
        }
    }

    /// A rate limit in front of Nova: 429 `overLimit` with `Retry-After`.
    pub fn throttled(op: NovaOp, retry_after_secs: u32) -> Self {
        NovaFaultRule::new(op, 429, "This request was rate-limited.").retry_after(retry_after_secs)
    }

    /// 503 `serviceUnavailable` (a cell or the conductor down).
    pub fn unavailable(op: NovaOp) -> Self {
        NovaFaultRule::new(
            op,
            503,
            "The server is currently unavailable. Please try again at a later time.",
        )
    }

    /// Stall `op` for `delay`, then handle it normally.
    pub fn stall(op: NovaOp, delay: Duration) -> Self {
        NovaFaultRule::new(op, 0, "").delay(delay)
    }

    /// Only requests about server `id`.
    pub fn server(mut self, id: &str) -> Self {
        self.server = Some(id.to_string());
        self
    }
}

/// One request as seen by the Nova simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NovaRequestRecord {
    pub method: String,
    pub path: String,
    /// Raw query string (without `?`), empty if none.
    pub query: String,
    /// Status answered; 499 if the client went away before the answer.
    pub status: u16,
    /// Fault name of an error answer (`conflictingRequest`, `unauthorized`, ...).
    pub fault: Option<String>,
    /// Message of an error answer (for a 401 it ends with the simulator's reason).
    pub message: Option<String>,
    /// `None` for paths that are no known operation.
    pub op: Option<NovaOp>,
    /// The compute microversion the request was served at (`None` if refused before).
    pub microversion: Option<String>,
    /// Keystone user id of a token that validated.
    pub user_id: Option<String>,
    /// Keystone project id the token is scoped to.
    pub project_id: Option<String>,
    /// The `X-Openstack-Request-Id` answered (`req-<uuid>`).
    pub request_id: String,
    pub at: DateTime<Utc>,
}

/// A server as `GET /v2.1/servers/{id}` would show it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NovaServer {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SHUTOFF`, `SHELVED`, `SHELVED_OFFLOADED`, `REBOOT`, `HARD_REBOOT`, `ERROR`.
    pub status: String,
    /// `OS-EXT-STS:vm_state`: `active`, `stopped`, `shelved`, `shelved_offloaded`, `error`.
    pub vm_state: String,
    /// `OS-EXT-STS:task_state`; `None` when settled.
    pub task_state: Option<String>,
    /// `OS-EXT-STS:power_state`: 0 NOSTATE, 1 RUNNING, 4 SHUTDOWN.
    pub power_state: u8,
    /// `fault.message` of a server in `ERROR`.
    pub fault: Option<String>,
    /// The Keystone project that owns it; `None` = visible to every project.
    pub project_id: Option<String>,
}

crate::faults::fault_rule_builders!(NovaFaultRule, message: message, any_op);
