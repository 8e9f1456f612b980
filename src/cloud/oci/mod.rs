//! Oracle Cloud Infrastructure: Container Instances and Compute behind the
//! lifecycle core's [`Power`] port, Vault secrets, over one signed HTTP client.
//!
//! * [`sign`]: API request signatures (Signature Version 1, rsa-sha256);
//! * [`auth`]: who signs — API key from `~/.oci/config`, resource principal v2.2,
//!   or [`instance_principal`] (the metadata service's certificate, federated
//!   for a session token); `OCI_AUTH` picks one, else resource principal if its
//!   environment is set, else the config file if there is one, else instance
//!   principal;
//! * [`client`]: endpoints, signing, retries, error mapping;
//! * [`container_instances`], [`compute`]: the two `Power` providers;
//! * [`vault`]: secret bundles.
//!
//! Why not an SDK crate: Oracle publishes none for Rust. The community crates
//! either cover other services (`oci-sdk` 0.3: identity and NoSQL, OpenSSL,
//! reqwest 0.11) or are a whole generated API surface with their own retry
//! policy and auth stack (`oci-rust-sdk`), or only sign (`reqsign-oracle`).
//! gamefleet needs five calls, resource principal v2.2 from files, one
//! endpoint override for tests and the project's [`Backoff`]: some 1,500 lines
//! over `rsa`, with the published signing vectors as the test.

pub mod auth;
pub mod client;
pub mod compute;
pub mod container_instances;
pub mod credentials;
pub mod instance_principal;
pub mod ocid;
pub mod sign;
pub mod vault;

pub use auth::{Credentials, Env};
pub use client::{Endpoints, OciClient, Service};
pub use compute::{Compute, StopMode};
pub use container_instances::ContainerInstances;

use crate::cloud::provider::{BuildFuture, Context, ProviderSpec};
use crate::cloud::retry::Backoff;
use crate::lifecycle::{Power, PowerError};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// `oci-container-instance` in the provider registry.
pub static CONTAINER_INSTANCE: ProviderSpec = ProviderSpec {
    vocabulary: container_instances::VOCABULARY,
    resource: "OCI Container Instance OCID (ocid1.computecontainerinstance.…)",
    check: check_container_instance,
    configured,
    build: build_container_instances,
};

/// `oci-compute` in the provider registry.
pub static COMPUTE: ProviderSpec = ProviderSpec {
    vocabulary: compute::VOCABULARY,
    resource: "OCI Compute instance OCID (ocid1.instance.…)",
    check: check_instance,
    configured,
    build: build_compute,
};

fn check_container_instance(r: &str) -> Result<(), crate::lifecycle::InvalidResource> {
    ocid::check("resource", r, ocid::OcidType::ContainerInstance).map(drop)
}

fn check_instance(r: &str) -> Result<(), crate::lifecycle::InvalidResource> {
    ocid::check("resource", r, ocid::OcidType::Instance).map(drop)
}

/// OCI is configured when a resource principal, a config file or an endpoint is given.
fn configured(ctx: &Context) -> bool {
    [
        "OCI_RESOURCE_PRINCIPAL_VERSION",
        "OCI_CONFIG_FILE",
        "OCI_ENDPOINT",
        "OCI_AUTH",
    ]
    .iter()
    .any(|v| ctx.var(v).is_some())
}

/// The family's one client (credentials read once), kept in the registry's context.
pub async fn shared(ctx: &Context) -> Result<Arc<OciProviders>, PowerError> {
    ctx.shared("oci", OciProviders::from_env(&*ctx.env)).await
}

fn build_container_instances(ctx: &Context) -> BuildFuture<'_> {
    Box::pin(async move { Ok(shared(ctx).await?.container_instances()) })
}

fn build_compute(ctx: &Context) -> BuildFuture<'_> {
    Box::pin(async move { Ok(shared(ctx).await?.compute()) })
}

/// Per-request timeout of OCI calls (each retry gets its own).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The OCI providers of one process: one client, one set of credentials.
///
/// ```no_run
/// # async fn demo() -> Result<(), gamefleet::lifecycle::PowerError> {
/// use gamefleet::cloud::oci::OciProviders;
/// let oci = OciProviders::from_env(&|k: &str| std::env::var(k).ok()).await?;
/// let target = oci.secret("ocid1.vaultsecret.oc1..x").await?;
/// let power = oci.container_instances();
/// let seen = power.observe(&target).await?;
/// # let _ = seen; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OciProviders {
    client: Arc<OciClient>,
}

impl OciProviders {
    /// Credentials from the environment ([`auth::from_env`]: `OCI_AUTH`, or
    /// resource principal, config file, instance principal in that order),
    /// endpoints from `OCI_ENDPOINT` or the credentials' region, a new pooled
    /// HTTP client, the default [`Backoff`]. The environment is read before the
    /// future is returned; an instance principal federates while it runs.
    pub fn from_env(env: Env) -> impl Future<Output = Result<Self, PowerError>> + Send + 'static {
        let http = crate::cloud::transport::http_client(REQUEST_TIMEOUT)
            .map_err(|e| PowerError::Config(format!("cannot build the OCI HTTP client: {e}")));
        let built = http.map(|http| Self::from_env_with(env, http, Backoff::default()));
        async move { built?.await }
    }

    /// As [`OciProviders::from_env`], with the caller's HTTP client and backoff.
    pub fn from_env_with(
        env: Env,
        http: reqwest::Client,
        backoff: Backoff,
    ) -> impl Future<Output = Result<Self, PowerError>> + Send + 'static {
        let credentials = auth::from_env(env, &http, backoff.clone());
        let endpoint = env("OCI_ENDPOINT").filter(|v| !v.trim().is_empty());
        async move {
            let credentials = credentials.await?;
            let endpoints = match endpoint {
                Some(base) => Endpoints::single(&base)?,
                None => Endpoints::for_region(credentials.region())?,
            };
            Ok(Self::new(OciClient::new(
                http,
                credentials,
                endpoints,
                backoff,
            )))
        }
    }

    pub fn new(client: OciClient) -> Self {
        Self {
            client: Arc::new(client),
        }
    }

    pub fn client(&self) -> &Arc<OciClient> {
        &self.client
    }

    pub fn region(&self) -> &str {
        self.client.region()
    }

    /// `oci-container-instance`: start / stop with work requests.
    pub fn container_instances(&self) -> Arc<dyn Power> {
        Arc::new(ContainerInstances::new(self.client.clone()))
    }

    /// `oci-compute`, stopping with `SOFTSTOP` (ACPI shutdown).
    pub fn compute(&self) -> Arc<dyn Power> {
        self.compute_with(StopMode::Soft)
    }

    /// `oci-compute`, stopping as `stop` says (`StopMode::Hard` = `STOP`).
    pub fn compute_with(&self, stop: StopMode) -> Arc<dyn Power> {
        Arc::new(Compute::new(self.client.clone(), stop))
    }

    /// The current version of a Vault secret, base64-decoded and trimmed
    /// (the OCI function kept its target OCID there).
    pub async fn secret(&self, secret_id: &str) -> Result<String, PowerError> {
        vault::secret(&self.client, secret_id).await
    }
}

/// The trimmed id if it is an OCID of type `want` ([`ocid::check`]), else
/// `InvalidResource`: checked before any URL is built, so no odd id (`..`,
/// `a/b`) reaches OCI. Power requests are checked when parsed; this also covers
/// an id read from a Vault secret and callers of the library.
fn require_ocid(resource: &str, want: ocid::OcidType) -> Result<&str, PowerError> {
    let field = match want {
        ocid::OcidType::VaultSecret => "secretId",
        _ => "resource",
    };
    Ok(ocid::check(field, resource, want)?)
}

/// `lifecycleState` of a resource body.
fn lifecycle_state(body: &Value, what: &str) -> Result<String, PowerError> {
    body.get("lifecycleState")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            PowerError::Unavailable(format!("OCI returned a {what} without lifecycleState"))
        })
}
