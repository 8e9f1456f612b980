//! Integration tests: the real router against Azurite and the ARM simulator.

mod helpers;

mod auth;
mod bad_input;
mod create;
mod delete;
mod details;
mod faults;
mod flow;
mod gc;
mod list;
mod monitor;
mod power;
mod reconcile;
mod sessions;
mod state;
