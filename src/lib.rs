//! gamefleet: a game-server fleet manager for Azure Container Instances, run as an
//! Azure Functions custom handler.
//!
//! Data flows one way: **edge** ([`runtime`], [`http`], [`config`], the CLI in
//! `main.rs`; [`operator`], the operator's CLI, is a client of [`http`]'s API) → **core** ([`fleet`], [`lifecycle`] and [`schedule`], pure;
//! [`ops`], the application: [`ops::App`], one use case per function,
//! [`ops::power`], [`ops::schedules`]) → **ports** ([`ports`],
//! [`lifecycle::Power`]) → **adapters** ([`store`],
//! [`cloud`]: one folder per provider, each exporting one
//! [`cloud::provider::ProviderSpec`] listed once in [`cloud::registry`], all over
//! [`cloud::transport`]). [`wiring`] builds the one [`ops::App`] from
//! [`config::Config`] with the real adapters; [`secret::Secret`] wraps every
//! value that must never print.

pub mod cloud;
pub mod config;
pub mod fleet;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod operator;
pub mod ops;
pub mod ports;
pub mod runtime;
pub mod schedule;
pub mod secret;
pub mod setting;
pub mod store;
pub mod wiring;
