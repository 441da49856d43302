//! The prefilter's lexical knowledge against tree-sitter, on every file tree-sitter
//! parses without errors: every range the lexer calls a comment is a comment node of
//! tree-sitter's tree; every token starts and ends where `may_split` allows and, within
//! the text of a string the lexer found, where the lexer allows (at its ends and next to
//! escape sequences); and every node that starts in such a text is a fragment or an
//! escape sequence in no field. And the lexer does find the comments and strings of
//! ordinary code.
//!
//! `VOLATILE_FUZZ_CASES` sets the number of generated cases, as in `fuzz.rs`.

use proptest::prelude::*;
use volatile_engine::kinds::LangInfo;
use volatile_engine::lexical::{Lexed, may_split};
use volatile_engine::tree::parse_ts;
use volatile_grammars::Lang;

fn config() -> ProptestConfig {
    let cases = std::env::var("VOLATILE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    ProptestConfig::with_cases(cases)
}

/// Calls `visit` with every node of tree-sitter's tree of `text`, in pre-order, and
/// whether it hangs in a field; returns whether the tree has errors.
fn visit_nodes(lang: Lang, text: &str, mut visit: impl FnMut(tree_sitter::Node<'_>, bool)) -> bool {
    let Ok(tree) = parse_ts(lang, text, None) else {
        panic!("tree-sitter gave no tree")
    };
    let mut cursor = tree.walk();
    'walk: loop {
        visit(cursor.node(), cursor.field_name().is_some());
        if cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    tree.root_node().has_error()
}

/// tree-sitter's comment nodes of `text`, and whether its tree has errors.
fn tree_sitter_comments(lang: Lang, text: &str) -> (Vec<(u32, u32)>, bool) {
    let mut out = Vec::new();
    let has_error = visit_nodes(lang, text, |node, _| {
        if node.kind().contains("comment") {
            out.push((node.start_byte() as u32, node.end_byte() as u32));
        }
    });
    (out, has_error)
}

/// The lexer's ranges that are not tree-sitter comments, for a text without errors.
fn unsound_ranges(lang: Lang, text: &str) -> Vec<(u32, u32)> {
    let (truth, has_error) = tree_sitter_comments(lang, text);
    if has_error {
        return Vec::new();
    }
    Lexed::of(lang, text.as_bytes())
        .comments()
        .iter()
        .filter(|r| !truth.contains(r))
        .copied()
        .collect()
}

/// The tokens (leaves) of tree-sitter's tree that start or end where `may_split` or the
/// lexed strings say no token can, and the nodes that start in a lexed string's text but
/// are no fragment or escape sequence of it (or hang in a field), for a text without
/// errors.
fn split_tokens(lang: Lang, text: &str) -> Vec<(usize, usize, String)> {
    let bytes = text.as_bytes();
    let lexed = Lexed::of(lang, bytes);
    let info = LangInfo::of(lang);
    let edge = |at: usize| may_split(bytes, at) && lexed.may_split(bytes, at);
    let mut out = Vec::new();
    let has_error = visit_nodes(lang, text, |node, in_field| {
        let (start, end) = (node.start_byte(), node.end_byte());
        let token_split = node.child_count() == 0 && !(edge(start) && edge(end));
        let in_string =
            lexed.in_string(start as u32) && (in_field || !info.may_be_string_text(node.kind_id()));
        if start < end && (token_split || in_string) {
            out.push((start, end, node.kind().to_string()));
        }
    });
    if has_error { Vec::new() } else { out }
}

fn texts(text: &str, ranges: &[(u32, u32)]) -> Vec<String> {
    ranges
        .iter()
        .map(|&(s, e)| {
            text.get(s as usize..e as usize)
                .unwrap_or("<not on a char boundary>")
                .to_string()
        })
        .collect()
}

fn ranges(lang: Lang, text: &str) -> Vec<String> {
    texts(text, Lexed::of(lang, text.as_bytes()).comments())
}

fn strings(lang: Lang, text: &str) -> Vec<String> {
    texts(text, Lexed::of(lang, text.as_bytes()).strings())
}

#[test]
fn comments_of_ordinary_code_are_found() {
    let ts = "/** Fetches `x`. Don't call console.log here. */\nexport function f(a: number, b: number): number {\n  // half: a / b\n  const r = /a\\/[/*]b/g; /* after a regex */\n  const s = '//' + \"/*\" + `${a /* inside */} // not`;\n  return a / b / 2; // trailing\n}\n";
    let want = [
        "/** Fetches `x`. Don't call console.log here. */",
        "// half: a / b",
        "/* after a regex */",
        "/* inside */",
        "// trailing",
    ];
    for lang in [Lang::TypeScript, Lang::Tsx] {
        assert_eq!(ranges(lang, ts), want, "{lang:?}");
        assert!(unsound_ranges(lang, ts).is_empty());
    }
    let js = ts.replace(": number", "");
    assert_eq!(ranges(Lang::JavaScript, &js), want);
    // Keywords before a regex, a non-null assertion before a division, spread, numbers.
    let ts = "function g(a) { if (!a) { throw /x/; } return typeof /y/ }\nconst n = a! / 2 / .5; // c1\nf(...xs); // c2\n";
    assert_eq!(ranges(Lang::TypeScript, ts), ["// c1", "// c2"]);
    assert!(unsound_ranges(Lang::TypeScript, ts).is_empty());
}

#[test]
fn strings_texts_are_found() {
    let ts = "const s = 'a\\'b' + \"c\" + `d${e + 'f'}g` + '' + `${h}`; // 'i'\n";
    for lang in [Lang::TypeScript, Lang::Tsx, Lang::JavaScript] {
        assert_eq!(strings(lang, ts), ["a\\'b", "c", "d", "f", "g"], "{lang:?}");
    }
    // Within a string's text a token may start or end only at its ends and next to
    // escape sequences; outside strings, anywhere.
    let text = "f(x); s = 'go fetch(\\nfetch\\u{00041}y'";
    let lexed = Lexed::of(Lang::TypeScript, text.as_bytes());
    let at = |what: &str| text.find(what).unwrap_or(usize::MAX);
    let may = |at: usize| lexed.may_split(text.as_bytes(), at);
    assert!(may(at("go")), "the text's start");
    assert!(!may(at("fetch(")), "after a space");
    assert!(!may(at("(\\n")), "before `(`");
    assert!(may(at("\\n")), "an escape starts");
    assert!(may(at("fetch\\u")), "an escape ends");
    assert!(may(at("fetch\\u") + 5), "an escape starts");
    assert!(may(at("y'")), "after `\\u{{00041}}`");
    assert!(may(at("y'") + 1), "the text's end");
    assert!(may(at("(x)")), "outside strings");
    assert!(lexed.in_string(at("go") as u32) && !lexed.in_string(at("f(x)") as u32));
}

/// Where the lexer cannot be sure, it stops: nothing after counts as a comment.
#[test]
fn the_lexer_stops_where_it_is_unsure() {
    // Each would read a fake comment `//' // b` if the lexer guessed wrong at the
    // unsure place: `'` would open a string that a later `'` closes.
    let cases: &[(Lang, &str)] = &[
        // A regex after `)`: `if (a) /'/.test(s)`.
        (Lang::TypeScript, "// a\nif (a) /'/.test(s); s = '//' // b"),
        // After `}`: a block and a regex, or an object and a division.
        (Lang::TypeScript, "// a\n{}\n/'/g.exec(s); s = '//' // b"),
        (Lang::TypeScript, "// a\nx = y++ /'/.length; s = '//' // b"),
        // A line break after an operand: a type annotation may end its statement.
        (
            Lang::TypeScript,
            "// a\nlet t: string\n/'/.test(s); s = '//' // b",
        ),
        (Lang::TypeScript, "// a\nconst a = yield /'/; s = '//' // b"),
        (
            Lang::TypeScript,
            "// a\nconst a = x as Array<T> /'/.length; s = '//' // b",
        ),
        // JSX text is not JavaScript: `//` in it is text.
        (Lang::Tsx, "// a\nconst e = <a href=\"x\">// b</a>;"),
        (
            Lang::JavaScript,
            "// a\nconst e = <p>it's</p>; s = '//' // b",
        ),
        // HTML-like comments, escapes and unterminated literals.
        (Lang::JavaScript, "// a\nx = 1 <!-- '\ns = '//' // b"),
        (Lang::JavaScript, "// a\n\\u0061 = 1 // b"),
        (Lang::JavaScript, "// a\nx = 'open // b"),
        (Lang::JavaScript, "// a\nx = /open // b"),
        (Lang::JavaScript, "// a\nx = `open // b"),
        (Lang::JavaScript, "// a\nx = 1 /* open"),
        // A non-ASCII character may be a space (then `/` starts a regex) or a letter.
        (
            Lang::JavaScript,
            "// a\nx = caf\u{e9} /'/.length; s = '//' // b",
        ),
        (
            Lang::JavaScript,
            "// a\nx = a\u{a0}/'/.test(s); s = '//' // b",
        ),
    ];
    for (lang, text) in cases {
        assert_eq!(ranges(*lang, text), ["// a"], "{text}");
    }
    // In TypeScript (no JSX) `<` is a type assertion or a comparison.
    assert_eq!(
        ranges(Lang::TypeScript, "// a\nconst n = <number>x < y; // b"),
        ["// a", "// b"]
    );
    // Python and Java have no lexer here.
    assert!(ranges(Lang::Python, "# a\n").is_empty());
    assert!(ranges(Lang::Java, "// a\n").is_empty());
}

/// Pieces of JavaScript and TypeScript where comments, strings, templates, regexes,
/// divisions and JSX meet.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a / b",
        "a /= 2",
        "x = /re[/]x/g",
        "/\\//.test(s)",
        "r = /'/",
        "r = /\"/",
        "s = '//'",
        "s = \"/*\"",
        "t = `a ${b /* c */} // d`",
        "t = `${ {a: 1}.a }`",
        "// line comment",
        "/* block */",
        "/* multi\nline */",
        "/** doc 'q' \"r\" */",
        "if (a) /x/.test(b)",
        "f(x) / 2",
        "a++ / 2",
        "a! / 2",
        "return /x/",
        "typeof /x/",
        "<div>// text</div>",
        "x < y",
        "a\n/ b",
        "{",
        "}",
        "(",
        ")",
        "[1] / 2",
        "let a: string",
        "x as Array<number> / 2",
        "`",
        "'",
        "\"",
        "/",
        "*",
        "\\",
        "caf\u{e9}",
        "'it''s'",
        "1.5 / 2",
        ".5",
        "a ? /x/ : /y/",
        "label: /x/",
        "<!-- html",
        "--> x",
        "@dec class A {}",
        "class A { #p = 1; m() { return this.#p / 2 } }",
        "yield /x/",
        "await /x/",
        "of / 2",
        "x.return / 2",
        "async () => /x/",
        "a >= /x/.source.length",
        "\u{2028}",
        "\u{a0}",
        "/* a */ / 2",
        "x /* a */ / 2",
        "`${`${'//'}`}` // e",
        "console.log(1)",
        "f(/* x */)",
        "g(// y\n)",
        "a\n++b",
        "<T,>(x: T) => x",
        "f<T>(x) / 2",
        "let x = {a: /re/} // z",
        "=> {}",
        "x = y\n/* k */",
        // Regexes and divisions with quotes and comment openers in them: a wrong guess
        // between the two puts the lexer out of step with the text.
        "if (a) /'/.test(b)",
        "if (a) /\"/.test(b)",
        "if (a) /\\/*/.test(b)",
        "a / '/'",
        "a\n/'/.test(b)",
        "let c: string\n/'/.test(b)",
        "x++ /'/.length",
        "{}\n/'/.test(b)",
        "x as Array<T> /'/.length",
        "y! /'/.length",
        "s = '//'",
        "s = \"//\"",
        // Tokens next to each other: escapes in strings and templates, numbers, regex
        // flags, template substitutions.
        "s = 'a\\nb\\u0041c\\x41d\\101e'",
        "t = `a\\tb${c}d\\u{41}e`",
        "n = 0x1Fn + 1e5 + .5e-3",
        "r = /a\\wb/gimsuy",
        "t = tag`x${y}z`",
        "a?.b?.[c]",
        "x = a=>b",
        "s = 'fetch'",
        // Strings holding code, next to escapes and quotes: within a string's text only
        // its ends and escapes may border a token.
        "s = 'console.log(x)'",
        "s = \"a fetch(b) c\"",
        "s = \"\\\"fetch\\\"\"",
        "s = '\\u{41}fetch\\x41b\\0c\\u{00000041}d'",
        "s = 'a\\\nb'",
        "s = ''",
        "t = `x ${fetch} y ${'z'}`",
        "t = `$fetch $ {a}`",
        "t = `\\${a}`",
        "s = 'it\\'s'",
        "s = '\u{2028}x'",
    ])
}

fn program() -> impl Strategy<Value = String> {
    let separator = prop::sample::select(vec![" ", "\n", ";", ";\n", "", "\r\n"]);
    prop::collection::vec((piece(), separator), 1..12)
        .prop_map(|parts| parts.into_iter().flat_map(|(p, s)| [p, s]).collect())
}

proptest! {
    #![proptest_config(config())]

    /// Every range the lexer calls a comment is a comment of tree-sitter's tree, on every
    /// generated program tree-sitter parses without errors.
    #[test]
    fn every_comment_found_is_a_tree_sitter_comment(
        text in program(),
        lang in prop::sample::select(vec![Lang::TypeScript, Lang::Tsx, Lang::JavaScript]),
    ) {
        let unsound = unsound_ranges(lang, &text);
        prop_assert!(unsound.is_empty(), "{:?} in {:?}", unsound, text);
    }

    /// Every token of tree-sitter's tree starts and ends where `may_split` allows, on
    /// every generated program tree-sitter parses without errors.
    #[test]
    fn tokens_start_and_end_where_they_may(
        text in program(),
        lang in prop::sample::select(vec![Lang::TypeScript, Lang::Tsx, Lang::JavaScript]),
    ) {
        let split = split_tokens(lang, &text);
        prop_assert!(split.is_empty(), "{:?} in {:?}", split, text);
    }
}

/// Python statements and Java statements where tokens meet: numbers before keywords,
/// escapes, string prefixes, f-strings, suffixes, text blocks.
fn python_or_java_program() -> impl Strategy<Value = (Lang, String)> {
    let python = prop::sample::select(vec![
        "x = 1if a else 2",
        "y = [0x1for x in z]",
        "s = 'a\\nb\\x41c\\101d'",
        "u = '\\U0001F600abc\\N{DASH}def'",
        "t = f'{x!r:>10}abc{y}d'",
        "b = b'\\x00ab'",
        "r = r'\\d+'",
        "n = 1_000j + 1e5",
        "def f(a, *b, **c): return a",
        "# a comment",
        "\"\"\"doc\\nstring\"\"\"",
        "a.b(c)[d]",
        "g = lambda x: x",
        "x @= y",
        "print(f\"{a}{b}\")",
        "if x:pass",
    ]);
    let java = prop::sample::select(vec![
        "int x = 0x1F;",
        "long y = 1L;",
        "float f = 1.5f;",
        "char c = '\\u0041';",
        "String s = \"a\\nb\\u0041c\";",
        "x += y >>> 2;",
        "a.b(c);",
        "/* c */",
        "// d\n",
        "String t = \"\"\"\n  text\\n\n  \"\"\";",
        "List<String> l = null;",
        "double v = 1e-5d;",
        "if(x)y();",
        "Object o = (Object)x;",
    ]);
    prop_oneof![
        prop::collection::vec(python, 1..10).prop_map(|p| (Lang::Python, p.join("\n"))),
        prop::collection::vec(java, 1..10).prop_map(|p| (
            Lang::Java,
            format!("class A {{ void m() {{\n{}\n}} }}", p.join("\n"))
        )),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Every token starts and ends where `may_split` allows in Python and Java too.
    #[test]
    fn python_and_java_tokens_start_and_end_where_they_may((lang, text) in python_or_java_program()) {
        let split = split_tokens(lang, &text);
        prop_assert!(split.is_empty(), "{:?} in {:?}", split, text);
    }
}

/// The generator reaches programs without errors that have comments, and programs
/// without errors that have strings, so the properties above check something.
#[test]
fn generated_programs_reach_error_free_comments_and_strings() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut comments, mut strings) = (0, 0);
    for _ in 0..400 {
        let Ok(tree) = program().new_tree(&mut runner) else {
            continue;
        };
        let text = tree.current();
        let (_, has_error) = tree_sitter_comments(Lang::TypeScript, &text);
        let lexed = Lexed::of(Lang::TypeScript, text.as_bytes());
        if !has_error {
            comments += usize::from(!lexed.comments().is_empty());
            strings += usize::from(!lexed.strings().is_empty());
        }
    }
    assert!(
        comments >= 20 && strings >= 20,
        "of 400 programs, only {comments} checked comments and {strings} strings"
    );
}
