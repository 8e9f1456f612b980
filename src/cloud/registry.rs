//! Every provider the lifecycle core drives, listed once in [`PROVIDERS`].
//!
//! A provider is a folder under `src/cloud/` that implements the
//! [`Power`] port and exports one [`ProviderSpec`]: its name, what its
//! resource ids look like (checked before any URL is built), its state names,
//! whether the environment configures it, and how its client is built. Power
//! requests, the CLI's `--provider` help, the fuzz lists and every error
//! message read this table: adding a provider is its folder plus one line here.
//!
//! Clients are built once per process and shared: a provider family (the two
//! OCI ones) keeps its one client in the [`Context`]'s shared cells. A
//! configured provider is built when the process starts
//! ([`crate::ops::power::PowerHub::check_configuration`]), so a missing variable or an unreadable
//! key shows at start, not in the first request's answer; credentials the
//! cloud itself rejects are a 502 on each request, and the process keeps serving.

pub use super::provider::{Context, ProviderSpec, SharedEnv};
use crate::lifecycle::{Power, PowerError};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// The providers, in the order help lists them. One line per provider.
pub static PROVIDERS: &[&ProviderSpec] = &[
    &crate::cloud::oci::CONTAINER_INSTANCE,
    &crate::cloud::oci::COMPUTE,
    &crate::cloud::azure::ACI,
    &crate::cloud::huawei::ECS,
    &crate::cloud::openstack::SERVER,
];

/// A provider of [`PROVIDERS`], by name.
#[derive(Clone, Copy)]
pub struct Provider(&'static ProviderSpec);

impl Provider {
    /// Every provider, in the registry's order.
    pub fn all() -> impl Iterator<Item = Provider> {
        PROVIDERS.iter().map(|s| Provider(s))
    }

    /// The names, in the registry's order.
    pub fn names() -> Vec<&'static str> {
        Self::all().map(Provider::as_str).collect()
    }

    pub fn as_str(self) -> &'static str {
        self.0.vocabulary.provider
    }

    pub fn spec(self) -> &'static ProviderSpec {
        self.0
    }

    /// Whether `resource` has the shape of one of this provider's ids.
    pub fn check(self, resource: &str) -> Result<(), crate::lifecycle::InvalidResource> {
        (self.0.check)(resource)
    }
}

impl PartialEq for Provider {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Provider {}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Provider({})", self.as_str())
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `'a', 'b' or 'c'`, the way the messages list choices.
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Why a provider name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid provider '{name}'. Must be {choices}.", name = .0, choices = one_of(&Provider::names()))]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::all()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

/// The providers of one process, built once each on first use.
pub struct Providers {
    ctx: Context,
    built: Mutex<HashMap<&'static str, Arc<dyn Power>>>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers").field("ctx", &self.ctx).finish()
    }
}

impl Providers {
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            built: Mutex::new(HashMap::new()),
        }
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The provider's [`Power`], built the first time.
    pub async fn get(&self, p: Provider) -> Result<Arc<dyn Power>, PowerError> {
        if let Some(power) = self
            .built
            .lock()
            .ok()
            .and_then(|b| b.get(p.as_str()).cloned())
        {
            return Ok(power);
        }
        let power = (p.spec().build)(&self.ctx).await?;
        if let Ok(mut b) = self.built.lock() {
            b.insert(p.as_str(), power.clone());
        }
        Ok(power)
    }

    /// Build every provider the environment configures: a configuration
    /// mistake is an error now (at start), naming the provider.
    pub async fn check_configuration(&self) -> Result<Vec<Provider>, PowerError> {
        let mut ready = Vec::new();
        for p in Provider::all().filter(|p| (p.spec().configured)(&self.ctx)) {
            self.get(p).await.map_err(|e| match e {
                PowerError::Config(m) => PowerError::Config(format!("provider '{p}': {m}")),
                other => other,
            })?;
            ready.push(p);
        }
        Ok(ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_is_listed_once_and_named_in_the_errors() {
        let names = Provider::names();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let e = "gcp".parse::<Provider>().unwrap_err().to_string();
        for n in &names {
            assert!(e.contains(&format!("'{n}'")), "{e}");
            assert_eq!(n.parse::<Provider>().unwrap().as_str(), *n);
        }
        assert_eq!(one_of(&["a", "b", "c"]), "'a', 'b' or 'c'");
        assert_eq!(one_of(&["a"]), "'a'");
    }
}
