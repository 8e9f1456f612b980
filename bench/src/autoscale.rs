//! A day of demand replayed in fast time: gamefleet's own App (the library,
//! in this process) against Azurite and the ARM simulator, one fleet, one
//! step per simulated minute. Each step:
//!
//! 1. the Event Grid events the simulator queued reach Monitor (a server
//!    created in step k is Running in step k + 1: one minute, about what ACI
//!    takes to start a small image);
//! 2. the Autoscale timer runs with the simulated clock (cooldowns and
//!    backoffs follow it);
//! 3. players: the demand curve says how many play now; new ones come in
//!    matches of [`MATCH`] players, each placed by a matchmaker on the fullest
//!    Running server with room (SetSessions), or **refused** when none has
//!    room; players who leave free their slots (oldest matches first);
//! 4. GC runs (it deletes what the autoscaler marked and is empty).
//!
//! The day starts with a fleet already serving midnight's players ([`WARM_UP`]
//! minutes at that demand first, not counted). Demand: a diurnal curve (trough at 04:00, peak at 16:00) plus two spikes
//! that ramp up over 5 minutes. Reported: matches refused while the fleet was
//! under `max` (the autoscaler's failure; must be 0), server-hours used
//! against the lower bound (each minute, the fewest servers that could hold
//! that minute's players), and the autoscaler's actions.

use crate::Result;
use gamefleet::fleet::events::parse_delivery;
use gamefleet::fleet::{ActiveSessions, GroupKey, GroupState};
use gamefleet_sim::{EventConfig, SimConfig, Simulator};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SLOTS: u32 = 16;
pub const MATCH: u32 = 4;
pub const MAX: u32 = 120;
const STEP_SECS: i64 = 60;
/// Simulated minutes before the day, at midnight's demand, not counted.
pub const WARM_UP: usize = 30;

#[derive(Debug, Default, Clone)]
pub struct DayRun {
    pub peak_players: u32,
    pub matches: usize,
    pub refused: usize,
    pub refused_under_max: usize,
    pub server_hours: f64,
    pub lower_bound_hours: f64,
    pub peak_servers: usize,
    pub created: u32,
    pub unmarked: u32,
    pub marked: u32,
    pub failed_creates: u32,
    pub wall: Duration,
}

/// Players wanted at minute `m` of the day.
pub fn demand(m: usize) -> u32 {
    let h = m as f64 / 60.0;
    let diurnal = 150.0 + 850.0 * (1.0 - ((h - 4.0) / 24.0 * std::f64::consts::TAU).cos()) / 2.0;
    let spike = |start: f64, height: f64, minutes: f64| -> f64 {
        let into = (h - start) * 60.0;
        if !(0.0..minutes).contains(&into) {
            0.0
        } else {
            height * (into / 5.0).min(1.0)
        }
    };
    (diurnal + spike(12.0, 300.0, 25.0) + spike(20.5, 400.0, 20.0)).round() as u32
}

pub async fn run(azurite_conn: &str, minutes: usize) -> Result<DayRun> {
    let sim = Simulator::start(SimConfig {
        provisioning_delay: Duration::ZERO,
        events: EventConfig {
            auto_deliver: false,
            ..EventConfig::default()
        },
        ..SimConfig::default()
    })
    .await?;
    let table = gamefleet_sim::azurite::unique_table();
    let mut env: HashMap<String, String> = crate::stack::gamefleet_env(&sim, azurite_conn, &table)
        .into_iter()
        .collect();
    env.insert("RUST_LOG".into(), "warn".into());
    let config = gamefleet::config::Config::from_lookup(|k| env.get(k).cloned())?;
    let lookup: gamefleet::ops::power::SharedEnv = Arc::new(move |k: &str| env.get(k).cloned());
    let app = gamefleet::wiring::build(&config, lookup)?;
    app.store.ensure_ready().await?;

    let mut cg = json!({
        "location": "westeurope", "osType": "Linux",
        "containers": [{"name": "server", "image": "gamefleet/sample-server:1",
            "resources": {"requests": {"memoryInGB": 0.5, "cpu": 0.5}},
            "ports": [{"protocol": "UDP", "port": 8303}]}],
        "ipAddress": {"ports": [{"protocol": "UDP", "port": 8303}], "type": "Public"}
    });
    cg.as_object_mut().map(|o| o.remove("location"));
    app.put_fleet(
        &json!({"name": "day", "resourceGroup": "day", "location": "westeurope",
            "containerGroup": cg, "maxSessions": SLOTS, "min": 2, "max": MAX,
            "buffer": {"slots": "25%"}, "cooldown": "10m"}),
        chrono::Utc::now(),
    )
    .await?;

    let start = chrono::Utc::now();
    let wall = Instant::now();
    let mut out = DayRun::default();
    // Matches in play: (server, players), oldest first; players per server.
    let mut matches: VecDeque<(GroupKey, u32)> = VecDeque::new();
    let mut on: HashMap<GroupKey, u32> = HashMap::new();
    let mut playing = 0u32;
    // The day starts with a fleet already serving midnight's players: WARM_UP
    // steps at demand(0) first, not counted.
    for step in 0..WARM_UP + minutes {
        let counted = step >= WARM_UP;
        let m = step.saturating_sub(WARM_UP);
        let now = start + chrono::Duration::seconds(STEP_SECS * step as i64);
        // 1. Events.
        for event in sim.take_events() {
            for ev in parse_delivery(&event).into_iter().flatten() {
                let _ = app.on_event(&ev).await;
            }
        }
        // 2. Autoscale.
        let report = app.autoscale(now).await?;
        for r in report.runs.iter().filter(|_| counted) {
            out.created += r.created;
            out.unmarked += r.unmarked;
            out.marked += r.marked;
            out.failed_creates += r.failed;
        }
        // 3. Players.
        let want = demand(m);
        if counted {
            out.peak_players = out.peak_players.max(want);
        }
        let mut changed: HashMap<GroupKey, u32> = HashMap::new();
        while playing > want {
            let Some((k, n)) = matches.pop_front() else {
                break;
            };
            playing -= n;
            let left = on.entry(k.clone()).or_default();
            *left = left.saturating_sub(n);
            changed.insert(k, *left);
        }
        let rows = app.list(None, None).await?;
        let mut running: Vec<(GroupKey, u32)> = rows
            .iter()
            .filter(|r| r.state == GroupState::Running)
            .map(|r| (r.key.clone(), *on.get(&r.key).unwrap_or(&0)))
            .collect();
        let in_service = rows
            .iter()
            .filter(|r| matches!(r.state, GroupState::Running | GroupState::Creating))
            .count();
        let alive = rows
            .iter()
            .filter(|r| r.state != GroupState::Failed)
            .count();
        if counted {
            out.peak_servers = out.peak_servers.max(alive);
            out.server_hours += alive as f64 * STEP_SECS as f64 / 3600.0;
            out.lower_bound_hours += f64::from(want.div_ceil(SLOTS)) * STEP_SECS as f64 / 3600.0;
        }
        while playing + MATCH <= want {
            if counted {
                out.matches += 1;
            }
            // Packed: the fullest server with room.
            let pick = running
                .iter_mut()
                .filter(|(_, n)| *n + MATCH <= SLOTS)
                .max_by_key(|(_, n)| *n);
            match pick {
                Some((k, n)) => {
                    *n += MATCH;
                    playing += MATCH;
                    on.insert(k.clone(), *n);
                    changed.insert(k.clone(), *n);
                    matches.push_back((k.clone(), MATCH));
                }
                None => {
                    if counted {
                        out.refused += 1;
                        if (in_service as u32) < MAX {
                            out.refused_under_max += 1;
                        }
                    }
                    break;
                }
            }
        }
        let items: Vec<(GroupKey, ActiveSessions)> = changed
            .into_iter()
            .filter_map(|(k, n)| ActiveSessions::new(n).ok().map(|n| (k, n)))
            .collect();
        for chunk in items.chunks(100) {
            app.set_sessions(chunk).await?;
        }
        // 4. GC.
        app.gc().await?;
    }
    out.wall = wall.elapsed();
    Ok(out)
}
