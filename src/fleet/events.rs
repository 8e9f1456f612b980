//! Event Grid deliveries: Azure Resource Manager events in the Event Grid schema
//! or CloudEvents 1.0, as the Functions host hands them to Monitor.
//!
//! Parsing never fails a whole delivery: each event becomes a [`ResourceEvent`]
//! or a reason it is not one, so one odd event cannot block the others.

use crate::fleet::{ContainerGroupName, GroupKey, ResourceGroup};
use serde_json::Value;

/// What ARM reports happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    WriteSuccess,
    WriteFailure,
    WriteCancel,
    DeleteSuccess,
    DeleteFailure,
    DeleteCancel,
    ActionSuccess,
    ActionFailure,
    ActionCancel,
    /// Event Grid's subscription handshake (answered by the host, not by us).
    SubscriptionValidation,
    /// Any other event type.
    Other,
}

impl EventKind {
    fn from_type(t: &str) -> Self {
        match t.strip_prefix("Microsoft.Resources.").unwrap_or(t) {
            "ResourceWriteSuccess" => Self::WriteSuccess,
            "ResourceWriteFailure" => Self::WriteFailure,
            "ResourceWriteCancel" => Self::WriteCancel,
            "ResourceDeleteSuccess" => Self::DeleteSuccess,
            "ResourceDeleteFailure" => Self::DeleteFailure,
            "ResourceDeleteCancel" => Self::DeleteCancel,
            "ResourceActionSuccess" => Self::ActionSuccess,
            "ResourceActionFailure" => Self::ActionFailure,
            "ResourceActionCancel" => Self::ActionCancel,
            _ if t == "Microsoft.EventGrid.SubscriptionValidationEvent" => {
                Self::SubscriptionValidation
            }
            _ => Self::Other,
        }
    }
}

/// An ARM resource id, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceId {
    pub subscription: String,
    pub resource_group: String,
    /// `namespace/type`, e.g. `Microsoft.ContainerInstance/containerGroups`, as written.
    pub resource_type: String,
    pub name: String,
    /// Anything below the resource (`containers/x`), lower-cased.
    pub child: Option<String>,
}

impl ResourceId {
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/...]`,
    /// fixed segments compared case-insensitively (ARM's casing varies between events).
    pub fn parse(id: &str) -> Option<Self> {
        let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
        if segs.len() < 8
            || !segs[0].eq_ignore_ascii_case("subscriptions")
            || !segs[2].eq_ignore_ascii_case("resourceGroups")
            || !segs[4].eq_ignore_ascii_case("providers")
            || segs[1..8].iter().any(|s| s.is_empty())
        {
            return None;
        }
        Some(Self {
            subscription: segs[1].to_owned(),
            resource_group: segs[3].to_owned(),
            resource_type: format!("{}/{}", segs[5], segs[6]),
            name: segs[7].to_owned(),
            child: (segs.len() > 8).then(|| segs[8..].join("/").to_ascii_lowercase()),
        })
    }

    pub fn is_container_group(&self) -> bool {
        self.child.is_none()
            && self
                .resource_type
                .eq_ignore_ascii_case("Microsoft.ContainerInstance/containerGroups")
    }

    /// The group this id names, if it is a container group with valid names.
    pub fn group_key(&self) -> Option<GroupKey> {
        if !self.is_container_group() {
            return None;
        }
        Some(GroupKey::new(
            ResourceGroup::parse(&self.resource_group).ok()?,
            ContainerGroupName::parse(&self.name).ok()?,
        ))
    }
}

/// One ARM event, in either schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceEvent {
    pub id: String,
    pub event_type: String,
    pub kind: EventKind,
    /// `data.resourceUri`, else `subject`.
    pub resource: Option<ResourceId>,
    /// `data.status` ("Succeeded", "Failed"...).
    pub status: Option<String>,
    /// `data.operationName`.
    pub operation: Option<String>,
}

/// Why an event could not be read (Monitor acknowledges and logs it: a
/// redelivery would not help).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(String);

impl std::ops::Deref for EventError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Turn one JSON event (Event Grid schema or CloudEvents 1.0) into a [`ResourceEvent`].
pub fn parse_event(v: &Value) -> Result<ResourceEvent, EventError> {
    parse_event_inner(v).map_err(EventError)
}

fn parse_event_inner(v: &Value) -> Result<ResourceEvent, String> {
    let obj = v.as_object().ok_or_else(|| {
        format!(
            "an event must be a JSON object, not {}",
            crate::fleet::names::json_kind(v)
        )
    })?;
    let s = |k: &str| obj.get(k).and_then(Value::as_str);
    let cloud = obj.contains_key("specversion");
    let (id, event_type) = if cloud {
        (s("id"), s("type"))
    } else {
        (s("id"), s("eventType"))
    };
    let id = id.ok_or("event has no id")?.to_owned();
    let event_type = event_type
        .ok_or(if cloud {
            "CloudEvent has no type"
        } else {
            "event has no eventType"
        })?
        .to_owned();
    let data = obj.get("data");
    let ds = |k: &str| data.and_then(|d| d.get(k)).and_then(Value::as_str);
    let resource = ds("resourceUri")
        .or(s("subject"))
        .and_then(ResourceId::parse);
    Ok(ResourceEvent {
        kind: EventKind::from_type(&event_type),
        id,
        event_type,
        resource,
        status: ds("status").map(str::to_owned),
        operation: ds("operationName").map(str::to_owned),
    })
}

/// Every event in a delivery: one object or an array of them. A value that is a
/// JSON-encoded string is decoded first (the host encodes some trigger values twice).
pub fn parse_delivery(v: &Value) -> Vec<Result<ResourceEvent, EventError>> {
    match unwrap_encoded(v) {
        Value::Array(items) => items.iter().map(parse_event).collect(),
        other @ Value::Object(_) => vec![parse_event(&other)],
        other => vec![Err(EventError(format!(
            "expected an event object or an array of events, got {}",
            crate::fleet::names::json_kind(&other)
        )))],
    }
}

/// Decode a JSON value given as a JSON-encoded string (at most a few layers).
pub fn unwrap_encoded(v: &Value) -> Value {
    let mut cur = v.clone();
    for _ in 0..3 {
        match &cur {
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(inner) => cur = inner,
                Err(_) => break,
            },
            _ => break,
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_ids_case_insensitive() {
        let a = ResourceId::parse("/subscriptions/s/resourcegroups/My-RG/providers/Microsoft.ContainerInstance/containerGroups/cg-1").unwrap();
        let b = ResourceId::parse("/SUBSCRIPTIONS/s/resourceGroups/my-rg/providers/microsoft.containerinstance/CONTAINERGROUPS/cg-1").unwrap();
        assert!(a.is_container_group() && b.is_container_group());
        assert_eq!(a.group_key(), b.group_key());
        assert!(ResourceId::parse("/subscriptions/s/resourceGroups/rg").is_none());
        let child = ResourceId::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/cg/containers/c").unwrap();
        assert!(child.group_key().is_none());
        let other = ResourceId::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x",
        )
        .unwrap();
        assert!(other.group_key().is_none());
    }

    #[test]
    fn both_schemas_and_encoded_strings() {
        let eg = json!({"id":"1","eventType":"Microsoft.Resources.ResourceWriteSuccess","subject":"/subscriptions/s/resourcegroups/rg/providers/Microsoft.ContainerInstance/containerGroups/cg","data":{"status":"Succeeded"}});
        let ce = json!({"specversion":"1.0","id":"2","type":"Microsoft.Resources.ResourceDeleteSuccess","source":"/subscriptions/s/resourceGroups/rg","subject":"x","data":{"resourceUri":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/cg"}});
        let evs = parse_delivery(&json!([eg.clone(), ce]));
        assert_eq!(evs[0].as_ref().unwrap().kind, EventKind::WriteSuccess);
        assert_eq!(evs[1].as_ref().unwrap().kind, EventKind::DeleteSuccess);
        assert_eq!(
            evs[1].as_ref().unwrap().resource.as_ref().unwrap().name,
            "cg"
        );
        let encoded = Value::String(eg.to_string());
        assert_eq!(parse_delivery(&encoded)[0].as_ref().unwrap().id, "1");
        assert!(parse_delivery(&json!(3))[0].is_err());
        assert!(parse_event(&json!({"id":"x"})).is_err());
    }
}
