//! Plays the Azure Functions host: reads host.json and every
//! functions/*/function.json, starts the built binary the way the host starts a
//! custom handler, waits for `GET /` like the host does, then drives every
//! function — HTTP ones forwarded at /api/<route>, the others through the
//! invocation envelope — with the payloads in tests/fixtures.

use gamefleet_sim::azurite::{unique_table, Azurite};
use gamefleet_sim::{EventConfig, SimConfig, Simulator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const SESSION_KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture(rel: &str) -> Value {
    read_json(&root().join("tests/fixtures").join(rel))
}

#[derive(Debug)]
struct Function {
    name: String,
    trigger: Value,
    /// Exactly one httpTrigger in and one http out: the host forwards the request as is.
    forwarded: bool,
}

fn functions() -> Vec<Function> {
    let mut out = vec![];
    for entry in std::fs::read_dir(root().join("functions")).unwrap() {
        let dir = entry.unwrap().path();
        let fj = read_json(&dir.join("function.json"));
        let bindings = fj["bindings"].as_array().expect("bindings array").clone();
        let inputs: Vec<&Value> = bindings.iter().filter(|b| b["direction"] == "in").collect();
        let outputs: Vec<&Value> = bindings
            .iter()
            .filter(|b| b["direction"] == "out")
            .collect();
        assert_eq!(inputs.len(), 1, "{}: one trigger", dir.display());
        let trigger = inputs[0].clone();
        let forwarded =
            trigger["type"] == "httpTrigger" && outputs.len() == 1 && outputs[0]["type"] == "http";
        out.push(Function {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            trigger,
            forwarded,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[test]
fn host_json_and_function_json_are_what_the_host_needs() {
    let host = read_json(&root().join("host.json"));
    assert_eq!(host["version"], "2.0");
    let ch = &host["customHandler"];
    assert_eq!(ch["enableForwardingHttpRequest"], true);
    let exe = ch["description"]["defaultExecutablePath"].as_str().unwrap();
    let built = Path::new(env!("CARGO_BIN_EXE_gamefleet"));
    assert_eq!(
        exe,
        built.file_name().unwrap().to_str().unwrap(),
        "host.json must start the gamefleet binary"
    );
    assert_eq!(
        host["extensionBundle"]["id"],
        "Microsoft.Azure.Functions.ExtensionBundle"
    );
    assert!(
        host["extensionBundle"]["version"]
            .as_str()
            .unwrap()
            .starts_with("[4."),
        "bundle 4.x carries eventGridTrigger"
    );

    let fs = functions();
    let names: Vec<&str> = fs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Allocate",
            "Autoscale",
            "Create",
            "Dashboard",
            "Delete",
            "Details",
            "Fleets",
            "GC",
            "List",
            "Metrics",
            "Monitor",
            "OpenApi",
            "OpenStack",
            "Power",
            "ReportSessions",
            "ScheduleTick",
            "Schedules",
            "SetSessions",
            "SetState"
        ]
    );
    for f in &fs {
        match f.name.as_str() {
            "Monitor" => assert_eq!(f.trigger["type"], "eventGridTrigger"),
            "GC" => {
                assert_eq!(f.trigger["type"], "timerTrigger");
                assert_eq!(f.trigger["schedule"], "%GC_SCHEDULE%");
            }
            "ScheduleTick" => {
                assert_eq!(f.trigger["type"], "timerTrigger");
                assert_eq!(f.trigger["schedule"], "%SCHEDULE_TICK%");
            }
            "Autoscale" => {
                assert_eq!(f.trigger["type"], "timerTrigger");
                assert_eq!(f.trigger["schedule"], "%AUTOSCALE_SCHEDULE%");
            }
            _ => {
                assert!(
                    f.forwarded,
                    "{} must be forwarded (one httpTrigger in, one http out)",
                    f.name
                );
                // Game servers call ReportSessions with their own token, not a function key;
                // OpenStack is the seed Lambda's API, guarded by its own OPENSTACK_API_KEYS.
                let level = if f.name == "ReportSessions" || f.name == "OpenStack" {
                    "anonymous"
                } else {
                    "function"
                };
                assert_eq!(f.trigger["authLevel"], level, "{}", f.name);
                if f.name == "OpenApi" {
                    assert_eq!(f.trigger["route"], "openapi.json");
                }
                if f.name == "Schedules" || f.name == "Fleets" {
                    assert_eq!(f.trigger["route"], f.name);
                    assert_eq!(f.trigger["methods"], json!(["get", "post", "delete"]));
                }
            }
        }
    }
}

/// The custom handler process, started as the host starts it.
struct Handler {
    _child: tokio::process::Child,
    base: String,
}

impl Handler {
    async fn start(settings: &[(&str, String)]) -> Handler {
        let host = read_json(&root().join("host.json"));
        let desc = &host["customHandler"]["description"];
        let args: Vec<String> = desc["arguments"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"));
        cmd.args(&args)
            .current_dir(root())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("FUNCTIONS_HTTPWORKER_PORT", port.to_string())
            .env(
                "FUNCTIONS_CUSTOMHANDLER_WORKER_ID",
                uuid::Uuid::new_v4().to_string(),
            )
            .env("FUNCTIONS_APP_ROOT_PATH", root())
            .env("FUNCTIONS_WORKER_RUNTIME", "custom")
            .env("GC_SCHEDULE", "0 */1 * * * *")
            .env("SCHEDULE_TICK", "0 * * * * *")
            .env("AUTOSCALE_SCHEDULE", "*/30 * * * * *")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in settings {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start the handler");
        let base = format!("http://127.0.0.1:{port}");
        // The host sends GET / every 25 ms until any HTTP answer comes back.
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if http.get(&base).send().await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the handler did not answer GET / within the host's 30 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Handler {
            _child: child,
            base,
        }
    }
}

/// A request as the host forwards it: same method, path and body, plus its headers.
async fn forward(
    http: &reqwest::Client,
    base: &str,
    f: &Function,
    body: Option<Value>,
) -> (u16, Value) {
    let route = f.trigger["route"].as_str().unwrap_or(&f.name);
    let methods: Vec<String> = f.trigger["methods"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|v| v.as_str().unwrap().to_uppercase())
                .collect()
        })
        .unwrap_or_else(|| vec!["POST".into()]);
    let method = if body.is_none() && methods.iter().any(|m| m == "GET") {
        "GET"
    } else {
        "POST"
    };
    assert!(
        methods.iter().any(|m| m == method),
        "{}: {method} not in function.json methods",
        f.name
    );
    let mut req = http
        .request(
            method.parse().unwrap(),
            format!("{base}/api/{route}?code=host-checked-key"),
        )
        .header(
            "X-Azure-Functions-InvocationId",
            uuid::Uuid::new_v4().to_string(),
        )
        .header("X-Azure-Functions-HostVersion", "4.1037.0")
        .header("x-functions-key", "host-checked-key")
        .header("User-Agent", "matchmaker/1.0 Azure-Functions-Host/4.1037.0");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A non-forwarded invocation: `Data.<binding name from function.json>` = the fixture's trigger value.
async fn invoke(http: &reqwest::Client, base: &str, f: &Function, fixture: &Value) -> (u16, Value) {
    let binding = f.trigger["name"].as_str().unwrap();
    let value = fixture["Data"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let envelope = json!({"Data": {binding: value}, "Metadata": fixture["Metadata"]});
    let r = gamefleet_sim::host::invoke(http, base, &f.name, &envelope)
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{}: the host needs a JSON answer, got {ct}",
        f.name
    );
    let v: Value = r.json().await.expect("a JSON object, never an empty body");
    for k in ["Outputs", "Logs", "ReturnValue"] {
        assert!(v.get(k).is_some(), "{}: {k} missing in {v}", f.name);
    }
    (status, v)
}

#[tokio::test]
async fn the_binary_serves_every_function_as_the_host_calls_it() {
    let azurite = Azurite::shared().await;
    let sub = "00000000-0000-0000-0000-000000000000";
    // Event Grid is played by the test itself (fixture deliveries), so the simulator only queues.
    let sim = Simulator::start(SimConfig {
        subscription_id: sub.into(),
        provisioning_delay: Duration::from_millis(50),
        events: EventConfig {
            auto_deliver: false,
            ..EventConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let core = sim.gamefleet_env(&azurite.connection_string(), &unique_table());
    let mut settings: Vec<(&str, String)> =
        core.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    settings.extend([
        ("WEBSITE_HOSTNAME", "fleet.example.net".into()),
        ("RUST_LOG", "warn".into()),
        ("SESSION_TOKEN_KEYS", SESSION_KEYS.into()),
    ]);
    let h = Handler::start(&settings).await;
    let http = reqwest::Client::new();
    let fs = functions();
    let f = |n: &str| fs.iter().find(|f| f.name == n).unwrap();
    let base = h.base.as_str();

    // Create the group the fixtures talk about (my-rg/cg-job-0001).
    let create = json!({"resourceGroup": "my-rg", "containerGroupName": "cg-job-0001", "containerGroup": {
        "location": "westeurope", "osType": "Linux",
        "containers": [{"name": "job", "image": "gamefleet/job:1", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}, "ports": [{"port": 80}]}],
        "ipAddress": {"type": "Public", "ports": [{"port": 80}]}}});
    let (s, v) = forward(&http, base, f("Create"), Some(create)).await;
    assert_eq!(s, 202, "{v}");
    // The container runs with ReportSessions' URL (its token inside) from WEBSITE_HOSTNAME.
    let env = sim.container_env("my-rg", "cg-job-0001", "job").unwrap();
    assert!(
        env.iter().any(|(k, v)| k == "ACI_SET_SESSIONS_URL"
            && v.starts_with("https://fleet.example.net/api/ReportSessions?token=k1.")),
        "{env:?}"
    );
    for _ in 0..200 {
        if sim.group("my-rg", "cg-job-0001").unwrap()["properties"]["provisioningState"]
            == "Succeeded"
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Monitor with the host's Event Grid invocation fixtures (Event Grid schema, then CloudEvents).
    let (s, v) = invoke(
        &http,
        base,
        f("Monitor"),
        &fixture("functions-host/eventgrid-invocation.json"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ReturnValue"]["events"][0]["outcome"], "applied", "{v}");
    let (s, v) = invoke(
        &http,
        base,
        f("Monitor"),
        &fixture("functions-host/eventgrid-invocation-cloudevent.json"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["ReturnValue"]["events"][0]["outcome"], "ignored",
        "duplicate write: already Running: {v}"
    );
    // The value may also arrive as a JSON-encoded string.
    let mut encoded = fixture("functions-host/eventgrid-invocation.json");
    encoded["Data"]["eventGridEvent"] =
        Value::String(encoded["Data"]["eventGridEvent"].to_string());
    assert_eq!(invoke(&http, base, f("Monitor"), &encoded).await.0, 200);

    let (s, v) = forward(&http, base, f("List"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[0]["containerGroupName"], "cg-job-0001");
    assert_eq!(v[0]["state"], "Running");
    assert!(v[0]["publicIp"].is_string());

    let (s, v) = forward(
        &http,
        base,
        f("Details"),
        Some(json!({"resourceGroup": "my-rg", "containerGroupName": "cg-job-0001"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = forward(&http, base, f("Details"), Some(json!({"resourceGroup": "my-rg", "containerGroupName": "cg-job-0001", "type": "logs", "containerName": "job"}))).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = forward(
        &http,
        base,
        f("Power"),
        Some(json!({"action": "status", "provider": "aci", "resource": "my-rg/cg-job-0001"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["message"], "Container group is Running.");
    // A game server reports its own count with the token Create gave it (no function key).
    let token = gamefleet::ops::auth::SessionKeys::parse(SESSION_KEYS)
        .unwrap()
        .issue(&gamefleet::fleet::GroupKey::new(
            gamefleet::fleet::ResourceGroup::parse("my-rg").unwrap(),
            gamefleet::fleet::ContainerGroupName::parse("cg-job-0001").unwrap(),
        ))
        .unwrap();
    let r = http.post(format!("{base}/api/ReportSessions")).bearer_auth(&token)
        .json(&json!({"resourceGroup": "my-rg", "containerGroupName": "cg-job-0001", "activeSessions": 3})).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (s, v) = forward(&http, base, f("SetSessions"), Some(json!([{"resourceGroup": "my-rg", "containerGroupName": "cg-job-0001", "activeSessions": 0}]))).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = forward(&http, base, f("SetState"), Some(json!({"resourceGroup": "my-rg", "containerGroupName": "cg-job-0001", "state": "MarkedForDeletion"}))).await;
    assert_eq!(s, 200, "{v}");

    // A schedule through its HTTP function, then the schedule timer with every timer payload.
    let schedule = json!({"name": "night-stop", "cron": "0 23 * * *", "timeZone": "Europe/Berlin",
        "action": "stop", "provider": "aci", "resource": "my-rg/cg-job-0001"});
    let (s, v) = forward(&http, base, f("Schedules"), Some(schedule)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["next"].as_array().map(Vec::len), Some(5), "{v}");
    let (s, v) = forward(&http, base, f("Schedules"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[0]["name"], "night-stop", "{v}");
    for fx in [
        "functions-host/timer-invocation.json",
        "functions-host/timer-invocation-with-schedule-status.json",
        "functions-host/timer-invocation-with-retry-context.json",
    ] {
        let (s, v) = invoke(&http, base, f("ScheduleTick"), &fixture(fx)).await;
        assert_eq!(s, 200, "{fx}: {v}");
        assert_eq!(v["ReturnValue"]["schedules"], 1, "{fx}: {v}");
    }
    let r = http
        .delete(format!(
            "{base}/api/Schedules?name=night-stop&code=host-checked-key"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, v) = forward(&http, base, f("Schedules"), None).await;
    assert_eq!((s, v), (200, json!([])));

    // GC with every captured/constructed timer payload: the first collects, the others find nothing.
    let mut deleted = 0;
    for fx in [
        "functions-host/timer-invocation.json",
        "functions-host/timer-invocation-with-schedule-status.json",
        "functions-host/timer-invocation-with-retry-context.json",
    ] {
        let (s, v) = invoke(&http, base, f("GC"), &fixture(fx)).await;
        assert_eq!(s, 200, "{fx}: {v}");
        deleted += v["ReturnValue"]["deleted"].as_u64().unwrap();
    }
    assert_eq!(deleted, 1);
    assert!(sim.group("my-rg", "cg-job-0001").is_none());

    // The delete event arrives late: the row is already gone; acknowledged.
    let late = gamefleet_sim::events::host_envelope(
        "eventGridEvent",
        "Monitor",
        &fixture("eventgrid/aci-constructed/delete-success.eventgrid.json")[0],
    );
    assert_eq!(invoke(&http, base, f("Monitor"), &late).await.0, 200);

    let (s, v) = forward(
        &http,
        base,
        f("Delete"),
        Some(json!({"resourceGroup": "my-rg", "containerGroupName": "cg-job-0001"})),
    )
    .await;
    assert_eq!(s, 200, "already gone is success: {v}");
    drop(h);
}
