//! The Power function driving Azure container groups through the lifecycle core.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn power(action: &str, resource: &str) -> Value {
    json!({"action": action, "provider": "aci", "resource": resource, "pollIntervalSeconds": 0.05, "maxWaitSeconds": 10})
}

#[tokio::test]
async fn stop_then_start_a_container_group() {
    let t = TestApp::spawn().await;
    t.running("rg", "pw").await;
    let id = format!("/subscriptions/{}/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/pw", t.sim.subscription_id());

    let (s, v) = t.post("/api/Power", &power("stop", &id)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["message"],
        "Container group has been successfully stopped."
    );
    assert_eq!(v["result"], "succeeded");
    assert_eq!(v["seen"], "Running");
    assert_eq!(v["reached"], "Stopped");
    assert_eq!(
        t.sim.group("rg", "pw").unwrap()["properties"]["instanceView"]["state"],
        "Stopped"
    );

    let (s, v) = t.post("/api/Power", &power("stop", "rg/pw")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["message"],
        "Container group is already Stopped. No action taken."
    );
    assert_eq!(v["result"], "noAction");

    let (s, v) = t.post("/api/Power", &power("toggle", "rg/pw")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["message"],
        "Container group has been successfully started."
    );
    assert_eq!(v["command"], "start");
    assert_eq!(
        t.sim.group("rg", "pw").unwrap()["properties"]["instanceView"]["state"],
        "Running"
    );

    let (s, v) = t.post("/api/Power", &power("status", "rg/pw")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "Container group is Running.");

    let restarts = t.sim.count(gamefleet_sim::Op::Restart);
    let (s, v) = t.post("/api/Power", &power("restart", "rg/pw")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["message"],
        "Container group has been successfully restarted."
    );
    assert_eq!(t.sim.count(gamefleet_sim::Op::Restart), restarts + 1);
}

#[tokio::test]
async fn a_transitional_group_is_left_alone_and_a_short_wait_times_out() {
    let mut o = Options::default();
    o.sim.provisioning_delay = std::time::Duration::from_secs(30);
    let t = TestApp::spawn_with(o).await;
    let (s, _) = t.create("rg", "slowpoke").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, v) = t.post("/api/Power", &power("start", "rg/slowpoke")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        v["message"],
        "Container group is in Pending state. Cannot start now."
    );
    assert_eq!(v["error"]["code"], "StateConflict");

    // A group that is stopped and takes longer to start than we wait.
    t.sim.insert_group("rg", "late", json!({"location": "westeurope", "properties": {"osType": "Linux", "containers": [
        {"name": "c", "properties": {"image": "i", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}}]}}));
    let (s, _) = t.post("/api/Power", &power("stop", "rg/late")).await;
    assert_eq!(s, StatusCode::OK);
    let mut body = power("start", "rg/late");
    body["maxWaitSeconds"] = json!(0.2);
    let (s, v) = t.post("/api/Power", &body).await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["result"], "timedOut");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Instance did not reach Running within 0s. Last state: "),
        "{v}"
    );
}

#[tokio::test]
async fn power_refuses_bad_requests_and_reports_missing_groups() {
    let t = TestApp::spawn().await;
    let (s, v) = t
        .post(
            "/api/Power",
            &json!({"action": "reboot", "provider": "aci", "resource": "rg/x"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "InvalidAction");
    assert_eq!(
        v["error"]["message"],
        "Invalid action 'reboot'. Must be 'start', 'stop', 'toggle', 'restart' or 'status'."
    );
    let (s, v) = t
        .post(
            "/api/Power",
            &json!({"action": "start", "provider": "gcp", "resource": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = t
        .post(
            "/api/Power",
            &json!({"action": "start", "provider": "aci", "resource": "not-an-id"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "InvalidResource");
    let (s, v) = t.post("/api/Power", &power("start", "rg/ghost")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], "ResourceNotFound");
}

#[tokio::test]
async fn an_oci_container_instance_named_by_a_vault_secret() {
    use gamefleet_sim::oci::{api_key_identity, OciSim, OciSimConfig};
    let oci = OciSim::start(OciSimConfig {
        transition_time: std::time::Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let t = TestApp::spawn_with(Options {
        env: api_key_identity(&oci, home.path()).unwrap(),
        ..Default::default()
    })
    .await;
    let ci = oci.add_container_instance("arena-eu", "INACTIVE");
    let secret = oci.add_secret(&ci);
    let body = json!({"action": "start", "provider": "oci-container-instance", "secretId": secret, "pollIntervalSeconds": 0.05, "maxWaitSeconds": 10});
    let (s, v) = t.post("/api/Power", &body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["message"],
        "Container instance has been successfully started."
    );
    assert_eq!(v["resource"], ci.as_str());
    assert_eq!(oci.container_instance_state(&ci).as_deref(), Some("ACTIVE"));
    // Every OCI request was signed by the configured key.
    assert!(
        oci.requests().iter().all(|r| r.key_id.is_some()),
        "{:?}",
        oci.requests()
    );

    let body = json!({"action": "start", "provider": "oci-container-instance", "secretId": "ocid1.vaultsecret.oc1.iad.nope"});
    let (s, v) = t.post("/api/Power", &body).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Failed to retrieve the OCID from the vault secret."),
        "{v}"
    );
}

#[tokio::test]
async fn odd_resource_ids_never_reach_arm() {
    let t = TestApp::spawn().await;
    t.sim.reset_counts();
    for bad in ["../x", "rg/..", "rg/a%2Fb", "rg/UPPER", "/subscriptions/s/resourceGroups/../providers/Microsoft.ContainerInstance/containerGroups/x"] {
        let (s, v) = t.post("/api/Power", &power("status", bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_eq!(v["error"]["code"], "InvalidResource", "{bad}: {v}");
    }
    assert!(
        t.sim
            .requests()
            .iter()
            .all(|r| r.operation != Some(gamefleet_sim::Op::Get)),
        "{:?}",
        t.sim.requests()
    );
}
