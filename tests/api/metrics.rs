//! GET /api/Metrics: the fleet's gauges come from the table (exact, whatever
//! instance answers), the counters move with what this process did, and the
//! route is behind the key.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

const KEY: &str = "metrics-key-0123456789";

async fn keyed() -> TestApp {
    let mut o = Options::default();
    o.env.push(("GAMEFLEET_API_KEYS".into(), KEY.into()));
    TestApp::spawn_with(o).await
}

async fn scrape(t: &TestApp) -> String {
    let r = t
        .http
        .get(format!("{}/api/Metrics", t.base))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = r.text().await.unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "one OpenMetrics exposition: {text}"
    );
    assert_eq!(text.matches("# EOF").count(), 1);
    text
}

/// The sum of the samples of `name` whose labels include every one of `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            (n == name && labels.iter().all(|want| rest.contains(want))).then_some(v)
        })
        .map(|v| v.parse::<f64>().unwrap())
        .sum()
}

async fn post(t: &TestApp, path: &str, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    let r = t
        .http
        .post(format!("{}{path}", t.base))
        .header("X-API-Key", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or_default())
}

async fn server(t: &TestApp, rg: &str, name: &str, location: &str) {
    let mut body = create_body(rg, name);
    body["maxSessions"] = json!(10);
    body["containerGroup"]["location"] = json!(location);
    let (s, v) = post(t, "/api/Create", body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    t.wait_state(rg, name, "Running").await;
}

#[tokio::test]
async fn metrics_count_the_fleet_by_state_and_region_and_what_this_process_did() {
    // Open (no GAMEFLEET_API_KEYS): the simulator's Event Grid deliveries
    // reach /Monitor without a key, as the host's do. The key sent is ignored.
    let t = TestApp::spawn().await;
    let before = scrape(&t).await;
    server(&t, "m-arena", "we-1", "westeurope").await;
    server(&t, "m-arena", "we-2", "westeurope").await;
    server(&t, "m-arena", "us-1", "eastus").await;
    let (s, _) = post(
        &t,
        "/api/SetSessions",
        json!([{"resourceGroup": "m-arena", "containerGroupName": "we-1", "activeSessions": 4}]),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = post(
        &t,
        "/api/SetState",
        json!({"resourceGroup": "m-arena", "containerGroupName": "we-2", "state": "MarkedForDeletion"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let alloc = |id: &str, players: u32| json!({"requestId": id, "players": players, "regions": ["eastus"], "resourceGroup": "m-arena"});
    let (s, v) = post(&t, "/api/Allocate", alloc("match-1", 3)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = post(&t, "/api/Allocate", alloc("match-1", 3)).await;
    assert_eq!(s, StatusCode::OK, "the same request again");
    let (s, v) = post(&t, "/api/Allocate", alloc("match-2", 50)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");

    let text = scrape(&t).await;
    let count = "gamefleet_gameservers_count";
    assert_eq!(
        value(
            &text,
            count,
            &[r#"state="Running""#, r#"region="westeurope""#]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            count,
            &[r#"state="MarkedForDeletion""#, r#"region="westeurope""#]
        ),
        1.0
    );
    assert_eq!(
        value(&text, count, &[r#"state="Running""#, r#"region="eastus""#]),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "gamefleet_gameservers_sessions",
            &[r#"region="westeurope""#]
        ),
        4.0
    );
    assert_eq!(
        value(
            &text,
            "gamefleet_gameservers_reserved",
            &[r#"region="eastus""#]
        ),
        3.0
    );

    // Counters are this process's (other tests share it): they moved at least by ours.
    let moved =
        |name: &str, labels: &[&str]| value(&text, name, labels) - value(&before, name, labels);
    assert!(moved("gamefleet_allocations_total", &[r#"result="Allocated""#]) >= 1.0);
    assert!(moved("gamefleet_allocations_total", &[r#"result="Repeated""#]) >= 1.0);
    assert!(moved("gamefleet_allocations_total", &[r#"result="UnAllocated""#]) >= 1.0);
    assert!(
        moved(
            "gamefleet_allocation_duration_seconds_count",
            &[r#"result="Allocated""#]
        ) >= 1.0
    );
    assert!(
        moved(
            "gamefleet_provider_requests_total",
            &[r#"provider="ARM""#, r#"code="2xx""#]
        ) >= 3.0,
        "three Creates went to ARM"
    );
    assert!(
        moved(
            "gamefleet_provider_request_duration_seconds_count",
            &[r#"provider="ARM""#]
        ) >= 3.0
    );
    assert!(
        text.contains(r#"instance=""#),
        "process counters name their instance"
    );

    // GC collects the marked, empty one: counted, and the gauge follows.
    let before_gc = value(
        &text,
        "gamefleet_gc_deletions_total",
        &[r#"result="deleted""#],
    );
    let env = gamefleet_sim::events::timer_envelope("timer", false);
    let r = t
        .http
        .post(format!("{}/GC", t.base))
        .header("X-API-Key", KEY)
        .json(&env)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after = scrape(&t).await;
    assert!(
        value(
            &after,
            "gamefleet_gc_deletions_total",
            &[r#"result="deleted""#]
        ) >= before_gc + 1.0
    );
    assert_eq!(value(&after, count, &[r#"state="MarkedForDeletion""#]), 0.0);
}

#[tokio::test]
async fn metrics_need_the_key() {
    let t = keyed().await;
    for key in [None, Some("wrong-key-0123456789")] {
        let mut r = t.http.get(format!("{}/api/Metrics", t.base));
        if let Some(k) = key {
            r = r.header("X-API-Key", k);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "Unauthorized");
    }
}
