//! The edge: the axum router the Functions host talks to. Handlers parse and
//! validate, call one use case in [`crate::ops`], and render JSON.

pub mod body;
mod dashboard;
pub mod envelope;
pub mod error;
mod functions;
mod list;
mod openstack;
pub mod requests;
pub mod serve;

pub use serve::serve;

use crate::ops::App;
use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;

/// State shared by every handler (cheap to clone).
pub type AppState = std::sync::Arc<App>;

/// What the lifecycle routes (Power, OpenStack) need: the Power hub and the
/// keys. Every runtime has one; only a deployment with Table Storage has the
/// whole [`App`] (and the fleet routes).
#[derive(Clone)]
pub struct PowerApi {
    pub power: std::sync::Arc<crate::ops::power::PowerHub>,
    /// `GAMEFLEET_API_KEYS`: required on every route but `/` when set.
    pub api_keys: crate::ops::auth::ApiKeys,
    /// `OPENSTACK_API_KEYS`: the seed's OpenStack API.
    pub openstack_api_keys: crate::ops::auth::ApiKeys,
    /// Where nothing in front checks callers (a Lambda function URL with auth
    /// NONE): without `GAMEFLEET_API_KEYS` the keyed routes answer 401 instead
    /// of being open.
    pub keys_required: bool,
}

/// Who may call the keyed routes.
#[derive(Clone)]
struct KeyPolicy {
    keys: crate::ops::auth::ApiKeys,
    required: bool,
}

impl axum::extract::FromRef<AppState> for PowerApi {
    fn from_ref(app: &AppState) -> Self {
        PowerApi {
            power: app.power.clone(),
            api_keys: app.settings.api_keys.clone(),
            openstack_api_keys: app.settings.openstack_api_keys.clone(),
            keys_required: false,
        }
    }
}

/// When the runtime stops waiting for this request's answer (a Lambda
/// invocation's `Lambda-Runtime-Deadline-Ms`), as a request extension: a
/// Power wait ends early enough to answer before it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub std::time::Instant);

/// Time kept in hand before a runtime's deadline to send the answer.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(3);

impl Deadline {
    /// What is left before the deadline, less [`DEADLINE_MARGIN`].
    pub fn left(self) -> std::time::Duration {
        self.0
            .saturating_duration_since(std::time::Instant::now())
            .saturating_sub(DEADLINE_MARGIN)
    }
}

/// The HTTP functions, at the path the host forwards them to, and the
/// non-forwarded ones (Monitor, GC, ScheduleTick, Autoscale) at `/<Name>`.
pub const HTTP_FUNCTIONS: [&str; 15] = [
    "Allocate",
    "Create",
    "Dashboard",
    "Delete",
    "Details",
    "Fleets",
    "List",
    "Metrics",
    "OpenStack",
    "openapi.json",
    "Power",
    "ReportSessions",
    "Schedules",
    "SetSessions",
    "SetState",
];
pub const INVOKED_FUNCTIONS: [&str; 4] = ["Monitor", "GC", "ScheduleTick", "Autoscale"];

pub fn router(app: AppState) -> Router {
    router_with(app, false)
}

/// [`router`], with the keyed routes closed when no `GAMEFLEET_API_KEYS` is
/// set and `keys_required` (nothing in front checks callers).
pub fn router_with(app: AppState, keys_required: bool) -> Router {
    let keys = KeyPolicy {
        keys: app.settings.api_keys.clone(),
        required: keys_required,
    };
    let api = Router::new()
        .route("/", get(ready).head(ready))
        .route("/api/Allocate", post(functions::allocate))
        .route("/api/Create", post(functions::create))
        .route("/api/Dashboard", get(dashboard::dashboard))
        .route("/api/Delete", post(functions::delete))
        .route("/api/Details", post(functions::details))
        .route(
            "/api/Fleets",
            get(functions::get_fleets)
                .post(functions::put_fleet)
                .delete(functions::delete_fleet),
        )
        .route("/api/List", get(functions::list).post(functions::list))
        .route("/api/Metrics", get(functions::metrics))
        .route("/api/openapi.json", get(functions::openapi))
        .route("/api/OpenStack", get(openstack::openstack))
        .route("/api/Power", post(functions::power))
        .route("/api/ReportSessions", post(functions::report_sessions))
        .route(
            "/api/Schedules",
            get(functions::list_schedules)
                .post(functions::put_schedule)
                .delete(functions::delete_schedule),
        )
        .route("/api/SetSessions", post(functions::set_sessions))
        .route("/api/SetState", post(functions::set_state))
        .route("/Monitor", post(functions::monitor))
        .route("/GC", post(functions::gc))
        .route("/ScheduleTick", post(functions::schedule_tick))
        .route("/Autoscale", post(functions::autoscale))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(keys, require_api_key))
        .with_state(app);
    canonical(api)
}

/// The lifecycle routes alone (`/`, Power, OpenStack), for runtimes without
/// Table Storage: a Lambda function URL, a FunctionGraph or OCI Function. The
/// same handlers, keys and errors as in [`router`].
pub fn power_router(api: PowerApi) -> Router {
    let keys = KeyPolicy {
        keys: api.api_keys.clone(),
        required: api.keys_required,
    };
    let routes = Router::new()
        .route("/", get(ready).head(ready))
        .route("/api/OpenStack", get(openstack::openstack))
        .route("/api/Power", post(functions::power))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(keys, require_api_key))
        .with_state(api);
    canonical(routes)
}

/// The host routes case-insensitively (ASP.NET) and forwards the path as the
/// caller wrote it: /api/setsessions must reach SetSessions.
fn canonical(routes: Router) -> Router {
    Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .map_request(canonical_path)
            .service(routes),
    )
}

/// The host polls `GET /` until it answers; answer at once, whatever the dependencies.
async fn ready() -> &'static str {
    "gamefleet ready"
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NoSuchFunction",
        format!(
            "no function at {}; the functions are /api/{{{}}}",
            uri.path(),
            HTTP_FUNCTIONS.join(",")
        ),
    )
}

async fn wrong_method(req: Request) -> ApiError {
    let allowed = match req.uri().path() {
        "/api/List" => "GET or POST",
        "/api/OpenStack" | "/api/Metrics" | "/api/openapi.json" | "/api/Dashboard" => "GET",
        "/api/Schedules" | "/api/Fleets" => "GET, POST or DELETE",
        _ => "POST",
    };
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "{} is not accepted on {}; use {allowed}",
            req.method(),
            req.uri().path()
        ),
    )
}

/// Outside the Functions host: every route but the readiness probe and
/// ReportSessions (which carries its own token) needs a valid `X-API-Key`;
/// `GET /api/Dashboard` takes it as `?code=` too (a browser's navigation
/// sends no header), compared the same constant-time way.
async fn require_api_key(
    axum::extract::State(policy): axum::extract::State<KeyPolicy>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let keys = &policy.keys;
    // ReportSessions carries its own token, OpenStack its own OPENSTACK_API_KEYS.
    let open = (keys.is_empty() && !policy.required)
        || matches!(
            req.uri().path(),
            "/" | "/api/ReportSessions" | "/api/OpenStack"
        );
    if open {
        return next.run(req).await;
    }
    let header = req.headers().get("x-api-key").and_then(|v| v.to_str().ok());
    // A browser opening the dashboard cannot send a header: `?code=` there
    // (and only there). The query is never logged.
    let code = match header {
        None if is_dashboard(&req) => dashboard_code(req.uri()),
        _ => None,
    };
    let given = header.or(code.as_deref()).unwrap_or("");
    if keys.accepts(given) {
        next.run(req).await
    } else {
        let message = if keys.is_empty() {
            "this route is closed: no GAMEFLEET_API_KEYS are configured and nothing in front of this runtime (a Lambda function URL with auth NONE) checks callers; set GAMEFLEET_API_KEYS, or GAMEFLEET_LAMBDA_AUTH=iam when the URL uses AWS_IAM auth".to_owned()
        } else {
            let why = match (given.is_empty(), is_dashboard(&req)) {
                (true, true) => "X-API-Key header (or ?code= on the dashboard) missing",
                (true, false) => "X-API-Key header missing",
                (false, true) => "X-API-Key (or ?code=) not accepted",
                (false, false) => "X-API-Key not accepted",
            };
            format!("{why}: this gamefleet requires one of its GAMEFLEET_API_KEYS")
        };
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message).into_response()
    }
}

/// `GET /api/Dashboard`, the one route that takes its key as `?code=` too.
fn is_dashboard(req: &Request) -> bool {
    req.method() == axum::http::Method::GET && req.uri().path() == "/api/Dashboard"
}

/// The `code` query parameter, decoded.
fn dashboard_code(uri: &Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
}

/// Rewrite `/API/setsessions/` to `/api/SetSessions` (query kept).
fn canonical_path(mut req: Request) -> Request {
    let path = req.uri().path();
    let trimmed = path.trim_end_matches('/');
    let canonical = HTTP_FUNCTIONS
        .iter()
        .map(|f| (format!("/api/{f}"), true))
        .chain(INVOKED_FUNCTIONS.iter().map(|f| (format!("/{f}"), true)))
        .find(|(c, _)| c.eq_ignore_ascii_case(trimmed) && c != path)
        .map(|(c, _)| c);
    if let Some(c) = canonical {
        let pq = match req.uri().query() {
            Some(q) => format!("{c}?{q}"),
            None => c,
        };
        if let Ok(uri) = pq.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}
