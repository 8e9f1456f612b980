//! The lifecycle core: start / stop / toggle / status of one compute resource
//! on any provider — normalise the provider's state, decide, act, poll until
//! the target state or the deadline, and report an [`Outcome`].
//!
//! Pure where it can be: [`decide`] is a table, [`poll`] takes its clock as a
//! parameter (tests run it in milliseconds, without sleeping), providers sit
//! behind the [`Power`] port.

pub mod decide;
pub mod outcome;
pub mod poll;
pub mod set;

pub use decide::{decide, Plan};
pub use outcome::{Outcome, OutcomeKind};
pub use poll::{run, Clock, PollSettings, SystemClock};
pub use set::{run_set, SetOutcome};

use async_trait::async_trait;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Start,
    Stop,
    /// Start if stopped, stop if running.
    Toggle,
    /// Restart a running resource (containers restarted / VM rebooted).
    Restart,
    /// Only report the state.
    Status,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Start,
        Action::Stop,
        Action::Toggle,
        Action::Restart,
        Action::Status,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Toggle => "toggle",
            Action::Restart => "restart",
            Action::Status => "status",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The OCI function's wording, with `status` added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid action '{0}'. Must be 'start', 'stop', 'toggle', 'restart' or 'status'.")]
pub struct InvalidAction(pub String);

impl FromStr for Action {
    type Err = InvalidAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| InvalidAction(s.to_owned()))
    }
}

/// A provider's state, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Running,
    Stopped,
    /// Moving (starting, stopping, creating, updating...): act later.
    Transitional,
    /// The provider says it failed.
    Failed,
    /// Deleted / terminated / not found.
    Gone,
}

/// What was observed: the normalised phase and the provider's own word for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub phase: Phase,
    /// The provider's state, verbatim (`ACTIVE`, `STOPPED`, `Running`...).
    pub state: String,
}

impl Observed {
    pub fn new(phase: Phase, state: impl Into<String>) -> Self {
        Self {
            phase,
            state: state.into(),
        }
    }
}

/// What the core asks a provider to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Start,
    Stop,
    Restart,
}

impl Command {
    pub fn target(self) -> Phase {
        match self {
            Command::Start | Command::Restart => Phase::Running,
            Command::Stop => Phase::Stopped,
        }
    }

    /// "start", "stop", "restart".
    pub fn verb(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Stop => "stop",
            Command::Restart => "restart",
        }
    }

    /// "started", "stopped", "restarted".
    pub fn done(self) -> &'static str {
        match self {
            Command::Start => "started",
            Command::Stop => "stopped",
            Command::Restart => "restarted",
        }
    }
}

/// How a provider names things in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vocabulary {
    /// Provider id as callers write it (`oci-container-instance`, `oci-compute`, `aci`).
    pub provider: &'static str,
    /// Sentence noun: "Container instance", "Instance", "Container group".
    pub noun: &'static str,
    /// The provider's word for running (`ACTIVE`, `RUNNING`, `Running`).
    pub running: &'static str,
    /// The provider's word for stopped (`INACTIVE`, `STOPPED`, `Stopped`).
    pub stopped: &'static str,
}

impl Vocabulary {
    pub fn word(&self, phase: Phase) -> &'static str {
        match phase {
            Phase::Running => self.running,
            _ => self.stopped,
        }
    }
}

/// A handle on a provider's asynchronous operation (an OCI work request, an
/// ARM long-running operation), checked while polling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ticket {
    /// What to follow with [`Power::check`], if anything.
    pub id: Option<String>,
    /// The provider answered that the command already finished.
    pub completed: bool,
}

impl Ticket {
    /// Nothing to follow: only the resource's state tells.
    pub fn none() -> Self {
        Self::default()
    }
    /// An operation to follow.
    pub fn follow(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            completed: false,
        }
    }
    /// The provider finished the command before answering.
    pub fn completed() -> Self {
        Self {
            id: None,
            completed: true,
        }
    }
}

/// What a provider says about a [`Ticket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketStatus {
    InProgress,
    Succeeded,
    Failed(String),
    /// The provider cannot tell (no ticket, or no way to follow it).
    Unknown,
}

/// Failure of a provider call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowerError {
    /// The resource does not exist (or we may not see it).
    #[error("{0}")]
    NotFound(String),
    /// The provider refused our credentials or signature.
    #[error("{0}")]
    Unauthorized(String),
    /// The provider refused the request (wrong state, bad id...).
    #[error("{0}")]
    Rejected(String),
    /// The provider could not be reached or kept failing (after retries).
    #[error("{0}")]
    Unavailable(String),
    /// Local configuration (keys, config file, region) is missing or wrong.
    #[error("{0}")]
    Config(String),
    /// The resource id given is not one this provider can address.
    #[error("{0}")]
    InvalidResource(String),
    /// The provider refused the command for the resource's current state
    /// (Nova's 409): the core reports it as refused.
    #[error("{0}")]
    Conflict(String),
}

/// A resource id without its provider's shape (checked before any request);
/// the message names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidResource(pub String);

impl std::ops::Deref for InvalidResource {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<InvalidResource> for PowerError {
    fn from(e: InvalidResource) -> Self {
        PowerError::InvalidResource(e.0)
    }
}

/// One compute resource kind on one provider.
#[async_trait]
pub trait Power: Send + Sync {
    fn vocabulary(&self) -> Vocabulary;

    /// The resource's current state.
    async fn observe(&self, resource: &str) -> Result<Observed, PowerError>;

    /// Ask the provider to start or stop; returns a ticket to follow, if any.
    async fn command(&self, resource: &str, command: Command) -> Result<Ticket, PowerError>;

    /// Progress of an operation started by [`Power::command`].
    async fn check(&self, _ticket: &Ticket) -> Result<TicketStatus, PowerError> {
        Ok(TicketStatus::Unknown)
    }

    /// Send `command` to several resources: one ticket per resource, in
    /// order. One call each by default; a provider with a batch API (ECS)
    /// sends one request for all.
    async fn command_many(
        &self,
        resources: &[String],
        command: Command,
    ) -> Vec<Result<Ticket, PowerError>> {
        let mut tickets = Vec::with_capacity(resources.len());
        for r in resources {
            tickets.push(self.command(r, command).await);
        }
        tickets
    }

    /// The same provider stopping HARD (power off at once) or SOFT (an ACPI
    /// shutdown), for a request's `"type"`; `None` if it has no such choice.
    fn with_stop(&self, _hard: bool) -> Option<std::sync::Arc<dyn Power>> {
        None
    }

    /// The resources a selector names (a CCE cluster's servers).
    async fn select(&self, selector: &Selector) -> Result<Vec<Member>, PowerError> {
        Err(PowerError::InvalidResource(format!(
            "provider '{}' has no selectors ({selector:?} was given); name the resources",
            self.vocabulary().provider
        )))
    }
}

/// A set of resources named by what they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The ECS servers of a CCE cluster's nodes.
    Cluster(String),
}

/// One resource of a set: its id, and its name where the provider gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub resource: String,
    pub name: String,
}

/// Default poll interval and deadline (the OCI function's: 15 s, 240 s).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(240);
