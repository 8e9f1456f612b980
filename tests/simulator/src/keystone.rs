//! Test fixtures in a REAL Keystone (the one `scripts/keystone.sh up` runs): regions,
//! the `compute` service and its endpoints pointing at a [`NovaSim`](crate::nova::NovaSim),
//! projects, users with a password and a role, application credentials, token
//! revocation, and the `OS_*` variables / `clouds.yaml` a client under test reads.
//!
//! Every name a test creates starts with `gft-<unix seconds>-`; the first connection
//! of a process deletes such objects older than [`STALE_AFTER`], so the persistent
//! Keystone database (and every token's catalog) does not grow run after run.
//!
//! Where Keystone is: `KEYSTONE_URL`, `KEYSTONE_ADMIN_USER`, `KEYSTONE_ADMIN_PASSWORD`,
//! `KEYSTONE_ADMIN_PROJECT` (exported by `scripts/test`), otherwise the env file
//! `scripts/keystone.sh up` writes at its default place (`.local/keystone/env`).
//! A test that needs Keystone and cannot reach it FAILS, saying to run
//! `scripts/keystone.sh up`; it is skipped only when `GAMEFLEET_SKIP_KEYSTONE=1` is set
//! (never in CI).

use crate::nova::ServiceCredentials;
use serde_json::{json, Value};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, OnceCell};

/// Fixture objects older than this are deleted by the first connection of a process.
pub const STALE_AFTER: Duration = Duration::from_secs(3600);
/// Prefix of every name a fixture creates.
pub const PREFIX: &str = "gft-";
/// Name of the one `compute` service the fixtures register endpoints for.
pub const COMPUTE_SERVICE: &str = "gamefleet-nova-sim";
/// Set to `1` to let Keystone tests skip when Keystone is not there.
pub const SKIP_VAR: &str = "GAMEFLEET_SKIP_KEYSTONE";

/// What went wrong talking to Keystone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeystoneError {
    /// No answer (not started, wrong port).
    Unreachable(String),
    /// An answer other than the one expected.
    Status {
        what: String,
        status: u16,
        message: String,
    },
    /// A 2xx answer without what it should hold.
    Body(String),
}

impl fmt::Display for KeystoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeystoneError::Unreachable(e) => write!(f, "Keystone unreachable: {e}"),
            KeystoneError::Status {
                what,
                status,
                message,
            } => write!(f, "Keystone: {what} answered {status}: {message}"),
            KeystoneError::Body(e) => write!(f, "Keystone: {e}"),
        }
    }
}

impl std::error::Error for KeystoneError {}

type Result<T> = std::result::Result<T, KeystoneError>;

/// The bootstrap admin (`keystone-manage bootstrap`).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    pub username: String,
    pub password: String,
    pub project_name: String,
}

impl fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("project_name", &self.project_name)
            .finish()
    }
}

/// An application credential (the secret is only ever shown at creation).
#[derive(Clone, PartialEq, Eq)]
pub struct ApplicationCredential {
    pub id: String,
    pub name: String,
    pub secret: String,
}

impl fmt::Debug for ApplicationCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplicationCredential")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Everything a test needs to act as one OpenStack user of one project in one region
/// whose `compute` endpoints (public and internal) point at a Nova simulator.
/// `Debug` leaves the password and the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Keystone's v3 URL (`OS_AUTH_URL`).
    pub auth_url: String,
    pub region: String,
    pub compute_url: String,
    /// `default` for all of them.
    pub domain_id: String,
    pub project_id: String,
    pub project_name: String,
    pub user_id: String,
    pub user_name: String,
    pub password: String,
    pub role: String,
    pub app_credential: ApplicationCredential,
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("auth_url", &self.auth_url)
            .field("region", &self.region)
            .field("compute_url", &self.compute_url)
            .field("project_id", &self.project_id)
            .field("project_name", &self.project_name)
            .field("user_id", &self.user_id)
            .field("user_name", &self.user_name)
            .field("role", &self.role)
            .field("app_credential", &self.app_credential)
            .finish_non_exhaustive()
    }
}

/// How a client authenticates (`OS_AUTH_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `password`: user name + password + project, scoped token.
    Password,
    /// `v3applicationcredential`: id + secret; the token is scoped to the creator's project.
    ApplicationCredential,
}

/// The `OS_*` variables the `openstack` CLI (and openstacksdk / keystoneauth) reads
/// for `method`, region and public interface included.
pub fn openstack_env(tenant: &Tenant, method: AuthMethod) -> Vec<(String, String)> {
    let mut env = vec![
        ("OS_AUTH_URL", tenant.auth_url.clone()),
        ("OS_IDENTITY_API_VERSION", "3".into()),
        ("OS_REGION_NAME", tenant.region.clone()),
        ("OS_INTERFACE", "public".into()),
    ];
    match method {
        AuthMethod::Password => env.extend([
            ("OS_AUTH_TYPE", "password".into()),
            ("OS_USERNAME", tenant.user_name.clone()),
            ("OS_PASSWORD", tenant.password.clone()),
            ("OS_USER_DOMAIN_ID", tenant.domain_id.clone()),
            ("OS_PROJECT_NAME", tenant.project_name.clone()),
            ("OS_PROJECT_DOMAIN_ID", tenant.domain_id.clone()),
        ]),
        AuthMethod::ApplicationCredential => env.extend([
            ("OS_AUTH_TYPE", "v3applicationcredential".into()),
            (
                "OS_APPLICATION_CREDENTIAL_ID",
                tenant.app_credential.id.clone(),
            ),
            (
                "OS_APPLICATION_CREDENTIAL_SECRET",
                tenant.app_credential.secret.clone(),
            ),
        ]),
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn yaml_str(s: &str) -> String {
    // JSON strings are valid YAML double-quoted scalars.
    Value::String(s.to_string()).to_string()
}

/// A `clouds.yaml` with two clouds: `<cloud>` (password) and `<cloud>-appcred`
/// (application credential). Use it with `OS_CLIENT_CONFIG_FILE=<path>` and
/// `OS_CLOUD=<cloud>` (see [`Tenant::clouds_env`]).
pub fn clouds_yaml(tenant: &Tenant, cloud: &str) -> String {
    let t = tenant;
    let q = yaml_str;
    format!(
        "clouds:\n  {cloud}:\n    auth_type: password\n    auth:\n      auth_url: {}\n      username: {}\n      password: {}\n      user_domain_id: {}\n      project_name: {}\n      project_domain_id: {}\n    region_name: {}\n    interface: public\n    identity_api_version: 3\n  {cloud}-appcred:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: {}\n      application_credential_id: {}\n      application_credential_secret: {}\n    region_name: {}\n    interface: public\n    identity_api_version: 3\n",
        q(&t.auth_url),
        q(&t.user_name),
        q(&t.password),
        q(&t.domain_id),
        q(&t.project_name),
        q(&t.domain_id),
        q(&t.region),
        q(&t.auth_url),
        q(&t.app_credential.id),
        q(&t.app_credential.secret),
        q(&t.region),
    )
}

impl Tenant {
    /// [`openstack_env`] for this tenant.
    pub fn openstack_env(&self, method: AuthMethod) -> Vec<(String, String)> {
        openstack_env(self, method)
    }

    /// Writes [`clouds_yaml`] to `dir/clouds.yaml` and returns `OS_CLIENT_CONFIG_FILE`
    /// and `OS_CLOUD` (`<cloud>` for the password cloud, `<cloud>-appcred` for the other).
    pub fn clouds_env(
        &self,
        dir: &std::path::Path,
        cloud: &str,
        method: AuthMethod,
    ) -> std::io::Result<Vec<(String, String)>> {
        let path = dir.join("clouds.yaml");
        std::fs::write(&path, clouds_yaml(self, cloud))?;
        let name = match method {
            AuthMethod::Password => cloud.to_string(),
            AuthMethod::ApplicationCredential => format!("{cloud}-appcred"),
        };
        Ok(vec![
            ("OS_CLIENT_CONFIG_FILE".into(), path.display().to_string()),
            ("OS_CLOUD".into(), name),
        ])
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `gft-<unix seconds>-<pid>-<n>-<label>`: unique per process and call, and dated for
/// the stale sweep.
pub fn unique_name(label: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let label: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    format!(
        "{PREFIX}{}-{}-{}-{label}",
        unix_now(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The creation time a fixture name carries.
fn created_at(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// An admin connection to Keystone.
pub struct Keystone {
    url: String,
    admin: AdminCredentials,
    http: reqwest::Client,
    token: Mutex<Option<String>>,
    service_id: OnceCell<String>,
}

impl fmt::Debug for Keystone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keystone")
            .field("url", &self.url)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

fn env_file_vars() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.local/keystone/env");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

/// The v3 URL from a URL with or without `/v3`.
fn v3(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.ends_with("/v3") {
        url.to_string()
    } else {
        format!("{url}/v3")
    }
}

static SWEPT: OnceCell<()> = OnceCell::const_new();

impl Keystone {
    /// Where Keystone is and who the admin is: `KEYSTONE_URL` and
    /// `KEYSTONE_ADMIN_{USER,PASSWORD,PROJECT}` (defaults admin / admin-secret / admin),
    /// else the env file of `scripts/keystone.sh up` at its default place. `None` if
    /// neither says where.
    pub fn location() -> Option<(String, AdminCredentials)> {
        let file = env_file_vars();
        let get = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| file.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        };
        let url = get("KEYSTONE_URL")?;
        Some((
            v3(&url),
            AdminCredentials {
                username: get("KEYSTONE_ADMIN_USER").unwrap_or_else(|| "admin".into()),
                password: get("KEYSTONE_ADMIN_PASSWORD").unwrap_or_else(|| "admin-secret".into()),
                project_name: get("KEYSTONE_ADMIN_PROJECT").unwrap_or_else(|| "admin".into()),
            },
        ))
    }

    /// The Keystone of the test run ([`Keystone::location`]), connected as admin.
    ///
    /// # Panics
    /// When it is not configured or does not answer, with a message saying to run
    /// `scripts/keystone.sh up` — unless `GAMEFLEET_SKIP_KEYSTONE=1`, then it prints
    /// that the test is skipped and returns `None`.
    pub async fn for_tests() -> Option<Keystone> {
        let outcome = match Self::location() {
            None => {
                Err("KEYSTONE_URL is not set and .local/keystone/env does not exist".to_string())
            }
            Some((url, admin)) => Keystone::connect(&url, admin)
                .await
                .map_err(|e| format!("{url}: {e}")),
        };
        match outcome {
            Ok(ks) => Some(ks),
            Err(why) if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") => {
                eprintln!("SKIPPED: this test needs Keystone ({why}); {SKIP_VAR}=1 is set");
                None
            }
            Err(why) => panic!(
                "this test needs a real Keystone: {why}.\n  Run `scripts/keystone.sh up` (scripts/test does it for you), \
                 or set {SKIP_VAR}=1 to skip the Keystone tests on purpose."
            ),
        }
    }

    /// Connects as `admin` to `url` (with or without `/v3`): gets an admin token, and
    /// once per process deletes stale fixture objects (see the module doc).
    pub async fn connect(url: &str, admin: AdminCredentials) -> Result<Keystone> {
        let ks = Keystone {
            url: v3(url),
            admin,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| KeystoneError::Unreachable(e.to_string()))?,
            token: Mutex::new(None),
            service_id: OnceCell::new(),
        };
        ks.admin_token().await?;
        SWEPT
            .get_or_try_init(|| async {
                let n = ks.delete_stale(STALE_AFTER).await?;
                if n > 0 {
                    eprintln!("keystone fixtures: deleted {n} stale test objects");
                }
                Ok::<(), KeystoneError>(())
            })
            .await?;
        Ok(ks)
    }

    /// Keystone's v3 URL (`OS_AUTH_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn admin(&self) -> &AdminCredentials {
        &self.admin
    }

    /// The admin account as the token-validating account of a Nova simulator.
    pub fn service_credentials(&self) -> ServiceCredentials {
        ServiceCredentials {
            auth_url: self.url.clone(),
            username: self.admin.username.clone(),
            password: self.admin.password.clone(),
            project_name: self.admin.project_name.clone(),
            user_domain_id: "default".into(),
            project_domain_id: "default".into(),
        }
    }

    // ------------------------------------------------------------ tokens

    /// A project-scoped admin token (fetched once, renewed when refused).
    pub async fn admin_token(&self) -> Result<String> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let t = self
            .password_token_for(
                &self.admin.username,
                &self.admin.password,
                &self.admin.project_name,
            )
            .await?;
        *slot = Some(t.clone());
        Ok(t)
    }

    async fn auth(&self, what: &str, body: Value) -> Result<(String, Value)> {
        let r = self
            .http
            .post(format!("{}/auth/tokens", self.url))
            .json(&body)
            .send()
            .await
            .map_err(|e| KeystoneError::Unreachable(e.to_string()))?;
        let status = r.status().as_u16();
        let token = r
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let v: Value = r.json().await.unwrap_or(Value::Null);
        match (status, token) {
            (201, Some(t)) => Ok((t, v)),
            _ => Err(KeystoneError::Status {
                what: what.to_string(),
                status,
                message: v["error"]["message"].as_str().unwrap_or("").to_string(),
            }),
        }
    }

    /// A token for `user` (domain `default`) scoped to `project` (domain `default`).
    pub async fn password_token_for(
        &self,
        user: &str,
        password: &str,
        project: &str,
    ) -> Result<String> {
        let body = json!({ "auth": {
            "identity": { "methods": ["password"], "password": { "user": {
                "name": user, "domain": { "id": "default" }, "password": password } } },
            "scope": { "project": { "name": project, "domain": { "id": "default" } } }
        }});
        Ok(self
            .auth(&format!("password login of {user}"), body)
            .await?
            .0)
    }

    /// A password token of the tenant's user, scoped to its project.
    pub async fn password_token(&self, tenant: &Tenant) -> Result<String> {
        self.password_token_for(&tenant.user_name, &tenant.password, &tenant.project_name)
            .await
    }

    /// A token from the tenant's application credential.
    pub async fn app_credential_token(&self, tenant: &Tenant) -> Result<String> {
        let ac = &tenant.app_credential;
        let body = json!({ "auth": { "identity": {
            "methods": ["application_credential"],
            "application_credential": { "id": ac.id, "secret": ac.secret } } } });
        Ok(self.auth("application credential login", body).await?.0)
    }

    /// An explicitly unscoped token of the tenant's user (without `"scope": "unscoped"`
    /// Keystone scopes to the default project). Nova refuses it with 403.
    pub async fn unscoped_token(&self, tenant: &Tenant) -> Result<String> {
        let body = json!({ "auth": { "identity": { "methods": ["password"], "password": { "user": {
            "id": tenant.user_id, "password": tenant.password } } }, "scope": "unscoped" } });
        Ok(self.auth("unscoped password login", body).await?.0)
    }

    /// Revokes `token` (`DELETE /v3/auth/tokens`); validating it answers 404 afterwards.
    pub async fn revoke_token(&self, token: &str) -> Result<()> {
        let admin = self.admin_token().await?;
        let r = self
            .http
            .delete(format!("{}/auth/tokens", self.url))
            .header("X-Auth-Token", admin)
            .header("X-Subject-Token", token)
            .send()
            .await
            .map_err(|e| KeystoneError::Unreachable(e.to_string()))?;
        match r.status().as_u16() {
            204 => Ok(()),
            s => Err(KeystoneError::Status {
                what: "token revocation".into(),
                status: s,
                message: r.text().await.unwrap_or_default(),
            }),
        }
    }

    // ------------------------------------------------------------ admin calls

    /// One admin request; `ok` lists the statuses that count as success.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        ok: &[u16],
    ) -> Result<(u16, Value)> {
        let what = format!("{method} {path}");
        for attempt in 0..2 {
            let token = self.admin_token().await?;
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.url))
                .header("X-Auth-Token", token);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let r = req
                .send()
                .await
                .map_err(|e| KeystoneError::Unreachable(e.to_string()))?;
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status == 401 && attempt == 0 {
                *self.token.lock().await = None;
                continue;
            }
            if ok.contains(&status) {
                return Ok((status, v));
            }
            return Err(KeystoneError::Status {
                what,
                status,
                message: v["error"]["message"].as_str().map_or(text, str::to_string),
            });
        }
        unreachable!("the loop returns on its second pass")
    }

    fn id_of(v: &Value, kind: &str) -> Result<String> {
        v[kind]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| KeystoneError::Body(format!("no {kind}.id in {v}")))
    }

    /// The id of the first `kind` (plural `list`) named `name`, if any.
    async fn find(&self, list: &str, name: &str) -> Result<Option<String>> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("name", name)
            .finish();
        let (_, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/{list}?{query}"),
                None,
                &[200],
            )
            .await?;
        Ok(v[list]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|o| o["id"].as_str())
            .map(str::to_string))
    }

    /// Creates region `id` unless it exists.
    pub async fn ensure_region(&self, id: &str) -> Result<()> {
        let body = json!({ "region": { "id": id, "description": "gamefleet-sim test fixture" } });
        self.call(reqwest::Method::POST, "/regions", Some(body), &[201, 409])
            .await
            .map(drop)
    }

    /// The id of the `compute` service [`COMPUTE_SERVICE`], created if missing.
    pub async fn ensure_compute_service(&self) -> Result<String> {
        self.service_id
            .get_or_try_init(|| async {
                // Serialised across the Keystone handles of one process, so parallel
                // tests do not create it twice.
                static CREATING: Mutex<()> = Mutex::const_new(());
                let _one = CREATING.lock().await;
                let (_, v) = self
                    .call(reqwest::Method::GET, "/services?type=compute", None, &[200])
                    .await?;
                let found = v["services"].as_array().and_then(|a| {
                    a.iter()
                        .find(|s| s["name"] == COMPUTE_SERVICE)
                        .and_then(|s| s["id"].as_str())
                        .map(str::to_string)
                });
                if let Some(id) = found {
                    return Ok(id);
                }
                let body = json!({ "service": { "type": "compute", "name": COMPUTE_SERVICE, "enabled": true,
                    "description": "Nova simulator of the gamefleet tests" } });
                let (_, v) = self
                    .call(reqwest::Method::POST, "/services", Some(body), &[201])
                    .await?;
                Self::id_of(&v, "service")
            })
            .await
            .cloned()
    }

    /// Public and internal `compute` endpoints in `region` with `url`; existing ones
    /// with another URL are updated.
    pub async fn ensure_compute_endpoints(&self, region: &str, url: &str) -> Result<()> {
        let service = self.ensure_compute_service().await?;
        self.ensure_region(region).await?;
        let (_, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/endpoints?service_id={service}&region_id={region}"),
                None,
                &[200],
            )
            .await?;
        let existing = v["endpoints"].as_array().cloned().unwrap_or_default();
        for interface in ["public", "internal"] {
            match existing.iter().find(|e| e["interface"] == interface) {
                Some(e) if e["url"] == url => {}
                Some(e) => {
                    let id = e["id"].as_str().unwrap_or_default();
                    let body = json!({ "endpoint": { "url": url } });
                    self.call(
                        reqwest::Method::PATCH,
                        &format!("/endpoints/{id}"),
                        Some(body),
                        &[200],
                    )
                    .await?;
                }
                None => {
                    let body = json!({ "endpoint": { "service_id": service, "interface": interface,
                        "region_id": region, "url": url, "enabled": true } });
                    self.call(reqwest::Method::POST, "/endpoints", Some(body), &[201])
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// The id of project `name` in domain `default`, created if missing.
    pub async fn ensure_project(&self, name: &str) -> Result<String> {
        if let Some(id) = self.find("projects", name).await? {
            return Ok(id);
        }
        let body = json!({ "project": { "name": name, "domain_id": "default",
            "description": "gamefleet-sim test fixture", "enabled": true } });
        match self
            .call(reqwest::Method::POST, "/projects", Some(body), &[201, 409])
            .await?
        {
            (201, v) => Self::id_of(&v, "project"),
            _ => self.find("projects", name).await?.ok_or_else(|| {
                KeystoneError::Body(format!("project {name} conflicts but is not listed"))
            }),
        }
    }

    /// The id of user `name` in domain `default` with `password` (set again if the
    /// user exists) and default project `project_id`, created if missing.
    pub async fn ensure_user(
        &self,
        name: &str,
        password: &str,
        project_id: &str,
    ) -> Result<String> {
        let user = json!({ "name": name, "domain_id": "default", "password": password,
            "default_project_id": project_id, "enabled": true });
        if let Some(id) = self.find("users", name).await? {
            self.call(
                reqwest::Method::PATCH,
                &format!("/users/{id}"),
                Some(json!({ "user": { "password": password, "default_project_id": project_id } })),
                &[200],
            )
            .await?;
            return Ok(id);
        }
        let (_, v) = self
            .call(
                reqwest::Method::POST,
                "/users",
                Some(json!({ "user": user })),
                &[201],
            )
            .await?;
        Self::id_of(&v, "user")
    }

    /// Gives `user_id` role `role` (`member`, `reader`, `admin`, ...) on `project_id`
    /// (idempotent).
    pub async fn grant_role(&self, project_id: &str, user_id: &str, role: &str) -> Result<()> {
        let role_id = self
            .find("roles", role)
            .await?
            .ok_or_else(|| KeystoneError::Body(format!("no role named {role}")))?;
        self.call(
            reqwest::Method::PUT,
            &format!("/projects/{project_id}/users/{user_id}/roles/{role_id}"),
            None,
            &[204],
        )
        .await
        .map(drop)
    }

    /// Creates an application credential of the user (only the user itself may):
    /// logs in as `user`/`password` scoped to `project`, then
    /// `POST /v3/users/{id}/application_credentials`.
    pub async fn create_application_credential(
        &self,
        user_id: &str,
        user: &str,
        password: &str,
        project: &str,
        name: &str,
    ) -> Result<ApplicationCredential> {
        let token = self.password_token_for(user, password, project).await?;
        let r = self
            .http
            .post(format!(
                "{}/users/{user_id}/application_credentials",
                self.url
            ))
            .header("X-Auth-Token", token)
            .json(&json!({ "application_credential": { "name": name,
                "description": "gamefleet-sim test fixture" } }))
            .send()
            .await
            .map_err(|e| KeystoneError::Unreachable(e.to_string()))?;
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status != 201 {
            return Err(KeystoneError::Status {
                what: "application credential creation".into(),
                status,
                message: v["error"]["message"].as_str().unwrap_or("").to_string(),
            });
        }
        let ac = &v["application_credential"];
        match (ac["id"].as_str(), ac["secret"].as_str()) {
            (Some(id), Some(secret)) => Ok(ApplicationCredential {
                id: id.to_string(),
                name: name.to_string(),
                secret: secret.to_string(),
            }),
            _ => Err(KeystoneError::Body(format!(
                "application credential without id/secret: {v}"
            ))),
        }
    }

    /// A complete tenant for one test (`label` names it): a fresh region with public and
    /// internal `compute` endpoints at `compute_url`, a project, a user with a random
    /// password and role `member` on it, and an application credential of that user.
    pub async fn tenant(&self, label: &str, compute_url: &str) -> Result<Tenant> {
        self.tenant_with_role(label, compute_url, "member").await
    }

    /// [`Keystone::tenant`] with another role (`reader` to test Nova's 403, `admin`).
    pub async fn tenant_with_role(
        &self,
        label: &str,
        compute_url: &str,
        role: &str,
    ) -> Result<Tenant> {
        let name = unique_name(label);
        self.ensure_compute_endpoints(&name, compute_url).await?;
        let project_id = self.ensure_project(&name).await?;
        let password = format!("pw-{:016x}", fastrand::u64(..));
        let user_id = self.ensure_user(&name, &password, &project_id).await?;
        self.grant_role(&project_id, &user_id, role).await?;
        let app_credential = self
            .create_application_credential(&user_id, &name, &password, &name, &name)
            .await?;
        Ok(Tenant {
            auth_url: self.url.clone(),
            region: name.clone(),
            compute_url: compute_url.to_string(),
            domain_id: "default".into(),
            project_id,
            project_name: name.clone(),
            user_id,
            user_name: name,
            password,
            role: role.to_string(),
            app_credential,
        })
    }

    /// Deletes fixture users, projects, endpoints and regions (names from
    /// [`unique_name`]) created more than `older_than` ago; returns how many.
    pub async fn delete_stale(&self, older_than: Duration) -> Result<usize> {
        let cutoff = unix_now().saturating_sub(older_than.as_secs());
        let stale = |name: &str| created_at(name).is_some_and(|t| t < cutoff);
        let mut deleted = 0;
        for list in ["users", "projects"] {
            let (_, v) = self
                .call(reqwest::Method::GET, &format!("/{list}"), None, &[200])
                .await?;
            for o in v[list].as_array().into_iter().flatten() {
                if let (Some(id), Some(name)) = (o["id"].as_str(), o["name"].as_str()) {
                    if stale(name) {
                        self.call(
                            reqwest::Method::DELETE,
                            &format!("/{list}/{id}"),
                            None,
                            &[204, 404],
                        )
                        .await?;
                        deleted += 1;
                    }
                }
            }
        }
        let (_, v) = self
            .call(reqwest::Method::GET, "/endpoints", None, &[200])
            .await?;
        for e in v["endpoints"].as_array().into_iter().flatten() {
            if let (Some(id), Some(region)) = (e["id"].as_str(), e["region_id"].as_str()) {
                if stale(region) {
                    self.call(
                        reqwest::Method::DELETE,
                        &format!("/endpoints/{id}"),
                        None,
                        &[204, 404],
                    )
                    .await?;
                    deleted += 1;
                }
            }
        }
        let (_, v) = self
            .call(reqwest::Method::GET, "/regions", None, &[200])
            .await?;
        for r in v["regions"].as_array().into_iter().flatten() {
            if let Some(id) = r["id"].as_str().filter(|id| stale(id)) {
                self.call(
                    reqwest::Method::DELETE,
                    &format!("/regions/{id}"),
                    None,
                    &[204, 404, 409],
                )
                .await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Tenant {
        Tenant {
            auth_url: "http://127.0.0.1:5055/v3".into(),
            region: "gft-1-2-3-r".into(),
            compute_url: "http://127.0.0.1:9/v2.1".into(),
            domain_id: "default".into(),
            project_id: "p".into(),
            project_name: "proj".into(),
            user_id: "u".into(),
            user_name: "user".into(),
            password: "pa\"ss".into(),
            role: "member".into(),
            app_credential: ApplicationCredential {
                id: "ac".into(),
                name: "n".into(),
                secret: "s3cret".into(),
            },
        }
    }

    #[test]
    fn names_are_unique_and_dated() {
        let (a, b) = (unique_name("nova test"), unique_name("nova test"));
        assert_ne!(a, b);
        assert!(a.ends_with("-nova-test"), "{a}");
        let t = created_at(&a).expect("dated");
        assert!(t.abs_diff(unix_now()) < 5);
        assert_eq!(created_at("RegionOne"), None);
    }

    #[test]
    fn env_for_each_method() {
        let t = tenant();
        let get = |env: &[(String, String)], k: &str| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        };
        let pw = openstack_env(&t, AuthMethod::Password);
        assert_eq!(get(&pw, "OS_AUTH_TYPE").as_deref(), Some("password"));
        assert_eq!(get(&pw, "OS_PROJECT_NAME").as_deref(), Some("proj"));
        assert_eq!(get(&pw, "OS_REGION_NAME").as_deref(), Some("gft-1-2-3-r"));
        assert_eq!(get(&pw, "OS_APPLICATION_CREDENTIAL_ID"), None);
        let ac = openstack_env(&t, AuthMethod::ApplicationCredential);
        assert_eq!(
            get(&ac, "OS_AUTH_TYPE").as_deref(),
            Some("v3applicationcredential")
        );
        assert_eq!(
            get(&ac, "OS_APPLICATION_CREDENTIAL_SECRET").as_deref(),
            Some("s3cret")
        );
        assert_eq!(get(&ac, "OS_PASSWORD"), None);
        let yaml = clouds_yaml(&t, "gf");
        assert!(yaml.contains("  gf:\n    auth_type: password\n"), "{yaml}");
        assert!(yaml.contains("  gf-appcred:\n    auth_type: v3applicationcredential\n"));
        assert!(yaml.contains(r#"password: "pa\"ss""#), "{yaml}");
        assert!(!format!("{:?}", t.app_credential).contains("s3cret"));
    }

    #[test]
    fn v3_urls() {
        assert_eq!(v3("http://h:1"), "http://h:1/v3");
        assert_eq!(v3("http://h:1/v3/"), "http://h:1/v3");
    }
}
