//! Capacity under fire, across **three gamefleet processes on one table**
//! (this test's in-process app, which also takes the simulator's Event Grid
//! deliveries, and two more of the built binary, as the Functions host scales
//! out): allocators (some resending their requestId to another process),
//! game servers reporting the players who joined them (their heartbeat,
//! which confirms the reservations those players held; a quarter of them
//! fall silent after one report and turn Unhealthy), the Autoscale timer and
//! GC fired at random processes, all racing on one fleet. Checked:
//!
//! - (a) no slot handed out twice: on every server, the players of the
//!   acknowledged allocations (distinct requestIds; each still reserved —
//!   `ALLOCATION_TTL` outlasts the run — or confirmed by the server's report,
//!   and no player leaves) never exceed `maxSessions`;
//! - (b) a requestId sent again gets the same server and reserves nothing more;
//! - (c) no server holding an acknowledged reservation was deleted, and every
//!   deleted server's last acknowledged player count was 0;
//! - (d) every acknowledged count is what its row stores at the end;
//! - (e) the servers in service never exceeded the fleet's `max`, as sampled
//!   from the table while everything ran.
//!
//! `INVARIANT_CAPACITY_SECS` (default 12) makes longer runs.

use crate::helpers::*;
use gamefleet::fleet::autoscale::{Census, FleetName};
use gamefleet::ports::ListQuery;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FLEET: &str = "inv";
const RG: &str = "invfleet";
const MAX: u32 = 10;
const SLOTS: u32 = 8;

/// One more gamefleet process on `t`'s table and simulator.
struct Child {
    _child: tokio::process::Child,
    base: String,
}

async fn child(t: &TestApp, extra: &[(&str, &str)]) -> Child {
    let azurite = gamefleet_sim::azurite::Azurite::shared().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(t.sim.gamefleet_env(&azurite.connection_string(), &t.table))
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env(
            "ACI_SET_SESSIONS_URL",
            format!("{}/api/ReportSessions", t.base),
        )
        .env("RECONCILE_INTERVAL", "off")
        .env("ARM_WRITE_RATE", "off")
        .env("RUST_LOG", "warn")
        .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let c = cmd.spawn().expect("start gamefleet");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(&base).await.is_err() {
        assert!(Instant::now() < deadline, "gamefleet did not start");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Child { _child: c, base }
}

#[derive(Default)]
struct Log {
    /// requestId → (server, players reserved).
    allocations: HashMap<String, (String, u32)>,
    /// Last acknowledged player count per server.
    reported: HashMap<String, u32>,
    violations: Vec<String>,
}

struct Race {
    t: Arc<TestApp>,
    bases: Vec<String>,
    http: reqwest::Client,
    stop: AtomicBool,
    log: Mutex<Log>,
    max_in_service: AtomicU32,
    allocated: AtomicU32,
    no_capacity: AtomicU32,
    samples: AtomicU32,
}

impl Race {
    fn base(&self, rng: &mut fastrand::Rng) -> &str {
        &self.bases[rng.usize(..self.bases.len())]
    }
    fn running(&self) -> bool {
        !self.stop.load(Relaxed)
    }
    fn violation(&self, v: String) {
        self.log.lock().unwrap().violations.push(v);
    }
}

async fn timer(r: Arc<Race>, function: &'static str, every: Duration, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    while r.running() {
        let env = gamefleet_sim::events::timer_envelope_for(function, "timer", false, None);
        let base = r.base(&mut rng).to_owned();
        let resp = gamefleet_sim::host::invoke(&r.http, &base, function, &env).await;
        if let Ok(resp) = resp {
            if resp.status().is_server_error() && resp.status() != StatusCode::SERVICE_UNAVAILABLE {
                let body = resp.text().await.unwrap_or_default();
                r.violation(format!("{function} at {base}: {body}"));
            }
        }
        tokio::time::sleep(every.mul_f64(0.5 + rng.f64())).await;
    }
}

async fn allocate(r: &Race, base: &str, id: &str, players: u32) -> Option<(StatusCode, Value)> {
    let resp = r
        .http
        .post(format!("{base}/api/Allocate"))
        .json(&json!({"requestId": id, "players": players, "labels": {"fleet": FLEET}}))
        .send()
        .await
        .ok()?;
    let status = resp.status();
    Some((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn allocator(r: Arc<Race>, i: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut n = 0;
    while r.running() {
        n += 1;
        let id = format!("a{i}-{n}");
        let players = rng.u32(1..=3);
        let base = r.base(&mut rng).to_owned();
        match allocate(&r, &base, &id, players).await {
            Some((StatusCode::OK, v)) => {
                let server = v["containerGroupName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if v["reserved"] != players {
                    r.violation(format!(
                        "{id}: reserved {} of {players}: {v}",
                        v["reserved"]
                    ));
                }
                r.allocated.fetch_add(1, Relaxed);
                r.log
                    .lock()
                    .unwrap()
                    .allocations
                    .insert(id.clone(), (server.clone(), players));
                // The matchmaker retries through another instance: same answer.
                if rng.u8(..5) == 0 {
                    let other = r.base(&mut rng).to_owned();
                    match allocate(&r, &other, &id, players).await {
                        Some((StatusCode::OK, again))
                            if again["containerGroupName"] == server.as_str() => {}
                        Some((s, again)) if s != StatusCode::SERVICE_UNAVAILABLE => {
                            r.violation(format!("{id} again at {other}: {s} {again}, first {v}"))
                        }
                        _ => {}
                    }
                }
            }
            Some((StatusCode::SERVICE_UNAVAILABLE, _)) => {
                r.no_capacity.fetch_add(1, Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Some((s, v)) => r.violation(format!("Allocate {id}: {s} {v}")),
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(10..60))).await;
    }
}

/// Every server of the fleet in ARM reports its players (sequentially, so a
/// server's acknowledged reports are totally ordered); a quarter report once
/// and then fall silent.
async fn game_servers(r: Arc<Race>, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut silent: HashSet<String> = HashSet::new();
    while r.running() {
        let names: Vec<String> =
            r.t.sim
                .group_names()
                .into_iter()
                .filter(|(rg, n)| rg == RG && n.starts_with(FLEET))
                .map(|(_, n)| n)
                .collect();
        for name in names {
            if silent.contains(&name) || !r.running() {
                continue;
            }
            // The players of the acknowledged allocations on it have all
            // joined (none leaves: (a) can count every allocation).
            let n: u32 = r
                .log
                .lock()
                .unwrap()
                .allocations
                .values()
                .filter(|(s, _)| *s == name)
                .map(|(_, p)| p)
                .sum();
            let Ok(token) = r.t.app.keyring.issue(&key(RG, &name)).await else {
                continue;
            };
            let base = r.base(&mut rng).to_owned();
            let resp = r
                .http
                .post(format!("{base}/api/ReportSessions"))
                .bearer_auth(token)
                .json(
                    &json!({"resourceGroup": RG, "containerGroupName": name, "activeSessions": n}),
                )
                .send()
                .await;
            if let Ok(resp) = resp {
                if resp.status() == StatusCode::OK {
                    r.log.lock().unwrap().reported.insert(name.clone(), n);
                    if name.bytes().map(u32::from).sum::<u32>() % 4 == 0 {
                        silent.insert(name);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn sampler(r: Arc<Race>) {
    let name = FleetName::parse(FLEET).unwrap();
    while r.running() {
        let fleet = r.t.app.fleets.get(&name).await.ok().flatten();
        let rows =
            r.t.store()
                .list(&ListQuery::ByState {
                    state: None,
                    resource_group: Some(gamefleet::fleet::ResourceGroup::parse(RG).unwrap()),
                })
                .await;
        if let (Some(f), Ok(rows)) = (fleet, rows) {
            let c = Census::of(
                &f.value.fleet,
                rows.iter().map(|v| &v.value),
                chrono::Utc::now(),
                Some(Duration::from_secs(3)),
            );
            r.max_in_service.fetch_max(c.in_service, Relaxed);
            r.samples.fetch_add(1, Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocators_autoscaler_heartbeats_and_gc_across_three_processes_keep_every_guarantee() {
    let _heavy = crate::HEAVY.write().await;
    let secs: u64 = std::env::var("INVARIANT_CAPACITY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let seed: u64 = std::env::var("INVARIANT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("capacity invariants: {secs} s, INVARIANT_SEED={seed}");
    let settings = [
        ("ALLOCATION_TTL", "600s"),
        ("HEALTH_TIMEOUT", "3s"),
        ("DELETE_LEASE", "2s"),
    ];
    let mut o = Options::default();
    o.sim.provisioning_delay = Duration::from_millis(300);
    o.env = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("RECONCILE_INTERVAL".to_string(), "off".to_string())])
        .collect();
    let t = Arc::new(TestApp::spawn_with(o).await);
    let a = child(&t, &settings).await;
    let b = child(&t, &settings).await;
    let (s, v) = t
        .post(
            "/api/Fleets",
            &json!({"name": FLEET, "resourceGroup": RG, "location": "westeurope",
                "containerGroup": create_body(RG, "x")["containerGroup"], "maxSessions": SLOTS,
                "min": 2, "max": MAX, "buffer": {"servers": 3}, "cooldown": "0s"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let race = Arc::new(Race {
        t: t.clone(),
        bases: vec![t.base.clone(), a.base.clone(), b.base.clone()],
        http: reqwest::Client::new(),
        stop: AtomicBool::new(false),
        log: Mutex::new(Log::default()),
        max_in_service: AtomicU32::new(0),
        allocated: AtomicU32::new(0),
        no_capacity: AtomicU32::new(0),
        samples: AtomicU32::new(0),
    });
    let mut tasks = vec![
        tokio::spawn(timer(
            race.clone(),
            "Autoscale",
            Duration::from_millis(300),
            seed,
        )),
        tokio::spawn(timer(
            race.clone(),
            "Autoscale",
            Duration::from_millis(300),
            seed + 1,
        )),
        tokio::spawn(timer(
            race.clone(),
            "GC",
            Duration::from_millis(400),
            seed + 2,
        )),
        tokio::spawn(timer(
            race.clone(),
            "GC",
            Duration::from_millis(400),
            seed + 3,
        )),
        tokio::spawn(game_servers(race.clone(), seed + 4)),
        tokio::spawn(sampler(race.clone())),
    ];
    for i in 0..6 {
        tasks.push(tokio::spawn(allocator(
            race.clone(),
            i,
            seed + 10 + i as u64,
        )));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    race.stop.store(true, Relaxed);
    for task in tasks {
        task.await.unwrap();
    }

    let log = std::mem::take(&mut *race.log.lock().unwrap());
    let allocated = race.allocated.load(Relaxed);
    eprintln!(
        "capacity invariants: {allocated} allocations, {} NoCapacity, {} servers reported, {} samples, max in service {}",
        race.no_capacity.load(Relaxed),
        log.reported.len(),
        race.samples.load(Relaxed),
        race.max_in_service.load(Relaxed)
    );
    assert!(
        log.violations.is_empty(),
        "(b) and errors: {:#?}",
        log.violations
    );
    assert!(
        allocated >= 20,
        "the race hardly allocated ({allocated}): nothing was tested"
    );
    assert!(race.samples.load(Relaxed) >= 20);

    // (a) per server, the acknowledged reservations fit.
    let mut per_server: HashMap<&str, u32> = HashMap::new();
    for (server, players) in log.allocations.values() {
        *per_server.entry(server).or_default() += players;
    }
    for (server, players) in &per_server {
        assert!(
            *players <= SLOTS,
            "(a) {server}: {players} players allocated on {SLOTS} slots"
        );
    }
    // (c) no reserved server deleted; every deleted one had 0 last.
    for server in per_server.keys() {
        assert!(
            t.sim.group(RG, server).is_some(),
            "(c) {server} was deleted while holding a reservation"
        );
    }
    for (server, n) in &log.reported {
        if t.sim.group(RG, server).is_none() {
            assert_eq!(*n, 0, "(c) {server} deleted with {n} players acknowledged");
        }
    }
    // (d) acknowledged counts kept.
    for (server, n) in &log.reported {
        if let Some(row) = t.row(RG, server).await {
            assert_eq!(row.active_sessions.get(), *n, "(d) {server}");
        }
    }
    // (e)
    assert!(
        race.max_in_service.load(Relaxed) <= MAX,
        "(e) {} servers in service, max {MAX}",
        race.max_in_service.load(Relaxed)
    );
}
