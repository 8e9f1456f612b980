//! `gamefleet-bench`: where gamefleet stands against the physical minimum.
//!
//! Starts Azurite, the ARM simulator and a counting proxy in front of Azurite,
//! runs the **release** `gamefleet` binary as a child process against them, and
//! prints one markdown report (also written to `--out`): cold start, round trips
//! per function, throughput and overhead against the same storage work sent
//! straight to Azurite, GC and List at scale, memory. See bench/README.md.
//!
//! `gamefleet-bench load …` is the load generator the throughput section runs as
//! a second process.

mod allocation;
mod autoscale;
mod coldstart;
mod cpu;
mod flat;
mod load;
mod pacing;
mod proxy;
mod report;
mod roundtrips;
mod scale;
mod stack;
mod throughput;

use clap::{Parser, Subcommand, ValueEnum};
use report::{ms, thousands, Samples, Table};
use stack::Paths;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(
    name = "gamefleet-bench",
    about = "Benchmark of the gamefleet release binary against Azurite and the ARM simulator (run it through bench/run)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Repetitions of each measurement (medians and spreads over them);
    /// default 5, or 2 with --quick.
    #[arg(long)]
    runs: Option<usize>,
    /// Smaller N's and shorter load for a smoke run (about a minute).
    #[arg(long)]
    quick: bool,
    /// Where the markdown report is written (it is printed too).
    #[arg(long, default_value = "bench/results.md")]
    out: PathBuf,
    /// The gamefleet binary (default: `gamefleet` next to this one, i.e. target/release).
    #[arg(long)]
    gamefleet_bin: Option<PathBuf>,
    /// An older gamefleet binary the flat section also measures, on the same
    /// table in the same run (the "before" of a change).
    #[arg(long)]
    baseline_bin: Option<PathBuf>,
    /// Only these sections (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
}

#[derive(Subcommand)]
enum Command {
    /// The load generator (run by the throughput section as a second process).
    Load(load::LoadArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    Coldstart,
    Roundtrips,
    Throughput,
    Scale,
    Flat,
    Cpu,
    Allocation,
    Pacing,
    Autoscale,
}

/// What one mode measures.
struct Plan {
    runs: usize,
    cold_runs: usize,
    list_sizes: Vec<usize>,
    load: throughput::Settings,
    scale_groups: usize,
    delete_delay: Duration,
    /// Table sizes of the flat-memory section.
    flat_sizes: Vec<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gamefleet-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Load(args)) => rt.block_on(load::run(args)),
        None => rt.block_on(bench(cli)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gamefleet-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into())
}

fn json_field(path: &Path, field: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v[field].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn machine() -> (usize, String, f64) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (cores, model, kib / 1024.0 / 1024.0)
}

async fn bench(cli: Cli) -> Result<()> {
    let started = Instant::now();
    let root = repo_root();
    let runs = cli.runs.unwrap_or(if cli.quick { 2 } else { 5 }).max(1);
    let plan = if cli.quick {
        Plan {
            runs,
            cold_runs: runs * 4,
            list_sizes: vec![10, 1000, 2000],
            load: throughput::Settings {
                concurrency: 16,
                seconds: 2.0,
                warmup: 0.5,
                runs,
            },
            scale_groups: 2000,
            delete_delay: Duration::from_millis(50),
            flat_sizes: vec![2_000, 20_000],
        }
    } else {
        Plan {
            runs,
            cold_runs: runs * 4,
            list_sizes: vec![10, 1000, 10_000],
            load: throughput::Settings {
                concurrency: 16,
                seconds: 5.0,
                warmup: 1.0,
                runs,
            },
            scale_groups: 10_000,
            delete_delay: Duration::from_millis(50),
            flat_sizes: vec![10_000, 100_000],
        }
    };
    let sections: Vec<Section> = if cli.only.is_empty() {
        vec![
            Section::Coldstart,
            Section::Roundtrips,
            Section::Throughput,
            Section::Scale,
            Section::Flat,
            Section::Cpu,
            Section::Allocation,
            Section::Pacing,
            Section::Autoscale,
        ]
    } else {
        cli.only.clone()
    };
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let work = std::env::temp_dir().join(format!("gamefleet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let paths = Paths {
        gamefleet: cli
            .gamefleet_bin
            .clone()
            .unwrap_or_else(|| exe_dir.join("gamefleet")),
        node_server: root.join("bench").join("node").join("server.js"),
        work: work.clone(),
    };
    if !stack::exists(&paths.gamefleet) {
        return Err(format!(
            "{} not found: build it with `cargo build --release` (bench/run does)",
            paths.gamefleet.display()
        )
        .into());
    }
    eprintln!("gamefleet-bench: logs in {}", work.display());

    eprintln!("starting Azurite");
    let azurite = gamefleet_sim::azurite::Azurite::start().await?;
    let azurite_conn = azurite.connection_string();
    let upstream: std::net::SocketAddr = azurite
        .endpoint()
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .parse()?;
    let proxy = proxy::Proxy::start(upstream).await?;

    let mut doc = String::new();
    let (cores, model, mem_gib) = machine();
    let _ = writeln!(doc, "### gamefleet against the physical minimum\n");
    let _ = writeln!(
        doc,
        "- date: {}\n- machine: {cores} cores ({model}), {mem_gib:.1} GiB memory\n- {}; {}; Azurite {}; node {}\n- mode: {}; each figure is the median over {runs} runs (cold start: {} starts) with the spread (min–max) in parentheses\n- rerun: `bench/run` (full), `bench/run --quick` (smoke run), `bench/run --runs N`; see bench/README.md\n- everything runs on this one machine: Azurite (Node, single-threaded), the release `gamefleet` binary, the ARM simulator with the counting proxy (the bench process) and the load generator share the {cores} cores\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        command_line("rustc", &["--version"]),
        std::fs::metadata(&paths.gamefleet)
            .map(|m| format!("release binary {:.1} MiB", m.len() as f64 / 1024.0 / 1024.0))
            .unwrap_or_default(),
        json_field(
            &root.join("tools/node_modules/azurite/package.json"),
            "version"
        ),
        command_line("node", &["--version"]),
        if cli.quick { "--quick" } else { "full" },
        plan.cold_runs,
    );
    let mut notes: Vec<String> = Vec::new();
    let mut memory: Option<Table> = None;

    if sections.contains(&Section::Coldstart) {
        eprintln!("cold start");
        let sim = stack::simulator().await?;
        let table = gamefleet_sim::azurite::unique_table();
        let store = stack::store(&azurite_conn, &table).await?;
        stack::seed(
            &store,
            "arena",
            (0..10).map(stack::name),
            gamefleet::fleet::GroupState::Running,
            0,
        )
        .await?;
        let env = stack::gamefleet_env(&sim, &azurite_conn, &table);
        let (bin, log, n) = (
            paths.gamefleet.clone(),
            work.join("gamefleet-coldstart.log"),
            plan.cold_runs,
        );
        let gf = tokio::task::spawn_blocking(move || coldstart::gamefleet(&bin, &env, &log, n))
            .await??;
        let server = paths.node_server.clone();
        let node = if server
            .parent()
            .is_some_and(|d| d.join("node_modules").is_dir())
        {
            Some(tokio::task::spawn_blocking(move || coldstart::node(&server, n)).await??)
        } else {
            eprintln!(
                "  bench/node/node_modules missing: no Node reference (bench/run installs it)"
            );
            None
        };
        // The storage part of the first List: a fresh client's first query.
        let mut first_query = Samples::default();
        for _ in 0..n {
            let fresh = stack::store(&azurite_conn, &table).await?;
            let t = Instant::now();
            use gamefleet::ports::FleetStore;
            fresh
                .list(&gamefleet::ports::ListQuery::ByState {
                    state: Some(gamefleet::fleet::GroupState::Running),
                    resource_group: None,
                })
                .await?;
            first_query.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let mut t = Table::new(&[
            "runtime",
            "exec → first `GET /` 200",
            "exec → first `/api/List` 200 (reads the table)",
            "peak RSS then (VmHWM)",
        ]);
        t.row(vec![
            "gamefleet (release binary)".into(),
            gf.ready.ms(),
            gf.first_list.ms(),
            gf.hwm.mib(),
        ]);
        if let Some(node) = &node {
            t.row(vec![
                "node + the original's dependencies (ms-rest-azure, azure-arm-containerinstance, azure-storage, requestretry), listening".into(),
                node.ready.ms(),
                "–".into(),
                node.hwm.mib(),
            ]);
            t.row(vec![
                "ratio node / gamefleet".into(),
                format!("{:.0}×", node.ready.median() / gf.ready.median()),
                "–".into(),
                format!("{:.1}×", node.hwm.median() / gf.hwm.median()),
            ]);
        }
        let starts = coldstart::runtimes(&paths.gamefleet, n).await?;
        t.row(vec![
            "gamefleet under AWS Lambda (Runtime API stand-in; exec → first function-URL answer)"
                .into(),
            starts.lambda.ms(),
            "–".into(),
            "–".into(),
        ]);
        t.row(vec![
            "gamefleet under FunctionGraph (custom-runtime stand-in; exec → first answer)".into(),
            starts.functiongraph.ms(),
            "–".into(),
            "–".into(),
        ]);
        let _ = writeln!(doc, "#### 1. Cold start\n\n{}", t.render());
        let size = std::fs::metadata(&paths.gamefleet)
            .map(|m| m.len())
            .unwrap_or(0);
        let _ = writeln!(
            doc,
            "The release binary measured, with every runtime compiled in (default features): {:.1} MiB.\n",
            size as f64 / 1024.0 / 1024.0
        );
        let _ = writeln!(
            doc,
            "For comparison, the first query of a fresh Table Storage client (new connection) inside an already running process: {}.\n",
            first_query.ms()
        );
        if gf.ready.median() > 10.0 {
            notes.push(format!(
                "**Cold start to `GET /`: {}** (above 10 ms). The binary does no I/O before it listens (`src/main.rs` `serve`); what is left is exec, dynamic loading and the tokio runtime on a shared 2-core machine.",
                ms(gf.ready.median())
            ));
        }
        if gf.first_list.median() > 10.0 {
            notes.push(format!(
                "**Cold start to the first `/api/List`: {}** (above 10 ms). Of that, {} is `GET /` ready, and a fresh client's first query to Azurite takes {} even inside a warm process: the rest is Azurite answering the first query on a new connection (and the table-create call gamefleet fires at start, `src/app.rs` `ensure_table`, arriving at Azurite at the same moment), not gamefleet.",
                ms(gf.first_list.median()),
                ms(gf.ready.median()),
                ms(first_query.median())
            ));
        }
    }

    if sections.contains(&Section::Roundtrips) {
        eprintln!("round trips");
        let rt = roundtrips::run(&paths, &azurite_conn, &proxy, &plan.list_sizes).await?;
        let _ = writeln!(
            doc,
            "#### 2. Round trips per call\n\nCounted by a proxy in front of Azurite (Table Storage) and by the ARM simulator; one group unless said. Reconcile off; the ARM token is cached (a warm-up call took it). **Bold**: above the minimum.\n\n{}",
            rt.table()
        );
        notes.extend(rt.notes());
    }

    if sections.contains(&Section::Throughput) {
        eprintln!("throughput");
        let tp = throughput::run(&paths, &azurite_conn, plan.load).await?;
        let s = plan.load;
        let _ = writeln!(
            doc,
            "#### 3. Throughput and overhead\n\n{} concurrent connections from a second process (`gamefleet-bench load`), {} s per side after {} s of warm-up, sides alternating, {} runs. Raw = the same storage calls made with gamefleet's own store code and client settings, straight to Azurite (no proxy on either side). CPU per request: the gamefleet process's user + system time over the run / requests.\n\n{}",
            s.concurrency, s.seconds, s.warmup, s.runs, tp.table()
        );
        for (what, pair) in [("List", &tp.list), ("SetSessions", &tp.sessions)] {
            let ratio = throughput::Throughput::ratio(pair);
            if ratio < 0.9 {
                notes.push(format!(
                    "**{what} overhead ratio {ratio:.2}** (below 0.9): the gamefleet process spends {} of CPU per request, of which about {} is the store code the raw client also runs (its CPU per request); the rest is gamefleet's own (HTTP server, JSON in and out, one more hop), taken from the same {} cores Azurite (one Node thread) and the load generator need. Raw {} req/s is Azurite's ceiling on this machine; the spread of the runs shows how much the machine itself moved.",
                    ms(pair.0.cpu_us.median() / 1000.0),
                    ms(pair.1.client_cpu_us.median() / 1000.0),
                    cores,
                    pair.1.rps.show(|v| format!("{v:.0}"))
                ));
            }
        }
        memory = Some({
            let mut t = Table::new(&["when", "RSS"]);
            t.row(vec![
                "idle, after start and the table check (VmRSS)".into(),
                format!("{:.1} MiB", tp.idle.rss_kib as f64 / 1024.0),
            ]);
            t.row(vec![
                format!(
                    "peak under the load of (3) (VmHWM, {} runs × 2 operations)",
                    s.runs
                ),
                format!("{:.1} MiB", tp.peak.hwm_kib as f64 / 1024.0),
            ]);
            t
        });
    }

    if sections.contains(&Section::Allocation) {
        eprintln!("allocation");
        let servers = if cli.quick { 200 } else { 1000 };
        let secs = if cli.quick { 3 } else { 8 };
        let mut t = Table::new(&[
            "allocators",
            "servers × slots",
            "allocations/s",
            "latency p50",
            "latency p99",
            "503 contention",
            "slots over maxSessions",
            "requests not held exactly once",
        ]);
        for clients in [16, 64] {
            let r = allocation::run(
                &paths,
                &azurite_conn,
                servers,
                clients,
                Duration::from_secs(secs),
            )
            .await?;
            let mut lat = r.latency.0.clone();
            lat.sort_by(|a, b| a.total_cmp(b));
            let p99 = lat
                .get(lat.len().saturating_sub(1) * 99 / 100)
                .copied()
                .unwrap_or(f64::NAN);
            t.row(vec![
                clients.to_string(),
                format!("{servers} × {}", allocation::SLOTS),
                format!("{:.0}", r.per_second),
                ms(r.latency.median()),
                ms(p99),
                r.contention.to_string(),
                r.over_allocated.to_string(),
                r.mismatched.to_string(),
            ]);
            if r.errors > 0 {
                notes.push(format!(
                    "allocation with {clients} allocators: {} requests failed outright",
                    r.errors
                ));
            }
        }
        let _ = writeln!(
            doc,
            "#### Allocation\n\nEach allocator calls `POST /api/Allocate` (1 player, a new requestId) for {secs} s against the release binary; then the table is read back.\n\n{}",
            t.render()
        );
    }

    if sections.contains(&Section::Scale) {
        eprintln!("scale");
        let sc = scale::run(
            &paths,
            &azurite_conn,
            &proxy,
            plan.scale_groups,
            plan.delete_delay,
            plan.runs,
        )
        .await?;
        let _ = writeln!(
            doc,
            "#### 4. Scale\n\nOne table of {} groups in one resource group (half MarkedForDeletion with 0 sessions, half Running) and the matching container groups in the simulator; gamefleet through the counting proxy; the marked half is seeded again before each run ({}). Peak RSS of this gamefleet process (List of {} + GC): {:.1} MiB.\n\n{}",
            thousands(sc.groups),
            sc.seed_ms.ms(),
            thousands(sc.groups),
            sc.peak.hwm_kib as f64 / 1024.0,
            sc.table()
        );
        memory
            .get_or_insert_with(|| Table::new(&["when", "RSS"]))
            .row(vec![
                format!(
                    "the scale process (4) after its first List of {} rows (VmHWM)",
                    thousands(sc.groups)
                ),
                format!("{:.1} MiB", sc.after_list.hwm_kib as f64 / 1024.0),
            ]);
        memory
            .get_or_insert_with(|| Table::new(&["when", "RSS"]))
            .row(vec![
                format!(
                    "the scale process (4) at the end: {} × (List of {} + GC of {}) (VmHWM)",
                    sc.gc_ms.0.len(),
                    thousands(sc.groups),
                    thousands(sc.marked)
                ),
                format!("{:.1} MiB", sc.peak.hwm_kib as f64 / 1024.0),
            ]);
        if sc.list_ms.median() > 1.1 * sc.raw_list_ms.median() {
            notes.push(format!(
                "**List of {} rows: {} against {} for the same query without gamefleet** ({:.2}×): the difference is gamefleet's answer, one {:.1} MiB JSON array built after the last page arrived (`src/ops/mod.rs` `list` collects and sorts every row, then the handler encodes them all), sent over one more HTTP hop. Table Storage already returns the rows sorted by PartitionKey and RowKey, the keys List sorts by, so streaming each page as it arrives would overlap the encoding with the wait for the next page and keep one page in memory instead of all of them (this process's peak RSS after the first List: {:.1} MiB, from 8 MiB idle).",
                thousands(sc.groups),
                sc.list_ms.ms(),
                sc.raw_list_ms.ms(),
                sc.list_ms.median() / sc.raw_list_ms.median(),
                sc.list_bytes as f64 / 1024.0 / 1024.0,
                sc.after_list.hwm_kib as f64 / 1024.0
            ));
        }
        let ratio = sc.gc_ms.median() / sc.gc_minimum_ms();
        if ratio > 1.1 {
            let slots = sc.marked.div_ceil(scale::GC_CONCURRENCY) as f64;
            let per_group = (sc.gc_ms.median() - sc.gc_minimum_ms()) / slots;
            notes.push(format!(
                "**GC wall time {} against {}** ({ratio:.2}×): about {} per group above the {} ms DELETE. Each of the GC_CONCURRENCY slots (a semaphore in `collect_one`, `src/ops/gc.rs`) also holds the group's conditional claim, a Table Storage round trip under load, before its ARM DELETE, and the run starts with the candidates query; the row delete after ARM's answer runs outside the slot. The claim stays in the slot on purpose: claiming ahead would refuse players to marked servers sooner than needed. With real ARM, whose DELETEs take longer than {} ms, the same overhead weighs less: {:.0}% of a 200 ms DELETE.",
                sc.gc_ms.ms(),
                ms(sc.gc_minimum_ms()),
                ms(per_group),
                sc.delete_delay.as_millis(),
                sc.delete_delay.as_millis(),
                per_group / 200.0 * 100.0
            ));
        }
    }

    if sections.contains(&Section::Flat) {
        eprintln!("flat");
        let mut binaries = vec![("this build".to_owned(), paths.gamefleet.clone())];
        if let Some(b) = &cli.baseline_bin {
            binaries.push((format!("baseline (`{}`)", b.display()), b.clone()));
        }
        let f = flat::run(
            &paths.work,
            &azurite_conn,
            &plan.flat_sizes,
            plan.runs,
            &binaries,
        )
        .await?;
        let seeded: Vec<String> = f
            .seed_ms
            .iter()
            .map(|(n, t)| format!("{} rows in {}", thousands(*n), ms(*t)))
            .collect();
        let _ = writeln!(
            doc,
            "#### 4b. Memory flat in fleet size

A fresh gamefleet process per measurement; peak RSS = its `VmHWM` right after the call. N rows over {} resource groups, one in {} MarkedForDeletion and empty, the rest Running; GC runs with `HEALTH_TIMEOUT=1h`, so it also reads every Running row. Seeded with entity-group transactions of 100 rows, {} partitions at once ({}). Target (issue 11): ≤ 25 MiB at 100,000 rows.\n\n{}",
            flat::PARTITIONS,
            flat::MARKED_EVERY,
            8,
            seeded.join(", "),
            f.table()
        );
    }

    if sections.contains(&Section::Cpu) {
        if cpu::available() {
            eprintln!("cpu (callgrind)");
            let c = cpu::run(&paths, &azurite_conn).await?;
            let _ = writeln!(
                doc,
                "#### 3b. CPU per request, in instructions\n\nvalgrind's callgrind counts the instructions (Ir) of the release `gamefleet` serving n requests one after the other, and of `gamefleet-bench load --count n` making the same storage calls with gamefleet's store code; per request = (Ir(n = {}) − Ir(n = {})) / {} (start-up cancels out). Target (issue 11): gamefleet ≤ 1.2 × raw.\n\n{}",
                cpu::COUNTS.1,
                cpu::COUNTS.0,
                cpu::COUNTS.1 - cpu::COUNTS.0,
                c.table()
            );
        } else {
            eprintln!("cpu: valgrind not found, section skipped");
        }
    }

    if let Some(t) = &memory {
        let _ = writeln!(doc, "#### 5. Memory (gamefleet process)\n\n{}", t.render());
    }

    if sections.contains(&Section::Pacing) {
        eprintln!("pacing");
        let groups = 2000;
        let p = pacing::run(&paths, &azurite_conn, groups, plan.runs).await?;
        let _ = writeln!(
            doc,
            "#### 6. ARM pacing\n\nGC of {} marked, empty groups (default GC_CONCURRENCY = 16) against a simulator that enforces ARM's write token bucket scaled down to {} refilled at {}/s (ARM: 200 at 10/s per subscription and region), answering 429 `SubscriptionRequestsThrottled` with Retry-After when empty; the bucket is full when GC starts. Allowed rate over the wall time t: ({} + {}·t)/t.\n\n{}",
            thousands(groups),
            pacing::BUCKET.capacity,
            pacing::BUCKET.refill_per_sec,
            pacing::BUCKET.capacity,
            pacing::BUCKET.refill_per_sec,
            p.table()
        );
        if p.on.ratio.median() < 0.95 {
            notes.push(format!(
                "**ARM pacing: {:.3} of the allowed write rate with the pacer on** (target 0.95): see the pacing section.",
                p.on.ratio.median()
            ));
        }
    }

    if sections.contains(&Section::Autoscale) {
        eprintln!("autoscale");
        let minutes = if cli.quick { 360 } else { 1440 };
        let d = autoscale::run(&azurite_conn, minutes).await?;
        let mut t = Table::new(&[
            "simulated",
            "peak players",
            "matches",
            "refused under max",
            "refused at max",
            "server-hours",
            "lower bound",
            "ratio",
            "peak servers",
            "created / unmarked / marked",
            "failed creates",
            "wall time",
        ]);
        t.row(vec![
            format!("{} h", minutes / 60),
            d.peak_players.to_string(),
            thousands(d.matches),
            d.refused_under_max.to_string(),
            (d.refused - d.refused_under_max).to_string(),
            format!("{:.1}", d.server_hours),
            format!("{:.1}", d.lower_bound_hours),
            format!(
                "{:.2}",
                d.server_hours / d.lower_bound_hours.max(f64::MIN_POSITIVE)
            ),
            d.peak_servers.to_string(),
            format!("{} / {} / {}", d.created, d.unmarked, d.marked),
            d.failed_creates.to_string(),
            format!("{:.0} s", d.wall.as_secs_f64()),
        ]);
        let _ = writeln!(
            doc,
            "#### Autoscaler: a day in fast time\n\nOne fleet ({} slots per server, buffer 25 % of slots, min 2, max {}, cooldown 10 min), one step per simulated minute: Event Grid events to Monitor (a server created in one minute runs the next), the Autoscale timer on the simulated clock, players in matches of {} placed on the fullest Running server with room (SetSessions) or refused, then GC. Demand: diurnal (150 at 04:00 to 1,000 at 16:00) plus spikes of +300 at 12:00 and +400 at 20:30, each ramping over 5 minutes. Lower bound: each minute, the fewest servers that hold that minute's players.\n\n{}",
            autoscale::SLOTS,
            autoscale::MAX,
            autoscale::MATCH,
            t.render()
        );
        if d.refused_under_max > 0 {
            notes.push(format!(
                "**Autoscaler: {} matches refused while the fleet was under max** (must be 0).",
                d.refused_under_max
            ));
        }
    }

    let _ = writeln!(doc, "#### Far from the minimum: why\n");
    if notes.is_empty() {
        let _ = writeln!(doc, "Nothing: every figure is at its minimum.\n");
    }
    for n in &notes {
        let _ = writeln!(doc, "- {n}");
    }
    let _ = writeln!(
        doc,
        "\nTotal bench time: {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    print!("{doc}");
    if let Some(dir) = cli.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&cli.out, &doc)?;
    eprintln!("gamefleet-bench: written to {}", cli.out.display());
    drop(azurite);
    Ok(())
}
