use crate::helpers::*;
use gamefleet_sim::Op;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

fn del(rg: &str, name: &str) -> serde_json::Value {
    json!({"resourceGroup": rg, "containerGroupName": name})
}

#[tokio::test]
async fn delete_removes_group_and_row_and_is_idempotent() {
    let t = TestApp::spawn().await;
    t.running("rg", "gone").await;
    let (s, v) = t.post("/api/Delete", &del("rg", "gone")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["deleted"], true);
    assert!(t.sim.group("rg", "gone").is_none());
    assert!(t.row("rg", "gone").await.is_none());
    let (s, v) = t.post("/api/Delete", &del("rg", "gone")).await;
    assert_eq!(s, StatusCode::OK, "already gone is success: {v}");
}

#[tokio::test]
async fn delete_refuses_a_group_with_players_unless_forced() {
    let t = TestApp::spawn().await;
    t.running("rg", "busy").await;
    t.set_sessions(&[("rg", "busy", 3)]).await;
    let deletes = t.sim.count(Op::Delete);
    let (s, v) = t.post("/api/Delete", &del("rg", "busy")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "GroupHasSessions");
    assert_eq!(t.sim.count(Op::Delete), deletes, "ARM untouched");
    assert_eq!(t.row("rg", "busy").await.unwrap().state.as_str(), "Running");

    let (s, v) = t
        .post(
            "/api/Delete",
            &json!({"resourceGroup": "rg", "containerGroupName": "busy", "force": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(t.sim.group("rg", "busy").is_none());
}

#[tokio::test]
async fn a_slow_arm_delete_answers_202_and_leaves_deleting_for_gc() {
    let mut o = Options::default();
    o.sim.delete_delay = Duration::from_secs(3);
    o.env.push(("DELETE_WAIT".into(), "200ms".into()));
    let t = TestApp::spawn_with(o).await;
    t.running("rg", "slowdel").await;
    let (s, v) = t.post("/api/Delete", &del("rg", "slowdel")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["state"], "Deleting");
    assert_eq!(
        t.row("rg", "slowdel").await.unwrap().state.as_str(),
        "Deleting"
    );
    // SetSessions on it now fails alone.
    let (s, v) = t.set_sessions(&[("rg", "slowdel", 1)]).await;
    assert_eq!(s, StatusCode::MULTI_STATUS);
    assert_eq!(v["results"][0]["error"]["code"], "GroupDeleting");
}

#[tokio::test]
async fn a_group_gamefleet_did_not_make_is_never_deleted() {
    let t = TestApp::spawn().await;
    t.sim.insert_group(
        "rg",
        "theirs",
        json!({"location": "westeurope", "properties": {"osType": "Linux", "containers": []}}),
    );
    let deletes = t.sim.count(Op::Delete);
    for force in [false, true] {
        let (s, v) = t
            .post(
                "/api/Delete",
                &json!({"resourceGroup": "rg", "containerGroupName": "theirs", "force": force}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        assert_eq!(v["error"]["code"], "GroupExistsInAzure");
    }
    assert_eq!(t.sim.count(Op::Delete), deletes, "no DELETE reached ARM");
    assert!(t.sim.group("rg", "theirs").is_some());

    // Details and logs do not show it either.
    let (s, v) = t
        .post(
            "/api/Details",
            &json!({"resourceGroup": "rg", "containerGroupName": "theirs"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("GroupExistsInAzure")),
        "{v}"
    );
    let (s, v) = t.post("/api/Details", &json!({"resourceGroup": "rg", "containerGroupName": "theirs", "type": "logs", "containerName": "c"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("GroupExistsInAzure")),
        "{v}"
    );
}

#[tokio::test]
async fn a_tagged_orphan_without_a_row_is_deleted() {
    let t = TestApp::spawn().await;
    t.running("rg", "orphan").await;
    // The row is lost (a crash, a lost table): the tag still proves it is ours.
    t.store().delete(&key("rg", "orphan"), None).await.unwrap();
    let (s, v) = t.post("/api/Delete", &del("rg", "orphan")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["deleted"], true);
    assert!(t.sim.group("rg", "orphan").is_none());
}
