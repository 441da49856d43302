//! Analysis of one file: parse once, walk once, run at each node only the rules that can
//! match its kind. A rule whose matches must contain one of some literals (see
//! [`crate::prefilter::local_requirement`]) is instead tried only at the ancestors of
//! those literals' occurrences, which the prefilter's scan of the file found.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use volatile_grammars::Lang;

use crate::compile::{CompiledRule, Finder, LangRule, PathGlobs};
use crate::finding::{ByteRange, FileError, FileErrorCode, Finding, Fix, Severity};
use crate::fingerprint::fingerprint;
use crate::kinds::{ERROR_KIND, LangInfo};
use crate::matcher::MatchCx;
use crate::memo::Memo;
use crate::metavar::Env;
use crate::playbook::Playbook;
use crate::position::{LineIndex, strip_bom};
use crate::prefilter::{Prefilter, RegexClauses, Scan, local_requirement, requirement};
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

/// Rule indices by the node kinds the rules can match.
#[derive(Debug, Default)]
struct KindIndex {
    members: Vec<u32>,
    by_kind: Vec<Vec<u32>>,
    error_kind: Vec<u32>,
    any_kind: Vec<u32>,
}

impl KindIndex {
    fn new(kind_count: usize) -> KindIndex {
        KindIndex {
            by_kind: vec![Vec::new(); kind_count],
            ..KindIndex::default()
        }
    }

    fn add(&mut self, rule: u32, kinds: Option<&[u16]>) {
        self.members.push(rule);
        match kinds {
            None => self.any_kind.push(rule),
            Some(kinds) => {
                for &k in kinds {
                    if k == ERROR_KIND {
                        self.error_kind.push(rule);
                    } else if let Some(slot) = self.by_kind.get_mut(k as usize) {
                        slot.push(rule);
                    }
                }
            }
        }
    }

    /// Every rule of the index, once, in rule order.
    fn all(&self) -> impl Iterator<Item = u32> + '_ {
        self.members.iter().copied()
    }

    /// The rules that can match a node of `kind`.
    fn at(&self, kind: u16) -> impl Iterator<Item = u32> + '_ {
        let by_kind = if kind == ERROR_KIND {
            &self.error_kind[..]
        } else {
            self.by_kind
                .get(kind as usize)
                .map_or(&[][..], Vec::as_slice)
        };
        by_kind.iter().chain(&self.any_kind).copied()
    }
}

#[derive(Debug, Default)]
struct LangRules {
    rules: Vec<ActiveRule>,
    /// The rules tried at every node of their kinds.
    walked: KindIndex,
    /// The rules with a local requirement ([`crate::prefilter::local_requirement`]): tried
    /// only at the ancestors of their literals' occurrences, or, when a file has no scan to
    /// find these (the prefilter is off), at every node of their kinds like the others.
    anchored: KindIndex,
    /// Per rule: a number for the set of kinds it may match, the same for rules with the
    /// same kinds (those of [`LangRules::anchored`] with the same places share their nodes).
    kind_sets: Vec<u32>,
    /// One rule of each distinct `files`/`ignores` pair, by index: rules with the same
    /// globs apply to the same paths, so each pair is matched once per file.
    path_scopes: Vec<u32>,
    /// Per rule: its pair's index in `path_scopes`, or `u32::MAX` when it has no globs.
    scope_of: Vec<u32>,
    queries: Vec<u32>,
    /// The queries that run at the nodes of known root kinds and whose predicates need
    /// literals: with a scan, only the roots containing those literals run them.
    anchored_queries: Vec<u32>,
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
        let regexes = RegexClauses::new();
        for (lang, lr) in langs.iter_mut() {
            let requirements: Vec<_> = lr
                .rules
                .iter()
                .map(|r| requirement(r.lang_rule(), &regexes))
                .collect();
            let locals: Vec<_> = lr
                .rules
                .iter()
                .map(|r| local_requirement(r.lang_rule(), &regexes))
                .collect();
            let prefilter = Prefilter::new(*lang, &requirements, &locals);
            let count = LangInfo::of(*lang).kind_count();
            lr.walked = KindIndex::new(count);
            lr.anchored = KindIndex::new(count);
            let mut scopes: HashMap<PathGlobs<'_>, u32> = HashMap::new();
            let mut path_scopes = Vec::new();
            lr.scope_of = lr
                .rules
                .iter()
                .enumerate()
                .map(|(i, active)| {
                    let globs = active.rule.path_globs();
                    if globs == (&None, &None) {
                        return u32::MAX;
                    }
                    *scopes.entry(globs).or_insert_with(|| {
                        path_scopes.push(i as u32);
                        (path_scopes.len() - 1) as u32
                    })
                })
                .collect();
            lr.path_scopes = path_scopes;
            let mut kind_sets: HashMap<Option<&[u16]>, u32> = HashMap::new();
            lr.kind_sets = lr
                .rules
                .iter()
                .map(|active| {
                    let next = kind_sets.len() as u32;
                    *kind_sets
                        .entry(active.lang_rule().kinds.as_deref())
                        .or_insert(next)
                })
                .collect();
            for (i, active) in lr.rules.iter().enumerate() {
                let rule = active.lang_rule();
                match &rule.finder {
                    Finder::Query(q) => {
                        lr.queries.push(i as u32);
                        if q.root_kinds().is_some() && prefilter.is_anchored(i) {
                            lr.anchored_queries.push(i as u32);
                        }
                        for &k in q.root_kinds().unwrap_or(&[]) {
                            if lr.query_roots.len() <= k as usize {
                                lr.query_roots.resize(k as usize + 1, false);
                            }
                            lr.query_roots[k as usize] = true;
                        }
                    }
                    Finder::Rule(_) if prefilter.is_anchored(i) => {
                        lr.anchored.add(i as u32, rule.kinds.as_deref())
                    }
                    Finder::Rule(_) => lr.walked.add(i as u32, rule.kinds.as_deref()),
                }
            }
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

/// An anchored rule's index and the byte ranges of the source each match must cover one of.
type Anchor = (u32, Vec<(u32, u32)>);

/// The anchored rules of a file that apply, and the byte ranges of the source the matches
/// of each must cover one of. Rules whose rarest clause is the same literals (variants of
/// one rule, rules on one API) share one list of places, found and sorted once.
struct Anchors {
    /// Distinct lists of places, each sorted.
    places: Vec<Vec<(u32, u32)>>,
    /// Each rule, by index into the language's rules, and its list in `places`.
    rules: Vec<(u32, u32)>,
}

impl Anchors {
    /// The places of each of `rules` from the prefilter's `scan`; `None` when the scan
    /// recorded no offsets or one of the rules has no local requirement.
    fn of(prefilter: &Prefilter, scan: &Scan, rules: impl Iterator<Item = u32>) -> Option<Anchors> {
        // Per clause number: its list in `places`, once found.
        let mut list_of = vec![u32::MAX; prefilter.clause_count()];
        let mut anchors = Anchors {
            places: Vec::new(),
            rules: Vec::new(),
        };
        for i in rules {
            let clause = prefilter.rarest_clause(scan, i as usize)?;
            let slot = list_of.get_mut(clause as usize)?;
            if *slot == u32::MAX {
                anchors.places.push(prefilter.places(scan, clause)?);
                *slot = (anchors.places.len() - 1) as u32;
            }
            anchors.rules.push((i, *slot));
        }
        Some(anchors)
    }
}

/// The rules of a file's language that run on it.
struct Selection<'r> {
    rules: &'r LangRules,
    /// By index into `rules.rules`: whether the rule runs.
    applies: Vec<bool>,
    /// For each anchored rule that applies: the byte ranges of the source its matches
    /// must cover one of. `None` when the file was not scanned: anchored rules then run
    /// at every node of their kinds.
    anchors: Option<Anchors>,
    /// For each anchored query that applies (`LangRules::anchored_queries`): the byte
    /// ranges of the source one of which the root node of each match must cover, sorted.
    /// Empty when the file was not scanned.
    query_anchors: Vec<Anchor>,
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
        let in_scope: Vec<bool> = rules
            .path_scopes
            .iter()
            .map(|&i| rules.rules[i as usize].rule.applies_to_path(path))
            .collect();
        let mut applies: Vec<bool> = rules
            .scope_of
            .iter()
            .map(|&scope| in_scope.get(scope as usize).copied().unwrap_or(true))
            .collect();
        let mut rules_prefiltered = 0;
        let mut anchors = None;
        let mut query_anchors = Vec::new();
        if options.prefilter
            && let Some(prefilter) = &rules.prefilter
            && applies.iter().any(|a| *a)
            && let Some(mut scan) = prefilter.scan(source)
        {
            rules_prefiltered = prefilter.filter(source, &mut scan, &mut applies);
            anchors = Anchors::of(
                prefilter,
                &scan,
                rules.anchored.all().filter(|&i| applies[i as usize]),
            );
            query_anchors = rules
                .anchored_queries
                .iter()
                .filter(|&&i| applies[i as usize])
                .filter_map(|&i| Some((i, prefilter.anchor(&scan, i as usize)?)))
                .collect();
        }
        let rules_run = applies.iter().filter(|a| **a).count();
        if rules_run == 0 {
            return Err(rules_prefiltered);
        }
        Ok(Selection {
            rules,
            applies,
            anchors,
            query_anchors,
            rules_run,
            rules_prefiltered,
        })
    }
}

/// Whether `start..end` contains one of `places` (sorted byte ranges).
fn covers_one(places: &[(u32, u32)], start: usize, end: usize) -> bool {
    let first = places.partition_point(|&(s, _)| (s as usize) < start);
    places[first..]
        .iter()
        .take_while(|&&(s, _)| s as usize <= end)
        .any(|&(_, e)| e as usize <= end)
}

/// The raw queries of a file whose matches start at nodes of known kinds, run at each such
/// node as the copy of the tree hands it over.
struct RootQueries<'r> {
    text: &'r str,
    offset: usize,
    /// Whether each query's time is measured (for [`AnalyzeOptions::time_rules`]).
    timed: bool,
    /// The time spent in [`RootQueries::visit`].
    time: Duration,
    queries: Vec<RootQuery<'r>>,
}

/// One query of [`RootQueries`].
struct RootQuery<'r> {
    /// Its index into the language's rules.
    rule: u32,
    /// The kinds of the nodes where its matches start.
    kinds: &'r [u16],
    /// When it is anchored: the byte ranges one of which its root nodes must cover.
    places: Option<&'r [(u32, u32)]>,
    run: crate::query::AtRoots<'r>,
    time: Duration,
}

impl RootQueries<'_> {
    /// Runs at `node` each query whose matches can start there.
    fn visit(&mut self, node: tree_sitter::Node<'_>) {
        let start = Instant::now();
        let kind = node.kind_id();
        for q in &mut self.queries {
            if !q.kinds.contains(&kind)
                || q.places.is_some_and(|places| {
                    !covers_one(
                        places,
                        node.start_byte() + self.offset,
                        node.end_byte() + self.offset,
                    )
                })
            {
                continue;
            }
            let started = self.timed.then(Instant::now);
            q.run.run(node, self.text);
            if let Some(started) = started {
                q.time += started.elapsed();
            }
        }
        self.time += start.elapsed();
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
        ref anchors,
        ref query_anchors,
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
    // Raw queries run on tree-sitter's own tree. Those whose matches start at nodes of
    // known kinds run at those nodes, which the copy hands over; the others run over the
    // whole tree, which must then be kept until they have. When nothing needs the tree
    // after the copy (and it is not the caller's), the copy frees it as it goes.
    let queries: Vec<u32> = rules
        .queries
        .iter()
        .copied()
        .filter(|&i| applies[i as usize])
        .collect();
    let query_of = |i: u32| match &rules.rules[i as usize].lang_rule().finder {
        Finder::Query(q) => Some(q),
        Finder::Rule(_) => None,
    };
    let whole_tree_queries = queries
        .iter()
        .any(|&i| query_of(i).is_some_and(|q| q.root_kinds().is_none()));
    let mut at_roots = RootQueries {
        text,
        offset,
        timed: times.is_some(),
        time: Duration::ZERO,
        queries: queries
            .iter()
            .filter_map(|&i| {
                let q = query_of(i)?;
                Some(RootQuery {
                    rule: i,
                    kinds: q.root_kinds()?,
                    places: query_anchors
                        .iter()
                        .find(|(q, _)| *q == i)
                        .map(|(_, places)| places.as_slice()),
                    run: q.at_roots(),
                    time: Duration::ZERO,
                })
            })
            .collect(),
    };
    let wanted: &[bool] = if at_roots.queries.is_empty() {
        &[]
    } else {
        &rules.query_roots
    };
    let (kept, to_consume) = match ts_tree {
        TsTree::Owned(owned) if !whole_tree_queries => (None, Some(owned)),
        ts_tree => (Some(ts_tree), None),
    };
    let tree = match (to_consume, &kept) {
        (Some(owned), _) => {
            let release = volatile_grammars::alloc::release_free_memory as extern "C" fn();
            match SyntaxTree::from_ts_consuming_visiting(
                lang,
                text,
                owned,
                wanted,
                &mut |node| at_roots.visit(node),
                Some(release),
            ) {
                Some(tree) => tree,
                None => return Ok(internal_error(path)),
            }
        }
        (None, Some(ts_tree)) => {
            let mut roots = Vec::new();
            let tree = SyntaxTree::from_ts_collecting(lang, text, ts_tree, wanted, &mut roots);
            for node in roots {
                at_roots.visit(node);
            }
            tree
        }
        (None, None) => return Ok(internal_error(path)),
    };
    // Parsing includes the copy; raw queries count as matching, wherever they ran.
    let parse_time = parse_start.elapsed().saturating_sub(at_roots.time);
    let query_start = Instant::now();
    let mut query_matches: Vec<(u32, Vec<crate::query::QueryMatch>)> = Vec::new();
    for q in at_roots.queries {
        if let Some(times) = times.as_mut() {
            times[q.rule as usize] += q.time;
        }
        query_matches.push((q.rule, q.run.matches));
    }
    if let Some(ts_tree) = &kept {
        for &i in &queries {
            let Some(q) = query_of(i).filter(|q| q.root_kinds().is_none()) else {
                continue;
            };
            let start = times.is_some().then(Instant::now);
            query_matches.push((i, q.run(ts_tree, text)));
            if let (Some(times), Some(start)) = (times.as_mut(), start) {
                times[i as usize] += start.elapsed();
            }
        }
    }
    drop(kept);
    let query_time = at_roots.time + query_start.elapsed();

    let match_start = Instant::now();
    let collector = Collector {
        path,
        lang,
        source,
        offset,
        index: OnceCell::new(),
        findings: Vec::new(),
    };
    let memo = Memo::new();
    let mut run = Runner {
        rules,
        tree: &tree,
        memo: &memo,
        times,
        runs: 0,
        deadline: options.deadline,
        stop,
        collector,
    };
    let walked = run
        .walk(applies, anchors.is_none())
        .and_then(|()| match anchors {
            Some(anchors) => run.anchored(anchors, offset),
            None => Ok(()),
        });
    match walked {
        Ok(()) => {}
        Err(Stopped::Deadline) => {
            return Ok(FileAnalysis::failed(
                path,
                FileErrorCode::DeadlineExceeded,
                "the deadline passed while matching this file".into(),
            ));
        }
        Err(Stopped::Cancelled) => return Err(Cancelled),
    }
    let Runner {
        mut collector,
        times,
        ..
    } = run;
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
    let mut findings = collector.findings;
    if !findings.is_empty() {
        let suppressions = Suppressions::collect(
            &tree,
            collector.index.get_or_init(|| LineIndex::new(source)),
            offset,
        );
        findings.retain(|f| !suppressions.silences(f));
    }
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup_by(|a, b| a.sort_key() == b.sort_key());
    let truncated = findings.len() > options.max_findings;
    findings.truncate(options.max_findings);
    Ok(FileAnalysis {
        findings,
        error: None,
        truncated,
        parse_time,
        match_time: query_time + match_start.elapsed(),
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

/// Why matching ended early.
enum Stopped {
    Deadline,
    Cancelled,
}

/// Runs rules at nodes of one tree, collecting what matches.
struct Runner<'a, 's> {
    rules: &'a LangRules,
    tree: &'a SyntaxTree<'s>,
    memo: &'a Memo,
    times: Option<Vec<Duration>>,
    /// Rule runs so far, to check the deadline every 1,024 of them.
    runs: u32,
    deadline: Option<Instant>,
    stop: &'a dyn Fn() -> bool,
    collector: Collector<'a>,
}

impl Runner<'_, '_> {
    /// Whether to go on: the deadline has not passed and `stop` does not say so.
    fn check(&self) -> Result<(), Stopped> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Stopped::Deadline);
        }
        if (self.stop)() {
            return Err(Stopped::Cancelled);
        }
        Ok(())
    }

    /// Runs rule `i` at `node`; every 1,024 runs, [`Runner::check`]s.
    fn try_rule(&mut self, i: u32, node: NodeId) -> Result<(), Stopped> {
        self.runs = self.runs.wrapping_add(1);
        if self.runs.is_multiple_of(1024) {
            self.check()?;
        }
        let active = &self.rules.rules[i as usize];
        let lr = active.lang_rule();
        let Finder::Rule(rule) = &lr.finder else {
            return Ok(());
        };
        let cx = MatchCx::with_memo(self.tree, &lr.utils, self.memo);
        let mut env = Env::new();
        let start = self.times.is_some().then(Instant::now);
        if rule.matches(&cx, node, &mut env) && constraints_hold(&lr.constraints, &cx, &env) {
            self.collector.report(active, &cx, node, env);
        }
        if let (Some(times), Some(start)) = (self.times.as_mut(), start) {
            times[i as usize] += start.elapsed();
        }
        Ok(())
    }

    /// One walk over the tree: at each node, the rules of its kind that apply (the
    /// anchored ones too when `with_anchored`).
    fn walk(&mut self, applies: &[bool], with_anchored: bool) -> Result<(), Stopped> {
        let rules = self.rules;
        for node in 0..self.tree.len() as NodeId {
            if node.is_multiple_of(1024) {
                self.check()?;
            }
            let kind = self.tree.kind(node);
            for i in rules.walked.at(kind) {
                if applies[i as usize] {
                    self.try_rule(i, node)?;
                }
            }
            if with_anchored {
                for i in rules.anchored.at(kind) {
                    if applies[i as usize] {
                        self.try_rule(i, node)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Each anchored rule at the nodes of its kinds that cover one of its places (byte
    /// ranges of the source, which starts `offset` bytes before the tree's text). Rules
    /// with the same places and kinds have the same such nodes, found once.
    fn anchored(&mut self, anchors: &Anchors, offset: usize) -> Result<(), Stopped> {
        let tree = self.tree;
        // The rules in groups of the same places and kinds (findings are sorted later).
        let mut order: Vec<(u32, u32, u32)> = anchors
            .rules
            .iter()
            .map(|&(i, list)| {
                let kinds = self.rules.kind_sets.get(i as usize).copied().unwrap_or(0);
                (list, kinds, i)
            })
            .collect();
        order.sort_unstable();
        // Per node: the last group that reached it.
        let mut seen = vec![u32::MAX; if order.is_empty() { 0 } else { tree.len() }];
        let mut candidates: Vec<NodeId> = Vec::new();
        let mut group = None;
        for (round, &(list, kind_set, i)) in order.iter().enumerate() {
            if group != Some((list, kind_set)) {
                group = Some((list, kind_set));
                candidates.clear();
                let kinds = self.rules.rules[i as usize].lang_rule().kinds.as_deref();
                let places = anchors
                    .places
                    .get(list as usize)
                    .map_or(&[][..], Vec::as_slice);
                let round = round as u32;
                covering_ancestors(
                    tree,
                    places,
                    offset,
                    kinds,
                    round,
                    &mut seen,
                    &mut candidates,
                );
                candidates.sort_unstable();
            }
            for &node in &candidates {
                self.try_rule(i, node)?;
            }
        }
        Ok(())
    }
}

/// Appends to `out` the nodes of `kinds` (any kind when `None`) that cover one of
/// `places` (sorted byte ranges of the source, which starts `offset` bytes before the
/// tree's text), each once, in no particular order. `seen` holds, per node, the last
/// `round` that reached it; this one marks the nodes it reaches with `round`.
fn covering_ancestors(
    tree: &SyntaxTree<'_>,
    places: &[(u32, u32)],
    offset: usize,
    kinds: Option<&[u16]>,
    round: u32,
    seen: &mut [u32],
    out: &mut Vec<NodeId>,
) {
    // Places in order, so that each search for the node covering one goes on from the
    // previous one's.
    let mut from = 0;
    for &(start, end) in places {
        let (Some(start), Some(end)) = (
            (start as usize).checked_sub(offset),
            (end as usize).checked_sub(offset),
        ) else {
            continue;
        };
        // Up the ancestors, stopping at one an earlier occurrence reached.
        let (mut at, searched) = tree.covering_from(from, start, end);
        from = searched;
        while let Some(node) = at {
            let Some(mark) = seen.get_mut(node as usize) else {
                break;
            };
            if *mark == round {
                break;
            }
            *mark = round;
            if kinds.is_none_or(|k| k.contains(&tree.kind(node))) {
                out.push(node);
            }
            at = tree.parent(node);
        }
    }
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
    /// Built on the first finding: most files have none.
    index: OnceCell<LineIndex<'a>>,
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
            range: self
                .index
                .get_or_init(|| LineIndex::new(self.source))
                .range(byte_range),
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

    /// Rules with the same `files`/`ignores` share one match of their globs per file; each
    /// rule still applies exactly where its own globs say.
    #[test]
    fn rules_apply_where_their_own_globs_say() {
        let rule = |id: &str, globs: serde_json::Value| {
            let mut doc = serde_json::json!({"id": id, "language": "python", "severity": "warning",
                                             "message": "m", "rule": {"pattern": "eval($X)"}});
            if let (Some(doc), Some(globs)) = (doc.as_object_mut(), globs.as_object()) {
                doc.extend(globs.clone());
            }
            doc
        };
        let outside_tests = serde_json::json!({"ignores": ["**/tests/**"]});
        let rules = vec![
            rule("ignores-tests", outside_tests.clone()),
            rule("everywhere", serde_json::json!({})),
            rule("only-tests", serde_json::json!({"files": ["**/tests/**"]})),
            rule("ignores-tests-too", outside_tests),
            rule(
                "tests-but-not-a",
                serde_json::json!({"files": ["**/tests/**"], "ignores": ["**/a.py"]}),
            ),
        ];
        let outcome = crate::playbook::inline_playbook(crate::spec::InlinePlaybookSpec {
            id: None,
            name: None,
            rules,
        });
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        let set = RuleSet::new(&[Arc::new(outcome.playbook)], &RuleFilter::default());
        let fired = |path: &str| -> Vec<String> {
            let result = analyze(
                &set,
                path,
                Lang::Python,
                "eval(x)\n",
                &AnalyzeOptions::default(),
            );
            let mut ids: Vec<String> = result.findings.iter().map(|f| f.rule_id.clone()).collect();
            ids.sort();
            ids
        };
        assert_eq!(
            fired("src/a.py"),
            ["everywhere", "ignores-tests", "ignores-tests-too"]
        );
        assert_eq!(fired("pkg/tests/a.py"), ["everywhere", "only-tests"]);
        assert_eq!(
            fired("pkg/tests/b.py"),
            ["everywhere", "only-tests", "tests-but-not-a"]
        );
    }
}
