//! Public value types of the simulator: operations, fault rules, request and delivery
//! records, and the human-readable notices the program prints.

use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// The operations the simulator counts (requests answered, whatever the status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `PUT P/{name}`
    Put,
    /// `GET P/{name}`
    Get,
    /// `DELETE P/{name}`
    Delete,
    /// `GET P` and the subscription-wide list
    List,
    /// `GET P/{name}/containers/{c}/logs`
    Logs,
    /// `POST P/{name}/start`
    Start,
    /// `POST P/{name}/stop`
    Stop,
    /// `POST P/{name}/restart`
    Restart,
    /// `GET` of an `Azure-AsyncOperation` or `Location` URL
    OperationPoll,
    /// `GET /msi/token`
    Token,
}

impl Op {
    pub const ALL: [Op; 10] = [
        Op::Put,
        Op::Get,
        Op::Delete,
        Op::List,
        Op::Logs,
        Op::Start,
        Op::Stop,
        Op::Restart,
        Op::OperationPoll,
        Op::Token,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Put => "Put",
            Op::Get => "Get",
            Op::Delete => "Delete",
            Op::List => "List",
            Op::Logs => "Logs",
            Op::Start => "Start",
            Op::Stop => "Stop",
            Op::Restart => "Restart",
            Op::OperationPoll => "OperationPoll",
            Op::Token => "Token",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An injected failure. Rules are checked in the order they were added, after the
/// authentication, api-version, subscription and resource-group checks; the first rule
/// matching the request's operation and container group name applies and its `times`
/// is decremented (the rule is removed at 0; a rule added with `times == 0` never
/// applies).
///
/// `status == 0` makes a "stall only" rule: the request waits `delay` and is then
/// handled normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// `None` = any operation.
    pub op: Option<Op>,
    /// Only requests whose container group name contains this (requests without a
    /// name, e.g. list, never match such a rule).
    pub name_contains: Option<String>,
    pub status: u16,
    pub code: String,
    pub message: String,
    pub retry_after_secs: Option<u32>,
    pub times: usize,
    /// Stall this long before answering (to provoke client timeouts).
    pub delay: Option<Duration>,
}

impl Default for FaultRule {
    fn default() -> Self {
        FaultRule {
            op: None,
            name_contains: None,
            status: 500,
            code: "InternalServerError".to_string(),
            message: "Encountered internal server error (injected by gamefleet-sim).".to_string(),
            retry_after_secs: None,
            times: 1,
            delay: None,
        }
    }
}

impl FaultRule {
    /// Fail `op` once with `status`, `code` and `message`.
    pub fn new(op: Op, status: u16, code: &str, message: &str) -> Self {
        FaultRule {
            op: Some(op),
            status,
            code: code.to_string(),
            message: message.to_string(),
            ..FaultRule::default()
        }
    }

    /// ARM throttling: 429 `TooManyRequests` with `Retry-After`.
    pub fn throttled(op: Op, retry_after_secs: u32) -> Self {
        FaultRule {
            message: "The request is being throttled as the limit has been reached for operation type. For more information please go to https://aka.ms/ARMThrottling".to_string(),
            retry_after_secs: Some(retry_after_secs),
            ..FaultRule::new(op, 429, "TooManyRequests", "")
        }
    }

    /// Stall `op` for `delay`, then handle it normally.
    pub fn stall(op: Op, delay: Duration) -> Self {
        FaultRule {
            status: 0,
            delay: Some(delay),
            ..FaultRule::new(op, 0, "", "")
        }
    }

    pub fn name_contains(mut self, part: &str) -> Self {
        self.name_contains = Some(part.to_string());
        self
    }
}

/// One request as seen by the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// Raw query string (without `?`), empty if none.
    pub query: String,
    /// Status answered; 499 if the client went away before the answer.
    pub status: u16,
    /// ARM error code of an error answer.
    pub error_code: Option<String>,
    /// `None` for paths that are no known operation (or a method not allowed there).
    pub operation: Option<Op>,
    pub at: DateTime<Utc>,
}

/// One delivery attempt of an event to the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub subject: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// HTTP status of the handler's answer; `None` = connection error or timeout.
    pub status: Option<u16>,
    /// The invocation completed the way the host requires (2xx, JSON object body).
    pub accepted: bool,
    /// Why the attempt counts as failed.
    pub error: Option<String>,
}

/// Something a person watching the simulator may want to see (see
/// `Simulator::subscribe`). `Display` gives a one-line description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    PutAccepted {
        resource_group: String,
        name: String,
        status: u16,
    },
    Provisioned {
        resource_group: String,
        name: String,
        ip: Option<String>,
    },
    ProvisioningFailed {
        resource_group: String,
        name: String,
        reason: String,
    },
    DeleteAnswered {
        resource_group: String,
        name: String,
        status: u16,
    },
    Deleted {
        resource_group: String,
        name: String,
    },
    Action {
        resource_group: String,
        name: String,
        action: String,
        status: u16,
    },
    Rejected {
        method: String,
        path: String,
        status: u16,
        code: Option<String>,
    },
    TokenIssued {
        resource: String,
    },
    EventDelivered {
        event_type: String,
        subject: String,
        attempt: u32,
        status: u16,
    },
    EventDeliveryFailed {
        event_type: String,
        subject: String,
        attempt: u32,
        status: Option<u16>,
        error: String,
        retry_in: Option<Duration>,
    },
}

fn short_type(t: &str) -> &str {
    t.rsplit('.').next().unwrap_or(t)
}

fn short_subject(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::PutAccepted {
                resource_group,
                name,
                status,
            } => write!(
                f,
                "ARM PUT {resource_group}/{name} accepted ({status}{}), provisioning",
                if *status == 201 {
                    " created"
                } else {
                    " updated"
                }
            ),
            Notice::Provisioned {
                resource_group,
                name,
                ip,
            } => write!(
                f,
                "ARM {resource_group}/{name} provisioned: Succeeded/Running, ip {}",
                ip.as_deref().unwrap_or("(none)")
            ),
            Notice::ProvisioningFailed {
                resource_group,
                name,
                reason,
            } => write!(
                f,
                "ARM {resource_group}/{name} provisioning FAILED: {reason}"
            ),
            Notice::DeleteAnswered {
                resource_group,
                name,
                status,
            } => {
                let what = match status {
                    200 => "deleted",
                    202 => "deleting",
                    204 => "did not exist",
                    _ => "answered",
                };
                write!(f, "ARM DELETE {resource_group}/{name} -> {status} ({what})")
            }
            Notice::Deleted {
                resource_group,
                name,
            } => write!(f, "ARM {resource_group}/{name} is gone"),
            Notice::Action {
                resource_group,
                name,
                action,
                status,
            } => write!(f, "ARM POST {resource_group}/{name}/{action} -> {status}"),
            Notice::Rejected {
                method,
                path,
                status,
                code,
            } => write!(
                f,
                "rejected {method} {path} -> {status} {}",
                code.as_deref().unwrap_or("")
            ),
            Notice::TokenIssued { resource } => write!(f, "MI token issued for {resource}"),
            Notice::EventDelivered {
                event_type,
                subject,
                attempt,
                status,
            } => write!(
                f,
                "event {} for {} delivered (attempt {attempt}) -> {status}",
                short_type(event_type),
                short_subject(subject)
            ),
            Notice::EventDeliveryFailed {
                event_type,
                subject,
                attempt,
                status,
                error,
                retry_in,
            } => {
                write!(
                    f,
                    "event {} for {} delivery attempt {attempt} failed ({}): {error}; ",
                    short_type(event_type),
                    short_subject(subject),
                    status.map_or("no answer".to_string(), |s| s.to_string())
                )?;
                match retry_in {
                    Some(d) => write!(f, "retry in {d:?}"),
                    None => write!(f, "dropped"),
                }
            }
        }
    }
}

crate::faults::fault_rule_builders!(FaultRule, message: message);
