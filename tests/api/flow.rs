use crate::helpers::*;
use reqwest::StatusCode;

/// The matchmaker's day: Create → (Event Grid) Running → List → SetSessions →
/// SetState → GC: the empty marked server is deleted, the busy one kept.
#[tokio::test]
async fn create_run_report_mark_collect() {
    let t = TestApp::spawn().await;
    for n in ["alpha", "bravo"] {
        let (s, v) = t.create("arena", n).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    t.wait_state("arena", "alpha", "Running").await;
    t.wait_state("arena", "bravo", "Running").await;

    let (s, list) = t.get("/api/List").await;
    assert_eq!(s, StatusCode::OK);
    let ips: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["publicIp"].as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 2);
    assert_ne!(ips[0], ips[1]);

    let (s, _) = t
        .set_sessions(&[("arena", "alpha", 0), ("arena", "bravo", 8)])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        t.set_state("arena", "alpha", "MarkedForDeletion").await.0,
        StatusCode::OK
    );
    assert_eq!(
        t.set_state("arena", "bravo", "MarkedForDeletion").await.0,
        StatusCode::OK
    );

    let (s, report) = t.gc().await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(report["deleted"], 1, "{report}");
    assert!(
        t.sim.group("arena", "alpha").is_none(),
        "empty server deleted"
    );
    assert!(t.row("arena", "alpha").await.is_none());
    assert!(t.sim.group("arena", "bravo").is_some(), "busy server kept");
    assert_eq!(
        t.row("arena", "bravo").await.unwrap().active_sessions.get(),
        8
    );
    // List shows only Running: bravo is marked, so nothing.
    assert_eq!(t.get("/api/List").await.1.as_array().unwrap().len(), 0);
    assert_eq!(
        t.get("/api/List?state=MarkedForDeletion")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
