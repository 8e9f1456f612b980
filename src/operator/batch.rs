//! One call per server, for many servers: at most [`CONCURRENCY`] at once,
//! past each server's own failure, a progress bar on a terminal, then the
//! results (a table or `--json`) and a summary line.

use super::client::Failure;
use super::render::{self, ItemResult};
use super::{Exit, Operator};
use crate::fleet::GroupKey;
use futures::stream::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::future::Future;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

/// A bar on stderr for `len` items, shown only when there is more than one
/// and stderr is a terminal (scripts and tests get clean output).
pub(super) fn progress(len: usize, what: &str) -> ProgressBar {
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
pub(super) struct Outcome {
    pub result: &'static str,
    pub detail: String,
    pub answer: Value,
}

/// Calls on one item at once, at most.
const CONCURRENCY: usize = 8;

/// `op` on every key, [`CONCURRENCY`] at once, past the items' own failures;
/// after a failure every further call would meet too (the key refused, the
/// deployment unreachable) the rest are not tried. The results in `keys`'
/// order, and the worst exit code among them.
pub(super) async fn each<F, Fut>(keys: &[GroupKey], what: &str, op: F) -> (Vec<ItemResult>, Exit)
where
    F: Fn(GroupKey) -> Fut,
    Fut: Future<Output = Result<Outcome, Failure>>,
{
    let bar = progress(keys.len(), what);
    let stop = AtomicBool::new(false);
    let results: Vec<(ItemResult, Exit)> = futures::stream::iter(keys.iter().cloned())
        .map(|k| {
            let (bar, stop, op) = (&bar, &stop, &op);
            async move {
                let r = if stop.load(Ordering::Relaxed) {
                    not_tried(&k)
                } else {
                    let outcome = op(k.clone()).await;
                    if outcome.as_ref().is_err_and(Failure::is_fatal) {
                        stop.store(true, Ordering::Relaxed);
                    }
                    result_of(&k, outcome)
                };
                bar.inc(1);
                r
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    bar.finish_and_clear();
    let exit = results.iter().fold(Exit::Done, |e, (_, x)| e.worst(*x));
    (results.into_iter().map(|(r, _)| r).collect(), exit)
}

fn item_json(k: &GroupKey, ok: bool, result: &str) -> Value {
    json!({"resourceGroup": k.resource_group.as_str(), "containerGroupName": k.name.as_str(),
        "ok": ok, "result": result})
}

fn not_tried(k: &GroupKey) -> (ItemResult, Exit) {
    let r = ItemResult {
        server: k.to_string(),
        ok: false,
        result: "not tried".into(),
        detail: "an earlier call failed the same way for all".into(),
        json: item_json(k, false, "notTried"),
    };
    (r, Exit::ItemsFailed)
}

fn result_of(k: &GroupKey, outcome: Result<Outcome, Failure>) -> (ItemResult, Exit) {
    match outcome {
        Ok(o) => {
            let mut json = item_json(k, true, o.result);
            json["answer"] = o.answer;
            let r = ItemResult {
                server: k.to_string(),
                ok: true,
                result: o.result.into(),
                detail: o.detail,
                json,
            };
            (r, Exit::Done)
        }
        Err(f) => {
            let result = match &f {
                Failure::Refused { status: 404, .. } => "not found",
                Failure::Refused { status: 409, .. } => "refused",
                _ => "failed",
            };
            let detail = match f.code() {
                Some("GroupHasSessions") => format!("{f} (--force deletes it anyway)"),
                _ => f.to_string(),
            };
            let mut json = item_json(k, false, result);
            json["error"] = f.to_json();
            let r = ItemResult {
                server: k.to_string(),
                ok: false,
                result: result.into(),
                detail,
                json,
            };
            (r, Exit::of(&f))
        }
    }
}

impl Operator {
    /// The results (a table or `--json`) on stdout, a summary on stderr.
    pub(super) fn report(&self, verb: &str, results: &[ItemResult], exit: Exit) -> Exit {
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
