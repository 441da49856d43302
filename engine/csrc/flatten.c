// Flattens a tree-sitter tree into Volatile's pre-order node array in one pass over
// tree-sitter's own subtrees (see `engine/src/tree.rs` for why the engine keeps a flat copy).
//
// A `TSTreeCursor` gives the same nodes, but asks for each of them what this walk already
// knows: every step re-derives the parent's alias sequence, a field id is a search up the
// cursor's stack, and stepping past a last child climbs and re-descends. On a Python corpus
// the cursor walk cost a quarter of the parse itself; this walk costs a few percent.
//
// It is compiled against the headers of the very tree-sitter sources the `tree-sitter`
// crate builds (its `src/` beside the `include/` it exports), so the subtree layout cannot
// differ from the one linked. What must agree with the cursor is the meaning, reproduced
// from `tree_cursor.c`:
//   - a child is visible when its subtree is, or when it is not an extra and the parent's
//     production aliases it; a hidden child's children are its nearest visible ancestor's;
//   - an aliased node takes the alias as its kind and the alias's `named` flag;
//   - a node's field is the first non-inherited field-map entry found going up from it
//     through its hidden ancestors to its visible parent, and an extra ends the search;
//   - positions advance by each child's size and the next child's padding.
// `tree.rs`'s tests compare this walk with the cursor on every grammar, error recovery
// included, and on generated inputs.
//
// `volatile_flatten_consuming` also frees the tree as it goes: each subtree that only the
// tree references is freed once its children are copied, so a large file's tree-sitter
// tree (about 100 bytes a node) shrinks while its flat copy (24 bytes a node) grows,
// instead of both being whole at once. What it frees is what `ts_subtree_release` would
// free, in the same way (reference counts included); it leaves the tree with an empty
// root, so that deleting it afterwards frees only the `TSTree` itself.

#include <stdint.h>
#include <stdlib.h>

#include "tree_sitter/api.h"
#include "./alloc.h"
#include "./language.h"
#include "./subtree.h"
#include "./tree.h"

#define VOLATILE_NONE UINT32_MAX
#define VOLATILE_NAMED ((uint16_t)1 << 15)
#define VOLATILE_MISSING ((uint16_t)1 << 14)
#define VOLATILE_EXTRA ((uint16_t)1 << 13)
#define VOLATILE_FIELD_MASK ((uint16_t)(VOLATILE_EXTRA - 1))

// One node of the flat tree; the same layout as `NodeData` in `tree.rs`.
typedef struct {
  uint32_t start;
  uint32_t end;
  uint32_t parent;
  uint32_t prev_sibling;
  uint32_t subtree_end;
  uint16_t kind;
  uint16_t field_flags;
} VolatileNode;

_Static_assert(sizeof(VolatileNode) == 24, "VolatileNode must match NodeData");

// Called with each node whose kind is marked in `wanted`, in pre-order.
typedef void (*VolatileCollect)(void *context, TSNode node);

// The children of one subtree being walked: visible or hidden (then its visible children
// are those of `visible_id`).
typedef struct {
  const Subtree *children;
  uint32_t child_count;
  uint32_t child_index;
  uint32_t structural_child_index;
  const TSSymbol *alias_sequence;
  const TSFieldMapEntry *fields;
  const TSFieldMapEntry *fields_end;
  // Where the child at `child_index` starts when it is the first, else where the previous
  // child ends (the child's padding is still to be added).
  Length position;
  // The field a visible descendant takes when no nearer field-map entry names it: the
  // field this hidden subtree itself has (or inherits); 0 for a visible subtree.
  TSFieldId outer_field;
  // Whether the subtree is a visible node: it closes when its frame ends.
  bool visible;
  // Whether the walk frees the subtree when its frame ends: consuming, and only the tree
  // references it (and each of its ancestors).
  bool owned;
  // Its block: the children array, followed by the subtree's own data.
  Subtree *block;
} Frame;

// An open visible node: its id and its last visible child so far.
typedef struct {
  uint32_t id;
  uint32_t last_child;
} Open;

typedef struct {
  Frame *frames;
  uint32_t frame_count;
  uint32_t frame_capacity;
  Open *open;
  uint32_t open_count;
  uint32_t open_capacity;
} Stacks;

static bool grow(void **items, uint32_t *capacity, size_t item_size) {
  uint32_t wanted = *capacity ? *capacity * 2 : 64;
  void *grown = ts_realloc(*items, (size_t)wanted * item_size);
  if (!grown) return false;
  *items = grown;
  *capacity = wanted;
  return true;
}

// How many of a subtree's children the walk asks for when it enters the subtree, and how
// many of each of those children's own children.
#define PREFETCH_CHILDREN 16
#define PREFETCH_GRANDCHILDREN 16

// Asks for a subtree's own data and the end of its children array (which comes before it,
// in the same block), without waiting for them. Every subtree is a block of its own,
// wherever the allocator put it, so a large tree's walk is bound by cache misses; asking
// for all of a subtree's children when it is entered lets their misses overlap, and the
// children array is at hand when the walk enters them in turn. On an 8 MiB file (criterion
// `*-large/copy`) this took the copy from 27 to 35 MiB/s (TypeScript, Python).
// The addresses are computed as integers: the array's end may be outside the block (a
// leaf has none), and a prefetch never faults.
static inline void prefetch(Subtree subtree) {
  if (subtree.data.is_inline) return;
  uintptr_t at = (uintptr_t)subtree.ptr;
  __builtin_prefetch((const void *)(at - 64));
  __builtin_prefetch((const void *)at);
  __builtin_prefetch((const void *)(at + 64));
}

static bool push_frame(
  Stacks *stacks,
  const TSLanguage *language,
  Subtree subtree,
  Length position,
  TSFieldId outer_field,
  bool visible,
  bool owned
) {
  if (stacks->frame_count == stacks->frame_capacity &&
      !grow((void **)&stacks->frames, &stacks->frame_capacity, sizeof(Frame))) {
    return false;
  }
  uint16_t production_id = subtree.ptr->production_id;
  Frame *frame = &stacks->frames[stacks->frame_count++];
  frame->children = ts_subtree_children(subtree);
  frame->child_count = subtree.ptr->child_count;
  frame->child_index = 0;
  frame->structural_child_index = 0;
  frame->alias_sequence = ts_language_alias_sequence(language, production_id);
  ts_language_field_map(language, production_id, &frame->fields, &frame->fields_end);
  frame->position = position;
  frame->outer_field = outer_field;
  frame->visible = visible;
  frame->owned = owned;
  frame->block = ts_subtree_children(subtree);
  uint32_t ahead = frame->child_count < PREFETCH_CHILDREN ? frame->child_count : PREFETCH_CHILDREN;
  for (uint32_t i = 0; i < ahead; i++) prefetch(frame->children[i]);
  // One level further: the children's data asked for above arrive together, so reading
  // them here waits for about one miss, and their own children are then on their way
  // while the walk goes through the first child's subtree. Without this, each level of a
  // descent waited for its own miss. It took the copy from 37.0 to 41.2 MiB/s on
  // TypeScript, 37.7 to 43.9 on Python and 68.0 to 76.7 on Java (`*-large/copy`, against
  // a run saved just before); asking for 4 grandchildren gained about half as much, and
  // for 32 children less.
  for (uint32_t i = 0; i < ahead; i++) {
    Subtree child = frame->children[i];
    if (child.data.is_inline) continue;
    uint32_t count = child.ptr->child_count;
    if (count == 0) continue;
    const Subtree *grandchildren = ts_subtree_children(child);
    uint32_t deeper = count < PREFETCH_GRANDCHILDREN ? count : PREFETCH_GRANDCHILDREN;
    for (uint32_t j = 0; j < deeper; j++) prefetch(grandchildren[j]);
  }
  return true;
}

static bool push_open(Stacks *stacks, uint32_t id) {
  if (stacks->open_count == stacks->open_capacity &&
      !grow((void **)&stacks->open, &stacks->open_capacity, sizeof(Open))) {
    return false;
  }
  stacks->open[stacks->open_count++] = (Open){.id = id, .last_child = VOLATILE_NONE};
  return true;
}

static TSNode node_at(const TSTree *tree, const Subtree *slot, Length position, TSSymbol alias) {
  return (TSNode){
    .context = {position.bytes, position.extent.row, position.extent.column, alias},
    .id = slot,
    .tree = tree,
  };
}

// What a consuming walk frees with, and how it hands memory back.
typedef struct {
  SubtreePool pool;
  // Bytes freed since memory was last handed back.
  size_t freed;
  // Hand memory back every so many bytes freed.
  size_t release_every;
  void (*release_memory)(void);
} Consumer;

// The least number of bytes freed between two hand-backs.
#define VOLATILE_RELEASE_EVERY_MIN ((size_t)4 << 20)

static void freed(Consumer *consumer, size_t bytes) {
  consumer->freed += bytes;
  if (consumer->freed >= consumer->release_every) {
    consumer->freed = 0;
    if (consumer->release_memory) consumer->release_memory();
  }
}

// Drops the reference an owned parent held on `child`, which the walk does not free
// itself: freed with everything only it holds when that was the last reference.
static void release(Consumer *consumer, Subtree child) {
  if (child.data.is_inline) return;
  ts_subtree_release(&consumer->pool, child);
}

// Frees a leaf that only an owned parent referenced (`ts_subtree_release`'s leaf case).
static void free_leaf(Consumer *consumer, Subtree leaf) {
  MutableSubtree mutable_leaf = ts_subtree_to_mut_unsafe(leaf);
  if (mutable_leaf.ptr->has_external_tokens) {
    ts_external_scanner_state_delete(&mutable_leaf.ptr->external_scanner_state);
  }
  ts_free(mutable_leaf.ptr);
  freed(consumer, sizeof(SubtreeHeapData));
}

// Ends the top frame: closes its node when visible, frees its block when owned.
static void pop_frame(
  Stacks *stacks,
  Consumer *consumer,
  VolatileNode *out,
  uint32_t capacity,
  uint32_t count
) {
  Frame *frame = &stacks->frames[--stacks->frame_count];
  if (frame->visible) {
    Open *closed = &stacks->open[--stacks->open_count];
    if (closed->id < capacity) out[closed->id].subtree_end = count;
  }
  if (frame->owned) {
    ts_free(frame->block);
    freed(consumer, frame->child_count * sizeof(Subtree) + sizeof(SubtreeHeapData));
  }
}

static uint32_t flatten(
  TSTree *tree,
  VolatileNode *out,
  uint32_t capacity,
  const uint8_t *wanted,
  uint32_t wanted_len,
  VolatileCollect collect,
  void *collect_context,
  Consumer *consumer
) {
  const TSLanguage *language = tree->language;
  const Subtree *root = &tree->root;
  if (capacity == 0) return 0;

  Length root_position = ts_subtree_padding(*root);
  TSSymbol root_kind = ts_language_public_symbol(language, ts_subtree_symbol(*root));
  uint16_t root_flags = 0;
  if (ts_subtree_named(*root)) root_flags |= VOLATILE_NAMED;
  if (ts_subtree_extra(*root)) root_flags |= VOLATILE_EXTRA;
  if (ts_subtree_missing(*root)) root_flags |= VOLATILE_MISSING;
  out[0] = (VolatileNode){
    .start = root_position.bytes,
    .end = root_position.bytes + ts_subtree_size(*root).bytes,
    .parent = VOLATILE_NONE,
    .prev_sibling = VOLATILE_NONE,
    .subtree_end = 1,
    .kind = root_kind,
    .field_flags = root_flags,
  };
  if (root_kind < wanted_len && wanted[root_kind]) {
    collect(collect_context, node_at(tree, root, root_position, 0));
  }
  uint32_t count = 1;
  if (ts_subtree_child_count(*root) == 0) {
    if (consumer) release(consumer, *root);
    return count;
  }

  Stacks stacks = {0};
  bool root_owned = consumer && root->ptr->ref_count == 1;
  if (consumer && !root_owned) release(consumer, *root);
  bool ok = push_frame(&stacks, language, *root, root_position, 0, true, root_owned) &&
    push_open(&stacks, 0);
  // Set when the tree has more nodes than `capacity`: the walk goes on (a consuming one
  // must free the rest) but writes no more.
  bool overflow = false;
  while (ok && stacks.frame_count > 0) {
    Frame *frame = &stacks.frames[stacks.frame_count - 1];
    if (frame->child_index == frame->child_count) {
      pop_frame(&stacks, consumer, out, capacity, count);
      continue;
    }

    const Subtree *slot = &frame->children[frame->child_index];
    Subtree child = *slot;
    // The first child starts where its parent does; a later one after its own padding,
    // read only now (not when its previous sibling was done) so that its prefetch has the
    // whole of that sibling's subtree to arrive in.
    Length position = frame->child_index == 0
      ? frame->position
      : length_add(frame->position, ts_subtree_padding(child));
    bool extra = ts_subtree_extra(child);
    TSSymbol alias = 0;
    TSFieldId field = 0;
    if (!extra) {
      uint32_t structural = frame->structural_child_index++;
      if (frame->alias_sequence) alias = frame->alias_sequence[structural];
      for (const TSFieldMapEntry *entry = frame->fields; entry < frame->fields_end; entry++) {
        if (!entry->inherited && entry->child_index == structural) {
          field = entry->field_id;
          break;
        }
      }
      if (!field) field = frame->outer_field;
    }

    frame->child_index++;
    frame->position = length_add(position, ts_subtree_size(child));

    // Whether this walk frees `child` (or drops the reference its parent held).
    bool parent_owned = frame->owned;
    bool owned = parent_owned && !child.data.is_inline && child.ptr->ref_count == 1;
    uint32_t child_count = ts_subtree_child_count(child);
    bool visible = ts_subtree_visible(child) || alias;
    if (visible) {
      uint32_t id = count++;
      Open *parent = &stacks.open[stacks.open_count - 1];
      uint32_t prev = parent->last_child;
      parent->last_child = id;
      if (id < capacity) {
        TSSymbol symbol = alias ? alias : ts_subtree_symbol(child);
        TSSymbol kind = ts_language_public_symbol(language, symbol);
        bool named = alias
          ? ts_language_symbol_metadata(language, alias).named
          : ts_subtree_named(child);
        uint16_t flags = field & VOLATILE_FIELD_MASK;
        if (named) flags |= VOLATILE_NAMED;
        if (extra) flags |= VOLATILE_EXTRA;
        if (ts_subtree_missing(child)) flags |= VOLATILE_MISSING;
        out[id] = (VolatileNode){
          .start = position.bytes,
          .end = position.bytes + ts_subtree_size(child).bytes,
          .parent = parent->id,
          .prev_sibling = prev,
          .subtree_end = id + 1,
          .kind = kind,
          .field_flags = flags,
        };
        if (kind < wanted_len && wanted[kind]) {
          collect(collect_context, node_at(tree, slot, position, alias));
        }
      } else {
        overflow = true;
      }
    }
    bool descend = child_count > 0 && (visible || child.ptr->visible_child_count > 0);
    if (descend) {
      if (parent_owned && !owned) release(consumer, child);
      TSFieldId outer_field = visible || extra ? 0 : field;
      ok = push_frame(&stacks, language, child, position, outer_field, visible, owned);
      if (!ok && owned) release(consumer, child);
      if (ok && visible) ok = push_open(&stacks, count - 1);
    } else if (owned && child_count == 0) {
      free_leaf(consumer, child);
    } else if (parent_owned) {
      release(consumer, child);
    }
  }

  if (!ok && consumer) {
    // Out of memory for the walk's own stacks: free what the unfinished frames still
    // hold, as deleting the tree would have.
    while (stacks.frame_count > 0) {
      Frame *frame = &stacks.frames[stacks.frame_count - 1];
      if (frame->owned) {
        for (uint32_t i = frame->child_index; i < frame->child_count; i++) {
          release(consumer, frame->children[i]);
        }
        frame->child_index = frame->child_count;
      }
      stacks.frame_count--;
      if (frame->owned) {
        ts_free(frame->block);
      }
    }
  }
  ts_free(stacks.frames);
  ts_free(stacks.open);
  return ok && !overflow ? count : 0;
}

// Writes the visible nodes of `tree` in pre-order to `out`, which has room for
// `capacity` nodes (the root's descendant count), and hands `collect` the nodes whose kind
// is marked in `wanted`. Returns the number of nodes, or 0 when the room or memory ran out.
uint32_t volatile_flatten(
  const TSTree *tree,
  VolatileNode *out,
  uint32_t capacity,
  const uint8_t *wanted,
  uint32_t wanted_len,
  VolatileCollect collect,
  void *collect_context
) {
  return flatten(
    (TSTree *)tree, out, capacity, wanted, wanted_len, collect, collect_context, NULL
  );
}

// `volatile_flatten` that frees the tree's subtrees as it copies them, calling
// `release_memory` (when not NULL) every so many bytes freed so that the C allocator can
// hand them back to the system. Afterwards the tree has an empty root: only deleting it
// remains. Returns the number of nodes, or 0 when the room or memory ran out (the tree is
// freed all the same).
//
// `collect` gets the nodes whose kind is marked in `wanted` as `volatile_flatten` hands
// them, in pre-order, each while its subtree is still whole: the walk frees a subtree only
// after it has copied the nodes below it. A node is usable only during the call (and only
// downwards: its earlier siblings may be gone already).
uint32_t volatile_flatten_consuming(
  TSTree *tree,
  VolatileNode *out,
  uint32_t capacity,
  const uint8_t *wanted,
  uint32_t wanted_len,
  VolatileCollect collect,
  void *collect_context,
  void (*release_memory)(void)
) {
  // Each hand-back costs a pass over the C allocator's free memory, so a tree gets a few
  // of them, not one per few megabytes: one each time half as many bytes are freed as the
  // flat copy takes in all (the copy is about a quarter of the tree). Memory then peaks at
  // the tree plus what the copy wrote since the last hand-back: about an eighth of the
  // copy, some 3% of the tree. Trees under VOLATILE_RELEASE_EVERY_MIN get none.
  size_t half_copy = (size_t)capacity * sizeof(VolatileNode) / 2;
  Consumer consumer = {
    .pool = ts_subtree_pool_new(0),
    .freed = 0,
    .release_every = half_copy > VOLATILE_RELEASE_EVERY_MIN ? half_copy : VOLATILE_RELEASE_EVERY_MIN,
    .release_memory = release_memory,
  };
  uint32_t count = flatten(
    tree, out, capacity, wanted, wanted_len, collect, collect_context, &consumer
  );
  ts_subtree_pool_delete(&consumer.pool);
  Subtree empty = {0};
  empty.data.is_inline = true;
  tree->root = empty;
  return count;
}
