//! Rule tests: inline `examples` and ast-grep test files.
//!
//! A valid case passes when the rule reports nothing in it, an invalid case when it
//! reports at least one finding. A rule with several languages is held to each language in
//! which the case parses cleanly (or to its first language if it parses cleanly in none),
//! so a TypeScript-family example proves the rule in TypeScript, TSX and JavaScript alike.

use std::sync::Arc;

use volatile_grammars::Lang;

use crate::analyze::{AnalyzeOptions, RuleFilter, RuleSet, analyze};
use crate::compile::CompiledRule;
use crate::playbook::Playbook;
use crate::tree::SyntaxTree;

/// Which expectation a case has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseKind {
    /// Must report nothing.
    Valid,
    /// Must report at least one finding.
    Invalid,
}

impl std::fmt::Display for CaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CaseKind::Valid => "valid",
            CaseKind::Invalid => "invalid",
        })
    }
}

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The rule under test.
    pub rule_id: String,
    /// Where the case is written (`rule file` for inline examples, or the test file).
    pub source: String,
    /// Valid or invalid.
    pub kind: CaseKind,
    /// 0-based index among the cases of its kind.
    pub index: usize,
    /// Whether it passed.
    pub passed: bool,
    /// What went wrong, for a failure.
    pub detail: Option<String>,
    /// The case's code.
    pub code: String,
}

/// Runs one case against one compiled rule.
pub fn run_case(rule: &Arc<CompiledRule>, kind: CaseKind, code: &str) -> Result<(), String> {
    let playbook = Arc::new(Playbook {
        id: rule.playbook.to_string(),
        name: None,
        description: None,
        rules: vec![rule.clone()],
        hash: String::new(),
        warnings: Vec::new(),
    });
    let mut filter = RuleFilter::default();
    if rule.severity.is_none() {
        // A rule turned off is still tested.
        filter
            .severity_overrides
            .insert(rule.id.clone(), Some(crate::finding::Severity::Hint));
    }
    let set = RuleSet::new(&[playbook], &filter);
    let clean: Vec<Lang> = rule
        .languages
        .iter()
        .copied()
        .filter(|&l| SyntaxTree::parse(l, code).is_ok_and(|t| !t.has_error()))
        .collect();
    let langs = if clean.is_empty() {
        rule.languages.iter().copied().take(1).collect()
    } else {
        clean
    };
    for lang in langs {
        let path = example_path(rule, lang);
        let result = analyze(&set, &path, lang, code, &AnalyzeOptions::default());
        if let Some(e) = result.error {
            return Err(format!("{lang}: {}", e.message));
        }
        // Every case also checks the prefilter: it may only skip what cannot match.
        let unfiltered = AnalyzeOptions {
            prefilter: false,
            ..AnalyzeOptions::default()
        };
        let full = analyze(&set, &path, lang, code, &unfiltered);
        if full.findings.len() != result.findings.len() {
            return Err(format!(
                "{lang}: the literal prefilter changed the findings ({} with it, {} without): an engine bug, please report it",
                result.findings.len(),
                full.findings.len()
            ));
        }
        let count = result.findings.len();
        match kind {
            CaseKind::Valid if count > 0 => {
                let lines: Vec<String> = result
                    .findings
                    .iter()
                    .map(|f| f.range.start.line.to_string())
                    .collect();
                return Err(format!(
                    "{lang}: expected no finding, got {count} (line {})",
                    lines.join(", ")
                ));
            }
            CaseKind::Invalid if count == 0 => {
                return Err(format!("{lang}: expected a finding, got none"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A path that passes the rule's `files`/`ignores`, so that examples always run.
fn example_path(rule: &CompiledRule, lang: Lang) -> String {
    let ext = match lang {
        Lang::TypeScript => "ts",
        Lang::Tsx => "tsx",
        Lang::JavaScript => "js",
        Lang::Python => "py",
        Lang::Java => "java",
    };
    let plain = format!("example.{ext}");
    if rule.applies_to_path(&plain) {
        return plain;
    }
    // Try the literal prefixes of the `files` globs.
    for glob in rule.spec.files.iter().flatten() {
        let candidate: String = glob
            .replace("**/", "")
            .replace("**", "x")
            .replace('*', "example")
            .replace(['?', '[', ']', '{', '}'], "");
        if rule.applies_to_path(&candidate) {
            return candidate;
        }
    }
    plain
}

/// Runs every inline example of every rule of `playbook`.
pub fn run_examples(playbook: &Playbook) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for rule in &playbook.rules {
        let source = rule.origin.clone().unwrap_or_default();
        out.extend(run_cases(
            rule,
            &source,
            &rule.examples.valid,
            &rule.examples.invalid,
        ));
    }
    out
}

/// Runs a rule's cases.
pub fn run_cases(
    rule: &Arc<CompiledRule>,
    source: &str,
    valid: &[String],
    invalid: &[String],
) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for (kind, cases) in [(CaseKind::Valid, valid), (CaseKind::Invalid, invalid)] {
        for (index, code) in cases.iter().enumerate() {
            let outcome = run_case(rule, kind, code);
            out.push(CaseResult {
                rule_id: rule.id.clone(),
                source: source.to_string(),
                kind,
                index,
                passed: outcome.is_ok(),
                detail: outcome.err(),
                code: code.clone(),
            });
        }
    }
    out
}
