//! Sets of targets: one action on every resource a list or a selector names,
//! with one outcome per resource and an overall one.
//!
//! Each member is observed and decided as alone ([`super::decide`]); the
//! members that need the same command get it in one
//! [`Power::command_many`] call (a provider's batch API), then each is
//! followed to its target, side by side, under the same deadline.

use super::outcome::{Outcome, OutcomeKind};
use super::poll::{begin, follow, Clock, Next, PollSettings};
use super::{Action, Command, Member, Power};
use futures::future::join_all;
use serde_json::{json, Value};
use std::time::Duration;

/// What a set run did.
#[derive(Debug, Clone)]
pub struct SetOutcome {
    pub provider: &'static str,
    pub action: Action,
    /// The overall result: the worst of the members' (error, failed, timed
    /// out, refused), else succeeded if any member was acted on.
    pub kind: OutcomeKind,
    pub message: String,
    pub members: Vec<(Member, Outcome)>,
    pub elapsed: Duration,
}

/// How bad a result is, for the overall one.
fn severity(k: &OutcomeKind) -> u8 {
    match k {
        OutcomeKind::Error(_) => 6,
        OutcomeKind::Failed => 5,
        OutcomeKind::TimedOut => 4,
        OutcomeKind::Refused => 3,
        OutcomeKind::Succeeded | OutcomeKind::Accepted => 2,
        OutcomeKind::NoAction => 1,
        OutcomeKind::Reported => 0,
    }
}

/// Run `action` on every member.
pub async fn run_set(
    power: &dyn Power,
    members: Vec<Member>,
    action: Action,
    settings: &PollSettings,
    clock: &dyn Clock,
) -> SetOutcome {
    let started = clock.elapsed();
    let v = power.vocabulary();
    let begun = join_all(members.iter().map(|m| async move {
        begin(power, &m.resource, action, clock, started, &mut |_| {}).await
    }))
    .await;
    let mut done: Vec<Option<Outcome>> = vec![None; members.len()];
    let mut acting = Vec::new();
    for (i, next) in begun.into_iter().enumerate() {
        match next {
            Next::Done(o) => done[i] = Some(o),
            Next::Act(out, seen, command) => acting.push((i, out, seen, command)),
        }
    }
    // One call per command for every member that needs it.
    let mut tickets = Vec::new();
    for command in [Command::Start, Command::Stop, Command::Restart] {
        let ids: Vec<String> = acting
            .iter()
            .filter(|(_, _, _, c)| *c == command)
            .map(|(i, _, _, _)| members[*i].resource.clone())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let answers = power.command_many(&ids, command).await;
        tickets.extend(
            acting
                .iter()
                .filter(|(_, _, _, c)| *c == command)
                .map(|(i, _, _, _)| *i)
                .zip(answers),
        );
    }
    let followed = join_all(acting.into_iter().map(|(i, out, seen, command)| {
        let ticket = tickets
            .iter()
            .position(|(j, _)| *j == i)
            .map(|p| tickets[p].1.clone())
            .unwrap_or_else(|| {
                Err(super::PowerError::Unavailable(
                    "no answer to the command".into(),
                ))
            });
        async move {
            let o = follow(
                power,
                out,
                &seen,
                command,
                ticket,
                settings,
                clock,
                started,
                &mut |_| {},
            )
            .await;
            (i, o)
        }
    }))
    .await;
    for (i, o) in followed {
        done[i] = Some(o);
    }
    let members: Vec<(Member, Outcome)> = members
        .into_iter()
        .zip(done)
        .filter_map(|(m, o)| o.map(|o| (m, o)))
        .collect();
    let kind = members
        .iter()
        .map(|(_, o)| o.kind.clone())
        .max_by_key(severity)
        .unwrap_or(OutcomeKind::NoAction);
    let ok = members
        .iter()
        .filter(|(_, o)| severity(&o.kind) <= 2)
        .count();
    let message = format!(
        "{ok} of {} {}s {}.",
        members.len(),
        v.noun.to_lowercase(),
        match action {
            Action::Start => "started or already running",
            Action::Stop => "stopped or already stopped",
            Action::Toggle => "toggled",
            Action::Restart => "restarted",
            Action::Status => "reported",
        }
    );
    SetOutcome {
        provider: v.provider,
        action,
        kind,
        message,
        members,
        elapsed: clock.elapsed().saturating_sub(started),
    }
}

impl SetOutcome {
    /// The answer: the overall result at the top, one entry per target, and
    /// the seed function's `status` / `data.server_list` beside them.
    pub fn to_json(&self) -> Value {
        let targets: Vec<Value> = self
            .members
            .iter()
            .map(|(m, o)| {
                json!({"resource": m.resource, "name": m.name, "result": o.kind.as_str(),
                       "seen": o.seen, "reached": o.reached, "message": o.message})
            })
            .collect();
        let server_list: Vec<Value> = self
            .members
            .iter()
            .map(|(m, _)| json!({"server_id": m.resource, "server_name": m.name}))
            .collect();
        json!({
            "result": self.kind.as_str(),
            "message": self.message,
            "provider": self.provider,
            "action": self.action,
            "targets": targets,
            "elapsedSeconds": (self.elapsed.as_millis() as f64) / 1000.0,
            "status": if severity(&self.kind) <= 2 { "success" } else { "failed" },
            "data": {"server_list": server_list},
        })
    }
}
