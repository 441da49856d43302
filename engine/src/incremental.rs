//! Re-parsing a document as it is edited, for editors.
//!
//! A scan parses each file once and drops the tree; an editor sends one keystroke at a
//! time. Here a document keeps its tree-sitter [`Tree`]: each edit is recorded in it
//! ([`edit_tree`], O(depth)), and the next parse hands it to tree-sitter, which reuses
//! every subtree the edits did not touch. [`crate::analyze::analyze_parsed`] then
//! analyses the result exactly as [`crate::analyze::analyze`] would the whole text.
//!
//! Trees are of the text without its byte order mark, as in [`crate::analyze`]; an edit
//! that involves a mark cannot be recorded ([`edit_tree`] says so) and the next parse
//! starts afresh.

use std::sync::atomic::{AtomicBool, Ordering};

use volatile_grammars::Lang;

use crate::position::{BOM, strip_bom};

pub use tree_sitter::Tree;

/// Why a parse gave no tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReparseError {
    /// The caller cancelled it.
    Cancelled,
    /// The text is too large for 32-bit offsets.
    TooLarge,
    /// tree-sitter returned no tree, or the grammar could not be loaded.
    Failed,
}

impl std::fmt::Display for ReparseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReparseError::Cancelled => "the parse was cancelled",
            ReparseError::TooLarge => "the text is too large to parse",
            ReparseError::Failed => "the parser gave up on this text",
        })
    }
}

impl std::error::Error for ReparseError {}

/// One tree-sitter parser per language, created on first use and reused: own one per
/// thread that parses.
#[derive(Default)]
pub struct Reparser {
    parsers: Vec<(Lang, tree_sitter::Parser)>,
}

impl std::fmt::Debug for Reparser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let langs: Vec<Lang> = self.parsers.iter().map(|(l, _)| *l).collect();
        f.debug_struct("Reparser").field("langs", &langs).finish()
    }
}

impl Reparser {
    /// A reparser with no parser yet.
    pub fn new() -> Reparser {
        Reparser::default()
    }

    /// Parses `source` (its byte order mark left out), reusing `old` — the previous tree of
    /// this document with every edit since recorded by [`edit_tree`] — when given. Gives
    /// up soon after `cancelled` is set.
    pub fn parse(
        &mut self,
        lang: Lang,
        source: &str,
        old: Option<&Tree>,
        cancelled: &AtomicBool,
    ) -> Result<Tree, ReparseError> {
        let (_, text) = strip_bom(source);
        if u32::try_from(text.len()).is_err() {
            return Err(ReparseError::TooLarge);
        }
        let parser = self.parser(lang)?;
        let bytes = text.as_bytes();
        let mut read = |offset: usize, _: tree_sitter::Point| -> &[u8] {
            bytes.get(offset..).unwrap_or_default()
        };
        let mut check = |_: &tree_sitter::ParseState| {
            if cancelled.load(Ordering::Relaxed) {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        };
        let options = tree_sitter::ParseOptions::new().progress_callback(&mut check);
        let tree = parser.parse_with_options(&mut read, old, Some(options));
        // A cancelled parse leaves state behind; the next parse must start afresh.
        parser.reset();
        match tree {
            Some(tree) => Ok(tree),
            None if cancelled.load(Ordering::Relaxed) => Err(ReparseError::Cancelled),
            None => Err(ReparseError::Failed),
        }
    }

    fn parser(&mut self, lang: Lang) -> Result<&mut tree_sitter::Parser, ReparseError> {
        let index = match self.parsers.iter().position(|(l, _)| *l == lang) {
            Some(i) => i,
            None => {
                let mut parser = tree_sitter::Parser::new();
                parser
                    .set_language(&lang.ts_language())
                    .map_err(|_| ReparseError::Failed)?;
                self.parsers.push((lang, parser));
                self.parsers.len() - 1
            }
        };
        Ok(&mut self.parsers[index].1)
    }
}

/// Records in `tree` that bytes `start..old_end` of `before` were replaced by `inserted`.
///
/// Returns false, leaving the tree as it was, when the edit cannot be recorded: the text
/// starts with a byte order mark before or after it (trees leave the mark out), or the
/// offsets are not character boundaries of `before`. Drop the tree then, and parse afresh.
pub fn edit_tree(
    tree: &mut Tree,
    before: &str,
    start: usize,
    old_end: usize,
    inserted: &str,
) -> bool {
    if start > old_end || !before.is_char_boundary(start) || !before.is_char_boundary(old_end) {
        return false;
    }
    let after_has_bom = if start == 0 {
        inserted.starts_with(BOM) || (inserted.is_empty() && before[old_end..].starts_with(BOM))
    } else {
        before.starts_with(BOM)
    };
    if before.starts_with(BOM) || after_has_bom {
        return false;
    }
    let start_position = point_at(before, start);
    let old_end_position = point_at(before, old_end);
    let new_end_position = match inserted.rfind('\n') {
        Some(last) => tree_sitter::Point {
            row: start_position.row + inserted.bytes().filter(|&b| b == b'\n').count(),
            column: inserted.len() - last - 1,
        },
        None => tree_sitter::Point {
            row: start_position.row,
            column: start_position.column + inserted.len(),
        },
    };
    tree.edit(&tree_sitter::InputEdit {
        start_byte: start,
        old_end_byte: old_end,
        new_end_byte: start + inserted.len(),
        start_position,
        old_end_position,
        new_end_position,
    });
    true
}

/// tree-sitter's point of a byte offset: rows end at `\n`, columns count bytes.
fn point_at(text: &str, byte: usize) -> tree_sitter::Point {
    let prefix = &text.as_bytes()[..byte];
    match prefix.iter().rposition(|&b| b == b'\n') {
        Some(last) => tree_sitter::Point {
            row: prefix.iter().filter(|&&b| b == b'\n').count(),
            column: byte - last - 1,
        },
        None => tree_sitter::Point {
            row: 0,
            column: byte,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::analyze::{
        AnalyzeOptions, FileAnalysis, RuleFilter, RuleSet, analyze, analyze_parsed,
        analyze_parsed_cancellable,
    };
    use crate::playbook::{SourceFile, playbook_from_files};

    const RULES: &[(&str, &str)] = &[
        (
            "no-eval.yml",
            "id: no-eval\nlanguage: typescript\nseverity: error\nmessage: eval of $$$A\nrule:\n  pattern: eval($$$A)\nfix: safeEval($$$A)\n",
        ),
        (
            "no-throw-literal.yml",
            "id: no-throw-literal\nlanguage: typescript\nseverity: warning\nmessage: thrown string\nrule:\n  pattern: throw $V\nconstraints:\n  V:\n    kind: string\nfix: throw new Error($V);\n",
        ),
        (
            "no-var.yml",
            "id: no-var\nlanguage: typescript\nmessage: var\nrule:\n  kind: variable_declaration\n",
        ),
    ];

    fn rule_set() -> RuleSet {
        let files = RULES
            .iter()
            .map(|(name, text)| SourceFile {
                rel_path: (*name).into(),
                display: (*name).into(),
                text: (*text).into(),
            })
            .collect();
        let outcome = match playbook_from_files("test", files) {
            Ok(o) => o,
            Err(e) => panic!("load: {e}"),
        };
        if let Some(e) = outcome.errors.first() {
            panic!("compile: {e}");
        }
        RuleSet::new(&[Arc::new(outcome.playbook)], &RuleFilter::default())
    }

    fn fresh(set: &RuleSet, text: &str) -> FileAnalysis {
        analyze(
            set,
            "src/a.ts",
            Lang::TypeScript,
            text,
            &AnalyzeOptions::default(),
        )
    }

    fn parse(reparser: &mut Reparser, text: &str, old: Option<&Tree>) -> Tree {
        match reparser.parse(Lang::TypeScript, text, old, &AtomicBool::new(false)) {
            Ok(tree) => tree,
            Err(e) => panic!("parse: {e}"),
        }
    }

    /// Applies one edit to the text and the tree, re-parses incrementally, and checks
    /// that the tree and the findings equal those of a fresh parse.
    fn step(
        set: &RuleSet,
        reparser: &mut Reparser,
        text: &mut String,
        tree: &mut Tree,
        (start, end, inserted): (usize, usize, &str),
    ) {
        assert!(edit_tree(tree, text, start, end, inserted), "edit refused");
        text.replace_range(start..end, inserted);
        *tree = parse(reparser, text, Some(tree));
        let scratch = parse(&mut Reparser::new(), text, None);
        assert_eq!(
            tree.root_node().to_sexp(),
            scratch.root_node().to_sexp(),
            "tree after replacing {start}..{end}"
        );
        let incremental = analyze_parsed(
            set,
            "src/a.ts",
            Lang::TypeScript,
            text,
            tree,
            &AnalyzeOptions::default(),
        );
        let whole = fresh(set, text);
        assert_eq!(incremental.error, whole.error);
        assert_eq!(
            incremental.findings, whole.findings,
            "findings after replacing {start}..{end}"
        );
    }

    #[test]
    fn incremental_reparse_analysis_equals_fresh_analysis() {
        let set = rule_set();
        let mut reparser = Reparser::new();
        let mut text =
            String::from("const face = \"😀\"; eval(face);\nfunction f() {\n  throw \"no\";\n}\n");
        let mut tree = parse(&mut reparser, &text, None);
        let first = analyze_parsed(
            &set,
            "src/a.ts",
            Lang::TypeScript,
            &text,
            &tree,
            &AnalyzeOptions::default(),
        );
        assert_eq!(first.findings, fresh(&set, &text).findings);
        assert_eq!(first.findings.len(), 2, "{:?}", first.findings);

        // Insert a new problem on a line after the emoji.
        let at = text.find("eval").unwrap_or(0);
        step(
            &set,
            &mut reparser,
            &mut text,
            &mut tree,
            (at, at, "var v = 1; "),
        );
        // Remove the eval call (several lines later findings move back).
        let at = text.find("eval(face);").unwrap_or(0);
        step(&set, &mut reparser, &mut text, &mut tree, (at, at + 11, ""));
        // Replace across a line break, adding lines.
        let at = text.find("{\n").unwrap_or(0);
        step(
            &set,
            &mut reparser,
            &mut text,
            &mut tree,
            (at, at + 2, "{\n  eval(\"é\" + 😀);\n  "),
        );
        // Fix the thrown string the way the rule's fix says.
        let at = text.find("throw \"no\";").unwrap_or(0);
        step(
            &set,
            &mut reparser,
            &mut text,
            &mut tree,
            (at, at + 11, "throw new Error(\"no\");"),
        );
        // Append at the very end, then empty the file.
        let len = text.len();
        step(
            &set,
            &mut reparser,
            &mut text,
            &mut tree,
            (len, len, "eval(1)"),
        );
        let len = text.len();
        step(&set, &mut reparser, &mut text, &mut tree, (0, len, ""));
        assert!(fresh(&set, &text).findings.is_empty());
    }

    #[test]
    fn many_small_edits_stay_equal_to_fresh_parses() {
        let set = rule_set();
        let mut reparser = Reparser::new();
        let mut text = String::from("let a = 1;\n");
        let mut tree = parse(&mut reparser, &text, None);
        let pieces = [
            "eval(a)",
            ";\n",
            "throw \"s\"",
            "var b",
            " 😀 ",
            "}",
            "(",
            "\n",
        ];
        let mut seed: u64 = 0x5eed;
        for _ in 0..60 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (seed >> 33) as usize;
            let boundaries: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let start = boundaries[r % boundaries.len()];
            let end = boundaries
                .iter()
                .copied()
                .filter(|&b| b >= start)
                .nth((r >> 8) % 3)
                .unwrap_or(start);
            let inserted = if r.is_multiple_of(4) {
                ""
            } else {
                pieces[(r >> 4) % pieces.len()]
            };
            step(
                &set,
                &mut reparser,
                &mut text,
                &mut tree,
                (start, end, inserted),
            );
        }
    }

    #[test]
    fn byte_order_mark_offsets_match_fresh_analysis() {
        let set = rule_set();
        let text = "\u{feff}eval(x);\n";
        let tree = parse(&mut Reparser::new(), text, None);
        let parsed = analyze_parsed(
            &set,
            "a.ts",
            Lang::TypeScript,
            text,
            &tree,
            &AnalyzeOptions::default(),
        );
        let whole = analyze(
            &set,
            "a.ts",
            Lang::TypeScript,
            text,
            &AnalyzeOptions::default(),
        );
        assert_eq!(parsed.findings, whole.findings);
        assert_eq!(parsed.findings.first().map(|f| f.byte_range.start), Some(3));
        // An edit next to the mark cannot be recorded: the caller parses afresh.
        let mut tree = tree;
        assert!(!edit_tree(&mut tree, text, 3, 3, "x"));
        assert!(!edit_tree(&mut tree, "a", 0, 0, BOM));
    }

    #[test]
    fn a_tree_of_another_text_is_refused() {
        let set = rule_set();
        let tree = parse(&mut Reparser::new(), "eval(a_long_argument);", None);
        let result = analyze_parsed(
            &set,
            "a.ts",
            Lang::TypeScript,
            "eval(x);",
            &tree,
            &AnalyzeOptions::default(),
        );
        assert!(result.error.is_some());
    }

    #[test]
    fn cancelled_work_gives_nothing() {
        let set = rule_set();
        let text = "eval(x);\n".repeat(2000);
        let cancelled = AtomicBool::new(true);
        let mut reparser = Reparser::new();
        assert_eq!(
            reparser
                .parse(Lang::TypeScript, &text, None, &cancelled)
                .err(),
            Some(ReparseError::Cancelled)
        );
        let tree = parse(&mut reparser, &text, None);
        let result = analyze_parsed_cancellable(
            &set,
            "a.ts",
            Lang::TypeScript,
            &text,
            &tree,
            &AnalyzeOptions::default(),
            &cancelled,
        );
        assert!(result.is_none());
        let not_cancelled = analyze_parsed_cancellable(
            &set,
            "a.ts",
            Lang::TypeScript,
            &text,
            &tree,
            &AnalyzeOptions::default(),
            &AtomicBool::new(false),
        );
        assert_eq!(not_cancelled.map(|r| r.findings.len()), Some(2000));
    }

    #[test]
    fn points_count_bytes_after_the_last_newline() {
        let p = point_at("ab\ncé\nx", 6);
        assert_eq!((p.row, p.column), (1, 3));
        let p = point_at("ab\ncé\nx", 7);
        assert_eq!((p.row, p.column), (2, 0));
        let p = point_at("abc", 2);
        assert_eq!((p.row, p.column), (0, 2));
    }
}
