//! What a provider is to the registry ([`super::registry`]): the one
//! [`ProviderSpec`] each provider folder exports, and the [`Context`] its
//! client is built from. Providers depend on this file only; the registry
//! depends on them.

use crate::lifecycle::InvalidResource;
use crate::lifecycle::{Power, PowerError, Vocabulary};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// `id` is a UUID in its hyphenated 8-4-4-4-12 form (ECS and Nova server
/// ids, CCE cluster ids): checked before any URL is built. `what` names it in
/// the message ("an ECS server id").
pub fn check_uuid(what: &str, id: &str) -> Result<(), InvalidResource> {
    if id.len() == 36 && uuid::Uuid::try_parse(id).is_ok() {
        Ok(())
    } else {
        Err(InvalidResource(format!(
            "resource {:?} is not {what} (a UUID like 4d5a1b2c-0000-4000-8000-000000000001)",
            id.chars().take(80).collect::<String>()
        )))
    }
}

/// What a provider's `build` returns.
pub type BuildFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Arc<dyn Power>, PowerError>> + Send + 'a>,
>;

/// One provider, as the registry lists it.
pub struct ProviderSpec {
    /// Its name, its noun and its words for running / stopped.
    pub vocabulary: Vocabulary,
    /// What a resource is, for help and errors ("OCI Compute instance OCID").
    pub resource: &'static str,
    /// The resource id's real shape; the message names what is wrong.
    pub check: fn(&str) -> Result<(), InvalidResource>,
    /// Whether the environment configures this provider (then it is built at start).
    pub configured: fn(&Context) -> bool,
    /// Its [`Power`], from the context's configuration and shared clients
    /// (async: an instance principal asks the metadata service first).
    pub build: fn(&Context) -> BuildFuture<'_>,
}

/// An environment lookup (the process's, an OCI Function's configuration).
pub type SharedEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What providers are built from: the environment, and shared cells holding
/// the clients the process already has (the ARM client, under `"arm"`) and the
/// one client a provider family builds for itself.
pub struct Context {
    pub env: SharedEnv,
    shared: Mutex<HashMap<&'static str, Arc<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self
            .shared
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        f.debug_struct("Context")
            .field("shared", &keys)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(env: SharedEnv) -> Self {
        Self {
            env,
            shared: Mutex::new(HashMap::new()),
        }
    }

    /// Hand the providers a client the process built already.
    pub fn provide<T: Any + Send + Sync>(self, key: &'static str, value: Arc<T>) -> Self {
        if let Ok(mut cells) = self.shared.lock() {
            cells.insert(key, value);
        }
        self
    }

    /// A client kept under `key`, if there is one.
    pub fn existing<T: Any + Send + Sync>(&self, key: &'static str) -> Option<Arc<T>> {
        let cells = self.shared.lock().ok()?;
        cells.get(key)?.clone().downcast::<T>().ok()
    }

    /// A variable, trimmed; empty counts as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.env)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value kept under `key`, made by `init` the first time (a family's
    /// one client). A failed `init` is not kept: the next call tries again.
    /// Two first calls at once may both run `init`; the first kept wins.
    pub async fn shared<T: Any + Send + Sync>(
        &self,
        key: &'static str,
        init: impl std::future::Future<Output = Result<T, PowerError>>,
    ) -> Result<Arc<T>, PowerError> {
        if let Some(t) = self.existing::<T>(key) {
            return Ok(t);
        }
        let made = Arc::new(init.await?);
        let mut cells = self
            .shared
            .lock()
            .map_err(|_| PowerError::Config("provider registry lock poisoned".into()))?;
        let kept = cells.entry(key).or_insert_with(|| made.clone()).clone();
        Ok(kept.downcast::<T>().unwrap_or(made))
    }
}
