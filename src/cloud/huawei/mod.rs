//! Huawei Cloud ECS (+ CCE), provider `huawei-ecs`: the ECS servers of a
//! project (or of a CCE cluster) behind the lifecycle core, over the shared
//! transport with AK/SK signatures.
//!
//! * [`sign`]: `SDK-HMAC-SHA256` request signing (checked against the published vectors);
//! * [`ecs`]: server state, batch start / stop / reboot, jobs;
//!
//! Configuration, the official SDK's names first, the seed function's after:
//!
//! | variable | seed's name | meaning |
//! |---|---|---|
//! | `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK` | `ak`, `sk` | access key pair (required) |
//! | `HUAWEICLOUD_SDK_SECURITY_TOKEN` | – | with temporary keys |
//! | `HUAWEICLOUD_SDK_PROJECT_ID` | `projectId` | project (required) |
//! | `HUAWEICLOUD_SDK_REGION` | `region` | region, e.g. `ap-southeast-1` (required unless both endpoints are given) |
//! | `HUAWEICLOUD_ECS_ENDPOINT` | `endpoint` | default `https://ecs.{region}.myhuaweicloud.com` |
//! | `HUAWEICLOUD_CCE_ENDPOINT` | – | default `https://cce.{region}.myhuaweicloud.com` |
//! | `HUAWEICLOUD_STOP_TYPE` | `type` | `SOFT` (default) or `HARD` |
//!
//! Why no SDK crate: Huawei publishes none for Rust; the four calls are signed
//! here (about 400 lines with the tests).

pub mod ecs;
pub mod sign;

use crate::cloud::provider::{BuildFuture, Context, ProviderSpec};
use crate::cloud::retry::Backoff;
use crate::cloud::transport::Transport;
use crate::lifecycle::{Power, PowerError};
use ecs::{EcsClient, EcsPower, Signer, StopType};
use std::sync::Arc;
use std::time::Duration;

/// `huawei-ecs` in the provider registry.
pub static ECS: ProviderSpec = ProviderSpec {
    vocabulary: ecs::VOCABULARY,
    resource: "ECS server id (a UUID)",
    check: ecs::check_server_id,
    configured,
    build,
};

/// The first of the names that is set.
fn first(ctx: &Context, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| ctx.var(n))
}

fn configured(ctx: &Context) -> bool {
    first(ctx, &["HUAWEICLOUD_SDK_AK", "ak"]).is_some()
}

/// The family's one client, kept in the registry's context.
pub async fn shared(ctx: &Context) -> Result<Arc<EcsClient>, PowerError> {
    ctx.shared("huawei", async { client(ctx) }).await
}

fn client(ctx: &Context) -> Result<EcsClient, PowerError> {
    let need = |names: &[&str]| {
        first(ctx, names).ok_or_else(|| {
            PowerError::Config(format!(
                "{} is not set",
                names.join(" (or ") + if names.len() > 1 { ")" } else { "" }
            ))
        })
    };
    let ak = need(&["HUAWEICLOUD_SDK_AK", "ak"])?;
    let sk = need(&["HUAWEICLOUD_SDK_SK", "sk"])?;
    let project_id = need(&["HUAWEICLOUD_SDK_PROJECT_ID", "projectId"])?;
    let region = first(ctx, &["HUAWEICLOUD_SDK_REGION", "region"]);
    let endpoint = |names: &[&str], service: &str| -> Result<url::Url, PowerError> {
        let raw = match (first(ctx, names), &region) {
            (Some(e), _) => e,
            (None, Some(r)) => format!("https://{service}.{r}.myhuaweicloud.com"),
            (None, None) => {
                return Err(PowerError::Config(format!(
                    "HUAWEICLOUD_SDK_REGION (or region) is not set, nor {}",
                    names[0]
                )))
            }
        };
        url::Url::parse(raw.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                PowerError::Config(format!("{}={raw:?} is not an http(s) URL", names[0]))
            })
    };
    let ecs = endpoint(&["HUAWEICLOUD_ECS_ENDPOINT", "endpoint"], "ecs")?;
    let cce = endpoint(&["HUAWEICLOUD_CCE_ENDPOINT"], "cce")?;
    let mut credentials = match first(ctx, &["HUAWEICLOUD_SDK_SECURITY_TOKEN"]) {
        Some(token) => sign::Credentials::temporary(ak, sk, token),
        None => sign::Credentials::permanent(ak, sk),
    };
    credentials = credentials.with_project_id(project_id.clone());
    let http = crate::cloud::transport::http_client(Duration::from_secs(30))
        .map_err(|e| PowerError::Config(format!("cannot build the Huawei HTTP client: {e}")))?;
    Ok(EcsClient {
        transport: Transport::new(http, Backoff::default(), "Huawei Cloud"),
        signer: Signer(credentials),
        ecs,
        cce,
        project_id,
    })
}

/// How stops are asked for (`HUAWEICLOUD_STOP_TYPE` or the seed's `type`).
pub fn stop_type(ctx: &Context) -> Result<StopType, PowerError> {
    match first(ctx, &["HUAWEICLOUD_STOP_TYPE", "type"]) {
        Some(t) => StopType::parse(&t)
            .map_err(|e| PowerError::Config(format!("HUAWEICLOUD_STOP_TYPE: {e}"))),
        None => Ok(StopType::Soft),
    }
}

fn build(ctx: &Context) -> BuildFuture<'_> {
    Box::pin(async move {
        Ok(Arc::new(EcsPower::new(shared(ctx).await?, stop_type(ctx)?)) as Arc<dyn Power>)
    })
}
