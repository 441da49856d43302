//! Raw tree-sitter queries (`query:`), a Volatile extension.
//!
//! The capture `@match` is the reported node; every other capture `@name` becomes the
//! metavariable `$NAME` (upper-cased) for messages and fixes. The text predicates
//! `#eq?`, `#not-eq?`, `#match?`, `#not-match?` and `#any-of?` are evaluated by
//! tree-sitter itself.

use std::ops::Range;
use std::sync::Arc;

use streaming_iterator::StreamingIterator;
use volatile_grammars::Lang;

use crate::document::KeyPath;
use crate::error::{ErrorKind, RuleError};

/// A compiled query rule.
#[derive(Debug)]
pub struct QueryRule {
    query: tree_sitter::Query,
    match_capture: u32,
    /// (capture index, metavariable name) of the other captures.
    captures: Vec<(u32, Arc<str>)>,
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
        Ok(QueryRule {
            query,
            match_capture,
            captures,
        })
    }

    /// Runs the query over a whole tree.
    pub fn run(&self, tree: &tree_sitter::Tree, source: &str) -> Vec<QueryMatch> {
        let mut cursor = tree_sitter::QueryCursor::new();
        let mut matches = cursor.matches(&self.query, tree.root_node(), source.as_bytes());
        let mut out = Vec::new();
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
        out
    }
}
