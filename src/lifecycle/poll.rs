//! Act, then poll until the target state or the deadline. Time is a parameter
//! ([`Clock`]): production sleeps, tests advance a manual clock instantly.

use super::decide::{decide, Plan};
use super::outcome::{Outcome, OutcomeKind};
use super::{
    Action, Command, Observed, Phase, Power, PowerError, Ticket, TicketStatus, DEFAULT_MAX_WAIT,
    DEFAULT_POLL_INTERVAL,
};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long and how often to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSettings {
    pub interval: Duration,
    pub max_wait: Duration,
    /// `false`: return right after the command was accepted.
    pub wait: bool,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            interval: DEFAULT_POLL_INTERVAL,
            max_wait: DEFAULT_MAX_WAIT,
            wait: true,
        }
    }
}

/// Elapsed time and sleeping, injected.
#[async_trait]
pub trait Clock: Send + Sync {
    fn elapsed(&self) -> Duration;
    async fn sleep(&self, d: Duration);
}

/// The real clock.
#[derive(Debug)]
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

#[async_trait]
impl Clock for SystemClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
}

/// A clock that only moves when slept on: polling loops run instantly in tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

#[async_trait]
impl Clock for ManualClock {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
    async fn sleep(&self, d: Duration) {
        self.0.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }
}

/// What happens while a run goes on (the CLI prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Seen(Observed),
    Sent(Command),
    Polled { state: String, waited: Duration },
    PollFailed { error: String, waited: Duration },
}

/// The start of an outcome for `resource`.
pub(crate) fn blank(power: &dyn Power, resource: &str, action: Action) -> Outcome {
    Outcome {
        provider: power.vocabulary().provider,
        resource: resource.to_owned(),
        action,
        seen: None,
        command: None,
        reached: None,
        kind: OutcomeKind::Reported,
        elapsed: Duration::ZERO,
        message: String::new(),
    }
}

fn finish(
    mut out: Outcome,
    kind: OutcomeKind,
    message: String,
    clock: &dyn Clock,
    started: Duration,
) -> Outcome {
    out.kind = kind;
    out.message = message;
    out.elapsed = clock.elapsed().saturating_sub(started);
    out
}

/// What observing and deciding left to do.
pub(crate) enum Next {
    /// Nothing more: reported, no action, refused, or the state could not be read.
    Done(Outcome),
    /// Send this command (the outcome so far carries what was seen).
    Act(Outcome, Observed, Command),
}

/// Observe and decide (the decision table).
pub(crate) async fn begin(
    power: &dyn Power,
    resource: &str,
    action: Action,
    clock: &dyn Clock,
    started: Duration,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Next {
    let v = power.vocabulary();
    let mut out = blank(power, resource, action);
    let seen = match power.observe(resource).await {
        Ok(o) => o,
        Err(e) => {
            let msg = format!("Failed to get {} status: {e}", v.noun.to_lowercase());
            return Next::Done(finish(out, OutcomeKind::Error(e), msg, clock, started));
        }
    };
    progress(Progress::Seen(seen.clone()));
    out.seen = Some(seen.state.clone());
    match decide(action, &seen, &v) {
        Plan::Report(m) => Next::Done(finish(out, OutcomeKind::Reported, m, clock, started)),
        Plan::NoAction(m) => Next::Done(finish(out, OutcomeKind::NoAction, m, clock, started)),
        Plan::Refuse(m) => Next::Done(finish(out, OutcomeKind::Refused, m, clock, started)),
        Plan::Act(c) => Next::Act(out, seen, c),
    }
}

/// Observe, decide, act, and (unless `wait` is off) poll until `command`'s
/// target phase, a failure, or `max_wait` after the command.
pub async fn run(
    power: &dyn Power,
    resource: &str,
    action: Action,
    settings: &PollSettings,
    clock: &dyn Clock,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Outcome {
    let started = clock.elapsed();
    let (out, seen, command) = match begin(power, resource, action, clock, started, progress).await
    {
        Next::Done(out) => return out,
        Next::Act(out, seen, command) => (out, seen, command),
    };
    let ticket = power.command(resource, command).await;
    follow(
        power, out, &seen, command, ticket, settings, clock, started, progress,
    )
    .await
}

/// After the command was sent (`ticket` is its answer): report it accepted, or
/// poll until the target phase, a failure, or the deadline.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn follow(
    power: &dyn Power,
    mut out: Outcome,
    seen: &Observed,
    command: Command,
    ticket: Result<Ticket, PowerError>,
    settings: &PollSettings,
    clock: &dyn Clock,
    started: Duration,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Outcome {
    let v = power.vocabulary();
    let resource = out.resource.clone();
    let resource = resource.as_str();
    let finish = |out: Outcome, kind: OutcomeKind, message: String| {
        finish(out, kind, message, clock, started)
    };
    let (verb, done) = (command.verb(), command.done());
    let ticket: Ticket = match ticket {
        Ok(t) => t,
        Err(PowerError::Conflict(why)) => {
            let msg = format!("{} {resource} cannot {verb} now: {why}", v.noun);
            return finish(out, OutcomeKind::Refused, msg);
        }
        Err(e) => {
            let msg = format!("Failed to {verb} {} {resource}: {e}", v.noun.to_lowercase());
            return finish(out, OutcomeKind::Error(e), msg);
        }
    };
    progress(Progress::Sent(command));
    out.command = Some(command);
    let target = command.target();
    let target_word = v.word(target);
    if !settings.wait {
        let msg = format!(
            "{} requested; not waiting for {} to become {target_word}.",
            capitalise(verb),
            v.noun.to_lowercase()
        );
        return finish(out, OutcomeKind::Accepted, msg);
    }
    let wait_started = clock.elapsed();
    let mut last = seen.state.clone();
    // A restart ends in the state it started from: it is done only once the
    // provider says so (a finished operation) or the resource was seen leaving it.
    let mut evidence = command != Command::Restart || ticket.completed;
    loop {
        let waited = clock.elapsed().saturating_sub(wait_started);
        if ticket.id.is_some() {
            match power.check(&ticket).await {
                Ok(TicketStatus::Failed(why)) => {
                    let msg = format!("Failed to {verb} {}: {why}", v.noun.to_lowercase());
                    return finish(out, OutcomeKind::Failed, msg);
                }
                Ok(TicketStatus::Succeeded) => evidence = true,
                _ => {}
            }
        }
        match power.observe(resource).await {
            Ok(o) => {
                progress(Progress::Polled {
                    state: o.state.clone(),
                    waited,
                });
                last = o.state.clone();
                out.reached = Some(o.state.clone());
                if matches!(o.phase, Phase::Failed | Phase::Gone) {
                    let msg = format!(
                        "{} entered {} state while it was being {done}.",
                        v.noun, o.state
                    );
                    return finish(out, OutcomeKind::Failed, msg);
                }
                if o.phase == target && evidence {
                    let msg = format!("{} has been successfully {done}.", v.noun);
                    return finish(out, OutcomeKind::Succeeded, msg);
                }
                if o.phase != target {
                    evidence = true;
                }
            }
            Err(PowerError::NotFound(e)) => {
                let msg = format!("{} disappeared while it was being {done}: {e}", v.noun);
                return finish(out, OutcomeKind::Failed, msg);
            }
            Err(e) => progress(Progress::PollFailed {
                error: e.to_string(),
                waited,
            }),
        }
        if waited >= settings.max_wait {
            let secs = settings.max_wait.as_secs();
            let msg = if evidence {
                format!("Instance did not reach {target_word} within {secs}s. Last state: {last}")
            } else {
                format!("Instance did not finish restarting within {secs}s. Last state: {last}")
            };
            return finish(out, OutcomeKind::TimedOut, msg);
        }
        clock
            .sleep(
                settings
                    .interval
                    .min(settings.max_wait - waited)
                    .max(Duration::from_millis(1)),
            )
            .await;
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Vocabulary;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    const V: Vocabulary = Vocabulary {
        provider: "oci-container-instance",
        noun: "Container instance",
        running: "ACTIVE",
        stopped: "INACTIVE",
    };

    /// A provider that plays a script: each observe() pops the next state.
    struct Scripted {
        states: Mutex<VecDeque<Result<Observed, PowerError>>>,
        commands: Mutex<Vec<Command>>,
        command_result: Result<Ticket, PowerError>,
        ticket: Mutex<VecDeque<TicketStatus>>,
        observes: Mutex<usize>,
    }

    fn obs(s: &str) -> Result<Observed, PowerError> {
        let phase = match s {
            "ACTIVE" => Phase::Running,
            "INACTIVE" => Phase::Stopped,
            "FAILED" => Phase::Failed,
            "DELETED" => Phase::Gone,
            _ => Phase::Transitional,
        };
        Ok(Observed::new(phase, s))
    }

    impl Scripted {
        fn new(states: Vec<Result<Observed, PowerError>>) -> Self {
            Self {
                states: Mutex::new(states.into()),
                commands: Mutex::new(vec![]),
                command_result: Ok(Ticket::none()),
                ticket: Mutex::new(VecDeque::new()),
                observes: Mutex::new(0),
            }
        }
    }

    #[async_trait]
    impl Power for Scripted {
        fn vocabulary(&self) -> Vocabulary {
            V
        }
        async fn observe(&self, _: &str) -> Result<Observed, PowerError> {
            *self.observes.lock().unwrap() += 1;
            let mut s = self.states.lock().unwrap();
            // The last state repeats forever.
            if s.len() > 1 {
                s.pop_front().unwrap()
            } else {
                s.front().cloned().unwrap()
            }
        }
        async fn command(&self, _: &str, c: Command) -> Result<Ticket, PowerError> {
            self.commands.lock().unwrap().push(c);
            self.command_result.clone()
        }
        async fn check(&self, _: &Ticket) -> Result<TicketStatus, PowerError> {
            Ok(self
                .ticket
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(TicketStatus::InProgress))
        }
    }

    fn settings(interval: u64, max_wait: u64) -> PollSettings {
        PollSettings {
            interval: Duration::from_secs(interval),
            max_wait: Duration::from_secs(max_wait),
            wait: true,
        }
    }

    async fn go(p: &Scripted, action: Action, s: PollSettings) -> (Outcome, Vec<Progress>) {
        let clock = ManualClock::default();
        let mut seen = vec![];
        let out = run(p, "ocid1.x", action, &s, &clock, &mut |e| seen.push(e)).await;
        (out, seen)
    }

    #[tokio::test]
    async fn start_polls_until_active() {
        let p = Scripted::new(vec![
            obs("INACTIVE"),
            obs("INACTIVE"),
            obs("UPDATING"),
            obs("UPDATING"),
            obs("ACTIVE"),
        ]);
        let (out, progress) = go(&p, Action::Start, settings(15, 240)).await;
        assert_eq!(out.kind, OutcomeKind::Succeeded);
        assert_eq!(
            out.message,
            "Container instance has been successfully started."
        );
        assert_eq!(out.seen.as_deref(), Some("INACTIVE"));
        assert_eq!(out.reached.as_deref(), Some("ACTIVE"));
        assert_eq!(out.command, Some(Command::Start));
        assert_eq!(*p.commands.lock().unwrap(), vec![Command::Start]);
        // Polled at 0, 15, 30, 45 s after the command: ACTIVE on the fourth poll.
        assert_eq!(out.elapsed, Duration::from_secs(45));
        assert_eq!(
            progress
                .iter()
                .filter(|p| matches!(p, Progress::Polled { .. }))
                .count(),
            4
        );
    }

    #[tokio::test]
    async fn timeout_reports_the_last_state_and_polls_at_the_deadline() {
        let p = Scripted::new(vec![obs("ACTIVE"), obs("UPDATING")]);
        let (out, _) = go(&p, Action::Stop, settings(15, 240)).await;
        assert_eq!(out.kind, OutcomeKind::TimedOut);
        assert_eq!(
            out.message,
            "Instance did not reach INACTIVE within 240s. Last state: UPDATING"
        );
        assert_eq!(out.elapsed, Duration::from_secs(240));
        // 1 read before acting + polls at 0, 15, ..., 225 and one at 240.
        assert_eq!(*p.observes.lock().unwrap(), 1 + 17);
    }

    #[tokio::test]
    async fn uneven_deadline_is_honoured_exactly() {
        let p = Scripted::new(vec![obs("INACTIVE"), obs("UPDATING")]);
        let (out, _) = go(&p, Action::Start, settings(15, 20)).await;
        assert_eq!(out.kind, OutcomeKind::TimedOut);
        assert_eq!(out.elapsed, Duration::from_secs(20));
        assert_eq!(*p.observes.lock().unwrap(), 1 + 3, "polls at 0, 15, 20");
    }

    #[tokio::test]
    async fn failure_mid_way_stops_polling() {
        let p = Scripted::new(vec![
            obs("INACTIVE"),
            obs("UPDATING"),
            obs("FAILED"),
            obs("ACTIVE"),
        ]);
        let (out, _) = go(&p, Action::Start, settings(15, 240)).await;
        assert_eq!(out.kind, OutcomeKind::Failed);
        assert_eq!(
            out.message,
            "Container instance entered FAILED state while it was being started."
        );
        assert_eq!(out.elapsed, Duration::from_secs(15));
    }

    #[tokio::test]
    async fn a_failed_work_request_ends_the_run() {
        let mut p = Scripted::new(vec![obs("INACTIVE"), obs("UPDATING")]);
        p.command_result = Ok(Ticket::follow("wr-1"));
        p.ticket = Mutex::new(
            vec![
                TicketStatus::InProgress,
                TicketStatus::Failed("capacity".into()),
            ]
            .into(),
        );
        let (out, _) = go(&p, Action::Start, settings(15, 240)).await;
        assert_eq!(out.kind, OutcomeKind::Failed);
        assert_eq!(out.message, "Failed to start container instance: capacity");
    }

    #[tokio::test]
    async fn transient_read_errors_while_polling_are_ridden_out() {
        let p = Scripted::new(vec![
            obs("ACTIVE"),
            Err(PowerError::Unavailable("503".into())),
            obs("UPDATING"),
            Err(PowerError::Unavailable("503".into())),
            obs("INACTIVE"),
        ]);
        let (out, progress) = go(&p, Action::Toggle, settings(5, 60)).await;
        assert_eq!(out.kind, OutcomeKind::Succeeded);
        assert_eq!(
            out.message,
            "Container instance has been successfully stopped."
        );
        assert_eq!(
            progress
                .iter()
                .filter(|p| matches!(p, Progress::PollFailed { .. }))
                .count(),
            2
        );
    }

    #[tokio::test]
    async fn no_wait_returns_after_the_command() {
        let p = Scripted::new(vec![obs("INACTIVE")]);
        let (out, _) = go(
            &p,
            Action::Start,
            PollSettings {
                wait: false,
                ..settings(15, 240)
            },
        )
        .await;
        assert_eq!(out.kind, OutcomeKind::Accepted);
        assert_eq!(
            out.message,
            "Start requested; not waiting for container instance to become ACTIVE."
        );
        assert_eq!(*p.observes.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn nothing_is_sent_when_no_action_or_refused() {
        for (state, action, kind) in [
            ("ACTIVE", Action::Start, OutcomeKind::NoAction),
            ("CREATING", Action::Toggle, OutcomeKind::Refused),
            ("INACTIVE", Action::Status, OutcomeKind::Reported),
        ] {
            let p = Scripted::new(vec![obs(state)]);
            let (out, _) = go(&p, action, settings(15, 240)).await;
            assert_eq!(out.kind, kind);
            assert!(p.commands.lock().unwrap().is_empty());
            assert_eq!(out.elapsed, Duration::ZERO);
        }
    }

    #[tokio::test]
    async fn errors_reading_or_commanding_are_reported() {
        let p = Scripted::new(vec![Err(PowerError::NotFound("no such instance".into()))]);
        let (out, _) = go(&p, Action::Start, settings(15, 240)).await;
        assert_eq!(
            out.kind,
            OutcomeKind::Error(PowerError::NotFound("no such instance".into()))
        );
        assert!(matches!(
            out.kind,
            OutcomeKind::Error(PowerError::NotFound(_))
        ));
        let mut p = Scripted::new(vec![obs("INACTIVE")]);
        p.command_result = Err(PowerError::Rejected("IncorrectState".into()));
        let (out, _) = go(&p, Action::Start, settings(15, 240)).await;
        assert_eq!(
            out.message,
            "Failed to start container instance ocid1.x: IncorrectState"
        );
        assert_eq!(out.exit_code(), 1);
    }

    #[tokio::test]
    async fn a_restart_needs_evidence_it_happened() {
        // No ticket: still RUNNING-equivalent (ACTIVE) right after the command is not done yet.
        let p = Scripted::new(vec![
            obs("ACTIVE"),
            obs("ACTIVE"),
            obs("UPDATING"),
            obs("ACTIVE"),
        ]);
        let (out, _) = go(&p, Action::Restart, settings(15, 240)).await;
        assert_eq!(out.kind, OutcomeKind::Succeeded);
        assert_eq!(
            out.message,
            "Container instance has been successfully restarted."
        );
        assert_eq!(
            out.elapsed,
            Duration::from_secs(30),
            "ACTIVE at 0 s did not count; UPDATING at 15 s, ACTIVE at 30 s"
        );
        // A provider that finished before answering.
        let mut p = Scripted::new(vec![obs("ACTIVE")]);
        p.command_result = Ok(Ticket::completed());
        let (out, _) = go(&p, Action::Restart, settings(15, 240)).await;
        assert_eq!(
            (out.kind, out.elapsed),
            (OutcomeKind::Succeeded, Duration::ZERO)
        );
        // A followed operation that succeeds.
        let mut p = Scripted::new(vec![obs("ACTIVE")]);
        p.command_result = Ok(Ticket::follow("wr-2"));
        p.ticket = Mutex::new(vec![TicketStatus::InProgress, TicketStatus::Succeeded].into());
        let (out, _) = go(&p, Action::Restart, settings(15, 240)).await;
        assert_eq!(
            (out.kind, out.elapsed),
            (OutcomeKind::Succeeded, Duration::from_secs(15))
        );
        // Never seen leaving ACTIVE, no ticket: a timeout that says so.
        let p = Scripted::new(vec![obs("ACTIVE")]);
        let (out, _) = go(&p, Action::Restart, settings(15, 60)).await;
        assert_eq!(out.kind, OutcomeKind::TimedOut);
        assert_eq!(
            out.message,
            "Instance did not finish restarting within 60s. Last state: ACTIVE"
        );
    }
}
