"""Realize: turn lazy graph nodes into buffers that hold their values.

A `Tensor` is a lazy `Node`. When a value is needed (`.numpy()`, `.realize()`), the front end calls

    realize(roots, device) -> [BUFFER node, ...]        one per root, same shape and dtype

and from then on the Tensor points at that BUFFER node, so the work is never done twice.

Where the memory lives: `_storage` maps each `BufferRef` to a flat numpy array. It is a
`WeakKeyDictionary`, so a buffer's memory is freed when the last Node that names the BufferRef
(and so the last Tensor that could read it) is garbage collected. BufferRef compares by identity,
so two buffers never share an entry by accident.

How values are computed is behind one seam, `run_graph(roots, device) -> [BufferRef]`: the whole
compiler (schedule -> linearize -> render -> compile -> run; see `shrimpgrad/devices.py` for the
per-device part). Nothing else in this file or in the Tensor knows how values are computed.

ASSIGN: the scheduler turns an ASSIGN into a kernel that stores into the target's existing buffer,
through the target's view (e.g. `x[1:3].assign(...)` writes two elements of x's buffer), ordered
after every kernel that still reads the old contents.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from shrimpgrad.c import compile_stats
from shrimpgrad.devices import KernelRunner, kernel_runner
from shrimpgrad.graph import (
    BufferRef,
    DType,
    Node,
    Ops,
    ShapeTracker,
    buffer,
    print_graph,
    toposort,
)
from shrimpgrad.helpers import GlobalCounters, dump_console, emit_enabled
from shrimpgrad.schedule import Kernel, create_schedule, kernel_bytes, print_schedule

_storage: weakref.WeakKeyDictionary[BufferRef, np.ndarray] = weakref.WeakKeyDictionary()

DEVICES = ("C", "PYTHON", "CUDA")


# ---- memory ------------------------------------------------------------------------------------

def new_buffer(values: np.ndarray, dtype: DType) -> BufferRef:
    """A new buffer holding a copy of `values` (any shape), converted to `dtype`, stored flat."""
    return _adopt(np.array(values, dtype=dtype.np), dtype)  # np.array copies: the caller keeps its array


def _adopt(values: np.ndarray, dtype: DType) -> BufferRef:
    """A new buffer that takes over `values` (a fresh array nobody else holds) without copying."""
    flat = np.ascontiguousarray(values, dtype=dtype.np).reshape(-1)
    ref = BufferRef(flat.size, dtype)
    _storage[ref] = flat
    return ref


def buffer_value(ref: BufferRef) -> np.ndarray:
    """The flat array behind `ref` (read-only: write through ASSIGN)."""
    view = _storage[ref].view()
    view.flags.writeable = False
    return view


# ---- realize -----------------------------------------------------------------------------------

def realize(roots: list[Node], device: str = "C") -> list[Node]:
    """For each root, a BUFFER node of the root's shape whose buffer holds the root's value.

    A root that already is a BUFFER node is returned as it is (nothing is recomputed); the others
    are computed together in one `run_graph`, so work they share is done once. DEBUG>=5 or
    EMIT=graph prints each graph first."""
    roots = _without_finished_assigns(list(roots))
    todo = list(dict.fromkeys(r for r in roots if r.op is not Ops.BUFFER))  # unique, order kept
    if todo and emit_enabled("graph", 5):
        for root in todo:
            print_graph(root, console=dump_console())
    refs = dict(zip(todo, run_graph(todo, device))) if todo else {}
    for node in toposort(todo):
        if node.op is Ops.ASSIGN:
            _mark_finished(node)
    return [r if r.op is Ops.BUFFER else buffer(refs[r], r.shape, meta=r.meta) for r in roots]


# An ASSIGN must write once. After it ran, the graph node still exists (in other tensors' graphs, e.g. a loss
# built on a weight whose update was not realized yet), so realizing one of those graphs later must not write
# again (w - lr*g would be applied twice). A finished ASSIGN is therefore read as what it is now: its target,
# whose buffer holds the assigned value. Kept by identity (equal-looking ASSIGNs made later are new writes).
_finished: dict[int, weakref.ref[Node]] = {}


def _mark_finished(node: Node) -> None:
    key = id(node)
    _finished[key] = weakref.ref(node, lambda _: _finished.pop(key, None))  # forgotten when the node dies


def _is_finished(node: Node) -> bool:
    ref = _finished.get(id(node))
    return ref is not None and ref() is node


def _without_finished_assigns(roots: list[Node]) -> list[Node]:
    """roots, with every ASSIGN that already ran replaced by its target."""
    order = toposort(roots) if _finished else []
    if not any(n.op is Ops.ASSIGN and _is_finished(n) for n in order):
        return roots
    new: dict[int, Node] = {}
    for n in order:
        if n.op is Ops.ASSIGN and _is_finished(n):
            new[id(n)] = new[id(n.src[0])]
        else:
            src = tuple(new[id(s)] for s in n.src)
            new[id(n)] = n if all(a is b for a, b in zip(src, n.src)) else dataclasses.replace(n, src=src)
    return [new[id(r)] for r in roots]


def run_graph(roots: list[Node], device: str) -> list[BufferRef]:
    """Compute `roots` on `device`; one BufferRef per root holds its value. Performs the ASSIGN writes.

    THE SEAM: this is the only function that computes values. The whole compiler runs here:

        stage 02  create_schedule(roots)           which kernels, which buffers, in which order
        stage 03  linearize(kernel)                each kernel -> a flat UOp Program
        stage 04  CProgram(program)(buffers)       C source -> compiled (cached) -> run
                  (device PYTHON: stage 03's interpreter runs the Program instead)

    Fresh buffers (outputs, temporaries) are allocated just before the kernel that first writes them;
    a temporary is dropped right after the last kernel that reads it."""
    schedule = create_schedule(roots)
    if emit_enabled("schedule", 2):
        print_schedule(schedule, console=dump_console())
    fresh = {info.buf: info for info in schedule.buffers if info.kind in ("output", "temporary")}
    free_after: dict[int, list[BufferRef]] = {}
    for info in fresh.values():
        if info.kind == "temporary" and info.last_read is not None:
            free_after.setdefault(info.last_read, []).append(info.buf)
    for info in fresh.values():  # outputs exist even when no kernel writes them (an empty tensor)
        if info.kind == "output":
            _allocate(info.buf)
    compiled_before = compile_stats.compiled
    for i, kernel in enumerate(schedule.kernels):
        for buf in kernel.outputs:  # temporaries: just before their first writer
            _allocate(buf)
        runner = kernel_runner(kernel, device, show_uops=emit_enabled("uops", 3), show_source=emit_enabled("c", 4))
        seconds = runner.run([_storage[b] for b in kernel.bufs])
        _count(kernel, seconds, runner)
        for buf in free_after.get(i, ()):
            del _storage[buf]
    GlobalCounters.compile_count += compile_stats.compiled - compiled_before
    return [_as_row_major(ref, view) for ref, view in zip(schedule.outputs, schedule.output_views)]


def _allocate(buf: BufferRef) -> None:
    """Zeroed memory for a fresh buffer, unless it already has some (an assigned or earlier-allocated buffer)."""
    if buf not in _storage:
        _storage[buf] = np.zeros(buf.size, dtype=buf.dtype.np)


def _count(kernel: Kernel, seconds: float, runner: KernelRunner) -> None:
    """Update GlobalCounters for one kernel run; DEBUG>=1 (or EMIT=kernels) prints a line about it."""
    GlobalCounters.kernel_count += 1
    GlobalCounters.global_ops += runner.flops
    GlobalCounters.global_mem += kernel_bytes(kernel)  # depends on the buffers' sizes, not only the AST
    GlobalCounters.time_sum_s += seconds
    if runner.origin in ("disk cache", "memory"):
        GlobalCounters.cache_hits += 1
    if emit_enabled("kernels", 1):
        gflops = runner.flops / max(seconds, 1e-9) / 1e9
        print(f"*** {GlobalCounters.kernel_count:4d} {kernel.name:<28s} {runner.origin:<12s} "
              f"{seconds * 1e3:9.3f} ms  {gflops:8.2f} GFLOP/s  {kernel.reason}")


def _as_row_major(ref: BufferRef, view: ShapeTracker) -> BufferRef:
    """`ref` itself when `view` reads it row-major (a fresh output, a whole assigned buffer), else a new
    buffer holding the elements `view` reads (an ASSIGN into part of a buffer, e.g. x[1:3].assign(...))."""
    if view.contiguous and ref.size == view.size:
        return ref
    return _adopt(view.apply(_storage[ref]).reshape(-1), ref.dtype)
