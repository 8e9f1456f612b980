//! The lifecycle core's other ways in, run as the real binary: the CLI that
//! cron and schedulers call, and the OCI Function contract over a real unix
//! socket. Azure container groups (the ARM simulator) are the target here;
//! the OCI providers have their own tests.

use gamefleet_sim::{SimConfig, Simulator};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};

async fn sim_with_group(name: &str, provisioning: Duration) -> Simulator {
    let sim = Simulator::start(SimConfig {
        provisioning_delay: provisioning,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.insert_group("games", name, json!({"location": "westeurope", "properties": {"osType": "Linux", "containers": [
        {"name": "srv", "properties": {"image": "game:1", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}}]}}));
    sim
}

fn azure_env(sim: &Simulator) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_SUBSCRIPTION_ID", sim.subscription_id().to_owned()),
        ("ARM_ENDPOINT", sim.arm_endpoint()),
        ("IDENTITY_ENDPOINT", sim.identity_endpoint()),
        ("IDENTITY_HEADER", sim.identity_header().to_owned()),
        ("ARM_MAX_RETRIES", "1".to_owned()),
    ]
}

fn gamefleet(env: &[(&str, String)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

async fn cli(env: &[(&str, String)], args: &[&str]) -> (i32, String, String) {
    let out = gamefleet(env).args(args).output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn cli_stops_and_starts_printing_progress_with_exit_codes() {
    let sim = sim_with_group("cli-1", Duration::from_millis(300)).await;
    let env = azure_env(&sim);
    let fast = [
        "--provider",
        "aci",
        "--resource",
        "games/cli-1",
        "--poll-interval",
        "0.05",
        "--max-wait",
        "10",
    ];

    let (code, out, err) = cli(&env, &[&["power", "stop"][..], &fast].concat()).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "Container group has been successfully stopped.");
    assert!(
        err.contains("state: Running") && err.contains("sent: stop"),
        "progress on stderr: {err}"
    );

    let (code, out, _) = cli(&env, &[&["power", "stop"][..], &fast].concat()).await;
    assert_eq!(
        (code, out.trim()),
        (0, "Container group is already Stopped. No action taken.")
    );

    let (code, out, err) = cli(&env, &[&["power", "start", "--json"][..], &fast].concat()).await;
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["result"], "succeeded");
    assert_eq!(v["reached"], "Running");
    assert!(err.contains("waiting"), "it polled: {err}");

    // Timed out: exit 2, with the last state.
    let (code, out, _) = cli(
        &env,
        &[
            "power",
            "stop",
            "--provider",
            "aci",
            "--resource",
            "games/cli-1",
            "--no-wait",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("Stop requested"), "{out}");
    sim.set_provisioning_delay(Duration::from_secs(60));
    let (code, out, _) = cli(
        &env,
        &[
            "power",
            "start",
            "--provider",
            "aci",
            "--resource",
            "games/cli-1",
            "--poll-interval",
            "0.05",
            "--max-wait",
            "0.3",
        ],
    )
    .await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with("Instance did not reach Running within 0s. Last state: "),
        "{out}"
    );

    // Refused (transitional): exit 3. Failure (unknown group): exit 1. Bad action: exit 1 with the message.
    let (code, out, _) = cli(
        &env,
        &[
            "power",
            "stop",
            "--provider",
            "aci",
            "--resource",
            "games/cli-1",
        ],
    )
    .await;
    assert_eq!(code, 3, "{out}");
    assert_eq!(
        out.trim(),
        "Container group is in Pending state. Cannot stop now."
    );
    let (code, _, _) = cli(
        &env,
        &[
            "power",
            "start",
            "--provider",
            "aci",
            "--resource",
            "games/nobody",
        ],
    )
    .await;
    assert_eq!(code, 1);
    let (code, _, err) = cli(
        &env,
        &[
            "power",
            "reboot",
            "--provider",
            "aci",
            "--resource",
            "games/cli-1",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "Invalid action 'reboot'. Must be 'start', 'stop', 'toggle', 'restart' or 'status'."
        ),
        "{err}"
    );
    // Without Azure settings, aci is refused with a clear message.
    let (code, out, _) = cli(
        &[],
        &[
            "power",
            "status",
            "--provider",
            "aci",
            "--resource",
            "games/cli-1",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(out.contains("needs Azure settings"), "{out}");
}

/// One HTTP/1.1 call over the Fn agent's unix socket.
async fn fn_call(
    sock: &std::path::Path,
    body: &str,
    deadline: Option<String>,
) -> (u16, Option<String>, Value) {
    let stream = tokio::net::UnixStream::connect(sock).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::post("/call")
        .header("host", "localhost")
        .header("Fn-Call-Id", "01TESTCALL")
        .header("content-type", "application/json");
    if let Some(d) = deadline {
        req = req.header("Fn-Deadline", d);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let fn_status = resp
        .headers()
        .get("Fn-Http-Status")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        fn_status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn oci_function_contract_over_a_real_unix_socket() {
    let sim = sim_with_group("fn-1", Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("listen.sock");
    let mut env = azure_env(&sim);
    env.extend([
        ("FN_LISTENER", format!("unix:{}", sock.display())),
        ("FN_FORMAT", "http-stream".to_owned()),
        ("FN_APP_NAME", "games".to_owned()),
        ("FN_NAME", "gamefleet-power".to_owned()),
        ("POWER_PROVIDER", "aci".to_owned()),
        ("POWER_RESOURCE", "games/fn-1".to_owned()),
        ("POWER_POLL_INTERVAL", "50ms".to_owned()),
        ("POWER_MAX_WAIT", "20s".to_owned()),
    ]);
    // No subcommand: FN_LISTENER alone makes it an OCI Function.
    let mut child = gamefleet(&env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::symlink_metadata(&sock).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the contract gives 5 s to listen"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let link =
        std::fs::read_link(&sock).expect("the announced path is a symlink to the real socket");
    assert_eq!(link, std::path::PathBuf::from("phonylisten.sock"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o666,
        "writable by the Fn agent"
    );

    // The original function's bodies: {"action": ...}; no body = toggle.
    let (status, fn_status, v) = fn_call(&sock, r#"{"action": "stop"}"#, None).await;
    assert_eq!((status, fn_status.as_deref()), (200, Some("200")), "{v}");
    assert_eq!(
        v["message"],
        "Container group has been successfully stopped."
    );
    let (status, _, v) = fn_call(&sock, "", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["message"], "Container group has been successfully started.",
        "no body toggles"
    );
    let (status, _, v) = fn_call(&sock, r#"{"action": "status"}"#, None).await;
    assert_eq!(
        (status, v["message"].as_str()),
        (200, Some("Container group is Running."))
    );
    let (status, fn_status, v) = fn_call(&sock, r#"{"action": "hibernate"}"#, None).await;
    assert_eq!((status, fn_status.as_deref()), (400, Some("400")));
    assert_eq!(
        v["error"],
        "Invalid action 'hibernate'. Must be 'start', 'stop', 'toggle', 'restart' or 'status'."
    );
    // A deadline shorter than the wait caps it (5 s margin): 5.3 s → waits at most 0.3 s.
    sim.set_provisioning_delay(Duration::from_secs(60));
    let (_, _, _) = fn_call(&sock, r#"{"action": "stop"}"#, None).await;
    let deadline = (chrono::Utc::now() + chrono::Duration::milliseconds(5300)).to_rfc3339();
    let t0 = Instant::now();
    let (status, _, v) = fn_call(&sock, r#"{"action": "start"}"#, Some(deadline)).await;
    assert_eq!(status, 504, "{v}");
    assert_eq!(v["result"], "timedOut");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "answered before the deadline"
    );

    // SIGTERM: the socket files are removed.
    let pid = child.id().unwrap() as i32;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let exit = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        std::fs::symlink_metadata(&sock).is_err()
            && std::fs::symlink_metadata(dir.path().join("phonylisten.sock")).is_err()
    );
}

/// The original OCI function's setup, served by this binary: the container
/// instance's OCID in a Vault secret, `{"action": ...}` bodies, signed calls.
#[tokio::test]
async fn oci_function_starts_and_stops_a_container_instance_from_a_vault_secret() {
    use gamefleet_sim::oci::{api_key_identity, OciSim, OciSimConfig};
    let oci = OciSim::start(OciSimConfig {
        transition_time: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut env: Vec<(&str, String)> = vec![];
    let identity = api_key_identity(&oci, home.path()).unwrap();
    for (k, v) in &identity {
        env.push((k.as_str(), v.clone()));
    }
    let ci = oci.add_container_instance("arena-eu", "ACTIVE");
    let secret = oci.add_secret(&ci);
    let sock = home.path().join("fn.sock");
    env.extend([
        ("FN_LISTENER", format!("unix:{}", sock.display())),
        ("FN_FORMAT", "http-stream".to_owned()),
        ("POWER_PROVIDER", "oci-container-instance".to_owned()),
        ("POWER_SECRET_ID", secret),
        ("POWER_POLL_INTERVAL", "50ms".to_owned()),
    ]);
    let _child = gamefleet(&env)
        .arg("oci-function")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::symlink_metadata(&sock).is_err() {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _, v) = fn_call(&sock, r#"{"action": "stop"}"#, None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["message"],
        "Container instance has been successfully stopped."
    );
    assert_eq!(
        oci.container_instance_state(&ci).as_deref(),
        Some("INACTIVE")
    );
    let (status, _, v) = fn_call(&sock, r#"{"action": "stop"}"#, None).await;
    assert_eq!(
        (status, v["message"].as_str()),
        (
            200,
            Some("Container instance is already INACTIVE. No action taken.")
        )
    );
    let (status, _, v) = fn_call(&sock, r#"{"action": "start"}"#, None).await;
    assert_eq!(
        (status, v["message"].as_str()),
        (
            200,
            Some("Container instance has been successfully started.")
        ),
        "{v}"
    );
}

#[tokio::test]
async fn cli_soft_stops_an_oci_compute_instance() {
    use gamefleet_sim::oci::{api_key_identity, OciSim, OciSimConfig};
    let oci = OciSim::start(OciSimConfig {
        transition_time: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let identity = api_key_identity(&oci, home.path()).unwrap();
    let env: Vec<(&str, String)> = identity
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let vm = oci.add_compute_instance("build-box", "RUNNING");
    let (code, out, err) = cli(
        &env,
        &[
            "power",
            "toggle",
            "--provider",
            "oci-compute",
            "--resource",
            &vm,
            "--poll-interval",
            "0.05",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "Instance has been successfully stopped.");
    assert!(err.contains("STOPPING"), "it saw the transition: {err}");
    assert_eq!(oci.compute_state(&vm).as_deref(), Some("STOPPED"));
    assert!(
        oci.requests()
            .iter()
            .any(|r| r.query.contains("action=SOFTSTOP")),
        "{:?}",
        oci.requests()
    );
}

/// The start-compute seed's setup: `{"instance_id": ...}` bodies, no
/// POWER_PROVIDER (the OCID's type says it), signed with the instance
/// principal (no config file, no resource principal). At RUST_LOG=trace the
/// log holds neither the leaf key nor a session token.
#[tokio::test]
async fn oci_function_starts_the_instance_a_seed_body_names_with_the_instance_principal() {
    use gamefleet_sim::oci::{instance_principal_identity, OciSim, OciSimConfig};
    let oci = OciSim::start(OciSimConfig {
        transition_time: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let identity = instance_principal_identity(&oci);
    let mut env: Vec<(&str, String)> = identity
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let vm = oci.add_compute_instance("seed-box", "STOPPED");
    let sock = home.path().join("fn.sock");
    env.extend([
        ("HOME", home.path().display().to_string()),
        ("FN_LISTENER", format!("unix:{}", sock.display())),
        ("FN_FORMAT", "http-stream".to_owned()),
        ("POWER_POLL_INTERVAL", "50ms".to_owned()),
        ("RUST_LOG", "trace".to_owned()),
    ]);
    let log_path = home.path().join("fn.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = gamefleet(&env)
        .arg("oci-function")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::symlink_metadata(&sock).is_err() {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let body = json!({ "instance_id": vm }).to_string();
    let (status, _, v) = fn_call(&sock, &body, None).await;
    assert_eq!(
        (status, v["message"].as_str(), v["provider"].as_str()),
        (
            200,
            Some("Instance has been successfully started."),
            Some("oci-compute")
        ),
        "{v}"
    );
    assert_eq!(oci.compute_state(&vm).as_deref(), Some("RUNNING"));
    // Started already: the seed body means start, not toggle.
    let (status, _, v) = fn_call(&sock, &body, None).await;
    assert_eq!(
        (status, v["message"].as_str()),
        (200, Some("Instance is already RUNNING. No action taken.")),
        "{v}"
    );
    let _ = child.start_kill();
    let _ = child.wait().await;

    let text = std::fs::read_to_string(&log_path).unwrap();
    let (leaf_key, _) = oci.instance_secrets().unwrap();
    let tokens: Vec<String> = oci
        .requests()
        .iter()
        .filter_map(|r| r.key_id.clone())
        .filter_map(|k| k.strip_prefix("ST$").map(str::to_owned))
        .collect();
    assert!(!tokens.is_empty());
    for secret in leaf_key
        .lines()
        .skip(1)
        .take(3)
        .chain(tokens.iter().map(String::as_str))
    {
        assert!(!text.contains(secret), "a secret in the log: {secret}");
    }
    assert!(!text.contains("PRIVATE KEY"), "{text}");
}

/// A cron on a machine with no OCI credentials at all: the instance principal
/// is tried last, and the error names the metadata service it could not reach.
#[tokio::test]
async fn cli_without_credentials_names_the_metadata_service() {
    let home = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let env = [
        ("HOME", home.path().display().to_string()),
        ("OCI_METADATA_ENDPOINT", dead.clone()),
    ];
    let (code, out, err) = cli(
        &env,
        &[
            "power",
            "status",
            "--provider",
            "oci-compute",
            "--resource",
            "ocid1.instance.oc1.iad.aaaa",
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains(&format!("instance metadata service at {dead}")),
        "{out}{err}"
    );
}

#[tokio::test]
async fn a_malformed_provider_configuration_fails_at_start_not_on_the_first_request() {
    // A config file that is not there: the handler refuses to start, naming the
    // provider and the file, instead of answering each Power request with it.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"))
        .args(["serve", "--port", "0"])
        .env_clear()
        .env("AzureWebJobsStorage", "UseDevelopmentStorage=true")
        .env(
            "AZURE_SUBSCRIPTION_ID",
            "00000000-0000-0000-0000-000000000000",
        )
        .env("OCI_CONFIG_FILE", "/nonexistent/oci/config")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("provider 'oci-container-instance'")
            && err.contains("/nonexistent/oci/config"),
        "{err}"
    );
    // The CLI the same way: exit 1 before any request.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"))
        .args([
            "power",
            "status",
            "--provider",
            "oci-compute",
            "--resource",
            "ocid1.instance.oc1.iad.aaaa",
        ])
        .env_clear()
        .env("OCI_CONFIG_FILE", "/nonexistent/oci/config")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/oci/config"));
    // An unknown provider is refused with the registry's names.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"))
        .args(["power", "status", "--provider", "gcp", "--resource", "x"])
        .env_clear()
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("oci-container-instance") && err.contains("aci"),
        "{err}"
    );
}

#[tokio::test]
async fn the_cli_runs_sets_of_huawei_servers_with_a_stop_type() {
    use gamefleet_sim::huawei::{HuaweiKey, HuaweiOp, HuaweiSim, HuaweiSimConfig};
    let sim = HuaweiSim::start(HuaweiSimConfig {
        transition_time: std::time::Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    sim.add_key(HuaweiKey::permanent("CLITESTAK0001", "cli-test-secret-key"));
    let ids: Vec<String> = (0..2)
        .map(|i| sim.add_server(&format!("n{i}"), "SHUTOFF"))
        .collect();
    let cluster = sim.add_cluster(&ids);
    let run = |args: Vec<String>| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"));
        cmd.arg("power")
            .args(args)
            .env_clear()
            .env("HUAWEICLOUD_SDK_AK", "CLITESTAK0001")
            .env("HUAWEICLOUD_SDK_SK", "cli-test-secret-key")
            .env("HUAWEICLOUD_SDK_PROJECT_ID", sim.project_id())
            .env("HUAWEICLOUD_ECS_ENDPOINT", sim.endpoint())
            .env("HUAWEICLOUD_CCE_ENDPOINT", sim.endpoint());
        async move { cmd.output().await.unwrap() }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut args = s(&[
        "start",
        "--provider",
        "huawei-ecs",
        "--poll-interval",
        "0.05",
        "--json",
        "--cluster-id",
    ]);
    args.push(cluster.clone());
    let out = run(args).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["targets"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(sim.count(HuaweiOp::BatchStartServers), 1);
    let mut args = s(&[
        "stop",
        "--provider",
        "huawei-ecs",
        "--poll-interval",
        "0.05",
        "--type",
        "HARD",
    ]);
    for id in &ids {
        args.push("--resource".into());
        args.push(id.clone());
    }
    let out = run(args).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&ids[0]) && text.contains("succeeded"),
        "{text}"
    );
    assert_eq!(sim.stop_types(), vec!["HARD".to_string()]);
}
