//! A strict local stand-in for the OCI APIs gamefleet uses: Container Instances
//! (`/20210415`), Compute power actions (`/20160918`) and Vault secret bundles
//! (`/20190301`), all on one local host, every request checked for a valid OCI
//! request signature (API keys or resource-principal session tokens).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use gamefleet_sim::oci::{OciSim, OciSimConfig};
//! let sim = OciSim::start(OciSimConfig::default()).await?;
//! sim.register_api_key("ocid1.tenancy.oc1..t/ocid1.user.oc1..u/aa:bb", "-----BEGIN PUBLIC KEY-----\n...")
//!     .expect("key");
//! let ci = sim.add_container_instance("game-1", "INACTIVE");
//! // point the code under test at sim.endpoint() (OCI_ENDPOINT)
//! # Ok(()) }
//! ```
//!
//! Independent of the ARM [`crate::Simulator`]: its own server, state, fault rules
//! and request log; many can run in one test process.
//!
//! # Behaviour worth knowing
//! * Transitions are evaluated lazily from timestamps (no background tasks): a
//!   container-instance start/stop/restart shows `UPDATING` for
//!   [`OciSimConfig::transition_time`], then `ACTIVE`/`INACTIVE`; its work request is
//!   `IN_PROGRESS` for the same time, then `SUCCEEDED` (`ACCEPTED` is never shown).
//!   Compute `START` shows `STARTING`, `STOP`/`SOFTSTOP` `STOPPING`, and
//!   `RESET`/`SOFTRESET` `STOPPING` then `STARTING` (one `transition_time` each).
//! * Resources added in a transitional state finish it on their own after
//!   `transition_time` (`CREATING`/`UPDATING` → `ACTIVE`, `DELETING` → `DELETED`;
//!   `PROVISIONING`/`STARTING` → `RUNNING`, `STOPPING` → `STOPPED`, `TERMINATING` →
//!   `TERMINATED`). [`OciSim::set_state`] forces a state that stays.
//! * Actions in a state where they make no sense answer 409 `IncorrectState`
//!   (container start only from `INACTIVE`, stop/restart only from `ACTIVE`; compute
//!   `START` only from `STOPPED`, the others only from `RUNNING`).
//! * Unknown paths and API versions answer 404 `NotAuthorizedOrNotFound` (after the
//!   signature check), known paths with a method not simulated 405 `MethodNotAllowed`.
//! * Instance principal ([`OciSim::enable_instance_principal`]): the metadata
//!   service (`/opc/v2/...`, `Authorization: Bearer Oracle`) and the federation
//!   endpoint (`POST /v1/x509`) answer on the same host, before any API-signature
//!   check; see the `instance` module for what they check. Fault rules apply to
//!   them as [`OciOp::GetMetadata`] (resource: the path after `/opc/v2/`) and
//!   [`OciOp::FederateX509`].

mod api;
mod instance;
mod signing;
mod state;
pub mod types;

pub use types::{OciFaultRule, OciOp, OciRequestRecord};

use crate::sim::Listening;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use state::{
    new_ocid, ComputeInstance, ContainerInstance, OciShared, Secret, Transition, REGION_KEY,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Settings of an [`OciSim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciSimConfig {
    /// How long each transitional state lasts (default 300 ms).
    pub transition_time: Duration,
    /// Largest accepted difference between the signed `date`/`x-date` and the
    /// simulator's clock (default 5 min, as OCI).
    pub clock_skew_limit: Duration,
    /// `retry-after` (seconds) on `GetWorkRequest` answers while the work request is
    /// in progress (default `Some(1)`); `None` = no header.
    pub work_request_retry_after_secs: Option<u32>,
    /// Lifetime of the instance-principal tokens `POST /v1/x509` mints (default
    /// 20 min); [`OciSim::set_instance_token_lifetime`] changes it later.
    pub instance_token_lifetime: Duration,
}

impl Default for OciSimConfig {
    fn default() -> Self {
        OciSimConfig {
            transition_time: Duration::from_millis(300),
            clock_skew_limit: Duration::from_secs(300),
            work_request_retry_after_secs: Some(1),
            instance_token_lifetime: Duration::from_secs(20 * 60),
        }
    }
}

/// A running OCI simulator on one local port.
///
/// Cheap to clone. Dropping the last clone (or calling [`OciSim::shutdown`]) stops
/// the server.
#[derive(Clone)]
pub struct OciSim {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<OciShared>,
    listening: Listening,
}

impl std::fmt::Debug for OciSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciSim")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

fn router(shared: Arc<OciShared>) -> Router {
    Router::new().fallback(api::dispatch).with_state(shared)
}

/// The natural end of a transitional state a resource is added in.
fn container_settles_to(state: &str) -> Option<&'static str> {
    match state {
        "CREATING" | "UPDATING" => Some("ACTIVE"),
        "DELETING" => Some("DELETED"),
        _ => None,
    }
}

fn compute_settles_to(state: &str) -> Option<&'static str> {
    match state {
        "PROVISIONING" | "STARTING" | "MOVING" | "CREATING_IMAGE" => Some("RUNNING"),
        "STOPPING" => Some("STOPPED"),
        "TERMINATING" => Some("TERMINATED"),
        _ => None,
    }
}

/// A one-phase transition staying in `state` (a `&'static str` is needed for the
/// phase list, so only known states get one).
fn static_state(state: &str) -> Option<&'static str> {
    [
        "CREATING",
        "UPDATING",
        "DELETING",
        "PROVISIONING",
        "STARTING",
        "MOVING",
        "CREATING_IMAGE",
        "STOPPING",
        "TERMINATING",
    ]
    .into_iter()
    .find(|s| *s == state)
}

impl OciSim {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(config: OciSimConfig) -> std::io::Result<OciSim> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts on the given address.
    pub async fn start_on(addr: SocketAddr, config: OciSimConfig) -> std::io::Result<OciSim> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let shared = Arc::new(OciShared::new(config, local));
        let listening = Listening::new(listener, local, router(shared.clone()));
        Ok(OciSim {
            handle: Arc::new(Handle { shared, listening }),
        })
    }

    fn shared(&self) -> &Arc<OciShared> {
        &self.handle.shared
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared().addr
    }

    /// `http://127.0.0.1:PORT`: one host for every service (`/20210415/...` container
    /// instances, `/20160918/...` compute, `/20190301/...` secrets) — the client's
    /// `OCI_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.shared().endpoint.clone()
    }

    pub fn config(&self) -> &OciSimConfig {
        &self.shared().cfg
    }

    /// The compartment every resource added here lives in.
    pub fn compartment_id(&self) -> &str {
        &self.shared().compartment_id
    }

    /// A tenancy OCID for this simulator (for keyIds and tokens; not enforced).
    pub fn tenancy_id(&self) -> &str {
        &self.shared().tenancy_id
    }

    /// Stops listening and closes every open connection. State is kept;
    /// [`OciSim::resume`] listens again on the same port.
    pub async fn shutdown(&self) {
        self.handle.listening.shutdown().await
    }

    /// Listens again on the same address after [`OciSim::shutdown`]. No-op while running.
    pub async fn resume(&self) -> std::io::Result<()> {
        self.handle.listening.resume().await
    }

    pub fn is_running(&self) -> bool {
        self.handle.listening.is_running()
    }

    // ------------------------------------------------------------ identities

    /// Registers an API signing key. `key_id` is `<tenancy>/<user>/<fingerprint>`
    /// (three non-empty parts; the fingerprint is not checked against the key);
    /// `public_key_pem` is `BEGIN PUBLIC KEY` (SPKI) or `BEGIN RSA PUBLIC KEY`
    /// (PKCS#1). Registering the same id again replaces the key.
    pub fn register_api_key(&self, key_id: &str, public_key_pem: &str) -> Result<(), String> {
        signing::check_api_key_id(key_id)?;
        let key = signing::parse_public_key_pem(public_key_pem)?;
        self.shared()
            .lock()
            .api_keys
            .insert(key_id.to_string(), key);
        Ok(())
    }

    /// Forgets an API key (requests signed with it answer 401 afterwards).
    pub fn remove_api_key(&self, key_id: &str) -> bool {
        self.shared().lock().api_keys.remove(key_id).is_some()
    }

    /// Mints a resource-principal session token (RPST) bound to `public_key_pem`:
    /// a JWT `header.payload.signature` (base64url, no padding) whose payload holds
    /// `res_tenant`, `res_compartment`, `iat`, `exp` (`iat` + `lifetime`, rounded up to
    /// whole seconds) and `jwk` (the public key: `kty`, `n`, `e`, `kid`); the signature
    /// is an HMAC-SHA256 under a per-simulator secret, so only this simulator accepts
    /// it. Requests signed with `keyId="ST$<token>"` and the matching private key
    /// verify until `exp`; afterwards they answer 401.
    ///
    /// # Panics
    /// If `public_key_pem` is not an RSA public key (see [`OciSim::try_mint_resource_principal_token`]).
    pub fn mint_resource_principal_token(
        &self,
        public_key_pem: &str,
        tenancy: &str,
        compartment: &str,
        lifetime: Duration,
    ) -> String {
        self.try_mint_resource_principal_token(public_key_pem, tenancy, compartment, lifetime)
            .unwrap_or_else(|e| panic!("mint_resource_principal_token: {e}"))
    }

    /// [`OciSim::mint_resource_principal_token`] that reports a bad key instead of panicking.
    pub fn try_mint_resource_principal_token(
        &self,
        public_key_pem: &str,
        tenancy: &str,
        compartment: &str,
        lifetime: Duration,
    ) -> Result<String, String> {
        let key = signing::parse_public_key_pem(public_key_pem)?;
        Ok(signing::mint_rpst(
            &self.shared().token_secret,
            &key,
            tenancy,
            compartment,
            lifetime,
            Utc::now(),
        ))
    }

    // ------------------------------------------------------------ instance principal

    /// Gives the simulated instance an identity: an intermediate CA and an
    /// RSA-2048 leaf certificate (subject `O=opc-tenant:<tenancy_id>`), served by
    /// the metadata service, accepted by `POST /v1/x509`. No-op when enabled.
    /// Generates an RSA key: up to a second or so in a debug build.
    ///
    /// # Panics
    /// If the certificates cannot be made (a bug).
    pub fn enable_instance_principal(&self) {
        let shared = self.shared();
        if shared.lock().instance.is_some() {
            return;
        }
        let lifetime = shared.cfg.instance_token_lifetime;
        let id = instance::Identity::new(&shared.tenancy_id, &shared.compartment_id, lifetime)
            .unwrap_or_else(|e| panic!("enable_instance_principal: {e}"));
        shared.lock().instance.get_or_insert(id);
    }

    /// Issues a new leaf certificate and key (the intermediate stays): federation
    /// with the old leaf answers 401 from now on. Returns the new fingerprint.
    ///
    /// # Panics
    /// If the instance principal is not enabled.
    pub fn rotate_instance_certificate(&self) -> String {
        let shared = self.shared();
        let leaf = {
            let st = shared.lock();
            let id = st
                .instance
                .as_ref()
                .expect("enable_instance_principal first");
            id.issue_leaf(&shared.tenancy_id, &shared.compartment_id)
        }
        .unwrap_or_else(|e| panic!("rotate_instance_certificate: {e}"));
        let fp = leaf.fingerprint.clone();
        if let Some(id) = shared.lock().instance.as_mut() {
            id.leaf = leaf;
        }
        fp
    }

    /// Lifetime of the tokens minted from now on.
    pub fn set_instance_token_lifetime(&self, lifetime: Duration) {
        if let Some(id) = self.shared().lock().instance.as_mut() {
            id.token_lifetime = lifetime;
        }
    }

    /// SHA-256 fingerprint (lowercase colon hex) of the current leaf certificate.
    pub fn instance_certificate_fingerprint(&self) -> Option<String> {
        let st = self.shared().lock();
        st.instance.as_ref().map(|i| i.leaf.fingerprint.clone())
    }

    /// The current leaf's private key (PKCS#1 PEM) and certificate (PEM): what
    /// IMDS hands out, for tests that look for them in logs.
    pub fn instance_secrets(&self) -> Option<(String, String)> {
        let st = self.shared().lock();
        st.instance
            .as_ref()
            .map(|i| (i.leaf.key_pem.clone(), i.leaf.cert_pem.clone()))
    }

    /// The simulated instance's OCID.
    pub fn instance_principal_id(&self) -> Option<String> {
        let st = self.shared().lock();
        st.instance.as_ref().map(|i| i.instance_id.clone())
    }

    // ------------------------------------------------------------ resources

    /// Adds a container instance (one container, `<display_name>-game`) in `state`
    /// (`ACTIVE`, `INACTIVE`, `CREATING`, `FAILED`, ...) and returns its OCID
    /// (`ocid1.computecontainerinstance.oc1.iad.<unique>`).
    pub fn add_container_instance(&self, display_name: &str, state: &str) -> String {
        let shared = self.shared();
        let id = new_ocid("computecontainerinstance", REGION_KEY);
        let now = Utc::now();
        let transition = container_settles_to(state)
            .zip(static_state(state))
            .map(|(end, phase)| Transition::new(vec![phase], end, shared.cfg.transition_time));
        let ci = ContainerInstance {
            id: id.clone(),
            display_name: display_name.to_string(),
            compartment_id: shared.compartment_id.clone(),
            containers: vec![(
                new_ocid("computecontainer", REGION_KEY),
                format!("{display_name}-game"),
            )],
            time_created: now,
            time_updated: now,
            state: state.to_string(),
            details: (state == "FAILED").then(|| "Failed (added by gamefleet-sim).".to_string()),
            transition,
            fail_next: false,
            version: 0,
        };
        shared.lock().containers.insert(id.clone(), ci);
        id
    }

    /// Adds a compute instance in `state` (`RUNNING`, `STOPPED`, `PROVISIONING`,
    /// `TERMINATED`, ...) and returns its OCID (`ocid1.instance.oc1.iad.<unique>`).
    pub fn add_compute_instance(&self, display_name: &str, state: &str) -> String {
        let shared = self.shared();
        let id = new_ocid("instance", REGION_KEY);
        let transition = compute_settles_to(state)
            .zip(static_state(state))
            .map(|(end, phase)| Transition::new(vec![phase], end, shared.cfg.transition_time));
        let inst = ComputeInstance {
            id: id.clone(),
            display_name: display_name.to_string(),
            compartment_id: shared.compartment_id.clone(),
            time_created: Utc::now(),
            state: state.to_string(),
            transition,
            fail_next: false,
            version: 0,
        };
        shared.lock().computes.insert(id.clone(), inst);
        id
    }

    /// Adds a Vault secret (one version, number 1, stages `CURRENT` and `LATEST`),
    /// stored as standard base64 like Vault does; returns its OCID
    /// (`ocid1.vaultsecret.oc1.iad.<unique>`).
    pub fn add_secret(&self, plaintext: &str) -> String {
        let id = new_ocid("vaultsecret", REGION_KEY);
        let secret = Secret {
            id: id.clone(),
            content: STANDARD.encode(plaintext.as_bytes()),
            time_created: Utc::now(),
        };
        self.shared().lock().secrets.insert(id.clone(), secret);
        id
    }

    /// `lifecycleState` of a container instance as `GET` would answer it now.
    pub fn container_instance_state(&self, ocid: &str) -> Option<String> {
        let now = Instant::now();
        let mut st = self.shared().lock();
        let ci = st.containers.get_mut(ocid)?;
        ci.settle(now);
        Some(ci.current_state(now))
    }

    /// `lifecycleDetails` of a container instance (set when it is `FAILED`).
    pub fn container_instance_details(&self, ocid: &str) -> Option<String> {
        let now = Instant::now();
        let mut st = self.shared().lock();
        let ci = st.containers.get_mut(ocid)?;
        ci.settle(now);
        ci.details.clone()
    }

    /// `lifecycleState` of a compute instance as `GET` would answer it now.
    pub fn compute_state(&self, ocid: &str) -> Option<String> {
        let now = Instant::now();
        let mut st = self.shared().lock();
        let inst = st.computes.get_mut(ocid)?;
        inst.settle(now);
        Some(inst.current_state(now))
    }

    /// `status` of a work request as `GET` would answer it now.
    pub fn work_request_status(&self, work_request_id: &str) -> Option<String> {
        let now = Instant::now();
        let st = self.shared().lock();
        st.work_requests
            .get(work_request_id)
            .map(|wr| wr.status(now).0.to_string())
    }

    /// Forces the `lifecycleState` of a container or compute instance (no-op for an
    /// unknown OCID). The state stays until an action changes it; a transition in
    /// progress is abandoned and its work request ends `CANCELED`.
    pub fn set_state(&self, ocid: &str, state: &str) {
        let now = Instant::now();
        let mut st = self.shared().lock();
        let mut abandoned = None;
        if let Some(ci) = st.containers.get_mut(ocid) {
            ci.settle(now);
            abandoned = ci.transition.take().and_then(|t| t.work_request);
            ci.state = state.to_string();
            ci.details = None;
            ci.time_updated = Utc::now();
            ci.version += 1;
        } else if let Some(inst) = st.computes.get_mut(ocid) {
            inst.settle(now);
            inst.version += 1;
            inst.transition = None;
            inst.state = state.to_string();
        }
        if let Some(wr) = abandoned.and_then(|id| st.work_requests.get_mut(&id)) {
            wr.canceled_at = Some(Utc::now());
        }
    }

    /// The next accepted start/stop/restart (action) of this resource fails:
    /// * container instance: `UPDATING` for `transition_time`, then `FAILED` with
    ///   `lifecycleDetails`; its work request ends `FAILED` and
    ///   `GET /workRequests/{id}/errors` lists one error (`InternalServerError`);
    /// * compute instance (which has no FAILED state): the transitional state for
    ///   the usual time, then back where it came from — `START` ends `STOPPED`,
    ///   `STOP`/`SOFTSTOP` end `RUNNING`, `RESET`/`SOFTRESET` end `STOPPED` (powered
    ///   off, did not come back).
    ///
    /// (Synchronous failures, e.g. OCI's 500 "Out of host capacity", are fault rules:
    /// [`OciSim::fail_next`].)
    pub fn fail_next_transition(&self, ocid: &str) {
        let mut st = self.shared().lock();
        if let Some(ci) = st.containers.get_mut(ocid) {
            ci.fail_next = true;
        } else if let Some(inst) = st.computes.get_mut(ocid) {
            inst.fail_next = true;
        }
    }

    /// Adds a fault rule (see [`OciFaultRule`] for matching and order).
    pub fn fail_next(&self, rule: OciFaultRule) {
        if rule.times > 0 {
            self.shared().lock().faults.push(rule);
        }
    }

    /// Removes every pending fault rule.
    pub fn clear_faults(&self) {
        self.shared().lock().faults.clear();
    }

    // ------------------------------------------------------------ inspection

    /// Every request answered (or abandoned by the client), in order of answer.
    pub fn requests(&self) -> Vec<OciRequestRecord> {
        self.shared().lock().log.records()
    }

    /// Requests of `op` answered (any status, 401 included) since start or
    /// [`OciSim::reset_counts`].
    pub fn count(&self, op: OciOp) -> usize {
        self.shared().lock().log.count(op)
    }

    /// Clears the per-op counts and the request log.
    pub fn reset_counts(&self) {
        let mut st = self.shared().lock();
        st.log.clear();
    }
}

/// An OCI API-key identity for a client under test: the signing fixtures' key
/// (`tests/fixtures/signing/oci-signing-vectors.json`) registered with the
/// simulator, and `~/.oci/config` + key file written under `home`. Returns the
/// environment a client needs (`HOME`, `OCI_CONFIG_PROFILE`, `OCI_ENDPOINT`).
pub fn api_key_identity(
    sim: &OciSim,
    home: &std::path::Path,
) -> Result<Vec<(String, String)>, String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/signing/oci-signing-vectors.json"
    );
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let k = |f: &str| {
        v["key"][f]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{path}: key.{f} missing"))
    };
    sim.register_api_key(&k("key_id_with_actual_fingerprint")?, &k("public_key_pem")?)?;
    let dir = home.join(".oci");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("key.pem"), k("private_key_pem")?).map_err(|e| e.to_string())?;
    let config = format!(
        "[DEFAULT]\nregion = us-ashburn-1\n\n[GAMEFLEET]\ntenancy = {}\nuser = {}\nfingerprint = {}\nkey_file = ~/.oci/key.pem\n",
        k("tenancy_ocid")?,
        k("user_ocid")?,
        k("md5_fingerprint_of_public_key")?
    );
    std::fs::write(dir.join("config"), config).map_err(|e| e.to_string())?;
    Ok(vec![
        ("HOME".into(), home.display().to_string()),
        ("OCI_CONFIG_PROFILE".into(), "GAMEFLEET".into()),
        ("OCI_ENDPOINT".into(), sim.endpoint()),
    ])
}

/// An instance-principal identity for a client under test: enables it in the
/// simulator and returns the environment (`OCI_METADATA_ENDPOINT`,
/// `OCI_FEDERATION_ENDPOINT`, `OCI_ENDPOINT`, all the simulator). Nothing else
/// is configured: no config file, no resource principal.
pub fn instance_principal_identity(sim: &OciSim) -> Vec<(String, String)> {
    sim.enable_instance_principal();
    vec![
        ("OCI_METADATA_ENDPOINT".into(), sim.endpoint()),
        ("OCI_FEDERATION_ENDPOINT".into(), sim.endpoint()),
        ("OCI_ENDPOINT".into(), sim.endpoint()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn handle_is_shareable_across_tasks() {
        assert_send_sync_clone::<OciSim>();
        assert_send_sync_clone::<OciSimConfig>();
        assert_send_sync_clone::<OciFaultRule>();
        assert_send_sync_clone::<OciRequestRecord>();
    }

    #[tokio::test]
    async fn inspection_without_http() {
        let sim = OciSim::start(OciSimConfig {
            transition_time: Duration::from_millis(30),
            ..OciSimConfig::default()
        })
        .await
        .expect("starts");
        let ci = sim.add_container_instance("a", "CREATING");
        assert!(ci.starts_with("ocid1.computecontainerinstance.oc1.iad."));
        assert_eq!(
            sim.container_instance_state(&ci).as_deref(),
            Some("CREATING")
        );
        let vm = sim.add_compute_instance("b", "PROVISIONING");
        assert!(vm.starts_with("ocid1.instance.oc1.iad."));
        assert_eq!(sim.compute_state(&vm).as_deref(), Some("PROVISIONING"));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(sim.container_instance_state(&ci).as_deref(), Some("ACTIVE"));
        assert_eq!(sim.compute_state(&vm).as_deref(), Some("RUNNING"));
        sim.set_state(&ci, "DELETED");
        assert_eq!(
            sim.container_instance_state(&ci).as_deref(),
            Some("DELETED")
        );
        assert_eq!(sim.container_instance_state("nope"), None);
        let failed = sim.add_container_instance("c", "FAILED");
        assert!(sim.container_instance_details(&failed).is_some());
        assert!(sim
            .add_secret("x")
            .starts_with("ocid1.vaultsecret.oc1.iad."));
        assert!(sim.register_api_key("a/b/c", "not a pem").is_err());
        assert!(sim
            .try_mint_resource_principal_token("nope", "t", "c", Duration::from_secs(1))
            .is_err());
        sim.shutdown().await;
        assert!(!sim.is_running());
    }
}
