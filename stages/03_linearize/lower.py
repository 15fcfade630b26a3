"""Lowering: one Kernel (plus optimizations) -> a flat `Program` of UOps, as a list of named passes.

    PASSES = plan_loops, define_buffers, open_loops, lower_reduces, lower_stores, place_uops

1. plan_loops      apply the optimizations (opts.py): which loops exist and what each one is
2. define_buffers  one DEFINE_GLOBAL per kernel buffer: index i is `kernel.bufs[i]`
3. open_loops      one RANGE per loop; on a GPU, GLOBAL/LOCAL loops are SPECIAL indices instead
4. lower_reduces   per REDUCE (and output lane, and GROUP lane): a DEFINE_ACC set to the identity,
                   then in the innermost loop `acc = x op acc` for the lowered input x (each UNROLL
                   lane folds in turn); after the loops, GROUP partials are combined (on a GPU
                   the GROUP lanes are threads of the block: see `combine_in_shared_memory`)
5. lower_stores    lower each STORE's value (a REDUCE is its accumulator) and store it
6. place_uops      order the UOps into the loop nest, each as early as its operands allow

Lowering an AST node: LOAD and CONST turn their view into (index, valid) expressions (index.py,
simplified by symbolic.py) and those into ALU UOps; a masked load is a *gated* load
`LOAD(buf, index, valid, 0)`, a load whose valid is always false is the constant 0, and an
always-true valid vanishes. ALU nodes become ALU (or CAST) UOps.

Every UOp is made through `Lowering.uop`, which interns it: a UOp equal to one already made *is*
that one (CSE), so each UOp appears once in the program. Where it goes is decided by its
operands (loop-invariant code motion): a UOp lives in the innermost loop it depends on, right
after that loop's RANGE, and a UOp that reads an accumulator's final value goes after the reduce
loops. Accumulator updates are the exception: they run in the innermost loop.

The one subtlety: a DEFINE_ACC means "the value so far", so `x + acc` inside the loop and `x + acc`
after it are different values that look identical. Updates are always written `x op acc`; a
post-loop read written that way (an ADD or MAX with the accumulator second) is commuted to
`acc op x` (`keep_reads_distinct`), so CSE can never merge the two.

Provenance: while a node is lowered, `Lowering.origins` holds its `origins` and every UOp made for it
(its index arithmetic included) takes them; when CSE finds a UOp made for another node, the two nodes'
origins are merged into it, so a line of generated code names every user line it computes for. Loops,
buffers and constants (which are printed inline) carry none.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from shrimpgrad.graph import DType, Ops, cast_scalar, dtypes, merge_origins
from shrimpgrad.graph.evaluate import apply_alu
from shrimpgrad.schedule import Kernel, KNode, KOps
from shrimpgrad.schedule import verify as verify_kernel

from .index import index_and_valid, unravel
from .opts import LoopPlan, Opt, Role, apply_opts
from .symbolic import Add, And, Expr, FloorDiv, Ge, Lt, Mod, Mul, Num, Rewrite, Var, all_of, simplify, sum_of
from .uops import LoopKind, Program, UOp, UOps, verify

INT32_MAX = 2**31 - 1
# CUDA's launch limits per dimension (x, y, z)
GRID_LIMITS = (2**31 - 1, 65535, 65535)
BLOCK_LIMITS = (1024, 1024, 64)
BLOCK_THREADS = 1024  # threads in one block, all dimensions together


class LinearizeError(ValueError):
    """A kernel that can't be lowered (the message names the kernel and why)."""


@dataclass
class Lowering:
    """The state the passes share while lowering one kernel."""

    kernel: Kernel
    opts: tuple[Opt, ...]
    gpu: bool
    plan: LoopPlan | None = None
    index_dtype: DType = dtypes.int32
    table: dict[UOp, UOp] = field(default_factory=dict)  # the CSE table: every UOp made so far
    created: list[UOp] = field(default_factory=list)  # in creation order (a topological order)
    place: dict[UOp, tuple[int, int]] = field(default_factory=dict)  # (loop block, 0 before / 1 after the child loop)
    ranges: list[UOp] = field(default_factory=list)  # RANGEs, outermost first; RANGE i opens block i+1
    acc_block: int = 0  # the block the accumulators live in: inside the GLOBAL/LOCAL loops
    bufs: list[UOp] = field(default_factory=list)
    loop_values: dict[str, Expr] = field(default_factory=dict)  # plan loop name -> its value
    var_uops: dict[str, UOp] = field(default_factory=dict)  # symbolic variable name -> RANGE/SPECIAL
    finals: dict[tuple, UOp] = field(default_factory=dict)  # (REDUCE, output lane) -> final value
    log: list[Rewrite] = field(default_factory=list)  # every simplification rule that fired
    global_size: tuple[int, ...] | None = None
    local_size: tuple[int, ...] | None = None
    program: Program | None = None
    _expr_memo: dict[Expr, UOp] = field(default_factory=dict)
    _value_memo: dict[tuple, UOp] = field(default_factory=dict)
    _note: str = ""  # what lowering the last node found (its index and valid), for the step-through
    origins: tuple = ()  # the provenance of the AST node being lowered: the UOps made now get it
    folded: dict[tuple, tuple] = field(default_factory=dict)  # (AST node, lanes) -> origins, for a value folded to a constant

    # ---- making UOps ------------------------------------------------------------------------------

    def uop(self, op: UOps, dtype: DType | None, src: tuple[UOp, ...] = (), arg=None, meta: str | None = None,
            update: bool = False) -> UOp:
        """The interned UOp (CSE); records where it goes. `update` marks accumulator updates."""
        u = UOp(op, dtype, src, arg, meta, () if op in _NO_ORIGINS else self.origins)
        found = self.table.get(u)
        if found is not None:
            self.add_origins(found, u.origins)
            return found
        self.table[u] = u
        self.created.append(u)
        self.place[u] = self._placement(u, update)
        return u

    def add_origins(self, u: UOp, origins: tuple) -> None:
        """CSE merges provenance: `u` now also stands for a node with `origins`. The field is not part of
        equality or hashing, and the Program is not made yet, so extending it in place changes nothing else."""
        if origins and u.op not in _NO_ORIGINS and not set(origins) <= set(u.origins):
            object.__setattr__(u, "origins", merge_origins(u.origins, origins))

    def _placement(self, u: UOp, update: bool) -> tuple[int, int]:
        if u.op is UOps.RANGE:
            return (self.ranges.index(u) + 1, 0) if u in self.ranges else (0, 0)
        if u.op is UOps.DEFINE_ACC:
            return (self.acc_block, 0)
        if update:
            return (len(self.ranges), 0)  # the innermost loop
        block = max((self.place[s][0] for s in u.src), default=0)
        after = any(self.place[s][1] == 1 or s.op is UOps.DEFINE_ACC for s in u.src)
        if after and block != self.acc_block:
            raise LinearizeError(f"kernel {self.kernel.name}: {u!r} reads an accumulator's final value but also "
                                 "depends on a reduce loop")
        return (block, 1 if after else 0)

    def const(self, value, dtype: DType) -> UOp:
        value = cast_scalar(value, dtype)
        if dtype.is_float and value == 0 and math.copysign(1.0, value) < 0:
            # -0.0 == 0.0 in Python, so CONST(-0.0) would be merged with CONST(0.0): write it as NEG(0.0)
            return self.uop(UOps.ALU, dtype, (self.const(0.0, dtype),), Ops.NEG)
        return self.uop(UOps.CONST, dtype, (), value)

    def alu(self, op: Ops, dtype: DType, *src: UOp) -> UOp:
        folded = fold_constant_alu(self, op, dtype, src)
        return folded if folded is not None else self.uop(UOps.ALU, dtype, tuple(src), op)

    # ---- symbolic expressions -> UOps ----------------------------------------------------------------

    def lower_expr(self, e: Expr) -> UOp:
        """An index (index_dtype) or condition (bool) expression as ALU UOps; shared subexpressions
        are shared UOps."""
        if e in self._expr_memo:
            self.add_origins(self._expr_memo[e], self.origins)
            return self._expr_memo[e]
        idt, cond = self.index_dtype, isinstance(e, (Lt, Ge, And))
        if not cond and (e.vmin < np.iinfo(idt.np).min or e.vmax > np.iinfo(idt.np).max):
            raise LinearizeError(f"kernel {self.kernel.name}: index expression {e} ranges over [{e.vmin}, {e.vmax}], "
                                 f"beyond {idt.name}")
        if isinstance(e, Num):
            out = self.const(e.value, idt)
        elif isinstance(e, Var):
            out = self.var_uops[e.name]
        elif isinstance(e, Add):
            out = self.lower_expr(e.terms[0])
            for t in e.terms[1:]:  # x + -y*3 is written x - y*3, x + -5 is x - 5
                if isinstance(t, Mul) and t.c < 0:
                    out = self.alu(Ops.SUB, idt, out, self.lower_expr(Mul(t.x, -t.c) if t.c != -1 else t.x))
                elif isinstance(t, Num) and t.value < 0:
                    out = self.alu(Ops.SUB, idt, out, self.const(-t.value, idt))
                else:
                    out = self.alu(Ops.ADD, idt, out, self.lower_expr(t))
        elif isinstance(e, (Mul, FloorDiv, Mod)):
            op = {Mul: Ops.MUL, FloorDiv: Ops.IDIV, Mod: Ops.MOD}[type(e)]
            out = self.alu(op, idt, self.lower_expr(e.x), self.const(e.c, idt))
        elif isinstance(e, Lt):
            out = self.alu(Ops.CMPLT, dtypes.bool, self.lower_expr(e.x), self.const(e.c, idt))
        elif isinstance(e, Ge):  # for integers, x >= c is c-1 < x
            out = self.alu(Ops.CMPLT, dtypes.bool, self.const(e.c - 1, idt), self.lower_expr(e.x))
        elif isinstance(e, And):
            out = self.lower_expr(e.clauses[0])
            for c in e.clauses[1:]:
                out = self.alu(Ops.AND, dtypes.bool, out, self.lower_expr(c))
        else:
            raise LinearizeError(f"no lowering for symbolic {type(e).__name__}: {e}")
        self._expr_memo[e] = out
        return out

    # ---- kernel AST nodes -> UOps ---------------------------------------------------------------------

    def axis_exprs(self, shape: tuple[int, ...], lanes: dict[str, int]) -> list[Expr]:
        """The index of each kernel axis for a view of `shape` (the full shape below a REDUCE, the
        output shape above it, where the reduced axes are 0), with unrolled lanes as numbers."""
        k = self.kernel
        values = {**self.loop_values, **{name: Num(v) for name, v in lanes.items()}}
        if shape == k.full_shape:
            return [self.plan.axis_expr(a, values) for a in range(len(shape))]
        if shape == k.output_shape:
            return [Num(0) if a in k.reduce_axes else self.plan.axis_expr(a, values) for a in range(len(shape))]
        raise LinearizeError(f"kernel {k.name}: a view of shape {shape} is neither the loop shape {k.full_shape} "
                             f"nor the output shape {k.output_shape} (run shrimpgrad.schedule.verify on it)")

    def lower_tree(self, root: KNode, lanes: dict[str, int]) -> Iterator[str]:
        """Lower `root` and the nodes under it (not below a REDUCE: those live in the reduce loop),
        children first, yielding a line per node; the result is `self.value(root, lanes)`."""
        lane_key = _key(lanes)
        order: list[KNode] = []
        seen: set[int] = set()  # by id: `node in order` would compare whole subtrees, recursing as deep as the AST
        stack: list[tuple[KNode, bool]] = [(root, False)]
        while stack:  # post-order walk, stopping at REDUCEs
            node, expanded = stack.pop()
            if (node, lane_key) in self._value_memo:  # lowered already (or an equal node was): CSE, merge origins
                self.add_origins(self._value_memo[(node, lane_key)], node.origins)
                continue
            if not expanded and id(node) in seen:
                continue
            if expanded or node.op is KOps.REDUCE:
                seen.add(id(node))
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((s, False) for s in reversed(node.src))
        for node in order:
            if (node, lane_key) not in self._value_memo:
                # A source folded to a constant is a number inside this node's line: the line stands for it too.
                folded = [self.folded.get((s, lane_key), ()) for s in node.src]
                self._note, self.origins = "", merge_origins(node.origins, *folded)
                u = self._value_memo[(node, lane_key)] = self._lower_value(node, lanes)
                if u.op is UOps.CONST and node.op is not KOps.CONST:  # folded (constant operands, a load never made)
                    self.folded[(node, lane_key)] = self.origins
                yield f"{_describe(node)}{_lanes_text(lanes)} -> {u.op.name}{self._note}"

    def value(self, node: KNode, lanes: dict[str, int]) -> UOp:
        """The UOp of a node already lowered by `lower_tree`."""
        return self._value_memo[(node, _key(lanes))]

    def _lower_value(self, node: KNode, lanes: dict[str, int]) -> UOp:
        if node.op is KOps.LOAD:
            buf_index, st = node.arg
            index, valid = index_and_valid(st, self.axis_exprs(st.shape, lanes), self.log)
            self._note = f" (index {index}; valid {valid})"
            buf = self.bufs[buf_index]
            if valid == Num(0):
                return self.const(0, node.dtype)  # a load that never happens reads 0
            if valid == Num(1):
                return self.uop(UOps.LOAD, node.dtype, (buf, self.lower_expr(index)))
            return self.uop(UOps.LOAD, node.dtype, (buf, self.lower_expr(index), self.lower_expr(valid),
                                                    self.const(0, node.dtype)))
        if node.op is KOps.CONST:
            value, st = node.arg
            _, valid = index_and_valid(st, self.axis_exprs(st.shape, lanes), self.log)
            self._note = f" (valid {valid})"
            if valid in (Num(0), Num(1)):
                return self.const(value if valid == Num(1) else 0, node.dtype)
            return self.alu(Ops.WHERE, node.dtype, self.lower_expr(valid), self.const(value, node.dtype),
                            self.const(0, node.dtype))
        if node.op is KOps.ALU:
            src = [self.value(s, lanes) for s in node.src]
            if node.arg is Ops.CAST:
                return self.uop(UOps.CAST, node.dtype, (src[0],))
            return keep_reads_distinct(self, node.arg, node.dtype, src)
        if node.op is KOps.REDUCE:
            return self.finals[(node, output_lane_key(self.plan, lanes))]
        raise LinearizeError(f"kernel {self.kernel.name}: can't lower {node.op!r} as a value")


def fold_constant_alu(L: Lowering, op: Ops, dtype: DType, src: Sequence[UOp]) -> UOp | None:
    """An ALU of constants is computed now, with stage 01's own numpy semantics: `0.0 * 2.0 -> 0.0`
    (this happens when a lane's load is always masked off and became the constant 0)."""
    if not all(s.op is UOps.CONST for s in src):
        return None
    with np.errstate(all="ignore"):
        value = apply_alu(op, dtype, [np.array(s.arg, dtype=s.dtype.np) for s in src])
    return L.const(value.item(), dtype)


def keep_reads_distinct(L: Lowering, op: Ops, dtype: DType, src: list[UOp]) -> UOp:
    """An ALU after the reduce loops. Updates inside the loop are `x op acc`; a read of the final
    value written the same way would be merged with the update by CSE, so ADD/MAX with the
    accumulator second are commuted (both ops are commutative, bit for bit)."""
    if op in (Ops.ADD, Ops.MAX) and src[1].op is UOps.DEFINE_ACC and src[0].op is not UOps.DEFINE_ACC:
        src = [src[1], src[0]]
    return L.alu(op, dtype, *src)


def lane_envs(loops) -> list[dict[str, int]]:
    """Every combination of lane numbers of these unrolled parts, first part slowest."""
    return [dict(zip([p.name for p in loops], values)) for values in itertools.product(*(range(p.size) for p in loops))]


def output_lane_key(plan: LoopPlan, lanes: dict[str, int]) -> tuple:
    return tuple((p.name, lanes[p.name]) for p in plan.lanes(Role.UPCAST))


def reduce_identity(op: Ops, dtype: DType):
    """The accumulator's start: 0 for ADD; for MAX the lowest value (-inf, the int minimum, False)."""
    if op is Ops.ADD or dtype.is_bool:
        return cast_scalar(0, dtype)
    return -math.inf if dtype.is_float else int(np.iinfo(dtype.np).min)


# ---- the passes -------------------------------------------------------------------------------------

def plan_loops(L: Lowering) -> Iterator[str]:
    """Check the kernel, apply the optimizations, and pick the index dtype (int32 unless a buffer or
    the loop nest has more than 2**31 - 1 elements)."""
    verify_kernel(L.kernel)
    L.plan = apply_opts(L.kernel, L.opts)
    biggest = max([b.size for b in L.kernel.bufs] + [math.prod(L.kernel.full_shape)])
    L.index_dtype = dtypes.int64 if biggest > INT32_MAX else dtypes.int32
    yield f"loops {L.plan.describe()}"


def define_buffers(L: Lowering) -> Iterator[str]:
    """DEFINE_GLOBAL i for kernel.bufs[i], named data<i>, with its element count; outputs first."""
    for i, b in enumerate(L.kernel.bufs):
        L.bufs.append(L.uop(UOps.DEFINE_GLOBAL, b.dtype, (), (i, f"data{i}", i < L.kernel.n_outputs, b.size)))
    yield f"{len(L.bufs)} buffers"


def open_loops(L: Lowering) -> Iterator[str]:
    """A RANGE per loop, outermost first. On a GPU the GLOBAL and LOCAL loops become SPECIAL indices
    (at most 3 of each, like CUDA's x, y, z; extra loops are folded into one index and recovered with
    // and %), and global_size / local_size give the launch dimensions. GROUP lanes are threads too on
    a GPU (the innermost lidx): each thread sums its share of the reduce loop."""
    plan, idt = L.plan, L.index_dtype
    parallel = plan.ordered((Role.GLOBAL,)) + plan.ordered((Role.LOCAL,))
    if L.gpu:
        L.global_size = _specials(L, plan.ordered((Role.GLOBAL,)), "gidx", GRID_LIMITS)
        L.local_size = _specials(L, plan.ordered((Role.LOCAL,)) + plan.ordered((Role.GROUP,)), "lidx", BLOCK_LIMITS)
        if math.prod(L.local_size) > BLOCK_THREADS:
            raise LinearizeError(f"kernel {L.kernel.name}: {math.prod(L.local_size)} threads per block (LOCAL x GROUP "
                                 f"amounts) exceed the GPU's {BLOCK_THREADS}; use smaller amounts")
        serial = plan.ordered((Role.REDUCE,))
    else:
        serial = parallel + plan.ordered((Role.REDUCE,))
    kinds = {Role.GLOBAL: LoopKind.GLOBAL, Role.LOCAL: LoopKind.LOCAL, Role.REDUCE: LoopKind.REDUCE}
    for loop in serial:
        rng = UOp(UOps.RANGE, idt, (L.const(0, idt), L.const(loop.size, idt)), (loop.name, kinds[loop.role]))
        L.ranges.append(rng)  # before interning it: `_placement` finds a RANGE's block by its place in L.ranges
        L.uop(rng.op, rng.dtype, rng.src, rng.arg)
        if loop.role is not Role.REDUCE:
            L.acc_block = len(L.ranges)
        L.loop_values[loop.name] = loop.var
        L.var_uops[loop.name] = rng
    yield "loops: " + (" ".join(f"{loop.name}:{loop.size}" for loop in serial) or "none")


def _specials(L: Lowering, loops, prefix: str, limits: tuple[int, ...]) -> tuple[int, int, int]:
    """Map loops (outer to inner) onto up to 3 SPECIAL indices, the innermost loop on x (index 0)."""
    inner_first = loops[::-1]
    dims = [[p] for p in inner_first[:2]] + ([inner_first[2:][::-1]] if len(inner_first) > 2 else [])
    while over := [d for d in range(1, len(dims)) if math.prod(p.size for p in dims[d]) > limits[d]]:
        d = over[0]  # too big for y/z: fold into the next dimension in
        dims[d - 1] = dims[d] + dims[d - 1]
        del dims[d]
    sizes = [math.prod(p.size for p in dim) for dim in dims]
    if sizes and sizes[0] > limits[0]:
        raise LinearizeError(f"kernel {L.kernel.name}: {sizes[0]} {prefix} positions exceed the GPU limit {limits[0]}")
    for d, (dim, size) in enumerate(zip(dims, sizes)):
        name = f"{prefix}{d}"
        L.var_uops[name] = L.uop(UOps.SPECIAL, L.index_dtype, (), (name, size))
        coords = unravel(Var(name, 0, size - 1), tuple(p.size for p in dim))
        for p, c in zip(dim, coords):
            L.loop_values[p.name] = simplify(c, L.log)
    return tuple(sizes + [1] * (3 - len(sizes)))


def lower_reduces(L: Lowering) -> Iterator[str]:
    """Accumulators and their updates. For each REDUCE, output lane and GROUP lane: one DEFINE_ACC set to
    the identity before the reduce loops; in the innermost loop `acc = x_k op (... op (x_0 op acc))` over
    the UNROLL lanes k, in order; after the loops, the GROUP partials combined into the final value."""
    plan = L.plan
    reduces = list(dict.fromkeys(n for n in L.kernel.ast.toposort() if n.op is KOps.REDUCE))
    out_lanes = lane_envs(plan.lanes(Role.UPCAST))
    group_lanes = [{}] if L.gpu else lane_envs(plan.lanes(Role.GROUP))  # on a GPU they are threads
    unroll_lanes = lane_envs(plan.lanes(Role.UNROLL))
    accs: dict[tuple, UOp] = {}
    for r in reduces:
        L.origins = r.origins
        for o in out_lanes:
            for g in group_lanes:
                init = L.const(reduce_identity(r.arg[0], r.dtype), r.dtype)
                accs[(r, _key(o), _key(g))] = L.uop(UOps.DEFINE_ACC, r.dtype, (init,), len(accs))
    if reduces:
        yield f"{len(accs)} accumulators"
    for r in reduces:
        op = r.arg[0]
        for o in out_lanes:
            for g in group_lanes:
                acc = accs[(r, _key(o), _key(g))]
                value = acc
                for u in unroll_lanes:
                    lanes = {**o, **g, **u}
                    yield from L.lower_tree(r.src[0], lanes)
                    x = L.value(r.src[0], lanes)
                    L.origins = r.origins  # the update is the REDUCE's (lower_tree left its input's origins)
                    value = L.uop(UOps.ALU, r.dtype, (x, value), op, update=True)
                L.uop(UOps.ASSIGN, None, (acc, value), update=True)
                yield f"REDUCE {op.name} into acc{acc.arg}" + _lanes_text({**o, **g})
            final = accs[(r, _key(o), _key(group_lanes[0]))]
            for g in group_lanes[1:]:  # combine the partial accumulators, after the loop
                final = L.uop(UOps.ALU, r.dtype, (accs[(r, _key(o), _key(g))], final), op)
            L.finals[(r, output_lane_key(plan, o))] = final
            if len(group_lanes) > 1:
                yield f"combine {len(group_lanes)} GROUP partials of {op.name}" + _lanes_text(o)
    if L.gpu and plan.lanes(Role.GROUP) and reduces:
        yield from combine_in_shared_memory(L, reduces, out_lanes)


def group_thread(L: Lowering, roles: tuple[Role, ...] = (Role.GROUP,)) -> Expr:
    """On a GPU: the number of this thread among the GROUP threads of its block, 0..G-1 (the mixed
    radix of the GROUP parts, each already an expression of the lidx SPECIALs); with
    roles=(LOCAL, GROUP), its number among all the block's threads."""
    gid: Expr = Num(0)
    for p in L.plan.ordered(roles):
        gid = sum_of([gid * p.size, L.loop_values[p.name]])
    return simplify(gid, L.log)


def combine_in_shared_memory(L: Lowering, reduces: list[KNode], out_lanes: list[dict[str, int]]) -> Iterator[str]:
    """GROUP on a GPU: G threads of a block each hold one partial accumulator (thread j summed the
    elements j, j+G, j+2G, ... exactly like GROUP lane j on a CPU). Each thread writes its partial
    into a shared array `temp[t]` (t: its number in the block, `l*G + j` for LOCAL thread l), the
    block waits at a BARRIER, and every thread then folds temp[l*G + 1 .. l*G + G-1] into
    temp[l*G] in the CPU's order, so the result is bit-identical to the CPU's GROUP. Only thread
    j = 0 of each group stores it (lower_stores gates the stores)."""
    group = math.prod(p.size for p in L.plan.lanes(Role.GROUP))
    size = group * math.prod(p.size for p in L.plan.ordered((Role.LOCAL,)))
    first = group_thread(L, (Role.LOCAL, Role.GROUP)) - group_thread(L)  # l*G: the group's first slot
    gid = L.lower_expr(group_thread(L, (Role.LOCAL, Role.GROUP)))
    temps, stores = {}, []
    for r in reduces:
        L.origins = r.origins
        for o in out_lanes:
            key = (r, output_lane_key(L.plan, o))
            temp = L.uop(UOps.DEFINE_LOCAL, r.dtype, (), (f"temp{len(temps)}", size))
            temps[key] = temp
            stores.append(L.uop(UOps.STORE, None, (temp, gid, L.finals[key])))
    barrier = L.uop(UOps.BARRIER, None, tuple(stores))
    yield f"{len(temps)} shared arrays of {size} partials, one BARRIER"
    for (r, lane), temp in temps.items():
        L.origins = r.origins
        slot = [L.lower_expr(simplify(sum_of([first, Num(j)]), L.log)) for j in range(group)]
        final = L.uop(UOps.LOAD, r.dtype, (temp, slot[0], barrier))
        for j in range(1, group):
            final = L.uop(UOps.ALU, r.dtype, (L.uop(UOps.LOAD, r.dtype, (temp, slot[j], barrier)), final), r.arg[0])
        L.finals[(r, lane)] = final
        yield f"combine {group} GROUP partials of {r.arg[0].name} from shared memory"


def lower_stores(L: Lowering) -> Iterator[str]:
    """Each STORE, per output lane: the value (a REDUCE reads its accumulator), then STORE(buf, index,
    value), gated by the store view's valid when it has a mask."""
    # A kernel built without per-node origins (by hand, with only the kernel-wide `meta` list) names that on its STOREs.
    kernel_meta = "; ".join(L.kernel.meta) or None
    # a GPU GROUP reduction: every thread of the group has the final value, thread 0 stores it
    first_thread = group_thread(L).lt(1) if L.gpu and L.plan.lanes(Role.GROUP) else None
    for store in L.kernel.ast.src:
        buf_index, st = store.arg
        buf = L.bufs[buf_index]
        for o in lane_envs(L.plan.lanes(Role.UPCAST)):
            yield from L.lower_tree(store.src[0], o)
            value = L.value(store.src[0], o)
            L.origins = store.origins  # its index and the STORE itself: the root node's (an ASSIGN, the value op)
            if value.dtype != buf.dtype:
                raise LinearizeError(f"kernel {L.kernel.name}: STORE of a {value.dtype!r} value into buffer "
                                     f"{buf_index} of {buf.dtype!r}; cast it in the kernel")
            index, valid = index_and_valid(st, L.axis_exprs(st.shape, o), L.log)
            if first_thread is not None:
                valid = simplify(all_of([valid, first_thread]), L.log)
            if valid == Num(0):
                continue  # a store that never happens
            src = (buf, L.lower_expr(index), value) + (() if valid == Num(1) else (L.lower_expr(valid),))
            L.uop(UOps.STORE, None, src, None, None if store.origins else kernel_meta)
            yield f"STORE data{buf_index}" + _lanes_text(o)


def place_uops(L: Lowering) -> Iterator[str]:
    """Order the UOps: each block (the code inside one loop) holds the UOps placed in it, in creation
    order, then the next loop's RANGE ... END, then the UOps that run after that loop. UOps whose value
    nobody uses are dropped (constant folding can leave some behind, e.g. the 1.0 of `1.0 * 0.0`)."""
    L.program = Program(L.kernel.name, tuple(drop_unused(placed(L))), L.global_size, L.local_size,
                        tuple(str(o) for o in L.plan.applied))
    verify(L.program)
    yield f"{len(L.program.uops)} uops"


def placed(L: Lowering) -> list[UOp]:
    """The UOps made so far in program order (a valid program even halfway through lowering)."""
    by_place: dict[tuple[int, int], list[UOp]] = defaultdict(list)
    for u in L.created:
        if u.op is not UOps.RANGE:
            by_place[L.place[u]].append(u)
    out: list[UOp] = []
    for b in range(len(L.ranges) + 1):  # open blocks 0..n
        out.extend(by_place[(b, 0)])
        if b < len(L.ranges):
            out.append(L.ranges[b])
    for b in range(len(L.ranges), -1, -1):  # close them, innermost first
        if b < len(L.ranges):
            out.append(UOp(UOps.END, None, (L.ranges[b],)))
        out.extend(by_place[(b, 1)])
    return out


# Structure, not computation: no user line to name (a CONST is printed inline where it is used).
_NO_ORIGINS = frozenset({UOps.DEFINE_GLOBAL, UOps.DEFINE_LOCAL, UOps.CONST, UOps.SPECIAL, UOps.RANGE, UOps.END})

# UOps kept for what they do, not for a value: everything else must be used by a kept UOp to stay.
_EFFECTS = frozenset({UOps.DEFINE_GLOBAL, UOps.RANGE, UOps.END, UOps.STORE, UOps.ASSIGN, UOps.IF, UOps.ENDIF,
                      UOps.BARRIER})


def drop_unused(uops: list[UOp]) -> list[UOp]:
    """Dead-code elimination: walk backwards, keeping effects and whatever a kept UOp reads."""
    used: set[UOp] = set()
    kept: list[UOp] = []
    for u in reversed(uops):
        if u.op in _EFFECTS or u in used:
            kept.append(u)
            used.update(u.src)
    return kept[::-1]


PASSES = (plan_loops, define_buffers, open_loops, lower_reduces, lower_stores, place_uops)


def lowering_steps(kernel: Kernel, opts: Sequence[Opt] = (), gpu: bool = False) -> Iterator[tuple[str, Lowering]]:
    """Run the passes, yielding `("pass: what just happened", state)` after every step."""
    L = Lowering(kernel, tuple(opts), gpu)
    for p in PASSES:
        for what in p(L):
            yield f"{p.__name__}: {what}", L


def linearize(kernel: Kernel, opts: Sequence[Opt] = (), gpu: bool = False) -> Program:
    """Lower one kernel to a Program. gpu=False: every loop is a RANGE (GLOBAL loops first); gpu=True:
    GLOBAL/LOCAL loops are SPECIAL gidx/lidx indices and the Program carries global_size/local_size."""
    return lower(kernel, opts, gpu).program


def lower(kernel: Kernel, opts: Sequence[Opt] = (), gpu: bool = False) -> Lowering:
    """Like `linearize`, but returns the whole lowering state (the plan, the rules that fired, ...)."""
    state = None
    for _, state in lowering_steps(kernel, opts, gpu):  # noqa: B007 - we want the state after the last step
        pass
    return state


def _key(lanes: dict[str, int]) -> tuple:
    """A lane assignment as a dict key (sorted, so {up0: 1, gr0: 0} and {gr0: 0, up0: 1} are one key)."""
    return tuple(sorted(lanes.items()))


def _describe(node: KNode) -> str:
    """A kernel AST node in a few words, for the step-through lines (`LOAD data1 -> LOAD`)."""
    if node.op is KOps.LOAD:
        return f"LOAD data{node.arg[0]}"
    if node.op is KOps.CONST:
        return f"CONST {node.arg[0]!r}"
    if node.op is KOps.ALU:
        return f"ALU {node.arg.name}"
    return f"{node.op.name} {node.arg[0].name}"


def _lanes_text(lanes: dict[str, int]) -> str:
    return f" [{', '.join(f'{k}={v}' for k, v in lanes.items())}]" if lanes else ""
