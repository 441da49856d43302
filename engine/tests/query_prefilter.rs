//! Raw queries and the prefilter: the literals their text predicates need skip files
//! without them and confine anchored queries to the nodes that contain them, and never
//! change a finding. Nor does where the queries run: at their root nodes during the copy
//! that frees tree-sitter's tree (`analyze`), or on a tree the caller keeps
//! (`analyze_parsed`).

mod support;

use support::rule_set;
use volatile_engine::analyze::{AnalyzeOptions, FileAnalysis, RuleSet, analyze, analyze_parsed};
use volatile_engine::tree::parse_ts;
use volatile_grammars::Lang;

fn run(set: &RuleSet, lang: Lang, code: &str, prefilter: bool) -> FileAnalysis {
    let options = AnalyzeOptions {
        prefilter,
        ..AnalyzeOptions::default()
    };
    let result = analyze(set, "a", lang, code, &options);
    assert!(result.error.is_none(), "{:?}", result.error);
    result
}

/// The matched texts, after checking the prefilter changes nothing.
fn texts(set: &RuleSet, lang: Lang, code: &str) -> Vec<String> {
    let with = run(set, lang, code, true);
    let without = run(set, lang, code, false);
    let text = |r: &FileAnalysis| -> Vec<String> {
        r.findings
            .iter()
            .map(|f| code[f.byte_range.start..f.byte_range.end].to_string())
            .collect()
    };
    assert_eq!(
        text(&with),
        text(&without),
        "the prefilter changed the findings"
    );
    // On a tree the caller keeps (of the text after a byte order mark), timed or not.
    let Ok(tree) = parse_ts(lang, code.strip_prefix('\u{feff}').unwrap_or(code), None) else {
        panic!("parse")
    };
    for time_rules in [false, true] {
        let options = AnalyzeOptions {
            time_rules,
            ..AnalyzeOptions::default()
        };
        let kept = analyze_parsed(set, "a", lang, code, &tree, &options);
        assert!(kept.error.is_none(), "{:?}", kept.error);
        assert_eq!(
            text(&kept),
            text(&with),
            "on a kept tree, timed: {time_rules}"
        );
        let timed = analyze(set, "a", lang, code, &options);
        assert_eq!(text(&timed), text(&with), "timed: {time_rules}");
    }
    text(&with)
}

const SECRET: &str = r#"language: java
id: secret
message: $NAME
query: |
  (variable_declarator
    name: (identifier) @name
    value: (string_literal) @value
    (#match? @name "(?i)(password|api_?key|token)$")
    (#match? @value "^\".+\"$")) @match
  (assignment_expression
    left: (field_access field: (identifier) @name)
    right: (string_literal) @value
    (#match? @name "(?i)(password|api_?key|token)$")) @match
"#;

#[test]
fn a_file_without_the_predicates_literals_is_not_parsed() {
    let set = rule_set(SECRET);
    let code = "class A { String name = \"x\"; void f() { this.user = \"y\"; } }";
    let result = run(&set, Lang::Java, code, true);
    assert!(!result.parsed);
    assert_eq!(result.rules_prefiltered, 1);
    assert!(run(&set, Lang::Java, code, false).parsed);
}

#[test]
fn anchored_queries_find_what_unanchored_ones_find() {
    let set = rule_set(SECRET);
    // Declarators inside the initialiser of another (an anonymous class), in both
    // patterns, in upper and lower case, with and without a byte order mark.
    let code = "class A {\n  Object o = new Object() {\n    String DB_PASSWORD = \"s\";\n    String other = \"t\";\n    void f() { this.apiKey = \"k\"; this.name = \"n\"; }\n  };\n  String token = \"\";\n  String Token = \"v\";\n}\n";
    assert_eq!(
        texts(&set, Lang::Java, code),
        [
            "DB_PASSWORD = \"s\"",
            "this.apiKey = \"k\"",
            "Token = \"v\""
        ]
    );
    let bom = format!("\u{feff}{code}");
    assert_eq!(texts(&set, Lang::Java, &bom).len(), 3);
}

#[test]
fn escapes_in_predicate_strings_are_read_as_tree_sitter_reads_them() {
    // `\\.` in the query source is the regex `\.`; `\"` is a quote.
    let rule = r#"language: python
id: dotted
message: m
query: |
  ((string) @match (#match? @match "a\\.b\"c"))
"#;
    let set = rule_set(rule);
    let code = "x = 'a.b\"c'\ny = 'aXb\"c'\n";
    assert_eq!(texts(&set, Lang::Python, code), ["'a.b\"c'"]);
    // The literal ends where the matched node does: anchors are placed past a byte
    // order mark exactly.
    assert_eq!(
        texts(&set, Lang::Python, &format!("\u{feff}{code}")).len(),
        1
    );
    assert!(!run(&set, Lang::Python, "x = 'a.b'\n", true).parsed);
}

#[test]
fn predicates_on_optional_captures_or_any_nodes_need_nothing() {
    // `@s` may be absent, and `#any-eq?` holds when no node meets it (tree-sitter's
    // Rust binding): neither requires its literal, so the file without it is parsed and
    // the matches are found.
    for rule in [
        "language: python\nid: o\nmessage: m\nquery: '((argument_list (string)? @s) @match (#eq? @s \"zzzz\"))'\n",
        "language: python\nid: o\nmessage: m\nquery: '((argument_list (integer) @n) @match (#any-eq? @n \"zzzz\"))'\n",
    ] {
        let set = rule_set(rule);
        let result = run(&set, Lang::Python, "f(1)\n", true);
        assert!(result.parsed, "{rule}");
        assert_eq!(texts(&set, Lang::Python, "f(1)\n").len(), 1, "{rule}");
    }
}

#[test]
fn every_pattern_must_need_a_literal() {
    // The second pattern needs nothing, so the query runs on every file.
    let rule = "language: python\nid: p\nmessage: m\nquery: |\n  ((identifier) @match (#eq? @match \"secret\"))\n  (integer) @match\n";
    let set = rule_set(rule);
    assert!(run(&set, Lang::Python, "x = 1\n", true).parsed);
    assert_eq!(
        texts(&set, Lang::Python, "x = 1\nsecret = 2\n"),
        ["1", "secret", "2"]
    );
}

#[test]
fn queries_over_the_whole_tree_run_beside_queries_at_their_roots() {
    // `(_)` may start anywhere: that query needs the whole tree, kept after the copy; the
    // other still runs at its roots. Findings come sorted whichever way they were found.
    let whole = "language: python\nid: w\nmessage: m\nquery: '((_) @match (#eq? @match \"zz\"))'\n";
    let rooted = "language: python\nid: r\nmessage: m\nquery: '((default_parameter value: (list)) @match)'\n";
    let code = "def f(a=[], b=zz):\n    return zz\n";
    let both = rule_set(&format!("{whole}---\n{rooted}"));
    assert_eq!(texts(&both, Lang::Python, code), ["a=[]", "zz", "zz"]);
    assert_eq!(texts(&rule_set(rooted), Lang::Python, code), ["a=[]"]);
    assert_eq!(texts(&rule_set(whole), Lang::Python, code), ["zz", "zz"]);
}
