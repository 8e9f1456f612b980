//! The Functions host's invocation envelope for non-HTTP triggers:
//! request `{"Data": {<binding>: value}, "Metadata": {...}}`, response
//! `{"Outputs": {}, "Logs": [...], "ReturnValue": ...}` with a JSON content type
//! (an empty body would leave the host waiting until functionTimeout).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Debug, Deserialize)]
pub struct Invocation {
    #[serde(rename = "Data", default)]
    pub data: Map<String, Value>,
    #[serde(rename = "Metadata", default)]
    pub metadata: Map<String, Value>,
}

impl Invocation {
    /// The trigger's value: the binding named `name`, else the only binding.
    pub fn trigger(&self, name: &str) -> Option<&Value> {
        self.data.get(name).or_else(|| {
            (self.data.len() == 1)
                .then(|| self.data.values().next())
                .flatten()
        })
    }

    /// `Metadata.sys.MethodName`, for logs.
    pub fn function_name(&self) -> &str {
        self.metadata
            .get("sys")
            .and_then(|s| s.get("MethodName"))
            .and_then(Value::as_str)
            .unwrap_or("?")
    }
}

/// The answer to the host.
#[derive(Debug)]
pub struct InvocationResult {
    pub status: StatusCode,
    pub logs: Vec<String>,
    pub return_value: Value,
}

impl InvocationResult {
    pub fn ok(logs: Vec<String>, return_value: Value) -> Self {
        Self {
            status: StatusCode::OK,
            logs,
            return_value,
        }
    }
}

impl IntoResponse for InvocationResult {
    fn into_response(self) -> Response {
        let body = json!({"Outputs": {}, "Logs": self.logs, "ReturnValue": self.return_value});
        (self.status, axum::Json(body)).into_response()
    }
}
