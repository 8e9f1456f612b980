//! The edge: the axum router the Functions host talks to. Handlers parse and
//! validate, call one use case in [`crate::ops`], and render JSON.

pub mod body;
pub mod envelope;
pub mod error;
mod functions;
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

/// The HTTP functions, at the path the host forwards them to, and the
/// non-forwarded ones (Monitor, GC, ScheduleTick) at `/<Name>`.
pub const HTTP_FUNCTIONS: [&str; 10] = [
    "Create",
    "Delete",
    "Details",
    "List",
    "OpenStack",
    "Power",
    "ReportSessions",
    "Schedules",
    "SetSessions",
    "SetState",
];
pub const INVOKED_FUNCTIONS: [&str; 3] = ["Monitor", "GC", "ScheduleTick"];

pub fn router(app: AppState) -> Router {
    let api = Router::new()
        .route("/", get(ready).head(ready))
        .route("/api/Create", post(functions::create))
        .route("/api/Delete", post(functions::delete))
        .route("/api/Details", post(functions::details))
        .route("/api/List", get(functions::list).post(functions::list))
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
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            require_api_key,
        ))
        .with_state(app);
    // The host routes case-insensitively (ASP.NET) and forwards the path as the
    // caller wrote it: /api/setsessions must reach SetSessions.
    Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .map_request(canonical_path)
            .service(api),
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
        "/api/OpenStack" => "GET",
        "/api/Schedules" => "GET, POST or DELETE",
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
/// ReportSessions (which carries its own token) needs a valid `X-API-Key`.
async fn require_api_key(
    axum::extract::State(app): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let keys = &app.settings.api_keys;
    // ReportSessions carries its own token, OpenStack its own OPENSTACK_API_KEYS.
    let open = keys.is_empty()
        || matches!(
            req.uri().path(),
            "/" | "/api/ReportSessions" | "/api/OpenStack"
        );
    if open {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if keys.accepts(given) {
        next.run(req).await
    } else {
        let why = if given.is_empty() {
            "X-API-Key header missing"
        } else {
            "X-API-Key not accepted"
        };
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            format!("{why}: this gamefleet requires one of its GAMEFLEET_API_KEYS"),
        )
        .into_response()
    }
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
