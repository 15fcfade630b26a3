"""The fusion rules: when nodes share a kernel, and every reason the scheduler draws a boundary.

Scheduling asks one question of every graph node: does its value get a buffer of its own
("materialized"), or is it computed inline, inside each kernel that uses it ("fused")? The
answer is *fuse*, unless one of the boundary rules below says otherwise. Each materialized node
becomes the STORE of one kernel; everything between it and the buffers it reads is that
kernel's AST.

Fusion rules: what happens by default, inside one kernel (fuse.py applies them node by node).

    F1 elementwise_fuses     an ALU op joins the kernel of its consumer
                             relu(a*b+c): MUL, ADD, MAX in one kernel E_4_4
    F2 reduce_fuses          a REDUCE joins the kernel of its consumer, and its elementwise
                             inputs join it too (they run inside its loop)
                             sum(exp(x)) / 2: one kernel R_4_8 (EXP2, MUL, REDUCE, DIV)
    F3 movement_is_a_view    movement ops are not computed: they fold into the ShapeTracker of
                             the LOAD (or CONST) under them; on top of an ALU op they are pushed
                             down to its sources (`(a+b).T` loads `a.T` and `b.T`)
    F4 const_is_inlined      a CONST leaf is a CONST in the AST with its folded view (a padded
                             constant is 0 outside the pad), never a buffer
    F5 row_fuses             a REDUCE read back along its own reduced axes (softmax's
                             `x - max(x).expand`) joins its consumer as a *row kernel*: per row,
                             each reduce runs its own loop over the row, then the store loop
                             (`fuse_rows` below is its condition; SHRIMPGRAD_FUSE_ROWS=0 turns it off)

Boundary rules: each is a named function that holds both its test and its reason. It returns a
`Boundary` (the rule's name and the reason in words) when its node must be materialized, and None
when it doesn't fire, so a breakpoint on a rule's `return Boundary(...)` stops exactly when that
rule decides. Seeds, decided from the node alone (schedule.py's seed_boundaries asks them):

    B1 output                a root of the schedule: its value is asked for
    B2 contiguous            CONTIGUOUS asks for a buffer
    B3 assign                ASSIGN writes into its target's existing buffer

Found while fusing, when a kernel can't be built as it is (fuse.py asks B4-B7, B9 and B11 at the node
the walk is on; schedule.py's grow_boundaries asks B8 and B10 once every kernel builds):

    B4 reduce_behind_view    a movement op on top of an unmaterialized REDUCE: a reduce's result
                             lives in a register, not in memory, so it can't be re-indexed
                             (softmax's `x - max(x)` reads max through EXPAND)
    B5 pad_needs_zero        a PAD pushed down through an op that doesn't turn zeros into zero
                             (pad(exp(x)) is 0 in the border, exp(pad(x)) would be 1)
    B6 reduce_inside_reduce  a REDUCE under another REDUCE (not read back along the same row: F5)
    B7 loop_mismatch         two REDUCEs of one kernel with different loops
    B8 shared_reduce         a REDUCE that several kernels would each recompute
    B9 assign_reads_target   an in-place ASSIGN whose value reads the target through another
                             view (x.assign(x.T)): the value goes to a temporary first
    B10 old_value_overwritten  a kernel needs a buffer's old contents but must run after an ASSIGN
                             that overwrites them (its graph holds the ASSIGN, or the write-after-read
                             orders of several ASSIGNs close a cycle: a swap): the old contents are
                             copied first
    B11 costly_broadcast     an elementwise value that a REDUCE reads through a broadcast (EXPAND),
                             so each element would be recomputed many times, and that is not cheap
                             (a transcendental op or a division, or more than a few ops): stored once
                             (a matmul reading the loss gradient; SHRIMPGRAD_STORE_COSTLY_BROADCAST=0
                             turns it off)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from shrimpgrad.graph import ALU, MOVEMENT, BufferRef, Node, Ops, ShapeTracker, apply_movement, toposort
from shrimpgrad.graph.switches import switch


@dataclass(frozen=True)
class Boundary:
    """Why a node got its own buffer (and so its own kernel): the rule's name and the reason in words."""

    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.reason}"


@dataclass(frozen=True)
class Move:
    """One movement op waiting to be folded into a view: `Move(Ops.PERMUTE, (1, 0))`."""

    op: Ops
    arg: tuple

    def __str__(self) -> str:
        return f"{self.op.name}{self.arg}"


# ---- seeds: B1-B3 ----------------------------------------------------------------------------

def output(node: Node, index: int, overwritten: Collection[BufferRef] = ()) -> Boundary | None:
    """B1. A root that is not already a plain buffer: its value must end up in memory. A plain buffer
    root needs no kernel, unless an ASSIGN of this schedule (whose buffers are `overwritten`) writes
    into it: then its old value is copied out first, as the root asks for the value before the write.

    roots=[relu(a*b+c)] -> one kernel storing into a fresh output buffer."""
    if node.op is not Ops.BUFFER:
        return Boundary("output", f"root {index} of the schedule ({node.op.name} {node.shape})")
    if node.arg in overwritten:
        return Boundary("output", f"root {index} is buffer {node.arg.id}, which this schedule overwrites: "
                                  f"copy its old value first")
    return None


def contiguous(node: Node) -> Boundary | None:
    """B2. CONTIGUOUS materializes its source. On a plain buffer it has nothing to do: the buffer
    already is contiguous, so no kernel is drawn (unless it is also a root).

    contiguous(x.T) -> a copy kernel E_4_4 that stores x.T row-major."""
    if node.op is not Ops.CONTIGUOUS or node.src[0].op is Ops.BUFFER:
        return None
    return Boundary("contiguous", f"CONTIGUOUS asks for {node.shape} in its own buffer")


def assign(node: Node) -> Boundary | None:
    """B3. ASSIGN stores its value into the target's buffer, through the target's view.

    x.assign(x + 1) -> one kernel that loads and stores x in place."""
    if node.op is not Ops.ASSIGN:
        return None
    return Boundary("assign", f"ASSIGN writes {node.shape} into its target's buffer")


SEED_RULES = (assign, contiguous)  # B1 is applied to the roots, with their index


# ---- F5's condition: when a reduce joins its consumer's row ----------------------------------

FUSE_ROWS_ENV = "SHRIMPGRAD_FUSE_ROWS"  # "0": no row kernels (every reduce read through a view is stored, B4)
# The longest row a row kernel reduces: 16384 elements (64 KB of float32). The row is read once per reduce loop
# and once by the store loop; it must still be in the cache (L2 on a CPU core, the GPU's L2) the second time,
# or the kernel reads DRAM as often as the separate kernels did.
MAX_ROW = 16384


def fuse_rows_enabled() -> bool:
    """$SHRIMPGRAD_FUSE_ROWS, read at every call (tests switch it): unset or 1 on, 0 off (graph.switches)."""
    return switch(FUSE_ROWS_ENV)


def broadcast_back(reduce: Node, moves: Sequence[Move]) -> bool:
    """Do the pending `moves` read the REDUCE's value back at every position of the row it reduced, and only
    so: the same view as `reduce.expand(reduce.src[0].shape)` (reshapes on the way are fine)?"""
    st = ShapeTracker.from_shape(reduce.shape)
    for m in moves:  # nearest first, as fuse.py folds them
        st = apply_movement(st, m.op.name, m.arg)
    return st == apply_movement(ShapeTracker.from_shape(reduce.shape), "EXPAND", reduce.src[0].shape)


def fuse_rows(reduce: Node, moves: Sequence[Move], loop: tuple[tuple[int, ...], tuple[int, ...]],
              root: Node) -> bool:
    """F5's condition. A REDUCE met through the movement ops `moves`, in the kernel of `root` whose loop (the
    shape its REDUCEs reduce and their axes) is `loop`, joins that kernel as one more loop over the row,
    instead of being stored (B4) or cut off as a reduce inside a reduce (B6), when:

    * the switch is on (`SHRIMPGRAD_FUSE_ROWS` is not "0");
    * the moves only broadcast the reduced value back along its own reduced axes (`broadcast_back`): each
      position of a row reads its own row's value, which the row kernel has in a register;
    * the REDUCE reduces the kernel's loop: the same input shape and axes (one row loop for all of them);
    * the row is at most MAX_ROW elements, so it is still in the cache when the next loop reads it again;
    * the kernel is not an in-place ASSIGN: its reduce loops would read elements that another row's store
      may already have overwritten (B9's hazard); such a kernel keeps its reduces in their own kernels.

    softmax: x - max(x).expand(4, 8) and e / sum(e).expand(4, 8): one kernel R_4_8 whose rows run three loops
    (the max, the sum of exp, the stores)."""
    if not fuse_rows_enabled() or root.op is Ops.ASSIGN or not moves:
        return False
    row = math.prod(reduce.src[0].shape[a] for a in reduce.arg[1])
    return ((reduce.src[0].shape, reduce.arg[1]) == loop and 0 < row <= MAX_ROW
            and broadcast_back(reduce, moves))


# ---- found while fusing: B4-B10 --------------------------------------------------------------

def only_reshapes_back(moves: Sequence[Move], shape: tuple[int, ...]) -> bool:
    """Only RESHAPEs, ending at `shape`: row-major regrouping there and back changes nothing."""
    return all(m.op is Ops.RESHAPE for m in moves) and (not moves or moves[-1].arg == shape)


def reduce_behind_view(reduce: Node, above: Node, moves: Sequence[Move]) -> Boundary | None:
    """B4. Movement ops stand between a REDUCE and its use, so `above` (the value right under the
    movement ops: the REDUCE or an elementwise op on top of it) is materialized and the movement
    ops become the view of a LOAD of it. Reshapes that end at the REDUCE's own shape are no view.

    x - max(x, axis=1).expand(4, 8) with F5 off (SHRIMPGRAD_FUSE_ROWS=0): kernel R_4_8 stores max;
    the next kernel LOADs it with a stride-0 view. Recomputing the max for every one of the 8
    expanded elements would repeat the reduce 8 times; a permute or pad of it is no cheaper to
    recompute. (With F5 on, that expand back over the row is a row kernel instead: fuse_rows.)"""
    if only_reshapes_back(moves, reduce.shape):
        return None
    moves_text = ", ".join(str(m) for m in moves)
    what = (f"REDUCE {reduce.arg[0].name} {reduce.shape}" if above is reduce else
            f"{above.op.name} {above.shape} (computed from REDUCE {reduce.arg[0].name} {reduce.shape})")
    return Boundary("reduce_behind_view", f"{what} is read through {moves_text}; "
                                          f"a reduce's result can't be re-indexed inside its kernel")


# The ALU ops f with f(0, ..., 0) == +0 exactly. A PAD pushed through them still reads 0 in the
# border. NEG is not here: -(+0.0) is -0.0, and 1/-0.0 is -inf where 1/+0.0 is +inf.
KEEPS_ZERO = frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.MAX, Ops.SQRT, Ops.SIN, Ops.TRUNC, Ops.CAST,
                        Ops.CMPLT, Ops.CMPNE, Ops.WHERE, Ops.AND, Ops.OR, Ops.XOR})


def pad_needs_zero(op_node: Node, above: Node | None, moves: Sequence[Move]) -> Boundary | None:
    """B5. A PAD (among the pending `moves`) reaches an ALU op that doesn't map zeros to zero, so
    `above` (the value right under the movement ops) is materialized and padded as a view of that buffer.

    pad(exp2(x)) must be 0 in the border, but exp2(pad(x)) would be exp2(0) = 1 there.
    pad(x + 1) is fine: the constant 1 is padded too (0 in the border) and 0 + 0 = 0."""
    if op_node.op in KEEPS_ZERO or not any(m.op is Ops.PAD for m in moves):
        return None
    return Boundary("pad_needs_zero", f"a PAD reaches {op_node.op.name}, which doesn't map 0 to 0; "
                                      f"{above.op.name} {above.shape} is stored and padded as a view")


def reduce_inside_reduce(reduce: Node, below_reduce: bool) -> Boundary | None:
    """B6. A REDUCE feeding (through elementwise ops) another REDUCE, that is one met `below_reduce`,
    is materialized: a kernel is one loop nest with one set of reduced axes.

    (x @ w).relu().sum(): the matmul's sum gets its own kernel. (A REDUCE read back along its own
    row inside another REDUCE over the same row, layernorm's sum((x - mean(x))^2), is F5's instead.)"""
    if not below_reduce:
        return None
    return Boundary("reduce_inside_reduce", f"REDUCE {reduce.arg[0].name} over {reduce.arg[1]} of "
                                            f"{reduce.src[0].shape} feeds another REDUCE")


def loop_mismatch(reduce: Node, loop: tuple[tuple[int, ...], tuple[int, ...]]) -> Boundary | None:
    """B7. All REDUCEs of one kernel share its loop (the shape they reduce and the axes: `loop`).
    Another one is materialized.

    sum(x, axis=1) + sum(y, axis=1) with x (4, 8) and y (4, 3): the y sum gets its own kernel."""
    if (reduce.src[0].shape, reduce.arg[1]) == loop:
        return None
    return Boundary("loop_mismatch", f"REDUCE over {reduce.arg[1]} of {reduce.src[0].shape} doesn't share the "
                                     f"kernel's loop (axes {loop[1]} of {loop[0]})")


def shared_reduce(reduce: Node, n_kernels: int) -> Boundary | None:
    """B8. A value used by several kernels is recomputed by each of them, unless that would
    repeat a REDUCE: a REDUCE computed inside `n_kernels` > 1 kernels is materialized once and
    loaded by all.

    s = x.sum(1); roots [s + 1, s * 2] -> R_4_8 stores s, two small kernels load it."""
    if n_kernels <= 1:
        return None
    return Boundary("shared_reduce", f"REDUCE {reduce.arg[0].name} of {reduce.src[0].shape} is used by "
                                     f"{n_kernels} kernels; storing it once is cheaper than recomputing it")


def assign_reads_target(root: Node, buf: BufferRef, view: ShapeTracker, store: tuple[BufferRef, ShapeTracker],
                        below_reduce: bool) -> Boundary | None:
    """B9. An in-place write is safe only when every element is read before it is written at the
    same address: the value of an ASSIGN `root` must read the target buffer (`store`'s) through
    the target's own view, outside any reduce loop. A load of `buf` through `view` that doesn't
    materializes the value first, to be copied in.

    x.assign(x.T): element (0, 1) would be overwritten before (1, 0) reads it."""
    if root.op is not Ops.ASSIGN or buf is not store[0]:
        return None
    if below_reduce:
        how = "inside a reduce loop"
    elif view != store[1]:
        how = "through another view"
    else:
        return None
    value = root.src[1]
    return Boundary("assign_reads_target", f"the assigned value reads the target buffer {how}; it is stored in "
                                           f"a temporary first ({value.op.name} {value.shape})")


def old_value_overwritten(leaf: Node, overwrite: Node, reader: Node,
                          reader_follows: Collection[int]) -> Boundary | None:
    """B10. Kernels that read a buffer's old contents run before the ASSIGN that overwrites it (the
    scheduler orders them so). The kernel of `reader` reads `leaf` from the buffer that the ASSIGN
    `overwrite` writes; when `leaf` is the old contents (not an ASSIGN's result) and the kernel must also
    run *after* that ASSIGN (its id is in `reader_follows`), it can't run first: the old contents are
    copied to a temporary before the write. The kernel must run after the ASSIGN when

    * the ASSIGN is in `reader`'s graph (`reader_follows` is the ids of the ASSIGNs below it):
      y = x * 1 (lazy); x.assign(x + 1); realize x + y  ->  copy x, assign, then add;
    * or the kernel order says so, through other in-place writes (`reader_follows` is the ids of the
      kernels it waits on): the write-after-read orders close a cycle, as when two tensors swap values,
      y.assign(x + 1); x.assign(old_y + 1): each ASSIGN reads the buffer the other one overwrites."""
    if leaf.op is Ops.ASSIGN or overwrite is reader or id(overwrite) not in reader_follows:
        return None
    return Boundary("old_value_overwritten", f"{leaf.op.name} {leaf.shape} is read after an ASSIGN of "
                                             f"{overwrite.shape} overwrites its buffer: copy the old contents first")


# ---- B11: don't recompute a costly value for every element of a broadcast ----------------------

COSTLY_BROADCAST_ENV = "SHRIMPGRAD_STORE_COSTLY_BROADCAST"  # "0": every elementwise producer fuses (F1), as before
# Ops that cost far more than an add (a call to exp2f/log2f/sinf/sqrtf, a division): one of them makes a value costly.
COSTLY_OPS = frozenset({Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.SQRT, Ops.RECIP, Ops.DIV, Ops.IDIV, Ops.MOD})
# More ALU ops than this (CASTs not counted) make a value costly too. A relu mask (CMPLT, WHERE), a cast, a scale
# by a constant stay under it: recomputing them is cheaper than a store, a load and a kernel launch.
MAX_CHEAP_OPS = 4
# The fewest times each element must be recomputed, and the fewest ALU ops the recomputing adds up to (repeats
# beyond the first x elements x ops), for B11 to fire. Below them recomputing costs less than what storing costs:
# writing the value out, reading it back, and one more kernel to launch (a few microseconds on device C). The
# softmax backward's (128,) row values read 10x over a (128, 10) loop stay fused (~5,000 ops); the MLP's loss
# gradient read 128x by a matmul does not (~3.7 million).
MIN_REPEATS = 8
MIN_RECOMPUTED_OPS = 1 << 16


def costly_broadcast_enabled() -> bool:
    """$SHRIMPGRAD_STORE_COSTLY_BROADCAST, read at every call: unset or 1 on, 0 off (graph.switches)."""
    return switch(COSTLY_BROADCAST_ENV)


def elementwise_cost(value: Node, computed_here: Callable[[Node], bool]) -> tuple[int, list[str]] | None:
    """The ALU ops (CASTs not counted) that computing `value` inside a kernel takes, down to the values already
    in memory (`computed_here` is False for them), and the names of those in COSTLY_OPS; None when a REDUCE is
    among them (then `value` is not an elementwise producer: B4, B6 and F5 decide about it)."""
    def sources(node: Node) -> tuple[Node, ...]:  # through elementwise and movement ops, to what is in memory
        return tuple(s for s in node.src if computed_here(s)) if node.op in ALU or node.op in MOVEMENT else ()

    nodes = toposort([value], sources)
    if any(n.op is Ops.REDUCE for n in nodes):
        return None
    alu_ops = [n.op for n in nodes if n.op in ALU and n.op is not Ops.CAST]
    return len(alu_ops), sorted({op.name for op in alu_ops if op in COSTLY_OPS})


def costly_broadcast(value: Node, moves: Sequence[Move], loop_shape: tuple[int, ...],
                     computed_here: Callable[[Node], bool]) -> Boundary | None:
    """B11. The elementwise `value` is read inside a REDUCE's loop (of shape `loop_shape`) through the movement
    ops `moves`, which broadcast it (an EXPAND): fused (F1), it is recomputed at every position of the loop, that
    is loop size / value size times for each of its elements. When that is at least MIN_REPEATS, `value` is
    not cheap (an op of COSTLY_OPS, or more than MAX_CHEAP_OPS ALU ops down to the buffers it reads) and the
    repeats add up to at least MIN_RECOMPUTED_OPS ops, it is materialized: its own kernel computes it once and
    the REDUCE's kernel loads it through the broadcast view (a stride-0 view: no copy). Cheap values (a cast, a
    scale by a constant, a relu mask) still fuse, so `a.float() @ b.float()` stays one kernel; a value computed
    from an unmaterialized REDUCE is left to B4, B6 and F5 (softmax's row kernels are unchanged).
    SHRIMPGRAD_STORE_COSTLY_BROADCAST=0 turns the rule off.

    The MLP's backward: the loss gradient g (128, 10) (log_softmax's backward: exp2, a division, masks, 23 ops)
    is read by g @ w2.T through EXPAND(128, 10, 128): without B11 the 128x10x128 matmul kernel recomputes g 128
    times per element (10x the matmul's own work); with it g is one E_128_10 kernel and the matmul loads it.

    The front end's schedule cache does not key its plans by this switch: set it before the program's first
    realize (or call shrimpgrad.realize.clear_schedule_cache() after changing it)."""
    if not costly_broadcast_enabled() or not any(m.op is Ops.EXPAND for m in moves):
        return None
    repeats = math.prod(loop_shape) // max(value.size, 1)
    if repeats < MIN_REPEATS:
        return None
    cost = elementwise_cost(value, computed_here)
    if cost is None:
        return None
    n_ops, costly_ops = cost
    if not costly_ops and n_ops <= MAX_CHEAP_OPS:
        return None
    if (repeats - 1) * value.size * n_ops < MIN_RECOMPUTED_OPS:  # too little work to be worth a kernel
        return None
    what = ", ".join(costly_ops) if costly_ops else f"more than {MAX_CHEAP_OPS}"
    moves_text = ", ".join(str(m) for m in moves)
    return Boundary("costly_broadcast", f"{value.op.name} {value.shape} ({n_ops} ops: {what}) is read through "
                                        f"{moves_text} inside a reduce, {repeats}x per element; storing it once "
                                        f"is cheaper than recomputing it")
