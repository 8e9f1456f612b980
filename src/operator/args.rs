//! `gamefleet fleet`'s arguments: what clap parses, each value by the API's
//! own rules (names, labels, durations), so bad input exits 2 before any call.

use crate::fleet::{ContainerGroupName, GroupKey, ResourceGroup};
use clap::builder::PossibleValuesParser;
use clap::{ArgGroup, Args, Subcommand};
use std::time::Duration;

/// List's `state` filter.
const STATES: [&str; 6] = [
    "Running",
    "Creating",
    "MarkedForDeletion",
    "Failed",
    "Deleting",
    "all",
];

/// `gamefleet fleet …`
#[derive(Debug, Args)]
#[command(after_help = super::EXIT_CODES)]
pub struct FleetArgs {
    /// The deployment: its Functions host (https://<app>.azurewebsites.net) or
    /// gamefleet itself; the default is the local stack (scripts/run-local)
    #[arg(
        long,
        env = "GAMEFLEET_URL",
        default_value = "http://127.0.0.1:7071",
        global = true
    )]
    pub url: String,
    /// The key: a function key of the Functions host, or one of
    /// GAMEFLEET_API_KEYS (sent as x-functions-key and X-API-Key, never
    /// printed); prefer the environment variable to the flag
    #[arg(long, env = "GAMEFLEET_KEY", hide_env_values = true, global = true)]
    pub key: Option<String>,
    /// Give up on one call after this long
    #[arg(long, default_value = "90s", value_parser = humantime::parse_duration, global = true)]
    pub request_timeout: Duration,
    /// Print JSON for scripts (list: the API's array unchanged) instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// The servers List shows: resource group, name, state, region,
    /// sessions/max, reserved, health, age
    List {
        /// List's state filter
        #[arg(long, default_value = "Running", value_parser = PossibleValuesParser::new(STATES))]
        state: String,
        #[arg(long, value_parser = parse_rg)]
        resource_group: Option<ResourceGroup>,
    },
    /// One server: its List item and ARM's view of it (Details), summarised
    Show {
        /// RESOURCE_GROUP/NAME
        #[arg(value_parser = parse_target)]
        server: GroupKey,
    },
    /// Mark servers for deletion: GC deletes each once it holds nobody
    Mark {
        /// RESOURCE_GROUP/NAME, one or more
        #[arg(required = true, value_parser = parse_target)]
        servers: Vec<GroupKey>,
    },
    /// Take marked servers back (Running) while they still run: GC leaves them
    Unmark {
        /// RESOURCE_GROUP/NAME, one or more
        #[arg(required = true, value_parser = parse_target)]
        servers: Vec<GroupKey>,
    },
    /// Mark every Running server that matches all the selectors given; with
    /// --wait, wait until GC deleted them
    #[command(group(
        ArgGroup::new("selector")
            .required(true)
            .multiple(true)
            .args(["resource_group", "label", "fleet"])
    ))]
    Drain {
        #[arg(long, value_parser = parse_rg)]
        resource_group: Option<ResourceGroup>,
        /// KEY=VALUE, several times: every one must match
        #[arg(long, value_parser = parse_label)]
        label: Vec<(String, String)>,
        /// The servers of an autoscaler fleet (label fleet=NAME)
        #[arg(long)]
        fleet: Option<String>,
        /// Poll List until every marked server is gone
        #[arg(long)]
        wait: bool,
        /// How long --wait waits (exit code 5 after it)
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration, requires = "wait")]
        timeout: Duration,
        /// How often --wait asks List
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, requires = "wait")]
        poll_interval: Duration,
    },
    /// Delete servers now (ARM, then the row); one holding sessions is
    /// refused unless --force
    Delete {
        /// RESOURCE_GROUP/NAME, one or more
        #[arg(required = true, value_parser = parse_target)]
        servers: Vec<GroupKey>,
        /// Delete even a server whose row shows players
        #[arg(long)]
        force: bool,
    },
    /// What GC deletes now (marked and empty, Failed past its TTL, unhealthy
    /// and empty, stale Deleting claims), by GC's own rule on what List shows;
    /// without --dry-run, delete those through the Delete API (never --force)
    Gc {
        /// Show them and why; change nothing
        #[arg(long)]
        dry_run: bool,
        /// The deployment's FLEET_FAILED_TTL
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        failed_ttl: Duration,
        /// The deployment's DELETE_LEASE (DELETE_WAIT + ARM_TIMEOUT)
        #[arg(long, default_value = "50s", value_parser = humantime::parse_duration)]
        delete_lease: Duration,
    },
}

fn parse_rg(raw: &str) -> Result<ResourceGroup, String> {
    ResourceGroup::parse(raw).map_err(|e| e.to_string())
}

/// `RESOURCE_GROUP/NAME`.
fn parse_target(raw: &str) -> Result<GroupKey, String> {
    let (rg, name) = raw
        .split_once('/')
        .ok_or("expected RESOURCE_GROUP/NAME, e.g. arena/alpha")?;
    Ok(GroupKey::new(
        ResourceGroup::parse(rg).map_err(|e| e.to_string())?,
        ContainerGroupName::parse(name).map_err(|e| e.to_string())?,
    ))
}

fn parse_label(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE, e.g. mode=ctf".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_parsed_by_the_api_s_own_name_rules() {
        let k = parse_target("Arena/alpha").unwrap();
        assert_eq!(k.to_string(), "Arena/alpha");
        assert!(parse_target("arena").is_err());
        assert!(parse_target("arena/Alpha").is_err());
        assert!(parse_target("arena/").is_err());
        assert_eq!(
            parse_label("mode=ctf").unwrap(),
            ("mode".into(), "ctf".into())
        );
        assert!(parse_label("=x").is_err());
    }
}
