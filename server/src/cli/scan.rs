//! `volatile scan`: walk, analyse in parallel, report.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use volatile_engine::analyze::{AnalyzeOptions, FileAnalysis, RuleFilter, RuleSet, analyze};
use volatile_engine::finding::{FileError, FileErrorCode, Finding, Severity, Stats};
use volatile_engine::report::{Report, RuleMeta, json, sarif, text};
use volatile_grammars::Lang;

use super::project::ProjectConfig;
use super::stats::ScanStats;
use super::{FailOn, Format, ScanArgs};
use crate::sources::RuleSources;

/// Files above this size are reported as `too_large` rather than read.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Show a progress bar for scans of at least this many files.
const PROGRESS_MIN_FILES: usize = 200;

/// The outcome of one file.
struct FileOutcome {
    findings: Vec<Finding>,
    error: Option<FileError>,
    bytes: u64,
    read: Duration,
    /// The analysis, findings taken out; `None` when the file could not be read.
    analysis: Option<FileAnalysis>,
    fixes_applied: usize,
}

pub(super) fn run(args: &ScanArgs) -> u8 {
    match scan(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("volatile: {message}");
            2
        }
    }
}

fn scan(args: &ScanArgs) -> Result<u8, String> {
    let started = Instant::now();
    let roots: Vec<PathBuf> = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    for root in &roots {
        if !root.exists() {
            return Err(format!("{}: no such file or directory", root.display()));
        }
    }
    let config_root = roots
        .first()
        .filter(|r| r.is_dir())
        .cloned()
        .unwrap_or_else(|| PathBuf::from("."));
    let project = ProjectConfig::find(&config_root)?;
    let rule_paths: Vec<PathBuf> = match (&args.rules.rules, &project) {
        (paths, _) if !paths.is_empty() => paths.clone(),
        (_, Some((file, config))) if !config.playbooks.is_empty() => {
            let base = file.parent().unwrap_or(Path::new("."));
            config.playbooks.iter().map(|p| base.join(p)).collect()
        }
        _ => Vec::new(),
    };
    let sources = RuleSources::load(&rule_paths).map_err(|e| e.to_string())?;
    for warning in &sources.warnings {
        eprintln!("warning: {warning}");
    }
    if !sources.errors.is_empty() {
        for error in &sources.errors {
            eprintln!("error: {error}");
        }
        return Err(format!(
            "{} rule(s) failed to compile",
            sources.errors.len()
        ));
    }
    let mut filter = RuleFilter::default();
    if !args.only.is_empty() {
        filter.only = Some(args.only.iter().cloned().collect());
    }
    let exclude = match &project {
        Some((_, config)) => {
            filter.severity_overrides = config.overrides();
            glob_set(&config.exclude)?
        }
        None => None,
    };
    let set = Arc::new(RuleSet::new(&sources.playbooks, &filter));
    if set.is_empty() {
        return Err("no rule to run (check --rules and --rule)".into());
    }

    let files = collect_files(&roots, exclude.as_ref(), &set.languages());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .stack_size(16 * 1024 * 1024)
        .build()
        .map_err(|e| format!("cannot start worker threads: {e}"))?;
    let progress = progress_bar(args, files.len());
    let options = AnalyzeOptions {
        prefilter: !args.no_prefilter,
        time_rules: args.stats,
        ..AnalyzeOptions::default()
    };
    let outcomes: Vec<(Lang, FileOutcome)> = pool.install(|| {
        files
            .par_iter()
            .map(|(path, lang)| {
                let outcome = scan_file(&set, path, *lang, args.fix, &options);
                progress.inc(1);
                (*lang, outcome)
            })
            .collect()
    });
    progress.finish_and_clear();

    let mut report = Report::default();
    let mut fixes = 0;
    let mut stats = Stats {
        files: files.len() as u64,
        ..Stats::default()
    };
    let mut scan_stats = ScanStats::default();
    for (lang, outcome) in outcomes {
        stats.bytes += outcome.bytes;
        scan_stats.add(
            lang,
            outcome.bytes,
            outcome.read,
            outcome.error.is_some(),
            outcome.analysis.as_ref(),
        );
        fixes += outcome.fixes_applied;
        report.findings.extend(outcome.findings);
        report.errors.extend(outcome.error);
    }
    report.sort();
    stats.findings = report.findings.len() as u64;
    stats.parse_ms = scan_stats.parse().as_millis() as u64;
    stats.match_ms = scan_stats.matching().as_millis() as u64;
    stats.total_ms = started.elapsed().as_millis() as u64;
    report.stats = stats;
    if args.stats {
        eprint!(
            "{}",
            scan_stats.render(&set, started.elapsed(), pool.current_num_threads())
        );
    }

    write_report(args, &report, &sources)?;
    if args.fix && fixes > 0 {
        eprintln!("applied {fixes} fix(es)");
    }
    let threshold = match args.fail_on {
        FailOn::Hint => Some(Severity::Hint),
        FailOn::Info => Some(Severity::Info),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Error => Some(Severity::Error),
        FailOn::Never => None,
    };
    let failed = threshold.is_some_and(|t| report.findings.iter().any(|f| f.severity >= t));
    Ok(u8::from(failed))
}

fn glob_set(globs: &[String]) -> Result<Option<GlobSet>, String> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        builder
            .add(Glob::new(g).map_err(|e| format!("volatile.yml: bad exclude glob `{g}`: {e}"))?);
    }
    builder.build().map(Some).map_err(|e| e.to_string())
}

fn display_path(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// The files to scan with their languages, in a stable order. Explicit file arguments are
/// always scanned; directories are walked like ripgrep does (`.gitignore`, no hidden files).
fn collect_files(
    roots: &[PathBuf],
    exclude: Option<&GlobSet>,
    langs: &[Lang],
) -> Vec<(PathBuf, Lang)> {
    let mut out = Vec::new();
    for root in roots {
        if root.is_file() {
            if let Some(lang) = detect(root) {
                out.push((root.clone(), lang));
            }
            continue;
        }
        for entry in ignore::WalkBuilder::new(root).build().flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let path = entry.path();
            if let Some(ex) = exclude {
                let rel = path.strip_prefix(root).unwrap_or(path);
                if ex.is_match(rel) || ex.is_match(path) {
                    continue;
                }
            }
            if let Some(lang) = detect(path)
                && langs.contains(&lang)
            {
                out.push((path.to_path_buf(), lang));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The language by extension, or by shebang for files without one.
fn detect(path: &Path) -> Option<Lang> {
    if path.extension().is_some() {
        return Lang::from_path(path);
    }
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .ok()?;
    let text = String::from_utf8_lossy(&head[..n]);
    Lang::from_shebang(&text)
}

fn scan_file(
    set: &RuleSet,
    path: &Path,
    lang: Lang,
    fix: bool,
    options: &AnalyzeOptions,
) -> FileOutcome {
    let shown = display_path(path);
    let read_start = Instant::now();
    let mut outcome = FileOutcome {
        findings: Vec::new(),
        error: None,
        bytes: 0,
        read: Duration::ZERO,
        analysis: None,
        fixes_applied: 0,
    };
    let error = |code: FileErrorCode, message: String| FileError {
        path: shown.clone(),
        code,
        message,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            outcome.error = Some(error(
                FileErrorCode::TooLarge,
                format!("{} bytes is over the limit of {MAX_FILE_BYTES}", m.len()),
            ));
            return outcome;
        }
        Ok(_) => {}
        Err(e) => {
            outcome.error = Some(error(FileErrorCode::Unreadable, e.kind().to_string()));
            return outcome;
        }
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            outcome.error = Some(error(FileErrorCode::Unreadable, e.kind().to_string()));
            return outcome;
        }
    };
    // Binary files are skipped silently, as ripgrep and ast-grep do.
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return outcome;
    }
    outcome.bytes = bytes.len() as u64;
    let source = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            outcome.error = Some(error(
                FileErrorCode::NotUtf8,
                format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
            ));
            return outcome;
        }
    };
    outcome.read = read_start.elapsed();
    let mut result = analyze(set, &shown, lang, &source, options);
    outcome.error = result.error.take();
    if fix {
        outcome.fixes_applied = apply_fixes(path, &source, &result.findings);
    }
    outcome.findings = std::mem::take(&mut result.findings);
    outcome.analysis = Some(result);
    outcome
}

/// Applies the fixes of `findings` to the file; overlapping fixes after the first are
/// left for a later run. Returns how many were applied.
fn apply_fixes(path: &Path, source: &str, findings: &[Finding]) -> usize {
    let mut fixes: Vec<_> = findings.iter().filter_map(|f| f.fix.as_ref()).collect();
    if fixes.is_empty() {
        return 0;
    }
    fixes.sort_by_key(|f| (f.byte_range.start, f.byte_range.end));
    let mut out = String::with_capacity(source.len());
    let mut pos = 0;
    let mut applied = 0;
    for fix in fixes {
        let range = fix.byte_range;
        if range.start < pos || range.end > source.len() {
            continue;
        }
        let (Some(before), true) = (
            source.get(pos..range.start),
            source.is_char_boundary(range.end),
        ) else {
            continue;
        };
        out.push_str(before);
        out.push_str(&fix.text);
        pos = range.end;
        applied += 1;
    }
    out.push_str(source.get(pos..).unwrap_or(""));
    match std::fs::write(path, out) {
        Ok(()) => applied,
        Err(e) => {
            eprintln!("volatile: {}: cannot write fixes: {e}", path.display());
            0
        }
    }
}

fn progress_bar(args: &ScanArgs, files: usize) -> ProgressBar {
    if args.no_progress || files < PROGRESS_MIN_FILES || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(files as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed}") {
        bar.set_style(style);
    }
    bar
}

fn rule_metas(sources: &RuleSources) -> Vec<RuleMeta> {
    sources
        .playbooks
        .iter()
        .flat_map(|p| p.rules.iter())
        .filter_map(|r| RuleMeta::of(r))
        .collect()
}

fn write_report(args: &ScanArgs, report: &Report, sources: &RuleSources) -> Result<(), String> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = match args.format {
        Format::Json => json::write(report, &mut out),
        Format::Sarif => sarif::write(
            report,
            &rule_metas(sources),
            env!("CARGO_PKG_VERSION"),
            &mut out,
        ),
        Format::Text => {
            let color = match args.color.as_str() {
                "always" => true,
                "never" => false,
                _ => std::io::stdout().is_terminal(),
            };
            let read = |p: &str| std::fs::read_to_string(p).ok();
            text::write(report, &read, color, &mut out)
        }
    };
    result
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the report: {e}"))
}
