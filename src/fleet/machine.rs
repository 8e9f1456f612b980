//! The life of a container group, as one transition table.
//!
//! ```text
//!             Create                 ARM provisioning succeeded (+ public IP)
//!   (none) ──────────► Creating ───────────────────────────────────► Running
//!                         │  ARM provisioning failed / cancelled         │
//!                         ▼                          SetState Running ▲  │ SetState MarkedForDeletion
//!                       Failed ◄──── SetState Failed (any but Deleting) ─┤
//!                         │                                              ▼
//!                         │ GC after FLEET_FAILED_TTL, 0 sessions MarkedForDeletion
//!                         ▼                                              │ GC, 0 sessions, If-Match
//!                      Deleting ◄────────────────────────────────────────┘
//!                         │ ARM delete done
//!                         ▼
//!                     (removed)
//! ```
//!
//! Guarantees the table encodes (each is a row of [`next`] and a unit test):
//! - **Order independence of ARM events.** `Running` is reached only from
//!   `Creating`; a provisioning failure is absorbing for provisioning events
//!   (`Failed` ignores a later success). So any order of the same events ends in
//!   the same state.
//! - **Nothing with players is collected.** `GcClaim` with sessions > 0 is
//!   rejected in every state; the store write that applies it is conditional on
//!   the ETag the session count was read with.
//! - **Deleting is final.** Once GC or Delete claimed a group, only its removal
//!   moves it; SetState and session writes are refused.
//! - **Retries are harmless.** Re-applying an event that already took effect is
//!   a `NoOp`, never an error.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// State of a container group as stored in the `State` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GroupState {
    Creating,
    Running,
    MarkedForDeletion,
    Failed,
    Deleting,
}

impl GroupState {
    pub const ALL: [GroupState; 5] = [
        GroupState::Creating,
        GroupState::Running,
        GroupState::MarkedForDeletion,
        GroupState::Failed,
        GroupState::Deleting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Creating => "Creating",
            GroupState::Running => "Running",
            GroupState::MarkedForDeletion => "MarkedForDeletion",
            GroupState::Failed => "Failed",
            GroupState::Deleting => "Deleting",
        }
    }

    /// Session counts may be written in every state but `Deleting`.
    pub fn accepts_sessions(self) -> bool {
        self != GroupState::Deleting
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GroupState {
    type Err = String;
    /// Exact names, as the original project stored them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GroupState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown state {s:?}; known states are Creating, Running, MarkedForDeletion, Failed, Deleting"
                )
            })
    }
}

/// Something that happened to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// ARM reports the group provisioned (Monitor, after reading ARM).
    ProvisioningSucceeded,
    /// ARM reports the write failed or was cancelled.
    ProvisioningFailed,
    /// SetState `MarkedForDeletion`.
    MarkForDeletion,
    /// SetState `Failed`.
    MarkFailed,
    /// SetState `Running` on a marked server: it stays (the autoscaler reuses
    /// a marked server that still runs before it creates one).
    Unmark,
    /// GC wants to collect the group; carries the session count it read.
    GcClaim { active_sessions: u32 },
    /// An explicit Delete call (operator / matchmaker).
    Delete,
    /// ARM says the group no longer exists.
    Gone,
}

/// What to do with the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write the new state.
    Move(GroupState),
    /// Already there (or the event no longer matters): write nothing.
    NoOp,
    /// Remove the record.
    Remove,
    /// The event is not allowed in this state.
    Reject(Rejection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The transition is not in the table.
    Illegal,
    /// GC may not take a group that holds sessions.
    HasSessions,
}

/// The transition table. Pure; exhaustively tested below.
pub fn next(state: GroupState, event: &Event) -> Decision {
    use Decision::*;
    use Event as E;
    use GroupState as S;
    match (state, event) {
        (_, E::Gone) => Remove,

        (S::Creating, E::ProvisioningSucceeded) => Move(S::Running),
        (S::Running | S::MarkedForDeletion | S::Failed | S::Deleting, E::ProvisioningSucceeded) => {
            NoOp
        }

        (S::Creating | S::Running | S::MarkedForDeletion, E::ProvisioningFailed) => Move(S::Failed),
        (S::Failed | S::Deleting, E::ProvisioningFailed) => NoOp,

        (S::Creating | S::Running, E::MarkForDeletion) => Move(S::MarkedForDeletion),
        (S::MarkedForDeletion, E::MarkForDeletion) => NoOp,
        (S::Failed | S::Deleting, E::MarkForDeletion) => Reject(Rejection::Illegal),

        (S::Creating | S::Running | S::MarkedForDeletion, E::MarkFailed) => Move(S::Failed),
        (S::Failed, E::MarkFailed) => NoOp,
        (S::Deleting, E::MarkFailed) => Reject(Rejection::Illegal),

        (S::MarkedForDeletion, E::Unmark) => Move(S::Running),
        (S::Running, E::Unmark) => NoOp,
        // Not running yet, failed, or already being deleted: too early or too late.
        (S::Creating | S::Failed | S::Deleting, E::Unmark) => Reject(Rejection::Illegal),

        (_, E::GcClaim { active_sessions }) if *active_sessions > 0 => {
            Reject(Rejection::HasSessions)
        }
        (S::MarkedForDeletion | S::Failed, E::GcClaim { .. }) => Move(S::Deleting),
        (S::Deleting, E::GcClaim { .. }) => NoOp,
        (S::Creating | S::Running, E::GcClaim { .. }) => Reject(Rejection::Illegal),

        (S::Creating | S::Running | S::MarkedForDeletion | S::Failed, E::Delete) => {
            Move(S::Deleting)
        }
        (S::Deleting, E::Delete) => NoOp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use GroupState::*;

    fn events() -> Vec<Event> {
        vec![
            Event::ProvisioningSucceeded,
            Event::ProvisioningFailed,
            Event::MarkForDeletion,
            Event::MarkFailed,
            Event::Unmark,
            Event::GcClaim { active_sessions: 0 },
            Event::GcClaim { active_sessions: 3 },
            Event::Delete,
            Event::Gone,
        ]
    }

    /// Every state × every event, written out: the table as a reader sees it.
    #[test]
    fn every_state_times_every_event() {
        let ill = Reject(Rejection::Illegal);
        let busy = Reject(Rejection::HasSessions);
        #[rustfmt::skip]
        let expected: [(GroupState, [Decision; 9]); 5] = [
            //                 ProvOk              ProvFail            Mark                         MarkFailed        Unmark          Gc(0)            Gc(3)         Delete          Gone
            (Creating,         [Move(Running),     Move(Failed),       Move(MarkedForDeletion),     Move(Failed),     ill.clone(),    ill.clone(),     busy.clone(), Move(Deleting), Remove]),
            (Running,          [NoOp,              Move(Failed),       Move(MarkedForDeletion),     Move(Failed),     NoOp,           ill.clone(),     busy.clone(), Move(Deleting), Remove]),
            (MarkedForDeletion,[NoOp,              Move(Failed),       NoOp,                        Move(Failed),     Move(Running),  Move(Deleting),  busy.clone(), Move(Deleting), Remove]),
            (Failed,           [NoOp,              NoOp,               ill.clone(),                 NoOp,             ill.clone(),    Move(Deleting),  busy.clone(), Move(Deleting), Remove]),
            (Deleting,         [NoOp,              NoOp,               ill.clone(),                 ill.clone(),      ill.clone(),    NoOp,            busy.clone(), NoOp,           Remove]),
        ];
        for (state, row) in expected {
            for (event, want) in events().iter().zip(row) {
                assert_eq!(next(state, event), want, "{state} × {event:?}");
            }
        }
    }

    /// Applying a decision's target state again is always a NoOp (retries are harmless).
    #[test]
    fn reapplying_an_event_is_a_noop() {
        for state in GroupState::ALL {
            for event in events() {
                if let Move(to) = next(state, &event) {
                    let again = next(to, &event);
                    assert!(
                        matches!(again, NoOp | Reject(Rejection::HasSessions)),
                        "{state} --{event:?}--> {to}, then again: {again:?}"
                    );
                }
            }
        }
    }

    /// Provisioning events commute: any order of success/failure ends the same.
    #[test]
    fn provisioning_events_commute() {
        let apply = |mut s: GroupState, evs: &[Event]| {
            for e in evs {
                if let Move(to) = next(s, e) {
                    s = to;
                }
            }
            s
        };
        let ok = Event::ProvisioningSucceeded;
        let fail = Event::ProvisioningFailed;
        for start in [Creating, Running, MarkedForDeletion, Failed] {
            let a = apply(start, &[ok.clone(), fail.clone()]);
            let b = apply(start, &[fail.clone(), ok.clone()]);
            let c = apply(start, &[fail.clone(), ok.clone(), fail.clone(), ok.clone()]);
            assert_eq!(a, b, "from {start}");
            assert_eq!(a, c, "from {start}");
        }
    }

    #[test]
    fn only_deleting_refuses_sessions() {
        for s in GroupState::ALL {
            assert_eq!(s.accepts_sessions(), s != Deleting);
        }
    }

    #[test]
    fn state_names_round_trip() {
        for s in GroupState::ALL {
            assert_eq!(s.as_str().parse::<GroupState>(), Ok(s));
        }
        assert!("running".parse::<GroupState>().is_err());
    }
}
