//! The `containerGroup` of a Create request: accepted in the original project's
//! shape (the Node SDK's flattened model: a container's `image`, `resources`,
//! `ports`, `environmentVariables` at its top level) or in ARM's REST shape
//! (nested under `properties`), validated, and always sent to ARM in the REST shape.

use super::names::{json_kind, ContainerName, GroupKey, Location};
use serde_json::{json, Map, Value};

/// Tag put on every group gamefleet creates, so it never touches others.
pub const MANAGED_TAG: (&str, &str) = ("managed-by", "gamefleet");

/// Environment variables injected into every container. The URL carries the
/// container's own token, so it is a secure value (ARM never returns it).
pub const ENV_SET_SESSIONS_URL: &str = "ACI_SET_SESSIONS_URL";
/// The same URL under the name the original project's images read
/// (docker_openarena's `stdoutprocessor.sh` posts to `$SET_SESSIONS_URL`).
pub const ENV_SET_SESSIONS_URL_LEGACY: &str = "SET_SESSIONS_URL";
pub const ENV_RESOURCE_GROUP: &str = "RESOURCE_GROUP";
pub const ENV_CONTAINER_GROUP_NAME: &str = "CONTAINER_GROUP_NAME";
/// The container's own session token (a secure value: ARM never returns it).
pub const ENV_SESSIONS_TOKEN: &str = "ACI_SESSIONS_TOKEN";

/// A validated container group definition in ARM's REST shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerGroupSpec {
    body: Map<String, Value>,
    location: Location,
}

/// Resource-level keys of an ARM container group; everything else lives under `properties`.
const RESOURCE_KEYS: [&str; 4] = ["location", "tags", "zones", "identity"];
/// Read-only keys ARM sets itself.
const READ_ONLY_KEYS: [&str; 3] = ["id", "name", "type"];

/// Why a `containerGroup` was refused: the JSON path and what is wrong there
/// (`containerGroup.containers[0].image is missing`), for the 400 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(String);

impl std::ops::Deref for SpecError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

fn bad(path: &str, problem: impl std::fmt::Display) -> String {
    format!("{path} {problem}")
}

impl ContainerGroupSpec {
    /// Validate and normalise. Errors name the JSON path, e.g.
    /// `containerGroup.containers[0].image is missing`.
    ///
    /// `location` is an Azure region's name or display name ("West Europe"),
    /// normalised to ARM's form (`westeurope`: spaces removed, lower-case; 2–40
    /// letters and digits), which is what ARM is sent and the table keeps
    /// ([`Location`]).
    pub fn parse(v: &Value) -> Result<Self, SpecError> {
        Self::parse_inner(v).map_err(SpecError)
    }

    fn parse_inner(v: &Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or_else(|| {
            bad(
                "containerGroup",
                format!("must be an object, not {}", json_kind(v)),
            )
        })?;
        let rest_shape = match obj.get("properties") {
            Some(Value::Object(_)) => {
                if obj.contains_key("containers") {
                    return Err("containerGroup has both `properties` and a top-level `containers`; use one shape (ARM's REST shape nests everything under `properties`)".into());
                }
                true
            }
            Some(other) => {
                return Err(bad(
                    "containerGroup.properties",
                    format!("must be an object, not {}", json_kind(other)),
                ))
            }
            None => false,
        };
        let mut body = Map::new();
        let mut props = Map::new();
        for (k, val) in obj {
            if READ_ONLY_KEYS.contains(&k.as_str()) {
                continue;
            } else if RESOURCE_KEYS.contains(&k.as_str()) {
                body.insert(k.clone(), val.clone());
            } else if rest_shape {
                if k == "properties" {
                    if let Value::Object(p) = val {
                        props.extend(p.clone());
                    }
                } else {
                    return Err(bad(&format!("containerGroup.{k}"), "is not a container group field; in ARM's REST shape it belongs under `properties`"));
                }
            } else {
                props.insert(k.clone(), val.clone());
            }
        }
        let base = if rest_shape {
            "containerGroup.properties"
        } else {
            "containerGroup"
        };

        let location = match body.get("location") {
            Some(Value::String(s)) => Location::parse(s).map_err(|e| e.to_string())?,
            None => {
                return Err(bad(
                    "containerGroup.location",
                    "is missing (an Azure region such as \"westeurope\")",
                ))
            }
            Some(other) => {
                return Err(bad(
                    "containerGroup.location",
                    format!("must be a string, not {}", json_kind(other)),
                ))
            }
        };
        if let Some(tags) = body.get("tags") {
            let ok = tags
                .as_object()
                .is_some_and(|t| t.values().all(Value::is_string));
            if !ok {
                return Err(bad(
                    "containerGroup.tags",
                    "must be an object of string values",
                ));
            }
        }
        match props.get("osType") {
            Some(Value::String(s)) => {
                let canonical = match s.to_ascii_lowercase().as_str() {
                    "linux" => "Linux",
                    "windows" => "Windows",
                    _ => {
                        return Err(bad(
                            &format!("{base}.osType"),
                            format!("is {s:?}; it must be \"Linux\" or \"Windows\""),
                        ))
                    }
                };
                props.insert("osType".into(), Value::String(canonical.into()));
            }
            None => {
                return Err(bad(
                    &format!("{base}.osType"),
                    "is missing (\"Linux\" or \"Windows\")",
                ))
            }
            Some(other) => {
                return Err(bad(
                    &format!("{base}.osType"),
                    format!("must be a string, not {}", json_kind(other)),
                ))
            }
        }
        for list in ["containers", "initContainers"] {
            let required = list == "containers";
            let path = format!("{base}.{list}");
            let items = match props.get_mut(list) {
                Some(Value::Array(items)) if !items.is_empty() || !required => items,
                Some(Value::Array(_)) => {
                    return Err(bad(&path, "must list at least one container"))
                }
                None if !required => continue,
                None => return Err(bad(&path, "is missing (an array of containers)")),
                Some(other) => {
                    return Err(bad(
                        &path,
                        format!("must be an array, not {}", json_kind(other)),
                    ))
                }
            };
            let mut seen = std::collections::HashSet::new();
            for (i, c) in items.iter_mut().enumerate() {
                let cpath = format!("{path}[{i}]");
                *c = normalise_container(c, &cpath, rest_shape, required)?;
                let name = c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if !seen.insert(name.clone()) {
                    return Err(bad(
                        &format!("{cpath}.name"),
                        format!("{name:?} is used by two containers"),
                    ));
                }
            }
        }
        if let Some(ip) = props.get("ipAddress") {
            let ipath = format!("{base}.ipAddress");
            let o = ip
                .as_object()
                .ok_or_else(|| bad(&ipath, "must be an object"))?;
            if !matches!(o.get("ports"), Some(Value::Array(p)) if !p.is_empty()) {
                return Err(bad(
                    &format!("{ipath}.ports"),
                    "must list at least one port",
                ));
            }
            if !o.get("type").and_then(Value::as_str).is_some_and(|t| {
                t.eq_ignore_ascii_case("public") || t.eq_ignore_ascii_case("private")
            }) {
                return Err(bad(
                    &format!("{ipath}.type"),
                    "must be \"Public\" or \"Private\"",
                ));
            }
        }
        // ARM is sent the canonical name the table keeps.
        body.insert("location".into(), Value::String(location.as_str().into()));
        body.insert("properties".into(), Value::Object(props));
        Ok(Self { body, location })
    }

    /// The group's public ports (`[{"protocol": "TCP", "port": 27960}]`), as
    /// Allocate hands them to the matchmaker.
    pub fn ports(&self) -> Vec<Value> {
        self.body
            .get("properties")
            .and_then(|p| p.get("ipAddress"))
            .and_then(|ip| ip.get("ports"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// The region in ARM's form (`westeurope`), see [`Location`].
    pub fn location(&self) -> &str {
        self.location.as_str()
    }

    /// The body to PUT to ARM: the spec plus the gamefleet tag and, in every
    /// container, the variables a game server needs to report its sessions.
    pub fn to_arm_body(&self, key: &GroupKey, set_sessions_url: Option<&str>) -> Value {
        self.to_arm_body_with_token(key, set_sessions_url, None)
    }

    /// As [`ContainerGroupSpec::to_arm_body`], plus the container's session
    /// token as a secure environment variable.
    pub fn to_arm_body_with_token(
        &self,
        key: &GroupKey,
        set_sessions_url: Option<&str>,
        token: Option<&str>,
    ) -> Value {
        let mut body = self.body.clone();
        let tags = body.entry("tags").or_insert_with(|| json!({}));
        if let Value::Object(t) = tags {
            t.insert(MANAGED_TAG.0.into(), MANAGED_TAG.1.into());
        }
        let mut env = vec![
            json!({"name": ENV_RESOURCE_GROUP, "value": key.resource_group.as_str()}),
            json!({"name": ENV_CONTAINER_GROUP_NAME, "value": key.name.as_str()}),
        ];
        if let Some(url) = set_sessions_url {
            env.insert(0, json!({"name": ENV_SET_SESSIONS_URL, "secureValue": url}));
            env.insert(
                1,
                json!({"name": ENV_SET_SESSIONS_URL_LEGACY, "secureValue": url}),
            );
        }
        if let Some(t) = token {
            env.push(json!({"name": ENV_SESSIONS_TOKEN, "secureValue": t}));
        }
        let injected: Vec<&str> = env.iter().filter_map(|e| e["name"].as_str()).collect();
        if let Some(Value::Array(containers)) = body
            .get_mut("properties")
            .and_then(|p| p.get_mut("containers"))
        {
            for c in containers {
                let Some(props) = c.get_mut("properties").and_then(Value::as_object_mut) else {
                    continue;
                };
                let vars = props
                    .entry("environmentVariables")
                    .or_insert_with(|| json!([]));
                if let Value::Array(vars) = vars {
                    vars.retain(|v| {
                        !v.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| injected.contains(&n))
                    });
                    vars.extend(env.iter().cloned());
                }
            }
        }
        Value::Object(body)
    }
}

/// One container → `{name, properties:{...}}`, checked.
fn normalise_container(
    c: &Value,
    path: &str,
    rest_shape: bool,
    needs_resources: bool,
) -> Result<Value, String> {
    let obj = c
        .as_object()
        .ok_or_else(|| bad(path, format!("must be an object, not {}", json_kind(c))))?;
    let name = match obj.get("name") {
        Some(Value::String(s)) => {
            ContainerName::parse(s).map_err(|e| bad(&format!("{path}.name"), e.problem))?
        }
        None => return Err(bad(&format!("{path}.name"), "is missing")),
        Some(other) => {
            return Err(bad(
                &format!("{path}.name"),
                format!("must be a string, not {}", json_kind(other)),
            ))
        }
    };
    let (props, ppath) = if rest_shape {
        match obj.get("properties") {
            Some(Value::Object(p)) => {
                if let Some(k) = obj.keys().find(|k| *k != "name" && *k != "properties") {
                    return Err(bad(
                        &format!("{path}.{k}"),
                        "belongs under the container's `properties` in ARM's REST shape",
                    ));
                }
                (p.clone(), format!("{path}.properties"))
            }
            _ => {
                return Err(bad(
                    &format!("{path}.properties"),
                    "is missing (ARM's REST shape nests image, resources, ports under it)",
                ))
            }
        }
    } else {
        if obj.contains_key("properties") {
            return Err(bad(&format!("{path}.properties"), "is not expected when the container group is in the flattened shape; put image, resources and ports at the container's top level"));
        }
        let p: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| *k != "name")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (p, path.to_owned())
    };
    match props.get("image") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(Value::String(_)) | None => {
            return Err(bad(
                &format!("{ppath}.image"),
                "is missing (a container image such as \"nginx:1.27\")",
            ))
        }
        Some(other) => {
            return Err(bad(
                &format!("{ppath}.image"),
                format!("must be a string, not {}", json_kind(other)),
            ))
        }
    }
    if needs_resources {
        for field in ["cpu", "memoryInGB"] {
            let v = props
                .get("resources")
                .and_then(|r| r.get("requests"))
                .and_then(|r| r.get(field));
            match v.and_then(Value::as_f64) {
                Some(x) if x > 0.0 => {}
                _ => {
                    return Err(bad(
                        &format!("{ppath}.resources.requests.{field}"),
                        "must be a number greater than 0",
                    ))
                }
            }
        }
    }
    if let Some(vars) = props.get("environmentVariables") {
        let arr = vars
            .as_array()
            .ok_or_else(|| bad(&format!("{ppath}.environmentVariables"), "must be an array"))?;
        for (i, v) in arr.iter().enumerate() {
            if v.get("name")
                .and_then(Value::as_str)
                .is_none_or(|n| n.is_empty())
            {
                return Err(bad(
                    &format!("{ppath}.environmentVariables[{i}].name"),
                    "is missing",
                ));
            }
        }
    }
    Ok(json!({"name": name.as_str(), "properties": props}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::names::{ContainerGroupName, ResourceGroup};

    fn key() -> GroupKey {
        GroupKey::new(
            ResourceGroup::parse("Games").unwrap(),
            ContainerGroupName::parse("srv-1").unwrap(),
        )
    }

    /// The original project's sample (the Node SDK's flattened model).
    fn flattened() -> Value {
        json!({
            "location": "eastus",
            "containers": [{
                "name": "ciname", "image": "dgkanatsios/simpleapp",
                "environmentVariables": [{"name": "envName", "value": "envValue"}, {"name": "RESOURCE_GROUP", "value": "spoofed"}],
                "resources": {"requests": {"memoryInGB": 0.5, "cpu": 0.5}},
                "ports": [{"protocol": "TCP", "port": 80}]
            }],
            "ipAddress": {"ports": [{"protocol": "TCP", "port": 80}], "type": "Public"},
            "osType": "Linux"
        })
    }

    fn rest() -> Value {
        json!({
            "location": "eastus", "tags": {"team": "a"},
            "properties": {
                "containers": [{"name": "ciname", "properties": {
                    "image": "dgkanatsios/simpleapp",
                    "environmentVariables": [{"name": "envName", "value": "envValue"}, {"name": "RESOURCE_GROUP", "value": "spoofed"}],
                    "resources": {"requests": {"memoryInGB": 0.5, "cpu": 0.5}},
                    "ports": [{"protocol": "TCP", "port": 80}]}}],
                "ipAddress": {"ports": [{"protocol": "TCP", "port": 80}], "type": "Public"},
                "osType": "Linux"
            }
        })
    }

    #[test]
    fn both_shapes_give_the_same_arm_body() {
        let a = ContainerGroupSpec::parse(&flattened())
            .unwrap()
            .to_arm_body(&key(), Some("https://f/api/SetSessions"));
        let mut b = ContainerGroupSpec::parse(&rest())
            .unwrap()
            .to_arm_body(&key(), Some("https://f/api/SetSessions"));
        assert_eq!(b["tags"]["team"], "a");
        b["tags"].as_object_mut().unwrap().remove("team");
        assert_eq!(a, b);
        assert_eq!(a["tags"]["managed-by"], "gamefleet");
        assert_eq!(
            a["properties"]["containers"][0]["properties"]["image"],
            "dgkanatsios/simpleapp"
        );
        assert!(a["properties"]["containers"][0].get("image").is_none());
        let env = a["properties"]["containers"][0]["properties"]["environmentVariables"]
            .as_array()
            .unwrap();
        let names: Vec<&str> = env.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "envName",
                "ACI_SET_SESSIONS_URL",
                "SET_SESSIONS_URL",
                "RESOURCE_GROUP",
                "CONTAINER_GROUP_NAME"
            ]
        );
        let rg = env.iter().find(|e| e["name"] == "RESOURCE_GROUP").unwrap();
        assert_eq!(
            rg["value"], "Games",
            "the caller cannot spoof the injected values"
        );
    }

    #[test]
    fn errors_name_the_path() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "containerGroup must be an object"),
            (
                json!({"containers": [], "osType": "Linux"}),
                "containerGroup.location is missing",
            ),
            (
                json!({"location": "eastus", "containers": [], "osType": "Linux"}),
                "containerGroup.containers must list at least one",
            ),
            (
                json!({"location": "eastus", "containers": [{"name": "a", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}], "osType": "Linux"}),
                "containerGroup.containers[0].image is missing",
            ),
            (
                json!({"location": "eastus", "containers": [{"name": "A", "image": "i"}], "osType": "Linux"}),
                "containerGroup.containers[0].name contains 'A'",
            ),
            (
                json!({"location": "eastus", "containers": [{"name": "a", "image": "i"}], "osType": "Linux"}),
                "containerGroup.containers[0].resources.requests.cpu must be a number",
            ),
            (
                json!({"location": "eastus", "containers": [{"name": "a", "image": "i", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}]}),
                "containerGroup.osType is missing",
            ),
            (
                json!({"location": "eastus", "containers": [{"name": "a", "image": "i", "resources": {"requests": {"cpu": 1, "memoryInGB": 1}}}], "osType": "BeOS"}),
                "containerGroup.osType is \"BeOS\"",
            ),
            (
                json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "a", "image": "i"}]}}),
                "containerGroup.properties.containers[0].properties is missing",
            ),
            (
                json!({"location": "eastus", "properties": {}, "containers": []}),
                "both `properties` and a top-level `containers`",
            ),
        ];
        for (v, want) in cases {
            let e = ContainerGroupSpec::parse(&v).unwrap_err();
            assert!(e.contains(want), "{v}: got {e:?}, want {want:?}");
        }
    }

    #[test]
    fn os_type_is_normalised() {
        let mut v = flattened();
        v["osType"] = json!("linux");
        let s = ContainerGroupSpec::parse(&v).unwrap();
        assert_eq!(s.to_arm_body(&key(), None)["properties"]["osType"], "Linux");
        assert_eq!(s.location(), "eastus");
    }

    #[test]
    fn location_is_a_region_name_in_arms_form() {
        let mut v = rest();
        v["location"] = json!("West Europe");
        let s = ContainerGroupSpec::parse(&v).unwrap();
        assert_eq!(s.location(), "westeurope");
        assert_eq!(s.to_arm_body(&key(), None)["location"], "westeurope");
        for bad in [json!("x".repeat(70_000)), json!("west/europe"), json!(" ")] {
            v["location"] = bad.clone();
            let e = ContainerGroupSpec::parse(&v).unwrap_err();
            assert!(e.starts_with("containerGroup.location "), "{bad}: {e}");
            assert!(e.len() < 200, "{e}");
        }
    }
}
