//! Request dispatch of the Nova simulator.
//!
//! Order of checks for every request: version documents (`GET /`, `GET /v2.1/`, no
//! token needed) → token (401 missing/refused by Keystone, 503 Keystone unusable) →
//! microversion (400 malformed, 406 out of range) → routing (404 unknown path, 405
//! wrong method) → project in the URL (400) and roles (403) → fault rules → body
//! (400, 415) → the server (404) and its state (409).

use super::auth::{Caller, Outcome};
use super::state::{Action, InvalidState};
use super::types::{fault_name, NovaOp, NovaRequestRecord};
use super::NovaShared;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

const MAX_BODY: usize = 1024 * 1024;
const VERSIONS_UPDATED: &str = "2013-07-23T11:33:21Z";

// ---------------------------------------------------------------- microversions

/// A compute microversion `2.minor` (Nova has no other major).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Microversion(pub u16);

impl std::fmt::Display for Microversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "2.{}", self.0)
    }
}

impl Microversion {
    /// `"2.X"` → `Microversion(X)`; other majors are returned as `Err(Some(..))` so
    /// they can be refused as out of range; malformed strings as `Err(None)`.
    pub fn parse(s: &str) -> Result<Microversion, Option<String>> {
        let (major, minor) = s.trim().split_once('.').ok_or(None)?;
        let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !ok(major) || !ok(minor) {
            return Err(None);
        }
        match (major.parse::<u16>(), minor.parse::<u16>()) {
            (Ok(2), Ok(m)) => Ok(Microversion(m)),
            (Ok(_), Ok(_)) => Err(Some(s.trim().to_string())),
            _ => Err(None),
        }
    }
}

/// The requested version: `OpenStack-API-Version: compute 2.X` (a comma-separated
/// list of `service version`; other services ignored), else the legacy
/// `X-OpenStack-Nova-API-Version: 2.X`, else 2.1. `latest` = the maximum.
fn requested_version(
    headers: &HeaderMap,
    min: Microversion,
    max: Microversion,
) -> Result<Microversion, Fault> {
    let header = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let modern = header("openstack-api-version");
    let wanted = modern
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(service), Some(v)) if service.eq_ignore_ascii_case("compute") => {
                    Some(v.to_string())
                }
                _ => None,
            }
        })
        .next()
        .or_else(|| {
            let legacy = header("x-openstack-nova-api-version");
            (!legacy.trim().is_empty()).then(|| legacy.trim().to_string())
        });
    let Some(wanted) = wanted else {
        return Ok(Microversion(1));
    };
    if wanted.eq_ignore_ascii_case("latest") {
        return Ok(max);
    }
    let out_of_range = |v: &str| {
        Fault::new(
            406,
            &format!(
                "Version {v} is not supported by the API. Minimum is {min} and maximum is {max}."
            ),
        )
    };
    match Microversion::parse(&wanted) {
        Ok(v) if v >= min && v <= max => Ok(v),
        Ok(v) => Err(out_of_range(&v.to_string())),
        Err(Some(other)) => Err(out_of_range(&other)),
        Err(None) => Err(Fault::new(
            400,
            &format!(
                "API Version String {wanted} is of invalid format. Must be of format MajorNum.MinorNum."
            ),
        )),
    }
}

fn with_version(mut r: Response, v: Microversion) -> Response {
    let h = r.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&format!("compute {v}")) {
        h.insert(HeaderName::from_static("openstack-api-version"), value);
    }
    if let Ok(value) = HeaderValue::from_str(&v.to_string()) {
        h.insert(
            HeaderName::from_static("x-openstack-nova-api-version"),
            value,
        );
    }
    h.insert(
        VARY,
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
    r
}

// ---------------------------------------------------------------- responses

/// Fault name and message of an error answer, kept for the request log.
#[derive(Debug, Clone)]
struct FaultInfo {
    name: String,
    message: String,
}

fn json_response(status: u16, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn with_header(mut r: Response, name: &'static str, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(HeaderName::from_static(name), v);
    }
    r
}

/// An error answer not yet rendered: status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    status: u16,
    message: String,
}

impl Fault {
    fn new(status: u16, message: &str) -> Fault {
        Fault {
            status,
            message: message.to_string(),
        }
    }

    fn response(&self) -> Response {
        nova_error(self.status, &self.message)
    }
}

/// Nova's fault body: `{"<faultName>": {"code": status, "message": ...}}`.
fn nova_error(status: u16, message: &str) -> Response {
    fault_response(status, message, None)
}

fn fault_response(status: u16, message: &str, retry_after: Option<u32>) -> Response {
    let name = fault_name(status);
    let mut inner = json!({ "code": status, "message": message });
    let mut r = match retry_after {
        Some(secs) => {
            if name == "overLimit" {
                inner["retryAfter"] = json!(secs.to_string());
            }
            with_header(
                json_response(status, &json!({ name: inner })),
                "retry-after",
                &secs.to_string(),
            )
        }
        None => json_response(status, &json!({ name: inner })),
    };
    r.extensions_mut().insert(FaultInfo {
        name: name.to_string(),
        message: message.to_string(),
    });
    r
}

fn accepted() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

fn not_found_path() -> Response {
    nova_error(404, "The resource could not be found.")
}

fn instance_not_found(id: &str) -> Response {
    nova_error(404, &format!("Instance {id} could not be found."))
}

fn bad_input(field: &str, value: &Value, why: &str) -> Fault {
    Fault::new(
        400,
        &format!("Invalid input for field/attribute {field}. Value: {value}. {why}"),
    )
}

// ---------------------------------------------------------------- routing

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// `GET /`
    Versions,
    /// `GET /v2.1` or `/v2.1/`
    Version,
    /// `/v2.1[/{project}]/servers/{id}`
    Server(Option<String>, String),
    /// `/v2.1[/{project}]/servers/{id}/action`
    ServerAction(Option<String>, String),
    Unknown,
}

fn parse_route(path: &str) -> Route {
    if path == "/" {
        return Route::Versions;
    }
    if path == "/v2.1" || path == "/v2.1/" {
        return Route::Version;
    }
    let Some(rest) = path.strip_prefix("/v2.1/") else {
        return Route::Unknown;
    };
    let s: Vec<&str> = rest.split('/').collect();
    if s.iter().any(|p| p.is_empty()) {
        return Route::Unknown;
    }
    let (project, s) = match s.as_slice() {
        [p, "servers", ..] if *p != "servers" => (Some(p.to_string()), &s[1..]),
        _ => (None, &s[..]),
    };
    match s {
        ["servers", id] => Route::Server(project, id.to_string()),
        ["servers", id, "action"] => Route::ServerAction(project, id.to_string()),
        _ => Route::Unknown,
    }
}

impl Route {
    fn server(&self) -> Option<&str> {
        match self {
            Route::Server(_, id) | Route::ServerAction(_, id) => Some(id),
            _ => None,
        }
    }

    fn project(&self) -> Option<&str> {
        match self {
            Route::Server(p, _) | Route::ServerAction(p, _) => p.as_deref(),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- bookkeeping

/// Records the request (log + counts) when dropped, also if the client went away.
struct RecordGuard {
    shared: Arc<NovaShared>,
    record: NovaRequestRecord,
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        self.record.at = Utc::now();
        st.log.record(self.record.op, self.record.clone());
    }
}

// ---------------------------------------------------------------- dispatch

/// The single entry point of the Nova router.
pub(crate) async fn dispatch(State(shared): State<Arc<NovaShared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let route = parse_route(parts.uri.path());
    let mut guard = RecordGuard {
        shared: shared.clone(),
        record: NovaRequestRecord {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            status: 499,
            fault: None,
            message: None,
            op: match (&route, &parts.method) {
                (Route::Versions | Route::Version, &Method::GET) => Some(NovaOp::Versions),
                (Route::Server(..), &Method::GET) => Some(NovaOp::GetServer),
                (Route::ServerAction(..), &Method::POST) => Some(NovaOp::Action),
                _ => None,
            },
            microversion: None,
            user_id: None,
            project_id: None,
            request_id: request_id.clone(),
            at: Utc::now(),
        },
    };
    let resp = handle(
        &shared,
        &parts.method,
        &parts.headers,
        &route,
        body,
        &mut guard.record,
    )
    .await;
    let resp = with_header(resp, "x-openstack-request-id", &request_id);
    let resp = with_header(resp, "x-compute-request-id", &request_id);
    guard.record.status = resp.status().as_u16();
    if let Some(f) = resp.extensions().get::<FaultInfo>() {
        guard.record.fault = Some(f.name.clone());
        guard.record.message = Some(f.message.clone());
    }
    resp
}

fn token_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn unauthorized(shared: &NovaShared, why: &str) -> Response {
    with_header(
        nova_error(
            401,
            &format!("The request you have made requires authentication. (gamefleet-sim: {why})"),
        ),
        "www-authenticate",
        &format!("Keystone uri=\"{}\"", shared.cfg.keystone.auth_url),
    )
}

async fn handle(
    shared: &Arc<NovaShared>,
    method: &Method,
    headers: &HeaderMap,
    route: &Route,
    body: Body,
    record: &mut NovaRequestRecord,
) -> Response {
    let (min, max) = (shared.cfg.min_microversion(), shared.cfg.max_microversion());
    // 0. version documents: no token, as Nova's unauthenticated version pipeline.
    match (route, method) {
        (Route::Versions, &Method::GET) => return json_response(300, &versions(shared, min, max)),
        (Route::Version, &Method::GET) => {
            return json_response(200, &json!({ "version": version(shared, min, max) }))
        }
        (Route::Versions | Route::Version, _) => {
            return nova_error(
                405,
                "The method specified is not allowed for this resource.",
            )
        }
        _ => {}
    }
    // 1. token
    let Some(token) = token_of(headers) else {
        return unauthorized(shared, "no X-Auth-Token");
    };
    let caller: Arc<Caller> = match shared.validator.validate(token).await {
        Outcome::Valid(c) => c,
        Outcome::Invalid(why) => return unauthorized(shared, &why),
        Outcome::Unavailable(why) => {
            tracing::warn!("nova-sim: token validation impossible: {why}");
            return nova_error(
                503,
                "The server is currently unavailable. Please try again at a later time.",
            );
        }
    };
    record.user_id = Some(caller.user_id.clone());
    record.project_id = caller.project_id.clone();
    // 2. microversion
    let v = match requested_version(headers, min, max) {
        Ok(v) => v,
        Err(f) => return f.response(),
    };
    record.microversion = Some(v.to_string());
    with_version(
        served(shared, method, headers, route, body, &caller, v, record).await,
        v,
    )
}

/// The part after authentication and microversion negotiation.
#[allow(clippy::too_many_arguments)]
async fn served(
    shared: &Arc<NovaShared>,
    method: &Method,
    headers: &HeaderMap,
    route: &Route,
    body: Body,
    caller: &Caller,
    v: Microversion,
    record: &mut NovaRequestRecord,
) -> Response {
    // 3. routing
    let (Some(id), wanted) = (route.server(), route.clone()) else {
        return not_found_path();
    };
    match (&wanted, method) {
        (Route::Server(..), &Method::GET) | (Route::ServerAction(..), &Method::POST) => {}
        _ => {
            return nova_error(
                405,
                "The method specified is not allowed for this resource.",
            )
        }
    }
    // 4. project and roles
    let Some(project) = caller.project_id.as_deref() else {
        return nova_error(
            403,
            "Policy doesn't allow this operation: the token is not scoped to a project.",
        );
    };
    if let Some(in_url) = route.project() {
        if in_url != project {
            return nova_error(
                400,
                &format!("Malformed request URL: URL's project_id '{in_url}' doesn't match Context's project_id '{project}'"),
            );
        }
    }
    let has = |names: &[&str]| caller.roles.iter().any(|r| names.contains(&r.as_str()));
    let is_action = matches!(wanted, Route::ServerAction(..));
    let (rule_name, allowed) = if is_action {
        ("os_compute_api:servers:action", has(&["admin", "member"]))
    } else {
        (
            "os_compute_api:servers:show",
            has(&["admin", "member", "reader"]),
        )
    };
    if !allowed {
        return nova_error(
            403,
            &format!("Policy doesn't allow {rule_name} to be performed."),
        );
    }
    // 5. the body of an action (its op decides which fault rules match)
    let action = if is_action {
        let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(b) => b,
            Err(_) => return nova_error(413, "Request is too large."),
        };
        match parse_action(headers, &bytes, v) {
            Ok(a) => {
                record.op = Some(a.op());
                Some(a)
            }
            Err(f) => return f.response(),
        }
    } else {
        None
    };
    // 6. fault rules
    let op = action.map_or(NovaOp::GetServer, Action::op);
    let rule = shared.state.lock().take_fault(op, Some(id));
    if let Some(rule) = rule {
        if let Some(d) = rule.delay {
            tokio::time::sleep(d).await;
        }
        if rule.status != 0 {
            return fault_response(rule.status, &rule.message, rule.retry_after_secs);
        }
    }
    // 7. the server
    let now = Instant::now();
    let mut st = shared.state.lock();
    let Some(server) = st
        .servers
        .get_mut(id)
        .filter(|s| s.project_id.as_deref().is_none_or(|p| p == project))
    else {
        return instance_not_found(id);
    };
    match action {
        None => {
            server.settle(now);
            let body = server.render(now, &shared.endpoint, project, &caller.user_id);
            json_response(200, &json!({ "server": body }))
        }
        Some(a) => {
            match server.begin(a, now, shared.cfg.transition_time, shared.cfg.keep_shelved) {
                Ok(()) => accepted(),
                Err(InvalidState { attr, state }) => nova_error(
                    409,
                    &format!(
                        "Cannot '{}' instance {id} while it is in {attr} {state}",
                        a.method()
                    ),
                ),
            }
        }
    }
}

/// The one action a `POST .../action` body names, checked like Nova's JSON schemas.
fn parse_action(headers: &HeaderMap, body: &[u8], v: Microversion) -> Result<Action, Fault> {
    if let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        let media = ct.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return Err(Fault::new(415, "Unsupported Content-Type"));
        }
    }
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(Fault::new(400, "Malformed request body"));
    };
    let mut entries = map.iter();
    let (Some((name, value)), None) = (entries.next(), entries.next()) else {
        return Err(Fault::new(
            400,
            "Malformed request body: an action body has exactly one key",
        ));
    };
    let null_only = |action: Action| match value {
        Value::Null => Ok(action),
        other => Err(bad_input(
            name,
            other,
            &format!("{other} is not of type 'null'"),
        )),
    };
    match name.as_str() {
        "os-start" => null_only(Action::Start),
        "os-stop" => null_only(Action::Stop),
        "shelve" => null_only(Action::Shelve),
        "unshelve" => match value {
            Value::Null => Ok(Action::Unshelve),
            Value::Object(o) if v >= Microversion(77) => {
                let allowed: &[&str] = if v >= Microversion(91) {
                    &["availability_zone", "host"]
                } else {
                    &["availability_zone"]
                };
                if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
                    return Err(bad_input(
                        "unshelve",
                        value,
                        &format!("Additional properties are not allowed ('{k}' was unexpected)"),
                    ));
                }
                if o.is_empty() {
                    return Err(bad_input(
                        "unshelve",
                        value,
                        "{} does not have enough properties",
                    ));
                }
                Ok(Action::Unshelve)
            }
            other => Err(bad_input(
                "unshelve",
                other,
                &format!("{other} is not of type 'null'"),
            )),
        },
        "reboot" => {
            let Value::Object(o) = value else {
                return Err(bad_input(
                    "reboot",
                    value,
                    &format!("{value} is not of type 'object'"),
                ));
            };
            if let Some(k) = o.keys().find(|k| *k != "type") {
                return Err(bad_input(
                    "reboot",
                    value,
                    &format!("Additional properties are not allowed ('{k}' was unexpected)"),
                ));
            }
            match o.get("type").and_then(Value::as_str) {
                Some("SOFT" | "Soft" | "soft") => Ok(Action::Reboot { hard: false }),
                Some("HARD" | "Hard" | "hard") => Ok(Action::Reboot { hard: true }),
                Some(_) => Err(bad_input(
                    "reboot/type",
                    &o["type"],
                    "It must be one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']",
                )),
                None => Err(bad_input("reboot", value, "'type' is a required property")),
            }
        }
        other => Err(Fault::new(
            400,
            &format!("There is no such action: {other}"),
        )),
    }
}

// ---------------------------------------------------------------- version documents

fn version(shared: &NovaShared, min: Microversion, max: Microversion) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": max.to_string(),
        "min_version": min.to_string(),
        "updated": VERSIONS_UPDATED,
        "links": [
            { "rel": "self", "href": format!("{}/v2.1/", shared.endpoint) },
            { "rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/" }
        ],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.compute+json;version=2.1"
        }]
    })
}

fn versions(shared: &NovaShared, min: Microversion, max: Microversion) -> Value {
    let mut v21 = version(shared, min, max);
    v21.as_object_mut().map(|o| o.remove("media-types"));
    json!({ "versions": [
        {
            "id": "v2.0",
            "status": "SUPPORTED",
            "version": "",
            "min_version": "",
            "updated": "2011-01-21T11:33:21Z",
            "links": [{ "rel": "self", "href": format!("{}/v2/", shared.endpoint) }]
        },
        v21
    ]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn microversion_header_rules() {
        let (min, max) = (Microversion(1), Microversion(96));
        let v = |pairs: &[(&'static str, &str)]| {
            requested_version(&headers(pairs), min, max).map_err(|f| f.status)
        };
        assert_eq!(v(&[]), Ok(Microversion(1)));
        assert_eq!(
            v(&[("openstack-api-version", "compute 2.60")]),
            Ok(Microversion(60))
        );
        assert_eq!(
            v(&[("openstack-api-version", "placement 1.2, compute 2.79")]),
            Ok(Microversion(79))
        );
        assert_eq!(
            v(&[("x-openstack-nova-api-version", "2.5")]),
            Ok(Microversion(5))
        );
        assert_eq!(
            v(&[
                ("openstack-api-version", "compute 2.3"),
                ("x-openstack-nova-api-version", "2.9")
            ]),
            Ok(Microversion(3))
        );
        assert_eq!(v(&[("openstack-api-version", "compute latest")]), Ok(max));
        assert_eq!(v(&[("openstack-api-version", "compute 2.97")]), Err(406));
        assert_eq!(v(&[("openstack-api-version", "compute 3.0")]), Err(406));
        assert_eq!(v(&[("openstack-api-version", "compute 2.0")]), Err(406));
        assert_eq!(v(&[("openstack-api-version", "compute two")]), Err(400));
    }

    #[test]
    fn routes() {
        assert_eq!(parse_route("/"), Route::Versions);
        assert_eq!(parse_route("/v2.1/"), Route::Version);
        assert_eq!(
            parse_route("/v2.1/servers/a"),
            Route::Server(None, "a".into())
        );
        assert_eq!(
            parse_route("/v2.1/p1/servers/a/action"),
            Route::ServerAction(Some("p1".into()), "a".into())
        );
        assert_eq!(parse_route("/v2.1/servers/a/"), Route::Unknown);
        assert_eq!(parse_route("/v2/servers/a"), Route::Unknown);
        assert_eq!(parse_route("/v2.1/servers"), Route::Unknown);
    }

    #[test]
    fn action_bodies() {
        let h = HeaderMap::new();
        let parse = |body: &str, v: u16| {
            parse_action(&h, body.as_bytes(), Microversion(v)).map_err(|f| f.status)
        };
        assert_eq!(parse(r#"{"os-start": null}"#, 1), Ok(Action::Start));
        assert_eq!(
            parse(r#"{"reboot": {"type": "hard"}}"#, 1),
            Ok(Action::Reboot { hard: true })
        );
        assert_eq!(
            parse(r#"{"unshelve": {"availability_zone": "az1"}}"#, 77),
            Ok(Action::Unshelve)
        );
        assert_eq!(
            parse(r#"{"unshelve": {"availability_zone": "az1"}}"#, 76),
            Err(400)
        );
        assert_eq!(parse(r#"{"unshelve": {}}"#, 91), Err(400));
        assert_eq!(parse(r#"{"os-start": {}}"#, 1), Err(400));
        assert_eq!(parse(r#"{"reboot": {}}"#, 1), Err(400));
        assert_eq!(parse(r#"{"reboot": {"type": "WARM"}}"#, 1), Err(400));
        assert_eq!(parse(r#"{"os-start": null, "os-stop": null}"#, 1), Err(400));
        assert_eq!(parse(r#"{"resize": null}"#, 1), Err(400));
        assert_eq!(parse("not json", 1), Err(400));
        let xml = headers(&[("content-type", "application/xml")]);
        assert_eq!(
            parse_action(&xml, br#"{"os-start": null}"#, Microversion(1)).map_err(|f| f.status),
            Err(415)
        );
    }
}
