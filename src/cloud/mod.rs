//! Adapters for cloud control planes.

pub mod azure;
pub mod huawei;
pub mod oci;
pub mod retry;
