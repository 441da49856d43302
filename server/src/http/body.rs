//! Reading request bodies: content type, size limit (after gzip decompression, which
//! actix applies for `Content-Encoding: gzip`), and JSON errors that name a position or a
//! key path but never quote the body.

use actix_web::HttpRequest;
use actix_web::dev::Decompress;
use actix_web::http::header;
use actix_web::web;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Refuses a body that is not declared as JSON.
pub fn require_json(request: &HttpRequest) -> Result<(), ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(
            "send the body as `Content-Type: application/json`",
        ))
    }
}

/// Reads the whole body, at most `limit` bytes after decompression (`Content-Encoding:
/// gzip` is inflated here, so the limit bounds what the body expands to), within
/// `timeout`: actix bounds only the request head, so a client that stops sending (or
/// vanishes mid-body) would otherwise hold the handler, and its buffered bytes, forever.
pub async fn read_body(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<web::Bytes, ApiError> {
    match tokio::time::timeout(timeout, read_all(request, payload, limit)).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::body_timeout(timeout.as_secs().max(1))),
    }
}

async fn read_all(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt;
    let mut stream = Decompress::from_headers(payload.into_inner(), request.headers());
    // One allocation for the whole body when its length is announced (and not compressed):
    // growing by doubling would copy it, and with scrubbing zero it, once per step.
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|_| !request.headers().contains_key(header::CONTENT_ENCODING));
    let mut body = web::BytesMut::with_capacity(announced.unwrap_or(0).min(limit));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request(
                "bad_body",
                "the request body could not be read (cut off, or bad compression)",
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::too_large(
                "body_too_large",
                format!(
                    "the request body is over the limit of {limit} bytes (after decompression)"
                ),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses JSON, describing errors by position and key path only.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        describe(&inner, &path)
    })?;
    de.end().map_err(|e| describe(&e, "."))?;
    Ok(value)
}

fn describe(e: &serde_json::Error, path: &str) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
            "invalid_json",
            format!(
                "the body is not valid JSON (line {}, column {}){}",
                e.line(),
                e.column(),
                if e.to_string().contains("recursion limit") {
                    ": nested too deeply"
                } else {
                    ""
                }
            ),
        ),
        Category::Data => {
            let text = e.to_string();
            let what = if let Some(rest) = text.strip_prefix("unknown field `") {
                let field = rest.split('`').next().unwrap_or("");
                format!("unknown field `{field}`")
            } else if let Some(rest) = text.strip_prefix("missing field `") {
                let field = rest.split('`').next().unwrap_or("");
                format!("missing field `{field}`")
            } else {
                "a value of the wrong type or shape".to_string()
            };
            // serde's path of an unknown field ends in the field, which the message names.
            let shown = match path.rsplit_once('.') {
                Some((parent, last)) if what.contains(&format!("`{last}`")) => parent,
                None if what.contains(&format!("`{path}`")) => "",
                _ => path,
            };
            let at = if shown.is_empty() || shown == "." {
                String::new()
            } else {
                format!(" at `{shown}`")
            };
            ApiError::bad_request("invalid_request", format!("{what}{at}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api::AnalyzeRequest;

    fn error_of(body: &str) -> String {
        match parse_json::<AnalyzeRequest>(body.as_bytes()) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_name_positions_and_paths_not_values() {
        assert_eq!(
            error_of("{"),
            "invalid_json: the body is not valid JSON (line 1, column 1)"
        );
        assert_eq!(
            error_of("{\"files\": 3}"),
            "invalid_request: a value of the wrong type or shape at `files`"
        );
        assert_eq!(error_of("{}"), "invalid_request: missing field `files`");
        assert_eq!(
            error_of("{\"files\": [], \"extra\": 1}"),
            "invalid_request: unknown field `extra`"
        );
        let canary =
            "{\"files\": [{\"path\": \"p\", \"content\": 5, \"language\": \"CANARY-7f3a\"}]}";
        assert!(!error_of(canary).contains("CANARY"));
        let wrong = "{\"files\": [{\"path\": \"CANARY-7f3a\", \"content\": [\"CANARY-7f3a\"]}]}";
        assert!(!error_of(wrong).contains("CANARY"));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(
            error_of(&deep).contains("nested too deeply"),
            "{}",
            error_of(&deep)
        );
    }
}
