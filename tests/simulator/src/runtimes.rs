//! Stand-ins for the runtime APIs a function process polls, strict the way
//! the real ones are, so the built binary can be driven through its real
//! contract:
//!
//! - [`LambdaRuntimeApi`]: AWS Lambda's Runtime API (`/2018-06-01/runtime/…`):
//!   `invocation/next` (long poll; `Lambda-Runtime-Aws-Request-Id`,
//!   `Lambda-Runtime-Deadline-Ms`, `Lambda-Runtime-Invoked-Function-Arn`,
//!   `Lambda-Runtime-Trace-Id`), `invocation/{id}/response`,
//!   `invocation/{id}/error`, `init/error`.
//! - [`FunctionGraphRuntimeApi`]: FunctionGraph's custom-runtime API
//!   (`/v1/runtime/invocation/request`, `…/response/{id}`, `…/error/{id}`:
//!   the id last, unlike Lambda), with the agency's temporary keys as
//!   `X-CFF-Access-Key`, `X-CFF-Secret-Key`, `X-CFF-Security-Token`.
//!
//! An answer for an id that is not in flight (unknown, or answered already)
//! is refused with 400 and kept in [`RuntimeLog::refused`]; an unknown path
//! is a 404.

use crate::sim::spawn_server;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};

/// What the function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `…/response`: the body, as JSON (`Value::String` if it was not JSON).
    Response(Value),
    /// `…/error`: the body and the `Lambda-Runtime-Function-Error-Type` header.
    Error {
        body: Value,
        error_type_header: Option<String>,
    },
    /// Nothing came within the wait [`LambdaRuntimeApi::invoke`] was given.
    NoAnswer,
}

impl Answer {
    /// The response body; panics with the answer otherwise (for tests).
    pub fn response(self) -> Value {
        match self {
            Answer::Response(v) => v,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// The error invocation's body; panics with the answer otherwise (for tests).
    pub fn error(self) -> Value {
        match self {
            Answer::Error { body, .. } => body,
            other => panic!("expected an error invocation, got {other:?}"),
        }
    }
}

/// What a runtime API saw besides answers.
#[derive(Debug, Clone, Default)]
pub struct RuntimeLog {
    /// Bodies posted to `/runtime/init/error` (Lambda).
    pub init_errors: Vec<Value>,
    /// `(method, path, status)` of every request refused (unknown id, path).
    pub refused: Vec<(String, String, u16)>,
    /// Next-invocation requests served.
    pub polls: usize,
}

struct Pending {
    id: String,
    event: Bytes,
    deadline_ms: u64,
    headers: Vec<(String, String)>,
    answer: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Pending>,
    in_flight: HashMap<String, oneshot::Sender<Answer>>,
    log: RuntimeLog,
}

struct Shared {
    inner: Mutex<Inner>,
    queued: Notify,
    flavour: Flavour,
}

#[derive(Clone, Copy)]
enum Flavour {
    Lambda,
    FunctionGraph,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One runtime API, either flavour.
struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: crate::sim::Server,
}

impl RuntimeApi {
    async fn start(flavour: Flavour) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            queued: Notify::new(),
            flavour,
        });
        let router = Router::new().fallback(dispatch).with_state(shared.clone());
        Ok(RuntimeApi {
            addr,
            shared,
            _server: spawn_server(listener, router),
        })
    }

    async fn invoke(
        &self,
        event: &[u8],
        timeout: Duration,
        headers: Vec<(String, String)>,
    ) -> Answer {
        let (tx, rx) = oneshot::channel();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.shared.lock().queue.push_back(Pending {
            id: uuid::Uuid::new_v4().to_string(),
            event: Bytes::copy_from_slice(event),
            deadline_ms: now_ms + timeout.as_millis() as u64,
            headers,
            answer: tx,
        });
        self.shared.queued.notify_one();
        // The platform gives up shortly after the deadline.
        match tokio::time::timeout(timeout + Duration::from_secs(2), rx).await {
            Ok(Ok(a)) => a,
            _ => Answer::NoAnswer,
        }
    }
}

/// AWS Lambda's Runtime API.
pub struct LambdaRuntimeApi(RuntimeApi);

impl LambdaRuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        Ok(Self(RuntimeApi::start(Flavour::Lambda).await?))
    }

    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.0.addr.to_string()
    }

    /// The environment Lambda gives a `provided.al2023` function.
    pub fn function_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", "gamefleet".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/gamefleet".to_owned(),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/12/02/[$LATEST]test".to_owned(),
            ),
            ("AWS_REGION", "eu-central-1".to_owned()),
            ("_HANDLER", "bootstrap".to_owned()),
            ("TZ", ":UTC".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Queue `event` with `timeout` as its deadline and wait for the answer.
    pub async fn invoke(&self, event: &Value, timeout: Duration) -> Answer {
        self.0
            .invoke(event.to_string().as_bytes(), timeout, Vec::new())
            .await
    }

    pub fn log(&self) -> RuntimeLog {
        self.0.shared.lock().log.clone()
    }

    /// Waits until the function reported an init error or `wait` passed.
    pub async fn wait_init_error(&self, wait: Duration) -> Option<Value> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            if let Some(e) = self.log().init_errors.first() {
                return Some(e.clone());
            }
            if tokio::time::Instant::now() > until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// FunctionGraph's custom-runtime API.
pub struct FunctionGraphRuntimeApi(RuntimeApi);

/// Temporary keys an agency hands each invocation.
#[derive(Debug, Clone)]
pub struct AgencyKeys {
    pub access_key: String,
    pub secret_key: String,
    pub security_token: String,
}

impl FunctionGraphRuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        Ok(Self(RuntimeApi::start(Flavour::FunctionGraph).await?))
    }

    /// `host:port`, for `RUNTIME_API_ADDR`.
    pub fn address(&self) -> String {
        self.0.addr.to_string()
    }

    /// The environment FunctionGraph gives a custom runtime (`timeout` as `RUNTIME_TIMEOUT`).
    pub fn function_env(&self, timeout: Duration) -> Vec<(String, String)> {
        [
            ("RUNTIME_API_ADDR", self.address()),
            (
                "RUNTIME_PROJECT_ID",
                "0a1b2c3d4e5f60718293a4b5c6d7e8f9".to_owned(),
            ),
            ("RUNTIME_FUNC_NAME", "gamefleet".to_owned()),
            ("RUNTIME_FUNC_VERSION", "latest".to_owned()),
            ("RUNTIME_HANDLER", "bootstrap".to_owned()),
            ("RUNTIME_TIMEOUT", timeout.as_secs().to_string()),
            ("RUNTIME_MEMORY", "128".to_owned()),
            ("RUNTIME_CODE_ROOT", "/opt/function/code".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Queue `event` (raw bytes: the seed may send `{}` or nothing) and wait.
    pub async fn invoke(
        &self,
        event: &[u8],
        keys: Option<&AgencyKeys>,
        timeout: Duration,
    ) -> Answer {
        let headers = keys
            .map(|k| {
                vec![
                    ("X-CFF-Access-Key".to_owned(), k.access_key.clone()),
                    ("X-CFF-Secret-Key".to_owned(), k.secret_key.clone()),
                    ("X-CFF-Security-Token".to_owned(), k.security_token.clone()),
                ]
            })
            .unwrap_or_default();
        self.0.invoke(event, timeout, headers).await
    }

    pub fn log(&self) -> RuntimeLog {
        self.0.shared.lock().log.clone()
    }
}

async fn dispatch(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 6 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let route = match (shared.flavour, &method, segments.as_slice()) {
        (Flavour::Lambda, &Method::GET, ["2018-06-01", "runtime", "invocation", "next"])
        | (Flavour::FunctionGraph, &Method::GET, ["v1", "runtime", "invocation", "request"]) => {
            return next(&shared).await
        }
        (
            Flavour::Lambda,
            &Method::POST,
            ["2018-06-01", "runtime", "invocation", id, "response"],
        )
        | (
            Flavour::FunctionGraph,
            &Method::POST,
            ["v1", "runtime", "invocation", "response", id],
        ) => Some((id.to_string(), false)),
        (Flavour::Lambda, &Method::POST, ["2018-06-01", "runtime", "invocation", id, "error"])
        | (Flavour::FunctionGraph, &Method::POST, ["v1", "runtime", "invocation", "error", id]) => {
            Some((id.to_string(), true))
        }
        (Flavour::Lambda, &Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
            shared.lock().log.init_errors.push(v);
            return accepted();
        }
        _ => None,
    };
    let Some((id, is_error)) = route else {
        return refuse(
            &shared,
            &method,
            &path,
            StatusCode::NOT_FOUND,
            "UnknownPath",
            "no such runtime API path",
        );
    };
    let Some(tx) = shared.lock().in_flight.remove(&id) else {
        return refuse(
            &shared,
            &method,
            &path,
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    };
    let parsed = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let answer = if is_error {
        Answer::Error {
            body: parsed,
            error_type_header: header(&headers, "lambda-runtime-function-error-type"),
        }
    } else {
        Answer::Response(parsed)
    };
    let _ = tx.send(answer);
    accepted()
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

fn refuse(
    shared: &Shared,
    method: &Method,
    path: &str,
    status: StatusCode,
    kind: &str,
    message: &str,
) -> Response {
    shared
        .lock()
        .log
        .refused
        .push((method.to_string(), path.to_owned(), status.as_u16()));
    (
        status,
        axum::Json(json!({"errorType": kind, "errorMessage": message})),
    )
        .into_response()
}

/// The long poll: the next queued event, once there is one.
async fn next(shared: &Arc<Shared>) -> Response {
    let pending = loop {
        let notified = shared.queued.notified();
        if let Some(p) = {
            let mut st = shared.lock();
            let p = st.queue.pop_front();
            if p.is_some() {
                st.log.polls += 1;
            }
            p
        } {
            break p;
        }
        notified.await;
    };
    let Pending {
        id,
        event,
        deadline_ms,
        headers,
        answer,
    } = pending;
    shared.lock().in_flight.insert(id.clone(), answer);
    let mut resp = (StatusCode::OK, event).into_response();
    let h = resp.headers_mut();
    let mut put = |k: &str, v: &str| {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::try_from(k),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    };
    put("content-type", "application/json");
    match shared.flavour {
        Flavour::Lambda => {
            put("lambda-runtime-aws-request-id", &id);
            put("lambda-runtime-deadline-ms", &deadline_ms.to_string());
            put(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-central-1:123456789012:function:gamefleet",
            );
            put(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0",
            );
        }
        Flavour::FunctionGraph => {
            put("x-cff-request-id", &id);
            put("x-cff-invoke-type", "async");
            for (k, v) in &headers {
                put(k, v);
            }
        }
    }
    resp
}
