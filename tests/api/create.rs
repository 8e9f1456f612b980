use crate::helpers::*;
use gamefleet_sim::{FaultRule, Op};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn create_writes_creating_then_puts_the_rest_shape_with_env_and_tag() {
    let t = TestApp::spawn().await;
    let (s, body) = t.create("Games", "srv-1").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["state"], "Creating");
    assert_eq!(body["resourceGroup"], "Games");
    assert_eq!(body["containerGroupName"], "srv-1");
    assert_eq!(body["location"], "westeurope");
    assert_eq!(body["activeSessions"], 0);

    let arm = t.sim.group("Games", "srv-1").expect("PUT reached ARM");
    let c = &arm["properties"]["containers"][0];
    assert_eq!(c["properties"]["image"], "gamefleet/sample-server:1");
    assert!(c.get("image").is_none(), "ARM got the REST shape");
    let env = c["properties"]["environmentVariables"].as_array().unwrap();
    let get = |n: &str| {
        env.iter()
            .find(|e| e["name"] == n)
            .map(|e| e["value"].clone())
    };
    assert_eq!(get("SERVER_NAME"), Some(json!("srv-1")));
    assert_eq!(get("RESOURCE_GROUP"), Some(json!("Games")));
    assert_eq!(get("CONTAINER_GROUP_NAME"), Some(json!("srv-1")));
    // The report URL carries the container's token: a secure value ARM never shows.
    assert_eq!(get("ACI_SET_SESSIONS_URL"), Some(Value::Null));
    assert_eq!(get("SET_SESSIONS_URL"), Some(Value::Null));
    let seen = t.sim.container_env("Games", "srv-1", "server").unwrap();
    let url = &seen
        .iter()
        .find(|(n, _)| n == "ACI_SET_SESSIONS_URL")
        .unwrap()
        .1;
    assert!(
        url.starts_with(&format!("{}/api/ReportSessions?token=", t.base)),
        "{url}"
    );
    assert_eq!(arm["tags"]["managed-by"], "gamefleet");

    // Then Event Grid (through the simulator) moves it to Running with its IP.
    let row = t.wait_state("Games", "srv-1", "Running").await;
    assert!(row.public_ip.is_some());
    assert_eq!(
        row.public_ip.as_deref(),
        t.sim.group("Games", "srv-1").unwrap()["properties"]["ipAddress"]["ip"].as_str()
    );
}

#[tokio::test]
async fn create_accepts_the_rest_shape_too() {
    let t = TestApp::spawn().await;
    let body = json!({
        "resourceGroup": "rg", "containerGroupName": "rest-1",
        "containerGroup": {"location": "eastus", "properties": {"osType": "Linux",
            "containers": [{"name": "c", "properties": {"image": "nginx", "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}}}}]}}
    });
    let (s, b) = t.post("/api/Create", &body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(
        t.sim.group("rg", "rest-1").unwrap()["properties"]["containers"][0]["properties"]["image"],
        "nginx"
    );
}

#[tokio::test]
async fn a_taken_name_answers_409_and_changes_nothing() {
    let t = TestApp::spawn().await;
    let first = t.running("rg", "dup").await;
    let puts = t.sim.count(Op::Put);
    let (s, b) = t.create("rg", "dup").await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["error"]["code"], "GroupExists");
    assert_eq!(t.sim.count(Op::Put), puts, "no second PUT");
    assert_eq!(t.row("rg", "dup").await.unwrap(), first, "row untouched");
}

#[tokio::test]
async fn a_group_made_outside_gamefleet_is_not_overwritten() {
    let t = TestApp::spawn().await;
    t.sim.insert_group(
        "rg",
        "theirs",
        json!({"location": "westeurope", "properties": {"osType": "Linux", "containers": []}}),
    );
    let puts = t.sim.count(Op::Put);
    let (s, b) = t.create("rg", "theirs").await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["error"]["code"], "GroupExistsInAzure");
    assert_eq!(t.sim.count(Op::Put), puts);
    assert!(
        t.row("rg", "theirs").await.is_none(),
        "the Creating row was undone"
    );
}

#[tokio::test]
async fn an_arm_rejection_marks_failed_with_the_reason_and_can_be_retried() {
    let t = TestApp::spawn().await;
    t.sim.fail_next(
        FaultRule::new(
            Op::Put,
            400,
            "InvalidImage",
            "The image 'x' is not accessible.",
        )
        .times(1),
    );
    let (s, b) = t.create("rg", "bad-img").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["code"], "InvalidImage");
    let row = t.row("rg", "bad-img").await.unwrap();
    assert_eq!(row.state.as_str(), "Failed");
    assert!(row
        .failure_reason
        .unwrap()
        .contains("The image 'x' is not accessible."));

    // The name is free again because ARM has no such group.
    let (s, b) = t.create("rg", "bad-img").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    t.wait_state("rg", "bad-img", "Running").await;
}

#[tokio::test]
async fn a_missing_resource_group_is_the_callers_404() {
    let mut o = Options::default();
    o.sim.resource_groups = Some(vec!["exists".into()]);
    let t = TestApp::spawn_with(o).await;
    let (s, b) = t.create("nope", "cg").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(b["error"]["code"], "ResourceGroupNotFound");
    assert_eq!(t.row("nope", "cg").await.unwrap().state.as_str(), "Failed");
}

#[tokio::test]
async fn throttled_arm_is_retried_honouring_retry_after() {
    let t = TestApp::spawn().await;
    t.sim.fail_next(
        FaultRule::new(Op::Put, 429, "TooManyRequests", "slow down")
            .retry_after(1)
            .times(2),
    );
    let started = std::time::Instant::now();
    let (s, b) = t.create("rg", "slow").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "waited the two Retry-After seconds"
    );
    assert_eq!(t.sim.count(Op::Put), 3);
}

#[tokio::test]
async fn arm_down_after_retries_removes_the_row_and_answers_502() {
    let t = TestApp::spawn_with(Options {
        env: vec![("ARM_MAX_RETRIES".into(), "1".into())],
        ..Options::default()
    })
    .await;
    t.sim
        .fail_next(FaultRule::new(Op::Put, 500, "InternalServerError", "boom").times(10));
    let (s, b) = t.create("rg", "down").await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{b}");
    assert_eq!(b["error"]["code"], "ArmUnavailable");
    assert!(t.row("rg", "down").await.is_none(), "no phantom row");
    assert!(t.sim.group("rg", "down").is_none(), "no orphan group");
}
