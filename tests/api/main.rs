//! Integration tests: the real router against Azurite and the ARM simulator.

mod browser;
mod helpers;

mod allocate;
mod auth;
mod bad_input;
mod create;
mod dashboard;
mod delete;
mod details;
mod event_order;
mod faults;
mod fleets;
mod flow;
mod gc;
mod health;
mod huawei;
mod identity_storage;
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
