//! The OCI adapter against the OCI simulator: real signatures (API key and
//! resource principal), real HTTP, the lifecycle core's `run` with a real clock.
//!
//! Each test starts its own simulator and writes its own config and key files,
//! and hands the environment to the adapter as a map: nothing here reads or
//! changes the process environment, so the tests run in parallel.

use gamefleet::cloud::oci::OciProviders;
use gamefleet::cloud::oci::StopMode;
use gamefleet::cloud::retry::Backoff;
use gamefleet::lifecycle::{
    self, Action, Command, Outcome, OutcomeKind, PollSettings, Power, PowerError, SystemClock,
    TicketStatus,
};
use gamefleet_sim::oci::{OciFaultRule, OciOp, OciRequestRecord, OciSim, OciSimConfig};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/signing/oci-signing-vectors.json"
);
/// An RSA public key whose private half nobody kept: a wrong key for the fixture's keyId.
const OTHER_PUBLIC_KEY: &str = include_str!("other_public_key.pem");

fn fixture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(VECTORS).expect("tests/fixtures/signing"))
        .unwrap()
}

fn key(field: &str) -> String {
    fixture()["key"][field].as_str().unwrap().to_owned()
}

/// A simulator, a temp dir and the environment the adapter is given.
struct Harness {
    sim: OciSim,
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl Harness {
    /// An API key from a config file: the fixture key, registered in the simulator.
    async fn api_key() -> Self {
        let sim = OciSim::start(OciSimConfig {
            transition_time: Duration::from_millis(50),
            ..Default::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let env = gamefleet_sim::oci::api_key_identity(&sim, dir.path())
            .unwrap()
            .into_iter()
            .collect();
        Self { sim, dir, env }
    }

    /// A resource principal: a token minted by the simulator for the fixture key.
    async fn resource_principal(as_files: bool) -> Self {
        let mut h = Self::api_key().await;
        let token = h.sim.mint_resource_principal_token(
            &key("public_key_pem"),
            h.sim.tenancy_id(),
            h.sim.compartment_id(),
            Duration::from_secs(3600),
        );
        let (rpst, pem) = if as_files {
            let (t, k) = (h.dir.path().join("rpst"), h.dir.path().join("rp.pem"));
            std::fs::write(&t, &token).unwrap();
            std::fs::write(&k, key("private_key_pem")).unwrap();
            (path(&t), path(&k))
        } else {
            (token, key("private_key_pem"))
        };
        h.env.clear();
        for (k, v) in [
            ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2".to_owned()),
            ("OCI_RESOURCE_PRINCIPAL_RPST", rpst),
            ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem),
            ("OCI_RESOURCE_PRINCIPAL_REGION", "us-ashburn-1".to_owned()),
            ("OCI_ENDPOINT", h.sim.endpoint()),
        ] {
            h.env.insert(k.to_owned(), v);
        }
        h
    }

    /// An instance principal only: the simulator's metadata service and
    /// federation endpoint, an empty HOME (no config file), no resource principal.
    async fn instance_principal(token_lifetime: Duration) -> Self {
        let sim = OciSim::start(OciSimConfig {
            transition_time: Duration::from_millis(50),
            instance_token_lifetime: token_lifetime,
            ..Default::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut env: HashMap<String, String> =
            gamefleet_sim::oci::instance_principal_identity(&sim)
                .into_iter()
                .collect();
        env.insert("HOME".into(), path(dir.path()));
        Self { sim, dir, env }
    }

    async fn oci(&self) -> OciProviders {
        self.try_oci(Duration::from_secs(10)).await.unwrap()
    }

    async fn oci_with_timeout(&self, timeout: Duration) -> OciProviders {
        self.try_oci(timeout).await.unwrap()
    }

    async fn try_oci(&self, timeout: Duration) -> Result<OciProviders, PowerError> {
        let env = |k: &str| self.env.get(k).cloned();
        let http = reqwest::Client::builder().timeout(timeout).build().unwrap();
        // Short pauses: the tests exercise retrying, not waiting.
        let backoff = Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(100),
            ..Backoff::default()
        };
        OciProviders::from_env_with(&env, http, backoff).await
    }
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

async fn run(power: &dyn Power, resource: &str, action: Action) -> Outcome {
    let settings = PollSettings {
        interval: Duration::from_millis(50),
        max_wait: Duration::from_secs(10),
        wait: true,
    };
    lifecycle::run(
        power,
        resource,
        action,
        &settings,
        &SystemClock::default(),
        &mut |_| {},
    )
    .await
}

fn assert_succeeded(out: &Outcome, seen: &str, reached: &str) {
    assert_eq!(out.kind, OutcomeKind::Succeeded, "{out:?}");
    assert_eq!(out.seen.as_deref(), Some(seen), "{out:?}");
    assert_eq!(out.reached.as_deref(), Some(reached), "{out:?}");
}

#[tokio::test]
async fn container_instance_start_and_stop_through_the_core() {
    let h = Harness::api_key().await;
    let ci = h.sim.add_container_instance("game-1", "INACTIVE");
    let power = h.oci().await.container_instances();

    let out = run(&*power, &ci, Action::Start).await;
    assert_succeeded(&out, "INACTIVE", "ACTIVE");
    assert_eq!(
        out.message,
        "Container instance has been successfully started."
    );
    assert_eq!(
        h.sim.container_instance_state(&ci).as_deref(),
        Some("ACTIVE")
    );

    let out = run(&*power, &ci, Action::Toggle).await;
    assert_succeeded(&out, "ACTIVE", "INACTIVE");
    assert_eq!(out.command, Some(Command::Stop));
    assert_eq!(
        h.sim.container_instance_state(&ci).as_deref(),
        Some("INACTIVE")
    );

    assert_eq!(h.sim.count(OciOp::StartContainerInstance), 1);
    assert_eq!(h.sim.count(OciOp::StopContainerInstance), 1);
    assert!(h.sim.count(OciOp::GetWorkRequest) >= 2, "tickets followed");
    let key_id = key("key_id_with_actual_fingerprint");
    for r in h.sim.requests() {
        assert_eq!(r.status / 100, 2, "{r:?}");
        assert_eq!(r.key_id.as_deref(), Some(key_id.as_str()), "{r:?}");
    }
}

#[tokio::test]
async fn compute_start_softstop_and_hard_stop() {
    let h = Harness::api_key().await;
    let vm = h.sim.add_compute_instance("vm-1", "STOPPED");
    let oci = h.oci().await;

    let out = run(&*oci.compute(), &vm, Action::Start).await;
    assert_succeeded(&out, "STOPPED", "RUNNING");
    assert_eq!(out.message, "Instance has been successfully started.");
    let out = run(&*oci.compute(), &vm, Action::Stop).await;
    assert_succeeded(&out, "RUNNING", "STOPPED");
    run(&*oci.compute(), &vm, Action::Start).await;
    let out = run(&*oci.compute_with(StopMode::Hard), &vm, Action::Stop).await;
    assert_succeeded(&out, "RUNNING", "STOPPED");
    assert_eq!(h.sim.compute_state(&vm).as_deref(), Some("STOPPED"));

    let actions: Vec<String> = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.op == Some(OciOp::InstanceAction))
        .map(|r| r.query)
        .collect();
    assert_eq!(
        actions,
        [
            "action=START",
            "action=SOFTSTOP",
            "action=START",
            "action=STOP"
        ]
    );
}

#[tokio::test]
async fn restarts_wait_for_the_work_request_or_the_reboot() {
    let h = Harness::api_key().await;
    let oci = h.oci().await;
    // Container instance: restart through a work request.
    let ci = h.sim.add_container_instance("game-2", "ACTIVE");
    let out = run(&*oci.container_instances(), &ci, Action::Restart).await;
    assert_succeeded(&out, "ACTIVE", "ACTIVE");
    assert_eq!(
        out.message,
        "Container instance has been successfully restarted."
    );
    assert_eq!(h.sim.count(OciOp::RestartContainerInstance), 1);
    assert!(h.sim.count(OciOp::GetWorkRequest) >= 1);
    // Compute: SOFTRESET, seen going through STOPPING/STARTING back to RUNNING.
    let vm = h.sim.add_compute_instance("vm-2", "RUNNING");
    let mut seen = vec![];
    let settings = PollSettings {
        interval: Duration::from_millis(20),
        max_wait: Duration::from_secs(10),
        wait: true,
    };
    let out = lifecycle::run(
        &*oci.compute(),
        &vm,
        Action::Restart,
        &settings,
        &SystemClock::default(),
        &mut |p| seen.push(p),
    )
    .await;
    assert_succeeded(&out, "RUNNING", "RUNNING");
    assert!(
        seen.iter().any(
            |p| matches!(p, lifecycle::poll::Progress::Polled { state, .. } if state != "RUNNING")
        ),
        "{seen:?}"
    );
    assert!(h
        .sim
        .requests()
        .iter()
        .any(|r| r.query == "action=SOFTRESET"));
    // A stopped instance is not restarted.
    let off = h.sim.add_compute_instance("vm-3", "STOPPED");
    let out = run(&*oci.compute(), &off, Action::Restart).await;
    assert_eq!(out.kind, OutcomeKind::Refused);
    assert_eq!(
        out.message,
        "Instance is in STOPPED state. Cannot restart now."
    );
}

#[tokio::test]
async fn a_rejected_signature_is_unauthorized_and_nothing_is_started() {
    let h = Harness::api_key().await;
    let ci = h.sim.add_container_instance("game-1", "INACTIVE");
    // Same keyId, another public key: the signature no longer verifies.
    h.sim
        .register_api_key(&key("key_id_with_actual_fingerprint"), OTHER_PUBLIC_KEY)
        .unwrap();
    let power = h.oci().await.container_instances();

    match power.observe(&ci).await {
        Err(PowerError::Unauthorized(m)) => {
            assert!(m.contains("401 NotAuthenticated"), "{m}");
            assert!(m.contains("opc-request-id"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    let out = run(&*power, &ci, Action::Start).await;
    assert!(
        matches!(out.kind, OutcomeKind::Error(PowerError::Unauthorized(_))),
        "{out:?}"
    );
    assert_eq!(gamefleet::http::error::outcome_status(&out).as_u16(), 502);
    assert!(out.message.contains("NotAuthenticated"), "{}", out.message);
    assert_eq!(
        h.sim.count(OciOp::GetContainerInstance),
        2,
        "401 is not retried"
    );
    assert_eq!(h.sim.count(OciOp::StartContainerInstance), 0);
    assert_eq!(
        h.sim.container_instance_state(&ci).as_deref(),
        Some("INACTIVE")
    );
}

#[tokio::test]
async fn resource_principal_as_literals_and_as_files() {
    for as_files in [false, true] {
        let h = Harness::resource_principal(as_files).await;
        let ci = h.sim.add_container_instance("game-1", "INACTIVE");
        let oci = h.oci().await;
        assert_eq!(oci.region(), "us-ashburn-1");
        let out = run(&*oci.container_instances(), &ci, Action::Start).await;
        assert_succeeded(&out, "INACTIVE", "ACTIVE");
        for r in h.sim.requests() {
            assert!(
                r.key_id.as_deref().is_some_and(|k| k.starts_with("ST$")),
                "files: {as_files}: {r:?}"
            );
            assert_eq!(r.status / 100, 2, "files: {as_files}: {r:?}");
        }
    }
}

#[tokio::test]
async fn a_rotated_session_token_file_is_picked_up_before_it_expires() {
    let h = Harness::resource_principal(true).await;
    let rpst = h.env["OCI_RESOURCE_PRINCIPAL_RPST"].clone();
    // Valid for 2 minutes: inside the 5-minute window, so every request re-reads the file.
    let mint = |lifetime| {
        h.sim.mint_resource_principal_token(
            &key("public_key_pem"),
            h.sim.tenancy_id(),
            h.sim.compartment_id(),
            lifetime,
        )
    };
    let first = mint(Duration::from_secs(120));
    std::fs::write(&rpst, &first).unwrap();
    let ci = h.sim.add_container_instance("game-1", "ACTIVE");
    let power = h.oci().await.container_instances();
    power.observe(&ci).await.unwrap();
    // The platform rotates the file; the next request signs with the new token.
    let second = mint(Duration::from_secs(3600));
    assert_ne!(first, second);
    std::fs::write(&rpst, &second).unwrap();
    power.observe(&ci).await.unwrap();

    let key_ids: Vec<String> = h
        .sim
        .requests()
        .into_iter()
        .filter_map(|r| r.key_id)
        .collect();
    assert_eq!(key_ids, [format!("ST${first}"), format!("ST${second}")]);
}

#[tokio::test]
async fn a_refused_session_token_is_re_read_once() {
    let h = Harness::resource_principal(true).await;
    let rpst = h.env["OCI_RESOURCE_PRINCIPAL_RPST"].clone();
    let mint = |public_key| {
        h.sim.mint_resource_principal_token(
            public_key,
            h.sim.tenancy_id(),
            h.sim.compartment_id(),
            Duration::from_secs(3600),
        )
    };
    // A token valid for an hour, but bound to another key: OCI refuses it.
    std::fs::write(&rpst, mint(OTHER_PUBLIC_KEY)).unwrap();
    let ci = h.sim.add_container_instance("game-1", "ACTIVE");
    let power = h.oci().await.container_instances();
    let public_key = key("public_key_pem");
    std::fs::write(&rpst, mint(&public_key)).unwrap();
    assert_eq!(power.observe(&ci).await.unwrap().state, "ACTIVE");
    let statuses: Vec<u16> = h.sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 200]);

    // Nothing new in the file: the 401 stands, after one re-read.
    std::fs::write(&rpst, mint(OTHER_PUBLIC_KEY)).unwrap();
    let power = h.oci().await.container_instances();
    h.sim.reset_counts();
    assert!(matches!(
        power.observe(&ci).await,
        Err(PowerError::Unauthorized(_))
    ));
    assert_eq!(h.sim.count(OciOp::GetContainerInstance), 1);
}

#[tokio::test]
async fn a_request_that_times_out_is_retried() {
    let h = Harness::api_key().await;
    let ci = h.sim.add_container_instance("game-1", "ACTIVE");
    h.sim.fail_next(
        OciFaultRule::stall(OciOp::GetContainerInstance, Duration::from_secs(2)).times(1),
    );
    let power = h
        .oci_with_timeout(Duration::from_millis(300))
        .await
        .container_instances();
    assert_eq!(power.observe(&ci).await.unwrap().state, "ACTIVE");
    // Stalled once, then answered (more on a machine too loaded for 300 ms).
    assert!(h.sim.count(OciOp::GetContainerInstance) >= 2);
}

#[tokio::test]
async fn throttling_is_ridden_out_honouring_retry_after() {
    let h = Harness::api_key().await;
    let ci = h.sim.add_container_instance("game-1", "ACTIVE");
    h.sim.fail_next(
        OciFaultRule::new(
            OciOp::GetContainerInstance,
            429,
            "TooManyRequests",
            "slow down",
        )
        .retry_after(1)
        .times(1),
    );
    let power = h.oci().await.container_instances();
    let t = Instant::now();
    let seen = power.observe(&ci).await.unwrap();
    assert_eq!(seen.state, "ACTIVE");
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(h.sim.count(OciOp::GetContainerInstance), 2);

    // 5xx past the retry budget (1 + 4 attempts) is Unavailable, with OCI's words.
    h.sim.fail_next(
        OciFaultRule::new(
            OciOp::GetContainerInstance,
            503,
            "ServiceUnavailable",
            "down",
        )
        .times(5),
    );
    match power.observe(&ci).await {
        Err(PowerError::Unavailable(m)) => {
            assert!(m.contains("503 ServiceUnavailable: down"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.sim.count(OciOp::GetContainerInstance), 2 + 5);
}

#[tokio::test]
async fn incorrect_state_is_left_to_the_core() {
    let h = Harness::api_key().await;
    let ci = h.sim.add_container_instance("game-1", "ACTIVE");
    let power = h.oci().await.container_instances();
    match power.command(&ci, Command::Start).await {
        Err(PowerError::Rejected(m)) => assert!(m.contains("409 IncorrectState"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.sim.count(OciOp::StartContainerInstance),
        1,
        "409 is not retried"
    );
}

#[tokio::test]
async fn a_failed_work_request_fails_the_run() {
    let h = Harness::api_key().await;
    let ci = h.sim.add_container_instance("game-1", "INACTIVE");
    let power = h.oci().await.container_instances();
    h.sim.fail_next_transition(&ci);
    let out = run(&*power, &ci, Action::Start).await;
    assert_eq!(out.kind, OutcomeKind::Failed, "{out:?}");
    assert_eq!(gamefleet::http::error::outcome_status(&out).as_u16(), 502);
    // The FAILED state or the failed work request, whichever the poll sees first.
    assert!(
        out.message == "Container instance entered FAILED state while it was being started."
            || out
                .message
                .starts_with("Failed to start container instance: "),
        "{}",
        out.message
    );

    // The ticket alone tells why.
    h.sim.set_state(&ci, "INACTIVE");
    h.sim.fail_next_transition(&ci);
    let ticket = power.command(&ci, Command::Start).await.unwrap();
    assert!(ticket.id.is_some());
    let deadline = Instant::now() + Duration::from_secs(5);
    let why = loop {
        match power.check(&ticket).await.unwrap() {
            TicketStatus::Failed(why) => break why,
            TicketStatus::InProgress if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("{other:?}"),
        }
    };
    assert!(why.starts_with("InternalServerError: "), "{why}");
    assert!(h.sim.count(OciOp::ListWorkRequestErrors) >= 1);
}

#[tokio::test]
async fn a_secret_names_the_instance_to_start() {
    let h = Harness::api_key().await;
    let ci = h.sim.add_container_instance("game-1", "INACTIVE");
    let secret = h.sim.add_secret(&format!("{ci}\n"));
    let oci = h.oci().await;
    let target = oci.secret(&secret).await.unwrap();
    assert_eq!(target, ci);
    let out = run(&*oci.container_instances(), &target, Action::Start).await;
    assert_succeeded(&out, "INACTIVE", "ACTIVE");

    match oci.secret("ocid1.vaultsecret.oc1.iad.nope").await {
        Err(PowerError::NotFound(m)) => assert!(m.contains("404"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_resources_and_a_dead_endpoint() {
    let h = Harness::api_key().await;
    let oci = h.oci().await;
    let out = run(
        &*oci.compute(),
        "ocid1.instance.oc1.iad.nope",
        Action::Status,
    )
    .await;
    assert!(
        matches!(out.kind, OutcomeKind::Error(PowerError::NotFound(_))),
        "{out:?}"
    );
    assert_eq!(gamefleet::http::error::outcome_status(&out).as_u16(), 404);

    h.sim.shutdown().await;
    match oci
        .container_instances()
        .observe("ocid1.computecontainerinstance.oc1.iad.aaaa")
        .await
    {
        Err(PowerError::Unavailable(m)) => assert!(m.contains("connection failed"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Ids that are no OCID of the provider's type are refused before any URL is
/// built: the url crate drops `.` and `..` segments, so they used to reach
/// OCI's list endpoints.
#[tokio::test]
async fn odd_ids_are_refused_before_anything_is_sent() {
    let h = Harness::api_key().await;
    let oci = h.oci().await;
    let ci = h.sim.add_container_instance("arena", "ACTIVE");
    let vm = h.sim.add_compute_instance("vm", "RUNNING");
    h.sim.reset_counts();
    let invalid = |r: Result<_, PowerError>, what: &str| match r {
        Err(PowerError::InvalidResource(m)) => assert!(m.contains(what), "{m}"),
        other => panic!("{what}: {other:?}"),
    };
    for id in [
        ".",
        "..",
        "a/b",
        "ocid1.computecontainerinstance.oc1.iad.",
        &vm,
    ] {
        let power = oci.container_instances();
        invalid(power.observe(id).await.map(drop), "container instance");
        invalid(
            power.command(id, Command::Start).await.map(drop),
            "container instance",
        );
    }
    for id in [".", "..", "%2e%2e", &ci] {
        let power = oci.compute();
        invalid(power.observe(id).await.map(drop), "compute instance");
        invalid(
            power.command(id, Command::Stop).await.map(drop),
            "compute instance",
        );
    }
    for id in [".", "..", &ci] {
        invalid(oci.secret(id).await.map(drop), "secretId");
    }
    assert!(h.sim.requests().is_empty(), "{:?}", h.sim.requests());
}

// ------------------------------------------------------------ instance principal

fn requests_to<'a>(
    log: &'a [OciRequestRecord],
    path: &'a str,
) -> impl Iterator<Item = &'a OciRequestRecord> + 'a {
    log.iter().filter(move |r| r.path == path)
}

fn api_key_ids(log: &[OciRequestRecord]) -> Vec<String> {
    log.iter()
        .filter(|r| r.path.starts_with("/2016") || r.path.starts_with("/2021"))
        .filter_map(|r| r.key_id.clone())
        .collect()
}

#[tokio::test]
async fn instance_principal_alone_starts_and_stops_a_compute_instance() {
    let h = Harness::instance_principal(Duration::from_secs(1200)).await;
    let vm = h.sim.add_compute_instance("cron-box", "RUNNING");
    let oci = h.oci().await;
    assert_eq!(
        oci.region(),
        "us-ashburn-1",
        "iad resolved through canonicalRegionName"
    );
    let power = oci.compute();
    assert_succeeded(&run(&*power, &vm, Action::Stop).await, "RUNNING", "STOPPED");
    assert_succeeded(
        &run(&*power, &vm, Action::Start).await,
        "STOPPED",
        "RUNNING",
    );

    let log = h.sim.requests();
    for p in [
        "/opc/v2/instance/region",
        "/opc/v2/instance/canonicalRegionName",
        "/opc/v2/identity/cert.pem",
        "/opc/v2/identity/key.pem",
        "/opc/v2/identity/intermediate.pem",
    ] {
        assert_eq!(requests_to(&log, p).count(), 1, "{p}: {log:?}");
    }
    let fed: Vec<_> = requests_to(&log, "/v1/x509").collect();
    assert_eq!(fed.len(), 1, "one federation for the whole run");
    assert_eq!(fed[0].status, 200);
    let fingerprint = h.sim.instance_certificate_fingerprint().unwrap();
    assert_eq!(
        fed[0].key_id.as_deref(),
        Some(format!("{}/fed-x509-sha256/{fingerprint}", h.sim.tenancy_id()).as_str())
    );
    let ids = api_key_ids(&log);
    assert!(ids.len() >= 4, "{log:?}");
    assert!(
        ids.iter().all(|k| k.starts_with("ST$") && *k == ids[0]),
        "one session token signs every call"
    );
}

#[tokio::test]
async fn oci_auth_names_the_instance_principal_even_with_a_config_file() {
    let mut h = Harness::instance_principal(Duration::from_secs(1200)).await;
    // A config file is there (it would win the fallback order)...
    let home = tempfile::tempdir().unwrap();
    let other = OciSim::start(OciSimConfig::default()).await.unwrap();
    let api = gamefleet_sim::oci::api_key_identity(&other, home.path()).unwrap();
    h.env
        .extend(api.into_iter().filter(|(k, _)| k != "OCI_ENDPOINT"));
    let vm = h.sim.add_compute_instance("cron-box", "STOPPED");
    // ...and is used when nothing names a principal: its key is unknown here.
    let power = h.oci().await.compute();
    assert!(matches!(
        power.observe(&vm).await,
        Err(PowerError::Unauthorized(_))
    ));
    for value in ["instance_principal", "instance-principal"] {
        h.env.insert("OCI_AUTH".into(), value.into());
        let power = h.oci().await.compute();
        assert_eq!(
            power.observe(&vm).await.unwrap().state,
            "STOPPED",
            "{value}"
        );
    }
}

#[tokio::test]
async fn an_expiring_instance_token_is_renewed_with_fresh_certificates() {
    let h = Harness::instance_principal(Duration::from_secs(2)).await;
    let vm = h.sim.add_compute_instance("cron-box", "RUNNING");
    let power = h.oci().await.compute();
    assert_eq!(power.observe(&vm).await.unwrap().state, "RUNNING");
    // The instance's certificate rotates; the old one no longer federates.
    let rotated = h.sim.rotate_instance_certificate();
    // Past half-life (1 s) and past exp: the next call federates first.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(power.observe(&vm).await.unwrap().state, "RUNNING");

    let log = h.sim.requests();
    let fed: Vec<_> = requests_to(&log, "/v1/x509").collect();
    assert_eq!(fed.len(), 2, "{log:?}");
    assert!(fed.iter().all(|r| r.status == 200), "{fed:?}");
    assert!(
        fed[1].key_id.as_deref().unwrap().ends_with(&rotated),
        "signed with the new leaf"
    );
    assert_ne!(fed[0].key_id, fed[1].key_id);
    assert_eq!(
        requests_to(&log, "/opc/v2/identity/cert.pem").count(),
        2,
        "re-fetched"
    );
    assert_eq!(requests_to(&log, "/opc/v2/identity/key.pem").count(), 2);
    let ids = api_key_ids(&log);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "a new session token");
    assert!(
        log.iter().all(|r| r.status == 200),
        "no 401 on the way: {log:?}"
    );
}

#[tokio::test]
async fn a_401_federates_again_once() {
    let h = Harness::instance_principal(Duration::from_secs(1200)).await;
    let vm = h.sim.add_compute_instance("cron-box", "RUNNING");
    let power = h.oci().await.compute();
    let refused =
        || OciFaultRule::new(OciOp::GetInstance, 401, "NotAuthenticated", "token revoked");
    h.sim.fail_next(refused());
    assert_eq!(power.observe(&vm).await.unwrap().state, "RUNNING");
    let log = h.sim.requests();
    let statuses: Vec<u16> = log
        .iter()
        .filter(|r| r.op == Some(OciOp::GetInstance))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [401, 200]);
    assert_eq!(
        requests_to(&log, "/v1/x509").count(),
        2,
        "federated again for the 401"
    );
    let ids = api_key_ids(&log);
    assert_ne!(ids[0], ids[1], "the retry carries the new token");

    // Refused again after the new token: one more federation, then the 401 stands.
    h.sim.reset_counts();
    h.sim.fail_next(refused().times(2));
    assert!(matches!(
        power.observe(&vm).await,
        Err(PowerError::Unauthorized(_))
    ));
    assert_eq!(h.sim.count(OciOp::GetInstance), 2);
    assert_eq!(h.sim.count(OciOp::FederateX509), 1);
}

#[tokio::test]
async fn a_dead_metadata_service_is_an_error_naming_it() {
    let mut h = Harness::instance_principal(Duration::from_secs(1200)).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    h.env.insert("OCI_METADATA_ENDPOINT".into(), dead.clone());
    let err = h.try_oci(Duration::from_secs(5)).await.unwrap_err();
    let PowerError::Unavailable(m) = &err else {
        panic!("{err:?}")
    };
    assert!(
        m.contains(&dead) && m.contains("OCI_METADATA_ENDPOINT"),
        "{m}"
    );
    assert!(m.contains("instance metadata service"), "{m}");
    let out = Outcome {
        provider: "oci-compute",
        resource: "x".into(),
        action: Action::Start,
        seen: None,
        command: None,
        reached: None,
        kind: OutcomeKind::Error(err.clone()),
        elapsed: Duration::ZERO,
        message: m.clone(),
    };
    assert_eq!(
        (
            gamefleet::http::error::outcome_status(&out).as_u16(),
            out.exit_code()
        ),
        (502, 1)
    );

    // The simulator's metadata service wants IMDS v2's header.
    let bare = reqwest::get(format!("{}/opc/v2/identity/key.pem", h.sim.endpoint()))
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
}

#[tokio::test]
async fn instance_principal_debug_shows_no_key_or_token() {
    let h = Harness::instance_principal(Duration::from_secs(1200)).await;
    let vm = h.sim.add_compute_instance("cron-box", "RUNNING");
    let oci = h.oci().await;
    oci.compute().observe(&vm).await.unwrap();
    let shown = format!("{oci:?}");
    assert!(
        shown.contains("InstancePrincipal") && shown.contains("us-ashburn-1"),
        "{shown}"
    );
    let token = api_key_ids(&h.sim.requests())[0]
        .trim_start_matches("ST$")
        .to_owned();
    let (leaf_key, _) = h.sim.instance_secrets().unwrap();
    let key_line = leaf_key.lines().nth(1).unwrap().to_owned();
    assert!(!shown.contains(&token), "{shown}");
    assert!(!shown.contains(&key_line), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}
