//! The concurrency invariants: many actors racing on one partition (writers,
//! markers, deleters, three GC loops, Event Grid, reconcile), checked against
//! the transition table. A test binary of its own, so its load on Azurite
//! never shares a process (and an Azurite) with the other API tests.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod capacity;
mod races;

/// The heavy races share the machine's two cores and one Azurite: the two
/// wave tests run side by side (read), the three-process capacity test alone
/// (write), so none starves the others into testing nothing.
pub static HEAVY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
