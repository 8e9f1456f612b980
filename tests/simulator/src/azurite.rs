//! Azurite harness (to be written).
