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

pub mod client;
pub mod gc;
pub mod render;

use crate::fleet::{ContainerGroupName, GroupKey, GroupState, ResourceGroup};
use crate::secret::Secret;
use clap::builder::PossibleValuesParser;
use clap::{ArgGroup, Args, Subcommand};
use client::{Base, Client, Failure};
use futures::stream::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use render::{ItemResult, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// List's `state` filter.
const STATES: [&str; 6] = [
    "Running",
    "Creating",
    "MarkedForDeletion",
    "Failed",
    "Deleting",
    "all",
];

/// `gamefleet fleet …`
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct FleetArgs {
    /// The deployment: its Functions host (https://<app>.azurewebsites.net) or
    /// gamefleet itself; the default is the local stack (scripts/run-local)
    #[arg(
        long,
        env = "GAMEFLEET_URL",
        default_value = "http://127.0.0.1:7071",
        global = true
    )]
    pub url: String,
    /// The key: a function key of the Functions host, or one of
    /// GAMEFLEET_API_KEYS (sent as x-functions-key and X-API-Key, never
    /// printed); prefer the environment variable to the flag
    #[arg(long, env = "GAMEFLEET_KEY", hide_env_values = true, global = true)]
    pub key: Option<String>,
    /// Give up on one call after this long
    #[arg(long, default_value = "90s", value_parser = humantime::parse_duration, global = true)]
    pub request_timeout: Duration,
    /// Print JSON for scripts (list: the API's array unchanged) instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// The servers List shows: resource group, name, state, region,
    /// sessions/max, reserved, health, age
    List {
        /// List's state filter
        #[arg(long, default_value = "Running", value_parser = PossibleValuesParser::new(STATES))]
        state: String,
        #[arg(long, value_parser = parse_rg)]
        resource_group: Option<ResourceGroup>,
    },
    /// One server: its List item and ARM's view of it (Details), summarised
    Show {
        /// RESOURCE_GROUP/NAME
        #[arg(value_parser = parse_target)]
        server: GroupKey,
    },
    /// Mark servers for deletion: GC deletes each once it holds nobody
    Mark {
        /// RESOURCE_GROUP/NAME, one or more
        #[arg(required = true, value_parser = parse_target)]
        servers: Vec<GroupKey>,
    },
    /// Take marked servers back (Running) while they still run: GC leaves them
    Unmark {
        /// RESOURCE_GROUP/NAME, one or more
        #[arg(required = true, value_parser = parse_target)]
        servers: Vec<GroupKey>,
    },
    /// Mark every Running server that matches all the selectors given; with
    /// --wait, wait until GC deleted them
    #[command(group(
        ArgGroup::new("selector")
            .required(true)
            .multiple(true)
            .args(["resource_group", "label", "fleet"])
    ))]
    Drain {
        #[arg(long, value_parser = parse_rg)]
        resource_group: Option<ResourceGroup>,
        /// KEY=VALUE, several times: every one must match
        #[arg(long, value_parser = parse_label)]
        label: Vec<(String, String)>,
        /// The servers of an autoscaler fleet (label fleet=NAME)
        #[arg(long)]
        fleet: Option<String>,
        /// Poll List until every marked server is gone
        #[arg(long)]
        wait: bool,
        /// How long --wait waits (exit code 5 after it)
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration, requires = "wait")]
        timeout: Duration,
        /// How often --wait asks List
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, requires = "wait")]
        poll_interval: Duration,
    },
    /// Delete servers now (ARM, then the row); one holding sessions is
    /// refused unless --force
    Delete {
        /// RESOURCE_GROUP/NAME, one or more
        #[arg(required = true, value_parser = parse_target)]
        servers: Vec<GroupKey>,
        /// Delete even a server whose row shows players
        #[arg(long)]
        force: bool,
    },
    /// What GC deletes now (marked and empty, Failed past its TTL, unhealthy
    /// and empty, stale Deleting claims), by GC's own rule on what List shows;
    /// without --dry-run, delete those through the Delete API (never --force)
    Gc {
        /// Show them and why; change nothing
        #[arg(long)]
        dry_run: bool,
        /// The deployment's FLEET_FAILED_TTL
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        failed_ttl: Duration,
        /// The deployment's DELETE_LEASE (DELETE_WAIT + ARM_TIMEOUT)
        #[arg(long, default_value = "50s", value_parser = humantime::parse_duration)]
        delete_lease: Duration,
    },
}

fn parse_rg(raw: &str) -> Result<ResourceGroup, String> {
    ResourceGroup::parse(raw).map_err(|e| e.to_string())
}

/// `RESOURCE_GROUP/NAME`.
fn parse_target(raw: &str) -> Result<GroupKey, String> {
    let (rg, name) = raw
        .split_once('/')
        .ok_or("expected RESOURCE_GROUP/NAME, e.g. arena/alpha")?;
    Ok(GroupKey::new(
        ResourceGroup::parse(rg).map_err(|e| e.to_string())?,
        ContainerGroupName::parse(name).map_err(|e| e.to_string())?,
    ))
}

fn parse_label(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE, e.g. mode=ctf".into()),
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

/// A bar on stderr for `len` items, shown only when there is more than one
/// and stderr is a terminal (scripts and tests get clean output).
fn progress(len: usize, what: &str) -> ProgressBar {
    if len < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// What one successful call did, for the results table.
struct Outcome {
    result: &'static str,
    detail: String,
    answer: Value,
}

/// Calls on one item at once, at most.
const CONCURRENCY: usize = 8;

struct Operator {
    client: Client,
    json: bool,
}

impl Operator {
    async fn list_servers(&self, rg: Option<&ResourceGroup>) -> Result<Vec<Server>, Failure> {
        let (_, items) = self.client.list("all", rg.map(|r| r.as_str())).await?;
        Server::parse_all(&items).map_err(Failure::BadAnswer)
    }

    async fn list(&self, state: &str, rg: Option<&ResourceGroup>) -> Exit {
        let (text, items) = match self.client.list(state, rg.map(|r| r.as_str())).await {
            Ok(answer) => answer,
            Err(f) => return fail(&f),
        };
        if self.json {
            println!("{}", text.trim());
            return Exit::Done;
        }
        let servers = match Server::parse_all(&items) {
            Ok(s) => s,
            Err(e) => return fail(&Failure::BadAnswer(e)),
        };
        println!(
            "{}",
            render::lines(&render::servers(&servers, chrono::Utc::now()))
        );
        eprintln!("{}", plural(servers.len(), "server"));
        Exit::Done
    }

    async fn show(&self, key: &GroupKey) -> Exit {
        let items = match self
            .client
            .list("all", Some(key.resource_group.as_str()))
            .await
        {
            Ok((_, items)) => items,
            Err(f) => return fail(&f),
        };
        let servers = match Server::parse_all(&items) {
            Ok(s) => s,
            Err(e) => return fail(&Failure::BadAnswer(e)),
        };
        let Some(at) = servers.iter().position(|s| s.key().as_ref() == Some(key)) else {
            eprintln!("gamefleet: no server {key}: List (state=all) shows none by that name");
            return Exit::ItemsFailed;
        };
        let (details, exit) = match self.client.details(key).await {
            Ok(a) => (Some(a.body), Exit::Done),
            Err(f) => {
                eprintln!("gamefleet: ARM's view of {key}: {f}");
                (None, Exit::of(&f))
            }
        };
        if self.json {
            println!("{}", json!({"server": items[at], "details": details}));
        } else {
            println!(
                "{}",
                render::lines(&render::show(
                    &servers[at],
                    details.as_ref(),
                    chrono::Utc::now()
                ))
            );
        }
        exit
    }

    async fn set_state(&self, keys: Vec<GroupKey>, to: GroupState) -> Exit {
        let (verb, done) = match to {
            GroupState::Running => ("unmark", "unmarked"),
            _ => ("mark", "marked"),
        };
        let (results, exit) = self
            .each(&keys, verb, |k| async move {
                let a = self.client.set_state(&k, to).await?;
                Ok(Outcome {
                    result: done,
                    detail: format!("now {}", a.body["state"].as_str().unwrap_or("?")),
                    answer: a.body,
                })
            })
            .await;
        self.report(verb, &results, exit)
    }

    async fn drain(
        &self,
        rg: Option<&ResourceGroup>,
        labels: &[(String, String)],
        wait: Option<(Duration, Duration)>,
    ) -> Exit {
        let servers = match self.list_servers(rg).await {
            Ok(s) => s,
            Err(f) => return fail(&f),
        };
        let keys: Vec<GroupKey> = servers
            .iter()
            .filter(|s| s.state == GroupState::Running)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .filter_map(Server::key)
            .collect();
        if keys.is_empty() {
            if self.json {
                println!("[]");
            }
            eprintln!("drain: no Running server matches");
            return Exit::Done;
        }
        let (results, exit) = self
            .each(&keys, "drain", |k| async move {
                let a = self
                    .client
                    .set_state(&k, GroupState::MarkedForDeletion)
                    .await?;
                Ok(Outcome {
                    result: "marked",
                    detail: "GC deletes it once empty".into(),
                    answer: a.body,
                })
            })
            .await;
        let exit = self.report("drain", &results, exit);
        let Some((timeout, poll)) = wait else {
            return exit;
        };
        if matches!(exit, Exit::Auth | Exit::Unreachable) {
            return exit;
        }
        let marked: BTreeSet<GroupKey> = keys
            .into_iter()
            .zip(&results)
            .filter(|(_, r)| r.ok)
            .map(|(k, _)| k)
            .collect();
        exit.worst(self.wait_gone(rg, marked, timeout, poll).await)
    }

    /// Poll List until none of `left` is in it any more, or `timeout`.
    async fn wait_gone(
        &self,
        rg: Option<&ResourceGroup>,
        mut left: BTreeSet<GroupKey>,
        timeout: Duration,
        poll: Duration,
    ) -> Exit {
        let total = left.len();
        let deadline = Instant::now() + timeout;
        let bar = progress(total, "waiting for GC");
        loop {
            match self.list_servers(rg).await {
                Ok(servers) => {
                    let listed: BTreeSet<GroupKey> =
                        servers.iter().filter_map(Server::key).collect();
                    left.retain(|k| listed.contains(k));
                    bar.set_position((total - left.len()) as u64);
                }
                Err(f) if f.is_fatal() => {
                    bar.finish_and_clear();
                    return fail(&f);
                }
                Err(f) => eprintln!("drain: List failed, asking again: {f}"),
            }
            if left.is_empty() {
                bar.finish_and_clear();
                eprintln!("drain: all {total} gone");
                return Exit::Done;
            }
            if Instant::now() + poll > deadline {
                bar.finish_and_clear();
                let names: Vec<String> = left.iter().map(ToString::to_string).collect();
                eprintln!(
                    "drain: timed out after {} with {} of {total} left: {}",
                    humantime::format_duration(timeout),
                    left.len(),
                    names.join(" ")
                );
                return Exit::TimedOut;
            }
            tokio::time::sleep(poll).await;
        }
    }

    async fn delete(&self, keys: Vec<GroupKey>, force: bool) -> Exit {
        let (results, exit) = self
            .each(&keys, "delete", |k| async move {
                let a = self.client.delete(&k, force).await?;
                Ok(deleted(a))
            })
            .await;
        self.report("delete", &results, exit)
    }

    async fn gc(&self, dry_run: bool, failed_ttl: Duration, lease: Duration) -> Exit {
        let servers = match self.list_servers(None).await {
            Ok(s) => s,
            Err(f) => return fail(&f),
        };
        let found = gc::candidates(&servers, chrono::Utc::now(), failed_ttl, lease);
        if dry_run {
            if self.json {
                let items: Vec<Value> = found
                    .iter()
                    .map(|c| {
                        json!({"resourceGroup": c.server.resource_group,
                            "containerGroupName": c.server.container_group_name,
                            "state": c.server.state, "activeSessions": c.server.active_sessions,
                            "reserved": c.server.reserved, "action": c.action, "reason": c.reason})
                    })
                    .collect();
                println!("{}", Value::Array(items));
            } else {
                let mut t = render::table(&["SERVER", "STATE", "SESSIONS", "WHY"]);
                for c in &found {
                    t.add_row(vec![
                        c.server.name(),
                        c.server.state.as_str().to_owned(),
                        c.server.sessions(),
                        c.reason.clone(),
                    ]);
                }
                println!("{}", render::lines(&t));
            }
            eprintln!(
                "gc --dry-run: {} of {} would be deleted; nothing was changed",
                found.len(),
                plural(servers.len(), "server")
            );
            return Exit::Done;
        }
        if found.is_empty() {
            if self.json {
                println!("[]");
            }
            eprintln!(
                "gc: nothing to delete ({})",
                plural(servers.len(), "server")
            );
            return Exit::Done;
        }
        let keys: Vec<GroupKey> = found.iter().filter_map(|c| c.server.key()).collect();
        let (results, exit) = self
            .each(&keys, "gc", |k| async move {
                let a = self.client.delete(&k, false).await?;
                Ok(deleted(a))
            })
            .await;
        self.report("gc", &results, exit)
    }

    /// `op` on every key, [`CONCURRENCY`] at once, past the items' own
    /// failures; after a failure no further call can escape (the key refused,
    /// the deployment unreachable) the rest are not tried.
    async fn each<'a, F, Fut>(
        &'a self,
        keys: &[GroupKey],
        what: &str,
        op: F,
    ) -> (Vec<ItemResult>, Exit)
    where
        F: Fn(GroupKey) -> Fut + 'a,
        Fut: Future<Output = Result<Outcome, Failure>> + 'a,
    {
        let bar = progress(keys.len(), what);
        let stop = AtomicBool::new(false);
        let results: Vec<(ItemResult, Exit)> = futures::stream::iter(keys.iter().cloned())
            .map(|k| {
                let (bar, stop, op) = (&bar, &stop, &op);
                async move {
                    let server = k.to_string();
                    let base = json!({"resourceGroup": k.resource_group.as_str(),
                        "containerGroupName": k.name.as_str()});
                    if stop.load(Ordering::Relaxed) {
                        bar.inc(1);
                        let mut json = base;
                        json["ok"] = json!(false);
                        json["result"] = json!("notTried");
                        let r = ItemResult {
                            server,
                            ok: false,
                            result: "not tried".into(),
                            detail: "an earlier call failed the same way for all".into(),
                            json,
                        };
                        return (r, Exit::ItemsFailed);
                    }
                    let outcome = op(k).await;
                    bar.inc(1);
                    let mut json = base;
                    match outcome {
                        Ok(o) => {
                            json["ok"] = json!(true);
                            json["result"] = json!(o.result);
                            json["answer"] = o.answer;
                            let r = ItemResult {
                                server,
                                ok: true,
                                result: o.result.into(),
                                detail: o.detail,
                                json,
                            };
                            (r, Exit::Done)
                        }
                        Err(f) => {
                            if f.is_fatal() {
                                stop.store(true, Ordering::Relaxed);
                            }
                            let result = match &f {
                                Failure::Refused { status: 404, .. } => "not found",
                                Failure::Refused { status: 409, .. } => "refused",
                                _ => "failed",
                            };
                            let detail = match f.code() {
                                Some("GroupHasSessions") => {
                                    format!("{f} (--force deletes it anyway)")
                                }
                                _ => f.to_string(),
                            };
                            json["ok"] = json!(false);
                            json["result"] = json!(result);
                            json["error"] = f.to_json();
                            let r = ItemResult {
                                server,
                                ok: false,
                                result: result.into(),
                                detail,
                                json,
                            };
                            (r, Exit::of(&f))
                        }
                    }
                }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
        bar.finish_and_clear();
        let exit = results.iter().fold(Exit::Done, |e, (_, x)| e.worst(*x));
        (results.into_iter().map(|(r, _)| r).collect(), exit)
    }

    /// The results (a table or `--json`) on stdout, a summary on stderr.
    fn report(&self, verb: &str, results: &[ItemResult], exit: Exit) -> Exit {
        if self.json {
            let items: Vec<Value> = results.iter().map(|r| r.json.clone()).collect();
            println!("{}", Value::Array(items));
        } else {
            println!("{}", render::lines(&render::results(results)));
        }
        let ok = results.iter().filter(|r| r.ok).count();
        eprintln!(
            "{verb}: {ok} of {} done, {} failed",
            results.len(),
            results.len() - ok
        );
        if let Some(first) = results.iter().find(|r| !r.ok) {
            if matches!(exit, Exit::Auth | Exit::Unreachable) {
                eprintln!("gamefleet: {}", first.detail);
            }
        }
        exit
    }
}

/// `1 server`, `3 servers`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Delete's 200 (gone) or 202 (ARM still deleting; GC finishes it).
fn deleted(a: client::Answer) -> Outcome {
    if a.status == reqwest::StatusCode::ACCEPTED {
        Outcome {
            result: "deleting",
            detail: "ARM is still deleting it; GC finishes it".into(),
            answer: a.body,
        }
    } else {
        Outcome {
            result: "deleted",
            detail: "gone from ARM and the table".into(),
            answer: a.body,
        }
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

    #[test]
    fn targets_are_parsed_by_the_api_s_own_name_rules() {
        let k = parse_target("Arena/alpha").unwrap();
        assert_eq!(k.to_string(), "Arena/alpha");
        assert!(parse_target("arena").is_err());
        assert!(parse_target("arena/Alpha").is_err());
        assert!(parse_target("arena/").is_err());
        assert_eq!(
            parse_label("mode=ctf").unwrap(),
            ("mode".into(), "ctf".into())
        );
        assert!(parse_label("=x").is_err());
    }
}
