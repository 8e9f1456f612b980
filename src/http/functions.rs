//! One handler per function: extract, call one use case, render.

use super::body::{self, RawJson};
use super::envelope::{Invocation, InvocationResult};
use super::error::ApiError;
use super::requests;
use super::AppState;
use crate::fleet::events::parse_delivery;
use crate::fleet::{ActiveSessions, GroupKey, GroupState};
use crate::ops::delete::Deleted;
use crate::ops::monitor::EventOutcome;
use crate::ops::sessions::ItemResult;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

type Answer = Result<(StatusCode, Json<Value>), ApiError>;

/// POST /api/Create → 202 with the Creating record.
pub async fn create(State(app): State<AppState>, RawJson(b): RawJson) -> Answer {
    let (key, spec, capacity) = requests::create_with_capacity(&b)?;
    let rec = app.create_with(&key, &spec, capacity).await?;
    Ok((StatusCode::ACCEPTED, Json(json!(rec.view()))))
}

/// POST /api/Allocate → 200 with the server and the reservation; 503
/// `NoCapacity` (or `AllocationContention`) with Retry-After.
pub async fn allocate(State(app): State<AppState>, RawJson(b): RawJson) -> Answer {
    let req = requests::allocate(&b)?;
    let started = std::time::Instant::now();
    let done = app.allocate(&req).await.map_err(ApiError::from);
    let result = match &done {
        Ok(a) if a.new => "Allocated",
        Ok(_) => "Repeated",
        Err(e) if e.code == "NoCapacity" => "UnAllocated",
        Err(e) if e.code == "AllocationContention" => "Contention",
        Err(_) => "Error",
    };
    crate::metrics::allocation(result, started.elapsed());
    Ok((StatusCode::OK, Json(crate::ops::allocate::view(&done?))))
}

/// The OpenAPI 3.1 document of every HTTP function (written by docs/openapi.py).
pub const OPENAPI: &str = include_str!("openapi.json");

/// GET /api/openapi.json → [`OPENAPI`].
pub async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

/// GET /api/Metrics → Prometheus (OpenMetrics) text: the fleet's gauges
/// from the table, this process's counters ([`crate::metrics`]).
pub async fn metrics(State(app): State<AppState>) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let census = app.fleet_gauges().await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                crate::metrics::CONTENT_TYPE,
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        crate::metrics::render(&census),
    )
        .into_response())
}

/// POST /api/Delete → 200 deleted, 202 still deleting.
pub async fn delete(State(app): State<AppState>, RawJson(b): RawJson) -> Answer {
    let (key, force) = requests::delete(&b)?;
    let outcome = app.delete(&key, force).await?;
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

/// POST /api/Details → ARM's container group, or a container's logs.
pub async fn details(State(app): State<AppState>, RawJson(b): RawJson) -> Answer {
    match requests::details(&b)? {
        requests::Details::Group(key) => Ok((StatusCode::OK, Json(app.details(&key).await?))),
        requests::Details::Logs {
            key,
            container,
            tail,
        } => {
            let content = app
                .logs(&key, &container, tail)
                .await
                .map_err(|e| match e {
                    crate::ops::OpsError::Conflict {
                        code: code @ "ContainerNotFound",
                        message,
                    } => ApiError::new(StatusCode::NOT_FOUND, code, message),
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
    }
}

/// GET|POST /api/List?state=Running|...|all&resourceGroup=... → every matching
/// group, streamed page by page ([`super::list`] says what a late failure does).
pub async fn list(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    let (state, rg) = requests::list(&q)?;
    let rows = app.list_rows(state, rg).await?;
    Ok(super::list::answer(rows, app.settings.health_timeout))
}

/// POST /api/SetSessions `[{resourceGroup, containerGroupName, activeSessions}]`
/// → 200 when every item applied, else 207 with one result per item.
pub async fn set_sessions(State(app): State<AppState>, RawJson(b): RawJson) -> Answer {
    let items = requests::set_sessions(&b)?;
    let results = app.set_sessions(&items).await?;
    let all_applied = results.iter().all(|r| *r == ItemResult::Applied);
    let rendered: Vec<Value> = items
        .iter()
        .zip(&results)
        .map(|((key, n), r)| session_result(key, *n, r))
        .collect();
    let status = if all_applied {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((status, Json(json!({ "results": rendered }))))
}

fn session_result(key: &GroupKey, n: ActiveSessions, r: &ItemResult) -> Value {
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
}

/// POST /api/SetState `{resourceGroup, containerGroupName, state: MarkedForDeletion|Failed}`.
pub async fn set_state(State(app): State<AppState>, RawJson(b): RawJson) -> Answer {
    let (key, target, reason) = requests::set_state(&b)?;
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
        .and_then(|b| body::parse_object::<Invocation>(&b));
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
                outcomes.push(json!({"outcome": "ignored", "reason": why.to_string()}));
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
    timer("gc", req, app.gc()).await
}

/// One timer function: note a past-due timer, run `work`, answer its report
/// (or its error) in the host's envelope.
async fn timer<R: serde::Serialize, E: Into<ApiError>>(
    name: &str,
    req: Request,
    work: impl std::future::Future<Output = Result<R, E>>,
) -> Result<InvocationResult, InvocationResult> {
    if let Ok(inv) = body::read_body(req)
        .await
        .and_then(|b| body::parse_object::<Invocation>(&b))
    {
        if inv
            .trigger("timer")
            .and_then(|t| t.get("IsPastDue"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            tracing::info!(timer = name, "timer is past due");
        }
    }
    match work.await {
        Ok(report) => Ok(InvocationResult::ok(
            vec![format!(
                "{name}: {}",
                serde_json::to_string(&report).unwrap_or_default()
            )],
            json!(report),
        )),
        Err(e) => {
            let api: ApiError = e.into();
            Err(InvocationResult {
                status: api.status,
                logs: vec![format!("{name} failed: {}", api.message)],
                return_value: json!({"error": {"code": api.code, "message": api.message}}),
            })
        }
    }
}

/// The longest a Power call may wait inside an HTTP request: Azure's load
/// balancer cuts HTTP-triggered calls at 230 s, so stay well below.
pub const HTTP_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(200);

/// POST /api/Power `{"action", "provider", "resource" | "secretId", ...}`:
/// start / stop / toggle / restart / status one resource through the lifecycle core.
pub async fn power(
    State(api): State<super::PowerApi>,
    deadline: Option<axum::Extension<super::Deadline>>,
    RawJson(b): RawJson,
) -> Answer {
    let req = requests::power(&b, &api.power.defaults)?;
    // Below the host's 230 s limit, and below what the runtime's deadline leaves.
    let cap = match deadline {
        Some(axum::Extension(d)) => d.left().min(HTTP_MAX_WAIT),
        None => HTTP_MAX_WAIT,
    };
    let done = api.power.run(req, Some(cap), &mut |_| {}).await;
    let (status, body) = super::error::executed_answer(&done);
    Ok((status, Json(body)))
}

/// POST /api/ReportSessions?token=<token> with `[{resourceGroup,
/// containerGroupName, activeSessions}]` (the original's array) or the single
/// object: a game server reporting its own session count. Anonymous at the
/// host: the per-group token is the credential, in the URL Create gave the
/// container (or as `Authorization: Bearer`). Any Content-Type is read as JSON.
pub async fn report_sessions(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    req: Request,
) -> Answer {
    let token = q
        .get("token")
        .map(String::as_str)
        .or_else(|| {
            headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
        })
        .or_else(|| headers.get("x-session-token").and_then(|v| v.to_str().ok()))
        .filter(|t| !t.trim().is_empty());
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "MissingSessionToken",
            "post to the ACI_SET_SESSIONS_URL this container was given (it carries the container's token), or send ACI_SESSIONS_TOKEN as Authorization: Bearer <token>",
        ));
    };
    let b = body::read_any(req).await?;
    let (key, n) = requests::report_sessions(&b)?;
    if !app
        .keyring
        .verify(token, &key)
        .await
        .map_err(crate::ops::OpsError::from)?
    {
        tracing::warn!(group = %key, "ReportSessions with a token that is not this group's");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "InvalidSessionToken",
            format!("the token does not belong to container group {key}"),
        ));
    }
    let result = app.report_sessions(&key, n).await?;
    let status = match &result {
        ItemResult::Applied => StatusCode::OK,
        ItemResult::Failed {
            code: "GroupNotFound",
            ..
        } => StatusCode::NOT_FOUND,
        ItemResult::Failed {
            code: "StorageUnavailable",
            ..
        } => StatusCode::SERVICE_UNAVAILABLE,
        ItemResult::Failed { .. } => StatusCode::CONFLICT,
    };
    Ok((status, Json(session_result(&key, n, &result))))
}

/// POST /api/Schedules: create or replace a schedule by name → 200 with the
/// stored schedule and its next fires. Bad input → 400 naming the field.
pub async fn put_schedule(State(app): State<AppState>, RawJson(b): RawJson) -> Answer {
    let v = requests::schedule(&b)?;
    let stored = app.put_schedule(&v, chrono::Utc::now()).await?;
    Ok((StatusCode::OK, Json(stored)))
}

/// GET /api/Schedules: every schedule with its next fires (zone and UTC).
pub async fn list_schedules(State(app): State<AppState>) -> Answer {
    let all = app.list_schedules(chrono::Utc::now()).await?;
    Ok((StatusCode::OK, Json(json!(all))))
}

/// DELETE /api/Schedules?name=… → 200, or 404 when there is none.
pub async fn delete_schedule(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let name = requests::schedule_name(&q)?;
    app.delete_schedule(name).await?;
    Ok((StatusCode::OK, Json(json!({"name": name, "deleted": true}))))
}

/// POST /ScheduleTick: the schedule timer from the host (real clock).
pub async fn schedule_tick(
    State(app): State<AppState>,
    req: Request,
) -> Result<InvocationResult, InvocationResult> {
    timer("schedules", req, app.tick(chrono::Utc::now())).await
}

/// POST /api/Fleets: create or replace a fleet by name → 200 with the fleet,
/// its servers now and the autoscaler's status. Bad input → 400 naming the field.
pub async fn put_fleet(State(app): State<AppState>, RawJson(b): RawJson) -> Answer {
    let v: Value = body::parse(&b)?;
    let stored = app.put_fleet(&v, chrono::Utc::now()).await?;
    Ok((StatusCode::OK, Json(stored)))
}

/// GET /api/Fleets: every fleet; `?name=` one (404 when there is none).
pub async fn get_fleets(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let now = chrono::Utc::now();
    let v = match requests::fleet_name(&q, false)? {
        Some(name) => app.fleet(name, now).await?,
        None => json!(app.list_fleets(now).await?),
    };
    Ok((StatusCode::OK, Json(v)))
}

/// DELETE /api/Fleets?name=…[&drain=true] → 200, or 404 when there is none.
pub async fn delete_fleet(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let drain = requests::drain(&q)?;
    let Some(name) = requests::fleet_name(&q, true)? else {
        return Err(ApiError::bad_request("name: is missing"));
    };
    let v = app.delete_fleet(name, drain).await?;
    Ok((StatusCode::OK, Json(v)))
}

/// POST /Autoscale: the autoscaler's timer from the host (real clock).
pub async fn autoscale(
    State(app): State<AppState>,
    req: Request,
) -> Result<InvocationResult, InvocationResult> {
    timer("autoscale", req, app.autoscale(chrono::Utc::now())).await
}
