//! List's answer: a JSON array written page by page as the table is read
//! ([`crate::ops::list`]), so a List of 100,000 groups holds a page, not the
//! fleet.
//!
//! The status is decided before the first byte: a store failure before the
//! first rows are read is the usual JSON error (503, 502...). After that the
//! 200 and part of the array are on the wire, so a failure can only cut the
//! answer: the body ends with an error, the server drops the connection
//! without chunked encoding's last chunk (or short of the length the host
//! announced), and a client sees a failed read, never a short array that
//! looks whole. The failure is logged.

use crate::ops::list::Rows;
use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;
use futures::stream::{self, StreamExt};
use std::time::Duration;

/// Bytes a rendered group takes, about (the buffer of a page grows past it if needed).
const ITEM_BYTES: usize = 420;

/// The 200 answer streaming `rows` as one JSON array.
pub fn answer(rows: Rows, health_timeout: Option<Duration>) -> Response {
    let mut first = true;
    let items = rows.map(move |page| {
        let page = page.map_err(|e| {
            tracing::warn!(error = %e, "List failed after its answer started: the answer is cut short");
            std::io::Error::other(e.to_string())
        })?;
        let now = crate::fleet::record::now();
        let mut buf = Vec::with_capacity(page.len() * ITEM_BYTES);
        for r in &page {
            if !first {
                buf.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut buf, &r.listed(now, health_timeout))
                .map_err(std::io::Error::other)?;
        }
        Ok::<_, std::io::Error>(Bytes::from(buf))
    });
    let body = stream::once(async { Ok(Bytes::from_static(b"[")) })
        .chain(items)
        .chain(stream::once(async { Ok(Bytes::from_static(b"]")) }));
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
