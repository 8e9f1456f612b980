//! `TestApp::spawn()`: the real router on a random port, against a private
//! table in Azurite and a private ARM simulator whose Event Grid deliveries go
//! to this app's /Monitor, as the Functions host would hand them over.

use gamefleet::config::Config;
use gamefleet::fleet::{ContainerGroupName, GroupKey, GroupRecord, ResourceGroup};
use gamefleet::ops::App;
use gamefleet::ports::FleetStore;
use gamefleet_sim::azurite::{unique_table, Azurite};
use gamefleet_sim::{EventConfig, SimConfig, Simulator};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct TestApp {
    pub base: String,
    pub table: String,
    pub http: reqwest::Client,
    pub sim: Simulator,
    pub app: Arc<App>,
}

pub struct Options {
    pub sim: SimConfig,
    pub env: Vec<(String, String)>,
    /// Another instance's table and simulator (several instances of one deployment).
    pub share: Option<(String, Simulator)>,
}

impl Default for Options {
    fn default() -> Self {
        let sim = SimConfig {
            provisioning_delay: Duration::from_millis(50),
            events: EventConfig {
                retry_delays: vec![Duration::from_millis(100); 20],
                ..EventConfig::default()
            },
            ..SimConfig::default()
        };
        Self {
            sim,
            env: vec![],
            share: None,
        }
    }
}

pub fn key(rg: &str, name: &str) -> GroupKey {
    GroupKey::new(
        ResourceGroup::parse(rg).unwrap(),
        ContainerGroupName::parse(name).unwrap(),
    )
}

/// The original project's sample body (flattened SDK shape).
pub fn create_body(rg: &str, name: &str) -> Value {
    json!({
        "resourceGroup": rg,
        "containerGroupName": name,
        "containerGroup": {
            "location": "westeurope",
            "containers": [{
                "name": "server",
                "image": "gamefleet/sample-server:1",
                "environmentVariables": [{"name": "SERVER_NAME", "value": name}],
                "resources": {"requests": {"memoryInGB": 0.5, "cpu": 0.5}},
                "ports": [{"protocol": "UDP", "port": 8303}]
            }],
            "ipAddress": {"ports": [{"protocol": "UDP", "port": 8303}], "type": "Public"},
            "osType": "Linux"
        }
    })
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Options::default()).await
    }

    /// A second instance of `other`'s deployment: same table, same ARM.
    pub async fn spawn_sharing(other: &TestApp) -> TestApp {
        Self::spawn_with(Options {
            share: Some((other.table.clone(), other.sim.clone())),
            ..Default::default()
        })
        .await
    }

    pub async fn spawn_with(mut opts: Options) -> TestApp {
        let azurite = Azurite::shared().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (table, sim) = match opts.share.take() {
            Some(shared) => shared,
            None => {
                if opts.sim.events.sink.is_none() && opts.sim.events.auto_deliver {
                    opts.sim.events.sink = Some(format!("{base}/Monitor"));
                }
                (unique_table(), Simulator::start(opts.sim).await.unwrap())
            }
        };
        let mut env: HashMap<String, String> = sim
            .gamefleet_env(&azurite.connection_string(), &table)
            .into_iter()
            .chain(
                [
                    ("ACI_SET_SESSIONS_URL", format!("{base}/api/ReportSessions")),
                    ("DELETE_WAIT", "5s".to_owned()),
                    ("ARM_TIMEOUT", "5s".to_owned()),
                    ("STORAGE_TIMEOUT", "5s".to_owned()),
                    // Reconcile is tested on its own (tests/api/reconcile.rs); elsewhere rows are seeded without groups.
                    ("RECONCILE_INTERVAL", "off".to_owned()),
                    // The simulator throttles no write unless a test gives it a bucket; the
                    // write pacer is tested against one in tests/api/pacing.rs.
                    ("ARM_WRITE_RATE", "off".to_owned()),
                ]
                .map(|(k, v)| (k.to_owned(), v)),
            )
            .collect();
        for (k, v) in opts.env {
            env.insert(k, v);
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        let lookup: gamefleet::ops::power::SharedEnv = Arc::new(move |k: &str| env.get(k).cloned());
        let app = Arc::new(gamefleet::wiring::build(&config, lookup).unwrap());
        app.store.ensure_ready().await.unwrap();
        let router = gamefleet::http::router(app.clone());
        // The binary's own accept loop, with its bounds, under every API test.
        let limits = config.serve;
        tokio::spawn(gamefleet::http::serve(
            listener,
            router,
            limits,
            std::future::pending(),
        ));
        TestApp {
            base,
            table,
            http: reqwest::Client::new(),
            sim,
            app,
        }
    }

    pub fn store(&self) -> &Arc<dyn FleetStore> {
        &self.app.store
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn create(&self, rg: &str, name: &str) -> (StatusCode, Value) {
        self.post("/api/Create", &create_body(rg, name)).await
    }

    pub async fn set_sessions(&self, items: &[(&str, &str, u32)]) -> (StatusCode, Value) {
        let body: Vec<Value> = items
            .iter()
            .map(|(rg, n, s)| json!({"resourceGroup": rg, "containerGroupName": n, "activeSessions": s}))
            .collect();
        self.post("/api/SetSessions", &json!(body)).await
    }

    pub async fn set_state(&self, rg: &str, name: &str, state: &str) -> (StatusCode, Value) {
        self.post(
            "/api/SetState",
            &json!({"resourceGroup": rg, "containerGroupName": name, "state": state}),
        )
        .await
    }

    /// Fire the GC timer the way the host does; returns (status, ReturnValue).
    pub async fn gc(&self) -> (StatusCode, Value) {
        let env = gamefleet_sim::events::timer_envelope("timer", false);
        let r = gamefleet_sim::host::invoke(&self.http, &self.base, "GC", &env)
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        (status, v["ReturnValue"].clone())
    }

    /// Deliver one event to Monitor the way the host does; returns (status, ReturnValue).
    pub async fn monitor(&self, event: &Value) -> (StatusCode, Value) {
        let env = gamefleet_sim::events::host_envelope("eventGridEvent", "Monitor", event);
        let r = gamefleet_sim::host::invoke(&self.http, &self.base, "Monitor", &env)
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        (status, v["ReturnValue"].clone())
    }

    /// The game server's own report (ReportSessions with its token): its
    /// count and its heartbeat; must be accepted.
    pub async fn report(&self, rg: &str, name: &str, n: u32) {
        let token = self.app.keyring.issue(&key(rg, name)).await.unwrap();
        let r = self
            .http
            .post(format!("{}/api/ReportSessions", self.base))
            .bearer_auth(token)
            .json(&json!({"resourceGroup": rg, "containerGroupName": name, "activeSessions": n}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "ReportSessions {rg}/{name} {n}");
    }

    pub async fn row(&self, rg: &str, name: &str) -> Option<GroupRecord> {
        self.store()
            .get(&key(rg, name))
            .await
            .unwrap()
            .map(|v| v.value)
    }

    /// Wait until the row is in `state` (events are delivered in the background).
    pub async fn wait_state(&self, rg: &str, name: &str, state: &str) -> GroupRecord {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let row = self.row(rg, name).await;
            if let Some(r) = &row {
                if r.state.as_str() == state {
                    return r.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "{rg}/{name} never reached {state}; last: {row:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Create and wait until Running.
    pub async fn running(&self, rg: &str, name: &str) -> GroupRecord {
        let (s, body) = self.create(rg, name).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}");
        self.wait_state(rg, name, "Running").await
    }
}
