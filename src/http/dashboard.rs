//! `GET /api/Dashboard`: the fleet at a glance, served by the binary itself.
//!
//! - `GET /api/Dashboard` → one HTML page ([`PAGE`], inline CSS and script,
//!   no URL outside this route), which polls
//! - `GET /api/Dashboard?view=data` → the JSON it draws ([`crate::ops::dashboard`]).
//!
//! A browser's navigation cannot send a header, so the key may come as
//! `?code=` (the Functions host's own name for a function key; outside the
//! host gamefleet takes it as the API key, on this route only: see
//! [`super::require_api_key`]). The page sends it back as `X-API-Key` (and
//! `code`, for the host) on each poll.
//!
//! The page's answer forbids everything but itself: a Content-Security-Policy
//! allowing exactly its own script and style (their SHA-256, computed once
//! from [`PAGE`]) and fetches to this origin; no caching, no sniffing, no
//! referrer (the URL holds the key), no framing.

use super::error::ApiError;
use super::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::LazyLock;

/// The page: one file, everything inline.
pub const PAGE: &str = include_str!("dashboard.html");

/// The policy of [`PAGE`]: its one `<script>` and one `<style>` by hash.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = |tag: &str| {
        let body = inline(PAGE, tag).unwrap_or_default();
        let digest = Sha256::digest(body.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash("script"),
        hash("style")
    )
});

/// The text between `<tag>` and `</tag>` (the first of them).
fn inline<'a>(page: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = page.find(&open)? + open.len();
    let len = page[start..].find(&format!("</{tag}>"))?;
    Some(&page[start..start + len])
}

/// GET /api/Dashboard[?view=data].
pub async fn dashboard(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    match q.get("view").map(String::as_str) {
        None | Some("page") => Ok(page()),
        Some("data") => {
            let data = app.dashboard(crate::fleet::record::now()).await?;
            let mut r = axum::Json(data).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(r)
        }
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidView",
            format!("view {other:?} is not one of: page, data"),
        )),
    }
}

fn page() -> Response {
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response();
    let h = r.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained_and_its_policy_names_its_code() {
        let script = inline(PAGE, "script").expect("one inline script");
        let style = inline(PAGE, "style").expect("one inline style");
        assert!(!script.is_empty() && !style.is_empty());
        assert_eq!(PAGE.matches("<script").count(), 1, "one script, inline");
        assert_eq!(PAGE.matches("<style").count(), 1, "one style, inline");
        for outside in ["http:", "https:", "src=", "stylesheet", "@import", "url("] {
            assert!(
                !PAGE.contains(outside),
                "the page refers outside: {outside}"
            );
        }
        assert!(
            !script.contains("innerHTML"),
            "data goes in with textContent"
        );
        assert!(CSP.contains("script-src 'sha256-") && CSP.contains("style-src 'sha256-"));
        assert!(!CSP.contains("unsafe"));
    }
}
