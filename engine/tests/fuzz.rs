//! Property-based fuzzing on stable Rust: the rule-file parser and compiler, the pattern
//! compiler, and the analysis of arbitrary source against the example playbooks must never
//! panic, loop or report something impossible, whatever they are given.
//!
//! `cargo test` runs a fixed number of cases per target (`VOLATILE_FUZZ_CASES`, default
//! 200). Longer runs, e.g. a million cases per target:
//!
//! ```text
//! VOLATILE_FUZZ_CASES=1000000 cargo test --release -p volatile-engine --test fuzz
//! ```
//!
//! A failing case is shrunk and printed; proptest also records its seed under
//! `engine/proptest-regressions/`, which is committed so that it runs first from then on.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use serde_json::{Value, json};
use volatile_engine::analyze::{AnalyzeOptions, RuleFilter, RuleSet, analyze};
use volatile_engine::finding::FileErrorCode;
use volatile_engine::loader::parse_rule_text;
use volatile_engine::pattern::Pattern;
use volatile_engine::playbook::{Playbook, inline_playbook, load_playbook_dir};
use volatile_engine::spec::{InlinePlaybookSpec, Strictness};
use volatile_engine::tree::{SyntaxTree, parse_ts};
use volatile_grammars::Lang;

fn config() -> ProptestConfig {
    let cases = std::env::var("VOLATILE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    ProptestConfig::with_cases(cases)
}

const LANGS: [Lang; 5] = [
    Lang::TypeScript,
    Lang::Tsx,
    Lang::JavaScript,
    Lang::Python,
    Lang::Java,
];

fn lang() -> impl Strategy<Value = Lang> {
    prop::sample::select(LANGS.to_vec())
}

/// Fragments of code in all five languages, metavariables and the characters that make
/// parsers and the pattern compiler take unusual paths.
fn code_fragment() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "$A",
        "$$$ARGS",
        "$_",
        "$$B",
        "$",
        "$$$",
        "foo",
        "bar.baz",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ";",
        ":",
        "=",
        "==",
        "=>",
        "->",
        "+",
        "-",
        "*",
        "/",
        "%",
        "!",
        "?",
        ".",
        "'",
        "\"",
        "`",
        "${",
        "<",
        ">",
        "</",
        "/>",
        "\n",
        "\n    ",
        "\t",
        " ",
        "\\",
        "#",
        "//",
        "/*",
        "*/",
        "0",
        "1.5e3",
        "0x1F",
        "def ",
        "class ",
        "return ",
        "if ",
        "else ",
        "for ",
        "while ",
        "import ",
        "from ",
        "lambda ",
        "yield ",
        "async ",
        "await ",
        "new ",
        "function ",
        "const ",
        "let ",
        "var ",
        "public ",
        "static ",
        "void ",
        "int ",
        "interface ",
        "@Override",
        "@",
        "eval",
        "print",
        "console.log",
        "é",
        "日本",
        "🦀",
        "\u{0}",
        "\u{feff}",
        "\r\n",
    ]);
    prop::collection::vec(prop_oneof![tokens.prop_map(String::from), ".{0,6}"], 0..40)
        .prop_map(|parts| parts.concat())
}

/// Patterns that parse in at least one language, with metavariables.
fn realistic_pattern() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "$A",
        "foo($A)",
        "$F($$$ARGS)",
        "$A.$B($$$)",
        "console.log($$$ARGS)",
        "print($A)",
        "eval($X)",
        "$A == $B",
        "$A + $B",
        "return $A",
        "$X = $Y",
        "if ($C) { $$$B }",
        "new $T($$$)",
        "System.out.println($A)",
        "import $M",
        "def $F($$$P): $$$B",
        "[$$$ITEMS]",
        "{ $$$ }",
        "$A ? $B : $C",
        "await $P",
        "\"$S\"",
        "'$S'",
        "1",
    ])
    .prop_map(String::from)
}

/// Rule objects built from ast-grep's keys, nested a few levels.
fn rule_object() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        3 => realistic_pattern().prop_map(|p| json!({ "pattern": p })),
        1 => code_fragment().prop_map(|p| json!({ "pattern": p })),
        1 => prop::sample::select(vec![
            "identifier",
            "call_expression",
            "call",
            "method_invocation",
            "string",
            "ERROR",
            "nonexistent_kind",
            "",
        ])
        .prop_map(|k| json!({ "kind": k })),
        1 => ".{0,12}".prop_map(|r| json!({ "regex": r })),
        1 => prop::sample::select(vec!["util", "util", "missing", "self"]).prop_map(|m| json!({ "matches": m })),
        1 => (code_fragment(), prop::sample::select(vec!["smart", "cst", "ast", "relaxed", "signature", "bogus"]))
            .prop_map(|(p, s)| json!({"pattern": {"context": p, "selector": "identifier", "strictness": s}})),
        1 => (0u64..4).prop_map(|n| json!({ "nthChild": n })),
        1 => Just(json!({})),
        1 => Just(json!(null)),
        1 => Just(json!(7)),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        let stop = prop::sample::select(vec![
            json!("end"),
            json!("neighbor"),
            json!({"kind": "block"}),
            json!(3),
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({ "all": v })),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({ "any": v })),
            inner.clone().prop_map(|r| json!({ "not": r })),
            (
                prop::sample::select(vec!["inside", "has", "follows", "precedes"]),
                inner.clone(),
                stop,
                prop::option::of(prop::sample::select(vec![
                    "body",
                    "arguments",
                    "name",
                    "nope"
                ])),
            )
                .prop_map(|(rel, r, stop, field)| {
                    let mut related = r.as_object().cloned().unwrap_or_default();
                    related.insert("stopBy".into(), stop);
                    if let Some(field) = field {
                        related.insert("field".into(), json!(field));
                    }
                    json!({ rel: related })
                }),
            (inner.clone(), inner).prop_map(|(a, b)| {
                let mut merged = a.as_object().cloned().unwrap_or_default();
                if let Some(b) = b.as_object() {
                    merged.extend(b.clone());
                }
                Value::Object(merged)
            }),
        ]
    })
}

/// Whole rule documents: rule or query, utils (possibly cyclic), constraints, transforms,
/// fixes, messages with metavariables, and keys of the wrong type.
fn rule_document() -> impl Strategy<Value = Value> {
    let language = prop_oneof![
        8 => prop::sample::select(vec!["typescript", "tsx", "javascript", "python", "java", "ts", "py"]),
        1 => prop::sample::select(vec!["cobol", "", "Python "]),
    ];
    // Mostly a rule or a query (one of them, as the format wants), sometimes both or neither.
    let body = prop_oneof![
        8 => rule_object().prop_map(|r| (Some(r), None)),
        2 => prop_oneof![
            Just("(call_expression function: (identifier) @f) @match".to_string()),
            Just("(identifier) @match".to_string()),
            Just("(call".to_string()),
            ".{0,20}".prop_map(String::from),
        ]
        .prop_map(|q| (None, Some(q))),
        1 => Just((None, None)),
        1 => (rule_object(), ".{0,10}").prop_map(|(r, q)| (Some(r), Some(q))),
    ];
    let utils = prop_oneof![
        2 => Just(None),
        2 => rule_object().prop_map(|u| Some(json!({ "util": u }))),
        1 => rule_object().prop_map(|u| Some(json!({ "util": u, "self": {"matches": "self"} }))),
    ];
    (
        language,
        body,
        utils,
        prop::option::of(rule_object()),
        prop::option::of(".{0,8}"),
        code_fragment(),
    )
        .prop_map(|(language, (rule, query), utils, constraint, transform, message)| {
            let mut doc = json!({"id": "fuzz", "language": language, "severity": "warning",
                                 "message": format!("{message} $A $$$ARGS")});
            if let Some(rule) = rule {
                doc["rule"] = rule;
            }
            if let Some(query) = query {
                doc["query"] = json!(query);
            }
            if let Some(utils) = utils {
                doc["utils"] = utils;
            }
            if let Some(constraint) = constraint {
                doc["constraints"] = json!({ "A": constraint });
            }
            if let Some(t) = transform {
                doc["transform"] = json!({"B": {"substring": {"source": "$A", "startChar": 1, "endChar": -1}},
                                          "C": {"replace": {"source": "$A", "replace": t, "by": "x"}}});
                doc["fix"] = json!("$B($C) $$$ARGS");
            }
            doc
        })
}

fn examples() -> &'static (RuleSet, Vec<Arc<Playbook>>) {
    static SET: OnceLock<(RuleSet, Vec<Arc<Playbook>>)> = OnceLock::new();
    SET.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules-examples");
        let playbooks: Vec<Arc<Playbook>> = ["typescript", "python", "java", "team-conventions"]
            .iter()
            .map(|name| match load_playbook_dir(&root.join(name)) {
                Ok(outcome) => {
                    assert!(outcome.errors.is_empty(), "{name}: {:?}", outcome.errors);
                    Arc::new(outcome.playbook)
                }
                Err(e) => panic!("{name}: {e}"),
            })
            .collect();
        let set = RuleSet::new(&playbooks, &RuleFilter::default());
        (set, playbooks)
    })
}

/// The example playbooks' own `invalid` examples with their language: sources that
/// reach the matchers' success paths.
fn seeds() -> &'static Vec<(Lang, String)> {
    static SEEDS: OnceLock<Vec<(Lang, String)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let (_, playbooks) = examples();
        let mut out = Vec::new();
        for rule in playbooks.iter().flat_map(|p| p.rules.iter()) {
            if let Some(&lang) = rule.languages.first() {
                out.extend(
                    rule.examples
                        .invalid
                        .iter()
                        .map(|code| (lang, code.clone())),
                );
            }
        }
        assert!(out.len() > 100, "only {} example sources", out.len());
        out
    })
}

/// A seed source mutated: fragments inserted, bytes cut, or two seeds spliced.
fn source() -> impl Strategy<Value = (Lang, String)> {
    let seed = || (0..seeds().len()).prop_map(|i| seeds()[i].clone());
    prop_oneof![
        2 => seed(),
        3 => (seed(), any::<prop::sample::Index>(), code_fragment()).prop_map(|((lang, code), at, frag)| {
            let mut at = at.index(code.len() + 1);
            while !code.is_char_boundary(at) {
                at -= 1;
            }
            (lang, format!("{}{frag}{}", &code[..at], &code[at..]))
        }),
        2 => (seed(), any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|((lang, code), a, b)| {
            let (mut a, mut b) = (a.index(code.len() + 1), b.index(code.len() + 1));
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            while !code.is_char_boundary(a) {
                a -= 1;
            }
            while !code.is_char_boundary(b) {
                b -= 1;
            }
            (lang, format!("{}{}", &code[..a], &code[b..]))
        }),
        1 => (seed(), seed()).prop_map(|((lang, a), (_, b))| (lang, format!("{a}\n{b}"))),
        1 => (lang(), code_fragment()),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary text as a rule file: parsed or refused with an error, never a panic.
    #[test]
    fn rule_text_never_panics(text in prop_oneof![
        ".{0,200}",
        rule_document().prop_map(|d| d.to_string()),
        rule_document().prop_map(|d| d.to_string().replace(['{', '"'], "")),
    ]) {
        let _ = parse_rule_text(&text, Some("fuzz.yml"));
    }

    /// Arbitrary rule documents compile or are refused with errors, never a panic; what
    /// compiles runs on arbitrary code without an internal error.
    #[test]
    fn rule_documents_compile_or_fail_cleanly(doc in rule_document(), code in code_fragment()) {
        let outcome = inline_playbook(InlinePlaybookSpec { id: None, name: None, rules: vec![doc] });
        if outcome.errors.is_empty() && !outcome.playbook.rules.is_empty() {
            let playbooks = vec![Arc::new(outcome.playbook)];
            let set = RuleSet::new(&playbooks, &RuleFilter::default());
            for lang in LANGS {
                let result = analyze(&set, "fuzz", lang, &code, &AnalyzeOptions::default());
                prop_assert!(
                    result.error.as_ref().is_none_or(|e| e.code != FileErrorCode::Internal),
                    "internal error for {lang:?}"
                );
            }
        }
    }

    /// Arbitrary pattern text in every language and strictness: a pattern or an error.
    #[test]
    fn patterns_compile_or_fail_cleanly(src in code_fragment(), lang in lang(), strictness in prop::sample::select(vec![
        Strictness::Cst, Strictness::Smart, Strictness::Ast, Strictness::Relaxed, Strictness::Signature,
    ])) {
        if let Ok(pattern) = Pattern::new(&src, lang, strictness) {
            let _ = pattern.literals();
            let _ = pattern.captured_names();
        }
    }

    /// Arbitrary source against the example playbooks: no internal error (a caught panic),
    /// and every finding lies inside the source on character boundaries.
    #[test]
    fn analysis_of_arbitrary_source_is_sound((lang, code) in source()) {
        let (set, _) = examples();
        let result = analyze(set, "fuzz", lang, &code, &AnalyzeOptions::default());
        prop_assert!(
            result.error.as_ref().is_none_or(|e| e.code != FileErrorCode::Internal),
            "internal error"
        );
        for f in &result.findings {
            let r = &f.byte_range;
            prop_assert!(r.start <= r.end && r.end <= code.len(), "range {r:?} outside the source");
            prop_assert!(code.is_char_boundary(r.start) && code.is_char_boundary(r.end));
            prop_assert!(f.range.start.line >= 1 && f.range.start.line <= f.range.end.line);
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Mutated sources in every grammar: the one-pass copy of the tree-sitter tree, and the
    /// one that frees the tree as it goes, give the cursor walk's tree; both hand over the
    /// same nodes at the same positions, the second each with its whole subtree.
    #[test]
    fn the_one_pass_copy_equals_the_cursor_walk((lang, code) in source()) {
        let tree = parse_ts(lang, &code, None);
        prop_assert!(tree.is_ok());
        let Ok(tree) = tree else { return Ok(()) };
        let wanted = vec![true; lang.ts_language().node_kind_count()];
        let (mut fast, mut reference) = (Vec::new(), Vec::new());
        let copied = SyntaxTree::from_ts_collecting(lang, &code, &tree, &wanted, &mut fast);
        let walked = SyntaxTree::from_ts_by_cursor(lang, &code, &tree, &wanted, &mut reference);
        prop_assert!(copied == walked);
        // The consuming copy hands over the same nodes, each with its whole subtree.
        let whole = |n: tree_sitter::Node<'_>| {
            (n.kind_id(), n.byte_range(), n.start_position(), n.to_sexp())
        };
        let mut visited = Vec::new();
        let consumed = parse_ts(lang, &code, None).ok().and_then(|owned| {
            SyntaxTree::from_ts_consuming_visiting(
                lang, &code, owned, &wanted, &mut |n| visited.push(whole(n)), None,
            )
        });
        prop_assert!(consumed.is_some_and(|c| c == walked), "the consuming copy");
        prop_assert!(visited == fast.iter().map(|&n| whole(n)).collect::<Vec<_>>());
        let described = |nodes: &[tree_sitter::Node<'_>]| -> Vec<_> {
            nodes.iter().map(|n| (n.id(), n.kind_id(), n.byte_range(), n.start_position())).collect()
        };
        prop_assert_eq!(described(&fast), described(&reference));
    }
}

/// The findings of `code` with the prefilter and anchored rules, and without (every rule
/// at every node of its kinds): the prefilter may only save work, never change a result.
fn with_and_without_prefilter(set: &RuleSet, lang: Lang, code: &str) -> (Vec<Value>, Vec<Value>) {
    let run = |prefilter: bool| -> Vec<Value> {
        let options = AnalyzeOptions {
            prefilter,
            ..AnalyzeOptions::default()
        };
        let result = analyze(set, "fuzz", lang, code, &options);
        result
            .findings
            .iter()
            .map(|f| json!([f.rule_id, f.byte_range.start, f.byte_range.end, f.message]))
            .collect()
    };
    (run(true), run(false))
}

proptest! {
    #![proptest_config(config())]

    /// The example playbooks on mutated sources, with or without a byte order mark: the
    /// same findings with the prefilter (and its anchors) as without.
    #[test]
    fn the_prefilter_changes_no_finding((lang, code) in source(), bom in any::<bool>()) {
        let (set, _) = examples();
        let code = if bom { format!("\u{feff}{code}") } else { code };
        let (with, without) = with_and_without_prefilter(set, lang, &code);
        prop_assert_eq!(with, without);
    }

    /// Generated rules on generated code: the same findings with the prefilter as without.
    #[test]
    fn the_prefilter_changes_no_finding_of_generated_rules(doc in rule_document(), code in code_fragment()) {
        let outcome = inline_playbook(InlinePlaybookSpec { id: None, name: None, rules: vec![doc] });
        if outcome.errors.is_empty() && !outcome.playbook.rules.is_empty() {
            let set = RuleSet::new(&[Arc::new(outcome.playbook)], &RuleFilter::default());
            for lang in LANGS {
                let (with, without) = with_and_without_prefilter(&set, lang, &code);
                prop_assert_eq!(with, without, "{:?}", lang);
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Several rules on the same literals in one playbook, each under two ids: anchored
    /// rules with the same places and kinds share the nodes they are tried at, which must
    /// change no finding. Twins find the same, and the prefilter changes nothing.
    #[test]
    fn rules_sharing_anchors_find_what_each_finds_alone(
        rules in prop::collection::vec(anchored_rule(), 1..5),
        lang in prop::sample::select(vec![Lang::Python, Lang::JavaScript]),
        lines in prop::collection::vec(prop::sample::select(vec![
            "foo(1)", "foo(foo(2))", "bar.baz(foo)", "print(foo(3))", "eval(x)",
            "console.log(foo(1))", "x = foo", "bar.baz(1)(2)", "y = [foo, bar.baz(eval(foo))]",
        ]), 0..12),
    ) {
        let (language, call) = match lang {
            Lang::Python => ("python", "call"),
            _ => ("javascript", "call_expression"),
        };
        let mut docs = Vec::new();
        for (i, rule) in rules.into_iter().enumerate() {
            let rule: Value = match serde_json::from_str(&rule.to_string().replace("CALL", call)) {
                Ok(rule) => rule,
                Err(e) => panic!("{e}"),
            };
            for twin in ["a", "b"] {
                docs.push(json!({"id": format!("r{i}-{twin}"), "language": language,
                                 "severity": "warning", "message": "m", "rule": rule.clone()}));
            }
        }
        let outcome = inline_playbook(InlinePlaybookSpec { id: None, name: None, rules: docs });
        prop_assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        let set = RuleSet::new(&[Arc::new(outcome.playbook)], &RuleFilter::default());
        let code = lines.join("\n");
        {
            let (with, without) = with_and_without_prefilter(&set, lang, &code);
            prop_assert_eq!(&with, &without, "{:?}", lang);
            // Each twin's findings, under the rule's number.
            let of = |twin: &str| -> Vec<String> {
                let mut found: Vec<String> = with
                    .iter()
                    .filter_map(|f| {
                        let id = f[0].as_str()?.strip_suffix(twin)?;
                        Some(format!("{id} {} {}", f[1], f[2]))
                    })
                    .collect();
                found.sort();
                found
            };
            prop_assert_eq!(of("-a"), of("-b"), "{:?}", lang);
        }
    }
}

/// Rules whose matches must contain literals that [`rules_sharing_anchors_find_what_each_finds_alone`]'s
/// code has, so that they are anchored and often share their places and kinds.
fn anchored_rule() -> impl Strategy<Value = Value> {
    let pattern = prop::sample::select(vec![
        "foo($A)",
        "foo",
        "bar.baz($$$)",
        "bar.baz",
        "print($A)",
        "eval($X)",
        "$F(foo)",
    ]);
    prop_oneof![
        pattern.clone().prop_map(|p| json!({ "pattern": p })),
        (
            pattern.clone(),
            prop::sample::select(vec!["CALL", "identifier"])
        )
            .prop_map(|(p, k)| json!({ "kind": k, "has": { "pattern": p, "stopBy": "end" } })),
        (pattern.clone(), pattern)
            .prop_map(|(p, q)| json!({ "any": [{ "pattern": p }, { "pattern": q }] })),
    ]
}

/// The generators reach the interesting paths: a fuzz target whose inputs all fail early
/// tests nothing. Enough rule documents compile, and enough analyses find something.
#[test]
fn generators_reach_compilation_and_findings() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut compiled, mut with_findings) = (0, 0);
    let (set, _) = examples();
    for _ in 0..400 {
        let Ok(doc) = rule_document().new_tree(&mut runner) else {
            continue;
        };
        let outcome = inline_playbook(InlinePlaybookSpec {
            id: None,
            name: None,
            rules: vec![doc.current()],
        });
        if outcome.errors.is_empty() && !outcome.playbook.rules.is_empty() {
            compiled += 1;
        }
        let Ok(tree) = source().new_tree(&mut runner) else {
            continue;
        };
        let (lang, code) = tree.current();
        let result = analyze(set, "fuzz", lang, &code, &AnalyzeOptions::default());
        if !result.findings.is_empty() {
            with_findings += 1;
        }
    }
    assert!(
        compiled >= 40,
        "only {compiled} of 400 rule documents compile"
    );
    assert!(
        with_findings >= 20,
        "only {with_findings} of 400 sources have findings"
    );
}
