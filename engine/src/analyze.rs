//! Analysis of one file: parse once, walk once, run at each node only the rules that can
//! match its kind.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use volatile_grammars::Lang;

use crate::compile::{CompiledRule, Finder, LangRule};
use crate::finding::{ByteRange, FileError, FileErrorCode, Finding, Fix, Severity};
use crate::fingerprint::fingerprint;
use crate::kinds::{ERROR_KIND, LangInfo};
use crate::matcher::MatchCx;
use crate::memo::Memo;
use crate::metavar::Env;
use crate::playbook::Playbook;
use crate::position::{LineIndex, strip_bom};
use crate::prefilter::{Prefilter, requirement};
use crate::transform::{apply_transforms, constraints_hold};
use crate::tree::{NodeId, ParseError, SyntaxTree, parse_ts};

/// Which rules of the playbooks run, and at what severity.
#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    /// Only these rule ids (all when `None`).
    pub only: Option<HashSet<String>>,
    /// Leave out rules below this severity.
    pub min_severity: Option<Severity>,
    /// Per rule id: a new severity, or `None` to turn the rule off.
    pub severity_overrides: HashMap<String, Option<Severity>>,
}

/// A rule as it runs: the compiled rule, its form for one language, its severity.
#[derive(Debug, Clone)]
pub struct ActiveRule {
    /// The rule.
    pub rule: Arc<CompiledRule>,
    lang_index: usize,
    /// Its effective severity.
    pub severity: Severity,
}

impl ActiveRule {
    fn lang_rule(&self) -> &LangRule {
        &self.rule.per_lang[self.lang_index]
    }
}

#[derive(Debug, Default)]
struct LangRules {
    rules: Vec<ActiveRule>,
    /// Rule indices by node kind id.
    by_kind: Vec<Vec<u32>>,
    error_kind: Vec<u32>,
    any_kind: Vec<u32>,
    queries: Vec<u32>,
    /// Kinds where some query's matches may start (by kind id).
    query_roots: Vec<bool>,
    /// The literals the rules need, in one automaton.
    prefilter: Option<Prefilter>,
}

/// The rules of some playbooks, indexed for analysis. Build once, share read-only.
#[derive(Debug, Default)]
pub struct RuleSet {
    langs: HashMap<Lang, LangRules>,
}

impl RuleSet {
    /// Indexes the enabled rules of `playbooks` that pass `filter`.
    pub fn new(playbooks: &[Arc<Playbook>], filter: &RuleFilter) -> RuleSet {
        let mut langs: HashMap<Lang, LangRules> = HashMap::new();
        for playbook in playbooks {
            for rule in &playbook.rules {
                let severity = match filter.severity_overrides.get(&rule.id) {
                    Some(over) => *over,
                    None => rule.severity,
                };
                let Some(severity) = severity else { continue };
                if filter.only.as_ref().is_some_and(|o| !o.contains(&rule.id)) {
                    continue;
                }
                if filter.min_severity.is_some_and(|m| severity < m) {
                    continue;
                }
                for (lang_index, lr) in rule.per_lang.iter().enumerate() {
                    let entry = langs.entry(lr.lang).or_default();
                    entry.rules.push(ActiveRule {
                        rule: rule.clone(),
                        lang_index,
                        severity,
                    });
                }
            }
        }
        for (lang, lr) in langs.iter_mut() {
            let count = LangInfo::of(*lang).kind_count();
            lr.by_kind = vec![Vec::new(); count];
            for (i, active) in lr.rules.iter().enumerate() {
                let i = i as u32;
                let rule = active.lang_rule();
                match (&rule.finder, &rule.kinds) {
                    (Finder::Query(q), _) => {
                        lr.queries.push(i);
                        for &k in q.root_kinds().unwrap_or(&[]) {
                            if lr.query_roots.len() <= k as usize {
                                lr.query_roots.resize(k as usize + 1, false);
                            }
                            lr.query_roots[k as usize] = true;
                        }
                    }
                    (Finder::Rule(_), None) => lr.any_kind.push(i),
                    (Finder::Rule(_), Some(kinds)) => {
                        for &k in kinds {
                            if k == ERROR_KIND {
                                lr.error_kind.push(i);
                            } else if let Some(slot) = lr.by_kind.get_mut(k as usize) {
                                slot.push(i);
                            }
                        }
                    }
                }
            }
            let requirements: Vec<_> = lr
                .rules
                .iter()
                .map(|r| requirement(r.lang_rule()))
                .collect();
            let prefilter = Prefilter::new(&requirements);
            lr.prefilter = (!prefilter.is_trivial()).then_some(prefilter);
        }
        RuleSet { langs }
    }

    /// The rules that run on files of `lang`.
    pub fn rules(&self, lang: Lang) -> &[ActiveRule] {
        self.langs.get(&lang).map_or(&[], |l| &l.rules)
    }

    /// Whether no rule runs at all.
    pub fn is_empty(&self) -> bool {
        self.langs.values().all(|l| l.rules.is_empty())
    }

    /// The languages with at least one rule.
    pub fn languages(&self) -> Vec<Lang> {
        let mut out: Vec<Lang> = self.langs.keys().copied().collect();
        out.sort();
        out
    }
}

/// Limits of one file's analysis.
#[derive(Debug, Clone, Copy)]
pub struct AnalyzeOptions {
    /// Give up after this instant.
    pub deadline: Option<Instant>,
    /// Keep at most this many findings; more set `truncated`.
    pub max_findings: usize,
    /// Skip the rules whose literals the file lacks (and the file, when that is all of
    /// them). Off only to measure the prefilter or to check it changes nothing.
    pub prefilter: bool,
    /// Measure the time each rule takes ([`FileAnalysis::rule_times`]); costs a clock
    /// read per rule and node.
    pub time_rules: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            deadline: None,
            max_findings: usize::MAX,
            prefilter: true,
            time_rules: false,
        }
    }
}

/// The result of analysing one file.
#[derive(Debug, Clone)]
pub struct FileAnalysis {
    /// The findings, sorted.
    pub findings: Vec<Finding>,
    /// Why the file was not analysed, if it was not.
    pub error: Option<FileError>,
    /// Whether findings were dropped for the limit.
    pub truncated: bool,
    /// Time spent parsing.
    pub parse_time: Duration,
    /// Time spent matching.
    pub match_time: Duration,
    /// Whether the file was parsed (false when no rule applied).
    pub parsed: bool,
    /// Rules of the file's language that ran on it.
    pub rules_run: usize,
    /// Rules of the file's language that the prefilter skipped: the file lacks their
    /// literals.
    pub rules_prefiltered: usize,
    /// With [`AnalyzeOptions::time_rules`]: time per rule, by index into
    /// [`RuleSet::rules`] of the file's language (rules that ran only).
    pub rule_times: Vec<(usize, Duration)>,
}

impl FileAnalysis {
    /// A file no rule applies to: not parsed, nothing found.
    fn skipped(rules_prefiltered: usize) -> FileAnalysis {
        FileAnalysis {
            rules_prefiltered,
            ..FileAnalysis::not_analysed(None)
        }
    }

    fn failed(path: &str, code: FileErrorCode, message: String) -> FileAnalysis {
        FileAnalysis::not_analysed(Some(FileError {
            path: path.to_string(),
            code,
            message,
        }))
    }

    fn not_analysed(error: Option<FileError>) -> FileAnalysis {
        FileAnalysis {
            findings: Vec::new(),
            error,
            truncated: false,
            parse_time: Duration::ZERO,
            match_time: Duration::ZERO,
            parsed: false,
            rules_run: 0,
            rules_prefiltered: 0,
            rule_times: Vec::new(),
        }
    }
}

/// Analyses one file; a panic becomes the file's `internal` error.
pub fn analyze(
    set: &RuleSet,
    path: &str,
    lang: Lang,
    source: &str,
    options: &AnalyzeOptions,
) -> FileAnalysis {
    guarded(path, || {
        Ok(analyze_unguarded(set, path, lang, source, options))
    })
    .unwrap_or_else(|Cancelled| internal_error(path))
}

/// Analyses one file that the caller has already parsed (an editor keeping a document's
/// tree and re-parsing it incrementally, see [`crate::incremental`]); the same findings as
/// [`analyze`] of `source`. A panic becomes the file's `internal` error.
///
/// `tree` must be the parse of `source` with its byte order mark, if it has one, left out
/// (as [`crate::incremental::Reparser::parse`] gives it); byte offsets in the findings
/// still count the mark, as [`analyze`]'s do.
pub fn analyze_parsed(
    set: &RuleSet,
    path: &str,
    lang: Lang,
    source: &str,
    tree: &tree_sitter::Tree,
    options: &AnalyzeOptions,
) -> FileAnalysis {
    analyze_parsed_cancellable(
        set,
        path,
        lang,
        source,
        tree,
        options,
        &AtomicBool::new(false),
    )
    .unwrap_or_else(|| internal_error(path))
}

/// [`analyze_parsed`] that gives up, returning `None`, soon after `cancelled` is set (it
/// is checked between nodes, like the deadline): for work that a newer version of the
/// document has made pointless.
pub fn analyze_parsed_cancellable(
    set: &RuleSet,
    path: &str,
    lang: Lang,
    source: &str,
    tree: &tree_sitter::Tree,
    options: &AnalyzeOptions,
    cancelled: &AtomicBool,
) -> Option<FileAnalysis> {
    let stop = || cancelled.load(Ordering::Relaxed);
    guarded(path, || {
        let selection = match Selection::of(set, path, lang, source, options) {
            Ok(selection) => selection,
            Err(prefiltered) => return Ok(FileAnalysis::skipped(prefiltered)),
        };
        let (offset, text) = strip_bom(source);
        if tree.root_node().end_byte() > text.len() {
            return Ok(FileAnalysis::failed(
                path,
                FileErrorCode::Internal,
                "the syntax tree given does not belong to this text".into(),
            ));
        }
        let parsed = Parsed {
            text,
            offset,
            tree: TsTree::Borrowed(tree),
            parse_start: Instant::now(),
        };
        match_tree(&selection, path, lang, source, parsed, options, &stop)
    })
    .ok()
}

/// Analysis stopped because its result is no longer wanted.
struct Cancelled;

/// Runs `f`, turning a panic into the file's `internal` error.
fn guarded(
    path: &str,
    f: impl FnOnce() -> Result<FileAnalysis, Cancelled>,
) -> Result<FileAnalysis, Cancelled> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => Ok(internal_error(path)),
    }
}

fn internal_error(path: &str) -> FileAnalysis {
    FileAnalysis::failed(
        path,
        FileErrorCode::Internal,
        "internal error while analysing this file; other files are unaffected".into(),
    )
}

/// The rules of a file's language that run on it.
struct Selection<'r> {
    rules: &'r LangRules,
    /// By index into `rules.rules`: whether the rule runs.
    applies: Vec<bool>,
    rules_run: usize,
    rules_prefiltered: usize,
}

impl<'r> Selection<'r> {
    /// The rules that apply to `path` and, with the prefilter, whose literals `source`
    /// has; when there are none, `Err` with the number of rules the prefilter skipped.
    fn of(
        set: &'r RuleSet,
        path: &str,
        lang: Lang,
        source: &str,
        options: &AnalyzeOptions,
    ) -> Result<Selection<'r>, usize> {
        let Some(rules) = set.langs.get(&lang) else {
            return Err(0);
        };
        let mut applies: Vec<bool> = rules
            .rules
            .iter()
            .map(|r| r.rule.applies_to_path(path))
            .collect();
        let mut rules_prefiltered = 0;
        if options.prefilter
            && let Some(prefilter) = &rules.prefilter
            && applies.iter().any(|a| *a)
        {
            rules_prefiltered = prefilter.filter(source, &mut applies);
        }
        let rules_run = applies.iter().filter(|a| **a).count();
        if rules_run == 0 {
            return Err(rules_prefiltered);
        }
        Ok(Selection {
            rules,
            applies,
            rules_run,
            rules_prefiltered,
        })
    }
}

/// A tree-sitter tree: parsed here and dropped as soon as it is flattened, or the caller's.
enum TsTree<'t> {
    Owned(tree_sitter::Tree),
    Borrowed(&'t tree_sitter::Tree),
}

impl std::ops::Deref for TsTree<'_> {
    type Target = tree_sitter::Tree;

    fn deref(&self) -> &tree_sitter::Tree {
        match self {
            TsTree::Owned(tree) => tree,
            TsTree::Borrowed(tree) => tree,
        }
    }
}

/// The parse of a file's text (the source without its byte order mark).
struct Parsed<'s, 't> {
    text: &'s str,
    /// Bytes of the byte order mark before `text` in the source.
    offset: usize,
    tree: TsTree<'t>,
    /// When parsing started, for [`FileAnalysis::parse_time`].
    parse_start: Instant,
}

fn analyze_unguarded(
    set: &RuleSet,
    path: &str,
    lang: Lang,
    source: &str,
    options: &AnalyzeOptions,
) -> FileAnalysis {
    let selection = match Selection::of(set, path, lang, source, options) {
        Ok(selection) => selection,
        Err(prefiltered) => return FileAnalysis::skipped(prefiltered),
    };
    let (offset, text) = strip_bom(source);
    let parse_start = Instant::now();
    let ts_tree = match parse_ts(lang, text, options.deadline) {
        Ok(t) => t,
        Err(ParseError::DeadlineExceeded) => {
            return FileAnalysis::failed(
                path,
                FileErrorCode::DeadlineExceeded,
                "the deadline passed while parsing this file".into(),
            );
        }
        Err(ParseError::TooLarge) => {
            return FileAnalysis::failed(
                path,
                FileErrorCode::TooLarge,
                "file too large to parse".into(),
            );
        }
        Err(ParseError::Failed) => {
            return FileAnalysis::failed(
                path,
                FileErrorCode::Internal,
                "the parser gave up on this file".into(),
            );
        }
    };
    let parsed = Parsed {
        text,
        offset,
        tree: TsTree::Owned(ts_tree),
        parse_start,
    };
    match_tree(&selection, path, lang, source, parsed, options, &|| false)
        .unwrap_or_else(|Cancelled| internal_error(path))
}

/// Everything after parsing: flatten the tree, run the rules, collect the findings.
/// `stop` is checked with the deadline; when it answers true the analysis is abandoned.
fn match_tree(
    selection: &Selection<'_>,
    path: &str,
    lang: Lang,
    source: &str,
    parsed: Parsed<'_, '_>,
    options: &AnalyzeOptions,
    stop: &dyn Fn() -> bool,
) -> Result<FileAnalysis, Cancelled> {
    let Selection {
        rules,
        ref applies,
        rules_run,
        rules_prefiltered,
    } = *selection;
    let Parsed {
        text,
        offset,
        tree: ts_tree,
        parse_start,
    } = parsed;
    let mut times = options
        .time_rules
        .then(|| vec![Duration::ZERO; rules.rules.len()]);
    let run_queries = rules.queries.iter().any(|&i| applies[i as usize]);
    let mut query_roots = Vec::new();
    let tree = SyntaxTree::from_ts_collecting(
        lang,
        text,
        &ts_tree,
        if run_queries { &rules.query_roots } else { &[] },
        &mut query_roots,
    );
    let query_matches: Vec<(u32, Vec<crate::query::QueryMatch>)> = rules
        .queries
        .iter()
        .filter(|&&i| applies[i as usize])
        .filter_map(|&i| match &rules.rules[i as usize].lang_rule().finder {
            Finder::Query(q) => {
                let start = times.is_some().then(Instant::now);
                let matches = match q.root_kinds() {
                    Some(kinds) => {
                        let at: Vec<_> = query_roots
                            .iter()
                            .filter(|n| kinds.contains(&n.kind_id()))
                            .copied()
                            .collect();
                        q.run_at(&at, text)
                    }
                    None => q.run(&ts_tree, text),
                };
                if let (Some(times), Some(start)) = (times.as_mut(), start) {
                    times[i as usize] += start.elapsed();
                }
                Some((i, matches))
            }
            Finder::Rule(_) => None,
        })
        .collect();
    drop(query_roots);
    drop(ts_tree);
    let parse_time = parse_start.elapsed();

    let match_start = Instant::now();
    let mut collector = Collector {
        path,
        lang,
        source,
        offset,
        index: LineIndex::new(source),
        findings: Vec::new(),
    };
    let empty: Vec<u32> = Vec::new();
    let memo = Memo::new();
    for node in 0..tree.len() as NodeId {
        if node % 1024 == 0 {
            if options.deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(FileAnalysis::failed(
                    path,
                    FileErrorCode::DeadlineExceeded,
                    "the deadline passed while matching this file".into(),
                ));
            }
            if stop() {
                return Err(Cancelled);
            }
        }
        let kind = tree.kind(node);
        let by_kind = if kind == ERROR_KIND {
            &rules.error_kind
        } else {
            rules.by_kind.get(kind as usize).unwrap_or(&empty)
        };
        for &i in by_kind.iter().chain(rules.any_kind.iter()) {
            if !applies[i as usize] {
                continue;
            }
            let active = &rules.rules[i as usize];
            let lr = active.lang_rule();
            let Finder::Rule(rule) = &lr.finder else {
                continue;
            };
            let cx = MatchCx::with_memo(&tree, &lr.utils, &memo);
            let mut env = Env::new();
            let start = times.is_some().then(Instant::now);
            if rule.matches(&cx, node, &mut env) && constraints_hold(&lr.constraints, &cx, &env) {
                collector.report(active, &cx, node, env);
            }
            if let (Some(times), Some(start)) = (times.as_mut(), start) {
                times[i as usize] += start.elapsed();
            }
        }
    }
    for (i, matches) in query_matches {
        let active = &rules.rules[i as usize];
        let lr = active.lang_rule();
        let cx = MatchCx::new(&tree, &lr.utils);
        for m in matches {
            let Some(node) = find_node(&tree, m.range.clone(), m.kind) else {
                continue;
            };
            let mut env = Env::new();
            for (name, range, kind) in &m.captures {
                if let Some(n) = find_node(&tree, range.clone(), *kind) {
                    env.bind_single(name, n, &tree);
                }
            }
            if constraints_hold(&lr.constraints, &cx, &env) {
                collector.report(active, &cx, node, env);
            }
        }
    }
    let suppressions = Suppressions::collect(&tree, &collector.index, offset);
    let mut findings = collector.findings;
    findings.retain(|f| !suppressions.silences(f));
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup_by(|a, b| a.sort_key() == b.sort_key());
    let truncated = findings.len() > options.max_findings;
    findings.truncate(options.max_findings);
    Ok(FileAnalysis {
        findings,
        error: None,
        truncated,
        parse_time,
        match_time: match_start.elapsed(),
        parsed: true,
        rules_run,
        rules_prefiltered,
        rule_times: times
            .map(|t| {
                t.into_iter()
                    .enumerate()
                    .filter(|&(i, _)| applies[i])
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The flat node with this range and kind (the innermost if several share it).
fn find_node(tree: &SyntaxTree<'_>, range: std::ops::Range<usize>, kind: u16) -> Option<NodeId> {
    let mut n = tree.root();
    // Descend to the deepest node covering the range, then look for the kind on the way.
    let mut found = None;
    loop {
        if tree.byte_range(n) == range && tree.kind(n) == kind {
            found = Some(n);
        }
        let next = tree.children(n).find(|&c| {
            let r = tree.byte_range(c);
            r.start <= range.start
                && range.end <= r.end
                && !(r.start == r.end && range.start != range.end)
        });
        match next {
            Some(c) => n = c,
            None => return found,
        }
    }
}

struct Collector<'a> {
    path: &'a str,
    lang: Lang,
    source: &'a str,
    offset: usize,
    index: LineIndex<'a>,
    findings: Vec<Finding>,
}

impl Collector<'_> {
    fn report(&mut self, active: &ActiveRule, cx: &MatchCx<'_, '_>, node: NodeId, mut env: Env) {
        let rule = &active.rule;
        let lr = active.lang_rule();
        apply_transforms(&lr.transforms, &lr.rewriters, cx, &mut env);
        let range = cx.tree.byte_range(node);
        let byte_range = ByteRange {
            start: range.start + self.offset,
            end: range.end + self.offset,
        };
        let fix = lr.fix.as_ref().map(|fixer| {
            let (text, r) = fixer.apply(&env, cx, node);
            Fix {
                text,
                byte_range: ByteRange {
                    start: r.start + self.offset,
                    end: r.end + self.offset,
                },
            }
        });
        let matched = self
            .source
            .get(byte_range.start..byte_range.end)
            .unwrap_or("");
        self.findings.push(Finding {
            rule_id: rule.id.clone(),
            playbook: rule.playbook.to_string(),
            standard: rule.standard.clone(),
            severity: active.severity,
            message: rule.message.render(&env, cx),
            note: rule.note.clone(),
            url: rule.url.clone(),
            path: self.path.to_string(),
            language: self.lang,
            range: self.index.range(byte_range),
            byte_range,
            fix,
            fingerprint: fingerprint(&rule.playbook, &rule.id, self.path, matched),
        });
    }
}

/// `volatile-ignore` / `ast-grep-ignore` comments: which rules they silence on which lines.
#[derive(Default)]
struct Suppressions {
    /// Line (1-based) → `None` for all rules, or the listed ids.
    lines: HashMap<u32, Option<Vec<String>>>,
}

impl Suppressions {
    fn collect(tree: &SyntaxTree<'_>, index: &LineIndex<'_>, offset: usize) -> Suppressions {
        let mut out = Suppressions::default();
        for node in 0..tree.len() as NodeId {
            if !tree.is_comment(node) {
                continue;
            }
            let Some(ids) = parse_directive(tree.text(node)) else {
                continue;
            };
            // A trailing comment silences its own line; a comment on a line of its own
            // silences the next line (ast-grep's rule).
            let range = tree.byte_range(node);
            let source = tree.source();
            let line_start = source[..range.start].rfind('\n').map_or(0, |i| i + 1);
            let trailing = !source[line_start..range.start].trim().is_empty();
            let line = if trailing {
                index.position(range.start + offset).line
            } else {
                index.position(range.end + offset).line + 1
            };
            let entry = out.lines.entry(line).or_insert_with(|| Some(Vec::new()));
            match (&ids, entry) {
                (None, e) => *e = None,
                (Some(list), Some(existing)) => existing.extend(list.iter().cloned()),
                (Some(_), None) => {}
            }
        }
        out
    }

    fn silences(&self, finding: &Finding) -> bool {
        match self.lines.get(&finding.range.start.line) {
            None => false,
            Some(None) => true,
            Some(Some(ids)) => ids.contains(&finding.rule_id),
        }
    }
}

/// Reads a suppression comment: `None` if it is not one, `Some(None)` for all rules,
/// `Some(Some(ids))` for a list.
fn parse_directive(comment: &str) -> Option<Option<Vec<String>>> {
    let body = comment
        .trim_start_matches("//")
        .trim_start_matches("/*")
        .trim_start_matches('#')
        .trim_end_matches("*/")
        .trim();
    let rest = body
        .strip_prefix("volatile-ignore")
        .or_else(|| body.strip_prefix("ast-grep-ignore"))?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Some(None);
    }
    let list = rest.strip_prefix(':')?;
    let ids: Vec<String> = list
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Some(if ids.is_empty() { None } else { Some(ids) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        assert_eq!(parse_directive("// volatile-ignore"), Some(None));
        assert_eq!(parse_directive("# ast-grep-ignore"), Some(None));
        assert_eq!(
            parse_directive("// volatile-ignore: a, b"),
            Some(Some(vec!["a".to_string(), "b".to_string()]))
        );
        assert_eq!(
            parse_directive("/* ast-grep-ignore: x */"),
            Some(Some(vec!["x".to_string()]))
        );
        assert_eq!(parse_directive("// ignore this"), None);
        assert_eq!(parse_directive("// volatile-ignored"), None);
    }
}
