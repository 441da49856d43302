//! Compiled rule objects and how they match a node.
//!
//! Every matcher keeps one invariant: a failed match leaves the [`Env`] as it found it.
//! Composite and relational rules rely on it to try alternatives without copying bindings.
//! Evaluation order within one rule object is ast-grep's: atomic keys, then composite
//! keys, then relational keys, so that captures made by `pattern` constrain `has`.

use std::cell::Cell;
use std::sync::{Arc, OnceLock};

use regex::Regex;

use crate::memo::{
    Direction, Memo, bound_key, chain_has, compared_below, env_free, has_descendant, indexed_has,
    indexed_sibling, single_reads,
};
use crate::metavar::Env;
use crate::pattern::Pattern;
use crate::tree::{NodeId, SyntaxTree};

/// A compiled rule object.
#[derive(Debug)]
pub enum Rule {
    /// `pattern`
    Pattern(Pattern),
    /// `kind` (a supertype expands to all its subtypes)
    Kind(Vec<u16>),
    /// `regex`
    Regex(Regex),
    /// `nthChild`
    NthChild(Box<NthChild>),
    /// `range`
    Range(RangeRule),
    /// `inside`
    Inside(Box<Relation>),
    /// `has`
    Has(Box<Relation>),
    /// `precedes`
    Precedes(Box<Relation>),
    /// `follows`
    Follows(Box<Relation>),
    /// `all`, and a rule object with several keys
    All(Vec<Rule>),
    /// `any`
    Any(Vec<Rule>),
    /// `not`
    Not(Box<Rule>),
    /// `matches`: an index into the rule's util table
    Matches(usize),
}

/// How far a relational rule looks.
#[derive(Debug)]
pub enum StopBy {
    /// The immediate parent, child or sibling.
    Neighbor,
    /// All the way.
    End,
    /// Up to and including the first node matching this rule.
    Rule(Rule),
}

/// `inside`/`has`/`precedes`/`follows`.
#[derive(Debug)]
pub struct Relation {
    /// What the related node must match.
    pub rule: Rule,
    /// How far to look.
    pub stop_by: StopBy,
    /// For `inside`/`has`: the field the related node hangs in.
    pub field: Option<u16>,
    /// Whether `rule` captures no metavariable (so its search may be memoised); settled
    /// on first use.
    pub env_free: OnceLock<bool>,
    /// The single-node metavariables `rule` mentions, when it mentions no `$$$` run: once
    /// all are bound, its search only compares and may be memoised by their values.
    /// Settled on first use.
    pub reads: OnceLock<Option<Vec<Arc<str>>>>,
    /// A metavariable among `reads` that every match of `rule` compares with a node of the
    /// subtree it matches at: bound to a leaf, only subtrees holding a named node with its text
    /// can match. Settled on first use.
    pub anchor: OnceLock<Option<Arc<str>>>,
}

impl Relation {
    /// The memo tables to use for a `stopBy: end` search, if it may be memoised.
    fn memo<'m>(&self, cx: &MatchCx<'m, '_>) -> Option<&'m Memo> {
        let memo = cx.memo?;
        let free = *self
            .env_free
            .get_or_init(|| env_free(&self.rule, cx.utils, 0));
        free.then_some(memo)
    }

    /// The single-node metavariables `rule` mentions, sorted, or `None` when it mentions
    /// a `$$$` run.
    fn reads(&self, utils: &[Rule]) -> Option<&[Arc<str>]> {
        self.reads
            .get_or_init(|| {
                let mut names = Vec::new();
                single_reads(&self.rule, utils, 0, &mut names).map(|()| {
                    names.sort();
                    names.dedup();
                    names
                })
            })
            .as_deref()
    }

    /// For a `stopBy: end` search from a context that binds every metavariable `rule`
    /// mentions (so the search binds nothing, and the order it tries nodes in does not
    /// matter): the text every matching subtree must hold a node of, when `rule`'s
    /// anchor is bound to a leaf (whose equality with a node is equality of text).
    fn anchor_text<'s>(&self, cx: &MatchCx<'_, 's>, env: &Env) -> Option<&'s str> {
        let reads = self.reads(cx.utils)?;
        if reads.is_empty() || !reads.iter().all(|name| env.single(name).is_some()) {
            return None;
        }
        let anchor = self
            .anchor
            .get_or_init(|| {
                compared_below(&self.rule, cx.utils, 0)
                    .into_iter()
                    .find(|name| reads.contains(name))
            })
            .as_ref()?;
        let node = env.single(anchor)?;
        (!cx.tree.has_named_children(node)).then(|| cx.tree.text(node))
    }
}

/// `nthChild`.
#[derive(Debug)]
pub struct NthChild {
    /// `A` of `An+B`.
    pub step: i64,
    /// `B` of `An+B`.
    pub offset: i64,
    /// Count from the end.
    pub reverse: bool,
    /// Count only siblings matching this.
    pub of_rule: Option<Rule>,
}

impl NthChild {
    fn accepts(&self, index: i64) -> bool {
        let diff = index - self.offset;
        match self.step {
            0 => diff == 0,
            a if a > 0 => diff >= 0 && diff % a == 0,
            a => diff <= 0 && diff % a == 0,
        }
    }
}

/// `range`: 0-based lines and character columns, end exclusive.
#[derive(Debug)]
pub struct RangeRule {
    /// (line, column) of the start.
    pub start: (usize, usize),
    /// (line, column) of the end.
    pub end: (usize, usize),
}

/// Nesting of util references deeper than this fails the match instead of the stack.
const MAX_DEPTH: u32 = 512;

/// What matching needs besides the rule: the tree, the rule's utils, scratch state.
pub struct MatchCx<'a, 's> {
    /// The tree.
    pub tree: &'a SyntaxTree<'s>,
    /// The util rules `Rule::Matches` indexes into.
    pub utils: &'a [Rule],
    depth: Cell<u32>,
    /// Set when a match was abandoned for nesting too deep.
    pub too_deep: Cell<bool>,
    /// Per-tree tables for memoised relational searches, if the caller keeps them.
    pub memo: Option<&'a Memo>,
}

impl<'a, 's> MatchCx<'a, 's> {
    /// A context for matching rules over `tree`.
    pub fn new(tree: &'a SyntaxTree<'s>, utils: &'a [Rule]) -> Self {
        MatchCx {
            tree,
            utils,
            depth: Cell::new(0),
            too_deep: Cell::new(false),
            memo: None,
        }
    }

    /// A context that memoises relational searches in `memo` (one per tree).
    pub fn with_memo(tree: &'a SyntaxTree<'s>, utils: &'a [Rule], memo: &'a Memo) -> Self {
        MatchCx {
            memo: Some(memo),
            ..MatchCx::new(tree, utils)
        }
    }

    /// The same tree with other utils (a rewriter's or another rule's).
    pub fn with_utils<'b>(&'b self, utils: &'b [Rule]) -> MatchCx<'b, 's> {
        MatchCx {
            memo: self.memo,
            ..MatchCx::new(self.tree, utils)
        }
    }
}

impl Rule {
    /// Whether `node` matches. On failure `env` is unchanged.
    pub fn matches(&self, cx: &MatchCx<'_, '_>, node: NodeId, env: &mut Env) -> bool {
        let tree = cx.tree;
        match self {
            Rule::Pattern(p) => p.matches(tree, node, env),
            Rule::Kind(kinds) => kinds.contains(&tree.kind(node)),
            Rule::Regex(re) => re.is_match(tree.text(node)),
            Rule::NthChild(nth) => nth_child(nth, cx, node, env),
            Rule::Range(r) => {
                let range = tree.byte_range(node);
                tree.char_point(range.start) == r.start && tree.char_point(range.end) == r.end
            }
            Rule::Inside(rel) => inside(rel, cx, node, env),
            Rule::Has(rel) => has(rel, cx, node, env),
            Rule::Precedes(rel) => siblings(rel, cx, node, Direction::Right, env),
            Rule::Follows(rel) => siblings(rel, cx, node, Direction::Left, env),
            Rule::All(rules) => {
                let cp = env.checkpoint();
                for rule in rules {
                    if !rule.matches(cx, node, env) {
                        env.rollback(cp);
                        return false;
                    }
                }
                true
            }
            Rule::Any(rules) => rules.iter().any(|r| r.matches(cx, node, env)),
            Rule::Not(rule) => {
                let cp = env.checkpoint();
                let matched = rule.matches(cx, node, env);
                env.rollback(cp);
                !matched
            }
            Rule::Matches(index) => {
                let Some(util) = cx.utils.get(*index) else {
                    return false;
                };
                let depth = cx.depth.get();
                if depth >= MAX_DEPTH {
                    cx.too_deep.set(true);
                    return false;
                }
                cx.depth.set(depth + 1);
                let matched = util.matches(cx, node, env);
                cx.depth.set(depth);
                matched
            }
        }
    }

    /// Whether `node` matches, with bindings discarded.
    pub fn test(&self, cx: &MatchCx<'_, '_>, node: NodeId) -> bool {
        self.matches(cx, node, &mut Env::new())
    }
}

fn nth_child(nth: &NthChild, cx: &MatchCx<'_, '_>, node: NodeId, env: &mut Env) -> bool {
    let tree = cx.tree;
    let Some(parent) = tree.parent(node) else {
        return false;
    };
    if !tree.is_named(node) {
        return false;
    }
    let mut index = 0i64;
    let mut found = None;
    let mut total = 0i64;
    for sibling in tree.children(parent).filter(|&c| tree.is_named(c)) {
        let counted = match &nth.of_rule {
            None => true,
            Some(rule) => {
                let cp = env.checkpoint();
                let m = rule.matches(cx, sibling, env);
                env.rollback(cp);
                m
            }
        };
        if counted {
            total += 1;
            index += 1;
            if sibling == node {
                found = Some(index);
            }
        }
    }
    let Some(position) = found else { return false };
    let position = if nth.reverse {
        total - position + 1
    } else {
        position
    };
    nth.accepts(position)
}

/// ast-grep's `StopBy::find`: the neighbour only, every node of `all`, or the nodes of
/// `all` up to and including the first that matches the stop rule.
fn find(
    stop_by: &StopBy,
    cx: &MatchCx<'_, '_>,
    neighbor: Option<NodeId>,
    all: impl Iterator<Item = NodeId>,
    rule: &Rule,
    env: &mut Env,
) -> bool {
    match stop_by {
        StopBy::Neighbor => neighbor.is_some_and(|n| rule.matches(cx, n, env)),
        StopBy::End => {
            for n in all {
                if rule.matches(cx, n, env) {
                    return true;
                }
            }
            false
        }
        StopBy::Rule(stop) => {
            for n in all {
                let is_stop = stop.test(cx, n);
                if rule.matches(cx, n, env) {
                    return true;
                }
                if is_stop {
                    return false;
                }
            }
            false
        }
    }
}

/// `precedes` (`Direction::Right`: the siblings after `node`) or `follows`
/// (`Direction::Left`: those before it).
fn siblings(
    rel: &Relation,
    cx: &MatchCx<'_, '_>,
    node: NodeId,
    direction: Direction,
    env: &mut Env,
) -> bool {
    let tree = cx.tree;
    let step = |n: NodeId| match direction {
        Direction::Right => tree.next_sibling(n),
        _ => tree.prev_sibling(n),
    };
    let nearest = step(node);
    if let StopBy::End = rel.stop_by {
        if let Some(memo) = rel.memo(cx) {
            return chain_has(memo, &rel.rule, cx, direction, nearest, step);
        }
        if let Some(memo) = cx.memo
            && let Some(text) = rel.anchor_text(cx, env)
            && let Some(found) = indexed_sibling(memo, &rel.rule, cx, node, direction, text, env)
        {
            return found;
        }
    }
    find(
        &rel.stop_by,
        cx,
        nearest,
        std::iter::successors(nearest, |&n| step(n)),
        &rel.rule,
        env,
    )
}

fn inside(rel: &Relation, cx: &MatchCx<'_, '_>, node: NodeId, env: &mut Env) -> bool {
    let tree = cx.tree;
    let Some(field) = rel.field else {
        if let (StopBy::End, Some(memo)) = (&rel.stop_by, rel.memo(cx)) {
            let parent = tree.parent(node);
            return chain_has(memo, &rel.rule, cx, Direction::Up, parent, |n| {
                tree.parent(n)
            });
        }
        return find(
            &rel.stop_by,
            cx,
            tree.parent(node),
            tree.ancestors(node),
            &rel.rule,
            env,
        );
    };
    // With a field, each ancestor counts only if the node on the path below it hangs in
    // that field.
    let in_field =
        |ancestor: NodeId, below: NodeId| tree.child_by_field(ancestor, field) == Some(below);
    let mut below = node;
    let mut check = |ancestor: NodeId, env: &mut Env| {
        let ok = in_field(ancestor, below) && rel.rule.matches(cx, ancestor, env);
        below = ancestor;
        ok
    };
    match &rel.stop_by {
        StopBy::Neighbor => tree.parent(node).is_some_and(|p| check(p, env)),
        StopBy::End => {
            for a in tree.ancestors(node) {
                if check(a, env) {
                    return true;
                }
            }
            false
        }
        StopBy::Rule(stop) => {
            for a in tree.ancestors(node) {
                let is_stop = stop.test(cx, a);
                if check(a, env) {
                    return true;
                }
                if is_stop {
                    return false;
                }
            }
            false
        }
    }
}

fn has(rel: &Relation, cx: &MatchCx<'_, '_>, node: NodeId, env: &mut Env) -> bool {
    let tree = cx.tree;
    if let Some(field) = rel.field {
        let Some(child) = tree.child_by_field(node, field) else {
            return false;
        };
        return match &rel.stop_by {
            StopBy::Neighbor => rel.rule.matches(cx, child, env),
            StopBy::End => tree.subtree(child).any(|n| rel.rule.matches(cx, n, env)),
            StopBy::Rule(stop) => {
                rel.rule.matches(cx, child, env)
                    || (!stop.test(cx, child)
                        && tree.children(child).any(|n| rel.rule.matches(cx, n, env)))
            }
        };
    }
    match &rel.stop_by {
        StopBy::Neighbor => tree.children(node).any(|n| rel.rule.matches(cx, n, env)),
        StopBy::End => match rel.memo(cx) {
            Some(memo) => has_descendant(memo, &rel.rule, cx, node),
            None => {
                let key = match (cx.memo, rel.reads(cx.utils)) {
                    (Some(memo), Some(reads)) if !reads.is_empty() => {
                        bound_key(rel, reads, cx, node, env).map(|key| (memo, key))
                    }
                    _ => None,
                };
                let Some((memo, key)) = key else {
                    return tree.descendants(node).any(|n| rel.rule.matches(cx, n, env));
                };
                // Everything the rule mentions is bound: the search binds nothing.
                memo.bound_answer(key, || {
                    let indexed = rel
                        .anchor_text(cx, env)
                        .and_then(|text| indexed_has(memo, &rel.rule, cx, node, text, env));
                    match indexed {
                        Some(found) => found,
                        None => tree.descendants(node).any(|n| rel.rule.matches(cx, n, env)),
                    }
                })
            }
        },
        StopBy::Rule(stop) => {
            // Pre-order over the descendants, not entering nodes that match the stop rule
            // (which are themselves still tested).
            let mut n = node + 1;
            let end = tree.skip_subtree(node);
            while n < end {
                if rel.rule.matches(cx, n, env) {
                    return true;
                }
                n = if stop.test(cx, n) {
                    tree.skip_subtree(n)
                } else {
                    n + 1
                };
            }
            false
        }
    }
}

/// The node kinds a rule's root can match, or `None` for any kind. Mirrors ast-grep's
/// `potential_kinds`: relational, `not`, `regex`, `nthChild` and `range` say nothing
/// about the node's own kind.
pub fn potential_kinds(rule: &Rule, utils: &[Rule], depth: u32) -> Option<Vec<u16>> {
    if depth > MAX_DEPTH {
        return None;
    }
    match rule {
        Rule::Pattern(p) => p.root_kind().map(|k| vec![k]),
        Rule::Kind(kinds) => Some(kinds.clone()),
        Rule::All(rules) => {
            let mut acc: Option<Vec<u16>> = None;
            for r in rules {
                if let Some(kinds) = potential_kinds(r, utils, depth + 1) {
                    acc = Some(match acc {
                        None => kinds,
                        Some(prev) => prev.into_iter().filter(|k| kinds.contains(k)).collect(),
                    });
                }
            }
            acc
        }
        Rule::Any(rules) => {
            let mut acc = Vec::new();
            for r in rules {
                acc.extend(potential_kinds(r, utils, depth + 1)?);
            }
            acc.sort_unstable();
            acc.dedup();
            Some(acc)
        }
        Rule::Matches(i) => potential_kinds(utils.get(*i)?, utils, depth + 1),
        _ => None,
    }
}
