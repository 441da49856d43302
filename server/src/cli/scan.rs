//! `volatile scan`: walk, analyse in parallel, report.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use globset::GlobSet;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use volatile_engine::analyze::{AnalyzeOptions, FileAnalysis, RuleFilter, RuleSet, analyze};
use volatile_engine::baseline::Baseline;
use volatile_engine::finding::{FileError, FileErrorCode, Finding, Severity, Stats};
use volatile_engine::report::{Report, RuleMeta, checkstyle, github, gitlab, json, sarif, text};
use volatile_grammars::Lang;

use super::diff::{self, DiffSpec};
use super::project::ProjectConfig;
use super::schedule;
use super::stats::ScanStats;
use super::{FailOn, Format, ScanArgs};
use crate::remote::{Remote, RemoteFile};
use crate::sources::RuleSources;

/// Files read and sent per round in `--server` mode, so that a large repository is never
/// held in memory whole.
const REMOTE_ROUND_FILES: usize = 2000;

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
    /// The text read from a revision, kept for the text report's code frames.
    revision_text: Option<String>,
}

/// What a thread gathered from the files it scanned; the threads' are merged at the end,
/// so that no per-file outcome outlives its file.
#[derive(Default)]
struct Gathered {
    findings: Vec<Finding>,
    errors: Vec<FileError>,
    fixes: usize,
    revision_texts: HashMap<String, String>,
    stats: ScanStats,
}

impl Gathered {
    fn add(&mut self, lang: Lang, outcome: FileOutcome) {
        self.stats.add(
            lang,
            outcome.bytes,
            outcome.read,
            outcome.error.is_some(),
            outcome.analysis.as_ref(),
        );
        self.fixes += outcome.fixes_applied;
        if let (Some(text), Some(first)) = (outcome.revision_text, outcome.findings.first()) {
            self.revision_texts.insert(first.path.clone(), text);
        }
        self.findings.extend(outcome.findings);
        self.errors.extend(outcome.error);
    }

    fn merge(mut self, other: Gathered) -> Gathered {
        self.findings.extend(other.findings);
        self.errors.extend(other.errors);
        self.fixes += other.fixes;
        self.revision_texts.extend(other.revision_texts);
        self.stats.merge(other.stats);
        self
    }
}

/// What a scan produced, locally or remotely.
struct Scanned {
    report: Report,
    /// Descriptions of the rules run (empty for a remote scan).
    metas: Vec<RuleMeta>,
    fixes: usize,
    /// Texts of files read from a git revision, by shown path: the text report's code
    /// frames must show them, not the working tree.
    revision_texts: HashMap<String, String>,
}

/// A file to scan: where it is, how findings name it, and what of it changed.
struct Target {
    /// The file on disk (for reading and fixing).
    path: PathBuf,
    /// The path findings carry.
    shown: String,
    lang: Lang,
    /// Changed lines (`--diff`); `None`: the whole file counts.
    lines: Option<Vec<(u32, u32)>>,
    /// The file's bytes at a revision (`--diff A..B`); `None`: read it from disk.
    content: Option<Vec<u8>>,
}

impl Target {
    /// The bytes to be analysed, for scheduling: 0 when the file cannot be read (reading
    /// it reports why).
    fn size(&self) -> u64 {
        match &self.content {
            Some(bytes) => bytes.len() as u64,
            None => std::fs::metadata(&self.path).map_or(0, |m| m.len()),
        }
    }
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
    let exclude = match &project {
        Some((_, config)) => config.exclude_set()?,
        None => None,
    };
    let spec = args.diff.as_deref().map(DiffSpec::parse).transpose()?;
    if args.fix && spec.as_ref().is_some_and(|s| s.head.is_some()) {
        return Err("--fix changes the working tree; use --diff BASE, not BASE..HEAD".into());
    }
    let baseline = args.baseline.as_deref().map(read_baseline).transpose()?;
    let selection = Selection {
        roots: &roots,
        exclude: exclude.as_ref(),
        spec: spec.as_ref(),
    };

    let scanned = match args.remote.options() {
        Some(_) if !args.rules.rules.is_empty() => {
            return Err(
                "--server runs the service's playbooks: use --playbook ID, not --rules".into(),
            );
        }
        Some(_) if args.stats || args.no_prefilter => {
            return Err("--stats and --no-prefilter measure a local scan; drop --server".into());
        }
        Some(options) => {
            let remote = Remote::new(options)?;
            scan_remote(&remote, selection.targets(None)?, args)?
        }
        None => scan_local(args, &selection, project.as_ref(), started)?,
    };
    let Scanned {
        mut report,
        metas,
        fixes,
        revision_texts,
    } = scanned;
    report.sort();
    report.stats.findings = report.findings.len() as u64;
    report.stats.total_ms = started.elapsed().as_millis() as u64;

    if let Some(path) = &args.write_baseline {
        let written = Baseline::of(&report.findings);
        std::fs::write(path, written.to_json())
            .map_err(|e| format!("{}: cannot write the baseline: {e}", path.display()))?;
        eprintln!(
            "volatile: recorded {} finding(s) in {}",
            report.findings.len(),
            path.display()
        );
        return Ok(0);
    }
    if let Some(baseline) = &baseline {
        let known = baseline.suppress(&mut report.findings);
        report.stats.findings = report.findings.len() as u64;
        if known > 0 {
            eprintln!("volatile: {known} finding(s) already in the baseline were left out");
        }
    }

    write_report(args, &report, &metas, &revision_texts)?;
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

fn read_baseline(path: &Path) -> Result<Baseline, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the baseline: {e}", path.display()))?;
    Baseline::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Analyses the targets here, on a thread pool; returns the report, the descriptions of
/// the rules run, and how many fixes were applied.
fn scan_local(
    args: &ScanArgs,
    selection: &Selection,
    project: Option<&(PathBuf, ProjectConfig)>,
    started: Instant,
) -> Result<Scanned, String> {
    let rule_paths = ProjectConfig::rule_paths(&args.rules.rules, project);
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
    if let Some((_, config)) = project {
        filter.severity_overrides = config.overrides();
    }
    let set = Arc::new(RuleSet::new(&sources.playbooks, &filter));
    if set.is_empty() {
        return Err("no rule to run (check --rules and --rule)".into());
    }

    let targets = selection.targets(Some(&set.languages()))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .stack_size(16 * 1024 * 1024)
        .build()
        .map_err(|e| format!("cannot start worker threads: {e}"))?;
    let progress = progress_bar(args, targets.len());
    let keep_text = args.format == Format::Text;
    let options = AnalyzeOptions {
        prefilter: !args.no_prefilter,
        time_rules: args.stats,
        ..AnalyzeOptions::default()
    };
    let sized: Vec<(Target, u64)> = pool.install(|| {
        targets
            .into_par_iter()
            .map(|target| {
                let size = target.size();
                (target, size)
            })
            .collect()
    });
    let gathered = schedule::fold(&pool, sized, Gathered::default, |gathered, target| {
        let lang = target.lang;
        gathered.add(lang, scan_file(&set, target, args.fix, keep_text, &options));
        progress.inc(1);
    })
    .into_iter()
    .reduce(Gathered::merge)
    .unwrap_or_default();
    progress.finish_and_clear();

    let Gathered {
        findings,
        errors,
        fixes,
        revision_texts,
        stats: scan_stats,
    } = gathered;
    let report = Report {
        findings,
        errors,
        stats: Stats {
            files: scan_stats.files(),
            bytes: scan_stats.bytes(),
            parse_ms: scan_stats.parse().as_millis() as u64,
            match_ms: scan_stats.matching().as_millis() as u64,
            ..Stats::default()
        },
    };
    if args.stats {
        eprint!(
            "{}",
            scan_stats.render(&set, started.elapsed(), pool.current_num_threads())
        );
    }
    Ok(Scanned {
        report,
        metas: rule_metas(&sources),
        fixes,
        revision_texts,
    })
}

/// Sends the targets to a service, a round of files at a time; returns the report and how
/// many fixes were applied.
fn scan_remote(remote: &Remote, targets: Vec<Target>, args: &ScanArgs) -> Result<Scanned, String> {
    let progress = progress_bar(args, targets.len());
    let mut report = Report::default();
    report.stats.files = targets.len() as u64;
    let mut fixes = 0;
    let mut revision_texts = HashMap::new();
    let mut targets = targets.into_iter().peekable();
    while targets.peek().is_some() {
        let round: Vec<Target> = targets.by_ref().take(REMOTE_ROUND_FILES).collect();
        let mut files = Vec::with_capacity(round.len());
        let mut sent = Vec::with_capacity(round.len());
        for mut target in round {
            let from_revision = target.content.is_some();
            match read_target(&mut target) {
                Ok(Some(text)) => {
                    report.stats.bytes += text.len() as u64;
                    if from_revision && args.format == Format::Text {
                        revision_texts.insert(target.shown.clone(), text.clone());
                    }
                    files.push(RemoteFile {
                        path: target.shown.clone(),
                        language: Some(target.lang),
                        content: text,
                        changed_lines: target.lines.clone(),
                    });
                    sent.push(target);
                }
                Ok(None) => {}
                Err(error) => report.errors.push(error),
            }
        }
        let count = files.len();
        let results = remote.analyze(files, &args.only)?;
        for (target, result) in sent.iter().zip(results) {
            if args.fix && !result.findings.is_empty() {
                match std::fs::read_to_string(&target.path) {
                    Ok(source) => fixes += apply_fixes(&target.path, &source, &result.findings),
                    Err(e) => eprintln!("volatile: {}: cannot read for fixes: {e}", target.shown),
                }
            }
            report.findings.extend(result.findings);
            report.errors.extend(result.error);
        }
        progress.inc(count as u64);
    }
    progress.finish_and_clear();
    Ok(Scanned {
        report,
        metas: Vec::new(),
        fixes,
        revision_texts,
    })
}

/// What to scan: the paths given, or what changed in git.
struct Selection<'a> {
    roots: &'a [PathBuf],
    exclude: Option<&'a GlobSet>,
    spec: Option<&'a DiffSpec>,
}

impl Selection<'_> {
    /// The files to scan, in path order; `langs` limits them to languages with rules
    /// (`None`: any supported language).
    fn targets(&self, langs: Option<&[Lang]>) -> Result<Vec<Target>, String> {
        let wanted = |lang: Lang| langs.is_none_or(|l| l.contains(&lang));
        let Some(spec) = self.spec else {
            return Ok(collect_files(self.roots, self.exclude)
                .into_iter()
                .filter(|(_, lang)| wanted(*lang))
                .map(|(path, lang)| Target {
                    shown: display_path(&path),
                    path,
                    lang,
                    lines: None,
                    content: None,
                })
                .collect());
        };
        let cwd = std::env::current_dir()
            .and_then(|d| d.canonicalize())
            .map_err(|e| format!("cannot read the current directory: {e}"))?;
        let changes = diff::changes(&cwd, spec)?;
        let roots: Vec<PathBuf> = self
            .roots
            .iter()
            .filter_map(|r| r.canonicalize().ok())
            .collect();
        let mut targets = Vec::new();
        // Paths relative to the repository root, as `git cat-file` names them.
        let mut repo_paths = Vec::new();
        for file in changes.files {
            let path = changes.root.join(&file.path);
            if !roots.iter().any(|r| path.starts_with(r)) {
                continue;
            }
            if let Some(ex) = self.exclude
                && (ex.is_match(&file.path) || ex.is_match(&path))
            {
                continue;
            }
            let lang = match &changes.head {
                Some(_) => Lang::from_path(&path),
                None => detect(&path),
            };
            let Some(lang) = lang.filter(|l| wanted(*l)) else {
                continue;
            };
            let shown = match path.strip_prefix(&cwd) {
                Ok(rel) => display_path(rel),
                Err(_) => file.path.clone(),
            };
            targets.push(Target {
                path,
                shown,
                lang,
                lines: file.lines,
                content: None,
            });
            repo_paths.push(file.path);
        }
        if let Some(head) = &changes.head {
            let refs: Vec<&str> = repo_paths.iter().map(String::as_str).collect();
            let contents = diff::read_at(&changes.root, head, &refs)?;
            for (target, content) in targets.iter_mut().zip(contents) {
                target.content = Some(content.unwrap_or_default());
            }
        }
        Ok(targets)
    }
}

fn display_path(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// The files to scan with their languages, in a stable order. Explicit file arguments are
/// always scanned; directories are walked like ripgrep does (`.gitignore`, no hidden files).
fn collect_files(roots: &[PathBuf], exclude: Option<&GlobSet>) -> Vec<(PathBuf, Lang)> {
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
            if let Some(lang) = detect(path) {
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

/// Whether a file is binary: a NUL byte in its first 8 KiB (as ripgrep and git decide).
fn looks_binary(bytes: &[u8]) -> bool {
    memchr::memchr(0, &bytes[..bytes.len().min(BINARY_SNIFF_BYTES)]).is_some()
}

/// How much of a file [`looks_binary`] reads.
const BINARY_SNIFF_BYTES: usize = 8192;

/// Reads a target's text, taking the bytes read from a revision: `Ok(None)` for a binary
/// file (skipped silently, as ripgrep and ast-grep do), the file's error when it cannot be
/// read or is not UTF-8.
fn read_target(target: &mut Target) -> Result<Option<String>, FileError> {
    let error = |code: FileErrorCode, message: String| FileError {
        path: target.shown.clone(),
        code,
        message,
    };
    let bytes = match target.content.take() {
        Some(bytes) => bytes,
        None => {
            // One open, its size from the descriptor (no second path lookup), and never
            // more than the limit read, should the file grow in between.
            let unreadable =
                |e: std::io::Error| error(FileErrorCode::Unreadable, e.kind().to_string());
            let file = std::fs::File::open(&target.path).map_err(unreadable)?;
            let len = file.metadata().map_err(unreadable)?.len();
            let too_large = |size: String| {
                error(
                    FileErrorCode::TooLarge,
                    format!("{size} bytes is over the limit of {MAX_FILE_BYTES}"),
                )
            };
            if len > MAX_FILE_BYTES {
                return Err(too_large(len.to_string()));
            }
            let mut bytes = Vec::with_capacity(len as usize);
            file.take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(unreadable)?;
            if bytes.len() as u64 > MAX_FILE_BYTES {
                return Err(too_large(format!("more than {MAX_FILE_BYTES}")));
            }
            bytes
        }
    };
    if looks_binary(&bytes) {
        return Ok(None);
    }
    String::from_utf8(bytes).map(Some).map_err(|e| {
        error(
            FileErrorCode::NotUtf8,
            format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
        )
    })
}

fn scan_file(
    set: &RuleSet,
    mut target: Target,
    fix: bool,
    keep_text: bool,
    options: &AnalyzeOptions,
) -> FileOutcome {
    let read_start = Instant::now();
    let mut outcome = FileOutcome {
        findings: Vec::new(),
        error: None,
        bytes: 0,
        read: Duration::ZERO,
        analysis: None,
        fixes_applied: 0,
        revision_text: None,
    };
    let from_revision = target.content.is_some();
    let source = match read_target(&mut target) {
        Ok(Some(source)) => source,
        Ok(None) => return outcome,
        Err(error) => {
            outcome.error = Some(error);
            return outcome;
        }
    };
    outcome.bytes = source.len() as u64;
    outcome.read = read_start.elapsed();
    let mut result = analyze(set, &target.shown, target.lang, &source, options);
    outcome.error = result.error.take();
    if let Some(lines) = &target.lines {
        result.findings.retain(|f| f.touches_lines(lines));
    }
    if fix {
        outcome.fixes_applied = apply_fixes(&target.path, &source, &result.findings);
    }
    outcome.findings = std::mem::take(&mut result.findings);
    if keep_text && from_revision && !outcome.findings.is_empty() {
        outcome.revision_text = Some(source);
    }
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

fn write_report(
    args: &ScanArgs,
    report: &Report,
    metas: &[RuleMeta],
    revision_texts: &HashMap<String, String>,
) -> Result<(), String> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = match args.format {
        Format::Json => json::write(report, &mut out),
        Format::Sarif => sarif::write(report, metas, env!("CARGO_PKG_VERSION"), &mut out),
        Format::Github => github::write(report, &mut out),
        Format::Gitlab => gitlab::write(report, &mut out),
        Format::Checkstyle => checkstyle::write(report, &mut out),
        Format::Text => {
            let color = match args.color.as_str() {
                "always" => true,
                "never" => false,
                _ => std::io::stdout().is_terminal(),
            };
            let read = |p: &str| match revision_texts.get(p) {
                Some(text) => Some(text.clone()),
                None => std::fs::read_to_string(p).ok(),
            };
            text::write(report, &read, color, &mut out)
        }
    };
    result
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the report: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_byte_in_the_first_8_kib_makes_a_file_binary() {
        let mut bytes = vec![b'a'; BINARY_SNIFF_BYTES + 10];
        assert!(!looks_binary(&bytes));
        assert!(!looks_binary(b""));
        bytes[BINARY_SNIFF_BYTES - 1] = 0;
        assert!(looks_binary(&bytes), "the last byte sniffed");
        bytes[BINARY_SNIFF_BYTES - 1] = b'a';
        bytes[BINARY_SNIFF_BYTES] = 0;
        assert!(!looks_binary(&bytes), "past the sniffed bytes");
        assert!(looks_binary(b"\0"));
    }
}
