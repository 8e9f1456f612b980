//! Keystone v3: who gamefleet is on an OpenStack cloud, and where its compute
//! endpoint is.
//!
//! Read from the variables the `openstack` CLI reads, or from `clouds.yaml`
//! with `OS_CLOUD` (`OS_CLIENT_CONFIG_FILE`, else `./clouds.yaml`,
//! `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml`):
//!
//! - `OS_AUTH_TYPE=password` (default): `OS_USERNAME` (or `OS_USER_ID`),
//!   `OS_PASSWORD`, `OS_USER_DOMAIN_NAME` / `_ID`, and a project scope:
//!   `OS_PROJECT_ID`, or `OS_PROJECT_NAME` + `OS_PROJECT_DOMAIN_NAME` / `_ID`;
//! - `OS_AUTH_TYPE=v3applicationcredential`: `OS_APPLICATION_CREDENTIAL_ID` +
//!   `_SECRET` (an application credential is scoped already: no scope is sent);
//! - `OS_AUTH_URL`, `OS_REGION_NAME`, `OS_INTERFACE` (`public` by default).
//!
//! The token is cached until 5 minutes before its `expires_at` (or half its
//! life, if shorter); a 401 from Nova drops it once and the request is sent
//! again with a new one. The compute endpoint comes from the token's catalog
//! (`type` compute, the interface, the region), unless `OPENSTACK_COMPUTE_ENDPOINT`
//! overrides it. Passwords and secrets are [`Secret`]s: never printed.

use crate::cloud::provider::Context;
use crate::cloud::transport::{self, Class, Outgoing, SendError, Transport};
use crate::lifecycle::PowerError;
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// How gamefleet logs in.
#[derive(Debug, Clone)]
pub enum LoginMethod {
    Password {
        user: Named,
        user_domain: Option<Named>,
        password: Secret,
        project: Option<Named>,
        project_domain: Option<Named>,
    },
    ApplicationCredential {
        id: String,
        secret: Secret,
    },
}

/// An id or a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    Id(String),
    Name(String),
}

impl Named {
    fn json(&self) -> Value {
        match self {
            Named::Id(id) => json!({"id": id}),
            Named::Name(n) => json!({"name": n}),
        }
    }
}

/// Everything needed to log in and find Nova.
#[derive(Debug, Clone)]
pub struct Settings {
    pub auth_url: url::Url,
    pub method: LoginMethod,
    pub region: Option<String>,
    pub interface: String,
    pub compute_override: Option<url::Url>,
}

fn config(m: impl Into<String>) -> PowerError {
    PowerError::Config(m.into())
}

/// A variable lookup (the environment, or a clouds.yaml cloud over it).
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// A string value of a clouds.yaml node.
fn yaml_str(y: &yaml_rust2::Yaml) -> Option<String> {
    match y {
        yaml_rust2::Yaml::String(s) => Some(s.clone()),
        yaml_rust2::Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Where clouds.yaml is looked for.
fn clouds_yaml_paths(ctx: &Context) -> Vec<std::path::PathBuf> {
    let mut paths = Vec::new();
    if let Some(p) = ctx.var("OS_CLIENT_CONFIG_FILE") {
        paths.push(p.into());
        return paths;
    }
    paths.push("clouds.yaml".into());
    if let Some(home) = ctx.var("HOME") {
        paths.push(std::path::Path::new(&home).join(".config/openstack/clouds.yaml"));
    }
    paths.push("/etc/openstack/clouds.yaml".into());
    paths
}

impl Settings {
    /// From the environment (`OS_CLOUD` → clouds.yaml, else `OS_*`).
    pub fn from_env(ctx: &Context) -> Result<Self, PowerError> {
        let get: Lookup<'_> = match ctx.var("OS_CLOUD") {
            Some(cloud) => {
                let paths = clouds_yaml_paths(ctx);
                let (path, text) = paths
                    .iter()
                    .find_map(|p| std::fs::read_to_string(p).ok().map(|t| (p.clone(), t)))
                    .ok_or_else(|| {
                        config(format!(
                            "OS_CLOUD={cloud}: no readable clouds.yaml (looked at {})",
                            paths
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                let docs = yaml_rust2::YamlLoader::load_from_str(&text)
                    .map_err(|e| config(format!("{}: not YAML: {e}", path.display())))?;
                let node = docs
                    .first()
                    .map(|d| d["clouds"][cloud.as_str()].clone())
                    .filter(|n| !n.is_badvalue())
                    .ok_or_else(|| {
                        config(format!("{}: no cloud named {cloud:?}", path.display()))
                    })?;
                let env_fallback = |k: &str| ctx.var(k);
                let lookup = move |k: &str| -> Option<String> {
                    let auth = &node["auth"];
                    let v = match k {
                        "OS_AUTH_URL" => yaml_str(&auth["auth_url"]),
                        "OS_USERNAME" => yaml_str(&auth["username"]),
                        "OS_USER_ID" => yaml_str(&auth["user_id"]),
                        "OS_PASSWORD" => yaml_str(&auth["password"]),
                        "OS_USER_DOMAIN_NAME" => yaml_str(&auth["user_domain_name"]),
                        "OS_USER_DOMAIN_ID" => yaml_str(&auth["user_domain_id"]),
                        "OS_PROJECT_ID" => yaml_str(&auth["project_id"]),
                        "OS_PROJECT_NAME" => yaml_str(&auth["project_name"]),
                        "OS_PROJECT_DOMAIN_NAME" => yaml_str(&auth["project_domain_name"]),
                        "OS_PROJECT_DOMAIN_ID" => yaml_str(&auth["project_domain_id"]),
                        "OS_APPLICATION_CREDENTIAL_ID" => {
                            yaml_str(&auth["application_credential_id"])
                        }
                        "OS_APPLICATION_CREDENTIAL_SECRET" => {
                            yaml_str(&auth["application_credential_secret"])
                        }
                        "OS_AUTH_TYPE" => yaml_str(&node["auth_type"]),
                        "OS_REGION_NAME" => yaml_str(&node["region_name"]),
                        "OS_INTERFACE" => yaml_str(&node["interface"]),
                        _ => None,
                    };
                    v.filter(|s| !s.trim().is_empty())
                };
                let env_vals: std::collections::HashMap<&str, Option<String>> =
                    ["OPENSTACK_COMPUTE_ENDPOINT"]
                        .into_iter()
                        .map(|k| (k, env_fallback(k)))
                        .collect();
                Box::new(move |k| lookup(k).or_else(|| env_vals.get(k).cloned().flatten()))
            }
            None => Box::new(|k| ctx.var(k)),
        };
        Self::from_lookup(&*get)
    }

    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, PowerError> {
        let need = |k: &str| get(k).ok_or_else(|| config(format!("{k} is not set")));
        let url = |k: &str, v: String| {
            url::Url::parse(v.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| config(format!("{k}={v:?} is not an http(s) URL")))
        };
        let auth_url = url("OS_AUTH_URL", need("OS_AUTH_URL")?)?;
        let named = |id: &str, name: &str| {
            get(id)
                .map(Named::Id)
                .or_else(|| get(name).map(Named::Name))
        };
        let method = match get("OS_AUTH_TYPE").as_deref().unwrap_or("password") {
            "password" | "v3password" => LoginMethod::Password {
                user: named("OS_USER_ID", "OS_USERNAME")
                    .ok_or_else(|| config("OS_USERNAME (or OS_USER_ID) is not set"))?,
                user_domain: named("OS_USER_DOMAIN_ID", "OS_USER_DOMAIN_NAME"),
                password: Secret::new(need("OS_PASSWORD")?),
                project: named("OS_PROJECT_ID", "OS_PROJECT_NAME"),
                project_domain: named("OS_PROJECT_DOMAIN_ID", "OS_PROJECT_DOMAIN_NAME"),
            },
            "v3applicationcredential" | "applicationcredential" => {
                LoginMethod::ApplicationCredential {
                    id: need("OS_APPLICATION_CREDENTIAL_ID")?,
                    secret: Secret::new(need("OS_APPLICATION_CREDENTIAL_SECRET")?),
                }
            }
            other => {
                return Err(config(format!(
                "OS_AUTH_TYPE={other:?} is not supported: use password or v3applicationcredential"
            )))
            }
        };
        if let LoginMethod::Password {
            project: Some(Named::Name(_)),
            project_domain: None,
            ..
        } = &method
        {
            return Err(config(
                "OS_PROJECT_NAME needs OS_PROJECT_DOMAIN_NAME (or OS_PROJECT_DOMAIN_ID)",
            ));
        }
        Ok(Self {
            auth_url,
            method,
            region: get("OS_REGION_NAME"),
            interface: get("OS_INTERFACE")
                .map(|i| i.trim_end_matches("URL").to_ascii_lowercase())
                .unwrap_or_else(|| "public".into()),
            compute_override: match get("OPENSTACK_COMPUTE_ENDPOINT") {
                Some(v) => Some(url("OPENSTACK_COMPUTE_ENDPOINT", v)?),
                None => None,
            },
        })
    }

    /// The body of `POST /v3/auth/tokens`.
    fn auth_body(&self) -> Value {
        match &self.method {
            LoginMethod::ApplicationCredential { id, secret } => json!({"auth": {"identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": id, "secret": secret.expose()}}}}),
            LoginMethod::Password {
                user,
                user_domain,
                password,
                project,
                project_domain,
            } => {
                let mut u = user.json();
                if let Some(d) = user_domain {
                    u["domain"] = d.json();
                }
                u["password"] = json!(password.expose());
                let mut body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": u}}}});
                if let Some(p) = project {
                    let mut scope = p.json();
                    if let (Named::Name(_), Some(d)) = (p, project_domain) {
                        scope["domain"] = d.json();
                    }
                    body["auth"]["scope"] = json!({"project": scope});
                }
                body
            }
        }
    }
}

/// A token and the compute endpoint its catalog names.
#[derive(Clone)]
pub struct Session {
    pub token: Secret,
    pub compute: url::Url,
    renew_at: DateTime<Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("compute", &self.compute.as_str())
            .field("renew_at", &self.renew_at)
            .finish()
    }
}

/// Logs in and keeps the token until shortly before it expires.
#[derive(Debug)]
pub struct Keystone {
    settings: Settings,
    transport: Transport,
    session: tokio::sync::Mutex<Option<Session>>,
}

struct NoAuth;

#[async_trait::async_trait]
impl transport::Authenticator<PowerError> for NoAuth {
    async fn authorize(&self, _req: &Outgoing) -> Result<Vec<(&'static str, String)>, PowerError> {
        Ok(Vec::new())
    }
}

impl Keystone {
    pub fn new(settings: Settings, transport: Transport) -> Self {
        Self {
            settings,
            transport,
            session: tokio::sync::Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The current session, logging in when there is none or it is due.
    pub async fn session(&self) -> Result<Session, PowerError> {
        let mut current = self.session.lock().await;
        if let Some(s) = current.as_ref().filter(|s| Utc::now() < s.renew_at) {
            return Ok(s.clone());
        }
        let fresh = self.login().await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drop the cached token (Nova refused it): the next call logs in again.
    pub async fn forget(&self) {
        *self.session.lock().await = None;
    }

    async fn login(&self) -> Result<Session, PowerError> {
        let mut url = self.settings.auth_url.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().extend(["auth", "tokens"]);
        }
        let req = Outgoing::new(Method::POST, url).json(&self.settings.auth_body());
        let r = match self.transport.send(&NoAuth, &req).await {
            Ok(r) => r,
            Err(SendError::Auth(e)) => return Err(e),
            Err(SendError::Unreachable(m)) => return Err(PowerError::Unavailable(m)),
        };
        if !r.is_success() {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let msg = v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| r.body_excerpt(200));
            let text = format!("Keystone refused the login ({}): {msg}", r.status.as_u16());
            return Err(match r.class() {
                Class::Unauthorized | Class::NotFound => PowerError::Unauthorized(text),
                class => transport::power_error(class, text),
            });
        }
        let token = r
            .header("x-subject-token")
            .ok_or_else(|| PowerError::Unavailable("Keystone answered no X-Subject-Token".into()))?
            .to_owned();
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| {
            PowerError::Unavailable(format!("Keystone's token body is not JSON: {e}"))
        })?;
        let expires = v
            .pointer("/token/expires_at")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc::now() + chrono::Duration::hours(1));
        let life = (expires - Utc::now()).max(chrono::Duration::zero());
        let margin = chrono::Duration::minutes(5).min(life / 2);
        let compute = match &self.settings.compute_override {
            Some(u) => u.clone(),
            None => self.compute_from_catalog(&v)?,
        };
        Ok(Session {
            token: Secret::new(token),
            compute,
            renew_at: expires - margin,
        })
    }

    fn compute_from_catalog(&self, v: &Value) -> Result<url::Url, PowerError> {
        let want_region = self.settings.region.as_deref();
        let iface = self.settings.interface.as_str();
        let catalog = v
            .pointer("/token/catalog")
            .and_then(Value::as_array)
            .ok_or_else(|| config("the token has no catalog: set OPENSTACK_COMPUTE_ENDPOINT"))?;
        let endpoint = catalog
            .iter()
            .filter(|s| s.get("type").and_then(Value::as_str) == Some("compute"))
            .flat_map(|s| {
                s.get("endpoints")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .find(|e| {
                e.get("interface").and_then(Value::as_str) == Some(iface)
                    && want_region.is_none_or(|r| {
                        e.get("region_id").and_then(Value::as_str) == Some(r)
                            || e.get("region").and_then(Value::as_str) == Some(r)
                    })
            })
            .and_then(|e| e.get("url").and_then(Value::as_str))
            .ok_or_else(|| {
                config(format!(
                    "the catalog has no {iface} compute endpoint{}",
                    want_region
                        .map(|r| format!(" in region {r}"))
                        .unwrap_or_default()
                ))
            })?;
        url::Url::parse(endpoint)
            .map_err(|e| PowerError::Unavailable(format!("compute endpoint {endpoint:?}: {e}")))
    }
}

/// The per-request timeout of Keystone and Nova calls.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
