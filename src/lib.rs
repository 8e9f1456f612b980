//! gamefleet: a game-server fleet manager for Azure Container Instances, run as an
//! Azure Functions custom handler.
//!
//! Data flows one way: **edge** ([`http`]) → **core** ([`fleet`], pure; [`ops`],
//! the use cases) → **ports** ([`ports`]) → **adapters** ([`store`], [`cloud`]).
//! [`app`] builds the one [`ops::App`] from [`config::Config`].

pub mod app;
pub mod cloud;
pub mod config;
pub mod events;
pub mod fleet;
pub mod http;
pub mod lifecycle;
pub mod ops;
pub mod ports;
pub mod store;
