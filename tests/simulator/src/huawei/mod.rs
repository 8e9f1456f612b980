//! A strict local stand-in for the Huawei Cloud APIs the `huawei-ecs` provider
//! uses: ECS (`/v1/{project_id}/cloudservers/...`, `/v1/{project_id}/jobs/{id}`)
//! and CCE node listing (`/api/v3/projects/{project_id}/clusters/{id}/nodes`), on
//! one local host, every request checked for a valid `SDK-HMAC-SHA256` signature
//! (permanent AK/SK, or temporary AK/SK + `X-Security-Token`), recomputed here
//! independently of gamefleet's signer.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use gamefleet_sim::huawei::{HuaweiKey, HuaweiSim, HuaweiSimConfig};
//! let sim = HuaweiSim::start(HuaweiSimConfig::default()).await?;
//! sim.add_key(HuaweiKey::permanent("MYAK", "MYSK"));
//! let a = sim.add_server("game-1", "SHUTOFF");
//! let cluster = sim.add_cluster([a.as_str()]);
//! // point the code under test at sim.endpoint() for ECS and CCE, project sim.project_id()
//! # Ok(()) }
//! ```
//!
//! Independent of the other simulators: its own state, fault rules and request
//! log (the listener is the crate's shared one); many can run in one process.
//!
//! # Behaviour worth knowing
//! * Every request is signature-checked first; a refusal is 401
//!   `{"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication
//!   information: <reason>", "request_id"}`: unknown AK, wrong SK, altered
//!   method/path/query/body, a signed header missing or sent twice, `x-sdk-date`
//!   not signed or more than [`HuaweiSimConfig::clock_skew_limit`] off, a temporary
//!   key without its (signed) token or a token with a permanent key.
//!   [`HuaweiRequestRecord::expected_canonical_request`] shows what the simulator
//!   signed when the signatures differ.
//! * Unknown path or method: 404 `APIGW.0101`. A project other than
//!   [`HuaweiSim::project_id`]: 403 (`{"error": {"code": "Ecs.0003"}}` on ECS paths,
//!   `{"error_code": "CCE.01403001"}` on CCE paths) — Huawei's answer for this
//!   case was not verified.
//! * Batch start/stop answer 200 `{"job_id"}`; an unknown server anywhere in the
//!   batch is 404 `Ecs.0114` (`Instance[<id>] could not be found.`) and nothing
//!   starts; a bad body is 400 `Ecs.0005`. Each server gets a sub-job: `INIT` for
//!   [`HuaweiSimConfig::job_init_time`], then `RUNNING` for `transition_time`
//!   (start, SOFT stop) or `hard_stop_time` (HARD stop), then `SUCCESS` or `FAIL`;
//!   the job is `INIT` while all its sub-jobs are, `RUNNING` while any is, then
//!   `FAIL` if any failed (its `error_code`/`fail_reason` are the first failed
//!   sub-job's), else `SUCCESS`.
//! * While its sub-job runs, a server keeps its status with `OS-EXT-STS:task_state`
//!   `powering-on` / `powering-off`, then becomes `ACTIVE` / `SHUTOFF` (a failed one
//!   keeps its status). A server already in the target state succeeds at once; a
//!   busy one (task in progress) or one in another status (`ERROR`, `BUILD`, ...)
//!   fails its sub-job at once. These sub-job failures, and the ones
//!   [`HuaweiSim::fail_next_action`] injects, carry `error_code` `Ecs.9999`
//!   (invented; the real codes were not found).
//! * Transitions are computed lazily from timestamps (no background tasks).
//! * CCE nodes are always `status.phase` `Active`; unknown cluster 404
//!   `CCE.01404001`.

mod api;
mod signing;
mod state;
pub mod types;

pub use types::{HuaweiFaultRule, HuaweiKey, HuaweiOp, HuaweiRequestRecord, HuaweiServer};

use crate::sim::Listening;
use axum::Router;
use chrono::Utc;
use state::{hex_id, Cluster, HuaweiShared, Node, Server};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Settings of a [`HuaweiSim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuaweiSimConfig {
    /// The one project that exists (default: a random 32-hex id).
    pub project_id: String,
    /// AK/SK pairs accepted from the start (default none; see [`HuaweiSim::add_key`]).
    pub keys: Vec<HuaweiKey>,
    /// How long a start or a SOFT stop runs (default 300 ms).
    pub transition_time: Duration,
    /// How long a HARD stop runs (default 100 ms).
    pub hard_stop_time: Duration,
    /// How long a new job and its sub-jobs stay `INIT` (default 0: never seen).
    pub job_init_time: Duration,
    /// Largest accepted difference between `X-Sdk-Date` and the simulator's clock
    /// (default 15 min, as the API gateway).
    pub clock_skew_limit: Duration,
}

impl Default for HuaweiSimConfig {
    fn default() -> Self {
        HuaweiSimConfig {
            project_id: hex_id(),
            keys: Vec::new(),
            transition_time: Duration::from_millis(300),
            hard_stop_time: Duration::from_millis(100),
            job_init_time: Duration::ZERO,
            clock_skew_limit: Duration::from_secs(15 * 60),
        }
    }
}

/// A running Huawei simulator on one local port.
///
/// Cheap to clone. Dropping the last clone (or calling [`HuaweiSim::shutdown`])
/// stops the server.
#[derive(Clone)]
pub struct HuaweiSim {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<HuaweiShared>,
    listening: Listening,
}

impl std::fmt::Debug for HuaweiSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HuaweiSim")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

impl HuaweiSim {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(config: HuaweiSimConfig) -> std::io::Result<HuaweiSim> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts on the given address.
    pub async fn start_on(addr: SocketAddr, config: HuaweiSimConfig) -> std::io::Result<HuaweiSim> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let shared = Arc::new(HuaweiShared::new(config, local));
        let router = Router::new()
            .fallback(api::dispatch)
            .with_state(shared.clone());
        let listening = Listening::new(listener, local, router);
        Ok(HuaweiSim {
            handle: Arc::new(Handle { shared, listening }),
        })
    }

    fn shared(&self) -> &Arc<HuaweiShared> {
        &self.handle.shared
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared().addr
    }

    /// `http://127.0.0.1:PORT`: the ECS and the CCE endpoint alike.
    pub fn endpoint(&self) -> String {
        self.shared().endpoint.clone()
    }

    pub fn config(&self) -> &HuaweiSimConfig {
        &self.shared().cfg
    }

    /// The project every server and cluster lives in.
    pub fn project_id(&self) -> &str {
        &self.shared().cfg.project_id
    }

    /// Stops listening and closes every open connection. State is kept;
    /// [`HuaweiSim::resume`] listens again on the same port.
    pub async fn shutdown(&self) {
        self.handle.listening.shutdown().await
    }

    /// Listens again on the same address after [`HuaweiSim::shutdown`]. No-op while running.
    pub async fn resume(&self) -> std::io::Result<()> {
        self.handle.listening.resume().await
    }

    pub fn is_running(&self) -> bool {
        self.handle.listening.is_running()
    }

    // ------------------------------------------------------------ identities

    /// Accepts requests signed with `key` (replaces a key with the same AK).
    pub fn add_key(&self, key: HuaweiKey) {
        self.shared()
            .lock()
            .keys
            .insert(key.access_key.clone(), key);
    }

    /// Forgets an AK (its requests answer 401 afterwards, e.g. an expired
    /// temporary key).
    pub fn remove_key(&self, access_key: &str) -> bool {
        self.shared().lock().keys.remove(access_key).is_some()
    }

    // ------------------------------------------------------------ resources

    /// Adds an ECS server named `name` in `status` (`ACTIVE`, `SHUTOFF`, `ERROR`,
    /// ...) and returns its id (a UUID).
    pub fn add_server(&self, name: &str, status: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        self.shared().lock().servers.push(Server {
            id: id.clone(),
            name: name.to_string(),
            status: status.to_string(),
            task: None,
            fail_next: None,
            created: now,
            updated: now,
        });
        id
    }

    /// Adds a CCE cluster whose nodes are these ECS servers (one `Active` node
    /// each, in this order) and returns its id (a UUID). The servers need not exist.
    pub fn add_cluster<I>(&self, server_ids: I) -> String
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let id = uuid::Uuid::new_v4().to_string();
        let nodes = server_ids
            .into_iter()
            .enumerate()
            .map(|(i, server)| Node {
                name: format!("{}-node-{i}", &id[..8]),
                uid: uuid::Uuid::new_v4().to_string(),
                server_id: server.as_ref().to_string(),
            })
            .collect();
        self.shared()
            .lock()
            .clusters
            .insert(id.clone(), Cluster { nodes });
        id
    }

    /// A server as `GET` would show it now.
    pub fn server(&self, id: &str) -> Option<HuaweiServer> {
        let now = Instant::now();
        let mut st = self.shared().lock();
        let s = st.server_mut(id)?;
        s.settle(now);
        Some(s.view(now))
    }

    /// Forces a server's status (an action in progress on it is abandoned; its
    /// sub-job still ends as planned). No-op for an unknown id.
    pub fn set_status(&self, id: &str, status: &str) {
        if let Some(s) = self.shared().lock().server_mut(id) {
            s.task = None;
            s.status = status.to_string();
            s.updated = Utc::now();
        }
    }

    /// The next start or stop of server `id` runs its full time and then fails
    /// its sub-job with `fail_reason` (the server keeps its status).
    pub fn fail_next_action(&self, id: &str, fail_reason: &str) {
        if let Some(s) = self.shared().lock().server_mut(id) {
            s.fail_next = Some(fail_reason.to_string());
        }
    }

    /// `status` of a job as `GET /v1/{project_id}/jobs/{id}` would answer it now.
    pub fn job_status(&self, job_id: &str) -> Option<String> {
        let now = Instant::now();
        let st = self.shared().lock();
        st.jobs.get(job_id).map(|j| j.status(now).to_string())
    }

    // ------------------------------------------------------------ faults

    /// Adds a fault rule (see [`HuaweiFaultRule`]).
    /// The `type` (SOFT / HARD) of every batch stop and reboot so far, in order.
    pub fn stop_types(&self) -> Vec<String> {
        self.shared().lock().stop_types.clone()
    }

    pub fn fail_next(&self, rule: HuaweiFaultRule) {
        self.shared().lock().faults.push(rule);
    }

    pub fn clear_faults(&self) {
        self.shared().lock().faults.clear();
    }

    // ------------------------------------------------------------ inspection

    /// Every request answered (or abandoned by the client), in order of answer.
    pub fn requests(&self) -> Vec<HuaweiRequestRecord> {
        self.shared().lock().log.records()
    }

    /// Requests of `op` answered (any status, 401 included) since start or
    /// [`HuaweiSim::reset_counts`].
    pub fn count(&self, op: HuaweiOp) -> usize {
        self.shared().lock().log.count(op)
    }

    /// Clears the per-op counts and the request log.
    pub fn reset_counts(&self) {
        let mut st = self.shared().lock();
        st.log.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn handle_is_shareable_across_tasks() {
        assert_send_sync_clone::<HuaweiSim>();
        assert_send_sync_clone::<HuaweiSimConfig>();
        assert_send_sync_clone::<HuaweiFaultRule>();
        assert_send_sync_clone::<HuaweiRequestRecord>();
    }

    #[test]
    fn keys_hide_their_secrets() {
        let shown = format!(
            "{:?}",
            HuaweiKey::temporary("AKSHOWN", "SKHIDDEN", "TOKHIDDEN")
        );
        assert!(shown.contains("AKSHOWN"));
        assert!(
            !shown.contains("SKHIDDEN") && !shown.contains("TOKHIDDEN"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn inspection_without_http() {
        let sim = HuaweiSim::start(HuaweiSimConfig::default())
            .await
            .expect("starts");
        assert_eq!(sim.project_id().len(), 32);
        let a = sim.add_server("a", "SHUTOFF");
        let s = sim.server(&a).expect("added");
        assert_eq!(
            (s.status.as_str(), s.vm_state.as_str()),
            ("SHUTOFF", "stopped")
        );
        assert_eq!(s.task_state, None);
        sim.set_status(&a, "ERROR");
        assert_eq!(sim.server(&a).map(|s| s.status), Some("ERROR".into()));
        assert!(sim.server("nope").is_none());
        assert_eq!(sim.add_cluster([a.as_str()]).len(), 36);
        assert!(sim.endpoint().starts_with("http://127.0.0.1:"));
        sim.shutdown().await;
        assert!(!sim.is_running());
    }
}
