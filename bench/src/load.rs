//! `gamefleet-bench load`: the load generator, run as its own process so its CPU
//! is not the measured server's. `--concurrency` workers send requests back to
//! back for `--warmup` + `--seconds`; only requests started and finished inside
//! the measured window count. Latencies go to an hdrhistogram (µs, 3 digits).
//!
//! - `list` / `setsessions`: gamefleet's `GET /api/List?resourceGroup=…` and
//!   `POST /api/SetSessions` (one item) at `--target`.
//! - `raw-list` / `raw-setsessions`: the same storage work straight to Table
//!   Storage with gamefleet's own store and HTTP client settings: the
//!   `list(Running, resource group)` query; `get_many` of one name then a
//!   one-write conditional `$batch` (what SetSessions does for one item).
//!
//! SetSessions workers each own a disjoint slice of the groups (index mod
//! concurrency), so no two requests race for a row's ETag.

use crate::stack::name;
use crate::Result;
use clap::{Args, ValueEnum};
use gamefleet::fleet::{ActiveSessions, ContainerGroupName, GroupState, ResourceGroup};
use gamefleet::ports::{BatchOutcome, FleetStore, ListQuery, SessionWrite};
use gamefleet::store::table::{StoreOptions, TableStore};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    List,
    Setsessions,
    RawList,
    RawSetsessions,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[arg(long, value_enum)]
    pub op: Op,
    /// gamefleet's base URL (`list`, `setsessions`).
    #[arg(long)]
    pub target: Option<String>,
    /// Table Storage connection string (`raw-*`).
    #[arg(long, env = "GAMEFLEET_BENCH_STORAGE", hide_env_values = true)]
    pub storage: Option<String>,
    /// Table name (`raw-*`).
    #[arg(long)]
    pub table: Option<String>,
    /// Resource group of the rows.
    #[arg(long)]
    pub resource_group: String,
    /// SetSessions: groups g00000… in the resource group.
    #[arg(long, default_value_t = 1000)]
    pub groups: usize,
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Exactly this many requests, one after the other, instead of a timed
    /// run (the CPU section counts instructions per request with it).
    #[arg(long)]
    pub count: Option<usize>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub first_error: Option<String>,
    /// This process's CPU time (user + system) per counted request over the
    /// measured window, µs: what the client side of the work costs.
    pub client_cpu_us: f64,
}

enum Client {
    Http {
        http: reqwest::Client,
        target: String,
    },
    Raw(Box<TableStore>),
}

struct Worker {
    hist: Histogram<u64>,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(args: LoadArgs) -> Result<()> {
    let client = match args.op {
        Op::List | Op::Setsessions => Client::Http {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(args.concurrency)
                .timeout(Duration::from_secs(30))
                .build()?,
            target: args
                .target
                .clone()
                .ok_or("--target is needed")?
                .trim_end_matches('/')
                .to_owned(),
        },
        Op::RawList | Op::RawSetsessions => {
            // The same client settings as gamefleet's store (src/app.rs).
            let http = gamefleet::wiring::http_client(Duration::from_secs(10))?;
            Client::Raw(Box::new(TableStore::from_connection_string(
                args.storage.as_deref().ok_or("--storage is needed")?,
                args.table.as_deref().ok_or("--table is needed")?,
                http,
                StoreOptions::default(),
            )?))
        }
    };
    let client = Arc::new(client);
    let rg = ResourceGroup::parse(&args.resource_group)?;
    if let Some(count) = args.count {
        let mine: Vec<String> = (0..args.groups).map(name).collect();
        for _ in 0..count {
            one(&client, args.op, &rg, &mine).await?;
        }
        return Ok(());
    }
    let start = Instant::now();
    let t0 = start + Duration::from_secs_f64(args.warmup);
    let end = t0 + Duration::from_secs_f64(args.seconds);
    let cpu_window = tokio::spawn(async move {
        tokio::time::sleep_until(t0.into()).await;
        let before = crate::stack::cpu_ticks(std::process::id());
        tokio::time::sleep_until(end.into()).await;
        crate::stack::cpu_ticks(std::process::id()) - before
    });
    let mut tasks = Vec::new();
    for w in 0..args.concurrency {
        let (client, rg, args) = (client.clone(), rg.clone(), args.clone());
        tasks.push(tokio::spawn(async move {
            let mine: Vec<String> = (0..args.groups)
                .filter(|i| i % args.concurrency == w)
                .map(name)
                .collect();
            let mut me = Worker {
                hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"),
                requests: 0,
                errors: 0,
                first_error: None,
            };
            while Instant::now() < end {
                let begun = Instant::now();
                let outcome = one(&client, args.op, &rg, &mine).await;
                let done = Instant::now();
                if begun < t0 || done > end {
                    continue;
                }
                me.requests += 1;
                match outcome {
                    Ok(()) => {
                        let _ = me.hist.record((done - begun).as_micros().max(1) as u64);
                    }
                    Err(e) => {
                        me.errors += 1;
                        me.first_error.get_or_insert(e);
                    }
                }
            }
            me
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let (mut requests, mut errors, mut first_error) = (0, 0, None);
    for t in tasks {
        let w = t.await?;
        hist.add(&w.hist)?;
        requests += w.requests;
        errors += w.errors;
        if first_error.is_none() {
            first_error = w.first_error;
        }
    }
    let seconds = args.seconds;
    let ticks = cpu_window.await?;
    let result = LoadResult {
        client_cpu_us: if requests > 0 {
            ticks as f64 / crate::stack::ticks_per_second() * 1e6 / requests as f64
        } else {
            0.0
        },
        requests,
        errors,
        seconds,
        rps: (requests - errors) as f64 / seconds,
        p50_ms: hist.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
        max_ms: hist.max() as f64 / 1000.0,
        first_error,
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

async fn one(
    client: &Client,
    op: Op,
    rg: &ResourceGroup,
    mine: &[String],
) -> std::result::Result<(), String> {
    let pick = || mine[fastrand::usize(..mine.len())].clone();
    match (client, op) {
        (Client::Http { http, target }, Op::List) => {
            let r = http
                .get(format!("{target}/api/List?resourceGroup={rg}"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status();
            let body = r.bytes().await.map_err(|e| e.to_string())?;
            if status != reqwest::StatusCode::OK || body.len() < 3 {
                return Err(format!("List answered {status}"));
            }
            Ok(())
        }
        (Client::Http { http, target }, Op::Setsessions) => {
            let body = serde_json::json!([{
                "resourceGroup": rg.as_str(),
                "containerGroupName": pick(),
                "activeSessions": fastrand::u32(0..64),
            }]);
            let r = http
                .post(format!("{target}/api/SetSessions"))
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status();
            let text = r.text().await.map_err(|e| e.to_string())?;
            if status != reqwest::StatusCode::OK {
                return Err(format!("SetSessions answered {status}: {text}"));
            }
            Ok(())
        }
        (Client::Raw(store), Op::RawList) => {
            let rows = store
                .list(&ListQuery::ByState {
                    state: Some(GroupState::Running),
                    resource_group: Some(rg.clone()),
                })
                .await
                .map_err(|e| e.to_string())?;
            if rows.is_empty() {
                return Err("no rows".into());
            }
            Ok(())
        }
        (Client::Raw(store), Op::RawSetsessions) => {
            let name = ContainerGroupName::parse(&pick()).map_err(|e| e.to_string())?;
            let rows = store
                .get_many(rg, std::slice::from_ref(&name))
                .await
                .map_err(|e| e.to_string())?;
            let row = rows.first().ok_or("GroupNotFound")?;
            if !row.value.state.accepts_sessions() {
                return Err("GroupDeleting".into());
            }
            let write = SessionWrite {
                heartbeat: false,
                reservations: None,
                name,
                active_sessions: ActiveSessions::new(fastrand::u32(0..64))
                    .map_err(|e| e.to_string())?,
                etag: row.etag.clone(),
            };
            match store
                .write_sessions(rg, &[write])
                .await
                .map_err(|e| e.to_string())?
            {
                BatchOutcome::Applied(_) => Ok(()),
                BatchOutcome::Failed { error, .. } => Err(error.to_string()),
            }
        }
        _ => Err("op and client do not match".into()),
    }
}
