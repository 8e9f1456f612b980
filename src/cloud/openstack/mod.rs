//! OpenStack (Keystone v3 + Nova), provider `openstack`: start (`os-start` /
//! `unshelve`), stop (`shelve`, as the seed Lambda does), restart, status of a
//! server, polled until settled.
//!
//! * [`auth`]: Keystone login from `OS_*` or clouds.yaml, token cache, catalog;
//! * [`nova`]: the server actions and states.
//!
//! Settings beyond the openstack CLI's: `OS_COMPUTE_API_VERSION` (the compute
//! microversion sent, default `2.1`), `OPENSTACK_STOP` (`shelve`, the default,
//! or `os-stop`), `OPENSTACK_COMPUTE_ENDPOINT` (instead of the catalog's).
//!
//! Why no SDK crate: `openstack_sdk` 0.22 needs Rust 1.91 and about 85 more
//! crates, a second reqwest among them; the two Keystone calls and three Nova
//! calls gamefleet makes are here, over the shared transport.

pub mod auth;
pub mod nova;

use crate::cloud::provider::{BuildFuture, Context, ProviderSpec};
use crate::cloud::retry::Backoff;
use crate::cloud::transport::Transport;
use crate::lifecycle::{Power, PowerError};
use nova::{NovaClient, NovaPower, StopMode};
use std::sync::Arc;

/// `openstack` in the provider registry.
pub static SERVER: ProviderSpec = ProviderSpec {
    vocabulary: nova::VOCABULARY,
    resource: "Nova server id (a UUID)",
    check: nova::check_server_id,
    configured,
    build,
};

fn configured(ctx: &Context) -> bool {
    ctx.var("OS_AUTH_URL").is_some() || ctx.var("OS_CLOUD").is_some()
}

/// The family's one client (one Keystone session), kept in the registry's context.
pub async fn shared(ctx: &Context) -> Result<Arc<NovaClient>, PowerError> {
    ctx.shared("openstack", async {
        client(ctx, auth::Settings::from_env(ctx)?)
    })
    .await
}

/// A Nova client logging in with `settings`: its own Keystone session and pooled HTTP client.
fn client(ctx: &Context, settings: auth::Settings) -> Result<NovaClient, PowerError> {
    let microversion = ctx
        .var("OS_COMPUTE_API_VERSION")
        .unwrap_or_else(|| "2.1".into());
    if !microversion
        .split('.')
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && microversion != "latest"
    {
        return Err(PowerError::Config(format!(
            "OS_COMPUTE_API_VERSION={microversion:?} is not a microversion like 2.1"
        )));
    }
    let http = crate::cloud::transport::http_client(auth::REQUEST_TIMEOUT)
        .map_err(|e| PowerError::Config(format!("cannot build the OpenStack HTTP client: {e}")))?;
    let keystone = Arc::new(auth::Keystone::new(
        settings,
        Transport::new(http.clone(), Backoff::default(), "Keystone"),
    ));
    Ok(NovaClient::new(
        keystone,
        Transport::new(http, Backoff::default(), "Nova"),
        microversion,
    ))
}

/// A server of `region` (the seed's `region` override): the configured
/// region's client, or one more Keystone session for another region, kept.
pub async fn power_in_region(
    ctx: &Context,
    region: Option<&str>,
) -> Result<Arc<dyn Power>, PowerError> {
    let stop = stop_mode(ctx)?;
    let configured = ctx.var("OS_REGION_NAME");
    let Some(region) = region.filter(|r| Some(*r) != configured.as_deref()) else {
        return Ok(Arc::new(NovaPower::new(shared(ctx).await?, stop)));
    };
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(PowerError::InvalidResource(format!(
            "region {region:?} is not a region name"
        )));
    }
    let regions = ctx
        .shared("openstack-regions", async {
            Ok(std::sync::Mutex::new(std::collections::HashMap::<
                String,
                Arc<NovaClient>,
            >::new()))
        })
        .await?;
    if let Some(c) = regions.lock().ok().and_then(|m| m.get(region).cloned()) {
        return Ok(Arc::new(NovaPower::new(c, stop)));
    }
    let mut settings = auth::Settings::from_env(ctx)?;
    settings.region = Some(region.to_owned());
    let c = Arc::new(client(ctx, settings)?);
    if let Ok(mut m) = regions.lock() {
        m.insert(region.to_owned(), c.clone());
    }
    Ok(Arc::new(NovaPower::new(c, stop)))
}

fn stop_mode(ctx: &Context) -> Result<StopMode, PowerError> {
    match ctx.var("OPENSTACK_STOP").as_deref() {
        None | Some("shelve") => Ok(StopMode::Shelve),
        Some("os-stop" | "stop") => Ok(StopMode::PowerOff),
        Some(other) => Err(PowerError::Config(format!(
            "OPENSTACK_STOP={other:?}: use shelve or os-stop"
        ))),
    }
}

fn build(ctx: &Context) -> BuildFuture<'_> {
    Box::pin(async move {
        Ok(Arc::new(NovaPower::new(shared(ctx).await?, stop_mode(ctx)?)) as Arc<dyn Power>)
    })
}
