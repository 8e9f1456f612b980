use crate::helpers::*;
use gamefleet::fleet::{ActiveSessions, GroupRecord, GroupState};
use reqwest::StatusCode;
use serde_json::Value;

/// Seed rows straight into the table (the list tests are about reading).
async fn seed(t: &TestApp, rg: &str, n: usize, state: GroupState) {
    use futures::stream::{self, StreamExt};
    stream::iter(0..n)
        .for_each_concurrent(32, |i| async move {
            let mut r = GroupRecord::creating(
                key(rg, &format!("s-{i:05}")),
                "westeurope".into(),
                chrono::Utc::now(),
            );
            r.state = state;
            r.active_sessions = ActiveSessions::new((i % 7) as u32).unwrap();
            r.public_ip = Some(format!("10.0.{}.{}", i / 250, i % 250));
            t.store().insert(&r).await.unwrap();
        })
        .await;
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|g| g["containerGroupName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn lists_running_by_default_every_page() {
    let t = TestApp::spawn().await;
    seed(&t, "big", 2500, GroupState::Running).await;
    seed(&t, "other", 30, GroupState::MarkedForDeletion).await;
    let (s, v) = t.get("/api/List").await;
    assert_eq!(s, StatusCode::OK);
    let got = names(&v);
    assert_eq!(got.len(), 2500, "no 1000-row cap");
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 2500, "no duplicates");
    let first = &v[0];
    for field in [
        "resourceGroup",
        "containerGroupName",
        "state",
        "publicIp",
        "activeSessions",
        "location",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    assert_eq!(first["state"], "Running");
}

#[tokio::test]
async fn filters_by_state_and_resource_group_with_get_or_post() {
    let t = TestApp::spawn().await;
    seed(&t, "a", 3, GroupState::Running).await;
    seed(&t, "b", 2, GroupState::Running).await;
    seed(&t, "c", 4, GroupState::MarkedForDeletion).await;
    assert_eq!(
        names(&t.get("/api/List?state=MarkedForDeletion").await.1).len(),
        4
    );
    assert_eq!(names(&t.get("/api/List?state=all").await.1).len(), 9);
    assert_eq!(
        names(&t.get("/api/List?resourceGroup=B").await.1).len(),
        2,
        "resource groups are case-insensitive"
    );
    assert_eq!(
        names(
            &t.post("/api/List?state=Running", &serde_json::json!({}))
                .await
                .1
        )
        .len(),
        5
    );
    assert_eq!(
        names(&t.get("/api/list").await.1).len(),
        5,
        "the host routes case-insensitively"
    );
    let (s, e) = t.get("/api/List?state=running").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MarkedForDeletion"),
        "{e}"
    );
}

/// List streams the table's pages into its answer: thousands of rows over
/// several pages and resource groups come back each exactly once, in key
/// order, each in the shape every function shows a group in, plus `health`.
#[tokio::test]
async fn a_streamed_list_has_every_row_once_in_key_order_and_shape() {
    let t = TestApp::spawn().await;
    seed(&t, "zeta", 1500, GroupState::Running).await;
    seed(&t, "Alpha", 1200, GroupState::MarkedForDeletion).await;
    seed(&t, "mid", 800, GroupState::Running).await;
    let (s, v) = t.get("/api/List?state=all").await;
    assert_eq!(s, StatusCode::OK);
    let got: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["resourceGroup"].as_str().unwrap().to_lowercase(),
                g["containerGroupName"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got.len(), 3500);
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        got, sorted,
        "every row once, sorted by resource group then name"
    );

    let now = chrono::Utc::now();
    let stored = t
        .store()
        .list(&gamefleet::ports::ListQuery::ByState {
            state: None,
            resource_group: None,
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 3500);
    for (item, row) in v.as_array().unwrap().iter().zip(&stored) {
        let r = &row.value;
        let mut want = serde_json::json!(r.view());
        want["health"] = serde_json::json!(r.capacity.health(now, None));
        assert_eq!(item, &want);
    }
    // The filters still apply page by page.
    assert_eq!(names(&t.get("/api/List").await.1).len(), 2300);
    assert_eq!(
        names(&t.get("/api/List?resourceGroup=ALPHA&state=all").await.1).len(),
        1200
    );
}

/// A store that fails before List has read its first page answers the usual
/// JSON error with its status, not a 200 with a broken body.
#[tokio::test]
async fn a_store_failure_before_the_first_page_is_a_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut azurite = gamefleet_sim::azurite::Azurite::start_on_disk(dir.path())
        .await
        .unwrap();
    let t = TestApp::spawn_with(Options {
        env: vec![("AzureWebJobsStorage".into(), azurite.connection_string())],
        ..Default::default()
    })
    .await;
    seed(&t, "rg", 5, GroupState::Running).await;
    azurite.stop().await;
    let r = t
        .http
        .get(format!("{}/api/List?state=all", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["code"].is_string(), "{v}");
    azurite.restart().await.unwrap();
    assert_eq!(names(&t.get("/api/List?state=all").await.1).len(), 5);
}
