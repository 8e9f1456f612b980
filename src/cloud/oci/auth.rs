//! Who signs OCI requests: an API key from an OCI config file, the resource
//! principal (v2.2) OCI Functions hands a function in its environment, or the
//! instance principal of the OCI instance gamefleet runs on
//! ([`super::instance_principal`]).
//!
//! [`from_env`] picks one, reading the environment through an injected lookup.
//! `OCI_AUTH` names it; unset, the first that applies wins:
//!
//! 1. resource principal, when `OCI_RESOURCE_PRINCIPAL_VERSION` is set;
//! 2. API key, when `OCI_CONFIG_FILE` is set (it must then be readable) or
//!    `~/.oci/config` exists;
//! 3. instance principal (the metadata service of the instance we run on).
//!
//! This is the OCI start-compute seed's order (resource principal inside OCI
//! Functions, else the instance's own identity), with a config file — which
//! someone put there on purpose — before the metadata service.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OCI_AUTH` | `resource_principal`, `api_key` (or `config_file`), `instance_principal` (`-` or `_`) | the order above |
//! | `OCI_RESOURCE_PRINCIPAL_VERSION` | set ⇒ resource principal (only `2.2`) | unset |
//! | `OCI_RESOURCE_PRINCIPAL_RPST` | session token (JWT), literal or absolute path | required for RP |
//! | `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM` | its private key, literal PEM or absolute path | required for RP |
//! | `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE` | key passphrase, a path when the key is one | none |
//! | `OCI_RESOURCE_PRINCIPAL_REGION` | region | required for RP |
//! | `OCI_CONFIG_FILE` | OCI config file | `~/.oci/config` |
//! | `OCI_CONFIG_PROFILE` | its profile | `DEFAULT` |
//! | `HOME` | for `~` | required when `~` is used |
//! | `OCI_METADATA_ENDPOINT` | instance metadata service (instance principal) | `http://169.254.169.254` |
//! | `OCI_FEDERATION_ENDPOINT` | auth service base URL (instance principal) | `https://auth.<region>.<realm domain>` |
//!
//! Errors name the variable, file, profile, key or endpoint at fault, never a
//! key, passphrase or token.

pub use super::credentials::{
    jwt_expiry, load_private_key, Credentials, Env, Identity, REFRESH_BEFORE_EXPIRY,
};
use super::instance_principal::{self, InstancePrincipal};
use super::sign::PrivateKey;
use crate::cloud::retry::Backoff;
use crate::lifecycle::PowerError;
use async_trait::async_trait;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Which principal the environment asks for (the synchronous half of [`from_env`]).
pub enum Principal {
    /// API key or resource principal: read, ready to sign.
    Ready(Arc<dyn Credentials>),
    /// Instance principal: the metadata service still has to be asked.
    Instance(instance_principal::Settings),
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Ready(c) => f.debug_tuple("Ready").field(c).finish(),
            Principal::Instance(s) => f.debug_tuple("Instance").field(s).finish(),
        }
    }
}

/// The credentials the environment names ([`select`]); an instance principal
/// federates here (metadata service, then the auth service, with `http` and
/// `backoff`). The environment is read before the future is returned, so the
/// future borrows nothing.
pub fn from_env(
    env: Env,
    http: &reqwest::Client,
    backoff: Backoff,
) -> impl Future<Output = Result<Arc<dyn Credentials>, PowerError>> + Send + 'static {
    let selected = select(env);
    let http = http.clone();
    async move {
        match selected? {
            Principal::Ready(c) => Ok(c),
            Principal::Instance(settings) => {
                let ip = InstancePrincipal::federate(settings, http, backoff).await?;
                Ok(Arc::new(ip) as Arc<dyn Credentials>)
            }
        }
    }
}

/// `OCI_AUTH`, else the order in the module docs.
pub fn select(env: Env) -> Result<Principal, PowerError> {
    let auth = env("OCI_AUTH")
        .map(|v| v.trim().to_ascii_lowercase().replace('-', "_"))
        .filter(|v| !v.is_empty());
    let rp_version = env("OCI_RESOURCE_PRINCIPAL_VERSION").filter(|v| !v.trim().is_empty());
    match auth.as_deref() {
        Some("instance_principal") => {
            return Ok(Principal::Instance(instance_principal::Settings::from_env(env)?))
        }
        Some("resource_principal") => {
            let version = rp_version.ok_or_else(|| {
                PowerError::Config(
                    "OCI_AUTH=resource_principal, but OCI_RESOURCE_PRINCIPAL_VERSION is not set"
                        .into(),
                )
            })?;
            return Ok(Principal::Ready(Arc::new(ResourcePrincipal::from_env(
                &version, env,
            )?)));
        }
        Some("api_key" | "config_file") => return config_file(env, true),
        Some(other) => {
            return Err(PowerError::Config(format!(
                "OCI_AUTH={other:?} is not one of resource_principal, api_key (config_file), instance_principal"
            )))
        }
        None => {}
    }
    if let Some(version) = rp_version {
        return Ok(Principal::Ready(Arc::new(ResourcePrincipal::from_env(
            &version, env,
        )?)));
    }
    config_file(env, false)
}

/// The API key of a config file. `required` (or an explicit `OCI_CONFIG_FILE`):
/// a missing file is an error; otherwise a missing `~/.oci/config` (or `HOME`)
/// means the instance principal.
fn config_file(env: Env, required: bool) -> Result<Principal, PowerError> {
    let home = env("HOME");
    let explicit = env("OCI_CONFIG_FILE").filter(|p| !p.trim().is_empty());
    let path = match &explicit {
        Some(p) => expand_home(p.trim(), home.as_deref(), "OCI_CONFIG_FILE")?,
        None if !required && home.as_deref().is_none_or(str::is_empty) => {
            return Ok(Principal::Instance(instance_principal::Settings::from_env(
                env,
            )?))
        }
        None => expand_home(
            "~/.oci/config",
            home.as_deref(),
            "OCI_CONFIG_FILE (default)",
        )?,
    };
    if explicit.is_none() && !required && !path.exists() {
        return Ok(Principal::Instance(instance_principal::Settings::from_env(
            env,
        )?));
    }
    let profile = env("OCI_CONFIG_PROFILE")
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "DEFAULT".to_owned());
    Ok(Principal::Ready(Arc::new(ApiKey::from_config_file(
        &path,
        profile.trim(),
        home.as_deref(),
    )?)))
}

// ---------------------------------------------------------------------------
// API key from an OCI config file

/// An API key: keyId `<tenancy>/<user>/<fingerprint>`.
pub struct ApiKey {
    key_id: String,
    key: PrivateKey,
    region: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("key_id", &self.key_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    pub fn new(
        tenancy: &str,
        user: &str,
        fingerprint: &str,
        key: PrivateKey,
        region: impl Into<String>,
    ) -> Self {
        Self {
            key_id: format!("{tenancy}/{user}/{fingerprint}"),
            key,
            region: region.into(),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Read `profile` of the config file at `path` and the key file it names.
    pub fn from_config_file(
        path: &Path,
        profile: &str,
        home: Option<&str>,
    ) -> Result<Self, PowerError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            PowerError::Config(format!(
                "cannot read OCI config file {}: {e}",
                path.display()
            ))
        })?;
        let at = || format!("OCI config file {}, profile [{profile}]", path.display());
        let values = profile_values(&parse_config(&text, path)?, profile, path)?;
        let get = |k: &str| -> Result<&str, PowerError> {
            values
                .get(k)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| PowerError::Config(format!("{}: `{k}` is missing", at())))
        };
        let (user, fingerprint, tenancy, region) = (
            get("user")?,
            get("fingerprint")?,
            get("tenancy")?,
            get("region")?,
        );
        let key_file = expand_home(get("key_file")?, home, &format!("{}: key_file", at()))?;
        let pem = std::fs::read_to_string(&key_file).map_err(|e| {
            PowerError::Config(format!(
                "{}: cannot read key_file {}: {e}",
                at(),
                key_file.display()
            ))
        })?;
        let passphrase = values.get("pass_phrase").map(String::as_str);
        let key = load_private_key(
            &pem,
            passphrase,
            &format!("key_file {}", key_file.display()),
        )?;
        Ok(Self::new(tenancy, user, fingerprint, key, region))
    }
}

#[async_trait]
impl Credentials for ApiKey {
    async fn identity(&self) -> Result<Identity, PowerError> {
        Ok(Identity {
            key_id: self.key_id.clone(),
            key: self.key.clone(),
        })
    }
    fn region(&self) -> &str {
        &self.region
    }
}

type Sections = HashMap<String, HashMap<String, String>>;

/// The INI dialect of `~/.oci/config`: `[PROFILE]` headers, `key = value`
/// lines, `#` / `;` comment lines. Keys are case-sensitive, as in the SDKs.
pub fn parse_config(text: &str, path: &Path) -> Result<Sections, PowerError> {
    let mut sections = Sections::new();
    let mut current: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let bad = |why: &str| {
            PowerError::Config(format!(
                "OCI config file {} line {}: {why}",
                path.display(),
                n + 1
            ))
        };
        let Some((k, v)) = line.split_once('=') else {
            // The line may hold a secret (a pass_phrase without `=`): never echo it.
            return Err(bad("expected `key = value` or `[PROFILE]`"));
        };
        let Some(section) = current.as_ref() else {
            return Err(bad("a `key = value` line before the first [PROFILE]"));
        };
        sections
            .entry(section.clone())
            .or_default()
            .insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(sections)
}

/// A profile's values: its own over `[DEFAULT]`'s, as the OCI SDKs read them.
fn profile_values(
    sections: &Sections,
    profile: &str,
    path: &Path,
) -> Result<HashMap<String, String>, PowerError> {
    let own = sections.get(profile).ok_or_else(|| {
        let mut known: Vec<&str> = sections.keys().map(String::as_str).collect();
        known.sort_unstable();
        PowerError::Config(format!(
            "OCI config file {} has no profile [{profile}] (profiles: {})",
            path.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })?;
    let mut values = sections.get("DEFAULT").cloned().unwrap_or_default();
    values.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(values)
}

/// `~` and `~/…` → `$HOME/…`.
fn expand_home(path: &str, home: Option<&str>, what: &str) -> Result<PathBuf, PowerError> {
    let rest = match path.strip_prefix('~') {
        Some("") => "",
        Some(r) if r.starts_with('/') => &r[1..],
        _ => return Ok(PathBuf::from(path)),
    };
    let home = home.filter(|h| !h.is_empty()).ok_or_else(|| {
        PowerError::Config(format!("{what}: {path} starts with ~ but HOME is not set"))
    })?;
    Ok(Path::new(home).join(rest))
}

// ---------------------------------------------------------------------------
// Resource principal v2.2

/// A value given literally or as an absolute path to a file holding it.
#[derive(Clone, PartialEq, Eq)]
enum Source {
    Literal(String),
    File(PathBuf),
}

impl Source {
    /// The SDK rule: a value starting with `/` is a path.
    fn of(value: String) -> Self {
        if value.starts_with('/') {
            Source::File(PathBuf::from(value))
        } else {
            Source::Literal(value)
        }
    }

    fn read(&self, var: &str) -> Result<String, PowerError> {
        match self {
            Source::Literal(v) => Ok(v.clone()),
            Source::File(p) => std::fs::read_to_string(p).map_err(|e| {
                PowerError::Config(format!("{var}: cannot read {}: {e}", p.display()))
            }),
        }
    }

    fn describe(&self, var: &str) -> String {
        match self {
            Source::Literal(_) => var.to_owned(),
            Source::File(p) => format!("{var} ({})", p.display()),
        }
    }
}

const RPST: &str = "OCI_RESOURCE_PRINCIPAL_RPST";
const PEM: &str = "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM";
const PASSPHRASE: &str = "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE";
const REGION: &str = "OCI_RESOURCE_PRINCIPAL_REGION";

/// The session the principal signs with now.
struct Session {
    token: String,
    /// `exp` of the token, seconds since the epoch.
    expires: u64,
    key: PrivateKey,
}

/// Resource principal v2.2: keyId `ST$<RPST>`, signed with the RP private key.
/// A token read from a file is re-read (with the key, when that is a file too)
/// once it is within [`REFRESH_BEFORE_EXPIRY`] of its `exp`: OCI Functions
/// rotates both files.
pub struct ResourcePrincipal {
    rpst: Source,
    pem: Source,
    passphrase: Option<Source>,
    region: String,
    session: Mutex<Session>,
}

impl fmt::Debug for ResourcePrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourcePrincipal")
            .field("rpst", &self.rpst.describe(RPST))
            .field("private_pem", &self.pem.describe(PEM))
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl ResourcePrincipal {
    pub fn from_env(version: &str, env: Env) -> Result<Self, PowerError> {
        if version.trim() != "2.2" {
            return Err(PowerError::Config(format!(
                "OCI_RESOURCE_PRINCIPAL_VERSION={version} is not supported (only 2.2)"
            )));
        }
        let need = |var: &str| {
            env(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    PowerError::Config(format!(
                        "{var} is not set (OCI_RESOURCE_PRINCIPAL_VERSION=2.2 needs it)"
                    ))
                })
        };
        let rpst = Source::of(need(RPST)?);
        let pem = Source::of(need(PEM)?);
        let region = need(REGION)?;
        // The SDK rule: the passphrase is a path exactly when the key is one.
        let passphrase = env(PASSPHRASE)
            .filter(|v| !v.is_empty())
            .map(|v| match pem {
                Source::File(_) => Source::File(PathBuf::from(v.trim())),
                Source::Literal(_) => Source::Literal(v),
            });
        let session = read_session(&rpst, &pem, passphrase.as_ref())?;
        Ok(Self {
            rpst,
            pem,
            passphrase,
            region,
            session: Mutex::new(session),
        })
    }
}

fn read_session(
    rpst: &Source,
    pem: &Source,
    passphrase: Option<&Source>,
) -> Result<Session, PowerError> {
    let token = rpst.read(RPST)?.trim().to_owned();
    let expires = jwt_expiry(&token).ok_or_else(|| not_a_token(rpst))?;
    let passphrase = passphrase
        .map(|p| p.read(PASSPHRASE).map(|s| s.trim().to_owned()))
        .transpose()?;
    let key = load_private_key(&pem.read(PEM)?, passphrase.as_deref(), &pem.describe(PEM))?;
    Ok(Session {
        token,
        expires,
        key,
    })
}

impl ResourcePrincipal {
    fn session(&self) -> Result<std::sync::MutexGuard<'_, Session>, PowerError> {
        self.session
            .lock()
            .map_err(|_| PowerError::Config("resource principal session lock poisoned".into()))
    }

    /// Re-read the token file (and the key, when it is a file too); `true` if
    /// the token changed. Sync reads of two small files, rarely.
    fn reread(&self, session: &mut Session) -> Result<bool, PowerError> {
        let fresh = match self.pem {
            Source::File(_) => read_session(&self.rpst, &self.pem, self.passphrase.as_ref())?,
            Source::Literal(_) => {
                let token = self.rpst.read(RPST)?.trim().to_owned();
                let expires = jwt_expiry(&token).ok_or_else(|| not_a_token(&self.rpst))?;
                Session {
                    token,
                    expires,
                    key: session.key.clone(),
                }
            }
        };
        let changed = fresh.token != session.token;
        if changed {
            tracing::info!(source = %self.rpst.describe(RPST), "re-read the resource principal session token");
        }
        *session = fresh;
        Ok(changed)
    }
}

fn not_a_token(rpst: &Source) -> PowerError {
    PowerError::Config(format!(
        "{}: not a session token (a JWT with an `exp` claim)",
        rpst.describe(RPST)
    ))
}

#[async_trait]
impl Credentials for ResourcePrincipal {
    async fn identity(&self) -> Result<Identity, PowerError> {
        let mut session = self.session()?;
        if matches!(self.rpst, Source::File(_)) && expires_soon(session.expires, SystemTime::now())
        {
            self.reread(&mut session)?;
        }
        Ok(Identity {
            key_id: format!("ST${}", session.token),
            key: session.key.clone(),
        })
    }

    fn region(&self) -> &str {
        &self.region
    }

    async fn refresh(&self, _rejected: &Identity) -> Result<bool, PowerError> {
        if !matches!(self.rpst, Source::File(_)) {
            return Ok(false);
        }
        let mut session = self.session()?;
        self.reread(&mut session)
    }
}

fn expires_soon(expires: u64, now: SystemTime) -> bool {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    now + REFRESH_BEFORE_EXPIRY.as_secs() >= expires
}

#[cfg(test)]
mod tests;
