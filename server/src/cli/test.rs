//! `volatile test`: every inline example and ast-grep test case, with a summary line
//! `N passed, N failed` (and `, N skipped` for test files naming no rule).

use std::collections::HashMap;
use std::sync::Arc;

use volatile_engine::compile::CompiledRule;
use volatile_engine::testing::{CaseKind, CaseResult, run_cases, run_examples};

use super::TestArgs;
use crate::sources::RuleSources;

pub(super) fn run(args: &TestArgs) -> u8 {
    let sources = match RuleSources::load(&args.paths) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("volatile: {e}");
            return 2;
        }
    };
    for warning in &sources.warnings {
        eprintln!("warning: {warning}");
    }
    for error in &sources.errors {
        eprintln!("error: {error}");
    }
    let mut by_id: HashMap<&str, &Arc<CompiledRule>> = HashMap::new();
    for playbook in &sources.playbooks {
        for rule in &playbook.rules {
            by_id.entry(rule.id.as_str()).or_insert(rule);
        }
    }
    let broken: HashMap<&str, String> = sources
        .errors
        .iter()
        .filter_map(|e| Some((e.rule_id.as_deref()?, e.to_string())))
        .collect();

    let mut results: Vec<CaseResult> = Vec::new();
    for playbook in &sources.playbooks {
        results.extend(run_examples(playbook));
    }
    let mut skipped = 0usize;
    for (file, spec) in &sources.tests {
        match by_id.get(spec.id.as_str()) {
            Some(rule) => results.extend(run_cases(rule, file, &spec.valid, &spec.invalid)),
            None => match broken.get(spec.id.as_str()) {
                Some(reason) => {
                    results.extend(failed(&spec.id, file, &spec.valid, &spec.invalid, reason))
                }
                None => {
                    eprintln!(
                        "warning: {file}: no rule with id `{}`; its cases are skipped",
                        spec.id
                    );
                    skipped += 1;
                }
            },
        }
    }
    for (id, examples) in &sources.failed_examples {
        let reason = broken
            .get(id.as_str())
            .cloned()
            .unwrap_or_else(|| "does not compile".into());
        results.extend(failed(
            id,
            "inline examples",
            &examples.valid,
            &examples.invalid,
            &reason,
        ));
    }

    let mut passed = 0;
    let mut failures = 0;
    // A rule document that does not load at all has no cases to run; it still fails.
    let counted: std::collections::HashSet<&str> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.rule_id.as_str())
        .collect();
    for error in &sources.errors {
        if error
            .rule_id
            .as_deref()
            .is_some_and(|id| counted.contains(id))
        {
            continue;
        }
        failures += 1;
        println!("FAIL {error}");
    }
    for r in &results {
        if r.passed {
            passed += 1;
            if args.verbose {
                println!(
                    "ok   {} ({} #{}) {}",
                    r.rule_id,
                    r.kind,
                    r.index + 1,
                    r.source
                );
            }
        } else {
            failures += 1;
            println!(
                "FAIL {} ({} #{}) {}: {}",
                r.rule_id,
                r.kind,
                r.index + 1,
                r.source,
                r.detail.as_deref().unwrap_or("failed")
            );
            for line in r.code.lines().take(12) {
                println!("     | {line}");
            }
        }
    }
    let mut summary = format!("{passed} passed, {failures} failed");
    if skipped > 0 {
        summary.push_str(&format!(", {skipped} skipped"));
    }
    println!("{summary}");
    if failures > 0 || !sources.errors.is_empty() {
        1
    } else {
        0
    }
}

fn failed(
    id: &str,
    source: &str,
    valid: &[String],
    invalid: &[String],
    reason: &str,
) -> Vec<CaseResult> {
    let cases = valid
        .iter()
        .enumerate()
        .map(|(i, c)| (CaseKind::Valid, i, c))
        .chain(
            invalid
                .iter()
                .enumerate()
                .map(|(i, c)| (CaseKind::Invalid, i, c)),
        );
    cases
        .map(|(kind, index, code)| CaseResult {
            rule_id: id.to_string(),
            source: source.to_string(),
            kind,
            index,
            passed: false,
            detail: Some(format!("the rule does not compile: {reason}")),
            code: code.clone(),
        })
        .collect()
}
