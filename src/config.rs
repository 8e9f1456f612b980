//! Configuration, read from the environment once at start.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `FUNCTIONS_CUSTOMHANDLER_PORT` | `8080` | port on 127.0.0.1 (set by the Functions host) |
//! | `AzureWebJobsStorage` | required (or the identity settings) | Table Storage connection string; `UseDevelopmentStorage=true` = Azurite |
//! | `AzureWebJobsStorage__accountName` / `__tableServiceUri` (+ `__credential=managedidentity`, `__clientId`) | – | instead of a connection string: Table Storage with the managed identity's Entra ID tokens, the settings the Functions host reads for itself |
//! | `FLEET_TABLE` | `ACIDetails` | table name (the original project's) |
//! | `AZURE_SUBSCRIPTION_ID` (or `SUBSCRIPTIONID`) | required | subscription of the container groups |
//! | `ARM_ENDPOINT` | `https://management.azure.com` | Azure Resource Manager |
//! | `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` | set by Functions | managed identity; without them the azure_identity default chain is used |
//! | `ACI_SET_SESSIONS_URL` | `https://$WEBSITE_HOSTNAME/api/ReportSessions` | URL given to every container for reporting its sessions |
//! | `SESSION_TOKEN_KEYS` | – | `id:base64secret[,…]`: signs each container's `ACI_SESSIONS_TOKEN` (first signs, all verify) |
//! | `GAMEFLEET_API_KEYS` | – | comma-separated keys; when set, every route but `GET /` and ReportSessions needs `X-API-Key` |
//! | `OPENSTACK_API_KEYS` | – | keys of the seed's `GET /api/OpenStack` (`X-API-Key` or `api_key`) |
//! | `GAMEFLEET_LISTEN` | `127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT` | listen address; a non-loopback one needs `GAMEFLEET_API_KEYS` |
//! | `ARM_TIMEOUT` | `30s` | per-request timeout for ARM and the token endpoint |
//! | `ARM_MAX_RETRIES` | `4` | retries of 429/5xx/timeouts per ARM call |
//! | `ARM_MAX_RETRY_AFTER` | `20s` | longest Retry-After honoured inside one call; longer → 503 to the caller |
//! | `ARM_WRITE_BURST` | `200` | ARM writes (PUT, DELETE, POST start/stop/restart) sent at once before pacing starts: ARM's bucket size per subscription and region |
//! | `ARM_WRITE_RATE` | `10` | ARM writes per second once the burst is spent (ARM's refill rate); decimals allowed; `0` or `off` = no pacing. A write whose turn is further away than `min(ARM_TIMEOUT, ARM_MAX_RETRY_AFTER)` fails at once with 503 `ArmThrottled` + Retry-After |
//! | `STORAGE_TIMEOUT` | `10s` | per-request timeout for Table Storage |
//! | `HEALTH_TIMEOUT` | `off` | a server silent this long after its own last ReportSessions is Unhealthy: out of List's Running view and of Allocate, marked by GC when empty |
//! | `ALLOCATION_TTL` | `60s` | how long an Allocate reservation holds its slots unless the server's count takes them in |
//! | `GC_CONCURRENCY` | `16` | container groups GC deletes at once |
//! | `FLEET_FAILED_TTL` | `1h` | how long a Failed group is kept for inspection before GC collects it |
//! | `DELETE_WAIT` | `20s` | how long Delete/GC wait for ARM's delete to finish before leaving it to the next GC run |
//! | `DELETE_LEASE` | `DELETE_WAIT + ARM_TIMEOUT` | how long a Deleting claim belongs to whoever made it; no second DELETE before |
//! | `RECONCILE_INTERVAL` | `5m` | how often GC compares the table with ARM (`0s` = every run, `off` = never) |
//! | `FLEET_CREATING_TIMEOUT` | `10m` | a group still Creating after this is looked up in ARM and moved on |
//! | `GAMEFLEET_HEADER_TIMEOUT` | `10s` | a connection's request line and headers must all arrive within this, from its first byte (a new connection: from connect) |
//! | `GAMEFLEET_IDLE_TIMEOUT` | `120s` | a keep-alive connection with no request in flight is closed after this (above the host's 60 s .NET pool idle) |
//! | `GAMEFLEET_MAX_CONNECTIONS` | `1024` | connections served at once; further clients wait in the listen backlog until one closes |
//! | `RUST_LOG` | `info` | log filter |

pub use crate::ops::gc::GcConfig;
pub use crate::setting::ConfigError;
use crate::setting::{duration, err, number};
use std::collections::HashMap;
use std::time::Duration;

pub use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub storage: StorageConfig,
    pub arm: ArmConfig,
    /// ReportSessions' URL; every container gets it with its own token in
    /// `ACI_SET_SESSIONS_URL` (checked to be ReportSessions at start).
    pub set_sessions_url: Option<url::Url>,
    /// Keys that sign each container's session token (`SESSION_TOKEN_KEYS`).
    pub session_keys: Option<crate::ops::auth::SessionKeys>,
    /// `X-API-Key` values every route requires (`GAMEFLEET_API_KEYS`); empty = none required.
    pub api_keys: crate::ops::auth::ApiKeys,
    /// Keys of the seed's OpenStack API (`OPENSTACK_API_KEYS`); empty = that API answers 401.
    pub openstack_api_keys: crate::ops::auth::ApiKeys,
    /// Where to listen instead of 127.0.0.1:`FUNCTIONS_CUSTOMHANDLER_PORT` (`GAMEFLEET_LISTEN`).
    pub listen: Option<std::net::SocketAddr>,
    pub gc: GcConfig,
    /// Bounds on the connections we accept ourselves (`GAMEFLEET_HEADER_TIMEOUT` ...).
    pub serve: ServeLimits,
    /// How long an Allocate reservation holds its slots (`ALLOCATION_TTL`, 60s).
    pub allocation_ttl: Duration,
    /// A server silent this long after its own last report is Unhealthy
    /// (`HEALTH_TIMEOUT`; off by default: the original's images report only
    /// when a player joins or leaves).
    pub health_timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub source: StorageSource,
    pub table: String,
    pub timeout: Duration,
}

/// How gamefleet reaches Table Storage.
#[derive(Debug, Clone)]
pub enum StorageSource {
    /// `AzureWebJobsStorage`: a connection string (account key, SAS, Azurite).
    ConnectionString(Secret),
    /// `AzureWebJobsStorage__accountName` or `__tableServiceUri`: bearer tokens
    /// for `https://storage.azure.com/` from the managed identity (the one
    /// `__clientId` names, else `AZURE_CLIENT_ID`'s, else the system-assigned
    /// one); no key anywhere. The identity needs Storage Table Data Contributor.
    Identity {
        /// `https://<account>.table.core.windows.net`, or `__tableServiceUri`.
        table_endpoint: url::Url,
        account: String,
        client_id: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct ArmConfig {
    pub endpoint: url::Url,
    pub subscription_id: String,
    pub identity: IdentityConfig,
    pub timeout: Duration,
    pub max_retries: u32,
    pub max_retry_after: Duration,
    /// The write pacer's bucket (`ARM_WRITE_BURST`, `ARM_WRITE_RATE`); `None` = off.
    pub write_pacing: Option<crate::cloud::pacer::PaceConfig>,
}

impl ArmConfig {
    /// How long a write may wait for its token: no longer than one request may
    /// take, nor than a Retry-After the call would honour.
    pub fn write_max_wait(&self) -> Duration {
        self.timeout.min(self.max_retry_after)
    }
}

/// Where ARM tokens come from.
#[derive(Debug, Clone)]
pub enum IdentityConfig {
    /// App Service / Functions managed identity (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`).
    AppService {
        endpoint: url::Url,
        header: Secret,
        /// User-assigned identity (`AZURE_CLIENT_ID`); system-assigned when `None`.
        client_id: Option<String>,
    },
    /// azure_identity's default chain (environment, CLI...).
    Default,
}

/// Bounds on every connection gamefleet accepts itself (the TCP listener of
/// `gamefleet serve`, the OCI Function's unix socket); see `crate::http::serve`.
/// Read on its own by the OCI Function, which has no storage settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// A request's line and headers must arrive within this from their first byte.
    pub header_timeout: Duration,
    /// A connection with no request in flight and no new byte is closed after this.
    pub idle_timeout: Duration,
    /// Connections served at once; the next accept waits for a free slot.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            // The Functions host (.NET 6+ SocketsHttpHandler) drops pooled connections
            // idle for 1 min; closing first would race its next request.
            idle_timeout: Duration::from_secs(120),
            max_connections: 1024,
        }
    }
}

impl ServeLimits {
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let d = Self::default();
        let positive = |var: &'static str, default: Duration| {
            let v = duration(&get, var, default)?;
            if v.is_zero() {
                return Err(err(var, "must be longer than 0s"));
            }
            Ok(v)
        };
        let max_connections =
            number::<usize>(&get, "GAMEFLEET_MAX_CONNECTIONS", d.max_connections)?;
        if max_connections == 0 {
            return Err(err("GAMEFLEET_MAX_CONNECTIONS", "must be at least 1"));
        }
        Ok(Self {
            header_timeout: positive("GAMEFLEET_HEADER_TIMEOUT", d.header_timeout)?,
            idle_timeout: positive("GAMEFLEET_IDLE_TIMEOUT", d.idle_timeout)?,
            max_connections,
        })
    }
}

pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";
pub const DEFAULT_TABLE: &str = "ACIDetails";

impl Config {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_lookup(|k| vars.get(k).cloned())
    }

    /// Read from any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let port = match get("FUNCTIONS_CUSTOMHANDLER_PORT") {
            Some(p) => p.trim().parse::<u16>().map_err(|_| {
                err(
                    "FUNCTIONS_CUSTOMHANDLER_PORT",
                    format!("{p:?} is not a port number"),
                )
            })?,
            None => 8080,
        };
        let storage_source = storage_source(&get)?;
        let table = get("FLEET_TABLE").unwrap_or_else(|| DEFAULT_TABLE.to_owned());
        if !(3..=63).contains(&table.len())
            || !table.chars().all(|c| c.is_ascii_alphanumeric())
            || !table.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            return Err(err(
                "FLEET_TABLE",
                format!(
                    "{table:?} is not a table name (3-63 letters/digits, starting with a letter)"
                ),
            ));
        }
        let arm = ArmConfig::from_lookup(&get)?.ok_or_else(|| {
            err(
                "AZURE_SUBSCRIPTION_ID",
                "is not set (SUBSCRIPTIONID is accepted too)",
            )
        })?;
        let set_sessions_url = match get("ACI_SET_SESSIONS_URL") {
            Some(u) => Some(report_url("ACI_SET_SESSIONS_URL", &u)?),
            None => match get("WEBSITE_HOSTNAME") {
                Some(h) => Some(report_url(
                    "WEBSITE_HOSTNAME",
                    &format!("https://{}/api/ReportSessions", h.trim()),
                )?),
                None => None,
            },
        };
        let session_keys = match get("SESSION_TOKEN_KEYS") {
            Some(spec) => Some(
                crate::ops::auth::SessionKeys::parse(&spec)
                    .map_err(|e| err("SESSION_TOKEN_KEYS", e))?,
            ),
            None => None,
        };
        let (api_keys, openstack_api_keys) = api_keys(&get)?;
        let listen = match get("GAMEFLEET_LISTEN") {
            Some(l) => Some(l.trim().parse::<std::net::SocketAddr>().map_err(|_| {
                err(
                    "GAMEFLEET_LISTEN",
                    format!("{l:?} is not an address like 0.0.0.0:8080"),
                )
            })?),
            None => None,
        };
        let delete_wait = duration(&get, "DELETE_WAIT", Duration::from_secs(20))?;
        let delete_lease = duration(&get, "DELETE_LEASE", delete_wait + arm.timeout)?;
        Ok(Config {
            port,
            storage: StorageConfig {
                source: storage_source,
                table,
                timeout: duration(&get, "STORAGE_TIMEOUT", Duration::from_secs(10))?,
            },
            arm,
            set_sessions_url,
            session_keys,
            api_keys,
            openstack_api_keys,
            listen,
            serve: ServeLimits::from_lookup(&get)?,
            health_timeout: match get("HEALTH_TIMEOUT").as_deref().map(str::trim) {
                None | Some("off") | Some("0") | Some("0s") => None,
                Some(_) => Some(duration(&get, "HEALTH_TIMEOUT", Duration::ZERO)?),
            },
            allocation_ttl: match duration(&get, "ALLOCATION_TTL", Duration::from_secs(60))? {
                d if d.is_zero() => return Err(err("ALLOCATION_TTL", "must be longer than 0s")),
                d => d,
            },
            gc: GcConfig {
                concurrency: number::<usize>(&get, "GC_CONCURRENCY", 16)?.max(1),
                failed_ttl: duration(&get, "FLEET_FAILED_TTL", Duration::from_secs(3600))?,
                delete_wait,
                delete_lease,
                reconcile_interval: match get("RECONCILE_INTERVAL") {
                    Some(v) if v.trim().eq_ignore_ascii_case("off") => None,
                    _ => Some(duration(
                        &get,
                        "RECONCILE_INTERVAL",
                        Duration::from_secs(300),
                    )?),
                },
                creating_timeout: duration(
                    &get,
                    "FLEET_CREATING_TIMEOUT",
                    Duration::from_secs(600),
                )?,
            },
        })
    }
}

impl ArmConfig {
    /// ARM settings alone (the lifecycle CLI needs them without storage);
    /// `None` when no subscription is configured.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let Some(subscription_id) = get("AZURE_SUBSCRIPTION_ID").or_else(|| get("SUBSCRIPTIONID"))
        else {
            return Ok(None);
        };
        let endpoint_raw = get("ARM_ENDPOINT").unwrap_or_else(|| DEFAULT_ARM_ENDPOINT.to_owned());
        let endpoint = url::Url::parse(&endpoint_raw).map_err(|e| {
            err(
                "ARM_ENDPOINT",
                format!("{endpoint_raw:?} is not a URL: {e}"),
            )
        })?;
        let identity = match (get("IDENTITY_ENDPOINT"), get("IDENTITY_HEADER")) {
            (Some(ep), Some(header)) => IdentityConfig::AppService {
                endpoint: url::Url::parse(&ep)
                    .map_err(|e| err("IDENTITY_ENDPOINT", format!("{ep:?} is not a URL: {e}")))?,
                header: Secret::new(header),
                client_id: get("AZURE_CLIENT_ID"),
            },
            (Some(_), None) => {
                return Err(err(
                    "IDENTITY_HEADER",
                    "is required when IDENTITY_ENDPOINT is set",
                ))
            }
            _ => IdentityConfig::Default,
        };
        Ok(Some(ArmConfig {
            endpoint,
            subscription_id: subscription_id.trim().to_owned(),
            identity,
            timeout: duration(&get, "ARM_TIMEOUT", Duration::from_secs(30))?,
            max_retries: number(&get, "ARM_MAX_RETRIES", 4)?,
            max_retry_after: duration(&get, "ARM_MAX_RETRY_AFTER", Duration::from_secs(20))?,
            write_pacing: write_pacing(&get)?,
        }))
    }
}

/// `ARM_WRITE_BURST` (default 200) and `ARM_WRITE_RATE` (default 10 per second;
/// `0` or `off` = none): ARM's write bucket per subscription and region.
fn write_pacing(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::cloud::pacer::PaceConfig>, ConfigError> {
    let per_sec = match get("ARM_WRITE_RATE") {
        None => 10.0,
        Some(v) if v.trim().eq_ignore_ascii_case("off") => return Ok(None),
        Some(v) => {
            let raw = v.trim();
            let rate = raw
                .strip_suffix("/s")
                .unwrap_or(raw)
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.0)
                .ok_or_else(|| {
                    err(
                        "ARM_WRITE_RATE",
                        format!("{v:?} is not a rate in writes per second like 10 or 2.5 (0 or off = no pacing)"),
                    )
                })?;
            if rate == 0.0 {
                return Ok(None);
            }
            rate
        }
    };
    let burst = number::<u32>(get, "ARM_WRITE_BURST", 200)?;
    if burst == 0 {
        return Err(err(
            "ARM_WRITE_BURST",
            "must be at least 1 (to turn pacing off, set ARM_WRITE_RATE=off)",
        ));
    }
    Ok(Some(crate::cloud::pacer::PaceConfig { burst, per_sec }))
}

/// The URL containers report their sessions to: it must be gamefleet's
/// ReportSessions (Create adds each container's own `token` to it, and only
/// ReportSessions accepts that token). The original project pointed containers
/// at SetSessions with the function key (`?code=`): refused, since that key
/// would let any container set any server's count. Never echoes the query.
fn report_url(var: &'static str, raw: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| {
        err(
            var,
            format!("is not a URL ({e}); give https://<host>/api/ReportSessions"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(err(
            var,
            "must be an http(s) URL with a host, like https://<host>/api/ReportSessions",
        ));
    }
    let path = url.path().trim_end_matches('/');
    if !path.to_ascii_lowercase().ends_with("/api/reportsessions") {
        return Err(err(
            var,
            format!(
                "points at {path:?}; it must be gamefleet's ReportSessions function (https://{}/api/ReportSessions): Create gives every container this URL with its own token, and only ReportSessions accepts it",
                url.host_str().unwrap_or("<host>")
            ),
        ));
    }
    if let Some((k, _)) = url
        .query_pairs()
        .find(|(k, _)| k.eq_ignore_ascii_case("code") || k == "token")
    {
        return Err(err(
            var,
            format!("must not carry {k:?} in its query: ReportSessions is anonymous and every container gets its own token"),
        ));
    }
    Ok(url)
}

/// `GAMEFLEET_API_KEYS` and `OPENSTACK_API_KEYS` (empty when unset): what
/// every runtime needs, with or without Table Storage.
pub fn api_keys(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(crate::ops::auth::ApiKeys, crate::ops::auth::ApiKeys), ConfigError> {
    let read = |var: &'static str| match get(var).filter(|v| !v.trim().is_empty()) {
        Some(spec) => crate::ops::auth::ApiKeys::parse(&spec).map_err(|e| err(var, e)),
        None => Ok(crate::ops::auth::ApiKeys::default()),
    };
    Ok((read("GAMEFLEET_API_KEYS")?, read("OPENSTACK_API_KEYS")?))
}

/// `AzureWebJobsStorage` (a connection string) or, without it, the
/// identity-based `AzureWebJobsStorage__*` settings the Functions host reads.
fn storage_source(get: &impl Fn(&str) -> Option<String>) -> Result<StorageSource, ConfigError> {
    if let Some(cs) = get("AzureWebJobsStorage") {
        return Ok(StorageSource::ConnectionString(Secret::new(cs)));
    }
    let account = get("AzureWebJobsStorage__accountName").map(|a| a.trim().to_owned());
    let uri = get("AzureWebJobsStorage__tableServiceUri");
    if let Some(c) = get("AzureWebJobsStorage__credential") {
        if !c.trim().eq_ignore_ascii_case("managedidentity") {
            return Err(err(
                "AzureWebJobsStorage__credential",
                format!("{c:?} is not supported; use managedidentity (or a connection string in AzureWebJobsStorage)"),
            ));
        }
    }
    let table_endpoint = match (&uri, &account) {
        (Some(u), _) => {
            let name = "AzureWebJobsStorage__tableServiceUri";
            let url = url::Url::parse(u.trim())
                .map_err(|e| err(name, format!("{u:?} is not a URL: {e}")))?;
            let local = url.host_str().is_some_and(|h| h == "127.0.0.1" || h == "localhost");
            if url.scheme() != "https" && !(url.scheme() == "http" && local) {
                return Err(err(name, "must be https (a bearer token never goes over plain http but to this machine)"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(err(name, "must be the table service's base URL, without a query"));
            }
            url
        }
        (None, Some(a)) => {
            let valid = (3..=24).contains(&a.len())
                && a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !valid {
                return Err(err(
                    "AzureWebJobsStorage__accountName",
                    format!("{a:?} is not a storage account name (3-24 lowercase letters and digits)"),
                ));
            }
            url::Url::parse(&format!("https://{a}.table.core.windows.net"))
                .map_err(|e| err("AzureWebJobsStorage__accountName", e.to_string()))?
        }
        (None, None) => {
            return Err(err(
                "AzureWebJobsStorage",
                "is not set; give a storage connection string (UseDevelopmentStorage=true for Azurite), or AzureWebJobsStorage__accountName for the managed identity",
            ))
        }
    };
    let account = account.unwrap_or_else(|| {
        table_endpoint
            .host_str()
            .and_then(|h| h.split('.').next())
            .unwrap_or_default()
            .to_owned()
    });
    let client_id = get("AzureWebJobsStorage__clientId")
        .or_else(|| get("AZURE_CLIENT_ID"))
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    Ok(StorageSource::Identity {
        table_endpoint,
        account,
        client_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] = [
        ("AzureWebJobsStorage", "UseDevelopmentStorage=true"),
        ("AZURE_SUBSCRIPTION_ID", "sub"),
    ];

    #[test]
    fn defaults() {
        let c = cfg(&BASE).unwrap();
        assert_eq!(c.port, 8080);
        assert_eq!(c.storage.table, "ACIDetails");
        assert_eq!(c.arm.endpoint.as_str(), "https://management.azure.com/");
        assert!(matches!(c.arm.identity, IdentityConfig::Default));
        assert_eq!(c.gc.failed_ttl, Duration::from_secs(3600));
        assert_eq!(c.set_sessions_url, None);
    }

    #[test]
    fn errors_name_the_variable() {
        let e = cfg(&[("AZURE_SUBSCRIPTION_ID", "s")]).unwrap_err();
        assert_eq!(e.var, "AzureWebJobsStorage");
        let e = cfg(&[BASE[0], BASE[1], ("FUNCTIONS_CUSTOMHANDLER_PORT", "x")]).unwrap_err();
        assert_eq!(e.var, "FUNCTIONS_CUSTOMHANDLER_PORT");
        let e = cfg(&[BASE[0], BASE[1], ("FLEET_FAILED_TTL", "soon")]).unwrap_err();
        assert_eq!(e.var, "FLEET_FAILED_TTL");
        let e = cfg(&[BASE[0]]).unwrap_err();
        assert_eq!(e.var, "AZURE_SUBSCRIPTION_ID");
    }

    #[test]
    fn serve_limits() {
        assert_eq!(cfg(&BASE).unwrap().serve, ServeLimits::default());
        let c = cfg(&[
            BASE[0],
            BASE[1],
            ("GAMEFLEET_HEADER_TIMEOUT", "2s"),
            ("GAMEFLEET_IDLE_TIMEOUT", "90s"),
            ("GAMEFLEET_MAX_CONNECTIONS", "5"),
        ])
        .unwrap();
        assert_eq!(
            c.serve,
            ServeLimits {
                header_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_secs(90),
                max_connections: 5,
            }
        );
        for (var, bad) in [
            ("GAMEFLEET_HEADER_TIMEOUT", "0s"),
            ("GAMEFLEET_IDLE_TIMEOUT", "soon"),
            ("GAMEFLEET_MAX_CONNECTIONS", "0"),
            ("GAMEFLEET_MAX_CONNECTIONS", "many"),
        ] {
            let e = cfg(&[BASE[0], BASE[1], (var, bad)]).unwrap_err();
            assert_eq!(e.var, var, "{bad}");
        }
    }

    #[test]
    fn arm_write_pacing() {
        use crate::cloud::pacer::PaceConfig;
        let c = cfg(&BASE).unwrap();
        assert_eq!(
            c.arm.write_pacing,
            Some(PaceConfig {
                burst: 200,
                per_sec: 10.0
            })
        );
        assert_eq!(c.arm.write_max_wait(), Duration::from_secs(20));
        let c = cfg(&[
            BASE[0],
            BASE[1],
            ("ARM_WRITE_BURST", "20"),
            ("ARM_WRITE_RATE", "100/s"),
            ("ARM_TIMEOUT", "5s"),
        ])
        .unwrap();
        assert_eq!(
            c.arm.write_pacing,
            Some(PaceConfig {
                burst: 20,
                per_sec: 100.0
            })
        );
        assert_eq!(c.arm.write_max_wait(), Duration::from_secs(5));
        for off in ["0", "off", "OFF", "0.0"] {
            let c = cfg(&[BASE[0], BASE[1], ("ARM_WRITE_RATE", off)]).unwrap();
            assert_eq!(c.arm.write_pacing, None, "{off}");
        }
        for (var, bad) in [
            ("ARM_WRITE_RATE", "fast"),
            ("ARM_WRITE_RATE", "-1"),
            ("ARM_WRITE_RATE", "inf"),
            ("ARM_WRITE_BURST", "0"),
            ("ARM_WRITE_BURST", "lots"),
        ] {
            let e = cfg(&[BASE[0], BASE[1], (var, bad)]).unwrap_err();
            assert_eq!(e.var, var, "{bad}");
        }
    }

    #[test]
    fn legacy_subscription_and_website_hostname() {
        let c = cfg(&[
            BASE[0],
            ("SUBSCRIPTIONID", "legacy"),
            ("WEBSITE_HOSTNAME", "fleet.azurewebsites.net"),
        ])
        .unwrap();
        assert_eq!(c.arm.subscription_id, "legacy");
        assert_eq!(
            c.set_sessions_url.as_ref().map(url::Url::as_str),
            Some("https://fleet.azurewebsites.net/api/ReportSessions")
        );
    }

    #[test]
    fn the_sessions_url_must_be_report_sessions() {
        for ok in [
            "https://f.example/api/ReportSessions",
            "http://127.0.0.1:7071/api/reportsessions/",
            "https://f.example/api/ReportSessions?region=eu",
        ] {
            let c = cfg(&[BASE[0], BASE[1], ("ACI_SET_SESSIONS_URL", ok)]).unwrap();
            assert!(c.set_sessions_url.is_some(), "{ok}");
        }
        for bad in [
            "https://f.example/api/SetSessions",
            "https://f.example/api/ACISetSessions?code=s3cr3t-function-key",
            "https://f.example/api/ReportSessions?code=s3cr3t-function-key",
            "https://f.example/api/ReportSessions?token=x",
            "ftp://f.example/api/ReportSessions",
            "not a url",
        ] {
            let e = cfg(&[BASE[0], BASE[1], ("ACI_SET_SESSIONS_URL", bad)]).unwrap_err();
            assert_eq!(e.var, "ACI_SET_SESSIONS_URL", "{bad}");
            assert!(!e.problem.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let c = cfg(&[
            ("AzureWebJobsStorage", "AccountKey=supersecret"),
            BASE[1],
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"),
            ("IDENTITY_HEADER", "hdr-secret"),
        ])
        .unwrap();
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("supersecret") && !printed.contains("hdr-secret"),
            "{printed}"
        );
    }
}
