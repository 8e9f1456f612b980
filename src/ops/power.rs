//! The ways into the lifecycle core share this: a request (action, provider,
//! target, polling), the providers built once and on first use, and one
//! `execute` that resolves the target (a Vault secret if asked) and runs the core.

use crate::cloud::registry::{one_of, Context, Providers};
use crate::lifecycle::{
    self, Action, Clock, InvalidResource, Outcome, OutcomeKind, PollSettings, Power, PowerError,
};
use crate::setting::{duration, err, ConfigError};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::cloud::registry::{Provider, SharedEnv};

/// What to act on: the resource itself, or a Vault secret holding its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Resource(String),
    Secret(String),
    /// Several resources at once (`"resources": [...]`).
    Many(Vec<String>),
    /// Every resource a selector names (`"selector": {"clusterId": ...}`).
    Selector(crate::lifecycle::Selector),
}

/// Most resources one request may name.
pub const MAX_TARGETS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerRequest {
    pub action: Action,
    pub provider: Provider,
    pub target: Target,
    pub settings: PollSettings,
    /// The seed's `"type"`: `Some(true)` HARD, `Some(false)` SOFT stops.
    pub hard_stop: Option<bool>,
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
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let provider = match get("POWER_PROVIDER") {
            Some(p) => Some(
                p.trim()
                    .parse::<Provider>()
                    .map_err(|e| err("POWER_PROVIDER", e.to_string()))?,
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
                interval: duration(
                    &get,
                    "POWER_POLL_INTERVAL",
                    lifecycle::DEFAULT_POLL_INTERVAL,
                )?,
                max_wait: duration(&get, "POWER_MAX_WAIT", lifecycle::DEFAULT_MAX_WAIT)?,
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

impl From<InvalidResource> for RequestError {
    fn from(e: InvalidResource) -> Self {
        Self {
            code: "InvalidResource",
            message: e.0,
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
        Some(p) => p.parse::<Provider>().map_err(|e| e.to_string())?,
        None => defaults
            .provider
            .ok_or_else(|| format!("provider is missing: one of {}", one_of(&Provider::names())))?,
    };
    let many = match obj.get("resources") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > MAX_TARGETS {
                return Err(format!("resources must name 1 to {MAX_TARGETS} resources").into());
            }
            let mut ids: Vec<String> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let id = item
                    .as_str()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| format!("resources[{i}] must be a non-empty string"))?;
                if ids.iter().any(|x| x == id) {
                    return Err(format!("resources[{i}] names {id:?} again").into());
                }
                ids.push(id.to_owned());
            }
            Some(Target::Many(ids))
        }
        Some(other) => {
            return Err(format!(
                "resources must be an array of ids, not {}",
                crate::fleet::names::json_kind(other)
            )
            .into())
        }
    };
    let selector = match obj.get("selector") {
        None | Some(Value::Null) => None,
        Some(Value::Object(sel)) => match (sel.get("clusterId"), sel.len()) {
            (Some(Value::String(id)), 1) if is_cluster_id(id) => Some(Target::Selector(
                crate::lifecycle::Selector::Cluster(id.to_owned()),
            )),
            _ => {
                return Err(RequestError {
                    code: "InvalidResource",
                    message: "selector must be {\"clusterId\": \"<CCE cluster id, a UUID>\"}"
                        .into(),
                })
            }
        },
        Some(other) => {
            return Err(format!(
                "selector must be an object, not {}",
                crate::fleet::names::json_kind(other)
            )
            .into())
        }
    };
    let given = [
        obj.get("resource"),
        obj.get("secretId"),
        obj.get("resources"),
        obj.get("selector"),
    ]
    .iter()
    .filter(|v| v.is_some_and(|v| !v.is_null()))
    .count();
    if given > 1 {
        return Err("give one of resource, secretId, resources or selector, not both".into());
    }
    let target = match (string("resource")?, string("secretId")?) {
        _ if many.is_some() || selector.is_some() => many.or(selector).ok_or("no target")?,
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
    let hard_stop = match string("type")?.as_deref().map(str::trim) {
        None => None,
        Some(t) if t.eq_ignore_ascii_case("HARD") => Some(true),
        Some(t) if t.eq_ignore_ascii_case("SOFT") => Some(false),
        Some(other) => return Err(format!("type {other:?} must be SOFT or HARD").into()),
    };
    Ok(PowerRequest {
        action,
        provider,
        target,
        settings,
        hard_stop,
    })
}

/// Ids by their real shape, as the registry says for the provider; `secretId`
/// is always an OCI Vault secret's OCID.
fn check_target(provider: Provider, target: &Target) -> Result<(), RequestError> {
    use crate::cloud::oci::ocid::{check, OcidType};
    match target {
        Target::Secret(id) => check("secretId", id, OcidType::VaultSecret).map(drop)?,
        Target::Resource(id) => provider.check(id)?,
        Target::Many(ids) => ids.iter().enumerate().try_for_each(|(i, id)| {
            provider
                .check(id)
                .map_err(|e| InvalidResource(format!("resources[{i}]: {e}")))
        })?,
        Target::Selector(_) => {}
    };
    Ok(())
}

/// What a request ran: one target, or a set.
#[derive(Debug, Clone)]
pub enum Executed {
    One(Outcome),
    Set(lifecycle::SetOutcome),
}

impl Executed {
    pub fn kind(&self) -> &OutcomeKind {
        match self {
            Executed::One(o) => &o.kind,
            Executed::Set(s) => &s.kind,
        }
    }
    pub fn message(&self) -> &str {
        match self {
            Executed::One(o) => &o.message,
            Executed::Set(s) => &s.message,
        }
    }
    pub fn to_json(&self) -> Value {
        match self {
            Executed::One(o) => o.to_json(),
            Executed::Set(s) => s.to_json(),
        }
    }
}

/// A CCE cluster id: a UUID.
fn is_cluster_id(id: &str) -> bool {
    crate::cloud::provider::check_uuid("a CCE cluster id", id).is_ok()
}

/// A snapshot of the process environment.
pub fn process_env() -> SharedEnv {
    let vars: HashMap<String, String> = std::env::vars().collect();
    Arc::new(move |k: &str| vars.get(k).cloned())
}

/// The providers of the registry, built once each, and the defaults.
pub struct PowerHub {
    providers: Providers,
    pub defaults: Defaults,
}

impl fmt::Debug for PowerHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerHub")
            .field("providers", &self.providers)
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
        let mut ctx = Context::new(env);
        if let Some(arm) = arm {
            ctx = ctx.provide(crate::cloud::azure::ARM_CLIENT, arm);
        }
        Self {
            providers: Providers::new(ctx),
            defaults,
        }
    }

    /// From the process environment.
    pub fn from_env(arm: Option<Arc<crate::cloud::azure::ArmClient>>) -> Result<Self, ConfigError> {
        let env = process_env();
        let defaults = Defaults::from_lookup(&*env)?;
        Ok(Self::new(env, defaults, arm))
    }

    /// Build every provider the environment configures (at start): a missing
    /// variable or an unreadable key is an error now, naming the provider.
    pub async fn check_configuration(&self) -> Result<Vec<Provider>, PowerError> {
        self.providers.check_configuration().await
    }

    /// The registry's context (providers that need more than one client, such
    /// as OpenStack's other regions, build from it).
    pub fn context(&self) -> &Context {
        self.providers.context()
    }

    pub async fn provider(&self, p: Provider) -> Result<Arc<dyn Power>, PowerError> {
        self.providers.get(p).await
    }

    /// The provider as the request asks for it (its `"type"` of stop).
    async fn provider_for(&self, req: &PowerRequest) -> Result<Arc<dyn Power>, PowerError> {
        let power = self.provider(req.provider).await?;
        match req.hard_stop {
            None => Ok(power),
            Some(hard) => power.with_stop(hard).ok_or_else(|| {
                PowerError::InvalidResource(format!(
                    "provider '{}' has no SOFT / HARD stop; leave \"type\" out",
                    req.provider
                ))
            }),
        }
    }

    /// The resources a request names: its resource or list, the resource
    /// id its Vault secret holds, or the members of its selector.
    pub async fn members(&self, req: &PowerRequest) -> Result<Vec<lifecycle::Member>, PowerError> {
        let member = |id: &str| lifecycle::Member {
            resource: id.to_owned(),
            name: String::new(),
        };
        match &req.target {
            Target::Resource(r) => Ok(vec![member(r)]),
            Target::Many(ids) => Ok(ids.iter().map(|id| member(id)).collect()),
            Target::Selector(sel) => self.provider(req.provider).await?.select(sel).await,
            Target::Secret(id) => {
                let oci = crate::cloud::oci::shared(self.providers.context()).await?;
                Ok(vec![member(&oci.secret(id).await?)])
            }
        }
    }

    /// One target or a set, as the request says.
    /// One call of the lifecycle core as every runtime makes it (the Power
    /// function, the OCI Function, Lambda and FunctionGraph events, the CLI):
    /// parse `body` with `defaults`, cap the wait at `wait_cap` (what the
    /// runtime's deadline leaves), run it on the real clock, log the result.
    /// A bad request is refused before anything is sent to a provider.
    pub async fn invoke(
        &self,
        body: &Value,
        defaults: &Defaults,
        wait_cap: Option<Duration>,
        progress: &mut (dyn FnMut(lifecycle::poll::Progress) + Send),
    ) -> Result<Executed, RequestError> {
        let req = parse_request(body, defaults)?;
        Ok(self.run(req, wait_cap, progress).await)
    }

    /// A parsed request, run on the real clock with its wait capped at
    /// `wait_cap`, the result logged: what [`Self::invoke`] does after parsing.
    pub async fn run(
        &self,
        mut req: PowerRequest,
        wait_cap: Option<Duration>,
        progress: &mut (dyn FnMut(lifecycle::poll::Progress) + Send),
    ) -> Executed {
        if let Some(cap) = wait_cap {
            if req.settings.max_wait > cap {
                tracing::info!(
                    asked_s = req.settings.max_wait.as_secs(),
                    capped_s = cap.as_secs(),
                    "power: the wait is capped by the runtime's deadline"
                );
                req.settings.max_wait = cap;
            }
        }
        let done = self
            .execute_any(&req, &lifecycle::SystemClock::default(), progress)
            .await;
        tracing::info!(provider = req.provider.as_str(), action = %req.action, result = done.kind().as_str(), message = %done.message(), "power");
        done
    }

    pub async fn execute_any(
        &self,
        req: &PowerRequest,
        clock: &dyn Clock,
        progress: &mut (dyn FnMut(lifecycle::poll::Progress) + Send),
    ) -> Executed {
        let members = match &req.target {
            Target::Resource(_) | Target::Secret(_) => {
                return Executed::One(self.execute(req, clock, progress).await)
            }
            Target::Many(ids) => Ok(ids
                .iter()
                .map(|id| lifecycle::Member {
                    resource: id.clone(),
                    name: String::new(),
                })
                .collect()),
            Target::Selector(sel) => match self.provider(req.provider).await {
                Ok(p) => p.select(sel).await,
                Err(e) => Err(e),
            },
        };
        let power = self.provider_for(req).await;
        match (power, members) {
            (Ok(power), Ok(members)) => Executed::Set(
                lifecycle::run_set(&*power, members, req.action, &req.settings, clock).await,
            ),
            (Err(e), _) | (_, Err(e)) => Executed::One(Outcome {
                provider: req.provider.as_str(),
                resource: String::new(),
                action: req.action,
                seen: None,
                command: None,
                reached: None,
                message: format!("Failed to resolve the targets: {e}"),
                kind: OutcomeKind::Error(e),
                elapsed: Duration::ZERO,
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
            provider: req.provider.as_str(),
            resource,
            action: req.action,
            seen: None,
            command: None,
            reached: None,
            kind,
            elapsed: Duration::ZERO,
            message,
        };
        let power = match self.provider_for(req).await {
            Ok(p) => p,
            Err(e) => return failed(String::new(), OutcomeKind::Error(e.clone()), e.to_string()),
        };
        let resource = match &req.target {
            Target::Resource(r) => r.clone(),
            Target::Many(_) | Target::Selector(_) => {
                let msg = "a set of targets is run with execute_any".to_owned();
                return failed(
                    String::new(),
                    OutcomeKind::Error(PowerError::Config(msg.clone())),
                    msg,
                );
            }
            Target::Secret(id) => {
                let secret = match crate::cloud::oci::shared(self.providers.context()).await {
                    Ok(oci) => oci.secret(id).await,
                    Err(e) => Err(e),
                };
                match secret {
                    Ok(r) => r,
                    Err(e) => {
                        let msg = format!("Failed to retrieve the OCID from the vault secret. {e}");
                        return failed(String::new(), OutcomeKind::Error(e), msg);
                    }
                }
            }
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
        assert_eq!(r.provider.as_str(), "oci-compute");
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
                json!({"action": "reboot", "provider": "aci", "resource": "rg/x"}),
                "Invalid action 'reboot'. Must be 'start', 'stop', 'toggle', 'restart' or 'status'.",
            ),
            (
                json!({"action": "start", "provider": "gcp", "resource": "rg/x"}),
                "Invalid provider 'gcp'",
            ),
            (
                json!({"action": "start", "provider": "aci"}),
                "resource (an OCID or ARM id) or secretId",
            ),
            (
                json!({"action": "start", "provider": "aci", "resource": "rg/x", "secretId": "y"}),
                "not both",
            ),
            (
                json!({"action": "start", "provider": "aci", "resource": "rg/x", "maxWaitSeconds": -1}),
                "maxWaitSeconds must be a number of seconds from 0 to 3600",
            ),
            (
                json!({"action": "start", "provider": "aci", "resource": "rg/x", "pollIntervalSeconds": 0}),
                "pollIntervalSeconds must be greater than 0",
            ),
            (
                json!({"action": "start", "provider": "aci", "resource": "rg/x", "wait": "no"}),
                "wait must be true or false",
            ),
            (json!({"action": 1}), "action must be a string"),
            (json!([1]), "expected a JSON object"),
            (
                json!({"provider": "aci", "resource": "rg/x"}),
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
                .var
                == "POWER_POLL_INTERVAL"
        );
    }
}
