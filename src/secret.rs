//! A value that must never be printed: connection strings, keys, tokens.
//! Its `Debug` is `Secret(***)`; the value is read only through [`Secret::expose`].

use std::fmt;

/// A configuration value that must never be printed (connection strings, keys).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
