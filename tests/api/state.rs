use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn set_state_follows_the_state_machine() {
    let t = TestApp::spawn().await;
    t.running("rg", "s").await;
    let (s, v) = t.set_state("rg", "s", "MarkedForDeletion").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "MarkedForDeletion");
    assert_eq!(
        t.row("rg", "s").await.unwrap().state.as_str(),
        "MarkedForDeletion"
    );
    // Idempotent.
    let (s, _) = t.set_state("rg", "s", "MarkedForDeletion").await;
    assert_eq!(s, StatusCode::OK);
    // Failed from any live state, with a reason.
    let (s, v) = t.post("/api/SetState", &serde_json::json!({"resourceGroup": "rg", "containerGroupName": "s", "state": "Failed", "reason": "crash loop"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        t.row("rg", "s").await.unwrap().failure_reason.as_deref(),
        Some("crash loop")
    );
    // Failed cannot be marked.
    let (s, v) = t.set_state("rg", "s", "MarkedForDeletion").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "IllegalTransition");
    assert_eq!(t.row("rg", "s").await.unwrap().state.as_str(), "Failed");
}

#[tokio::test]
async fn set_state_errors() {
    let t = TestApp::spawn().await;
    let (s, v) = t.set_state("rg", "nobody", "MarkedForDeletion").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], "GroupNotFound");
    t.running("rg", "x").await;
    for bad in ["Deleting", "Creating", "markedfordeletion", ""] {
        let (s, v) = t.set_state("rg", "x", bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    assert_eq!(t.row("rg", "x").await.unwrap().state.as_str(), "Running");
}

#[tokio::test]
async fn setting_running_unmarks_a_marked_server_and_nothing_else() {
    let t = TestApp::spawn().await;
    t.running("rg", "back").await;
    let (s, _) = t.set_state("rg", "back", "MarkedForDeletion").await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = t.set_state("rg", "back", "Running").await;
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("Running")),
        "{v}"
    );
    // Again: nothing to do, still Running; GC leaves it alone.
    let (s, v) = t.set_state("rg", "back", "Running").await;
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("Running")),
        "{v}"
    );
    let (_, report) = t.gc().await;
    assert_eq!(report["deleted"], 0, "{report}");
    assert!(t.sim.group("rg", "back").is_some());
    // A Failed server is not taken back.
    t.running("rg", "broken").await;
    t.set_state("rg", "broken", "Failed").await;
    let (s, v) = t.set_state("rg", "broken", "Running").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("IllegalTransition")),
        "{v}"
    );
    assert_eq!(
        t.row("rg", "broken").await.unwrap().state.as_str(),
        "Failed"
    );
}
