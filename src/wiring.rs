//! Building the process's one [`App`] from [`Config`]: one HTTP client per
//! dependency, one token cache, the store and the ARM client.

use crate::cloud::azure::token::{credential, CachedCredential, TokenCache};
use crate::cloud::azure::{arm::ARM_SCOPE, ArmClient};
use crate::cloud::retry::Backoff;
use crate::config::{ArmConfig, Config, IdentityConfig, StorageSource};
use crate::ops::{App, Settings};
use crate::store::table::{StoreOptions, TableStore};
use std::sync::Arc;
use std::time::Duration;

/// The scope of Table Storage's bearer tokens (azure_storage asks for this one).
const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("table storage: {0}")]
    Store(String),
    #[error("ARM credential: {0}")]
    Credential(String),
    #[error("lifecycle configuration: {0}")]
    Power(#[from] crate::setting::ConfigError),
}

pub use crate::cloud::transport::http_client;

/// Everything `main` needs; no I/O happens here (the table is created later).
/// `env` is where the lifecycle core reads its defaults and OCI settings.
pub fn build(config: &Config, env: crate::ops::power::SharedEnv) -> Result<App, BuildError> {
    let storage_http = http_client(config.storage.timeout)?;
    let store = match &config.storage.source {
        StorageSource::ConnectionString(cs) => TableStore::from_connection_string(
            cs.expose(),
            &config.storage.table,
            storage_http,
            StoreOptions::default(),
        ),
        StorageSource::Identity {
            table_endpoint,
            account,
            client_id,
        } => {
            // The ARM identity's endpoint, with the storage identity's client id.
            let identity = match &config.arm.identity {
                IdentityConfig::AppService {
                    endpoint, header, ..
                } => IdentityConfig::AppService {
                    endpoint: endpoint.clone(),
                    header: header.clone(),
                    client_id: client_id.clone(),
                },
                IdentityConfig::Default => IdentityConfig::Default,
            };
            let token_http = http_client(config.arm.timeout)?;
            let inner = credential(&identity, &token_http)
                .map_err(|e| BuildError::Credential(e.to_string()))?;
            let cached = CachedCredential::new(inner, STORAGE_SCOPE);
            TableStore::with_token_credential(
                table_endpoint.clone(),
                account,
                Arc::new(cached),
                &config.storage.table,
                storage_http,
                StoreOptions::default(),
            )
        }
    }
    .map_err(|e| BuildError::Store(e.to_string()))?;

    let arm = Arc::new(arm_client(&config.arm)?);
    let defaults = crate::ops::power::Defaults::from_lookup(&*env)?;
    let power = crate::ops::power::PowerHub::new(env, defaults, Some(arm.clone()));

    let keyring =
        crate::ops::keyring::Keyring::new(config.session_keys.clone(), Arc::new(store.secrets()));
    Ok(App {
        keyring: Arc::new(keyring),
        schedules: Arc::new(store.schedules()),
        fleets: Arc::new(store.fleets()),
        ledger: Arc::new(store.ledger()),
        activity: Arc::new(store.activity()),
        store: Arc::new(crate::store::Healing::new(store)),
        platform: arm,
        power: Arc::new(power),
        settings: Settings {
            subscription_id: config.arm.subscription_id.clone(),
            set_sessions_url: config.set_sessions_url.clone(),
            api_keys: config.api_keys.clone(),
            openstack_api_keys: config.openstack_api_keys.clone(),
            gc: config.gc.clone(),
            allocation_ttl: config.allocation_ttl,
            health_timeout: config.health_timeout,
        },
        last_reconcile: Default::default(),
        allocation: Default::default(),
    })
}

/// The ARM client: its own pooled HTTP client and token cache.
pub fn arm_client(config: &ArmConfig) -> Result<ArmClient, BuildError> {
    let http = http_client(config.timeout)?;
    let cred =
        credential(&config.identity, &http).map_err(|e| BuildError::Credential(e.to_string()))?;
    let tokens = Arc::new(TokenCache::new(cred, ARM_SCOPE));
    let backoff = Backoff {
        max_retries: config.max_retries,
        max_retry_after: config.max_retry_after,
        ..Backoff::default()
    };
    let client = ArmClient::new(
        http,
        config.endpoint.clone(),
        config.subscription_id.clone(),
        tokens,
        backoff,
    );
    Ok(match config.write_pacing {
        Some(pace) => client.with_write_pacer(pace, config.write_max_wait()),
        None => client,
    })
}

/// Create the table, retrying in the background until storage answers, so a
/// storage outage at start does not keep the handler from answering the host.
pub fn ensure_table(app: &App) {
    let store = app.store.clone();
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(500);
        loop {
            match store.ensure_ready().await {
                Ok(()) => {
                    tracing::info!("table ready");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, retry_in_ms = delay.as_millis() as u64, "could not create the table");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    });
}
