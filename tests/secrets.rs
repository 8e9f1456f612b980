//! No secret in any log line: a full run of the real binary at the most
//! verbose log level — create, provision, self-reported sessions (right and
//! wrong tokens), API keys (right and wrong), function keys in the query,
//! an expired ARM token refreshed, ARM failing and retried, OCI signed calls —
//! with every line captured, then searched for every secret that was in play.

use gamefleet::fleet::{ContainerGroupName, GroupKey, ResourceGroup};
use gamefleet::ops::auth::SessionKeys;
use gamefleet::ports::SecretStore;
use gamefleet_sim::azurite::{unique_table, Azurite, ACCOUNT_KEY};
use gamefleet_sim::huawei::{HuaweiKey, HuaweiSim, HuaweiSimConfig};
use gamefleet_sim::keystone::{AuthMethod, Keystone};
use gamefleet_sim::nova::{NovaSim, NovaSimConfig};
use gamefleet_sim::oci::{api_key_identity, OciSim, OciSimConfig};
use gamefleet_sim::{EventConfig, FaultRule, Op, SimConfig, Simulator};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};

const API_KEY: &str = "matchmaker-secret-key-0123456789";
const WRONG_API_KEY: &str = "guessed-secret-key-9876543210";
const FUNCTION_KEY: &str = "host-function-key-ZZ9PluralZAlpha";
const IDENTITY_HEADER: &str = "identity-header-secret-4242";
const HUAWEI_AK: &str = "SECRETSTESTAK00001";
const HUAWEI_SK: &str = "huawei-secret-key-never-logged-5150";

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let azurite = Azurite::shared().await;
    let sim = Simulator::start(SimConfig {
        identity_header: IDENTITY_HEADER.into(),
        provisioning_delay: Duration::from_millis(50),
        events: EventConfig {
            auto_deliver: false,
            ..EventConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let oci = OciSim::start(OciSimConfig {
        transition_time: Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let oci_env = api_key_identity(&oci, home.path()).unwrap();
    let private_key = std::fs::read_to_string(home.path().join(".oci/key.pem")).unwrap();
    let ci = oci.add_container_instance("arena", "INACTIVE");
    // Huawei (AK/SK signatures) and OpenStack (a real Keystone password login).
    let huawei = HuaweiSim::start(HuaweiSimConfig::default()).await.unwrap();
    huawei.add_key(HuaweiKey::permanent(HUAWEI_AK, HUAWEI_SK));
    let ecs_server = huawei.add_server("srv", "SHUTOFF");
    let keystone = Keystone::for_tests().await;
    let nova = match &keystone {
        Some(ks) => Some(
            NovaSim::start(NovaSimConfig::new(ks.service_credentials()))
                .await
                .unwrap(),
        ),
        None => None,
    };
    let tenant = match (&keystone, &nova) {
        (Some(ks), Some(n)) => Some(ks.tenant("secrets", &n.compute_url()).await.unwrap()),
        _ => None,
    };

    let log = tempfile::NamedTempFile::new().unwrap();
    let table = unique_table();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"));
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
        .envs(sim.gamefleet_env(&azurite.connection_string(), &table))
        .env("ARM_MAX_RETRIES", "1")
        // No SESSION_TOKEN_KEYS: the key gamefleet generates and stores is in play.
        .env(
            "ACI_SET_SESSIONS_URL",
            "http://127.0.0.1:9/api/ReportSessions",
        )
        .env("GAMEFLEET_API_KEYS", API_KEY)
        .env("RECONCILE_INTERVAL", "0s")
        .env("FLEET_CREATING_TIMEOUT", "0s")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(
            std::fs::OpenOptions::new()
                .append(true)
                .open(log.path())
                .unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .append(true)
                .open(log.path())
                .unwrap(),
        ))
        .kill_on_drop(true);
    for (k, v) in &oci_env {
        cmd.env(k, v);
    }
    cmd.env("HUAWEICLOUD_SDK_AK", HUAWEI_AK)
        .env("HUAWEICLOUD_SDK_SK", HUAWEI_SK)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", huawei.project_id())
        .env("HUAWEICLOUD_ECS_ENDPOINT", huawei.endpoint())
        .env("HUAWEICLOUD_CCE_ENDPOINT", huawei.endpoint());
    if let Some(t) = &tenant {
        for (k, v) in t.openstack_env(AuthMethod::Password) {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let base = loop {
        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        if let Some(addr) = text
            .split("gamefleet listening addr=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        {
            break format!("http://{addr}");
        }
        assert!(Instant::now() < deadline, "did not start:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value, key: &str| {
        http.post(format!("{base}{path}?code={FUNCTION_KEY}"))
            .header("x-functions-key", FUNCTION_KEY)
            .header("X-API-Key", key)
            .json(&body)
            .send()
    };

    // Create two servers; provision; reconcile moves them to Running.
    for n in ["s1", "s2"] {
        let body = json!({"resourceGroup": "arena", "containerGroupName": n, "containerGroup": {"location": "westeurope", "osType": "Linux",
            "containers": [{"name": "srv", "image": "game:1", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}},
                "environmentVariables": [{"name": "DB_PASSWORD", "secureValue": "container-secret-value-777"}]}]}});
        assert_eq!(
            post("/api/Create", body, API_KEY).await.unwrap().status(),
            202
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let gc = gamefleet_sim::events::timer_envelope("timer", false);
    assert!(http
        .post(format!("{base}/GC"))
        .header("X-API-Key", API_KEY)
        .json(&gc)
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    // Wrong API key, wrong and right session tokens.
    assert_eq!(
        post("/api/List", json!({}), WRONG_API_KEY)
            .await
            .unwrap()
            .status(),
        401
    );
    // The generated key, as stored in the secrets table beside the fleet table.
    let store = gamefleet::store::TableStore::from_connection_string(
        &azurite.connection_string(),
        &table,
        reqwest::Client::new(),
        Default::default(),
    )
    .unwrap();
    let session_secret = store
        .secrets()
        .get("session-token-key")
        .await
        .unwrap()
        .expect("Create generated the session-token key")
        .expose()
        .to_owned();
    let raw = SessionKeys::decode_secret(&gamefleet::config::Secret::new(&session_secret)).unwrap();
    let keys = SessionKeys::single("auto", &raw).unwrap();
    let key = |n: &str| {
        GroupKey::new(
            ResourceGroup::parse("arena").unwrap(),
            ContainerGroupName::parse(n).unwrap(),
        )
    };
    let t1 = keys.issue(&key("s1")).unwrap();
    let t2 = keys.issue(&key("s2")).unwrap();
    for (tok, n, want) in [(&t1, "s1", 200), (&t2, "s1", 403), (&t1, "s2", 403)] {
        let r = http
            .post(format!("{base}/api/ReportSessions"))
            .bearer_auth(tok)
            .json(&json!({"resourceGroup": "arena", "containerGroupName": n, "activeSessions": 2}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want);
        // The way the original's images report: the token inside the URL, the array body.
        let r = http
            .post(format!("{base}/api/ReportSessions?token={tok}"))
            .body(format!(
                r#"[{{"resourceGroup":"arena","containerGroupName":"{n}","activeSessions":2}}]"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want);
    }
    // ARM refuses our token once (expired early): refreshed. ARM fails: retried.
    sim.expire_tokens();
    assert_eq!(
        post(
            "/api/Details",
            json!({"resourceGroup": "arena", "containerGroupName": "s1"}),
            API_KEY
        )
        .await
        .unwrap()
        .status(),
        200
    );
    sim.fail_next(FaultRule::new(Op::Get, 500, "InternalServerError", "boom").times(2));
    assert_eq!(
        post(
            "/api/Details",
            json!({"resourceGroup": "arena", "containerGroupName": "s2"}),
            API_KEY
        )
        .await
        .unwrap()
        .status(),
        502
    );
    // OCI: signed calls through the lifecycle core.
    let r = post("/api/Power", json!({"action": "start", "provider": "oci-container-instance", "resource": ci, "pollIntervalSeconds": 0.05}), API_KEY).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Huawei: signed calls; OpenStack: a Keystone login and Nova calls with its token.
    let r = post("/api/Power", json!({"action": "start", "provider": "huawei-ecs", "resource": ecs_server, "pollIntervalSeconds": 0.05}), API_KEY).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let mut openstack_token = None;
    if let Some(n) = &nova {
        let id = n.add_server("srv", "SHUTOFF");
        let r = post("/api/Power", json!({"action": "start", "provider": "openstack", "resource": id, "pollIntervalSeconds": 0.05}), API_KEY).await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        openstack_token = n.last_valid_token();
    }
    // Marked, collected.
    post(
        "/api/SetSessions",
        json!([{"resourceGroup": "arena", "containerGroupName": "s1", "activeSessions": 0}]),
        API_KEY,
    )
    .await
    .unwrap();
    post(
        "/api/SetState",
        json!({"resourceGroup": "arena", "containerGroupName": "s1", "state": "MarkedForDeletion"}),
        API_KEY,
    )
    .await
    .unwrap();
    assert!(http
        .post(format!("{base}/GC"))
        .header("X-API-Key", API_KEY)
        .json(&gc)
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    // The dashboard takes the key in its address: the query never reaches a log line.
    for (path, key, status) in [
        ("/api/Dashboard", API_KEY, 200),
        ("/api/Dashboard?view=data", API_KEY, 200),
        ("/api/Dashboard?view=data", WRONG_API_KEY, 401),
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = http
            .get(format!("{base}{path}{sep}code={key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
    }
    child.kill().await.unwrap();

    let text = std::fs::read_to_string(log.path()).unwrap();
    if std::env::var_os("SHOW_LOG").is_some() {
        println!("{text}");
    }
    let lines = text.lines().count();
    assert!(lines > 15, "the run logged ({lines} lines)");
    assert!(
        text.contains("TRACE") || text.contains("DEBUG") || text.contains("INFO"),
        "log levels visible"
    );
    let mut secrets: Vec<(String, String)> = vec![
        ("storage account key".into(), ACCOUNT_KEY.into()),
        ("IDENTITY_HEADER".into(), IDENTITY_HEADER.into()),
        ("generated session key".into(), session_secret.clone()),
        ("session token s1".into(), t1.clone()),
        ("session token s2".into(), t2.clone()),
        ("API key".into(), API_KEY.into()),
        ("wrong API key".into(), WRONG_API_KEY.into()),
        ("function key".into(), FUNCTION_KEY.into()),
        (
            "container secure value".into(),
            "container-secret-value-777".into(),
        ),
    ];
    for t in sim.issued_token_values() {
        secrets.push(("ARM access token".into(), t));
    }
    secrets.push(("Huawei SK".into(), HUAWEI_SK.into()));
    if let Some(t) = &tenant {
        secrets.push(("OpenStack password".into(), t.password.clone()));
        secrets.push((
            "OpenStack application credential secret".into(),
            t.app_credential.secret.clone(),
        ));
    }
    if let Some(tok) = openstack_token {
        secrets.push(("Keystone token".into(), tok));
    }
    assert!(
        sim.issued_token_values().len() >= 2,
        "a refreshed token was issued"
    );
    for line in private_key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
    {
        secrets.push(("OCI private key".into(), line.to_owned()));
    }
    for (what, secret) in &secrets {
        let hit = text.lines().find(|l| l.contains(secret.as_str()));
        assert!(
            hit.is_none(),
            "{what} in the logs: {}",
            hit.unwrap_or_default()
        );
    }
    for marker in [
        "Bearer ",
        "SharedKey ",
        "AccountKey=",
        "Signature version=",
        "signature=\"",
        "x-identity-header:",
        "secureValue",
        "SDK-HMAC-SHA256 Access=",
        "x-auth-token:",
    ] {
        let hit = text.lines().find(|l| l.contains(marker));
        assert!(
            hit.is_none(),
            "{marker:?} in the logs: {}",
            hit.unwrap_or_default()
        );
    }
    println!(
        "scanned {lines} log lines at RUST_LOG=trace for {} secrets and 9 markers: none found",
        secrets.len()
    );
}
