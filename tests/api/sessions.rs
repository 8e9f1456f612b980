use crate::helpers::*;
use gamefleet::fleet::{GroupRecord, GroupState};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn sets_counts_and_answers_200_when_all_applied() {
    let t = TestApp::spawn().await;
    t.running("rg", "a").await;
    t.running("rg", "b").await;
    t.running("rg2", "c").await;
    let (s, v) = t
        .set_sessions(&[("rg", "a", 3), ("rg", "b", 0), ("rg2", "c", 12)])
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| r["applied"] == true));
    assert_eq!(t.row("rg", "a").await.unwrap().active_sessions.get(), 3);
    assert_eq!(t.row("rg", "b").await.unwrap().active_sessions.get(), 0);
    assert_eq!(t.row("rg2", "c").await.unwrap().active_sessions.get(), 12);
    // Other columns survive the merge.
    assert_eq!(t.row("rg", "a").await.unwrap().state, GroupState::Running);
    assert!(t.row("rg", "a").await.unwrap().public_ip.is_some());
}

#[tokio::test]
async fn unknown_and_deleting_groups_fail_alone_with_207() {
    let t = TestApp::spawn().await;
    t.running("rg", "ok-1").await;
    t.running("rg", "ok-2").await;
    // A group GC is deleting right now.
    let mut deleting =
        GroupRecord::creating(key("rg", "going"), "westeurope".into(), chrono::Utc::now());
    deleting.state = GroupState::Deleting;
    t.store().insert(&deleting).await.unwrap();

    let (s, v) = t
        .set_sessions(&[
            ("rg", "ok-1", 4),
            ("rg", "ghost", 1),
            ("rg", "going", 2),
            ("rg", "ok-2", 5),
        ])
        .await;
    assert_eq!(s, StatusCode::MULTI_STATUS, "{v}");
    let r = v["results"].as_array().unwrap();
    assert_eq!(r[0]["applied"], true);
    assert_eq!(r[1]["applied"], false);
    assert_eq!(r[1]["error"]["code"], "GroupNotFound");
    assert_eq!(r[2]["applied"], false);
    assert_eq!(r[2]["error"]["code"], "GroupDeleting");
    assert_eq!(r[3]["applied"], true);
    assert_eq!(r[3]["containerGroupName"], "ok-2");
    assert_eq!(t.row("rg", "ok-1").await.unwrap().active_sessions.get(), 4);
    assert_eq!(t.row("rg", "ok-2").await.unwrap().active_sessions.get(), 5);
    assert_eq!(t.row("rg", "going").await.unwrap().active_sessions.get(), 0);
    assert!(t.row("rg", "ghost").await.is_none());
}

#[tokio::test]
async fn hundreds_of_groups_in_one_partition_are_written_in_batches() {
    let t = TestApp::spawn().await;
    let n = 250;
    for i in 0..n {
        let mut r = GroupRecord::creating(
            key("big", &format!("g-{i:04}")),
            "westeurope".into(),
            chrono::Utc::now(),
        );
        r.state = GroupState::Running;
        t.store().insert(&r).await.unwrap();
    }
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| json!({"resourceGroup": "big", "containerGroupName": format!("g-{i:04}"), "activeSessions": i % 9}))
        .collect();
    let (s, v) = t.post("/api/SetSessions", &json!(items)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rows = t.app.list(None, None).await.unwrap();
    assert_eq!(rows.len(), n);
    for r in rows {
        let i: usize = r.key.name.as_str()[2..].parse().unwrap();
        assert_eq!(r.active_sessions.get() as usize, i % 9, "{}", r.key);
    }
}

#[tokio::test]
async fn concurrent_writers_to_one_group_never_lose_an_acknowledged_write() {
    let t = TestApp::spawn().await;
    t.running("rg", "hot").await;
    // 20 writers, each acknowledged in turn; the stored value must be the last acknowledged one.
    let acks = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for n in 1..=20u32 {
        let (base, acks) = (t.base.clone(), acks.clone());
        tasks.push(tokio::spawn(async move {
            let body =
                json!([{"resourceGroup": "rg", "containerGroupName": "hot", "activeSessions": n}]);
            let r = reqwest::Client::new()
                .post(format!("{base}/api/SetSessions"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let v: serde_json::Value = r.json().await.unwrap();
            if v["results"][0]["applied"] == true {
                acks.lock().await.push(n);
            }
            (status, v)
        }));
    }
    for task in tasks {
        let (status, v) = task.await.unwrap();
        assert!(
            status == StatusCode::OK || v["results"][0]["error"]["code"] == "ConcurrentUpdate",
            "{status} {v}"
        );
    }
    let acks = acks.lock().await;
    assert!(!acks.is_empty());
    let stored = t.row("rg", "hot").await.unwrap().active_sessions.get();
    assert_eq!(Some(&stored), acks.last(), "acks in order {acks:?}");
}
