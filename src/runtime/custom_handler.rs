//! The Azure Functions custom handler: the whole router on
//! 127.0.0.1:`FUNCTIONS_CUSTOMHANDLER_PORT` (or `GAMEFLEET_LISTEN`).

use super::StartError;
use crate::config::Config;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// Serve until SIGTERM. `port` / `listen` override the configuration.
pub async fn serve(port: Option<u16>, listen: Option<SocketAddr>) -> Result<(), StartError> {
    let config = Config::from_env()?;
    let app = Arc::new(crate::wiring::build(
        &config,
        crate::ops::power::process_env(),
    )?);
    // Every configured provider now: a missing variable or an unreadable key fails the start.
    app.power.check_configuration().await?;
    if config.set_sessions_url.is_none() {
        tracing::warn!("ACI_SET_SESSIONS_URL (or WEBSITE_HOSTNAME) is not set: containers will not be told where to report sessions");
    }
    let addr = listen
        .or(config.listen)
        .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, port.unwrap_or(config.port))));
    if !addr.ip().is_loopback() && config.api_keys.is_empty() {
        return Err(format!(
            "refusing to listen on {addr} without GAMEFLEET_API_KEYS: every route would be open to the network (loopback needs no key)"
        )
        .into());
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    crate::wiring::ensure_table(&app);
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(%addr, table = %config.storage.table, arm = %config.arm.endpoint, "gamefleet listening");
    crate::http::serve(
        listener,
        crate::http::router(app),
        config.serve,
        super::shutdown_signal(),
    )
    .await;
    tracing::info!("gamefleet stopped");
    Ok(())
}
