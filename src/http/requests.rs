//! Every request body and query, parsed from raw input into validated values.
//! Pure functions of bytes (or a query map): the handlers call them, and the
//! fuzz tests throw arbitrary input at them. A malformed request never gets
//! past these.

use super::body::{parse, parse_object};
use super::error::ApiError;
use crate::fleet::allocation::Capacity;
use crate::fleet::names::json_kind;
use crate::fleet::spec::ContainerGroupSpec;
use crate::fleet::{
    ActiveSessions, ContainerGroupName, ContainerName, GroupKey, GroupState, ResourceGroup,
};
use crate::ops::state::Target;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn key_of(resource_group: &str, container_group_name: &str) -> Result<GroupKey, ApiError> {
    let rg =
        ResourceGroup::parse(resource_group).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let name = ContainerGroupName::parse(container_group_name)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(GroupKey::new(rg, name))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    resource_group: String,
    container_group_name: String,
    container_group: Value,
    #[serde(default)]
    max_sessions: Option<Value>,
    #[serde(default)]
    labels: Option<Value>,
}

/// Create: `{resourceGroup, containerGroupName, containerGroup}`.
pub fn create(body: &[u8]) -> Result<(GroupKey, ContainerGroupSpec), ApiError> {
    create_with_capacity(body).map(|(key, spec, _)| (key, spec))
}

/// Create with what Allocate reads: `maxSessions` (slots; missing =
/// unlimited) and `labels` (an object of strings).
pub fn create_with_capacity(
    body: &[u8],
) -> Result<(GroupKey, ContainerGroupSpec, Capacity), ApiError> {
    let b: CreateBody = parse_object(body)?;
    let key = key_of(&b.resource_group, &b.container_group_name)?;
    let spec = ContainerGroupSpec::parse(&b.container_group)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let bad = |e: crate::fleet::allocation::AllocateError| ApiError::bad_request(e.to_string());
    let capacity = Capacity {
        max_sessions: crate::fleet::allocation::parse_max_sessions(b.max_sessions.as_ref())
            .map_err(bad)?,
        labels: match &b.labels {
            None | Some(Value::Null) => Default::default(),
            Some(v) => crate::fleet::allocation::parse_labels("labels", v).map_err(bad)?,
        },
        reservations: Vec::new(),
        ports: spec.ports(),
        heartbeat_at: None,
    };
    Ok((key, spec, capacity))
}

/// Allocate: `{requestId, players, regions, labels, strategy, resourceGroup}`.
pub fn allocate(body: &[u8]) -> Result<crate::fleet::allocation::AllocateRequest, ApiError> {
    let v: Value = parse(body)?;
    crate::fleet::allocation::AllocateRequest::parse(&v)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "InvalidAllocation", e.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteBody {
    resource_group: String,
    container_group_name: String,
    #[serde(default)]
    force: bool,
}

/// Delete: `{resourceGroup, containerGroupName, force?}` → (key, force).
pub fn delete(body: &[u8]) -> Result<(GroupKey, bool), ApiError> {
    let b: DeleteBody = parse_object(body)?;
    Ok((key_of(&b.resource_group, &b.container_group_name)?, b.force))
}

/// What Details is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Details {
    Group(GroupKey),
    Logs {
        key: GroupKey,
        container: ContainerName,
        tail: Option<u32>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DetailsBody {
    resource_group: String,
    container_group_name: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    container_name: Option<String>,
    #[serde(default)]
    tail: Option<u32>,
}

/// Details: `{resourceGroup, containerGroupName, type?: "logs", containerName?, tail?}`.
pub fn details(body: &[u8]) -> Result<Details, ApiError> {
    let b: DetailsBody = parse_object(body)?;
    let key = key_of(&b.resource_group, &b.container_group_name)?;
    match b.kind.as_deref() {
        None | Some("details") => Ok(Details::Group(key)),
        Some("logs") => {
            let raw = b.container_name.ok_or_else(|| {
                ApiError::bad_request("containerName is required with type \"logs\"")
            })?;
            let container =
                ContainerName::parse(&raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
            Ok(Details::Logs {
                key,
                container,
                tail: b.tail,
            })
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "type {other:?} is not known; use \"logs\" (with containerName) or leave it out"
        ))),
    }
}

/// List: `?state=Running|…|all&resourceGroup=…` (Running by default).
pub fn list(
    query: &HashMap<String, String>,
) -> Result<(Option<GroupState>, Option<ResourceGroup>), ApiError> {
    let state = match query.get("state").map(String::as_str) {
        None | Some("") => Some(GroupState::Running),
        Some(s) if s.eq_ignore_ascii_case("all") => None,
        Some(s) => Some(
            s.parse::<GroupState>()
                .map_err(|e| ApiError::bad_request(format!("state: {e}, or \"all\"")))?,
        ),
    };
    let rg = match query.get("resourceGroup").filter(|s| !s.is_empty()) {
        Some(r) => Some(ResourceGroup::parse(r).map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    Ok((state, rg))
}

/// Most distinct resource groups one SetSessions request may name: each one is
/// at least one storage query (rows are read per resource group), so a body
/// naming thousands would make thousands of queries. Split larger updates.
pub const MAX_RESOURCE_GROUPS: usize = 100;

/// SetSessions: `[{resourceGroup, containerGroupName, activeSessions}]`. Every
/// item must be valid, no group named twice, and at most
/// [`MAX_RESOURCE_GROUPS`] resource groups, or nothing is written.
pub fn set_sessions(body: &[u8]) -> Result<Vec<(GroupKey, ActiveSessions)>, ApiError> {
    let v: Value = parse(body)?;
    let arr = match &v {
        Value::Array(a) => a,
        Value::Object(_) => {
            return Err(ApiError::bad_request(
                "expected an array of {resourceGroup, containerGroupName, activeSessions}; wrap a single item in [ ]",
            ))
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "expected an array of {{resourceGroup, containerGroupName, activeSessions}}, not {}",
                json_kind(other)
            )))
        }
    };
    let mut seen: HashMap<GroupKey, usize> = HashMap::new();
    let mut resource_groups: HashSet<ResourceGroup> = HashSet::new();
    let mut out = Vec::with_capacity(arr.len());
    for (i, item) in arr.iter().enumerate() {
        let (key, n) =
            session_item(item).map_err(|e| ApiError::bad_request(format!("[{i}]{e}")))?;
        if let Some(first) = seen.insert(key.clone(), i) {
            return Err(ApiError::bad_request(format!(
                "[{i}] names {key} again (first at [{first}]); send each group once"
            )));
        }
        if resource_groups.insert(key.resource_group.clone())
            && resource_groups.len() > MAX_RESOURCE_GROUPS
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "TooManyResourceGroups",
                format!(
                    "[{i}].resourceGroup {} is one more than the {MAX_RESOURCE_GROUPS} resource groups one request may name (each is at least one storage query); split the update",
                    key.resource_group
                ),
            ));
        }
        out.push((key, n));
    }
    Ok(out)
}

/// One `{resourceGroup, containerGroupName, activeSessions}`; errors start with
/// the field (".activeSessions is …") so callers can prefix a position.
fn session_item(item: &Value) -> Result<(GroupKey, ActiveSessions), String> {
    if !item.is_object() {
        return Err(format!(" must be an object, not {}", json_kind(item)));
    }
    let field = |name: &str| -> Result<&str, String> {
        match item.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            None | Some(Value::Null) => Err(format!(".{name} is missing")),
            Some(other) => Err(format!(
                ".{name} must be a string, not {}",
                json_kind(other)
            )),
        }
    };
    let key = key_of(field("resourceGroup")?, field("containerGroupName")?)
        .map_err(|e| format!(".{}", e.message))?;
    let n = ActiveSessions::from_json(item.get("activeSessions").unwrap_or(&Value::Null))
        .map_err(|e| format!(".{e}"))?;
    Ok((key, n))
}

/// ReportSessions (a game server reporting itself): one
/// `{resourceGroup, containerGroupName, activeSessions}` object, or the
/// original project's array of them (as its images send it). An array names
/// one group (the server's own) once; the caller checks the token against it.
pub fn report_sessions(body: &[u8]) -> Result<(GroupKey, ActiveSessions), ApiError> {
    let v: Value = parse(body)?;
    match &v {
        Value::Array(items) => {
            let (first, rest) = items.split_first().ok_or_else(|| {
                ApiError::bad_request("request body is an empty array; send this server's {resourceGroup, containerGroupName, activeSessions}")
            })?;
            if !rest.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "request body names {} groups; a game server reports only its own, once",
                    items.len()
                )));
            }
            session_item(first).map_err(|e| ApiError::bad_request(format!("[0]{e}")))
        }
        _ => session_item(&v).map_err(|e| ApiError::bad_request(format!("request body{e}"))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetStateBody {
    resource_group: String,
    container_group_name: String,
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

/// SetState: `{resourceGroup, containerGroupName, state: MarkedForDeletion|Failed|Running, reason?}`.
pub fn set_state(body: &[u8]) -> Result<(GroupKey, Target, Option<String>), ApiError> {
    let b: SetStateBody = parse_object(body)?;
    let key = key_of(&b.resource_group, &b.container_group_name)?;
    let target = match b.state.as_str() {
        "MarkedForDeletion" => Target::MarkedForDeletion,
        "Failed" => Target::Failed,
        "Running" => Target::Running,
        other => {
            return Err(ApiError::bad_request(format!(
                "state {other:?} cannot be set; use \"MarkedForDeletion\", \"Failed\" or \"Running\" (unmarks a marked server)"
            )))
        }
    };
    let reason = b.reason.map(crate::fleet::record::bounded_reason);
    Ok((key, target, reason))
}

/// Power: any JSON object; the lifecycle request parser does the rest.
pub fn power(
    body: &[u8],
    defaults: &crate::ops::power::Defaults,
) -> Result<crate::ops::power::PowerRequest, ApiError> {
    let v: Value = parse(body)?;
    crate::ops::power::parse_request(&v, defaults)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message))
}

/// Schedules (POST): any JSON object; `ops::schedules::parse` checks it.
pub fn schedule(body: &[u8]) -> Result<Value, ApiError> {
    parse(body)
}

/// DELETE /api/Schedules?name=…
pub fn schedule_name(q: &std::collections::HashMap<String, String>) -> Result<&str, ApiError> {
    q.get("name")
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("name: is missing; DELETE /api/Schedules?name=<schedule>")
        })
}

/// `?name=` of /api/Fleets (required for DELETE, optional for GET).
pub fn fleet_name(
    q: &std::collections::HashMap<String, String>,
    required: bool,
) -> Result<Option<&str>, ApiError> {
    match q.get("name").map(|n| n.trim()).filter(|n| !n.is_empty()) {
        None if required => Err(ApiError::bad_request(
            "name: is missing; DELETE /api/Fleets?name=<fleet>[&drain=true]",
        )),
        other => Ok(other),
    }
}

/// `?drain=` of DELETE /api/Fleets: `true` or `false` (default).
pub fn drain(q: &std::collections::HashMap<String, String>) -> Result<bool, ApiError> {
    match q
        .get("drain")
        .map(|d| d.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "drain: {other:?} is not true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_items_name_their_position() {
        let e = set_sessions(br#"[{"resourceGroup":"rg","containerGroupName":"a","activeSessions":1},{"resourceGroup":"rg","containerGroupName":"b","activeSessions":-2}]"#).unwrap_err();
        assert_eq!(
            e.message,
            "[1].activeSessions is -2; it must not be negative"
        );
        let e = set_sessions(br#"[{"resourceGroup":"rg","containerGroupName":"a","activeSessions":1},{"resourceGroup":"RG","containerGroupName":"a","activeSessions":2}]"#).unwrap_err();
        assert_eq!(
            e.message,
            "[1] names RG/a again (first at [0]); send each group once"
        );
        let e = report_sessions(br#"{"resourceGroup":"rg","containerGroupName":"a"}"#).unwrap_err();
        assert_eq!(e.message, "request body.activeSessions is missing");
        // The original's array body, as its images post it.
        let (k, n) = report_sessions(
            br#"[{"resourceGroup":"TeeWorlds-RG", "containerGroupName":"tw-1", "activeSessions":3}]"#,
        )
        .unwrap();
        assert_eq!((k.to_string().as_str(), n.get()), ("TeeWorlds-RG/tw-1", 3));
        let e = report_sessions(br#"[]"#).unwrap_err();
        assert!(e.message.contains("empty array"), "{}", e.message);
        let e = report_sessions(br#"[{"resourceGroup":"rg","containerGroupName":"a","activeSessions":1},{"resourceGroup":"rg","containerGroupName":"b","activeSessions":1}]"#).unwrap_err();
        assert!(e.message.contains("only its own"), "{}", e.message);
        let e =
            report_sessions(br#"[{"resourceGroup":"rg","containerGroupName":"a"}]"#).unwrap_err();
        assert_eq!(e.message, "[0].activeSessions is missing");
    }

    fn sessions_in(resource_groups: usize) -> Vec<u8> {
        let items: Vec<Value> = (0..resource_groups)
            .flat_map(|i| {
                ["a", "b"].map(|n| {
                    serde_json::json!({"resourceGroup": format!("rg{i}"), "containerGroupName": n, "activeSessions": 1})
                })
            })
            .collect();
        serde_json::to_vec(&items).unwrap_or_default()
    }

    #[test]
    fn set_sessions_names_at_most_100_resource_groups() {
        assert_eq!(
            set_sessions(&sessions_in(MAX_RESOURCE_GROUPS))
                .unwrap()
                .len(),
            200
        );
        let e = set_sessions(&sessions_in(MAX_RESOURCE_GROUPS + 1)).unwrap_err();
        assert_eq!(e.code, "TooManyResourceGroups");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "[200].resourceGroup rg100 is one more than the 100 resource groups one request may name (each is at least one storage query); split the update");
        // Case-folded like the table: RG0 and rg0 are one resource group.
        let mut items: Vec<Value> =
            serde_json::from_slice(&sessions_in(MAX_RESOURCE_GROUPS)).unwrap_or_default();
        items.push(serde_json::json!({"resourceGroup": "RG0", "containerGroupName": "c", "activeSessions": 1}));
        assert!(set_sessions(&serde_json::to_vec(&items).unwrap_or_default()).is_ok());
    }
}
