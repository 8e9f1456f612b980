//! The pieces every section uses: the real `gamefleet` release binary as a child
//! process, the ARM simulator, `/proc` memory figures, and fast seeding of rows.

use crate::Result;
use gamefleet::fleet::{
    ActiveSessions, ContainerGroupName, GroupKey, GroupRecord, GroupState, ResourceGroup,
};
use gamefleet::ports::FleetStore;
use gamefleet::store::table::{StoreOptions, TableStore};
use gamefleet_sim::{EventConfig, SimConfig, Simulator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Where the binaries and logs are.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `target/release/gamefleet`.
    pub gamefleet: PathBuf,
    /// `bench/node/server.js`.
    pub node_server: PathBuf,
    /// Logs of every process the bench starts.
    pub work: PathBuf,
}

/// A simulator that only queues Event Grid events (Monitor is invoked by the
/// bench, so every request is attributable to one function call).
pub async fn simulator() -> Result<Simulator> {
    Ok(Simulator::start(SimConfig {
        provisioning_delay: Duration::from_millis(20),
        events: EventConfig {
            auto_deliver: false,
            ..EventConfig::default()
        },
        ..SimConfig::default()
    })
    .await?)
}

/// The environment of a gamefleet process as the Functions host would give it,
/// with ARM at `sim` and the table at `storage` (a connection string).
pub fn gamefleet_env(sim: &Simulator, storage: &str, table: &str) -> Vec<(String, String)> {
    let mut env = sim.gamefleet_env(storage, table);
    env.extend(
        [
            (
                "ACI_SET_SESSIONS_URL",
                "http://127.0.0.1:9/api/ReportSessions".to_owned(),
            ),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "0".to_owned()),
            // The production default; the "listening" line is read from it.
            ("RUST_LOG", "info".to_owned()),
            ("RECONCILE_INTERVAL", "off".to_owned()),
            // This simulator throttles nothing; the pacer is measured in the pacing
            // section against one that does (at ARM's 10/s, the scale GC would take minutes).
            ("ARM_WRITE_RATE", "off".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    env
}

/// The release binary, serving.
pub struct Gamefleet {
    child: tokio::process::Child,
    pub base: String,
    pub pid: u32,
    pub log: PathBuf,
}

impl Gamefleet {
    /// Starts the binary with exactly `env` (plus `PATH`) and waits for its
    /// `gamefleet listening addr=…` line.
    pub async fn start(paths: &Paths, name: &str, env: &[(String, String)]) -> Result<Gamefleet> {
        let log = paths.work.join(format!("gamefleet-{name}.log"));
        let file = std::fs::File::create(&log)?;
        let mut cmd = tokio::process::Command::new(&paths.gamefleet);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", paths.gamefleet.display()))?;
        let pid = child.id().ok_or("gamefleet exited at once")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = text
                .split("gamefleet listening addr=")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
            {
                let base = format!("http://{addr}");
                return Ok(Gamefleet {
                    child,
                    base,
                    pid,
                    log,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(
                    format!("gamefleet exited ({status}) before listening:\n{text}").into(),
                );
            }
            if Instant::now() > deadline {
                return Err(format!("gamefleet did not listen within 20 s:\n{text}").into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn memory(&self) -> Memory {
        Memory::of(self.pid)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Resident memory of a process (`/proc/<pid>/status`), in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Current resident set (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set since start (`VmHWM`).
    pub hwm_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
        }
    }
}

/// A store of the bench's own (seeding, checks), straight to `endpoint`.
pub async fn store(endpoint_conn: &str, table: &str) -> Result<TableStore> {
    let http = gamefleet::wiring::http_client(Duration::from_secs(30))?;
    let store =
        TableStore::from_connection_string(endpoint_conn, table, http, StoreOptions::default())?;
    store.ensure_ready().await?;
    Ok(store)
}

pub fn key(rg: &str, name: &str) -> GroupKey {
    GroupKey::new(
        ResourceGroup::parse(rg).expect("a valid resource group"),
        ContainerGroupName::parse(name).expect("a valid container group name"),
    )
}

/// `g00042`: names sort in index order.
pub fn name(i: usize) -> String {
    format!("g{i:05}")
}

/// Inserts one row per name (concurrently), in `state` with `sessions`.
pub async fn seed(
    store: &TableStore,
    rg: &str,
    names: impl IntoIterator<Item = String>,
    state: GroupState,
    sessions: u32,
) -> Result<usize> {
    use futures::StreamExt;
    let now = chrono::Utc::now() - chrono::Duration::minutes(10);
    let records: Vec<GroupRecord> = names
        .into_iter()
        .map(|n| {
            let mut r = GroupRecord::creating(key(rg, &n), "westeurope".into(), now);
            r.state = state;
            r.active_sessions = ActiveSessions::new(sessions).expect("a valid count");
            if state != GroupState::Creating {
                r.public_ip = Some("20.0.0.1".into());
            }
            r
        })
        .collect();
    let n = records.len();
    let results: Vec<_> = futures::stream::iter(records.iter())
        .map(|r| store.insert(r))
        .buffer_unordered(32)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(n)
}

/// A container group as ARM has it after gamefleet created it (tagged).
pub fn arm_group(sim: &Simulator, rg: &str, name: &str) {
    sim.insert_group(rg, name, managed_body());
}

fn managed_body() -> Value {
    json!({
        "location": "westeurope",
        "tags": {"managed-by": "gamefleet"},
        "properties": {
            "osType": "Linux",
            "containers": [{"name": "server", "properties": {
                "image": "gamefleet/sample-server:1",
                "resources": {"requests": {"cpu": 0.5, "memoryInGB": 0.5}}
            }}],
        }
    })
}

/// The original project's sample Create body (flattened SDK shape).
pub fn create_body(rg: &str, name: &str) -> Value {
    json!({
        "resourceGroup": rg,
        "containerGroupName": name,
        "containerGroup": {
            "location": "westeurope",
            "containers": [{
                "name": "server",
                "image": "gamefleet/sample-server:1",
                "resources": {"requests": {"memoryInGB": 0.5, "cpu": 0.5}},
                "ports": [{"protocol": "UDP", "port": 8303}]
            }],
            "ipAddress": {"ports": [{"protocol": "UDP", "port": 8303}], "type": "Public"},
            "osType": "Linux"
        }
    })
}

/// A free port on 127.0.0.1 (for the cold start, which must know it before the
/// process logs it).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}

/// utime + stime of a process, in clock ticks (`/proc/<pid>/stat`).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (in parentheses, may hold spaces)
    // start at field 3 (state); utime is field 14, stime field 15.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(14) + get(15)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn exists(p: &Path) -> bool {
    p.is_file()
}
