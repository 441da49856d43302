//! Patterns: code with metavariables, parsed by the target grammar and compared node by node.
//!
//! The comparison follows ast-grep's algorithm exactly (its semantics win where the
//! documentation is vague): the pattern's single innermost node is compared with a
//! candidate; internal nodes must have the same kind and their children are aligned left to
//! right, `$$$` ellipses absorb runs of children up to the next node that matches, and the
//! strictness decides which unmatched nodes (unnamed tokens, comments) may be skipped on
//! either side.

use std::sync::Arc;

use volatile_grammars::Lang;

use crate::kinds::{ERROR_KIND, LangInfo};
use crate::metavar::{Env, MetaVar, parse_metavar};
use crate::spec::Strictness;
use crate::tree::{NodeId, SyntaxTree};

/// A node of a compiled pattern.
#[derive(Debug, Clone)]
enum PNode {
    MetaVar(MetaVar),
    /// A node without children: compared by kind, and by text if named.
    Terminal {
        text: Box<str>,
        kind: u16,
        named: bool,
    },
    /// A node with children: compared by kind, then child by child.
    Internal {
        kind: u16,
        children: Vec<PNode>,
    },
}

impl PNode {
    fn is_trivial(&self) -> bool {
        matches!(self, PNode::Terminal { named: false, .. })
    }

    fn ellipsis(&self) -> Option<Option<&Arc<str>>> {
        match self {
            PNode::MetaVar(MetaVar::Ellipsis) => Some(None),
            PNode::MetaVar(MetaVar::EllipsisCapture(name)) => Some(Some(name)),
            _ => None,
        }
    }
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    root: PNode,
    /// The selector's kind, for a contextual pattern.
    root_kind: Option<u16>,
    strictness: Strictness,
    has_error: bool,
}

/// Why a pattern cannot be compiled. Messages quote the pattern: it is rule text, not
/// submitted source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Nothing but whitespace or comments.
    #[error("the pattern `{0}` contains no code")]
    Empty(String),
    /// More than one top-level node.
    #[error(
        "the pattern `{0}` is more than one node; wrap it in `{{context, selector}}` or use `all`"
    )]
    MultipleNodes(String),
    /// A syntax error.
    #[error("the pattern `{pattern}` does not parse as {lang}")]
    Syntax {
        /// The pattern.
        pattern: String,
        /// The language it was parsed as.
        lang: Lang,
    },
    /// The selector kind is not in the grammar.
    #[error("the selector `{selector}` is not a node kind of {lang}")]
    UnknownSelector {
        /// The selector.
        selector: String,
        /// The language.
        lang: Lang,
    },
    /// The selector kind does not occur in the context.
    #[error("the selector `{selector}` matches no node in the context `{context}`")]
    SelectorNotFound {
        /// The selector.
        selector: String,
        /// The context.
        context: String,
    },
    /// tree-sitter could not parse it at all.
    #[error("the pattern `{0}` could not be parsed")]
    ParseFailed(String),
}

/// Rewrites `$` to the language's expando character where it starts a metavariable.
fn pre_process(src: &str, expando: char) -> String {
    if expando == '$' {
        return src.to_string();
    }
    let mut out = String::with_capacity(src.len());
    let mut dollars = 0usize;
    for c in src.chars() {
        if c == '$' {
            dollars += 1;
            continue;
        }
        let replace = matches!(c, 'A'..='Z' | '_') || dollars == 3;
        let sigil = if replace { expando } else { '$' };
        out.extend(std::iter::repeat_n(sigil, dollars));
        dollars = 0;
        out.push(c);
    }
    let sigil = if dollars == 3 { expando } else { '$' };
    out.extend(std::iter::repeat_n(sigil, dollars));
    out
}

/// ast-grep's notion of a node that only wraps one other: one child, or one child and an
/// empty or missing one.
fn is_single_node(tree: &SyntaxTree<'_>, id: NodeId) -> bool {
    let mut kids = tree.children(id);
    match (kids.next(), kids.next(), kids.next()) {
        (Some(_), None, _) => true,
        (Some(_), Some(second), None) => {
            tree.is_missing(second) || tree.kind_name(second).is_empty()
        }
        _ => false,
    }
}

fn contains_error(tree: &SyntaxTree<'_>, id: NodeId) -> bool {
    tree.subtree(id)
        .any(|n| tree.kind(n) == ERROR_KIND || tree.is_missing(n))
}

impl Pattern {
    /// Compiles a pattern string.
    pub fn new(src: &str, lang: Lang, strictness: Strictness) -> Result<Pattern, PatternError> {
        let processed = pre_process(src, lang.expando_char());
        let tree = SyntaxTree::parse(lang, &processed)
            .map_err(|_| PatternError::ParseFailed(src.to_string()))?;
        let root = tree.root();
        if tree.children(root).next().is_none() {
            return Err(PatternError::Empty(src.to_string()));
        }
        if !is_single_node(&tree, root) {
            return Err(PatternError::MultipleNodes(src.to_string()));
        }
        let mut node = root;
        while is_single_node(&tree, node) {
            match tree.first_child(node) {
                Some(child) => node = child,
                None => break,
            }
        }
        // ast-grep accepts patterns that tree-sitter had to repair, and real rules rely on
        // it (`f($A, $B $$$)`); only a pattern that is nothing but an error is refused.
        if tree.kind(node) == ERROR_KIND {
            return Err(PatternError::Syntax {
                pattern: src.to_string(),
                lang,
            });
        }
        Ok(Pattern {
            root: convert(&tree, node, lang.expando_char()),
            root_kind: None,
            strictness,
            has_error: contains_error(&tree, node),
        })
    }

    /// Compiles a contextual pattern: the first node of kind `selector` inside `context`
    /// (or the context's single node if no selector is given).
    pub fn contextual(
        context: &str,
        selector: Option<&str>,
        lang: Lang,
        strictness: Strictness,
        info: &LangInfo,
    ) -> Result<Pattern, PatternError> {
        let Some(selector) = selector else {
            return Pattern::new(context, lang, strictness);
        };
        let kind = info
            .named_kind(selector)
            .ok_or_else(|| PatternError::UnknownSelector {
                selector: selector.to_string(),
                lang,
            })?;
        let processed = pre_process(context, lang.expando_char());
        let tree = SyntaxTree::parse(lang, &processed)
            .map_err(|_| PatternError::ParseFailed(context.to_string()))?;
        let found = tree
            .subtree(tree.root())
            .find(|&n| tree.kind(n) == kind)
            .ok_or_else(|| PatternError::SelectorNotFound {
                selector: selector.to_string(),
                context: context.to_string(),
            })?;
        Ok(Pattern {
            root: convert(&tree, found, lang.expando_char()),
            root_kind: Some(kind),
            strictness,
            has_error: contains_error(&tree, found),
        })
    }

    /// Whether tree-sitter had to repair the pattern (it is still usable).
    pub fn has_syntax_error(&self) -> bool {
        self.has_error
    }

    /// The one kind the pattern's root can match, or `None` if it can match any node.
    pub fn root_kind(&self) -> Option<u16> {
        match &self.root {
            PNode::Terminal { kind, .. } | PNode::Internal { kind, .. } => Some(*kind),
            PNode::MetaVar(_) => self.root_kind,
        }
    }

    /// The names of the metavariables the pattern captures.
    pub fn captured_names(&self) -> Vec<Arc<str>> {
        let mut out = Vec::new();
        let mut stack = vec![&self.root];
        while let Some(n) = stack.pop() {
            match n {
                PNode::MetaVar(MetaVar::Capture(name, _) | MetaVar::EllipsisCapture(name)) => {
                    out.push(name.clone())
                }
                PNode::Internal { children, .. } => stack.extend(children.iter()),
                _ => {}
            }
        }
        out
    }

    /// The names of the metavariables the pattern captures as single named nodes (`$A`,
    /// not `$$A`): every match binds or compares them with a named node it covers.
    pub fn named_captures(&self) -> Vec<Arc<str>> {
        let mut out = Vec::new();
        let mut stack = vec![&self.root];
        while let Some(n) = stack.pop() {
            match n {
                PNode::MetaVar(MetaVar::Capture(name, true)) => out.push(name.clone()),
                PNode::Internal { children, .. } => stack.extend(children.iter()),
                _ => {}
            }
        }
        out
    }

    /// Whether the pattern captures a run of nodes (`$$$ARGS`).
    pub fn has_multi_capture(&self) -> bool {
        let mut stack = vec![&self.root];
        while let Some(n) = stack.pop() {
            match n {
                PNode::MetaVar(MetaVar::EllipsisCapture(_)) => return true,
                PNode::Internal { children, .. } => stack.extend(children.iter()),
                _ => {}
            }
        }
        false
    }

    /// The literal texts every match must contain, for prefiltering: the named terminal
    /// nodes, whose text is compared exactly in every strictness but `signature`. Each
    /// comes with its kind: a terminal that is not an error (which matches nodes of any
    /// kind) matches only a node of its own kind.
    pub fn literals(&self) -> Vec<(&str, u16)> {
        let mut out = Vec::new();
        if self.strictness == Strictness::Signature {
            return out;
        }
        let mut stack = vec![&self.root];
        while let Some(n) = stack.pop() {
            match n {
                PNode::Terminal {
                    text,
                    named: true,
                    kind,
                } if !text.is_empty() => out.push((&**text, *kind)),
                PNode::Internal { children, .. } => stack.extend(children.iter()),
                _ => {}
            }
        }
        out
    }

    /// The single-node metavariables every match binds: those no strictness lets the
    /// matcher skip (`$A` always; `$$A` only in `smart` and `cst`).
    pub fn surely_bound(&self) -> Vec<Arc<str>> {
        let skips_unnamed = !matches!(self.strictness, Strictness::Smart | Strictness::Cst);
        let mut out = Vec::new();
        let mut stack = vec![&self.root];
        while let Some(n) = stack.pop() {
            match n {
                PNode::MetaVar(MetaVar::Capture(name, named)) if *named || !skips_unnamed => {
                    out.push(name.clone())
                }
                PNode::Internal { children, .. } => stack.extend(children.iter()),
                _ => {}
            }
        }
        out
    }

    /// Whether `node` matches; on success its captures are added to `env`, on failure
    /// `env` is unchanged.
    pub fn matches(&self, tree: &SyntaxTree<'_>, node: NodeId, env: &mut Env) -> bool {
        if let Some(kind) = self.root_kind
            && tree.kind(node) != kind
        {
            return false;
        }
        let cp = env.checkpoint();
        let m = Matcher {
            tree,
            strictness: self.strictness,
        };
        // A bare metavariable pattern binds whatever node it is tried on, comments
        // included: skipping extras only happens while aligning children.
        let matched = match &self.root {
            PNode::MetaVar(mv) => m.metavar(mv, node, env),
            root => matches!(m.node(root, node, env), One::Both),
        };
        if matched {
            true
        } else {
            env.rollback(cp);
            false
        }
    }
}

fn convert(tree: &SyntaxTree<'_>, id: NodeId, expando: char) -> PNode {
    if let Some(mv) = parse_metavar(tree.text(id), expando) {
        return PNode::MetaVar(mv);
    }
    if tree.is_leaf(id) {
        return PNode::Terminal {
            text: tree.text(id).into(),
            kind: tree.kind(id),
            named: tree.is_named(id),
        };
    }
    PNode::Internal {
        kind: tree.kind(id),
        children: tree
            .children(id)
            .filter(|&c| !tree.is_missing(c))
            .map(|c| convert(tree, c, expando))
            .collect(),
    }
}

/// The outcome of comparing one pattern node with one candidate node.
enum One {
    Both,
    SkipBoth,
    SkipGoal,
    SkipCandidate,
    No,
}

enum Flow {
    Continue,
    Fallthrough,
    Return,
}

struct Matcher<'a, 's> {
    tree: &'a SyntaxTree<'s>,
    strictness: Strictness,
}

impl Matcher<'_, '_> {
    /// Whether extras (comments) of the code may be skipped: ast-grep 0.45 and later skip
    /// them in `smart`, `relaxed` and `signature`.
    fn skips_extras(&self) -> bool {
        matches!(
            self.strictness,
            Strictness::Smart | Strictness::Relaxed | Strictness::Signature
        )
    }

    fn skippable_extra(&self, cand: NodeId) -> bool {
        self.skips_extras() && self.tree.is_extra(cand)
    }

    fn terminal(&self, named: bool, text: &str, kind: u16, cand: NodeId) -> One {
        let tree = self.tree;
        let kind_matched = kind == tree.kind(cand) || kind == ERROR_KIND;
        if kind_matched && (!named || text == tree.text(cand)) {
            return One::Both;
        }
        if self.skippable_extra(cand) {
            return One::SkipCandidate;
        }
        let cand_unnamed = !tree.is_named(cand);
        let (skip_goal, skip_cand) = match self.strictness {
            Strictness::Cst => (false, false),
            Strictness::Smart => (false, cand_unnamed),
            Strictness::Ast | Strictness::Relaxed => (!named, cand_unnamed),
            Strictness::Signature => {
                if kind_matched {
                    return One::Both;
                }
                (!named, cand_unnamed)
            }
        };
        match (skip_goal, skip_cand) {
            (true, true) => One::SkipBoth,
            (true, false) => One::SkipGoal,
            (false, true) => One::SkipCandidate,
            (false, false) => One::No,
        }
    }

    fn skip_trailing(&self, cand: NodeId) -> bool {
        let unnamed = !self.tree.is_named(cand);
        match self.strictness {
            Strictness::Cst => false,
            Strictness::Smart => true,
            Strictness::Ast => unnamed,
            Strictness::Relaxed | Strictness::Signature => unnamed || self.tree.is_extra(cand),
        }
    }

    /// Skips the remaining goal nodes that may go unmatched; true if all of them may.
    fn skip_goal(&self, goals: &[PNode], g: &mut usize) -> bool {
        while let Some(goal) = goals.get(*g) {
            let skipped = match self.strictness {
                Strictness::Cst => false,
                Strictness::Smart => matches!(
                    goal,
                    PNode::MetaVar(MetaVar::Ellipsis | MetaVar::EllipsisCapture(_))
                ),
                Strictness::Ast | Strictness::Relaxed | Strictness::Signature => match goal {
                    PNode::MetaVar(MetaVar::Ellipsis | MetaVar::EllipsisCapture(_)) => true,
                    PNode::MetaVar(MetaVar::Dropped(named) | MetaVar::Capture(_, named)) => !named,
                    PNode::Terminal { named, .. } => !named,
                    PNode::Internal { .. } => false,
                },
            };
            if !skipped {
                return false;
            }
            *g += 1;
        }
        true
    }

    fn metavar(&self, mv: &MetaVar, cand: NodeId, env: &mut Env) -> bool {
        let named_ok = |named: bool| !named || self.tree.is_named(cand);
        match mv {
            MetaVar::Capture(name, named) => {
                named_ok(*named) && env.bind_single(name, cand, self.tree)
            }
            MetaVar::Dropped(named) => named_ok(*named),
            MetaVar::Ellipsis => true,
            MetaVar::EllipsisCapture(name) => {
                env.bind_multi(name, vec![cand]);
                true
            }
        }
    }

    fn node(&self, goal: &PNode, cand: NodeId, env: &mut Env) -> One {
        match goal {
            PNode::Terminal { text, kind, named } => self.terminal(*named, text, *kind, cand),
            PNode::MetaVar(_) if self.skippable_extra(cand) => One::SkipCandidate,
            PNode::MetaVar(mv) => {
                if self.metavar(mv, cand, env) {
                    One::Both
                } else {
                    One::No
                }
            }
            PNode::Internal { kind, children } => {
                let k = self.tree.kind(cand);
                if *kind != k && *kind != ERROR_KIND {
                    return if self.skippable_extra(cand) {
                        One::SkipCandidate
                    } else {
                        One::No
                    };
                }
                let cands: Vec<NodeId> = self.tree.children(cand).collect();
                if self.children(children, &cands, env) {
                    One::Both
                } else {
                    One::No
                }
            }
        }
    }

    fn children(&self, goals: &[PNode], cands: &[NodeId], env: &mut Env) -> bool {
        if cands.is_empty() {
            return false;
        }
        let (mut g, mut c) = (0usize, 0usize);
        loop {
            match self.ellipsis(goals, &mut g, cands, &mut c, env) {
                None => return false,
                Some(Flow::Return) => return true,
                Some(Flow::Continue) => continue,
                Some(Flow::Fallthrough) => {}
            }
            match self.single_skipping_trivia(goals, &mut g, cands, &mut c, env) {
                None => return false,
                Some(Flow::Return) => return true,
                Some(Flow::Continue) => continue,
                Some(Flow::Fallthrough) => {}
            }
            if g < goals.len() {
                g += 1;
                c += 1;
            }
            if g >= goals.len() {
                return cands[c.min(cands.len())..]
                    .iter()
                    .all(|&n| self.skip_trailing(n));
            }
            if c >= cands.len() {
                return false;
            }
        }
    }

    fn bind_ellipsis(
        &self,
        name: Option<&Arc<str>>,
        mut nodes: Vec<NodeId>,
        skipped_anonymous: usize,
        env: &mut Env,
    ) {
        if let Some(name) = name {
            let keep = nodes.len().saturating_sub(skipped_anonymous);
            nodes.truncate(keep);
            env.bind_multi(name, nodes);
        }
    }

    fn ellipsis(
        &self,
        goals: &[PNode],
        g: &mut usize,
        cands: &[NodeId],
        c: &mut usize,
        env: &mut Env,
    ) -> Option<Flow> {
        let Some(goal) = goals.get(*g) else {
            return Some(Flow::Return);
        };
        let Some(name) = goal.ellipsis() else {
            return Some(Flow::Fallthrough);
        };
        let mut matched: Vec<NodeId> = Vec::new();
        *g += 1;
        if *g >= goals.len() {
            matched.extend_from_slice(&cands[(*c).min(cands.len())..]);
            *c = cands.len();
            self.bind_ellipsis(name, matched, 0, env);
            return Some(Flow::Return);
        }
        let mut skipped_anonymous = 0;
        while goals[*g].is_trivial() {
            *g += 1;
            skipped_anonymous += 1;
            if *g >= goals.len() {
                matched.extend_from_slice(&cands[(*c).min(cands.len())..]);
                *c = cands.len();
                self.bind_ellipsis(name, matched, skipped_anonymous, env);
                return Some(Flow::Return);
            }
        }
        if goals[*g].ellipsis().is_some() {
            let &first = cands.get(*c)?;
            matched.push(first);
            *c += 1;
            if *c >= cands.len() {
                return None;
            }
            self.bind_ellipsis(name, matched, skipped_anonymous, env);
            return Some(Flow::Continue);
        }
        loop {
            let &cand = cands.get(*c)?;
            let cp = env.checkpoint();
            if matches!(self.node(&goals[*g], cand, env), One::Both) {
                self.bind_ellipsis(name, matched, skipped_anonymous, env);
                return Some(Flow::Fallthrough);
            }
            env.rollback(cp);
            matched.push(cand);
            *c += 1;
            if *c >= cands.len() {
                return None;
            }
        }
    }

    fn single_skipping_trivia(
        &self,
        goals: &[PNode],
        g: &mut usize,
        cands: &[NodeId],
        c: &mut usize,
        env: &mut Env,
    ) -> Option<Flow> {
        loop {
            let Some(&cand) = cands.get(*c) else {
                return self.skip_goal(goals, g).then_some(Flow::Fallthrough);
            };
            let goal = goals.get(*g)?;
            match self.node(goal, cand, env) {
                One::Both => return Some(Flow::Fallthrough),
                One::SkipGoal => {
                    *g += 1;
                    if *g >= goals.len() {
                        return Some(Flow::Fallthrough);
                    }
                }
                One::SkipBoth => {
                    *c += 1;
                    *g += 1;
                    if *g >= goals.len() {
                        return Some(Flow::Fallthrough);
                    }
                }
                One::SkipCandidate => *c += 1,
                One::No => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find_all(pattern: &str, lang: Lang, src: &str, strictness: Strictness) -> Vec<String> {
        let p = match Pattern::new(pattern, lang, strictness) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        let Ok(tree) = SyntaxTree::parse(lang, src) else {
            panic!("parse")
        };
        let mut out = Vec::new();
        for n in tree.subtree(tree.root()) {
            let mut env = Env::new();
            if p.matches(&tree, n, &mut env) {
                out.push(tree.text(n).to_string());
            }
        }
        out
    }

    fn matches(pattern: &str, src: &str) -> bool {
        !find_all(pattern, Lang::Tsx, src, Strictness::Smart).is_empty()
    }

    fn captures(pattern: &str, src: &str) -> Vec<(String, String)> {
        let Ok(p) = Pattern::new(pattern, Lang::Tsx, Strictness::Smart) else {
            panic!("pattern")
        };
        let Ok(tree) = SyntaxTree::parse(Lang::Tsx, src) else {
            panic!("parse")
        };
        for n in tree.subtree(tree.root()) {
            let mut env = Env::new();
            if p.matches(&tree, n, &mut env) {
                let mut out: Vec<(String, String)> = env
                    .iter()
                    .map(|(k, _)| {
                        (
                            k.to_string(),
                            env.text_of(k, &tree).unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                out.sort();
                out.dedup();
                return out;
            }
        }
        Vec::new()
    }

    #[test]
    fn simple_and_nested() {
        assert!(matches("const a = 123", "const a=123"));
        assert!(!matches("const a = 123", "var a = 123"));
        assert!(matches("const a = 123", "function f() {const a= 123;}"));
        assert!(!matches(
            "function foo() { let a = 123; }",
            "function bar() { let a = 123; }"
        ));
    }

    #[test]
    fn ellipsis_forms() {
        assert!(matches("foo($$$)", "foo(a, b, c)"));
        assert!(matches("foo($$$)", "foo()"));
        assert!(matches("foo($$$A, c)", "foo(a, b, c)"));
        assert!(matches("foo($$$A, a, b, c)", "foo(a, b, c)"));
        assert!(!matches("foo($$$A, a, b, c)", "foo(b, c)"));
        assert!(matches("foo($$$, c)", "foo(a, b, c)"));
        assert!(matches("foo(a, $$$)", "foo(a, b, c)"));
        assert!(!matches("foo(a, b, c, $$$)", "foo(b, c)"));
        assert_eq!(
            captures("foo($$$ARGS, c)", "foo(a, b, c)"),
            [("ARGS".to_string(), "a, b".to_string())]
        );
    }

    #[test]
    fn named_and_unnamed_metavariables() {
        assert!(matches("return $A", "return 123;"));
        assert!(matches("return $_", "return 123;"));
        assert!(!matches("return $A", "return;"));
        assert!(!matches("return $_", "return;"));
        assert!(matches("return $$A", "return;"));
    }

    #[test]
    fn repeated_metavariables_must_be_equal() {
        assert!(matches("$A($$$)", "test(123)"));
        assert!(!matches("$A($A)", "test(aaa)"));
        assert!(matches("$A($A)", "test(test)"));
        assert!(!matches("$A($A, $A)", "test(123, 456)"));
        assert!(matches("($P) => $F($P)", "(x) => bar(x)"));
    }

    #[test]
    fn trivia_and_strictness() {
        assert!(matches("foo($A, $B)", "foo(a, b,)"));
        assert!(matches("foo($A, $B,)", "foo(a, b,)"));
        assert!(!matches("foo($A, $B,)", "foo(a, b)"));
        let ast = |p: &str, s: &str| !find_all(p, Lang::Tsx, s, Strictness::Ast).is_empty();
        let cst = |p: &str, s: &str| !find_all(p, Lang::Tsx, s, Strictness::Cst).is_empty();
        let relaxed = |p: &str, s: &str| !find_all(p, Lang::Tsx, s, Strictness::Relaxed).is_empty();
        let sig = |p: &str, s: &str| !find_all(p, Lang::Tsx, s, Strictness::Signature).is_empty();
        assert!(ast("import $A from 'lib'", "import A from \"lib\""));
        assert!(!cst("import $A from 'lib'", "import A from \"lib\""));
        assert!(!ast("$A(bar)", "foo(/* A*/bar)"));
        assert!(relaxed("$A(bar)", "foo(/* A*/bar)"));
        assert!(sig("$A(bar)", "foo(/* A*/bar)"));
        assert!(ast("print($A,)", "print(123)"));
        assert!(!cst("print($A,)", "print(123)"));
    }

    #[test]
    fn leading_ellipsis_does_not_leak_probe_bindings() {
        let caps = captures(
            "function _() {\n  $$$A\n  let $P = g()\n  let $Q = h()\n  $$$B\n}",
            "function _() { let a = 0; let p = g(); let q = h(); let b = 1; }",
        );
        let get = |k: &str| caps.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("P"), Some("p"));
        assert_eq!(get("Q"), Some("q"));
        assert_eq!(get("A"), Some("let a = 0;"));
    }

    #[test]
    fn python_metavariables_use_the_expando_character() {
        let found = find_all(
            "print($A)",
            Lang::Python,
            "print(x)\nprint(1, 2)\n",
            Strictness::Smart,
        );
        assert_eq!(found, ["print(x)"]);
        let found = find_all("$F($$$)", Lang::Python, "f(1)\n", Strictness::Smart);
        assert_eq!(found, ["f(1)"]);
    }

    #[test]
    fn pattern_errors() {
        let e = Pattern::new("", Lang::Tsx, Strictness::Smart).err();
        assert!(matches!(e, Some(PatternError::Empty(_))));
        let e = Pattern::new("a b c", Lang::JavaScript, Strictness::Smart).err();
        assert!(matches!(e, Some(PatternError::MultipleNodes(_))));
        let e = Pattern::new("foo(", Lang::JavaScript, Strictness::Smart).err();
        assert!(matches!(e, Some(PatternError::Syntax { .. })), "{e:?}");
        let repaired = Pattern::new("f($A, $B $$$)", Lang::JavaScript, Strictness::Smart);
        assert!(repaired.is_ok_and(|p| p.has_syntax_error()));
    }
}
