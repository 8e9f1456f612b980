//! Request dispatch and the ARM container-group API.
//!
//! Routing is hand-written because ARM's fixed path segments (`subscriptions`,
//! `resourceGroups`, `providers`, ...) are case-insensitive.

use crate::delivery::emit;
use crate::events::{resource_event_with, EventDetails, ResourceEventKind, PROVIDER};
use crate::identity::{self, is_arm_audience};
use crate::state::{key, GroupKey, OpKind, Operation, Shared, View};
use crate::throttle::REMAINING_WRITES;
use crate::types::{FaultRule, Notice, Op, RequestRecord};
use crate::validate::{validate_body, validate_group_name};
use crate::WriteEventTiming;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_BODY: usize = 4 * 1024 * 1024;

// ---------------------------------------------------------------- response helpers

/// Error code of an error answer, kept for the request log.
#[derive(Debug, Clone)]
pub(crate) struct ErrorCode(pub String);

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(crate) fn json_response(status: u16, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status_code(status);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

pub(crate) fn empty(status: u16) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status_code(status);
    r
}

pub(crate) fn with_header(mut r: Response, name: &str, value: &str) -> Response {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        r.headers_mut().insert(n, v);
    }
    r
}

pub(crate) fn with_error_code(mut r: Response, code: &str) -> Response {
    r.extensions_mut().insert(ErrorCode(code.to_string()));
    r
}

/// `{"error":{"code":..,"message":..}}` with the ARM content type.
pub(crate) fn arm_error(status: u16, code: &str, message: &str) -> Response {
    let r = json_response(
        status,
        &json!({ "error": { "code": code, "message": message } }),
    );
    with_error_code(r, code)
}

fn unauthorized(code: &str, message: &str, description: &str) -> Response {
    with_header(
        arm_error(401, code, message),
        "www-authenticate",
        &format!(
            "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\"{description}\""
        ),
    )
}

fn not_found(rg: &str, name: &str) -> Response {
    arm_error(
        404,
        "ResourceNotFound",
        &format!(
            "The Resource '{PROVIDER}/containerGroups/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
    )
}

fn dotnet_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%-m/%-d/%Y %-I:%M:%S %p")
        .to_string()
}

/// Waits out a matching fault rule's delay; `Some(rule)` if it must be answered.
pub(crate) async fn apply_fault(shared: &Shared, op: Op, name: Option<&str>) -> Option<FaultRule> {
    let rule = shared.lock().take_fault(op, name)?;
    if let Some(d) = rule.delay {
        tokio::time::sleep(d).await;
    }
    (rule.status != 0).then_some(rule)
}

// ---------------------------------------------------------------- routing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Start,
    Stop,
    Restart,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }
}

#[derive(Debug, Clone)]
enum Route {
    /// Not under `/subscriptions`.
    NotArm,
    ListSub {
        sub: String,
    },
    AsyncOp {
        sub: String,
        id: String,
    },
    OpResult {
        sub: String,
        id: String,
    },
    ListRg {
        sub: String,
        rg: String,
    },
    Group {
        sub: String,
        rg: String,
        name: String,
    },
    Logs {
        sub: String,
        rg: String,
        name: String,
        container: String,
    },
    Action {
        sub: String,
        rg: String,
        name: String,
        action: Action,
    },
    /// Under `/subscriptions` but nothing this simulator serves.
    Unknown {
        sub: String,
        rg: Option<String>,
        what: String,
    },
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Path segments, percent-decoded; one trailing slash is tolerated.
fn segments(path: &str) -> Vec<String> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split('/').map(percent_decode).collect()
}

fn parse_route(s: &[String]) -> Route {
    let seg = |i: usize| s.get(i).map(String::as_str).unwrap_or("");
    if s.len() < 2 || !eq(seg(0), "subscriptions") {
        return Route::NotArm;
    }
    let sub = seg(1).to_string();
    let rest = &s[2..];
    let r = |i: usize| rest.get(i).map(String::as_str).unwrap_or("");
    let unknown = |rg: Option<String>| Route::Unknown {
        sub: sub.clone(),
        rg,
        what: rest
            .iter()
            .skip(if eq(r(0), "resourceGroups") { 4 } else { 2 })
            .step_by(2)
            .cloned()
            .collect::<Vec<_>>()
            .join("/"),
    };
    if eq(r(0), "providers") && eq(r(1), PROVIDER) {
        return match rest.len() {
            3 if eq(r(2), "containerGroups") => Route::ListSub { sub },
            6 if eq(r(2), "locations") && eq(r(4), "operations") => Route::AsyncOp {
                sub,
                id: r(5).to_string(),
            },
            6 if eq(r(2), "locations") && eq(r(4), "operationResults") => Route::OpResult {
                sub,
                id: r(5).to_string(),
            },
            _ => unknown(None),
        };
    }
    if eq(r(0), "resourceGroups") && rest.len() >= 2 {
        let rg = r(1).to_string();
        if rest.len() < 5
            || !eq(r(2), "providers")
            || !eq(r(3), PROVIDER)
            || !eq(r(4), "containerGroups")
        {
            return unknown(Some(rg));
        }
        let name = r(5).to_string();
        return match rest.len() {
            5 => Route::ListRg { sub, rg },
            6 => Route::Group { sub, rg, name },
            7 => {
                let action = match r(6) {
                    a if eq(a, "start") => Action::Start,
                    a if eq(a, "stop") => Action::Stop,
                    a if eq(a, "restart") => Action::Restart,
                    _ => return unknown(Some(rg)),
                };
                Route::Action {
                    sub,
                    rg,
                    name,
                    action,
                }
            }
            9 if eq(r(6), "containers") && eq(r(8), "logs") => Route::Logs {
                sub,
                rg,
                name,
                container: r(7).to_string(),
            },
            _ => unknown(Some(rg)),
        };
    }
    unknown(None)
}

impl Route {
    fn sub(&self) -> Option<&str> {
        match self {
            Route::NotArm => None,
            Route::ListSub { sub }
            | Route::AsyncOp { sub, .. }
            | Route::OpResult { sub, .. }
            | Route::ListRg { sub, .. }
            | Route::Group { sub, .. }
            | Route::Logs { sub, .. }
            | Route::Action { sub, .. }
            | Route::Unknown { sub, .. } => Some(sub),
        }
    }

    fn rg(&self) -> Option<&str> {
        match self {
            Route::ListRg { rg, .. }
            | Route::Group { rg, .. }
            | Route::Logs { rg, .. }
            | Route::Action { rg, .. } => Some(rg),
            Route::Unknown { rg, .. } => rg.as_deref(),
            _ => None,
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            Route::Group { name, .. } | Route::Logs { name, .. } | Route::Action { name, .. } => {
                Some(name)
            }
            _ => None,
        }
    }

    /// The operation for this method, `None` if the method is not allowed here.
    fn op(&self, m: &Method) -> Option<Op> {
        match self {
            Route::ListSub { .. } | Route::ListRg { .. } if m == Method::GET => Some(Op::List),
            Route::AsyncOp { .. } | Route::OpResult { .. } if m == Method::GET => {
                Some(Op::OperationPoll)
            }
            Route::Group { .. } if m == Method::PUT => Some(Op::Put),
            Route::Group { .. } if m == Method::GET => Some(Op::Get),
            Route::Group { .. } if m == Method::DELETE => Some(Op::Delete),
            Route::Logs { .. } if m == Method::GET => Some(Op::Logs),
            Route::Action { action, .. } if m == Method::POST => Some(match action {
                Action::Start => Op::Start,
                Action::Stop => Op::Stop,
                Action::Restart => Op::Restart,
            }),
            _ => None,
        }
    }

    fn allowed(&self) -> &'static str {
        match self {
            Route::Group { .. } => "GET, PUT, DELETE",
            Route::Action { .. } => "POST",
            _ => "GET",
        }
    }
}

// ---------------------------------------------------------------- bookkeeping guards

/// Records the request (log + counts) when dropped, also if the client went away.
struct RecordGuard {
    shared: Arc<Shared>,
    method: String,
    path: String,
    query: String,
    op: Option<Op>,
    status: u16,
    code: Option<String>,
}

impl RecordGuard {
    fn finish(&mut self, resp: &Response) {
        self.status = resp.status().as_u16();
        self.code = resp.extensions().get::<ErrorCode>().map(|c| c.0.clone());
    }
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            let op = self.op;
            st.log.record(
                op,
                RequestRecord {
                    method: self.method.clone(),
                    path: self.path.clone(),
                    query: self.query.clone(),
                    status: self.status,
                    error_code: self.code.clone(),
                    operation: self.op,
                    at: Utc::now(),
                },
            );
        }
        if self.status >= 400 {
            self.shared.notice(Notice::Rejected {
                method: self.method.clone(),
                path: self.path.clone(),
                status: self.status,
                code: self.code.clone(),
            });
        }
    }
}

/// Counts DELETE requests in flight (peak = `max_concurrent_deletes`).
struct DeleteGuard(Arc<Shared>);

impl DeleteGuard {
    fn new(shared: &Arc<Shared>) -> DeleteGuard {
        let mut st = shared.lock();
        st.deletes_in_flight += 1;
        st.max_deletes_in_flight = st.max_deletes_in_flight.max(st.deletes_in_flight);
        DeleteGuard(shared.clone())
    }
}

impl Drop for DeleteGuard {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.deletes_in_flight = st.deletes_in_flight.saturating_sub(1);
    }
}

// ---------------------------------------------------------------- dispatch

/// Per-request context of an ARM call.
struct Ctx<'a> {
    shared: &'a Arc<Shared>,
    method: &'a Method,
    path: &'a str,
    headers: &'a HeaderMap,
    query: &'a [(String, String)],
    /// `http://host:port` as the client addressed us (for LRO URLs and nextLink).
    base: String,
    api_version: String,
    origin: Origin,
}

/// What later events of an operation carry from the request that started it.
#[derive(Debug, Clone)]
struct Origin {
    correlation_id: String,
    client_request_id: String,
    api_version: String,
}

impl Ctx<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn sub(&self) -> &str {
        &self.shared.cfg.subscription_id
    }

    fn op_urls(&self, location: &str, id: &str) -> (String, String) {
        let prefix = format!(
            "{}/subscriptions/{}/providers/{PROVIDER}/locations/{location}",
            self.base,
            self.sub()
        );
        (
            format!("{prefix}/operations/{id}?api-version={}", self.api_version),
            format!(
                "{prefix}/operationResults/{id}?api-version={}",
                self.api_version
            ),
        )
    }

    /// 201/202 headers of a long-running operation.
    fn lro(&self, r: Response, location: &str, id: &str, with_location: bool) -> Response {
        let (async_url, location_url) = self.op_urls(location, id);
        let r = with_header(r, "azure-asyncoperation", &async_url);
        let r = with_header(
            r,
            "retry-after",
            &self.shared.cfg.lro_retry_after_secs.to_string(),
        );
        if with_location {
            with_header(r, "location", &location_url)
        } else {
            r
        }
    }
}

/// The single entry point of the router.
pub(crate) async fn dispatch(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let segs = segments(&path);

    if segs.first().is_some_and(|s| s == "_sim") {
        return admin(&shared, &parts.method, &segs);
    }
    if segs.is_empty() {
        return json_response(
            200,
            &json!({ "service": "gamefleet-sim", "arm": shared.arm_endpoint }),
        );
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let is_msi = segs.len() == 2 && eq(&segs[0], "msi") && eq(&segs[1], "token");
    let route = if is_msi {
        Route::NotArm
    } else {
        parse_route(&segs)
    };
    let op = if is_msi {
        Some(Op::Token)
    } else {
        route.op(&parts.method)
    };
    let _delete_guard = (op == Some(Op::Delete)).then(|| DeleteGuard::new(&shared));
    let mut record = RecordGuard {
        shared: shared.clone(),
        method: parts.method.to_string(),
        path: path.clone(),
        query: raw_query.clone(),
        op,
        status: 499,
        code: None,
    };

    let resp = if is_msi {
        identity::token(&shared, &parts.method, &parts.headers, &query).await
    } else {
        let header = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let correlation_id = header("x-ms-correlation-request-id")
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let client_request_id =
            header("x-ms-client-request-id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let base = header(HOST.as_str())
            .map(|h| format!("http://{h}"))
            .unwrap_or_else(|| shared.arm_endpoint.clone());
        let mut ctx = Ctx {
            shared: &shared,
            method: &parts.method,
            path: &path,
            headers: &parts.headers,
            query: &query,
            base,
            api_version: String::new(),
            origin: Origin {
                correlation_id: correlation_id.clone(),
                client_request_id,
                api_version: String::new(),
            },
        };
        let r = arm(&mut ctx, &route, op, body).await;
        let r = with_header(r, "x-ms-request-id", &uuid::Uuid::new_v4().to_string());
        let r = with_header(r, "x-ms-correlation-request-id", &correlation_id);
        let limit = match op {
            Some(Op::Put | Op::Start | Op::Stop | Op::Restart) => "writes",
            Some(Op::Delete) => "deletes",
            _ => "reads",
        };
        let name = format!("x-ms-ratelimit-remaining-subscription-{limit}");
        // With a write bucket its count (for a DELETE under ARM's deletes name too),
        // else a fixed count just under ARM's bucket.
        match r.headers().get(REMAINING_WRITES).cloned() {
            Some(count) => match HeaderName::from_bytes(name.as_bytes()) {
                Ok(n) => {
                    let mut r = r;
                    r.headers_mut().insert(n, count);
                    r
                }
                Err(_) => r,
            },
            None => with_header(r, &name, if limit == "reads" { "249" } else { "199" }),
        }
    };
    record.finish(&resp);
    resp
}

fn admin(shared: &Arc<Shared>, method: &Method, segs: &[String]) -> Response {
    if method != Method::GET {
        return arm_error(405, "MethodNotAllowed", "Admin routes only answer GET.");
    }
    match segs.get(1).map(String::as_str) {
        Some("groups") => {
            let st = shared.lock();
            let list: Vec<Value> = st
                .groups
                .values()
                .map(|g| {
                    json!({
                        "resourceGroup": g.rg,
                        "name": g.name,
                        "provisioningState": g.provisioning,
                        "instanceState": g.instance,
                        "ip": g.ip
                    })
                })
                .collect();
            json_response(200, &Value::Array(list))
        }
        Some("counts") => {
            let st = shared.lock();
            let mut m = serde_json::Map::new();
            for op in Op::ALL {
                let n = st.log.count(op);
                m.insert(op.as_str().to_string(), json!(n));
            }
            json_response(200, &Value::Object(m))
        }
        _ => arm_error(404, "NotFound", "Admin routes: /_sim/groups, /_sim/counts."),
    }
}

fn check_auth(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Some(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            "The authentication failed because of missing 'Authorization' header.",
        ));
    };
    let text = value.to_str().unwrap_or("");
    let token = match text.split_once(' ') {
        Some((scheme, tok)) if eq(scheme, "bearer") && !tok.trim().is_empty() => tok.trim(),
        _ => return Some(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            "The authentication failed because of invalid format of 'Authorization' header.",
        )),
    };
    let st = shared.lock();
    let Some(t) = st.tokens.get(token) else {
        return Some(unauthorized(
            "InvalidAuthenticationToken",
            "The access token is invalid.",
            "The access token is invalid.",
        ));
    };
    if !is_arm_audience(&t.resource) {
        return Some(unauthorized(
            "InvalidAuthenticationTokenAudience",
            &format!(
                "The access token has been obtained for wrong audience or resource '{}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.",
                t.resource
            ),
            "The access token has been obtained from wrong audience or resource.",
        ));
    }
    if Instant::now() >= t.valid_until {
        return Some(unauthorized(
            "ExpiredAuthenticationToken",
            &format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                dotnet_time(t.expires_on),
                dotnet_time(Utc::now().timestamp())
            ),
            "The access token is expired.",
        ));
    }
    None
}

async fn arm(ctx: &mut Ctx<'_>, route: &Route, op: Option<Op>, body: Body) -> Response {
    let shared = ctx.shared;
    let Some(sub) = route.sub() else {
        return arm_error(
            404,
            "NotFound",
            &format!(
                "The requested path '{}' is not served by this endpoint.",
                ctx.path
            ),
        );
    };
    // 1. authentication
    if let Some(r) = check_auth(shared, ctx.headers) {
        return r;
    }
    // 2. api-version
    let api_version = ctx.param("api-version").map(str::to_string);
    match api_version.as_deref() {
        None => {
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        }
        Some(v) if shared.cfg.api_versions.iter().any(|a| a == v) => {
            ctx.api_version = v.to_string();
            ctx.origin.api_version = v.to_string();
        }
        Some(v) => {
            return arm_error(
                400,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{v}' is invalid. The supported versions are '{}'.",
                    shared.cfg.api_versions.join(",")
                ),
            )
        }
    }
    // 3. subscription, resource group
    if !eq(sub, &shared.cfg.subscription_id) {
        return arm_error(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        );
    }
    if let (Some(rg), Some(list)) = (route.rg(), &shared.cfg.resource_groups) {
        if !list.iter().any(|r| eq(r, rg)) {
            return arm_error(
                404,
                "ResourceGroupNotFound",
                &format!("Resource group '{rg}' could not be found."),
            );
        }
    }
    if let Route::Unknown { what, .. } = route {
        return arm_error(
            404,
            "InvalidResourceType",
            &format!(
                "The resource type '{what}' could not be found in the namespace '{PROVIDER}' for api version '{}'.",
                ctx.api_version
            ),
        );
    }
    let Some(op) = op else {
        return with_header(
            arm_error(
                405,
                "MethodNotAllowed",
                &format!(
                    "The requested resource does not support http method '{}'.",
                    ctx.method
                ),
            ),
            "allow",
            route.allowed(),
        );
    };
    // 4. ARM's write throttling, before the resource provider sees the request
    let remaining = match spend_write_token(shared, op) {
        Ok(remaining) => remaining,
        Err(retry_after) => return write_throttled(ctx, retry_after),
    };
    let r = serve(ctx, route, op, body).await;
    match remaining {
        Some(n) => with_header(r, REMAINING_WRITES, &n.to_string()),
        None => r,
    }
}

/// Writes spend a token of the subscription's bucket (when one is configured):
/// `Ok(Some(tokens left))` for the answer's header, `Ok(None)` for a read or
/// without a bucket, `Err(retry after)` when the bucket is empty.
fn spend_write_token(shared: &Shared, op: Op) -> Result<Option<u32>, Duration> {
    if !matches!(
        op,
        Op::Put | Op::Delete | Op::Start | Op::Stop | Op::Restart
    ) {
        return Ok(None);
    }
    let mut st = shared.lock();
    let Some(bucket) = st.write_bucket.as_mut() else {
        return Ok(None);
    };
    let taken = bucket.take();
    if taken.is_err() {
        st.throttled_writes += 1;
    }
    taken.map(Some)
}

/// ARM's answer when a subscription's write bucket is empty.
fn write_throttled(ctx: &Ctx<'_>, retry_after: Duration) -> Response {
    let secs = retry_after.as_secs();
    let r = arm_error(
        429,
        "SubscriptionRequestsThrottled",
        &format!(
            "Number of 'write' requests for subscription '{}' actor '{}' exceeded. Please try again after '{secs}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling",
            ctx.sub(),
            ctx.shared.system_client_id
        ),
    );
    let r = with_header(r, "retry-after", &secs.to_string());
    with_header(r, REMAINING_WRITES, "0")
}

/// Injected faults, then the operation itself.
async fn serve(ctx: &mut Ctx<'_>, route: &Route, op: Op, body: Body) -> Response {
    let shared = ctx.shared;
    // 5. injected faults
    if let Some(rule) = apply_fault(shared, op, route.name()).await {
        let r = arm_error(rule.status, &rule.code, &rule.message);
        return match rule.retry_after_secs {
            Some(s) => with_header(r, "retry-after", &s.to_string()),
            None => r,
        };
    }
    match route {
        Route::ListSub { .. } => list(ctx, None),
        Route::ListRg { rg, .. } => list(ctx, Some(rg)),
        Route::AsyncOp { id, .. } => async_operation(ctx, id),
        Route::OpResult { id, .. } => operation_result(ctx, id),
        Route::Group { rg, name, .. } => match op {
            Op::Put => match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(bytes) => put(ctx, rg, name, bytes),
                Err(_) => arm_error(
                    413,
                    "RequestEntityTooLarge",
                    "The request content is too large or could not be read.",
                ),
            },
            Op::Delete => delete(ctx, rg, name).await,
            _ => get(ctx, rg, name),
        },
        Route::Logs {
            rg,
            name,
            container,
            ..
        } => logs(ctx, rg, name, container),
        Route::Action {
            rg, name, action, ..
        } => run_action(ctx, rg, name, *action),
        Route::NotArm | Route::Unknown { .. } => arm_error(404, "NotFound", "Not found."),
    }
}

// ---------------------------------------------------------------- events

fn make_event(
    shared: &Shared,
    kind: ResourceEventKind,
    rg: &str,
    name: &str,
    operation: &str,
    origin: &Origin,
) -> Value {
    resource_event_with(
        shared.cfg.events.schema,
        kind,
        &shared.cfg.subscription_id,
        rg,
        name,
        operation,
        &EventDetails {
            correlation_id: origin.correlation_id.clone(),
            client_request_id: origin.client_request_id.clone(),
            api_version: origin.api_version.clone(),
            time: Utc::now(),
            id: uuid::Uuid::new_v4().to_string(),
        },
    )
}

// ---------------------------------------------------------------- operations

fn put(ctx: &Ctx<'_>, rg: &str, name: &str, body: Bytes) -> Response {
    let shared = ctx.shared;
    if let Err(e) = validate_group_name(name) {
        return arm_error(400, e.code, &e.message);
    }
    let ct = ctx
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(media == "application/json" || media == "text/json") {
        return arm_error(
            415,
            "UnsupportedMediaType",
            &format!("The content media type '{ct}' is not supported. Only 'application/json' is supported."),
        );
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return arm_error(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'The request body is empty.'.",
        );
    }
    let json: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return arm_error(
                400,
                "InvalidRequestContent",
                &format!("The request content was invalid and could not be deserialized: '{e}'."),
            )
        }
    };
    let valid = match validate_body(&json) {
        Ok(v) => v,
        Err(e) => return arm_error(400, e.code, &e.message),
    };

    let k = key(rg, name);
    let opid = uuid::Uuid::new_v4().to_string();
    let location = valid.location.clone();
    let (status, body, rg_display, generation, delay) = {
        let mut st = shared.lock();
        let rg_display = shared.rg_display(&mut st, rg);
        let generation = st.next_generation();
        let delay = st.provisioning_delay;
        let status = match st.groups.get_mut(&k) {
            Some(g) => {
                if g.delete_op.is_some() {
                    return arm_error(
                        409,
                        "Conflict",
                        &format!("The container group '{name}' is being deleted. Retry once the deletion has completed."),
                    );
                }
                if g.location != valid.location {
                    return arm_error(
                        400,
                        "InvalidResourceLocation",
                        &format!(
                            "The resource '{name}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{}'. Please select a new resource name.",
                            g.location, g.rg, valid.location
                        ),
                    );
                }
                g.properties = valid.properties;
                g.tags = valid.tags;
                g.containers = valid.containers;
                g.env = valid.env;
                g.public_ip = valid.public_ip;
                g.failing_image = valid.failing_image;
                g.provisioning = "Pending";
                g.instance = "Pending";
                g.generation = generation;
                if !g.public_ip {
                    g.ip = None;
                }
                200
            }
            None => {
                st.groups.insert(
                    k.clone(),
                    crate::state::Group {
                        rg: rg_display.clone(),
                        name: name.to_string(),
                        location: valid.location,
                        tags: valid.tags,
                        properties: valid.properties,
                        containers: valid.containers,
                        env: valid.env,
                        public_ip: valid.public_ip,
                        failing_image: valid.failing_image,
                        provisioning: "Pending",
                        instance: "Pending",
                        ip: None,
                        generation,
                        delete_op: None,
                        logs: Default::default(),
                        restart_count: 0,
                        started_at: None,
                        finished_at: None,
                        failed_at: None,
                    },
                );
                201
            }
        };
        st.ops.insert(
            opid.clone(),
            Operation::new(OpKind::Put, k.clone(), &location),
        );
        let body = st
            .groups
            .get(&k)
            .map(|g| g.render(ctx.sub(), View::NoInstanceView))
            .unwrap_or(Value::Null);
        (status, body, rg_display, generation, delay)
    };
    if shared.cfg.events.write_event_timing == WriteEventTiming::OnAccepted {
        let e = make_event(
            shared,
            ResourceEventKind::WriteSuccess,
            &rg_display,
            name,
            "write",
            &ctx.origin,
        );
        emit(shared, e);
    }
    schedule_provisioning(
        shared,
        k,
        generation,
        opid.clone(),
        delay,
        OpKind::Put,
        ctx.origin.clone(),
    );
    shared.notice(Notice::PutAccepted {
        resource_group: rg_display,
        name: name.to_string(),
        status,
    });
    ctx.lro(
        json_response(status, &body),
        &location,
        &opid,
        status == 201,
    )
}

fn schedule_provisioning(
    shared: &Arc<Shared>,
    k: GroupKey,
    generation: u64,
    opid: String,
    delay: Duration,
    kind: OpKind,
    origin: Origin,
) {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if let Some(sh) = weak.upgrade() {
            finish_provisioning(&sh, &k, generation, &opid, kind, &origin);
        }
    });
}

fn finish_provisioning(
    sh: &Arc<Shared>,
    k: &GroupKey,
    generation: u64,
    opid: &str,
    kind: OpKind,
    origin: &Origin,
) {
    let mut event = None;
    let notice;
    {
        let mut st = sh.lock();
        let current = st
            .groups
            .get(k)
            .is_some_and(|g| g.generation == generation && g.delete_op.is_none());
        if !current {
            if let Some(op) = st.ops.get_mut(opid) {
                op.finish(
                    "Canceled",
                    Some((
                        "OperationCanceled".into(),
                        "The operation was canceled by a later operation on the container group."
                            .into(),
                    )),
                );
            }
            return;
        }
        let needs_ip = st
            .groups
            .get(k)
            .is_some_and(|g| g.public_ip && g.ip.is_none() && g.failing_image.is_none());
        let new_ip = needs_ip.then(|| st.next_ip());
        let Some(g) = st.groups.get_mut(k) else {
            return;
        };
        let now = Utc::now();
        let (rg, name) = (g.rg.clone(), g.name.clone());
        let on_provisioned = kind == OpKind::Put
            && sh.cfg.events.write_event_timing == WriteEventTiming::OnProvisioned;
        let result;
        if let Some(image) = g.failing_image.clone() {
            g.provisioning = "Failed";
            g.instance = "Failed";
            g.failed_at = Some(now);
            let reason = format!(
                "The image '{image}' in container group '{name}' is not accessible. Please check the image and registry credential."
            );
            result = (
                "Failed",
                Some(("InaccessibleImage".to_string(), reason.clone())),
            );
            if on_provisioned {
                event = Some((ResourceEventKind::WriteFailure, rg.clone(), name.clone()));
            }
            notice = Notice::ProvisioningFailed {
                resource_group: rg,
                name,
                reason,
            };
        } else {
            g.provisioning = "Succeeded";
            g.instance = "Running";
            g.started_at = Some(now);
            if new_ip.is_some() {
                g.ip = new_ip;
            }
            result = ("Succeeded", None);
            if on_provisioned {
                event = Some((ResourceEventKind::WriteSuccess, rg.clone(), name.clone()));
            }
            notice = Notice::Provisioned {
                resource_group: rg,
                name,
                ip: g.ip.clone(),
            };
        }
        if let Some(op) = st.ops.get_mut(opid) {
            op.finish(result.0, result.1);
        }
    }
    if let Some((kind, rg, name)) = event {
        let e = make_event(sh, kind, &rg, &name, "write", origin);
        emit(sh, e);
    }
    sh.notice(notice);
}

fn get(ctx: &Ctx<'_>, rg: &str, name: &str) -> Response {
    let st = ctx.shared.lock();
    match st.groups.get(&key(rg, name)) {
        Some(g) => json_response(200, &g.render(ctx.sub(), View::Full)),
        None => not_found(rg, name),
    }
}

async fn delete(ctx: &Ctx<'_>, rg: &str, name: &str) -> Response {
    let shared = ctx.shared;
    let handling = shared.lock().delete_handling_delay;
    if !handling.is_zero() {
        tokio::time::sleep(handling).await;
    }
    let k = key(rg, name);
    let (resp, event, rg_display) = {
        let mut st = shared.lock();
        let delay = st.delete_delay;
        let Some(g) = st.groups.get(&k) else {
            drop(st);
            shared.notice(Notice::DeleteAnswered {
                resource_group: rg.to_string(),
                name: name.to_string(),
                status: 204,
            });
            return empty(204);
        };
        let rg_display = g.rg.clone();
        let location = g.location.clone();
        if let Some(opid) = g.delete_op.clone() {
            (
                ctx.lro(empty(202), &location, &opid, true),
                None,
                rg_display,
            )
        } else if delay.is_zero() {
            let body = st
                .groups
                .remove(&k)
                .map(|g| g.render(ctx.sub(), View::Full))
                .unwrap_or(Value::Null);
            (json_response(200, &body), Some(()), rg_display)
        } else {
            let opid = uuid::Uuid::new_v4().to_string();
            if let Some(g) = st.groups.get_mut(&k) {
                g.delete_op = Some(opid.clone());
                g.provisioning = "Deleting";
            }
            st.ops.insert(
                opid.clone(),
                Operation::new(OpKind::Delete, k.clone(), &location),
            );
            schedule_deletion(shared, k.clone(), opid.clone(), delay, ctx.origin.clone());
            (
                ctx.lro(empty(202), &location, &opid, true),
                None,
                rg_display,
            )
        }
    };
    shared.notice(Notice::DeleteAnswered {
        resource_group: rg_display.clone(),
        name: name.to_string(),
        status: resp.status().as_u16(),
    });
    if event.is_some() {
        let e = make_event(
            shared,
            ResourceEventKind::DeleteSuccess,
            &rg_display,
            name,
            "delete",
            &ctx.origin,
        );
        emit(shared, e);
    }
    resp
}

fn schedule_deletion(
    shared: &Arc<Shared>,
    k: GroupKey,
    opid: String,
    delay: Duration,
    origin: Origin,
) {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let Some(sh) = weak.upgrade() else { return };
        let removed = {
            let mut st = sh.lock();
            let ours = st
                .groups
                .get(&k)
                .is_some_and(|g| g.delete_op.as_deref() == Some(opid.as_str()));
            let removed = if ours { st.groups.remove(&k) } else { None };
            if let Some(op) = st.ops.get_mut(&opid) {
                op.finish("Succeeded", None);
            }
            removed
        };
        if let Some(g) = removed {
            let e = make_event(
                &sh,
                ResourceEventKind::DeleteSuccess,
                &g.rg,
                &g.name,
                "delete",
                &origin,
            );
            emit(&sh, e);
            sh.notice(Notice::Deleted {
                resource_group: g.rg,
                name: g.name,
            });
        }
    });
}

fn list(ctx: &Ctx<'_>, rg: Option<&str>) -> Response {
    let offset = match ctx.param("$skiptoken") {
        None => 0,
        Some(t) => match t.parse::<usize>() {
            Ok(n) => n,
            Err(_) => {
                return arm_error(
                    400,
                    "InvalidSkipToken",
                    &format!("The skip token '{t}' is invalid."),
                )
            }
        },
    };
    let page = ctx.shared.cfg.page_size.max(1);
    let rg_lower = rg.map(str::to_lowercase);
    let st = ctx.shared.lock();
    let matching: Vec<&crate::state::Group> = st
        .groups
        .iter()
        .filter(|(k, _)| rg_lower.as_deref().is_none_or(|r| r == k.0))
        .map(|(_, g)| g)
        .collect();
    let items: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page)
        .map(|g| g.render(ctx.sub(), View::NoInstanceView))
        .collect();
    let mut body = serde_json::Map::new();
    body.insert("value".into(), Value::Array(items));
    if offset + page < matching.len() {
        body.insert(
            "nextLink".into(),
            Value::String(format!(
                "{}{}?api-version={}&$skiptoken={}",
                ctx.base,
                ctx.path,
                ctx.api_version,
                offset + page
            )),
        );
    }
    json_response(200, &Value::Object(body))
}

fn logs(ctx: &Ctx<'_>, rg: &str, name: &str, container: &str) -> Response {
    let tail = match ctx.param("tail") {
        None => None,
        Some(t) => match t.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => {
                return arm_error(
                    400,
                    "InvalidRequestParameter",
                    &format!("The value '{t}' of query parameter 'tail' is invalid; it must be a non-negative integer."),
                )
            }
        },
    };
    let st = ctx.shared.lock();
    let Some(g) = st.groups.get(&key(rg, name)) else {
        return not_found(rg, name);
    };
    if !g.containers.iter().any(|c| c == container) {
        return arm_error(
            404,
            "ContainerNotFound",
            &format!("The container '{container}' can not be found in container group '{name}'."),
        );
    }
    json_response(200, &json!({ "content": g.log_content(container, tail) }))
}

fn run_action(ctx: &Ctx<'_>, rg: &str, name: &str, action: Action) -> Response {
    let shared = ctx.shared;
    let k = key(rg, name);
    let mut provisioning = None;
    let (resp, rg_display) = {
        let mut st = shared.lock();
        let generation = st.next_generation();
        let delay = st.provisioning_delay;
        let Some(g) = st.groups.get(&k) else {
            return not_found(rg, name);
        };
        if g.delete_op.is_some() {
            return arm_error(
                409,
                "Conflict",
                &format!("The container group '{name}' is being deleted."),
            );
        }
        let rg_display = g.rg.clone();
        let location = g.location.clone();
        let needs_ip = g.public_ip && g.ip.is_none() && g.failing_image.is_none();
        let running_or_starting = g.instance == "Running" || g.provisioning == "Pending";
        let pending = g.provisioning == "Pending";
        let new_ip = (action == Action::Restart && needs_ip && !pending).then(|| st.next_ip());
        let Some(g) = st.groups.get_mut(&k) else {
            return not_found(rg, name);
        };
        let resp = match action {
            Action::Start if running_or_starting => empty(204),
            Action::Start => {
                g.provisioning = "Pending";
                g.instance = "Pending";
                g.generation = generation;
                let opid = uuid::Uuid::new_v4().to_string();
                provisioning = Some((generation, opid.clone(), delay));
                st.ops.insert(
                    opid.clone(),
                    Operation::new(OpKind::Start, k.clone(), &location),
                );
                ctx.lro(empty(202), &location, &opid, true)
            }
            Action::Stop => {
                g.generation = generation;
                g.provisioning = "Succeeded";
                if g.instance != "Failed" {
                    g.instance = "Stopped";
                }
                g.finished_at = Some(Utc::now());
                // Stopping deallocates the group; a later start gets a new IP.
                g.ip = None;
                empty(204)
            }
            Action::Restart => {
                if pending || g.failing_image.is_some() {
                    // A deployment in progress (or one that cannot start) stays as is.
                } else {
                    if g.instance == "Running" {
                        g.restart_count += 1;
                    }
                    g.instance = "Running";
                    g.provisioning = "Succeeded";
                    g.started_at = Some(Utc::now());
                    if new_ip.is_some() {
                        g.ip = new_ip;
                    }
                }
                empty(204)
            }
        };
        (resp, rg_display)
    };
    if let Some((generation, opid, delay)) = provisioning {
        schedule_provisioning(
            shared,
            k,
            generation,
            opid,
            delay,
            OpKind::Start,
            ctx.origin.clone(),
        );
    }
    let e = make_event(
        shared,
        ResourceEventKind::ActionSuccess,
        &rg_display,
        name,
        action.as_str(),
        &ctx.origin,
    );
    emit(shared, e);
    shared.notice(Notice::Action {
        resource_group: rg_display,
        name: name.to_string(),
        action: action.as_str().to_string(),
        status: resp.status().as_u16(),
    });
    resp
}

fn operation_json(ctx: &Ctx<'_>, id: &str, op: &Operation) -> Value {
    let ts = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut v = json!({
        "id": format!("/subscriptions/{}/providers/{PROVIDER}/locations/{}/operations/{id}", ctx.sub(), op.location),
        "name": id,
        "status": op.status,
        "startTime": ts(op.start),
    });
    if let Some(end) = op.end {
        v["endTime"] = Value::String(ts(end));
    }
    if let Some((code, message)) = &op.error {
        v["error"] = json!({ "code": code, "message": message });
    }
    v
}

fn unknown_operation(id: &str) -> Response {
    arm_error(
        404,
        "OperationNotFound",
        &format!("The operation '{id}' could not be found."),
    )
}

fn async_operation(ctx: &Ctx<'_>, id: &str) -> Response {
    let st = ctx.shared.lock();
    match st.ops.get(id) {
        Some(op) => json_response(200, &operation_json(ctx, id, op)),
        None => unknown_operation(id),
    }
}

fn operation_result(ctx: &Ctx<'_>, id: &str) -> Response {
    let st = ctx.shared.lock();
    let Some(op) = st.ops.get(id) else {
        return unknown_operation(id);
    };
    match op.status {
        "InProgress" => {
            let (_, location_url) = ctx.op_urls(&op.location, id);
            let r = with_header(empty(202), "location", &location_url);
            with_header(
                r,
                "retry-after",
                &ctx.shared.cfg.lro_retry_after_secs.to_string(),
            )
        }
        "Succeeded" => match (op.kind, st.groups.get(&op.key)) {
            (OpKind::Put | OpKind::Start, Some(g)) => {
                json_response(200, &g.render(ctx.sub(), View::Full))
            }
            _ => empty(204),
        },
        status => {
            let (code, message) = op.error.clone().unwrap_or_else(|| {
                (
                    format!("Operation{status}"),
                    format!("The operation ended with status '{status}'."),
                )
            });
            arm_error(
                if status == "Canceled" { 409 } else { 400 },
                &code,
                &message,
            )
        }
    }
}
