//! CPU per request, counted in instructions (issue 11 §4): valgrind's
//! callgrind runs the release `gamefleet` while the bench sends it `n`
//! requests one after the other, and runs `gamefleet-bench load --count n`
//! with a `raw-*` op (the same storage calls through gamefleet's store code,
//! no HTTP server, no use case) the same way. Each side runs twice, with `n1`
//! and `n2` requests; (Ir(n2) − Ir(n1)) / (n2 − n1) is the cost of one request
//! with start-up and shutdown cancelled out. Instruction counts repeat to a
//! fraction of a percent, so one pair of runs per side is enough.

use crate::report::Table;
use crate::stack::{self, name, Paths};
use crate::Result;
use gamefleet::fleet::GroupState;
use gamefleet_sim::azurite::unique_table;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const VALGRIND: &str = "valgrind";
/// Requests of the short and the long run of each side.
pub const COUNTS: (usize, usize) = (20, 120);
/// Rows List returns (as in the throughput section).
pub const LIST_ROWS: usize = 100;
const RG: &str = "cpu";

#[derive(Debug, Default)]
pub struct Cpu {
    /// (operation, gamefleet Ir per request, raw Ir per request).
    pub rows: Vec<(String, f64, f64)>,
}

impl Cpu {
    pub fn table(&self) -> String {
        let mut t = Table::new(&[
            "operation",
            "gamefleet process: instructions per request",
            "raw client (same storage calls): instructions per request",
            "ratio",
        ]);
        for (op, gf, raw) in &self.rows {
            t.row(vec![
                op.clone(),
                format!("{:.0} k", gf / 1000.0),
                format!("{:.0} k", raw / 1000.0),
                format!("{:.2}×", gf / raw),
            ]);
        }
        t.render()
    }
}

pub fn available() -> bool {
    std::process::Command::new(VALGRIND)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The `summary:` (total Ir) of a callgrind output file.
fn total_ir(file: &Path) -> Result<f64> {
    let text = std::fs::read_to_string(file)?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("no summary in {}", file.display()).into())
}

fn callgrind_args(out: &Path) -> Vec<String> {
    vec![
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}", out.display()),
    ]
}

/// Ir of the release binary serving `count` requests of `op`.
async fn gamefleet_ir(
    paths: &Paths,
    env: &[(String, String)],
    op: &str,
    count: usize,
) -> Result<f64> {
    let out = paths
        .work
        .join(format!("callgrind-gamefleet-{op}-{count}.out"));
    let log = paths.work.join(format!("gamefleet-cpu-{op}-{count}.log"));
    let file = std::fs::File::create(&log)?;
    let mut child = tokio::process::Command::new(VALGRIND)
        .args(callgrind_args(&out))
        .arg(&paths.gamefleet)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file))
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("valgrind exited at once")?;
    let deadline = Instant::now() + Duration::from_secs(180);
    let base = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("table ready") {
            if let Some(addr) = text
                .split("gamefleet listening addr=")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
            {
                break format!("http://{addr}");
            }
        }
        if Instant::now() > deadline {
            return Err(format!("gamefleet under valgrind did not get ready:\n{text}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let bench = std::env::current_exe()?;
    let status = tokio::process::Command::new(bench)
        .args([
            "load",
            "--op",
            op,
            "--target",
            &base,
            "--resource-group",
            RG,
        ])
        .args([
            "--groups",
            &LIST_ROWS.to_string(),
            "--count",
            &count.to_string(),
        ])
        .status()
        .await?;
    if !status.success() {
        return Err(format!("load --op {op} --count {count} failed").into());
    }
    // SIGTERM: gamefleet shuts down gracefully, callgrind writes its counts.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait()).await??;
    if !status.success() {
        return Err(format!("gamefleet under valgrind ended with {status}").into());
    }
    total_ir(&out)
}

/// Ir of `gamefleet-bench load --count` doing `op`'s storage calls directly.
async fn raw_ir(work: &Path, storage: &str, table: &str, op: &str, count: usize) -> Result<f64> {
    let out = work.join(format!("callgrind-raw-{op}-{count}.out"));
    let bench = std::env::current_exe()?;
    let status = tokio::process::Command::new(VALGRIND)
        .args(callgrind_args(&out))
        .arg(bench)
        .args(["load", "--op", op, "--table", table, "--resource-group", RG])
        .args([
            "--groups",
            &LIST_ROWS.to_string(),
            "--count",
            &count.to_string(),
        ])
        .env("GAMEFLEET_BENCH_STORAGE", storage)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await?;
    if !status.success() {
        return Err(format!("raw {op} under valgrind failed ({status})").into());
    }
    total_ir(&out)
}

pub async fn run(paths: &Paths, azurite_conn: &str) -> Result<Cpu> {
    let sim = stack::simulator().await?;
    let table = unique_table();
    let store = stack::store(azurite_conn, &table).await?;
    stack::seed(&store, RG, (0..LIST_ROWS).map(name), GroupState::Running, 0).await?;
    let env = stack::gamefleet_env(&sim, azurite_conn, &table);
    let (n1, n2) = COUNTS;
    let per = |a: f64, b: f64| (b - a) / (n2 - n1) as f64;
    let mut out = Cpu::default();
    for (what, op, raw) in [
        (
            format!("List (`GET /api/List?resourceGroup=…`, {LIST_ROWS} Running rows) vs the same query"),
            "list",
            "raw-list",
        ),
        (
            "SetSessions (1 item) vs `get_many` + one-write `$batch`".to_owned(),
            "setsessions",
            "raw-setsessions",
        ),
    ] {
        eprintln!("  callgrind: {op}");
        let gf = per(
            gamefleet_ir(paths, &env, op, n1).await?,
            gamefleet_ir(paths, &env, op, n2).await?,
        );
        let rw = per(
            raw_ir(&paths.work, azurite_conn, &table, raw, n1).await?,
            raw_ir(&paths.work, azurite_conn, &table, raw, n2).await?,
        );
        out.rows.push((what, gf, rw));
    }
    Ok(out)
}
