//! Every compile error names the file, the line, the rule and what is wrong.

use volatile_engine::playbook::{SourceFile, playbook_from_files};

/// The first error of compiling `text` as `rules/x.yml`, as a user sees it.
fn error(text: &str) -> String {
    let files = vec![SourceFile {
        rel_path: "x.yml".into(),
        display: "rules/x.yml".into(),
        text: text.into(),
    }];
    match playbook_from_files("p", files) {
        Ok(outcome) => outcome
            .errors
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| "no error".into()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_key_suggests_the_nearest() {
    assert_eq!(
        error("id: a\nlanguage: js\nrule:\n  kind: number\n  regx: x\n"),
        "rules/x.yml:5:3: rule `a`: rule: unknown key `regx` (did you mean `regex`?)"
    );
}

#[test]
fn bad_regex() {
    let e = error("id: a\nlanguage: js\nrule:\n  kind: number\n  regex: '('\n");
    assert!(
        e.starts_with("rules/x.yml:5:10: rule `a`: rule.regex: bad regex:"),
        "{e}"
    );
}

#[test]
fn pattern_that_does_not_parse() {
    assert_eq!(
        error("id: a\nlanguage: python\nrule:\n  pattern: 'a b c'\n"),
        "rules/x.yml:4:12: rule `a`: rule.pattern: the pattern `a b c` is more than one node; wrap it in `{context, selector}` or use `all`"
    );
    assert_eq!(
        error("id: a\nlanguage: js\nrule:\n  pattern: 'foo('\n"),
        "rules/x.yml:4:12: rule `a`: rule.pattern: the pattern `foo(` does not parse as javascript"
    );
}

#[test]
fn undefined_util() {
    assert_eq!(
        error("id: a\nlanguage: js\nrule:\n  matches: nope\n"),
        "rules/x.yml:4:12: rule `a`: rule.matches: `matches: nope` names no util rule (define it under `utils` or in a utils directory)"
    );
}

#[test]
fn cyclic_util() {
    let e = error(
        "id: a\nlanguage: js\nutils:\n  u1:\n    matches: u2\n  u2:\n    any:\n      - matches: u1\nrule:\n  matches: u1\n",
    );
    assert_eq!(
        e,
        "rules/x.yml:4:3: rule `a`: utils: util rules refer to each other in a cycle: u1 -> u2 -> u1"
    );
}

#[test]
fn rule_that_can_match_no_kind() {
    assert_eq!(
        error("id: a\nlanguage: js\nrule:\n  all:\n    - kind: number\n    - kind: string\n"),
        "rules/x.yml:4:3: rule `a`: rule: the rule can match no node kind: its conditions require different kinds at once"
    );
}

#[test]
fn unknown_kind_with_suggestion() {
    assert_eq!(
        error("id: a\nlanguage: js\nrule:\n  kind: call_expresion\n"),
        "rules/x.yml:4:9: rule `a`: rule.kind: `call_expresion` is not a node kind of javascript (did you mean `call_expression`?)"
    );
}

#[test]
fn unsupported_language() {
    assert_eq!(
        error("id: a\nlanguage: rust\nrule:\n  kind: x\n"),
        "rules/x.yml:2:11: rule `a`: language: unsupported language `rust` (supported: typescript, tsx, javascript, python, java)"
    );
}

#[test]
fn duplicate_ids() {
    let e = error(
        "id: a\nlanguage: js\nrule: {kind: number}\n---\nid: a\nlanguage: js\nrule: {kind: string}\n",
    );
    assert_eq!(
        e,
        "rules/x.yml:5:1: rule `a`: duplicate rule id `a` (first defined in rules/x.yml:1)"
    );
}

#[test]
fn field_outside_has_and_inside() {
    assert_eq!(
        error(
            "id: a\nlanguage: js\nrule:\n  kind: number\n  follows:\n    kind: number\n    field: left\n"
        ),
        "rules/x.yml:7:12: rule `a`: rule.follows.field: `field` is only allowed in `inside` and `has`"
    );
    assert_eq!(
        error("id: a\nlanguage: js\nrule:\n  kind: number\n  stopBy: end\n"),
        "rules/x.yml:5:11: rule `a`: rule.stopBy: `stopBy` is only allowed inside `inside`, `has`, `precedes` or `follows`"
    );
}

#[test]
fn bad_query() {
    let e = error("id: a\nlanguage: java\nquery: '(no_such_node) @match'\n");
    assert!(
        e.starts_with("rules/x.yml:3:8: rule `a`: query: bad query:"),
        "{e}"
    );
    assert_eq!(
        error("id: a\nlanguage: java\nquery: '(identifier) @x'\n"),
        "rules/x.yml:3:8: rule `a`: query: the query has no `@match` capture to report"
    );
}

#[test]
fn rule_or_query_and_language_required() {
    assert_eq!(
        error("id: a\nlanguage: js\n"),
        "rules/x.yml:1:1: rule `a`: a rule needs exactly one of `rule` or `query`"
    );
    assert_eq!(
        error("id: a\nrule: {kind: number}\n"),
        "rules/x.yml:1:1: rule `a`: a rule needs exactly one of `language` or `languages`"
    );
}

#[test]
fn yaml_syntax_error() {
    let e = error("id: a\nrule: [\n");
    assert!(e.starts_with("rules/x.yml:"), "{e}");
}
