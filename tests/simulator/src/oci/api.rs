//! Request dispatch of the OCI simulator: signature check, routing, fault rules and
//! the Container Instances, Compute and Secrets operations.
//!
//! Order of checks for every request: body read (413 over 1 MiB) → signature (401) →
//! routing (404 unknown path or API version, 405 wrong method) → fault rules →
//! the operation (400, 404, 409, 412, ...).

use super::signing::{self, Received, SESSION_TOKEN_PREFIX};
use super::state::{
    etag_of, new_ocid, timestamp, OciShared, RetryEntry, Transition, WorkRequest, REGION_KEY,
    RETRY_TOKEN_TTL,
};
use super::types::{OciOp, OciRequestRecord};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use chrono::Utc;
use rsa::RsaPublicKey;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

const MAX_BODY: usize = 1024 * 1024;

/// The fixed part of OCI's 401 message; the simulator appends its reason.
pub(crate) const NOT_AUTHENTICATED: &str =
    "The required information to complete authentication was not provided or was incorrect.";
const NOT_FOUND: &str = "Authorization failed or requested resource not found.";

// ---------------------------------------------------------------- responses

/// `code` and `message` of an error answer, kept for the request log.
#[derive(Debug, Clone)]
struct ErrorInfo {
    code: String,
    message: String,
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn json_response(status: u16, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status_code(status);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn empty(status: u16) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status_code(status);
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

/// `{"code": .., "message": ..}`.
fn oci_error(status: u16, code: &str, message: &str) -> Response {
    let mut r = json_response(status, &json!({ "code": code, "message": message }));
    r.extensions_mut().insert(ErrorInfo {
        code: code.to_string(),
        message: message.to_string(),
    });
    r
}

fn not_found() -> Response {
    oci_error(404, "NotAuthorizedOrNotFound", NOT_FOUND)
}

fn incorrect_state(message: String) -> Response {
    oci_error(409, "IncorrectState", &message)
}

fn with_etag(r: Response, body: &Value, version: u64) -> Response {
    with_header(r, "etag", &etag_of(body, version))
}

/// `opc-request-id`: the client's own id (if it sent one) followed by the
/// simulator's, as OCI does.
fn request_id(headers: &HeaderMap) -> String {
    let own: String = (0..32)
        .map(|_| char::from(b"0123456789ABCDEF"[fastrand::usize(..16)]))
        .collect();
    match headers
        .get("opc-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    {
        Some(client) => format!("{client}/{own}"),
        None => own,
    }
}

// ---------------------------------------------------------------- routing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CiAction {
    Start,
    Stop,
    Restart,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    ContainerInstance(String),
    ContainerAction(String, CiAction),
    WorkRequest(String),
    WorkRequestErrors(String),
    Instance(String),
    SecretBundle(String),
    /// `/opc/v2/<path>`: the instance metadata service.
    Metadata(String),
    /// `/v1/x509`: instance-principal federation.
    Federation,
    Unknown,
}

/// Paths are case-sensitive, without empty segments or a trailing slash.
fn parse_route(path: &str) -> Route {
    if let Some(p) = path.strip_prefix("/opc/v2/") {
        return Route::Metadata(p.to_string());
    }
    if path == "/v1/x509" {
        return Route::Federation;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Route::Unknown;
    };
    let s: Vec<&str> = rest.split('/').collect();
    if s.iter().any(|p| p.is_empty()) {
        return Route::Unknown;
    }
    match s.as_slice() {
        ["20210415", "containerInstances", id] => Route::ContainerInstance(id.to_string()),
        ["20210415", "containerInstances", id, "actions", action] => {
            let action = match *action {
                "start" => CiAction::Start,
                "stop" => CiAction::Stop,
                "restart" => CiAction::Restart,
                _ => return Route::Unknown,
            };
            Route::ContainerAction(id.to_string(), action)
        }
        ["20210415", "workRequests", id] => Route::WorkRequest(id.to_string()),
        ["20210415", "workRequests", id, "errors"] => Route::WorkRequestErrors(id.to_string()),
        ["20160918", "instances", id] => Route::Instance(id.to_string()),
        ["20190301", "secretbundles", id] => Route::SecretBundle(id.to_string()),
        _ => Route::Unknown,
    }
}

impl Route {
    fn op(&self, m: &Method) -> Option<OciOp> {
        match self {
            Route::ContainerInstance(_) if m == Method::GET => Some(OciOp::GetContainerInstance),
            Route::ContainerAction(_, a) if m == Method::POST => Some(match a {
                CiAction::Start => OciOp::StartContainerInstance,
                CiAction::Stop => OciOp::StopContainerInstance,
                CiAction::Restart => OciOp::RestartContainerInstance,
            }),
            Route::WorkRequest(_) if m == Method::GET => Some(OciOp::GetWorkRequest),
            Route::WorkRequestErrors(_) if m == Method::GET => Some(OciOp::ListWorkRequestErrors),
            Route::Instance(_) if m == Method::GET => Some(OciOp::GetInstance),
            Route::Instance(_) if m == Method::POST => Some(OciOp::InstanceAction),
            Route::SecretBundle(_) if m == Method::GET => Some(OciOp::GetSecretBundle),
            Route::Metadata(_) => Some(OciOp::GetMetadata),
            Route::Federation if m == Method::POST => Some(OciOp::FederateX509),
            _ => None,
        }
    }

    fn allowed(&self) -> &'static str {
        match self {
            Route::ContainerAction(..) | Route::Federation => "POST",
            Route::Instance(_) => "GET, POST",
            _ => "GET",
        }
    }

    fn resource(&self) -> Option<&str> {
        match self {
            Route::ContainerInstance(id)
            | Route::ContainerAction(id, _)
            | Route::WorkRequest(id)
            | Route::WorkRequestErrors(id)
            | Route::Instance(id)
            | Route::SecretBundle(id)
            | Route::Metadata(id) => Some(id),
            Route::Federation | Route::Unknown => None,
        }
    }
}

// ---------------------------------------------------------------- bookkeeping

/// Records the request (log + counts) when dropped, also if the client went away.
struct RecordGuard {
    shared: Arc<OciShared>,
    method: String,
    path: String,
    query: String,
    op: Option<OciOp>,
    status: u16,
    error: Option<ErrorInfo>,
    key_id: Option<String>,
    request_id: String,
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        let op = self.op;
        st.log.record(
            op,
            OciRequestRecord {
                method: self.method.clone(),
                path: self.path.clone(),
                query: self.query.clone(),
                status: self.status,
                error_code: self.error.as_ref().map(|e| e.code.clone()),
                error_message: self.error.as_ref().map(|e| e.message.clone()),
                op: self.op,
                key_id: self.key_id.clone(),
                opc_request_id: self.request_id.clone(),
                at: Utc::now(),
            },
        );
    }
}

// ---------------------------------------------------------------- dispatch

/// The single entry point of the OCI router.
pub(crate) async fn dispatch(State(shared): State<Arc<OciShared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_string());
    let route = parse_route(&path);
    let op = route.op(&parts.method);
    let request_id = request_id(&parts.headers);
    let mut record = RecordGuard {
        shared: shared.clone(),
        method: parts.method.to_string(),
        path,
        query: raw_query.clone(),
        op,
        status: 499,
        error: None,
        key_id: None,
        request_id: request_id.clone(),
    };
    let resp = handle(
        &shared,
        &parts.method,
        &parts.headers,
        &target,
        &raw_query,
        &route,
        op,
        body,
        &mut record.key_id,
    )
    .await;
    let resp = with_header(resp, "opc-request-id", &request_id);
    record.status = resp.status().as_u16();
    record.error = resp.extensions().get::<ErrorInfo>().cloned();
    resp
}

/// The key a `keyId` names: a registered API key or a session token minted here.
fn resolve_key(shared: &OciShared, key_id: &str) -> Result<RsaPublicKey, String> {
    if let Some(token) = key_id.strip_prefix(SESSION_TOKEN_PREFIX) {
        return signing::check_rpst(&shared.token_secret, token, Utc::now());
    }
    shared
        .lock()
        .api_keys
        .get(key_id)
        .cloned()
        .ok_or_else(|| format!("unknown keyId '{key_id}'"))
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    shared: &Arc<OciShared>,
    method: &Method,
    headers: &HeaderMap,
    target: &str,
    raw_query: &str,
    route: &Route,
    op: Option<OciOp>,
    body: Body,
    key_id: &mut Option<String>,
) -> Response {
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return oci_error(
                413,
                "PayloadTooLarge",
                "The request body is larger than the simulator accepts (1 MiB).",
            )
        }
    };
    let received = Received {
        method,
        target,
        headers,
        body: &body,
    };
    // 0. the instance principal's services: their own authentication
    if matches!(route, Route::Metadata(_) | Route::Federation) {
        return instance_service(shared, &received, route, op, key_id).await;
    }
    // 1. authentication
    match signing::verify_request(&received, Utc::now(), shared.cfg.clock_skew_limit, |id| {
        resolve_key(shared, id)
    }) {
        Ok(id) => *key_id = Some(id),
        Err(e) => {
            return oci_error(
                401,
                "NotAuthenticated",
                &format!("{NOT_AUTHENTICATED} (gamefleet-sim: {})", e.reason),
            )
        }
    }
    // 2. routing
    if *route == Route::Unknown {
        return not_found();
    }
    let Some(op) = op else {
        return with_header(
            oci_error(
                405,
                "MethodNotAllowed",
                &format!("Method {method} is not allowed on this resource."),
            ),
            "allow",
            route.allowed(),
        );
    };
    // 3. fault rules
    let rule = shared.lock().take_fault(op, route.resource());
    if let Some(rule) = rule {
        if let Some(d) = rule.delay {
            tokio::time::sleep(d).await;
        }
        if rule.status != 0 {
            let r = oci_error(rule.status, &rule.code, &rule.message);
            return match rule.retry_after_secs {
                Some(s) => with_header(r, "retry-after", &s.to_string()),
                None => r,
            };
        }
    }
    // 4. the operation
    let query: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match route {
        Route::ContainerInstance(id) => get_container_instance(shared, id),
        Route::ContainerAction(id, action) => {
            container_action(shared, id, *action, header("if-match"))
        }
        Route::WorkRequest(id) => get_work_request(shared, id),
        Route::WorkRequestErrors(id) => work_request_errors(shared, id),
        Route::Instance(id) if op == OciOp::GetInstance => get_instance(shared, id),
        Route::Instance(id) => instance_action(
            shared,
            id,
            param("action"),
            header("if-match"),
            header("opc-retry-token"),
            target,
        ),
        Route::SecretBundle(id) => get_secret_bundle(
            shared,
            id,
            param("stage"),
            param("versionNumber"),
            param("secretVersionName"),
        ),
        Route::Metadata(_) | Route::Federation | Route::Unknown => not_found(),
    }
}

// ---------------------------------------------------------------- instance principal

async fn instance_service(
    shared: &Arc<OciShared>,
    req: &Received<'_>,
    route: &Route,
    op: Option<OciOp>,
    key_id: &mut Option<String>,
) -> Response {
    let Some(op) = op else {
        return with_header(
            oci_error(
                405,
                "MethodNotAllowed",
                "The federation endpoint answers POST only.",
            ),
            "allow",
            route.allowed(),
        );
    };
    let rule = shared.lock().take_fault(op, route.resource());
    if let Some(rule) = rule {
        if let Some(d) = rule.delay {
            tokio::time::sleep(d).await;
        }
        if rule.status != 0 {
            return oci_error(rule.status, &rule.code, &rule.message);
        }
    }
    let answer = match route {
        Route::Metadata(_) => {
            super::instance::metadata(shared, req.method, req.headers, &route_path(route))
        }
        _ => super::instance::federate(shared, req),
    };
    *key_id = answer.key_id.clone();
    if answer.status >= 400 {
        let v: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        let part = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return oci_error(answer.status, &part("code"), &part("message"));
    }
    let mut r = Response::new(Body::from(answer.body));
    *r.status_mut() = status_code(answer.status);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(if answer.json {
            "application/json"
        } else {
            "text/plain"
        }),
    );
    r
}

fn route_path(route: &Route) -> String {
    match route {
        Route::Metadata(p) => format!("/opc/v2/{p}"),
        _ => "/v1/x509".to_string(),
    }
}

// ---------------------------------------------------------------- container instances

fn get_container_instance(shared: &OciShared, id: &str) -> Response {
    let now = Instant::now();
    let mut st = shared.lock();
    let Some(ci) = st.containers.get_mut(id) else {
        return not_found();
    };
    ci.settle(now);
    let body = ci.render(now);
    with_etag(json_response(200, &body), &body, ci.version)
}

fn if_match_failed(if_match: Option<&str>, etag: String) -> Option<Response> {
    let want = if_match?;
    (want != "*" && want.trim_matches('"') != etag).then(|| {
        oci_error(
            412,
            "NoEtagMatch",
            &format!("The if-match value '{want}' does not match the current etag '{etag}'."),
        )
    })
}

fn container_action(
    shared: &OciShared,
    id: &str,
    action: CiAction,
    if_match: Option<&str>,
) -> Response {
    let now = Instant::now();
    let phase_len = shared.cfg.transition_time;
    let mut st = shared.lock();
    let Some(ci) = st.containers.get_mut(id) else {
        return not_found();
    };
    ci.settle(now);
    if let Some(r) = if_match_failed(if_match, etag_of(&ci.render(now), ci.version)) {
        return r;
    }
    let state = ci.current_state(now);
    let (required, final_state, operation_type, verb) = match action {
        CiAction::Start => ("INACTIVE", "ACTIVE", "START_CONTAINER_INSTANCE", "start"),
        CiAction::Stop => ("ACTIVE", "INACTIVE", "STOP_CONTAINER_INSTANCE", "stop"),
        CiAction::Restart => ("ACTIVE", "ACTIVE", "RESTART_CONTAINER_INSTANCE", "restart"),
    };
    if state != required {
        return incorrect_state(format!(
            "Container instance {id} is in lifecycle state {state}; {verb} is only possible in state {required}."
        ));
    }
    let wr_id = new_ocid("computecontainerworkrequest", REGION_KEY);
    let mut t = Transition::new(vec!["UPDATING"], final_state, phase_len);
    t.work_request = Some(wr_id.clone());
    let error = std::mem::take(&mut ci.fail_next).then(|| {
        let message = format!(
            "Failed to {verb} container instance {id}: the simulated host did not respond (injected by gamefleet-sim)."
        );
        t.failure = Some(message.clone());
        ("InternalServerError".to_string(), message)
    });
    let wr = WorkRequest {
        id: wr_id.clone(),
        operation_type,
        resource_id: id.to_string(),
        compartment_id: ci.compartment_id.clone(),
        accepted_utc: t.started_utc,
        started: t.started,
        total: t.total(),
        error,
        canceled_at: None,
    };
    ci.time_updated = t.started_utc;
    ci.transition = Some(t);
    ci.version += 1;
    st.work_requests.insert(wr_id.clone(), wr);
    with_header(empty(202), "opc-work-request-id", &wr_id)
}

fn get_work_request(shared: &OciShared, id: &str) -> Response {
    let now = Instant::now();
    let st = shared.lock();
    let Some(wr) = st.work_requests.get(id) else {
        return not_found();
    };
    let body = wr.render(now);
    let r = json_response(200, &body);
    match shared.cfg.work_request_retry_after_secs {
        Some(s) if wr.in_progress(now) => with_header(r, "retry-after", &s.to_string()),
        _ => r,
    }
}

fn work_request_errors(shared: &OciShared, id: &str) -> Response {
    let now = Instant::now();
    let st = shared.lock();
    let Some(wr) = st.work_requests.get(id) else {
        return not_found();
    };
    json_response(200, &json!({ "items": wr.errors(now) }))
}

// ---------------------------------------------------------------- compute

fn get_instance(shared: &OciShared, id: &str) -> Response {
    let now = Instant::now();
    let mut st = shared.lock();
    let Some(inst) = st.computes.get_mut(id) else {
        return not_found();
    };
    inst.settle(now);
    let body = inst.render(now);
    with_etag(json_response(200, &body), &body, inst.version)
}

/// `(phases, final state, final state if the action fails)` of a power action from
/// `state`, or `None` if the action makes no sense there.
fn power_action(
    action: &str,
    state: &str,
) -> Option<(Vec<&'static str>, &'static str, &'static str)> {
    match (action, state) {
        ("START", "STOPPED") => Some((vec!["STARTING"], "RUNNING", "STOPPED")),
        ("STOP" | "SOFTSTOP", "RUNNING") => Some((vec!["STOPPING"], "STOPPED", "RUNNING")),
        ("RESET" | "SOFTRESET", "RUNNING") => {
            Some((vec!["STOPPING", "STARTING"], "RUNNING", "STOPPED"))
        }
        _ => None,
    }
}

const POWER_ACTIONS: [&str; 5] = ["START", "STOP", "SOFTSTOP", "RESET", "SOFTRESET"];

fn instance_action(
    shared: &OciShared,
    id: &str,
    action: Option<&str>,
    if_match: Option<&str>,
    retry_token: Option<&str>,
    target: &str,
) -> Response {
    let Some(action) = action else {
        return oci_error(
            400,
            "MissingParameter",
            "Missing required query parameter 'action'.",
        );
    };
    if !POWER_ACTIONS.contains(&action) {
        return oci_error(
            400,
            "InvalidParameter",
            &format!(
                "Invalid action '{action}'. The simulator supports {}.",
                POWER_ACTIONS.join(", ")
            ),
        );
    }
    let now = Instant::now();
    let phase_len = shared.cfg.transition_time;
    let mut st = shared.lock();
    let fingerprint = format!("POST {target}");
    if let Some(token) = retry_token {
        st.retry_tokens
            .retain(|_, e| e.at.elapsed() < RETRY_TOKEN_TTL);
        if let Some(e) = st.retry_tokens.get(token) {
            if e.request != fingerprint {
                return oci_error(
                    409,
                    "InvalidatedRetryToken",
                    "The retry token was already used for a different request.",
                );
            }
            return with_header(json_response(200, &e.body), "etag", &e.etag);
        }
    }
    let Some(inst) = st.computes.get_mut(id) else {
        return not_found();
    };
    inst.settle(now);
    if let Some(r) = if_match_failed(if_match, etag_of(&inst.render(now), inst.version)) {
        return r;
    }
    let state = inst.current_state(now);
    let Some((phases, final_state, failed_state)) = power_action(action, &state) else {
        return incorrect_state(format!(
            "Instance {id} is in lifecycle state {state}; action {action} is not possible in this state."
        ));
    };
    let final_state = if std::mem::take(&mut inst.fail_next) {
        failed_state
    } else {
        final_state
    };
    inst.transition = Some(Transition::new(phases, final_state, phase_len));
    inst.version += 1;
    let body = inst.render(now);
    let etag = etag_of(&body, inst.version);
    if let Some(token) = retry_token {
        st.retry_tokens.insert(
            token.to_string(),
            RetryEntry {
                request: fingerprint,
                body: body.clone(),
                etag: etag.clone(),
                at: now,
            },
        );
    }
    with_header(json_response(200, &body), "etag", &etag)
}

// ---------------------------------------------------------------- secrets

const STAGES: [&str; 5] = ["CURRENT", "PENDING", "LATEST", "PREVIOUS", "DEPRECATED"];

fn get_secret_bundle(
    shared: &OciShared,
    id: &str,
    stage: Option<&str>,
    version_number: Option<&str>,
    version_name: Option<&str>,
) -> Response {
    if let Some(s) = stage {
        if !STAGES.contains(&s) {
            return oci_error(
                400,
                "InvalidParameter",
                &format!("Invalid stage '{s}'. Valid stages: {}.", STAGES.join(", ")),
            );
        }
    }
    if let Some(v) = version_number {
        if v.parse::<u64>().is_err() {
            return oci_error(
                400,
                "InvalidParameter",
                &format!("Invalid versionNumber '{v}'."),
            );
        }
    }
    let st = shared.lock();
    let Some(secret) = st.secrets.get(id) else {
        return not_found();
    };
    // Each secret has exactly one version: number 1, stages CURRENT and LATEST, no name.
    let other_stage = stage.is_some_and(|s| s != "CURRENT" && s != "LATEST");
    let other_version = version_number.is_some_and(|v| v.parse::<u64>().ok() != Some(1));
    if other_stage || other_version || version_name.is_some() {
        return not_found();
    }
    let body = json!({
        "secretId": secret.id,
        "versionNumber": 1,
        "stages": ["CURRENT", "LATEST"],
        "timeCreated": timestamp(secret.time_created),
        "secretBundleContent": { "contentType": "BASE64", "content": secret.content },
    });
    with_etag(json_response(200, &body), &body, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let id = "ocid1.computecontainerinstance.oc1.iad.abc";
        assert_eq!(
            parse_route(&format!("/20210415/containerInstances/{id}")),
            Route::ContainerInstance(id.into())
        );
        assert_eq!(
            parse_route(&format!("/20210415/containerInstances/{id}/actions/stop")),
            Route::ContainerAction(id.into(), CiAction::Stop)
        );
        assert_eq!(
            parse_route("/20210415/workRequests/w/errors"),
            Route::WorkRequestErrors("w".into())
        );
        assert_eq!(
            parse_route("/20160918/instances/i"),
            Route::Instance("i".into())
        );
        assert_eq!(
            parse_route("/20190301/secretbundles/s"),
            Route::SecretBundle("s".into())
        );
        for bad in [
            "/",
            "",
            "/20160918/containerInstances/x",
            "/20210415/containerinstances/x",
            "/20210415/containerInstances/x/",
            "/20210415/containerInstances//actions/start",
            "/20210415/containerInstances/x/actions/pause",
            "/20200101/instances/i",
            "/20160918/instances",
        ] {
            assert_eq!(parse_route(bad), Route::Unknown, "{bad}");
        }
        assert_eq!(Route::Instance("i".into()).op(&Method::DELETE), None);
        assert_eq!(
            Route::Instance("i".into()).op(&Method::POST),
            Some(OciOp::InstanceAction)
        );
    }

    #[test]
    fn power_actions() {
        assert_eq!(
            power_action("RESET", "RUNNING").map(|p| p.0),
            Some(vec!["STOPPING", "STARTING"])
        );
        assert!(power_action("START", "RUNNING").is_none());
        assert!(power_action("STOP", "STOPPED").is_none());
        assert!(power_action("STOP", "STOPPING").is_none());
    }
}
