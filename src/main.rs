//! The `gamefleet` binary: the CLI, and the entry of every runtime
//! ([`gamefleet::runtime`]: the Azure Functions custom handler, an OCI
//! Function, an AWS Lambda, a FunctionGraph function), picked from the
//! environment when no subcommand is given.

use clap::{Parser, Subcommand};
use gamefleet::config::Config;
use gamefleet::lifecycle::poll::Progress;
use gamefleet::runtime::Runtime;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::fmt::writer::MakeWriterExt;

#[derive(Parser)]
#[command(
    name = "gamefleet",
    version,
    about = "Game-server fleet manager for Azure Container Instances, and start/stop of compute on several clouds"
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
        /// Full listen address instead (default: GAMEFLEET_LISTEN); anything but
        /// loopback requires GAMEFLEET_API_KEYS.
        #[arg(long, conflicts_with = "port")]
        listen: Option<SocketAddr>,
    },
    /// Start, stop, toggle or report one resource, polling until it gets there.
    /// Exit code: 0 done or nothing to do, 1 failed, 2 timed out, 3 refused (transitional state).
    Power {
        /// start | stop | toggle | restart | status
        action: String,
        /// Provider, one of the registry's (default: POWER_PROVIDER)
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(gamefleet::cloud::registry::Provider::names()))]
        provider: Option<String>,
        /// The resource's id, as the provider names it (default: POWER_RESOURCE);
        /// give it several times for a set
        #[arg(long, conflicts_with_all = ["secret_id", "cluster_id"])]
        resource: Vec<String>,
        /// A set: every server of this CCE cluster (huawei-ecs)
        #[arg(long, conflicts_with = "secret_id")]
        cluster_id: Option<String>,
        /// SOFT or HARD stop, where the provider has the choice (huawei-ecs, oci-compute)
        #[arg(long = "type")]
        stop_type: Option<String>,
        /// OCI Vault secret holding the resource id (default: POWER_SECRET_ID)
        #[arg(long)]
        secret_id: Option<String>,
        /// Seconds between polls (default: POWER_POLL_INTERVAL, else 15)
        #[arg(long)]
        poll_interval: Option<f64>,
        /// Seconds to wait for the target state (default: POWER_MAX_WAIT, else 240)
        #[arg(long)]
        max_wait: Option<f64>,
        /// Return right after the command was accepted
        #[arg(long)]
        no_wait: bool,
        /// Print the outcome as JSON instead of its message
        #[arg(long)]
        json: bool,
    },
    /// Serve as an OCI Function (Fn http-stream contract on FN_LISTENER); the
    /// default when FN_LISTENER is set.
    OciFunction,
    /// Serve as an AWS Lambda (provided.al2023, the Runtime API at
    /// AWS_LAMBDA_RUNTIME_API); the default when that is set.
    #[cfg(feature = "lambda")]
    Lambda,
    /// Serve as a Huawei FunctionGraph event function (custom runtime, the
    /// runtime API at RUNTIME_API_ADDR); the default when that is set.
    FunctionGraph,
    /// Scheduled power: add, list, remove schedules, show their next fires,
    /// or apply what is due now (for a cron on a VM). Reads AzureWebJobsStorage
    /// and FLEET_TABLE like the functions; `next --cron` needs nothing.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Autoscaler fleet definitions (standby capacity): store, list, show,
    /// remove them (min, max, buffer, cooldown, the Create template), or run one
    /// autoscaler tick now (for a cron on a VM). Reads AzureWebJobsStorage and
    /// FLEET_TABLE like the functions. To operate the game servers themselves
    /// over a deployment's API, see `gamefleet fleet`.
    Fleets {
        #[command(subcommand)]
        command: FleetsCommand,
    },
    /// Operate the game servers of a deployment over its HTTP API (URL + key):
    /// list, show, mark, unmark, drain, delete, gc. Not `fleets`, which stores
    /// the autoscaler's fleet definitions in the table directly.
    #[command(after_help = gamefleet::operator::EXIT_CODES)]
    Fleet(gamefleet::operator::FleetArgs),
    /// Move every row the original project wrote under a mixed-case resource
    /// group to gamefleet's key (lower-cased). Idempotent and safe while the
    /// fleet runs; the functions also move such rows when they meet them.
    /// Reads AzureWebJobsStorage and FLEET_TABLE. Exit code 0 when every row is
    /// canonical, 1 when some could not be moved (run it again).
    Migrate,
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// Create or replace a schedule (by name); it acts from its first fire after now.
    Add {
        /// Letters, digits, '-', '_' and '.'
        #[arg(long)]
        name: String,
        /// 5 or 6 fields (seconds first); L, W, #, ranges, steps, @daily …
        #[arg(long)]
        cron: String,
        /// IANA zone, e.g. Europe/Berlin (default UTC)
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// start | stop | restart | toggle
        #[arg(long)]
        action: String,
        /// Provider, one of the registry's
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(gamefleet::cloud::registry::Provider::names()))]
        provider: String,
        /// The resource's id; several times for a set
        #[arg(long, conflicts_with_all = ["secret_id", "cluster_id"])]
        resource: Vec<String>,
        /// OCI Vault secret holding the resource id
        #[arg(long, conflicts_with = "cluster_id")]
        secret_id: Option<String>,
        /// Every server of this CCE cluster (huawei-ecs)
        #[arg(long)]
        cluster_id: Option<String>,
        /// Apply again inside the period when the state was changed by hand
        #[arg(long)]
        enforced: bool,
        /// A stop leaves alone what was started by hand
        #[arg(long)]
        retain_running: bool,
        /// Store it disabled (never fires)
        #[arg(long)]
        disabled: bool,
    },
    /// Every schedule with its next fires (a table, or --json).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a schedule. Exit code 1 when there is none by that name.
    Rm { name: String },
    /// The next fires of a stored schedule (or of --cron in --time-zone), in its zone and in UTC.
    Next {
        /// A stored schedule's name
        #[arg(required_unless_present = "cron", conflicts_with = "cron")]
        name: Option<String>,
        #[arg(long)]
        cron: Option<String>,
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// How many fires
        #[arg(short = 'n', long, default_value_t = 5)]
        count: usize,
        #[arg(long)]
        json: bool,
    },
    /// Apply every schedule that is due now, once (what the ScheduleTick timer does).
    Tick,
}

#[derive(Subcommand)]
enum FleetsCommand {
    /// Create or replace a fleet from its JSON definition (the body of
    /// POST /api/Fleets), read from FILE or from stdin with `-`.
    Put { file: std::path::PathBuf },
    /// Every fleet with its servers now (a table, or --json).
    List {
        #[arg(long)]
        json: bool,
    },
    /// One fleet as JSON: the definition, its servers, the autoscaler's status.
    /// Exit code 1 when there is none by that name.
    Show { name: String },
    /// Remove a fleet's definition; its servers stay unless --drain (then each
    /// is marked and GC deletes it once empty). Exit code 1 when there is none.
    Rm {
        name: String,
        #[arg(long)]
        drain: bool,
    },
    /// Scale every fleet once, now (what the Autoscale timer does). Exit code 1
    /// when a fleet's run failed.
    Tick,
}

fn init_tracing(default: &str) {
    // The Functions host logs stdout lines as information and stderr lines as errors.
    let writer = std::io::stderr
        .with_max_level(tracing::Level::WARN)
        .or_else(std::io::stdout);
    let mut filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
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
    // Test builds only (`--features failpoints`): FAILPOINTS=create-after-row=pause ...
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let cli = Cli::parse();
    let command =
        cli.command
            .unwrap_or_else(|| match Runtime::detect(&|k| std::env::var(k).ok()) {
                Runtime::OciFunction => Command::OciFunction,
                #[cfg(feature = "lambda")]
                Runtime::Lambda => Command::Lambda,
                Runtime::FunctionGraph => Command::FunctionGraph,
                _ => Command::Serve {
                    port: None,
                    listen: None,
                },
            });
    let result = match command {
        Command::Serve { port, listen } => {
            init_tracing("info");
            gamefleet::runtime::custom_handler::serve(port, listen)
                .await
                .map(|_| ExitCode::SUCCESS)
        }
        Command::OciFunction => {
            init_tracing("info");
            oci_function().await.map(|_| ExitCode::SUCCESS)
        }
        #[cfg(feature = "lambda")]
        Command::Lambda => {
            init_tracing("info");
            gamefleet::runtime::lambda::run()
                .await
                .map(|_| ExitCode::SUCCESS)
        }
        Command::FunctionGraph => {
            init_tracing("info");
            gamefleet::runtime::functiongraph::run()
                .await
                .map(|_| ExitCode::SUCCESS)
        }
        Command::Migrate => {
            init_tracing("warn");
            migrate().await
        }
        Command::Schedule { command } => {
            init_tracing("warn");
            schedule(command).await
        }
        // Exit codes of their own (gamefleet::operator::Exit); errors are printed there.
        Command::Fleet(args) => Ok(ExitCode::from(gamefleet::operator::run(args).await.code())),
        Command::Fleets { command } => {
            init_tracing("warn");
            fleets(command).await
        }
        Command::Power {
            action,
            provider,
            resource,
            cluster_id,
            stop_type,
            secret_id,
            poll_interval,
            max_wait,
            no_wait,
            json,
        } => {
            init_tracing("warn");
            let mut body = serde_json::json!({ "action": action, "wait": !no_wait });
            for (k, v) in [
                ("provider", provider),
                ("secretId", secret_id),
                ("type", stop_type),
            ] {
                if let Some(v) = v {
                    body[k] = serde_json::json!(v);
                }
            }
            match resource.as_slice() {
                [] => {}
                [one] => body["resource"] = serde_json::json!(one),
                many => body["resources"] = serde_json::json!(many),
            }
            if let Some(c) = cluster_id {
                body["selector"] = serde_json::json!({ "clusterId": c });
            }
            if let Some(s) = poll_interval {
                body["pollIntervalSeconds"] = serde_json::json!(s);
            }
            if let Some(s) = max_wait {
                body["maxWaitSeconds"] = serde_json::json!(s);
            }
            power(body, json).await
        }
    };
    result.unwrap_or_else(|e| {
        tracing::error!("{e}");
        eprintln!("gamefleet: {e}");
        ExitCode::FAILURE
    })
}

type Error = gamefleet::runtime::StartError;

async fn migrate() -> Result<ExitCode, Error> {
    let config = Config::from_env()?;
    let app = gamefleet::wiring::build(&config, gamefleet::ops::power::process_env())?;
    let report = app.migrate().await?;
    println!("{}", serde_json::to_string(&report)?);
    eprintln!(
        "{}: {} rows, {} under a mixed-case resource group: {} moved, {} already moved, {} failed",
        config.storage.table,
        report.rows,
        report.legacy,
        report.moved,
        report.superseded,
        report.failed
    );
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn schedule(command: ScheduleCommand) -> Result<ExitCode, Error> {
    let now = chrono::Utc::now();
    if let ScheduleCommand::Next {
        name: None,
        cron: Some(cron),
        time_zone,
        count,
        json,
    } = &command
    {
        // Offline: no table, a placeholder target (never used).
        let body = serde_json::json!({"name": "cron", "cron": cron, "timeZone": time_zone,
            "action": "start", "provider": "aci", "resource": "rg/name"});
        let s = gamefleet::schedule::Schedule::parse(&body)?;
        let report = gamefleet::schedule::next_report(&s, now, *count);
        if *json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print!("{report}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let config = Config::from_env()?;
    let app = gamefleet::wiring::build(&config, gamefleet::ops::power::process_env())?;
    match command {
        ScheduleCommand::Add {
            name,
            cron,
            time_zone,
            action,
            provider,
            resource,
            secret_id,
            cluster_id,
            enforced,
            retain_running,
            disabled,
        } => {
            // The flags are the API's fields: one parser for both.
            let mut body = serde_json::json!({"name": name, "cron": cron, "timeZone": time_zone,
                "action": action, "provider": provider, "enforced": enforced,
                "retainRunning": retain_running, "enabled": !disabled});
            match resource.as_slice() {
                [] => {}
                [one] => body["resource"] = serde_json::json!(one),
                many => body["resources"] = serde_json::json!(many),
            }
            if let Some(s) = secret_id {
                body["secretId"] = serde_json::json!(s);
            }
            if let Some(c) = cluster_id {
                body["selector"] = serde_json::json!({ "clusterId": c });
            }
            let stored = app.put_schedule(&body, now).await?;
            println!("{}", serde_json::to_string_pretty(&stored)?);
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCommand::List { json } => {
            let all = app.list_schedules(now).await?;
            if json {
                println!("{}", serde_json::to_string(&all)?);
            } else {
                println!(
                    "{:<24} {:<18} {:<18} {:<8} {:<10} next",
                    "name", "cron", "time zone", "action", "enabled"
                );
                for s in &all {
                    let text = |k: &str| s[k].as_str().unwrap_or("-").to_owned();
                    let next = s["next"][0]["local"].as_str().unwrap_or("-");
                    println!(
                        "{:<24} {:<18} {:<18} {:<8} {:<10} {next}",
                        text("name"),
                        text("cron"),
                        text("timeZone"),
                        text("action"),
                        s["enabled"].as_bool().unwrap_or(false),
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCommand::Rm { name } => match app.delete_schedule(&name).await {
            Ok(()) => {
                eprintln!("schedule {name} removed");
                Ok(ExitCode::SUCCESS)
            }
            Err(gamefleet::ops::schedules::ScheduleOpsError::NotFound(n)) => {
                eprintln!("gamefleet: no schedule named {n}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        },
        ScheduleCommand::Next {
            name, count, json, ..
        } => {
            let name = name.unwrap_or_default();
            let stored = app.schedule(&name).await?;
            let report = gamefleet::schedule::next_report(&stored.schedule, now, count);
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCommand::Tick => {
            let report = app.tick(now).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn fleets(command: FleetsCommand) -> Result<ExitCode, Error> {
    use gamefleet::ops::fleets::FleetOpsError;
    let now = chrono::Utc::now();
    let config = Config::from_env()?;
    let app = gamefleet::wiring::build(&config, gamefleet::ops::power::process_env())?;
    let missing = |n: String| {
        eprintln!("gamefleet: no fleet named {n}");
        Ok(ExitCode::FAILURE)
    };
    match command {
        FleetsCommand::Put { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?
            };
            let body: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
            let stored = app.put_fleet(&body, now).await?;
            println!("{}", serde_json::to_string_pretty(&stored)?);
            Ok(ExitCode::SUCCESS)
        }
        FleetsCommand::List { json } => {
            let all = app.list_fleets(now).await?;
            if json {
                println!("{}", serde_json::to_string(&all)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<24} {:<20} {:>4} {:>4} {:<16} {:>8} {:>8} {:>5} {:>6} last run",
                "name",
                "resource group",
                "min",
                "max",
                "buffer",
                "servers",
                "desired",
                "busy",
                "marked"
            );
            for f in &all {
                let st = &f["status"];
                let n = |v: &serde_json::Value| v.as_u64().map_or("-".into(), |n| n.to_string());
                println!(
                    "{:<24} {:<20} {:>4} {:>4} {:<16} {:>8} {:>8} {:>5} {:>6} {}",
                    f["name"].as_str().unwrap_or("-"),
                    f["resourceGroup"].as_str().unwrap_or("-"),
                    n(&f["min"]),
                    n(&f["max"]),
                    f["buffer"].to_string(),
                    n(&st["servers"]["inService"]),
                    n(&st["desired"]),
                    n(&st["servers"]["busy"]),
                    n(&st["servers"]["marked"]),
                    st["lastRun"]["result"].as_str().unwrap_or("-"),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        FleetsCommand::Show { name } => match app.fleet(&name, now).await {
            Ok(v) => {
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(ExitCode::SUCCESS)
            }
            Err(FleetOpsError::NotFound(n)) => missing(n),
            Err(e) => Err(e.into()),
        },
        FleetsCommand::Rm { name, drain } => match app.delete_fleet(&name, drain).await {
            Ok(v) => {
                println!("{}", serde_json::to_string(&v)?);
                Ok(ExitCode::SUCCESS)
            }
            Err(FleetOpsError::NotFound(n)) => missing(n),
            Err(e) => Err(e.into()),
        },
        FleetsCommand::Tick => {
            let report = app.autoscale(now).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(if report.runs.iter().any(|r| r.result == "failed") {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

async fn oci_function() -> Result<(), Error> {
    let listener = std::env::var("FN_LISTENER").map_err(|_| {
        "FN_LISTENER is not set: the OCI Function mode needs the Fn agent's unix socket path"
    })?;
    if let Ok(format) = std::env::var("FN_FORMAT") {
        if !format.is_empty() && format != "http-stream" {
            return Err(format!("FN_FORMAT {format:?} is not supported; only http-stream").into());
        }
    }
    let hub = Arc::new(gamefleet::runtime::power_hub().await?);
    let limits = gamefleet::config::ServeLimits::from_lookup(&|k| std::env::var(k).ok())?;
    gamefleet::runtime::ocifn::serve(&listener, hub, limits).await?;
    Ok(())
}

async fn power(body: serde_json::Value, as_json: bool) -> Result<ExitCode, Error> {
    let hub = gamefleet::runtime::power_hub().await?;
    let started = std::time::Instant::now();
    let mut report = |p: Progress| {
        let t = started.elapsed().as_secs_f64();
        match p {
            Progress::Seen(o) => eprintln!("[{t:6.1}s] state: {}", o.state),
            Progress::Sent(c) => eprintln!(
                "[{t:6.1}s] sent: {}",
                serde_json::to_string(&c)
                    .unwrap_or_default()
                    .trim_matches('"')
            ),
            Progress::Polled { state, waited } => eprintln!(
                "[{t:6.1}s] waiting ({}s): {state}",
                Duration::as_secs(&waited)
            ),
            Progress::PollFailed { error, waited } => eprintln!(
                "[{t:6.1}s] poll failed ({}s): {error}",
                Duration::as_secs(&waited)
            ),
        }
    };
    // The same request parser as every runtime's: the flags are its fields.
    let done = hub.invoke(&body, &hub.defaults, None, &mut report).await?;
    if as_json {
        println!("{}", done.to_json());
    } else {
        println!("{}", done.message());
        if let gamefleet::ops::power::Executed::Set(set) = &done {
            for (m, o) in &set.members {
                println!(
                    "  {} {}: {} ({})",
                    m.resource,
                    m.name,
                    o.kind.as_str(),
                    o.message
                );
            }
        }
    }
    Ok(ExitCode::from(done.kind().exit_code()))
}
