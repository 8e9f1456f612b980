//! Each dependency failing, one test per fault: Table Storage stopped
//! mid-test, ARM timing out, refusing connections. The caller gets a clear
//! 502/503 with Retry-After, nothing is half-written, and the service recovers
//! by itself when the dependency returns.

use crate::helpers::*;
use gamefleet_sim::azurite::Azurite;
use gamefleet_sim::{FaultRule, Op};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn expect_unavailable(
    t: &TestApp,
    method: &str,
    path: &str,
    body: serde_json::Value,
    want: StatusCode,
) {
    let req = match method {
        "GET" => t.http.get(format!("{}{path}", t.base)),
        _ => t.http.post(format!("{}{path}", t.base)).json(&body),
    };
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), want, "{method} {path}");
    let ra = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    assert!(
        ra.is_some_and(|s| s >= 1),
        "{method} {path}: Retry-After {ra:?}"
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"]["code"].is_string() || v["ReturnValue"]["error"]["code"].is_string(),
        "{path}: {v}"
    );
}

#[tokio::test]
async fn table_storage_down_then_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut azurite = Azurite::start_on_disk(dir.path()).await.unwrap();
    let t = TestApp::spawn_with(Options {
        env: vec![("AzureWebJobsStorage".into(), azurite.connection_string())],
        ..Default::default()
    })
    .await;
    t.running("rg", "alive").await;
    t.sim.reset_counts();

    azurite.stop().await;
    expect_unavailable(
        &t,
        "GET",
        "/api/List",
        json!(null),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    expect_unavailable(
        &t,
        "POST",
        "/api/Create",
        create_body("rg", "new"),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    expect_unavailable(
        &t,
        "POST",
        "/api/SetSessions",
        json!([{"resourceGroup": "rg", "containerGroupName": "alive", "activeSessions": 4}]),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    expect_unavailable(
        &t,
        "POST",
        "/api/SetState",
        json!({"resourceGroup": "rg", "containerGroupName": "alive", "state": "MarkedForDeletion"}),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    expect_unavailable(
        &t,
        "POST",
        "/api/Delete",
        json!({"resourceGroup": "rg", "containerGroupName": "alive"}),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    // Monitor and GC fail the invocation (non-2xx), so Event Grid redelivers and the timer tries again.
    let ev = gamefleet_sim::events::resource_event(
        gamefleet_sim::EventSchema::EventGrid,
        gamefleet_sim::ResourceEventKind::WriteSuccess,
        t.sim.subscription_id(),
        "rg",
        "alive",
        "write",
    );
    assert_eq!(t.monitor(&ev).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(t.gc().await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(t.get("/").await.0, StatusCode::OK, "still serving");
    // Nothing reached ARM: no PUT for the refused Create, no DELETE for the refused Delete.
    assert_eq!((t.sim.count(Op::Put), t.sim.count(Op::Delete)), (0, 0));

    azurite.restart().await.unwrap();
    let (s, list) = t.get("/api/List").await;
    assert_eq!(s, StatusCode::OK, "recovered without a restart: {list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, _) = t.set_sessions(&[("rg", "alive", 4)]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        t.row("rg", "alive").await.unwrap().active_sessions.get(),
        4,
        "nothing half-written, the new write applied"
    );
    assert!(
        t.row("rg", "new").await.is_none(),
        "the refused Create left no row"
    );
}

/// Storage that comes back empty (the table is gone): the table is created
/// again on first use and reconcile re-adopts every group gamefleet tagged.
#[tokio::test]
async fn table_storage_lost_everything() {
    let mut azurite = Azurite::start().await.unwrap();
    let t = TestApp::spawn_with(Options {
        env: vec![("AzureWebJobsStorage".into(), azurite.connection_string())],
        ..Default::default()
    })
    .await;
    t.running("rg", "survivor").await;
    azurite.restart().await.unwrap(); // in memory: everything lost
    let (s, list) = t.get("/api/List?state=all").await;
    assert_eq!(
        (s, list.as_array().map(Vec::len)),
        (StatusCode::OK, Some(0)),
        "table re-created: {list}"
    );
    let report = t.app.reconcile().await.unwrap();
    assert_eq!(report.adopted, 1, "{report:?}");
    let row = t.row("rg", "survivor").await.unwrap();
    assert_eq!(row.state.as_str(), "Running");
    assert!(row.public_ip.is_some());
}

#[tokio::test]
async fn arm_timeouts_are_retried_then_compensated() {
    let mut o = Options::default();
    o.env.extend([
        ("ARM_TIMEOUT".into(), "300ms".into()),
        ("ARM_MAX_RETRIES".into(), "1".into()),
    ]);
    let t = TestApp::spawn_with(o).await;
    // Every PUT stalls past the timeout and then fails: nothing is created.
    t.sim.fail_next(
        FaultRule::new(Op::Put, 500, "InternalServerError", "late")
            .delay(Duration::from_secs(1))
            .times(2),
    );
    let (s, v) = t.create("rg", "slow").await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{v}");
    assert_eq!(v["error"]["code"], "ArmUnavailable");
    assert_eq!(t.sim.count(Op::Put), 2, "one retry");
    assert!(t.row("rg", "slow").await.is_none(), "no phantom");
    assert!(t.sim.group("rg", "slow").is_none(), "no orphan");
    // (A PUT that lands after our timeout leaves a tagged group without a row:
    // reconcile adopts it — tests/api/reconcile.rs.)
}

#[tokio::test]
async fn arm_refusing_connections() {
    let t = TestApp::spawn_with(Options {
        env: vec![
            ("ARM_MAX_RETRIES".into(), "2".into()),
            // Delete's claim is stale at once, so the GC after the outage resumes it.
            ("DELETE_LEASE".into(), "0s".into()),
        ],
        ..Default::default()
    })
    .await;
    t.running("rg", "up").await;
    t.sim.shutdown().await;
    let (s, v) = t.create("rg", "while-down").await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{v}");
    assert!(
        t.row("rg", "while-down").await.is_none(),
        "the Creating row was undone"
    );
    let (s, v) = t
        .post(
            "/api/Details",
            &json!({"resourceGroup": "rg", "containerGroupName": "up"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{v}");
    // Delete keeps the claim (Deleting) so GC finishes it once ARM is back.
    let (s, _) = t
        .post(
            "/api/Delete",
            &json!({"resourceGroup": "rg", "containerGroupName": "up"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    assert_eq!(t.row("rg", "up").await.unwrap().state.as_str(), "Deleting");
    // Reads that only need the table still work.
    assert_eq!(t.get("/api/List?state=all").await.0, StatusCode::OK);

    t.sim.resume().await.unwrap();
    let (s, rv) = t.gc().await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rv["deleted"], 1, "{rv}");
    assert!(t.sim.group("rg", "up").is_none() && t.row("rg", "up").await.is_none());
}
