//! The decision table of the OCI start/stop function users know, for every
//! provider: start only from stopped, stop only from running, toggle picks by
//! state, a transitional (or failed, or gone) resource is left alone with a
//! message saying so.

use super::{Action, Command, Observed, Phase, Vocabulary};

/// What to do about one observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Send this command, then wait for its target phase.
    Act(Command),
    /// Already where the caller wants it.
    NoAction(String),
    /// Not now: the resource is moving, failed or gone.
    Refuse(String),
    /// `status`: just say what it is.
    Report(String),
}

pub fn decide(action: Action, seen: &Observed, v: &Vocabulary) -> Plan {
    let noun = v.noun;
    let state = &seen.state;
    match (action, seen.phase) {
        (Action::Status, _) => Plan::Report(format!("{noun} is {state}.")),
        (Action::Start, Phase::Running) | (Action::Stop, Phase::Stopped) => {
            Plan::NoAction(format!("{noun} is already {state}. No action taken."))
        }
        (Action::Start | Action::Toggle, Phase::Stopped) => Plan::Act(Command::Start),
        (Action::Stop | Action::Toggle, Phase::Running) => Plan::Act(Command::Stop),
        (Action::Start, Phase::Transitional | Phase::Failed | Phase::Gone) => {
            Plan::Refuse(format!("{noun} is in {state} state. Cannot start now."))
        }
        (Action::Stop, Phase::Transitional | Phase::Failed | Phase::Gone) => {
            Plan::Refuse(format!("{noun} is in {state} state. Cannot stop now."))
        }
        (Action::Toggle, Phase::Transitional | Phase::Failed | Phase::Gone) => {
            Plan::Refuse(format!("{noun} is in {state} state. No action taken."))
        }
        (Action::Restart, Phase::Running) => Plan::Act(Command::Restart),
        (Action::Restart, _) => {
            Plan::Refuse(format!("{noun} is in {state} state. Cannot restart now."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI_CI: Vocabulary = Vocabulary {
        provider: "oci-container-instance",
        noun: "Container instance",
        running: "ACTIVE",
        stopped: "INACTIVE",
    };

    /// Every action × every phase, with the OCI function's texts.
    #[test]
    fn every_action_times_every_state() {
        let states = [
            Observed::new(Phase::Running, "ACTIVE"),
            Observed::new(Phase::Stopped, "INACTIVE"),
            Observed::new(Phase::Transitional, "CREATING"),
            Observed::new(Phase::Failed, "FAILED"),
            Observed::new(Phase::Gone, "DELETED"),
        ];
        let act = |c| Plan::Act(c);
        let no = |s: &str| Plan::NoAction(s.to_owned());
        let refuse = |s: &str| Plan::Refuse(s.to_owned());
        let report = |s: &str| Plan::Report(s.to_owned());
        #[rustfmt::skip]
        let table: [(Action, [Plan; 5]); 5] = [
            (Action::Start, [
                no("Container instance is already ACTIVE. No action taken."),
                act(Command::Start),
                refuse("Container instance is in CREATING state. Cannot start now."),
                refuse("Container instance is in FAILED state. Cannot start now."),
                refuse("Container instance is in DELETED state. Cannot start now."),
            ]),
            (Action::Stop, [
                act(Command::Stop),
                no("Container instance is already INACTIVE. No action taken."),
                refuse("Container instance is in CREATING state. Cannot stop now."),
                refuse("Container instance is in FAILED state. Cannot stop now."),
                refuse("Container instance is in DELETED state. Cannot stop now."),
            ]),
            (Action::Toggle, [
                act(Command::Stop),
                act(Command::Start),
                refuse("Container instance is in CREATING state. No action taken."),
                refuse("Container instance is in FAILED state. No action taken."),
                refuse("Container instance is in DELETED state. No action taken."),
            ]),
            (Action::Restart, [
                act(Command::Restart),
                refuse("Container instance is in INACTIVE state. Cannot restart now."),
                refuse("Container instance is in CREATING state. Cannot restart now."),
                refuse("Container instance is in FAILED state. Cannot restart now."),
                refuse("Container instance is in DELETED state. Cannot restart now."),
            ]),
            (Action::Status, [
                report("Container instance is ACTIVE."),
                report("Container instance is INACTIVE."),
                report("Container instance is CREATING."),
                report("Container instance is FAILED."),
                report("Container instance is DELETED."),
            ]),
        ];
        for (action, row) in table {
            for (seen, want) in states.iter().zip(row) {
                assert_eq!(
                    decide(action, seen, &OCI_CI),
                    want,
                    "{action} on {}",
                    seen.state
                );
            }
        }
    }

    #[test]
    fn actions_parse_with_the_oci_function_error() {
        assert_eq!("toggle".parse::<Action>(), Ok(Action::Toggle));
        assert_eq!(
            "reboot".parse::<Action>().unwrap_err().to_string(),
            "Invalid action 'reboot'. Must be 'start', 'stop', 'toggle', 'restart' or 'status'."
        );
        assert!("Start".parse::<Action>().is_err());
    }
}
