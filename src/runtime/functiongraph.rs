//! Huawei Cloud FunctionGraph, as an **event function with a custom runtime**:
//! the ZIP's `bootstrap` is this binary, which loops on
//! `GET http://$RUNTIME_API_ADDR/v1/runtime/invocation/request` and answers
//! `POST …/invocation/response/{request id}` or `…/invocation/error/{request id}`.
//!
//! Why this form and not a container image (`POST /init`, `POST /invoke` on
//! port 8000): the package is the same single static binary as Lambda's
//! `bootstrap`, needs no image registry (SWR), and timer triggers attach to
//! it; the temporary credentials of the function's agency come with each
//! invocation (`X-CFF-Access-Key`, `X-CFF-Secret-Key`, `X-CFF-Security-Token`).
//!
//! An event is the seed's timer event (`{"version", "time", "trigger_type":
//! "TIMER", "trigger_name", "user_event"}`), `{}`, or a Power request. The
//! request is, field by field: the event's own Power fields, then a JSON
//! object in `user_event` (one function, one timer to start and one to stop),
//! then the seed's configuration — `action`, `clusterId`, `type` (and
//! `projectId`, `region`, `endpoint`, `ak`, `sk`, read by the `huawei-ecs`
//! provider) — with provider `huawei-ecs`. The answer is the seed's
//! (`status`, `message`, `action`, `data.server_list`) beside gamefleet's
//! outcome (`result`, `targets`); a request that cannot be run is an error
//! invocation with `errorType` = its code.

use super::StartError;
use crate::cloud::registry::SharedEnv;
use crate::lifecycle::poll::Progress;
use crate::ops::power::{Defaults, PowerHub};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time kept in hand before `RUNTIME_TIMEOUT` to send the answer.
pub const TIMEOUT_MARGIN: Duration = Duration::from_secs(3);

/// The temporary keys an invocation carries (with an agency configured).
#[derive(Clone, PartialEq, Eq)]
struct InvocationKeys {
    access_key: String,
    secret_key: String,
    security_token: Option<String>,
}

impl std::fmt::Debug for InvocationKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvocationKeys")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// Serve invocations until the process is stopped.
pub async fn run() -> Result<(), StartError> {
    let addr = std::env::var("RUNTIME_API_ADDR")
        .map_err(|_| "RUNTIME_API_ADDR is not set: not running under FunctionGraph")?;
    let base = format!("http://{}/v1/runtime/invocation", addr.trim());
    let env = crate::ops::power::process_env();
    let defaults = Defaults::from_lookup(&*env)?;
    let timeout = env("RUNTIME_TIMEOUT")
        .and_then(|t| t.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // A configuration mistake shows now (permanent keys); with an agency the
    // keys come with the first invocation.
    let mut hubs = Hubs::new(env.clone(), defaults.clone());
    if env("HUAWEICLOUD_SDK_AK").or_else(|| env("ak")).is_some() {
        hubs.get(None).check_configuration().await?;
    }
    // The next invocation is a long poll: no timeout on it.
    let http = reqwest::Client::builder().build()?;
    tracing::info!("gamefleet ready under FunctionGraph");
    loop {
        let next = match http.get(format!("{base}/request")).send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                tracing::error!(
                    status = r.status().as_u16(),
                    "the runtime API refused the next-invocation request"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reach the runtime API");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let started = Instant::now();
        let header = |name: &str| {
            next.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .filter(|v| !v.is_empty())
        };
        let Some(request_id) = header("x-cff-request-id") else {
            tracing::error!("an invocation without X-Cff-Request-Id: skipped");
            continue;
        };
        let keys = match (header("x-cff-access-key"), header("x-cff-secret-key")) {
            (Some(access_key), Some(secret_key)) => Some(InvocationKeys {
                access_key,
                secret_key,
                security_token: header("x-cff-security-token"),
            }),
            _ => None,
        };
        let body = next.bytes().await.unwrap_or_default();
        let cap = timeout.map(|t| t.saturating_sub(TIMEOUT_MARGIN + started.elapsed()));
        let hub = hubs.get(keys.as_ref());
        let answer = invoke(&hub, &env, &body, cap).await;
        let (url, payload) = match answer {
            Ok(v) => (format!("{base}/response/{request_id}"), v),
            Err((error_type, message)) => {
                tracing::warn!(request_id, error_type, %message, "invocation refused");
                (
                    format!("{base}/error/{request_id}"),
                    json!({"errorType": error_type, "errorMessage": message}),
                )
            }
        };
        if let Err(e) = http.post(&url).json(&payload).send().await {
            tracing::error!(request_id, error = %e, "cannot send the answer to the runtime API");
        }
    }
}

/// One Power hub per set of invocation keys (the agency's temporary keys
/// change now and then; the providers are built once per set).
struct Hubs {
    env: SharedEnv,
    defaults: Defaults,
    current: Option<(Option<InvocationKeys>, Arc<PowerHub>)>,
}

impl Hubs {
    fn new(env: SharedEnv, defaults: Defaults) -> Self {
        Hubs {
            env,
            defaults,
            current: None,
        }
    }

    fn get(&mut self, keys: Option<&InvocationKeys>) -> Arc<PowerHub> {
        if let Some((k, hub)) = &self.current {
            if k.as_ref() == keys {
                return hub.clone();
            }
        }
        let base = self.env.clone();
        let overlay = keys.cloned();
        let env: SharedEnv = Arc::new(move |name: &str| {
            if let Some(k) = &overlay {
                match name {
                    "HUAWEICLOUD_SDK_AK" => return Some(k.access_key.clone()),
                    "HUAWEICLOUD_SDK_SK" => return Some(k.secret_key.clone()),
                    "HUAWEICLOUD_SDK_SECURITY_TOKEN" => return k.security_token.clone(),
                    _ => {}
                }
            }
            base(name).or_else(|| match name {
                // The function's own project, when the seed's projectId is not given.
                "HUAWEICLOUD_SDK_PROJECT_ID" => {
                    base("projectId").or_else(|| base("RUNTIME_PROJECT_ID"))
                }
                _ => None,
            })
        });
        let hub = Arc::new(PowerHub::new(env, self.defaults.clone(), None));
        self.current = Some((keys.cloned(), hub.clone()));
        hub
    }
}

/// The Power request an event means (see the module's doc), run.
async fn invoke(
    hub: &PowerHub,
    env: &SharedEnv,
    body: &[u8],
    cap: Option<Duration>,
) -> Result<Value, (String, String)> {
    let event: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            (
                "InvalidEvent".to_owned(),
                format!("the event is not JSON: {e}"),
            )
        })?
    };
    let request = request_of(&event, &|k| env(k)).map_err(|m| ("InvalidRequest".to_owned(), m))?;
    let done = hub
        .invoke(
            &request,
            &hub.defaults,
            cap,
            &mut |p: Progress| tracing::info!(progress = ?p, "power"),
        )
        .await
        .map_err(|e| (e.code.to_owned(), e.message))?;
    Ok(done.to_json())
}

/// Power's fields an event may carry.
const FIELDS: [&str; 9] = [
    "action",
    "provider",
    "resource",
    "resources",
    "selector",
    "secretId",
    "type",
    "wait",
    "maxWaitSeconds",
];

/// The event's Power fields over `user_event`'s over the seed's configuration.
pub fn request_of(event: &Value, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    let Value::Object(event) = event else {
        return Err(format!(
            "the event must be a JSON object (a timer event, {{}} or a Power request), not {}",
            crate::fleet::names::json_kind(event)
        ));
    };
    let mut layers: Vec<Map<String, Value>> = Vec::new();
    layers.push(pick(event));
    if let Some(Value::String(user)) = event.get("user_event") {
        if let Ok(Value::Object(u)) = serde_json::from_str::<Value>(user) {
            layers.push(pick(&u));
        }
    }
    let mut seed = Map::new();
    let var = |k: &str| {
        env(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(a) = var("action").or_else(|| var("POWER_ACTION")) {
        seed.insert("action".into(), Value::String(a));
    }
    if let Some(t) = var("type") {
        seed.insert("type".into(), Value::String(t));
    }
    if let Some(c) = var("clusterId") {
        seed.insert("selector".into(), json!({"clusterId": c}));
    }
    layers.push(seed);
    let mut request = Map::new();
    let targets = ["resource", "resources", "selector", "secretId"];
    for layer in layers {
        let has_target = targets.iter().any(|t| request.contains_key(*t));
        for (k, v) in layer {
            // A target given by a nearer layer is not joined by a farther one's.
            if has_target && targets.contains(&k.as_str()) {
                continue;
            }
            request.entry(k).or_insert(v);
        }
    }
    if !request.contains_key("provider") && env("POWER_PROVIDER").is_none() {
        request.insert("provider".into(), Value::from("huawei-ecs"));
    }
    Ok(Value::Object(request))
}

fn pick(obj: &Map<String, Value>) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, v)| FIELDS.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    const CLUSTER: &str = "4d5a1b2c-0000-4000-8000-0000000000c1";

    #[test]
    fn the_seeds_timer_event_runs_the_configured_action_on_the_cluster() {
        let timer = json!({"version": "v1.0", "time": "2026-12-02T08:30:00+08:00",
                           "trigger_type": "TIMER", "trigger_name": "stop-night", "user_event": ""});
        let e = env(&[("action", "stop"), ("clusterId", CLUSTER), ("type", "HARD")]);
        assert_eq!(
            request_of(&timer, &e).unwrap(),
            json!({"action": "stop", "type": "HARD", "selector": {"clusterId": CLUSTER}, "provider": "huawei-ecs"})
        );
        assert_eq!(request_of(&json!({}), &e).unwrap()["action"], "stop");
    }

    #[test]
    fn user_event_and_the_event_itself_override_the_configuration() {
        let e = env(&[("action", "stop"), ("clusterId", CLUSTER)]);
        let timer = json!({"trigger_type": "TIMER", "user_event": "{\"action\": \"start\"}"});
        let r = request_of(&timer, &e).unwrap();
        assert_eq!(
            (r["action"].as_str(), &r["selector"]["clusterId"]),
            (Some("start"), &json!(CLUSTER))
        );
        // A resource named by the event replaces the configured cluster.
        let one = json!({"action": "start", "resource": "4d5a1b2c-0000-4000-8000-000000000001"});
        let r = request_of(&one, &e).unwrap();
        assert!(r.get("selector").is_none(), "{r}");
        assert!(request_of(&json!([1]), &e).is_err());
    }
}
