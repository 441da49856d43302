//! Skip what cannot match: the literals every match of a rule must contain.
//!
//! For each rule we derive a conjunction of clauses, each clause a set of literals of
//! which at least one must occur in the file's text for the rule to have any chance to
//! match. The literals come from pattern terminals (compared exactly), from regexes (the
//! prefixes every match starts with) and from constraints on metavariables every match
//! binds. All the literals of one language's rules go into one Aho-Corasick automaton; one
//! pass over a file says which rules can be skipped, and a file whose rules are all skipped
//! is not parsed at all.
//!
//! Soundness is the whole point: a requirement is only derived where a match really
//! implies the literal's presence. Anything unsure (`not`, `kind`, `nthChild`, `range`,
//! raw queries, `signature` strictness, case-insensitive regexes with too many variants)
//! contributes no requirement, so the rule simply runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use regex_syntax::hir::literal::{ExtractKind, Extractor};

use crate::compile::{Finder, LangRule};
use crate::matcher::Rule;

/// Literals shorter than this are not worth looking for: they occur in nearly every file.
const MIN_LITERAL_BYTES: usize = 2;
/// A clause with more alternatives than this says too little to be worth its scan cost.
const MAX_CLAUSE_LITERALS: usize = 64;
/// Bound on util recursion while deriving requirements.
const MAX_DEPTH: u32 = 64;

/// What a rule requires of a file's text: every clause must have a literal in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    /// Conjunction of disjunctions.
    pub clauses: Vec<Vec<Box<str>>>,
}

impl Requirement {
    /// Whether the rule requires nothing (it must run on every file).
    pub fn is_trivial(&self) -> bool {
        self.clauses.is_empty()
    }
}

/// A rule's requirement: what its finder and its constraints imply.
pub fn requirement(rule: &LangRule) -> Requirement {
    let Finder::Rule(root) = &rule.finder else {
        return Requirement::default();
    };
    let derived = derive(root, &rule.utils, 0);
    let mut clauses = derived.clauses;
    for (name, constraint) in &rule.constraints {
        if derived.bound.contains(name) {
            clauses.extend(derive(constraint, &rule.utils, 0).clauses);
        }
    }
    let mut clauses: Vec<Vec<Box<str>>> = clauses
        .into_iter()
        .filter(|c| usable(c))
        .map(|mut c| {
            c.sort();
            c.dedup();
            c
        })
        .collect();
    clauses.sort();
    clauses.dedup();
    Requirement { clauses }
}

/// Requirements of a rule object, and the metavariables all its matches bind.
#[derive(Default)]
struct Derived {
    clauses: Vec<Vec<Box<str>>>,
    bound: HashSet<Arc<str>>,
}

fn derive(rule: &Rule, utils: &[Rule], depth: u32) -> Derived {
    if depth > MAX_DEPTH {
        return Derived::default();
    }
    match rule {
        Rule::Pattern(p) => Derived {
            clauses: p.literals().into_iter().map(|l| vec![l.into()]).collect(),
            bound: p.surely_bound().into_iter().collect(),
        },
        Rule::Regex(re) => Derived {
            clauses: regex_clause(re.as_str()).into_iter().collect(),
            bound: HashSet::new(),
        },
        // The related node is in the same file: what it requires, the rule requires.
        Rule::Inside(rel) | Rule::Has(rel) | Rule::Precedes(rel) | Rule::Follows(rel) => {
            derive(&rel.rule, utils, depth + 1)
        }
        Rule::All(rules) => {
            let mut out = Derived::default();
            for r in rules {
                let d = derive(r, utils, depth + 1);
                out.clauses.extend(d.clauses);
                out.bound.extend(d.bound);
            }
            out
        }
        Rule::Any(rules) => {
            // One clause: the best clause of each alternative, joined. An alternative
            // that requires nothing makes the whole `any` require nothing.
            let mut clause: Vec<Box<str>> = Vec::new();
            let mut bound: Option<HashSet<Arc<str>>> = None;
            for r in rules {
                let d = derive(r, utils, depth + 1);
                bound = Some(match bound {
                    None => d.bound,
                    Some(b) => b.intersection(&d.bound).cloned().collect(),
                });
                match best_clause(d.clauses) {
                    Some(c) => clause.extend(c),
                    None => {
                        clause.clear();
                        break;
                    }
                }
            }
            let clauses = if clause.is_empty() || rules.is_empty() {
                Vec::new()
            } else {
                vec![clause]
            };
            Derived {
                clauses,
                bound: bound.unwrap_or_default(),
            }
        }
        Rule::Matches(i) => match utils.get(*i) {
            Some(util) => derive(util, utils, depth + 1),
            None => Derived::default(),
        },
        Rule::Kind(_) | Rule::NthChild(_) | Rule::Range(_) | Rule::Not(_) => Derived::default(),
    }
}

/// Whether a clause is worth scanning for: not empty, not too wide, no literal too short.
fn usable(clause: &[Box<str>]) -> bool {
    !clause.is_empty()
        && clause.len() <= MAX_CLAUSE_LITERALS
        && clause.iter().all(|l| l.len() >= MIN_LITERAL_BYTES)
}

/// The most selective usable clause: its shortest literal is the longest.
fn best_clause(clauses: Vec<Vec<Box<str>>>) -> Option<Vec<Box<str>>> {
    clauses.into_iter().filter(|c| usable(c)).max_by_key(|c| {
        (
            c.iter().map(|l| l.len()).min().unwrap_or(0),
            usize::MAX - c.len(),
        )
    })
}

/// The prefixes every match of `pattern` starts with, when there are few enough.
fn regex_clause(pattern: &str) -> Option<Vec<Box<str>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let mut extractor = Extractor::new();
    extractor
        .kind(ExtractKind::Prefix)
        .limit_total(MAX_CLAUSE_LITERALS);
    let seq = extractor.extract(&hir);
    let literals = seq.literals()?;
    let mut out = Vec::with_capacity(literals.len());
    for lit in literals {
        // A regex over text may only be required to contain text.
        let text = std::str::from_utf8(lit.as_bytes()).ok()?;
        if text.is_empty() {
            return None;
        }
        out.push(text.into());
    }
    (!out.is_empty()).then_some(out)
}

/// One language's rules' requirements, compiled into one automaton.
#[derive(Debug)]
pub struct Prefilter {
    automaton: Option<AhoCorasick>,
    literal_count: usize,
    /// Per rule: its clauses as literal ids.
    rules: Vec<Vec<Vec<u32>>>,
}

impl Prefilter {
    /// Builds the automaton for `requirements` (one per rule, in rule order).
    pub fn new(requirements: &[Requirement]) -> Prefilter {
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let mut literals: Vec<&str> = Vec::new();
        let rules: Vec<Vec<Vec<u32>>> = requirements
            .iter()
            .map(|req| {
                req.clauses
                    .iter()
                    .map(|clause| {
                        clause
                            .iter()
                            .map(|lit| {
                                *ids.entry(lit).or_insert_with(|| {
                                    literals.push(lit);
                                    (literals.len() - 1) as u32
                                })
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        // Building can only fail on limits far beyond any playbook; without an automaton
        // every rule runs, which is always correct.
        let automaton = if literals.is_empty() {
            None
        } else {
            AhoCorasick::new(&literals).ok()
        };
        let literal_count = if automaton.is_some() {
            literals.len()
        } else {
            0
        };
        Prefilter {
            automaton,
            literal_count,
            rules,
        }
    }

    /// Whether no rule has a requirement (the scan would be wasted).
    pub fn is_trivial(&self) -> bool {
        self.automaton.is_none()
    }

    /// Marks `runs[i] = false` for each rule `i` whose requirement `text` does not meet.
    /// Rules already marked false stay false. Returns how many rules it turned off.
    pub fn filter(&self, text: &str, runs: &mut [bool]) -> usize {
        let Some(automaton) = &self.automaton else {
            return 0;
        };
        let mut present = vec![false; self.literal_count];
        let mut found = 0usize;
        for m in automaton.find_overlapping_iter(text) {
            let id = m.pattern().as_usize();
            if let Some(slot) = present.get_mut(id)
                && !*slot
            {
                *slot = true;
                found += 1;
                if found == self.literal_count {
                    break;
                }
            }
        }
        let mut skipped = 0;
        for (run, clauses) in runs.iter_mut().zip(&self.rules) {
            if *run
                && !clauses.iter().all(|clause| {
                    clause
                        .iter()
                        .any(|&id| present.get(id as usize).copied().unwrap_or(true))
                })
            {
                *run = false;
                skipped += 1;
            }
        }
        skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::{SourceFile, playbook_from_files};

    fn req(yaml: &str) -> Vec<Vec<String>> {
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
        let Some(rule) = outcome.playbook.rules.first() else {
            panic!("no rule")
        };
        let Some(lr) = rule.per_lang.first() else {
            panic!("no language")
        };
        requirement(lr)
            .clauses
            .into_iter()
            .map(|c| c.into_iter().map(String::from).collect())
            .collect()
    }

    fn strings(clauses: &[&[&str]]) -> Vec<Vec<String>> {
        clauses
            .iter()
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect()
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
        // Case-insensitive: the case variants, while there are few enough.
        let got = req("id: a\nlanguage: python\nrule:\n  regex: (?i)pw\n");
        assert_eq!(got, strings(&[&["PW", "Pw", "pW", "pw"]]));
        // A regex that may start anywhere requires nothing.
        let got = req("id: a\nlanguage: python\nrule:\n  regex: .*secret\n");
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
        let requirements = vec![
            Requirement {
                clauses: vec![vec!["eval".into()], vec!["input".into()]],
            },
            Requirement {
                clauses: vec![vec!["exec".into(), "eval".into()]],
            },
            Requirement::default(),
        ];
        let filter = Prefilter::new(&requirements);
        let mut runs = vec![true; 3];
        assert_eq!(filter.filter("x = eval(y)", &mut runs), 1);
        assert_eq!(runs, [false, true, true]);
        let mut runs = vec![true; 3];
        assert_eq!(filter.filter("eval(input())", &mut runs), 0);
        assert_eq!(runs, [true, true, true]);
        let mut runs = vec![true, false, true];
        assert_eq!(filter.filter("nothing here", &mut runs), 1);
        assert_eq!(runs, [false, false, true]);
    }
}
