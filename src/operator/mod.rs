//! `gamefleet fleet`: the operator's CLI over a deployment's public HTTP API
//! (List, SetState, Delete, Details), for a deployment on Azure (its Functions
//! host and a function key) or the local stack (`scripts/run-local`).
//!
//! Not `gamefleet fleets`, which stores the autoscaler's fleet definitions in
//! the table directly. This one only calls the API, so it needs nothing but
//! the URL and the key, and every rule stays the deployment's: SetState's state
//! machine, Delete's refusal of servers holding players, GC's rules (the dry run
//! applies GC's own pure rule, [`crate::fleet::gc`], to what List shows).
//!
//! Tables go to stdout, `--json` prints the API's answers for scripts,
//! progress bars go to stderr only when it is a terminal and more than one
//! item is at work. Exit codes: [`Exit`].

mod args;
mod batch;
pub mod client;
mod commands;
pub mod gc;
pub mod render;

pub use args::{FleetArgs, FleetCommand};

use crate::fleet::GroupState;
use crate::secret::Secret;
use client::{Base, Client, Failure};

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  everything done
  1  some items failed or were refused (404 not found, 409 has sessions, illegal move ...)
  2  bad arguments
  3  authentication refused (401/403): check --key / GAMEFLEET_KEY
  4  the deployment unreachable (connection, timeout) or answering 5xx
  5  drain --wait timed out with servers left";

/// How a `gamefleet fleet` command ended. When several things went wrong the
/// worst decides (authentication, then the deployment, then a timeout, then items).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Done,
    ItemsFailed,
    Usage,
    Auth,
    Unreachable,
    TimedOut,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::ItemsFailed => 1,
            Exit::Usage => 2,
            Exit::Auth => 3,
            Exit::Unreachable => 4,
            Exit::TimedOut => 5,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::ItemsFailed => 1,
            Exit::TimedOut => 2,
            Exit::Unreachable => 3,
            Exit::Auth => 4,
            Exit::Usage => 5,
        }
    }

    pub fn worst(self, other: Exit) -> Exit {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// What a failed call means for the exit code.
    pub fn of(f: &Failure) -> Exit {
        match f {
            Failure::Auth { .. } => Exit::Auth,
            Failure::Unreachable(_) | Failure::Server { .. } | Failure::BadAnswer(_) => {
                Exit::Unreachable
            }
            Failure::Refused { .. } => Exit::ItemsFailed,
        }
    }
}
/// Run one `gamefleet fleet` command; the exit code it ends with.
pub async fn run(args: FleetArgs) -> Exit {
    let base = match Base::parse(&args.url) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("gamefleet: {e}");
            return Exit::Usage;
        }
    };
    let key = args.key.filter(|k| !k.is_empty()).map(Secret::new);
    if key
        .as_ref()
        .is_some_and(|k| reqwest::header::HeaderValue::from_str(k.expose()).is_err())
    {
        eprintln!("gamefleet: the key is not a valid header value (printable ASCII only)");
        return Exit::Usage;
    }
    let client = match Client::new(base, key.as_ref(), args.request_timeout) {
        Ok(c) => c,
        Err(f) => return fail(&f),
    };
    let op = Operator {
        client,
        json: args.json,
    };
    match args.command {
        FleetCommand::List {
            state,
            resource_group,
        } => op.list(&state, resource_group.as_ref()).await,
        FleetCommand::Show { server } => op.show(&server).await,
        FleetCommand::Mark { servers } => {
            op.set_state(servers, GroupState::MarkedForDeletion).await
        }
        FleetCommand::Unmark { servers } => op.set_state(servers, GroupState::Running).await,
        FleetCommand::Drain {
            resource_group,
            mut label,
            fleet,
            wait,
            timeout,
            poll_interval,
        } => {
            if let Some(f) = fleet {
                label.push(("fleet".into(), f));
            }
            let wait = wait.then_some((timeout, poll_interval));
            op.drain(resource_group.as_ref(), &label, wait).await
        }
        FleetCommand::Delete { servers, force } => op.delete(servers, force).await,
        FleetCommand::Gc {
            dry_run,
            failed_ttl,
            delete_lease,
        } => op.gc(dry_run, failed_ttl, delete_lease).await,
    }
}

/// The one line on stderr for a failure, and what it means for the exit code.
fn fail(f: &Failure) -> Exit {
    eprintln!("gamefleet: {f}");
    Exit::of(f)
}

/// A deployment and how to print what it answers.
struct Operator {
    client: Client,
    json: bool,
}

/// `1 server`, `3 servers`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_outcome_decides_the_exit_code() {
        use Exit::*;
        assert_eq!(Done.worst(ItemsFailed), ItemsFailed);
        assert_eq!(ItemsFailed.worst(Unreachable), Unreachable);
        assert_eq!(Auth.worst(Unreachable), Auth);
        assert_eq!(TimedOut.worst(ItemsFailed), TimedOut);
        assert_eq!(
            [Done, ItemsFailed, Usage, Auth, Unreachable, TimedOut].map(Exit::code),
            [0, 1, 2, 3, 4, 5]
        );
    }
}
