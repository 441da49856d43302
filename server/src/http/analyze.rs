//! `POST /v1/analyze`.
//!
//! What fails the request is only a problem of the envelope (JSON, limits, playbook,
//! admission); everything about one file becomes that file's `error`, and the other files
//! still get their findings. The request body and the decoded contents are dropped as
//! soon as the answer is built.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use rayon::prelude::*;
use volatile_engine::analyze::{AnalyzeOptions, RuleFilter, RuleSet, analyze};
use volatile_engine::finding::{FileErrorCode, Stats};
use volatile_engine::playbook::{Playbook, inline_playbook};
use volatile_engine::report::{Report, RuleMeta, sarif};
use volatile_grammars::Lang;

use super::api::{
    AnalyzeRequest, AnalyzeResponse, EngineInfo, FileErrorDetail, FileInput, FileResult,
    LineNumber, PlaybookRef,
};
use super::body::{parse_json, read_body, require_json};
use super::error::ApiError;
use super::registry::combined_hash;
use super::state::AppState;

/// The media type of SARIF answers.
pub const SARIF_MEDIA_TYPE: &str = "application/sarif+json";

/// Line ranges to keep, validated.
type LineRanges = Vec<(u32, u32)>;

/// Validates `changed_lines` (their shape was checked with the envelope): 1-based,
/// `start <= end`. A problem is that file's `invalid_changed_lines` error, not the request's.
fn changed_lines(pairs: Option<&[[LineNumber; 2]]>) -> Result<Option<LineRanges>, String> {
    let Some(pairs) = pairs else { return Ok(None) };
    let bad = |why: &str| {
        format!("changed_lines: {why}; expected [[start, end], ...] with 1 <= start <= end")
    };
    let mut out = Vec::with_capacity(pairs.len());
    for [start, end] in pairs {
        let (LineNumber(Some(start)), LineNumber(Some(end))) = (start, end) else {
            return Err(bad("a line is not an integer from 1 to 4294967295"));
        };
        if start > end {
            return Err(bad("a range ends before it starts"));
        }
        out.push((*start, *end));
    }
    Ok(Some(out))
}

/// The rules a request runs, and the hash naming them.
struct Selection {
    set: Arc<RuleSet>,
    playbooks: Vec<Arc<Playbook>>,
    hash: String,
    inline: bool,
}

fn select(state: &AppState, request: &AnalyzeRequest) -> Result<Selection, ApiError> {
    let registry = state.registry.load();
    let (playbooks, inline) = match &request.playbook {
        None => (registry.default_playbooks(), false),
        Some(PlaybookRef::Id(id)) => match registry.get(id) {
            Some(p) => (vec![p.clone()], false),
            None => {
                return Err(ApiError::not_found(
                    "unknown_playbook",
                    "no served playbook has that id; GET /v1/playbooks lists them",
                ));
            }
        },
        Some(PlaybookRef::Inline(spec)) => {
            let outcome = inline_playbook(spec.clone());
            if let Some(first) = outcome.errors.first() {
                return Err(ApiError::unprocessable(
                    "invalid_playbook",
                    format!(
                        "{} inline rule(s) do not compile; first: {first}",
                        outcome.errors.len()
                    ),
                ));
            }
            (vec![Arc::new(outcome.playbook)], true)
        }
    };
    let hash = combined_hash(&playbooks);
    let unfiltered = request.rules.is_none() && request.min_severity.is_none();
    let set = match (&request.playbook, unfiltered) {
        (None, true) => registry.default_set().0,
        (Some(PlaybookRef::Id(id)), true) => registry
            .set_of(id)
            .unwrap_or_else(|| Arc::new(RuleSet::new(&playbooks, &RuleFilter::default()))),
        _ => {
            let filter = RuleFilter {
                only: request.rules.as_ref().map(|r| r.iter().cloned().collect()),
                min_severity: request.min_severity,
                ..RuleFilter::default()
            };
            Arc::new(RuleSet::new(&playbooks, &filter))
        }
    };
    Ok(Selection {
        set,
        playbooks,
        hash,
        inline,
    })
}

/// What one file needs on the CPU pool.
struct Job {
    input: FileInput,
    lines: Result<Option<LineRanges>, String>,
}

fn file_error(
    path: String,
    language: Option<Lang>,
    code: FileErrorCode,
    message: String,
) -> FileResult {
    FileResult {
        path,
        language,
        findings: Vec::new(),
        error: Some(FileErrorDetail { code, message }),
        truncated: false,
    }
}

/// Analyses one file (on the CPU pool).
fn run_job(
    state: &AppState,
    set: &RuleSet,
    job: Job,
    deadline: Instant,
    inline: bool,
) -> (FileResult, Duration, Duration) {
    let none = Duration::ZERO;
    let Job { input, lines } = job;
    let FileInput {
        path,
        language,
        content,
        ..
    } = input;
    let lines = match lines {
        Ok(lines) => lines,
        Err(message) => {
            let e = file_error(path, None, FileErrorCode::InvalidChangedLines, message);
            return (e, none, none);
        }
    };
    let content = match String::from_utf8(content.0) {
        Ok(text) => text,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            drop(e);
            let message = format!("the content is not valid UTF-8 (at byte {at})");
            return (
                file_error(path, None, FileErrorCode::NotUtf8, message),
                none,
                none,
            );
        }
    };
    let lang = match &language {
        Some(name) => Lang::from_name(name).ok(),
        None => Lang::detect(Path::new(&path), &content),
    };
    let Some(lang) = lang else {
        let message = if language.is_some() {
            "unsupported language (supported: typescript, tsx, javascript, python, java)"
        } else {
            "no language given, and none could be told from the path or a shebang"
        };
        return (
            file_error(path, None, FileErrorCode::UnknownLanguage, message.into()),
            none,
            none,
        );
    };
    if content.len() > state.limits.max_file_bytes {
        let e = file_error(
            path,
            Some(lang),
            FileErrorCode::TooLarge,
            format!(
                "{} bytes is over the limit of {} bytes per file",
                content.len(),
                state.limits.max_file_bytes
            ),
        );
        return (e, none, none);
    }
    if Instant::now() >= deadline {
        let e = file_error(
            path,
            Some(lang),
            FileErrorCode::DeadlineExceeded,
            "the request deadline passed before this file was analysed".into(),
        );
        return (e, none, none);
    }
    let options = AnalyzeOptions {
        deadline: Some(deadline),
        max_findings: state.limits.max_findings_per_file,
        ..AnalyzeOptions::default()
    };
    let result = analyze(set, &path, lang, &content, &options);
    let metrics = &state.metrics;
    let label = [lang.name()];
    metrics.files.with_label_values(&label).inc();
    metrics
        .bytes
        .with_label_values(&label)
        .inc_by(content.len() as u64);
    if result.parsed {
        metrics
            .parse_duration
            .with_label_values(&label)
            .observe(result.parse_time.as_secs_f64());
        metrics
            .match_duration
            .with_label_values(&label)
            .observe(result.match_time.as_secs_f64());
    }
    drop(content);
    let mut findings = result.findings;
    if let Some(ranges) = &lines {
        findings.retain(|f| f.touches_lines(ranges));
    }
    for f in &findings {
        let (playbook, rule) = if inline {
            ("inline", "inline")
        } else {
            (f.playbook.as_str(), f.rule_id.as_str())
        };
        metrics
            .findings
            .with_label_values(&[playbook, rule, f.severity.name()])
            .inc();
    }
    let file = FileResult {
        path,
        language: Some(lang),
        findings,
        error: result.error.map(|e| FileErrorDetail {
            code: e.code,
            message: e.message,
        }),
        truncated: result.truncated,
    };
    (file, result.parse_time, result.match_time)
}

/// Whether the client asked for SARIF.
fn wants_sarif(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().starts_with(SARIF_MEDIA_TYPE)))
}

/// The handler: reads the body (I/O, on the async worker), then does everything else —
/// parsing, compiling an inline playbook, analysing, serialising — on the CPU pool.
pub async fn analyze_handler(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    if !state.is_ready() {
        return Err(ApiError::draining());
    }
    require_json(&request)?;
    let bytes = read_body(
        &request,
        payload,
        state.limits.max_body_bytes,
        state.limits.body_timeout,
    )
    .await?;
    let sarif = wants_sarif(&request);
    let request_id = request
        .extensions()
        .get::<super::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let worker = state.clone();
    let (content_type, body) = state
        .run_on_pool(move || answer(&worker, &bytes, started, sarif, &request_id))
        .await??;
    Ok(HttpResponse::Ok().content_type(content_type).body(body))
}

/// Parses, analyses and serialises one request (on the CPU pool).
fn answer(
    state: &AppState,
    bytes: &[u8],
    started: Instant,
    sarif: bool,
    request_id: &str,
) -> Result<(&'static str, Vec<u8>), ApiError> {
    let body: AnalyzeRequest = parse_json(bytes)?;
    if body.files.len() > state.limits.max_files {
        state
            .metrics
            .rejected
            .with_label_values(&["too_many_files"])
            .inc();
        return Err(ApiError::too_large(
            "too_many_files",
            format!(
                "{} files is over the limit of {} per request",
                body.files.len(),
                state.limits.max_files
            ),
        ));
    }
    let selection = select(state, &body)?;
    let bytes: u64 = body.files.iter().map(|f| f.content.0.len() as u64).sum();
    let mut jobs = Vec::with_capacity(body.files.len());
    for input in body.files {
        let lines = changed_lines(input.changed_lines.as_deref());
        jobs.push(Job { input, lines });
    }
    let deadline = started + state.limits.deadline;
    let timed: Vec<(FileResult, Duration, Duration)> = jobs
        .into_par_iter()
        .map(|job| run_job(state, &selection.set, job, deadline, selection.inline))
        .collect();
    let parse_ms = timed.iter().map(|t| t.1).sum::<Duration>().as_millis() as u64;
    let match_ms = timed.iter().map(|t| t.2).sum::<Duration>().as_millis() as u64;
    let files: Vec<FileResult> = timed.into_iter().map(|t| t.0).collect();
    let stats = Stats {
        files: files.len() as u64,
        bytes,
        findings: files.iter().map(|f| f.findings.len() as u64).sum(),
        parse_ms,
        match_ms,
        total_ms: started.elapsed().as_millis() as u64,
    };
    tracing::info!(
        request_id = %request_id,
        files = stats.files,
        bytes = stats.bytes,
        findings = stats.findings,
        total_ms = stats.total_ms,
        "analysis"
    );
    let serialised = if sarif {
        let mut report = Report {
            stats,
            ..Report::default()
        };
        for file in files {
            if let Some(error) = file.error {
                report.errors.push(volatile_engine::finding::FileError {
                    path: file.path.clone(),
                    code: error.code,
                    message: error.message,
                });
            }
            report.findings.extend(file.findings);
        }
        let metas: Vec<RuleMeta> = selection
            .playbooks
            .iter()
            .flat_map(|p| p.rules.iter())
            .filter_map(|r| RuleMeta::of(r))
            .collect();
        serde_json::to_vec(&sarif::to_sarif(&report, &metas, env!("CARGO_PKG_VERSION")))
            .map(|b| (SARIF_MEDIA_TYPE, b))
    } else {
        let engine = EngineInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            playbook_hash: selection.hash,
        };
        serde_json::to_vec(&AnalyzeResponse {
            files,
            stats,
            engine,
        })
        .map(|b| ("application/json", b))
    };
    serialised.map_err(|_| ApiError::internal())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_are_validated() {
        let parse = |v: serde_json::Value| serde_json::from_value::<Vec<[LineNumber; 2]>>(v);
        let ok = parse(serde_json::json!([[1, 3], [7, 7]])).map(|p| changed_lines(Some(&p)));
        assert!(matches!(ok, Ok(Ok(Some(ref r))) if r == &[(1, 3), (7, 7)]));
        // Integer pairs the schema admits but that are no line ranges: the file's error.
        for bad in [
            serde_json::json!([[3, 1]]),
            serde_json::json!([[0, 1]]),
            serde_json::json!([[-1, 1]]),
            serde_json::json!([[1, 4294967296u64]]),
            serde_json::json!([[1, 1e30]]),
        ] {
            let e = parse(bad.clone()).map(|p| changed_lines(Some(&p)));
            assert!(
                e.as_ref()
                    .is_ok_and(|r| r.as_ref().is_err_and(|m| m.starts_with("changed_lines: "))),
                "{bad}: {e:?}"
            );
        }
        // Shapes the schema refuses: the envelope's error.
        for bad in [
            serde_json::json!([1, 2]),
            serde_json::json!("1-2"),
            serde_json::json!([[1, 2, 3]]),
            serde_json::json!([[1]]),
            serde_json::json!([[null, null]]),
            serde_json::json!([[1, 2.5]]),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }
}
