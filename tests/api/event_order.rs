//! Order independence, as a property: every permutation and duplication of
//! the events of a group's life ends in the same final state.
//!
//! A life is what ARM ends up with (the group provisioned and still there,
//! its provisioning failed, or it was deleted at the end) and the multiset of
//! what gamefleet sees of it: Create's own `Creating` row (inserted as Create
//! does before its PUT; a second insert finds it taken), Event Grid's write
//! successes, write failures or cancels (only in a failed life), delete
//! successes (only in a deleted life), each 1–3 times and in either schema.
//! proptest picks the order; the events go straight to the Monitor use case
//! (`App::on_event`; the HTTP path is covered in monitor.rs), then one
//! reconcile pass runs (`FLEET_CREATING_TIMEOUT=0s`, so a row whose events all
//! came before it is settled too). The final state (row state and IP, or no
//! row) must equal that of the canonical order of the same life (row, write
//! successes, failures, deletes) on a twin group, and what the life means.
//!
//! `EVENT_ORDER_CASES` (default 200) and `EVENT_ORDER_SEED` make longer or
//! repeatable runs; a counterexample is shrunk and printed as its sequence.

use crate::helpers::*;
use gamefleet::fleet::events::parse_event;
use gamefleet::fleet::{GroupRecord, GroupState};
use gamefleet::ops::monitor::EventOutcome;
use gamefleet::ports::StoreError;
use gamefleet_sim::events::{resource_event, ResourceEventKind as K};
use gamefleet_sim::{EventConfig, EventSchema};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::json;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// ARM provisioned the group and still has it.
    Provisioned,
    /// ARM's provisioning failed; the failed group is still there.
    ProvisioningFailed,
    /// ARM provisioned the group, then deleted it.
    Deleted,
    /// ARM's provisioning failed, then the group was deleted.
    FailedThenDeleted,
}

impl Life {
    fn failed(self) -> bool {
        matches!(self, Life::ProvisioningFailed | Life::FailedThenDeleted)
    }
    fn deleted(self) -> bool {
        matches!(self, Life::Deleted | Life::FailedThenDeleted)
    }
    /// What the life means for the table.
    fn expected(self) -> Final {
        match self {
            Life::Provisioned => Final::Row(GroupState::Running, Ip::Arms),
            Life::ProvisioningFailed => Final::Row(GroupState::Failed, Ip::None),
            Life::Deleted | Life::FailedThenDeleted => Final::NoRow,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Create's own `Creating` row.
    Row,
    Event(K, EventSchema),
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Row => f.write_str("Row"),
            Step::Event(k, s) => {
                let k = match k {
                    K::WriteSuccess => "WriteSuccess",
                    K::WriteFailure => "WriteFailure",
                    K::WriteCancel => "WriteCancel",
                    K::DeleteSuccess => "DeleteSuccess",
                    other => return write!(f, "{other:?}"),
                };
                let s = match s {
                    EventSchema::EventGrid => "eg",
                    EventSchema::CloudEvents => "ce",
                };
                write!(f, "{k}/{s}")
            }
        }
    }
}

#[derive(Clone)]
struct Case {
    life: Life,
    /// The same multiset in the canonical order.
    canonical: Vec<Step>,
    order: Vec<Step>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} life, order {:?}", self.life, self.order)
    }
}

/// The final state, with the IP compared to the one ARM gave the group.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Final {
    NoRow,
    Row(GroupState, Ip),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ip {
    None,
    /// The group's IP in ARM.
    Arms,
    Other(String),
}

fn schema() -> impl Strategy<Value = EventSchema> {
    prop_oneof![Just(EventSchema::EventGrid), Just(EventSchema::CloudEvents)]
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        Just(Life::Provisioned),
        Just(Life::ProvisioningFailed),
        Just(Life::Deleted),
        Just(Life::FailedThenDeleted),
    ]
    .prop_flat_map(|life| {
        let none = 0..=0usize;
        (
            Just(life),
            1..=3usize,
            // A failed PUT may still have sent a write success (when ARM accepted it).
            prop::collection::vec(schema(), if life.failed() { 0..=3 } else { 1..=3 }),
            prop::collection::vec(
                (
                    prop_oneof![Just(K::WriteFailure), Just(K::WriteCancel)],
                    schema(),
                ),
                if life.failed() { 1..=3 } else { none.clone() },
            ),
            prop::collection::vec(schema(), if life.deleted() { 1..=3 } else { none }),
        )
    })
    .prop_flat_map(|(life, rows, ws, wf, ds)| {
        let mut steps = vec![Step::Row; rows];
        steps.extend(ws.into_iter().map(|s| Step::Event(K::WriteSuccess, s)));
        steps.extend(wf.into_iter().map(|(k, s)| Step::Event(k, s)));
        steps.extend(ds.into_iter().map(|s| Step::Event(K::DeleteSuccess, s)));
        let canonical = steps.clone();
        Just(steps).prop_shuffle().prop_map(move |order| Case {
            life,
            canonical: canonical.clone(),
            order,
        })
    })
}

fn arm_body(failing: bool) -> serde_json::Value {
    let image = if failing {
        "registry/fail-provision:1"
    } else {
        "registry/game:1"
    };
    json!({
        "location": "westeurope",
        "tags": {"managed-by": "gamefleet"},
        "properties": {"osType": "Linux",
            "ipAddress": {"type": "Public", "ports": [{"port": 7777, "protocol": "UDP"}]},
            "containers": [{"name": "server", "properties": {"image": image,
                "ports": [{"port": 7777, "protocol": "UDP"}],
                "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}}]}
    })
}

/// Make ARM's side what the life says; returns the group's IP in ARM while it lived.
async fn shape_arm(t: &TestApp, life: Life, rg: &str, name: &str) -> Result<(), TestCaseError> {
    if life.failed() {
        // Through ARM's API, so the simulator's provisioning fails as ARM's would.
        t.app
            .platform
            .create(&key(rg, name), &arm_body(true))
            .await
            .map_err(|e| TestCaseError::fail(format!("PUT {rg}/{name}: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while t
            .sim
            .group(rg, name)
            .is_none_or(|g| g["properties"]["provisioningState"] != "Failed")
        {
            if Instant::now() > deadline {
                return Err(TestCaseError::fail(format!("{rg}/{name} never failed")));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    } else {
        t.sim.insert_group(rg, name, arm_body(false));
    }
    if life.deleted() {
        t.sim.remove_group_silently(rg, name);
    }
    // The simulator's own events are not part of the generated life.
    t.sim.take_events();
    Ok(())
}

async fn apply(t: &TestApp, rg: &str, name: &str, steps: &[Step]) -> Result<Vec<String>, String> {
    let mut trace = Vec::new();
    for step in steps {
        match *step {
            Step::Row => {
                let row = GroupRecord::creating(
                    key(rg, name),
                    "westeurope".into(),
                    gamefleet::fleet::record::now(),
                );
                match t.store().insert(&row).await {
                    Ok(_) => trace.push("Row: inserted".to_owned()),
                    Err(StoreError::AlreadyExists) => trace.push("Row: taken".to_owned()),
                    Err(e) => return Err(format!("insert {rg}/{name}: {e}")),
                }
            }
            Step::Event(kind, schema) => {
                let op = if kind == K::DeleteSuccess {
                    "delete"
                } else {
                    "write"
                };
                let json = resource_event(schema, kind, t.sim.subscription_id(), rg, name, op);
                let event = parse_event(&json).map_err(|e| format!("{step:?}: {e}"))?;
                let outcome = t
                    .app
                    .on_event(&event)
                    .await
                    .map_err(|e| format!("{step:?} on {rg}/{name}: {e}"))?;
                if let EventOutcome::Retry { reason } = &outcome {
                    // ARM's state is final in every life: nothing may wait for a redelivery.
                    return Err(format!("{step:?} asked for a redelivery: {reason}"));
                }
                trace.push(format!("{step:?}: {outcome:?}"));
            }
        }
    }
    Ok(trace)
}

async fn final_state(t: &TestApp, rg: &str, name: &str, arm_ip: Option<&str>) -> Final {
    match t.row(rg, name).await {
        None => Final::NoRow,
        Some(r) => {
            let ip = match r.public_ip {
                None => Ip::None,
                Some(ip) if Some(ip.as_str()) == arm_ip => Ip::Arms,
                Some(ip) => Ip::Other(ip),
            };
            Final::Row(r.state, ip)
        }
    }
}

async fn run_case(t: &TestApp, n: usize, case: &Case) -> Result<(), TestCaseError> {
    let rg = format!("eo-{n:05}");
    let (perm, canon) = ("perm", "canon");
    shape_arm(t, case.life, &rg, perm).await?;
    shape_arm(t, case.life, &rg, canon).await?;
    let ip = |name: &str| {
        t.sim.group(&rg, name).and_then(|g| {
            g["properties"]["ipAddress"]["ip"]
                .as_str()
                .map(str::to_owned)
        })
    };
    let (perm_ip, canon_ip) = (ip(perm), ip(canon));

    let perm_trace = apply(t, &rg, perm, &case.order)
        .await
        .map_err(TestCaseError::fail)?;
    let canon_trace = apply(t, &rg, canon, &case.canonical)
        .await
        .map_err(TestCaseError::fail)?;
    let report = t
        .app
        .reconcile()
        .await
        .map_err(|e| TestCaseError::fail(format!("reconcile: {e}")))?;

    let got = final_state(t, &rg, perm, perm_ip.as_deref()).await;
    let canonical = final_state(t, &rg, canon, canon_ip.as_deref()).await;
    // Leave the next case (and its reconcile pass) a small table.
    for name in [perm, canon] {
        let _ = t.store().delete(&key(&rg, name), None).await;
        t.sim.remove_group_silently(&rg, name);
    }
    let expected = case.life.expected();
    if got != canonical || canonical != expected {
        return Err(TestCaseError::fail(format!(
            "{:?} life: order {:?} ended {got:?}, the canonical order {:?} ended {canonical:?} (the life means {expected:?})\n  \
             order, step by step: {perm_trace:#?}\n  canonical, step by step: {canon_trace:#?}\n  reconcile: {report:?}",
            case.life, case.order, case.canonical
        )));
    }
    Ok(())
}

#[test]
fn every_order_and_duplication_of_a_lifes_events_ends_in_the_same_state() {
    let cases: u32 = std::env::var("EVENT_ORDER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("EVENT_ORDER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut o = Options::default();
    o.sim.provisioning_delay = Duration::from_millis(1);
    o.sim.events = EventConfig {
        auto_deliver: false,
        ..EventConfig::default()
    };
    o.env.push(("FLEET_CREATING_TIMEOUT".into(), "0s".into()));
    let t = rt.block_on(TestApp::spawn_with(o));

    let mut runner = TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    });
    let ran = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let started = Instant::now();
    let result = runner.run(&case(), |case| {
        let n = ran.fetch_add(1, Relaxed);
        let r = rt.block_on(run_case(&t, n, &case));
        if r.is_err() {
            failed.fetch_add(1, Relaxed);
        }
        r
    });
    println!(
        "event order (EVENT_ORDER_SEED={seed}): {} cases run ({cases} asked), failures: {} in {:.1?}",
        ran.load(Relaxed),
        failed.load(Relaxed),
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("EVENT_ORDER_SEED={seed}: {e}");
    }
}
