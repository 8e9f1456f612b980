//! Throughput and overhead: requests per second through gamefleet against the
//! same storage work sent straight to Azurite by the same client, both under
//! the same concurrent load from a second process (`gamefleet-bench load`).
//! Also the memory of the gamefleet process, idle and at its peak under load.

use crate::load::LoadResult;
use crate::report::{ms, Samples, Table};
use crate::roundtrips::wait_log;
use crate::stack::{self, cpu_ticks, name, ticks_per_second, Gamefleet, Memory, Paths};
use crate::Result;
use gamefleet::fleet::GroupState;
use gamefleet_sim::azurite::unique_table;

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub concurrency: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub runs: usize,
}

#[derive(Debug, Default)]
pub struct Side {
    pub rps: Samples,
    pub p50: Samples,
    pub p99: Samples,
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// gamefleet's CPU time per request (user + system), µs.
    pub cpu_us: Samples,
    /// The load process's CPU time per request, µs.
    pub client_cpu_us: Samples,
}

#[derive(Debug, Default)]
pub struct Throughput {
    pub list: (Side, Side),
    pub sessions: (Side, Side),
    pub idle: Memory,
    pub peak: Memory,
    pub after: Memory,
    /// Rows List returns.
    pub list_rows: usize,
}

impl Throughput {
    pub fn ratio(pair: &(Side, Side)) -> f64 {
        pair.0.rps.median() / pair.1.rps.median()
    }

    pub fn table(&self) -> String {
        let mut t = Table::new(&[
            "operation",
            "gamefleet req/s",
            "straight to Azurite req/s",
            "ratio gamefleet / raw",
            "gamefleet p50 / p99",
            "raw p50 / p99",
            "CPU per request: gamefleet process",
            "CPU per request: raw client (the same store code)",
        ]);
        let rows = [
            (
                format!(
                    "List (`GET /api/List?resourceGroup=…`, {} Running rows) vs the same query",
                    self.list_rows
                ),
                &self.list,
            ),
            (
                "SetSessions (1 item) vs `get_many` + one-write `$batch`".to_string(),
                &self.sessions,
            ),
        ];
        for (what, pair) in rows {
            let (gf, raw) = pair;
            let errors = |s: &Side| {
                if s.errors > 0 {
                    format!(
                        " ({} errors of {}: {})",
                        s.errors,
                        s.requests,
                        s.first_error.as_deref().unwrap_or("")
                    )
                } else {
                    String::new()
                }
            };
            t.row(vec![
                what,
                format!("{}{}", gf.rps.show(|v| format!("{v:.0}")), errors(gf)),
                format!("{}{}", raw.rps.show(|v| format!("{v:.0}")), errors(raw)),
                format!("{:.2}", Self::ratio(pair)),
                format!("{} / {}", ms(gf.p50.median()), ms(gf.p99.median())),
                format!("{} / {}", ms(raw.p50.median()), ms(raw.p99.median())),
                gf.cpu_us.show(|v| format!("{v:.0} µs")),
                raw.client_cpu_us.show(|v| format!("{v:.0} µs")),
            ]);
        }
        t.render()
    }
}

async fn load(args: &[String], storage: Option<&str>) -> Result<LoadResult> {
    let exe = std::env::current_exe()?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("load").args(args).kill_on_drop(true);
    if let Some(s) = storage {
        cmd.env("GAMEFLEET_BENCH_STORAGE", s);
    }
    let out = cmd.output().await?;
    if !out.status.success() {
        return Err(format!(
            "load generator failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn record(side: &mut Side, r: &LoadResult) {
    side.rps.push(r.rps);
    side.p50.push(r.p50_ms);
    side.p99.push(r.p99_ms);
    side.client_cpu_us.push(r.client_cpu_us);
    side.requests += r.requests;
    side.errors += r.errors;
    if side.first_error.is_none() {
        side.first_error.clone_from(&r.first_error);
    }
}

pub async fn run(paths: &Paths, azurite_conn: &str, s: Settings) -> Result<Throughput> {
    const LIST_ROWS: usize = 100;
    const SESSION_GROUPS: usize = 1000;
    let sim = stack::simulator().await?;
    let table = unique_table();
    let store = stack::store(azurite_conn, &table).await?;
    stack::seed(
        &store,
        "loadlist",
        (0..LIST_ROWS).map(name),
        GroupState::Running,
        0,
    )
    .await?;
    stack::seed(
        &store,
        "loadsess",
        (0..SESSION_GROUPS).map(name),
        GroupState::Running,
        0,
    )
    .await?;
    // Straight to Azurite, like the raw side: the proxy is not in this path.
    let gf = Gamefleet::start(
        paths,
        "throughput",
        &stack::gamefleet_env(&sim, azurite_conn, &table),
    )
    .await?;
    wait_log(&gf, "table ready").await?;
    reqwest::get(format!("{}/", gf.base))
        .await?
        .error_for_status()?;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let idle = gf.memory();
    let hz = ticks_per_second();

    let common = |op: &str, rg: &str| -> Vec<String> {
        vec![
            "--op".into(),
            op.into(),
            "--resource-group".into(),
            rg.into(),
            "--groups".into(),
            SESSION_GROUPS.to_string(),
            "--concurrency".into(),
            s.concurrency.to_string(),
            "--seconds".into(),
            s.seconds.to_string(),
            "--warmup".into(),
            s.warmup.to_string(),
        ]
    };
    let mut out = Throughput {
        idle,
        list_rows: LIST_ROWS,
        ..Default::default()
    };
    for run in 0..s.runs {
        eprintln!("  load run {}/{}", run + 1, s.runs);
        for (op, rg) in [("list", "loadlist"), ("setsessions", "loadsess")] {
            let mut args = common(op, rg);
            args.extend(["--target".into(), gf.base.clone()]);
            let before = cpu_ticks(gf.pid);
            let r = load(&args, None).await?;
            let ticks = cpu_ticks(gf.pid) - before;
            let mut raw_args = common(&format!("raw-{op}"), rg);
            raw_args.extend(["--table".into(), table.clone()]);
            let raw = load(&raw_args, Some(azurite_conn)).await?;
            let pair = if op == "list" {
                &mut out.list
            } else {
                &mut out.sessions
            };
            record(&mut pair.0, &r);
            record(&mut pair.1, &raw);
            // CPU over warmup + measured window, per request of the measured window
            // scaled to the whole run (the rate is steady).
            let total_requests = r.requests as f64 * (s.seconds + s.warmup) / s.seconds;
            if total_requests > 0.0 {
                pair.0.cpu_us.push(ticks as f64 / hz * 1e6 / total_requests);
            }
        }
    }
    out.peak = gf.memory();
    out.after = out.peak;
    gf.stop().await;
    Ok(out)
}
