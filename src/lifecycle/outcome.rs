//! The result of one lifecycle run, as a value: what was seen, what was done,
//! what was reached, how long it took, and the message the OCI function used.

use super::{Action, Command, PowerError};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Duration;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    /// The command was sent and the target state reached.
    Succeeded,
    /// Already in the asked-for state.
    NoAction,
    /// `status`.
    Reported,
    /// `wait: false`: the command was sent, nobody waited.
    Accepted,
    /// Transitional, failed or gone: nothing was sent.
    Refused,
    /// The command was sent but the target was not seen before the deadline.
    TimedOut,
    /// The provider reported failure (FAILED state, failed work request, gone).
    Failed,
    /// A call to the provider failed.
    Error(PowerError),
}

impl OutcomeKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            OutcomeKind::Succeeded => "succeeded",
            OutcomeKind::NoAction => "noAction",
            OutcomeKind::Reported => "reported",
            OutcomeKind::Accepted => "accepted",
            OutcomeKind::Refused => "refused",
            OutcomeKind::TimedOut => "timedOut",
            OutcomeKind::Failed => "failed",
            OutcomeKind::Error(_) => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub provider: &'static str,
    pub resource: String,
    pub action: Action,
    /// Provider state before acting (None if it could not be read).
    pub seen: Option<String>,
    /// The command sent, if any.
    pub command: Option<Command>,
    /// Last provider state seen after acting.
    pub reached: Option<String>,
    pub kind: OutcomeKind,
    /// Time from the first read to the end.
    pub elapsed: Duration,
    pub message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rendered<'a> {
    message: &'a str,
    result: &'static str,
    provider: &'static str,
    resource: &'a str,
    action: Action,
    seen: Option<&'a str>,
    command: Option<Command>,
    reached: Option<&'a str>,
    elapsed_seconds: f64,
}

impl Outcome {
    /// The JSON every way in answers with.
    pub fn to_json(&self) -> Value {
        json!(Rendered {
            message: &self.message,
            result: self.kind.as_str(),
            provider: self.provider,
            resource: &self.resource,
            action: self.action,
            seen: self.seen.as_deref(),
            command: self.command,
            reached: self.reached.as_deref(),
            elapsed_seconds: (self.elapsed.as_millis() as f64) / 1000.0,
        })
    }

    /// Process exit code for the CLI: 0 done (or nothing to do), 1 failed,
    /// 2 timed out, 3 refused (transitional state).
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

impl OutcomeKind {
    /// Process exit code of a result (one target's, or a set's overall one).
    pub fn exit_code(&self) -> u8 {
        match self {
            OutcomeKind::Succeeded
            | OutcomeKind::NoAction
            | OutcomeKind::Reported
            | OutcomeKind::Accepted => 0,
            OutcomeKind::TimedOut => 2,
            OutcomeKind::Refused => 3,
            OutcomeKind::Failed | OutcomeKind::Error(_) => 1,
        }
    }
}
