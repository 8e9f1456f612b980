//! The fleet core: names, the record, the state machine, the GC rules. Pure: no I/O.

pub mod allocation;
pub mod autoscale;
pub mod capacity;
pub mod events;
pub mod gc;
pub mod machine;
pub mod names;
pub mod record;
pub mod spec;

pub use machine::{Decision, Event, GroupState, Rejection};
pub use names::{
    ActiveSessions, ContainerGroupName, ContainerName, GroupKey, Location, NameError, ResourceGroup,
};
pub use record::{Etag, GroupRecord, GroupView, Versioned};
