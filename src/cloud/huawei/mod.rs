//! Huawei Cloud ECS (+ CCE) adapter, provider `huawei-ecs` (issue 9).
//!
//! So far only its pure part: AK/SK request signing ([`sign`]). The HTTP parts
//! (batch start/stop, jobs, server and CCE node listing) are written on top of the
//! shared transport. See ../shared/reference/providers.md §5.

pub mod sign;
