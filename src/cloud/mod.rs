//! Adapters for cloud control planes.

pub mod azure;
pub mod huawei;
pub mod oci;
pub mod openstack;
pub mod pacer;
pub mod provider;
pub mod registry;
pub mod retry;
pub mod transport;
