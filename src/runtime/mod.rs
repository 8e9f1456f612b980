//! The runtimes gamefleet runs under, each a thin adapter that turns its
//! invocation into a call of the same application ([`crate::ops::App`],
//! [`crate::ops::power::PowerHub`]): the Azure Functions custom handler is
//! [`crate::http`]'s router served by `main`; [`ocifn`] is the OCI Functions
//! FDK contract over a Unix socket.

pub mod ocifn;

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
