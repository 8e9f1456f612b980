//! Integration tests: the real router against Azurite and the ARM simulator.

mod helpers;

mod allocate;
mod auth;
mod bad_input;
mod create;
mod delete;
mod details;
mod event_order;
mod faults;
mod fleets;
mod flow;
mod gc;
mod health;
mod huawei;
mod legacy;
mod list;
mod metrics;
mod monitor;
mod openapi;
mod openstack;
mod operator;
mod pacing;
mod power;
mod reconcile;
mod reporter;
mod schedules;
mod sessions;
mod state;
