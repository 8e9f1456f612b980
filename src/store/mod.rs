//! Adapters of [`crate::ports::FleetStore`].
//!
//! [`TableStore`]: the fleet records in Azure Table Storage (or Azurite), one row
//! per container group, in the original project's `ACIDetails` format.
//!
//! - `table.rs`: the store itself (azure_data_tables 0.21 for single rows and queries).
//! - `batch.rs`: the entity-group transaction wire format, built and parsed by hand.
//! - `row.rs`: record ↔ row, lenient with rows the original project wrote.
//! - `connection.rs`: connection strings, without ever echoing a secret.
//! - `pipeline.rs`: retries, `Retry-After`, and the mapping to [`crate::ports::StoreError`].
//! - `healing.rs`: re-creates a lost table on first use.
//! - `secrets.rs`: secrets gamefleet generated itself (the session-token key), in `<table>Keys`.
//! - `documents.rs`: the side tables' rows, read and written whole with their ETags (one place for Keys, Schedules, Fleets).
//! - `allocations.rs`: Allocate's requestIds (claimed, then the server they got), in `<table>Allocations`.
//! - `activity.rs`: the recent GC and autoscaler actions (the dashboard), in `<table>Activity`.
//! - `fleets.rs`: fleet definitions and the autoscaler's state, in `<table>Fleets`.
//! - `schedules.rs`: power schedules, their claims and the last action per resource, in `<table>Schedules`.

pub mod activity;
pub mod allocations;
mod batch;
mod connection;
pub mod documents;
pub mod fleets;
pub mod healing;
mod pipeline;
mod row;
pub mod schedules;
pub mod secrets;
pub mod table;

#[cfg(test)]
mod tests;

pub use connection::StoreConfigError;
pub use healing::Healing;
pub use table::{StoreOptions, TableStore, DEFAULT_TABLE};
