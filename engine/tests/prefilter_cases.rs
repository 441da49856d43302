//! Rules and sources where the prefilter's lexical rules come close to a match: the
//! prefilter must find exactly what analysis without it finds. Each case once cost a
//! finding, or guards a place where a derivation could overreach (strings' texts,
//! escape sequences, exact case, the anchors of alternatives).

mod support;

use support::rule_set;
use volatile_engine::analyze::{AnalyzeOptions, analyze};
use volatile_grammars::Lang;

/// The number of findings of the rule of `yaml` on `code`, with and without the prefilter.
fn findings(yaml: &str, lang: Lang, code: &str) -> (usize, usize) {
    let set = rule_set(yaml);
    let count = |prefilter: bool| {
        let options = AnalyzeOptions {
            prefilter,
            ..AnalyzeOptions::default()
        };
        let result = analyze(&set, "a", lang, code, &options);
        assert!(result.error.is_none(), "{:?}", result.error);
        result.findings.len()
    };
    (count(true), count(false))
}

/// `(name, language, rule body, source, findings)`.
type Case = (&'static str, Lang, &'static str, &'static str, usize);

const CASES: &[Case] = &[
    // A field's child is no string fragment, but what lies below it may be.
    (
        "has in a field, stopBy end",
        Lang::JavaScript,
        "  kind: call_expression\n  has:\n    field: arguments\n    stopBy: end\n    regex: ^fetch$\n",
        "foo(\"fetch\");\n",
        1,
    ),
    (
        "has in a field, stopBy end, a decoy outside the string",
        Lang::JavaScript,
        "  kind: call_expression\n  has:\n    field: arguments\n    stopBy: end\n    regex: ^fetch$\n",
        "foo(\"fetch\");\nvar fetch;\n",
        1,
    ),
    (
        "has in a field, stopBy end, a template and a tagged template",
        Lang::JavaScript,
        "  kind: call_expression\n  has:\n    field: arguments\n    stopBy: end\n    regex: ^fetch$\n",
        "foo(`fetch${b}`);\ntag(`fetch`);\n",
        2,
    ),
    (
        "has in a field, stopBy a rule",
        Lang::JavaScript,
        "  kind: pair\n  has:\n    field: value\n    stopBy:\n      kind: identifier\n    regex: ^fetch$\n",
        "x = { a: \"fetch\" };\n",
        1,
    ),
    (
        "has in a field, the neighbour",
        Lang::JavaScript,
        "  kind: call_expression\n  has:\n    field: function\n    regex: ^fetch$\n",
        "s = \"fetch(u)\"; fetch(u);\n",
        1,
    ),
    // Inside strings' texts: fragments start and end at the text's ends and at escapes.
    (
        "a fragment after a long code point escape",
        Lang::JavaScript,
        "  kind: string_fragment\n  regex: ^fetch\n",
        "s = \"a\\u{00000041}fetch b\";\n",
        1,
    ),
    (
        "a fragment of a template literal type",
        Lang::TypeScript,
        "  kind: string_fragment\n  regex: ^fetch$\n",
        "type A = `x${B}fetch`;\n",
        1,
    ),
    (
        "a fragment after an escaped quote",
        Lang::JavaScript,
        "  kind: string_fragment\n  regex: ^fetch$\n",
        "s = \"\\\"fetch\\\"\";\n",
        1,
    ),
    (
        "an identifier in a template's substitution",
        Lang::TypeScript,
        "  pattern: console.log($A)\n",
        "s = `${console.log(1)}`;\n",
        1,
    ),
    // Escape sequences of every length: Python's `\U` takes 10 bytes.
    (
        "after Python's \\U escape (regex)",
        Lang::Python,
        "  kind: escape_sequence\n  regex: '^\\\\U0001F600$'\n",
        "s = \"\\U0001F600abc\"\n",
        1,
    ),
    (
        "after Python's \\U escape (pattern)",
        Lang::Python,
        "  pattern: print(\"\\U0001F600abc\")\n",
        "print(\"\\U0001F600abc\")\n",
        1,
    ),
    // Exact case and the anchors of alternatives.
    (
        "an alternative's whole match",
        Lang::JavaScript,
        "  kind: identifier\n  regex: ^fetch$|^got$\n",
        "GoTo(); got();\n",
        1,
    ),
    (
        "a case-insensitive regex",
        Lang::JavaScript,
        "  kind: identifier\n  regex: (?i)^got$\n",
        "GOT();\n",
        1,
    ),
    (
        "one of several repetitions",
        Lang::JavaScript,
        "  kind: identifier\n  regex: ^(?:ab)+$\n",
        "abab();\n",
        1,
    ),
];

#[test]
fn the_prefilter_finds_what_analysis_without_it_finds() {
    for &(name, lang, body, code, want) in CASES {
        let language = match lang {
            Lang::JavaScript => "javascript",
            Lang::TypeScript => "typescript",
            Lang::Python => "python",
            other => panic!("no case in {other:?}"),
        };
        let yaml = format!("id: a\nlanguage: {language}\nmessage: m\nrule:\n{body}");
        let (with, without) = findings(&yaml, lang, code);
        assert_eq!((with, without), (want, want), "{name}");
    }
}
