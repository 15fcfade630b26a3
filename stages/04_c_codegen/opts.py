"""Which stage-03 optimizations a kernel gets on the CPU: a named policy, each rule a visible transformation.

    choose_opts(kernel, policy=None) -> tuple[Opt, ...]
    POLICIES = {"heuristic": heuristic_opts, "none": no opts (the plain loop nest)}

The policy is a switch, not a hidden choice: `SHRIMPGRAD_C_OPTS=none` (or the front end's `NOOPT=1`,
tinygrad's name) turns it off for every C kernel, `choose_opts(kernel, "none")` for one; every Program records its opts
(`program.applied_opts`, printed in the UOp dump). Stage 05's opts.py is the GPU's counterpart.

The C compiler vectorizes a loop body when it holds several independent operations on neighbouring
memory; a plain reduce loop has one (acc = acc + x[i]), and a matmul's inner loop walks one of its
inputs with a large stride. `heuristic_opts`, rule by rule (each one fixes the failure named after it):

1. BLOCK  (UPCAST of two output axes) for reduce kernels with two or more output axes, a matmul
          or a conv: up to 16 lanes of the output axis that some input reads contiguously (stride 1;
          for a conv, whose windows aren't a plain stride, the largest axis an input is broadcast
          along: the output channels) times up to 8 of another output axis, so every iteration of
          the reduce loop loads 16 + 8 values and does 16 x 8 multiply-adds into 128 accumulators
          that stay in registers ("register blocking"). Without it each output re-reads its whole
          row and column: one multiply-add per two loads, the inner loop strided. Measured on one
          core: matmul 512^3 0.6 -> 30-55 GFLOP/s, conv2d 2.5 -> 10 GFLOP/s.
1b. WINDOW (UPCAST of the output row, the window and the output channels) for a convolution, a BLOCK whose
          contiguous output axis ox shares its stride-1 input with a short innermost reduce axis kx (`x[ox + kx]`):
          the whole output row (up to 32 lanes), the window's kx unrolled into lanes (each x[ox + kx] is then loaded
          once for all the lanes that read it, and the 3-iteration innermost loop, whose accumulators gcc otherwise
          keeps in scalar registers, is gone), then 2 output channels. Measured on one core (AVX2, W5's conv2d
          32x16x32x32 * 32x16x3x3): 27.5 ms with BLOCK (16 channels x 6 of the width) -> 11 ms. `SHRIMPGRAD_C_WINDOW=0`
          gives rule 1 instead. It needs the input's window index to be affine: stage 03's symbolic rules turn the
          repeat-and-reshape index `(oy + ky*33) % 32` into `oy + ky` (mod_drop_multiples, mod_by_bounds).
1c. WINDOW TILES (rule 1b's window, in vector-wide tiles of the output row) for a convolution whose output row is longer
          than a vector and is covered by equally spaced tiles of 16 lanes with at most 1/4 of its outputs computed
          twice (stage 03's UPCAST_OVERLAP: a row of 30 is two tiles, at ox 0 and 14): 16 lanes of the row, the window
          unrolled, 8 output channels. gcc vectorizes a tile as whole vectors (one zmm or two ymm per channel) where
          rule 1b's 30 lanes became vectors of 8 + 8 + 8 + 4 + 2 and scalars; the 8 channels (16 x 8 accumulators)
          share each of the window's three row loads. Measured on one core (AVX-512, W5's kernel alone): rule 1b 6.3 ms
          -> 4.6 ms, 3.5 with the renderer's OFFSETS, 2.6 with its LOADS FIRST (whose FMA chains then vectorize); the
          same compiled -march=znver2 (AVX2) 7.2 -> 3.0 ms (README, Convolutions). `SHRIMPGRAD_C_WINDOW_TILES=0` gives
          rule 1b instead.
1e. PANELS (UPCAST of the contiguous output axis and of another, then LOCAL of that other one) for a matmul whose
          contiguous input is read in *panels*: its rows along the reduce axis are short and follow each other in
          memory (stride along the reduce axis = the output axis's size, at most PANEL_ROW_MAX: a (K, 32) matrix, or
          the front end's packed copy of a weight, shrimpgrad/reduce.py's PANELS): 32 lanes of that axis (two 64-byte
          vectors) x 8 of the other (16 vector accumulators of the 32 registers AVX-512 has; per reduce step 2 vector
          loads and 8 broadcasts for 16 FMAs), and a LOCAL loop of 16 such row blocks inside the loop over panels, so a
          panel (K x 32 floats: 128 KB at K = 1024) is read from L2 by 16 row blocks where rule 1 streamed it from L3
          for each. Measured on one AVX-512 core (1024^3, packed panels, with the renderer's WIDE VECTORS): 137-145
          GFLOP/s for 8, 16 or 32 row blocks (none: 105-109); 8 x 32 lanes 145, 4 x 64: 93, 4 x 32: 82.
          `SHRIMPGRAD_C_PANELS=0` gives rule 1 instead; more than SMALL_WORK multiply-adds (else rule 1d).
2. VECTOR (UPCAST of one output axis) for reduce kernels whose reduced axis is not contiguous but an
          output axis is (`x.sum(axis=0)`): 16 neighbouring outputs per iteration, contiguous loads.
3. SPLIT  (GROUP of the innermost reduce axis) when a sum of cheap values walks contiguous memory
          (`x.sum()`, `x.sum(axis=-1)`, a mean): 32 partial accumulators, each summing
          every 32nd element, combined after the loop. The serial dependency on one accumulator is
          broken (a float add waits ~4 cycles for the previous one), so the adds overlap. (With 16
          or fewer, gcc -fopenmp vectorizes the *outer* loop with gathers instead: 7x slower.)

4. ROW SPLIT (GROUP_SUMS of the innermost reduce axis) for a row kernel (stage 02's rule F5: several loops over
          each row, softmax's max, sum of exp2 and store) whose reduced axis is contiguous and one of whose loops
          sums cheap values: rule 3's 32 partial sums in that loop only. A plain GROUP would split the max loop and
          the store loop too, which gcc vectorizes as they are (measured: GROUP 8/16 on every loop, softmax 2048^2
          14-22 ms against 12.7 ms without); without a split the sum loop is one serial float chain, which gcc
          may not reorder (no -ffast-math). A row kernel over a contiguous axis gets nothing else (the rule is
          checked first): rule 1's lanes along output axes would each run a whole row's loops (measured: (x +
          b).softmax(-1) of 8x256x2048, b broadcast along the rows, one core: BLOCK 16 x 4 97 ms, ROW SPLIT 8.5 ms).
          `SHRIMPGRAD_C_ROW_SPLIT=0` turns it off: row kernels then get rules 1-3 as other kernels do.
4b. STASH (stage 03's stash.py) with rule 4, for a row kernel whose store loop reads a value its sum loop sums
          (softmax's exponentials e, stored as e / sum): the sum loop also stores each e into the output row and the
          store loop loads it back, so each element's exp2 is computed once, not twice. Same bits either way.
          Measured on W3's softmax row kernel (2048^2, one AVX-512 core, the C alone): 4.2-4.3 -> 2.8-3.0 ms.
          `SHRIMPGRAD_C_STASH=0` turns it off.

3b. SHORT REDUCE (UPCAST of a short reduce axis, whole, and of a few rows) for a reduction of rows shorter than a
          vector with one output axis (a training step's loss over rows of 10 classes): 10 x 4 lanes, the row's order
          kept (see _short_reduce). `SHRIMPGRAD_C_SHORT_REDUCE=0` gives rule 3 instead.
5. SHORT ROWS (UPCAST of a short innermost axis, whole, and of a few rows) for an elementwise kernel whose rows are
          shorter than a vector (a training step's rows of 10 classes): 10 x 2 lanes of straight lines, which gcc's
          basic-block vectorizer packs where it left the loop of 10 scalar (see _short_rows).
          `SHRIMPGRAD_C_SHORT_ROWS=0` turns it off.
(Rule 1d, SMALL BLOCK, and its ROWS are described at their constants and in _small_block / _small_rows.)

Other elementwise kernels get no opts: gcc vectorizes their loop as it is. All opts compute the same values,
except that SPLIT, ROW SPLIT (and BLOCK/VECTOR when another reduce axis is inside) reorders a float sum: results
equal the plain loop's within float rounding (ints exactly). Lanes stay within stage 03's MAX_LANES.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence

from shrimpgrad.graph import Ops
from shrimpgrad.graph.switches import switch
from shrimpgrad.linearize import LoopKind, LoopPlan, Opt, OptError, OptKind, apply_opts
from shrimpgrad.linearize.index import index_and_valid
from shrimpgrad.linearize.lower import RowPhases, row_phases
from shrimpgrad.linearize.opts import overlap_tiles
from shrimpgrad.linearize.stash import stash_candidates
from shrimpgrad.linearize.symbolic import Add, Mul, Var
from shrimpgrad.schedule import Kernel, KOps

from .dialect import C_DIALECT
from .renderer import OPENMP_MIN_ITERATIONS

BLOCK_INNER = 16  # lanes along the contiguous output axis (a 64-byte vector of floats)
BLOCK_OUTER = 8  # lanes along the other output axis: 16 x 8 = 128 accumulators
WINDOW_ROW = 32  # a conv's lanes along the output row: the whole row (x[ox + kx]: its loads are shared with kx's lanes)
WINDOW_MAX = 4  # a conv's window (kx) up to this size is unrolled into lanes
WINDOW_OUTER = 2  # lanes along the output channels (measured: 30 x 3 x 2 as fast as 30 x 3 x 1, x 4 slower)
WINDOW_ENV = "SHRIMPGRAD_C_WINDOW"  # "0": convolutions get rule 1's BLOCK instead of rule 1b
TILE_LANES = 16  # rule 1c: a tile of the output row, a 64-byte vector of floats
TILE_OUTER = 8  # rule 1c: lanes along the output channels (16 x 3 x 8 = 384 lanes; measured: 8 beat 4 by 8% on
# AVX-512 and by 1.7x with AVX2 code, whose 4 channels leave the loads of the window's rows to dominate)
TILE_WASTE = 1.25  # rule 1c: the tiles may compute at most this many times the row's outputs (30: 32 lanes, 1.07)
WINDOW_TILES_ENV = "SHRIMPGRAD_C_WINDOW_TILES"  # "0": convolutions get rule 1b's whole rows instead of rule 1c
SMALL_WORK = 1 << 21  # rule 1d: kernels of at most this many multiply-adds (W6's matmuls: 128*128*64 = 2^20)
SMALL_INNER = 64  # rule 1d: lanes along the contiguous output axis (x the other axis's lanes: 64 in all, at least 2)
SMALL_UNROLL = 320  # rule 1d: the reduce loop unrolled so that lanes x unrolled iterations reach this (at least 2;
# measured on W6: 10 x 4 lanes, 8 iterations 11.7 us, 4 iterations 18 us; 64 x 2 lanes, 2 iterations 22 us, 4 25 us)
SMALL_BLOCK_ENV = "SHRIMPGRAD_C_SMALL_BLOCK"  # "0": small matmuls get rule 1's BLOCK instead of rule 1d
SMALL_ROWS = 4  # rule 1d's ROWS: lanes along the other output axis (an axis of at most SMALL_WHOLE: all of it)
SMALL_WHOLE = 16  # rule 1d's ROWS: a short other axis (W6's 10 classes) is taken whole
SMALL_LANES = 320  # rule 1d's ROWS: the contiguous axis's lanes are cut so that the block has at most this many lanes
SMALL_ROWS_ENV = "SHRIMPGRAD_C_SMALL_ROWS"  # "0": rule 1d's first version (2 lanes of the other axis, 64 contiguous)
SHORT_ROW_LANES = 16  # rule 5: an elementwise row shorter than this (a 64-byte vector of floats) is unrolled whole,
# with as few rows as make this many lanes
SHORT_ROWS_ENV = "SHRIMPGRAD_C_SHORT_ROWS"  # "0": elementwise kernels get no opts (no rule 5)
SHORT_REDUCE_LANES = 32  # rule 3b: rows of a short reduction, unrolled, until the lanes reach this many (10 x 4)
SHORT_REDUCE_ENV = "SHRIMPGRAD_C_SHORT_REDUCE"  # "0": short row reductions get rule 3's SPLIT (or nothing) instead
PANEL_LANES = 32  # rule 1e: lanes along the panel's contiguous axis (two 64-byte vectors of floats)
PANEL_ROWS = 8  # rule 1e: lanes along the other output axis: 8 x 2 = 16 vector accumulators
PANEL_TILE = 16  # rule 1e: row blocks (LOCAL, an inner loop on the CPU) that read one panel while it is in L2
PANEL_ROW_MAX = 64  # rule 1e: a panel's rows are at most this many elements (256 bytes of float32)
PANELS_ENV = "SHRIMPGRAD_C_PANELS"  # "0": matmuls that read panels get rule 1's BLOCK instead of rule 1e
SPLIT = 32  # partial sums of a contiguous reduction (16 or fewer: see rule 3)
POLICY_ENV = "SHRIMPGRAD_C_OPTS"
ROW_SPLIT_ENV = "SHRIMPGRAD_C_ROW_SPLIT"  # "0": row kernels get no rule 4 (GROUP_SUMS)
STASH_ENV = "SHRIMPGRAD_C_STASH"  # "0": row kernels get no rule 4b (STASH)


def largest_divisor(n: int, at_most: int) -> int:
    """The largest d <= at_most that divides n (1 when none larger does)."""
    return max(d for d in range(1, max(1, min(n, at_most)) + 1) if n % d == 0)


def axis_strides(kernel: Kernel) -> list[tuple[int | None, ...]]:
    """For each LOAD of the kernel, the stride of every kernel axis in its buffer: the coefficient of that
    axis's variable in the load's index expression (stage 03's index arithmetic, so a view through a
    pad or a reshape counts too); 0 when the index doesn't use the axis, None when it uses it non-linearly
    (inside a // or %)."""
    out = []
    for n in kernel.ast.toposort():
        if n.op is KOps.LOAD:
            st = n.arg[1]
            axes = [Var(f"a{i}", 0, max(0, s - 1)) for i, s in enumerate(st.shape)]
            index, _ = index_and_valid(st, axes)
            out.append(tuple(_stride(index, v) for v in axes))
    return out


def _stride(index, var: Var) -> int | None:
    """The coefficient of `var` in `index` when `index` is linear in it, through sums and constant factors
    (`(oy + ky)*10 + ox` has stride 10 in oy: stage 03 keeps such a product undistributed, one multiply fewer);
    None when `var` sits inside a // or %."""
    if index == var:
        return 1
    if var.name not in {v.name for v in index.vars()}:
        return 0
    if isinstance(index, Mul):
        inner = _stride(index.x, var)
        return None if inner is None else inner * index.c
    if isinstance(index, Add):
        parts = [_stride(t, var) for t in index.terms]
        return None if None in parts else sum(parts)
    return None


def _contiguous(strides: list[tuple[int | None, ...]], axis: int) -> bool:
    return any(s[axis] == 1 for s in strides)


def _window_axis(strides: list[tuple[int | None, ...]], first, inner_reduce):
    """A convolution's window: the innermost reduce axis when it is short (<= WINDOW_MAX) and some input reads it
    with stride 1 together with the output axis `first` (`x[ox + kx]`), else None."""
    if inner_reduce.size > WINDOW_MAX:
        return None
    return inner_reduce if any(s[first.axis] == 1 and s[inner_reduce.axis] == 1 for s in strides) else None


def _reusing_axis(outputs, strides, first):
    """BLOCK's second output axis: one along which an input read contiguously along `first` is broadcast (stride 0),
    so that its loads are shared by the lanes (matmul: B along A's rows; a conv: the image along the output
    channels); else the innermost output axis other than `first`."""
    others = [p for p in reversed(outputs) if p.axis != first.axis]
    along_first = [s for s in strides if s[first.axis] == 1]
    return next((p for p in others if any(s[p.axis] == 0 for s in along_first)), others[0] if others else None)


def heuristic_opts(kernel: Kernel) -> tuple[Opt, ...]:
    """BLOCK for matmul-like kernels, VECTOR for reductions over a strided axis, SPLIT for reductions over a
    contiguous one (the module docstring says why each)."""
    plan = LoopPlan.start(kernel)
    outputs, reduces = plan.ordered((LoopKind.GLOBAL,)), plan.ordered((LoopKind.REDUCE,))
    if not reduces:
        return _short_rows(kernel, outputs)  # rule 5 (or nothing)
    strides = axis_strides(kernel)
    opts: list[Opt] = []

    def add(kind: OptKind, axis: int, size: int, at_most: int, exact: bool = False) -> bool:
        amount = at_most if exact else largest_divisor(size, at_most)
        if amount < 2 or not _applies(kernel, [*opts, Opt(kind, axis, amount)]):
            return False
        opts.append(Opt(kind, axis, amount))
        return True

    # the output axis to vectorize: the innermost one that some input reads contiguously
    vector = next((p for p in reversed(outputs) if _contiguous(strides, p.axis)), None)
    # output axes along which some input is broadcast (stride 0): lanes there share that input's loads
    shared = [p for p in outputs if any(s[p.axis] == 0 for s in strides)]
    inner_reduce = reduces[-1]
    # without a contiguous one: the axis that spares the costliest loads, those through a window or a pad (an
    # index with // or %: a conv's input), then the longest
    costly = [s for s in strides if None in s]
    first = vector or max(reversed(shared), key=lambda p: (any(s[p.axis] == 0 for s in costly), p.size),
                          default=None)
    window = _window_axis(strides, first, inner_reduce) if first is not None and switch(WINDOW_ENV) \
        else None
    phases = row_phases(kernel)
    if _row_kernel(phases) and _contiguous(strides, inner_reduce.axis):  # rule 4: ROW SPLIT, and no lanes
        if _has_sum_phase(phases):
            add(OptKind.GROUP_SUMS, inner_reduce.axis, inner_reduce.size, SPLIT)
        return tuple(opts) + _stash(kernel, phases, opts, inner_reduce.axis)  # rule 4b
    if _short_reduce(kernel, outputs, reduces, strides):  # rule 3b: SHORT REDUCE
        row, rows = inner_reduce, _rows_for(outputs[-1].size, inner_reduce.size, SHORT_REDUCE_LANES)
        if add(OptKind.UPCAST, row.axis, row.size, row.size, exact=True):
            add(OptKind.UPCAST, outputs[-1].axis, outputs[-1].size, rows, exact=True)
            return tuple(opts)
    if first is not None and len(outputs) >= 2 and window is not None and _tiles_fit(first.size):  # rule 1c
        if add(_tile_kind(first.size), first.axis, first.size, TILE_LANES, exact=True):
            add(OptKind.UPCAST, window.axis, window.size, WINDOW_MAX)
            other = _reusing_axis(outputs, strides, first)
            if other is not None:
                add(OptKind.UPCAST, other.axis, other.size, TILE_OUTER)
            return tuple(opts)
    if first is not None and len(outputs) >= 2 and window is not None:  # rule 1b: WINDOW (a convolution)
        add(OptKind.UPCAST, first.axis, first.size, WINDOW_ROW)
        add(OptKind.UPCAST, window.axis, window.size, WINDOW_MAX)
        other = _reusing_axis(outputs, strides, first)
        if other is not None:
            add(OptKind.UPCAST, other.axis, other.size, WINDOW_OUTER)
    elif first is not None and len(outputs) >= 2 and _reads_panels(kernel, strides, first, reduces):  # rule 1e
        add(OptKind.UPCAST, first.axis, first.size, PANEL_LANES)
        other = _reusing_axis(outputs, strides, first)
        if other is not None:
            rows = other.size // opts[-1].amount if add(OptKind.UPCAST, other.axis, other.size, PANEL_ROWS) \
                else other.size
            add(OptKind.LOCAL, other.axis, rows, PANEL_TILE)
    elif first is not None and len(outputs) >= 2 and _small_block(kernel, strides, first):  # rule 1d: SMALL BLOCK
        other = _reusing_axis(outputs, strides, first)
        if switch(SMALL_ROWS_ENV):  # rule 1d's ROWS (see _small_rows)
            inner, rows = _small_rows(first, other)
            add(OptKind.UPCAST, first.axis, first.size, inner)
            if other is not None:
                add(OptKind.UPCAST, other.axis, other.size, rows)
        else:  # rule 1d's first version: 64 contiguous lanes, 2 of the other axis
            add(OptKind.UPCAST, first.axis, first.size, SMALL_INNER)
            if other is not None:
                add(OptKind.UPCAST, other.axis, other.size,
                    max(2, SMALL_INNER // opts[-1].amount) if opts else SMALL_INNER)
        lanes = math.prod(o.amount for o in opts)
        add(OptKind.UPCAST, inner_reduce.axis, inner_reduce.size, max(2, SMALL_UNROLL // lanes))
    elif first is not None and len(outputs) >= 2:  # rule 1: BLOCK
        add(OptKind.UPCAST, first.axis, first.size, BLOCK_INNER)
        other = _reusing_axis(outputs, strides, first)
        if other is not None:
            add(OptKind.UPCAST, other.axis, other.size, BLOCK_OUTER)
    elif vector is not None and not _contiguous(strides, inner_reduce.axis):  # rule 2: VECTOR
        add(OptKind.UPCAST, vector.axis, vector.size, BLOCK_INNER)
    elif _contiguous(strides, inner_reduce.axis) and _plain_sums(kernel):  # rule 3: SPLIT
        add(OptKind.GROUP, inner_reduce.axis, inner_reduce.size, SPLIT)
    return tuple(opts)


def _applies(kernel: Kernel, opts: Sequence[Opt]) -> bool:
    """Does stage 03 accept `opts` on `kernel` (apply_opts raises OptError for one that doesn't fit)?"""
    try:
        apply_opts(kernel, opts)
    except OptError:
        return False
    return True


def _small_block(kernel: Kernel, strides: list[tuple[int | None, ...]], first) -> bool:
    """Rule 1d's case: a BLOCK kernel of at most SMALL_WORK multiply-adds (output elements x reduced elements: a
    training step's 128x128x64 matmul and its backward) whose inputs are each read contiguously or broadcast along
    `first` (64 lanes of a strided read are 64 scalar loads: W6's dh = g @ w2.T, w2 read with stride 10, measured
    5.9 us with rule 1, 18 with rule 1d), unless $SHRIMPGRAD_C_SMALL_BLOCK is "0"."""
    return (switch(SMALL_BLOCK_ENV) and math.prod(kernel.full_shape) <= SMALL_WORK
            and all(s[first.axis] in (0, 1) for s in strides))


def _small_rows(first, other) -> tuple[int, int]:
    """Rule 1d's ROWS: (lanes along `first`, the contiguous output axis; lanes along `other`). The other axis gets
    SMALL_ROWS lanes, or all of it when it has at most SMALL_WHOLE (dw2's 10 classes: largest_divisor(10, 4) would give
    2); `first` gets SMALL_INNER, cut to what keeps the block at SMALL_LANES. Measured on W6's kernels alone (one
    AVX-512 core, 5 alternating rounds, medians): x @ w1 64 x 2 lanes 21.0 us -> 64 x 4 18.4; dw1 25.7 -> 21.3 (64 x 1
    with 8 iterations unrolled was 18.4, but the same shape on x @ w1 26.5); dw2 64 x 2 7.1 -> 32 x 10 5.2; h @ w2
    (10 x 4, 8 iterations) unchanged."""
    if other is None:
        rows = 1
    else:
        rows = other.size if other.size <= SMALL_WHOLE else largest_divisor(other.size, SMALL_ROWS)
    inner = largest_divisor(first.size, min(SMALL_INNER, max(1, SMALL_LANES // rows)))
    return inner, rows


def _rows_for(outer: int, row: int, lanes: int) -> int:
    """The fewest rows (a divisor of `outer`) whose `row` lanes each reach `lanes` in all; `outer` if none does."""
    return next((d for d in range(1, outer + 1) if outer % d == 0 and d * row >= lanes), outer)


def _short_reduce(kernel: Kernel, outputs, reduces, strides) -> bool:
    """Rule 3b's case, SHORT REDUCE: a reduction of rows shorter than SHORT_ROW_LANES (W6's loss over rows of 10
    classes: the max, the sum of exp2, the picked logit), one output axis, the row read contiguously, and fewer
    elements than OpenMP's threshold (no parallel loop loses iterations). Its opts: the row unrolled whole (UPCAST of
    the reduce axis, one accumulator in the loop's order: the same bits as the plain loop, where rule 3's GROUP summed
    10 partials) and as few rows as make SHORT_REDUCE_LANES lanes (10 x 4). gcc's basic-block vectorizer packs the 40
    lanes of straight lines; rule 3's 10 partials of one row it left scalar (the exp2 too). Measured on W6's kernels
    alone (one AVX-512 core, medians of 5 alternating rounds): the sum of exp2 R_128_10n2 6.7-7.0 -> 3.7-3.9 us,
    R_128_10n4 6.3-6.9 -> 4.6, the max R_128_10n1 3.1 -> 2.4, R_128_10n3 3.2-3.4 -> 2.8-2.9, R_128_10 3.0 -> 2.9;
    2 rows (20 lanes) 6.8-7.0 and 5.8 for the first two. Unless $SHRIMPGRAD_C_SHORT_REDUCE is "0"."""
    if not switch(SHORT_REDUCE_ENV) or len(outputs) != 1 or len(reduces) != 1:
        return False
    return (reduces[0].size < SHORT_ROW_LANES and _contiguous(strides, reduces[0].axis)
            and math.prod(kernel.full_shape) < OPENMP_MIN_ITERATIONS)


def _short_rows(kernel: Kernel, outputs) -> tuple[Opt, ...]:
    """Rule 5, SHORT ROWS: an elementwise kernel whose innermost axis is shorter than SHORT_ROW_LANES (W6's rows of 10
    classes) gets that axis unrolled whole and as few rows of the next axis as make SHORT_ROW_LANES lanes (10 x 2).
    gcc vectorizes a loop of 10 iterations as 8 + 2 or not at all (the softmax gradient's loop, with its exp2 and
    selects: scalar); unrolled, the 20 lanes are straight lines its basic-block vectorizer packs. Measured on W6's
    kernels alone (one AVX-512 core, medians of 5 alternating rounds): the loss gradient E_128_10 (exp2, selects)
    10.3-11.1 -> 6.4-7.0 us, the transposed copy E_128_10n1 2.25 -> 2.0, the SGD update E_128_10n2 2.5 -> 2.3
    (10 x 4 lanes: 11.4, no faster than none). Only kernels too small for OpenMP (fewer elements than the renderer's
    OPENMP_MIN_ITERATIONS), whose parallel loops would otherwise count fewer iterations. Unless $SHRIMPGRAD_C_SHORT_ROWS
    is "0"."""
    if (not switch(SHORT_ROWS_ENV) or len(outputs) < 2 or outputs[-1].size >= SHORT_ROW_LANES
            or math.prod(kernel.full_shape) >= OPENMP_MIN_ITERATIONS):
        return ()
    row, outer = outputs[-1], outputs[-2]
    rows = _rows_for(outer.size, row.size, SHORT_ROW_LANES)
    opts = (Opt(OptKind.UPCAST, row.axis, row.size),) + ((Opt(OptKind.UPCAST, outer.axis, rows),) if rows > 1 else ())
    return opts if _applies(kernel, opts) else ()


def _reads_panels(kernel: Kernel, strides: list[tuple[int | None, ...]], first, reduces) -> bool:
    """Rule 1e's case: one reduce axis, more than SMALL_WORK multiply-adds, and an input read contiguously along
    `first` (whose size PANEL_LANES divides, at most PANEL_ROW_MAX) whose stride along the reduce axis is `first`'s
    size: its rows, one per reduce step, follow each other in memory, so the lanes walk one contiguous stream (a
    (K, 32) matrix, the front end's packed panels). Unless $SHRIMPGRAD_C_PANELS is "0"."""
    if not switch(PANELS_ENV) or len(reduces) != 1 or math.prod(kernel.full_shape) <= SMALL_WORK:
        return False
    if first.size % PANEL_LANES or first.size > PANEL_ROW_MAX:
        return False
    return any(s[first.axis] == 1 and s[reduces[0].axis] == first.size for s in strides)


def _tiles_fit(row: int) -> bool:
    """Rule 1c's case: an output row longer than a tile, covered by equally spaced tiles (stage 03's overlap_tiles)
    that compute at most TILE_WASTE times its outputs; unless $SHRIMPGRAD_C_WINDOW_TILES is "0"."""
    tiles = overlap_tiles(row, TILE_LANES)
    return switch(WINDOW_TILES_ENV) and tiles is not None and tiles[0] * TILE_LANES <= TILE_WASTE * row


def _tile_kind(row: int) -> OptKind:
    """UPCAST when the tiles split the row exactly (32: two tiles of 16), else UPCAST_OVERLAP (30: at 0 and 14)."""
    return OptKind.UPCAST if row % TILE_LANES == 0 else OptKind.UPCAST_OVERLAP


# exp2/log2 are cheap where they are alu.py's vectorizable helpers (the C dialect's vector_math): a sum of them is
# then bound by the serial adds, which SPLIT breaks (softmax 2048^2, its sum of exp2s, one core: 3.0 -> 1.2 ms)
_COSTLY = {Ops.SIN, Ops.SQRT} | (set() if C_DIALECT.vector_math else {Ops.EXP2, Ops.LOG2})


def _row_kernel(phases: RowPhases) -> bool:
    """Rule 4's kernels: a row kernel (more than one loop over the row: its `row_phases`), unless
    $SHRIMPGRAD_C_ROW_SPLIT is "0"."""
    return phases.several and switch(ROW_SPLIT_ENV)


def _stash(kernel: Kernel, phases: RowPhases, opts: list[Opt], axis: int) -> tuple[Opt, ...]:
    """Rule 4b: STASH along the row's `axis` when the row kernel has a value to stash (stage 03's stash_candidates:
    a summed value its store also reads) and it applies after `opts`; unless $SHRIMPGRAD_C_STASH is "0"."""
    if not switch(STASH_ENV) or not stash_candidates(kernel, phases):
        return ()
    stash = Opt(OptKind.STASH, axis, 1)
    return (stash,) if _applies(kernel, [*opts, stash]) else ()  # not: it stores no rows, or reads an output


def _has_sum_phase(phases: RowPhases) -> bool:
    """Has the kernel a loop over the row whose REDUCEs all sum cheap values (`_plain_sum`)?"""
    return any(all(_plain_sum(r) for r, p in phases.of.items() if p == phase) for phase in set(phases.of.values()))


def _plain_sum(reduce) -> bool:
    """A sum of cheap values (see _plain_sums)."""
    return reduce.arg[0] is Ops.ADD and not any(n.op is KOps.ALU and n.arg in _COSTLY for n in reduce.src[0].toposort())


def _plain_sums(kernel: Kernel) -> bool:
    """Are the kernel's reductions sums of cheap values (SPLIT's case)? A max isn't split: the renderer vectorizes a
    plain max loop as it is (renderer.py's vector_max_loops; 32 partial maxima would be 32 ASSIGNs, which it leaves
    scalar, and measured no faster before), and a sum of math-library calls is bound by the calls, which 32 unrolled
    copies don't speed up (measured: 1.1x slower with SPLIT)."""
    return all(_plain_sum(n) for n in kernel.ast.toposort() if n.op is KOps.REDUCE)


POLICIES: dict[str, Callable[[Kernel], tuple[Opt, ...]]] = {
    "heuristic": heuristic_opts,
    "none": lambda kernel: (),
}
DEFAULT_POLICY = "heuristic"


def pick_policy(policy: str | None, policies: Mapping[str, object], env: str, default: str, backend: str) -> str:
    """`policy`, else $`env`, else `default`, checked against `policies` (stage 05's GPU policies use it too)."""
    name = policy or os.environ.get(env) or default
    if name not in policies:
        raise ValueError(f"unknown {backend} opts policy {name!r} ({env}); valid: {', '.join(policies)}")
    return name


def policy_name(policy: str | None = None) -> str:
    """`policy`, else $SHRIMPGRAD_C_OPTS, else "heuristic" (checked against POLICIES)."""
    return pick_policy(policy, POLICIES, POLICY_ENV, DEFAULT_POLICY, "C")


def choose_opts(kernel: Kernel, policy: str | None = None) -> tuple[Opt, ...]:
    """The opts a C kernel gets under `policy` (default: see policy_name)."""
    return POLICIES[policy_name(policy)](kernel)

