//! `GET /api/OpenStack?action=status|start|stop[&region=…][&instance_id=…]`:
//! the API of the seed AWS Lambda that started and stopped OpenStack servers,
//! kept as it was so its callers (schedulers, bots) switch without change.
//!
//! - The key: `X-API-Key` or `api_key`, compared in constant time with
//!   `OPENSTACK_API_KEYS`; 401 without (the key is never logged).
//! - Defaults: `OS_REGION_NAME` for `region`, `INSTANCE_ID` for `instance_id`.
//! - `start` unshelves (or powers on), `stop` shelves, `status` reads; like the
//!   seed, the answer comes once Nova accepted the action (`wait=true` follows
//!   it to the end), with the seed's fields at the top level (`instance_id`
//!   and `state`; `message` "start requested" / "shelve requested from ACTIVE",
//!   `from_state`) and gamefleet's whole lifecycle outcome under `outcome`.

use super::error::{kind_code, kind_status, ApiError};
use crate::lifecycle::{self, Action, OutcomeKind, PollSettings};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

pub async fn openstack(
    State(api): State<super::PowerApi>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let keys = &api.openstack_api_keys;
    let given = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or(q.get("api_key").map(String::as_str))
        .unwrap_or("");
    if keys.is_empty() || !keys.accepts(given) {
        let why = if keys.is_empty() {
            "this gamefleet has no OPENSTACK_API_KEYS"
        } else if given.is_empty() {
            "send the key as X-API-Key or api_key"
        } else {
            "the key is not accepted"
        };
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", why));
    }
    let action = match q.get("action").map(String::as_str) {
        Some("status") | None => Action::Status,
        Some("start") => Action::Start,
        Some("stop") => Action::Stop,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                format!("action {other:?}: use status, start or stop"),
            ))
        }
    };
    let ctx = api.power.context();
    let instance = q
        .get("instance_id")
        .cloned()
        .or_else(|| ctx.var("INSTANCE_ID"))
        .ok_or_else(|| {
            ApiError::bad_request("instance_id is missing (and INSTANCE_ID is not set)")
        })?;
    crate::cloud::openstack::nova::check_server_id(&instance)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "InvalidResource", e.0))?;
    let region = q
        .get("region")
        .map(String::as_str)
        .filter(|r| !r.is_empty());
    let power = match crate::cloud::openstack::power_in_region(ctx, region).await {
        Ok(p) => p,
        Err(e) => {
            let kind = OutcomeKind::Error(e.clone());
            return Err(ApiError::new(
                kind_status(&kind),
                kind_code(&kind),
                e.to_string(),
            ));
        }
    };
    let settings = PollSettings {
        wait: q.get("wait").is_some_and(|w| w == "true"),
        max_wait: api
            .power
            .defaults
            .settings
            .max_wait
            .min(super::functions::HTTP_MAX_WAIT),
        ..api.power.defaults.settings
    };
    let clock = lifecycle::SystemClock::default();
    let out = lifecycle::run(&*power, &instance, action, &settings, &clock, &mut |_| {}).await;
    let status = kind_status(&out.kind);
    let from = out.seen.clone().unwrap_or_default();
    let mut body = match (action, &out.kind) {
        (Action::Status, _) => json!({"instance_id": instance, "state": from}),
        (_, OutcomeKind::NoAction) => json!({"message": out.message, "from_state": from}),
        (Action::Start, _) => json!({"message": "start requested", "from_state": from}),
        (_, _) => json!({"message": format!("shelve requested from {from}"), "from_state": from}),
    };
    if status.as_u16() >= 400 {
        body = json!({"error": {"code": kind_code(&out.kind), "message": out.message}});
    }
    body["outcome"] = out.to_json();
    Ok((status, Json(body)))
}
