//! How the Azure Functions host calls a custom handler for a non-forwarded invocation
//! (Event Grid and timer triggers): `POST {base}/{FunctionName}` with a JSON envelope.
//! See `docs/reference/custom-handler.md` section 3.

use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use serde_json::Value;

/// Host version the simulated host claims to be.
pub const HOST_VERSION: &str = "4.1037.0";

/// `POST {base}/{function_name}` with the host's headers.
pub async fn invoke(
    client: &reqwest::Client,
    base: &str,
    function_name: &str,
    envelope: &Value,
) -> reqwest::Result<reqwest::Response> {
    let url = format!("{}/{}", base.trim_end_matches('/'), function_name);
    invoke_url(client, &url, envelope).await
}

/// Like [`invoke`] with the function's full URL (`http://127.0.0.1:7071/Monitor`).
pub async fn invoke_url(
    client: &reqwest::Client,
    url: &str,
    envelope: &Value,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(url)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header(
            "X-Azure-Functions-InvocationId",
            uuid::Uuid::new_v4().to_string(),
        )
        .header("X-Azure-Functions-HostVersion", HOST_VERSION)
        .header(USER_AGENT, format!("Azure-Functions-Host/{HOST_VERSION}"))
        .body(envelope.to_string())
        .send()
        .await
}

/// Why the host would count a handler's answer as a failed invocation, or `None` if it
/// completes: the answer must be 2xx, have a JSON content type and a JSON object body
/// (`{"Outputs":..,"Logs":..,"ReturnValue":..}`; `{}` is fine). A `null`/empty body
/// would make the real host hang until `functionTimeout`; it is reported as failure.
pub fn invocation_failure(status: u16, content_type: Option<&str>, body: &[u8]) -> Option<String> {
    if !(200..300).contains(&status) {
        return Some(format!("handler answered {status}"));
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let media = ct.split(';').next().unwrap_or("").trim().to_string();
    if !(media == "application/json" || media == "text/json" || media.ends_with("+json")) {
        return Some(format!(
            "invalid media type {:?}: the host only accepts a JSON invocation result",
            content_type.unwrap_or("")
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(_)) => None,
        Ok(Value::Null) => Some(
            "empty/null invocation result: the real host would never complete the invocation"
                .to_string(),
        ),
        Ok(other) => Some(format!(
            "invocation result must be a JSON object, got {}",
            short(&other.to_string())
        )),
        Err(_) if body.is_empty() => Some(
            "empty invocation result: the real host would never complete the invocation"
                .to_string(),
        ),
        Err(e) => Some(format!("invocation result is not JSON: {e}")),
    }
}

fn short(s: &str) -> String {
    if s.len() > 80 {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::invocation_failure;

    #[test]
    fn host_result_rules() {
        let json = Some("application/json; charset=utf-8");
        assert_eq!(invocation_failure(200, json, b"{}"), None);
        assert!(invocation_failure(500, json, b"{}").is_some());
        assert!(invocation_failure(200, Some("text/plain"), b"{}").is_some());
        assert!(invocation_failure(200, json, b"").is_some());
        assert!(invocation_failure(200, json, b"null").is_some());
        assert!(invocation_failure(200, json, b"[1]").is_some());
        assert!(invocation_failure(200, None, b"{}").is_some());
    }
}
