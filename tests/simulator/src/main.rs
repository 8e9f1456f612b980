//! `gamefleet-sim`: the simulator as a program for a local demo stack.
//!
//! Serves ARM container groups + the managed-identity endpoint on `--listen`,
//! delivers Event Grid events to `--monitor-url` the way the Functions host would,
//! fires the GC timer function every `--gc-every`, and prints one line per
//! interesting thing. Admin routes for scripts: `GET /_sim/groups`, `GET /_sim/counts`.

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Parser;
use gamefleet_sim::events::timer_envelope_for;
use gamefleet_sim::host::invoke_url;
use gamefleet_sim::{
    parse_duration, EventConfig, EventSchema, SimConfig, Simulator, WriteEventTiming,
};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

#[derive(Parser, Debug)]
#[command(
    name = "gamefleet-sim",
    version,
    about = "Strict local simulator of ARM container groups, managed identity and Event Grid delivery"
)]
struct Args {
    /// Address to listen on (ARM + /msi/token + /_sim admin routes).
    #[arg(long, env = "SIM_LISTEN", default_value = "127.0.0.1:7072")]
    listen: SocketAddr,
    /// The only subscription that exists.
    #[arg(long, env = "SIM_SUBSCRIPTION", default_value = gamefleet_sim::config::DEFAULT_SUBSCRIPTION)]
    subscription: String,
    /// Value the MI endpoint requires in X-IDENTITY-HEADER (the app's IDENTITY_HEADER).
    #[arg(long, env = "SIM_IDENTITY_HEADER", default_value = gamefleet_sim::config::DEFAULT_IDENTITY_HEADER)]
    identity_header: String,
    /// PUT/start accepted -> Succeeded, e.g. 3s, 500ms.
    #[arg(long, env = "SIM_PROVISIONING_DELAY", default_value = "2s", value_parser = parse_duration)]
    provisioning_delay: Duration,
    /// DELETE accepted -> gone; 0 = synchronous 200.
    #[arg(long, env = "SIM_DELETE_DELAY", default_value = "0", value_parser = parse_duration)]
    delete_delay: Duration,
    /// ARM's write throttling: `CAPACITY/RATE` tokens (e.g. 200/10, ARM's own);
    /// unset = unlimited.
    #[arg(long, env = "SIM_WRITE_BUCKET", value_parser = parse_bucket)]
    write_bucket: Option<gamefleet_sim::TokenBucket>,
    /// Function URL events are delivered to, e.g. http://127.0.0.1:7071/Monitor.
    #[arg(long, env = "SIM_MONITOR_URL")]
    monitor_url: Option<String>,
    /// Deliver CloudEvents 1.0 instead of the Event Grid schema.
    #[arg(long, env = "SIM_CLOUDEVENTS", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    cloudevents: bool,
    /// Emit ResourceWriteSuccess when a PUT is accepted instead of when provisioned.
    #[arg(long, env = "SIM_WRITE_EVENTS_ON_ACCEPTED", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    write_events_on_accepted: bool,
    /// Accepted ARM api-versions (comma-separated).
    #[arg(long, env = "SIM_API_VERSIONS", value_delimiter = ',', default_value = gamefleet_sim::config::DEFAULT_API_VERSION)]
    api_versions: Vec<String>,
    /// Only these resource groups exist (comma-separated); default: all do.
    #[arg(long, env = "SIM_RESOURCE_GROUPS", value_delimiter = ',')]
    resource_groups: Vec<String>,
    /// URL of the GC timer function, e.g. http://127.0.0.1:7071/GC.
    #[arg(long, env = "SIM_GC_URL")]
    gc_url: Option<String>,
    /// Timer period of the GC function.
    #[arg(long, env = "SIM_GC_EVERY", default_value = "15s", value_parser = parse_duration)]
    gc_every: Duration,
    /// Binding name of the timer in the GC function's function.json.
    #[arg(long, env = "SIM_GC_BINDING", default_value = "timer")]
    gc_binding: String,
    /// Only print the startup lines and failures.
    #[arg(long, env = "SIM_QUIET", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    quiet: bool,
}

fn stamp() -> String {
    Utc::now().format("%H:%M:%S%.3f").to_string()
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    if args.gc_every.is_zero() {
        eprintln!("gamefleet-sim: --gc-every must be > 0");
        return ExitCode::from(2);
    }
    let config = SimConfig {
        subscription_id: args.subscription.clone(),
        identity_header: args.identity_header.clone(),
        api_versions: args.api_versions.clone(),
        provisioning_delay: args.provisioning_delay,
        delete_delay: args.delete_delay,
        write_bucket: args.write_bucket,
        resource_groups: (!args.resource_groups.is_empty()).then(|| args.resource_groups.clone()),
        events: EventConfig {
            sink: args.monitor_url.clone(),
            schema: if args.cloudevents {
                EventSchema::CloudEvents
            } else {
                EventSchema::EventGrid
            },
            write_event_timing: if args.write_events_on_accepted {
                WriteEventTiming::OnAccepted
            } else {
                WriteEventTiming::OnProvisioned
            },
            ..EventConfig::default()
        },
        ..SimConfig::default()
    };
    let sim = match Simulator::start_on(args.listen, config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("gamefleet-sim: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };

    println!("gamefleet-sim listening on {}", sim.addr());
    println!("  ARM endpoint      {}", sim.arm_endpoint());
    println!("  IDENTITY_ENDPOINT={}", sim.identity_endpoint());
    println!("  IDENTITY_HEADER={}", sim.identity_header());
    println!(
        "  subscription {}, api-versions {}",
        sim.subscription_id(),
        args.api_versions.join(",")
    );
    match &args.monitor_url {
        Some(url) => println!(
            "  events -> {url} ({})",
            if args.cloudevents {
                "CloudEvents"
            } else {
                "Event Grid schema"
            }
        ),
        None => println!("  events: queued only (no --monitor-url)"),
    }
    if let Some(url) = &args.gc_url {
        println!("  timer -> {url} every {:?}", args.gc_every);
    }
    println!(
        "  admin: GET {0}/_sim/groups, GET {0}/_sim/counts",
        sim.arm_endpoint()
    );

    let printer = {
        let mut rx = sim.subscribe();
        let quiet = args.quiet;
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(notice) => {
                        let failure = matches!(
                            notice,
                            gamefleet_sim::Notice::EventDeliveryFailed { .. }
                                | gamefleet_sim::Notice::ProvisioningFailed { .. }
                        );
                        if !quiet || failure {
                            println!("{} {notice}", stamp());
                        }
                    }
                    Err(RecvError::Lagged(n)) => println!("{} ({n} notices skipped)", stamp()),
                    Err(RecvError::Closed) => break,
                }
            }
        })
    };

    let timer = args.gc_url.clone().map(|url| {
        let every = args.gc_every;
        let binding = args.gc_binding.clone();
        let quiet = args.quiet;
        tokio::spawn(gc_loop(url, every, binding, quiet))
    });

    wait_for_signal().await;
    println!("{} gamefleet-sim: stopping", stamp());
    if let Some(t) = timer {
        t.abort();
    }
    sim.shutdown().await;
    printer.abort();
    ExitCode::SUCCESS
}

async fn gc_loop(url: String, every: Duration, binding: String, quiet: bool) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap_or_default();
    let function = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("GC")
        .to_string();
    let mut last: Option<DateTime<Utc>> = None;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = Utc::now();
        let next = now + chrono::Duration::from_std(every).unwrap_or_default();
        let status = json!({
            "Last": last.map(iso).unwrap_or_else(|| "0001-01-01T00:00:00".to_string()),
            "Next": iso(next),
            "LastUpdated": iso(now)
        });
        let envelope = timer_envelope_for(&function, &binding, false, Some(status));
        match invoke_url(&client, &url, &envelope).await {
            Ok(resp) => {
                let code = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                let shown = match serde_json::from_str::<Value>(&body) {
                    Ok(v) => format!(
                        "ReturnValue {}",
                        v.get("ReturnValue").cloned().unwrap_or(Value::Null)
                    ),
                    Err(_) => format!(
                        "body is not JSON: {:?}",
                        body.chars().take(120).collect::<String>()
                    ),
                };
                if !quiet || !(200..300).contains(&code) {
                    println!(
                        "{} timer fired -> {function} answered {code}: {shown}",
                        stamp()
                    );
                }
            }
            Err(e) => println!("{} timer fired -> {function} unreachable: {e}", stamp()),
        }
        last = Some(now);
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `CAPACITY/RATE`, e.g. `200/10`: a bucket of 200 writes refilled at 10 per second.
fn parse_bucket(text: &str) -> Result<gamefleet_sim::TokenBucket, String> {
    let (cap, rate) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?}: give CAPACITY/RATE, e.g. 200/10"))?;
    let capacity = cap
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("{cap:?} is not a whole number of writes"))?;
    let refill_per_sec = rate
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| format!("{rate:?} is not a rate above 0 per second"))?;
    Ok(gamefleet_sim::TokenBucket {
        capacity,
        refill_per_sec,
    })
}
