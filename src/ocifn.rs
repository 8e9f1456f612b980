//! The same binary as an OCI Function: the Fn "http-stream" container contract
//! (fnproject/fn docs/developers/fn-format.md). The agent sets `FN_LISTENER`
//! (`unix:/path/listen.sock`); we bind a sibling "phony" socket, make it
//! writable by the agent, and symlink it to the announced path, so the agent
//! only sees the socket once it accepts calls. Calls arrive as `POST /call`,
//! one at a time, with `Fn-Call-Id` and `Fn-Deadline`; the body is
//! `{"action": "start|stop|toggle|status"}` as in the original OCI function
//! (no body = toggle), the target from the function's configuration
//! (`POWER_RESOURCE` or `POWER_SECRET_ID`, `POWER_PROVIDER`).

use crate::config::ServeLimits;
use crate::lifecycle::{Action, SystemClock};
use crate::power::{parse_request, PowerHub};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Time kept in hand before `Fn-Deadline` to answer after the last poll.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// Where to listen: the path in `FN_LISTENER` (`unix:` prefix required; at most 107 bytes).
pub fn listener_path(fn_listener: &str) -> Result<PathBuf, String> {
    let path = fn_listener
        .strip_prefix("unix:")
        .ok_or_else(|| format!("FN_LISTENER must start with \"unix:\", got {fn_listener:?}"))?;
    if path.len() > 107 {
        return Err(format!(
            "FN_LISTENER path is {} bytes; the limit is 107",
            path.len()
        ));
    }
    if !path.starts_with('/') {
        return Err(format!("FN_LISTENER path must be absolute, got {path:?}"));
    }
    Ok(PathBuf::from(path))
}

fn phony_of(path: &Path) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .ok_or("FN_LISTENER names no file")?
        .to_string_lossy();
    Ok(path.with_file_name(format!("phony{name}")))
}

/// Serve calls until SIGTERM/Ctrl-C, then remove the socket files. The
/// connection bounds are `gamefleet serve`'s (`GAMEFLEET_HEADER_TIMEOUT` ...).
pub async fn serve(
    fn_listener: &str,
    hub: Arc<PowerHub>,
    limits: ServeLimits,
) -> Result<(), String> {
    let path = listener_path(fn_listener)?;
    let phony = phony_of(&path)?;
    let _ = std::fs::remove_file(&phony);
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&phony)
        .map_err(|e| format!("cannot listen on {}: {e}", phony.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&phony, std::fs::Permissions::from_mode(0o666)).map_err(|e| {
            format!(
                "cannot make {} writable by the Fn agent: {e}",
                phony.display()
            )
        })?;
        let target = phony.file_name().ok_or("no phony file name")?;
        std::os::unix::fs::symlink(target, &path)
            .map_err(|e| format!("cannot link {} to {}: {e}", path.display(), phony.display()))?;
    }
    tracing::info!(listener = %path.display(), "OCI Function ready");
    let app = Router::new().route("/call", post(call)).with_state(hub);
    crate::http::serve(listener, app, limits, crate::shutdown_signal()).await;
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&phony);
    Ok(())
}

/// One invocation.
async fn call(State(hub): State<Arc<PowerHub>>, headers: HeaderMap, body: Bytes) -> Response {
    let call_id = headers
        .get("fn-call-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let http_intent = headers.get("fn-intent").and_then(|v| v.to_str().ok()) == Some("httprequest");
    let parsed: Result<Value, String> = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Value::Null)
    } else {
        // The HTTP functions' one body rule: UTF-8, one document, no key twice.
        crate::http::body::parse::<Value>(&body).map_err(|e| e.message)
    };
    let mut defaults = hub.defaults.clone();
    defaults.action.get_or_insert(Action::Toggle);
    let req = parsed.and_then(|v| parse_request(&v, &defaults).map_err(|e| e.message));
    let (status, body) = match req {
        Err(message) => (StatusCode::BAD_REQUEST, json!({"error": message})),
        Ok(mut req) => {
            if let Some(left) = deadline_left(&headers) {
                let budget = left.saturating_sub(DEADLINE_MARGIN);
                if req.settings.max_wait > budget {
                    tracing::info!(
                        call_id,
                        budget_s = budget.as_secs(),
                        "max wait capped by Fn-Deadline"
                    );
                    req.settings.max_wait = budget;
                }
            }
            let clock = SystemClock::default();
            let outcome = hub
                .execute(
                    &req,
                    &clock,
                    &mut |p| tracing::info!(call_id, progress = ?p, "power"),
                )
                .await;
            tracing::info!(call_id, result = outcome.kind.as_str(), message = %outcome.message, "call done");
            (
                StatusCode::from_u16(crate::http::error::outcome_status(&outcome).as_u16())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                outcome.to_json(),
            )
        }
    };
    let mut resp = (
        if http_intent { StatusCode::OK } else { status },
        axum::Json(body),
    )
        .into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&status.as_u16().to_string()) {
        h.insert("Fn-Http-Status", v);
    }
    h.insert(
        "Fn-Fdk-Version",
        HeaderValue::from_static(concat!("fdk-gamefleet/", env!("CARGO_PKG_VERSION"))),
    );
    h.insert("Fn-Fdk-Runtime", HeaderValue::from_static("rust"));
    resp
}

/// Time left until `Fn-Deadline` (RFC 3339), if the header is there and parses.
fn deadline_left(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get("fn-deadline")?.to_str().ok()?;
    let at = chrono::DateTime::parse_from_rfc3339(raw).ok()?;
    Some(
        at.with_timezone(&chrono::Utc)
            .signed_duration_since(chrono::Utc::now())
            .to_std()
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_paths_follow_the_contract() {
        assert_eq!(
            listener_path("unix:/tmp/fn/listen.sock").unwrap(),
            PathBuf::from("/tmp/fn/listen.sock")
        );
        assert_eq!(
            phony_of(Path::new("/tmp/fn/listen.sock")).unwrap(),
            PathBuf::from("/tmp/fn/phonylisten.sock")
        );
        assert!(listener_path("/tmp/fn/listen.sock")
            .unwrap_err()
            .contains("unix:"));
        assert!(listener_path("unix:relative.sock").is_err());
        assert!(listener_path(&format!("unix:/{}", "a".repeat(107)))
            .unwrap_err()
            .contains("107"));
    }

    #[test]
    fn deadline_is_read_from_rfc3339() {
        let mut h = HeaderMap::new();
        let at = chrono::Utc::now() + chrono::Duration::seconds(120);
        h.insert(
            "fn-deadline",
            HeaderValue::from_str(&at.to_rfc3339()).unwrap(),
        );
        let left = deadline_left(&h).unwrap();
        assert!(
            left > Duration::from_secs(110) && left <= Duration::from_secs(120),
            "{left:?}"
        );
        h.insert("fn-deadline", HeaderValue::from_static("yesterday"));
        assert_eq!(deadline_left(&h), None);
    }
}
