"""Kernel optimizations: named, explicit transformations of a kernel's loops, applied before lowering.

A kernel's loops start as one loop per axis of its `full_shape` (size-1 axes need no loop):
output axes are GLOBAL loops, reduced axes REDUCE loops. An optimization never touches the
AST: it *splits* one axis's loop in two, `i = outer*amount + inner`, and gives the inner part a
new kind (a `LoopKind`, uops.py: one vocabulary for the plan's parts and the Program's RANGEs). A
`LoopPlan` records, for every kernel axis, its parts from outer to inner; the lowering turns each
part into a loop, a GPU index, or unrolled copies of the loop body.

    Opt kind  on an axis that is    the inner part becomes       effect
    UPCAST    GLOBAL (output)       UPCAST lanes                 each thread computes `amount` outputs:
                                                                 loads they share are done once, each
                                                                 lane has its own accumulator
    UPCAST    REDUCE                UNROLL lanes                 `amount` iterations of the reduce loop
                                                                 written out, one accumulator, same order
    LOCAL     GLOBAL                a LOCAL loop                 GPU: threads of a block (lidx); CPU: an
                                                                 inner loop inside the other GLOBAL loops
                                                                 (a cache tile: stage 04's rule 1e)
    GROUP     REDUCE                GROUP lanes                  `amount` partial accumulators, each summing
                                                                 every amount-th element, combined after
                                                                 the loop (breaks the serial dependency)
    GROUP_SUMS REDUCE               GROUP lanes, for the sum     a row kernel's GROUP (CPU only): only the
                                    phases only                  loops over the row that just sum get the
                                                                 lanes; its other loops (a max, the store)
                                                                 run over each reduced axis whole
    UPCAST_OVERLAP GLOBAL           UPCAST lanes, in tiles that  UPCAST by an amount that need not divide
                                    may overlap                  the axis: T equally spaced tiles of
                                                                 `amount` lanes cover it, the last one ending
                                                                 at its end (see `overlap_tiles`)
    STASH     REDUCE (the row's)    nothing: the loops stay      a row kernel's sum loop also stores each value
                                                                 it sums into the output row, and the store
                                                                 loop loads it back instead of computing it
                                                                 again (CPU only; amount 1; stash.py)

`Opt.axis` names an axis of the kernel's `full_shape`; the split takes the inner `amount` of
what is still the axis's GLOBAL/REDUCE loop, so opts on one axis compose: LOCAL(0, 16) then
UPCAST(0, 4) on a 256-long axis gives `i = (gidx*4 + up)*16 + lidx`.

GROUP_SUMS exists for row kernels (lower.py's phases: softmax's max loop, sum loop, store loop): a GROUP would
split all three, but only the sum needs it (a float sum is one serial chain the C compiler may not reorder; a max
loop and a store loop it vectorizes as they are, and 32 lanes of them are only longer code). On an ordinary reduce
kernel, one phase, it is GROUP when that phase sums and does nothing when it doesn't.

UPCAST_OVERLAP exists for vector-sized lanes along an axis whose size they don't divide (a conv's output row of 30:
two tiles of 16 lanes, at 0 and at 14, `ox = 14*gidx + up`, instead of 30 lanes that a vector unit splits 16+8+4+2).
Where two tiles overlap (ox 14 and 15) both compute the output and store the same value, so it is only for output
axes of kernels that read no buffer they write (a second store must not change what a later tile reads).

Results: every opt gives the same values, and bit-identical ones except where it reorders a
float reduction: GROUP always does (GROUP_SUMS in the phases it groups); UPCAST of a reduce axis does
when another reduce axis is inside it (its lanes then run after the inner axis's loop).

tinygrad: `Opt(OptOps.UPCAST | UNROLL | LOCAL | GROUP, axis, arg)` applied by `Kernel.apply_opt`
(`codegen/opt/kernel.py`), which reshapes every view with `shift_to`. We split loop variables
instead of views (the symbolic algebra does the rest). On a CPU our GROUP keeps the partial sums in
registers; on a GPU (`linearize(..., gpu=True)`) its lanes are threads of the block that combine
their partials through shared memory (DEFINE_LOCAL, BARRIER), as tinygrad's GROUP does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum, auto

from shrimpgrad.schedule import Kernel, KOps

from .expr import Expr, Num, Var, sum_of
from .uops import LoopKind

# lanes = copies of the loop body; beyond this the program gets too long to read or compile (a conv's window tile on
# the CPU, 16 x 3 x 8 = 384 lanes, compiles in 0.2 s)
MAX_LANES = 512
MAX_LOCAL = 1024  # threads in a CUDA block


class OptKind(Enum):
    UPCAST = auto()
    LOCAL = auto()
    GROUP = auto()
    GROUP_SUMS = auto()
    UPCAST_OVERLAP = auto()
    STASH = auto()

    def __repr__(self) -> str:
        return f"OptKind.{self.name}"


@dataclass(frozen=True)
class Opt:
    """Split axis `axis` of the kernel's full shape by `amount`; `kind` says what the inner part becomes."""

    kind: OptKind
    axis: int
    amount: int

    def __str__(self) -> str:
        return f"{self.kind.name}(axis={self.axis}, amount={self.amount})"


LANE_KINDS = frozenset({LoopKind.UPCAST, LoopKind.UNROLL, LoopKind.GROUP})  # unrolled: no loop at runtime
_PREFIX = {LoopKind.GLOBAL: "gidx", LoopKind.LOCAL: "lidx", LoopKind.REDUCE: "ridx", LoopKind.UPCAST: "up",
           LoopKind.UNROLL: "un", LoopKind.GROUP: "gr"}
_KIND_ORDER = (LoopKind.GLOBAL, LoopKind.LOCAL, LoopKind.REDUCE, LoopKind.UPCAST, LoopKind.UNROLL, LoopKind.GROUP)


@dataclass(frozen=True)
class Loop:
    """One part of a kernel axis: `size` values of kind `kind` (a loop, a GPU index or unrolled lanes); `name`
    names its variable, and the RANGE made for it carries the name."""

    kind: LoopKind
    axis: int
    size: int
    name: str = ""
    step: int = 0  # UPCAST_OVERLAP's lanes: the part outside them advances the axis by `step` (< size), not by size

    @property
    def var(self) -> Var:
        return Var(self.name, 0, self.size - 1)

    def __str__(self) -> str:
        return f"{self.name}:{self.size}"


class OptError(ValueError):
    """An optimization that can't be applied to this kernel (the message says why and what would work)."""


@dataclass(frozen=True)
class LoopPlan:
    """The loops of one kernel after its optimizations: `parts[axis]` lists that axis's loops, outer
    to inner, so `axis index = mixed radix of its parts' variables`. `applied` lists the opts."""

    kernel: Kernel
    parts: tuple[tuple[Loop, ...], ...]
    applied: tuple[Opt, ...] = ()

    @staticmethod
    def start(kernel: Kernel) -> LoopPlan:
        """One loop per axis of size > 1: GLOBAL for output axes, REDUCE for reduced ones."""
        reduce_axes = set(kernel.reduce_axes)
        parts = tuple((Loop(LoopKind.REDUCE if a in reduce_axes else LoopKind.GLOBAL, a, s),) if s > 1 else ()
                      for a, s in enumerate(kernel.full_shape))
        return LoopPlan(kernel, parts).named()

    def named(self) -> LoopPlan:
        """Name every loop by kind. GLOBAL and LOCAL loops are numbered from the innermost, like a GPU's
        x, y, z (gidx0 is the fastest-moving output axis); REDUCE loops and lanes from the outermost."""
        renamed = {}
        for kind in _KIND_ORDER:
            loops = self.ordered((kind,))
            if kind in (LoopKind.GLOBAL, LoopKind.LOCAL):
                loops = loops[::-1]
            for n, loop in enumerate(loops):
                renamed[id(loop)] = replace(loop, name=f"{_PREFIX[kind]}{n}")
        return replace(self, parts=tuple(tuple(renamed[id(p)] for p in ps) for ps in self.parts))

    def ordered(self, kinds: Sequence[LoopKind] = _KIND_ORDER) -> list[Loop]:
        """The loops of the given kinds in program order: by kind (GLOBAL, LOCAL, REDUCE, lanes), then
        by axis, then outer part first."""
        return [p for kind in kinds for ps in self.parts for p in ps if p.kind is kind]

    @property
    def loops(self) -> list[Loop]:
        """The parts that run as loops (or GPU indices), outermost first."""
        return self.ordered((LoopKind.GLOBAL, LoopKind.LOCAL, LoopKind.REDUCE))

    def lanes(self, *kinds: LoopKind) -> list[Loop]:
        return self.ordered(kinds)

    def axis_expr(self, axis: int, values: dict[str, Expr]) -> Expr:
        """The kernel axis index as the mixed radix of its parts, `((p0*s1 + p1)*s2 + p2)`, with each
        part's value taken from `values` (a loop variable, or a lane number)."""
        parts = self.parts[axis]
        if not parts:
            return Num(0)  # a size-1 axis
        expr = values[parts[0].name]
        for p in parts[1:]:
            expr = sum_of([expr * (p.step or p.size), values[p.name]])
        return expr

    @property
    def group_sums_only(self) -> bool:
        """Do the GROUP lanes split only the phases that sum (GROUP_SUMS), not every reduce loop (GROUP)?"""
        return any(o.kind is OptKind.GROUP_SUMS for o in self.applied)

    def describe(self) -> str:
        """One line: `gidx0:4 lidx0:16 ridx0:32 up0:4` and the opts that made it."""
        loops = " ".join(str(p) for p in self.ordered())
        opts = ", ".join(str(o) for o in self.applied) or "no opts"
        return f"{loops or '(no loops)'}  [{opts}]"


# ---- the optimizations ----------------------------------------------------------------------------

def _split(plan: LoopPlan, opt: Opt, from_kinds: tuple[LoopKind, ...],
           to_kind: Callable[[LoopKind], LoopKind]) -> LoopPlan:
    """Split the outermost (GLOBAL/REDUCE) part of `opt.axis`: `outer*amount + inner`, inner -> `to_kind`."""
    k = plan.kernel
    if not 0 <= opt.axis < len(k.full_shape):
        raise OptError(f"{opt} on kernel {k.name}: axis {opt.axis} is out of range for loops {k.full_shape}")
    if opt.amount < 2:
        raise OptError(f"{opt} on kernel {k.name}: the amount must be at least 2")
    parts = plan.parts[opt.axis]
    if not parts or parts[0].kind not in (LoopKind.GLOBAL, LoopKind.REDUCE):
        raise OptError(f"{opt} on kernel {k.name}: axis {opt.axis} has no loop left to split "
                       f"(its parts are {[str(p) for p in parts] or 'none: size 1'})")
    outer = parts[0]
    if outer.kind not in from_kinds:
        what = "an output (GLOBAL)" if outer.kind is LoopKind.GLOBAL else "a reduce"
        allowed = " or ".join(r.name for r in from_kinds)
        raise OptError(f"{opt} on kernel {k.name}: axis {opt.axis} is {what} axis; {opt.kind.name} applies to "
                       f"{allowed} axes (reduce axes: {k.reduce_axes})")
    if outer.size % opt.amount:
        divisors = [d for d in range(2, outer.size + 1) if outer.size % d == 0]
        raise OptError(f"{opt} on kernel {k.name}: the loop left on axis {opt.axis} has size {outer.size}, which "
                       f"{opt.amount} does not divide; try one of {divisors}")
    inner = Loop(to_kind(outer.kind), opt.axis, opt.amount)
    rest = outer.size // opt.amount
    new_parts = ((replace(outer, size=rest),) if rest > 1 else ()) + (inner,) + parts[1:]
    new = replace(plan, parts=plan.parts[:opt.axis] + (new_parts,) + plan.parts[opt.axis + 1:],
                  applied=plan.applied + (opt,)).named()
    lanes = math.prod(p.size for p in new.ordered(tuple(LANE_KINDS)))
    if lanes > MAX_LANES:
        raise OptError(f"{opt} on kernel {k.name}: {lanes} unrolled lanes (UPCAST x GROUP amounts) exceed "
                       f"MAX_LANES={MAX_LANES}; use smaller amounts")
    threads = math.prod(p.size for p in new.ordered((LoopKind.LOCAL,)))
    if threads > MAX_LOCAL:
        raise OptError(f"{opt} on kernel {k.name}: {threads} LOCAL threads exceed a GPU block's {MAX_LOCAL}")
    return new


def apply_upcast(plan: LoopPlan, opt: Opt) -> LoopPlan:
    """UPCAST: unroll `amount` iterations. An output axis gets UPCAST lanes (one accumulator each), a
    reduce axis UNROLL lanes (one accumulator, the same order of updates)."""
    return _split(plan, opt, (LoopKind.GLOBAL, LoopKind.REDUCE),
                  lambda k: LoopKind.UPCAST if k is LoopKind.GLOBAL else LoopKind.UNROLL)


def overlap_tiles(size: int, amount: int) -> tuple[int, int] | None:
    """UPCAST_OVERLAP's tiles of `amount` lanes over an axis of `size`: (T, step), the fewest T equally spaced tiles
    (starts 0, step, ..., (T-1)*step = size - amount) that cover the axis (step <= amount); None when amount >= size
    (a policy weighs the outputs computed twice: size 54, amount 16 -> (20, 2), 320 lanes for 54 outputs, as 38 is
    a multiple of no step from 3 to 16). 30, 16 -> (2, 14); 32, 16 -> (2, 16): no overlap, UPCAST's split."""
    if not 2 <= amount < size:
        return None
    rest = size - amount
    tiles = next(t for t in range(-(-rest // amount), rest + 1) if rest % t == 0) + 1
    return tiles, rest // (tiles - 1)


def _reads_an_output(kernel: Kernel) -> bool:
    """Does the kernel LOAD one of its own outputs (an in-place ASSIGN, `x.assign(x + 1)`)?"""
    return any(n.op is KOps.LOAD and n.arg[0] < kernel.n_outputs for n in kernel.ast.toposort())


def apply_upcast_overlap(plan: LoopPlan, opt: Opt) -> LoopPlan:
    """UPCAST_OVERLAP: `amount` UPCAST lanes in `overlap_tiles` equally spaced tiles over what is left of an output
    axis (all of it, as a loop); the tiles' loop advances by the spacing, so the last tile ends at the axis's end.
    Only for kernels that read no buffer they store to: outputs where tiles overlap are computed and stored twice."""
    k = plan.kernel
    parts = plan.parts[opt.axis] if 0 <= opt.axis < len(k.full_shape) else ()
    if parts and parts[0].kind is LoopKind.GLOBAL and opt.amount >= 2 and overlap_tiles(parts[0].size, opt.amount):
        if _reads_an_output(k) or any(o.kind is OptKind.STASH for o in plan.applied):
            raise OptError(f"{opt} on kernel {k.name}: it reads a buffer it writes (or STASH will), so a tile must "
                           f"not store an output a later tile's loads read again; use UPCAST")
        tiles, step = overlap_tiles(parts[0].size, opt.amount)
        resized = replace(plan, parts=plan.parts[:opt.axis] + ((replace(parts[0], size=tiles * opt.amount),)
                                                               + parts[1:],) + plan.parts[opt.axis + 1:])
        new = apply_upcast(resized, replace(opt, kind=OptKind.UPCAST))  # parts: the tiles' loop, the lanes, ...
        fixed = tuple(replace(p, step=step) if n == 1 else p for n, p in enumerate(new.parts[opt.axis]))
        return replace(new, parts=new.parts[:opt.axis] + (fixed,) + new.parts[opt.axis + 1:],
                       applied=plan.applied + (opt,))
    if parts and parts[0].kind is LoopKind.GLOBAL and opt.amount >= parts[0].size:
        raise OptError(f"{opt} on kernel {k.name}: {opt.amount} lanes are the whole loop of {parts[0].size} or more; "
                       f"use UPCAST")
    if parts and parts[0].kind is LoopKind.GLOBAL and opt.amount >= 2:
        raise OptError(f"{opt} on kernel {k.name}: no equally spaced tiles of {opt.amount} lanes cover the loop of "
                       f"{parts[0].size} (see overlap_tiles)")
    return _split(plan, opt, (LoopKind.GLOBAL,), lambda kind: LoopKind.UPCAST)  # raises _split's own OptError


def apply_local(plan: LoopPlan, opt: Opt) -> LoopPlan:
    """LOCAL: the inner `amount` of an output axis become the threads of a GPU block (lidx); the outer
    part stays the block index (gidx). On CPU it is an inner LOCAL loop."""
    return _split(plan, opt, (LoopKind.GLOBAL,), lambda k: LoopKind.LOCAL)


def apply_group(plan: LoopPlan, opt: Opt) -> LoopPlan:
    """GROUP: `amount` partial accumulators for a reduce axis; partial j sums the elements j, j+amount,
    j+2*amount, ... and the partials are combined after the loop."""
    return _split(_one_group_kind(plan, opt), opt, (LoopKind.REDUCE,), lambda k: LoopKind.GROUP)


def apply_group_sums(plan: LoopPlan, opt: Opt) -> LoopPlan:
    """GROUP_SUMS: GROUP's split, with GROUP lanes that only the phases that sum use (`LoopPlan.group_sums_only`)."""
    return _split(_one_group_kind(plan, opt), opt, (LoopKind.REDUCE,), lambda k: LoopKind.GROUP)


def _one_group_kind(plan: LoopPlan, opt: Opt) -> LoopPlan:
    """GROUP and GROUP_SUMS don't mix in one kernel: the lowering reads its GROUP lanes one way or the other."""
    other = OptKind.GROUP if opt.kind is OptKind.GROUP_SUMS else OptKind.GROUP_SUMS
    if any(o.kind is other for o in plan.applied):
        raise OptError(f"{opt} on kernel {plan.kernel.name}: a kernel takes GROUP or GROUP_SUMS opts, not both "
                       f"(applied so far: {', '.join(str(o) for o in plan.applied)})")
    return plan


def apply_stash(plan: LoopPlan, opt: Opt) -> LoopPlan:
    """STASH: no loop changes, only a note for the lowering (stash.py's pass): a row kernel that stores rows, over one
    of its reduced axes, amount 1 (one value kept per element), reading none of its outputs."""
    k = plan.kernel
    if opt.axis not in k.reduce_axes or opt.amount != 1:
        raise OptError(f"{opt} on kernel {k.name}: STASH takes a reduced axis ({k.reduce_axes}) and amount 1")
    if not k.stores_rows or _reads_an_output(k):
        raise OptError(f"{opt} on kernel {k.name}: STASH is for a row kernel that stores rows (stage 02's F5) and "
                       f"reads none of its outputs")
    if any(o.kind in (OptKind.STASH, OptKind.UPCAST_OVERLAP) for o in plan.applied):
        raise OptError(f"{opt} on kernel {k.name}: STASH is applied already, or UPCAST_OVERLAP is (its overlapping "
                       f"tiles would each stash into, and read back, the rows they share)")
    return replace(plan, applied=plan.applied + (opt,))


OPTIMIZATIONS: dict[OptKind, Callable[[LoopPlan, Opt], LoopPlan]] = {
    OptKind.UPCAST: apply_upcast,
    OptKind.LOCAL: apply_local,
    OptKind.GROUP: apply_group,
    OptKind.GROUP_SUMS: apply_group_sums,
    OptKind.UPCAST_OVERLAP: apply_upcast_overlap,
    OptKind.STASH: apply_stash,
}


def apply_opts(kernel: Kernel, opts: Sequence[Opt] = ()) -> LoopPlan:
    """The kernel's loop plan after applying `opts` in order."""
    plan = LoopPlan.start(kernel)
    for opt in opts:
        if not isinstance(opt, Opt):
            raise OptError(f"expected an Opt such as Opt(OptKind.UPCAST, axis=0, amount=4), got {opt!r}")
        plan = OPTIMIZATIONS[opt.kind](plan, opt)
    return plan


def default_opts(kernel: Kernel, gpu: bool = False) -> tuple[Opt, ...]:
    """Conservative choices: none on CPU; on GPU, threads along the innermost output axis (the largest
    divisor of its size up to 256), so neighbouring threads touch neighbouring elements."""
    if not gpu:
        return ()
    plan = LoopPlan.start(kernel)
    globals_ = plan.ordered((LoopKind.GLOBAL,))
    if not globals_:
        return ()
    last = globals_[-1]
    amount = max(d for d in range(1, min(last.size, 256) + 1) if last.size % d == 0)
    return (Opt(OptKind.LOCAL, last.axis, amount),) if amount > 1 else ()
