//! ARM pacing: GC of N marked, empty groups against a simulator that enforces
//! ARM's write token bucket scaled down (20 refilled at 100/s instead of 200 at
//! 10/s), once with gamefleet's write pacer at the same numbers and once with
//! it off. What counts: deletes per second against what the bucket allows over
//! the run, `(capacity + rate·t) / t`, the 429s ARM answered and the deletes
//! that failed. A fresh table and gamefleet process per run; the simulator's
//! bucket is full when each GC starts.

use crate::report::{ms, thousands, Samples, Table};
use crate::roundtrips::wait_log;
use crate::stack::{self, name, Gamefleet, Paths};
use crate::Result;
use gamefleet::fleet::GroupState;
use gamefleet_sim::azurite::unique_table;
use gamefleet_sim::{Op, SimConfig, Simulator, TokenBucket};
use serde_json::Value;
use std::time::{Duration, Instant};

pub const BUCKET: TokenBucket = TokenBucket {
    capacity: 20,
    refill_per_sec: 100.0,
};
const RG: &str = "pacing";

/// One mode's figures over the runs.
#[derive(Debug, Default)]
pub struct Mode {
    pub wall_ms: Samples,
    pub deletes_per_s: Samples,
    pub allowed_per_s: Samples,
    pub ratio: Samples,
    pub throttled: Samples,
    pub failed: Samples,
    pub arm_deletes: Samples,
    pub report: Value,
}

#[derive(Debug, Default)]
pub struct Pacing {
    pub groups: usize,
    pub on: Mode,
    pub off: Mode,
}

impl Pacing {
    pub fn table(&self) -> String {
        let mut t = Table::new(&[
            "gamefleet's write pacer",
            "groups",
            "GC wall time",
            "deletes/s",
            "allowed (20 + 100·t)/t",
            "ratio (target ≥ 0.95)",
            "429s from ARM",
            "ARM DELETEs sent",
            "failed deletes",
        ]);
        let n = |v: f64| format!("{v:.0}");
        for (label, m) in [
            ("on: ARM_WRITE_BURST=20, ARM_WRITE_RATE=100", &self.on),
            ("off: ARM_WRITE_RATE=off", &self.off),
        ] {
            t.row(vec![
                label.into(),
                thousands(self.groups),
                m.wall_ms.ms(),
                m.deletes_per_s.show(|v| format!("{v:.1}")),
                m.allowed_per_s.show(|v| format!("{v:.1}")),
                m.ratio.show(|v| format!("{v:.3}")),
                m.throttled.show(n),
                m.arm_deletes.show(n),
                m.failed.show(n),
            ]);
        }
        t.render()
    }
}

async fn gc(http: &reqwest::Client, gf: &Gamefleet) -> Result<Value> {
    let env = gamefleet_sim::events::timer_envelope("timer", false);
    let r = gamefleet_sim::host::invoke(http, &gf.base, "GC", &env).await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        return Err(format!("GC answered {status}: {v}").into());
    }
    Ok(v["ReturnValue"].clone())
}

async fn one(
    paths: &Paths,
    azurite_conn: &str,
    sim: &Simulator,
    groups: usize,
    pacer: &[(&str, &str)],
    out: &mut Mode,
) -> Result<()> {
    let table = unique_table();
    let store = stack::store(azurite_conn, &table).await?;
    let names: Vec<String> = (0..groups).map(name).collect();
    stack::seed(
        &store,
        RG,
        names.iter().cloned(),
        GroupState::MarkedForDeletion,
        0,
    )
    .await?;
    for n in &names {
        stack::arm_group(sim, RG, n);
    }
    let mut env = stack::gamefleet_env(sim, azurite_conn, &table);
    env.retain(|(k, _)| !k.starts_with("ARM_WRITE_"));
    env.extend(pacer.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let gf = Gamefleet::start(paths, "pacing", &env).await?;
    wait_log(&gf, "table ready").await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    sim.reset_counts();
    sim.refill_write_bucket();
    let t = Instant::now();
    let report = gc(&http, &gf).await?;
    let secs = t.elapsed().as_secs_f64();
    gf.stop().await;
    let deleted = report["deleted"].as_u64().unwrap_or(0) as f64;
    let allowed = (f64::from(BUCKET.capacity) + BUCKET.refill_per_sec * secs) / secs;
    out.wall_ms.push(secs * 1000.0);
    out.deletes_per_s.push(deleted / secs);
    out.allowed_per_s.push(allowed);
    out.ratio.push(deleted / secs / allowed);
    out.throttled.push(sim.throttled_writes() as f64);
    out.arm_deletes.push(sim.count(Op::Delete) as f64);
    out.failed
        .push(report["failed"].as_u64().unwrap_or(0) as f64);
    out.report = report;
    // What a failed delete left behind is not the next run's.
    for n in &names {
        sim.remove_group_silently(RG, n);
    }
    Ok(())
}

pub async fn run(paths: &Paths, azurite_conn: &str, groups: usize, runs: usize) -> Result<Pacing> {
    let sim = Simulator::start(SimConfig {
        write_bucket: Some(BUCKET),
        ..SimConfig::default()
    })
    .await?;
    let mut out = Pacing {
        groups,
        ..Default::default()
    };
    let rate = BUCKET.refill_per_sec.to_string();
    let burst = BUCKET.capacity.to_string();
    for run in 0..runs {
        eprintln!("  pacing run {}/{}: pacer on", run + 1, runs);
        let on = [
            ("ARM_WRITE_BURST", burst.as_str()),
            ("ARM_WRITE_RATE", rate.as_str()),
        ];
        one(paths, azurite_conn, &sim, groups, &on, &mut out.on).await?;
        eprintln!(
            "    {} in {}",
            out.on.report,
            ms(*out.on.wall_ms.0.last().unwrap_or(&0.0))
        );
        eprintln!("  pacing run {}/{}: pacer off", run + 1, runs);
        one(
            paths,
            azurite_conn,
            &sim,
            groups,
            &[("ARM_WRITE_RATE", "off")],
            &mut out.off,
        )
        .await?;
        eprintln!(
            "    {} in {}",
            out.off.report,
            ms(*out.off.wall_ms.0.last().unwrap_or(&0.0))
        );
    }
    Ok(out)
}
