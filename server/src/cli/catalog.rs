//! `volatile rules catalog`: a Markdown catalogue of playbooks, by playbook and standard.
//! `rules-examples/README.md` is this output, checked current by the tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;
use volatile_engine::compile::CompiledRule;

use crate::sources::RuleSources;

/// Rule-language keys, as shown in the catalogue's last column.
const SHOWN_TOP_LEVEL: &[&str] = &[
    "languages",
    "query",
    "constraints",
    "utils",
    "transform",
    "rewriters",
    "labels",
    "fix",
    "files",
    "ignores",
];

/// The rule-language keys a rule uses, for the catalogue.
pub fn keys_used(rule: &CompiledRule) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let Ok(value) = serde_json::to_value(&rule.spec) else {
        return keys;
    };
    if let Value::Object(map) = &value {
        for key in map.keys() {
            if SHOWN_TOP_LEVEL.contains(&key.as_str()) {
                keys.insert(key.clone());
            }
        }
        for section in ["rule", "constraints", "utils"] {
            if let Some(v) = map.get(section) {
                collect_rule_keys(v, section == "rule", &mut keys, 0);
            }
        }
        if let Some(Value::Array(rewriters)) = map.get("rewriters") {
            for r in rewriters {
                if let Some(rule) = r.get("rule") {
                    collect_rule_keys(rule, true, &mut keys, 0);
                }
            }
        }
    }
    keys
}

fn collect_rule_keys(value: &Value, is_rule: bool, keys: &mut BTreeSet<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    let Value::Object(map) = value else { return };
    if !is_rule {
        // A map of named rules (utils, constraints).
        for v in map.values() {
            collect_rule_keys(v, true, keys, depth + 1);
        }
        return;
    }
    for (key, v) in map {
        keys.insert(key.clone());
        match key.as_str() {
            "pattern" => {
                if let Some(s) = v.get("strictness").and_then(Value::as_str) {
                    keys.insert(format!("strictness: {s}"));
                }
                if v.get("selector").is_some() {
                    keys.insert("selector".into());
                }
                if let Some(p) = v
                    .as_str()
                    .or_else(|| v.get("context").and_then(Value::as_str))
                {
                    for form in metavariable_forms(p) {
                        keys.insert(form.into());
                    }
                }
            }
            "stopBy" => {
                let s = v
                    .as_str()
                    .map_or("stopBy: rule".to_string(), |s| format!("stopBy: {s}"));
                keys.insert(s);
                collect_rule_keys(v, true, keys, depth + 1);
            }
            "inside" | "has" | "precedes" | "follows" | "not" => {
                collect_rule_keys(v, true, keys, depth + 1)
            }
            "all" | "any" => {
                for item in v.as_array().into_iter().flatten() {
                    collect_rule_keys(item, true, keys, depth + 1);
                }
            }
            "nthChild" => {
                if let Some(of) = v.get("ofRule") {
                    keys.insert("ofRule".into());
                    collect_rule_keys(of, true, keys, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// The metavariable forms a pattern uses: `$A`, `$$A`, `$_`, `$$$`, `$$$A`.
fn metavariable_forms(pattern: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    let bytes = pattern.as_bytes();
    let mut i = 0;
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let dollars = bytes[i..].iter().take_while(|&&b| b == b'$').count();
        let start = i + dollars;
        let starts_name = bytes
            .get(start)
            .is_some_and(|b| b.is_ascii_uppercase() || *b == b'_');
        let len = if starts_name {
            bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_')
                .count()
        } else {
            0
        };
        let name = &pattern[start..start + len];
        let form = match (dollars, name) {
            (3, "") => "$$$",
            (3, _) => "$$$A",
            (2, n) if n.starts_with('_') => "$$_",
            (2, "") => "",
            (2, _) => "$$A",
            (1, n) if n.starts_with('_') => "$_",
            (1, "") => "",
            (_, _) => "$A",
        };
        if form == "$A" {
            *names.entry(name.to_string()).or_default() += 1;
        }
        if !form.is_empty() {
            out.push(form);
        }
        i = start + len.max(1);
    }
    if names.values().any(|&n| n > 1) {
        out.push("repeated $A");
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The catalogue of `sources`.
pub fn render(sources: &RuleSources, command: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Example playbooks\n");
    let _ = writeln!(
        out,
        "<!-- Generated by `{command}`; do not edit by hand. The tests check that it is current. -->\n"
    );
    let total: usize = sources.playbooks.iter().map(|p| p.rules.len()).sum();
    let _ = writeln!(
        out,
        "{} playbooks, {total} rules. Run their examples with `volatile test rules-examples`.\n",
        sources.playbooks.len()
    );
    for playbook in &sources.playbooks {
        let _ = writeln!(
            out,
            "- [`{}`](#{}) — {} ({} rules)",
            playbook.id,
            playbook.id,
            playbook.name.as_deref().unwrap_or(&playbook.id),
            playbook.rules.len()
        );
    }
    for playbook in &sources.playbooks {
        let _ = writeln!(out, "\n## {}\n", playbook.id);
        if let Some(name) = &playbook.name {
            let _ = writeln!(out, "**{}**\n", cell(name));
        }
        if let Some(description) = &playbook.description {
            let _ = writeln!(out, "{}\n", description.trim());
        }
        let mut by_standard: BTreeMap<&str, Vec<&CompiledRule>> = BTreeMap::new();
        for rule in &playbook.rules {
            by_standard
                .entry(rule.standard.as_deref().unwrap_or("(none)"))
                .or_default()
                .push(rule);
        }
        for (standard, mut rules) in by_standard {
            rules.sort_by(|a, b| a.id.cmp(&b.id));
            let _ = writeln!(out, "### {standard}\n");
            let _ = writeln!(
                out,
                "| id | severity | languages | message | rule language used |"
            );
            let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
            for rule in rules {
                let langs: Vec<&str> = rule.languages.iter().map(|l| l.name()).collect();
                let keys: Vec<String> = keys_used(rule).into_iter().collect();
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} |",
                    rule.id,
                    rule.severity.map_or("off", |s| s.name()),
                    langs.join(", "),
                    cell(rule.message.as_str()),
                    cell(&keys.join(", "))
                );
            }
            out.push('\n');
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metavariable_forms_are_recognised() {
        assert_eq!(metavariable_forms("f($A, $A)"), ["$A", "repeated $A"]);
        assert_eq!(
            metavariable_forms("f($$$ARGS, $_, $$OP, $$$)"),
            ["$$$", "$$$A", "$$A", "$_"]
        );
        assert!(metavariable_forms("price = '$5'").is_empty());
    }
}
