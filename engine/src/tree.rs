//! A flat, pre-order copy of a tree-sitter tree.
//!
//! tree-sitter's own nodes answer `parent()` by walking down from the root (O(depth)) and
//! have no stable index to memoise on. The matcher asks for parents, siblings and whole
//! subtrees constantly, so each tree is copied once into a `Vec` in pre-order: a node is a
//! `u32` index, its subtree is the index range `[id, subtree_end)`, and parent and sibling
//! links are stored. Every navigation is O(1), every traversal is a loop (no recursion, so
//! no stack overflow on deeply nested input), and per-node caches are plain vectors.
//!
//! The copy is one pass over tree-sitter's own subtrees, in C against tree-sitter's
//! internal headers (`csrc/flatten.c`): a `TreeCursor` walk gives the same nodes but cost a
//! quarter of the parse, re-deriving per step what a single pass carries along. The cursor
//! walk remains as the reference the tests hold the pass to, and as the fallback should
//! the pass ever disagree with tree-sitter's node count. A node takes 24 bytes (its next
//! sibling starts where its subtree ends, so only the previous sibling is stored); the
//! tree-sitter tree itself is dropped as soon as the copy (and any raw query) is done.

use std::cell::{OnceCell, RefCell};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use volatile_grammars::Lang;

use crate::kinds::LangInfo;
use crate::position::LineTable;

/// The index of a node in a [`SyntaxTree`].
pub type NodeId = u32;

const NONE: u32 = u32::MAX;

/// One node; `csrc/flatten.c` writes this layout (`VolatileNode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
struct NodeData {
    start: u32,
    end: u32,
    parent: u32,
    prev_sibling: u32,
    subtree_end: u32,
    kind: u16,
    /// The field id in the low bits, and the `NAMED`, `MISSING` and `EXTRA` flags.
    field_flags: u16,
}

// Trees are the largest thing a scan holds (a file's tree-sitter tree and its copy are
// both alive while the copy is made): keep a node at 24 bytes.
const _: () = assert!(std::mem::size_of::<NodeData>() == 24);

const NAMED: u16 = 1 << 15;
const MISSING: u16 = 1 << 14;
const EXTRA: u16 = 1 << 13;
/// Field ids must fit below the flags (grammars have tens of fields).
const FIELD_MASK: u16 = EXTRA - 1;

/// A parsed file: its text and its flattened syntax tree.
#[derive(Debug)]
pub struct SyntaxTree<'s> {
    source: &'s str,
    lang: Lang,
    info: &'static LangInfo,
    nodes: Vec<NodeData>,
    has_error: bool,
    /// The lines as `range` rules count them, indexed on first use.
    lines: OnceCell<LineTable>,
}

/// Why a file could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The deadline passed while parsing.
    DeadlineExceeded,
    /// The file is too large for 32-bit offsets.
    TooLarge,
    /// tree-sitter returned no tree.
    Failed,
}

thread_local! {
    static PARSERS: RefCell<Vec<(Lang, tree_sitter::Parser)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's parser for `lang`, creating it on first use.
fn with_parser<R>(lang: Lang, f: impl FnOnce(&mut tree_sitter::Parser) -> R) -> Option<R> {
    PARSERS.with(|cell| {
        let mut parsers = cell.borrow_mut();
        let index = match parsers.iter().position(|(l, _)| *l == lang) {
            Some(i) => i,
            None => {
                let mut parser = tree_sitter::Parser::new();
                parser.set_language(&lang.ts_language()).ok()?;
                parsers.push((lang, parser));
                parsers.len() - 1
            }
        };
        let parser = &mut parsers[index].1;
        let out = f(parser);
        // A cancelled parse leaves state behind; the next parse must start afresh.
        parser.reset();
        Some(out)
    })
}

/// Parses `source` with this thread's parser, giving up at `deadline`.
pub fn parse_ts(
    lang: Lang,
    source: &str,
    deadline: Option<Instant>,
) -> Result<tree_sitter::Tree, ParseError> {
    if source.len() >= NONE as usize {
        return Err(ParseError::TooLarge);
    }
    let bytes = source.as_bytes();
    let mut timed_out = false;
    let tree = with_parser(lang, |parser| {
        let mut read = |offset: usize, _: tree_sitter::Point| -> &[u8] {
            bytes.get(offset..).unwrap_or_default()
        };
        match deadline {
            None => parser.parse_with_options(&mut read, None, None),
            Some(deadline) => {
                let mut check = |_: &tree_sitter::ParseState| {
                    if Instant::now() >= deadline {
                        timed_out = true;
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                };
                let options = tree_sitter::ParseOptions::new().progress_callback(&mut check);
                parser.parse_with_options(&mut read, None, Some(options))
            }
        }
    })
    .flatten();
    match tree {
        Some(tree) => Ok(tree),
        None if timed_out => Err(ParseError::DeadlineExceeded),
        None => Err(ParseError::Failed),
    }
}

/// Trees are equal when they are of the same language and have the same nodes, with the
/// same links, fields and flags.
impl PartialEq for SyntaxTree<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.lang == other.lang && self.has_error == other.has_error && self.nodes == other.nodes
    }
}

impl<'s> SyntaxTree<'s> {
    /// Parses and flattens `source`.
    pub fn parse(lang: Lang, source: &'s str) -> Result<SyntaxTree<'s>, ParseError> {
        let tree = parse_ts(lang, source, None)?;
        Ok(SyntaxTree::from_ts(lang, source, &tree))
    }

    /// Flattens a tree-sitter tree of `source`.
    pub fn from_ts(lang: Lang, source: &'s str, tree: &tree_sitter::Tree) -> SyntaxTree<'s> {
        SyntaxTree::from_ts_collecting(lang, source, tree, &[], &mut Vec::new())
    }

    /// [`SyntaxTree::from_ts`], also collecting into `out` the tree-sitter nodes whose kind
    /// id is marked in `wanted`, in pre-order.
    pub fn from_ts_collecting<'t>(
        lang: Lang,
        source: &'s str,
        tree: &'t tree_sitter::Tree,
        wanted: &[bool],
        out: &mut Vec<tree_sitter::Node<'t>>,
    ) -> SyntaxTree<'s> {
        let collected = out.len();
        match flatten::nodes(tree, wanted, out) {
            Some(nodes) => SyntaxTree::new(lang, source, tree, nodes),
            None => {
                debug_assert!(
                    false,
                    "the one-pass copy disagreed with tree-sitter's count"
                );
                out.truncate(collected);
                SyntaxTree::from_ts_by_cursor(lang, source, tree, wanted, out)
            }
        }
    }

    /// Flattens a tree-sitter tree of `source` that is no longer needed, freeing it as it
    /// is copied: the memory of a large file's two trees is never whole at once.
    /// `release_memory` is called every so many bytes freed, to hand them back to the
    /// system, when the tree is among the largest this process has copied (see
    /// [`among_the_largest`]). `None` when the copy disagreed with tree-sitter's node
    /// count (a bug).
    pub fn from_ts_consuming(
        lang: Lang,
        source: &'s str,
        tree: tree_sitter::Tree,
        release_memory: Option<extern "C" fn()>,
    ) -> Option<SyntaxTree<'s>> {
        SyntaxTree::from_ts_consuming_visiting(lang, source, tree, &[], &mut |_| {}, release_memory)
    }

    /// [`SyntaxTree::from_ts_consuming`] that hands `visit` the tree-sitter nodes whose
    /// kind id is marked in `wanted`, in pre-order, each while its subtree is still whole:
    /// work that needs tree-sitter's own nodes (raw queries) runs there, and the tree need
    /// not be kept whole for it. A node can be used during the call only, and only
    /// downwards (its earlier siblings may be freed already); the signature keeps it from
    /// escaping. A panic in `visit` stops the visits, not the copy: the tree is still
    /// freed whole, and the panic then goes on from here.
    pub fn from_ts_consuming_visiting(
        lang: Lang,
        source: &'s str,
        tree: tree_sitter::Tree,
        wanted: &[bool],
        visit: &mut dyn for<'n> FnMut(tree_sitter::Node<'n>),
        release_memory: Option<extern "C" fn()>,
    ) -> Option<SyntaxTree<'s>> {
        let has_error = tree.root_node().has_error();
        let count = tree.root_node().descendant_count();
        let release_memory = release_memory.filter(|_| among_the_largest(count));
        let nodes = flatten::nodes_consuming(tree, wanted, visit, release_memory);
        debug_assert!(
            nodes.is_some(),
            "the one-pass copy disagreed with tree-sitter's count"
        );
        Some(SyntaxTree {
            source,
            lang,
            info: LangInfo::of(lang),
            has_error,
            nodes: nodes?,
            lines: OnceCell::new(),
        })
    }

    fn new(
        lang: Lang,
        source: &'s str,
        tree: &tree_sitter::Tree,
        nodes: Vec<NodeData>,
    ) -> SyntaxTree<'s> {
        SyntaxTree {
            source,
            lang,
            info: LangInfo::of(lang),
            has_error: tree.root_node().has_error(),
            nodes,
            lines: OnceCell::new(),
        }
    }

    /// [`SyntaxTree::from_ts_collecting`] by a `TreeCursor` walk: the same tree, slower.
    /// The reference the one-pass copy of `csrc/flatten.c` is tested against, and its
    /// fallback.
    pub fn from_ts_by_cursor<'t>(
        lang: Lang,
        source: &'s str,
        tree: &'t tree_sitter::Tree,
        wanted: &[bool],
        out: &mut Vec<tree_sitter::Node<'t>>,
    ) -> SyntaxTree<'s> {
        let root = tree.root_node();
        let mut nodes: Vec<NodeData> = Vec::with_capacity(root.descendant_count());
        let mut cursor = root.walk();
        // Stack of (node id, last child id) for the open ancestors.
        let mut open: Vec<(u32, u32)> = Vec::new();
        loop {
            let node = cursor.node();
            let id = nodes.len() as u32;
            let (parent, prev) = match open.last_mut() {
                Some((p, last)) => {
                    let prev = *last;
                    *last = id;
                    (*p, prev)
                }
                None => (NONE, NONE),
            };
            let kind = node.kind_id();
            if wanted.get(kind as usize).copied().unwrap_or(false) {
                out.push(node);
            }
            let field = cursor.field_id().map_or(0, |f| f.get());
            debug_assert!(field <= FIELD_MASK, "field id {field} over the mask");
            let mut field_flags = field & FIELD_MASK;
            if node.is_named() {
                field_flags |= NAMED;
            }
            if node.is_extra() {
                field_flags |= EXTRA;
            }
            nodes.push(NodeData {
                start: node.start_byte() as u32,
                end: node.end_byte() as u32,
                parent,
                prev_sibling: prev,
                subtree_end: id + 1,
                kind,
                field_flags,
            });
            // The cursor visits exactly the children `child_count` counts, so a node has
            // children when it can step into one (and `subtree_end` records it).
            if cursor.goto_first_child() {
                open.push((id, NONE));
                continue;
            }
            // Only leaves are ever missing (tree-sitter inserts a missing token).
            if node.is_missing() {
                nodes[id as usize].field_flags |= MISSING;
            }
            // Leaf: close finished ancestors until a next sibling exists.
            loop {
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    let total = nodes.len() as u32;
                    for (p, _) in open.drain(..) {
                        nodes[p as usize].subtree_end = total;
                    }
                    return SyntaxTree::new(lang, source, tree, nodes);
                }
                if let Some((p, _)) = open.pop() {
                    nodes[p as usize].subtree_end = nodes.len() as u32;
                }
            }
        }
    }

    /// The language of the tree.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The source text.
    pub fn source(&self) -> &'s str {
        self.source
    }

    /// Whether tree-sitter had to recover from syntax errors.
    pub fn has_error(&self) -> bool {
        self.has_error
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree has no nodes (never true for a parsed tree).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The root node.
    pub fn root(&self) -> NodeId {
        0
    }

    fn data(&self, id: NodeId) -> &NodeData {
        &self.nodes[id as usize]
    }

    /// The node's grammar kind id.
    pub fn kind(&self, id: NodeId) -> u16 {
        self.data(id).kind
    }

    /// The node's kind name.
    pub fn kind_name(&self, id: NodeId) -> &'static str {
        self.info.kind_name(self.kind(id))
    }

    /// The grammar's tables.
    pub fn info(&self) -> &'static LangInfo {
        self.info
    }

    /// Whether the node is named (not punctuation or a keyword).
    pub fn is_named(&self, id: NodeId) -> bool {
        self.data(id).field_flags & NAMED != 0
    }

    /// Whether tree-sitter inserted the node to recover from an error.
    pub fn is_missing(&self, id: NodeId) -> bool {
        self.data(id).field_flags & MISSING != 0
    }

    /// Whether the node is an extra (a comment, or what the grammar lets appear anywhere).
    pub fn is_extra(&self, id: NodeId) -> bool {
        self.data(id).field_flags & EXTRA != 0
    }

    /// Whether the node has no children at all.
    pub fn is_leaf(&self, id: NodeId) -> bool {
        self.data(id).subtree_end == id + 1
    }

    /// Whether any child is named.
    pub fn has_named_children(&self, id: NodeId) -> bool {
        self.children(id).any(|c| self.is_named(c))
    }

    /// The field id under which the node hangs from its parent (0: none).
    pub fn field(&self, id: NodeId) -> u16 {
        self.data(id).field_flags & FIELD_MASK
    }

    /// Byte range of the node.
    pub fn byte_range(&self, id: NodeId) -> std::ops::Range<usize> {
        let d = self.data(id);
        d.start as usize..d.end as usize
    }

    /// The node's text.
    pub fn text(&self, id: NodeId) -> &'s str {
        self.source.get(self.byte_range(id)).unwrap_or("")
    }

    /// The deepest node whose byte range contains `start..end` (a non-empty range).
    pub fn covering(&self, start: usize, end: usize) -> Option<NodeId> {
        let last = self.nodes.partition_point(|d| d.start as usize <= start);
        self.covering_up_from(last, start, end)
    }

    /// [`SyntaxTree::covering`] for ranges taken in increasing order of `start`, each
    /// search going on from where the previous one ended (`from`, 0 at first): a
    /// galloping search costs the logarithm of the distance between neighbouring ranges,
    /// not of the tree. Returns the node and where the search ended.
    pub fn covering_from(&self, from: usize, start: usize, end: usize) -> (Option<NodeId>, usize) {
        let before = |i: usize| self.nodes.get(i).is_some_and(|d| d.start as usize <= start);
        // Every node before `from` starts at or before the previous range's start.
        let (mut low, mut step) = (from.min(self.nodes.len()), 1);
        while before(low + step - 1) {
            low += step;
            step *= 2;
        }
        let high = (low + step - 1).min(self.nodes.len());
        let last = low + self.nodes[low..high].partition_point(|d| d.start as usize <= start);
        (self.covering_up_from(last, start, end), last)
    }

    /// The deepest node containing `start..end`, given `last`, the number of nodes that
    /// start at or before `start`.
    fn covering_up_from(&self, last: usize, start: usize, end: usize) -> Option<NodeId> {
        // Nodes are in pre-order, so their starts never decrease: the last node starting
        // at or before `start` lies inside every node that contains the range, and the
        // deepest of those is its first ancestor-or-self reaching `end`.
        let mut at = last.checked_sub(1)? as NodeId;
        loop {
            let d = self.data(at);
            if d.start as usize <= start && d.end as usize >= end {
                return Some(at);
            }
            at = some(d.parent)?;
        }
    }

    /// The parent, if any.
    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        some(self.data(id).parent)
    }

    /// The next sibling, named or not.
    pub fn next_sibling(&self, id: NodeId) -> Option<NodeId> {
        self.next_siblings(id).next()
    }

    /// The previous sibling, named or not.
    pub fn prev_sibling(&self, id: NodeId) -> Option<NodeId> {
        some(self.data(id).prev_sibling)
    }

    /// The first child, if any.
    pub fn first_child(&self, id: NodeId) -> Option<NodeId> {
        (self.data(id).subtree_end > id + 1).then_some(id + 1)
    }

    /// The children, named or not, in order.
    pub fn children(&self, id: NodeId) -> Siblings<'_, 's> {
        Siblings {
            tree: self,
            next: id + 1,
            end: self.data(id).subtree_end,
        }
    }

    /// The siblings after `id`: in pre-order the next one starts where this subtree ends,
    /// as long as the parent's subtree goes on.
    pub fn next_siblings(&self, id: NodeId) -> Siblings<'_, 's> {
        let d = self.data(id);
        Siblings {
            tree: self,
            next: d.subtree_end,
            end: self
                .nodes
                .get(d.parent as usize)
                .map_or(0, |p| p.subtree_end),
        }
    }

    /// The siblings before `id`, nearest first.
    pub fn prev_siblings(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::successors(self.prev_sibling(id), |&n| self.prev_sibling(n))
    }

    /// The ancestors of `id`, nearest first.
    pub fn ancestors(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::successors(self.parent(id), |&n| self.parent(n))
    }

    /// The node and all its descendants, in pre-order.
    pub fn subtree(&self, id: NodeId) -> std::ops::Range<NodeId> {
        id..self.data(id).subtree_end
    }

    /// The descendants of `id`, in pre-order, without `id` itself.
    pub fn descendants(&self, id: NodeId) -> std::ops::Range<NodeId> {
        id + 1..self.data(id).subtree_end
    }

    /// The first pre-order node after the subtree of `id`.
    pub fn skip_subtree(&self, id: NodeId) -> NodeId {
        self.data(id).subtree_end
    }

    /// The child of `id` in `field`, if any.
    pub fn child_by_field(&self, id: NodeId, field: u16) -> Option<NodeId> {
        self.children(id).find(|&c| self.field(c) == field)
    }

    /// The 0-based line and character column of a byte offset (what `range` rules use;
    /// lines end at `\n` alone, as ast-grep counts them).
    pub fn char_point(&self, byte: usize) -> (usize, usize) {
        self.lines
            .get_or_init(|| LineTable::newline_only(self.source))
            .char_column_0based(self.source, byte)
    }

    /// Whether the node is a comment (its kind name contains `comment`).
    pub fn is_comment(&self, id: NodeId) -> bool {
        self.info.is_comment_kind(self.kind(id))
    }
}

/// The one-pass copy of `csrc/flatten.c`.
#[allow(unsafe_code)]
mod flatten {
    use std::ffi::c_void;

    use tree_sitter::ffi::{TSNode, TSTree};

    use super::NodeData;

    type Collect = unsafe extern "C" fn(*mut c_void, TSNode);

    unsafe extern "C" {
        fn volatile_flatten_consuming(
            tree: *mut TSTree,
            out: *mut NodeData,
            capacity: u32,
            wanted: *const u8,
            wanted_len: u32,
            collect: Collect,
            collect_context: *mut c_void,
            release_memory: Option<extern "C" fn()>,
        ) -> u32;

        fn volatile_flatten(
            tree: *const TSTree,
            out: *mut NodeData,
            capacity: u32,
            wanted: *const u8,
            wanted_len: u32,
            collect: Collect,
            collect_context: *mut c_void,
        ) -> u32;
    }

    /// The nodes of `tree` in pre-order, freeing the tree's subtrees as they are copied
    /// (see `csrc/flatten.c`), handing `visit` the nodes whose kind is marked in `wanted`
    /// while their subtrees are whole, and calling `release_memory` every so many bytes
    /// freed; `None` when the copy did not give exactly tree-sitter's node count. The tree
    /// is freed either way. A panic in `visit` stops the visits and is resumed once the
    /// copy has returned (it may not unwind through C).
    pub(super) fn nodes_consuming(
        tree: tree_sitter::Tree,
        wanted: &[bool],
        visit: &mut dyn for<'n> FnMut(tree_sitter::Node<'n>),
        release_memory: Option<extern "C" fn()>,
    ) -> Option<Vec<NodeData>> {
        let count = tree.root_node().descendant_count();
        let capacity = u32::try_from(count).ok()?;
        let wanted_len = u32::try_from(wanted.len()).ok()?;
        let mut nodes: Vec<NodeData> = Vec::with_capacity(count);
        let mut visitor = Visitor { visit, panic: None };
        let raw = tree.into_raw();
        // SAFETY: `raw` is the tree, owned here and used by nothing else (`into_raw`);
        // `nodes` has room for `capacity` nodes of the layout the C side writes, the first
        // `written` initialised when it returns; `wanted` is `wanted_len` bytes of `bool`;
        // `visit_node` gets `visitor` as its context. The copy leaves the tree with an
        // empty root, which `Tree::from_raw`'s drop (`ts_tree_delete`) then frees with the
        // tree.
        let written = unsafe {
            let written = volatile_flatten_consuming(
                raw,
                nodes.as_mut_ptr(),
                capacity,
                wanted.as_ptr().cast(),
                wanted_len,
                visit_node,
                std::ptr::from_mut(&mut visitor).cast(),
                release_memory,
            );
            drop(tree_sitter::Tree::from_raw(raw));
            written
        };
        if let Some(panic) = visitor.panic {
            std::panic::resume_unwind(panic);
        }
        if written as usize != count {
            return None;
        }
        // SAFETY: the copy initialised `written` == `count` nodes.
        unsafe { nodes.set_len(count) };
        Some(nodes)
    }

    /// What [`visit_node`] calls, and the panic that stopped it, if any.
    struct Visitor<'v> {
        visit: &'v mut dyn for<'n> FnMut(tree_sitter::Node<'n>),
        panic: Option<Box<dyn std::any::Any + Send>>,
    }

    /// Hands a node to the [`Visitor`] behind `context`, catching a panic (which may not
    /// unwind into C) for [`nodes_consuming`] to resume.
    ///
    /// # Safety
    /// `context` is the `&mut Visitor` that [`nodes_consuming`] passes, and `node` a node
    /// of the tree being copied whose subtree is whole for the duration of the call.
    unsafe extern "C" fn visit_node(context: *mut c_void, node: TSNode) {
        // SAFETY: the function's contract.
        let visitor = unsafe { &mut *context.cast::<Visitor<'_>>() };
        if visitor.panic.is_some() {
            return;
        }
        // SAFETY: the node is valid for this call (the contract), and `visit` cannot keep it
        // past the call: it must accept a node of any lifetime.
        let node = unsafe { tree_sitter::Node::from_raw(node) };
        let visit = &mut visitor.visit;
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (visit)(node)))
        {
            visitor.panic = Some(panic);
        }
    }

    /// Pushes a collected node onto the `Vec<tree_sitter::Node>` behind `context`.
    ///
    /// # Safety
    /// `context` is the `&mut Vec<tree_sitter::Node<'t>>` that [`nodes`] passes, and `node`
    /// a node of the tree it borrows for `'t`.
    unsafe extern "C" fn push_node(context: *mut c_void, node: TSNode) {
        // SAFETY: the function's contract.
        unsafe {
            let out = &mut *context.cast::<Vec<tree_sitter::Node<'_>>>();
            out.push(tree_sitter::Node::from_raw(node));
        }
    }

    /// The nodes of `tree` in pre-order, collecting into `out` those whose kind is marked
    /// in `wanted`; `None` when the copy did not give exactly tree-sitter's node count.
    pub(super) fn nodes<'t>(
        tree: &'t tree_sitter::Tree,
        wanted: &[bool],
        out: &mut Vec<tree_sitter::Node<'t>>,
    ) -> Option<Vec<NodeData>> {
        let root = tree.root_node();
        // tree-sitter keeps the count of visible descendants (the nodes a cursor visits) in
        // each subtree, so the flat tree is allocated once at its exact size: no growth
        // copies, and no unused capacity to fault in (and, when freed, to scrub).
        let count = root.descendant_count();
        let capacity = u32::try_from(count).ok()?;
        let wanted_len = u32::try_from(wanted.len()).ok()?;
        let mut nodes: Vec<NodeData> = Vec::with_capacity(count);
        // SAFETY: `tree` is alive for the call (and `'t`); `nodes` has room for `capacity`
        // nodes of the layout the C side writes (`VolatileNode`, asserted 24 bytes on both
        // sides), and the first `written` are initialised when it returns; `wanted` is
        // `wanted_len` bytes of `bool` (0 or 1); `push_node` gets `out` as its context.
        unsafe {
            let written = volatile_flatten(
                root.into_raw().tree,
                nodes.as_mut_ptr(),
                capacity,
                wanted.as_ptr().cast(),
                wanted_len,
                push_node,
                std::ptr::from_mut(out).cast(),
            );
            if written as usize != count {
                return None;
            }
            nodes.set_len(count);
        }
        Some(nodes)
    }
}

/// The node count of the largest tree copied so far by [`SyntaxTree::from_ts_consuming`].
static LARGEST_CONSUMED: AtomicUsize = AtomicUsize::new(0);

/// Whether a tree of `count` nodes is at least half as large as the largest copied so far.
///
/// Handing freed memory back to the system costs system time twice: the pages are taken
/// away, then faulted in and zeroed again when memory is next needed (on the TypeScript
/// corpus, doing it for every tree over a few megabytes doubled the scan's system time).
/// It only lowers the process's peak while the tree is one of the largest it has held;
/// a smaller tree's freed memory stays for the next file to reuse.
fn among_the_largest(count: usize) -> bool {
    at_least_half_the_largest(&LARGEST_CONSUMED, count)
}

/// Records `count` in `largest` (the largest so far); whether it is at least half of it.
fn at_least_half_the_largest(largest: &AtomicUsize, count: usize) -> bool {
    count >= largest.fetch_max(count, Ordering::Relaxed) / 2
}

fn some(id: u32) -> Option<NodeId> {
    (id != NONE).then_some(id)
}

/// An iterator over a run of siblings: the subtrees from `next` up to `end`, the end of
/// their parent's subtree.
pub struct Siblings<'t, 's> {
    tree: &'t SyntaxTree<'s>,
    next: NodeId,
    end: NodeId,
}

impl Iterator for Siblings<'_, '_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        let id = self.next;
        if id >= self.end {
            return None;
        }
        self.next = self.tree.data(id).subtree_end;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(lang: Lang, src: &str) -> SyntaxTree<'_> {
        match SyntaxTree::parse(lang, src) {
            Ok(t) => t,
            Err(e) => panic!("parse failed: {e:?}"),
        }
    }

    /// The flat copy agrees with tree-sitter's own navigation: kinds, ranges, parents,
    /// siblings, fields and flags, with error recovery (missing and extra nodes) included.
    #[test]
    fn flat_tree_mirrors_tree_sitter() {
        let samples = [
            (
                Lang::JavaScript,
                "function f(a, b) { /* c */ if (a) { return b; } else { g(a, [1, 2]); } }",
            ),
            (
                Lang::Python,
                "def f(x):\n    return [y for y in x if y  # c\n    ]\n",
            ),
            (Lang::Java, "class A { int f(int x) { return x + 1 } }"),
            (
                Lang::TypeScript,
                "let x: Map<string, number[]> = new Map(; x!.get('a');",
            ),
        ];
        let (mut missing, mut extra) = (false, false);
        for (lang, src) in samples {
            let Ok(ts) = parse_ts(lang, src, None) else {
                panic!("parse")
            };
            let flat = SyntaxTree::from_ts(lang, src, &ts);
            let mut expected = Vec::new();
            let mut cursor = ts.walk();
            loop {
                let n = cursor.node();
                let field = cursor.field_id().map_or(0, |f| f.get());
                let range = |n: Option<tree_sitter::Node>| n.map(|n| (n.kind_id(), n.byte_range()));
                // Siblings as a cursor sees them (`Node::next_sibling` passes over a
                // missing zero-width node that a cursor visits).
                let siblings: Vec<_> = n
                    .parent()
                    .map(|p| p.children(&mut p.walk()).collect())
                    .unwrap_or_default();
                let at = siblings.iter().position(|&s| s == n);
                let sibling = |i: Option<usize>| range(i.and_then(|i| siblings.get(i).copied()));
                expected.push((
                    (n.kind_id(), n.byte_range()),
                    range(n.parent()),
                    sibling(at.map(|i| i + 1)),
                    sibling(at.and_then(|i| i.checked_sub(1))),
                    (
                        n.child_count() as usize,
                        field,
                        n.is_named(),
                        n.is_missing(),
                        n.is_extra(),
                    ),
                ));
                if cursor.goto_first_child() || cursor.goto_next_sibling() {
                    continue;
                }
                while cursor.goto_parent() && !cursor.goto_next_sibling() {}
                if cursor.node() == ts.root_node() {
                    break;
                }
            }
            assert_eq!(expected.len(), flat.len(), "{lang:?}");
            let node = |n: Option<NodeId>| n.map(|n| (flat.kind(n), flat.byte_range(n)));
            for (id, want) in expected.into_iter().enumerate() {
                let id = id as NodeId;
                let got = (
                    (flat.kind(id), flat.byte_range(id)),
                    node(flat.parent(id)),
                    node(flat.next_sibling(id)),
                    node(flat.prev_sibling(id)),
                    (
                        flat.children(id).count(),
                        flat.field(id),
                        flat.is_named(id),
                        flat.is_missing(id),
                        flat.is_extra(id),
                    ),
                );
                assert_eq!(got, want, "{lang:?} node {id}");
                assert_eq!(
                    flat.next_siblings(id).collect::<Vec<_>>(),
                    std::iter::successors(flat.next_sibling(id), |&n| flat.next_sibling(n))
                        .collect::<Vec<_>>()
                );
                for d in flat.descendants(id) {
                    assert!(flat.ancestors(d).any(|a| a == id));
                }
            }
            missing |= (0..flat.len() as NodeId).any(|n| flat.is_missing(n));
            extra |= (0..flat.len() as NodeId).any(|n| flat.is_extra(n));
        }
        assert!(
            missing && extra,
            "the samples exercise missing and extra nodes"
        );
    }

    /// The kind, range, start point and named flag of collected nodes, to compare.
    fn described(
        nodes: &[tree_sitter::Node<'_>],
    ) -> Vec<(u16, std::ops::Range<usize>, tree_sitter::Point, bool)> {
        nodes
            .iter()
            .map(|n| {
                (
                    n.kind_id(),
                    n.byte_range(),
                    n.start_position(),
                    n.is_named(),
                )
            })
            .collect()
    }

    /// The one-pass copy gives the cursor walk's tree and collects the same nodes, in every
    /// grammar: aliased nodes (TypeScript's `type_identifier`, Python's and JSX's aliases),
    /// fields reached through hidden nodes, extras, error recovery, multi-line positions.
    #[test]
    fn one_pass_copy_equals_the_cursor_walk() {
        let samples = [
            (
                Lang::TypeScript,
                "import { a as b } from 'm';\nexport class C<T> extends D implements E {\n  private x?: Map<string, T[]> = new Map();\n  @dec() m(this: C<T>, ...r: number[]): asserts r is number[] { return; }\n}\ntype U = { [k in keyof T]?: T[k] } | `t${string}`;\nlet y = <T,>(a: T) => a satisfies T; /* c */\n",
            ),
            (
                Lang::Tsx,
                "const A = () => <div className=\"a\" {...p}>{b}<B.c x={1} />text</div>;\nfunction F<T,>() { return <></>; }\n",
            ),
            (
                Lang::JavaScript,
                "label: for (const [k, {v = 1}] of o) { if (k) continue label; }\nclass A { #p = 1; static { this.#p; } get g() { return `a${1}b`; } }\nconst r = /a[/]b/gu; x ??= y?.z?.(1);\n",
            ),
            (
                Lang::Python,
                "@d\nasync def f(a: int, /, *b, c=1, **d) -> None:\n    \"\"\"doc\"\"\"\n    match a:\n        case [1, *rest] if rest: pass\n        case {\"k\": v}: pass\n    print(f\"{a!r:>{b}}\")  # c\n    return [y async for y in b if y]\nx: list[int] = lambda q: (yield q)\n",
            ),
            (
                Lang::Java,
                "package p;\nimport static a.B.*;\n@A(x = 1) public record R<T extends Comparable<T>>(int a, T... b) implements I {\n  R { assert a > 0 : \"m\"; }\n  int f(int[] x) { return switch (x[0]) { case 1 -> 2; default -> { yield 3; } }; }\n}\n",
            ),
            (Lang::Python, "def f(:\n  x = = 1\n  )]\nclass\n"),
            (Lang::TypeScript, "let x: = ; function (a { return <T>(b; }"),
            (Lang::Java, "class { void ( } int x = ;"),
            (Lang::JavaScript, ""),
        ];
        for (lang, src) in samples {
            let Ok(ts) = parse_ts(lang, src, None) else {
                panic!("parse")
            };
            let wanted = vec![true; lang.ts_language().node_kind_count()];
            let (mut fast, mut reference) = (Vec::new(), Vec::new());
            let copied = SyntaxTree::from_ts_collecting(lang, src, &ts, &wanted, &mut fast);
            let walked = SyntaxTree::from_ts_by_cursor(lang, src, &ts, &wanted, &mut reference);
            assert!(copied == walked, "{lang:?}: {src}");
            assert_eq!(copied.len(), walked.len());
            // The copy that frees the tree as it goes gives the same tree, and hands over
            // the same nodes, each with its whole subtree (which `to_sexp` walks).
            let Ok(owned) = parse_ts(lang, src, None) else {
                panic!("parse")
            };
            let whole = |n: tree_sitter::Node<'_>| {
                (n.kind_id(), n.byte_range(), n.start_position(), n.to_sexp())
            };
            let mut visited = Vec::new();
            let consumed = SyntaxTree::from_ts_consuming_visiting(
                lang,
                src,
                owned,
                &wanted,
                &mut |n| visited.push(whole(n)),
                None,
            );
            assert!(consumed.is_some_and(|c| c == walked), "{lang:?}: {src}");
            let expected: Vec<_> = fast.iter().map(|&n| whole(n)).collect();
            assert!(visited == expected, "{lang:?}: the visited nodes, {src}");
            assert_eq!(described(&fast), described(&reference), "{lang:?}: {src}");
            assert_eq!(fast, reference, "{lang:?}: the same tree-sitter nodes");
            // Only the marked kinds are collected.
            let mut marked = vec![false; wanted.len()];
            let identifier = lang.ts_language().id_for_node_kind("identifier", true);
            marked[identifier as usize] = true;
            let mut some = Vec::new();
            SyntaxTree::from_ts_collecting(lang, src, &ts, &marked, &mut some);
            assert!(some.iter().all(|n| n.kind_id() == identifier));
            assert_eq!(
                some.len(),
                fast.iter().filter(|n| n.kind_id() == identifier).count()
            );
        }
    }

    /// The galloping search finds what the binary search finds, for ranges in order,
    /// including ranges that start together, end past their node, or lie past the text.
    #[test]
    fn covering_from_agrees_with_covering() {
        let src = "def f(a, b):\n    return [x + a for x in b if x]  # c\n\nclass C:\n    y = f(1, [2, 3])\n";
        let t = tree(Lang::Python, src);
        let mut ranges = Vec::new();
        for start in 0..=src.len() + 2 {
            for len in [1, 2, 5, 17] {
                ranges.push((start, start + len));
            }
        }
        let mut from = 0;
        for (start, end) in ranges {
            let (got, next) = t.covering_from(from, start, end);
            assert_eq!(got, t.covering(start, end), "{start}..{end}");
            assert!(next >= from);
            from = next;
        }
    }

    #[test]
    fn memory_is_handed_back_for_the_largest_trees_only() {
        let largest = AtomicUsize::new(0);
        let decide = |count| at_least_half_the_largest(&largest, count);
        assert!(decide(1_000), "the first tree is the largest so far");
        assert!(decide(600));
        assert!(decide(500), "half the largest still counts");
        assert!(!decide(499));
        assert!(decide(4_000), "a new largest");
        assert!(!decide(1_000));
        assert_eq!(largest.load(Ordering::Relaxed), 4_000);
    }

    /// Every grammar's field ids fit below the flag bits.
    #[test]
    fn field_ids_fit_the_mask() {
        for lang in Lang::ALL {
            assert!(
                lang.ts_language().field_count() <= FIELD_MASK as usize,
                "{lang:?}"
            );
        }
    }

    /// The flat tree is allocated at its exact size in every language, error recovery
    /// included (tree-sitter's descendant count is the number of nodes a cursor visits).
    #[test]
    fn flat_tree_is_allocated_at_its_exact_size() {
        let samples = [
            (
                Lang::JavaScript,
                "function f(a) { return a ? [1, 2] : {x: `t${a}`}; }",
            ),
            (
                Lang::TypeScript,
                "let x: Map<string, number[]> = new Map(); x!.get('a');",
            ),
            (Lang::Tsx, "const A = () => <div className=\"a\">{b}</div>;"),
            (
                Lang::Python,
                "def f(x, *a, **k):\n    return [y for y in x if y]\n",
            ),
            (Lang::Java, "class A { int f(int x) { return x + 1; } }"),
            (Lang::Python, "def f(:\n  x = = 1\n  )]\n"),
            (Lang::Java, "class { void ( }"),
        ];
        for (lang, src) in samples {
            let t = tree(lang, src);
            assert_eq!(t.nodes.capacity(), t.len(), "{lang:?}: {src}");
        }
    }

    #[test]
    fn siblings_and_fields() {
        let t = tree(Lang::Python, "x = f(1, 2)\n");
        let call = (0..t.len() as u32).find(|&n| t.kind_name(n) == "call");
        let Some(call) = call else { panic!("no call") };
        let lang = Lang::Python.ts_language();
        let field = lang.field_id_for_name("arguments").map_or(0, |f| f.get());
        let args = t.child_by_field(call, field);
        assert_eq!(args.map(|a| t.text(a)), Some("(1, 2)"));
        let Some(args) = args else { return };
        let kids: Vec<&str> = t.children(args).map(|c| t.text(c)).collect();
        assert_eq!(kids, ["(", "1", ",", "2", ")"]);
        let two = t.children(args).nth(3);
        let Some(two) = two else { return };
        let before: Vec<&str> = t.prev_siblings(two).map(|c| t.text(c)).collect();
        assert_eq!(before, [",", "1", "("]);
        assert!(t.has_named_children(args));
        assert!(!t.has_named_children(two));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let src = format!("x = {}1{}\n", "[".repeat(20_000), "]".repeat(20_000));
        let t = tree(Lang::Python, &src);
        assert!(t.len() > 40_000);
        let deepest = (0..t.len() as u32).max_by_key(|&n| t.ancestors(n).count());
        assert!(deepest.is_some_and(|n| t.ancestors(n).count() > 20_000));
    }

    #[test]
    fn deadline_in_the_past_cancels_parsing() {
        let src = "x = 1\n".repeat(200_000);
        let r = parse_ts(Lang::Python, &src, Some(Instant::now()));
        assert_eq!(r.err(), Some(ParseError::DeadlineExceeded));
        // The thread's parser is usable again afterwards.
        assert!(parse_ts(Lang::Python, "y = 2\n", None).is_ok());
    }
}
