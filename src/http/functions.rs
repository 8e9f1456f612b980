//! One handler per function: extract, call one use case, render.

use super::body::{self, JsonBody};
use super::envelope::{Invocation, InvocationResult};
use super::error::ApiError;
use super::AppState;
use crate::events::parse_delivery;
use crate::fleet::spec::ContainerGroupSpec;
use crate::fleet::{
    ActiveSessions, ContainerGroupName, ContainerName, GroupKey, GroupState, ResourceGroup,
};
use crate::ops::delete::Deleted;
use crate::ops::monitor::EventOutcome;
use crate::ops::sessions::ItemResult;
use crate::ops::state::Target;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

type Answer = Result<(StatusCode, Json<Value>), ApiError>;

fn key_of(resource_group: &str, container_group_name: &str) -> Result<GroupKey, ApiError> {
    let rg =
        ResourceGroup::parse(resource_group).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let name = ContainerGroupName::parse(container_group_name)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(GroupKey::new(rg, name))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    resource_group: String,
    container_group_name: String,
    container_group: Value,
}

/// POST /api/Create → 202 with the Creating record.
pub async fn create(State(app): State<AppState>, JsonBody(b): JsonBody<CreateBody>) -> Answer {
    let key = key_of(&b.resource_group, &b.container_group_name)?;
    let spec = ContainerGroupSpec::parse(&b.container_group).map_err(ApiError::bad_request)?;
    let rec = app.create(&key, &spec).await?;
    Ok((StatusCode::ACCEPTED, Json(json!(rec.view()))))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteBody {
    resource_group: String,
    container_group_name: String,
    #[serde(default)]
    force: bool,
}

/// POST /api/Delete → 200 deleted, 202 still deleting.
pub async fn delete(State(app): State<AppState>, JsonBody(b): JsonBody<DeleteBody>) -> Answer {
    let key = key_of(&b.resource_group, &b.container_group_name)?;
    let outcome = app.delete(&key, b.force).await?;
    let (status, state) = match outcome {
        Deleted::Gone => (StatusCode::OK, Value::Null),
        Deleted::Pending => (StatusCode::ACCEPTED, json!(GroupState::Deleting)),
    };
    Ok((
        status,
        Json(json!({
            "resourceGroup": key.resource_group.as_str(),
            "containerGroupName": key.name.as_str(),
            "deleted": outcome == Deleted::Gone,
            "state": state,
        })),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailsBody {
    resource_group: String,
    container_group_name: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    container_name: Option<String>,
    #[serde(default)]
    tail: Option<u32>,
}

/// POST /api/Details → ARM's container group, or a container's logs.
pub async fn details(State(app): State<AppState>, JsonBody(b): JsonBody<DetailsBody>) -> Answer {
    let key = key_of(&b.resource_group, &b.container_group_name)?;
    match b.kind.as_deref() {
        None | Some("details") => Ok((StatusCode::OK, Json(app.details(&key).await?))),
        Some("logs") => {
            let raw = b.container_name.ok_or_else(|| {
                ApiError::bad_request("containerName is required with type \"logs\"")
            })?;
            let container =
                ContainerName::parse(&raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let content = app
                .logs(&key, &container, b.tail)
                .await
                .map_err(|e| match e {
                    crate::ops::OpsError::Conflict { code, message } => {
                        ApiError::new(StatusCode::NOT_FOUND, code, message)
                    }
                    other => other.into(),
                })?;
            Ok((
                StatusCode::OK,
                Json(json!({
                    "resourceGroup": key.resource_group.as_str(),
                    "containerGroupName": key.name.as_str(),
                    "containerName": container.as_str(),
                    "content": content,
                })),
            ))
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "type {other:?} is not known; use \"logs\" (with containerName) or leave it out"
        ))),
    }
}

/// GET|POST /api/List?state=Running|...|all&resourceGroup=... → every matching group.
pub async fn list(State(app): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Answer {
    let state = match q.get("state").map(String::as_str) {
        None | Some("") => Some(GroupState::Running),
        Some(s) if s.eq_ignore_ascii_case("all") => None,
        Some(s) => Some(
            s.parse::<GroupState>()
                .map_err(|e| ApiError::bad_request(format!("state: {e}, or \"all\"")))?,
        ),
    };
    let rg = match q.get("resourceGroup").filter(|s| !s.is_empty()) {
        Some(r) => Some(ResourceGroup::parse(r).map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    let rows = app.list(state, rg).await?;
    Ok((
        StatusCode::OK,
        Json(json!(rows.iter().map(|r| r.view()).collect::<Vec<_>>())),
    ))
}

/// POST /api/SetSessions `[{resourceGroup, containerGroupName, activeSessions}]`
/// → 200 when every item applied, else 207 with one result per item.
pub async fn set_sessions(State(app): State<AppState>, JsonBody(v): JsonBody<Value>) -> Answer {
    let items = parse_session_items(&v)?;
    let results = app.set_sessions(&items).await?;
    let all_applied = results.iter().all(|r| *r == ItemResult::Applied);
    let rendered: Vec<Value> = items
        .iter()
        .zip(&results)
        .map(|((key, n), r)| {
            let mut o = json!({
                "resourceGroup": key.resource_group.as_str(),
                "containerGroupName": key.name.as_str(),
                "activeSessions": n.get(),
                "applied": *r == ItemResult::Applied,
            });
            if let ItemResult::Failed { code, message } = r {
                o["error"] = json!({"code": code, "message": message});
            }
            o
        })
        .collect();
    let status = if all_applied {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((status, Json(json!({ "results": rendered }))))
}

/// Every item must be valid, and no group named twice, or nothing is written.
fn parse_session_items(v: &Value) -> Result<Vec<(GroupKey, ActiveSessions)>, ApiError> {
    let arr = match v {
        Value::Array(a) => a,
        Value::Object(_) => return Err(ApiError::bad_request("expected an array of {resourceGroup, containerGroupName, activeSessions}; wrap a single item in [ ]")),
        other => return Err(ApiError::bad_request(format!("expected an array of {{resourceGroup, containerGroupName, activeSessions}}, not {}", crate::fleet::names::json_kind(other)))),
    };
    let mut seen: HashMap<GroupKey, usize> = HashMap::new();
    let mut out = Vec::with_capacity(arr.len());
    for (i, item) in arr.iter().enumerate() {
        let field = |name: &str| -> Result<&str, ApiError> {
            match item.get(name) {
                Some(Value::String(s)) => Ok(s.as_str()),
                None | Some(Value::Null) => {
                    Err(ApiError::bad_request(format!("[{i}].{name} is missing")))
                }
                Some(other) => Err(ApiError::bad_request(format!(
                    "[{i}].{name} must be a string, not {}",
                    crate::fleet::names::json_kind(other)
                ))),
            }
        };
        if !item.is_object() {
            return Err(ApiError::bad_request(format!(
                "[{i}] must be an object, not {}",
                crate::fleet::names::json_kind(item)
            )));
        }
        let key = key_of(field("resourceGroup")?, field("containerGroupName")?)
            .map_err(|e| ApiError::bad_request(format!("[{i}].{}", e.message)))?;
        let n = ActiveSessions::from_json(item.get("activeSessions").unwrap_or(&Value::Null))
            .map_err(|e| ApiError::bad_request(format!("[{i}].{e}")))?;
        if let Some(first) = seen.insert(key.clone(), i) {
            return Err(ApiError::bad_request(format!(
                "[{i}] names {key} again (first at [{first}]); send each group once"
            )));
        }
        out.push((key, n));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetStateBody {
    resource_group: String,
    container_group_name: String,
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

/// POST /api/SetState `{resourceGroup, containerGroupName, state: MarkedForDeletion|Failed}`.
pub async fn set_state(State(app): State<AppState>, JsonBody(b): JsonBody<SetStateBody>) -> Answer {
    let key = key_of(&b.resource_group, &b.container_group_name)?;
    let target = match b.state.as_str() {
        "MarkedForDeletion" => Target::MarkedForDeletion,
        "Failed" => Target::Failed,
        other => {
            return Err(ApiError::bad_request(format!(
                "state {other:?} cannot be set; use \"MarkedForDeletion\" or \"Failed\""
            )))
        }
    };
    let reason = b.reason.map(|r| r.chars().take(1024).collect());
    let rec = app.set_state(&key, target, reason).await?;
    Ok((StatusCode::OK, Json(json!(rec.view()))))
}

/// POST /Monitor: an Event Grid invocation from the host. Non-2xx only when a
/// redelivery could help (storage or ARM down, provisioning not finished).
pub async fn monitor(
    State(app): State<AppState>,
    req: Request,
) -> Result<InvocationResult, InvocationResult> {
    let parsed = body::read_body(req)
        .await
        .and_then(|b| body::parse::<Invocation>(&b));
    let inv = match parsed {
        Ok(inv) => inv,
        Err(e) => {
            tracing::warn!(error = %e.message, "Monitor got an invocation it can never handle; dropped");
            return Ok(InvocationResult::ok(
                vec![format!("dropped: {}", e.message)],
                json!({"events": []}),
            ));
        }
    };
    let Some(trigger) = inv.trigger("eventGridEvent") else {
        return Ok(InvocationResult::ok(
            vec!["dropped: no trigger data in the invocation".into()],
            json!({"events": []}),
        ));
    };
    let mut logs = Vec::new();
    let mut outcomes = Vec::new();
    let mut retry = None;
    for parsed in parse_delivery(trigger) {
        let ev = match parsed {
            Ok(ev) => ev,
            Err(why) => {
                logs.push(format!("dropped an event: {why}"));
                outcomes.push(json!({"outcome": "ignored", "reason": why}));
                continue;
            }
        };
        match app.on_event(&ev).await {
            Ok(o) => {
                if let EventOutcome::Retry { reason } = &o {
                    retry.get_or_insert((StatusCode::SERVICE_UNAVAILABLE, reason.clone()));
                }
                logs.push(format!(
                    "{} {}: {}",
                    ev.event_type,
                    ev.id,
                    serde_json::to_string(&o).unwrap_or_default()
                ));
                let mut v = json!(o);
                v["id"] = json!(ev.id);
                outcomes.push(v);
            }
            Err(e) => {
                let api: ApiError = e.into();
                logs.push(format!(
                    "{} {}: failed: {}",
                    ev.event_type, ev.id, api.message
                ));
                retry.get_or_insert((StatusCode::SERVICE_UNAVAILABLE, api.message.clone()));
                outcomes.push(json!({"id": ev.id, "outcome": "failed", "error": {"code": api.code, "message": api.message}}));
            }
        }
    }
    let result = InvocationResult::ok(logs, json!({ "events": outcomes }));
    match retry {
        // Event Grid redelivers the whole delivery; handled events come back as no-ops.
        Some((status, _)) => Err(InvocationResult { status, ..result }),
        None => Ok(result),
    }
}

/// POST /GC: the timer invocation from the host.
pub async fn gc(
    State(app): State<AppState>,
    req: Request,
) -> Result<InvocationResult, InvocationResult> {
    if let Ok(inv) = body::read_body(req)
        .await
        .and_then(|b| body::parse::<Invocation>(&b))
    {
        if inv
            .trigger("timer")
            .and_then(|t| t.get("IsPastDue"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            tracing::info!("GC timer is past due");
        }
    }
    match app.gc().await {
        Ok(report) => Ok(InvocationResult::ok(
            vec![format!(
                "gc: {}",
                serde_json::to_string(&report).unwrap_or_default()
            )],
            json!(report),
        )),
        Err(e) => {
            let api: ApiError = e.into();
            Err(InvocationResult {
                status: api.status,
                logs: vec![format!("gc failed: {}", api.message)],
                return_value: json!({"error": {"code": api.code, "message": api.message}}),
            })
        }
    }
}

/// The longest a Power call may wait inside an HTTP request: Azure's load
/// balancer cuts HTTP-triggered calls at 230 s, so stay well below.
pub const HTTP_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(200);

/// POST /api/Power `{"action", "provider", "resource" | "secretId", ...}`:
/// start / stop / toggle / status one resource through the lifecycle core.
pub async fn power(State(app): State<AppState>, JsonBody(v): JsonBody<Value>) -> Answer {
    let mut req = crate::power::parse_request(&v, &app.power.defaults).map_err(|m| {
        let code = if m.starts_with("Invalid action") {
            "InvalidAction"
        } else {
            "InvalidRequest"
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, m)
    })?;
    if req.settings.max_wait > HTTP_MAX_WAIT {
        tracing::info!(
            asked = req.settings.max_wait.as_secs(),
            capped = HTTP_MAX_WAIT.as_secs(),
            "Power: maxWaitSeconds capped below the 230 s HTTP limit"
        );
        req.settings.max_wait = HTTP_MAX_WAIT;
    }
    let clock = crate::lifecycle::SystemClock::default();
    let outcome = app.power.execute(&req, &clock, &mut |_| {}).await;
    tracing::info!(provider = outcome.provider, resource = %outcome.resource, action = %outcome.action, result = outcome.kind.as_str(), message = %outcome.message, "power");
    let status =
        StatusCode::from_u16(outcome.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = outcome.to_json();
    if status.as_u16() >= 400 {
        body["error"] = json!({"code": power_error_code(&outcome), "message": outcome.message});
    }
    Ok((status, Json(body)))
}

fn power_error_code(o: &crate::lifecycle::Outcome) -> &'static str {
    use crate::lifecycle::{OutcomeKind, PowerError};
    match &o.kind {
        OutcomeKind::Refused => "StateConflict",
        OutcomeKind::TimedOut => "TargetStateNotReached",
        OutcomeKind::Failed => "ProviderOperationFailed",
        OutcomeKind::Error(PowerError::NotFound(_)) => "ResourceNotFound",
        OutcomeKind::Error(PowerError::Unauthorized(_)) => "ProviderAuthenticationFailed",
        OutcomeKind::Error(PowerError::Rejected(_)) => "ProviderRejected",
        OutcomeKind::Error(PowerError::Unavailable(_)) => "ProviderUnavailable",
        OutcomeKind::Error(PowerError::Config(_)) => "ProviderNotConfigured",
        OutcomeKind::Error(PowerError::InvalidResource(_)) => "InvalidResource",
        _ => "Error",
    }
}
