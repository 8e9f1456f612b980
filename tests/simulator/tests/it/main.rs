//! Integration tests of the simulator over real HTTP (one test binary).

mod arm;
mod common;
mod events;
mod identity;
mod nova;
mod oci;
