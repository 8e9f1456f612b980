use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn details_returns_the_arm_group_and_logs() {
    let t = TestApp::spawn().await;
    t.running("rg", "d1").await;
    let (s, v) = t
        .post(
            "/api/Details",
            &json!({"resourceGroup": "rg", "containerGroupName": "d1"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
    assert_eq!(v["properties"]["instanceView"]["state"], "Running");

    t.sim.append_log("rg", "d1", "server", "player joined");
    t.sim.append_log("rg", "d1", "server", "player left");
    let (s, v) = t.post("/api/Details", &json!({"resourceGroup": "rg", "containerGroupName": "d1", "type": "logs", "containerName": "server", "tail": 1})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["content"].as_str().unwrap().trim(), "player left");
    assert_eq!(v["containerName"], "server");
}

#[tokio::test]
async fn details_errors() {
    let t = TestApp::spawn().await;
    t.running("rg", "d2").await;
    let (s, v) = t
        .post(
            "/api/Details",
            &json!({"resourceGroup": "rg", "containerGroupName": "nope"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = t
        .post(
            "/api/Details",
            &json!({"resourceGroup": "rg", "containerGroupName": "d2", "type": "logs"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("containerName"));
    let (s, v) = t.post("/api/Details", &json!({"resourceGroup": "rg", "containerGroupName": "d2", "type": "logs", "containerName": "ghost"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, _) = t
        .post(
            "/api/Details",
            &json!({"resourceGroup": "rg", "containerGroupName": "d2", "type": "metrics"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
