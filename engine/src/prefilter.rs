//! Skip what cannot match: the literals every match of a rule must contain.
//!
//! For each rule we derive a conjunction of clauses, each clause a set of literals of
//! which at least one must occur in the file's text for the rule to have any chance to
//! match. The literals come from pattern terminals (compared exactly), from regexes (the
//! prefixes every match starts with, the suffixes it ends with, or what a part every match
//! has requires), from constraints on metavariables every match binds, and from the text
//! predicates of raw queries (`#match?`, `#eq?`, `#any-of?`). All the literals
//! of one language's rules go into one Aho-Corasick automaton, which ignores ASCII case (a
//! superset of the occurrences, never fewer); one pass over a file says which rules can be
//! skipped, and a file whose rules are all skipped is not parsed at all. The same pass
//! records where the literals of each rule's [`local_requirement`] occur, so that the rule
//! is tried only at the nodes that contain one of them.
//!
//! Soundness is the whole point: a requirement is only derived where a match really
//! implies the literal's presence. Anything unsure (`not`, `kind`, `nthChild`, `range`,
//! queries' predicates on optional captures, `signature` strictness, case-insensitive regexes with too many variants)
//! contributes no requirement, so the rule simply runs.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{
    Capture, Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look, Repetition,
};

use volatile_grammars::Lang;

use crate::compile::{Finder, LangRule};
use crate::kinds::{ERROR_KIND, LangInfo};
use crate::lexical::{self, Lexed};
use crate::literal_scan::LiteralScan;
use crate::matcher::{Rule, StopBy};
use crate::query::{QueryRule, TextNeed};

/// Literals shorter than this are not worth looking for: they occur in nearly every file.
const MIN_LITERAL_BYTES: usize = 2;
/// A clause with more alternatives than this says too little to be worth its scan cost.
const MAX_CLAUSE_LITERALS: usize = 64;
/// An `any` keeps the clauses of every way of taking one clause of each alternative up to
/// this many ways (see [`any_clauses`]).
const MAX_ANY_CLAUSES: usize = 8;
/// Bound on util recursion while deriving requirements.
const MAX_DEPTH: u32 = 64;
/// What an occurrence must cross to pass between a string's text and what lies outside
/// it: quotes, a template's `` ` ``, the `${` and `}` around its substitutions.
const STRING_DELIMITERS: [char; 5] = ['"', '\'', '`', '$', '}'];

/// What a rule requires of a file's text: every clause must have a literal in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    /// Conjunction of disjunctions.
    pub clauses: Vec<Vec<Literal>>,
}

/// A text a match must contain, and where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Literal {
    /// The text.
    pub text: Box<str>,
    /// Whether the match contains it outside comments: only an occurrence in code counts.
    pub in_code: bool,
    /// Whether the match has it outside the texts of string literals (as an identifier,
    /// not a string fragment): only an occurrence that starts outside them counts.
    pub outside_strings: bool,
    /// Whether the match has it where a node's text starts (a pattern's terminal, a
    /// regex's prefix after `^`): only an occurrence where a token may start counts.
    pub starts_node: bool,
    /// Whether the match has it where a node's text ends (a terminal, a suffix before
    /// `$`): only an occurrence where a token may end counts.
    pub ends_node: bool,
    /// Whether the match has it in exactly this case (a terminal, a literal of a regex
    /// that ignores no case): only an occurrence in the same case counts.
    pub exact_case: bool,
}

impl Literal {
    /// A literal that may occur anywhere, comments included.
    pub fn anywhere(text: &str) -> Literal {
        Literal {
            text: text.into(),
            in_code: false,
            outside_strings: false,
            starts_node: false,
            ends_node: false,
            exact_case: false,
        }
    }

    /// Forgets that the literal starts (ends) a node where that tells nothing: a token
    /// edge may lie before (after) anything but a letter, digit or `_` (see
    /// [`lexical::may_split`]).
    fn drop_vacuous_edges(&mut self) {
        let word = |b: Option<&u8>| b.copied().is_some_and(lexical::word_byte);
        self.starts_node &= word(self.text.as_bytes().first());
        self.ends_node &= word(self.text.as_bytes().last());
    }

    /// Whether every text that has `self` (where `self` must be) also has `other`
    /// (where `other` must be), so that `other` in a disjunction makes `self` redundant.
    /// A literal in code lies in one token, with no comment inside it, so what it
    /// contains is in code too; one that starts (ends) a node starts (ends) with what
    /// it starts (ends) with; one in exact case has what it contains in exact case. One
    /// that starts outside strings' texts and has none of their delimiters in it lies
    /// wholly outside them, so what it contains does too.
    fn implies(&self, other: &Literal) -> bool {
        self.text.contains(&*other.text)
            && (self.in_code || !other.in_code)
            && (!other.outside_strings
                || (self.outside_strings && !self.text.contains(STRING_DELIMITERS)))
            && (self.exact_case || !other.exact_case)
            && (!other.starts_node || (self.starts_node && self.text.starts_with(&*other.text)))
            && (!other.ends_node || (self.ends_node && self.text.ends_with(&*other.text)))
    }
}

impl Requirement {
    /// Whether the rule requires nothing (it must run on every file).
    pub fn is_trivial(&self) -> bool {
        self.clauses.is_empty()
    }
}

/// What each regex requires of the text, remembered by its source: the rules of a
/// playbook ask the same regexes once per language and scope, and extracting a
/// case-insensitive regex's literals is most of deriving a playbook's requirements.
#[derive(Default)]
pub struct RegexClauses {
    known: RefCell<HashMap<Box<str>, Option<Clause>>>,
}

/// Literals of which at least one must occur.
type Clause = Vec<Literal>;

impl RegexClauses {
    /// An empty memory.
    pub fn new() -> RegexClauses {
        RegexClauses::default()
    }

    fn of(&self, regex: &str) -> Option<Clause> {
        if let Some(known) = self.known.borrow().get(regex) {
            return known.clone();
        }
        let clause = regex_clause(regex);
        self.known.borrow_mut().insert(regex.into(), clause.clone());
        clause
    }
}

/// A rule's requirement: what its finder and its constraints imply of the file's text.
pub fn requirement(rule: &LangRule, regexes: &RegexClauses) -> Requirement {
    requirement_in(rule, Scope::File, regexes)
}

/// What the text of every node the rule matches must contain: what its own patterns and
/// regexes and those of its `has` descendants imply (and constraints on metavariables
/// they bind), but not the nodes `inside`, `follows` and `precedes` relate it to, which
/// lie outside it. Each of these literals occurs within the matched node's byte range, so
/// the nodes to try are the ancestors of the literals' occurrences. For a raw query, what
/// the root node of the pattern every match matches must contain (its captures lie
/// within it).
pub fn local_requirement(rule: &LangRule, regexes: &RegexClauses) -> Requirement {
    requirement_in(rule, Scope::Node, regexes)
}

/// Where the derived literals must occur.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Somewhere in the file.
    File,
    /// Within the matched node.
    Node,
}

fn requirement_in(rule: &LangRule, scope: Scope, regexes: &RegexClauses) -> Requirement {
    let root = match &rule.finder {
        Finder::Rule(root) => root,
        Finder::Query(query) => return query_requirement(query, regexes),
    };
    let cx = Derive {
        info: LangInfo::of(rule.lang),
        utils: &rule.utils,
        scope,
        regexes,
    };
    let derived = cx.derive(root, false, 0);
    let mut clauses = derived.clauses;
    for (name, constraint) in &rule.constraints {
        if derived.bound.contains(name) {
            clauses.extend(cx.derive(constraint, false, 0).clauses);
        }
    }
    // Comments and strings are only found in the languages lexed here.
    let lexed = lexical::lexed(rule.lang);
    let mut clauses: Vec<Clause> = clauses
        .into_iter()
        .filter(|c| usable(c))
        .map(|mut clause| {
            if !lexed {
                for literal in &mut clause {
                    literal.in_code = false;
                    literal.outside_strings = false;
                }
            }
            simplify(clause)
        })
        .collect();
    clauses.sort();
    clauses.dedup();
    Requirement { clauses }
}

/// What a raw query's text predicates require: one clause, the best clause of each of its
/// patterns joined (a match is a match of one pattern). A pattern without a usable need
/// makes the query require nothing. The literals lie within the pattern's root node, so
/// the requirement serves both scopes.
fn query_requirement(query: &QueryRule, regexes: &RegexClauses) -> Requirement {
    let mut clause: Clause = Vec::new();
    for needs in query.text_needs() {
        // A capture may be a comment: a query's literals count anywhere.
        let clauses = needs
            .iter()
            .filter_map(|need| match need {
                TextNeed::Regex(regex) => regexes.of(regex).map(|c| {
                    c.into_iter()
                        .map(|l| Literal {
                            exact_case: l.exact_case,
                            ..Literal::anywhere(&l.text)
                        })
                        .collect()
                }),
                // `#eq?` and `#any-of?` compare exactly.
                TextNeed::OneOf(texts) => Some(
                    texts
                        .iter()
                        .map(|t| Literal {
                            exact_case: true,
                            ..Literal::anywhere(t)
                        })
                        .collect(),
                ),
            })
            .collect();
        match best_clause(clauses) {
            Some(c) => clause.extend(c),
            None => return Requirement::default(),
        }
    }
    let clause = simplify(clause);
    if !usable(&clause) {
        return Requirement::default();
    }
    Requirement {
        clauses: vec![clause],
    }
}

/// A clause in order, without repeats or literals that imply another of its literals
/// (which add nothing to the disjunction; see [`Literal::implies`]).
fn simplify(mut clause: Clause) -> Clause {
    for literal in &mut clause {
        literal.drop_vacuous_edges();
    }
    clause.sort();
    clause.dedup();
    let all = clause.clone();
    clause.retain(|l| !all.iter().any(|o| o != l && l.implies(o)));
    clause
}

/// Requirements of a rule object, and the metavariables all its matches bind.
#[derive(Default)]
struct Derived {
    clauses: Vec<Clause>,
    bound: HashSet<Arc<str>>,
}

/// What deriving a rule's requirement needs besides the rule.
struct Derive<'a> {
    info: &'static LangInfo,
    utils: &'a [Rule],
    scope: Scope,
    regexes: &'a RegexClauses,
}

impl Derive<'_> {
    /// What `rule` requires. `outside_strings`: the node it is matched at is known to be
    /// no part of a string's text (it hangs in a field, or is of a kind that is not a
    /// string fragment), so it starts and ends outside strings' texts.
    fn derive(&self, rule: &Rule, outside_strings: bool, depth: u32) -> Derived {
        if depth > MAX_DEPTH {
            return Derived::default();
        }
        match rule {
            Rule::Pattern(p) => {
                let info = self.info;
                Derived {
                    clauses: p
                        .literals()
                        .into_iter()
                        .map(|(text, kind)| {
                            // A terminal is a whole node of its kind, compared exactly: one
                            // that is no comment lies outside comments, and one that is no
                            // string fragment outside strings' texts.
                            let known = kind != ERROR_KIND;
                            vec![Literal {
                                text: text.into(),
                                in_code: known && !info.is_comment_kind(kind),
                                outside_strings: known && !info.may_be_string_text(kind),
                                starts_node: true,
                                ends_node: true,
                                exact_case: true,
                            }]
                        })
                        .collect(),
                    bound: p.surely_bound().into_iter().collect(),
                }
            }
            Rule::Regex(re) => {
                let mut clauses: Vec<Clause> = self.regexes.of(re.as_str()).into_iter().collect();
                if outside_strings {
                    // What starts the node starts outside strings' texts; what ends it
                    // does too, unless it could reach back into one across a delimiter.
                    for literal in clauses.iter_mut().flatten() {
                        literal.outside_strings = literal.starts_node
                            || (literal.ends_node && !literal.text.contains(STRING_DELIMITERS));
                    }
                }
                Derived {
                    clauses,
                    bound: HashSet::new(),
                }
            }
            // A descendant lies within the node; every related node lies in the same file.
            // Strings' fragments hang in no field: a child in a field is none, though what
            // lies below it (`stopBy` beyond the neighbour) may be.
            Rule::Has(rel) => {
                let field_child = rel.field.is_some() && matches!(rel.stop_by, StopBy::Neighbor);
                self.derive(&rel.rule, field_child, depth + 1)
            }
            Rule::Inside(rel) | Rule::Precedes(rel) | Rule::Follows(rel) => match self.scope {
                Scope::File => self.derive(&rel.rule, false, depth + 1),
                Scope::Node => Derived::default(),
            },
            Rule::All(rules) => {
                let info = self.info;
                let plain_kind = |r: &Rule| {
                    matches!(r, Rule::Kind(kinds) if !kinds.is_empty()
                        && kinds.iter().all(|&k| k != ERROR_KIND && !info.may_be_string_text(k)))
                };
                let outside_strings = outside_strings || rules.iter().any(plain_kind);
                let mut out = Derived::default();
                for r in rules {
                    let d = self.derive(r, outside_strings, depth + 1);
                    out.clauses.extend(d.clauses);
                    out.bound.extend(d.bound);
                }
                out
            }
            Rule::Any(rules) => {
                let mut alternatives = Vec::with_capacity(rules.len());
                let mut bound: Option<HashSet<Arc<str>>> = None;
                for r in rules {
                    let d = self.derive(r, outside_strings, depth + 1);
                    bound = Some(match bound {
                        None => d.bound,
                        Some(b) => b.intersection(&d.bound).cloned().collect(),
                    });
                    alternatives.push(d.clauses);
                }
                Derived {
                    clauses: any_clauses(alternatives),
                    bound: bound.unwrap_or_default(),
                }
            }
            Rule::Matches(i) => match self.utils.get(*i) {
                Some(util) => self.derive(util, outside_strings, depth + 1),
                None => Derived::default(),
            },
            Rule::Kind(_) | Rule::NthChild(_) | Rule::Range(_) | Rule::Not(_) => Derived::default(),
        }
    }
}

/// What a match of one of the alternatives requires, given what each requires (clauses
/// in conjunction). `(a ∧ b) ∨ c` is `(a ∨ c) ∧ (b ∨ c)`: every way of taking one clause
/// of each alternative gives a clause, as long as there are at most
/// [`MAX_ANY_CLAUSES`] ways; beyond that, one clause of the best clause of each. Keeping
/// every clause keeps each literal's say: `fetch($URL)` or `axios.create()` needs `fetch`
/// or `axios`, and `fetch` or `create` (common), not only the latter. An alternative that
/// requires nothing makes the whole require nothing; a joined clause that is too wide is
/// left out, which only weakens the requirement.
fn any_clauses(alternatives: Vec<Vec<Clause>>) -> Vec<Clause> {
    let alternatives: Vec<Vec<Clause>> = alternatives
        .into_iter()
        .map(|clauses| clauses.into_iter().filter(|c| usable(c)).collect())
        .collect();
    if alternatives.is_empty() || alternatives.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let ways = alternatives
        .iter()
        .try_fold(1usize, |ways, clauses| ways.checked_mul(clauses.len()))
        .filter(|&ways| ways <= MAX_ANY_CLAUSES);
    let joined: Vec<Clause> = match ways {
        Some(_) => alternatives
            .iter()
            .fold(vec![Vec::new()], |joined, clauses| {
                joined
                    .iter()
                    .flat_map(|partial| {
                        clauses.iter().map(move |clause| {
                            let mut next = partial.clone();
                            next.extend(clause.iter().cloned());
                            next
                        })
                    })
                    .collect()
            }),
        None => {
            let mut clause = Vec::new();
            for clauses in alternatives {
                clause.extend(best_clause(clauses).unwrap_or_default());
            }
            vec![clause]
        }
    };
    joined
        .into_iter()
        .map(simplify)
        .filter(|c| usable(c))
        .collect()
}

/// Whether a clause is worth scanning for: not empty, not too wide, no literal too short.
fn usable(clause: &[Literal]) -> bool {
    !clause.is_empty()
        && clause.len() <= MAX_CLAUSE_LITERALS
        && clause.iter().all(|l| l.text.len() >= MIN_LITERAL_BYTES)
}

/// The most selective usable clause. One that implies another (each of its literals
/// implies one of the other's) is preferred to it: `fetch` or `window.fetch`, each a whole
/// node, to `fetch` at a node's end. Then the one whose shortest literal is the longest;
/// then the one of fewest literals; then the one that says most of where its literals lie.
fn best_clause(clauses: Vec<Clause>) -> Option<Clause> {
    let clauses: Vec<Clause> = clauses.into_iter().filter(|c| usable(c)).collect();
    let implies = |a: &Clause, b: &Clause| a.iter().all(|l| b.iter().any(|o| l.implies(o)));
    let dominated = |b: &Clause| clauses.iter().any(|a| implies(a, b) && !implies(b, a));
    let undominated: Vec<&Clause> = clauses.iter().filter(|c| !dominated(c)).collect();
    undominated.into_iter().cloned().max_by_key(|c| {
        (
            c.iter().map(|l| l.text.len()).min().unwrap_or(0),
            usize::MAX - c.len(),
            c.iter()
                .map(|l| {
                    usize::from(l.in_code)
                        + usize::from(l.starts_node)
                        + usize::from(l.ends_node)
                        + usize::from(l.exact_case)
                })
                .sum::<usize>(),
        )
    })
}

/// Literals one of which every match of `pattern` contains, when there are few enough:
/// see [`required`]. `^(\w+\.)*(get|post)$` has no usable prefix but ends with `get` or
/// `post`; `^["'](hf_|sk-)\w+` starts with a quote but contains `hf_` or `sk-`.
fn regex_clause(pattern: &str) -> Option<Clause> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    // The automaton ignores ASCII case, so `(?i)token` needs one literal, not 32. A
    // regex whose classes have no upper-case ASCII letter to fold needs its literals in
    // exactly their case (a class that would fold, `[A-Z]`, may hold them in any).
    let mut folded = false;
    let hir_folded = fold_ascii_case(&hir, &mut folded);
    let mut clause = required(&hir_folded, Edges::default(), 0)?;
    let in_code = whole_text_without_comments(&hir);
    for literal in &mut clause {
        literal.in_code = in_code;
        literal.exact_case = !folded;
    }
    Some(simplify(clause))
}

/// Whether every text `hir` matches is the whole of a node's text and holds no comment:
/// it is anchored at both ends, and no match contains `/` or `#`, with which comments
/// start. Such a node is no comment and has none inside it, so what the regex requires
/// of it lies outside comments.
fn whole_text_without_comments(hir: &Hir) -> bool {
    let properties = hir.properties();
    properties.look_set_prefix().contains(Look::Start)
        && properties.look_set_suffix().contains(Look::End)
        && !may_match_any(hir, &['/', '#'], 0)
}

/// Whether some match of `hir` may contain one of `chars`.
fn may_match_any(hir: &Hir, chars: &[char], depth: u32) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(literal) => chars
            .iter()
            .any(|&c| u8::try_from(c).is_ok_and(|b| literal.0.contains(&b))),
        HirKind::Class(Class::Unicode(class)) => chars.iter().any(|&c| {
            class
                .ranges()
                .iter()
                .any(|r| r.start() <= c && c <= r.end())
        }),
        HirKind::Class(Class::Bytes(class)) => chars.iter().any(|&c| {
            u8::try_from(c).is_ok_and(|b| {
                class
                    .ranges()
                    .iter()
                    .any(|r| r.start() <= b && b <= r.end())
            })
        }),
        HirKind::Repetition(rep) => may_match_any(&rep.sub, chars, depth + 1),
        HirKind::Capture(capture) => may_match_any(&capture.sub, chars, depth + 1),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().any(|sub| may_match_any(sub, chars, depth + 1))
        }
    }
}

/// Whether a part of a regex starts (ends) where every match starts (ends) at the start
/// (end) of the text: after (before) a `^` (`$`) and nothing but other assertions.
#[derive(Debug, Clone, Copy, Default)]
struct Edges {
    start: bool,
    end: bool,
}

/// The most selective clause (see [`best_clause`]) that every match of `hir` satisfies:
/// the prefixes every match starts with, the suffixes every match ends with, or what a
/// part every match has (an element of a concatenation, a repetition of at least one)
/// requires; for an alternation, the best clause of each alternative, joined. `edges`
/// says whether `hir`'s matches start (end) the text: its parent's `^` (`$`) may have
/// been factored out of it, as in `^(?:a|b)`, which is how `^a|^b` is parsed.
fn required(hir: &Hir, edges: Edges, depth: u32) -> Option<Clause> {
    if depth > MAX_DEPTH {
        return None;
    }
    // A prefix after `^` starts the node's text; a suffix before `$` ends it.
    let properties = hir.properties();
    let starts_node = edges.start || properties.look_set_prefix().contains(Look::Start);
    let ends_node = edges.end || properties.look_set_suffix().contains(Look::End);
    let edges = Edges {
        start: starts_node,
        end: ends_node,
    };
    let affixes = |kind: ExtractKind| -> Option<Clause> {
        let (starts_node, ends_node) = match kind {
            ExtractKind::Prefix => (starts_node, false),
            _ => (false, ends_node),
        };
        let mut extractor = Extractor::new();
        extractor.kind(kind).limit_total(MAX_CLAUSE_LITERALS);
        let seq = extractor.extract(hir);
        let literals = seq.literals()?;
        let mut out = Vec::with_capacity(literals.len());
        for lit in literals {
            // A regex over text may only be required to contain text.
            let text = std::str::from_utf8(lit.as_bytes()).ok()?;
            if text.is_empty() {
                return None;
            }
            // An exact literal is a whole match: it has both of the match's edges.
            out.push(Literal {
                starts_node: starts_node || (lit.is_exact() && edges.start),
                ends_node: ends_node || (lit.is_exact() && edges.end),
                ..Literal::anywhere(text)
            });
        }
        (!out.is_empty()).then(|| simplify(out))
    };
    let mut candidates: Vec<Clause> = [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .filter_map(affixes)
        .collect();
    match hir.kind() {
        HirKind::Concat(subs) => {
            // A part keeps an edge when only assertions (which match no text) lie
            // between it and that edge.
            let assertion = |sub: &Hir| matches!(sub.kind(), HirKind::Look(_));
            let mut start = starts_node;
            let mut parts = Vec::with_capacity(subs.len());
            for (i, sub) in subs.iter().enumerate() {
                let end = ends_node && subs.get(i + 1..).is_some_and(|r| r.iter().all(assertion));
                parts.extend(required(sub, Edges { start, end }, depth + 1));
                start &= assertion(sub);
            }
            candidates.extend(parts);
        }
        HirKind::Capture(capture) => candidates.extend(required(&capture.sub, edges, depth + 1)),
        // A repetition of exactly one is its part; of more, the first starts where the
        // whole does and the last ends where it ends, but no one part is the whole.
        HirKind::Repetition(rep) if rep.min >= 1 => {
            let once = if rep.max == Some(1) {
                edges
            } else {
                Edges::default()
            };
            candidates.extend(required(&rep.sub, once, depth + 1));
        }
        HirKind::Alternation(subs) => {
            let mut joined = Vec::new();
            for sub in subs {
                joined.extend(required(sub, edges, depth + 1)?);
            }
            candidates.push(simplify(joined));
        }
        _ => {}
    }
    best_clause(candidates)
}

/// `hir` with the ASCII letters of its small classes in lower case, for an automaton that
/// ignores ASCII case: `(?i)k` is the class of `K`, `k` and the Kelvin sign, which becomes
/// `k` or the Kelvin sign, and `[rbuRBU]` becomes `[bru]`. Every text a match may contain
/// is still found, and `(?i)token` needs one literal, not 32. Sets `folded` when a class
/// had an upper-case ASCII letter.
fn fold_ascii_case(hir: &Hir, folded: &mut bool) -> Hir {
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            let mut chars: Vec<char> = Vec::new();
            for range in class.ranges() {
                if (range.end() as u32 - range.start() as u32) >= 32 || chars.len() >= 32 {
                    return hir.clone();
                }
                chars.extend((range.start()..=range.end()).map(|c| {
                    *folded |= c.is_ascii_uppercase();
                    c.to_ascii_lowercase()
                }));
            }
            chars.sort_unstable();
            chars.dedup();
            match chars.as_slice() {
                [c] => Hir::literal(c.to_string().into_bytes()),
                _ => Hir::class(Class::Unicode(ClassUnicode::new(
                    chars.iter().map(|&c| ClassUnicodeRange::new(c, c)),
                ))),
            }
        }
        // Left as they are (the extractor spells each byte out), but their literals are
        // no more in one exact case than those of a folded class.
        HirKind::Class(Class::Bytes(class)) => {
            *folded |= class
                .ranges()
                .iter()
                .any(|r| (r.start()..=r.end()).any(|b| b.is_ascii_uppercase()));
            hir.clone()
        }
        HirKind::Concat(subs) => {
            Hir::concat(subs.iter().map(|s| fold_ascii_case(s, folded)).collect())
        }
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.iter().map(|s| fold_ascii_case(s, folded)).collect())
        }
        HirKind::Capture(capture) => Hir::capture(Capture {
            index: capture.index,
            name: capture.name.clone(),
            sub: Box::new(fold_ascii_case(&capture.sub, folded)),
        }),
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            min: rep.min,
            max: rep.max,
            greedy: rep.greedy,
            sub: Box::new(fold_ascii_case(&rep.sub, folded)),
        }),
        _ => hir.clone(),
    }
}

/// One language's rules' requirements, compiled into one automaton.
#[derive(Debug)]
pub struct Prefilter {
    lang: Lang,
    automaton: Option<LiteralScan>,
    /// Per literal id: its length in bytes.
    lengths: Vec<u32>,
    /// Per literal id: whether only its occurrences outside comments count (every rule
    /// that requires it requires it in code).
    in_code: Vec<bool>,
    /// Per literal id: whether only its occurrences that start outside strings' texts
    /// count (every rule that requires it requires it there).
    outside_strings: Vec<bool>,
    /// Per literal id: whether only its occurrences where a token may start, and where
    /// one may end, count (every rule that requires it requires it there).
    bounded: Vec<(bool, bool)>,
    /// Per literal id: the case in which only its occurrences count, when every rule
    /// that requires it requires it in the same exact case.
    exact: Vec<Option<Box<str>>>,
    /// Per rule: its clauses as literal ids.
    rules: Vec<Vec<Vec<u32>>>,
    /// The distinct clauses of the rules' [`local_requirement`]s, as literal ids.
    anchor_clauses: Vec<Vec<u32>>,
    /// Per rule: the clauses of its local requirement, as indices into `anchor_clauses`.
    anchors: Vec<Vec<u32>>,
    /// Per literal id: whether lexing the text may rule out some of its occurrences (it
    /// counts only in code, or only where a token may start or end).
    lexable: Vec<bool>,
    /// Per literal id: whether a scan records where it occurs (it is in some anchor, or
    /// lexable).
    recorded: Vec<bool>,
}

/// The literals of the requirements, numbered as they come: the automaton ignores ASCII
/// case, so they are kept in lower case, and a text is one literal, in code (or starting
/// or ending a node, or in an exact case) only if every use of it says so.
#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    texts: Vec<Box<str>>,
    in_code: Vec<bool>,
    outside_strings: Vec<bool>,
    bounded: Vec<(bool, bool)>,
    exact: Vec<Option<Box<str>>>,
}

impl Interner {
    fn id(&mut self, literal: &Literal) -> u32 {
        let text: Box<str> = literal.text.to_ascii_lowercase().into();
        let id = *self.ids.entry(text.clone()).or_insert_with(|| {
            self.texts.push(text);
            self.in_code.push(true);
            self.outside_strings.push(true);
            self.bounded.push((true, true));
            self.exact.push(Some(literal.text.clone()));
            (self.texts.len() - 1) as u32
        });
        if let Some(in_code) = self.in_code.get_mut(id as usize) {
            *in_code &= literal.in_code;
        }
        if let Some(outside) = self.outside_strings.get_mut(id as usize) {
            *outside &= literal.outside_strings;
        }
        if let Some((starts, ends)) = self.bounded.get_mut(id as usize) {
            *starts &= literal.starts_node;
            *ends &= literal.ends_node;
        }
        if let Some(exact) = self.exact.get_mut(id as usize)
            && !(literal.exact_case && exact.as_ref() == Some(&literal.text))
        {
            *exact = None;
        }
        id
    }

    /// Each requirement's clauses as literal ids.
    fn clauses(&mut self, requirements: &[Requirement]) -> Vec<Vec<Vec<u32>>> {
        requirements
            .iter()
            .map(|req| {
                req.clauses
                    .iter()
                    .map(|clause| {
                        let mut clause: Vec<u32> = clause.iter().map(|l| self.id(l)).collect();
                        clause.sort_unstable();
                        clause.dedup();
                        clause
                    })
                    .collect()
            })
            .collect()
    }
}

/// What one pass of the automaton found in a file's text.
#[derive(Debug)]
pub struct Scan {
    /// Per literal id: whether it occurs (outside comments, for those only code counts).
    present: Vec<bool>,
    /// Per literal id: the byte offsets where it starts, for the recorded literals, in no
    /// particular order (the scan's runs interleave); `None` when the text was too long to
    /// record offsets in 32 bits.
    starts: Option<Vec<Vec<u32>>>,
}

impl Prefilter {
    /// Builds the automaton for the `requirements` and `locals` of the rules of `lang`
    /// (one of each per rule, in rule order; see [`requirement`] and
    /// [`local_requirement`]).
    pub fn new(lang: Lang, requirements: &[Requirement], locals: &[Requirement]) -> Prefilter {
        let mut interner = Interner::default();
        let rules = interner.clauses(requirements);
        let mut clause_ids: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut anchor_clauses: Vec<Vec<u32>> = Vec::new();
        let anchors: Vec<Vec<u32>> = interner
            .clauses(locals)
            .into_iter()
            .map(|clauses| {
                clauses
                    .into_iter()
                    .map(|clause| {
                        *clause_ids.entry(clause.clone()).or_insert_with(|| {
                            anchor_clauses.push(clause);
                            (anchor_clauses.len() - 1) as u32
                        })
                    })
                    .collect()
            })
            .collect();
        let Interner {
            texts,
            mut in_code,
            mut outside_strings,
            bounded,
            exact,
            ..
        } = interner;
        // Without a lexer, occurrences in comments and anywhere in strings count.
        let lexable: Vec<bool> = if lexical::lexed(lang) {
            (0..texts.len())
                .map(|id| {
                    let (starts, ends) = bounded.get(id).copied().unwrap_or_default();
                    in_code.get(id).copied().unwrap_or(false)
                        || outside_strings.get(id).copied().unwrap_or(false)
                        || starts
                        || ends
                })
                .collect()
        } else {
            in_code.fill(false);
            outside_strings.fill(false);
            vec![false; in_code.len()]
        };
        // Building can only fail on limits far beyond any playbook; without an automaton
        // every rule runs at every node of its kinds, which is always correct.
        let automaton = LiteralScan::new(&texts.iter().map(|l| l.as_bytes()).collect::<Vec<_>>());
        let mut recorded = lexable.clone();
        for id in anchor_clauses.iter().flatten() {
            recorded[*id as usize] = true;
        }
        Prefilter {
            lang,
            bounded,
            exact,
            lengths: texts.iter().map(|l| l.len() as u32).collect(),
            in_code,
            outside_strings,
            lexable,
            automaton,
            rules,
            anchor_clauses,
            anchors,
            recorded,
        }
    }

    /// Whether no rule has a requirement (the scan would be wasted).
    pub fn is_trivial(&self) -> bool {
        self.automaton.is_none()
    }

    /// Whether rule `rule` has a local requirement, so that [`Prefilter::anchor`] can
    /// name the places its matches must cover.
    pub fn is_anchored(&self, rule: usize) -> bool {
        self.automaton.is_some() && self.anchors.get(rule).is_some_and(|a| !a.is_empty())
    }

    /// One pass over `text`: which literals occur, and where the recorded ones start.
    /// An occurrence of a literal that starts (ends) a node counts only where a token may
    /// start (end), and one of a literal in exact case only in that case. `None` without
    /// an automaton.
    pub fn scan(&self, text: &str) -> Option<Scan> {
        let automaton = self.automaton.as_ref()?;
        let count = self.lengths.len();
        let mut present = vec![false; count];
        let mut starts = (text.len() < u32::MAX as usize && self.recorded.iter().any(|r| *r))
            .then(|| vec![Vec::new(); count]);
        let mut found = 0usize;
        let bytes = text.as_bytes();
        automaton.for_each(bytes, |id, start| {
            let (starts_node, ends_node) = self.bounded.get(id).copied().unwrap_or_default();
            let end = start + self.lengths.get(id).copied().unwrap_or(0) as usize;
            if (starts_node && !lexical::may_split(bytes, start))
                || (ends_node && !lexical::may_split(bytes, end))
                || self.exact.get(id).is_some_and(|exact| {
                    exact
                        .as_ref()
                        .is_some_and(|e| bytes.get(start..end) != Some(e.as_bytes()))
                })
            {
                return ControlFlow::Continue(());
            }
            if let Some(starts) = starts.as_mut()
                && self.recorded.get(id).copied().unwrap_or(false)
                && let Some(at) = starts.get_mut(id)
            {
                at.push(start as u32);
            }
            if let Some(slot) = present.get_mut(id)
                && !*slot
            {
                *slot = true;
                found += 1;
                // Without offsets to record, the scan is done once everything is found.
                if found == count && starts.is_none() {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        Some(Scan { present, starts })
    }

    /// Forgets the occurrences that lexing `text` rules out: those in comments of the
    /// literals that count only in code; those starting in a string's text of the
    /// literals that count only outside strings; and those within a string's text, where
    /// no token may start (end), of the literals that start (end) a node. Whether any
    /// was forgotten.
    fn drop_lexed(&self, text: &str, scan: &mut Scan) -> bool {
        let Some(starts) = scan.starts.as_mut() else {
            return false;
        };
        let bytes = text.as_bytes();
        let lexed = Lexed::of(self.lang, bytes);
        if lexed.is_empty() {
            return false;
        }
        let mut dropped = false;
        for (id, (present, starts)) in scan.present.iter_mut().zip(starts.iter_mut()).enumerate() {
            if !*present || !self.lexable.get(id).copied().unwrap_or(false) {
                continue;
            }
            let in_code = self.in_code.get(id).copied().unwrap_or(false);
            let outside_strings = self.outside_strings.get(id).copied().unwrap_or(false);
            let (starts_node, ends_node) = self.bounded.get(id).copied().unwrap_or_default();
            let len = self.lengths.get(id).copied().unwrap_or(0);
            let before = starts.len();
            starts.retain(|&start| {
                let end = start.saturating_add(len) as usize;
                let ruled_out = (in_code && lexed.in_comment(start))
                    || (outside_strings && lexed.in_string(start))
                    || (starts_node && !lexed.may_split(bytes, start as usize))
                    || (ends_node && !lexed.may_split(bytes, end));
                !ruled_out
            });
            dropped |= starts.len() < before;
            *present = !starts.is_empty();
        }
        dropped
    }

    /// Whether the scanned text meets every clause of `clauses` (literal ids), counting
    /// no lexable literal when `without_lexable` is set.
    fn meets(&self, scan: &Scan, clauses: &[Vec<u32>], without_lexable: bool) -> bool {
        clauses.iter().all(|clause| {
            clause.iter().any(|&id| {
                let id = id as usize;
                scan.present.get(id).copied().unwrap_or(true)
                    && !(without_lexable && self.lexable.get(id).copied().unwrap_or(false))
            })
        })
    }

    /// Marks `runs[i] = false` for each rule `i` whose requirement the scanned `text`
    /// does not meet. Rules already marked false stay false. Returns how many rules it
    /// turned off.
    ///
    /// Lexable literals (those that count only in code, or only at a token's edge) are
    /// first taken wherever the scan found them. Only when every rule left to run needs
    /// one of them is the text lexed, and their occurrences that it rules out forgotten,
    /// as then the file may not need parsing at all; a file that is parsed anyway is not
    /// lexed. So `scan` may keep such occurrences, which only makes more places to try.
    pub fn filter(&self, text: &str, scan: &mut Scan, runs: &mut [bool]) -> usize {
        let before = runs.iter().filter(|r| **r).count();
        let turn_off = |scan: &Scan, runs: &mut [bool]| {
            for (run, clauses) in runs.iter_mut().zip(&self.rules) {
                *run = *run && self.meets(scan, clauses, false);
            }
        };
        turn_off(scan, runs);
        let parsed_anyway = runs
            .iter()
            .zip(&self.rules)
            .any(|(run, clauses)| *run && self.meets(scan, clauses, true));
        if !parsed_anyway && runs.iter().any(|r| *r) && self.drop_lexed(text, scan) {
            turn_off(scan, runs);
        }
        before - runs.iter().filter(|r| **r).count()
    }

    /// The byte ranges of the text that every match of rule `rule` must cover one of, in
    /// order: the [`Prefilter::places`] of its [`Prefilter::rarest_clause`].
    /// `None` when the rule has no local requirement or the scan recorded no offsets.
    pub fn anchor(&self, scan: &Scan, rule: usize) -> Option<Vec<(u32, u32)>> {
        self.places(scan, self.rarest_clause(scan, rule)?)
    }

    /// How many distinct clauses the rules' local requirements have: the bound on the
    /// clause numbers of [`Prefilter::rarest_clause`].
    pub fn clause_count(&self) -> usize {
        self.anchor_clauses.len()
    }

    /// The clause of rule `rule`'s local requirement whose literals occur least in the
    /// scanned text, by number: rules with the same clause have the same places. `None`
    /// when the rule has no local requirement or the scan recorded no offsets.
    pub fn rarest_clause(&self, scan: &Scan, rule: usize) -> Option<u32> {
        let starts = scan.starts.as_ref()?;
        self.anchors.get(rule)?.iter().copied().min_by_key(|&c| {
            occurrences(
                starts,
                self.anchor_clauses
                    .get(c as usize)
                    .map_or(&[][..], Vec::as_slice),
            )
        })
    }

    /// The byte ranges where the literals of clause number `clause` occur in the scanned
    /// text, in order. `None` when the scan recorded no offsets or there is no such clause.
    pub fn places(&self, scan: &Scan, clause: u32) -> Option<Vec<(u32, u32)>> {
        let starts = scan.starts.as_ref()?;
        let clause = self.anchor_clauses.get(clause as usize)?;
        let mut out = Vec::with_capacity(occurrences(starts, clause));
        for &id in clause {
            let len = self.lengths.get(id as usize).copied().unwrap_or(0);
            for &start in starts.get(id as usize).map_or(&[][..], Vec::as_slice) {
                out.push((start, start.saturating_add(len)));
            }
        }
        out.sort_unstable();
        Some(out)
    }
}

/// How many times the literals of `clause` (literal ids) occur, by the scan's `starts`.
fn occurrences(starts: &[Vec<u32>], clause: &[u32]) -> usize {
    clause
        .iter()
        .map(|&id| starts.get(id as usize).map_or(0, Vec::len))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::{SourceFile, playbook_from_files};

    /// The one rule of a rule file, compiled.
    fn compiled(yaml: &str) -> Arc<crate::compile::CompiledRule> {
        let files = vec![SourceFile {
            rel_path: "rule.yml".into(),
            display: "rule.yml".into(),
            text: yaml.into(),
        }];
        let outcome = match playbook_from_files("test", files) {
            Ok(o) => o,
            Err(e) => panic!("load: {e}"),
        };
        if let Some(e) = outcome.errors.first() {
            panic!("compile: {e}");
        }
        match outcome.playbook.rules.first() {
            Some(rule) => rule.clone(),
            None => panic!("no rule"),
        }
    }

    fn req(yaml: &str) -> Vec<Vec<String>> {
        req_literals(yaml)
            .into_iter()
            .map(|c| c.into_iter().map(|l| String::from(l.text)).collect())
            .collect()
    }

    fn req_literals(yaml: &str) -> Vec<Vec<Literal>> {
        let rule = compiled(yaml);
        let Some(lr) = rule.per_lang.first() else {
            panic!("no language")
        };
        requirement(lr, &super::RegexClauses::new()).clauses
    }

    /// The requirement's literals as their text, then `@code` when they count only in
    /// code, `@start` and `@end` when they start and end a node.
    fn req_marked(yaml: &str) -> Vec<Vec<String>> {
        req_literals(yaml)
            .into_iter()
            .map(|c| {
                c.into_iter()
                    .map(|l| {
                        let mut out = String::from(l.text);
                        for (flag, mark) in [
                            (l.in_code, "@code"),
                            (l.starts_node, "@start"),
                            (l.ends_node, "@end"),
                        ] {
                            if flag {
                                out.push_str(mark);
                            }
                        }
                        out
                    })
                    .collect()
            })
            .collect()
    }

    fn strings(clauses: &[&[&str]]) -> Vec<Vec<String>> {
        clauses
            .iter()
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    /// A rule for two languages asks the same regex twice per scope: the shared memory
    /// answers as fresh derivations do, and holds the regex once.
    #[test]
    fn regex_clauses_are_remembered_across_languages_and_scopes() {
        let rule = compiled(
            "id: a\nlanguages: [typescript, javascript]\nrule:\n  kind: identifier\n  regex: ^(apiKey|secretToken)$\n",
        );
        assert_eq!(rule.per_lang.len(), 2);
        let shared = RegexClauses::new();
        for lr in &rule.per_lang {
            let fresh = (
                requirement(lr, &RegexClauses::new()),
                local_requirement(lr, &RegexClauses::new()),
            );
            let remembered = (requirement(lr, &shared), local_requirement(lr, &shared));
            assert_eq!(remembered, fresh);
            let texts: Vec<&str> = fresh.0.clauses.iter().flatten().map(|l| &*l.text).collect();
            assert_eq!(texts, ["apiKey", "secretToken"]);
        }
        assert_eq!(shared.known.borrow().len(), 1);
    }

    #[test]
    fn patterns_require_their_named_terminals() {
        let got = req("id: a\nlanguage: python\nrule:\n  pattern: os.system($CMD)\n");
        assert_eq!(got, strings(&[&["os"], &["system"]]));
    }

    #[test]
    fn signature_strictness_requires_nothing() {
        let got = req(
            "id: a\nlanguage: python\nrule:\n  pattern:\n    context: os.system($CMD)\n    strictness: signature\n",
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn any_joins_the_best_clause_of_each_alternative() {
        let got = req(
            "id: a\nlanguage: javascript\nrule:\n  any:\n    - pattern: eval($A)\n    - pattern: new Function($$$)\n",
        );
        assert_eq!(got, strings(&[&["Function", "eval"]]));
        // One alternative without literals: nothing can be required.
        let got = req(
            "id: a\nlanguage: javascript\nrule:\n  any:\n    - pattern: eval($A)\n    - kind: debugger_statement\n",
        );
        assert!(got.is_empty(), "{got:?}");
    }

    /// `fetch($U)` or `axios.create()`: `fetch` or `axios`, and `fetch` or `create`; not
    /// only the second clause, whose `create` is in nearly every file.
    #[test]
    fn any_keeps_every_clause_of_its_alternatives() {
        let got = req(
            "id: a\nlanguage: javascript\nrule:\n  any:\n    - pattern: fetch($U)\n    - pattern: axios.create($$$A)\n",
        );
        assert_eq!(got, strings(&[&["axios", "fetch"], &["create", "fetch"]]));
        // More ways than MAX_ANY_CLAUSES (3 x 3 x 3): the best clause of each, joined.
        let got = req(
            "id: a\nlanguage: javascript\nrule:\n  any:\n    - pattern: aa.bbbb.cc($$$A)\n    - pattern: dd.eeee.ff($$$A)\n    - pattern: gg.hhhh.ii($$$A)\n",
        );
        assert_eq!(got, strings(&[&["bbbb", "eeee", "hhhh"]]));
    }

    #[test]
    fn alternatives_sharing_literals_count_them_once() {
        let words: Vec<String> = (0..40).map(|i| format!("word{i:02}x")).collect();
        let regex = format!("^({})$", words.join("|"));
        let got = req(&format!(
            "id: a\nlanguage: python\nrule:\n  any:\n    - kind: call\n      regex: {regex}\n    - kind: attribute\n      regex: {regex}\n"
        ));
        // 80 literals before repeats are dropped, over the limit of 64; 40 after.
        assert_eq!(got, vec![words]);
    }

    #[test]
    fn not_requires_nothing_but_relations_do() {
        let got = req(
            "id: a\nlanguage: javascript\nrule:\n  kind: call_expression\n  not:\n    has:\n      pattern: secret\n",
        );
        assert!(got.is_empty(), "{got:?}");
        let got = req(
            "id: a\nlanguage: javascript\nrule:\n  kind: call_expression\n  inside:\n    stopBy: end\n    pattern: useEffect($$$)\n",
        );
        assert_eq!(got, strings(&[&["useEffect"]]));
    }

    #[test]
    fn regexes_require_their_prefixes() {
        let got = req("id: a\nlanguage: python\nrule:\n  regex: ^(md5|sha1)\\(\n");
        assert_eq!(got, strings(&[&["md5(", "sha1("]]));
        // Case-insensitive: one literal for the automaton, which ignores ASCII case...
        let got = req("id: a\nlanguage: python\nrule:\n  regex: (?i)pw\n");
        assert_eq!(got, strings(&[&["pw"]]));
        // ...but not the Kelvin sign (`k`) or the long s (`s`) Unicode folding adds.
        let got = req("id: a\nlanguage: python\nrule:\n  regex: (?i)^ks\n");
        assert_eq!(
            got,
            strings(&[&["ks", "k\u{17f}", "\u{212a}s", "\u{212a}\u{17f}"]])
        );
        // A regex that may start anywhere still ends with its suffixes.
        let got = req("id: a\nlanguage: python\nrule:\n  regex: .*secret\n");
        assert_eq!(got, strings(&[&["secret"]]));
        // The whole of a node (`email`, `objects`) or its end after a dot (`.email`):
        // tighter than `email` or `out` at its end, which it implies.
        let got = req_marked(
            "id: a\nlanguage: python\nrule:\n  regex: ^((\\w+\\.)*(out|email)|objects)$\n",
        );
        assert_eq!(
            got,
            strings(&[&[
                ".email@end",
                ".out@end",
                "email@start@end",
                "objects@start@end",
                "out@start@end"
            ]])
        );
        // Neither end fixed: what the middle requires.
        let got = req("id: a\nlanguage: python\nrule:\n  regex: \\w+secret\\w+\n");
        assert_eq!(got, strings(&[&["secret"]]));
        let got =
            req("id: a\nlanguage: python\nrule:\n  regex: ^[rbRB]?[\"'](hf_|sk-|(?i:akia))\\w+\n");
        // (The quote and what follows it are longer than the middle alone: preferred.)
        assert_eq!(
            got,
            strings(&[&[
                "\"akia",
                "\"a\u{212a}ia",
                "\"hf_",
                "\"sk-",
                "'akia",
                "'a\u{212a}ia",
                "'hf_",
                "'sk-"
            ]])
        );
        // Nothing fixed anywhere: nothing is required.
        let got = req("id: a\nlanguage: python\nrule:\n  regex: ^\\w+(\\.\\w+)*$\n");
        assert!(got.is_empty(), "{got:?}");
        let got = req("id: a\nlanguage: python\nrule:\n  regex: (secret|\\d+)x?\n");
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn constraints_count_when_the_metavariable_is_always_bound() {
        let got = req(
            "id: a\nlanguage: python\nrule:\n  pattern: $F($$$)\nconstraints:\n  F:\n    regex: ^(eval|exec)$\n",
        );
        assert_eq!(got, strings(&[&["eval", "exec"]]));
        // $$$ARGS is not a single node: its constraint says nothing.
        let got = req(
            "id: a\nlanguage: python\nrule:\n  pattern: run($$$ARGS)\nconstraints:\n  ARGS:\n    regex: ^token\n",
        );
        assert_eq!(got, strings(&[&["run"]]));
    }

    #[test]
    fn the_automaton_turns_off_rules_whose_literals_are_absent() {
        let any = Literal::anywhere;
        let requirements = vec![
            Requirement {
                clauses: vec![vec![any("eval")], vec![any("input")]],
            },
            Requirement {
                clauses: vec![vec![any("exec"), any("eval")]],
            },
            Requirement::default(),
        ];
        let filter = Prefilter::new(Lang::Python, &requirements, &[]);
        let run = |text: &str, runs: &mut [bool]| match filter.scan(text) {
            Some(mut scan) => filter.filter(text, &mut scan, runs),
            None => panic!("no automaton"),
        };
        let mut runs = vec![true; 3];
        assert_eq!(run("x = eval(y)", &mut runs), 1);
        assert_eq!(runs, [false, true, true]);
        let mut runs = vec![true; 3];
        assert_eq!(run("eval(input())", &mut runs), 0);
        assert_eq!(runs, [true, true, true]);
        let mut runs = vec![true, false, true];
        assert_eq!(run("nothing here", &mut runs), 1);
        assert_eq!(runs, [false, false, true]);
        // ASCII case is ignored: a superset of the occurrences, never fewer.
        let mut runs = vec![true; 3];
        assert_eq!(run("EVAL(Input)", &mut runs), 0);
        assert_eq!(runs, [true, true, true]);
    }

    #[test]
    fn pattern_terminals_are_code_and_query_literals_are_not() {
        let got = req_marked("id: a\nlanguage: javascript\nrule:\n  pattern: console.log($A)\n");
        assert_eq!(
            got,
            strings(&[&["console@code@start@end"], &["log@code@start@end"]])
        );
        let got = req_marked(
            "id: a\nlanguage: javascript\nquery: |\n  ((identifier) @i (#eq? @i \"console\")) @match\n",
        );
        assert_eq!(got, strings(&[&["console"]]));
    }

    /// A regex counts in code only when it spans the node's whole text and no match can
    /// hold a comment.
    #[test]
    fn regexes_over_whole_comment_free_texts_are_code() {
        let got = req_marked("id: a\nlanguage: javascript\nrule:\n  regex: ^(window\\.)?fetch$\n");
        assert_eq!(
            got,
            strings(&[&["fetch@code@start@end", "window.fetch@code@start@end"]])
        );
        for regex in [
            "fetch$",
            "^fetch",
            "^fetch.*$",
            "^(fetch|/x)$",
            "^fetch[^a]$",
        ] {
            let got = req_marked(&format!(
                "id: a\nlanguage: javascript\nrule:\n  regex: '{regex}'\n"
            ));
            let marked: Vec<&String> = got
                .iter()
                .flatten()
                .filter(|l| l.ends_with("@code"))
                .collect();
            assert!(!got.is_empty() && marked.is_empty(), "{regex}: {got:?}");
        }
    }

    /// In a disjunction, a literal in code that contains another literal in code adds
    /// nothing; one counted anywhere is not implied by a literal in code.
    #[test]
    fn literals_in_code_imply_only_what_they_can() {
        let code = |t: &str| Literal {
            in_code: true,
            ..Literal::anywhere(t)
        };
        let any = Literal::anywhere;
        assert_eq!(
            simplify(vec![code("fetchAll"), code("fetch")]),
            [code("fetch")]
        );
        assert_eq!(
            simplify(vec![any("fetchAll"), code("fetch")]),
            [code("fetch"), any("fetchAll")]
        );
        assert_eq!(
            simplify(vec![code("fetchAll"), any("fetch")]),
            [any("fetch")]
        );
        assert_eq!(simplify(vec![code("fetch"), any("fetch")]), [any("fetch")]);
    }

    /// A literal outside strings implies what it contains only when it cannot run from
    /// outside a string into its text.
    #[test]
    fn literals_outside_strings_imply_only_what_they_can() {
        let outside = |t: &str| Literal {
            outside_strings: true,
            ..Literal::anywhere(t)
        };
        assert_eq!(
            simplify(vec![outside("fetchAll"), outside("fetch")]),
            [outside("fetch")]
        );
        // `x}abc` may run from a substitution into a template's text, where `abc` is.
        for text in ["x}abc", "x\"abc", "x`abc"] {
            assert_eq!(
                simplify(vec![outside(text), outside("abc")]).len(),
                2,
                "{text}"
            );
        }
        assert_eq!(
            simplify(vec![outside("x}abc"), Literal::anywhere("abc")]),
            [Literal::anywhere("abc")]
        );
    }

    /// A literal counted in code is not found in comments, where the lexer is sure of
    /// them; anywhere else (and a literal counted anywhere) it is.
    #[test]
    fn literals_in_code_are_not_found_in_comments() {
        let code = |t: &str| Literal {
            in_code: true,
            ..Literal::anywhere(t)
        };
        let in_code = Requirement {
            clauses: vec![vec![code("console")]],
        };
        let anywhere = Requirement {
            clauses: vec![vec![Literal::anywhere("fetch")]],
        };
        let runs = runs_all;
        let js = Lang::JavaScript;
        let both = [in_code.clone(), anywhere.clone()];
        let one = std::slice::from_ref(&in_code);
        assert_eq!(runs(js, one, "// console.log(1)\nlet a = 1;"), [false]);
        assert_eq!(runs(js, one, "/** Console output */ f();"), [false]);
        assert_eq!(runs(js, one, "let s = '// no'; console.log(s);"), [true]);
        assert_eq!(runs(js, one, "x = \"/*\"; console.log(1); // */"), [true]);
        assert_eq!(runs(js, &[anywhere], "// fetch\n"), [true]);
        // Where the lexer stops (`/` may divide or start a regex), the rest counts as code.
        assert_eq!(runs(js, one, "if (a) /re/.test(b); // console"), [true]);
        // No lexer for Python: its comments count.
        assert_eq!(runs(Lang::Python, one, "# console\n"), [true]);
        // A file parsed anyway for another rule is not lexed: the rule in code stays on.
        assert_eq!(runs(js, &both, "// console\nfetch(u);"), [true, true]);
        assert_eq!(runs(js, &both, "// console\n"), [false, false]);
    }

    /// A regex's prefix after `^` starts the node, its suffix before `$` ends it, and a
    /// whole match (an exact literal) does both; the best clause prefers saying so. The
    /// anchors of alternatives count even where the parser factors them out (`^a|^b` is
    /// `^(?:a|b)`).
    #[test]
    fn anchored_affixes_start_and_end_nodes() {
        let marked = |regex: &str| {
            req_marked(&format!(
                "id: a\nlanguage: javascript\nrule:\n  kind: identifier\n  regex: '{regex}'\n"
            ))
        };
        assert_eq!(
            marked("^got(\\.(get|post))?$"),
            strings(&[&[
                "got@code@start@end",
                "got.get@code@start@end",
                "got.post@code@start@end"
            ]])
        );
        assert_eq!(
            marked("^(window\\.)?fetch$"),
            strings(&[&["fetch@code@start@end", "window.fetch@code@start@end"]])
        );
        assert_eq!(
            marked("^axios(\\.[a-z]+)?$|^got\\b|^ky\\..+$"),
            strings(&[&["axios@start@end", "axios.@start", "got@start", "ky.@start"]])
        );
        // One of several repetitions is not the whole match.
        let got = marked("^(?:ab)+$");
        assert!(
            got == strings(&[&["ab@code@start"]]) || got == strings(&[&["ab@code@end"]]),
            "{got:?}"
        );
        assert_eq!(marked("^(?:ab){1}$"), strings(&[&["ab@code@start@end"]]));
        assert_eq!(
            marked("^(axios|got)\\.[a-z]+$|^xy$"),
            strings(&[&["axios.@code@start", "got.@code@start", "xy@code@start@end"]])
        );
        assert_eq!(marked("^fetch"), strings(&[&["fetch@start"]]));
        assert_eq!(marked("fetch$"), strings(&[&["fetch@end"]]));
        assert_eq!(marked("(?m)^fetch"), strings(&[&["fetch"]]));
        // Python's comments are not lexed here, but its tokens have edges too.
        let got = req_marked("id: a\nlanguage: python\nrule:\n  regex: ^fetch$\n");
        assert_eq!(got, strings(&[&["fetch@start@end"]]));
        // An edge next to a quote tells nothing: `"hf_` needs no word before it.
        let got = req_marked("id: a\nlanguage: python\nrule:\n  regex: ^[rb]?\"hf_\n");
        assert_eq!(got, strings(&[&["\"hf_"]]));
    }

    /// An occurrence of a literal that starts (ends) a node counts only where a token may
    /// start (end): not next to a letter, digit or `_`, unless after an escape sequence.
    #[test]
    fn literals_at_node_edges_count_only_at_token_edges() {
        let starts = Requirement {
            clauses: vec![vec![Literal {
                starts_node: true,
                ..Literal::anywhere("got")
            }]],
        };
        let ends = Requirement {
            clauses: vec![vec![Literal {
                ends_node: true,
                ..Literal::anywhere("fetch")
            }]],
        };
        let runs = runs_on;
        let js = Lang::JavaScript;
        assert!(!runs(js, &starts, "forgot(); negotiate();"));
        assert!(runs(js, &starts, "got.get(u)"));
        assert!(runs(js, &starts, "x = GoTo;"), "ASCII case is ignored");
        assert!(
            runs(js, &starts, "s = '\\ngot'"),
            "after an escape sequence"
        );
        assert!(
            runs(js, &starts, "s = '\\u0041got'"),
            "after an escape sequence"
        );
        assert!(!runs(js, &ends, "prefetchingData(); fetch_all();"));
        assert!(runs(js, &ends, "window.fetch(u)"));
        assert!(
            runs(js, &ends, "`fetch${u}`"),
            "a template's text may end at `${{`"
        );
        assert!(runs(js, &ends, "x = fetch"), "at the end of the text");
        assert!(!runs(Lang::Python, &starts, "forgot()"));
        // After a number, Python lets a keyword follow: `1if x else 2`, `0x1for`.
        assert!(
            runs(Lang::Python, &starts, "x = [0x1got]"),
            "after a number"
        );
    }

    /// Which literals must occur in their exact case, and which outside strings' texts.
    fn case_and_strings(yaml: &str) -> Vec<Vec<(String, bool, bool)>> {
        req_literals(yaml)
            .into_iter()
            .map(|c| {
                c.into_iter()
                    .map(|l| (String::from(l.text), l.exact_case, l.outside_strings))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn terminals_and_case_sensitive_regexes_keep_their_case() {
        let rule = |body: &str| format!("id: a\nlanguage: javascript\nrule:\n{body}");
        let got = case_and_strings(&rule("  pattern: console.log($A)\n"));
        assert_eq!(
            got,
            [
                [("console".to_string(), true, true)],
                [("log".to_string(), true, true)]
            ]
        );
        let exact = |regex: &str| {
            let got = case_and_strings(&rule(&format!("  regex: '{regex}'\n")));
            let flags: Vec<bool> = got.iter().flatten().map(|l| l.1).collect();
            assert!(!flags.is_empty(), "{regex}");
            flags.iter().all(|f| *f)
        };
        assert!(exact("^Fetch$"));
        assert!(exact("^get[a-z]+Client"));
        assert!(!exact("(?i)^fetch$"));
        assert!(!exact("^[A-Z]fetch$"));
        assert!(!exact("^(?i:x)fetch$"));
        assert!(!exact("(?i-u)^fetch$"));
        assert!(exact("(?-u)^fe[\\x00-\\x40]ch$"));
        // `#eq?` compares exactly.
        let got = case_and_strings(
            "id: a\nlanguage: javascript\nquery: |\n  ((identifier) @i (#eq? @i \"Console\")) @match\n",
        );
        assert_eq!(got, [[("Console".to_string(), true, false)]]);
    }

    /// A terminal that is no string fragment, and what a regex requires at the edges of
    /// a node known to be no part of a string (of a kind that is not a fragment, or in a
    /// field), lie outside strings' texts.
    #[test]
    fn what_lies_outside_strings() {
        let rule = |body: &str| format!("id: a\nlanguage: javascript\nrule:\n{body}");
        let outside = |body: &str| -> Vec<(String, bool)> {
            case_and_strings(&rule(body))
                .into_iter()
                .flatten()
                .map(|(t, _, o)| (t, o))
                .collect()
        };
        let cases: &[(&str, &[(&str, bool)])] = &[
            (
                "  pattern: fetch(\"quoted\")\n",
                &[("fetch", true), ("quoted", false)],
            ),
            ("  regex: ^fetch$\n", &[("fetch", false)]),
            ("  kind: identifier\n  regex: ^fetch$\n", &[("fetch", true)]),
            (
                "  kind: string_fragment\n  regex: ^fetch$\n",
                &[("fetch", false)],
            ),
            (
                "  kind: call_expression\n  has:\n    field: function\n    regex: ^fetch$\n",
                &[("fetch", true)],
            ),
            (
                "  kind: call_expression\n  has:\n    regex: ^fetch$\n",
                &[("fetch", false)],
            ),
            // Below the child in the field, a string's fragment may be reached.
            (
                "  kind: call_expression\n  has:\n    field: arguments\n    stopBy: end\n    regex: ^fetch$\n",
                &[("fetch", false)],
            ),
            (
                "  kind: pair\n  has:\n    field: value\n    stopBy:\n      kind: identifier\n    regex: ^fetch$\n",
                &[("fetch", false)],
            ),
            (
                "  kind: pair\n  has:\n    field: value\n    stopBy: neighbor\n    regex: ^fetch$\n",
                &[("fetch", true)],
            ),
            // Inside a node of a plain kind but not at its start: it may lie in a string.
            (
                "  kind: call_expression\n  regex: fetch\n",
                &[("fetch", false)],
            ),
            // At its end only, and able to reach into a string across a quote.
            (
                "  kind: call_expression\n  regex: '\\w*\"fetch$'\n",
                &[("\"fetch", false)],
            ),
            (
                "  kind: call_expression\n  regex: '\\w*\\(fetch$'\n",
                &[("(fetch", true)],
            ),
        ];
        for (body, want) in cases {
            let want: Vec<(String, bool)> = want.iter().map(|(t, o)| (t.to_string(), *o)).collect();
            assert_eq!(outside(body), want, "{body}");
        }
    }

    /// Runs the prefilter of rules with `requirements` over `text`: whether each would run.
    fn runs_all(lang: Lang, requirements: &[Requirement], text: &str) -> Vec<bool> {
        let filter = Prefilter::new(lang, requirements, &[]);
        let mut runs = vec![true; requirements.len()];
        match filter.scan(text) {
            Some(mut scan) => filter.filter(text, &mut scan, &mut runs),
            None => panic!("no automaton"),
        };
        runs
    }

    /// [`runs_all`] for one rule.
    fn runs_on(lang: Lang, requirement: &Requirement, text: &str) -> bool {
        runs_all(lang, std::slice::from_ref(requirement), text) == [true]
    }

    fn requiring(literals: Vec<Literal>) -> Requirement {
        Requirement {
            clauses: vec![literals],
        }
    }

    #[test]
    fn literals_in_exact_case_count_only_in_that_case() {
        let exact = |t: &str| Literal {
            exact_case: true,
            ..Literal::anywhere(t)
        };
        let js = Lang::JavaScript;
        let got = requiring(vec![exact("got")]);
        assert!(!runs_on(js, &got, "x = GoTo; y = GOT;"));
        assert!(runs_on(js, &got, "x = forgot;"));
        // Required exactly by one rule and in any case by another: any case counts.
        let any_case = requiring(vec![Literal::anywhere("GOT")]);
        let both = [got.clone(), any_case];
        assert_eq!(runs_all(js, &both, "x = GoTo;"), [true, true]);
        // Two exact cases of one text: either counts for both.
        let both = [got, requiring(vec![exact("Got")])];
        assert_eq!(runs_all(js, &both, "x = Got;"), [true, true]);
    }

    /// Within a string's text, a literal outside strings does not count, and one at a
    /// node's edge counts only at the text's ends and next to escape sequences.
    #[test]
    fn strings_texts_hold_only_fragments() {
        let js = Lang::JavaScript;
        let identifier = requiring(vec![Literal {
            outside_strings: true,
            starts_node: true,
            ends_node: true,
            ..Literal::anywhere("console")
        }]);
        assert!(!runs_on(js, &identifier, "s = \"console.log(x)\";"));
        assert!(!runs_on(js, &identifier, "s = 'console';"));
        assert!(runs_on(js, &identifier, "s = `${console.log(x)}`;"));
        assert!(runs_on(js, &identifier, "console.log('x');"));
        // Where the lexer stops, everything after counts.
        assert!(runs_on(
            js,
            &identifier,
            "if (a) /x/.test(b); s = 'console';"
        ));
        let whole = requiring(vec![Literal {
            starts_node: true,
            ends_node: true,
            ..Literal::anywhere("fetch")
        }]);
        assert!(!runs_on(js, &whole, "s = 'a fetch(b)';"));
        assert!(!runs_on(js, &whole, "s = `a fetch ${b} fetch(c)`;"));
        assert!(runs_on(js, &whole, "s = 'fetch';"));
        assert!(runs_on(js, &whole, "s = 'a\\nfetch\\tb';"));
        assert!(runs_on(js, &whole, "s = `a ${b}fetch${c}`;"));
        // No lexer for Python: anywhere in a string counts.
        assert!(runs_on(Lang::Python, &identifier, "s = 'console.log(x)'"));
    }
}
