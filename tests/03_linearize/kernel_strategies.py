"""Hypothesis strategies for hand-built stage-02 Kernels, to test the linearizer without the scheduler.

    from kernel_strategies import views_of, kernels, opts_for, run_reference, run_program

* `views_of(shape)`   a ShapeTracker of exactly `shape` built backwards from it through random
                      pads, shrinks, flips, expands, permutes and (often unmergeable) reshapes,
                      with the size of the buffer it reads
* `kernels(dtype)`    (Kernel, input arrays): a random kernel over 1-3 loops, with or without a
                      REDUCE (ADD or MAX), elementwise ops below and above it, masked CONSTs,
                      1-2 STOREs (sometimes through a padded or shrunk view: gated / partial stores)
* `opts_for(kernel)`  a random valid list of Opts for that kernel
* `run_reference` / `run_program`  run a kernel with stage 02's numpy evaluator / a Program on the
                      PYTHON device, from the same initial buffers; both return the output arrays
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from shrimpgrad.graph import BufferRef, Ops, ShapeTracker, dtypes
from shrimpgrad.linearize import LoopKind, Opt, OptError, OptKind, apply_opts, interpret
from shrimpgrad.schedule import Kernel, KNode, KOps, run_kernel_numpy
from shrimpgrad.schedule import verify as verify_kernel

MAX_SIDE = 6


@st.composite
def views_of(draw, shape: tuple[int, ...], depth: int = 3) -> tuple[ShapeTracker, int]:
    """(tracker, buffer size) with tracker.shape == shape."""
    kinds = ["base"] + (["permute", "pad", "shrink", "flip", "expand", "reshape"] if depth > 0 and shape else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "base":
        return ShapeTracker.from_shape(shape), math.prod(shape)
    n = len(shape)
    if kind == "permute":
        order = draw(st.permutations(range(n)))
        src = [0] * n
        for i, a in enumerate(order):
            src[a] = shape[i]
        inner, size = draw(views_of(tuple(src), depth - 1))
        return inner.permute(tuple(order)), size
    if kind == "pad":
        pads = []
        for s in shape:
            before = draw(st.integers(0, min(2, s - 1)))
            pads.append((before, draw(st.integers(0, min(2, s - 1 - before)))))
        inner, size = draw(views_of(tuple(s - b - a for s, (b, a) in zip(shape, pads)), depth - 1))
        return inner.pad(tuple(pads)), size
    if kind == "shrink":
        extra = [draw(st.integers(0, 2)) for _ in shape]
        begins = [draw(st.integers(0, e)) for e in extra]
        inner, size = draw(views_of(tuple(s + e for s, e in zip(shape, extra)), depth - 1))
        return inner.shrink(tuple((b, b + s) for b, s in zip(begins, shape))), size
    if kind == "flip":
        inner, size = draw(views_of(shape, depth - 1))
        return inner.flip(tuple(draw(st.lists(st.booleans(), min_size=n, max_size=n)))), size
    if kind == "expand":
        src = tuple(1 if s > 1 and draw(st.booleans()) else s for s in shape)
        inner, size = draw(views_of(src, depth - 1))
        return inner.expand(shape), size
    # reshape from another shape with the same number of elements
    total = math.prod(shape)
    choices = [(total,), tuple(reversed(shape))]
    choices += [(a, total // a) for a in range(2, total) if total % a == 0 and a <= MAX_SIDE and total // a <= 12]
    src = draw(st.sampled_from(choices))
    inner, size = draw(views_of(src, depth - 1))
    return inner.reshape(shape), size


def _values(draw, dtype, size):
    if dtype.is_float:
        return np.array(draw(st.lists(st.floats(-2, 2, width=32), min_size=size, max_size=size)), np.float32)
    return np.array(draw(st.lists(st.integers(-8, 8), min_size=size, max_size=size)), np.int32)


class _Builder:
    def __init__(self, draw, dtype):
        self.draw, self.dtype = draw, dtype
        self.inputs: list[tuple[BufferRef, np.ndarray]] = []

    def leaf(self, shape) -> KNode:
        draw = self.draw
        st_, size = draw(views_of(shape))
        if draw(st.integers(0, 4)) == 0:  # a constant, zero where its view is masked
            value = draw(st.sampled_from([1.5, -2.0, 0.5])) if self.dtype.is_float else draw(st.integers(-3, 3))
            return KNode(KOps.CONST, (), self.dtype, (value, st_))
        if self.inputs and draw(st.booleans()):  # read an existing buffer again, through another view
            i = draw(st.integers(0, len(self.inputs) - 1))
            ref, arr = self.inputs[i]
            if ref.size >= size:
                return KNode(KOps.LOAD, (), self.dtype, (i, st_))
        ref = BufferRef(size, self.dtype)
        self.inputs.append((ref, _values(draw, self.dtype, size)))
        return KNode(KOps.LOAD, (), self.dtype, (len(self.inputs) - 1, st_))

    def tree(self, shape, depth: int, extra: list[KNode] = ()) -> KNode:
        draw = self.draw
        if depth == 0 or draw(st.integers(0, 2)) == 0:
            if extra and draw(st.booleans()):
                return draw(st.sampled_from(extra))
            return self.leaf(shape)
        ops = [Ops.ADD, Ops.SUB, Ops.MUL, Ops.MAX, Ops.WHERE, Ops.NEG]
        if not self.dtype.is_float:
            ops += [Ops.IDIV, Ops.MOD, Ops.CAST]
        op = draw(st.sampled_from(ops))
        a = self.tree(shape, depth - 1, extra)
        if op is Ops.NEG:
            return KNode(KOps.ALU, (a,), self.dtype, Ops.NEG)
        if op is Ops.CAST:  # int32 -> int8 -> int32 wraps
            return KNode(KOps.ALU, (KNode(KOps.ALU, (a,), dtypes.int8, Ops.CAST),), self.dtype, Ops.CAST)
        b = self.tree(shape, depth - 1, extra)
        if op is Ops.WHERE:
            cond = KNode(KOps.ALU, (a, b), dtypes.bool, Ops.CMPLT)
            return KNode(KOps.ALU, (cond, b, self.tree(shape, depth - 1, extra)), self.dtype, Ops.WHERE)
        return KNode(KOps.ALU, (a, b), self.dtype, op)


@st.composite
def kernels(draw, dtype=dtypes.float32, allow_reduce: bool = True) -> tuple[Kernel, list[np.ndarray]]:
    """(kernel, arrays for kernel.bufs in order: outputs (initial contents) then inputs)."""
    full = tuple(draw(st.lists(st.integers(1, MAX_SIDE), min_size=1, max_size=3)))
    axes = ()
    if allow_reduce and draw(st.booleans()):
        axes = tuple(sorted(draw(st.sets(st.integers(0, len(full) - 1), min_size=1))))
    out_shape = tuple(1 if i in axes else s for i, s in enumerate(full))
    b = _Builder(draw, dtype)
    value = b.tree(full, 3)
    reduces = []
    if axes:
        reduces = [KNode(KOps.REDUCE, (value,), dtype, (draw(st.sampled_from([Ops.ADD, Ops.MAX])), axes))]
        if draw(st.integers(0, 3)) == 0:  # a second REDUCE of another value over the same axes
            reduces.append(KNode(KOps.REDUCE, (b.tree(full, 2),), dtype, (draw(st.sampled_from([Ops.ADD, Ops.MAX])),
                                                                          axes)))
        value = b.tree(out_shape, 2, reduces)
        if value.op is not KOps.REDUCE and not any(n.op is KOps.REDUCE for n in value.toposort()):
            value = KNode(KOps.ALU, (value, reduces[0]), dtype, Ops.ADD)
    values = [value]
    if draw(st.integers(0, 3)) == 0:
        values.append(b.tree(out_shape, 1, reduces))
    stores, outputs = [], []
    for i, v in enumerate(values):
        kind = draw(st.sampled_from(["plain", "plain", "permuted", "padded", "shrunk"]))
        if kind == "permuted" and len(out_shape) > 1:
            order = tuple(draw(st.permutations(range(len(out_shape)))))
            inv = tuple(order.index(a) for a in range(len(out_shape)))
            st_ = ShapeTracker.from_shape(tuple(out_shape[a] for a in order)).permute(inv)
            size = math.prod(out_shape)
        elif kind == "padded" and out_shape[-1] > 2:  # a gated store: only the middle is written
            st_ = ShapeTracker.from_shape(out_shape[:-1] + (out_shape[-1] - 2,)).pad(((0, 0),) * (len(out_shape) - 1)
                                                                                       + ((1, 1),))
            size = math.prod(out_shape[:-1]) * (out_shape[-1] - 2)
        elif kind == "shrunk":  # the buffer is bigger than what is written
            st_ = ShapeTracker.from_shape(out_shape[:-1] + (out_shape[-1] + 2,)).shrink(
                tuple((0, s) for s in out_shape[:-1]) + ((1, out_shape[-1] + 1),))
            size = math.prod(out_shape[:-1]) * (out_shape[-1] + 2)
        else:
            st_, size = ShapeTracker.from_shape(out_shape), math.prod(out_shape)
        outputs.append((BufferRef(size, dtype), np.full(size, 7, dtype.np)))
        stores.append(KNode(KOps.STORE, (v,), dtype, (i, st_)))
    # renumber LOADs: outputs come first in kernel.bufs
    shift = len(outputs)

    def renumber(n: KNode) -> KNode:
        src = tuple(renumber(s) for s in n.src)
        arg = (n.arg[0] + shift, n.arg[1]) if n.op is KOps.LOAD else n.arg
        return KNode(n.op, src, n.dtype, arg)

    sink = KNode(KOps.SINK, tuple(KNode(KOps.STORE, (renumber(s.src[0]),), s.dtype, s.arg) for s in stores), dtype)
    refs = [r for r, _ in outputs] + [r for r, _ in b.inputs]
    arrays = [a for _, a in outputs] + [a for _, a in b.inputs]
    kernel = Kernel(f"k_{'_'.join(map(str, full))}", sink, tuple(refs), len(outputs), "hand-built by kernel_strategies")
    verify_kernel(kernel)
    return kernel, arrays


@st.composite
def opts_for(draw, kernel: Kernel, gpu: bool = False, max_opts: int = 3) -> tuple[Opt, ...]:
    """A random list of Opts that apply to `kernel` (each one drawn among those valid after the previous)."""
    opts: list[Opt] = []
    for _ in range(draw(st.integers(0, max_opts))):
        plan = apply_opts(kernel, opts)
        candidates = []
        for axis, parts in enumerate(plan.parts):
            if not parts or parts[0].kind not in (LoopKind.GLOBAL, LoopKind.REDUCE):
                continue
            size = parts[0].size
            # a reduce axis: GROUP, and on a CPU GROUP_SUMS (a kernel takes one of the two: the other raises OptError)
            reduce_kinds = [OptKind.GROUP] + ([] if gpu else [OptKind.GROUP_SUMS])
            kinds = [OptKind.UPCAST] + ([OptKind.LOCAL] if parts[0].kind is LoopKind.GLOBAL else reduce_kinds)
            candidates += [Opt(k, axis, d) for k in kinds for d in range(2, size + 1) if size % d == 0]
            if parts[0].kind is LoopKind.GLOBAL:  # lanes in tiles that overlap where they don't divide the axis
                candidates += [Opt(OptKind.UPCAST_OVERLAP, axis, d) for d in range(2, size) if size % d]
        if not gpu and kernel.stores_rows:  # a CPU row kernel: STASH (apply_opts says whether it applies)
            candidates += [Opt(OptKind.STASH, axis, 1) for axis in kernel.reduce_axes]
        if not candidates:
            break
        opt = draw(st.sampled_from(candidates))
        try:
            apply_opts(kernel, opts + [opt])
        except OptError:  # e.g. too many lanes
            continue
        opts.append(opt)
    return tuple(opts)


def run_reference(kernel: Kernel, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Stage 02's numpy evaluator on copies of `arrays`; returns the output buffers."""
    buffers = {ref: a.copy() for ref, a in zip(kernel.bufs, arrays)}
    run_kernel_numpy(kernel, buffers)
    return [buffers[r] for r in kernel.outputs]


def run_program(program, kernel: Kernel, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The PYTHON device on copies of `arrays`; returns the output buffers."""
    bufs = [a.copy() for a in arrays]
    interpret(program, bufs)
    return bufs[: kernel.n_outputs]
