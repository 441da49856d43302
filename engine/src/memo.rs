//! Memoised relational search: `has`, `inside`, `follows` and `precedes` with
//! `stopBy: end` must not rescan the same subtrees, ancestors or siblings for every
//! candidate node.
//!
//! This is only sound when the related rule's answer at a node depends on nothing but the
//! node: it captures no metavariable (so it neither reads nor writes bindings). Such
//! relations get one table per tree: for each node, unknown / yes / no for "this node or
//! something below it (or above it, or before or after it) matches". Each table entry is
//! settled at most once, so all candidates of a tree together cost O(tree), where a plain
//! search costs O(tree × depth) for `has` on nested candidates.
//!
//! A rule that compares a metavariable the candidate already bound (`follows` a pair whose
//! key is `$KEY`, `has` a declaration named `$FN`) cannot have such a table, and a plain
//! search for each candidate is quadratic in an object of a thousand keys. When the
//! metavariable is bound to a leaf, a match must hold a node with the leaf's text; once
//! plain searches on a tree have cost more than indexing it, the tree's nodes are indexed
//! by text and only the subtrees holding that text are tried.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{HashMap, HashSet};

use crate::matcher::{MatchCx, Rule};
use crate::metavar::Env;
use crate::tree::{NodeId, SyntaxTree};

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;

/// The tables of one tree, keyed by relation and util table.
#[derive(Debug, Default)]
pub struct Memo {
    tables: RefCell<HashMap<(usize, usize, Direction), Vec<u8>>>,
    /// Answers of `has` searches whose rule only compares metavariables already bound to
    /// leaves, by relation, util table, node and the texts of those bindings.
    bound: RefCell<HashMap<BoundKey, bool>>,
    /// The tree's nodes by text, once built.
    text_index: OnceCell<TextIndex>,
    /// Nodes that searches of bound texts could have visited before the index was built.
    plain_cost: Cell<usize>,
}

/// (relation, util table, node, texts of the metavariables the relation's rule reads).
pub(crate) type BoundKey = (usize, usize, NodeId, Box<[Box<str>]>);

/// Which way a table looks from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    /// The node or any descendant.
    Down,
    /// The node or any ancestor.
    Up,
    /// The node or any earlier sibling.
    Left,
    /// The node or any later sibling.
    Right,
}

impl Memo {
    /// Empty tables.
    pub fn new() -> Memo {
        Memo::default()
    }

    /// Empty tables that index the tree by text at the first search of a bound text.
    #[cfg(test)]
    fn indexing_at_once() -> Memo {
        let memo = Memo::default();
        memo.plain_cost.set(usize::MAX);
        memo
    }

    /// Runs `f` on the table for `rule` in `direction`, creating it on first use.
    fn with_table<T>(
        &self,
        rule: &Rule,
        cx: &MatchCx<'_, '_>,
        direction: Direction,
        f: impl FnOnce(&mut Vec<u8>) -> T,
    ) -> T {
        let key = (
            rule as *const Rule as usize,
            cx.utils.as_ptr() as usize,
            direction,
        );
        // The rule is evaluated inside `f`; a nested memoised relation borrows another
        // table, so take this one out while `f` runs.
        let mut table = self
            .tables
            .borrow_mut()
            .remove(&key)
            .unwrap_or_else(|| vec![UNKNOWN; cx.tree.len()]);
        let out = f(&mut table);
        self.tables.borrow_mut().insert(key, table);
        out
    }
}

/// Texts longer than this are not indexed: searches for them stay plain.
const MAX_INDEXED_TEXT: usize = 64;

/// The index is built once plain searches of bound texts on a tree could have visited
/// this many times its nodes (building it hashes each short node's text once).
const INDEX_AFTER: usize = 2;

/// The named nodes of a tree whose text is 1 to [`MAX_INDEXED_TEXT`] bytes long, each as
/// one sorted key: the high 32 bits of the hash of its text, then the node. A lookup is a
/// range of keys; texts whose hashes share those bits share a range, and the text is
/// compared anyway. One `u64` a node sorts about twice as fast as a `(u64, NodeId)` pair.
#[derive(Debug)]
struct TextIndex {
    keys: Vec<u64>,
}

impl TextIndex {
    fn build(tree: &SyntaxTree<'_>) -> TextIndex {
        let mut keys = Vec::with_capacity(tree.len());
        for node in 0..tree.len() as NodeId {
            if !tree.is_named(node) {
                continue;
            }
            let text = tree.text(node);
            if (1..=MAX_INDEXED_TEXT).contains(&text.len()) {
                keys.push(key(text_hash(text.as_bytes()), node));
            }
        }
        keys.sort_unstable();
        TextIndex { keys }
    }

    /// The named nodes in `range` whose text is `text`, in pre-order.
    fn nodes<'i>(
        &'i self,
        tree: &'i SyntaxTree<'_>,
        text: &'i str,
        range: std::ops::Range<NodeId>,
    ) -> impl Iterator<Item = NodeId> + 'i {
        let hash = text_hash(text.as_bytes());
        let start = self.keys.partition_point(|&k| k < key(hash, range.start));
        let end = self.keys.partition_point(|&k| k < key(hash, range.end));
        self.keys[start..end.max(start)]
            .iter()
            .map(|&k| k as NodeId)
            .filter(move |&node| tree.text(node) == text)
    }
}

/// The index's key of `node` with a text hashed to `hash`.
fn key(hash: u64, node: NodeId) -> u64 {
    (hash & !u64::from(u32::MAX)) | u64::from(node)
}

/// A multiplicative hash of short texts, eight bytes at a time (FxHash's mixing step).
fn text_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(K);
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = mix(h, u64::from_le_bytes(word));
    }
    let rest = chunks.remainder();
    let mut word = [0u8; 8];
    word[..rest.len()].copy_from_slice(rest);
    mix(h, u64::from_le_bytes(word))
}

impl Memo {
    /// The named nodes in `range` whose text is `text`, or `None` while plain searches (with
    /// this one, which would visit up to the nodes of `range`) cost less than indexing the
    /// tree, and for texts the index leaves out.
    fn nodes_with_text<'i>(
        &'i self,
        tree: &'i SyntaxTree<'_>,
        text: &'i str,
        range: std::ops::Range<NodeId>,
    ) -> Option<impl Iterator<Item = NodeId> + 'i> {
        let cost = range.len();
        if !(1..=MAX_INDEXED_TEXT).contains(&text.len()) {
            return None;
        }
        let index = match self.text_index.get() {
            Some(index) => index,
            None => {
                let spent = self.plain_cost.get().saturating_add(cost);
                self.plain_cost.set(spent);
                if spent < INDEX_AFTER.saturating_mul(tree.len()) {
                    return None;
                }
                self.text_index.get_or_init(|| TextIndex::build(tree))
            }
        };
        Some(index.nodes(tree, text, range))
    }
}

/// `has` with `stopBy: end`, for a rule that compares a metavariable bound to a leaf with
/// text `text` inside the subtree it matches at: only the ancestors, below `node`, of
/// the named nodes with that text are tried. `None` while the index is not worth building.
/// Every metavariable the rule mentions is bound, so it binds nothing and the order
/// does not matter.
pub(crate) fn indexed_has(
    memo: &Memo,
    rule: &Rule,
    cx: &MatchCx<'_, '_>,
    node: NodeId,
    text: &str,
    env: &mut Env,
) -> Option<bool> {
    let tree = cx.tree;
    let end = tree.skip_subtree(node);
    let hits = memo.nodes_with_text(tree, text, node + 1..end)?;
    let mut tried = HashSet::new();
    for hit in hits {
        let mut at = Some(hit);
        // Ancestors already tried were tried with theirs: stop there.
        while let Some(n) = at.filter(|&n| n > node && tried.insert(n)) {
            if rule.matches(cx, n, env) {
                return Some(true);
            }
            at = tree.parent(n);
        }
    }
    Some(false)
}

/// `follows` (`Direction::Left`) or `precedes` (`Direction::Right`) with `stopBy: end`,
/// on the same terms as [`indexed_has`]: only the siblings holding a named node with text
/// `text` are tried.
pub(crate) fn indexed_sibling(
    memo: &Memo,
    rule: &Rule,
    cx: &MatchCx<'_, '_>,
    node: NodeId,
    direction: Direction,
    text: &str,
    env: &mut Env,
) -> Option<bool> {
    let tree = cx.tree;
    let Some(parent) = tree.parent(node) else {
        return Some(false);
    };
    // The subtrees of the siblings before or after `node`, as a range of nodes.
    let (lo, hi) = match direction {
        Direction::Left => (parent + 1, node),
        Direction::Right => (tree.skip_subtree(node), tree.skip_subtree(parent)),
        Direction::Up | Direction::Down => return None,
    };
    let hits = memo.nodes_with_text(tree, text, lo..hi)?;
    let mut tried = HashSet::new();
    for hit in hits {
        let mut sibling = hit;
        while let Some(p) = tree.parent(sibling).filter(|&p| p != parent) {
            sibling = p;
        }
        if tried.insert(sibling) && rule.matches(cx, sibling, env) {
            return Some(true);
        }
    }
    Some(false)
}

/// Whether any descendant of `node` matches `rule` (an env-free rule).
pub(crate) fn has_descendant(memo: &Memo, rule: &Rule, cx: &MatchCx<'_, '_>, node: NodeId) -> bool {
    let tree = cx.tree;
    memo.with_table(rule, cx, Direction::Down, |table| {
        let end = tree.skip_subtree(node);
        // Nodes whose subtree is being scanned; settled NO once passed without a match.
        let mut open: Vec<NodeId> = Vec::new();
        let mut p = node + 1;
        let found = loop {
            while let Some(&top) = open.last() {
                if tree.skip_subtree(top) <= p {
                    table[top as usize] = NO;
                    open.pop();
                } else {
                    break;
                }
            }
            if p >= end {
                break None;
            }
            match table[p as usize] {
                YES => break Some(p),
                NO => p = tree.skip_subtree(p),
                _ => {
                    if rule.test(cx, p) {
                        table[p as usize] = YES;
                        break Some(p);
                    }
                    open.push(p);
                    p += 1;
                }
            }
        };
        match found {
            Some(hit) => {
                // Every open node above the hit contains it.
                let mut a = tree.parent(hit);
                while let Some(x) = a {
                    if x == node {
                        break;
                    }
                    table[x as usize] = YES;
                    a = tree.parent(x);
                }
                true
            }
            None => {
                for x in open {
                    table[x as usize] = NO;
                }
                false
            }
        }
    })
}

/// Whether `start` or a node after it along `step` matches `rule` (an env-free rule):
/// the chain of ancestors, or of earlier or later siblings.
pub(crate) fn chain_has(
    memo: &Memo,
    rule: &Rule,
    cx: &MatchCx<'_, '_>,
    direction: Direction,
    start: Option<NodeId>,
    step: impl Fn(NodeId) -> Option<NodeId>,
) -> bool {
    let Some(start) = start else { return false };
    memo.with_table(rule, cx, direction, |table| {
        let mut pending: Vec<NodeId> = Vec::new();
        let mut at = Some(start);
        let answer = loop {
            let Some(n) = at else { break NO };
            match table[n as usize] {
                UNKNOWN => {
                    if rule.test(cx, n) {
                        table[n as usize] = YES;
                        break YES;
                    }
                    pending.push(n);
                    at = step(n);
                }
                known => break known,
            }
        };
        // The pending nodes did not match themselves: their answer is the one beyond them.
        for n in pending {
            table[n as usize] = answer;
        }
        answer == YES
    })
}

/// The key under which a search that reads the bindings of `reads` in `env` is memoised:
/// the relation, the node and the texts of those bindings. `None` unless each of them is
/// bound to a leaf, whose equality with another node is equality of text
/// ([`crate::metavar::nodes_equal`]), so equal texts give equal answers. The search must
/// bind nothing (every metavariable it mentions is among `reads`).
pub(crate) fn bound_key(
    relation: &crate::matcher::Relation,
    reads: &[std::sync::Arc<str>],
    cx: &MatchCx<'_, '_>,
    node: NodeId,
    env: &crate::metavar::Env,
) -> Option<BoundKey> {
    let mut texts = Vec::with_capacity(reads.len());
    for name in reads {
        match env.get(name)? {
            crate::metavar::Binding::Single(n) if !cx.tree.has_named_children(*n) => {
                texts.push(Box::from(cx.tree.text(*n)));
            }
            _ => return None,
        }
    }
    Some((
        relation as *const crate::matcher::Relation as usize,
        cx.utils.as_ptr() as usize,
        node,
        texts.into_boxed_slice(),
    ))
}

impl Memo {
    /// The memoised answer under `key`, or `search`'s, remembered.
    pub(crate) fn bound_answer(&self, key: BoundKey, search: impl FnOnce() -> bool) -> bool {
        if let Some(&known) = self.bound.borrow().get(&key) {
            return known;
        }
        // The search may memoise nested relations: no borrow is held while it runs.
        let answer = search();
        self.bound.borrow_mut().insert(key, answer);
        answer
    }
}

/// The single-node metavariables `rule` mentions, directly or through utils, or `None`
/// when it mentions a `$$$` run (whose matching rebinds it) or nests too deep.
pub(crate) fn single_reads(
    rule: &Rule,
    utils: &[Rule],
    depth: u32,
    out: &mut Vec<std::sync::Arc<str>>,
) -> Option<()> {
    if depth > 64 {
        return None;
    }
    let mut sub = |r: &Rule| single_reads(r, utils, depth + 1, out);
    match rule {
        Rule::Pattern(p) => {
            if p.has_multi_capture() {
                return None;
            }
            out.extend(p.captured_names());
        }
        Rule::Kind(_) | Rule::Regex(_) | Rule::Range(_) => {}
        Rule::NthChild(n) => {
            if let Some(r) = &n.of_rule {
                sub(r)?;
            }
        }
        Rule::Inside(rel) | Rule::Has(rel) | Rule::Precedes(rel) | Rule::Follows(rel) => {
            sub(&rel.rule)?;
            if let crate::matcher::StopBy::Rule(r) = &rel.stop_by {
                sub(r)?;
            }
        }
        Rule::All(rules) | Rule::Any(rules) => {
            for r in rules {
                sub(r)?;
            }
        }
        Rule::Not(r) => sub(r)?,
        Rule::Matches(i) => sub(utils.get(*i)?)?,
    }
    Some(())
}

/// The metavariables that every match of `rule` at a node compares with a named node of
/// that node's subtree: a pattern's `$A` captures, what a `has` compares, those of any rule of an
/// `all` and those of every rule of an `any`. (A relation looking up or sideways, a
/// `not` or a `regex` compares nothing below.)
pub(crate) fn compared_below(rule: &Rule, utils: &[Rule], depth: u32) -> Vec<std::sync::Arc<str>> {
    if depth > 64 {
        return Vec::new();
    }
    let sub = |r: &Rule| compared_below(r, utils, depth + 1);
    match rule {
        Rule::Pattern(p) => p.named_captures(),
        Rule::Has(rel) => sub(&rel.rule),
        Rule::All(rules) => rules.iter().flat_map(sub).collect(),
        Rule::Any(rules) => {
            let mut choices = rules.iter().map(sub);
            let first = choices.next().unwrap_or_default();
            choices.fold(first, |acc, names| {
                acc.into_iter().filter(|n| names.contains(n)).collect()
            })
        }
        Rule::Matches(i) => utils.get(*i).map(sub).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Whether `rule`'s answer at a node depends on the node alone: it captures no
/// metavariable, directly or through utils. `None` from a util loop counts as no.
pub(crate) fn env_free(rule: &Rule, utils: &[Rule], depth: u32) -> bool {
    if depth > 64 {
        return false;
    }
    let sub = |r: &Rule| env_free(r, utils, depth + 1);
    match rule {
        Rule::Pattern(p) => p.captured_names().is_empty(),
        Rule::Kind(_) | Rule::Regex(_) | Rule::Range(_) => true,
        Rule::NthChild(n) => n.of_rule.as_ref().is_none_or(sub),
        Rule::Inside(rel) | Rule::Has(rel) | Rule::Precedes(rel) | Rule::Follows(rel) => {
            sub(&rel.rule)
                && match &rel.stop_by {
                    crate::matcher::StopBy::Rule(r) => sub(r),
                    _ => true,
                }
        }
        Rule::All(rules) | Rule::Any(rules) => rules.iter().all(sub),
        Rule::Not(r) => sub(r),
        Rule::Matches(i) => utils.get(*i).is_some_and(sub),
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::Finder;
    use crate::matcher::MatchCx;
    use crate::metavar::Env;
    use crate::playbook::{SourceFile, playbook_from_files};
    use crate::tree::{NodeId, SyntaxTree};
    use volatile_grammars::Lang;

    use super::Memo;

    const CODE: &str = r#"
function outer(a) {
  const o = { x: 1, y: { z: eval(a), w: [1, 2, { v: eval("b") }] }, x: 3 };
  if (a) { return function inner() { debugger; return eval(a) + outer(a - 1); }; }
  for (const k of Object.keys(o)) { console.log(k, o[k]); debugger; }
  return o;
}
class C { m() { return () => () => eval("deep"); } n() { debugger; } }
function helper(x) { return outer(x) + helper(x) + console.log(x) + other(x - 1); }
const p = { ...o, q: 1, r: { q: 2 }, "s": 3, s: 4, q: 5 };
"#;

    /// Every node, in pre-order and then in reverse: the memoised search must answer as
    /// the plain one does, whatever order fills the tables.
    #[test]
    fn memoised_searches_agree_with_plain_ones() {
        // (rule, memoised by node or by bound texts, searched through the text index)
        let rules = [
            (
                "rule:\n  kind: call_expression\n  inside:\n    kind: function_declaration\n    stopBy: end\n",
                true,
                false,
            ),
            (
                "rule:\n  kind: object\n  has:\n    pattern: eval($$$)\n    stopBy: end\n",
                true,
                false,
            ),
            (
                "rule:\n  kind: statement_block\n  has:\n    kind: debugger_statement\n    stopBy: end\n",
                true,
                false,
            ),
            (
                "rule:\n  kind: pair\n  follows:\n    kind: pair\n    has: { kind: call_expression, stopBy: end }\n    stopBy: end\n",
                true,
                false,
            ),
            (
                "rule:\n  kind: pair\n  precedes:\n    regex: '^x'\n    stopBy: end\n",
                true,
                false,
            ),
            (
                "rule:\n  any:\n    - kind: arrow_function\n    - kind: method_definition\n  inside:\n    stopBy: end\n    kind: class_declaration\n  has:\n    stopBy: end\n    has: { stopBy: end, kind: string }\n",
                true,
                false,
            ),
            // Calls of functions the file declares: the search reads $F (bound to a leaf,
            // or to `console.log`, which is not one and is searched plainly).
            (
                "rule:\n  kind: call_expression\n  all:\n    - has: { field: function, pattern: $F }\n    - inside:\n        stopBy: end\n        kind: program\n        has:\n          stopBy: end\n          kind: function_declaration\n          has: { field: name, pattern: $F }\n",
                true,
                true,
            ),
            // The same through a util and with a second read metavariable.
            (
                "utils:\n  declares:\n    kind: function_declaration\n    all:\n      - has: { field: name, pattern: $F }\n      - has: { field: parameters, has: { pattern: $P } }\nrule:\n  kind: call_expression\n  all:\n    - has: { field: function, pattern: $F }\n    - has: { field: arguments, has: { pattern: $P } }\n    - inside: { stopBy: end, kind: program, has: { stopBy: end, matches: declares } }\n",
                true,
                true,
            ),
            // Repeated keys, either way: the sibling searches read $K, bound to a leaf
            // (`s` and `"s"` differ in text, `q` in a nested object is no sibling).
            (
                "rule:\n  kind: pair\n  has: { field: key, pattern: $K }\n  follows:\n    stopBy: end\n    kind: pair\n    has: { field: key, pattern: $K }\n",
                false,
                true,
            ),
            (
                "rule:\n  kind: pair\n  has: { field: key, pattern: $K }\n  precedes:\n    stopBy: end\n    has: { field: key, pattern: $K, stopBy: end }\n",
                false,
                true,
            ),
            // Only one choice of the `any` compares $K: no node text is required.
            (
                "rule:\n  kind: pair\n  has: { field: key, pattern: $K }\n  follows:\n    stopBy: end\n    any:\n      - has: { field: key, pattern: $K }\n      - kind: spread_element\n",
                false,
                false,
            ),
            // $K compared under a `not`: pairs after a pair with another key.
            (
                "rule:\n  kind: pair\n  has: { field: key, pattern: $K }\n  follows:\n    stopBy: end\n    kind: pair\n    not: { has: { field: key, pattern: $K } }\n",
                false,
                false,
            ),
            // $$K may compare with unnamed nodes, which the index leaves out.
            (
                "rule:\n  kind: pair\n  has: { field: key, pattern: $$K }\n  follows:\n    stopBy: end\n    has: { field: key, pattern: $$K }\n",
                false,
                false,
            ),
            // A declaration named like the call, found from the program through the index.
            (
                "rule:\n  kind: call_expression\n  all:\n    - has: { field: function, pattern: $F }\n    - inside:\n        stopBy: end\n        kind: program\n        has:\n          stopBy: end\n          any:\n            - { kind: function_declaration, has: { field: name, pattern: $F } }\n            - { kind: variable_declarator, has: { field: name, pattern: $F } }\n",
                true,
                true,
            ),
        ];
        let Ok(tree) = SyntaxTree::parse(Lang::JavaScript, CODE) else {
            panic!("parse")
        };
        for (i, &(body, memoised, indexed)) in rules.iter().enumerate() {
            let yaml = format!("id: r{i}\nlanguage: javascript\n{body}");
            let files = vec![SourceFile {
                rel_path: "r.yml".into(),
                display: "r.yml".into(),
                text: yaml,
            }];
            let outcome = match playbook_from_files("t", files) {
                Ok(o) => o,
                Err(e) => panic!("{e}"),
            };
            assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
            let Some(lr) = outcome
                .playbook
                .rules
                .first()
                .and_then(|r| r.per_lang.first())
            else {
                panic!("no rule")
            };
            let Finder::Rule(rule) = &lr.finder else {
                panic!("not a rule")
            };
            let plain = MatchCx::new(&tree, &lr.utils);
            let expected: Vec<bool> = (0..tree.len() as NodeId)
                .map(|n| rule.matches(&plain, n, &mut Env::new()))
                .collect();
            assert!(expected.iter().any(|m| *m), "rule {i} matches nothing");
            for (reverse, index) in [(false, false), (true, false), (false, true), (true, true)] {
                let memo = if index {
                    Memo::indexing_at_once()
                } else {
                    Memo::new()
                };
                let cx = MatchCx::with_memo(&tree, &lr.utils, &memo);
                let mut order: Vec<NodeId> = (0..tree.len() as NodeId).collect();
                if reverse {
                    order.reverse();
                }
                for n in order {
                    assert_eq!(
                        rule.matches(&cx, n, &mut Env::new()),
                        expected[n as usize],
                        "rule {i}, node {n} ({}), reverse {reverse}, index {index}",
                        tree.kind_name(n)
                    );
                }
                if !index {
                    assert_eq!(
                        !memo.tables.borrow().is_empty() || !memo.bound.borrow().is_empty(),
                        memoised,
                        "rule {i} memoised"
                    );
                }
                if index {
                    assert_eq!(
                        memo.text_index.get().is_some(),
                        indexed,
                        "rule {i} searched through the index"
                    );
                }
            }
        }
    }
}
