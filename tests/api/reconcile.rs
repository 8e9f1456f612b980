//! Reconcile (run by GC): a lost event, a missing subscription, a crash or an
//! out-of-band group costs one GC run, not a stuck or forgotten server.

use crate::helpers::*;
use gamefleet::fleet::{GroupRecord, GroupState};
use gamefleet_sim::EventConfig;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

fn reconciling(creating_timeout: &str) -> Options {
    let mut o = Options::default();
    o.env.push(("RECONCILE_INTERVAL".into(), "0s".into()));
    o.env
        .push(("FLEET_CREATING_TIMEOUT".into(), creating_timeout.into()));
    // No Event Grid at all: as if the subscription were missing.
    o.sim.events = EventConfig {
        auto_deliver: false,
        ..EventConfig::default()
    };
    o
}

fn group(tagged: bool) -> serde_json::Value {
    let mut g = json!({"location": "westeurope", "properties": {"osType": "Linux",
        "ipAddress": {"type": "Public", "ports": [{"port": 7777, "protocol": "UDP"}]},
        "containers": [{"name": "c", "properties": {"image": "i", "ports": [{"port": 7777, "protocol": "UDP"}], "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}}]}});
    if tagged {
        g["tags"] = json!({"managed-by": "gamefleet"});
    }
    g
}

async fn provisioned(t: &TestApp, rg: &str, name: &str) {
    for _ in 0..300 {
        if t.sim
            .group(rg, name)
            .is_some_and(|g| g["properties"]["provisioningState"] != "Pending")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never provisioned");
}

#[tokio::test]
async fn lost_events_are_settled_from_arm() {
    let t = TestApp::spawn_with(reconciling("0s")).await;
    let (s, _) = t.create("rg", "quiet").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let mut failing = create_body("rg", "broken");
    failing["containerGroup"]["containers"][0]["image"] = json!("registry/fail-provision:1");
    assert_eq!(
        t.post("/api/Create", &failing).await.0,
        StatusCode::ACCEPTED
    );
    provisioned(&t, "rg", "quiet").await;
    provisioned(&t, "rg", "broken").await;
    assert_eq!(
        t.row("rg", "quiet").await.unwrap().state.as_str(),
        "Creating",
        "no event was delivered"
    );

    let (s, rv) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{rv}");
    assert_eq!(rv["reconcile"]["settled"], 2, "{rv}");
    let quiet = t.row("rg", "quiet").await.unwrap();
    assert_eq!(quiet.state, GroupState::Running);
    assert_eq!(
        quiet.public_ip.as_deref(),
        t.sim.group("rg", "quiet").unwrap()["properties"]["ipAddress"]["ip"].as_str()
    );
    let broken = t.row("rg", "broken").await.unwrap();
    assert_eq!(broken.state, GroupState::Failed);
    assert!(broken
        .failure_reason
        .unwrap()
        .contains("found by reconcile"));
}

#[tokio::test]
async fn a_young_creating_row_is_left_alone() {
    let t = TestApp::spawn_with(reconciling("10m")).await;
    let r = GroupRecord::creating(
        key("rg", "in-flight"),
        "westeurope".into(),
        gamefleet::fleet::record::now(),
    );
    t.store().insert(&r).await.unwrap();
    let (_, rv) = t.gc().await;
    assert_eq!(rv["reconcile"]["removed"], 0, "{rv}");
    assert!(
        t.row("rg", "in-flight").await.is_some(),
        "a Create between its row and its PUT must not lose its row"
    );
}

#[tokio::test]
async fn tagged_groups_without_rows_are_adopted_others_reported_and_phantoms_removed() {
    let t = TestApp::spawn_with(reconciling("0s")).await;
    t.sim.insert_group("rg", "orphan", group(true));
    t.sim.insert_group("rg", "theirs", group(false));
    let mut phantom = GroupRecord::creating(
        key("rg", "phantom"),
        "westeurope".into(),
        gamefleet::fleet::record::now(),
    );
    phantom.state = GroupState::Running;
    t.store().insert(&phantom).await.unwrap();
    let stale = GroupRecord::creating(
        key("rg", "never-made"),
        "westeurope".into(),
        gamefleet::fleet::record::now(),
    );
    t.store().insert(&stale).await.unwrap();

    let (s, rv) = t.gc().await;
    assert_eq!(s, StatusCode::OK, "{rv}");
    let r = &rv["reconcile"];
    assert_eq!(
        (
            r["adopted"].as_u64(),
            r["removed"].as_u64(),
            r["untracked"].as_u64()
        ),
        (Some(1), Some(2), Some(1)),
        "{rv}"
    );
    let adopted = t.row("rg", "orphan").await.unwrap();
    assert_eq!(adopted.state, GroupState::Running);
    assert_eq!(
        adopted.location, "westeurope",
        "the region ARM's list gives"
    );
    assert!(
        t.row("rg", "theirs").await.is_none(),
        "never adopt a group gamefleet did not make"
    );
    assert!(t.sim.group("rg", "theirs").is_some(), "nor touch it");
    assert!(t.row("rg", "phantom").await.is_none());
    assert!(t.row("rg", "never-made").await.is_none());

    // A second pass finds nothing to do.
    let (_, rv) = t.gc().await;
    let r = &rv["reconcile"];
    assert_eq!(
        (
            r["adopted"].as_u64(),
            r["removed"].as_u64(),
            r["settled"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{rv}"
    );
}
