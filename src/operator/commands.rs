//! Each `gamefleet fleet` command: the calls it makes and what it prints.

use super::batch::{each, progress, Outcome};
use super::client::{self, Failure};
use super::render::{self, Server};
use super::{fail, gc, plural, Exit, Operator};
use crate::fleet::{GroupKey, GroupState, ResourceGroup};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

impl Operator {
    async fn list_servers(&self, rg: Option<&ResourceGroup>) -> Result<Vec<Server>, Failure> {
        let (_, items) = self.client.list("all", rg.map(|r| r.as_str())).await?;
        Server::parse_all(&items).map_err(Failure::BadAnswer)
    }

    pub(super) async fn list(&self, state: &str, rg: Option<&ResourceGroup>) -> Exit {
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

    pub(super) async fn show(&self, key: &GroupKey) -> Exit {
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

    pub(super) async fn set_state(&self, keys: Vec<GroupKey>, to: GroupState) -> Exit {
        let (verb, done) = match to {
            GroupState::Running => ("unmark", "unmarked"),
            _ => ("mark", "marked"),
        };
        let (results, exit) = each(&keys, verb, |k| async move {
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

    pub(super) async fn drain(
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
        let (results, exit) = each(&keys, "drain", |k| async move {
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

    pub(super) async fn delete(&self, keys: Vec<GroupKey>, force: bool) -> Exit {
        let (results, exit) = each(&keys, "delete", |k| async move {
            let a = self.client.delete(&k, force).await?;
            Ok(deleted(a))
        })
        .await;
        self.report("delete", &results, exit)
    }

    pub(super) async fn gc(&self, dry_run: bool, failed_ttl: Duration, lease: Duration) -> Exit {
        let servers = match self.list_servers(None).await {
            Ok(s) => s,
            Err(f) => return fail(&f),
        };
        let found = gc::candidates(&servers, chrono::Utc::now(), failed_ttl, lease);
        if dry_run {
            if self.json {
                let items: Vec<Value> = found.iter().map(gc::Candidate::to_json).collect();
                println!("{}", Value::Array(items));
            } else {
                println!("{}", render::lines(&render::candidates(&found)));
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
        let (results, exit) = each(&keys, "gc", |k| async move {
            let a = self.client.delete(&k, false).await?;
            Ok(deleted(a))
        })
        .await;
        self.report("gc", &results, exit)
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
