//! Adapters of [`crate::ports::FleetStore`].
