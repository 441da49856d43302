//! The small endpoints: info, playbooks, validation, health, readiness, metrics, OpenAPI.

use actix_web::{HttpRequest, HttpResponse, web};
use volatile_engine::document::parse_yaml;
use volatile_engine::playbook::inline_playbook;
use volatile_engine::spec::InlinePlaybookSpec;
use volatile_engine::testing::{CaseKind, run_examples};
use volatile_grammars::Lang;

use super::api::{
    ExampleResult, Examples, Health, InfoResponse, PlaybookDetail, PlaybookList, PlaybookSummary,
    RuleDetail, RuleIssue, ValidateResponse,
};
use super::body::{parse_json, read_body};
use super::error::ApiError;
use super::openapi;
use super::state::AppState;

/// `GET /v1/info`.
pub async fn info(state: web::Data<AppState>) -> HttpResponse {
    let registry = state.registry.load();
    HttpResponse::Ok().json(InfoResponse {
        version: env!("CARGO_PKG_VERSION").to_string(),
        languages: Lang::ALL.to_vec(),
        default_playbooks: registry.defaults().to_vec(),
        limits: state.limits.info(),
    })
}

fn summary(p: &volatile_engine::playbook::Playbook, default: bool) -> PlaybookSummary {
    PlaybookSummary {
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        hash: p.hash.clone(),
        rules: p.rules.len(),
        default,
    }
}

/// `GET /v1/playbooks`.
pub async fn list_playbooks(state: web::Data<AppState>) -> HttpResponse {
    let registry = state.registry.load();
    let playbooks = registry
        .playbooks()
        .values()
        .map(|p| summary(p, registry.defaults().contains(&p.id)))
        .collect();
    HttpResponse::Ok().json(PlaybookList { playbooks })
}

/// `GET /v1/playbooks/{id}`.
pub async fn get_playbook(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let registry = state.registry.load();
    let Some(p) = registry.get(&id) else {
        return Err(ApiError::not_found(
            "unknown_playbook",
            "no served playbook has that id",
        ));
    };
    let rule_details = p
        .rules
        .iter()
        .map(|r| RuleDetail {
            id: r.id.clone(),
            languages: r.languages.clone(),
            standard: r.standard.clone(),
            severity: r.severity,
            message: r.message.as_str().to_string(),
            note: r.note.clone(),
            url: r.url.clone(),
            examples: Examples {
                valid: r.examples.valid.clone(),
                invalid: r.examples.invalid.clone(),
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(PlaybookDetail {
        summary: summary(p, registry.defaults().contains(&p.id)),
        rule_details,
    }))
}

/// `POST /v1/playbooks/validate`: compiles an inline playbook (JSON or YAML) and runs its
/// examples. Runs on the CPU pool.
pub async fn validate(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bytes = read_body(
        &request,
        payload,
        state.limits.max_body_bytes,
        state.limits.body_timeout,
    )
    .await?;
    let content_type = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let spec: InlinePlaybookSpec = if content_type.contains("yaml") {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::bad_request("invalid_yaml", "the body is not UTF-8"))?;
        let docs = parse_yaml(text).map_err(|e| {
            ApiError::bad_request(
                "invalid_yaml",
                format!(
                    "the body is not valid YAML (line {}, column {})",
                    e.location.line, e.location.column
                ),
            )
        })?;
        let value = docs.into_iter().next().map(|d| d.value).unwrap_or_default();
        let json = serde_json::to_vec(&value).map_err(|_| ApiError::internal())?;
        parse_json(&json)?
    } else if content_type.contains("json") {
        parse_json(&bytes)?
    } else {
        return Err(ApiError::unsupported_media_type(
            "send the playbook as application/json or application/yaml",
        ));
    };
    let answer = state
        .run_on_pool(move || {
            let outcome = inline_playbook(spec);
            let examples: Vec<ExampleResult> = run_examples(&outcome.playbook)
                .into_iter()
                .map(|r| ExampleResult {
                    rule_id: r.rule_id,
                    kind: match r.kind {
                        CaseKind::Valid => "valid".into(),
                        CaseKind::Invalid => "invalid".into(),
                    },
                    index: r.index,
                    passed: r.passed,
                    detail: r.detail,
                })
                .collect();
            let issue = |rule_id: Option<String>,
                         location: Option<volatile_engine::document::Location>,
                         message: String| RuleIssue {
                rule_id,
                line: location.map(|l| l.line),
                column: location.map(|l| l.column),
                message,
            };
            let errors: Vec<RuleIssue> = outcome
                .errors
                .iter()
                .map(|e| issue(e.rule_id.clone(), e.location, e.to_string()))
                .collect();
            let warnings: Vec<RuleIssue> = outcome
                .playbook
                .warnings
                .iter()
                .map(|w| issue(w.rule_id.clone(), w.location, w.to_string()))
                .collect();
            let ok = errors.is_empty() && examples.iter().all(|e| e.passed);
            ValidateResponse {
                ok,
                errors,
                warnings,
                examples,
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// `GET /readyz`: the process takes requests (false while draining).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_ready() {
        HttpResponse::Ok().json(Health {
            status: "ok".into(),
        })
    } else {
        HttpResponse::ServiceUnavailable().json(Health {
            status: "draining".into(),
        })
    }
}

/// `GET /metrics` on the main address (404 when it moved to `--metrics-addr`).
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if state.metrics_elsewhere {
        return actix_web::ResponseError::error_response(&ApiError::not_found(
            "not_found",
            "metrics are served on the separate metrics address",
        ));
    }
    metrics_text(state).await
}

/// `GET /metrics` on the separate metrics address.
pub async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// `GET /openapi.json`.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(openapi::document())
}
