//! Azure Resource Manager: container groups over reqwest, tokens from managed identity.

pub mod arm;
pub mod power;
pub mod token;

pub use arm::{ArmClient, API_VERSION};
