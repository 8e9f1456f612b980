//! Azure Resource Manager: container groups over reqwest, tokens from managed identity.

pub mod arm;
pub mod power;
pub mod token;

pub use arm::{ArmClient, API_VERSION};

use crate::cloud::provider::{BuildFuture, Context, ProviderSpec};
use crate::lifecycle::{Power, PowerError};
use std::sync::Arc;

/// `aci` in the provider registry: container groups through the process's ARM client.
pub static ACI: ProviderSpec = ProviderSpec {
    vocabulary: power::VOCABULARY,
    resource: "ARM id of a container group, or <resourceGroup>/<name>",
    check: power::check_resource,
    configured: arm_configured,
    build: build_aci,
};

/// Where the process's ARM client sits in the registry's context.
pub const ARM_CLIENT: &str = "arm";

fn arm_configured(ctx: &Context) -> bool {
    ctx.existing::<ArmClient>(ARM_CLIENT).is_some()
}

fn build_aci(ctx: &Context) -> BuildFuture<'_> {
    let arm = ctx.existing::<ArmClient>(ARM_CLIENT).ok_or_else(|| {
        PowerError::Config("provider 'aci' needs Azure settings (AZURE_SUBSCRIPTION_ID, and a credential); they are not configured here".into())
    });
    Box::pin(async move { Ok(Arc::new(power::AciPower::new(arm?)) as Arc<dyn Power>) })
}
