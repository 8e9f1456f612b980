//! Allocation under concurrency: a fleet of Running servers with 8 slots
//! each, `clients` allocators calling `POST /api/Allocate` (one player, a new
//! requestId each) for a fixed time against the release binary and Azurite;
//! then the table is read back to check that no slot was handed out twice.

use crate::report::Samples;
use crate::stack::{self, Gamefleet, Paths};
use crate::Result;
use gamefleet::fleet::GroupState;
use gamefleet::ports::{FleetStore, ListQuery};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Slots per seeded server.
pub const SLOTS: u32 = 8;

#[derive(Debug, Default)]
pub struct AllocationRun {
    pub granted: usize,
    pub per_second: f64,
    /// Latency of a granted Allocate, ms.
    pub latency: Samples,
    pub contention: usize,
    pub no_capacity: usize,
    pub errors: usize,
    /// Slots handed out beyond a server's `maxSessions` (must be 0).
    pub over_allocated: u64,
    /// Granted requests the table does not hold exactly once (must be 0).
    pub mismatched: usize,
}

pub async fn run(
    paths: &Paths,
    azurite_conn: &str,
    servers: usize,
    clients: usize,
    duration: Duration,
) -> Result<AllocationRun> {
    let sim = stack::simulator().await?;
    let table = gamefleet_sim::azurite::unique_table();
    let store = stack::store(azurite_conn, &table).await?;
    stack::seed(
        &store,
        "arena",
        (0..servers).map(stack::name),
        GroupState::Running,
        0,
    )
    .await?;
    // The seeded rows get their slots (a replace each, as Create would have written them).
    let rows = store
        .list(&ListQuery::ByState {
            state: Some(GroupState::Running),
            resource_group: None,
        })
        .await?;
    for v in rows {
        let mut r = v.value;
        r.capacity.max_sessions = Some(SLOTS);
        store.replace(&r, &v.etag).await?;
    }
    // (info: the bench waits for the "gamefleet listening" line)
    let env = stack::gamefleet_env(&sim, azurite_conn, &table);
    let gf = Gamefleet::start(paths, &format!("alloc-{clients}"), &env).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, base, next) = (http.clone(), gf.base.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out: (Vec<(String, String)>, Vec<f64>, usize, usize, usize) =
                Default::default();
            while Instant::now() < until {
                let id = format!("bench-{}", next.fetch_add(1, Ordering::Relaxed));
                let t = Instant::now();
                let r = http
                    .post(format!("{base}/api/Allocate"))
                    .json(&serde_json::json!({"requestId": id, "players": 1}))
                    .send()
                    .await;
                let Ok(r) = r else {
                    out.4 += 1;
                    continue;
                };
                let status = r.status().as_u16();
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                match status {
                    200 => {
                        out.1.push(t.elapsed().as_secs_f64() * 1000.0);
                        let name = v["containerGroupName"].as_str().unwrap_or("").to_owned();
                        out.0.push((id, name));
                    }
                    503 if v["error"]["code"] == "NoCapacity" => {
                        out.3 += 1;
                        break;
                    }
                    503 => out.2 += 1,
                    _ => out.4 += 1,
                }
            }
            out
        }));
    }
    let mut run = AllocationRun::default();
    let mut granted: Vec<(String, String)> = Vec::new();
    for t in tasks {
        let (g, lat, contention, none, errors) = t.await?;
        granted.extend(g);
        for l in lat {
            run.latency.push(l);
        }
        run.contention += contention;
        run.no_capacity += none;
        run.errors += errors;
    }
    let elapsed = started.elapsed().min(duration).as_secs_f64();
    run.granted = granted.len();
    run.per_second = granted.len() as f64 / elapsed;
    gf.stop().await;
    // The table's view: reservations per server, each request exactly once.
    let rows = store
        .list(&ListQuery::ByState {
            state: Some(GroupState::Running),
            resource_group: None,
        })
        .await?;
    let mut holder: std::collections::HashMap<String, Vec<String>> = Default::default();
    for v in &rows {
        let r = &v.value;
        let held: u32 = r.capacity.reservations.iter().map(|x| x.players).sum();
        run.over_allocated += u64::from(held.saturating_sub(SLOTS));
        for x in &r.capacity.reservations {
            holder
                .entry(x.request_id.clone())
                .or_default()
                .push(r.key.name.as_str().to_owned());
        }
    }
    run.mismatched = granted
        .iter()
        .filter(|(id, name)| holder.get(id).map(Vec::as_slice) != Some(std::slice::from_ref(name)))
        .count()
        + holder.len().saturating_sub(granted.len());
    Ok(run)
}
