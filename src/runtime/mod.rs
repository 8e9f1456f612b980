//! The runtimes gamefleet runs under, each a thin adapter that turns its
//! invocation into a call of the same application ([`crate::ops::App`] behind
//! [`crate::http::router`], or [`crate::ops::power::PowerHub::invoke`]):
//!
//! | runtime | picked when | adapter |
//! |---|---|---|
//! | Azure Functions custom handler | none of the others (`FUNCTIONS_CUSTOMHANDLER_PORT` is its port) | [`custom_handler`]: the router on 127.0.0.1 |
//! | OCI Functions | `FN_LISTENER` | [`ocifn`]: the Fn http-stream contract on a unix socket |
//! | AWS Lambda (`provided.al2023`) | `AWS_LAMBDA_RUNTIME_API` | `lambda` (feature `lambda`): function-URL events into the router, other events into Power |
//! | Huawei FunctionGraph (custom runtime) | `RUNTIME_API_ADDR` | [`functiongraph`]: the event loop, the seed's timer event and answer |
//! | CLI (cron, schedulers) | `gamefleet power …` | `main.rs` |

pub mod custom_handler;
pub mod functiongraph;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod ocifn;

use crate::config::ArmConfig;
use crate::http::PowerApi;
use crate::ops::power::PowerHub;
use std::sync::Arc;

/// Why a runtime could not start (configuration, a socket, a provider's setup).
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// Where this process runs, by what the platform put in its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    CustomHandler,
    OciFunction,
    Lambda,
    FunctionGraph,
}

impl Runtime {
    /// The variable a platform injects into its function's process decides:
    /// `FN_LISTENER` (the Fn agent), `AWS_LAMBDA_RUNTIME_API`, `RUNTIME_API_ADDR`
    /// (FunctionGraph); otherwise the custom handler (`gamefleet serve`, on
    /// `FUNCTIONS_CUSTOMHANDLER_PORT`, which may also be left over in a shell).
    pub fn detect(get: &dyn Fn(&str) -> Option<String>) -> Self {
        let set = |k: &str| get(k).is_some_and(|v| !v.trim().is_empty());
        if set("FN_LISTENER") {
            Runtime::OciFunction
        } else if set("AWS_LAMBDA_RUNTIME_API") {
            Runtime::Lambda
        } else if set("RUNTIME_API_ADDR") {
            Runtime::FunctionGraph
        } else {
            Runtime::CustomHandler
        }
    }
}

/// The Power hub from the process environment: ARM only if it is configured;
/// every configured provider built now, so a configuration mistake fails the
/// start, not the first call.
pub async fn power_hub() -> Result<PowerHub, StartError> {
    let arm = match ArmConfig::from_lookup(&|k| std::env::var(k).ok())? {
        Some(cfg) => Some(Arc::new(crate::wiring::arm_client(&cfg)?)),
        None => None,
    };
    let hub = PowerHub::from_env(arm)?;
    hub.check_configuration().await?;
    Ok(hub)
}

/// The lifecycle routes' state from the process environment.
pub async fn power_api(keys_required: bool) -> Result<PowerApi, StartError> {
    let (api_keys, openstack_api_keys) = crate::config::api_keys(&|k| std::env::var(k).ok())?;
    Ok(PowerApi {
        power: Arc::new(power_hub().await?),
        api_keys,
        openstack_api_keys,
        keys_required,
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_is_read_from_the_environment() {
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            Runtime::detect(&move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        assert_eq!(with(&[]), Runtime::CustomHandler);
        assert_eq!(
            with(&[("FN_LISTENER", "unix:/tmp/x.sock")]),
            Runtime::OciFunction
        );
        assert_eq!(
            with(&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]),
            Runtime::Lambda
        );
        assert_eq!(
            with(&[("RUNTIME_API_ADDR", "127.0.0.1:8888")]),
            Runtime::FunctionGraph
        );
        assert_eq!(
            with(&[
                ("FUNCTIONS_CUSTOMHANDLER_PORT", "8080"),
                ("FN_LISTENER", "unix:/tmp/x.sock")
            ]),
            Runtime::OciFunction,
            "a platform's own variable wins over a port left in the environment"
        );
        assert_eq!(
            with(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "8080")]),
            Runtime::CustomHandler
        );
        assert_eq!(
            with(&[("AWS_LAMBDA_RUNTIME_API", " ")]),
            Runtime::CustomHandler
        );
    }
}
