//! gamefleet's Huawei signer (`cloud::huawei::sign`) against the Huawei
//! simulator's verifier (`gamefleet_sim::huawei`): two implementations of
//! `SDK-HMAC-SHA256` written independently, checking each other over real HTTP,
//! and the simulator's ECS/CCE behaviour the adapter will be tested against.

use chrono::{Duration as ChronoDuration, Utc};
use gamefleet::cloud::huawei::sign::{self, Credentials};
use gamefleet_sim::huawei::{HuaweiFaultRule, HuaweiKey, HuaweiOp, HuaweiSim, HuaweiSimConfig};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const AK: &str = "SIMPERMANENTAK";
const SK: &str = "sim-permanent-secret-key";

async fn start(config: HuaweiSimConfig) -> HuaweiSim {
    let sim = HuaweiSim::start(config).await.expect("simulator starts");
    sim.add_key(HuaweiKey::permanent(AK, SK));
    sim
}

/// A request as it goes on the wire; tests may change it after signing.
struct Wire {
    method: Method,
    url: url::Url,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Signs `method path` (path and query, relative to the simulator) the way the
/// adapter will: `Host`, and `Content-Type` with a body, plus what `sign` adds.
fn signed(
    sim: &HuaweiSim,
    creds: &Credentials,
    method: Method,
    path: &str,
    body: Option<&Value>,
    now: chrono::DateTime<Utc>,
) -> Wire {
    let url = url::Url::parse(&format!("{}{path}", sim.endpoint())).unwrap();
    let host = sign::host_header(&url).unwrap();
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut headers = vec![("Host".to_string(), host)];
    if !body.is_empty() {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let s = sign::sign(creds, &method, &url, &pairs, &body, now);
    headers.extend(s.headers.iter().map(|(n, v)| (n.to_string(), v.clone())));
    Wire {
        method,
        url: s.url,
        headers,
        body,
    }
}

async fn send(w: Wire) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new().request(w.method, w.url);
    for (n, v) in &w.headers {
        // reqwest derives Host from the URL (the same value that was signed).
        if !n.eq_ignore_ascii_case("host") {
            req = req.header(n, v);
        }
    }
    let resp = req.body(w.body).send().await.expect("simulator answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, headers)
}

async fn call(sim: &HuaweiSim, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let creds = Credentials::permanent(AK, SK);
    let (status, body, _) =
        send(signed(sim, &creds, method, path, body.as_ref(), Utc::now())).await;
    (status, body)
}

fn ecs(sim: &HuaweiSim, rest: &str) -> String {
    format!("/v1/{}/{rest}", sim.project_id())
}

async fn action(sim: &HuaweiSim, body: Value) -> String {
    let (status, v) = call(
        sim,
        Method::POST,
        &ecs(sim, "cloudservers/action"),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["job_id"].as_str().expect("a job id").to_owned()
}

async fn job(sim: &HuaweiSim, id: &str) -> Value {
    let (status, v) = call(sim, Method::GET, &ecs(sim, &format!("jobs/{id}")), None).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Polls the job until SUCCESS or FAIL; returns the final body.
async fn finished(sim: &HuaweiSim, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = job(sim, id).await;
        match v["status"].as_str() {
            Some("SUCCESS" | "FAIL") => return v,
            Some("INIT" | "RUNNING") if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("job {id}: {other:?} {v}"),
        }
    }
}

fn servers(ids: &[&String]) -> Value {
    Value::Array(ids.iter().map(|id| json!({ "id": id })).collect())
}

fn assert_refused(status: u16, body: &Value, why: &str) {
    assert_eq!(status, 401, "{why}: {body}");
    assert_eq!(body["error_code"], "APIGW.0301", "{why}: {body}");
    let msg = body["error_msg"].as_str().unwrap_or("");
    assert!(
        msg.starts_with("Incorrect IAM authentication information: "),
        "{why}: {msg}"
    );
    assert!(body["request_id"].is_string(), "{why}: {body}");
}

#[tokio::test]
async fn a_right_signature_is_accepted_permanent_and_temporary() {
    let sim = start(HuaweiSimConfig::default()).await;
    let id = sim.add_server("game-1", "SHUTOFF");
    let (status, v) = call(
        &sim,
        Method::GET,
        &ecs(&sim, &format!("cloudservers/{id}")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["server"]["id"], id.as_str());
    assert_eq!(v["server"]["name"], "game-1");
    assert_eq!(v["server"]["status"], "SHUTOFF");
    assert_eq!(v["server"]["OS-EXT-STS:vm_state"], "stopped");
    assert!(v["server"]["OS-EXT-STS:task_state"].is_null());
    let log = sim.requests();
    assert_eq!(log.last().and_then(|r| r.access_key.as_deref()), Some(AK));

    // Temporary AK/SK: the token is sent and signed; X-Project-Id too.
    sim.add_key(HuaweiKey::temporary(
        "TEMPAK",
        "temp-sk",
        "the-security-token",
    ));
    let temp = Credentials::temporary("TEMPAK", "temp-sk", "the-security-token")
        .with_project_id(sim.project_id());
    let path = ecs(&sim, "cloudservers/detail?server_id=") + &id;
    let (status, v, _) = send(signed(&sim, &temp, Method::GET, &path, None, Utc::now())).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["count"], 1);
    // The same key without its token, or with another one, is refused.
    let no_token = Credentials::permanent("TEMPAK", "temp-sk");
    let (status, v, _) = send(signed(
        &sim,
        &no_token,
        Method::GET,
        &path,
        None,
        Utc::now(),
    ))
    .await;
    assert_refused(status, &v, "temporary key without its token");
    let wrong = Credentials::temporary("TEMPAK", "temp-sk", "another-token");
    let (status, v, _) = send(signed(&sim, &wrong, Method::GET, &path, None, Utc::now())).await;
    assert_refused(status, &v, "wrong token");
}

#[tokio::test]
async fn wrong_key_altered_request_or_stale_date_are_refused() {
    let sim = start(HuaweiSimConfig::default()).await;
    let a = sim.add_server("a", "SHUTOFF");
    let b = sim.add_server("b", "SHUTOFF");
    let creds = Credentials::permanent(AK, SK);
    let start_a = json!({ "os-start": { "servers": [{ "id": a }] } });
    let action_path = ecs(&sim, "cloudservers/action");

    let wrong_sk = Credentials::permanent(AK, "not-the-secret");
    let (s, v, _) = send(signed(
        &sim,
        &wrong_sk,
        Method::POST,
        &action_path,
        Some(&start_a),
        Utc::now(),
    ))
    .await;
    assert_refused(s, &v, "wrong SK");
    assert!(v["error_msg"]
        .as_str()
        .unwrap()
        .contains("verify aksk signature fail"));
    let unknown_ak = Credentials::permanent("NOSUCHAK", SK);
    let (s, v, _) = send(signed(
        &sim,
        &unknown_ak,
        Method::POST,
        &action_path,
        Some(&start_a),
        Utc::now(),
    ))
    .await;
    assert_refused(s, &v, "unknown AK");

    // Body changed after signing: start b instead of a.
    let mut w = signed(
        &sim,
        &creds,
        Method::POST,
        &action_path,
        Some(&start_a),
        Utc::now(),
    );
    w.body = json!({ "os-start": { "servers": [{ "id": b }] } })
        .to_string()
        .into_bytes();
    let (s, v, _) = send(w).await;
    assert_refused(s, &v, "altered body");

    // Query changed after signing.
    let detail = ecs(&sim, &format!("cloudservers/detail?server_id={a}"));
    let mut w = signed(&sim, &creds, Method::GET, &detail, None, Utc::now());
    w.url.set_query(Some(&format!("server_id={b}")));
    let (s, v, _) = send(w).await;
    assert_refused(s, &v, "altered query");

    // A header that was signed but not sent.
    let url = url::Url::parse(&format!("{}{detail}", sim.endpoint())).unwrap();
    let host = sign::host_header(&url).unwrap();
    let sg = sign::sign(
        &creds,
        &Method::GET,
        &url,
        &[("Host", &host), ("X-Extra", "1")],
        b"",
        Utc::now(),
    );
    let w = Wire {
        method: Method::GET,
        url: sg.url.clone(),
        headers: sg
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect(),
        body: Vec::new(),
    };
    let (s, v, _) = send(w).await;
    assert_refused(s, &v, "missing signed header");
    assert!(v["error_msg"].as_str().unwrap().contains("x-extra"), "{v}");

    // X-Sdk-Date 16 minutes off either way; 14 minutes is still fine.
    for minutes in [-16, 16] {
        let at = Utc::now() + ChronoDuration::minutes(minutes);
        let (s, v, _) = send(signed(&sim, &creds, Method::GET, &detail, None, at)).await;
        assert_refused(s, &v, "stale date");
    }
    let at = Utc::now() - ChronoDuration::minutes(14);
    let (s, v, _) = send(signed(&sim, &creds, Method::GET, &detail, None, at)).await;
    assert_eq!(s, 200, "{v}");

    // No Authorization at all.
    let (s, v, _) = send(Wire {
        method: Method::GET,
        url,
        headers: Vec::new(),
        body: Vec::new(),
    })
    .await;
    assert_refused(s, &v, "unsigned");

    // Nothing was started by the refused requests; a wrong-SK refusal records
    // what the simulator signed.
    assert_eq!(sim.server(&a).unwrap().status, "SHUTOFF");
    assert_eq!(sim.server(&b).unwrap().status, "SHUTOFF");
    assert!(sim.requests().iter().any(|r| r
        .expected_canonical_request
        .as_deref()
        .is_some_and(|c| c.starts_with("POST\n/v1/") && c.contains("/cloudservers/action/\n"))));
}

#[tokio::test]
async fn batch_start_of_three_runs_then_succeeds_with_three_sub_jobs() {
    let sim = start(HuaweiSimConfig {
        transition_time: Duration::from_millis(500),
        ..HuaweiSimConfig::default()
    })
    .await;
    let ids: Vec<String> = (0..3)
        .map(|i| sim.add_server(&format!("g{i}"), "SHUTOFF"))
        .collect();
    let refs: Vec<&String> = ids.iter().collect();
    let job_id = action(&sim, json!({ "os-start": { "servers": servers(&refs) } })).await;

    let running = job(&sim, &job_id).await;
    assert_eq!(running["status"], "RUNNING", "{running}");
    assert_eq!(running["job_type"], "batchStartServers");
    let (_, v) = call(
        &sim,
        Method::GET,
        &ecs(&sim, &format!("cloudservers/{}", ids[0])),
        None,
    )
    .await;
    assert_eq!(v["server"]["status"], "SHUTOFF");
    assert_eq!(v["server"]["OS-EXT-STS:task_state"], "powering-on");

    let done = finished(&sim, &job_id).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["entities"]["sub_jobs_total"], 3);
    let subs = done["entities"]["sub_jobs"].as_array().unwrap();
    assert_eq!(subs.len(), 3);
    for (sub, id) in subs.iter().zip(&ids) {
        assert_eq!(sub["status"], "SUCCESS", "{sub}");
        assert_eq!(sub["job_type"], "startServer");
        assert_eq!(sub["entities"]["server_id"], id.as_str());
        assert!(sub["fail_reason"].is_null());
        assert!(sub["end_time"].is_string());
    }
    let path = ecs(
        &sim,
        &format!("cloudservers/detail?server_id={},{}", ids[0], ids[2]),
    );
    let (status, v) = call(&sim, Method::GET, &path, None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["count"], 2);
    for s in v["servers"].as_array().unwrap() {
        assert_eq!(s["status"], "ACTIVE");
        assert!(s["OS-EXT-STS:task_state"].is_null());
        assert_eq!(s["OS-EXT-STS:vm_state"], "active");
    }
    assert_eq!(sim.server(&ids[1]).unwrap().status, "ACTIVE");
    assert_eq!(sim.count(HuaweiOp::BatchStartServers), 1);
}

#[tokio::test]
async fn a_failing_server_fails_the_job_with_its_sub_jobs_reason() {
    let sim = start(HuaweiSimConfig {
        transition_time: Duration::from_millis(100),
        ..HuaweiSimConfig::default()
    })
    .await;
    let ok = sim.add_server("ok", "SHUTOFF");
    let bad = sim.add_server("bad", "SHUTOFF");
    sim.fail_next_action(&bad, "Insufficient resources in the availability zone.");
    let job_id = action(
        &sim,
        json!({ "os-start": { "servers": servers(&[&ok, &bad]) } }),
    )
    .await;
    let done = finished(&sim, &job_id).await;
    assert_eq!(done["status"], "FAIL", "{done}");
    assert_eq!(
        done["fail_reason"],
        "Insufficient resources in the availability zone."
    );
    let subs = done["entities"]["sub_jobs"].as_array().unwrap();
    let by_server = |id: &str| {
        subs.iter()
            .find(|s| s["entities"]["server_id"] == id)
            .unwrap_or_else(|| panic!("a sub-job for {id}: {done}"))
    };
    assert_eq!(by_server(&ok)["status"], "SUCCESS");
    assert_eq!(by_server(&bad)["status"], "FAIL");
    assert_eq!(
        by_server(&bad)["fail_reason"],
        "Insufficient resources in the availability zone."
    );
    assert!(by_server(&bad)["error_code"].is_string());
    assert_eq!(sim.server(&ok).unwrap().status, "ACTIVE");
    assert_eq!(sim.server(&bad).unwrap().status, "SHUTOFF");
}

#[tokio::test]
async fn soft_and_hard_stop() {
    let sim = start(HuaweiSimConfig {
        transition_time: Duration::from_millis(1000),
        hard_stop_time: Duration::from_millis(50),
        ..HuaweiSimConfig::default()
    })
    .await;
    let soft = sim.add_server("soft", "ACTIVE");
    let hard = sim.add_server("hard", "ACTIVE");
    let soft_job = action(
        &sim,
        json!({ "os-stop": { "type": "SOFT", "servers": servers(&[&soft]) } }),
    )
    .await;
    let hard_job = action(
        &sim,
        json!({ "os-stop": { "type": "HARD", "servers": servers(&[&hard]) } }),
    )
    .await;
    assert_eq!(
        sim.server(&soft).unwrap().task_state.as_deref(),
        Some("powering-off")
    );

    let done = finished(&sim, &hard_job).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["job_type"], "batchStopServers");
    assert_eq!(done["entities"]["sub_jobs"][0]["job_type"], "stopServer");
    assert_eq!(sim.server(&hard).unwrap().status, "SHUTOFF");
    // HARD is done while SOFT still runs.
    assert_eq!(job(&sim, &soft_job).await["status"], "RUNNING");
    assert_eq!(sim.server(&soft).unwrap().status, "ACTIVE");
    assert_eq!(finished(&sim, &soft_job).await["status"], "SUCCESS");
    let s = sim.server(&soft).unwrap();
    assert_eq!(
        (s.status.as_str(), s.vm_state.as_str()),
        ("SHUTOFF", "stopped")
    );

    // `type` defaults to SOFT; anything but SOFT/HARD is a 400.
    let again = action(&sim, json!({ "os-stop": { "servers": servers(&[&soft]) } })).await;
    assert_eq!(
        finished(&sim, &again).await["status"],
        "SUCCESS",
        "already stopped"
    );
    let (status, v) = call(
        &sim,
        Method::POST,
        &ecs(&sim, "cloudservers/action"),
        Some(json!({ "os-stop": { "type": "FORCE", "servers": servers(&[&soft]) } })),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["code"].is_string(), "{v}");
}

#[tokio::test]
async fn cce_nodes_give_the_ecs_server_ids() {
    let sim = start(HuaweiSimConfig::default()).await;
    let a = sim.add_server("a", "ACTIVE");
    let b = sim.add_server("b", "SHUTOFF");
    let cluster = sim.add_cluster([&a, &b]);
    let path = format!(
        "/api/v3/projects/{}/clusters/{cluster}/nodes",
        sim.project_id()
    );
    let (status, v) = call(&sim, Method::GET, &path, None).await;
    assert_eq!(status, 200, "{v}");
    let items = v["items"].as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .map(|n| n["status"]["serverId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    for n in items {
        assert_eq!(n["status"]["phase"], "Active");
        assert!(n["metadata"]["name"].is_string() && n["metadata"]["uid"].is_string());
    }
    let path = format!(
        "/api/v3/projects/{}/clusters/no-such-cluster/nodes",
        sim.project_id()
    );
    let (status, v) = call(&sim, Method::GET, &path, None).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error_code"], "CCE.01404001");
}

#[tokio::test]
async fn throttling_errors_and_unknowns() {
    let sim = start(HuaweiSimConfig::default()).await;
    let id = sim.add_server("a", "ACTIVE");
    let show = ecs(&sim, &format!("cloudservers/{id}"));

    sim.fail_next(HuaweiFaultRule::throttled(HuaweiOp::ShowServer).retry_after(3));
    let creds = Credentials::permanent(AK, SK);
    let (status, v, headers) =
        send(signed(&sim, &creds, Method::GET, &show, None, Utc::now())).await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error_code"], "APIG.0308");
    assert!(v["error_msg"].as_str().unwrap().starts_with(
        "The throttling threshold has been reached: policy user over ratelimit,limit:"
    ));
    assert_eq!(
        headers.get("retry-after").and_then(|h| h.to_str().ok()),
        Some("3")
    );
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(
        call(&sim, Method::GET, &show, None).await.0,
        200,
        "the rule fired once"
    );

    sim.fail_next(
        HuaweiFaultRule::server_error(HuaweiOp::ShowJob, 503)
            .any_op()
            .resource(&id),
    );
    assert_eq!(call(&sim, Method::GET, &show, None).await.0, 503);
    sim.fail_next(HuaweiFaultRule::stall(
        HuaweiOp::ShowServer,
        Duration::from_millis(200),
    ));
    let t = Instant::now();
    assert_eq!(call(&sim, Method::GET, &show, None).await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));

    let (status, v) = call(
        &sim,
        Method::GET,
        &ecs(&sim, "cloudservers/no-such-server"),
        None,
    )
    .await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "Ecs.0114");
    assert_eq!(
        v["error"]["message"],
        "Instance[no-such-server] could not be found."
    );
    let (status, v) = call(
        &sim,
        Method::POST,
        &ecs(&sim, "cloudservers/action"),
        Some(json!({ "os-start": { "servers": [{ "id": id }, { "id": "ghost" }] } })),
    )
    .await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "Ecs.0114");
    let (status, v) = call(
        &sim,
        Method::GET,
        &format!("/v1/otherproject/cloudservers/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{v}");
    let (status, v) = call(&sim, Method::GET, "/v2/nothing/here", None).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error_code"], "APIGW.0101");
    assert!(sim
        .requests()
        .iter()
        .all(|r| r.access_key.as_deref() == Some(AK)));
}
