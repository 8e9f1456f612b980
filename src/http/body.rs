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

/// Parse JSON into `T`, naming where it went wrong. One rule for every body:
///
/// * UTF-8 only: a byte order mark, UTF-16/32 or an invalid byte is named
///   ([`check_encoding`]);
/// * one JSON document, nothing after it;
/// * no key twice in one object, at any depth ([`check_unique_keys`]): serde
///   would otherwise keep the last one for a `Value` and refuse it for a struct.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    check_encoding(bytes)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty; send a JSON document",
        ));
    }
    check_unique_keys(bytes)?;
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
            // Not JSON at all (or badly encoded): the same message as any parser.
            let v: serde_json::Value = parse(bytes)?;
            Err(ApiError::bad_request(format!(
                "request body must be a JSON object, not {}",
                crate::fleet::names::json_kind(&v)
            )))
        }
    }
}

/// JSON bodies are UTF-8 without a byte order mark (RFC 8259 §8.1); say what
/// else was sent rather than "not valid JSON".
pub fn check_encoding(bytes: &[u8]) -> Result<(), ApiError> {
    const UTF16: &str = "request body is UTF-16; send UTF-8 JSON";
    match bytes {
        [0xEF, 0xBB, 0xBF, ..] => {
            return Err(ApiError::bad_request(
                "request body starts with a UTF-8 byte order mark; send UTF-8 JSON without one",
            ))
        }
        [0xFF, 0xFE, 0, 0, ..] | [0, 0, 0xFE, 0xFF, ..] | [0, 0, 0, _, ..] | [_, 0, 0, 0, ..] => {
            return Err(ApiError::bad_request(
                "request body is UTF-32; send UTF-8 JSON",
            ))
        }
        // A BOM, or RFC 4627's pattern: JSON starts with an ASCII character, so
        // a NUL among the first two bytes is the other half of a UTF-16 unit.
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] | [0, _, ..] | [_, 0, ..] => {
            return Err(ApiError::bad_request(UTF16))
        }
        _ => {}
    }
    std::str::from_utf8(bytes).map(drop).map_err(|e| {
        let at = e.valid_up_to();
        let byte = bytes.get(at).copied().unwrap_or_default();
        ApiError::bad_request(format!(
            "request body is not valid UTF-8 at byte {at} (0x{byte:02X}); send UTF-8 JSON"
        ))
    })
}

/// Refuse a key that appears twice in one object, at any depth, naming the
/// key and the object (`[0]: key "activeSessions" appears twice`). A first
/// pass over the document, before any parser reads it; syntax errors are left
/// to that parser.
pub fn check_unique_keys(bytes: &[u8]) -> Result<(), ApiError> {
    let mut walk = Walk::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde::de::DeserializeSeed::deserialize(&mut walk, &mut de) {
        Ok(()) => Ok(()),
        Err(_) => match walk.duplicate {
            Some(message) => Err(ApiError::bad_request(message)),
            None => Ok(()),
        },
    }
}

/// The state of [`check_unique_keys`]: where it is, and what it found.
#[derive(Default)]
struct Walk {
    /// `containerGroup.containers[0]` (serde_path_to_error's notation).
    path: String,
    duplicate: Option<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for &mut Walk {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &mut Walk {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let len = self.path.len();
        for i in 0.. {
            self.path.push_str(&format!("[{i}]"));
            let more = seq.next_element_seed(&mut *self)?;
            self.path.truncate(len);
            if more.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let len = self.path.len();
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                let at = if self.path.is_empty() {
                    "request body"
                } else {
                    &self.path
                };
                self.duplicate = Some(format!(
                    "{at}: key {key:?} appears twice; send each key once"
                ));
                return Err(serde::de::Error::custom("duplicate key"));
            }
            if !self.path.is_empty() {
                self.path.push('.');
            }
            self.path.push_str(&key);
            map.next_value_seed(&mut *self)?;
            self.path.truncate(len);
            seen.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn refused(body: &[u8]) -> String {
        let e = parse::<Value>(body).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        e.message
    }

    #[test]
    fn a_key_twice_is_refused_at_any_depth_naming_where() {
        assert_eq!(
            refused(br#"{"a": 1, "a": 2}"#),
            r#"request body: key "a" appears twice; send each key once"#
        );
        assert_eq!(
            refused(
                br#"[{"x": 0}, {"resourceGroup": "rg", "activeSessions": 1, "activeSessions": 2}]"#
            ),
            r#"[1]: key "activeSessions" appears twice; send each key once"#
        );
        assert_eq!(
            refused(br#"{"containerGroup": {"containers": [{"name": "a", "image": "i", "image": "j"}]}}"#),
            r#"containerGroup.containers[0]: key "image" appears twice; send each key once"#
        );
        // The same key after JSON unescaping is the same key.
        assert!(refused(br#"{"a": 1, "\u0061": 2}"#).contains(r#"key "a" appears twice"#));
        // The same key in two objects, or in a nested one, is fine.
        parse::<Value>(br#"[{"a": 1}, {"a": 2}, {"b": {"a": {"a": 3}}}]"#).unwrap();
        // Syntax errors are still reported as such.
        assert!(refused(br#"{"a": 1,"#).starts_with("request body is not valid JSON"));
    }

    #[test]
    fn encodings_other_than_utf8_are_named() {
        let utf16le: Vec<u8> = "{\"a\":1}"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let utf16be: Vec<u8> = "{\"a\":1}"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let with_bom = |bom: &[u8], rest: &[u8]| [bom, rest].concat();
        let sixteen = "request body is UTF-16; send UTF-8 JSON";
        for body in [
            utf16le.clone(),
            utf16be.clone(),
            with_bom(&[0xFF, 0xFE], &utf16le),
            with_bom(&[0xFE, 0xFF], &utf16be),
        ] {
            assert_eq!(refused(&body), sixteen, "{body:?}");
            assert_eq!(parse_object::<Value>(&body).unwrap_err().message, sixteen);
        }
        assert_eq!(
            refused(b"\xEF\xBB\xBF{\"a\":1}"),
            "request body starts with a UTF-8 byte order mark; send UTF-8 JSON without one"
        );
        assert_eq!(
            refused(b"{\"a\":\"caf\xE9\"}"),
            "request body is not valid UTF-8 at byte 9 (0xE9); send UTF-8 JSON"
        );
        assert_eq!(
            refused(&[0, 0, 0, b'{', 0, 0, 0, b'}']),
            "request body is UTF-32; send UTF-8 JSON"
        );
    }

    #[test]
    fn a_body_that_is_not_json_says_so_once() {
        let e = parse_object::<Value>(b"hello").unwrap_err();
        assert!(
            e.message.starts_with("request body is not valid JSON: "),
            "{}",
            e.message
        );
        assert!(!e.message.contains("not not"), "{}", e.message);
        assert_eq!(
            parse_object::<Value>(b"[1]").unwrap_err().message,
            "request body must be a JSON object, not an array"
        );
    }
}
