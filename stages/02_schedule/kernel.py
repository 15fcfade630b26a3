"""The stage-02 IR: a `Kernel` is one loop nest's worth of work, written as a small AST.

    SINK( STORE(buf 0, view, value), STORE(buf 1, view, value), ... )

with value trees built from

    LOAD(buf i, view)        read buffer `bufs[i]` through a ShapeTracker
    CONST(value, view)       a constant; its view may carry a mask (a padded constant is 0 outside)
    ALU(op)                  an elementwise op (op is a stage-01 `Ops` member, e.g. Ops.ADD)
    REDUCE(op, axes)         combine over `axes` with Ops.ADD or Ops.MAX; those axes become 1

The loop shape. Every kernel has one `full_shape`: the loops it runs. Every LOAD/CONST view
below a REDUCE has `full_shape`; the REDUCE turns the reduced axes to 1, giving the kernel's
`output_shape`; every LOAD/CONST above a REDUCE (and every STORE view) has `output_shape`. A
kernel without a REDUCE has `full_shape == output_shape`. All REDUCEs of a kernel reduce the same
axes. These rules are what the linearizer relies on, and `verify()` checks them.

Row kernels (stage 02's rule F5). A REDUCE's value is one number per row (the output axes it keeps);
in a row kernel it is also read *along* the row, at every position of `full_shape`, as if expanded
back over its reduced axes. Such a REDUCE may be below another REDUCE (softmax's sum of exp(x - max))
and the STORE may be at `full_shape` instead of `output_shape` (softmax's e / sum): then
`output_shape == full_shape` and the kernel is `stores_rows`. The views keep one rule: below any
REDUCE they have `full_shape`, above every REDUCE the STORE's shape. Stage 03 runs each REDUCE in a
loop of its own over the row, after the loops of the REDUCEs inside it, then the store loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum, auto
from functools import cached_property
from typing import Any

from shrimpgrad.graph import ALU, BufferRef, DType, InvariantError, Ops, ShapeTracker, toposort


class KOps(Enum):
    SINK = auto()
    STORE = auto()
    LOAD = auto()
    CONST = auto()
    ALU = auto()
    REDUCE = auto()

    def __repr__(self) -> str:
        return f"KOps.{self.name}"


@dataclass(frozen=True, eq=False)
class KNode:
    """One node of a kernel AST.

    arg by op: LOAD/STORE `(buf_index, ShapeTracker)`; CONST `(value, ShapeTracker)`;
    ALU the stage-01 op (`Ops.ADD`, `Ops.CAST`, ...); REDUCE `(Ops.ADD | Ops.MAX, axes)`; SINK None.
    dtype is the value's dtype (for STORE: the stored dtype). `origins`: the graph nodes' provenance."""

    op: KOps
    src: tuple[KNode, ...]
    dtype: DType
    arg: Any = None
    # Where it came from: the Provenance (user file:line, Tensor method) of each graph node it computes, e.g. an
    # ALU its op, a LOAD the loaded value and the movement ops folded into its view. Not part of equality.
    origins: tuple = field(default=(), compare=False, repr=False)

    # Hashed once, at construction (stage 01's idiom for frozen IR nodes, see its README "Hashing IR nodes"):
    # the sources are built first and already know their hashes, so this costs O(len(src)), never a deep walk.
    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.op, self.src, self.dtype, self.arg)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        # Structural, but identical objects and different hashes answer at once: the dataclass default compares
        # every path of a shared-subtree AST again (exponential in its depth), e.g. on the runner-cache lookup.
        if self is other:
            return True
        if not isinstance(other, KNode) or self._hash != other._hash:
            return False
        return _same_structure(self, other)

    @property
    def st(self) -> ShapeTracker:
        """The view of a LOAD, CONST or STORE."""
        assert self.op in (KOps.LOAD, KOps.CONST, KOps.STORE), f"{self.op} has no view"
        return self.arg[1]

    def toposort(self) -> list[KNode]:
        """Every node once, each after its sources (stage 01's walk: iterative, so very deep ASTs are fine)."""
        return toposort([self])


def nodes_by_loop(roots: Sequence[KNode]) -> list[tuple[KNode, bool]]:
    """Every (node, inside the reduce loop?) pair under `roots` once, users before their sources.

    A node is inside the loop when a REDUCE is above it. The same node can be reached both ways (a (4, 1) input
    reduced over its size-1 axis is read inside and after the loop), and is then listed twice, once per place:
    the checks of a view depend on where it is read."""
    states = toposort([(r, False) for r in roots], sources=lambda s: [(x, s[1] or s[0].op is KOps.REDUCE)
                                                                      for x in s[0].src],
                      key=lambda s: (id(s[0]), s[1]))
    return states[::-1]


def _same_structure(a: KNode, b: KNode) -> bool:
    """Equal ASTs, comparing each pair of nodes once: two separately built copies of a DAG whose subtrees are
    shared (tanh(sigmoid(x)) reads x on several paths) compared path by path took exponential time (issue 17:
    a 12-line fuzz program's backward never finished lowering)."""
    def sources(pair: tuple[KNode, KNode]):  # the pairs of sources, unless this pair already answers
        x, y = pair
        return () if x is y or not _same_node(x, y) else zip(x.src, y.src)

    pairs = toposort([(a, b)], sources, key=lambda pair: (id(pair[0]), id(pair[1])))
    return all(x is y or _same_node(x, y) for x, y in pairs)


def _same_node(x: KNode, y: KNode) -> bool:
    """The two nodes agree on everything but their sources (which the walk pairs up next)."""
    return x._hash == y._hash and (x.op, x.dtype, x.arg) == (y.op, y.dtype, y.arg) and len(x.src) == len(y.src)


@dataclass(frozen=True)
class Kernel:
    """A named kernel: its AST, the buffers it touches (index = LOAD/STORE buf_index) and why it exists.

    `bufs` lists outputs first (`bufs[:n_outputs]` are written), then inputs.
    `reason` is the fusion rule that drew this kernel's boundary, in words."""

    name: str
    ast: KNode
    bufs: tuple[BufferRef, ...]
    n_outputs: int = 1
    reason: str = ""
    meta: tuple[str, ...] = field(default=(), compare=False)  # provenance strings of the graph nodes it covers

    @cached_property  # the linearizer asks once per LOAD: a walk of the AST each time was quadratic
    def full_shape(self) -> tuple[int, ...]:
        """The loop shape: the shape of the views below the REDUCE (or of every view if none)."""
        reduces = [n for n in self.ast.toposort() if n.op is KOps.REDUCE]
        return _shape_below(reduces[0]) if reduces else self.output_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.ast.src[0].st.shape

    @cached_property
    def reduce_axes(self) -> tuple[int, ...]:
        for n in self.ast.toposort():
            if n.op is KOps.REDUCE:
                return n.arg[1]
        return ()

    @property
    def reduced_shape(self) -> tuple[int, ...]:
        """`full_shape` with the reduced axes set to 1: what a REDUCE's value has (one number per row)."""
        return tuple(1 if i in self.reduce_axes else s for i, s in enumerate(self.full_shape))

    @property
    def stores_rows(self) -> bool:
        """A row kernel that stores at the loop shape: after its reduce loops, a loop over the row stores it."""
        return self.output_shape == self.full_shape != self.reduced_shape

    @property
    def outputs(self) -> tuple[BufferRef, ...]:
        return self.bufs[: self.n_outputs]

    @property
    def inputs(self) -> tuple[BufferRef, ...]:
        return self.bufs[self.n_outputs:]


def _shape_below(n: KNode) -> tuple[int, ...]:
    """The shape of the first LOAD/CONST found under `n` (all views under a REDUCE share it)."""
    for x in n.toposort():
        if x.op in (KOps.LOAD, KOps.CONST):
            return x.st.shape
    raise ValueError("a REDUCE with no LOAD or CONST below it")


class KernelError(InvariantError):
    """A Kernel (or a Schedule) breaks one of the stage-02 invariants."""


def verify(k: Kernel) -> Kernel:
    """Check the invariants the linearizer relies on; raise KernelError naming the bad node."""
    def fail(msg: str, node: KNode | None = None) -> None:
        raise KernelError(f"kernel {k.name}: {msg}" + (f"\n  at {node!r}" if node is not None else ""))

    if k.ast.op is not KOps.SINK or not k.ast.src or any(s.op is not KOps.STORE for s in k.ast.src):
        fail("the root must be a SINK of STOREs", k.ast)
    full, out = k.full_shape, k.output_shape
    axes = k.reduce_axes
    if out not in (k.reduced_shape, full):
        fail(f"output shape {out} is neither the full shape {full} reduced over {axes} nor the full shape (a row "
             f"kernel's store)")
    if len(k.ast.src) != k.n_outputs:
        fail(f"{len(k.ast.src)} STOREs but n_outputs={k.n_outputs}")

    def check(n: KNode, below_reduce: bool) -> None:
        if n.op is KOps.REDUCE:  # one below another is a row kernel's: its value is read along the row
            if n.arg[1] != axes:
                fail(f"REDUCE over {n.arg[1]} but the kernel reduces {axes}", n)
            if n.arg[0] not in (Ops.ADD, Ops.MAX):
                fail("REDUCE must combine with Ops.ADD or Ops.MAX", n)
        if n.op in (KOps.LOAD, KOps.CONST, KOps.STORE):
            want = full if below_reduce else out
            if n.st.shape != want:
                fail(f"{n.op.name} view has shape {n.st.shape}, expected {want}", n)
        if n.op in (KOps.LOAD, KOps.STORE) and not 0 <= n.arg[0] < len(k.bufs):
            fail(f"buffer index {n.arg[0]} out of range ({len(k.bufs)} buffers)", n)
        if n.op is KOps.ALU and n.arg not in ALU:
            fail(f"{n.arg} is not an ALU op", n)
        if n.op is KOps.STORE and not n.arg[0] < k.n_outputs:
            fail("STORE to an input buffer", n)

    for n, below_reduce in nodes_by_loop(k.ast.src):  # a shared node is checked once (per place), not per path
        check(n, below_reduce)
    if math.prod(full) == 0:
        fail(f"empty loop shape {full}")
    return k
