//! The ways into the lifecycle core share this: a request (action, provider,
//! target, polling), the providers built once and on first use, and one
//! `execute` that resolves the target (a Vault secret if asked) and runs the core.

use crate::cloud::azure::power::AciPower;
use crate::cloud::oci::OciProviders;
use crate::lifecycle::{
    self, Action, Clock, Outcome, OutcomeKind, PollSettings, Power, PowerError,
};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The providers the core drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OciContainerInstance,
    OciCompute,
    Aci,
}

impl Provider {
    pub const ALL: [Provider; 3] = [
        Provider::OciContainerInstance,
        Provider::OciCompute,
        Provider::Aci,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OciContainerInstance => "oci-container-instance",
            Provider::OciCompute => "oci-compute",
            Provider::Aci => "aci",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Provider::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            format!("Invalid provider '{s}'. Must be 'oci-container-instance', 'oci-compute' or 'aci'.")
        })
    }
}

/// What to act on: the resource itself, or a Vault secret holding its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Resource(String),
    Secret(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerRequest {
    pub action: Action,
    pub provider: Provider,
    pub target: Target,
    pub settings: PollSettings,
}

/// Defaults that come from configuration (environment, or OCI Function config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    pub action: Option<Action>,
    pub provider: Option<Provider>,
    pub target: Option<Target>,
    pub settings: PollSettings,
}

impl Defaults {
    /// `POWER_POLL_INTERVAL` (15s), `POWER_MAX_WAIT` (240s), `POWER_PROVIDER`,
    /// `POWER_RESOURCE` or `POWER_SECRET_ID`.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let dur = |k: &str, d: Duration| -> Result<Duration, String> {
            match get(k) {
                None => Ok(d),
                Some(v) => humantime::parse_duration(v.trim())
                    .map_err(|e| format!("{k}: {v:?} is not a duration like 15s or 4m: {e}")),
            }
        };
        let provider = match get("POWER_PROVIDER") {
            Some(p) => Some(
                p.trim()
                    .parse::<Provider>()
                    .map_err(|e| format!("POWER_PROVIDER: {e}"))?,
            ),
            None => None,
        };
        let target = match (get("POWER_RESOURCE"), get("POWER_SECRET_ID")) {
            (Some(r), _) => Some(Target::Resource(r.trim().to_owned())),
            (None, Some(s)) => Some(Target::Secret(s.trim().to_owned())),
            _ => None,
        };
        Ok(Self {
            action: None,
            provider,
            target,
            settings: PollSettings {
                interval: dur("POWER_POLL_INTERVAL", lifecycle::DEFAULT_POLL_INTERVAL)?,
                max_wait: dur("POWER_MAX_WAIT", lifecycle::DEFAULT_MAX_WAIT)?,
                wait: true,
            },
        })
    }
}

/// Longest poll interval and wait a request may ask for.
pub const MAX_INTERVAL: Duration = Duration::from_secs(600);
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// Why a Power request was refused: a stable code for the 400 body, and the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// `InvalidAction`, `InvalidResource` or `InvalidRequest`.
    pub code: &'static str,
    pub message: String,
}

impl From<String> for RequestError {
    fn from(message: String) -> Self {
        Self {
            code: "InvalidRequest",
            message,
        }
    }
}

impl From<&str> for RequestError {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

/// Parse a JSON request body (`{"action", "provider", "resource" | "secretId",
/// "pollIntervalSeconds", "maxWaitSeconds", "wait"}`), filling gaps from `defaults`.
///
/// For the OCI providers the resource must be an OCID of the provider's type
/// (`ocid1.computecontainerinstance.…`, `ocid1.instance.…`), and a `secretId`
/// is always a Vault secret's OCID (`ocid1.vaultsecret.…`): checked here by
/// shape ([`crate::cloud::oci::ocid`]), so nothing odd is sent. ACI ids are
/// checked by the ACI provider before any request.
pub fn parse_request(body: &Value, defaults: &Defaults) -> Result<PowerRequest, RequestError> {
    let obj = match body {
        Value::Object(o) => o.clone(),
        Value::Null => serde_json::Map::new(),
        other => {
            return Err(format!(
                "expected a JSON object like {{\"action\": \"start\"}}, not {}",
                crate::fleet::names::json_kind(other)
            )
            .into())
        }
    };
    let string = |k: &str| -> Result<Option<String>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!(
                "{k} must be a string, not {}",
                crate::fleet::names::json_kind(other)
            )),
        }
    };
    let seconds = |k: &str, max: Duration| -> Result<Option<Duration>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if x >= 0.0 && x <= max.as_secs_f64() => {
                    Ok(Some(Duration::from_secs_f64(x)))
                }
                _ => Err(format!(
                    "{k} must be a number of seconds from 0 to {}",
                    max.as_secs()
                )),
            },
            Some(other) => Err(format!(
                "{k} must be a number of seconds, not {}",
                crate::fleet::names::json_kind(other)
            )),
        }
    };
    let action = match string("action")? {
        Some(a) => a.parse::<Action>().map_err(|e| RequestError {
            code: "InvalidAction",
            message: e.to_string(),
        })?,
        None => defaults
            .action
            .ok_or("action is missing: one of 'start', 'stop', 'toggle', 'status'")?,
    };
    let provider = match string("provider")? {
        Some(p) => p.parse::<Provider>()?,
        None => defaults
            .provider
            .ok_or("provider is missing: one of 'oci-container-instance', 'oci-compute', 'aci'")?,
    };
    let target = match (string("resource")?, string("secretId")?) {
        (Some(_), Some(_)) => return Err("give either resource or secretId, not both".into()),
        (Some(r), None) if !r.trim().is_empty() => Target::Resource(r.trim().to_owned()),
        (None, Some(s)) if !s.trim().is_empty() => Target::Secret(s.trim().to_owned()),
        (None, None) => defaults.target.clone().ok_or(
            "resource (an OCID or ARM id) or secretId (an OCI Vault secret holding it) is missing",
        )?,
        _ => return Err("resource and secretId must not be empty".into()),
    };
    check_target(provider, &target)?;
    let mut settings = defaults.settings;
    if let Some(i) = seconds("pollIntervalSeconds", MAX_INTERVAL)? {
        if i.is_zero() {
            return Err("pollIntervalSeconds must be greater than 0".into());
        }
        settings.interval = i;
    }
    if let Some(w) = seconds("maxWaitSeconds", MAX_WAIT)? {
        settings.max_wait = w;
    }
    match obj.get("wait") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => settings.wait = *b,
        Some(other) => {
            return Err(format!(
                "wait must be true or false, not {}",
                crate::fleet::names::json_kind(other)
            )
            .into())
        }
    }
    Ok(PowerRequest {
        action,
        provider,
        target,
        settings,
    })
}

/// OCIDs by shape and type: `secretId` is a Vault secret; an OCI provider's
/// resource is of its type.
fn check_target(provider: Provider, target: &Target) -> Result<(), RequestError> {
    use crate::cloud::oci::ocid::{check, OcidType};
    let checked = match (target, provider) {
        (Target::Secret(id), _) => check("secretId", id, OcidType::VaultSecret),
        (Target::Resource(id), Provider::OciContainerInstance) => {
            check("resource", id, OcidType::ContainerInstance)
        }
        (Target::Resource(id), Provider::OciCompute) => check("resource", id, OcidType::Instance),
        (Target::Resource(_), Provider::Aci) => Ok(""),
    };
    checked.map(drop).map_err(|message| RequestError {
        code: "InvalidResource",
        message,
    })
}

/// An environment lookup the hub keeps (the process's, or an OCI Function's config).
pub type SharedEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A snapshot of the process environment.
pub fn process_env() -> SharedEnv {
    let vars: HashMap<String, String> = std::env::vars().collect();
    Arc::new(move |k: &str| vars.get(k).cloned())
}

/// The providers, built on first use (an OCI config is read only when an OCI
/// provider is asked for; ARM only exists inside the Functions app).
pub struct PowerHub {
    aci: Option<Arc<dyn Power>>,
    oci: OnceCell<Arc<OciProviders>>,
    env: SharedEnv,
    pub defaults: Defaults,
}

impl fmt::Debug for PowerHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerHub")
            .field("aci", &self.aci.is_some())
            .field("defaults", &self.defaults)
            .finish()
    }
}

impl PowerHub {
    pub fn new(
        env: SharedEnv,
        defaults: Defaults,
        arm: Option<Arc<crate::cloud::azure::ArmClient>>,
    ) -> Self {
        Self {
            aci: arm.map(|a| Arc::new(AciPower::new(a)) as Arc<dyn Power>),
            oci: OnceCell::new(),
            env,
            defaults,
        }
    }

    /// From the process environment.
    pub fn from_env(arm: Option<Arc<crate::cloud::azure::ArmClient>>) -> Result<Self, String> {
        let env = process_env();
        let defaults = Defaults::from_lookup(&*env)?;
        Ok(Self::new(env, defaults, arm))
    }

    async fn oci(&self) -> Result<&Arc<OciProviders>, PowerError> {
        self.oci
            .get_or_try_init(|| async { OciProviders::from_env(&*self.env).await.map(Arc::new) })
            .await
    }

    pub async fn provider(&self, p: Provider) -> Result<Arc<dyn Power>, PowerError> {
        match p {
            Provider::OciContainerInstance => Ok(self.oci().await?.container_instances()),
            Provider::OciCompute => Ok(self.oci().await?.compute()),
            Provider::Aci => self.aci.clone().ok_or_else(|| {
                PowerError::Config("provider 'aci' needs Azure settings (AZURE_SUBSCRIPTION_ID, and a credential); they are not configured here".into())
            }),
        }
    }

    /// Resolve the target and run the core.
    pub async fn execute(
        &self,
        req: &PowerRequest,
        clock: &dyn Clock,
        progress: &mut (dyn FnMut(lifecycle::poll::Progress) + Send),
    ) -> Outcome {
        let failed = |resource: String, kind: OutcomeKind, message: String| Outcome {
            provider: match req.provider {
                Provider::OciContainerInstance => "oci-container-instance",
                Provider::OciCompute => "oci-compute",
                Provider::Aci => "aci",
            },
            resource,
            action: req.action,
            seen: None,
            command: None,
            reached: None,
            kind,
            elapsed: Duration::ZERO,
            message,
        };
        let power = match self.provider(req.provider).await {
            Ok(p) => p,
            Err(e) => return failed(String::new(), OutcomeKind::Error(e.clone()), e.to_string()),
        };
        let resource = match &req.target {
            Target::Resource(r) => r.clone(),
            Target::Secret(id) => match self.oci().await {
                Ok(oci) => match oci.secret(id).await {
                    Ok(r) => r,
                    Err(e) => {
                        let msg = format!("Failed to retrieve the OCID from the vault secret. {e}");
                        return failed(String::new(), OutcomeKind::Error(e), msg);
                    }
                },
                Err(e) => {
                    return failed(
                        String::new(),
                        OutcomeKind::Error(e.clone()),
                        format!("Failed to retrieve the OCID from the vault secret. {e}"),
                    )
                }
            },
        };
        lifecycle::run(
            &*power,
            &resource,
            req.action,
            &req.settings,
            clock,
            progress,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> Defaults {
        Defaults::from_lookup(&|_| None).unwrap()
    }

    #[test]
    fn parses_requests_and_names_mistakes() {
        let r = parse_request(&json!({"action": "start", "provider": "oci-compute", "resource": "ocid1.instance.oc1.iad.aaaa", "pollIntervalSeconds": 0.5, "maxWaitSeconds": 30, "wait": false}), &defaults()).unwrap();
        assert_eq!(r.action, Action::Start);
        assert_eq!(r.provider, Provider::OciCompute);
        assert_eq!(
            r.target,
            Target::Resource("ocid1.instance.oc1.iad.aaaa".into())
        );
        assert_eq!(
            r.settings,
            PollSettings {
                interval: Duration::from_millis(500),
                max_wait: Duration::from_secs(30),
                wait: false
            }
        );
        let cases = [
            (
                json!({"action": "reboot", "provider": "aci", "resource": "x"}),
                "Invalid action 'reboot'. Must be 'start', 'stop', 'toggle', 'restart' or 'status'.",
            ),
            (
                json!({"action": "start", "provider": "gcp", "resource": "x"}),
                "Invalid provider 'gcp'",
            ),
            (
                json!({"action": "start", "provider": "aci"}),
                "resource (an OCID or ARM id) or secretId",
            ),
            (
                json!({"action": "start", "provider": "aci", "resource": "x", "secretId": "y"}),
                "not both",
            ),
            (
                json!({"action": "start", "provider": "aci", "resource": "x", "maxWaitSeconds": -1}),
                "maxWaitSeconds must be a number of seconds from 0 to 3600",
            ),
            (
                json!({"action": "start", "provider": "aci", "resource": "x", "pollIntervalSeconds": 0}),
                "pollIntervalSeconds must be greater than 0",
            ),
            (
                json!({"action": "start", "provider": "aci", "resource": "x", "wait": "no"}),
                "wait must be true or false",
            ),
            (json!({"action": 1}), "action must be a string"),
            (json!([1]), "expected a JSON object"),
            (
                json!({"provider": "aci", "resource": "x"}),
                "action is missing",
            ),
        ];
        for (body, want) in cases {
            let e = parse_request(&body, &defaults()).unwrap_err();
            assert!(e.message.contains(want), "{body}: {e}");
            let code = if want.starts_with("Invalid action") {
                "InvalidAction"
            } else {
                "InvalidRequest"
            };
            assert_eq!(e.code, code, "{body}");
        }
    }

    #[test]
    fn oci_targets_must_be_ocids_of_the_providers_type() {
        let ci = "ocid1.computecontainerinstance.oc1.iad.aaaa";
        let vm = "ocid1.instance.oc1.iad.aaaa";
        let secret = "ocid1.vaultsecret.oc1.iad.aaaa";
        let req = |provider: &str, field: &str, id: &str| {
            parse_request(
                &json!({"action": "status", "provider": provider, field: id}),
                &defaults(),
            )
        };
        assert!(req("oci-container-instance", "resource", ci).is_ok());
        assert!(req("oci-compute", "resource", vm).is_ok());
        for p in ["oci-container-instance", "oci-compute", "aci"] {
            assert!(req(p, "secretId", secret).is_ok(), "{p}");
        }
        assert!(
            req("aci", "resource", "rg/cg").is_ok(),
            "ACI ids: the provider checks them"
        );
        for (provider, field, id, says) in [
            (
                "oci-container-instance",
                "resource",
                ".",
                "resource \".\" is not a container instance OCID",
            ),
            (
                "oci-container-instance",
                "resource",
                "..",
                "resource \"..\" is not a container instance OCID",
            ),
            (
                "oci-compute",
                "resource",
                "..",
                "resource \"..\" is not a compute instance OCID",
            ),
            (
                "oci-container-instance",
                "resource",
                vm,
                "is an OCID of type instance",
            ),
            (
                "oci-compute",
                "resource",
                ci,
                "is an OCID of type computecontainerinstance",
            ),
            (
                "oci-container-instance",
                "secretId",
                "..",
                "secretId \"..\" is not a Vault secret OCID",
            ),
            (
                "aci",
                "secretId",
                ci,
                "secretId \"ocid1.computecontainerinstance.oc1.iad.aaaa\" is an OCID of type",
            ),
        ] {
            let e = req(provider, field, id).unwrap_err();
            assert_eq!(e.code, "InvalidResource", "{provider} {field} {id}");
            assert!(
                e.message.starts_with(says) || e.message.contains(says),
                "{provider} {field} {id}: {e}"
            );
        }
    }

    #[test]
    fn configuration_fills_the_gaps_like_the_oci_function() {
        let env: HashMap<&str, &str> = [
            ("POWER_PROVIDER", "oci-container-instance"),
            ("POWER_SECRET_ID", "ocid1.vaultsecret.oc1.iad.aaaa"),
            ("POWER_MAX_WAIT", "2m"),
        ]
        .into();
        let mut d = Defaults::from_lookup(&|k| env.get(k).map(|v| v.to_string())).unwrap();
        d.action = Some(Action::Toggle);
        let r = parse_request(&Value::Null, &d).unwrap();
        assert_eq!(r.action, Action::Toggle);
        assert_eq!(
            r.target,
            Target::Secret("ocid1.vaultsecret.oc1.iad.aaaa".into())
        );
        assert_eq!(r.settings.max_wait, Duration::from_secs(120));
        assert_eq!(r.settings.interval, Duration::from_secs(15));
        let bad: HashMap<&str, &str> = [("POWER_POLL_INTERVAL", "often")].into();
        assert!(
            Defaults::from_lookup(&|k| bad.get(k).map(|v| v.to_string()))
                .unwrap_err()
                .starts_with("POWER_POLL_INTERVAL")
        );
    }
}
