//! gamefleet: a game-server fleet manager for Azure Container Instances, run as an
//! Azure Functions custom handler.
//!
//! Data flows one way: **edge** ([`http`], [`cli`]) → **core** ([`fleet`], pure;
//! [`ops`], the use cases) → **ports** ([`ports`]) → **adapters** ([`store`],
//! [`cloud`]).

pub mod fleet;
pub mod ports;
pub mod store;
