//! `huawei-ecs` through the Power function against the Huawei simulator, which
//! recomputes every request's SDK-HMAC-SHA256 signature: start, stop (SOFT and
//! HARD), toggle, status, jobs followed to SUCCESS or FAIL, throttling retried,
//! wrong keys → 502, unknown servers → 404, transitional → refused, deadline → timedOut.

use crate::helpers::*;
use gamefleet_sim::huawei::{HuaweiFaultRule, HuaweiKey, HuaweiOp, HuaweiSim, HuaweiSimConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const AK: &str = "GAMEFLEETTESTAK0001";
const SK: &str = "gamefleet-test-secret-key-0001";

async fn stack(extra: &[(&str, &str)]) -> (TestApp, HuaweiSim) {
    let sim = HuaweiSim::start(HuaweiSimConfig {
        transition_time: Duration::from_millis(150),
        hard_stop_time: Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .unwrap();
    sim.add_key(HuaweiKey::permanent(AK, SK));
    let mut env: Vec<(String, String)> = vec![
        ("HUAWEICLOUD_SDK_AK".into(), AK.into()),
        ("HUAWEICLOUD_SDK_SK".into(), SK.into()),
        (
            "HUAWEICLOUD_SDK_PROJECT_ID".into(),
            sim.project_id().to_owned(),
        ),
        ("HUAWEICLOUD_ECS_ENDPOINT".into(), sim.endpoint()),
        ("HUAWEICLOUD_CCE_ENDPOINT".into(), sim.endpoint()),
    ];
    for (k, v) in extra {
        env.retain(|(e, _)| e != k);
        env.push(((*k).into(), (*v).into()));
    }
    let t = TestApp::spawn_with(Options {
        env,
        ..Default::default()
    })
    .await;
    (t, sim)
}

async fn power(t: &TestApp, action: &str, server: &str, extra: Value) -> (StatusCode, Value) {
    let mut body = json!({"action": action, "provider": "huawei-ecs", "resource": server,
        "pollIntervalSeconds": 0.05, "maxWaitSeconds": 10});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    t.post("/api/Power", &body).await
}

#[tokio::test]
async fn start_stop_toggle_and_status_follow_the_job() {
    let (t, sim) = stack(&[]).await;
    let id = sim.add_server("game-1", "SHUTOFF");
    let (s, v) = power(&t, "start", &id, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["result"].as_str(),
            v["seen"].as_str(),
            v["reached"].as_str()
        ),
        (Some("succeeded"), Some("SHUTOFF"), Some("ACTIVE")),
        "{v}"
    );
    assert_eq!(sim.server(&id).unwrap().status, "ACTIVE");
    let (s, v) = power(&t, "start", &id, json!({})).await;
    assert_eq!(
        (s, v["result"].as_str()),
        (StatusCode::OK, Some("noAction")),
        "{v}"
    );
    let (s, v) = power(&t, "status", &id, json!({})).await;
    assert_eq!(
        (s, v["result"].as_str(), v["seen"].as_str()),
        (StatusCode::OK, Some("reported"), Some("ACTIVE")),
        "{v}"
    );
    let (s, v) = power(&t, "toggle", &id, json!({})).await;
    assert_eq!(
        (s, v["reached"].as_str()),
        (StatusCode::OK, Some("SHUTOFF")),
        "{v}"
    );
    let (s, v) = power(&t, "toggle", &id, json!({})).await;
    assert_eq!(
        (s, v["reached"].as_str()),
        (StatusCode::OK, Some("ACTIVE")),
        "{v}"
    );
    // restart: a batch reboot, followed until the server is back.
    let (s, v) = power(&t, "restart", &id, json!({})).await;
    assert_eq!(
        (s, v["result"].as_str(), v["reached"].as_str()),
        (StatusCode::OK, Some("succeeded"), Some("ACTIVE")),
        "{v}"
    );
    assert_eq!(sim.count(HuaweiOp::BatchRebootServers), 1);
    // The seed's "type" per request: HARD for this stop.
    let (s, v) = power(&t, "stop", &id, json!({"type": "HARD"})).await;
    assert_eq!(
        (s, v["reached"].as_str()),
        (StatusCode::OK, Some("SHUTOFF")),
        "{v}"
    );
    let (s, _) = power(&t, "start", &id, json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        sim.stop_types().last().map(String::as_str),
        Some("HARD"),
        "{:?}",
        sim.stop_types()
    );
    let (s, v) = power(&t, "stop", &id, json!({"type": "GENTLE"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // The batch action asked for a SOFT stop (the default).
    assert_eq!(sim.stop_types()[0], "SOFT", "the configured default");
}

#[tokio::test]
async fn hard_stops_and_a_failed_job_is_a_failure_with_its_reason() {
    let (t, sim) = stack(&[("HUAWEICLOUD_STOP_TYPE", "HARD")]).await;
    let id = sim.add_server("game-2", "ACTIVE");
    let (s, v) = power(&t, "stop", &id, json!({})).await;
    assert_eq!(
        (s, v["reached"].as_str()),
        (StatusCode::OK, Some("SHUTOFF")),
        "{v}"
    );
    sim.fail_next_action(&id, "Ecs.0010: the host is out of capacity");
    let (s, v) = power(&t, "start", &id, json!({})).await;
    assert_eq!(
        (s, v["result"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("failed")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("out of capacity"),
        "{v}"
    );
}

#[tokio::test]
async fn provider_errors_are_clear() {
    let (t, sim) = stack(&[]).await;
    let id = sim.add_server("game-3", "SHUTOFF");
    // Unknown server → 404; an id of the wrong shape → 400 before anything is sent.
    let (s, v) = power(
        &t,
        "start",
        "4d5a1b2c-0000-4000-8000-00000000dead",
        json!({}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("ResourceNotFound")),
        "{v}"
    );
    let before = sim.requests().len();
    let (s, v) = power(&t, "start", "..", json!({})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidResource")),
        "{v}"
    );
    assert_eq!(sim.requests().len(), before, "nothing sent");
    // Throttled twice, then through.
    sim.fail_next(HuaweiFaultRule::throttled(HuaweiOp::ShowServer).times(2));
    let (s, v) = power(&t, "status", &id, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A transitional server is refused; a short deadline times out.
    sim.set_status(&id, "REBOOT");
    let (s, v) = power(&t, "start", &id, json!({})).await;
    assert_eq!(
        (s, v["result"].as_str()),
        (StatusCode::CONFLICT, Some("refused")),
        "{v}"
    );
    sim.set_status(&id, "SHUTOFF");
    let (s, v) = power(&t, "start", &id, json!({"maxWaitSeconds": 0.05})).await;
    assert_eq!(
        (s, v["result"].as_str()),
        (StatusCode::GATEWAY_TIMEOUT, Some("timedOut")),
        "{v}"
    );
}

#[tokio::test]
async fn a_key_the_cloud_rejects_is_a_502_and_the_process_keeps_serving() {
    let (t, sim) = stack(&[("HUAWEICLOUD_SDK_SK", "not-the-secret")]).await;
    let id = sim.add_server("game-4", "SHUTOFF");
    let (s, v) = power(&t, "status", &id, json!({})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (
            StatusCode::BAD_GATEWAY,
            Some("ProviderAuthenticationFailed")
        ),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("APIGW.0301"), "{v}");
    assert!(!v.to_string().contains("not-the-secret"));
    assert_eq!(t.get("/api/List").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_cce_cluster_or_a_list_starts_in_one_batch_with_one_outcome_per_server() {
    let (t, sim) = stack(&[]).await;
    let ids: Vec<String> = (0..3)
        .map(|i| sim.add_server(&format!("node-{i}"), "SHUTOFF"))
        .collect();
    let cluster = sim.add_cluster(&ids);
    let (s, v) = t
        .post(
            "/api/Power",
            &json!({"action": "start", "provider": "huawei-ecs", "selector": {"clusterId": cluster},
                    "pollIntervalSeconds": 0.05, "maxWaitSeconds": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["result"].as_str(), v["status"].as_str()),
        (Some("succeeded"), Some("success")),
        "{v}"
    );
    let targets = v["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3, "{v}");
    for tg in targets {
        assert_eq!(
            (tg["result"].as_str(), tg["reached"].as_str()),
            (Some("succeeded"), Some("ACTIVE")),
            "{tg}"
        );
    }
    assert_eq!(v["data"]["server_list"].as_array().unwrap().len(), 3);
    assert!(
        v["data"]["server_list"][0]["server_name"]
            .as_str()
            .unwrap()
            .contains("node-"),
        "{v}"
    );
    assert_eq!(
        sim.count(HuaweiOp::BatchStartServers),
        1,
        "one batch call for the whole cluster"
    );

    // A list: one server already stopped, one fails its sub-job; the overall result is the worst.
    let (s, _) = power(&t, "stop", &ids[0], json!({})).await;
    assert_eq!(s, StatusCode::OK);
    sim.fail_next_action(&ids[1], "Ecs.0010: the host is busy");
    let (s, v) = t
        .post(
            "/api/Power",
            &json!({"action": "stop", "provider": "huawei-ecs", "resources": [ids[0], ids[1], ids[2]],
                    "pollIntervalSeconds": 0.05, "maxWaitSeconds": 10}),
        )
        .await;
    assert_eq!(
        (s, v["result"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("failed")),
        "{v}"
    );
    let by: Vec<(&str, &str)> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tg| {
            (
                tg["resource"].as_str().unwrap(),
                tg["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by,
        vec![
            (ids[0].as_str(), "noAction"),
            (ids[1].as_str(), "failed"),
            (ids[2].as_str(), "succeeded")
        ],
        "{v}"
    );
    // Bad sets are refused before anything is sent.
    let before = sim.requests().len();
    for body in [
        json!({"action": "start", "provider": "huawei-ecs", "resources": []}),
        json!({"action": "start", "provider": "huawei-ecs", "resources": [ids[0], ".."]}),
        json!({"action": "start", "provider": "huawei-ecs", "resources": [ids[0], ids[0]]}),
        json!({"action": "start", "provider": "huawei-ecs", "selector": {"clusterId": "../x"}}),
        json!({"action": "start", "provider": "huawei-ecs", "selector": {"clusterId": cluster}, "resource": ids[0]}),
    ] {
        let (s, v) = t.post("/api/Power", &body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    assert_eq!(sim.requests().len(), before);
}
