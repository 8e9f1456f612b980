//! The wire format of an entity-group transaction (`POST .../$batch`), built and
//! parsed by hand because azure_data_tables 0.21's builder writes LF line endings
//! and no closing batch delimiter (see docs/reference/table-storage.md).
//!
//! Format: <https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions>
//! (OData v3 batch, MIME multipart/mixed, CRLF line endings). One batch part that
//! holds one changeset; one `application/http` part per operation.
//!
//! Pure: no I/O. The transport is in `table.rs`.

use std::fmt::Write as _;

const CRLF: &str = "\r\n";

/// One operation of a changeset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchOp {
    /// HTTP method of the operation (`MERGE`, `PUT`, `DELETE`...).
    pub method: &'static str,
    /// Absolute entity URL, e.g. `https://acct.table.core.windows.net/T(PartitionKey='a',RowKey='b')`.
    pub url: String,
    /// `If-Match` value (an ETag or `*`); `None` to send no `If-Match`.
    pub if_match: Option<String>,
    /// JSON body; `None` for operations without one (DELETE).
    pub body: Option<String>,
}

/// Boundaries of one request: `batch_<id>` and `changeset_<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Boundaries {
    pub batch: String,
    pub changeset: String,
}

impl Boundaries {
    pub fn random() -> Self {
        Self {
            batch: format!("batch_{}", uuid::Uuid::new_v4().hyphenated()),
            changeset: format!("changeset_{}", uuid::Uuid::new_v4().hyphenated()),
        }
    }

    /// The `Content-Type` of the whole request.
    pub fn content_type(&self) -> String {
        format!("multipart/mixed; boundary={}", self.batch)
    }
}

/// The request body. Operation `i` (0-based) gets `Content-ID: i + 1`.
pub(crate) fn encode(boundaries: &Boundaries, ops: &[BatchOp]) -> String {
    let Boundaries { batch, changeset } = boundaries;
    let mut out = String::with_capacity(256 + ops.len() * 512);
    // `write!` into a String cannot fail.
    let _ = write!(
        out,
        "--{batch}{CRLF}Content-Type: multipart/mixed; boundary={changeset}{CRLF}{CRLF}"
    );
    for (i, op) in ops.iter().enumerate() {
        let _ = write!(
            out,
            "--{changeset}{CRLF}\
             Content-Type: application/http{CRLF}\
             Content-Transfer-Encoding: binary{CRLF}\
             {CRLF}\
             {method} {url} HTTP/1.1{CRLF}\
             Content-ID: {id}{CRLF}\
             Accept: application/json;odata=minimalmetadata{CRLF}",
            method = op.method,
            url = op.url,
            id = i + 1,
        );
        if op.body.is_some() {
            let _ = write!(out, "Content-Type: application/json{CRLF}");
        }
        if let Some(etag) = &op.if_match {
            let _ = write!(out, "If-Match: {etag}{CRLF}");
        }
        let _ = write!(out, "DataServiceVersion: 3.0{CRLF}{CRLF}");
        if let Some(body) = &op.body {
            out.push_str(body);
        }
        // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        out.push_str(CRLF);
    }
    let _ = write!(out, "--{changeset}--{CRLF}--{batch}--{CRLF}");
    out
}

/// What the service answered for one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpResponse {
    pub status: u16,
    /// From the part's MIME headers or its HTTP headers.
    pub content_id: Option<String>,
    pub etag: Option<String>,
    /// `x-ms-error-code` of the part, when the service sent one.
    pub error_code_header: Option<String>,
    pub body: String,
}

/// The answer to a whole batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Every operation succeeded: the new ETags, in request order.
    Applied(Vec<String>),
    /// Nothing applied; the operation at `index` (0-based) failed.
    Failed {
        /// `None` when the response does not say which operation failed.
        index: Option<usize>,
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable batch response: {0}")]
pub(crate) struct DecodeError(pub String);

fn bad(msg: impl Into<String>) -> DecodeError {
    DecodeError(msg.into())
}

/// Decode the body of a `202 Accepted` batch answer for `op_count` operations.
pub(crate) fn decode(
    content_type: &str,
    body: &str,
    op_count: usize,
) -> Result<Decoded, DecodeError> {
    let boundary = boundary_of(content_type).ok_or_else(|| {
        bad(format!(
            "no multipart boundary in Content-Type {content_type:?}"
        ))
    })?;
    let mut responses = Vec::new();
    collect_responses(body, &boundary, 0, &mut responses)?;
    if responses.is_empty() {
        return Err(bad("no operation responses"));
    }

    if let Some(failed) = responses.iter().find(|r| !(200..300).contains(&r.status)) {
        let (code, message) = error_details(failed);
        let index = failed
            .content_id
            .as_deref()
            .and_then(|id| id.trim().parse::<usize>().ok())
            .and_then(|id| id.checked_sub(1))
            .filter(|i| *i < op_count)
            .or_else(|| {
                message
                    .as_deref()
                    .and_then(index_prefix)
                    .filter(|i| *i < op_count)
            })
            .or(if op_count == 1 { Some(0) } else { None });
        return Ok(Decoded::Failed {
            index,
            status: failed.status,
            code,
            message: message.map(|m| strip_index_prefix(&m)),
        });
    }

    if responses.len() != op_count {
        return Err(bad(format!(
            "{} operation responses for {op_count} operations",
            responses.len()
        )));
    }
    // Responses come in request order; when Content-IDs are present, use them.
    let mut ordered: Vec<Option<String>> = vec![None; op_count];
    let by_id = responses.iter().all(|r| r.content_id.is_some());
    for (pos, r) in responses.iter().enumerate() {
        let index = if by_id {
            r.content_id
                .as_deref()
                .and_then(|id| id.trim().parse::<usize>().ok())
                .and_then(|id| id.checked_sub(1))
                .filter(|i| *i < op_count)
                .ok_or_else(|| bad(format!("unexpected Content-ID {:?}", r.content_id)))?
        } else {
            pos
        };
        let etag = r
            .etag
            .clone()
            .ok_or_else(|| bad(format!("operation {index} answered without an ETag")))?;
        if ordered[index].replace(etag).is_some() {
            return Err(bad(format!("two responses for operation {index}")));
        }
    }
    ordered
        .into_iter()
        .enumerate()
        .map(|(i, e)| e.ok_or_else(|| bad(format!("no response for operation {i}"))))
        .collect::<Result<Vec<_>, _>>()
        .map(Decoded::Applied)
}

/// `boundary` parameter of a multipart Content-Type (quoted or not).
pub(crate) fn boundary_of(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim().trim_matches('"');
            (!v.is_empty()).then(|| v.to_owned())
        } else {
            None
        }
    })
}

/// Lines of `text`, each without its line ending (CRLF or LF).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// The parts of a multipart body: the text between delimiter lines, up to the
/// closing delimiter (or the end, if a sender omitted it).
fn parts<'a>(body: &'a str, boundary: &str) -> Result<Vec<String>, DecodeError> {
    let delimiter = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut out = Vec::new();
    let mut current: Option<Vec<&'a str>> = None;
    let mut seen_delimiter = false;
    for line in lines(body) {
        let trimmed = line.trim_end();
        if trimmed == close {
            if let Some(part) = current.take() {
                out.push(part.join("\r\n"));
            }
            return Ok(out);
        }
        if trimmed == delimiter {
            seen_delimiter = true;
            if let Some(part) = current.take() {
                out.push(part.join("\r\n"));
            }
            current = Some(Vec::new());
            continue;
        }
        if let Some(part) = current.as_mut() {
            part.push(line);
        }
        // Lines before the first delimiter are the preamble: ignored.
    }
    if !seen_delimiter {
        return Err(bad(format!("boundary {boundary:?} not found")));
    }
    if let Some(part) = current.take() {
        out.push(part.join("\r\n"));
    }
    Ok(out)
}

/// Header block and body of a MIME part or HTTP message (split at the first blank line).
fn split_head(text: &str) -> (Vec<(String, String)>, String) {
    let mut headers = Vec::new();
    let mut rest = Vec::new();
    let mut in_body = false;
    for line in lines(text) {
        if in_body {
            rest.push(line);
        } else if line.trim().is_empty() {
            in_body = true;
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        } else {
            // A line without ':' (the HTTP status line) is kept as a header-less entry.
            headers.push((String::new(), line.trim().to_owned()));
        }
    }
    (headers, rest.join("\r\n"))
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn collect_responses(
    body: &str,
    boundary: &str,
    depth: usize,
    out: &mut Vec<OpResponse>,
) -> Result<(), DecodeError> {
    if depth > 2 {
        return Err(bad("multipart nested too deeply"));
    }
    for part in parts(body, boundary)? {
        let (mime_headers, content) = split_head(&part);
        let content_type = header(&mime_headers, "content-type").unwrap_or_default();
        if let Some(inner) = boundary_of(content_type) {
            collect_responses(&content, &inner, depth + 1, out)?;
        } else if content_type
            .to_ascii_lowercase()
            .starts_with("application/http")
        {
            out.push(http_part(&mime_headers, &content)?);
        } else if part.trim().is_empty() {
            continue;
        } else {
            return Err(bad(format!("unexpected part of type {content_type:?}")));
        }
    }
    Ok(())
}

fn http_part(mime_headers: &[(String, String)], content: &str) -> Result<OpResponse, DecodeError> {
    let content = content.trim_start_matches(['\r', '\n']);
    let (head, body) = split_head(content);
    let status_line = head
        .first()
        .filter(|(k, _)| k.is_empty())
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| bad("operation response without a status line"))?;
    let mut words = status_line.split_whitespace();
    if !words.next().is_some_and(|w| w.starts_with("HTTP/")) {
        return Err(bad(format!("bad status line {status_line:?}")));
    }
    let status = words
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let content_id = header(mime_headers, "content-id")
        .or_else(|| header(&head, "content-id"))
        .map(str::to_owned);
    Ok(OpResponse {
        status,
        content_id,
        etag: header(&head, "etag").map(str::to_owned),
        error_code_header: header(&head, "x-ms-error-code").map(str::to_owned),
        body: body.trim().to_owned(),
    })
}

/// Error code and message of a failed operation: `x-ms-error-code`, the JSON
/// `odata.error` body, or (older API versions) the XML `<error>` body.
fn error_details(r: &OpResponse) -> (Option<String>, Option<String>) {
    let (mut code, mut message) = (None, None);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.body) {
        let err = v.get("odata.error").or_else(|| v.get("error"));
        if let Some(err) = err {
            code = err.get("code").and_then(|c| c.as_str()).map(str::to_owned);
            message = match err.get("message") {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(m) => m.get("value").and_then(|v| v.as_str()).map(str::to_owned),
                None => None,
            };
        }
    } else if r.body.contains("<error") {
        code = xml_element(&r.body, "code");
        message = xml_element(&r.body, "message");
    }
    (r.error_code_header.clone().or(code), message)
}

fn xml_element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}"))?;
    let after_open = start + xml[start..].find('>')? + 1;
    let end = after_open + xml[after_open..].find(&format!("</{name}>"))?;
    Some(xml[after_open..end].to_owned())
}

/// The `"37:"` that Table Storage puts before the message of a failed batch:
/// the 0-based index of the failing operation.
fn index_prefix(message: &str) -> Option<usize> {
    let (n, _) = message.split_once(':')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// The message without the index prefix and without the RequestId/Time lines.
fn strip_index_prefix(message: &str) -> String {
    let m = match (index_prefix(message), message.split_once(':')) {
        (Some(_), Some((_, rest))) => rest,
        _ => message,
    };
    m.lines().next().unwrap_or_default().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed() -> Boundaries {
        Boundaries {
            batch: "batch_b".into(),
            changeset: "changeset_c".into(),
        }
    }

    fn merge(rk: &str, etag: &str, n: u32) -> BatchOp {
        BatchOp {
            method: "MERGE",
            url: format!(
                "http://127.0.0.1:10002/devstoreaccount1/T(PartitionKey='rg',RowKey='{rk}')"
            ),
            if_match: Some(etag.to_owned()),
            body: Some(format!("{{\"ActiveSessions\":{n}}}")),
        }
    }

    #[test]
    fn encodes_the_documented_format_byte_for_byte() {
        let body = encode(
            &fixed(),
            &[merge("a", "W/\"1\"", 3), merge("b", "W/\"2\"", 0)],
        );
        let expected = "--batch_b\r\n\
Content-Type: multipart/mixed; boundary=changeset_c\r\n\
\r\n\
--changeset_c\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
MERGE http://127.0.0.1:10002/devstoreaccount1/T(PartitionKey='rg',RowKey='a') HTTP/1.1\r\n\
Content-ID: 1\r\n\
Accept: application/json;odata=minimalmetadata\r\n\
Content-Type: application/json\r\n\
If-Match: W/\"1\"\r\n\
DataServiceVersion: 3.0\r\n\
\r\n\
{\"ActiveSessions\":3}\r\n\
--changeset_c\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
MERGE http://127.0.0.1:10002/devstoreaccount1/T(PartitionKey='rg',RowKey='b') HTTP/1.1\r\n\
Content-ID: 2\r\n\
Accept: application/json;odata=minimalmetadata\r\n\
Content-Type: application/json\r\n\
If-Match: W/\"2\"\r\n\
DataServiceVersion: 3.0\r\n\
\r\n\
{\"ActiveSessions\":0}\r\n\
--changeset_c--\r\n\
--batch_b--\r\n";
        assert_eq!(body, expected);
        // No bare LF anywhere.
        assert!(!body.replace("\r\n", "").contains('\n'));
        assert!(body.ends_with("--changeset_c--\r\n--batch_b--\r\n"));
    }

    #[test]
    fn encodes_delete_without_body_or_content_type() {
        let op = BatchOp {
            method: "DELETE",
            url: "https://a.table.core.windows.net/T(PartitionKey='p',RowKey='r')".into(),
            if_match: Some("*".into()),
            body: None,
        };
        let body = encode(&fixed(), &[op]);
        assert!(body.contains(
            "DELETE https://a.table.core.windows.net/T(PartitionKey='p',RowKey='r') HTTP/1.1\r\n\
Content-ID: 1\r\nAccept: application/json;odata=minimalmetadata\r\nIf-Match: *\r\nDataServiceVersion: 3.0\r\n\r\n\r\n--changeset_c--"
        ));
        assert!(!body.contains("Content-Type: application/json"));
    }

    #[test]
    fn random_boundaries_differ_and_name_the_content_type() {
        let a = Boundaries::random();
        let b = Boundaries::random();
        assert_ne!(a, b);
        assert!(a.batch.starts_with("batch_") && a.changeset.starts_with("changeset_"));
        assert_eq!(
            a.content_type(),
            format!("multipart/mixed; boundary={}", a.batch)
        );
    }

    #[test]
    fn boundary_parameter_is_found_quoted_or_not() {
        assert_eq!(
            boundary_of("multipart/mixed; boundary=batchresponse_1").as_deref(),
            Some("batchresponse_1")
        );
        assert_eq!(
            boundary_of("Multipart/Mixed;Boundary=\"x y\"").as_deref(),
            Some("x y")
        );
        assert_eq!(boundary_of("application/json"), None);
        assert_eq!(boundary_of("multipart/mixed"), None);
    }

    // Captured from Azurite 3.35.0: a 2-op MERGE batch that applied.
    const AZURITE_SUCCESS: &str = include_str!("testdata/azurite_batch_success.txt");
    const AZURITE_SUCCESS_CT: &str =
        "multipart/mixed; boundary=batchresponse_595ffe82-e166-4cab-8819-5027fd6ee00f";

    // Captured from Azurite 3.35.0: a 3-op MERGE batch whose op 1 had a stale ETag.
    const AZURITE_412: &str = include_str!("testdata/azurite_batch_412.txt");
    const AZURITE_412_CT: &str =
        "multipart/mixed; boundary=batchresponse_1248a552-ed90-4f1f-9384-7de5e4458c57";

    #[test]
    fn decodes_a_captured_azurite_success() {
        let Decoded::Applied(etags) = decode(AZURITE_SUCCESS_CT, AZURITE_SUCCESS, 2).unwrap()
        else {
            panic!("expected Applied");
        };
        assert_eq!(etags.len(), 2);
        assert!(etags.iter().all(|e| e.starts_with("W/\"datetime'")));
        assert_ne!(etags[0], etags[1]);
        // Wrong op count is an error, not a silent success.
        assert!(decode(AZURITE_SUCCESS_CT, AZURITE_SUCCESS, 3).is_err());
    }

    #[test]
    fn decodes_a_captured_azurite_412() {
        let decoded = decode(AZURITE_412_CT, AZURITE_412, 3).unwrap();
        let Decoded::Failed {
            index,
            status,
            code,
            message,
        } = decoded
        else {
            panic!("expected Failed");
        };
        assert_eq!(index, Some(1));
        assert_eq!(status, 412);
        assert_eq!(code.as_deref(), Some("UpdateConditionNotSatisfied"));
        assert_eq!(
            message.as_deref(),
            Some("The update condition specified in the request was not satisfied.")
        );
    }

    /// The documented failure shape (Azure): no Content-ID, the failing index
    /// only as the `n:` prefix of the message, CRLF line endings.
    #[test]
    fn decodes_the_documented_failure_format() {
        let body = "--batchresponse_e6a2\r\n\
Content-Type: multipart/mixed; boundary=changesetresponse_77c1\r\n\
\r\n\
--changesetresponse_77c1\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
HTTP/1.1 404 Not Found\r\n\
X-Content-Type-Options: nosniff\r\n\
DataServiceVersion: 3.0;\r\n\
Content-Type: application/json;odata=minimalmetadata;streaming=true;charset=utf-8\r\n\
\r\n\
{\"odata.error\":{\"code\":\"ResourceNotFound\",\"message\":{\"lang\":\"en-US\",\"value\":\"12:The specified resource does not exist.\\nRequestId:0f1e\\nTime:2026-01-01T00:00:00.0000000Z\"}}}\r\n\
--changesetresponse_77c1--\r\n\
--batchresponse_e6a2--\r\n";
        let decoded = decode("multipart/mixed; boundary=batchresponse_e6a2", body, 20).unwrap();
        assert_eq!(
            decoded,
            Decoded::Failed {
                index: Some(12),
                status: 404,
                code: Some("ResourceNotFound".into()),
                message: Some("The specified resource does not exist.".into()),
            }
        );
        // An index outside the batch is not trusted.
        let Decoded::Failed { index, .. } =
            decode("multipart/mixed; boundary=batchresponse_e6a2", body, 5).unwrap()
        else {
            panic!("expected Failed");
        };
        assert_eq!(index, None);
    }

    #[test]
    fn decodes_a_documented_success_without_content_ids_positionally() {
        let body = "--batchresponse_1\r\n\
Content-Type: multipart/mixed; boundary=changesetresponse_2\r\n\
\r\n\
--changesetresponse_2\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
HTTP/1.1 204 No Content\r\n\
X-Content-Type-Options: nosniff\r\n\
Cache-Control: no-cache\r\n\
DataServiceVersion: 1.0;\r\n\
ETag: W/\"datetime'2026-01-01T00%3A00%3A00.1000000Z'\"\r\n\
\r\n\
\r\n\
--changesetresponse_2\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
HTTP/1.1 204 No Content\r\n\
ETag: W/\"datetime'2026-01-01T00%3A00%3A00.2000000Z'\"\r\n\
\r\n\
\r\n\
--changesetresponse_2--\r\n\
--batchresponse_1--\r\n";
        assert_eq!(
            decode("multipart/mixed; boundary=batchresponse_1", body, 2).unwrap(),
            Decoded::Applied(vec![
                "W/\"datetime'2026-01-01T00%3A00%3A00.1000000Z'\"".into(),
                "W/\"datetime'2026-01-01T00%3A00%3A00.2000000Z'\"".into(),
            ])
        );
    }

    #[test]
    fn decodes_an_xml_error_and_a_whole_batch_rejection() {
        // A 400 for the whole batch, XML body, directly in the batch part.
        let body = "--batchresponse_9\n\
Content-Type: application/http\n\
Content-Transfer-Encoding: binary\n\
\n\
HTTP/1.1 400 Bad Request\n\
Content-Type: application/xml;charset=utf-8\n\
\n\
<?xml version=\"1.0\" encoding=\"utf-8\"?><error xmlns=\"x\"><code>InvalidInput</code><message xml:lang=\"en-US\">99:One of the request inputs is not valid.\nRequestId:1</message></error>\n\
--batchresponse_9--\n";
        assert_eq!(
            decode("multipart/mixed; boundary=batchresponse_9", body, 100).unwrap(),
            Decoded::Failed {
                index: Some(99),
                status: 400,
                code: Some("InvalidInput".into()),
                message: Some("One of the request inputs is not valid.".into()),
            }
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode("multipart/mixed; boundary=x", "hello", 1).is_err());
        assert!(decode("application/json", "{}", 1).is_err());
        assert!(decode(
            "multipart/mixed; boundary=x",
            "--x\r\nContent-Type: application/http\r\n\r\nnot http\r\n--x--\r\n",
            1
        )
        .is_err());
    }
}
