//! One test per rule key and metavariable form: a rule, some code, and exactly the texts
//! it must report. Expectations were checked against ast-grep 0.51.1 where ast-grep has
//! the key.

mod support;

use std::sync::Arc;

use support::rule_set;
use volatile_engine::analyze::{AnalyzeOptions, RuleFilter, RuleSet, analyze};
use volatile_engine::finding::Finding;
use volatile_engine::playbook::{SourceFile, playbook_from_files};
use volatile_grammars::Lang;

/// Compiles `rule_yaml` as a one-file playbook and returns its findings on `code`.
fn run(rule_yaml: &str, lang: Lang, path: &str, code: &str) -> Vec<Finding> {
    let set = rule_set(rule_yaml);
    let result = analyze(&set, path, lang, code, &AnalyzeOptions::default());
    assert!(result.error.is_none(), "{:?}", result.error);
    result.findings
}

/// The matched texts of the findings.
fn texts(rule_yaml: &str, lang: Lang, code: &str) -> Vec<String> {
    let path = match lang {
        Lang::Python => "a.py",
        Lang::Java => "A.java",
        Lang::TypeScript => "a.ts",
        Lang::Tsx => "a.tsx",
        Lang::JavaScript => "a.js",
    };
    run(rule_yaml, lang, path, code)
        .iter()
        .map(|f| code[f.byte_range.start..f.byte_range.end].to_string())
        .collect()
}

fn js(rule: &str, code: &str) -> Vec<String> {
    texts(
        &format!("id: r\nlanguage: javascript\n{rule}"),
        Lang::JavaScript,
        code,
    )
}

fn py(rule: &str, code: &str) -> Vec<String> {
    texts(
        &format!("id: r\nlanguage: python\n{rule}"),
        Lang::Python,
        code,
    )
}

fn java(rule: &str, code: &str) -> Vec<String> {
    texts(&format!("id: r\nlanguage: java\n{rule}"), Lang::Java, code)
}

#[test]
fn pattern_string() {
    assert_eq!(
        js(
            "rule:\n  pattern: console.log($A)\n",
            "console.log(1); console.warn(2); console.log(a, b);"
        ),
        ["console.log(1)"]
    );
}

#[test]
fn pattern_with_context_and_selector() {
    let rule =
        "rule:\n  pattern:\n    context: 'class A { $F = $V }'\n    selector: field_definition\n";
    assert_eq!(js(rule, "class B { x = 1; m() {} }\nlet x = 1;"), ["x = 1"]);
}

#[test]
fn pattern_strictness() {
    let code = "foo(/* c */ bar);\nfoo(bar);";
    // Since ast-grep 0.45, `smart` (the default) skips comments in the code.
    let smart = "rule:\n  pattern: foo(bar)\n";
    assert_eq!(js(smart, code), ["foo(/* c */ bar)", "foo(bar)"]);
    let cst_comment = "rule:\n  pattern:\n    context: foo(bar)\n    strictness: cst\n";
    assert_eq!(js(cst_comment, code), ["foo(bar)"]);
    let relaxed = "rule:\n  pattern:\n    context: foo(bar)\n    strictness: relaxed\n";
    assert_eq!(js(relaxed, code), ["foo(/* c */ bar)", "foo(bar)"]);
    let cst = "rule:\n  pattern:\n    context: \"import a from 'x';\"\n    strictness: cst\n";
    assert_eq!(
        js(cst, "import a from \"x\";\nimport a from 'x';"),
        ["import a from 'x';"]
    );
    let ast = "rule:\n  pattern:\n    context: \"import a from 'x'\"\n    strictness: ast\n";
    assert_eq!(js(ast, "import a from \"x\";\nimport a from 'x';").len(), 2);
    let sig = "rule:\n  pattern:\n    context: foo($A)\n    strictness: signature\n";
    assert_eq!(js(sig, "foo(/* c */ 1);").len(), 1);
}

#[test]
fn metavariable_forms() {
    // $A: one named node; repeated $A must be equal.
    assert_eq!(
        js("rule:\n  pattern: $A == $A\n", "x == x; x == y;"),
        ["x == x"]
    );
    // $_: one node, not captured, so repeats need not be equal.
    assert_eq!(
        js("rule:\n  pattern: $_ == $_\n", "x == x; x == y;").len(),
        2
    );
    // $$$: zero or more nodes.
    assert_eq!(
        js("rule:\n  pattern: f($$$)\n", "f(); f(1); f(1, 2);").len(),
        3
    );
    // $$$ARGS: captured, usable in messages.
    let found = run(
        "id: r\nlanguage: javascript\nmessage: args are $$$ARGS\nrule:\n  pattern: f($$$ARGS, last)\n",
        Lang::JavaScript,
        "a.js",
        "f(1, 2, last);",
    );
    assert_eq!(found[0].message, "args are 1, 2");
    // $$A matches unnamed nodes too: `return;` has no named child after `return`.
    assert_eq!(
        js("rule:\n  pattern: return $A\n", "function f() { return; }").len(),
        0
    );
    // Python patterns use `$` like every language.
    assert_eq!(
        py("rule:\n  pattern: print($A)\n", "print(x)\nprint(1, 2)\n"),
        ["print(x)"]
    );
}

#[test]
fn kind_and_supertype() {
    assert_eq!(js("rule:\n  kind: number\n", "a = 1 + b;"), ["1"]);
    assert_eq!(py("rule:\n  kind: string\n", "x = 'a'\n"), ["'a'"]);
}

#[test]
fn regex_matches_anywhere_in_the_text() {
    let rule = "rule:\n  kind: identifier\n  regex: ^tmp\n";
    assert_eq!(js(rule, "let tmpA = 1, atmp = 2;"), ["tmpA"]);
}

#[test]
fn nth_child_forms() {
    let first = "rule:\n  kind: number\n  nthChild: 1\n";
    assert_eq!(js(first, "f(1, 2, 3);"), ["1"]);
    let odd = "rule:\n  kind: number\n  nthChild: 2n+1\n";
    assert_eq!(js(odd, "f(1, 2, 3);"), ["1", "3"]);
    let last = "rule:\n  kind: number\n  nthChild:\n    position: 1\n    reverse: true\n";
    assert_eq!(js(last, "f(1, 2, 3);"), ["3"]);
    let of_rule =
        "rule:\n  kind: number\n  nthChild:\n    position: 1\n    ofRule:\n      kind: number\n";
    assert_eq!(js(of_rule, "f(a, 2, 3);"), ["2"]);
}

#[test]
fn range_is_zero_based_in_characters() {
    let rule = "rule:\n  kind: identifier\n  range:\n    start: {line: 1, column: 4}\n    end: {line: 1, column: 5}\n";
    assert_eq!(js(rule, "a;\n'é';b;\n"), ["b"]);
}

#[test]
fn inside_with_stop_by_and_field() {
    let neighbor = "rule:\n  kind: number\n  inside:\n    kind: arguments\n";
    assert_eq!(js(neighbor, "f(1, [2]);"), ["1"]);
    let end = "rule:\n  kind: number\n  inside:\n    kind: arguments\n    stopBy: end\n";
    assert_eq!(js(end, "f(1, [2]); g = 3;"), ["1", "2"]);
    let until = "rule:\n  kind: number\n  inside:\n    kind: call_expression\n    stopBy:\n      kind: array\n";
    assert_eq!(js(until, "f(1, [2]);"), ["1"]);
    let field =
        "rule:\n  kind: identifier\n  inside:\n    kind: assignment_expression\n    field: left\n";
    assert_eq!(js(field, "a = b;"), ["a"]);
}

#[test]
fn has_with_stop_by_and_field() {
    let neighbor = "rule:\n  kind: call_expression\n  has:\n    kind: arguments\n    has:\n      kind: number\n";
    assert_eq!(js(neighbor, "f(1); g([1]);"), ["f(1)"]);
    let end = "rule:\n  kind: call_expression\n  has:\n    kind: number\n    stopBy: end\n";
    assert_eq!(js(end, "f(1); g([1]); h(a);"), ["f(1)", "g([1])"]);
    let until = "rule:\n  kind: function_declaration\n  has:\n    pattern: danger()\n    stopBy:\n      kind: function_declaration\n";
    assert_eq!(
        js(
            until,
            "function a() { danger(); }\nfunction b() { function c() { danger(); } }"
        ),
        ["function a() { danger(); }", "function c() { danger(); }"]
    );
    let field = "rule:\n  kind: call_expression\n  has:\n    field: function\n    regex: ^log$\n";
    assert_eq!(js(field, "log(x); f(log);"), ["log(x)"]);
}

#[test]
fn precedes_and_follows() {
    let follows =
        "rule:\n  pattern: use(x);\n  follows:\n    pattern: let x = init()\n    stopBy: end\n";
    assert_eq!(js(follows, "let x = init();\nother();\nuse(x);\n").len(), 1);
    let neighbor = "rule:\n  pattern: use(x);\n  follows:\n    pattern: let x = init()\n";
    assert_eq!(
        js(neighbor, "let x = init();\nother();\nuse(x);\n").len(),
        0
    );
    let precedes = "rule:\n  kind: expression_statement\n  precedes:\n    kind: return_statement\n";
    assert_eq!(
        js(precedes, "function f() { a(); b(); return 1; }"),
        ["b();"]
    );
}

#[test]
fn all_any_not() {
    let rule = "rule:\n  all:\n    - kind: call_expression\n    - any:\n        - pattern: a($$$)\n        - pattern: b($$$)\n    - not:\n        has:\n          kind: arguments\n          has:\n            kind: string\n";
    assert_eq!(js(rule, "a(1); b('x'); c(2);"), ["a(1)"]);
}

#[test]
fn matches_with_local_utils() {
    let rule = "utils:\n  is-log:\n    pattern: console.log($$$)\n  in-loop:\n    inside:\n      kind: for_statement\n      stopBy: end\nrule:\n  all:\n    - matches: is-log\n    - matches: in-loop\n";
    assert_eq!(
        js(rule, "for (;;) { console.log(1); }\nconsole.log(2);"),
        ["console.log(1)"]
    );
}

#[test]
fn recursive_util_through_a_relation_terminates() {
    let rule = "utils:\n  nested:\n    any:\n      - kind: number\n      - kind: array\n        has:\n          matches: nested\nrule:\n  kind: array\n  matches: nested\n";
    assert_eq!(
        js(rule, "x = [[[1]]]; y = [[a]];"),
        ["[[[1]]]", "[[1]]", "[1]"]
    );
}

#[test]
fn constraints_filter_captures() {
    let rule =
        "rule:\n  pattern: $F($$$)\nconstraints:\n  F:\n    regex: ^(setTimeout|setInterval)$\n";
    assert_eq!(js(rule, "setTimeout(f, 1); foo(1);"), ["setTimeout(f, 1)"]);
}

#[test]
fn transform_and_fix() {
    let rule = "id: r\nlanguage: javascript\nmessage: rename $OLD to $NEW\nrule:\n  pattern: var $OLD = $V\ntransform:\n  UPPER:\n    convert:\n      source: $OLD\n      toCase: upperCase\n  NEW:\n    replace:\n      source: $UPPER\n      replace: '_'\n      by: ''\n  SHORT: substring($OLD, startChar=0, endChar=2)\nfix: const $NEW = $V /* $SHORT */\n";
    let found = run(rule, Lang::JavaScript, "a.js", "var my_name = 1;");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].message, "rename my_name to MYNAME");
    let fix = found[0].fix.as_ref().map(|f| f.text.as_str());
    assert_eq!(fix, Some("const MYNAME = 1 /* my */"));
}

#[test]
fn fix_expand_end() {
    let rule = "id: r\nlanguage: javascript\nrule:\n  pattern: debugger\nfix:\n  template: ''\n  expandEnd:\n    regex: ^;$\n";
    let found = run(rule, Lang::JavaScript, "a.js", "debugger;\nx();");
    let fix = found.first().and_then(|f| f.fix.clone());
    assert!(fix.is_some_and(|f| f.byte_range.start == 0 && f.byte_range.end >= 8));
}

#[test]
fn rewriters() {
    let rule = "id: r\nlanguage: python\nrule:\n  pattern: f($$$ARGS)\nrewriters:\n  - id: double\n    rule:\n      kind: integer\n    fix: 2 * $$$\ntransform:\n  NEW:\n    rewrite:\n      source: $$$ARGS\n      rewriters: [double]\n      joinBy: ', '\nfix: g($NEW)\n";
    let found = run(rule, Lang::Python, "a.py", "f(1, 2)\n");
    let fix = found
        .first()
        .and_then(|f| f.fix.as_ref())
        .map(|f| f.text.clone());
    assert_eq!(fix.as_deref(), Some("g(2 * $$$, 2 * $$$)"));
}

#[test]
fn labels_are_accepted() {
    let rule = "rule:\n  pattern: $A + $B\nlabels:\n  A:\n    style: primary\n    message: left\n";
    assert_eq!(js(rule, "x + y;"), ["x + y"]);
}

#[test]
fn files_and_ignores() {
    let rule = "id: r\nlanguage: python\nfiles: ['tests/**']\nignores: ['tests/fixtures/**']\nrule:\n  kind: integer\n";
    assert_eq!(run(rule, Lang::Python, "tests/a.py", "1\n").len(), 1);
    assert_eq!(run(rule, Lang::Python, "src/a.py", "1\n").len(), 0);
    assert_eq!(
        run(rule, Lang::Python, "tests/fixtures/a.py", "1\n").len(),
        0
    );
}

#[test]
fn query_rules() {
    let rule = "query: '((identifier) @match (#eq? @match \"password\"))'\n";
    assert_eq!(
        java(rule, "class A { String password = x; String user; }"),
        ["password"]
    );
    let rule = "message: call to $NAME\nquery: '(method_invocation name: (identifier) @name (#any-of? @name \"exec\" \"eval\")) @match'\n";
    let found = run(
        &format!("id: r\nlanguage: java\n{rule}"),
        Lang::Java,
        "A.java",
        "class A { void f() { r.exec(c); r.run(); } }",
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].message, "call to exec");
}

#[test]
fn languages_extension_compiles_for_each() {
    let rule = "id: r\nlanguages: [typescript, tsx, javascript]\nrule:\n  pattern: eval($A)\n";
    for (lang, path) in [
        (Lang::TypeScript, "a.ts"),
        (Lang::Tsx, "a.tsx"),
        (Lang::JavaScript, "a.js"),
    ] {
        assert_eq!(run(rule, lang, path, "eval(x);").len(), 1, "{lang}");
    }
}

#[test]
fn suppression_comments() {
    let rule = "id: no-eval\nlanguage: javascript\nrule:\n  pattern: eval($A)\n";
    let code = "eval(a); // volatile-ignore\n// ast-grep-ignore: no-eval\neval(b);\n// volatile-ignore: other-rule\neval(c);\neval(d);\n";
    let found = run(rule, Lang::JavaScript, "a.js", code);
    let lines: Vec<u32> = found.iter().map(|f| f.range.start.line).collect();
    assert_eq!(lines, [5, 6]);
}

#[test]
fn utf16_columns_on_non_ascii_lines_with_bom_and_crlf() {
    let rule = "id: r\nlanguage: javascript\nrule:\n  pattern: target\n";
    let code = "\u{feff}let s = 'é😀'; target;\r\nx; target;\r\n";
    let found = run(rule, Lang::JavaScript, "a.js", code);
    assert_eq!(found.len(), 2);
    // `let s = 'é😀'; ` is 15 UTF-16 units (😀 counts 2); the BOM is not counted.
    assert_eq!(
        (found[0].range.start.line, found[0].range.start.column),
        (1, 16)
    );
    assert_eq!(
        (found[0].range.end.line, found[0].range.end.column),
        (1, 22)
    );
    assert_eq!(
        &code[found[0].byte_range.start..found[0].byte_range.end],
        "target"
    );
    assert_eq!(
        (found[1].range.start.line, found[1].range.start.column),
        (2, 4)
    );
}

#[test]
fn message_interpolation_and_severity_default() {
    let found = run(
        "id: r\nlanguage: javascript\nmessage: '$FN called with $ARG'\nrule:\n  pattern: $FN($ARG)\n",
        Lang::JavaScript,
        "a.js",
        "alert(1);",
    );
    assert_eq!(found[0].message, "alert called with 1");
    assert_eq!(found[0].severity.name(), "hint");
}

#[test]
fn rewriters_see_the_rule_files_utils() {
    let rule = "id: r\nlanguage: python\nutils:\n  simple:\n    kind: identifier\nrule:\n  kind: comparison_operator\n  pattern: $EXPR\n  has:\n    kind: none\nrewriters:\n  - id: eq\n    rule:\n      pattern: $A == None\n    constraints:\n      A:\n        matches: simple\n    fix: $A is None\ntransform:\n  FIXED:\n    rewrite:\n      source: $EXPR\n      rewriters: [eq]\nfix: $FIXED\n";
    let found = run(rule, Lang::Python, "a.py", "x == None\n");
    let fix = found
        .first()
        .and_then(|f| f.fix.as_ref())
        .map(|f| f.text.clone());
    assert_eq!(fix.as_deref(), Some("x is None"));
}

#[test]
fn a_rule_without_a_kind_runs_at_every_node() {
    // ast-grep refuses this rule ("Rule must specify a set of AST kinds"); Volatile runs it.
    assert_eq!(
        js("rule:\n  regex: ^secret$\n", "let secret = 1;"),
        ["secret"]
    );
}

#[test]
fn supertype_kinds_cover_their_subtypes() {
    let found = js(
        "rule:\n  kind: expression\n  inside:\n    kind: expression_statement\n",
        "f(1);\n",
    );
    assert_eq!(found, ["f(1)"]);
}

#[test]
fn global_utils_from_the_playbook_utils_directory() {
    let files = vec![
        SourceFile {
            rel_path: "utils/is-console.yml".into(),
            display: "utils/is-console.yml".into(),
            text: "id: is-console\nlanguage: javascript\nrule:\n  pattern: console.$M($$$)\n"
                .into(),
        },
        SourceFile {
            rel_path: "logging/no-console.yml".into(),
            display: "logging/no-console.yml".into(),
            text: "id: no-console\nlanguage: javascript\nrule:\n  matches: is-console\n".into(),
        },
    ];
    let outcome = match playbook_from_files("p", files) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(
        outcome.playbook.rules.len(),
        1,
        "utils are not rules themselves"
    );
    assert_eq!(
        outcome.playbook.rules[0].standard.as_deref(),
        Some("logging")
    );
    let set = RuleSet::new(&[Arc::new(outcome.playbook)], &RuleFilter::default());
    let result = analyze(
        &set,
        "a.js",
        Lang::JavaScript,
        "console.log(1); log(2);",
        &AnalyzeOptions::default(),
    );
    assert_eq!(result.findings.len(), 1);
}

#[test]
fn inline_playbook() {
    let spec: volatile_engine::spec::InlinePlaybookSpec =
        match serde_json::from_value(serde_json::json!({
            "id": "mine",
            "rules": [
                {"id": "a", "language": "python", "rule": {"pattern": "print($A)"}},
                {"id": "b", "language": "python", "rule": {"kind": "no_such_kind"}}
            ]
        })) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
    let outcome = volatile_engine::playbook::inline_playbook(spec);
    assert_eq!(outcome.playbook.id, "mine");
    assert_eq!(outcome.playbook.rules.len(), 1);
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].rule_id.as_deref(), Some("b"));
}

#[test]
fn inline_rules_that_are_not_objects_are_errors() {
    let spec: volatile_engine::spec::InlinePlaybookSpec = match serde_json::from_value(
        serde_json::json!({
            "rules": [null, {"id": "a", "language": "python", "rule": {"pattern": "print($A)"}}, "id: b", 3]
        }),
    ) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let outcome = volatile_engine::playbook::inline_playbook(spec);
    assert_eq!(outcome.playbook.rules.len(), 1);
    let files: Vec<Option<&str>> = outcome.errors.iter().map(|e| e.file.as_deref()).collect();
    assert_eq!(
        files,
        [Some("rules[0]"), Some("rules[2]"), Some("rules[3]")]
    );
    assert!(
        outcome.errors[0]
            .to_string()
            .contains("a rule must be an object")
    );
}

#[test]
fn sgconfig_projects_load_rule_and_util_dirs() {
    let dir = std::env::temp_dir().join(format!("volatile-sg-{}", std::process::id()));
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).unwrap_or_default();
        }
        std::fs::write(path, text).unwrap_or_default();
    };
    write(
        "sgconfig.yml",
        "ruleDirs: [rules]\nutilDirs: [shared]\ntestConfigs:\n  - testDir: tests\n",
    );
    write(
        "rules/sec/r.yml",
        "id: r\nlanguage: python\nrule:\n  matches: u\n",
    );
    write(
        "shared/u.yml",
        "id: u\nlanguage: python\nrule:\n  kind: integer\n",
    );
    write("tests/r-test.yml", "id: r\nvalid: ['x']\ninvalid: ['1']\n");
    let loaded = volatile_engine::playbook::load_sgconfig(&dir.join("sgconfig.yml"));
    let _ = std::fs::remove_dir_all(&dir);
    let Ok((outcome, test_dirs)) = loaded else {
        panic!("load failed")
    };
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.playbook.rules[0].standard.as_deref(), Some("sec"));
    assert_eq!(test_dirs.len(), 1);
}

#[test]
fn double_dollar_metavariables_match_unnamed_nodes() {
    // `return;` has only the unnamed `;` after `return`: `$A` cannot take it, `$$A` can.
    assert_eq!(
        js("rule:\n  pattern: return $$A\n", "function f() { return; }"),
        ["return;"]
    );
}

#[test]
fn one_match_and_one_non_match_per_language() {
    let cases = [
        (
            Lang::TypeScript,
            "a.ts",
            "let x: any = f(1);",
            "let x: number = f(1);",
        ),
        (
            Lang::Tsx,
            "a.tsx",
            "const e = <div onClick={any} />;",
            "const e = <div />;",
        ),
        (Lang::JavaScript, "a.js", "var any = 1;", "var other = 1;"),
        (Lang::Python, "a.py", "any = 1\n", "other = 1\n"),
        (
            Lang::Java,
            "A.java",
            "class A { int any; }",
            "class A { int other; }",
        ),
    ];
    for (lang, path, hit, miss) in cases {
        let rule = match lang {
            Lang::TypeScript => {
                "id: r\nlanguage: typescript\nrule:\n  kind: predefined_type\n  regex: ^any$\n"
            }
            _ => {
                "id: r\nlanguages: [tsx, javascript, python, java]\nrule:\n  kind: identifier\n  regex: ^any$\n"
            }
        };
        assert_eq!(run(rule, lang, path, hit).len(), 1, "{lang} should match");
        assert_eq!(
            run(rule, lang, path, miss).len(),
            0,
            "{lang} should not match"
        );
    }
}

#[test]
fn bare_metavariable_pattern_binds_comments() {
    // Regression: the differential test found `kind: comment` + `pattern: $C` silent.
    let rule = "id: r\nlanguage: typescript\nmessage: found $C\nrule:\n  kind: comment\n  pattern: $C\n  regex: '@ts-ignore'\n";
    let found = run(rule, Lang::TypeScript, "a.ts", "// @ts-ignore\nx();\n");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].message, "found // @ts-ignore");
}
