//! AWS Lambda, OS-only runtime (`provided.al2023`): the binary is the
//! package's `bootstrap`, and `lambda_http` speaks the Runtime API
//! (`/2018-06-01/runtime/invocation/next`, `…/{id}/response`, `…/{id}/error`).
//!
//! - **Function URL / API Gateway HTTP API** events (payload format 2.0) are
//!   served by the same axum router as under the Functions host: the seed's
//!   `GET /api/OpenStack?action=…` with its key, `POST /api/Power`, and with
//!   `AzureWebJobsStorage` set, every fleet function. A function URL with auth
//!   NONE has nothing in front of it, so without `GAMEFLEET_API_KEYS` the keyed
//!   routes answer 401 (`GAMEFLEET_LAMBDA_AUTH=iam` says the URL uses AWS_IAM
//!   auth, and then no key is asked).
//! - **Other events** (EventBridge Scheduler's JSON, such as
//!   `{"action": "stop", "provider": "openstack", "resource": "…"}`) run Power
//!   and answer with the outcome, whatever it is; JSON that is not a Power
//!   request goes to `…/{id}/error` (`errorType` `UnknownEvent`), a Power
//!   request that is refused (bad action or id) too, with its code as
//!   `errorType`. The runtime then goes on to the next invocation.
//! - **The schedule tick**: an EventBridge rule's `Scheduled Event` (`"source":
//!   "aws.events"`) or `{"gamefleet": "ScheduleTick"}` applies the stored
//!   schedules that are due (`ops::schedules`), as the ScheduleTick timer does
//!   under the Functions host; `{"gamefleet": "Autoscale"}` and
//!   `{"gamefleet": "GC"}` run the autoscaler and GC timers. They need
//!   `AzureWebJobsStorage` (the tables).
//! - **Deadline**: `Lambda-Runtime-Deadline-Ms` caps every wait, so the answer
//!   (`timedOut`, 504 for a function-URL request) is sent before Lambda gives up.
//! - **Init**: a configuration error is posted to `/runtime/init/error` and the
//!   process exits.

use super::StartError;
use crate::http::Deadline;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::Router;
use lambda_http::request::RequestContext;
use lambda_http::tower::{Service, ServiceExt};
use lambda_http::RequestExt;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Serve invocations until the runtime stops the process.
pub async fn run() -> Result<(), StartError> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .map_err(|_| "AWS_LAMBDA_RUNTIME_API is not set: not running under Lambda")?;
    let handler = match Handler::from_env().await {
        Ok(h) => h,
        Err(e) => {
            init_error(&api, &e.to_string()).await;
            return Err(e);
        }
    };
    tracing::info!(
        fleet = handler.app.is_some(),
        "gamefleet ready under AWS Lambda"
    );
    lambda_http::run(handler)
        .await
        .map_err(|e| -> StartError { e.to_string().into() })
}

/// Tell the Runtime API why the start failed (then the process exits).
async fn init_error(api: &str, message: &str) {
    let url = format!("http://{api}/2018-06-01/runtime/init/error");
    let body =
        serde_json::json!({"errorType": "Runtime.ConfigurationError", "errorMessage": message});
    let sent = reqwest::Client::new()
        .post(&url)
        .header(
            "Lambda-Runtime-Function-Error-Type",
            "Runtime.ConfigurationError",
        )
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    if let Err(e) = sent {
        tracing::error!(error = %e, "could not report the init error to the Runtime API");
    }
}

/// What an event that is not an HTTP request turned into, when it is not an
/// answer: sent to `…/{id}/error`.
#[derive(Debug)]
pub struct EventError {
    pub error_type: String,
    pub message: String,
}

impl From<EventError> for lambda_http::lambda_runtime::Diagnostic {
    fn from(e: EventError) -> Self {
        lambda_http::lambda_runtime::Diagnostic {
            error_type: e.error_type,
            error_message: e.message,
        }
    }
}

/// One invocation: HTTP events into the router, the rest into Power.
#[derive(Clone)]
struct Handler {
    router: Router,
    power: Arc<crate::ops::power::PowerHub>,
    /// The whole application, with Table Storage (schedules, fleet functions).
    app: Option<Arc<crate::ops::App>>,
}

impl Handler {
    async fn from_env() -> Result<Self, StartError> {
        let keys_required = !std::env::var("GAMEFLEET_LAMBDA_AUTH")
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("iam"));
        let storage = std::env::var("AzureWebJobsStorage").is_ok_and(|v| !v.trim().is_empty());
        if storage {
            let config = crate::config::Config::from_env()?;
            let app = Arc::new(crate::wiring::build(
                &config,
                crate::ops::power::process_env(),
            )?);
            app.power.check_configuration().await?;
            crate::wiring::ensure_table(&app);
            Ok(Handler {
                power: app.power.clone(),
                router: crate::http::router_with(app.clone(), keys_required),
                app: Some(app),
            })
        } else {
            let api = super::power_api(keys_required).await?;
            Ok(Handler {
                power: api.power.clone(),
                router: crate::http::power_router(api),
                app: None,
            })
        }
    }

    async fn event(self, body: Body, deadline: Option<Instant>) -> Result<Response, EventError> {
        let bytes = axum::body::to_bytes(body, 6 * 1024 * 1024)
            .await
            .map_err(|e| EventError {
                error_type: "InvalidEvent".into(),
                message: format!("cannot read the event: {e}"),
            })?;
        let event: Value = serde_json::from_slice(&bytes).map_err(|e| EventError {
            error_type: "InvalidEvent".into(),
            message: format!("the event is not JSON: {e}"),
        })?;
        if let Some(timer) = timer_of(&event) {
            let Some(app) = &self.app else {
                let (error_type, what) = match timer {
                    Timer::ScheduleTick => (
                        "SchedulesNotConfigured",
                        "a schedule tick needs the schedules' table",
                    ),
                    Timer::Autoscale => (
                        "FleetsNotConfigured",
                        "an autoscaler tick needs the fleets' table",
                    ),
                    Timer::Gc => ("FleetsNotConfigured", "GC needs the fleet table"),
                };
                return Err(EventError {
                    error_type: error_type.into(),
                    message: format!("{what}: set AzureWebJobsStorage (and FLEET_TABLE)"),
                });
            };
            let unavailable = |e: crate::ports::StoreError| EventError {
                error_type: "StorageUnavailable".into(),
                message: e.to_string(),
            };
            let now = chrono::Utc::now();
            let report = match timer {
                Timer::ScheduleTick => {
                    serde_json::to_value(app.tick(now).await.map_err(unavailable)?)
                }
                Timer::Autoscale => {
                    serde_json::to_value(app.autoscale(now).await.map_err(unavailable)?)
                }
                Timer::Gc => serde_json::to_value(app.gc().await.map_err(unavailable)?),
            }
            .unwrap_or_default();
            return Ok(axum::Json(report).into_response());
        }
        if !is_power_request(&event) {
            return Err(EventError {
                error_type: "UnknownEvent".into(),
                message: "this event is neither an HTTP request (function URL, API Gateway HTTP API) nor a Power request ({\"action\", \"provider\", \"resource\" | \"resources\" | \"selector\" | \"secretId\"})".into(),
            });
        }
        let cap = deadline.map(|d| Deadline(d).left());
        let done = self
            .power
            .invoke(
                &event,
                &self.power.defaults,
                cap,
                &mut |p| tracing::info!(progress = ?p, "power"),
            )
            .await
            .map_err(|e| EventError {
                error_type: e.code.into(),
                message: e.message,
            })?;
        Ok(axum::Json(done.to_json()).into_response())
    }
}

/// The timers a Lambda runs on EventBridge events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    ScheduleTick,
    Autoscale,
    Gc,
}

/// An EventBridge rule's scheduled event (the schedule tick), or gamefleet's
/// own `{"gamefleet": "ScheduleTick" | "Autoscale" | "GC"}`.
fn timer_of(event: &Value) -> Option<Timer> {
    if event["source"] == "aws.events" && event["detail-type"] == "Scheduled Event" {
        return Some(Timer::ScheduleTick);
    }
    match event["gamefleet"].as_str()? {
        "ScheduleTick" => Some(Timer::ScheduleTick),
        "Autoscale" => Some(Timer::Autoscale),
        "GC" => Some(Timer::Gc),
        _ => None,
    }
}

/// An event naming any of Power's fields (an EventBridge Scheduler target's
/// input, a test invocation).
fn is_power_request(event: &Value) -> bool {
    const FIELDS: [&str; 6] = [
        "action",
        "provider",
        "resource",
        "resources",
        "selector",
        "secretId",
    ];
    event
        .as_object()
        .is_some_and(|o| FIELDS.iter().any(|f| o.contains_key(*f)))
}

/// `Lambda-Runtime-Deadline-Ms` (epoch milliseconds) as an instant.
fn deadline_of(ctx: Option<&lambda_http::Context>) -> Option<Instant> {
    let at_ms = ctx.map(|c| c.deadline).filter(|d| *d > 0)?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    Some(Instant::now() + Duration::from_millis(at_ms.saturating_sub(now_ms)))
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, EventError>> + Send>>;

impl Service<lambda_http::Request> for Handler {
    type Response = Response;
    type Error = EventError;
    type Future = Answer;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: lambda_http::Request) -> Self::Future {
        let deadline = deadline_of(req.lambda_context_ref());
        if matches!(req.request_context_ref(), Some(RequestContext::PassThrough)) {
            let this = self.clone();
            let body = Body::new(req.into_body());
            return Box::pin(this.event(body, deadline));
        }
        if let Some(d) = deadline {
            req.extensions_mut().insert(Deadline(d));
        }
        let router = self.router.clone();
        Box::pin(async move {
            match router.oneshot(req).await {
                Ok(resp) => Ok(resp),
                Err(never) => match never {},
            }
        })
    }
}
