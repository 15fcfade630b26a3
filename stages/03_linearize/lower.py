"""Lowering: one Kernel (plus optimizations) -> a flat `Program` of UOps, as a list of named passes.

    PASSES = plan_loops, define_buffers, open_loops, lower_reduces, stash_row_values, lower_stores,
             place_uops

1. plan_loops      apply the optimizations (opts.py): which loops exist and what each one is
2. define_buffers  one DEFINE_GLOBAL per kernel buffer: index i is `kernel.bufs[i]`
3. open_loops      one RANGE per loop; on a GPU, GLOBAL/LOCAL loops are SPECIAL indices instead
4. lower_reduces   per REDUCE (and output lane, and GROUP lane): a DEFINE_ACC set to the identity,
                   then the update `acc = x op acc` for the lowered input x (each UNROLL lane folds
                   in turn); after the loops, GROUP partials are combined (on a GPU the GROUP lanes
                   are threads of the block: see `combine_in_shared_memory`)
   stash_row_values STASH (an opt, CPU): a row kernel's sum loop also stores a value the STORE reads, which
                   the store loop then loads instead of computing it again (stash.py)
5. lower_stores    lower each STORE's value (a REDUCE is its accumulator) and store it
6. place_uops      order the UOps into the loop nest, each as early as its operands allow

`lower()` runs them in order, each a plain function of the `Lowering` record: a pass reads what the
passes before it filled in (the plan, the buffers, the loop nest, the accumulators' final values) and
fills in its own field. The passes 2-5 only *make* UOps, a DAG; where each one goes is decided once
the DAG is finished, by `place_uops`, from its operands alone.

Lowering an AST node: LOAD and CONST turn their view into (index, valid) expressions (index.py,
simplified by symbolic.py) and those into ALU UOps; a masked load is a *gated* load
`LOAD(buf, index, valid, 0)`, a load whose valid is always false is the constant 0, and an
always-true valid vanishes. ALU nodes become ALU (or CAST) UOps.

Every UOp is made through `UOpMaker.uop`, which interns it: a UOp equal to one already made *is*
that one (CSE), so each UOp appears once in the program. Placement (loop-invariant code motion): a
UOp lives in the innermost loop it depends on, right after that loop's RANGE, and a UOp that reads
an accumulator's final value goes after the reduce loops. Accumulator updates are the exception:
they run in the innermost loop, and the maker records which UOps they are (`UOpMaker.updates`).

The one subtlety: a DEFINE_ACC means "the value so far", so the update `x + acc` inside the loop and a
read `x + acc` after it are different values that would be the same UOp. The maker knows the updates,
so a read after the loop that comes out equal to one is a value of its own: it is written `acc + x`
(an update is always `x op acc`, and both reduce ops, ADD and MAX, are commutative bit for bit). The
IR has no other spelling for it: two equal UOps can't both be in one Program.

Provenance: while a node is lowered, `UOpMaker.origins` holds its `origins` and every UOp made for it
(its index arithmetic included) takes them; when CSE finds a UOp made for another node, the two nodes'
origins are merged into it, so a line of generated code names every user line it computes for. Loops,
buffers and constants (which are printed inline) carry none.

The step-through (steps.py) passes `trace`: each pass calls it with a line per step (an AST node lowered,
an accumulator updated, ...) and the record as it stands, so every step can be shown as a program.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from shrimpgrad.graph import DType, Ops, cast_scalar, dtypes, merge_origins, reduce_identity, toposort
from shrimpgrad.graph.evaluate import apply_alu
from shrimpgrad.schedule import Kernel, KNode, KOps
from shrimpgrad.schedule import verify as verify_kernel

from .expr import Add, And, Expr, FloorDiv, Ge, Lt, Mod, Mul, Num, Var, all_of, sum_of
from .index import index_and_valid, unravel
from .opts import Loop, LoopPlan, Opt, OptKind, apply_opts
from .stash import stash_candidates
from .symbolic import Rewrite, simplify
from .uops import LoopKind, Program, UOp, UOps, verify

INT32_MAX = 2**31 - 1
# CUDA's launch limits per dimension (x, y, z)
GRID_LIMITS = (2**31 - 1, 65535, 65535)
BLOCK_LIMITS = (1024, 1024, 64)
BLOCK_THREADS = 1024  # threads in one block, all dimensions together

Trace = Callable[[str, "Lowering"], None]  # (a line about the step just done, the record as it stands)


class LinearizeError(ValueError):
    """A kernel that can't be lowered (the message names the kernel and why)."""


# ---- making UOps ----------------------------------------------------------------------------------

class UOpMaker:
    """Makes the UOps of one kernel: interns each one (CSE), gives it the provenance of the AST node being
    lowered, and lowers index expressions. It only makes the DAG; `place_uops` orders it."""

    def __init__(self, kernel_name: str, index_dtype: DType):
        self.kernel_name = kernel_name
        self.index_dtype = index_dtype
        self.table: dict[UOp, UOp] = {}  # every UOp made so far, in the order made (a topological order)
        self.updates: set[UOp] = set()  # the accumulator updates (their ALUs and ASSIGNs): the innermost loop's
        self.variables: dict[str, UOp] = {}  # symbolic variable name -> its RANGE or SPECIAL (open_loops)
        self.origins: tuple = ()  # the provenance of the AST node being lowered: the UOps made now get it
        self.log: list[Rewrite] = []  # every simplification rule that fired
        self._exprs: dict[Expr, UOp] = {}

    @property
    def made(self) -> list[UOp]:
        return list(self.table)

    def uop(self, op: UOps, dtype: DType | None, src: tuple[UOp, ...] = (), arg=None, meta: str | None = None) -> UOp:
        """The interned UOp (CSE). A value equal to an accumulator update is a read after the loop (see the module
        docstring): it is written with the accumulator first."""
        u = UOp(op, dtype, src, arg, meta, () if op in _NO_ORIGINS else self.origins)
        if u in self.updates:  # only `x op acc` can be: the accumulator is its last operand, ADD/MAX commute
            return self.uop(op, dtype, src[::-1], arg, meta)
        return self._intern(u)

    def update(self, op: UOps, dtype: DType | None, src: tuple[UOp, ...], arg=None) -> UOp:
        """An accumulator update: `x op acc` or `ASSIGN(acc, value)`, run in the innermost loop."""
        u = self._intern(UOp(op, dtype, src, arg, None, self.origins))
        self.updates.add(u)
        return u

    def _intern(self, u: UOp) -> UOp:
        found = self.table.get(u)
        if found is not None:
            self.add_origins(found, u.origins)
            return found
        self.table[u] = u
        return u

    def add_origins(self, u: UOp, origins: tuple) -> None:
        """CSE merges provenance: `u` now also stands for a node with `origins`. The field is not part of
        equality or hashing, and the Program is not made yet, so extending it in place changes nothing else."""
        if origins and u.op not in _NO_ORIGINS and not set(origins) <= set(u.origins):
            object.__setattr__(u, "origins", merge_origins(u.origins, origins))

    def const(self, value, dtype: DType) -> UOp:
        value = cast_scalar(value, dtype)
        if dtype.is_float and value == 0 and math.copysign(1.0, value) < 0:
            # -0.0 == 0.0 in Python, so CONST(-0.0) would be merged with CONST(0.0): write it as NEG(0.0)
            return self.uop(UOps.ALU, dtype, (self.const(0.0, dtype),), Ops.NEG)
        return self.uop(UOps.CONST, dtype, (), value)

    def alu(self, op: Ops, dtype: DType, *src: UOp) -> UOp:
        """An ALU UOp; of constants, the constant it computes, with stage 01's own numpy semantics
        (`0.0 * 2.0 -> 0.0`: this happens when a lane's load is always masked off and became the constant 0)."""
        if all(s.op is UOps.CONST for s in src):
            with np.errstate(all="ignore"):
                value = apply_alu(op, dtype, [np.array(s.arg, dtype=s.dtype.value_np) for s in src])
            return self.const(value.item(), dtype)
        return self.uop(UOps.ALU, dtype, tuple(src), op)

    def lower_expr(self, e: Expr) -> UOp:
        """An index (index_dtype) or condition (bool) expression as ALU UOps; shared subexpressions
        are shared UOps."""
        if e in self._exprs:
            self.add_origins(self._exprs[e], self.origins)
            return self._exprs[e]
        idt, cond = self.index_dtype, isinstance(e, (Lt, Ge, And))
        if not cond and (e.vmin < np.iinfo(idt.np).min or e.vmax > np.iinfo(idt.np).max):
            raise LinearizeError(f"kernel {self.kernel_name}: index expression {e} ranges over [{e.vmin}, {e.vmax}], "
                                 f"beyond {idt.name}")
        if isinstance(e, Num):
            out = self.const(e.value, idt)
        elif isinstance(e, Var):
            out = self.variables[e.name]
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
        self._exprs[e] = out
        return out


# Structure, not computation: no user line to name (a CONST is printed inline where it is used).
_NO_ORIGINS = frozenset({UOps.DEFINE_GLOBAL, UOps.DEFINE_LOCAL, UOps.CONST, UOps.SPECIAL, UOps.RANGE, UOps.END})


# ---- what the passes make -------------------------------------------------------------------------

@dataclass(frozen=True)
class LoopNest:
    """What open_loops made. `ranges`: the RANGEs of the output loops, outermost first (RANGE i opens block
    i+1; block 0 is outside every loop; none on a GPU, where they are SPECIALs); the accumulators live in the
    innermost block, `acc_block`. Inside it run the `phases` one after another: each is a nest of RANGEs over
    the reduced axes (the plan's REDUCE loops), and `phase_values[p]` gives those loops' values in phase p. An
    ordinary reduce kernel has one phase (its reduce loop); a row kernel one per level of nested REDUCEs and,
    when it stores rows, a last one that stores (see `row_phases`). On a CPU that store phase loops over each
    reduced axis whole (`row_axes[phase]`: a plain loop, which the C compiler vectorizes), not over the plan's
    parts; with GROUP_SUMS so does every phase that doesn't only sum (`Lowering.grouped`).
    `loop_values`: the value of every other loop of the plan (its variable, or on a GPU an expression of the
    SPECIAL indices), and the launch dimensions."""

    ranges: tuple[UOp, ...] = ()
    acc_block: int = 0
    loop_values: Mapping[str, Expr] = field(default_factory=dict)
    global_size: tuple[int, ...] | None = None
    local_size: tuple[int, ...] | None = None
    phases: tuple[tuple[UOp, ...], ...] = ()
    phase_values: tuple[Mapping[str, Expr], ...] = ()
    # CPU phases over the whole row (the store; with GROUP_SUMS, a max): phase -> reduced axis -> its loop variable
    row_axes: Mapping[int, Mapping[int, Expr]] = field(default_factory=dict)


class RowPhases(NamedTuple):
    """Which loop over the reduced axes each REDUCE of a kernel runs in (`of[reduce]`), how many such loops
    there are, and the one that stores (None: the STOREs come after every loop, at the reduced shape).
    (A NamedTuple, like symbolic.Rewrite: see there.)

    A REDUCE runs after the REDUCEs inside its input (their values are read in its loop), so its phase is
    one more than theirs: softmax's max is phase 0, its sum of exp(x - max) phase 1, and its store, e / sum,
    the row store loop, phase 2. REDUCEs of one level share a loop (sum(x) and max(x) of one row)."""

    of: Mapping[KNode, int]
    count: int
    store: int | None

    @property
    def several(self) -> bool:
        """Is it a row kernel (stage 02's F5): more than one loop over each row?"""
        return self.count > 1


def row_phases(kernel: Kernel) -> RowPhases:
    """The phases of `kernel` (see RowPhases): a REDUCE's phase is the number of REDUCE levels inside it."""
    level: dict[KNode, int] = {}  # how many reduce loops must run before this node's value is known
    of: dict[KNode, int] = {}
    for n in kernel.ast.toposort():
        below = max((level[x] for x in n.src), default=0)
        if n.op is KOps.REDUCE:
            of[n] = below
            below += 1
        level[n] = below
    count = max(of.values(), default=-1) + 1
    store = count if kernel.stores_rows else None
    return RowPhases(of, count + (store is not None), store)


@dataclass
class Lowering:
    """One kernel's lowering: what goes in, then what each pass made, in pass order. A pass reads the fields
    above its own and fills its own; `lower` returns the record, so every intermediate result can be read."""

    kernel: Kernel
    opts: tuple[Opt, ...]
    gpu: bool
    trace: Trace | None = None
    plan: LoopPlan | None = None  # plan_loops
    make: UOpMaker | None = None  # plan_loops (it knows the index dtype); every pass makes UOps with it
    bufs: tuple[UOp, ...] = ()  # define_buffers: DEFINE_GLOBAL i for kernel.bufs[i]
    phases: RowPhases | None = None  # plan_loops: the loop each REDUCE runs in
    nest: LoopNest = field(default_factory=LoopNest)  # open_loops
    acc_phase: dict[UOp, int] = field(default_factory=dict)  # lower_reduces: DEFINE_ACC -> the phase updating it
    update_phase: dict[UOp, int] = field(default_factory=dict)  # lower_reduces: accumulator update -> its phase
    finals: dict[tuple, UOp] = field(default_factory=dict)  # lower_reduces: (REDUCE, output lane) -> final value
    values: dict[tuple, UOp] = field(default_factory=dict)  # lower_reduces/stores: (AST node, lanes) -> its UOp
    # lower_reduces/stores: (AST node, lanes) -> origins, for a value folded to a constant
    folded: dict[tuple, tuple] = field(default_factory=dict)
    program: Program | None = None  # place_uops

    @property
    def log(self) -> list[Rewrite]:
        """Every simplification rule that fired while lowering, as `Rewrite(rule, before, after)`."""
        return self.make.log if self.make is not None else []

    @property
    def index_dtype(self) -> DType:
        return self.make.index_dtype

    def grouped(self, phase: int) -> bool:
        """Does `phase` loop over the plan's REDUCE parts, with its GROUP and UNROLL lanes? Every reduce phase does,
        except with GROUP_SUMS (a CPU opt) a phase whose REDUCEs are not all sums: it loops over each reduced axis
        whole, one accumulator, as a CPU store phase does (a max loop vectorizes as it is, a sum doesn't)."""
        if phase == self.phases.store:
            return self.gpu
        if not self.plan.group_sums_only:
            return True
        return all(r.arg[0] is Ops.ADD for r, p in self.phases.of.items() if p == phase)

    def note(self, line: str) -> None:
        """Report a step to the step-through (steps.py), if one is watching."""
        if self.trace is not None:
            self.trace(line, self)


# ---- kernel AST nodes -> UOps ---------------------------------------------------------------------

def axis_exprs(L: Lowering, shape: tuple[int, ...], lanes: dict[str, int], phase: int | None = None) -> list[Expr]:
    """The index of each kernel axis for a view of `shape` (the full shape below a REDUCE, the
    output shape above it, where the reduced axes are 0), with unrolled lanes as numbers; the reduced axes
    run over the loops of `phase` (None: outside every phase, where only output-shaped views are read)."""
    k = L.kernel
    values = {**L.nest.loop_values, **(L.nest.phase_values[phase] if phase is not None else {}),
              **{name: Num(v) for name, v in lanes.items()}}
    if shape == k.full_shape:
        row_axes = L.nest.row_axes.get(phase, {}) if phase is not None else {}
        return [row_axes[a] if a in row_axes else L.plan.axis_expr(a, values) for a in range(len(shape))]
    if shape == k.output_shape:
        return [Num(0) if a in k.reduce_axes else L.plan.axis_expr(a, values) for a in range(len(shape))]
    raise LinearizeError(f"kernel {k.name}: a view of shape {shape} is neither the loop shape {k.full_shape} "
                         f"nor the output shape {k.output_shape} (run shrimpgrad.schedule.verify on it)")


def lower_tree(L: Lowering, root: KNode, lanes: dict[str, int], phase: int | None = None) -> UOp:
    """Lower `root` and the nodes under it (not below a REDUCE: those live in the reduce loop), children
    first, noting a line per node; returns the UOp of `root`. A node lowered before (or an equal one) is
    not lowered again (CSE): its UOp now also stands for this node's origins. `phase`: the loop over the
    reduced axes it runs in (a row kernel lowers one node once per phase reading it: other loop variables)."""
    key = (phase or None, _key(lanes))  # phase 0's loop variables are the nest's own (loop_values): one key
    done = L.values

    def sources(node: KNode):
        return () if node.op is KOps.REDUCE or (node, key) in done else node.src

    for node in toposort([root], sources):
        if (node, key) in done:
            L.make.add_origins(done[(node, key)], node.origins)
            continue
        # A source folded to a constant is a number inside this node's line: the line stands for it too.
        L.make.origins = merge_origins(node.origins, *[L.folded.get((s, key), ()) for s in node.src])
        u, found = lower_node(L, node, lanes, phase)
        done[(node, key)] = u
        if u.op is UOps.CONST and node.op is not KOps.CONST:  # folded (constant operands, a load never made)
            L.folded[(node, key)] = L.make.origins
        L.note(f"{_describe(node)}{_lanes_text(lanes)} -> {u.op.name}{found}")
    return done[(root, key)]


def lower_node(L: Lowering, node: KNode, lanes: dict[str, int], phase: int | None = None) -> tuple[UOp, str]:
    """One AST node (its sources lowered already) as a UOp, and what lowering it found (its index and valid,
    for the step-through)."""
    make, value = L.make, lambda n: L.values[(n, (phase or None, _key(lanes)))]
    if node.op is KOps.LOAD:
        buf_index, st = node.arg
        index, valid = index_and_valid(st, axis_exprs(L, st.shape, lanes, phase), make.log)
        found = f" (index {index}; valid {valid})"
        buf = L.bufs[buf_index]
        if valid == Num(0):
            return make.const(0, node.dtype), found  # a load that never happens reads 0
        if valid == Num(1):
            return make.uop(UOps.LOAD, node.dtype, (buf, make.lower_expr(index))), found
        return make.uop(UOps.LOAD, node.dtype, (buf, make.lower_expr(index), make.lower_expr(valid),
                                                make.const(0, node.dtype))), found
    if node.op is KOps.CONST:
        constant, st = node.arg
        _, valid = index_and_valid(st, axis_exprs(L, st.shape, lanes, phase), make.log)
        found = f" (valid {valid})"
        if valid in (Num(0), Num(1)):
            return make.const(constant if valid == Num(1) else 0, node.dtype), found
        return make.alu(Ops.WHERE, node.dtype, make.lower_expr(valid), make.const(constant, node.dtype),
                        make.const(0, node.dtype)), found
    if node.op is KOps.ALU:
        src = [value(s) for s in node.src]
        if node.arg is Ops.CAST:
            return make.uop(UOps.CAST, node.dtype, (src[0],)), ""
        return make.alu(node.arg, node.dtype, *src), ""
    if node.op is KOps.REDUCE:  # its final value: read after its loop, or along the row in a later phase's loop
        return L.finals[(node, output_lane_key(L.plan, lanes))], ""
    raise LinearizeError(f"kernel {L.kernel.name}: can't lower {node.op!r} as a value")


def lane_envs(loops) -> list[dict[str, int]]:
    """Every combination of lane numbers of these unrolled parts, first part slowest."""
    return [dict(zip([p.name for p in loops], values)) for values in itertools.product(*(range(p.size) for p in loops))]


def output_lane_key(plan: LoopPlan, lanes: dict[str, int]) -> tuple:
    return tuple((p.name, lanes[p.name]) for p in plan.lanes(LoopKind.UPCAST))


# ---- the passes -------------------------------------------------------------------------------------

def plan_loops(L: Lowering) -> None:
    """Check the kernel, apply the optimizations, and pick the index dtype (int32 unless a buffer or
    the loop nest has more than 2**31 - 1 elements)."""
    verify_kernel(L.kernel)
    L.plan = apply_opts(L.kernel, L.opts)
    if L.gpu and L.plan.group_sums_only:
        raise LinearizeError(f"kernel {L.kernel.name}: GROUP_SUMS is a CPU opt (its lanes are partial sums in "
                             f"registers); on a GPU GROUP's lanes are threads of a block: use GROUP")
    L.phases = row_phases(L.kernel)
    biggest = max([b.size for b in L.kernel.bufs] + [math.prod(L.kernel.full_shape)])
    L.make = UOpMaker(L.kernel.name, dtypes.int64 if biggest > INT32_MAX else dtypes.int32)
    L.note(f"loops {L.plan.describe()}")


def define_buffers(L: Lowering) -> None:
    """DEFINE_GLOBAL i for kernel.bufs[i], named data<i>, with its element count; outputs first."""
    L.bufs = tuple(L.make.uop(UOps.DEFINE_GLOBAL, b.dtype, (), (i, f"data{i}", i < L.kernel.n_outputs, b.size))
                   for i, b in enumerate(L.kernel.bufs))
    L.note(f"{len(L.bufs)} buffers")


def open_loops(L: Lowering) -> None:
    """A RANGE per loop, outermost first, named by the plan (the name the dumps and the C show). On a GPU the
    GLOBAL and LOCAL loops become SPECIAL indices (at most 3 of each, like CUDA's x, y, z; extra loops are
    folded into one index and recovered with // and %), and global_size / local_size give the launch
    dimensions. GROUP lanes are threads too on a GPU (the innermost lidx): each thread sums its share of
    the reduce loop."""
    plan, make, idt = L.plan, L.make, L.index_dtype
    loop_values: dict[str, Expr] = {}
    global_size = local_size = None
    parallel = plan.ordered((LoopKind.GLOBAL,)) + plan.ordered((LoopKind.LOCAL,))
    if L.gpu:
        global_size = _specials(L, plan.ordered((LoopKind.GLOBAL,)), "gidx", GRID_LIMITS, loop_values)
        local_size = _specials(L, plan.ordered((LoopKind.LOCAL,)) + plan.ordered((LoopKind.GROUP,)), "lidx",
                               BLOCK_LIMITS, loop_values)
        if math.prod(local_size) > BLOCK_THREADS:
            raise LinearizeError(f"kernel {L.kernel.name}: {math.prod(local_size)} threads per block (LOCAL x GROUP "
                                 f"amounts) exceed the GPU's {BLOCK_THREADS}; use smaller amounts")
        serial = []
    else:
        serial = parallel

    def open_range(loop, name: str, kind: LoopKind) -> UOp:
        rng = make.uop(UOps.RANGE, idt, (make.const(0, idt), make.const(loop.size, idt)), (name, kind))
        make.variables[name] = rng
        return rng

    ranges = [open_range(loop, loop.name, loop.kind) for loop in serial]
    loop_values.update({loop.name: loop.var for loop in serial})
    # the loops over the reduced axes, once per phase: phase 0 keeps the plan's names (ridx0), phase p > 0 adds
    # _p (ridx0_1); a row kernel's store phase is a ROW loop (it stores, it updates no accumulator). A phase that
    # isn't `grouped` (the CPU store; with GROUP_SUMS, a max) loops over each reduced axis whole: row<axis> for
    # the store, row<axis>_<phase> for a reduce
    phases, phase_values, row_axes = [], [], {}
    for p in range(L.phases.count):
        if not L.grouped(p):  # a plain loop per reduced axis, whole: the C compiler vectorizes it
            kind, suffix = (LoopKind.ROW, "") if p == L.phases.store else (LoopKind.REDUCE, f"_{p}")
            loops = [Loop(kind, a, L.kernel.full_shape[a], f"row{a}{suffix}") for a in L.kernel.reduce_axes
                     if L.kernel.full_shape[a] > 1]
            phases.append(tuple(open_range(loop, loop.name, loop.kind) for loop in loops))
            phase_values.append({})
            row_axes[p] = {a: Num(0) for a in L.kernel.reduce_axes} | {loop.axis: loop.var for loop in loops}
            continue
        kind = LoopKind.ROW if p == L.phases.store else LoopKind.REDUCE
        names = {loop.name: loop.name if p == 0 else f"{loop.name}_{p}" for loop in plan.ordered((LoopKind.REDUCE,))}
        phases.append(tuple(open_range(loop, names[loop.name], kind) for loop in plan.ordered((LoopKind.REDUCE,))))
        phase_values.append({loop.name: Var(names[loop.name], 0, loop.size - 1)
                             for loop in plan.ordered((LoopKind.REDUCE,))})
    if phase_values:  # phase 0's: what an ordinary reduce kernel's loops always were
        loop_values.update(phase_values[0])
    L.nest = LoopNest(tuple(ranges), len(ranges), loop_values, global_size, local_size, tuple(phases),
                      tuple(phase_values), row_axes)
    L.note("loops: " + (" ".join([f"{loop.name}:{loop.size}" for loop in serial] +
                                 [f"{r.arg[0]}:{r.src[1].arg}" for ph in phases for r in ph]) or "none"))


def _specials(L: Lowering, loops, prefix: str, limits: tuple[int, ...],
              loop_values: dict[str, Expr]) -> tuple[int, ...]:
    """Map loops (outer to inner) onto up to 3 SPECIAL indices, the innermost loop on x (index 0); set each
    loop's value (an expression of its SPECIAL) in `loop_values`; return the 3 launch dimensions."""
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
        L.make.variables[name] = L.make.uop(UOps.SPECIAL, L.index_dtype, (), (name, size))
        coords = unravel(Var(name, 0, size - 1), tuple(p.size for p in dim))
        for p, c in zip(dim, coords):
            loop_values[p.name] = simplify(c, L.log)
    return tuple(sizes + [1] * (3 - len(sizes)))


def lower_reduces(L: Lowering) -> None:
    """Accumulators and their updates. For each REDUCE, output lane and GROUP lane: one DEFINE_ACC set to
    the identity before the reduce loops; the update `acc = x_k op (... op (x_0 op acc))` over the UNROLL
    lanes k, in order (placed in the innermost loop of the REDUCE's phase); the GROUP partials combined into
    the final value. A row kernel's phases go in order: a phase's REDUCE inputs read the final values of the
    phases before it, so those are combined (on a GPU: through shared memory) before the next phase's loop."""
    plan, make = L.plan, L.make
    reduces = list(dict.fromkeys(n for n in L.kernel.ast.toposort() if n.op is KOps.REDUCE))
    out_lanes = lane_envs(plan.lanes(LoopKind.UPCAST))
    # on a GPU the GROUP lanes are threads; a phase over the whole row (not `grouped`) has no GROUP or UNROLL lanes
    group_lanes = {p: [{}] if L.gpu or not L.grouped(p) else lane_envs(plan.lanes(LoopKind.GROUP))
                   for p in range(L.phases.count)}
    unroll_lanes = {p: lane_envs(plan.lanes(LoopKind.UNROLL)) if L.grouped(p) else [{}]
                    for p in range(L.phases.count)}
    accs: dict[tuple, UOp] = {}
    for r in reduces:
        make.origins = r.origins
        for o in out_lanes:
            for g in group_lanes[L.phases.of[r]]:
                init = make.const(reduce_identity(r.arg[0], r.dtype), r.dtype)
                acc = accs[(r, _key(o), _key(g))] = make.uop(UOps.DEFINE_ACC, r.dtype, (init,), len(accs))
                L.acc_phase[acc] = L.phases.of[r]
    if reduces:
        L.note(f"{len(accs)} accumulators" + (f" in {L.phases.count} loops over the row"
                                              if L.phases.several else ""))
    for phase in range(L.phases.count):
        in_phase = [r for r in reduces if L.phases.of[r] == phase]
        for r in in_phase:
            op = r.arg[0]
            for o in out_lanes:
                for g in group_lanes[phase]:
                    acc = accs[(r, _key(o), _key(g))]
                    value = acc
                    for u in unroll_lanes[phase]:
                        x = lower_tree(L, r.src[0], {**o, **g, **u}, phase)
                        make.origins = r.origins  # the update is the REDUCE's (lower_tree left its input's origins)
                        value = make.update(UOps.ALU, r.dtype, (x, value), op)
                        L.update_phase[value] = phase
                    L.update_phase[make.update(UOps.ASSIGN, None, (acc, value))] = phase
                    L.note(f"REDUCE {op.name} into acc{acc.arg}" + _lanes_text({**o, **g}))
                final = accs[(r, _key(o), _key(group_lanes[phase][0]))]
                for g in group_lanes[phase][1:]:  # combine the partial accumulators, after the loop
                    final = make.uop(UOps.ALU, r.dtype, (accs[(r, _key(o), _key(g))], final), op)
                L.finals[(r, output_lane_key(plan, o))] = final
                if len(group_lanes[phase]) > 1:
                    L.note(f"combine {len(group_lanes[phase])} GROUP partials of {op.name}" + _lanes_text(o))
        if L.gpu and plan.lanes(LoopKind.GROUP) and in_phase:
            combine_in_shared_memory(L, in_phase, out_lanes)


def group_thread(L: Lowering, kinds: tuple[LoopKind, ...] = (LoopKind.GROUP,)) -> Expr:
    """On a GPU: the number of this thread among the GROUP threads of its block, 0..G-1 (the mixed
    radix of the GROUP parts, each already an expression of the lidx SPECIALs); with
    kinds=(LOCAL, GROUP), its number among all the block's threads."""
    gid: Expr = Num(0)
    for p in L.plan.ordered(kinds):
        gid = sum_of([gid * p.size, L.nest.loop_values[p.name]])
    return simplify(gid, L.log)


def combine_in_shared_memory(L: Lowering, reduces: list[KNode], out_lanes: list[dict[str, int]]) -> None:
    """GROUP on a GPU: G threads of a block each hold one partial accumulator (thread j summed the
    elements j, j+G, j+2G, ... exactly like GROUP lane j on a CPU). Each thread writes its partial
    into a shared array `temp[t]` (t: its number in the block, `l*G + j` for LOCAL thread l), the
    block waits at a BARRIER, and every thread then folds temp[l*G + 1 .. l*G + G-1] into
    temp[l*G] in the CPU's order, so the result is bit-identical to the CPU's GROUP. Only thread
    j = 0 of each group stores it (lower_stores gates the stores)."""
    make = L.make
    first_temp = sum(1 for u in make.table if u.op is UOps.DEFINE_LOCAL)  # a row kernel's earlier phases made some
    group = math.prod(p.size for p in L.plan.lanes(LoopKind.GROUP))
    size = group * math.prod(p.size for p in L.plan.ordered((LoopKind.LOCAL,)))
    first = group_thread(L, (LoopKind.LOCAL, LoopKind.GROUP)) - group_thread(L)  # l*G: the group's first slot
    gid = make.lower_expr(group_thread(L, (LoopKind.LOCAL, LoopKind.GROUP)))
    temps, stores = {}, []
    for r in reduces:
        make.origins = r.origins
        for o in out_lanes:
            key = (r, output_lane_key(L.plan, o))
            temp = make.uop(UOps.DEFINE_LOCAL, r.dtype, (), (f"temp{first_temp + len(temps)}", size))
            temps[key] = temp
            stores.append(make.uop(UOps.STORE, None, (temp, gid, L.finals[key])))
    barrier = make.uop(UOps.BARRIER, None, tuple(stores))
    L.note(f"{len(temps)} shared arrays of {size} partials, one BARRIER")
    for (r, lane), temp in temps.items():
        make.origins = r.origins
        slot = [make.lower_expr(simplify(sum_of([first, Num(j)]), L.log)) for j in range(group)]
        final = make.uop(UOps.LOAD, r.dtype, (temp, slot[0], barrier))
        for j in range(1, group):
            final = make.uop(UOps.ALU, r.dtype, (make.uop(UOps.LOAD, r.dtype, (temp, slot[j], barrier)), final),
                             r.arg[0])
        L.finals[(r, lane)] = final
        L.note(f"combine {group} GROUP partials of {r.arg[0].name} from shared memory")


def stash_row_values(L: Lowering) -> None:
    """STASH (when applied): the sum loop stores V into the output row, the store loop loads it back (stash.py's
    docstring), after lower_reduces."""
    if not any(o.kind is OptKind.STASH for o in L.plan.applied):
        return
    if L.gpu:
        raise LinearizeError(f"kernel {L.kernel.name}: STASH is a CPU opt (on a GPU the thread that stores an element "
                             f"in the sum loop need not be the one that loads it in the store loop)")
    plan, make = L.plan, L.make
    outputs = lane_envs(plan.lanes(LoopKind.UPCAST))  # the store loop runs once per output lane (lower_stores)
    for v, (store, phase) in stash_candidates(L.kernel, L.phases).items():
        buf_index, st = store.arg
        buf = L.bufs[buf_index]
        # the sum loop's lanes, as lower_reduces made them: GROUP x UNROLL lanes where the phase is `grouped`
        groups = lane_envs(plan.lanes(LoopKind.GROUP)) if L.grouped(phase) else [{}]
        unrolls = lane_envs(plan.lanes(LoopKind.UNROLL)) if L.grouped(phase) else [{}]
        sums = [{**o, **g, **u} for o in outputs for g in groups for u in unrolls]
        stored = [index_and_valid(st, axis_exprs(L, st.shape, e, phase), L.log) for e in sums]
        loaded = [index_and_valid(st, axis_exprs(L, st.shape, o, L.phases.store), L.log) for o in outputs]
        if any(valid != Num(1) for _, valid in stored + loaded):
            continue  # a masked store writes only part of the row: the store loop computes V itself
        for e, (index, _) in zip(sums, stored):
            value = lower_tree(L, v, e, phase)  # the sum's own UOp (CSE): it is made already
            make.origins = store.origins
            make.uop(UOps.STORE, None, (buf, make.lower_expr(index), value))
        make.origins = v.origins
        for o, (index, _) in zip(outputs, loaded):
            L.values[(v, (L.phases.store or None, _key(o)))] = make.uop(UOps.LOAD, v.dtype,
                                                                      (buf, make.lower_expr(index)))
        L.note(f"STASH: {len(sums)} stores of {v.arg.name} in loop {phase}, {len(outputs)} load(s) in the store loop")


def lower_stores(L: Lowering) -> None:
    """Each STORE, per output lane: the value (a REDUCE reads its accumulator), then STORE(buf, index,
    value), gated by the store view's valid when it has a mask. A row kernel that stores rows does it in its
    last phase, a loop over the row: on a CPU a plain loop over each reduced axis, per output lane; on a GPU
    the GROUP threads each store their own part of the row, as they each reduced it (per UNROLL lane too)."""
    make = L.make
    # A kernel built without per-node origins (by hand, with only the kernel-wide `meta` list) names that on its STOREs.
    kernel_meta = "; ".join(L.kernel.meta) or None
    phase = L.phases.store
    lanes = L.plan.lanes(LoopKind.UPCAST)
    if phase is not None and L.gpu:  # on a CPU the store loop runs over the whole row (open_loops' row_axes)
        lanes += L.plan.lanes(LoopKind.UNROLL)
    # a GPU GROUP reduction: every thread of the group has the final value, thread 0 stores it
    first_thread = group_thread(L).lt(1) if L.gpu and L.plan.lanes(LoopKind.GROUP) and phase is None else None
    for store in L.kernel.ast.src:
        buf_index, st = store.arg
        buf = L.bufs[buf_index]
        for o in lane_envs(lanes):
            value = lower_tree(L, store.src[0], o, phase)
            make.origins = store.origins  # its index and the STORE itself: the root node's (an ASSIGN, the value op)
            if value.dtype != buf.dtype:
                raise LinearizeError(f"kernel {L.kernel.name}: STORE of a {value.dtype!r} value into buffer "
                                     f"{buf_index} of {buf.dtype!r}; cast it in the kernel")
            index, valid = index_and_valid(st, axis_exprs(L, st.shape, o, phase), L.log)
            if first_thread is not None:
                valid = simplify(all_of([valid, first_thread]), L.log)
            if valid == Num(0):
                continue  # a store that never happens
            src = (buf, make.lower_expr(index), value) + (() if valid == Num(1) else (make.lower_expr(valid),))
            make.uop(UOps.STORE, None, src, None, None if store.origins else kernel_meta)
            L.note(f"STORE data{buf_index}" + _lanes_text(o))


def place_uops(L: Lowering) -> None:
    """Order the finished DAG into the loop nest (`placed`), drop the UOps whose value nobody uses (constant
    folding can leave some behind, e.g. the 1.0 of `1.0 * 0.0`), and check the Program."""
    nest = L.nest
    L.program = verify(Program(L.kernel.name, tuple(drop_unused(placed(L))), nest.global_size, nest.local_size,
                               tuple(str(o) for o in L.plan.applied)))
    L.note(f"{len(L.program.uops)} uops")


Place = tuple[int, int, int]  # (phase, depth, segment): see `placements`


def placements(L: Lowering) -> dict[UOp, Place]:
    """Where each UOp made so far goes, decided from its operands, as `(phase, depth, segment)`:

    * `(-1, b, 0)`: in output-loop block b, before the loop nested in it (block 0 is outside every loop, RANGE
      i opens block i+1; the innermost, `acc_block`, holds the accumulators);
    * `(-1, acc_block, s)`: in the innermost block, after the loops of phases 0..s-1 and before phase s's;
    * `(p, d, 0)`: inside the first d RANGEs of phase p (a loop over the reduced axes).

    A UOp goes in the innermost place any operand is in (loop-invariant code motion), and after the phase
    whose accumulator it reads; a DEFINE_ACC goes in the innermost block before every phase, an accumulator
    update in the innermost loop of its phase. An ordinary reduce kernel has one phase, so its UOps are
    before the reduce loop, in it, or after it."""
    nest, updates = L.nest, L.make.updates
    m = nest.acc_block
    outer = {r: i + 1 for i, r in enumerate(nest.ranges)}
    in_phase = {r: (p, d + 1) for p, ranges in enumerate(nest.phases) for d, r in enumerate(ranges)}
    place: dict[UOp, Place] = {}

    def fail(u: UOp, why: str):
        return LinearizeError(f"kernel {L.kernel.name}: {u!r} {why}")

    for u in L.make.made:  # in the order made: every operand is placed before its user
        if u.op is UOps.RANGE:
            place[u] = (-1, outer[u], 0) if u in outer else (*in_phase[u], 0)
        elif u.op is UOps.DEFINE_ACC:
            place[u] = (-1, m, 0)
        elif u in updates:  # the innermost loop of its phase (its block, if the phase has no loop left)
            p = L.update_phase[u]
            place[u] = (p, len(nest.phases[p]), 0) if nest.phases[p] else (-1, m, p)
        else:
            phase, depth, segment = -1, 0, 0
            for s in u.src:
                sp, sd, ss = place[s]
                if s.op is UOps.DEFINE_ACC:  # its final value: after its phase
                    segment = max(segment, L.acc_phase[s] + 1)
                elif sp == -1 and sd == m:
                    segment = max(segment, ss)
                if sp != -1 and phase != -1 and sp != phase:
                    raise fail(u, f"reads values of two loops over the row (phases {phase} and {sp})")
                if sp != -1 and phase == -1:
                    phase, depth = sp, sd
                elif sp == phase:
                    depth = max(depth, sd)
            if phase == -1 and depth < m and segment:
                raise fail(u, "reads an accumulator's final value outside the block of the accumulators")
            if phase != -1 and segment > phase:
                raise fail(u, "reads an accumulator's final value but also depends on a reduce loop")
            place[u] = (phase, depth, segment if phase == -1 else 0)
    return place


def placed(L: Lowering) -> list[UOp]:
    """The UOps made so far in program order: each block (the code inside one loop) holds the UOps placed
    in it, in the order made, then the next loop's RANGE ... END; the innermost output block holds its UOps
    segment by segment, with each phase's loops between two segments. A valid program even halfway through
    lowering (what the step-through shows)."""
    nest = L.nest
    by_place: dict[Place, list[UOp]] = defaultdict(list)
    for u, where in placements(L).items():
        if u.op is not UOps.RANGE:
            by_place[where].append(u)
    out: list[UOp] = []
    for b, rng in enumerate(nest.ranges):  # open the output loops
        out.extend(by_place[(-1, b, 0)])
        out.append(rng)
    for p, ranges in enumerate(nest.phases):
        out.extend(by_place[(-1, nest.acc_block, p)])
        for d, rng in enumerate(ranges):
            out.append(rng)
            out.extend(by_place[(p, d + 1, 0)])
        out.extend(UOp(UOps.END, None, (rng,)) for rng in reversed(ranges))
    out.extend(by_place[(-1, nest.acc_block, len(nest.phases))])
    out.extend(UOp(UOps.END, None, (rng,)) for rng in reversed(nest.ranges))  # close them, innermost first
    return out


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


PASSES: tuple[tuple[str, Callable[[Lowering], None]], ...] = (
    ("plan_loops", plan_loops),
    ("define_buffers", define_buffers),
    ("open_loops", open_loops),
    ("lower_reduces", lower_reduces),
    ("stash_row_values", stash_row_values),
    ("lower_stores", lower_stores),
    ("place_uops", place_uops),
)


def lower(kernel: Kernel, opts: Sequence[Opt] = (), gpu: bool = False, trace: Trace | None = None) -> Lowering:
    """Like `linearize`, but returns the whole record (the plan, the loop nest, the rules that fired, ...).
    `trace(line, record)` is called after every step of every pass, the line prefixed with the pass's name."""
    L = Lowering(kernel, tuple(opts), gpu)
    for name, run in PASSES:
        L.trace = None if trace is None else (lambda line, rec, name=name: trace(f"{name}: {line}", rec))
        run(L)
    L.trace = None
    return L


def linearize(kernel: Kernel, opts: Sequence[Opt] = (), gpu: bool = False) -> Program:
    """Lower one kernel to a Program. gpu=False: every loop is a RANGE (GLOBAL loops first); gpu=True:
    GLOBAL/LOCAL loops are SPECIAL gidx/lidx indices and the Program carries global_size/local_size."""
    return lower(kernel, opts, gpu).program


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
