//! `openstack`: one Nova server behind the lifecycle core's [`Power`] port.
//!
//! - state: `GET {compute}/servers/{id}` (`status` and `OS-EXT-STS:task_state`:
//!   a server is settled only with no task);
//! - start: `os-start` from SHUTOFF, `unshelve` from SHELVED / SHELVED_OFFLOADED;
//! - stop: `shelve`, as the seed does (the server's resources are released;
//!   it ends SHELVED_OFFLOADED, or SHELVED where the cloud keeps shelved
//!   servers), or `os-stop` with `OPENSTACK_STOP=os-stop`;
//! - restart: `reboot` SOFT.
//!
//! Every request sends the compute microversion explicitly
//! (`OpenStack-API-Version: compute <OS_COMPUTE_API_VERSION>`, default 2.1).
//! Nova's 409 (wrong state) is a refusal; a 401 logs in again once.

use super::auth::Keystone;
use crate::cloud::transport::{
    self, Authenticator, Class, Outgoing, Response, SendError, Transport,
};
use crate::lifecycle::{Command, Observed, Phase, Power, PowerError, Ticket, Vocabulary};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

pub const VOCABULARY: Vocabulary = Vocabulary {
    provider: "openstack",
    noun: "Server",
    running: "ACTIVE",
    stopped: "SHELVED_OFFLOADED",
};

/// How a stop is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// `shelve`: the seed's stop (frees the host's resources).
    Shelve,
    /// `os-stop`: power off, keep the server on its host.
    PowerOff,
}

/// The token of the one Keystone session, on every request.
struct Token(Arc<Keystone>);

#[async_trait]
impl Authenticator<PowerError> for Token {
    async fn authorize(&self, _req: &Outgoing) -> Result<Vec<(&'static str, String)>, PowerError> {
        let s = self.0.session().await?;
        Ok(vec![("x-auth-token", s.token.expose().to_owned())])
    }

    async fn reauthenticate(&self) -> Result<bool, PowerError> {
        self.0.forget().await;
        Ok(true)
    }
}

/// Nova for one project: the Keystone session and the shared transport.
pub struct NovaClient {
    transport: Transport,
    auth: Token,
    microversion: String,
}

impl std::fmt::Debug for NovaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NovaClient")
            .field("microversion", &self.microversion)
            .finish_non_exhaustive()
    }
}

impl NovaClient {
    pub fn new(keystone: Arc<Keystone>, transport: Transport, microversion: String) -> Self {
        Self {
            transport,
            auth: Token(keystone),
            microversion,
        }
    }

    async fn call(
        &self,
        method: Method,
        id: &str,
        tail: &[&str],
        body: Option<&Value>,
    ) -> Result<Response, PowerError> {
        let base = self.auth.0.session().await?.compute;
        let mut url = base;
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().extend(["servers", id]).extend(tail);
        }
        let mut req = Outgoing::new(method, url)
            .header(
                "openstack-api-version",
                format!("compute {}", self.microversion),
            )
            .header("accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = match self.transport.send(&self.auth, &req).await {
            Ok(r) => r,
            Err(SendError::Auth(e)) => return Err(e),
            Err(SendError::Unreachable(m)) => return Err(PowerError::Unavailable(m)),
        };
        if r.is_success() {
            Ok(r)
        } else {
            Err(error(&r))
        }
    }

    /// `(status, task_state)` of a server.
    pub async fn state(&self, id: &str) -> Result<(String, Option<String>), PowerError> {
        let r = self.call(Method::GET, id, &[], None).await?;
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| PowerError::Unavailable(format!("Nova's answer is not JSON: {e}")))?;
        let s = &v["server"];
        let status = s["status"]
            .as_str()
            .ok_or_else(|| PowerError::Unavailable(format!("server {id}: no status")))?
            .to_owned();
        let task = s["OS-EXT-STS:task_state"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok((status, task))
    }

    /// `POST /servers/{id}/action` with `body` (202).
    pub async fn action(&self, id: &str, body: Value) -> Result<(), PowerError> {
        self.call(Method::POST, id, &["action"], Some(&body))
            .await
            .map(drop)
    }
}

/// Nova's error body: `{"<faultName>": {"code", "message"}}`.
fn error(r: &Response) -> PowerError {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let (fault, message) = v
        .as_object()
        .and_then(|o| o.iter().next())
        .map(|(k, f)| {
            (
                k.clone(),
                f.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .unwrap_or_else(|| ("error".into(), r.body_excerpt(200)));
    let text = format!("Nova answered {} {fault}: {message}", r.status.as_u16());
    match r.class() {
        Class::Conflict => PowerError::Conflict(text),
        class => transport::power_error(class, text),
    }
}

/// A server id: a UUID (checked before any URL is built).
pub fn check_server_id(id: &str) -> Result<(), crate::lifecycle::InvalidResource> {
    crate::cloud::provider::check_uuid("a Nova server id", id)
}

/// Nova's status and task, normalised: settled only with no task in progress.
pub fn phase_of(status: &str, task: Option<&str>) -> Observed {
    let shown = match task {
        Some(t) => format!("{status} ({t})"),
        None => status.to_owned(),
    };
    let phase = match (status, task) {
        ("ERROR", _) => Phase::Failed,
        ("DELETED" | "SOFT_DELETED", _) => Phase::Gone,
        ("ACTIVE", None) => Phase::Running,
        ("SHUTOFF" | "SHELVED" | "SHELVED_OFFLOADED", None) => Phase::Stopped,
        _ => Phase::Transitional,
    };
    Observed::new(phase, shown)
}

/// One server, as the lifecycle core drives it.
#[derive(Debug, Clone)]
pub struct NovaPower {
    client: Arc<NovaClient>,
    stop: StopMode,
}

impl NovaPower {
    pub fn new(client: Arc<NovaClient>, stop: StopMode) -> Self {
        Self { client, stop }
    }
}

#[async_trait]
impl Power for NovaPower {
    fn vocabulary(&self) -> Vocabulary {
        VOCABULARY
    }

    async fn observe(&self, resource: &str) -> Result<Observed, PowerError> {
        check_server_id(resource)?;
        let (status, task) = self.client.state(resource).await?;
        Ok(phase_of(&status, task.as_deref()))
    }

    async fn command(&self, resource: &str, command: Command) -> Result<Ticket, PowerError> {
        check_server_id(resource)?;
        let body = match command {
            Command::Start => {
                let (status, _) = self.client.state(resource).await?;
                if status.starts_with("SHELVED") {
                    json!({"unshelve": null})
                } else {
                    json!({"os-start": null})
                }
            }
            Command::Stop => match self.stop {
                StopMode::Shelve => json!({"shelve": null}),
                StopMode::PowerOff => json!({"os-stop": null}),
            },
            Command::Restart => json!({"reboot": {"type": "SOFT"}}),
        };
        self.client.action(resource, body).await?;
        Ok(Ticket::none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_settle_only_without_a_task() {
        assert_eq!(phase_of("ACTIVE", None).phase, Phase::Running);
        assert_eq!(
            phase_of("ACTIVE", Some("shelving")).phase,
            Phase::Transitional
        );
        for stopped in ["SHUTOFF", "SHELVED", "SHELVED_OFFLOADED"] {
            assert_eq!(phase_of(stopped, None).phase, Phase::Stopped, "{stopped}");
        }
        assert_eq!(
            phase_of("SHELVED_OFFLOADED", Some("unshelving")).phase,
            Phase::Transitional
        );
        assert_eq!(phase_of("ERROR", None).phase, Phase::Failed);
    }
}
