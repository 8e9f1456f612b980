//! The same binary as an OCI Function: the Fn "http-stream" container contract
//! (fnproject/fn docs/developers/fn-format.md). The agent sets `FN_LISTENER`
//! (`unix:/path/listen.sock`); we bind a sibling "phony" socket, make it
//! writable by the agent, and symlink it to the announced path, so the agent
//! only sees the socket once it accepts calls. Calls arrive as `POST /call`,
//! one at a time, with `Fn-Call-Id` and `Fn-Deadline`; the body is
//! `{"action": "start|stop|toggle|status"}` as in the original OCI function
//! (no body = toggle), the target from the function's configuration
//! (`POWER_RESOURCE` or `POWER_SECRET_ID`, `POWER_PROVIDER`).
//!
//! The start-compute seed's body `{"instance_id": "ocid1.instance..."}` starts
//! that instance ([`seed_body`]): `action` defaults to `start` (no public copy
//! of the seed was found to say otherwise; an explicit `action` is honoured), the
//! provider is `POWER_PROVIDER` or else the OCID's type (`ocid1.instance.` →
//! `oci-compute`, `ocid1.computecontainerinstance.` → `oci-container-instance`).

use crate::config::ServeLimits;
use crate::lifecycle::Action;
use crate::lifecycle::InvalidResource;
use crate::ops::power::{PowerHub, RequestError};
use crate::setting::{err, ConfigError};
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
pub fn listener_path(fn_listener: &str) -> Result<PathBuf, ConfigError> {
    let path = fn_listener.strip_prefix("unix:").ok_or_else(|| {
        err(
            "FN_LISTENER",
            format!("must start with \"unix:\", got {fn_listener:?}"),
        )
    })?;
    if path.len() > 107 {
        return Err(err(
            "FN_LISTENER",
            format!("the path is {} bytes; the limit is 107", path.len()),
        ));
    }
    if !path.starts_with('/') {
        return Err(err(
            "FN_LISTENER",
            format!("the path must be absolute, got {path:?}"),
        ));
    }
    if path.ends_with('/') {
        return Err(err("FN_LISTENER", "the path names no file"));
    }
    Ok(PathBuf::from(path))
}

/// Why the OCI Function could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Setting(#[from] ConfigError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> ServeError {
    move |source| ServeError::Io { what, source }
}

fn phony_of(path: &Path) -> Result<(PathBuf, std::ffi::OsString), ConfigError> {
    let name = path
        .file_name()
        .ok_or_else(|| err("FN_LISTENER", "the path names no file"))?;
    let mut phony = std::ffi::OsString::from("phony");
    phony.push(name);
    Ok((path.with_file_name(&phony), phony))
}

/// Serve calls until SIGTERM/Ctrl-C, then remove the socket files. The
/// connection bounds are `gamefleet serve`'s (`GAMEFLEET_HEADER_TIMEOUT` ...).
pub async fn serve(
    fn_listener: &str,
    hub: Arc<PowerHub>,
    limits: ServeLimits,
) -> Result<(), ServeError> {
    let path = listener_path(fn_listener)?;
    let (phony, phony_name) = phony_of(&path)?;
    let _ = std::fs::remove_file(&phony);
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&phony)
        .map_err(io(format!("cannot listen on {}", phony.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&phony, std::fs::Permissions::from_mode(0o666)).map_err(io(
            format!("cannot make {} writable by the Fn agent", phony.display()),
        ))?;
        std::os::unix::fs::symlink(&phony_name, &path).map_err(io(format!(
            "cannot link {} to {}",
            path.display(),
            phony.display()
        )))?;
    }
    tracing::info!(listener = %path.display(), "OCI Function ready");
    let app = Router::new().route("/call", post(call)).with_state(hub);
    crate::http::serve(listener, app, limits, crate::runtime::shutdown_signal()).await;
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
    let parsed: Result<Value, RequestError> = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Value::Null)
    } else {
        // The HTTP functions' one body rule: UTF-8, one document, no key twice.
        crate::http::body::parse::<Value>(&body).map_err(|e| RequestError::from(e.message))
    };
    let mut defaults = hub.defaults.clone();
    let parsed = parsed.and_then(|v| seed_body(v, defaults.provider.is_some()));
    defaults.action.get_or_insert(Action::Toggle);
    let cap = deadline_left(&headers).map(|left| left.saturating_sub(DEADLINE_MARGIN));
    let done = match parsed {
        Ok(v) => {
            hub.invoke(
                &v,
                &defaults,
                cap,
                &mut |p| tracing::info!(call_id, progress = ?p, "power"),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let (status, body) = match done {
        Err(e) => (
            StatusCode::BAD_REQUEST,
            json!({"error": e.message, "code": e.code}),
        ),
        // The seed's shape: the outcome alone (its `result` says what went wrong).
        Ok(done) => (crate::http::error::kind_status(done.kind()), done.to_json()),
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

/// The seed's `{"instance_id": ...}` as the request it means: `resource`, with
/// `action` `start` unless one is given, and `provider` from the OCID's type
/// unless the function configures one. Other bodies pass unchanged.
pub fn seed_body(body: Value, provider_configured: bool) -> Result<Value, RequestError> {
    let Value::Object(mut obj) = body else {
        return Ok(body);
    };
    let Some(id) = obj.remove("instance_id") else {
        return Ok(Value::Object(obj));
    };
    let Value::String(id) = id else {
        return Err("instance_id must be a string (an instance OCID)".into());
    };
    if obj.contains_key("resource") || obj.contains_key("secretId") {
        return Err("give either instance_id or resource / secretId, not both".into());
    }
    let id = id.trim().to_owned();
    if !provider_configured && !obj.contains_key("provider") {
        let provider = if id.starts_with("ocid1.instance.") {
            "oci-compute"
        } else if id.starts_with("ocid1.computecontainerinstance.") {
            "oci-container-instance"
        } else {
            return Err(InvalidResource(format!(
                "instance_id {id:?} is neither an ocid1.instance nor an ocid1.computecontainerinstance OCID, and POWER_PROVIDER is not set"
            ))
            .into());
        };
        obj.insert("provider".to_owned(), Value::from(provider));
    }
    obj.entry("action").or_insert_with(|| Value::from("start"));
    obj.insert("resource".to_owned(), Value::String(id));
    Ok(Value::Object(obj))
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
            phony_of(Path::new("/tmp/fn/listen.sock")).unwrap().0,
            PathBuf::from("/tmp/fn/phonylisten.sock")
        );
        let e = listener_path("/tmp/fn/listen.sock").unwrap_err();
        assert_eq!(e.var, "FN_LISTENER");
        assert!(e.to_string().contains("unix:"), "{e}");
        assert!(listener_path("unix:relative.sock").is_err());
        assert!(listener_path("unix:/tmp/fn/").is_err());
        assert!(listener_path(&format!("unix:/{}", "a".repeat(107)))
            .unwrap_err()
            .to_string()
            .contains("107"));
    }

    #[test]
    fn the_seed_body_starts_the_instance_it_names() {
        let vm = "ocid1.instance.oc1.iad.aaaa";
        let ci = "ocid1.computecontainerinstance.oc1.iad.aaaa";
        assert_eq!(
            seed_body(json!({"instance_id": vm}), false).unwrap(),
            json!({"resource": vm, "action": "start", "provider": "oci-compute"})
        );
        assert_eq!(
            seed_body(json!({"instance_id": ci}), false).unwrap(),
            json!({"resource": ci, "action": "start", "provider": "oci-container-instance"})
        );
        // POWER_PROVIDER wins; an explicit action is kept.
        assert_eq!(
            seed_body(json!({"instance_id": vm, "action": "stop"}), true).unwrap(),
            json!({"resource": vm, "action": "stop"})
        );
        for unchanged in [json!({"action": "stop"}), Value::Null, json!([1])] {
            assert_eq!(seed_body(unchanged.clone(), false).unwrap(), unchanged);
        }
        assert!(seed_body(json!({"instance_id": 7}), false).is_err());
        assert!(seed_body(json!({"instance_id": vm, "resource": vm}), false).is_err());
        let e = seed_body(json!({"instance_id": "games/vm"}), false).unwrap_err();
        assert_eq!(e.code, "InvalidResource");
        assert!(e.message.contains("POWER_PROVIDER"), "{e}");
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
