//! The built binary under the runtimes it runs in, each driven through its
//! real contract by a strict stand-in of the runtime API
//! (`gamefleet_sim::runtimes`): AWS Lambda (`provided.al2023`: function-URL
//! events into the router, EventBridge Scheduler's JSON into Power, unknown
//! events to `/error`, init errors to `/init/error`, the deadline) and Huawei
//! FunctionGraph (custom runtime: the seed's timer event, its configuration
//! and answer, the agency's temporary keys per invocation).

use gamefleet_sim::huawei::{HuaweiKey, HuaweiOp, HuaweiSim, HuaweiSimConfig};
use gamefleet_sim::runtimes::{AgencyKeys, Answer, FunctionGraphRuntimeApi, LambdaRuntimeApi};
use gamefleet_sim::{SimConfig, Simulator};
use serde_json::{json, Value};
use std::time::Duration;

fn gamefleet(env: &[(String, String)]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("the gamefleet binary starts")
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn aci() -> Simulator {
    let sim = Simulator::start(SimConfig {
        provisioning_delay: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.insert_group("games", "arena-1", json!({"location": "westeurope", "properties": {"osType": "Linux", "containers": [
        {"name": "srv", "properties": {"image": "game:1", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}}]}}));
    sim
}

fn aci_env(sim: &Simulator) -> Vec<(String, String)> {
    vec![
        (
            "AZURE_SUBSCRIPTION_ID".into(),
            sim.subscription_id().to_owned(),
        ),
        ("ARM_ENDPOINT".into(), sim.arm_endpoint()),
        ("IDENTITY_ENDPOINT".into(), sim.identity_endpoint()),
        ("IDENTITY_HEADER".into(), sim.identity_header().to_owned()),
        ("ARM_MAX_RETRIES".into(), "1".into()),
    ]
}

/// The container group's state as ARM's instance view shows it.
fn group_state(sim: &Simulator) -> Option<String> {
    let g = sim.group("games", "arena-1")?;
    g["properties"]["instanceView"]["state"]
        .as_str()
        .map(str::to_owned)
}

const API_KEY: &str = "lambda-test-key-0123456789";

/// A function-URL (payload format 2.0) request, as Lambda delivers it.
fn url_event(method: &str, path: &str, query: &str, headers: Value, body: Option<&Value>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefghijklmnop",
            "domainName": "abcdefghijklmnop.lambda-url.eu-central-1.on.aws",
            "domainPrefix": "abcdefghijklmnop",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.7", "userAgent": "curl/8.5.0"},
            "requestId": "c8d1f7a2-0000-4000-8000-000000000001",
            "routeKey": "$default",
            "stage": "$default",
            "time": "02/Dec/2026:08:30:00 +0000",
            "timeEpoch": 1796200200000u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

/// The function-URL response's status and JSON body.
fn url_answer(a: Answer) -> (u16, Value) {
    let v = a.response();
    let status = v["statusCode"].as_u64().unwrap_or(0) as u16;
    let body = match &v["body"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        other => other.clone(),
    };
    (status, body)
}

#[tokio::test]
async fn lambda_serves_power_over_a_function_url_and_scheduler_events() {
    let sim = aci().await;
    let rt = LambdaRuntimeApi::start().await.unwrap();
    let mut env = rt.function_env();
    env.extend(aci_env(&sim));
    env.extend(pairs(&[
        ("GAMEFLEET_API_KEYS", API_KEY),
        ("POWER_POLL_INTERVAL", "50ms"),
    ]));
    let _fn = gamefleet(&env);

    // Function URL: POST /api/Power with the key → the router's answer.
    let stop = json!({"action": "stop", "provider": "aci", "resource": "games/arena-1", "maxWaitSeconds": 10});
    let (status, v) = url_answer(
        rt.invoke(
            &url_event(
                "POST",
                "/api/Power",
                "",
                json!({"content-type": "application/json", "x-api-key": API_KEY}),
                Some(&stop),
            ),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(
        (status, v["result"].as_str()),
        (200, Some("succeeded")),
        "{v}"
    );
    assert_eq!(group_state(&sim).as_deref(), Some("Stopped"));

    // Without the key: 401 from the router, nothing sent to ARM.
    let before = sim.count(gamefleet_sim::Op::Start);
    let (status, v) = url_answer(
        rt.invoke(
            &url_event(
                "POST",
                "/api/Power",
                "",
                json!({"content-type": "application/json"}),
                Some(&json!({"action": "start", "provider": "aci", "resource": "games/arena-1"})),
            ),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("Unauthorized")),
        "{v}"
    );
    assert_eq!(sim.count(gamefleet_sim::Op::Start), before);

    // EventBridge Scheduler's JSON: Power runs, the outcome is the answer.
    let v = rt
        .invoke(
            &json!({"action": "start", "provider": "aci", "resource": "games/arena-1", "maxWaitSeconds": 10}),
            Duration::from_secs(30),
        )
        .await
        .response();
    assert_eq!(v["result"], "succeeded", "{v}");
    assert_eq!(group_state(&sim).as_deref(), Some("Running"));

    // A failed outcome is still an answer, not an error invocation.
    let v = rt
        .invoke(
            &json!({"action": "status", "provider": "aci", "resource": "games/no-such-group"}),
            Duration::from_secs(30),
        )
        .await
        .response();
    assert_eq!(v["result"], "error", "{v}");

    // JSON that is neither: /error with errorType and errorMessage; the runtime goes on.
    let body = rt
        .invoke(
            &json!({"detail-type": "Something Else", "detail": {}}),
            Duration::from_secs(30),
        )
        .await
        .error();
    assert_eq!(body["errorType"], "UnknownEvent", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("Power request")),
        "{body}"
    );
    // A Power request that cannot run: /error with its code.
    let body = rt
        .invoke(
            &json!({"action": "hibernate", "provider": "aci", "resource": "games/arena-1"}),
            Duration::from_secs(30),
        )
        .await
        .error();
    assert_eq!(body["errorType"], "InvalidAction", "{body}");
    let v = rt
        .invoke(
            &json!({"action": "status", "provider": "aci", "resource": "games/arena-1"}),
            Duration::from_secs(30),
        )
        .await
        .response();
    assert_eq!(v["seen"], "Running", "still serving after errors: {v}");
    assert!(rt.log().refused.is_empty(), "{:?}", rt.log().refused);
}

#[tokio::test]
async fn lambda_answers_timed_out_before_its_deadline() {
    let sim = aci().await;
    sim.set_provisioning_delay(Duration::from_secs(120));
    let rt = LambdaRuntimeApi::start().await.unwrap();
    let mut env = rt.function_env();
    env.extend(aci_env(&sim));
    env.extend(pairs(&[
        ("GAMEFLEET_API_KEYS", API_KEY),
        ("POWER_POLL_INTERVAL", "100ms"),
    ]));
    let _fn = gamefleet(&env);
    // Warm up (the first invocation also waits for the process to start).
    let v = rt
        .invoke(
            &json!({"action": "stop", "provider": "aci", "resource": "games/arena-1"}),
            Duration::from_secs(30),
        )
        .await
        .response();
    assert_eq!(v["reached"], "Stopped", "{v}");

    // A start that cannot finish: 6 s deadline, 3 s kept in hand → timedOut, answered in time.
    let started = std::time::Instant::now();
    let (status, v) = url_answer(
        rt.invoke(
            &url_event("POST", "/api/Power", "", json!({"x-api-key": API_KEY}),
                Some(&json!({"action": "start", "provider": "aci", "resource": "games/arena-1", "maxWaitSeconds": 600}))),
            Duration::from_secs(6),
        )
        .await,
    );
    assert_eq!(
        (status, v["result"].as_str()),
        (504, Some("timedOut")),
        "{v}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "answered after the deadline: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn lambda_reports_a_configuration_error_at_init_and_exits() {
    let rt = LambdaRuntimeApi::start().await.unwrap();
    let mut env = rt.function_env();
    env.extend(pairs(&[("GAMEFLEET_API_KEYS", "short")]));
    let mut child = gamefleet(&env);
    let err = rt
        .wait_init_error(Duration::from_secs(20))
        .await
        .expect("an init error");
    assert!(
        err["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("GAMEFLEET_API_KEYS")),
        "{err}"
    );
    assert!(
        !err.to_string().contains("short"),
        "the key is not echoed: {err}"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the process exits")
        .unwrap();
    assert!(!status.success());
    assert_eq!(rt.log().polls, 0, "no invocation was taken");
}

#[tokio::test]
async fn lambda_function_url_serves_the_seeds_openstack_api() {
    use gamefleet_sim::keystone::{AuthMethod, Keystone};
    use gamefleet_sim::nova::{NovaOp, NovaSim, NovaSimConfig};
    let Some(ks) = Keystone::for_tests().await else {
        return;
    };
    let mut cfg = NovaSimConfig::new(ks.service_credentials());
    cfg.transition_time = Duration::from_millis(60);
    let nova = NovaSim::start(cfg).await.unwrap();
    let tenant = ks.tenant("lambda-os", &nova.compute_url()).await.unwrap();
    let id = nova.add_server("arena-os", "ACTIVE");
    let rt = LambdaRuntimeApi::start().await.unwrap();
    let mut env = rt.function_env();
    env.extend(tenant.openstack_env(AuthMethod::Password));
    env.extend(pairs(&[
        ("OPENSTACK_API_KEYS", API_KEY),
        ("INSTANCE_ID", &id),
    ]));
    let _fn = gamefleet(&env);

    // The seed's GET with api_key in the query: status, then stop = shelve.
    let (status, v) = url_answer(
        rt.invoke(
            &url_event(
                "GET",
                "/api/OpenStack",
                &format!("action=status&api_key={API_KEY}"),
                json!({}),
                None,
            ),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(
        (status, v["instance_id"].as_str(), v["state"].as_str()),
        (200, Some(id.as_str()), Some("ACTIVE")),
        "{v}"
    );
    let (status, v) = url_answer(
        rt.invoke(
            &url_event(
                "GET",
                "/api/OpenStack",
                "action=stop",
                json!({"x-api-key": API_KEY}),
                None,
            ),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(
        (status, v["message"].as_str()),
        (200, Some("shelve requested from ACTIVE")),
        "{v}"
    );
    assert_eq!(nova.count(NovaOp::Shelve), 1);
    // A wrong key: 401, nothing sent.
    let (status, _) = url_answer(
        rt.invoke(
            &url_event(
                "GET",
                "/api/OpenStack",
                "action=start&api_key=wrong-key-wrong-key",
                json!({}),
                None,
            ),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(status, 401);
    assert_eq!(nova.count(NovaOp::Unshelve), 0);
}

const AK: &str = "GAMEFLEETFGAK0001";
const SK: &str = "gamefleet-fg-secret-key-0001";

#[tokio::test]
async fn functiongraph_runs_the_seeds_timer_event_on_the_cluster() {
    let sim = HuaweiSim::start(HuaweiSimConfig {
        transition_time: Duration::from_millis(150),
        ..Default::default()
    })
    .await
    .unwrap();
    sim.add_key(HuaweiKey::permanent(AK, SK));
    let a = sim.add_server("node-a", "ACTIVE");
    let b = sim.add_server("node-b", "ACTIVE");
    let cluster = sim.add_cluster([&a, &b]);
    let rt = FunctionGraphRuntimeApi::start().await.unwrap();
    let mut env = rt.function_env(Duration::from_secs(60));
    // The seed's own configuration names.
    env.extend(pairs(&[
        ("ak", AK),
        ("sk", SK),
        ("projectId", sim.project_id()),
        ("endpoint", &sim.endpoint()),
        ("HUAWEICLOUD_CCE_ENDPOINT", &sim.endpoint()),
        ("action", "stop"),
        ("type", "HARD"),
        ("clusterId", &cluster),
        ("POWER_POLL_INTERVAL", "50ms"),
    ]));
    let _fn = gamefleet(&env);

    let timer = json!({"version": "v1.0", "time": "2026-12-02T08:30:00+08:00",
                       "trigger_type": "TIMER", "trigger_name": "stop-night", "user_event": ""});
    let v = rt
        .invoke(timer.to_string().as_bytes(), None, Duration::from_secs(30))
        .await
        .response();
    assert_eq!(
        (v["status"].as_str(), v["action"].as_str()),
        (Some("success"), Some("stop")),
        "{v}"
    );
    let mut listed: Vec<&str> = v["data"]["server_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["server_id"].as_str())
        .collect();
    listed.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(listed, want, "{v}");
    assert_eq!(sim.server(&a).unwrap().status, "SHUTOFF");
    assert_eq!(sim.stop_types(), vec!["HARD"]);
    assert_eq!(
        sim.count(HuaweiOp::BatchStopServers),
        1,
        "one batch call for the cluster"
    );

    // A timer whose user_event asks for a start; an empty body is the configured action again.
    let v = rt
        .invoke(
            json!({"trigger_type": "TIMER", "trigger_name": "start-morning", "user_event": "{\"action\": \"start\"}"})
                .to_string()
                .as_bytes(),
            None,
            Duration::from_secs(30),
        )
        .await
        .response();
    assert_eq!(
        (v["status"].as_str(), v["action"].as_str()),
        (Some("success"), Some("start")),
        "{v}"
    );
    assert_eq!(sim.server(&b).unwrap().status, "ACTIVE");
    let v = rt
        .invoke(b"", None, Duration::from_secs(30))
        .await
        .response();
    assert_eq!(v["action"], "stop", "{v}");

    // Not JSON: an error invocation; the function keeps serving.
    let body = rt
        .invoke(b"{not json", None, Duration::from_secs(30))
        .await
        .error();
    assert_eq!(body["errorType"], "InvalidEvent", "{body}");
    let v = rt
        .invoke(
            br#"{"action": "status", "resource": "00000000-0000-4000-8000-000000000000"}"#,
            None,
            Duration::from_secs(30),
        )
        .await
        .response();
    assert_eq!(v["result"], "error", "an unknown server: {v}");
    assert!(rt.log().refused.is_empty(), "{:?}", rt.log().refused);
}

#[tokio::test]
async fn functiongraph_signs_with_the_agency_keys_of_each_invocation() {
    let sim = HuaweiSim::start(HuaweiSimConfig {
        transition_time: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let first = AgencyKeys {
        access_key: "TEMPAK0001".into(),
        secret_key: "temp-secret-0001".into(),
        security_token: "token-0001".into(),
    };
    let second = AgencyKeys {
        access_key: "TEMPAK0002".into(),
        secret_key: "temp-secret-0002".into(),
        security_token: "token-0002".into(),
    };
    sim.add_key(HuaweiKey::temporary(
        &first.access_key,
        &first.secret_key,
        &first.security_token,
    ));
    let server = sim.add_server("node-a", "SHUTOFF");
    let rt = FunctionGraphRuntimeApi::start().await.unwrap();
    let mut env = rt.function_env(Duration::from_secs(60));
    env.extend(pairs(&[
        ("projectId", sim.project_id()),
        ("endpoint", &sim.endpoint()),
        ("HUAWEICLOUD_CCE_ENDPOINT", &sim.endpoint()),
        ("POWER_POLL_INTERVAL", "50ms"),
    ]));
    let _fn = gamefleet(&env);
    let start = json!({"action": "start", "resource": server}).to_string();
    let v = rt
        .invoke(start.as_bytes(), Some(&first), Duration::from_secs(30))
        .await
        .response();
    assert_eq!(v["result"], "succeeded", "{v}");
    // The keys rotate: the next invocation signs with the new ones (the old are revoked).
    sim.add_key(HuaweiKey::temporary(
        &second.access_key,
        &second.secret_key,
        &second.security_token,
    ));
    sim.remove_key(&first.access_key);
    let status = json!({"action": "status", "resource": server}).to_string();
    let v = rt
        .invoke(status.as_bytes(), Some(&second), Duration::from_secs(30))
        .await
        .response();
    assert_eq!(
        (v["result"].as_str(), v["seen"].as_str()),
        (Some("reported"), Some("ACTIVE")),
        "{v}"
    );
    // No keys at all: a clear configuration error in the outcome, nothing signed.
    let v = rt
        .invoke(status.as_bytes(), None, Duration::from_secs(30))
        .await
        .response();
    assert_eq!(v["result"], "error", "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("HUAWEICLOUD_SDK_AK")),
        "{v}"
    );
}

#[tokio::test]
async fn lambda_with_table_storage_serves_the_fleet_and_applies_schedules_on_a_tick() {
    use gamefleet_sim::azurite::{unique_table, Azurite};
    let sim = aci().await;
    let azurite = Azurite::shared().await;
    let rt = LambdaRuntimeApi::start().await.unwrap();
    let mut env = rt.function_env();
    env.extend(sim.gamefleet_env(&azurite.connection_string(), &unique_table()));
    env.extend(pairs(&[
        ("GAMEFLEET_API_KEYS", API_KEY),
        ("POWER_POLL_INTERVAL", "50ms"),
    ]));
    let _fn = gamefleet(&env);
    let keyed = json!({"content-type": "application/json", "x-api-key": API_KEY});

    // The fleet functions are there: List answers (an empty fleet).
    let (status, v) = url_answer(
        rt.invoke(
            &url_event("GET", "/api/List", "", keyed.clone(), None),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!((status, v.as_array().map(Vec::len)), (200, Some(0)), "{v}");

    // A schedule that fires every second, stored through the function URL.
    let schedule = json!({"name": "every-second-stop", "cron": "* * * * * *", "timeZone": "Europe/Berlin",
        "action": "stop", "provider": "aci", "resource": "games/arena-1", "maxWaitSeconds": 10});
    let (status, v) = url_answer(
        rt.invoke(
            &url_event("POST", "/api/Schedules", "", keyed.clone(), Some(&schedule)),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(status, 200, "{v}");
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // An EventBridge rule's scheduled event is the tick.
    let tick = json!({"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2026-12-02T08:30:00Z",
        "region": "eu-central-1", "resources": ["arn:aws:events:eu-central-1:123456789012:rule/gamefleet-tick"], "detail": {}});
    let report = rt.invoke(&tick, Duration::from_secs(30)).await.response();
    let runs = report["runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(runs.len(), 1, "{report}");
    assert_eq!(group_state(&sim).as_deref(), Some("Stopped"), "{report}");
    assert_eq!(sim.count(gamefleet_sim::Op::Stop), 1);

    // A fleet stored through the function URL; `{"gamefleet": "Autoscale"}` scales it.
    let fleet = json!({"name": "lambda-fleet", "resourceGroup": "games", "location": "westeurope",
        "containerGroup": {"properties": {"osType": "Linux", "containers": [{"name": "game",
            "properties": {"image": "openarena:1", "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}}}}]}},
        "maxSessions": 4, "max": 3, "buffer": {"servers": 2}});
    let (status, v) = url_answer(
        rt.invoke(
            &url_event("POST", "/api/Fleets", "", keyed.clone(), Some(&fleet)),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(status, 200, "{v}");
    let report = rt
        .invoke(&json!({"gamefleet": "Autoscale"}), Duration::from_secs(30))
        .await
        .response();
    assert_eq!(report["runs"][0]["created"], 2, "{report}");
    let made = sim
        .group_names()
        .into_iter()
        .filter(|(rg, n)| rg == "games" && n.starts_with("lambda-fleet-"))
        .count();
    assert_eq!(made, 2, "{report}");
}

#[tokio::test]
async fn lambda_without_table_storage_refuses_a_schedule_tick_and_keeps_serving() {
    let rt = LambdaRuntimeApi::start().await.unwrap();
    let mut env = rt.function_env();
    env.extend(pairs(&[("GAMEFLEET_LAMBDA_AUTH", "iam")]));
    let _fn = gamefleet(&env);
    let body = rt
        .invoke(
            &json!({"gamefleet": "ScheduleTick"}),
            Duration::from_secs(30),
        )
        .await
        .error();
    assert_eq!(body["errorType"], "SchedulesNotConfigured", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("AzureWebJobsStorage")),
        "{body}"
    );
    // The fleet routes are not there without storage; the lifecycle ones are.
    let (status, v) = url_answer(
        rt.invoke(
            &url_event("GET", "/api/List", "", json!({}), None),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("NoSuchFunction")),
        "{v}"
    );
    let (status, _) = url_answer(
        rt.invoke(
            &url_event("GET", "/", "", json!({}), None),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(status, 200);
}

#[tokio::test]
async fn lambda_without_api_keys_keeps_power_closed_behind_an_open_function_url() {
    let sim = aci().await;
    let rt = LambdaRuntimeApi::start().await.unwrap();
    let mut env = rt.function_env();
    env.extend(aci_env(&sim));
    let _fn = gamefleet(&env);
    let (status, v) = url_answer(
        rt.invoke(
            &url_event(
                "POST",
                "/api/Power",
                "",
                json!({"content-type": "application/json"}),
                Some(&json!({"action": "stop", "provider": "aci", "resource": "games/arena-1"})),
            ),
            Duration::from_secs(30),
        )
        .await,
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("Unauthorized")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("GAMEFLEET_API_KEYS")),
        "{v}"
    );
    assert_eq!(sim.count(gamefleet_sim::Op::Stop), 0, "nothing reached ARM");
    assert_eq!(group_state(&sim).as_deref(), Some("Running"));
}
