//! `huawei-ecs`: one ECS server behind the lifecycle core's [`Power`] port,
//! over the shared [`Transport`] with AK/SK signatures ([`super::sign`]).
//!
//! - state: `GET /v1/{project}/cloudservers/{id}` (`status` and
//!   `OS-EXT-STS:task_state`: a server is settled only with no task);
//! - start / stop / restart: the batch action `POST /v1/{project}/cloudservers/action`
//!   (`os-start`, `os-stop` with `type` SOFT or HARD, `reboot`), which answers a
//!   `job_id`; the job (`GET /v1/{project}/jobs/{job_id}`) is the ticket the
//!   core follows: SUCCESS, or FAIL with the failing sub-job's reason.

use super::sign::{self, Credentials};
use crate::cloud::transport::{
    self, Authenticator, Class, Outgoing, Response, SendError, Transport,
};
use crate::lifecycle::{
    Command, Member, Observed, Phase, Power, PowerError, Selector, Ticket, TicketStatus, Vocabulary,
};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

pub const VOCABULARY: Vocabulary = Vocabulary {
    provider: "huawei-ecs",
    noun: "Server",
    running: "ACTIVE",
    stopped: "SHUTOFF",
};

/// How a stop is asked for (the seed's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopType {
    /// An ACPI shutdown (the default).
    Soft,
    /// Power off at once.
    Hard,
}

impl StopType {
    pub fn as_str(self) -> &'static str {
        match self {
            StopType::Soft => "SOFT",
            StopType::Hard => "HARD",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownStopType> {
        match s.trim().to_ascii_uppercase().as_str() {
            "SOFT" => Ok(StopType::Soft),
            "HARD" => Ok(StopType::Hard),
            other => Err(UnknownStopType(other.to_owned())),
        }
    }
}

/// A stop type other than SOFT or HARD.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("type {0:?} is not SOFT or HARD")]
pub struct UnknownStopType(pub String);

/// Signs every attempt afresh (a new `X-Sdk-Date`).
pub(crate) struct Signer(pub(crate) Credentials);

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

#[async_trait]
impl Authenticator<PowerError> for Signer {
    async fn authorize(&self, req: &Outgoing) -> Result<Vec<(&'static str, String)>, PowerError> {
        let host = sign::host_header(&req.url)
            .ok_or_else(|| PowerError::Config(format!("{} has no host", req.url)))?;
        let mut signed_headers: Vec<(&str, &str)> = vec![("Host", host.as_str())];
        for (n, v) in &req.headers {
            if n.eq_ignore_ascii_case("content-type") {
                signed_headers.push(("Content-Type", v.as_str()));
            }
        }
        let body = req.body.as_deref().unwrap_or_default();
        let s = sign::sign(
            &self.0,
            &req.method,
            &req.url,
            &signed_headers,
            body,
            chrono::Utc::now(),
        );
        Ok(s.headers)
    }
}

/// The ECS endpoint, the project and the signed transport; shared by the servers.
#[derive(Debug)]
pub struct EcsClient {
    pub(crate) transport: Transport,
    pub(crate) signer: Signer,
    pub(crate) ecs: url::Url,
    pub(crate) cce: url::Url,
    pub(crate) project_id: String,
}

impl EcsClient {
    /// `{base}/{segments…}` with the query in the signed (sorted) order.
    pub(crate) fn url(
        &self,
        base: &url::Url,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> url::Url {
        let mut url = base.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.sort();
            url.query_pairs_mut().extend_pairs(q);
        }
        url
    }

    /// A 2xx answer, or the error the final answer means.
    pub(crate) async fn call(&self, req: Outgoing) -> Result<Response, PowerError> {
        let r = match self.transport.send(&self.signer, &req).await {
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

    pub(crate) async fn json(&self, req: Outgoing) -> Result<Value, PowerError> {
        let r = self.call(req).await?;
        serde_json::from_slice(&r.body).map_err(|e| {
            PowerError::Unavailable(format!(
                "Huawei Cloud answered {} with a body that is not JSON: {e}",
                r.status
            ))
        })
    }

    /// Start, stop or reboot servers in one batch; the job to follow.
    pub async fn batch(
        &self,
        command: Command,
        stop: StopType,
        ids: &[&str],
    ) -> Result<String, PowerError> {
        let servers: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        let body = match command {
            Command::Start => json!({"os-start": {"servers": servers}}),
            Command::Stop => json!({"os-stop": {"type": stop.as_str(), "servers": servers}}),
            Command::Restart => json!({"reboot": {"type": "SOFT", "servers": servers}}),
        };
        let url = self.url(
            &self.ecs,
            &["v1", &self.project_id, "cloudservers", "action"],
            &[],
        );
        let v = self
            .json(Outgoing::new(Method::POST, url).json(&body))
            .await?;
        v.get("job_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                PowerError::Unavailable(format!("the batch action answered no job_id: {v}"))
            })
    }

    /// A job's status and, per server, its sub-job's (server id, status, reason).
    pub async fn job(&self, job_id: &str) -> Result<Job, PowerError> {
        let url = self.url(&self.ecs, &["v1", &self.project_id, "jobs", job_id], &[]);
        let v = self.json(Outgoing::new(Method::GET, url)).await?;
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let sub_jobs = v
            .pointer("/entities/sub_jobs")
            .and_then(Value::as_array)
            .map(|subs| {
                subs.iter()
                    .map(|j| SubJob {
                        server_id: j
                            .pointer("/entities/server_id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        status: s(j, "status").unwrap_or_default(),
                        reason: s(j, "fail_reason").filter(|r| !r.is_empty()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Job {
            status: s(&v, "status").unwrap_or_else(|| "INIT".into()),
            reason: s(&v, "fail_reason").filter(|r| !r.is_empty()),
            sub_jobs,
        })
    }

    /// The ECS servers of a CCE cluster's nodes: (server id, node name).
    pub async fn cluster_servers(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<(String, String)>, PowerError> {
        let url = self.url(
            &self.cce,
            &[
                "api",
                "v3",
                "projects",
                &self.project_id,
                "clusters",
                cluster_id,
                "nodes",
            ],
            &[],
        );
        let v = self.json(Outgoing::new(Method::GET, url)).await?;
        Ok(v.get("items")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|n| {
                        let id = n.pointer("/status/serverId").and_then(Value::as_str)?;
                        let name = n
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        Some((id.to_owned(), name.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// One server's state.
    pub async fn server(&self, id: &str) -> Result<(String, Option<String>, String), PowerError> {
        let url = self.url(
            &self.ecs,
            &["v1", &self.project_id, "cloudservers", id],
            &[],
        );
        let v = self.json(Outgoing::new(Method::GET, url)).await?;
        let server = v.get("server").unwrap_or(&v);
        let status = server
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| PowerError::Unavailable(format!("server {id}: no status in {server}")))?
            .to_owned();
        let task = server
            .get("OS-EXT-STS:task_state")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let name = server
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok((status, task, name))
    }
}

/// An ECS job as the core reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub status: String,
    pub reason: Option<String>,
    pub sub_jobs: Vec<SubJob>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubJob {
    pub server_id: String,
    pub status: String,
    pub reason: Option<String>,
}

/// Huawei's error bodies: `{"error_code","error_msg"}`, `{"code","message"}`, or either nested in `error`.
pub fn error(r: &Response) -> PowerError {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let inner = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
    let s = |k: &str| inner.get(k).and_then(Value::as_str).map(str::to_owned);
    let code = s("error_code")
        .or_else(|| s("code"))
        .unwrap_or_else(|| r.status.as_u16().to_string());
    let message = s("error_msg")
        .or_else(|| s("message"))
        .unwrap_or_else(|| r.body_excerpt(300));
    let request = r
        .header("x-request-id")
        .map(|id| format!(" (X-Request-Id: {id})"))
        .unwrap_or_default();
    let text = format!(
        "Huawei Cloud answered {} {code}: {message}{request}",
        r.status.as_u16()
    );
    match r.class() {
        // A 409 on a batch action means the server's state does not allow it.
        Class::Conflict => PowerError::Rejected(text),
        class => transport::power_error(class, text),
    }
}

/// A server id: a UUID (checked before any URL is built).
pub fn check_server_id(id: &str) -> Result<(), crate::lifecycle::InvalidResource> {
    crate::cloud::provider::check_uuid("an ECS server id", id)
}

/// One server, as the lifecycle core drives it.
#[derive(Debug, Clone)]
pub struct EcsPower {
    client: Arc<EcsClient>,
    stop: StopType,
}

impl EcsPower {
    pub fn new(client: Arc<EcsClient>, stop: StopType) -> Self {
        Self { client, stop }
    }
}

/// ECS's status and task, normalised: settled only with no task in progress.
pub fn phase_of(status: &str, task: Option<&str>) -> Observed {
    let shown = match task {
        Some(t) => format!("{status} ({t})"),
        None => status.to_owned(),
    };
    let phase = match (status, task) {
        ("ERROR", _) => Phase::Failed,
        ("DELETED" | "SOFT_DELETED", _) => Phase::Gone,
        ("ACTIVE", None) => Phase::Running,
        ("SHUTOFF", None) => Phase::Stopped,
        _ => Phase::Transitional,
    };
    Observed::new(phase, shown)
}

#[async_trait]
impl Power for EcsPower {
    fn vocabulary(&self) -> Vocabulary {
        VOCABULARY
    }

    async fn observe(&self, resource: &str) -> Result<Observed, PowerError> {
        check_server_id(resource)?;
        let (status, task, _) = self.client.server(resource).await?;
        Ok(phase_of(&status, task.as_deref()))
    }

    async fn command(&self, resource: &str, command: Command) -> Result<Ticket, PowerError> {
        check_server_id(resource)?;
        let job = self.client.batch(command, self.stop, &[resource]).await?;
        Ok(Ticket::follow(job))
    }

    /// Every server in one batch action; each member follows its own sub-job
    /// (ticket `<job id>#<server id>`).
    async fn command_many(
        &self,
        resources: &[String],
        command: Command,
    ) -> Vec<Result<Ticket, PowerError>> {
        if let Some(bad) = resources.iter().find_map(|r| check_server_id(r).err()) {
            return resources.iter().map(|_| Err(bad.clone().into())).collect();
        }
        let ids: Vec<&str> = resources.iter().map(String::as_str).collect();
        match self.client.batch(command, self.stop, &ids).await {
            Ok(job) => resources
                .iter()
                .map(|r| Ok(Ticket::follow(format!("{job}#{r}"))))
                .collect(),
            Err(e) => resources.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    async fn check(&self, ticket: &Ticket) -> Result<TicketStatus, PowerError> {
        let Some(id) = &ticket.id else {
            return Ok(TicketStatus::Unknown);
        };
        let (job_id, server) = match id.split_once('#') {
            Some((j, s)) => (j, Some(s)),
            None => (id.as_str(), None),
        };
        let job = self.client.job(job_id).await?;
        if let Some(sub) = server.and_then(|s| job.sub_jobs.iter().find(|j| j.server_id == s)) {
            return Ok(match sub.status.as_str() {
                "SUCCESS" => TicketStatus::Succeeded,
                "FAIL" => {
                    TicketStatus::Failed(sub.reason.clone().unwrap_or_else(|| {
                        format!("ECS job {job_id} failed for {}", sub.server_id)
                    }))
                }
                _ => TicketStatus::InProgress,
            });
        }
        Ok(match job.status.as_str() {
            "SUCCESS" => TicketStatus::Succeeded,
            "FAIL" => TicketStatus::Failed(
                job.sub_jobs
                    .iter()
                    .find_map(|s| s.reason.clone())
                    .or(job.reason)
                    .unwrap_or_else(|| format!("ECS job {job_id} failed")),
            ),
            _ => TicketStatus::InProgress,
        })
    }

    fn with_stop(&self, hard: bool) -> Option<Arc<dyn Power>> {
        let stop = if hard { StopType::Hard } else { StopType::Soft };
        Some(Arc::new(EcsPower::new(self.client.clone(), stop)))
    }

    /// `{"clusterId": …}`: the servers of the CCE cluster's nodes.
    async fn select(&self, selector: &Selector) -> Result<Vec<Member>, PowerError> {
        match selector {
            Selector::Cluster(id) => Ok(self
                .client
                .cluster_servers(id)
                .await?
                .into_iter()
                .map(|(resource, name)| Member { resource, name })
                .collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_settle_only_without_a_task() {
        assert_eq!(phase_of("ACTIVE", None).phase, Phase::Running);
        assert_eq!(
            phase_of("ACTIVE", Some("powering-off")).phase,
            Phase::Transitional
        );
        assert_eq!(phase_of("SHUTOFF", None).phase, Phase::Stopped);
        assert_eq!(
            phase_of("SHUTOFF", Some("powering-on")).state,
            "SHUTOFF (powering-on)"
        );
        assert_eq!(phase_of("ERROR", None).phase, Phase::Failed);
        assert_eq!(phase_of("REBOOT", None).phase, Phase::Transitional);
    }

    #[test]
    fn server_ids_are_uuids() {
        assert!(check_server_id("4d5a1b2c-0000-4000-8000-000000000001").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "4d5a1b2c/0000",
            "4d5a1b2c-0000-4000-8000-00000000000g",
            "x".repeat(500).as_str(),
        ] {
            assert!(check_server_id(bad).is_err(), "{bad}");
        }
    }
}
