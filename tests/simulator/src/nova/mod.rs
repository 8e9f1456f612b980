//! A strict local stand-in for OpenStack Nova (compute API v2.1) behind a REAL
//! Keystone: every request's `X-Auth-Token` is validated against Keystone (started by
//! `scripts/keystone.sh up`), as keystonemiddleware does in front of Nova.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use gamefleet_sim::keystone::Keystone;
//! use gamefleet_sim::nova::{NovaSim, NovaSimConfig};
//! let Some(ks) = Keystone::for_tests().await else { return Ok(()) }; // see Keystone::for_tests
//! let nova = NovaSim::start(NovaSimConfig::new(ks.service_credentials())).await?;
//! let id = nova.add_server("game-1", "SHUTOFF");
//! let tenant = ks.tenant("demo", &nova.compute_url()).await?; // region, endpoints, user, app cred
//! // point the code under test at tenant.openstack_env(AuthMethod::ApplicationCredential)
//! # let _ = (id, tenant); Ok(()) }
//! ```
//!
//! # Behaviour worth knowing
//! * `GET /` (300) and `GET /v2.1/` (200) are the version documents (`version` = the
//!   maximum microversion, `min_version`); they need no token, as in Nova.
//! * Everything else needs a token Keystone validates (401 `unauthorized` otherwise,
//!   503 `serviceUnavailable` when Keystone cannot be asked), scoped to a project (403
//!   otherwise); `GET` needs role reader, member or admin, actions member or admin
//!   (Nova's default policies; Keystone's bootstrap makes admin imply member imply reader).
//! * Validations are cached for [`NovaSimConfig::token_cache_ttl`] (default 500 ms), so a
//!   revoked token is refused again within that time.
//! * Microversion from `OpenStack-API-Version: compute 2.X` or the legacy
//!   `X-OpenStack-Nova-API-Version: 2.X`; none = 2.1; `latest` = the maximum; outside
//!   [`NovaSimConfig::microversions`] (default 2.1–2.96) → 406, malformed → 400. Every
//!   authenticated answer echoes the version in both headers and `Vary`.
//! * Paths: `/v2.1/servers/{id}` and `/v2.1/servers/{id}/action`, also with the legacy
//!   project id segment `/v2.1/{project_id}/servers/...` (must be the token's project: 400).
//!   Unknown paths 404 `itemNotFound`, wrong methods 405 `badMethod`.
//! * Actions answer 202 with an empty body and then move through Nova's task states,
//!   each lasting [`NovaSimConfig::transition_time`] (lazily, from timestamps):
//!   `os-start` SHUTOFF →(`powering-on`)→ ACTIVE; `os-stop` ACTIVE/ERROR
//!   →(`powering-off`)→ SHUTOFF; `shelve` ACTIVE/SHUTOFF →(`shelving`,
//!   `shelving_image_pending_upload`, `shelving_image_uploading`, then as SHELVED
//!   `shelving_offloading`)→ SHELVED_OFFLOADED, or SHELVED with
//!   [`NovaSimConfig::keep_shelved`]; `unshelve` SHELVED_OFFLOADED →(`unshelving`,
//!   `spawning`)→ ACTIVE and SHELVED →(`unshelving`, `powering-on`)→ ACTIVE; `reboot`
//!   SOFT ACTIVE →(`rebooting`, status REBOOT)→ ACTIVE, HARD ACTIVE/SHUTOFF/ERROR
//!   →(`rebooting_hard`, status HARD_REBOOT while active)→ ACTIVE. `task_state` is null
//!   when settled.
//! * An action in the wrong state: 409 `conflictingRequest` "Cannot 'start' instance
//!   <id> while it is in vm_state active" (or `task_state powering-off` while busy).
//!   Unknown server (or another project's): 404 `itemNotFound`. Bad body: 400
//!   `badRequest`; a non-JSON `Content-Type`: 415.
//! * Error bodies are Nova's `{"<faultName>": {"code": .., "message": ..}}`; every answer
//!   carries `X-Openstack-Request-Id` and `X-Compute-Request-Id` (`req-<uuid>`).

mod api;
mod auth;
mod state;
pub mod types;

pub use types::{fault_name, NovaFaultRule, NovaOp, NovaRequestRecord, NovaServer};

use crate::sim::Listening;
use api::Microversion;
use auth::Validator;
use axum::Router;
use state::{Locked, Server, VmState};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// The account the simulator validates tokens with (keystonemiddleware's
/// `[keystone_authtoken]`): it needs a role that may call `GET /v3/auth/tokens` for
/// other users' tokens (admin or service).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceCredentials {
    /// Keystone's v3 URL, e.g. `http://127.0.0.1:5055/v3`.
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_id: String,
    pub project_domain_id: String,
}

impl std::fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCredentials")
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("project_name", &self.project_name)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`NovaSim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NovaSimConfig {
    pub keystone: ServiceCredentials,
    /// How long each task state lasts (default 200 ms).
    pub transition_time: Duration,
    /// A shelve ends in SHELVED (clouds with `shelved_offload_time > 0`) instead of
    /// going on to SHELVED_OFFLOADED (default `false`).
    pub keep_shelved: bool,
    /// Accepted compute microversions, as minor numbers of 2.x (default 1..=96).
    pub microversions: RangeInclusive<u16>,
    /// How long a Keystone validation (positive or negative) is reused (default 500 ms).
    pub token_cache_ttl: Duration,
}

impl NovaSimConfig {
    pub fn new(keystone: ServiceCredentials) -> Self {
        NovaSimConfig {
            keystone,
            transition_time: Duration::from_millis(200),
            keep_shelved: false,
            microversions: 1..=96,
            token_cache_ttl: Duration::from_millis(500),
        }
    }

    fn min_microversion(&self) -> Microversion {
        Microversion(*self.microversions.start())
    }

    fn max_microversion(&self) -> Microversion {
        Microversion(*self.microversions.end())
    }
}

pub(crate) struct NovaShared {
    cfg: NovaSimConfig,
    addr: SocketAddr,
    endpoint: String,
    state: Locked,
    validator: Validator,
}

struct Handle {
    shared: Arc<NovaShared>,
    listening: Listening,
}

/// A running Nova simulator on one local port.
///
/// Cheap to clone. Dropping the last clone (or calling [`NovaSim::shutdown`]) stops
/// the server.
#[derive(Clone)]
pub struct NovaSim {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for NovaSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NovaSim")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

impl NovaSim {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(config: NovaSimConfig) -> std::io::Result<NovaSim> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts on the given address.
    pub async fn start_on(addr: SocketAddr, config: NovaSimConfig) -> std::io::Result<NovaSim> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let shared = Arc::new(NovaShared {
            validator: Validator::new(config.keystone.clone(), config.token_cache_ttl),
            cfg: config,
            addr: local,
            endpoint: format!("http://{local}"),
            state: Locked::new(),
        });
        let router = Router::new()
            .fallback(api::dispatch)
            .with_state(shared.clone());
        let listening = Listening::new(listener, local, router);
        Ok(NovaSim {
            handle: Arc::new(Handle { shared, listening }),
        })
    }

    fn shared(&self) -> &Arc<NovaShared> {
        &self.handle.shared
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared().addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        self.shared().endpoint.clone()
    }

    /// `http://127.0.0.1:PORT/v2.1`: the URL of the `compute` endpoint in Keystone's
    /// catalog.
    pub fn compute_url(&self) -> String {
        format!("{}/v2.1", self.shared().endpoint)
    }

    pub fn config(&self) -> &NovaSimConfig {
        &self.shared().cfg
    }

    /// Stops listening and closes every open connection. State is kept;
    /// [`NovaSim::resume`] listens again on the same port.
    pub async fn shutdown(&self) {
        self.handle.listening.shutdown().await
    }

    /// Listens again on the same address after [`NovaSim::shutdown`]. No-op while running.
    pub async fn resume(&self) -> std::io::Result<()> {
        self.handle.listening.resume().await
    }

    pub fn is_running(&self) -> bool {
        self.handle.listening.is_running()
    }

    // ------------------------------------------------------------ servers

    /// Adds a settled server visible to every project and returns its id (a UUID).
    /// `status`: `ACTIVE`, `SHUTOFF`, `SHELVED`, `SHELVED_OFFLOADED` or `ERROR`.
    ///
    /// # Panics
    /// On any other status.
    pub fn add_server(&self, name: &str, status: &str) -> String {
        self.insert(name, None, status)
    }

    /// [`NovaSim::add_server`] owned by one Keystone project: other projects get 404.
    pub fn add_server_in_project(&self, project_id: &str, name: &str, status: &str) -> String {
        self.insert(name, Some(project_id.to_string()), status)
    }

    fn insert(&self, name: &str, project_id: Option<String>, status: &str) -> String {
        let (vm, power) = VmState::from_status(status).unwrap_or_else(|| {
            panic!("NovaSim: cannot add a server in status {status:?} (ACTIVE, SHUTOFF, SHELVED, SHELVED_OFFLOADED, ERROR)")
        });
        let server = Server::new(name, project_id, vm, power);
        let id = server.id.clone();
        self.shared()
            .state
            .lock()
            .servers
            .insert(id.clone(), server);
        id
    }

    /// The server as `GET` would show it now.
    pub fn server(&self, id: &str) -> Option<NovaServer> {
        let now = Instant::now();
        let mut st = self.shared().state.lock();
        let s = st.servers.get_mut(id)?;
        s.settle(now);
        Some(s.view(now))
    }

    /// Forces a settled status (same values as [`NovaSim::add_server`]); a transition in
    /// progress is abandoned. No-op for an unknown id.
    ///
    /// # Panics
    /// On an unknown status.
    pub fn set_status(&self, id: &str, status: &str) {
        let (vm, power) = VmState::from_status(status)
            .unwrap_or_else(|| panic!("NovaSim: unknown status {status:?}"));
        if let Some(s) = self.shared().state.lock().servers.get_mut(id) {
            s.force(vm, power, None);
        }
    }

    /// Puts a server in ERROR now, with `fault.message` = `message`.
    pub fn set_error(&self, id: &str, message: &str) {
        if let Some(s) = self.shared().state.lock().servers.get_mut(id) {
            s.force(VmState::Error, 0, Some(message.to_string()));
        }
    }

    /// The next accepted action of this server goes through its task states and then
    /// ends in ERROR with `fault.message` = `message` (e.g. "No valid host was found.").
    pub fn fail_next_transition(&self, id: &str, message: &str) {
        if let Some(s) = self.shared().state.lock().servers.get_mut(id) {
            s.fail_next = Some(message.to_string());
        }
    }

    /// Removes a server (GET answers 404 afterwards). `true` if it existed.
    pub fn remove_server(&self, id: &str) -> bool {
        self.shared().state.lock().servers.remove(id).is_some()
    }

    // ------------------------------------------------------------ faults

    /// Adds a fault rule (see [`NovaFaultRule`] for matching and order).
    pub fn fail_next(&self, rule: NovaFaultRule) {
        if rule.times > 0 {
            self.shared().state.lock().faults.push(rule);
        }
    }

    /// Removes every pending fault rule.
    pub fn clear_faults(&self) {
        self.shared().state.lock().faults.clear();
    }

    // ------------------------------------------------------------ inspection

    /// Every request answered (or abandoned by the client), in order of answer.
    pub fn requests(&self) -> Vec<NovaRequestRecord> {
        self.shared().state.lock().log.records()
    }

    /// Requests of `op` answered (any status) since start or [`NovaSim::reset_counts`].
    pub fn count(&self, op: NovaOp) -> usize {
        self.shared().state.lock().log.count(op)
    }

    /// Clears the per-op counts and the request log.
    pub fn reset_counts(&self) {
        let mut st = self.shared().state.lock();
        st.log.clear();
    }

    /// How many times the simulator asked Keystone to validate a token (cache misses).
    pub fn keystone_validations(&self) -> usize {
        self.shared().validator.validations.load(Ordering::Relaxed)
    }

    /// The last caller token Keystone validated for this simulator.
    pub fn last_valid_token(&self) -> Option<String> {
        self.shared()
            .validator
            .last_valid
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn handle_is_shareable_across_tasks() {
        assert_send_sync_clone::<NovaSim>();
        assert_send_sync_clone::<NovaSimConfig>();
        assert_send_sync_clone::<NovaFaultRule>();
        assert_send_sync_clone::<NovaRequestRecord>();
    }

    #[test]
    fn service_password_never_prints() {
        let c = ServiceCredentials {
            auth_url: "http://127.0.0.1:1/v3".into(),
            username: "nova".into(),
            password: "hunter2".into(),
            project_name: "service".into(),
            user_domain_id: "default".into(),
            project_domain_id: "default".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
