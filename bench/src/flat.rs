//! Memory flat in fleet size (issue 11 §4): `List?state=all` and one GC run
//! over N rows, each in a fresh gamefleet process, with that process's peak
//! RSS (`VmHWM`) after it. With `--baseline-bin`, an older build runs the
//! same measurements on the same table in the same run, so the before and
//! after come from one machine state.
//!
//! The table: N rows spread over [`PARTITIONS`] resource groups, every tenth
//! one MarkedForDeletion with 0 sessions (with its container group in the
//! simulator, whose DELETEs answer at once), the rest Running. The GC process
//! runs with `HEALTH_TIMEOUT` set, so its run reads every Running row (the
//! health check) besides the candidates. The marked rows are written again
//! before each GC. Rows are seeded by entity-group transactions of 100 rows
//! of one partition, partitions side by side.

use crate::report::{thousands, Samples, Table};
use crate::roundtrips::wait_log;
use crate::stack::{self, Gamefleet, Memory, Paths};
use crate::Result;
use gamefleet::fleet::{ActiveSessions, GroupRecord, GroupState};
use gamefleet::store::table::TableStore;
use gamefleet_sim::azurite::unique_table;
use gamefleet_sim::Simulator;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Resource groups (partitions) the rows are spread over.
pub const PARTITIONS: usize = 20;
/// One row in this many is marked for deletion.
pub const MARKED_EVERY: usize = 10;
/// Seeding transactions in flight at once (one per partition).
const SEED_CONCURRENCY: usize = 8;

/// One binary's figures at one N.
#[derive(Debug, Default)]
pub struct Figures {
    pub idle: Samples,
    pub list_ms: Samples,
    pub list_peak: Samples,
    pub gc_ms: Samples,
    pub gc_peak: Samples,
}

#[derive(Debug, Default)]
pub struct Flat {
    /// (N, binary label, figures).
    pub rows: Vec<(usize, String, Figures)>,
    pub seed_ms: Vec<(usize, f64)>,
}

impl Flat {
    pub fn table(&self) -> String {
        let mut t = Table::new(&[
            "rows",
            "binary",
            "idle RSS",
            "`List?state=all`: wall time",
            "List: peak RSS",
            "GC (N/10 collected, every Running row health-checked): wall time",
            "GC: peak RSS",
        ]);
        let mib = |s: &Samples| s.show(|v| format!("{:.1} MiB", v / 1024.0));
        for (n, label, f) in &self.rows {
            t.row(vec![
                thousands(*n),
                label.clone(),
                mib(&f.idle),
                f.list_ms.ms(),
                mib(&f.list_peak),
                f.gc_ms.ms(),
                mib(&f.gc_peak),
            ]);
        }
        t.render()
    }
}

fn rg(i: usize) -> String {
    format!("arena-{:02}", i % PARTITIONS)
}

fn record(i: usize, state: GroupState) -> GroupRecord {
    let now = chrono::Utc::now() - chrono::Duration::minutes(10);
    let mut r = GroupRecord::creating(
        stack::key(&rg(i), &format!("g{i:06}")),
        "westeurope".into(),
        now,
    );
    r.state = state;
    r.active_sessions = ActiveSessions::ZERO;
    r.public_ip = Some("20.0.0.1".into());
    r
}

/// Writes rows `indices` (insert or replace): 100 rows of one partition per
/// transaction, [`SEED_CONCURRENCY`] partitions at once.
pub async fn seed(
    store: &TableStore,
    indices: &[usize],
    state_of: fn(usize) -> GroupState,
) -> Result<()> {
    use futures::StreamExt;
    let mut by_partition: Vec<Vec<GroupRecord>> = vec![Vec::new(); PARTITIONS];
    for &i in indices {
        by_partition[i % PARTITIONS].push(record(i, state_of(i)));
    }
    let results: Vec<Result<()>> = futures::stream::iter(by_partition)
        .map(|rows| async move {
            for chunk in rows.chunks(gamefleet::ports::MAX_BATCH) {
                // Insert-or-replace is idempotent: a transaction whose answer
                // was lost (Azurite under load resets connections) is sent again.
                let mut attempt = 0;
                while let Err(e) = store.put_batch(chunk).await {
                    attempt += 1;
                    if attempt == 5 {
                        return Err(e.into());
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Ok(())
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

fn state_of(i: usize) -> GroupState {
    if i.is_multiple_of(MARKED_EVERY) {
        GroupState::MarkedForDeletion
    } else {
        GroupState::Running
    }
}

fn kib(m: Memory) -> f64 {
    m.hwm_kib as f64
}

/// `binaries`: (label, path) of each build to measure, the one under test first.
pub async fn run(
    work: &std::path::Path,
    azurite_conn: &str,
    sizes: &[usize],
    runs: usize,
    binaries: &[(String, PathBuf)],
) -> Result<Flat> {
    let sim = stack::simulator().await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()?;
    let mut out = Flat::default();
    for &n in sizes {
        let table = unique_table();
        let store = stack::store(azurite_conn, &table).await?;
        let all: Vec<usize> = (0..n).collect();
        let marked: Vec<usize> = all
            .iter()
            .copied()
            .filter(|i| state_of(*i) == GroupState::MarkedForDeletion)
            .collect();
        eprintln!("  seeding {} rows", thousands(n));
        let t = Instant::now();
        seed(&store, &all, state_of).await?;
        out.seed_ms.push((n, t.elapsed().as_secs_f64() * 1000.0));
        let env = stack::gamefleet_env(&sim, azurite_conn, &table);
        let mut gc_env = env.clone();
        gc_env.push(("HEALTH_TIMEOUT".into(), "1h".into()));
        let mut figures: Vec<Figures> = binaries.iter().map(|_| Figures::default()).collect();
        for run in 0..runs {
            for (b, ((label, bin), f)) in binaries.iter().zip(figures.iter_mut()).enumerate() {
                eprintln!("  {} rows, {label}, run {}/{runs}", thousands(n), run + 1);
                let paths = Paths {
                    gamefleet: bin.clone(),
                    node_server: PathBuf::new(),
                    work: work.to_path_buf(),
                };
                // What the previous GC collected comes back.
                arm_groups(&sim, &marked);
                seed(&store, &marked, state_of).await?;
                let gf = Gamefleet::start(&paths, &format!("flat-list-{n}-{b}"), &env).await?;
                wait_log(&gf, "table ready").await?;
                f.idle.push(kib(gf.memory()));
                let t = Instant::now();
                let r = http
                    .get(format!("{}/api/List?state=all", gf.base))
                    .send()
                    .await?;
                let status = r.status();
                let body = r.bytes().await?;
                f.list_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                f.list_peak.push(kib(gf.memory()));
                gf.stop().await;
                let items: Vec<serde::de::IgnoredAny> = serde_json::from_slice(&body)?;
                if !status.is_success() || items.len() != n {
                    return Err(format!(
                        "{label}: List?state=all: {status}, {} rows of {n}",
                        items.len()
                    )
                    .into());
                }
                drop(body);

                let gf = Gamefleet::start(&paths, &format!("flat-gc-{n}-{b}"), &gc_env).await?;
                wait_log(&gf, "table ready").await?;
                let t = Instant::now();
                let report = crate::scale::gc(&http, &gf).await?;
                f.gc_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                f.gc_peak.push(kib(gf.memory()));
                gf.stop().await;
                if report["deleted"] != marked.len() {
                    return Err(
                        format!("{label}: GC did not delete every marked group: {report}").into(),
                    );
                }
            }
        }
        for ((label, _), f) in binaries.iter().zip(figures) {
            out.rows.push((n, label.clone(), f));
        }
    }
    Ok(out)
}

fn arm_groups(sim: &Simulator, indices: &[usize]) {
    for &i in indices {
        stack::arm_group(sim, &rg(i), &format!("g{i:06}"));
    }
}
