//! Health: a server's own ReportSessions is its heartbeat. With
//! `HEALTH_TIMEOUT`, one that reported once and then went silent is
//! Unhealthy: out of List's Running view and of Allocate, marked and
//! collected by GC when it holds nobody, left alone while it holds players. SetSessions from the matchmaker is no heartbeat.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn with_slots(t: &TestApp, name: &str) {
    let mut body = create_body("arena", name);
    body["maxSessions"] = json!(8);
    let (s, v) = t.post("/api/Create", &body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    t.wait_state("arena", name, "Running").await;
}

fn names(list: &Value) -> Vec<String> {
    let mut n: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["containerGroupName"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn a_silent_server_is_unhealthy_left_out_and_collected_only_when_empty() {
    let t = TestApp::spawn_with(Options {
        env: vec![("HEALTH_TIMEOUT".into(), "1s".into())],
        ..Default::default()
    })
    .await;
    for n in ["alive", "silent", "busy", "quiet", "fed"] {
        with_slots(&t, n).await;
    }
    t.report("arena", "silent", 0).await;
    t.report("arena", "busy", 3).await;
    t.report("arena", "fed", 0).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // alive keeps reporting, as a live game server does (every 200 ms, so a
    // loaded machine never makes it look silent); fed only gets SetSessions
    // from the matchmaker (no heartbeat).
    t.report("arena", "alive", 1).await;
    let heartbeat = {
        let token = t.app.keyring.issue(&key("arena", "alive")).await.unwrap();
        let (http, url) = (t.http.clone(), format!("{}/api/ReportSessions", t.base));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"resourceGroup": "arena", "containerGroupName": "alive", "activeSessions": 1}))
                    .send()
                    .await;
            }
        })
    };
    t.set_sessions(&[("arena", "fed", 0)]).await;

    let (_, list) = t.get("/api/List").await;
    assert_eq!(
        names(&list),
        ["alive", "quiet"],
        "Running view: healthy and never-reported: {list}"
    );
    let (_, all) = t.get("/api/List?state=all").await;
    let health = |n: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|g| g["containerGroupName"] == n)
            .unwrap()["health"]
            .clone()
    };
    assert_eq!(
        [
            health("alive"),
            health("silent"),
            health("busy"),
            health("quiet"),
            health("fed")
        ],
        [
            json!("healthy"),
            json!("unhealthy"),
            json!("unhealthy"),
            json!("unknown"),
            json!("unhealthy")
        ]
    );

    // Allocate never picks an unhealthy server.
    for i in 0..6 {
        let (s, v) = t
            .post("/api/Allocate", &json!({"requestId": format!("h{i}")}))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let name = v["containerGroupName"].as_str().unwrap();
        assert!(name == "alive" || name == "quiet", "{v}");
    }

    // GC marks the empty unhealthy ones and collects them in the same run;
    // busy (3 players) stays.
    let (_, r) = t.gc().await;
    assert_eq!(
        (r["unhealthyMarked"].as_u64(), r["deleted"].as_u64()),
        (Some(2), Some(2)),
        "{r}"
    );
    assert!(t.sim.group("arena", "silent").is_none() && t.sim.group("arena", "fed").is_none());
    assert_eq!(
        t.row("arena", "busy").await.unwrap().state.as_str(),
        "Running"
    );
    assert!(
        t.sim.group("arena", "busy").is_some(),
        "players are never dropped for silence"
    );
    assert!(t.row("arena", "alive").await.is_some() && t.row("arena", "quiet").await.is_some());
    heartbeat.abort();
}

#[tokio::test]
async fn without_a_health_timeout_nothing_is_judged() {
    let t = TestApp::spawn().await;
    with_slots(&t, "old-image").await;
    t.report("arena", "old-image", 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, list) = t.get("/api/List").await;
    assert_eq!(names(&list), ["old-image"]);
    assert_eq!(list[0]["health"], "healthy", "{list}");
    let (_, r) = t.gc().await;
    assert_eq!(r["unhealthyMarked"], 0, "{r}");
}
