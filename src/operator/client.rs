//! The operator's HTTP client over a deployment's public API (List, SetState,
//! Delete, Details), and what each call's failure means to the operator.
//!
//! The key is sent as `x-functions-key` (the Functions host checks it) and as
//! `X-API-Key` (gamefleet itself, outside the host, with `GAMEFLEET_API_KEYS`),
//! both marked sensitive. It lives in a [`Secret`] and never appears in a
//! message: errors name the deployment by [`Base::shown`] (scheme, host, port,
//! path) and reqwest's errors are stripped of their URL.

use crate::fleet::{GroupKey, GroupState};
use crate::secret::Secret;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Where the deployment is: an `http(s)://host[:port][/path]` without a query,
/// fragment or credentials (a key in the URL would be printed with it).
#[derive(Debug, Clone)]
pub struct Base(url::Url);

impl Base {
    /// `raw` as a base URL. The error never repeats `raw` (it may hold a key).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let url = url::Url::parse(raw.trim()).map_err(|_| "--url is not a URL")?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err("--url must be http:// or https:// with a host");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("--url must not have a query (give the key with --key or GAMEFLEET_KEY, not ?code=)");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "--url must not hold credentials (give the key with --key or GAMEFLEET_KEY)",
            );
        }
        Ok(Self(url))
    }

    /// How messages name the deployment.
    pub fn shown(&self) -> String {
        self.0.as_str().trim_end_matches('/').to_owned()
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.shown())
    }
}

/// Why one call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 401 or 403: the key is missing or not accepted. Every further call would fail too.
    Auth { status: u16, message: String },
    /// No answer: refused connection, DNS, TLS, timeout.
    Unreachable(String),
    /// A 5xx: the deployment or one of its dependencies (ARM, Table Storage) failed.
    Server {
        status: u16,
        code: String,
        message: String,
    },
    /// Another 4xx: the API refused this item (404 GroupNotFound, 409 GroupHasSessions …).
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// A 2xx whose body is not what the API documents (not gamefleet at that URL?).
    BadAnswer(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Auth { status, message } => {
                write!(f, "authentication refused ({status}): {message}")
            }
            Failure::Unreachable(m) | Failure::BadAnswer(m) => f.write_str(m),
            Failure::Server {
                status,
                code,
                message,
            } => write!(f, "the deployment failed ({status} {code}): {message}"),
            Failure::Refused {
                status,
                code,
                message,
            } => write!(f, "{status} {code}: {message}"),
        }
    }
}

impl Failure {
    /// The API's error code, when it answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Failure::Server { code, .. } | Failure::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether every further call is bound to fail the same way (stop trying).
    pub fn is_fatal(&self) -> bool {
        matches!(self, Failure::Auth { .. } | Failure::Unreachable(_))
    }

    /// As JSON for `--json` results: `{"status", "code", "message"}`.
    pub fn to_json(&self) -> Value {
        let (status, code) = match self {
            Failure::Auth { status, .. } => (Some(*status), "Unauthorized"),
            Failure::Unreachable(_) => (None, "Unreachable"),
            Failure::Server { status, code, .. } | Failure::Refused { status, code, .. } => {
                (Some(*status), code.as_str())
            }
            Failure::BadAnswer(_) => (None, "BadAnswer"),
        };
        json!({"status": status, "code": code, "message": self.to_string()})
    }
}

/// A 2xx answer: its status, its JSON body, and the body's text as sent.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
}

/// The deployment's API.
pub struct Client {
    http: reqwest::Client,
    base: Base,
    timeout: Duration,
}

impl Client {
    /// A client for `base`, sending `key` (if any) with every call; each call
    /// gives up after `timeout`.
    pub fn new(base: Base, key: Option<&Secret>, timeout: Duration) -> Result<Self, Failure> {
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            let mut value = HeaderValue::from_str(key.expose()).map_err(|_| {
                Failure::BadAnswer(
                    "the key is not a valid header value (printable ASCII only)".into(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert("x-functions-key", value.clone());
            headers.insert("x-api-key", value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("gamefleet-operator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Failure::Unreachable(format!("cannot build an HTTP client: {}", cause(&e)))
            })?;
        Ok(Self {
            http,
            base,
            timeout,
        })
    }

    pub fn base(&self) -> &Base {
        &self.base
    }

    /// `GET /api/List?state=…[&resourceGroup=…]`: the API's array (its text
    /// as sent, and item by item).
    pub async fn list(
        &self,
        state: &str,
        rg: Option<&str>,
    ) -> Result<(String, Vec<Value>), Failure> {
        let mut query = vec![("state", state)];
        if let Some(rg) = rg {
            query.push(("resourceGroup", rg));
        }
        let request = self.http.get(self.base.at("/api/List")).query(&query);
        let answer = self.send(request).await?;
        match answer.body {
            Value::Array(items) => Ok((answer.text, items)),
            other => Err(Failure::BadAnswer(format!(
                "{} answered List with {} instead of an array; is gamefleet at this URL?",
                self.base.shown(),
                kind(&other)
            ))),
        }
    }

    /// `POST /api/SetState`.
    pub async fn set_state(&self, key: &GroupKey, state: GroupState) -> Result<Answer, Failure> {
        let body = json!({"resourceGroup": key.resource_group.as_str(),
            "containerGroupName": key.name.as_str(), "state": state.as_str()});
        self.post("/api/SetState", &body).await
    }

    /// `POST /api/Delete` (200 gone, 202 ARM still deleting).
    pub async fn delete(&self, key: &GroupKey, force: bool) -> Result<Answer, Failure> {
        let body = json!({"resourceGroup": key.resource_group.as_str(),
            "containerGroupName": key.name.as_str(), "force": force});
        self.post("/api/Delete", &body).await
    }

    /// `POST /api/Details`: ARM's container group.
    pub async fn details(&self, key: &GroupKey) -> Result<Answer, Failure> {
        let body = json!({"resourceGroup": key.resource_group.as_str(),
            "containerGroupName": key.name.as_str()});
        self.post("/api/Details", &body).await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Answer, Failure> {
        self.send(self.http.post(self.base.at(path)).json(body))
            .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, Failure> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            if body.is_null() && !text.trim().is_empty() {
                return Err(Failure::BadAnswer(format!(
                    "{} answered {status} with a body that is not JSON; is gamefleet at this URL?",
                    self.base.shown()
                )));
            }
            return Ok(Answer { status, body, text });
        }
        Err(classify(status, &body))
    }

    fn unreachable(&self, e: &reqwest::Error) -> Failure {
        if e.is_timeout() {
            Failure::Unreachable(format!(
                "{} did not answer within {}",
                self.base.shown(),
                humantime::format_duration(self.timeout)
            ))
        } else {
            Failure::Unreachable(format!("cannot reach {}: {}", self.base.shown(), cause(e)))
        }
    }
}

/// What a non-2xx answer means; the body is the API's `{"error": {code, message}}`.
pub fn classify(status: StatusCode, body: &Value) -> Failure {
    let code = body["error"]["code"]
        .as_str()
        .or_else(|| status.canonical_reason())
        .unwrap_or("Error")
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let s = status.as_u16();
    match s {
        401 | 403 => Failure::Auth { status: s, message },
        500..=599 => Failure::Server {
            status: s,
            code,
            message,
        },
        _ => Failure::Refused {
            status: s,
            code,
            message,
        },
    }
}

/// The innermost cause of a transport error ("Connection refused (os error
/// 111)"), without reqwest's URL.
fn cause(e: &reqwest::Error) -> String {
    let mut innermost = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    // Without a source: reqwest's own text, cut before the URL.
    innermost.unwrap_or_else(|| {
        let text = e.to_string();
        text.split(" for url").next().unwrap_or_default().to_owned()
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_whose_fault_it_is() {
        let body = json!({"error": {"code": "GroupHasSessions", "message": "has 3"}});
        assert!(matches!(
            classify(StatusCode::CONFLICT, &body),
            Failure::Refused { status: 409, .. }
        ));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &Value::Null),
            Failure::Auth { status: 401, .. }
        ));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, &Value::Null),
            Failure::Auth { status: 403, .. }
        ));
        let f = classify(StatusCode::SERVICE_UNAVAILABLE, &Value::Null);
        assert!(matches!(f, Failure::Server { status: 503, .. }), "{f:?}");
        assert_eq!(f.code(), Some("Service Unavailable"));
    }

    #[test]
    fn a_url_with_a_key_in_it_is_refused_without_repeating_it() {
        for raw in [
            "https://fn.example.net/?code=s3cr3t",
            "https://user:s3cr3t@fn.example.net/",
            "ftp://fn.example.net",
            "not a url s3cr3t",
        ] {
            let e = Base::parse(raw).unwrap_err();
            assert!(!e.contains("s3cr3t"), "{e}");
        }
        let b = Base::parse("http://127.0.0.1:7071/").unwrap();
        assert_eq!(b.shown(), "http://127.0.0.1:7071");
        assert_eq!(b.at("/api/List"), "http://127.0.0.1:7071/api/List");
    }
}
