//! Request bodies: size-limited, JSON only, parsed with the path of the first
//! error in the message ("containerGroup.containers[0]: missing field `name`").

use super::error::ApiError;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// Largest request body accepted (the original had none; the host allows 100 MB).
pub const MAX_BODY: usize = 1024 * 1024;

/// The raw bytes of a JSON request body (size and content type checked), for
/// the parsers in [`super::requests`].
#[derive(Debug)]
pub struct RawJson(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_body(req).await.map(RawJson)
    }
}

/// Read the whole body (≤ [`MAX_BODY`]), refusing content types that are not JSON.
/// A missing Content-Type is accepted (the original project's callers often sent none).
pub async fn read_body(req: Request) -> Result<bytes::Bytes, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or_default().trim();
        if !(mime == "application/json" || mime.ends_with("+json") || mime == "text/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!("Content-Type {mime:?} is not accepted; send JSON with Content-Type: application/json"),
            ));
        }
    }
    read_any(req).await
}

/// Read the whole body (≤ [`MAX_BODY`]) whatever its Content-Type: for
/// ReportSessions, whose callers are game-server images posting JSON with
/// plain `wget --post-data` / `curl -d` (form content type, or none).
pub async fn read_any(req: Request) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| {
            let e = e.into_inner();
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLarge",
                    format!("request body is larger than {MAX_BODY} bytes"),
                )
            } else {
                ApiError::bad_request(format!("could not read the request body: {e}"))
            }
        })
}

/// Parse JSON into `T`, naming where it went wrong.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty; send a JSON document",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = if inner.is_syntax() || inner.is_eof() {
            format!("request body is not valid JSON: {inner}")
        } else if path == "." || path.is_empty() {
            format!("request body: {inner}")
        } else {
            format!("{path}: {inner}")
        };
        ApiError::bad_request(what)
    })?;
    // One JSON document, nothing after it (not a second document, not stray bytes).
    de.end().map_err(|e| {
        ApiError::bad_request(format!(
            "request body has more after its JSON document: {e}"
        ))
    })?;
    Ok(value)
}

/// Like [`parse`], for bodies that must be a JSON object (serde would also
/// read a struct from a positional array).
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => parse(bytes),
        Some(_) => {
            // Name what it is when it is JSON at all.
            let kind = serde_json::from_slice::<serde_json::Value>(bytes)
                .map(|v| crate::fleet::names::json_kind(&v))
                .unwrap_or("not valid JSON");
            Err(ApiError::bad_request(format!(
                "request body must be a JSON object, not {kind}"
            )))
        }
    }
}
