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

use std::cell::RefCell;
use std::collections::HashMap;

use crate::matcher::{MatchCx, Rule};
use crate::tree::NodeId;

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
"#;

    /// Every node, in pre-order and then in reverse: the memoised search must answer as
    /// the plain one does, whatever order fills the tables.
    #[test]
    fn memoised_searches_agree_with_plain_ones() {
        let rules = [
            "rule:\n  kind: call_expression\n  inside:\n    kind: function_declaration\n    stopBy: end\n",
            "rule:\n  kind: object\n  has:\n    pattern: eval($$$)\n    stopBy: end\n",
            "rule:\n  kind: statement_block\n  has:\n    kind: debugger_statement\n    stopBy: end\n",
            "rule:\n  kind: pair\n  follows:\n    kind: pair\n    has: { kind: call_expression, stopBy: end }\n    stopBy: end\n",
            "rule:\n  kind: pair\n  precedes:\n    regex: '^x'\n    stopBy: end\n",
            "rule:\n  any:\n    - kind: arrow_function\n    - kind: method_definition\n  inside:\n    stopBy: end\n    kind: class_declaration\n  has:\n    stopBy: end\n    has: { stopBy: end, kind: string }\n",
            // Calls of functions the file declares: the search reads $F (bound to a leaf,
            // or to `console.log`, which is not one and is searched plainly).
            "rule:\n  kind: call_expression\n  all:\n    - has: { field: function, pattern: $F }\n    - inside:\n        stopBy: end\n        kind: program\n        has:\n          stopBy: end\n          kind: function_declaration\n          has: { field: name, pattern: $F }\n",
            // The same through a util and with a second read metavariable.
            "utils:\n  declares:\n    kind: function_declaration\n    all:\n      - has: { field: name, pattern: $F }\n      - has: { field: parameters, has: { pattern: $P } }\nrule:\n  kind: call_expression\n  all:\n    - has: { field: function, pattern: $F }\n    - has: { field: arguments, has: { pattern: $P } }\n    - inside: { stopBy: end, kind: program, has: { stopBy: end, matches: declares } }\n",
        ];
        let Ok(tree) = SyntaxTree::parse(Lang::JavaScript, CODE) else {
            panic!("parse")
        };
        for (i, body) in rules.iter().enumerate() {
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
            for reverse in [false, true] {
                let memo = Memo::new();
                let cx = MatchCx::with_memo(&tree, &lr.utils, &memo);
                let mut order: Vec<NodeId> = (0..tree.len() as NodeId).collect();
                if reverse {
                    order.reverse();
                }
                for n in order {
                    assert_eq!(
                        rule.matches(&cx, n, &mut Env::new()),
                        expected[n as usize],
                        "rule {i}, node {n} ({}), reverse {reverse}",
                        tree.kind_name(n)
                    );
                }
                assert!(
                    !memo.tables.borrow().is_empty() || !memo.bound.borrow().is_empty(),
                    "rule {i} was not memoised"
                );
            }
        }
    }
}
