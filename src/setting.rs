//! One setting read from the environment (or a function's configuration): the
//! error that names it, and the parsers every reader of settings shares.

use std::time::Duration;

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

pub(crate) fn err(var: &'static str, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        var,
        problem: problem.to_string(),
    }
}

pub(crate) fn duration(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => humantime::parse_duration(v.trim()).map_err(|e| {
            err(
                var,
                format!("{v:?} is not a duration like 30s, 5m, 1h: {e}"),
            )
        }),
    }
}

pub(crate) fn number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| err(var, format!("{v:?} is not a whole number"))),
    }
}
