//! Scale: one table of N groups (half MarkedForDeletion with 0 sessions, half
//! Running) with matching container groups in the simulator, whose DELETEs take
//! `delete_delay` each. Per run: `List?state=all` over the N rows, one GC that
//! collects the marked half, then a reconcile pass (a second process with
//! `RECONCILE_INTERVAL=0s`) over what is left; the marked half is seeded again
//! before the next run.

use crate::proxy::{Counts, Proxy};
use crate::report::{ms, thousands, Samples, Table};
use crate::roundtrips::wait_log;
use crate::stack::{self, name, Gamefleet, Memory, Paths};
use crate::Result;
use gamefleet::fleet::GroupState;
use gamefleet::ports::{FleetStore, ListQuery};
use gamefleet_sim::azurite::unique_table;
use gamefleet_sim::Op;
use serde_json::Value;
use std::time::{Duration, Instant};

/// gamefleet's default `GC_CONCURRENCY`.
pub const GC_CONCURRENCY: usize = 16;

#[derive(Debug, Default)]
pub struct Scale {
    pub groups: usize,
    pub marked: usize,
    pub delete_delay: Duration,
    pub list_ms: Samples,
    /// The same rows read straight from Azurite by the store code (the floor).
    pub raw_list_ms: Samples,
    /// Size of List's answer.
    pub list_bytes: usize,
    pub list_table: Option<Counts>,
    pub gc_ms: Samples,
    pub gc_peak: Samples,
    pub gc_table: Option<Counts>,
    pub gc_arm_deletes: usize,
    pub gc_report: Value,
    pub reconcile_ms: Samples,
    pub reconcile_table: Option<Counts>,
    pub reconcile_arm_lists: usize,
    pub reconcile_report: Value,
    pub seed_ms: Samples,
    pub peak: Memory,
    /// Peak right after the first List (before any GC).
    pub after_list: Memory,
}

impl Scale {
    pub fn gc_minimum_ms(&self) -> f64 {
        self.marked.div_ceil(GC_CONCURRENCY) as f64 * self.delete_delay.as_secs_f64() * 1000.0
    }

    pub fn table(&self) -> String {
        let n = thousands(self.groups);
        let m = thousands(self.marked);
        let left = self.groups - self.marked;
        let d = self.delete_delay.as_millis();
        let mut t = Table::new(&["figure", "measured", "minimum", "note"]);
        let counts = |c: &Option<Counts>| c.as_ref().map(Counts::describe).unwrap_or_default();
        t.row(vec![
            format!("`List?state=all` over {n} rows: wall time"),
            self.list_ms.ms(),
            format!("{} (the same query through the proxy with gamefleet's store code, in the bench process)", self.raw_list_ms.ms()),
            format!("{} Table Storage requests (minimum ⌈N/1000⌉ = {}); every page is read before the answer ({:.1} MiB of JSON) starts", counts(&self.list_table), self.groups.div_ceil(1000), self.list_bytes as f64 / 1024.0 / 1024.0),
        ]);
        t.row(vec![
            format!("GC of {m} marked and empty groups (of {n}), ARM DELETE answered after {d} ms: wall time"),
            self.gc_ms.ms(),
            format!("⌈{m}/{GC_CONCURRENCY}⌉ × {d} ms = {}", ms(self.gc_minimum_ms())),
            format!(
                "GC_CONCURRENCY = {GC_CONCURRENCY} deletes at once (default); ratio {:.2}; Table Storage {}; ARM {} DELETEs",
                self.gc_ms.median() / self.gc_minimum_ms(),
                counts(&self.gc_table),
                thousands(self.gc_arm_deletes)
            ),
        ]);
        t.row(vec![
            "GC: peak ARM DELETEs in flight".into(),
            self.gc_peak.show(|v| format!("{v:.0}")),
            format!("{GC_CONCURRENCY} (GC_CONCURRENCY)"),
            format!("report: {}", self.gc_report),
        ]);
        t.row(vec![
            format!("reconcile pass (GC with `RECONCILE_INTERVAL=0s`) over the {} rows and groups left: wall time", thousands(left)),
            self.reconcile_ms.ms(),
            "–".into(),
            format!(
                "Table Storage {}; ARM {} list pages (100 groups per page in the simulator); report: {}",
                counts(&self.reconcile_table),
                self.reconcile_arm_lists,
                self.reconcile_report
            ),
        ]);
        t.render()
    }
}

pub async fn gc(http: &reqwest::Client, gf: &Gamefleet) -> Result<Value> {
    let env = gamefleet_sim::events::timer_envelope("timer", false);
    let r = gamefleet_sim::host::invoke(http, &gf.base, "GC", &env).await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        return Err(format!("GC answered {status}: {v}").into());
    }
    Ok(v["ReturnValue"].clone())
}

pub async fn run(
    paths: &Paths,
    azurite_conn: &str,
    proxy: &Proxy,
    groups: usize,
    delete_delay: Duration,
    runs: usize,
) -> Result<Scale> {
    let sim = stack::simulator().await?;
    sim.set_delete_handling_delay(delete_delay);
    let table = unique_table();
    let store = stack::store(azurite_conn, &table).await?;
    const RG: &str = "arena";
    let marked: Vec<String> = (0..groups).filter(|i| i % 2 == 0).map(name).collect();
    let running: Vec<String> = (0..groups).filter(|i| i % 2 == 1).map(name).collect();
    eprintln!("  seeding {} rows and groups", thousands(groups));
    stack::seed(&store, RG, running.iter().cloned(), GroupState::Running, 0).await?;
    for n in &running {
        stack::arm_group(&sim, RG, n);
    }
    // The floor for List: the same query through the same proxy, without gamefleet.
    let proxied = stack::store(&proxy.connection_string(), &table).await?;
    let env = stack::gamefleet_env(&sim, &proxy.connection_string(), &table);
    let gf = Gamefleet::start(paths, "scale", &env).await?;
    wait_log(&gf, "table ready").await?;
    let mut reconcile_env = env.clone();
    for (k, v) in reconcile_env.iter_mut() {
        if k == "RECONCILE_INTERVAL" {
            *v = "0s".into();
        }
    }
    let reconciler = Gamefleet::start(paths, "scale-reconcile", &reconcile_env).await?;
    wait_log(&reconciler, "table ready").await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut out = Scale {
        groups,
        marked: marked.len(),
        delete_delay,
        ..Default::default()
    };
    for run in 0..runs {
        eprintln!("  scale run {}/{}", run + 1, runs);
        let t = Instant::now();
        stack::seed(
            &store,
            RG,
            marked.iter().cloned(),
            GroupState::MarkedForDeletion,
            0,
        )
        .await?;
        for n in &marked {
            stack::arm_group(&sim, RG, n);
        }
        out.seed_ms.push(t.elapsed().as_secs_f64() * 1000.0);

        proxy.reset();
        let t = Instant::now();
        let r = http
            .get(format!("{}/api/List?state=all", gf.base))
            .send()
            .await?;
        let status = r.status();
        let body = r.bytes().await?;
        out.list_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        out.list_bytes = body.len();
        let rows: Value = serde_json::from_slice(&body)?;
        let got = rows.as_array().map(Vec::len).unwrap_or(0);
        if !status.is_success() || got != groups {
            return Err(format!("List?state=all: {status}, {got} rows of {groups}").into());
        }
        out.list_table = Some(proxy.counts());
        if run == 0 {
            out.after_list = gf.memory();
        }
        let t = Instant::now();
        let raw = proxied
            .list(&ListQuery::ByState {
                state: None,
                resource_group: None,
            })
            .await?;
        out.raw_list_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if raw.len() != groups {
            return Err(format!("raw list: {} rows of {groups}", raw.len()).into());
        }

        proxy.reset();
        sim.reset_counts();
        let t = Instant::now();
        let report = gc(&http, &gf).await?;
        out.gc_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if report["deleted"] != marked.len() {
            return Err(format!("GC did not delete every marked group: {report}").into());
        }
        out.gc_peak.push(sim.max_concurrent_deletes() as f64);
        out.gc_table = Some(proxy.counts());
        out.gc_arm_deletes = sim.count(Op::Delete);
        out.gc_report = report;

        proxy.reset();
        sim.reset_counts();
        let t = Instant::now();
        let report = gc(&http, &reconciler).await?;
        out.reconcile_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        out.reconcile_table = Some(proxy.counts());
        out.reconcile_arm_lists = sim.count(Op::List);
        out.reconcile_report = report["reconcile"].clone();
    }
    out.peak = gf.memory();
    gf.stop().await;
    reconciler.stop().await;
    Ok(out)
}
