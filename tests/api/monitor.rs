use crate::helpers::*;
use gamefleet_sim::events::{resource_event, ResourceEventKind as K};
use gamefleet_sim::{EventConfig, EventSchema};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Tests that deliver events themselves: the simulator only queues them.
fn manual() -> Options {
    let mut o = Options::default();
    o.sim.events = EventConfig {
        auto_deliver: false,
        ..EventConfig::default()
    };
    o
}

fn ev(t: &TestApp, kind: K, rg: &str, name: &str) -> Value {
    resource_event(
        EventSchema::EventGrid,
        kind,
        t.sim.subscription_id(),
        rg,
        name,
        "write",
    )
}

async fn provisioned(t: &TestApp, rg: &str, name: &str) {
    let (s, b) = t.create(rg, name).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    for _ in 0..200 {
        if t.sim
            .group(rg, name)
            .is_some_and(|g| g["properties"]["provisioningState"] == "Succeeded")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("simulator never provisioned {rg}/{name}");
}

#[tokio::test]
async fn write_success_moves_creating_to_running_with_the_ip() {
    let t = TestApp::spawn_with(manual()).await;
    provisioned(&t, "rg", "cg").await;
    let (s, rv) = t.monitor(&ev(&t, K::WriteSuccess, "rg", "cg")).await;
    assert_eq!(s, StatusCode::OK, "{rv}");
    assert_eq!(rv["events"][0]["outcome"], "applied");
    let row = t.row("rg", "cg").await.unwrap();
    assert_eq!(row.state.as_str(), "Running");
    assert_eq!(
        row.public_ip.as_deref(),
        t.sim.group("rg", "cg").unwrap()["properties"]["ipAddress"]["ip"].as_str()
    );
}

#[tokio::test]
async fn write_success_before_provisioning_finished_asks_for_redelivery() {
    let mut o = manual();
    o.sim.provisioning_delay = Duration::from_secs(3600);
    let t = TestApp::spawn_with(o).await;
    let (s, _) = t.create("rg", "slow").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, rv) = t.monitor(&ev(&t, K::WriteSuccess, "rg", "slow")).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "a retry can help: {rv}");
    assert_eq!(rv["events"][0]["outcome"], "retry");
    assert_eq!(
        t.row("rg", "slow").await.unwrap().state.as_str(),
        "Creating"
    );
}

#[tokio::test]
async fn write_failure_marks_failed_and_delete_success_removes_the_row() {
    let t = TestApp::spawn_with(manual()).await;
    provisioned(&t, "rg", "f").await;
    let (s, _) = t.monitor(&ev(&t, K::WriteFailure, "rg", "f")).await;
    assert_eq!(s, StatusCode::OK);
    let row = t.row("rg", "f").await.unwrap();
    assert_eq!(row.state.as_str(), "Failed");
    assert!(row.failure_reason.unwrap().contains("ResourceWriteFailure"));

    // A delete event while ARM still has the group is stale: ignored.
    let (s, rv) = t.monitor(&ev(&t, K::DeleteSuccess, "rg", "f")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rv["events"][0]["outcome"], "ignored", "{rv}");
    assert!(t.row("rg", "f").await.is_some());
    // Once ARM no longer has it, the row goes.
    assert!(t.sim.remove_group_silently("rg", "f"));
    let (s, rv) = t.monitor(&ev(&t, K::DeleteSuccess, "rg", "f")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rv["events"][0]["outcome"], "applied", "{rv}");
    assert!(t.row("rg", "f").await.is_none());
}

#[tokio::test]
async fn events_out_of_order_and_duplicated_end_in_the_same_state() {
    // The fixture order: delete success, write success, delete success again (duplicate id).
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/eventgrid/aci-constructed/batch-out-of-order-with-duplicate.eventgrid.json")).unwrap(),
    )
    .unwrap();
    let mut o = manual();
    o.sim.subscription_id = "00000000-0000-0000-0000-000000000000".into();
    let t = TestApp::spawn_with(o).await;
    provisioned(&t, "my-rg", "cg-job-0001").await;

    // While the group exists, the delete events are stale and the write wins.
    for e in fixture.as_array().unwrap() {
        let (s, _) = t.monitor(e).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _) = t.monitor(&fixture).await; // the whole batch again, as one delivery
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        t.row("my-rg", "cg-job-0001").await.unwrap().state.as_str(),
        "Running"
    );

    // After the group is really gone, any order of the same events removes the row.
    t.sim.remove_group_silently("my-rg", "cg-job-0001");
    let mut reversed = fixture.as_array().unwrap().clone();
    reversed.reverse();
    for e in &reversed {
        assert_eq!(t.monitor(e).await.0, StatusCode::OK);
    }
    assert!(t.row("my-rg", "cg-job-0001").await.is_none());
}

#[tokio::test]
async fn every_order_of_write_and_failure_events_ends_failed() {
    let t = TestApp::spawn_with(manual()).await;
    let orders: [&[K]; 4] = [
        &[K::WriteSuccess, K::WriteFailure],
        &[K::WriteFailure, K::WriteSuccess],
        &[
            K::WriteFailure,
            K::WriteFailure,
            K::WriteSuccess,
            K::WriteSuccess,
        ],
        &[K::WriteSuccess, K::WriteSuccess, K::WriteFailure],
    ];
    for (i, order) in orders.iter().enumerate() {
        let name = format!("o{i}");
        provisioned(&t, "rg", &name).await;
        for k in *order {
            assert_eq!(t.monitor(&ev(&t, *k, "rg", &name)).await.0, StatusCode::OK);
        }
        assert_eq!(
            t.row("rg", &name).await.unwrap().state.as_str(),
            "Failed",
            "order {order:?}"
        );
    }
}

#[tokio::test]
async fn cloudevents_and_case_insensitive_ids() {
    let t = TestApp::spawn_with(manual()).await;
    provisioned(&t, "MixedCase-RG", "ce").await;
    let mut e = resource_event(
        EventSchema::CloudEvents,
        K::WriteSuccess,
        t.sim.subscription_id(),
        "mixedcase-rg",
        "ce",
        "write",
    );
    let uri = e["data"]["resourceUri"].as_str().unwrap().replace(
        "Microsoft.ContainerInstance/containerGroups",
        "MICROSOFT.CONTAINERINSTANCE/CONTAINERGROUPS",
    );
    e["data"]["resourceUri"] = json!(uri);
    let (s, rv) = t.monitor(&e).await;
    assert_eq!(s, StatusCode::OK, "{rv}");
    assert_eq!(
        t.row("MixedCase-RG", "ce").await.unwrap().state.as_str(),
        "Running"
    );
}

#[tokio::test]
async fn unrelated_events_are_acknowledged_and_ignored() {
    let t = TestApp::spawn_with(manual()).await;
    provisioned(&t, "rg", "keep").await;
    let storage: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/eventgrid/eventgrid-schema/resource-write-success.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let other_sub = resource_event(
        EventSchema::EventGrid,
        K::WriteFailure,
        "11111111-1111-1111-1111-111111111111",
        "rg",
        "keep",
        "write",
    );
    let unknown_group = ev(&t, K::WriteFailure, "rg", "never-created");
    let validation: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/eventgrid/subscription-validation-event.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for e in [
        storage,
        other_sub,
        unknown_group,
        validation,
        json!({"not": "an event"}),
        json!("garbage"),
    ] {
        let (s, rv) = t.monitor(&e).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "never redeliver what can never be handled: {e} → {rv}"
        );
    }
    assert_eq!(
        t.row("rg", "keep").await.unwrap().state.as_str(),
        "Creating"
    );
}
