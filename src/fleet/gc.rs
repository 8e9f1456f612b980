//! The rules of garbage collection, as pure functions of a record and the clock.

use super::capacity::Health;
use super::machine::{next, Decision, Event, GroupState};
use super::record::GroupRecord;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What GC does with one record it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcAction {
    /// Claim it (→ Deleting, If-Match the ETag it was read with), then delete it in ARM.
    Collect,
    /// Deleting, claimed longer than the lease ago (an earlier run's ARM delete
    /// failed, is pending, or its process died): look in ARM, delete again if needed.
    Resume,
    /// Leave it.
    Skip(SkipReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    HasSessions,
    NotMarked,
    FailedTooRecently,
    /// Deleting, claimed less than the lease ago: the run (or Delete) that
    /// claimed it is still at it; a second ARM DELETE would only spend ARM's
    /// delete budget.
    ClaimedRecently,
}

/// Whether a Deleting claim made at `claimed_at` has outlived its lease.
pub fn lease_expired(claimed_at: DateTime<Utc>, now: DateTime<Utc>, lease: Duration) -> bool {
    now.signed_duration_since(claimed_at)
        .to_std()
        .is_ok_and(|age| age >= lease)
}

/// What GC's rules read of one server. Every field is in List's item too
/// (`state`, `stateChangedAt`, `activeSessions` + `reserved`), so the operator
/// CLI's `gamefleet fleet gc --dry-run` applies these same rules to what List
/// shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcFacts {
    pub state: GroupState,
    pub state_changed_at: DateTime<Utc>,
    /// Sessions plus the slots of live reservations (they count as sessions).
    pub held: u32,
}

impl GcFacts {
    /// The facts of `record` at `now` (its reservations that have not expired).
    pub fn of(record: &GroupRecord, now: DateTime<Utc>) -> Self {
        Self {
            state: record.state,
            state_changed_at: record.state_changed_at,
            held: record
                .active_sessions
                .get()
                .saturating_add(record.capacity.reserved(now)),
        }
    }
}

/// Decide for one record. `failed_ttl` is how long a Failed group is kept for
/// inspection before it is collected; `lease` how long a Deleting claim
/// belongs to whoever made it (`DELETE_LEASE`).
pub fn plan(
    record: &GroupRecord,
    now: DateTime<Utc>,
    failed_ttl: Duration,
    lease: Duration,
) -> GcAction {
    decide(&GcFacts::of(record, now), now, failed_ttl, lease)
}

/// [`plan`] on the facts alone.
pub fn decide(
    facts: &GcFacts,
    now: DateTime<Utc>,
    failed_ttl: Duration,
    lease: Duration,
) -> GcAction {
    if facts.state == GroupState::Deleting {
        return if lease_expired(facts.state_changed_at, now, lease) {
            GcAction::Resume
        } else {
            GcAction::Skip(SkipReason::ClaimedRecently)
        };
    }
    if facts.state == GroupState::Failed {
        let age = now
            .signed_duration_since(facts.state_changed_at)
            .to_std()
            .unwrap_or_default();
        if age < failed_ttl {
            return GcAction::Skip(SkipReason::FailedTooRecently);
        }
    }
    // Live reservations count as sessions: a reserved server is kept until
    // they expire (or the server's players are in its own count).
    let claim = Event::GcClaim {
        active_sessions: facts.held,
    };
    match next(facts.state, &claim) {
        Decision::Move(GroupState::Deleting) => GcAction::Collect,
        Decision::Reject(super::machine::Rejection::HasSessions) => {
            GcAction::Skip(SkipReason::HasSessions)
        }
        _ => GcAction::Skip(SkipReason::NotMarked),
    }
}

/// Whether GC's health check marks this server before collecting (and so
/// collects it in the same run): Running, silent past `HEALTH_TIMEOUT`, and
/// holding nobody, not even a reservation. One that holds players is left
/// to its own report or the operator.
pub fn marks_unhealthy(facts: &GcFacts, health: Health) -> bool {
    facts.state == GroupState::Running && health == Health::Unhealthy && facts.held == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::names::*;

    fn rec(state: GroupState, sessions: u32, changed_secs_ago: i64) -> GroupRecord {
        let now = Utc::now();
        let key = GroupKey::new(
            ResourceGroup::parse("rg").unwrap(),
            ContainerGroupName::parse("cg").unwrap(),
        );
        let mut r = GroupRecord::creating(key, "westeurope".into(), now);
        r.state = state;
        r.active_sessions = ActiveSessions::new(sessions).unwrap();
        r.state_changed_at = now - chrono::Duration::seconds(changed_secs_ago);
        r
    }

    #[test]
    fn a_marked_server_holding_a_live_reservation_is_kept_until_it_expires() {
        let (ttl, lease) = (Duration::from_secs(3600), Duration::from_secs(60));
        let now = Utc::now();
        let mut r = rec(GroupState::MarkedForDeletion, 0, 10);
        r.capacity
            .reservations
            .push(crate::fleet::allocation::Reservation {
                request_id: "m1".into(),
                players: 2,
                expires_at: now + chrono::Duration::seconds(30),
            });
        assert_eq!(
            plan(&r, now, ttl, lease),
            GcAction::Skip(SkipReason::HasSessions)
        );
        let later = now + chrono::Duration::seconds(31);
        assert_eq!(plan(&r, later, ttl, lease), GcAction::Collect);
    }

    #[test]
    fn the_health_check_marks_only_running_silent_and_empty_servers() {
        let now = Utc::now();
        let facts = |state, held| GcFacts {
            state,
            state_changed_at: now,
            held,
        };
        assert!(marks_unhealthy(
            &facts(GroupState::Running, 0),
            Health::Unhealthy
        ));
        assert!(!marks_unhealthy(
            &facts(GroupState::Running, 1),
            Health::Unhealthy
        ));
        assert!(!marks_unhealthy(
            &facts(GroupState::Running, 0),
            Health::Unknown
        ));
        assert!(!marks_unhealthy(
            &facts(GroupState::Running, 0),
            Health::Healthy
        ));
        assert!(!marks_unhealthy(
            &facts(GroupState::MarkedForDeletion, 0),
            Health::Unhealthy
        ));
    }

    #[test]
    fn collects_only_marked_and_empty_or_old_failures() {
        let ttl = Duration::from_secs(3600);
        let now = Utc::now();
        use GcAction::*;
        use GroupState::*;
        let cases = [
            (rec(MarkedForDeletion, 0, 0), Collect),
            (rec(MarkedForDeletion, 1, 0), Skip(SkipReason::HasSessions)),
            (rec(Running, 0, 0), Skip(SkipReason::NotMarked)),
            (rec(Creating, 0, 99999), Skip(SkipReason::NotMarked)),
            (rec(Failed, 0, 10), Skip(SkipReason::FailedTooRecently)),
            (rec(Failed, 0, 7200), Collect),
            (rec(Failed, 2, 7200), Skip(SkipReason::HasSessions)),
            (rec(Deleting, 5, 0), Skip(SkipReason::ClaimedRecently)),
            (rec(Deleting, 5, 59), Skip(SkipReason::ClaimedRecently)),
            (rec(Deleting, 5, 61), Resume),
            (rec(Deleting, 0, 7200), Resume),
        ];
        for (r, want) in cases {
            assert_eq!(
                plan(&r, now, ttl, Duration::from_secs(60)),
                want,
                "{:?} with {}",
                r.state,
                r.active_sessions
            );
        }
    }
}
