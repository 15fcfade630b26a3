"""Build one kernel: walk down from a materialized node to the buffers it reads, fusing as we go.

    build_kernel(root, store, source) -> Draft

`root` is the materialized node whose value the kernel stores (for an ASSIGN, the value is its
second source), `store` the (buffer, view) it stores into, and `source(node)` tells where another
materialized node's value lives (`(BufferRef, ShapeTracker)`), or None when the node is computed
inside this kernel.

The walk carries a `Path`: the movement ops met on the way down that are not applied yet
(`moves`), whether we are under the REDUCE (`below_reduce`), and `anchor`, the node just under
the last movement op (what to materialize if those movement ops turn out not to be pushable).
Movement ops are *pushed down* through elementwise ops to the leaves, where they fold into the
LOAD's view (tinygrad calls this swizzling): `(a + b).T` becomes `LOAD(a, a.T) + LOAD(b, b.T)`.
They can't be pushed through a REDUCE (its result lives in a register) and a PAD can't be pushed
through an op that doesn't keep zeros: then the walk records a `Boundary` for the anchor
(rules.py) and the scheduler materializes it and builds the kernel again.

Provenance. Every KNode the walk makes keeps the `origins` of the graph nodes it stands for: an ALU or
REDUCE its node's, a LOAD or CONST the leaf's plus those of the movement ops folded into its view (the
walk carries them down in `Path.origins`), the STORE the root's (an ASSIGN, a CONTIGUOUS or the value).
So every graph node of the kernel is named by some KNode, and stage 03 hands them on to the UOps.

The loop shape. If the kernel holds a REDUCE, everything above it runs at the REDUCE's output
shape O (that is kernel.py's rule). A RESHAPE between the REDUCE and the store is harmless: the
walk starts with a pending `RESHAPE(O)` at the top, so the other leaves above the REDUCE are read
reshaped to O, and the store writes O row-major, which is the same memory as the root's shape.
So `x.sum(axis=1)` without keepdim (REDUCE (4,1) then RESHAPE (4,)) stays one kernel.

Row kernels (F5, `row_fuses`). A REDUCE read back along its own reduced axes (`x - max(x).expand`) would be
materialized by B4; when `rules.fuse_rows` allows, it joins the kernel instead, as a REDUCE node whose value
is read at every position of its row. Such a REDUCE may sit below another one (softmax's sum of exp(x - max))
and above the store (softmax's division): the kernel then runs, for each row, one loop per REDUCE and, when
the store is at the loop shape, a last loop that stores the row (stage 03 lowers it; kernel.py's docstring
has the shapes). The kernel's loop is fixed by the first REDUCE found (find_loop's, or the first row REDUCE
of a kernel stored at its loop shape); every other REDUCE must share it (B7, and F5's own condition).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from shrimpgrad.graph import (
    ALU,
    MOVEMENT,
    BufferRef,
    Node,
    Ops,
    ShapeTracker,
    apply_movement,
    merge_origins,
    reduce_identity,
    toposort,
)

from . import rules
from .kernel import KNode, KOps
from .rules import Boundary, Move

Source = Callable[[Node], "tuple[BufferRef, ShapeTracker] | None"]


class ScheduleError(ValueError):
    """The graph can't be scheduled (for example an ASSIGN into something that is not a buffer)."""


@dataclass(frozen=True)
class Path:
    """The state of the walk at one node (see the module docstring)."""

    moves: tuple[Move, ...] = ()
    below_reduce: bool = False
    anchor: Node | None = None
    origins: tuple = field(default=(), compare=False)  # the provenance of the pending movement ops


@dataclass
class Draft:
    """A kernel as the walk built it, before it is named and ordered.

    `needs` is filled when the kernel can't be built as it is: the nodes to materialize, and why.
    Then `ast` is meaningless and the scheduler tries again with those nodes materialized."""

    ast: KNode | None = None
    bufs: list[BufferRef] = field(default_factory=list)
    reads: list[tuple[BufferRef, Node]] = field(default_factory=list)  # (buffer, node whose value it holds) loaded
    reduces: list[Node] = field(default_factory=list)  # the REDUCE nodes computed inside it
    nodes: list[Node] = field(default_factory=list)  # the graph nodes it computes (for pictures)
    fired: Counter = field(default_factory=Counter)  # fusion rule name -> times it applied
    visited: set[int] = field(default_factory=set)  # ids of every graph node the walk lowered
    needs: dict[int, tuple[Node, Boundary]] = field(default_factory=dict)


def find_loop(root: Node, source: Source) -> Node | None:
    """The first REDUCE reached from `root` through elementwise ops and RESHAPEs only: it fixes the
    kernel's loop. (A REDUCE behind any other movement op will be materialized by rule B4.)"""
    def computed_here(node: Node) -> bool:
        return node is root or source(node) is None

    def sources(node: Node) -> tuple[Node, ...]:  # the walk goes on through elementwise ops and RESHAPEs only
        if node.op in ALU or node.op in (Ops.RESHAPE, Ops.CONTIGUOUS):
            return tuple(s for s in node.src if computed_here(s))
        return ()

    start = root.src[1] if root.op is Ops.ASSIGN else root
    if not computed_here(start):
        return None
    return next((n for n in toposort([start], sources) if n.op is Ops.REDUCE), None)


def build_kernel(root: Node, store: tuple[BufferRef, ShapeTracker], source: Source) -> Draft:
    """Walk the materialized node `root` down to its leaves and build `SINK(STORE(store, value))`.

    For an ASSIGN the value is its second source, and loads of the store buffer are checked by B9."""
    builder = _Builder(root, store, source)
    with _deep_recursion():
        return builder.build()


@contextmanager
def _deep_recursion(limit: int = 100_000):
    """The walk recurses three calls per node on a path; a long elementwise chain fused into one
    kernel (thousands of ops) passes Python's default limit of 1000. The calls are Python to
    Python, which CPython 3.11+ runs without growing the C stack, so a high limit is safe."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


class _Builder:
    def __init__(self, root: Node, store: tuple[BufferRef, ShapeTracker], source: Source):
        self.root, self.source = root, source
        self.value = root.src[1] if root.op is Ops.ASSIGN else root
        self.draft = Draft(bufs=[store[0]])
        self.memo: dict[tuple, KNode] = {}
        self.loop = find_loop(root, source)
        # the loop every REDUCE of the kernel shares: (shape reduced, axes); a row kernel's is set by its first REDUCE
        self.loop_key = (self.loop.src[0].shape, self.loop.arg[1]) if self.loop is not None else None
        # Above a REDUCE the kernel runs at the REDUCE's shape: start with a pending reshape to it.
        out_shape = self.loop.shape if self.loop is not None else root.shape
        self.top = (Move(Ops.RESHAPE, out_shape),) if out_shape != root.shape else ()
        self.store_st = _fold(store[1], self.top)

    def build(self) -> Draft:
        value = self.visit(self.root, Path(moves=self.top))
        store = KNode(KOps.STORE, (value,), value.dtype, (0, self.store_st), merge_origins(self.root.meta))
        self.draft.ast = KNode(KOps.SINK, (store,), value.dtype, None, store.origins)
        return self.draft

    def computed_here(self, node: Node) -> bool:
        """Is `node`'s value computed inside this kernel (not loaded from a buffer)?"""
        return node is not self.root and self.source(node) is None and node.op is not Ops.BUFFER

    def need(self, node: Node, boundary: Boundary) -> KNode:
        """Record that `node` must be materialized; return a stand-in so the walk can go on and
        find the other boundaries of this kernel in the same pass."""
        self.draft.needs.setdefault(id(node), (node, boundary))
        return KNode(KOps.CONST, (), node.dtype, (0, ShapeTracker.from_shape(node.shape)))

    def visit(self, node: Node, path: Path) -> KNode:
        key = (id(node), path.moves, path.below_reduce)
        if key not in self.memo:
            self.draft.visited.add(id(node))
            self.memo[key] = self.lower(node, path)
        return self.memo[key]

    def lower(self, node: Node, path: Path) -> KNode:
        where = self.source(node) if node is not self.root else None
        if node is self.root and node.op is Ops.BUFFER:  # a copy of a plain buffer (rules B1, B9)
            where = (node.arg, ShapeTracker.from_shape(node.shape))
        if where is not None:
            return self.load(node, where, path)
        if node.op is Ops.ASSIGN:  # only as the root: compute the value, the STORE goes to the target
            return self.visit(node.src[1], path)
        if node.op is Ops.CONST:
            return self.const_is_inlined(node, path)
        if node.op in MOVEMENT:
            return self.movement_is_a_view(node, path)
        if node.op in ALU:
            return self.elementwise_fuses(node, path)
        if node.op is Ops.REDUCE:
            return self.reduce_fuses(node, path)
        if node.op is Ops.CONTIGUOUS:  # a CONTIGUOUS of a plain buffer is that buffer (rule B2)
            return self.visit(node.src[0], path)
        raise ScheduleError(f"no fusion rule for {node!r}; materialized nodes are read with LOAD, "
                            f"this one should have been a boundary")

    # ---- F4 and loads: the leaves ----------------------------------------------------------------

    def load(self, node: Node, where: tuple[BufferRef, ShapeTracker], path: Path) -> KNode:
        """A materialized value: LOAD its buffer through its view with the pending movement ops folded in."""
        buf, st = where
        st = _fold(st, path.moves)
        b9 = rules.assign_reads_target(self.root, buf, st, (self.draft.bufs[0], self.store_st), path.below_reduce)
        if b9 is not None:
            return self.need(self.value, b9)
        if buf not in self.draft.bufs:
            self.draft.bufs.append(buf)
        self.draft.reads.append((buf, node))
        return KNode(KOps.LOAD, (), node.dtype, (self.draft.bufs.index(buf), st),
                     merge_origins(node.meta, path.origins))

    def const_is_inlined(self, node: Node, path: Path) -> KNode:
        """F4. A CONST leaf is inlined with its folded view (a padded const reads 0 outside its mask)."""
        self.draft.fired["const_is_inlined"] += 1
        return KNode(KOps.CONST, (), node.dtype, (node.arg, _fold(ShapeTracker.from_shape(node.shape), path.moves)),
                     merge_origins(node.meta, path.origins))

    # ---- F3: movement ops become views ---------------------------------------------------------

    def movement_is_a_view(self, node: Node, path: Path) -> KNode:
        """F3. A movement op computes nothing: remember it and fold it into the views of the leaves below."""
        self.draft.fired["movement_is_a_view"] += 1
        self.draft.nodes.append(node)
        below = Path((Move(node.op, node.arg),) + path.moves, path.below_reduce, node.src[0],
                     merge_origins(node.meta, path.origins))
        return self.visit(node.src[0], below)

    # ---- F1: elementwise ops fuse --------------------------------------------------------------

    def elementwise_fuses(self, node: Node, path: Path) -> KNode:
        """F1. An ALU op joins this kernel; pending movement ops are pushed down to its sources,
        which is exact for every op except a PAD through an op that doesn't keep zeros (B5). A costly value
        that a REDUCE's loop reads through a broadcast is stored instead of recomputed at every position (B11)."""
        if (b5 := rules.pad_needs_zero(node, path.anchor, path.moves)) is not None:
            return self.need(path.anchor, b5)
        if node is path.anchor and path.below_reduce and self.loop_key is not None:  # asked once, at the anchor
            if (b11 := rules.costly_broadcast(node, path.moves, self.loop_key[0], self.computed_here)) is not None:
                return self.need(node, b11)
        self.draft.fired["elementwise_fuses"] += 1
        self.draft.nodes.append(node)
        src = []
        for s in node.src:  # a plain loop, not a generator: keeps deep chains to Python-only recursion
            src.append(self.visit(s, path))
        return KNode(KOps.ALU, tuple(src), node.dtype, node.op, merge_origins(node.meta))

    # ---- F2: a reduce fuses its inputs and its consumers ----------------------------------------

    def reduce_fuses(self, node: Node, path: Path) -> KNode:
        """F2. A REDUCE joins this kernel: its inputs run inside its loop, its consumers after it."""
        if rules.fuse_rows(node, path.moves, self.loop_key or (self.value.shape, node.arg[1]), self.root):
            return self.row_fuses(node, path)
        if (b6 := rules.reduce_inside_reduce(node, path.below_reduce)) is not None:
            return self.need(node, b6)
        above = path.anchor if path.anchor is not None else node
        if (b4 := rules.reduce_behind_view(node, above, path.moves)) is not None:
            return self.need(above, b4)
        assert self.loop_key is not None, "find_loop missed a REDUCE that the walk reached without movement ops"
        if (b7 := rules.loop_mismatch(node, self.loop_key)) is not None:
            return self.need(node, b7)
        self.draft.fired["reduce_fuses"] += 1
        self.draft.nodes.append(node)
        self.draft.reduces.append(node)
        if node.src[0].size == 0:  # reducing nothing gives the identity (0 or the lowest value): no loop
            identity = reduce_identity(node.arg[0], node.dtype)
            return KNode(KOps.CONST, (), node.dtype, (identity, ShapeTracker.from_shape(node.shape)),
                         merge_origins(node.meta, path.origins))
        src = self.visit(node.src[0], Path(below_reduce=True))
        return KNode(KOps.REDUCE, (src,), node.dtype, node.arg, merge_origins(node.meta, path.origins))


    # ---- F5: a reduce read back along its row joins the row's kernel ------------------------------

    def row_fuses(self, node: Node, path: Path) -> KNode:
        """F5. A REDUCE read back along its own reduced axes (the pending moves only broadcast it over its row;
        rules.fuse_rows holds the whole condition) joins this kernel: its input runs in a loop of its own over
        the row (below it, possibly inside another REDUCE's loop), and every position of the row reads its
        value. The moves are dropped: the value is one number per row, which needs no view."""
        if all(r is not node for r in self.draft.reduces):  # once per REDUCE (the walk may meet it on two paths)
            self.draft.fired["row_fuses"] += 1
        self.draft.nodes.append(node)
        self.draft.reduces.append(node)
        if self.loop_key is None:  # the first REDUCE of a kernel stored at its loop shape fixes the loop
            self.loop_key = (node.src[0].shape, node.arg[1])
        src = self.visit(node.src[0], Path(below_reduce=True))
        return KNode(KOps.REDUCE, (src,), node.dtype, node.arg, merge_origins(node.meta, path.origins))


def _fold(st: ShapeTracker, moves: tuple[Move, ...]) -> ShapeTracker:
    """Apply pending movement ops to a view, nearest first."""
    for m in moves:
        st = apply_movement(st, m.op.name, m.arg)
    return st
