//! The HTTP API driven in-process (`actix_web::test`), one area per test.

use std::io::Write;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, test, web};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use volatile_server::http::auth::{ApiKeys, RateLimiter};
use volatile_server::http::metrics::Metrics;
use volatile_server::http::registry::{PlaybookSource, Registry};
use volatile_server::http::state::{AppState, Limits};
use volatile_server::http::{configure, middleware};

fn state_with(limits: Limits, keys: ApiKeys, rate: Option<RateLimiter>) -> web::Data<AppState> {
    let registry = match Registry::load(&PlaybookSource::Embedded, &[]) {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(2).build() {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let metrics = match Metrics::new() {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    web::Data::new(AppState::new(registry, limits, metrics, pool, keys, rate))
}

fn state() -> web::Data<AppState> {
    state_with(Limits::default(), ApiKeys::default(), None)
}

macro_rules! app {
    ($state:expr) => {
        test::init_service(
            App::new()
                .app_data($state.clone())
                .wrap(from_fn(middleware))
                .configure(configure),
        )
        .await
    };
}

async fn post_json<S, B>(app: &S, uri: &str, body: &Value) -> (u16, Value)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let req = test::TestRequest::post()
        .uri(uri)
        .set_json(body)
        .to_request();
    let resp = test::call_service(app, req).await;
    let status = resp.status().as_u16();
    let bytes = test::read_body(resp).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

const TS_EVAL: &str = "function f(x) {\n  return eval(x);\n}\n";

#[actix_web::test]
async fn analyze_with_default_playbooks() {
    let state = state();
    let app = app!(state);
    let body = json!({"files": [
        {"path": "src/app.ts", "content": TS_EVAL},
        {"path": "tool", "content": "#!/usr/bin/env python3\ntry:\n    x()\nexcept:\n    pass\n"},
        {"path": "x.cob", "content": "DISPLAY 'HI'."},
        {"path": "y.py", "language": "klingon", "content": "x = 1\n"}
    ]});
    let (status, answer) = post_json(&app, "/v1/analyze", &body).await;
    assert_eq!(status, 200, "{answer}");
    let files = answer["files"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 4);
    assert_eq!(files[0]["language"], "typescript");
    assert!(
        files[0]["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["rule_id"] == "no-eval"))
    );
    assert_eq!(files[1]["language"], "python", "shebang picks the language");
    assert!(
        files[1]["findings"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(files[2]["error"]["code"], "unknown_language");
    assert_eq!(files[3]["error"]["code"], "unknown_language");
    assert_eq!(answer["stats"]["files"], 4);
    assert!(
        answer["engine"]["playbook_hash"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
}

#[actix_web::test]
async fn changed_lines_keep_only_touching_findings() {
    let state = state();
    let app = app!(state);
    let content = "eval(a);\nx();\neval(b);\n";
    let body = |lines: Value| json!({"files": [{"path": "a.js", "content": content, "changed_lines": lines}], "rules": ["no-eval"]});
    let (_, all) = post_json(&app, "/v1/analyze", &body(Value::Null)).await;
    assert_eq!(
        all["files"][0]["findings"].as_array().map(Vec::len),
        Some(2)
    );
    let (_, some) = post_json(&app, "/v1/analyze", &body(json!([[2, 3]]))).await;
    let lines: Vec<u64> = some["files"][0]["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["range"]["start"]["line"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(lines, [3]);
    let (status, answer) = post_json(&app, "/v1/analyze", &body(json!([[3, 2]]))).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["files"][0]["error"]["code"], "invalid_changed_lines",
        "{answer}"
    );
}

#[actix_web::test]
async fn inline_playbooks_and_playbook_errors() {
    let state = state();
    let app = app!(state);
    let inline = json!({"id": "mine", "rules": [{"id": "no-print", "language": "python", "severity": "error", "message": "print of $A", "rule": {"pattern": "print($A)"}}]});
    let (status, answer) = post_json(
        &app,
        "/v1/analyze",
        &json!({"playbook": inline, "files": [{"path": "a.py", "content": "print(1)\n"}]}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["files"][0]["findings"][0]["rule_id"], "no-print");
    assert_eq!(answer["files"][0]["findings"][0]["message"], "print of 1");

    let bad = json!({"rules": [{"id": "b", "language": "python", "rule": {"regex": "("}}]});
    let (status, error) =
        post_json(&app, "/v1/analyze", &json!({"playbook": bad, "files": []})).await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["code"], "invalid_playbook");

    let (status, error) = post_json(
        &app,
        "/v1/analyze",
        &json!({"playbook": "nope", "files": []}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(error["error"]["code"], "unknown_playbook");

    let (status, answer) = post_json(&app, "/v1/analyze", &json!({"playbook": "python", "min_severity": "error", "files": [{"path": "a.py", "content": "eval(x)\ntry:\n    pass\nexcept:\n    pass\n"}]})).await;
    assert_eq!(status, 200);
    let severities: Vec<&str> = answer["files"][0]["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["severity"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        !severities.is_empty() && severities.iter().all(|s| *s == "error"),
        "{severities:?}"
    );
}

#[actix_web::test]
async fn envelope_errors_have_codes() {
    let state = state_with(
        Limits {
            max_files: 2,
            max_body_bytes: 4096,
            max_file_bytes: 100,
            ..Limits::default()
        },
        ApiKeys::default(),
        None,
    );
    let app = app!(state);
    let cases: Vec<(actix_http::Request, u16, &str)> = vec![
        (test::TestRequest::post().uri("/v1/analyze").insert_header(("content-type", "application/json")).set_payload("{").to_request(), 400, "invalid_json"),
        (test::TestRequest::post().uri("/v1/analyze").insert_header(("content-type", "application/json")).set_payload("").to_request(), 400, "invalid_json"),
        (test::TestRequest::post().uri("/v1/analyze").set_json(json!({"files": 3})).to_request(), 400, "invalid_request"),
        (test::TestRequest::post().uri("/v1/analyze").set_json(json!({})).to_request(), 400, "invalid_request"),
        (test::TestRequest::post().uri("/v1/analyze").insert_header(("content-type", "text/plain")).set_payload("{}").to_request(), 415, "unsupported_media_type"),
        (test::TestRequest::post().uri("/v1/analyze").set_json(json!({"files": [{"path": "a", "content": ""}, {"path": "b", "content": ""}, {"path": "c", "content": ""}]})).to_request(), 413, "too_many_files"),
        (test::TestRequest::post().uri("/v1/analyze").set_json(json!({"files": [{"path": "a.py", "content": "x".repeat(5000)}]})).to_request(), 413, "body_too_large"),
        (test::TestRequest::get().uri("/v1/nothing").to_request(), 404, "not_found"),
    ];
    for (req, want_status, want_code) in cases {
        let resp = test::call_service(&app, req).await;
        let status = resp.status().as_u16();
        let body: Value =
            serde_json::from_slice(&test::read_body(resp).await).unwrap_or(Value::Null);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{body}"
        );
    }
    // A file over the per-file limit is that file's error; the others are analysed.
    let (status, answer) = post_json(&app, "/v1/analyze", &json!({"files": [{"path": "big.py", "content": "x = 1\n".repeat(30)}, {"path": "a.js", "content": "eval(x)"}]})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["files"][0]["error"]["code"], "too_large");
    assert!(
        answer["files"][1]["findings"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    // 0 files is a normal, empty answer.
    let (status, answer) = post_json(&app, "/v1/analyze", &json!({"files": []})).await;
    assert_eq!((status, answer["stats"]["files"].as_u64()), (200, Some(0)));
}

#[actix_web::test]
async fn gzip_bodies_are_decompressed_before_the_limit() {
    let state = state_with(
        Limits {
            max_body_bytes: 2048,
            ..Limits::default()
        },
        ApiKeys::default(),
        None,
    );
    let app = app!(state);
    let gzip = |body: &Value| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = enc.write_all(body.to_string().as_bytes());
        enc.finish().unwrap_or_default()
    };
    let small = json!({"files": [{"path": "a.js", "content": "eval(x);"}]});
    let req = test::TestRequest::post()
        .uri("/v1/analyze")
        .insert_header(("content-type", "application/json"))
        .insert_header(("content-encoding", "gzip"))
        .set_payload(gzip(&small))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status().as_u16(), 200);
    // Small compressed, large decompressed: the limit applies to what it inflates to.
    let big = json!({"files": [{"path": "a.js", "content": " ".repeat(100_000)}]});
    let compressed = gzip(&big);
    assert!(compressed.len() < 2048);
    let req = test::TestRequest::post()
        .uri("/v1/analyze")
        .insert_header(("content-type", "application/json"))
        .insert_header(("content-encoding", "gzip"))
        .set_payload(compressed)
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status().as_u16(), 413);
}

#[actix_web::test]
async fn sarif_by_accept_header() {
    let state = state();
    let app = app!(state);
    let req = test::TestRequest::post()
        .uri("/v1/analyze")
        .insert_header(("accept", "application/sarif+json"))
        .set_json(json!({"files": [{"path": "a.js", "content": "eval(x);"}]}))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/sarif+json")
    );
    let sarif: Value = serde_json::from_slice(&test::read_body(resp).await).unwrap_or(Value::Null);
    assert_eq!(sarif["version"], "2.1.0");
    assert!(
        sarif["runs"][0]["results"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
}

fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[actix_web::test]
async fn api_keys_and_rate_limit() {
    let keys = ApiKeys::load(None, Some(&digest("k1"))).unwrap_or_default();
    let state = state_with(Limits::default(), keys, Some(RateLimiter::new(2.0)));
    let app = app!(state);
    let call = |key: Option<&str>| {
        let mut req = test::TestRequest::get().uri("/v1/info");
        if let Some(k) = key {
            req = req.insert_header(("authorization", format!("Bearer {k}")));
        }
        req.to_request()
    };
    let resp = test::call_service(&app, call(None)).await;
    assert_eq!(resp.status().as_u16(), 401);
    let resp = test::call_service(&app, call(Some("wrong"))).await;
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = serde_json::from_slice(&test::read_body(resp).await).unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(
        test::call_service(&app, call(Some("k1")))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        test::call_service(&app, call(Some("k1")))
            .await
            .status()
            .as_u16(),
        200
    );
    let limited = test::call_service(&app, call(Some("k1"))).await;
    assert_eq!(limited.status().as_u16(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // Health, readiness and metrics stay open.
    for open in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let resp = test::call_service(&app, test::TestRequest::get().uri(open).to_request()).await;
        assert_eq!(resp.status().as_u16(), 200, "{open}");
    }
}

#[actix_web::test]
async fn overload_is_503_with_retry_after() {
    let state = state_with(
        Limits {
            max_inflight: 1,
            ..Limits::default()
        },
        ApiKeys::default(),
        None,
    );
    let app = app!(state);
    let held = state.admission.clone().try_acquire_owned();
    assert!(held.is_ok());
    let req = test::TestRequest::post()
        .uri("/v1/analyze")
        .set_json(json!({"files": []}))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    drop(held);
    let req = test::TestRequest::post()
        .uri("/v1/analyze")
        .set_json(json!({"files": []}))
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status().as_u16(), 200);
}

#[actix_web::test]
async fn request_ids_are_echoed_or_generated() {
    let state = state();
    let app = app!(state);
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "abc-123"))
            .to_request(),
    )
    .await;
    assert_eq!(
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("abc-123")
    );
    let resp =
        test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
    assert!(
        resp.headers()
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty())
    );
}

#[actix_web::test]
async fn info_playbooks_and_validation() {
    let state = state();
    let app = app!(state);
    let info: Value =
        test::call_and_read_body_json(&app, test::TestRequest::get().uri("/v1/info").to_request())
            .await;
    assert_eq!(info["limits"]["max_files"], 1000);
    assert_eq!(
        info["default_playbooks"],
        json!(["java", "python", "typescript"])
    );
    let list: Value = test::call_and_read_body_json(
        &app,
        test::TestRequest::get().uri("/v1/playbooks").to_request(),
    )
    .await;
    let ids: Vec<&str> = list["playbooks"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["java", "python", "team-conventions", "typescript"]);
    let python: Value = test::call_and_read_body_json(
        &app,
        test::TestRequest::get()
            .uri("/v1/playbooks/python")
            .to_request(),
    )
    .await;
    assert!(
        python["rule_details"]
            .as_array()
            .is_some_and(|r| r.len() >= 10)
    );
    assert!(
        python["rule_details"][0]["examples"]["invalid"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );

    let yaml = "id: draft\nrules:\n  - id: ok-rule\n    language: python\n    rule: {pattern: print($A)}\n    examples: {valid: ['x = 1'], invalid: ['print(1)']}\n  - id: wrong-example\n    language: python\n    rule: {pattern: print($A)}\n    examples: {valid: ['print(2)']}\n  - id: broken\n    language: python\n    rule: {kind: nope}\n";
    let req = test::TestRequest::post()
        .uri("/v1/playbooks/validate")
        .insert_header(("content-type", "application/yaml"))
        .set_payload(yaml)
        .to_request();
    let answer: Value = test::call_and_read_body_json(&app, req).await;
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["errors"][0]["rule_id"], "broken");
    let failed: Vec<&str> = answer["examples"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["passed"] == false)
                .filter_map(|e| e["rule_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(failed, ["wrong-example"]);
}

#[actix_web::test]
async fn readiness_turns_false_while_draining() {
    let state = state();
    let app = app!(state);
    assert_eq!(
        test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request())
            .await
            .status()
            .as_u16(),
        200
    );
    state.set_draining();
    assert_eq!(
        test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request())
            .await
            .status()
            .as_u16(),
        503
    );
    assert_eq!(
        test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request())
            .await
            .status()
            .as_u16(),
        200
    );
}

#[actix_web::test]
async fn metrics_count_requests_files_and_findings_without_paths() {
    let state = state();
    let app = app!(state);
    let canary = "CANARY-PATH-91c2";
    let (status, _) = post_json(
        &app,
        "/v1/analyze",
        &json!({"files": [{"path": format!("{canary}.js"), "content": "eval(CANARY_CODE_77)"}]}),
    )
    .await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(
        &test::read_body(
            test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await,
        )
        .await,
    )
    .into_owned();
    for name in [
        "volatile_requests_total{endpoint=\"/v1/analyze\",status=\"200\"} 1",
        "volatile_files_analyzed_total{language=\"javascript\"} 1",
        "volatile_findings_total{playbook=\"typescript\",rule=\"no-eval\",severity=\"error\"} 1",
        "volatile_request_duration_seconds_bucket",
        "volatile_parse_duration_seconds_bucket",
        "volatile_match_duration_seconds_bucket",
        "volatile_source_bytes_total",
        "volatile_inflight_requests 0",
        "volatile_playbook_rules{playbook=\"python\"}",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
    assert!(!text.contains("CANARY"), "metrics leak submitted data");
    let _ = Arc::strong_count(&state.clone().into_inner());
}

#[actix_web::test]
async fn openapi_document_lists_every_endpoint() {
    let state = state();
    let app = app!(state);
    let doc: Value = test::call_and_read_body_json(
        &app,
        test::TestRequest::get().uri("/openapi.json").to_request(),
    )
    .await;
    assert_eq!(doc["openapi"], "3.0.3");
    for path in [
        "/v1/analyze",
        "/v1/playbooks/validate",
        "/v1/playbooks",
        "/v1/playbooks/{id}",
        "/v1/info",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
    for schema in [
        "AnalyzeRequest",
        "AnalyzeResponse",
        "Finding",
        "ErrorBody",
        "RuleFileSpec",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema}"
        );
    }
}

#[actix_web::test]
async fn deadline_and_findings_cap_are_per_file() {
    let state = state_with(
        Limits {
            deadline: std::time::Duration::ZERO,
            ..Limits::default()
        },
        ApiKeys::default(),
        None,
    );
    let app = app!(state);
    let (status, answer) = post_json(
        &app,
        "/v1/analyze",
        &json!({"files": [{"path": "a.js", "content": "eval(x);"}]}),
    )
    .await;
    assert_eq!(
        status, 200,
        "a passed deadline fails the file, not the request"
    );
    assert_eq!(answer["files"][0]["error"]["code"], "deadline_exceeded");

    let state = state_with(
        Limits {
            max_findings_per_file: 2,
            ..Limits::default()
        },
        ApiKeys::default(),
        None,
    );
    let app = app!(state);
    let content = "eval(a);\neval(b);\neval(c);\n";
    let (_, answer) = post_json(
        &app,
        "/v1/analyze",
        &json!({"rules": ["no-eval"], "files": [{"path": "a.js", "content": content}]}),
    )
    .await;
    assert_eq!(
        answer["files"][0]["findings"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(answer["files"][0]["truncated"], true);
}

#[actix_web::test]
async fn other_methods_get_405_with_allow_and_unknown_paths_404() {
    let state = state();
    let app = app!(state);
    for (method, uri, allow) in [
        (actix_web::http::Method::GET, "/v1/analyze", "POST"),
        (
            actix_web::http::Method::PUT,
            "/v1/playbooks/validate",
            "POST",
        ),
        (actix_web::http::Method::DELETE, "/healthz", "GET"),
        (actix_web::http::Method::POST, "/v1/playbooks/python", "GET"),
    ] {
        let request = test::TestRequest::default()
            .method(method.clone())
            .uri(uri)
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status().as_u16(), 405, "{method} {uri}");
        let header = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok());
        assert_eq!(header, Some(allow), "{method} {uri}");
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
    let request = test::TestRequest::get().uri("/v2/nothing").to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status().as_u16(), 404);
}
