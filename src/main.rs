//! The `gamefleet` binary: the Azure Functions custom handler (and, later, the
//! lifecycle CLI).

use clap::{Parser, Subcommand};
use gamefleet::config::Config;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::fmt::writer::MakeWriterExt;

#[derive(Parser)]
#[command(
    name = "gamefleet",
    version,
    about = "Game-server fleet manager for Azure Container Instances"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the functions (what the Functions host runs; the default).
    Serve {
        /// Port on 127.0.0.1 (default: FUNCTIONS_CUSTOMHANDLER_PORT, else 8080).
        #[arg(long)]
        port: Option<u16>,
    },
}

fn init_tracing() {
    // The Functions host logs stdout lines as information and stderr lines as errors.
    let writer = std::io::stderr
        .with_max_level(tracing::Level::WARN)
        .or_else(std::io::stdout);
    let mut filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // These log request URLs (a SAS token is part of the URL) and headers at debug/trace:
    // never below info, whatever RUST_LOG says.
    for quiet in [
        "azure_core=info",
        "azure_storage=info",
        "azure_data_tables=info",
        "azure_identity=info",
        "reqwest=info",
        "hyper=info",
        "hyper_util=info",
    ] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let port_override = match cli.command {
        Some(Command::Serve { port }) => port,
        None => None,
    };
    match serve(port_override).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("gamefleet: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(port_override: Option<u16>) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let app = Arc::new(gamefleet::app::build(&config)?);
    if config.set_sessions_url.is_none() {
        tracing::warn!("ACI_SET_SESSIONS_URL (or WEBSITE_HOSTNAME) is not set: containers will not be told where to report sessions");
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port_override.unwrap_or(config.port)));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    gamefleet::app::ensure_table(&app);
    tracing::info!(%addr, table = %config.storage.table, arm = %config.arm.endpoint, "gamefleet listening");
    axum::serve(listener, gamefleet::http::router(app))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("gamefleet stopped");
    Ok(())
}

async fn shutdown_signal() {
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
