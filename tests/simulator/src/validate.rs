//! Strict validation of container group PUT bodies against the ARM REST shape
//! (`ContainerGroup` of `Microsoft.ContainerInstance`, api-version 2023-05-01).
//! Error messages imitate ARM's Newtonsoft-style deserialization errors and name the
//! JSON path, e.g. `Required property 'properties' not found in JSON. Path
//! 'properties.containers[0]'`.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// A 400 answer: ARM error code + message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub code: &'static str,
    pub message: String,
}

/// The accepted, normalised content of a PUT body.
#[derive(Debug, Clone)]
pub(crate) struct ValidGroup {
    /// Normalised location (`West Europe` -> `westeurope`), as ARM returns it.
    pub location: String,
    pub tags: Option<Value>,
    /// `properties` as sent, minus read-only fields and secure values.
    pub properties: Map<String, Value>,
    pub containers: Vec<String>,
    /// Each container's environment as the container sees it (secure values included).
    pub env: Vec<(String, Vec<(String, String)>)>,
    pub public_ip: bool,
    /// The first container image containing `fail-provision`, if any.
    pub failing_image: Option<String>,
}

fn deser(detail: String) -> Invalid {
    Invalid {
        code: "InvalidRequestContent",
        message: format!(
            "The request content was invalid and could not be deserialized: '{detail}'."
        ),
    }
}

fn missing(prop: &str, parent: &str) -> Invalid {
    deser(format!(
        "Required property '{prop}' not found in JSON. Path '{parent}'"
    ))
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> Invalid {
    let shown = match got {
        Value::String(s) => format!("\"{s}\""),
        Value::Null => "null".to_string(),
        Value::Object(_) => "{...}".to_string(),
        Value::Array(_) => "[...]".to_string(),
        other => other.to_string(),
    };
    deser(format!(
        "Error converting value {shown} to type '{expected}'. Path '{path}'"
    ))
}

fn bad(path: &str, what: String) -> Invalid {
    Invalid {
        code: "InvalidRequestContent",
        message: format!("{what} Path '{path}'."),
    }
}

fn join(parent: &str, prop: &str) -> String {
    if parent.is_empty() {
        prop.to_string()
    } else {
        format!("{parent}.{prop}")
    }
}

fn object<'a>(v: &'a Value, path: &str, ty: &str) -> Result<&'a Map<String, Value>, Invalid> {
    v.as_object().ok_or_else(|| wrong_type(path, ty, v))
}

/// Required member of an object; `null` counts as missing.
fn required<'a>(
    obj: &'a Map<String, Value>,
    prop: &str,
    parent: &str,
) -> Result<&'a Value, Invalid> {
    match obj.get(prop) {
        None | Some(Value::Null) => Err(missing(prop, parent)),
        Some(v) => Ok(v),
    }
}

fn optional<'a>(obj: &'a Map<String, Value>, prop: &str) -> Option<&'a Value> {
    obj.get(prop).filter(|v| !v.is_null())
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, Invalid> {
    v.as_str()
        .ok_or_else(|| wrong_type(path, "System.String", v))
}

fn positive_number(v: &Value, path: &str) -> Result<f64, Invalid> {
    let n = v
        .as_f64()
        .ok_or_else(|| wrong_type(path, "System.Double", v))?;
    if n.is_finite() && n > 0.0 {
        Ok(n)
    } else {
        Err(bad(
            path,
            format!("The value '{n}' must be greater than 0."),
        ))
    }
}

/// Case-insensitive enum parsing like Newtonsoft's StringEnumConverter; returns the
/// canonical spelling.
fn enum_value(
    v: &Value,
    path: &str,
    ty: &str,
    allowed: &[&'static str],
) -> Result<&'static str, Invalid> {
    let s = v.as_str().ok_or_else(|| wrong_type(path, ty, v))?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(s))
        .copied()
        .ok_or_else(|| wrong_type(path, ty, v))
}

/// 1-63 chars of `[a-z0-9-]`, not starting or ending with `-`.
pub(crate) fn valid_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

pub(crate) fn validate_group_name(name: &str) -> Result<(), Invalid> {
    if valid_resource_name(name) {
        Ok(())
    } else {
        Err(Invalid {
            code: "InvalidContainerGroupName",
            message: format!(
                "The container group name '{name}' is invalid. The container group name must contain no more than 63 characters and must match the regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?' (e.g. 'my-name')."
            ),
        })
    }
}

fn ports(v: &Value, path: &str, out: &mut BTreeSet<(u64, &'static str)>) -> Result<usize, Invalid> {
    let arr = v
        .as_array()
        .ok_or_else(|| wrong_type(path, "System.Collections.Generic.List`1[Port]", v))?;
    for (i, p) in arr.iter().enumerate() {
        let ppath = format!("{path}[{i}]");
        let obj = object(p, &ppath, "Port")?;
        let port_path = join(&ppath, "port");
        let port_v = required(obj, "port", &ppath)?;
        let port = port_v
            .as_u64()
            .ok_or_else(|| wrong_type(&port_path, "System.Int32", port_v))?;
        if !(1..=65535).contains(&port) {
            return Err(bad(
                &port_path,
                format!("The port '{port}' is invalid. A port must be between 1 and 65535."),
            ));
        }
        let protocol = match optional(obj, "protocol") {
            Some(pv) => enum_value(
                pv,
                &join(&ppath, "protocol"),
                "ContainerNetworkProtocol",
                &["TCP", "UDP"],
            )?,
            None => "TCP",
        };
        out.insert((port, protocol));
    }
    Ok(arr.len())
}

/// Validates a PUT body; returns the normalised group or the 400 answer.
pub(crate) fn validate_body(body: &Value) -> Result<ValidGroup, Invalid> {
    let root = body
        .as_object()
        .ok_or_else(|| wrong_type("", "ContainerGroup", body))?;

    let location = match root.get("location") {
        None | Some(Value::Null) => {
            return Err(Invalid {
                code: "LocationRequired",
                message: "The location property is required for this definition. Path 'location'."
                    .to_string(),
            })
        }
        Some(v) => string(v, "location")?,
    };
    let location: String = location
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    if location.is_empty() {
        return Err(Invalid {
            code: "LocationRequired",
            message: "The location property is required for this definition. Path 'location'."
                .to_string(),
        });
    }

    let tags = match optional(root, "tags") {
        None => None,
        Some(t) => {
            let map = object(
                t,
                "tags",
                "System.Collections.Generic.Dictionary`2[System.String,System.String]",
            )?;
            for (k, v) in map {
                let path = format!("tags.{k}");
                string(v, &path)?;
                if k.len() > 512 || v.as_str().is_some_and(|s| s.len() > 256) {
                    return Err(Invalid {
                        code: "InvalidTagNameOrValue",
                        message: format!(
                            "The tag name '{k}' or its value is too long. Path '{path}'."
                        ),
                    });
                }
            }
            Some(t.clone())
        }
    };

    let props_v = required(root, "properties", "")?;
    let props = object(props_v, "properties", "ContainerGroupProperties")?;

    let containers_v = required(props, "containers", "properties")?;
    let containers = containers_v.as_array().ok_or_else(|| {
        wrong_type(
            "properties.containers",
            "System.Collections.Generic.List`1[Container]",
            containers_v,
        )
    })?;
    if containers.is_empty() {
        return Err(bad(
            "properties.containers",
            "The container group must contain at least one container.".to_string(),
        ));
    }

    let mut names = Vec::new();
    let mut exposed = BTreeSet::new();
    let mut failing_image = None;
    for (i, c) in containers.iter().enumerate() {
        let cpath = format!("properties.containers[{i}]");
        let cobj = object(c, &cpath, "Container")?;
        let name = string(required(cobj, "name", &cpath)?, &join(&cpath, "name"))?;
        if !valid_resource_name(name) {
            return Err(Invalid {
                code: "InvalidContainerName",
                message: format!(
                    "The container name '{name}' in container group is invalid. The name must contain no more than 63 characters and must match the regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?'. Path '{cpath}.name'."
                ),
            });
        }
        if names.iter().any(|n: &String| n == name) {
            return Err(Invalid {
                code: "DuplicateContainerName",
                message: format!(
                    "The container name '{name}' is used more than once. Path '{cpath}.name'."
                ),
            });
        }
        names.push(name.to_string());

        let ppath = join(&cpath, "properties");
        let pobj = object(
            required(cobj, "properties", &cpath)?,
            &ppath,
            "ContainerProperties",
        )?;
        let image = string(required(pobj, "image", &ppath)?, &join(&ppath, "image"))?;
        if image.trim().is_empty() {
            return Err(bad(
                &join(&ppath, "image"),
                format!("The image of container '{name}' must not be empty."),
            ));
        }
        if image.contains("fail-provision") && failing_image.is_none() {
            failing_image = Some(image.to_string());
        }
        let rpath = join(&ppath, "resources");
        let robj = object(
            required(pobj, "resources", &ppath)?,
            &rpath,
            "ResourceRequirements",
        )?;
        let qpath = join(&rpath, "requests");
        let qobj = object(
            required(robj, "requests", &rpath)?,
            &qpath,
            "ResourceRequests",
        )?;
        positive_number(required(qobj, "cpu", &qpath)?, &join(&qpath, "cpu"))?;
        positive_number(
            required(qobj, "memoryInGB", &qpath)?,
            &join(&qpath, "memoryInGB"),
        )?;
        if let Some(limits) = optional(robj, "limits") {
            object(limits, &join(&rpath, "limits"), "ResourceLimits")?;
        }
        if let Some(p) = optional(pobj, "ports") {
            ports(p, &join(&ppath, "ports"), &mut exposed)?;
        }
        if let Some(env) = optional(pobj, "environmentVariables") {
            let epath = join(&ppath, "environmentVariables");
            let arr = env.as_array().ok_or_else(|| {
                wrong_type(
                    &epath,
                    "System.Collections.Generic.List`1[EnvironmentVariable]",
                    env,
                )
            })?;
            for (j, e) in arr.iter().enumerate() {
                let vpath = format!("{epath}[{j}]");
                let eobj = object(e, &vpath, "EnvironmentVariable")?;
                let ename = string(required(eobj, "name", &vpath)?, &join(&vpath, "name"))?;
                if ename.is_empty() {
                    return Err(bad(
                        &join(&vpath, "name"),
                        "The environment variable name must not be empty.".to_string(),
                    ));
                }
                for key in ["value", "secureValue"] {
                    if let Some(v) = optional(eobj, key) {
                        string(v, &join(&vpath, key))?;
                    }
                }
            }
        }
        if let Some(cmd) = optional(pobj, "command") {
            let cmdpath = join(&ppath, "command");
            let arr = cmd.as_array().ok_or_else(|| {
                wrong_type(
                    &cmdpath,
                    "System.Collections.Generic.List`1[System.String]",
                    cmd,
                )
            })?;
            for (j, s) in arr.iter().enumerate() {
                string(s, &format!("{cmdpath}[{j}]"))?;
            }
        }
    }

    let os_type = enum_value(
        required(props, "osType", "properties")?,
        "properties.osType",
        "OperatingSystemTypes",
        &["Linux", "Windows"],
    )?;
    let restart_policy = match optional(props, "restartPolicy") {
        Some(v) => Some(enum_value(
            v,
            "properties.restartPolicy",
            "ContainerGroupRestartPolicy",
            &["Always", "OnFailure", "Never"],
        )?),
        None => None,
    };

    let mut public_ip = false;
    if let Some(ip) = optional(props, "ipAddress") {
        let ipath = "properties.ipAddress";
        let iobj = object(ip, ipath, "IpAddress")?;
        let ty = enum_value(
            required(iobj, "type", ipath)?,
            "properties.ipAddress.type",
            "ContainerGroupIpAddressType",
            &["Public", "Private"],
        )?;
        public_ip = ty == "Public";
        let mut ip_ports = BTreeSet::new();
        let n = ports(
            required(iobj, "ports", ipath)?,
            "properties.ipAddress.ports",
            &mut ip_ports,
        )?;
        if n == 0 {
            return Err(bad(
                "properties.ipAddress.ports",
                "The IP address of a container group must expose at least one port.".to_string(),
            ));
        }
        if let Some(label) = optional(iobj, "dnsNameLabel") {
            string(label, "properties.ipAddress.dnsNameLabel")?;
        }
        if let Some((port, proto)) = ip_ports.iter().find(|p| !exposed.contains(p)) {
            return Err(Invalid {
                code: "InvalidIpAddressPorts",
                message: format!(
                    "The port '{port}' ({proto}) of the container group IP address is not exposed by any container of the group. Path 'properties.ipAddress.ports'."
                ),
            });
        }
    }

    // What gets stored and echoed: as sent, minus read-only fields and secret values.
    let mut properties = props.clone();
    properties.remove("provisioningState");
    properties.remove("instanceView");
    properties.insert("osType".into(), Value::String(os_type.into()));
    if let Some(rp) = restart_policy {
        properties.insert("restartPolicy".into(), Value::String(rp.into()));
    }
    if let Some(Value::Object(ip)) = properties.get_mut("ipAddress") {
        ip.remove("ip");
        ip.remove("fqdn");
    }
    let mut env = Vec::new();
    if let Some(Value::Array(cs)) = properties.get_mut("containers") {
        for c in cs {
            let cname = c["name"].as_str().unwrap_or_default().to_owned();
            let vars = c["properties"]["environmentVariables"]
                .as_array()
                .map(|vs| {
                    vs.iter()
                        .filter_map(|v| {
                            let name = v["name"].as_str()?.to_owned();
                            let value = v["secureValue"].as_str().or(v["value"].as_str())?;
                            Some((name, value.to_owned()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            env.push((cname, vars));
            if let Some(Value::Object(p)) = c.get_mut("properties") {
                p.remove("instanceView");
                if let Some(Value::Array(envs)) = p.get_mut("environmentVariables") {
                    for e in envs {
                        if let Value::Object(eo) = e {
                            eo.remove("secureValue");
                        }
                    }
                }
            }
        }
    }

    Ok(ValidGroup {
        location,
        tags,
        properties,
        containers: names,
        env,
        public_ip,
        failing_image,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "location": "West Europe",
            "tags": {"fleet": "demo"},
            "properties": {
                "osType": "Linux",
                "containers": [{
                    "name": "game",
                    "properties": {
                        "image": "ghcr.io/x/game:1",
                        "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}},
                        "ports": [{"port": 25565, "protocol": "TCP"}],
                        "environmentVariables": [
                            {"name": "MODE", "value": "pvp"},
                            {"name": "TOKEN", "secureValue": "s3cret"}
                        ]
                    }
                }],
                "ipAddress": {"type": "Public", "ports": [{"port": 25565, "protocol": "TCP"}]}
            }
        })
    }

    #[test]
    fn accepts_and_normalises() {
        let g = validate_body(&good()).expect("valid");
        assert_eq!(g.location, "westeurope");
        assert!(g.public_ip);
        assert_eq!(g.containers, vec!["game".to_string()]);
        let env = &g.properties["containers"][0]["properties"]["environmentVariables"];
        assert_eq!(env[1], json!({"name": "TOKEN"}));
    }

    #[test]
    fn flattened_container_names_properties() {
        let mut b = good();
        b["properties"]["containers"][0] = json!({"name": "game", "image": "x", "resources": {}});
        let e = validate_body(&b).expect_err("flattened");
        assert_eq!(e.code, "InvalidRequestContent");
        assert!(
            e.message.contains(
                "Required property 'properties' not found in JSON. Path 'properties.containers[0]'"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn rejects_bad_fields() {
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|b| {
                    b.as_object_mut().map(|o| o.remove("location"));
                }),
                "location",
            ),
            (
                Box::new(|b| b["properties"]["osType"] = json!("Plan9")),
                "properties.osType",
            ),
            (
                Box::new(|b| b["properties"]["containers"] = json!([])),
                "properties.containers",
            ),
            (
                Box::new(|b| {
                    b["properties"]["containers"][0]["properties"]["resources"]["requests"]["cpu"] =
                        json!(0)
                }),
                "requests.cpu",
            ),
            (
                Box::new(|b| {
                    b["properties"]["containers"][0]["properties"]["ports"][0]["port"] =
                        json!(70000)
                }),
                "ports[0].port",
            ),
            (
                Box::new(|b| b["properties"]["ipAddress"]["ports"] = json!([{"port": 80}])),
                "ipAddress.ports",
            ),
            (
                Box::new(|b| b["properties"]["ipAddress"]["type"] = json!("Elastic")),
                "ipAddress.type",
            ),
            (Box::new(|b| b["tags"]["n"] = json!(5)), "tags.n"),
            (
                Box::new(|b| b["properties"]["containers"][0]["properties"]["image"] = json!("")),
                "properties.image",
            ),
        ];
        for (mutate, path) in cases {
            let mut b = good();
            mutate(&mut b);
            let e = validate_body(&b).expect_err(path);
            assert!(e.message.contains(path), "{path}: {}", e.message);
        }
    }

    #[test]
    fn names() {
        assert!(validate_group_name("cg-job-0001").is_ok());
        for n in ["", "-a", "a-", "Upper", "a_b", &"a".repeat(64)] {
            assert!(validate_group_name(n).is_err(), "{n}");
        }
    }
}
