//! Request dispatch of the Huawei simulator: signature check, routing, project,
//! fault rules and the ECS and CCE operations.
//!
//! Order of checks for every request: body read (413 over 1 MiB) → signature
//! (401 `APIGW.0301`) → routing (404 `APIGW.0101` for an unknown path or method)
//! → project (403) → fault rules → the operation (400, 404, ...).

use super::signing::{self, Received};
use super::state::{action_time, hex_id, HuaweiShared, Job, SubJob, Task, SIM_FAIL_CODE};
use super::types::{HuaweiOp, HuaweiRequestRecord};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

const MAX_BODY: usize = 1024 * 1024;
/// Servers per batch action (ECS: up to 1000).
const MAX_BATCH: usize = 1000;
/// Ids per `server_id` filter of the detail list (ECS: up to 100).
const MAX_SERVER_IDS: usize = 100;

// ---------------------------------------------------------------- responses

/// Code and message of an error answer, kept for the request log.
#[derive(Debug, Clone)]
struct ErrorInfo {
    code: String,
    message: String,
}

fn json_response(status: u16, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn with_header(mut r: Response, name: &str, value: &str) -> Response {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        r.headers_mut().insert(n, v);
    }
    r
}

fn with_info(mut r: Response, code: &str, message: &str) -> Response {
    r.extensions_mut().insert(ErrorInfo {
        code: code.to_string(),
        message: message.to_string(),
    });
    r
}

/// The API gateway's (and CCE's) flat form `{"error_code", "error_msg", "request_id"}`;
/// `request_id` is filled in by [`dispatch`].
fn flat_error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({ "error_code": code, "error_msg": message });
    with_info(json_response(status, &body), code, message)
}

/// ECS's nested form `{"error": {"code", "message"}}`.
fn ecs_error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message } });
    with_info(json_response(status, &body), code, message)
}

fn server_not_found(id: &str) -> Response {
    ecs_error(
        404,
        "Ecs.0114",
        &format!("Instance[{id}] could not be found."),
    )
}

fn bad_request(message: &str) -> Response {
    ecs_error(400, "Ecs.0005", message)
}

// ---------------------------------------------------------------- routing

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    ServersDetail,
    Server(String),
    ServersAction,
    Job(String),
    Nodes(String),
    Unknown,
}

/// `(route, project id in the path)`. Paths are case-sensitive, without empty
/// segments; a trailing `/` is not the same path.
fn parse_route(method: &Method, path: &str) -> (Route, Option<String>) {
    let Some(rest) = path.strip_prefix('/') else {
        return (Route::Unknown, None);
    };
    let s: Vec<&str> = rest.split('/').collect();
    if s.iter().any(|p| p.is_empty()) {
        return (Route::Unknown, None);
    }
    let get = method == Method::GET;
    let post = method == Method::POST;
    let (route, project) = match s.as_slice() {
        ["v1", p, "cloudservers", "detail"] if get => (Route::ServersDetail, p),
        ["v1", p, "cloudservers", "action"] if post => (Route::ServersAction, p),
        ["v1", p, "cloudservers", id] if get => (Route::Server(id.to_string()), p),
        ["v1", p, "jobs", id] if get => (Route::Job(id.to_string()), p),
        ["api", "v3", "projects", p, "clusters", c, "nodes"] if get => {
            (Route::Nodes(c.to_string()), p)
        }
        _ => return (Route::Unknown, None),
    };
    (route, Some(project.to_string()))
}

/// The action body's operation, if it names one.
fn action_op(body: &Value) -> Option<HuaweiOp> {
    let obj = body.as_object()?;
    match (
        obj.contains_key("os-start"),
        obj.contains_key("os-stop"),
        obj.contains_key("reboot"),
    ) {
        (true, false, false) => Some(HuaweiOp::BatchStartServers),
        (false, true, false) => Some(HuaweiOp::BatchStopServers),
        (false, false, true) => Some(HuaweiOp::BatchRebootServers),
        _ => None,
    }
}

// ---------------------------------------------------------------- bookkeeping

/// Records the request (log + counts) when dropped, also if the client went away.
struct RecordGuard {
    shared: Arc<HuaweiShared>,
    method: String,
    path: String,
    query: String,
    op: Option<HuaweiOp>,
    status: u16,
    error: Option<ErrorInfo>,
    access_key: Option<String>,
    expected_canonical_request: Option<String>,
    request_id: String,
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        let op = self.op;
        st.log.record(
            op,
            HuaweiRequestRecord {
                method: self.method.clone(),
                path: self.path.clone(),
                query: self.query.clone(),
                status: self.status,
                error_code: self.error.as_ref().map(|e| e.code.clone()),
                error_message: self.error.as_ref().map(|e| e.message.clone()),
                op: self.op,
                access_key: self.access_key.clone(),
                expected_canonical_request: self.expected_canonical_request.take(),
                request_id: self.request_id.clone(),
                at: Utc::now(),
            },
        );
    }
}

// ---------------------------------------------------------------- dispatch

/// The single entry point of the Huawei router.
pub(crate) async fn dispatch(State(shared): State<Arc<HuaweiShared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let (route, project) = parse_route(&parts.method, &path);
    let request_id = hex_id();
    let mut record = RecordGuard {
        shared: shared.clone(),
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone().unwrap_or_default(),
        op: match &route {
            Route::ServersDetail => Some(HuaweiOp::ListServersDetails),
            Route::Server(_) => Some(HuaweiOp::ShowServer),
            Route::Job(_) => Some(HuaweiOp::ShowJob),
            Route::Nodes(_) => Some(HuaweiOp::ListNodes),
            Route::ServersAction | Route::Unknown => None,
        },
        status: 499,
        error: None,
        access_key: None,
        expected_canonical_request: None,
        request_id: request_id.clone(),
    };
    let resp = handle(
        &shared,
        &parts.method,
        &parts.headers,
        &path,
        query.as_deref(),
        &route,
        project.as_deref(),
        body,
        &mut record,
    )
    .await;
    record.status = resp.status().as_u16();
    record.error = resp.extensions().get::<ErrorInfo>().cloned();
    // APIG-style bodies carry the request id too.
    let resp = match resp.extensions().get::<ErrorInfo>() {
        Some(_) if resp.status() != StatusCode::OK => add_request_id(resp, &request_id).await,
        _ => resp,
    };
    with_header(resp, "x-request-id", &request_id)
}

async fn add_request_id(resp: Response, request_id: &str) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut v) if v.get("error_code").is_some() => {
            v["request_id"] = json!(request_id);
            Body::from(v.to_string())
        }
        _ => Body::from(bytes),
    };
    let mut r = Response::from_parts(parts, body);
    r.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
    r
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    shared: &Arc<HuaweiShared>,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
    route: &Route,
    project: Option<&str>,
    body: Body,
    record: &mut RecordGuard,
) -> Response {
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return flat_error(
                413,
                "APIGW.0201",
                "Request entity too large (the simulator accepts 1 MiB).",
            )
        }
    };
    // 1. authentication
    let received = Received {
        method: method.as_str(),
        path,
        query,
        headers,
        body: &body,
    };
    let verified = signing::verify(&received, Utc::now(), shared.cfg.clock_skew_limit, |ak| {
        shared.lock().keys.get(ak).cloned()
    });
    match verified {
        Ok(ak) => record.access_key = Some(ak),
        Err(refused) => {
            record.expected_canonical_request = refused.canonical_request;
            return flat_error(
                401,
                "APIGW.0301",
                &format!(
                    "Incorrect IAM authentication information: {}",
                    refused.reason
                ),
            );
        }
    }
    // 2. routing
    if *route == Route::Unknown {
        return flat_error(
            404,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment",
        );
    }
    // 3. project
    if project != Some(shared.cfg.project_id.as_str()) {
        let p = project.unwrap_or("");
        return match route {
            Route::Nodes(_) => flat_error(
                403,
                "CCE.01403001",
                &format!("Access denied: project {p} is not a project of this account."),
            ),
            _ => ecs_error(
                403,
                "Ecs.0003",
                &format!("Forbidden: project {p} is not a project of this account."),
            ),
        };
    }
    // The batch action's operation comes from its body.
    let action_body = match route {
        Route::ServersAction => match serde_json::from_slice::<Value>(&body) {
            Ok(v) => {
                record.op = action_op(&v);
                Some(v)
            }
            Err(e) => return bad_request(&format!("The request body is not JSON: {e}.")),
        },
        _ => None,
    };
    // 4. fault rules
    if let Some(op) = record.op {
        let mut resources: Vec<String> = match route {
            Route::Server(id) | Route::Job(id) | Route::Nodes(id) => vec![id.clone()],
            _ => Vec::new(),
        };
        if let Some(v) = &action_body {
            resources.extend(batch_ids(v).unwrap_or_default());
        }
        let refs: Vec<&str> = resources.iter().map(String::as_str).collect();
        let rule = shared.lock().take_fault(op, &refs);
        if let Some(rule) = rule {
            if let Some(d) = rule.delay {
                tokio::time::sleep(d).await;
            }
            if rule.status != 0 {
                let r = flat_error(rule.status, &rule.error_code, &rule.error_msg);
                return match rule.retry_after_secs {
                    Some(s) => with_header(r, "retry-after", &s.to_string()),
                    None => r,
                };
            }
        }
    }
    // 5. the operation
    match route {
        Route::ServersDetail => list_servers(shared, query),
        Route::Server(id) => show_server(shared, id),
        Route::ServersAction => batch_action(shared, action_body.as_ref().unwrap_or(&Value::Null)),
        Route::Job(id) => show_job(shared, id),
        Route::Nodes(cluster) => list_nodes(shared, cluster),
        Route::Unknown => flat_error(404, "APIGW.0101", "The API does not exist"),
    }
}

// ---------------------------------------------------------------- ECS

fn list_servers(shared: &HuaweiShared, query: Option<&str>) -> Response {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let number = |name: &str, default: usize, max: usize| -> Result<usize, String> {
        match param(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("Invalid {name} '{v}' (0..={max}).")),
        }
    };
    let (limit, page) = match (number("limit", 25, 1000), number("offset", 1, usize::MAX)) {
        (Ok(l), Ok(o)) => (l.max(1), o.max(1)),
        (Err(e), _) | (_, Err(e)) => return bad_request(&e),
    };
    let ids: Option<Vec<&str>> = param("server_id").map(|v| v.split(',').collect());
    if ids.as_ref().is_some_and(|ids| ids.len() > MAX_SERVER_IDS) {
        return bad_request(&format!("server_id takes at most {MAX_SERVER_IDS} ids."));
    }
    let now = Instant::now();
    let mut st = shared.lock();
    let mut matched = Vec::new();
    for s in st.servers.iter_mut() {
        s.settle(now);
        let keep = match &ids {
            // server_id overrides the other filters.
            Some(ids) => ids.contains(&s.id.as_str()),
            None => {
                param("status").is_none_or(|want| s.status == want)
                    && param("name").is_none_or(|part| s.name.contains(part))
            }
        };
        if keep {
            matched.push(s.render(now, &shared.cfg.project_id));
        }
    }
    let count = matched.len();
    let servers: Vec<Value> = matched
        .into_iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .collect();
    json_response(200, &json!({ "count": count, "servers": servers }))
}

fn show_server(shared: &HuaweiShared, id: &str) -> Response {
    let now = Instant::now();
    let mut st = shared.lock();
    let Some(s) = st.server_mut(id) else {
        return server_not_found(id);
    };
    s.settle(now);
    json_response(
        200,
        &json!({ "server": s.render(now, &shared.cfg.project_id) }),
    )
}

/// The server ids of an action body, if it has the right shape.
fn batch_ids(body: &Value) -> Result<Vec<String>, String> {
    let (key, action) = body
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or("The request body must be an object with os-start or os-stop.")?;
    let servers = action
        .get("servers")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{key}.servers must be an array."))?;
    servers
        .iter()
        .map(|s| {
            s.get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("Every {key}.servers item needs a string id."))
        })
        .collect()
}

fn batch_action(shared: &HuaweiShared, body: &Value) -> Response {
    let Some(op) = action_op(body) else {
        return bad_request(
            "The request body must hold exactly one of os-start, os-stop and reboot.",
        );
    };
    if body.as_object().is_some_and(|o| o.len() != 1) {
        return bad_request("The request body must hold exactly one of os-start and os-stop.");
    }
    let ids = match batch_ids(body) {
        Ok(ids) if ids.is_empty() => return bad_request("servers must not be empty."),
        Ok(ids) if ids.len() > MAX_BATCH => {
            return bad_request(&format!("At most {MAX_BATCH} servers per request."))
        }
        Ok(ids) => ids,
        Err(e) => return bad_request(&e),
    };
    let stop_type = match op {
        HuaweiOp::BatchStopServers | HuaweiOp::BatchRebootServers => {
            let key = if op == HuaweiOp::BatchStopServers {
                "os-stop"
            } else {
                "reboot"
            };
            match body[key].get("type") {
                None => Some("SOFT"),
                Some(Value::String(t)) if t == "SOFT" || t == "HARD" => Some(t.as_str()),
                Some(other) => {
                    return bad_request(&format!("{key}.type must be SOFT or HARD, not {other}."))
                }
            }
        }
        _ => None,
    };
    let (job_type, sub_job_type, task_state, from, to) = match op {
        HuaweiOp::BatchStartServers => (
            "batchStartServers",
            "startServer",
            "powering-on",
            "SHUTOFF",
            "ACTIVE",
        ),
        HuaweiOp::BatchRebootServers => (
            "batchRebootServers",
            "rebootServer",
            "rebooting",
            "ACTIVE",
            "ACTIVE",
        ),
        _ => (
            "batchStopServers",
            "stopServer",
            "powering-off",
            "ACTIVE",
            "SHUTOFF",
        ),
    };
    let now = Instant::now();
    let cfg = &shared.cfg;
    let starts = now + cfg.job_init_time;
    let run = action_time(cfg, stop_type);
    let mut st = shared.lock();
    if let Some(t) = stop_type {
        st.stop_types.push(t.to_owned());
    }
    if let Some(missing) = ids.iter().find(|id| st.server_mut(id).is_none()) {
        return server_not_found(missing);
    }
    let mut sub_jobs = Vec::with_capacity(ids.len());
    for id in &ids {
        let Some(s) = st.server_mut(id) else {
            continue;
        };
        s.settle(now);
        let busy = s.task.as_ref().map(|t| t.task_state);
        let forced = s.fail_next.take();
        let (ends, failure) = match (busy, s.status.as_str()) {
            (Some(task), _) => (
                starts,
                Some((
                    SIM_FAIL_CODE.to_string(),
                    format!("Server {id} is busy: task_state {task}."),
                )),
            ),
            // Already there: nothing to do (a reboot always runs).
            (None, status)
                if status == to && forced.is_none() && op != HuaweiOp::BatchRebootServers =>
            {
                (starts, None)
            }
            (None, status) if status == from || status == to => {
                let failure = forced.map(|why| (SIM_FAIL_CODE.to_string(), why));
                s.task = Some(Task {
                    task_state,
                    target_status: to,
                    starts,
                    ends: starts + run,
                    fails: failure.is_some(),
                });
                (starts + run, failure)
            }
            (None, status) => (
                starts,
                Some((
                    SIM_FAIL_CODE.to_string(),
                    format!(
                        "Server {id} is {status}; it cannot be {}.",
                        match op {
                            HuaweiOp::BatchStartServers => "started",
                            HuaweiOp::BatchRebootServers => "rebooted",
                            _ => "stopped",
                        }
                    ),
                )),
            ),
        };
        sub_jobs.push(SubJob {
            id: hex_id(),
            server_id: id.clone(),
            starts,
            ends,
            failure,
        });
    }
    let job = Job {
        id: hex_id(),
        job_type,
        sub_job_type,
        begin: now,
        begin_utc: Utc::now(),
        sub_jobs,
    };
    let job_id = job.id.clone();
    st.jobs.insert(job_id.clone(), job);
    json_response(200, &json!({ "job_id": job_id }))
}

fn show_job(shared: &HuaweiShared, id: &str) -> Response {
    let st = shared.lock();
    match st.jobs.get(id) {
        Some(job) => json_response(200, &job.render(Instant::now())),
        None => ecs_error(404, "Ecs.0200", &format!("Job[{id}] could not be found.")),
    }
}

// ---------------------------------------------------------------- CCE

fn list_nodes(shared: &HuaweiShared, cluster: &str) -> Response {
    let st = shared.lock();
    let Some(c) = st.clusters.get(cluster) else {
        return flat_error(
            404,
            "CCE.01404001",
            &format!("Resource not found: cluster {cluster}."),
        );
    };
    let items: Vec<Value> = c
        .nodes
        .iter()
        .map(|n| {
            json!({
                "kind": "Node",
                "apiVersion": "v3",
                "metadata": { "name": n.name, "uid": n.uid },
                "spec": { "flavor": "s6.small.1" },
                "status": { "phase": "Active", "serverId": n.server_id },
            })
        })
        .collect();
    json_response(
        200,
        &json!({ "kind": "List", "apiVersion": "v3", "items": items }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            parse_route(&get, "/v1/p/cloudservers/detail"),
            (Route::ServersDetail, Some("p".into()))
        );
        assert_eq!(
            parse_route(&get, "/v1/p/cloudservers/abc"),
            (Route::Server("abc".into()), Some("p".into()))
        );
        assert_eq!(
            parse_route(&post, "/v1/p/cloudservers/action"),
            (Route::ServersAction, Some("p".into()))
        );
        assert_eq!(
            parse_route(&get, "/v1/p/jobs/j"),
            (Route::Job("j".into()), Some("p".into()))
        );
        assert_eq!(
            parse_route(&get, "/api/v3/projects/p/clusters/c/nodes"),
            (Route::Nodes("c".into()), Some("p".into()))
        );
        // As on ECS, a GET of `action` asks for a server of that id.
        assert_eq!(
            parse_route(&get, "/v1/p/cloudservers/action").0,
            Route::Server("action".into())
        );
        for (m, bad) in [
            (&post, "/v1/p/cloudservers/detail"),
            (&get, "/v1/p/cloudservers/abc/"),
            (&get, "/v2/p/cloudservers/abc"),
            (&get, "/v1//jobs/j"),
            (&post, "/api/v3/projects/p/clusters/c/nodes"),
            (&get, "/"),
        ] {
            assert_eq!(parse_route(m, bad).0, Route::Unknown, "{m} {bad}");
        }
    }

    #[test]
    fn action_bodies() {
        assert_eq!(
            action_op(&json!({"os-start": {"servers": []}})),
            Some(HuaweiOp::BatchStartServers)
        );
        assert_eq!(
            action_op(&json!({"os-stop": {"servers": []}})),
            Some(HuaweiOp::BatchStopServers)
        );
        assert_eq!(
            action_op(&json!({"reboot": {}})),
            Some(HuaweiOp::BatchRebootServers)
        );
        assert_eq!(action_op(&json!({"os-start": {}, "os-stop": {}})), None);
        assert_eq!(
            batch_ids(&json!({"os-start": {"servers": [{"id": "a"}, {"id": "b"}]}})),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
        assert!(batch_ids(&json!({"os-start": {"servers": [{"id": 1}]}})).is_err());
    }
}
