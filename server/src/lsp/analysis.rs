//! The analysis workers: a few threads that take jobs (one version of one document), run
//! them with the in-process engine or the remote service, and hand back diagnostics.
//!
//! A job carries its document's cancellation flag. It is checked before the job starts,
//! during the parse and between nodes while matching: a newer version of the document sets
//! it, so outdated work stops early. Whatever still finishes is checked once more by the
//! session against the document's current version before anything is published.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use globset::GlobSet;
use lsp_types::{Diagnostic, TextEdit, Uri};
use volatile_engine::analyze::{AnalyzeOptions, RuleSet, analyze_parsed_cancellable};
use volatile_engine::finding::{FileError, Finding, Severity};
use volatile_engine::incremental::{ReparseError, Reparser, Tree};
use volatile_grammars::Lang;

use super::convert::{Encoding, LineMap, diagnostic};
use crate::remote::{Remote, RemoteFile};

/// Where findings come from.
pub enum Backend {
    /// The engine, in this process, with these rules.
    Local(Arc<RuleSet>),
    /// A running service.
    Remote {
        /// The client.
        remote: Box<Remote>,
        /// Only these rule ids (empty: all).
        rules: Vec<String>,
        /// Per rule id: a new severity, or `None` to leave its findings out
        /// (`volatile.yml`'s `severity`).
        overrides: HashMap<String, Option<Severity>>,
    },
}

/// What a session analyses with.
pub struct Setup {
    /// Where findings come from.
    pub backend: Backend,
    /// Documents not to analyse (`volatile.yml`'s `exclude`, by workspace-relative path).
    pub exclude: Option<GlobSet>,
}

impl Backend {
    /// Whether documents of `lang` can have findings.
    pub fn reads(&self, lang: Lang) -> bool {
        match self {
            Backend::Local(set) => !set.rules(lang).is_empty(),
            Backend::Remote { .. } => true,
        }
    }
}

/// One version of one document to analyse.
pub struct Job {
    /// The document.
    pub uri: Uri,
    /// Its version.
    pub version: i32,
    /// The session's number for this submission (a document reopened at the same version
    /// is another submission).
    pub ticket: u64,
    /// The path the rules see.
    pub path: String,
    /// Its language.
    pub lang: Lang,
    /// The text at `version`.
    pub text: Arc<String>,
    /// The previous parse with the edits since recorded (in-process only).
    pub tree: Option<Tree>,
    /// Set once the job is outdated.
    pub cancel: Arc<AtomicBool>,
}

/// A finished job.
pub struct Outcome {
    /// The document.
    pub uri: Uri,
    /// The version analysed.
    pub version: i32,
    /// The job's ticket.
    pub ticket: u64,
    /// The new parse (in-process only), to re-parse the next version from.
    pub tree: Option<Tree>,
    /// Diagnostics with their fixes; or why there are none (never quoting the text).
    pub result: Result<Vec<(Diagnostic, Option<TextEdit>)>, String>,
}

/// The longest one in-process analysis may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// Starts `count` workers; they stop when the job channel closes.
pub fn start(
    backend: Arc<Backend>,
    count: usize,
    encoding: Encoding,
) -> std::io::Result<(Sender<Job>, Receiver<Outcome>)> {
    let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
    let (done, outcomes) = crossbeam_channel::unbounded::<Outcome>();
    for i in 0..count.max(1) {
        let queue = queue.clone();
        let done = done.clone();
        let backend = backend.clone();
        std::thread::Builder::new()
            .name(format!("lsp-analysis-{i}"))
            .stack_size(16 * 1024 * 1024)
            .spawn(move || {
                let mut reparser = Reparser::new();
                for job in queue {
                    if job.cancel.load(Ordering::Relaxed) {
                        continue;
                    }
                    if let Some(outcome) = run(&backend, &mut reparser, job, encoding)
                        && done.send(outcome).is_err()
                    {
                        break;
                    }
                }
            })?;
    }
    Ok((jobs, outcomes))
}

/// Runs one job; `None` when it was cancelled.
fn run(
    backend: &Backend,
    reparser: &mut Reparser,
    job: Job,
    encoding: Encoding,
) -> Option<Outcome> {
    let (tree, found) = match backend {
        Backend::Local(set) => {
            let tree = match reparser.parse(job.lang, &job.text, job.tree.as_ref(), &job.cancel) {
                Ok(tree) => tree,
                Err(ReparseError::Cancelled) => return None,
                Err(e) => return Some(outcome(&job, None, Err(e.to_string()))),
            };
            let options = AnalyzeOptions {
                deadline: Some(Instant::now() + DEADLINE),
                ..AnalyzeOptions::default()
            };
            let analysis = analyze_parsed_cancellable(
                set,
                &job.path,
                job.lang,
                &job.text,
                &tree,
                &options,
                &job.cancel,
            )?;
            (Some(tree), Ok((analysis.findings, analysis.error)))
        }
        Backend::Remote {
            remote,
            rules,
            overrides,
        } => {
            let file = RemoteFile {
                path: job.path.clone(),
                language: Some(job.lang),
                content: job.text.as_str().to_owned(),
                changed_lines: None,
            };
            let answer = remote.analyze(vec![file], rules).and_then(|mut results| {
                results
                    .pop()
                    .map(|r| (overridden(r.findings, overrides), r.error))
                    .ok_or_else(|| "the service answered no file".to_string())
            });
            (None, answer)
        }
    };
    if job.cancel.load(Ordering::Relaxed) {
        return None;
    }
    let result = found.and_then(|(findings, error)| diagnostics(&job, &findings, error, encoding));
    Some(outcome(&job, tree, result))
}

/// The findings with the project's severity overrides applied (the in-process engine
/// applies them itself).
fn overridden(
    findings: Vec<Finding>,
    overrides: &HashMap<String, Option<Severity>>,
) -> Vec<Finding> {
    if overrides.is_empty() {
        return findings;
    }
    findings
        .into_iter()
        .filter_map(|mut f| match overrides.get(&f.rule_id) {
            None => Some(f),
            Some(None) => None,
            Some(Some(severity)) => {
                f.severity = *severity;
                Some(f)
            }
        })
        .collect()
}

/// The findings as diagnostics; a file error (too large, deadline...) is an error.
fn diagnostics(
    job: &Job,
    findings: &[Finding],
    error: Option<FileError>,
    encoding: Encoding,
) -> Result<Vec<(Diagnostic, Option<TextEdit>)>, String> {
    if let Some(error) = error {
        return Err(format!("{}: {}", error.code.as_str(), error.message));
    }
    let lines = LineMap::new(&job.text);
    Ok(findings
        .iter()
        .map(|f| diagnostic(f, &lines, encoding))
        .collect())
}

fn outcome(
    job: &Job,
    tree: Option<Tree>,
    result: Result<Vec<(Diagnostic, Option<TextEdit>)>, String>,
) -> Outcome {
    Outcome {
        uri: job.uri.clone(),
        version: job.version,
        ticket: job.ticket,
        tree,
        result,
    }
}
