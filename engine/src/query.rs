//! Raw tree-sitter queries (`query:`), a Volatile extension.
//!
//! The capture `@match` is the reported node; every other capture `@name` becomes the
//! metavariable `$NAME` (upper-cased) for messages and fixes. The text predicates
//! `#eq?`, `#not-eq?`, `#match?`, `#not-match?` and `#any-of?` are evaluated by
//! tree-sitter itself.
//!
//! Running a query over a whole tree costs about half a parse. So when every pattern of a
//! query starts with a node of a known kind (the usual `(default_parameter ...)` shape),
//! the query runs only at the nodes of those kinds, anchored there (a maximum start depth
//! of 0); other queries (wildcards, sibling sequences, quantified roots) run over the
//! whole tree.
//!
//! The text predicates also tell the prefilter what a match needs ([`QueryRule::text_needs`]):
//! `(#match? @name "(?i)token$")` on a capture that every match of its pattern has means
//! the file, and the pattern's root node, contain `token` in some case.

use std::ops::Range;
use std::sync::Arc;

use streaming_iterator::StreamingIterator;
use volatile_grammars::Lang;

use crate::document::KeyPath;
use crate::error::{ErrorKind, RuleError};
use crate::kinds::LangInfo;

/// A compiled query rule.
#[derive(Debug)]
pub struct QueryRule {
    query: tree_sitter::Query,
    match_capture: u32,
    /// (capture index, metavariable name) of the other captures.
    captures: Vec<(u32, Arc<str>)>,
    /// The kinds every match's first node has, when the source says so plainly.
    root_kinds: Option<Vec<u16>>,
    /// Per pattern: what its text predicates need of the text.
    text_needs: Vec<Vec<TextNeed>>,
}

/// What a text predicate needs of a capture that every match of its pattern has, and so
/// of the text of the pattern's root node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextNeed {
    /// `#match?`: the capture's text matches this regex.
    Regex(String),
    /// `#eq?` with a string, or `#any-of?`: the capture's text is one of these.
    OneOf(Vec<String>),
}

/// One match of a query: the reported node's range and kind, and the other captures.
#[derive(Debug, Clone)]
pub struct QueryMatch {
    /// Bytes of the `@match` node.
    pub range: Range<usize>,
    /// Kind id of the `@match` node.
    pub kind: u16,
    /// Other captures: (metavariable name, bytes, kind).
    pub captures: Vec<(Arc<str>, Range<usize>, u16)>,
}

impl QueryRule {
    /// Compiles `source` for `lang`.
    pub fn new(source: &str, lang: Lang) -> Result<QueryRule, RuleError> {
        let path = KeyPath::root().key("query");
        let query = tree_sitter::Query::new(&lang.ts_language(), source).map_err(|e| {
            RuleError::at(
                &path,
                ErrorKind::Query(format!(
                    "{:?} error at query line {}, column {}: {}",
                    e.kind,
                    e.row + 1,
                    e.column + 1,
                    e.message
                )),
            )
        })?;
        let match_capture = query
            .capture_index_for_name("match")
            .ok_or_else(|| RuleError::at(&path, ErrorKind::QueryWithoutMatch))?;
        let captures = query
            .capture_names()
            .iter()
            .enumerate()
            .filter(|(i, _)| *i as u32 != match_capture)
            .map(|(i, name)| {
                (
                    i as u32,
                    Arc::from(name.to_ascii_uppercase().replace(['.', '-'], "_")),
                )
            })
            .collect();
        let root_kinds = root_kinds(source, LangInfo::of(lang));
        let text_needs = (0..query.pattern_count())
            .map(|i| pattern_needs(&query, source, i))
            .collect();
        Ok(QueryRule {
            query,
            match_capture,
            captures,
            root_kinds,
            text_needs,
        })
    }

    /// Per top-level pattern, what its text predicates need: every match of the pattern
    /// has a capture whose text meets each need. A match of the query is a match of one
    /// of its patterns.
    pub fn text_needs(&self) -> &[Vec<TextNeed>] {
        &self.text_needs
    }

    /// The kinds of the nodes where every match starts, if known: the query need only run
    /// at nodes of these kinds ([`QueryRule::at_roots`]).
    pub fn root_kinds(&self) -> Option<&[u16]> {
        self.root_kinds.as_deref()
    }

    /// Runs the query over a whole tree.
    pub fn run(&self, tree: &tree_sitter::Tree, source: &str) -> Vec<QueryMatch> {
        let mut out = Vec::new();
        let mut cursor = tree_sitter::QueryCursor::new();
        self.collect(&mut cursor, tree.root_node(), source, &mut out);
        out
    }

    /// A runner of the query at one node after another, for matches that start at the node
    /// itself, with one cursor for them all.
    pub fn at_roots(&self) -> AtRoots<'_> {
        let mut cursor = tree_sitter::QueryCursor::new();
        cursor.set_max_start_depth(Some(0));
        AtRoots {
            query: self,
            cursor,
            matches: Vec::new(),
        }
    }

    fn collect(
        &self,
        cursor: &mut tree_sitter::QueryCursor,
        node: tree_sitter::Node<'_>,
        source: &str,
        out: &mut Vec<QueryMatch>,
    ) {
        let mut matches = cursor.matches(&self.query, node, source.as_bytes());
        while let Some(m) = matches.next() {
            let Some(target) = m.captures().iter().find(|c| c.index == self.match_capture) else {
                continue;
            };
            let captures = m
                .captures()
                .iter()
                .filter_map(|c| {
                    let name = self.captures.iter().find(|(i, _)| *i == c.index)?;
                    Some((name.1.clone(), c.node.byte_range(), c.node.kind_id()))
                })
                .collect();
            out.push(QueryMatch {
                range: target.node.byte_range(),
                kind: target.node.kind_id(),
                captures,
            });
        }
    }
}

/// [`QueryRule::at_roots`]: the query, its cursor, and the matches found so far.
pub struct AtRoots<'q> {
    query: &'q QueryRule,
    cursor: tree_sitter::QueryCursor,
    /// The matches found so far, in the order of the nodes run at.
    pub matches: Vec<QueryMatch>,
}

impl AtRoots<'_> {
    /// Runs the query at `node`, adding its matches that start there.
    pub fn run(&mut self, node: tree_sitter::Node<'_>, source: &str) {
        self.query
            .collect(&mut self.cursor, node, source, &mut self.matches);
    }
}

/// What the text predicates of pattern `index` need, for captures every match of it has
/// (quantified one or one-or-more). Only the predicates that hold for all of a capture's
/// nodes count: `#match?`, `#eq?` with a string, `#any-of?`. (`#any-match?` and `#any-eq?`
/// hold when no node of the capture meets them, in tree-sitter's Rust binding.)
fn pattern_needs(query: &tree_sitter::Query, source: &str, index: usize) -> Vec<TextNeed> {
    let text = source
        .get(query.start_byte_for_pattern(index)..query.end_byte_for_pattern(index))
        .unwrap_or("");
    let quantifiers = query.capture_quantifiers(index);
    let certain = |capture: &str| {
        query
            .capture_index_for_name(capture)
            .and_then(|i| quantifiers.get(i as usize))
            .is_some_and(|q| {
                matches!(
                    q,
                    tree_sitter::CaptureQuantifier::One | tree_sitter::CaptureQuantifier::OneOrMore
                )
            })
    };
    predicates(text)
        .into_iter()
        .filter_map(|p| {
            let [Arg::Capture(capture), rest @ ..] = p.args.as_slice() else {
                return None;
            };
            if !certain(capture) {
                return None;
            }
            let strings: Option<Vec<String>> = rest
                .iter()
                .map(|a| match a {
                    Arg::String(s) => Some(s.clone()),
                    Arg::Capture(_) => None,
                })
                .collect();
            match (p.name.as_str(), strings?.as_slice()) {
                ("match?", [regex]) => Some(TextNeed::Regex(regex.clone())),
                ("eq?", [text]) => Some(TextNeed::OneOf(vec![text.clone()])),
                ("any-of?", texts) if !texts.is_empty() => Some(TextNeed::OneOf(texts.to_vec())),
                _ => None,
            }
        })
        .collect()
}

/// A predicate `(#name? args...)` of a query's source.
#[derive(Debug, PartialEq)]
struct Predicate {
    /// The name without its `#`.
    name: String,
    args: Vec<Arg>,
}

#[derive(Debug, PartialEq)]
enum Arg {
    Capture(String),
    String(String),
}

/// The predicates in `text` (a pattern's source), wherever they are nested. A predicate
/// with an argument this reader does not follow (a bare word) is left out.
fn predicates(text: &str) -> Vec<Predicate> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut out = Vec::new();
    while let Some(b) = reader.peek() {
        match b {
            b';' => reader.skip_space(),
            b'"' => {
                if reader.unescaped_string().is_none() {
                    break;
                }
            }
            b'(' => {
                reader.at += 1;
                reader.skip_space();
                if reader.peek() == Some(b'#') {
                    reader.at += 1;
                    if let Some(p) = reader.predicate() {
                        out.push(p);
                    }
                }
            }
            _ => reader.at += 1,
        }
    }
    out
}

/// The kinds of the first node of every top-level pattern of a query, or `None` when a
/// pattern may start anywhere or is not a single node: `_`, `(_)`, a sibling sequence, a
/// quantified root, an escape in a literal, anything this reader does not follow.
fn root_kinds(source: &str, info: &LangInfo) -> Option<Vec<u16>> {
    let mut reader = Reader {
        bytes: source.as_bytes(),
        at: 0,
    };
    let mut kinds = Vec::new();
    loop {
        reader.skip_space();
        if reader.at >= reader.bytes.len() {
            break;
        }
        kinds.extend(reader.pattern_roots(info)?);
        // Captures after the pattern; a quantifier makes it a sequence.
        loop {
            reader.skip_space();
            match reader.peek() {
                Some(b'@') => {
                    reader.at += 1;
                    reader.word();
                }
                Some(b'+' | b'*' | b'?') => return None,
                _ => break,
            }
        }
    }
    if kinds.is_empty() {
        return None;
    }
    kinds.sort_unstable();
    kinds.dedup();
    Some(kinds)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() {
                self.at += 1;
            } else if b == b';' {
                while self.peek().is_some_and(|b| b != b'\n') {
                    self.at += 1;
                }
            } else {
                break;
            }
        }
    }

    fn word(&mut self) -> &str {
        let start = self.at;
        while self.peek().is_some_and(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b'?' | b'!' | b'#')
        }) {
            self.at += 1;
        }
        std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("")
    }

    /// Skips one balanced `(...)`/`[...]` group or string; false if unbalanced.
    fn skip_item(&mut self) -> bool {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => return false,
                Some(b'"') => {
                    if self.unescaped_string().is_none() {
                        return false;
                    }
                    if depth == 0 {
                        return true;
                    }
                    continue;
                }
                Some(b';') => self.skip_space(),
                Some(b'(' | b'[') => {
                    depth += 1;
                    self.at += 1;
                }
                Some(b')' | b']') => {
                    if depth == 0 {
                        return false;
                    }
                    depth -= 1;
                    self.at += 1;
                    if depth == 0 {
                        return true;
                    }
                }
                Some(_) => {
                    self.at += 1;
                    if depth == 0 {
                        return true;
                    }
                }
            }
        }
    }

    /// The rest of a predicate after its `#`, up to and including its `)`; `None` (the
    /// reader past what it read) when an argument is neither a capture nor a string.
    fn predicate(&mut self) -> Option<Predicate> {
        let name = self.word().to_string();
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek()? {
                b')' => {
                    self.at += 1;
                    return Some(Predicate { name, args });
                }
                b'@' => {
                    self.at += 1;
                    args.push(Arg::Capture(self.word().to_string()));
                }
                b'"' => args.push(Arg::String(self.unescaped_string()?)),
                _ => return None,
            }
        }
    }

    /// A string literal, its escapes decoded as tree-sitter's query parser decodes them:
    /// `\n`, `\r`, `\t`, `\0`, and any other escaped character stands for itself.
    /// `None` at an unterminated string or a line break inside one.
    fn unescaped_string(&mut self) -> Option<String> {
        let mut out = Vec::new();
        let mut at = self.at + 1;
        loop {
            match *self.bytes.get(at)? {
                b'"' => break,
                b'\n' => return None,
                b'\\' => {
                    at += 1;
                    out.push(match *self.bytes.get(at)? {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'0' => b'\0',
                        other => other,
                    });
                }
                b => out.push(b),
            }
            at += 1;
        }
        self.at = at + 1;
        String::from_utf8(out).ok()
    }

    /// A string literal without escapes.
    fn string(&mut self) -> Option<&str> {
        let start = self.at + 1;
        let mut end = start;
        loop {
            match self.bytes.get(end)? {
                b'"' => break,
                b'\\' => return None,
                _ => end += 1,
            }
        }
        self.at = end + 1;
        std::str::from_utf8(&self.bytes[start..end]).ok()
    }

    /// The root kinds of the pattern at the reader, which it passes.
    fn pattern_roots(&mut self, info: &LangInfo) -> Option<Vec<u16>> {
        match self.peek()? {
            b'"' => {
                let text = self.string()?;
                let id = info.lang().ts_language().id_for_node_kind(text, false);
                (id != 0).then(|| vec![id])
            }
            b'[' => {
                self.at += 1;
                let mut out = Vec::new();
                loop {
                    self.skip_space();
                    match self.peek()? {
                        b']' => {
                            self.at += 1;
                            return (!out.is_empty()).then_some(out);
                        }
                        _ => {
                            out.extend(self.pattern_roots(info)?);
                            self.skip_space();
                            while self.peek() == Some(b'@') {
                                self.at += 1;
                                self.word();
                                self.skip_space();
                            }
                            if matches!(self.peek(), Some(b'+' | b'*' | b'?')) {
                                return None;
                            }
                        }
                    }
                }
            }
            b'(' => {
                let open = self.at;
                self.at += 1;
                self.skip_space();
                match self.peek()? {
                    // A group: one pattern and predicates, or a sequence (not followed).
                    b'(' | b'[' | b'"' => {
                        let roots = self.pattern_roots(info)?;
                        loop {
                            self.skip_space();
                            match self.peek()? {
                                b')' => {
                                    self.at += 1;
                                    return Some(roots);
                                }
                                b'@' => {
                                    self.at += 1;
                                    self.word();
                                }
                                b'(' if self.bytes.get(self.at + 1) == Some(&b'#') => {
                                    if !self.skip_item() {
                                        return None;
                                    }
                                }
                                _ => return None,
                            }
                        }
                    }
                    _ => {
                        let name = self.word().to_string();
                        if name.is_empty() || name == "_" || name.contains('/') || name == "MISSING"
                        {
                            return None;
                        }
                        let kinds = info.kinds_for(&name)?;
                        // The rest of the node pattern.
                        self.at = open;
                        if !self.skip_item() {
                            return None;
                        }
                        Some(kinds)
                    }
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(lang: Lang, source: &str) -> Option<Vec<&'static str>> {
        let info = LangInfo::of(lang);
        root_kinds(source, info).map(|ks| {
            let mut names: Vec<&'static str> = ks.iter().map(|&k| info.kind_name(k)).collect();
            names.sort_unstable();
            names.dedup();
            names
        })
    }

    #[test]
    fn root_kinds_of_plain_patterns() {
        let q = "; mutable defaults\n(default_parameter\n  name: (identifier) @p\n  value: [(list) (dictionary)]) @match\n(typed_default_parameter value: (list)) @match\n";
        assert_eq!(
            roots(Lang::Python, q),
            Some(vec!["default_parameter", "typed_default_parameter"])
        );
        let q = "((call function: (identifier) @f) @match (#eq? @f \"eval\"))";
        assert_eq!(roots(Lang::Python, q), Some(vec!["call"]));
        // Escapes in a predicate's string.
        let q = r#"((call) @match (#match? @match "a\\.b\"c"))"#;
        assert_eq!(roots(Lang::Python, q), Some(vec!["call"]));
        let q = "[(call) (attribute)] @match";
        assert_eq!(roots(Lang::Python, q), Some(vec!["attribute", "call"]));
        let q = "\"lambda\" @match";
        assert_eq!(roots(Lang::Python, q), Some(vec!["lambda"]));
    }

    #[test]
    fn queries_that_may_start_anywhere_run_over_the_tree() {
        for q in [
            "(_) @match",
            "_ @match",
            "((comment) (function_definition)) @match",
            "(comment)+ @match",
            "(nonexistent_kind) @match",
            "((call) @match (call))",
        ] {
            assert_eq!(roots(Lang::Python, q), None, "{q}");
        }
    }

    #[test]
    fn anchored_runs_find_what_whole_tree_runs_find() {
        let q = "(default_parameter name: (identifier) @param value: [(list) (dictionary)]) @match";
        let Ok(rule) = QueryRule::new(q, Lang::Python) else {
            panic!("query")
        };
        let source = "def f(a=[], b={}, c=1):\n    def g(d=[]): pass\n";
        let Ok(tree) = crate::tree::parse_ts(Lang::Python, source, None) else {
            panic!("parse")
        };
        let whole: Vec<_> = rule
            .run(&tree, source)
            .into_iter()
            .map(|m| m.range)
            .collect();
        let Some(kinds) = rule.root_kinds() else {
            panic!("no root kinds")
        };
        let mut nodes = Vec::new();
        let mut stack = vec![tree.root_node()];
        while let Some(n) = stack.pop() {
            if kinds.contains(&n.kind_id()) {
                nodes.push(n);
            }
            let mut c = n.walk();
            stack.extend(n.children(&mut c));
        }
        nodes.sort_by_key(|n| n.start_byte());
        let mut at = rule.at_roots();
        for node in nodes {
            at.run(node, source);
        }
        let anchored: Vec<_> = at.matches.into_iter().map(|m| m.range).collect();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole, anchored);
    }

    #[test]
    fn predicates_are_read_wherever_they_are() {
        let text = r#"; (#eq? @c "in a comment")
((call function: (identifier) @f "(#not-a-predicate)" (#eq? @f "a\"b\\c\n"))
  (#match? @f "^x\\.y$") (#any-of? @f "p" "q") (#eq? @f bare))"#;
        let got = predicates(text);
        let s = |t: &str| Arg::String(t.to_string());
        let c = |t: &str| Arg::Capture(t.to_string());
        assert_eq!(
            got,
            [
                Predicate {
                    name: "eq?".into(),
                    args: vec![c("f"), s("a\"b\\c\n")]
                },
                Predicate {
                    name: "match?".into(),
                    args: vec![c("f"), s("^x\\.y$")]
                },
                Predicate {
                    name: "any-of?".into(),
                    args: vec![c("f"), s("p"), s("q")]
                },
            ]
        );
    }

    #[test]
    fn text_needs_are_those_of_captures_every_match_has() {
        let q = r#"
((call function: (identifier) @f arguments: (argument_list (string)? @s))
  (#match? @f "^ev(al)?$") (#eq? @s "x") (#any-match? @f "zz") (#not-eq? @f "y")
  (#eq? @f @s)) @match
((identifier) @match (#any-of? @match "alpha" "beta"))
"#;
        let Ok(rule) = QueryRule::new(q, Lang::Python) else {
            panic!("query")
        };
        assert_eq!(
            rule.text_needs(),
            [
                vec![TextNeed::Regex("^ev(al)?$".into())],
                vec![TextNeed::OneOf(vec!["alpha".into(), "beta".into()])],
            ]
        );
    }
}
