//! Strict local stand-ins for what gamefleet talks to but cannot reach from a
//! test machine: Azure Resource Manager (container groups), the App Service
//! managed-identity token endpoint, Event Grid delivery through the Functions
//! host, and a managed Azurite (Table Storage) for tests; plus, separately,
//! the OCI APIs (container instances, compute, Vault secrets) in [`oci`], and
//! OpenStack Nova behind a real Keystone in [`nova`] (fixtures in [`keystone`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use gamefleet_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! // point the code under test at sim.arm_endpoint() and sim.identity_endpoint()
//! // (IDENTITY_HEADER = sim.identity_header())
//! # Ok(()) }
//! ```
//!
//! There is no global state: every [`Simulator`] owns its groups, tokens, fault
//! rules and event queue, so many can run in parallel in one test process.

pub mod azurite;
mod faults;

mod arm;
pub mod config;
mod delivery;
pub mod events;
pub mod host;
pub mod huawei;
mod identity;
pub mod keystone;
pub mod nova;
pub mod oci;
pub mod runtimes;
mod sim;
mod state;
pub mod throttle;
pub mod types;
mod validate;

pub use config::{parse_duration, EventConfig, EventSchema, SimConfig, WriteEventTiming};
pub use events::ResourceEventKind;
pub use identity::MI_API_VERSION;
pub use sim::Simulator;
pub use throttle::TokenBucket;
pub use types::{Delivery, FaultRule, Notice, Op, RequestRecord};
