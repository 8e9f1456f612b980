//! Pure builders for ARM resource events (Event Grid and CloudEvents schema) and for
//! the JSON envelopes the Functions host POSTs to a custom handler.
//!
//! Shapes follow `tests/fixtures/eventgrid/aci-constructed/*.json` and
//! `tests/fixtures/functions-host/*-invocation*.json`, including the casing quirk of
//! real ARM events: write events spell `resourcegroups` in `subject`, `resourceUri`
//! and `authorization.scope`, delete and action events `resourceGroups`; `topic` /
//! `source` always use `resourceGroups`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub use crate::config::EventSchema;

/// Tenant id used in the (fake) claims of emitted events.
pub const TENANT_ID: &str = "11111111-1111-1111-1111-111111111111";
/// Provider namespace of container groups.
pub const PROVIDER: &str = "Microsoft.ContainerInstance";
/// `{PROVIDER}/containerGroups`.
pub const RESOURCE_TYPE: &str = "Microsoft.ContainerInstance/containerGroups";

/// The nine `Microsoft.Resources.Resource*` event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceEventKind {
    WriteSuccess,
    WriteFailure,
    WriteCancel,
    DeleteSuccess,
    DeleteFailure,
    DeleteCancel,
    ActionSuccess,
    ActionFailure,
    ActionCancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Write,
    Delete,
    Action,
}

impl ResourceEventKind {
    /// e.g. `Microsoft.Resources.ResourceWriteSuccess`.
    pub fn event_type(self) -> &'static str {
        use ResourceEventKind::*;
        match self {
            WriteSuccess => "Microsoft.Resources.ResourceWriteSuccess",
            WriteFailure => "Microsoft.Resources.ResourceWriteFailure",
            WriteCancel => "Microsoft.Resources.ResourceWriteCancel",
            DeleteSuccess => "Microsoft.Resources.ResourceDeleteSuccess",
            DeleteFailure => "Microsoft.Resources.ResourceDeleteFailure",
            DeleteCancel => "Microsoft.Resources.ResourceDeleteCancel",
            ActionSuccess => "Microsoft.Resources.ResourceActionSuccess",
            ActionFailure => "Microsoft.Resources.ResourceActionFailure",
            ActionCancel => "Microsoft.Resources.ResourceActionCancel",
        }
    }

    /// `data.status`: `Succeeded`, `Failed` or `Canceled`.
    pub fn status(self) -> &'static str {
        use ResourceEventKind::*;
        match self {
            WriteSuccess | DeleteSuccess | ActionSuccess => "Succeeded",
            WriteFailure | DeleteFailure | ActionFailure => "Failed",
            WriteCancel | DeleteCancel | ActionCancel => "Canceled",
        }
    }

    fn family(self) -> Family {
        use ResourceEventKind::*;
        match self {
            WriteSuccess | WriteFailure | WriteCancel => Family::Write,
            DeleteSuccess | DeleteFailure | DeleteCancel => Family::Delete,
            ActionSuccess | ActionFailure | ActionCancel => Family::Action,
        }
    }

    fn http_method(self) -> &'static str {
        match self.family() {
            Family::Write => "PUT",
            Family::Delete => "DELETE",
            Family::Action => "POST",
        }
    }
}

/// Azure's timestamp format with 7 fractional digits: `2024-05-01T12:00:05.1234567Z`.
pub fn azure_time(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

/// Turns `"write"`, `"delete"`, `"stop"`, `"stop/action"` or a full operation name into
/// the full `Microsoft.ContainerInstance/containerGroups/...` operation name.
pub fn operation_name(kind: ResourceEventKind, operation: &str) -> String {
    let op = operation.trim_matches('/');
    let mut full = if op.contains('.') && op.contains('/') {
        op.to_string()
    } else {
        format!("{RESOURCE_TYPE}/{op}")
    };
    if kind.family() == Family::Action && !full.ends_with("/action") {
        full.push_str("/action");
    }
    full
}

/// Request details that end up in `data` of an event. `resource_event` fills them with
/// fresh values; the simulator uses the ARM request's correlation id.
#[derive(Debug, Clone)]
pub struct EventDetails {
    pub correlation_id: String,
    pub client_request_id: String,
    pub api_version: String,
    pub time: DateTime<Utc>,
    pub id: String,
}

impl Default for EventDetails {
    fn default() -> Self {
        EventDetails {
            correlation_id: uuid::Uuid::new_v4().to_string(),
            client_request_id: uuid::Uuid::new_v4().to_string(),
            api_version: crate::config::DEFAULT_API_VERSION.to_string(),
            time: Utc::now(),
            id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// One ARM resource event for a container group, with a fresh unique `id`.
///
/// `operation` is either a full operation name
/// (`Microsoft.ContainerInstance/containerGroups/write`) or its last part (`write`,
/// `delete`, `start`, `stop`, `restart`; `/action` is added for action events).
pub fn resource_event(
    schema: EventSchema,
    kind: ResourceEventKind,
    subscription: &str,
    resource_group: &str,
    name: &str,
    operation: &str,
) -> Value {
    resource_event_with(
        schema,
        kind,
        subscription,
        resource_group,
        name,
        operation,
        &EventDetails::default(),
    )
}

/// [`resource_event`] with explicit ids, time and api-version.
pub fn resource_event_with(
    schema: EventSchema,
    kind: ResourceEventKind,
    subscription: &str,
    resource_group: &str,
    name: &str,
    operation: &str,
    details: &EventDetails,
) -> Value {
    let family = kind.family();
    let rg_segment = if family == Family::Write {
        "resourcegroups"
    } else {
        "resourceGroups"
    };
    let resource_uri = format!(
        "/subscriptions/{subscription}/{rg_segment}/{resource_group}/providers/{RESOURCE_TYPE}/{name}"
    );
    let topic = format!("/subscriptions/{subscription}/resourceGroups/{resource_group}");
    let operation_name = operation_name(kind, operation);
    let action_suffix = match family {
        Family::Action => operation_name
            .trim_end_matches("/action")
            .rsplit('/')
            .next()
            .map(|a| format!("/{a}"))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let url = format!(
        "https://management.azure.com/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{RESOURCE_TYPE}/{name}{action_suffix}?api-version={}",
        details.api_version
    );
    let issued = details.time.timestamp();
    let data = json!({
        "authorization": {
            "scope": resource_uri,
            "action": operation_name,
            "evidence": {
                "role": "Contributor",
                "roleAssignmentScope": format!("/subscriptions/{subscription}"),
                "roleAssignmentId": "22222222222222222222222222222222",
                "roleDefinitionId": "b24988ac618042a0ab8820f7382dd24c",
                "principalId": "33333333333333333333333333333333",
                "principalType": "ServicePrincipal"
            }
        },
        "claims": {
            "aud": "https://management.core.windows.net/",
            "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
            "iat": (issued - 300).to_string(),
            "nbf": (issued - 300).to_string(),
            "exp": (issued + 86_100).to_string(),
            "appid": "44444444-4444-4444-4444-444444444444",
            "appidacr": "2",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": "33333333-3333-3333-3333-333333333333",
            "http://schemas.microsoft.com/identity/claims/tenantid": TENANT_ID,
            "ver": "1.0"
        },
        "correlationId": details.correlation_id,
        "httpRequest": {
            "clientRequestId": details.client_request_id,
            "clientIpAddress": "127.0.0.1",
            "method": kind.http_method(),
            "url": url
        },
        "resourceProvider": PROVIDER,
        "resourceUri": resource_uri,
        "operationName": operation_name,
        "status": kind.status(),
        "subscriptionId": subscription,
        "tenantId": TENANT_ID
    });
    let time = azure_time(details.time);
    match schema {
        EventSchema::EventGrid => json!({
            "subject": resource_uri,
            "eventType": kind.event_type(),
            "eventTime": time,
            "id": details.id,
            "data": data,
            "dataVersion": "2",
            "metadataVersion": "1",
            "topic": topic
        }),
        EventSchema::CloudEvents => json!({
            "source": topic,
            "subject": resource_uri,
            "type": kind.event_type(),
            "time": time,
            "id": details.id,
            "data": data,
            "specversion": "1.0"
        }),
    }
}

/// `Metadata.sys` of a host invocation.
pub fn sys_metadata(function_name: &str) -> Value {
    json!({
        "MethodName": function_name,
        "UtcNow": azure_time(Utc::now()),
        "RandGuid": uuid::Uuid::new_v4().to_string()
    })
}

/// What the Functions host POSTs to `/{function_name}` for an eventGridTrigger
/// invocation: `{"Data":{binding: event},"Metadata":{"data": event.data, "sys": ...}}`.
pub fn host_envelope(binding_name: &str, function_name: &str, event: &Value) -> Value {
    let mut data = serde_json::Map::new();
    data.insert(binding_name.to_string(), event.clone());
    json!({
        "Data": data,
        "Metadata": {
            "data": event.get("data").cloned().unwrap_or(Value::Null),
            "sys": sys_metadata(function_name)
        }
    })
}

/// A timer-trigger invocation of the `GC` function like
/// `fixtures/functions-host/timer-invocation.json` (`ScheduleStatus` null, as with
/// `useMonitor` off).
pub fn timer_envelope(binding_name: &str, past_due: bool) -> Value {
    timer_envelope_for("GC", binding_name, past_due, None)
}

/// Timer invocation with an explicit function name and optional `ScheduleStatus`
/// (`{"Last":..,"Next":..,"LastUpdated":..}`, present when `useMonitor` is on).
pub fn timer_envelope_for(
    function_name: &str,
    binding_name: &str,
    past_due: bool,
    schedule_status: Option<Value>,
) -> Value {
    let mut data = serde_json::Map::new();
    data.insert(
        binding_name.to_string(),
        json!({
            "Schedule": { "AdjustForDST": true },
            "ScheduleStatus": schedule_status.unwrap_or(Value::Null),
            "IsPastDue": past_due
        }),
    );
    json!({
        "Data": data,
        "Metadata": { "sys": sys_metadata(function_name) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-0000-0000-0000-000000000000";

    /// The first event of a fixture in the repository's tests/fixtures.
    fn fixture(name: &str) -> Option<Value> {
        let path = format!(
            "{}/../fixtures/eventgrid/aci-constructed/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v: Value = serde_json::from_str(&text).expect("fixture is JSON");
        Some(v.get(0).cloned().expect("the fixture holds an event"))
    }

    /// Same keys (recursively) as the fixture; values that are ids/times may differ.
    fn same_shape(a: &Value, b: &Value, path: &str) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let kx: Vec<_> = x.keys().collect();
                let ky: Vec<_> = y.keys().collect();
                assert_eq!(kx, ky, "keys differ at {path}");
                for (k, v) in x {
                    same_shape(v, &y[k], &format!("{path}.{k}"));
                }
            }
            _ => assert_eq!(
                std::mem::discriminant(a),
                std::mem::discriminant(b),
                "type differs at {path}"
            ),
        }
    }

    #[test]
    fn write_event_matches_fixture_shape_and_casing() {
        let e = resource_event(
            EventSchema::EventGrid,
            ResourceEventKind::WriteSuccess,
            SUB,
            "my-rg",
            "cg-job-0001",
            "write",
        );
        if let Some(f) = fixture("write-success.eventgrid.json") {
            same_shape(&e, &f, "");
            assert_eq!(e["subject"], f["subject"]);
            assert_eq!(e["topic"], f["topic"]);
            assert_eq!(e["data"]["resourceUri"], f["data"]["resourceUri"]);
            assert_eq!(e["data"]["operationName"], f["data"]["operationName"]);
            assert_eq!(
                e["data"]["httpRequest"]["url"],
                f["data"]["httpRequest"]["url"]
            );
        }
        assert!(e["subject"]
            .as_str()
            .is_some_and(|s| s.contains("/resourcegroups/")));
        let t = e["eventTime"].as_str().unwrap_or_default();
        assert_eq!(t.len(), "2024-05-01T12:00:05.1234567Z".len(), "{t}");
    }

    #[test]
    fn delete_and_action_events_match_fixtures() {
        let d = resource_event(
            EventSchema::CloudEvents,
            ResourceEventKind::DeleteSuccess,
            SUB,
            "my-rg",
            "cg-job-0001",
            "delete",
        );
        if let Some(f) = fixture("delete-success.cloudevents.json") {
            same_shape(&d, &f, "");
            assert_eq!(d["subject"], f["subject"]);
            assert_eq!(d["source"], f["source"]);
        }
        let a = resource_event(
            EventSchema::EventGrid,
            ResourceEventKind::ActionSuccess,
            SUB,
            "my-rg",
            "cg-job-0001",
            "stop",
        );
        if let Some(f) = fixture("action-stop-success.eventgrid.json") {
            same_shape(&a, &f, "");
            assert_eq!(a["data"]["operationName"], f["data"]["operationName"]);
            assert_eq!(a["subject"], f["subject"]);
        }
        let w = resource_event(
            EventSchema::EventGrid,
            ResourceEventKind::WriteFailure,
            SUB,
            "my-rg",
            "cg-job-0001",
            "Microsoft.ContainerInstance/containerGroups/write",
        );
        assert_eq!(w["data"]["status"], "Failed");
        assert_ne!(w["id"], a["id"]);
    }

    #[test]
    fn envelopes_have_host_shape() {
        let e = resource_event(
            EventSchema::EventGrid,
            ResourceEventKind::WriteSuccess,
            SUB,
            "rg",
            "cg",
            "write",
        );
        let env = host_envelope("eventGridEvent", "Monitor", &e);
        assert_eq!(env["Data"]["eventGridEvent"], e);
        assert_eq!(env["Metadata"]["data"], e["data"]);
        assert_eq!(env["Metadata"]["sys"]["MethodName"], "Monitor");
        let t = timer_envelope("timer", true);
        assert_eq!(t["Data"]["timer"]["IsPastDue"], true);
        assert_eq!(t["Data"]["timer"]["ScheduleStatus"], Value::Null);
        assert_eq!(t["Data"]["timer"]["Schedule"]["AdjustForDST"], true);
        assert_eq!(t["Metadata"]["sys"]["MethodName"], "GC");
    }
}
