//! Metavariables (`$A`, `$$A`, `$_`, `$$$`, `$$$ARGS`) and the environment of their bindings.

use std::sync::Arc;

use crate::tree::{NodeId, SyntaxTree};

/// A metavariable as it appears in a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaVar {
    /// `$A` (named node only) or `$$A` (any node): captured under the name.
    Capture(Arc<str>, bool),
    /// `$_` (named node) or `$$_` (any node): matched, not captured.
    Dropped(bool),
    /// `$$$` or `$$$_X`: zero or more nodes, not captured.
    Ellipsis,
    /// `$$$A`: zero or more nodes, captured.
    EllipsisCapture(Arc<str>),
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('A'..='Z' | '_'))
        && chars.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
}

/// Reads `text` (a whole node's text) as a metavariable written with `sigil` (`$`, or the
/// language's expando character).
pub fn parse_metavar(text: &str, sigil: char) -> Option<MetaVar> {
    let rest = text.strip_prefix(sigil)?;
    if let Some(rest) = rest.strip_prefix(sigil) {
        if let Some(name) = rest.strip_prefix(sigil) {
            if name.is_empty() || name.starts_with('_') && valid_name(name) {
                return Some(MetaVar::Ellipsis);
            }
            return valid_name(name).then(|| MetaVar::EllipsisCapture(name.into()));
        }
        if !valid_name(rest) {
            return None;
        }
        if rest.starts_with('_') {
            return Some(MetaVar::Dropped(false));
        }
        return Some(MetaVar::Capture(rest.into(), false));
    }
    if !valid_name(rest) {
        return None;
    }
    if rest.starts_with('_') {
        Some(MetaVar::Dropped(true))
    } else {
        Some(MetaVar::Capture(rest.into(), true))
    }
}

/// What a metavariable is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// One node.
    Single(NodeId),
    /// A run of sibling nodes (possibly empty).
    Multi(Vec<NodeId>),
    /// A string computed by a transformation.
    Text(String),
}

/// The bindings made while matching one node.
///
/// A vector, not a map: rules bind a handful of variables, and a checkpoint is a length,
/// so a failed branch is undone with one `truncate`.
#[derive(Debug, Clone, Default)]
pub struct Env {
    bindings: Vec<(Arc<str>, Binding)>,
}

/// A point to roll an [`Env`] back to.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint(usize);

impl Env {
    /// An empty environment.
    pub fn new() -> Env {
        Env::default()
    }

    /// The current state, to roll back to.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint(self.bindings.len())
    }

    /// Undoes every binding made since `cp`.
    pub fn rollback(&mut self, cp: Checkpoint) {
        self.bindings.truncate(cp.0);
    }

    /// The binding of `name`, latest first.
    pub fn get(&self, name: &str) -> Option<&Binding> {
        self.bindings
            .iter()
            .rev()
            .find(|(n, _)| &**n == name)
            .map(|(_, b)| b)
    }

    /// The node bound to `name`, if it is bound to one.
    pub fn single(&self, name: &str) -> Option<NodeId> {
        match self.get(name) {
            Some(Binding::Single(n)) => Some(*n),
            _ => None,
        }
    }

    /// Binds `name` to `node`, or checks that it equals the node already bound.
    pub fn bind_single(&mut self, name: &Arc<str>, node: NodeId, tree: &SyntaxTree<'_>) -> bool {
        match self.get(name) {
            Some(Binding::Single(existing)) => nodes_equal(tree, *existing, node),
            Some(_) | None => {
                self.bindings.push((name.clone(), Binding::Single(node)));
                true
            }
        }
    }

    /// Binds `name` to a run of nodes.
    pub fn bind_multi(&mut self, name: &Arc<str>, nodes: Vec<NodeId>) {
        self.bindings.push((name.clone(), Binding::Multi(nodes)));
    }

    /// Binds `name` to computed text.
    pub fn bind_text(&mut self, name: &Arc<str>, text: String) {
        self.bindings.push((name.clone(), Binding::Text(text)));
    }

    /// Every binding, latest last (a name may appear more than once; the last wins).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Binding)> {
        self.bindings.iter().map(|(n, b)| (&**n, b))
    }

    /// The text a binding stands for: a node's text, the source from the first to the last
    /// node of a run, or computed text.
    pub fn text_of<'s>(&'s self, name: &str, tree: &SyntaxTree<'s>) -> Option<&'s str> {
        match self.get(name)? {
            Binding::Single(n) => Some(tree.text(*n)),
            Binding::Multi(nodes) => match (nodes.first(), nodes.last()) {
                (Some(&first), Some(&last)) => {
                    let range = tree.byte_range(first).start..tree.byte_range(last).end;
                    tree.source().get(range)
                }
                _ => Some(""),
            },
            Binding::Text(t) => Some(t),
        }
    }
}

/// Whether two nodes are the same code: same node, or same text where either has no named
/// children, or same kind with pairwise equal children.
pub fn nodes_equal(tree: &SyntaxTree<'_>, a: NodeId, b: NodeId) -> bool {
    // An explicit stack: the nodes may be arbitrarily deep.
    let mut pending = vec![(a, b)];
    while let Some((a, b)) = pending.pop() {
        if a == b {
            continue;
        }
        if !tree.has_named_children(a) || !tree.has_named_children(b) {
            if tree.text(a) != tree.text(b) {
                return false;
            }
            continue;
        }
        if tree.kind(a) != tree.kind(b) {
            return false;
        }
        let mut ca = tree.children(a);
        let mut cb = tree.children(b);
        loop {
            match (ca.next(), cb.next()) {
                (Some(x), Some(y)) => pending.push((x, y)),
                (None, None) => break,
                _ => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metavariable_forms() {
        use MetaVar::*;
        let p = |s| parse_metavar(s, '$');
        assert_eq!(p("$A"), Some(Capture("A".into(), true)));
        assert_eq!(p("$VAR_1"), Some(Capture("VAR_1".into(), true)));
        assert_eq!(p("$$A"), Some(Capture("A".into(), false)));
        assert_eq!(p("$_"), Some(Dropped(true)));
        assert_eq!(p("$_X"), Some(Dropped(true)));
        assert_eq!(p("$$_"), Some(Dropped(false)));
        assert_eq!(p("$$$"), Some(Ellipsis));
        assert_eq!(p("$$$_"), Some(Ellipsis));
        assert_eq!(p("$$$ARGS"), Some(EllipsisCapture("ARGS".into())));
        assert_eq!(p("$a"), None);
        assert_eq!(p("$1"), None);
        assert_eq!(p("$"), None);
        assert_eq!(p("A"), None);
        assert_eq!(p("$A.b"), None);
        assert_eq!(parse_metavar("µA", 'µ'), Some(Capture("A".into(), true)));
        assert_eq!(parse_metavar("µµµ", 'µ'), Some(Ellipsis));
    }
}
