//! The App Service / Azure Functions managed-identity token endpoint
//! (`GET {IDENTITY_ENDPOINT}?resource=..&api-version=2019-08-01` with
//! `X-IDENTITY-HEADER`), see `docs/reference/providers.md` 1.8.

use crate::arm::{apply_fault, json_response, with_error_code, with_header};
use crate::state::{Shared, Token};
use crate::types::{Notice, Op};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// The only api-version of the 2019 protocol.
pub const MI_API_VERSION: &str = "2019-08-01";

/// Resources tokens are handed out for (with and without trailing slash).
const RESOURCES: [&str; 3] = [
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://storage.azure.com",
];

/// Audiences ARM accepts.
pub(crate) fn is_arm_audience(resource: &str) -> bool {
    let r = resource.trim_end_matches('/');
    r.eq_ignore_ascii_case("https://management.azure.com")
        || r.eq_ignore_ascii_case("https://management.core.windows.net")
}

fn mi_error(status: u16, message: &str) -> Response {
    let r = json_response(
        status,
        &json!({
            "statusCode": status,
            "message": message,
            "correlationId": uuid::Uuid::new_v4().to_string()
        }),
    );
    with_error_code(r, &status.to_string())
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) async fn token(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Response {
    if method != Method::GET {
        return with_header(
            mi_error(
                405,
                &format!("The HTTP method '{method}' is not supported; use GET."),
            ),
            "allow",
            "GET",
        );
    }
    match headers.get("x-identity-header").map(|v| v.to_str()) {
        None => {
            return mi_error(
                401,
                "Unauthorized: the X-IDENTITY-HEADER header is missing (send the value of IDENTITY_HEADER).",
            )
        }
        Some(Ok(v)) if v == shared.cfg.identity_header => {}
        Some(_) => {
            return mi_error(
                401,
                "Unauthorized: the X-IDENTITY-HEADER header does not match IDENTITY_HEADER.",
            )
        }
    }
    match param(query, "api-version") {
        None => {
            return mi_error(
                400,
                &format!(
                    "The api-version query parameter is missing; use api-version={MI_API_VERSION}."
                ),
            )
        }
        Some(MI_API_VERSION) => {}
        Some(other) => {
            return mi_error(
                400,
                &format!(
                    "The api-version '{other}' is not supported; use api-version={MI_API_VERSION}."
                ),
            )
        }
    }
    let resource = match param(query, "resource") {
        None | Some("") => {
            return mi_error(
                400,
                "The resource query parameter is missing (e.g. resource=https://management.azure.com/).",
            )
        }
        Some(r) => r.to_string(),
    };
    let known = RESOURCES
        .iter()
        .any(|k| resource.trim_end_matches('/').eq_ignore_ascii_case(k));
    if !known {
        return mi_error(
            400,
            &format!(
                "AADSTS500011: The resource principal named {resource} was not found in the tenant. (gamefleet-sim issues tokens for ARM and Azure Storage only.)"
            ),
        );
    }
    let ids: Vec<&str> = ["client_id", "principal_id", "object_id", "mi_res_id"]
        .into_iter()
        .filter(|k| param(query, k).is_some())
        .collect();
    if ids.len() > 1 {
        return mi_error(
            400,
            &format!(
                "Only one of client_id, principal_id, object_id and mi_res_id may be given, got {}.",
                ids.join(", ")
            ),
        );
    }
    if let Some(rule) = apply_fault(shared, Op::Token, None).await {
        let r = mi_error(rule.status, &format!("{}: {}", rule.code, rule.message));
        return match rule.retry_after_secs {
            Some(s) => with_header(r, "retry-after", &s.to_string()),
            None => r,
        };
    }

    let lifetime = shared.cfg.token_lifetime;
    let now = chrono::Utc::now().timestamp();
    let expires_on = now + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    let access_token = format!(
        "gfsim.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    {
        let mut st = shared.lock();
        st.tokens.insert(
            access_token.clone(),
            Token {
                resource: resource.clone(),
                valid_until: Instant::now() + lifetime,
                expires_on,
            },
        );
        st.issued_tokens += 1;
    }
    shared.notice(Notice::TokenIssued {
        resource: resource.clone(),
    });
    let client_id = param(query, "client_id")
        .map(str::to_string)
        .unwrap_or_else(|| shared.system_client_id.clone());
    let body: Value = json!({
        "access_token": access_token,
        "expires_on": expires_on.to_string(),
        "not_before": now.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": client_id
    });
    json_response(200, &body)
}
