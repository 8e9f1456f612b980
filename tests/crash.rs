//! kill -9 between any two steps of Create, Delete and GC, then a restart:
//! the next GC (with its reconcile pass) leaves no orphan (a gamefleet group in
//! ARM without a row) and no phantom (a row without a group).
//!
//! Needs the crash points compiled in: `cargo test --features failpoints`
//! (scripts/test does). Each scenario pauses the real binary at one point
//! (`FAILPOINTS=<point>=pause`), waits until the step before it is visible,
//! then SIGKILLs it.
#![cfg(feature = "failpoints")]

use gamefleet::fleet::{ContainerGroupName, GroupKey, GroupState, ResourceGroup};
use gamefleet::ports::{FleetStore, ListQuery};
use gamefleet::store::table::{StoreOptions, TableStore};
use gamefleet_sim::azurite::{unique_table, Azurite};
use gamefleet_sim::{EventConfig, SimConfig, Simulator};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};

struct Stack {
    /// The handler's output (stdout + stderr of every start), shown when a wait fails.
    log: tempfile::NamedTempFile,
    sim: Simulator,
    store: TableStore,
    env: Vec<(String, String)>,
    /// The running handler's address: it binds port 0 on each start (so
    /// parallel tests never race for a port) and logs where it listens.
    base: std::sync::Mutex<String>,
    http: reqwest::Client,
}

impl Stack {
    async fn new() -> Stack {
        let azurite = Azurite::shared().await;
        let table = unique_table();
        let sim = Simulator::start(SimConfig {
            // Long enough that the kill after the PUT lands before Event Grid's event.
            provisioning_delay: Duration::from_millis(500),
            // No Event Grid: only GC and its reconcile pass may repair what a crash
            // left (an event could also remove a claimed row and hide the crash point).
            events: EventConfig {
                auto_deliver: false,
                ..EventConfig::default()
            },
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let mut env = sim.gamefleet_env(&azurite.connection_string(), &table);
        env.extend(
            [
                ("FUNCTIONS_CUSTOMHANDLER_PORT", "0"),
                ("RECONCILE_INTERVAL", "0s"),
                ("FLEET_CREATING_TIMEOUT", "0s"),
                ("DELETE_WAIT", "5s"),
                // A dead process's claim is resumed once this has passed.
                ("DELETE_LEASE", "1s"),
                ("RUST_LOG", "info"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let store = TableStore::from_connection_string(
            &azurite.connection_string(),
            &table,
            reqwest::Client::new(),
            StoreOptions::default(),
        )
        .unwrap();
        store.ensure_ready().await.unwrap();
        Stack {
            log: tempfile::NamedTempFile::new().unwrap(),
            sim,
            store,
            env,
            base: std::sync::Mutex::new(String::new()),
            http: reqwest::Client::new(),
        }
    }

    async fn start(&self, failpoint: Option<&str>) -> tokio::process::Child {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gamefleet"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::from(self.append_log()))
            .stderr(Stdio::from(self.append_log()))
            .kill_on_drop(true);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(p) = failpoint {
            cmd.env("FAILPOINTS", format!("{p}=pause"));
        }
        let marker = format!("--- start {} ---", uuid::Uuid::new_v4());
        {
            use std::io::Write;
            let _ = writeln!(self.append_log(), "{marker} (failpoint {failpoint:?})");
        }
        let child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            let this_run = log.rsplit(&marker).next().unwrap_or_default();
            if let Some(addr) = this_run
                .split("gamefleet listening addr=")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
            {
                *self.base.lock().unwrap() = format!("http://{addr}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "handler did not start:\n{this_run}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child
    }

    /// The log opened for appending (every process writes at the end).
    fn append_log(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.log.path())
            .unwrap()
    }

    fn base(&self) -> String {
        self.base.lock().unwrap().clone()
    }

    fn post(&self, path: &str, body: Value) -> tokio::task::JoinHandle<()> {
        let (http, url) = (self.http.clone(), format!("{}{path}", self.base()));
        tokio::spawn(async move {
            let _ = http
                .post(url)
                .json(&body)
                .timeout(Duration::from_secs(60))
                .send()
                .await;
        })
    }

    async fn gc(&self) -> Value {
        let env = gamefleet_sim::events::timer_envelope("timer", false);
        let r = gamefleet_sim::host::invoke(&self.http, &self.base(), "GC", &env)
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.json::<Value>().await.unwrap()["ReturnValue"].clone()
    }

    async fn state(&self, name: &str) -> Option<GroupState> {
        self.store
            .get(&key(name))
            .await
            .unwrap()
            .map(|v| v.value.state)
    }

    /// Wait until `check` holds (the step before the crash point is done).
    async fn until(&self, what: &str, check: impl AsyncFn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !check().await {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
                panic!("never saw: {what}\n--- handler log ---\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// No orphan, no phantom: rows and gamefleet's ARM groups name the same set.
    async fn assert_consistent(&self, scenario: &str) -> (Vec<String>, Vec<String>) {
        let mut rows: Vec<String> = self
            .store
            .list(&ListQuery::ByState {
                state: None,
                resource_group: None,
            })
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.value.key.name.to_string())
            .collect();
        let mut groups: Vec<String> = self
            .sim
            .group_names()
            .into_iter()
            .filter(|(_, n)| {
                self.sim.group("games", n).is_some_and(|g| {
                    g["tags"]["managed-by"] == "gamefleet"
                        && g["properties"]["provisioningState"] != "Deleting"
                })
            })
            .map(|(_, n)| n)
            .collect();
        rows.sort();
        groups.sort();
        assert_eq!(
            rows, groups,
            "{scenario}: rows and ARM groups differ (orphan or phantom)"
        );
        (rows, groups)
    }
}

fn key(name: &str) -> GroupKey {
    GroupKey::new(
        ResourceGroup::parse("games").unwrap(),
        ContainerGroupName::parse(name).unwrap(),
    )
}

fn create_body(name: &str) -> Value {
    json!({"resourceGroup": "games", "containerGroupName": name, "containerGroup": {
        "location": "westeurope", "osType": "Linux",
        "containers": [{"name": "srv", "image": "game:1", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}, "ports": [{"port": 7777, "protocol": "UDP"}]}],
        "ipAddress": {"type": "Public", "ports": [{"port": 7777, "protocol": "UDP"}]}}})
}

/// A Running group to delete, made by a healthy handler.
async fn running(stack: &Stack, name: &str) {
    let mut h = stack.start(None).await;
    stack.post("/api/Create", create_body(name)).await.unwrap();
    // No events here: GC's reconcile pass moves it to Running once ARM provisioned it.
    stack
        .until("Running", async || {
            stack.gc().await;
            stack.state(name).await == Some(GroupState::Running)
        })
        .await;
    h.kill().await.unwrap();
}

#[tokio::test]
async fn crash_in_create_between_row_and_put() {
    let s = Stack::new().await;
    let mut h = s.start(Some("create-after-row")).await;
    let _call = s.post("/api/Create", create_body("c1"));
    s.until("the Creating row", async || {
        s.state("c1").await == Some(GroupState::Creating)
    })
    .await;
    h.kill().await.unwrap();
    assert!(
        s.sim.group("games", "c1").is_none(),
        "the PUT never happened"
    );

    let _h = s.start(None).await;
    let rv = s.gc().await;
    assert_eq!(rv["reconcile"]["removed"], 1, "{rv}");
    let (rows, _) = s.assert_consistent("create-after-row").await;
    assert!(rows.is_empty(), "no phantom Creating row");
}

#[tokio::test]
async fn crash_in_create_after_the_put() {
    let s = Stack::new().await;
    let mut h = s.start(Some("create-after-put")).await;
    let _call = s.post("/api/Create", create_body("c2"));
    s.until("the group in ARM", async || {
        s.sim.group("games", "c2").is_some()
    })
    .await;
    h.kill().await.unwrap();
    assert_eq!(
        s.state("c2").await,
        Some(GroupState::Creating),
        "killed before anything moved the row"
    );

    let _h = s.start(None).await;
    // Reconcile settles the Creating row from ARM (no event comes).
    s.until("Running after restart", async || {
        s.gc().await;
        s.state("c2").await == Some(GroupState::Running)
    })
    .await;
    let (rows, _) = s.assert_consistent("create-after-put").await;
    assert_eq!(rows, ["c2"]);
}

/// A little more than `DELETE_LEASE`: how long a crashed process's claim stands.
const CLAIM_LEASE: Duration = Duration::from_millis(1100);

async fn crash_in_delete(point: &str) {
    let s = Stack::new().await;
    running(&s, "d1").await;
    let mut h = s.start(Some(point)).await;
    let _call = s.post(
        "/api/Delete",
        json!({"resourceGroup": "games", "containerGroupName": "d1"}),
    );
    match point {
        "delete-after-claim" => {
            s.until("Deleting", async || {
                s.state("d1").await == Some(GroupState::Deleting)
            })
            .await
        }
        _ => {
            s.until("gone from ARM", async || {
                s.sim.group("games", "d1").is_none()
            })
            .await
        }
    }
    h.kill().await.unwrap();
    assert_eq!(
        s.state("d1").await,
        Some(GroupState::Deleting),
        "{point}: the row was claimed"
    );
    assert_eq!(
        s.sim.group("games", "d1").is_some(),
        point == "delete-after-claim",
        "{point}: killed between the steps"
    );

    let _h = s.start(None).await;
    tokio::time::sleep(CLAIM_LEASE).await;
    let rv = s.gc().await;
    assert_eq!(rv["failed"], 0, "{rv}");
    let (rows, _) = s.assert_consistent(point).await;
    assert!(rows.is_empty(), "{point}: {rows:?}");
}

#[tokio::test]
async fn crash_in_delete_after_the_claim() {
    crash_in_delete("delete-after-claim").await;
}

#[tokio::test]
async fn crash_in_delete_after_arm_deleted() {
    crash_in_delete("delete-after-arm").await;
}

async fn crash_in_gc(point: &str) {
    let s = Stack::new().await;
    running(&s, "g1").await;
    running(&s, "g2").await;
    let mut h = s.start(Some(point)).await;
    for n in ["g1", "g2"] {
        let r = s.http.post(format!("{}/api/SetState", s.base())).json(&json!({"resourceGroup": "games", "containerGroupName": n, "state": "MarkedForDeletion"})).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let _call = s.post("/GC", gamefleet_sim::events::timer_envelope("timer", false));
    match point {
        "gc-after-claim" => {
            s.until("a claim", async || {
                s.state("g1").await == Some(GroupState::Deleting)
                    || s.state("g2").await == Some(GroupState::Deleting)
            })
            .await
        }
        _ => {
            s.until("an ARM delete", async || {
                s.sim.group("games", "g1").is_none() || s.sim.group("games", "g2").is_none()
            })
            .await
        }
    }
    h.kill().await.unwrap();
    // The crash really came between the two steps: a claimed row whose group is
    // still there (after-claim) or already gone (after-arm).
    let mut between = false;
    for n in ["g1", "g2"] {
        let claimed = s.state(n).await == Some(GroupState::Deleting);
        let in_arm = s.sim.group("games", n).is_some();
        between |= claimed && in_arm == (point == "gc-after-claim");
    }
    assert!(between, "{point}: the kill did not land between the steps");

    let _h = s.start(None).await;
    tokio::time::sleep(CLAIM_LEASE).await;
    s.gc().await;
    let rv = s.gc().await;
    assert_eq!(rv["failed"], 0, "{rv}");
    let (rows, _) = s.assert_consistent(point).await;
    assert!(
        rows.is_empty(),
        "{point}: both marked, empty groups collected after the restart: {rows:?}"
    );
}

#[tokio::test]
async fn crash_in_gc_after_the_claim() {
    crash_in_gc("gc-after-claim").await;
}

#[tokio::test]
async fn crash_in_gc_after_arm_deleted() {
    crash_in_gc("gc-after-arm").await;
}
