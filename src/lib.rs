//! gamefleet: a game-server fleet manager for Azure Container Instances, run as an
//! Azure Functions custom handler.
//!
//! Data flows one way: **edge** ([`http`], [`ocifn`], the CLI in `main.rs`) →
//! **core** ([`fleet`] and [`lifecycle`], pure; [`ops`] and [`power`], the use
//! cases) → **ports** ([`ports`], [`lifecycle::Power`]) → **adapters**
//! ([`store`], [`cloud`]: one folder per provider, each exporting one
//! [`cloud::provider::ProviderSpec`] listed once in [`cloud::registry`], all over
//! [`cloud::transport`]). [`app`] builds the one [`ops::App`] from
//! [`config::Config`]; [`secret::Secret`] wraps every value that must never print.

pub mod app;
pub mod auth;
pub mod cloud;
pub mod config;
pub mod events;
pub mod fleet;
pub mod http;
pub mod lifecycle;
pub mod ocifn;
pub mod ops;
pub mod ports;
pub mod power;
pub mod secret;
pub mod store;

/// Resolves on Ctrl-C or SIGTERM (the Functions host, Fn and schedulers stop processes with SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
