"""Realize: turn lazy graph nodes into buffers that hold their values.

A `Tensor` is a lazy `Node`. When a value is needed (`.numpy()`, `.realize()`), the front end calls

    realize(roots, device) -> [BUFFER node, ...]        one per root, same shape and dtype

and from then on the Tensor points at that BUFFER node, so the work is never done twice. What happens:

    1. split at COPY     each COPY's source is realized on its own device and its memory copied over
    2. schedule          stage 02 (cached: the same graph structure on new buffers is not rescheduled)
    3. lower_schedule    each kernel -> an ExecItem: a runner built for the device (stage 03 + 04/05), its buffers
    4. run               the ExecItems in order; fresh buffers come from the device's pool just before
                         their first writer, temporaries go back right after their last reader. A quiet run
                         (no DEBUG/EMIT dump, no JIT recording) runs the plan *by slot* instead (`SlotRun`):
                         the same kernels on the same buffers, without binding an ExecItem per kernel
                         (SHRIMPGRAD_SLOT_RUN=0: always through ExecItems); a TinyJit replay runs by slot too

`lower_schedule` is separate from running so its list can be printed (DEBUG=1), counted, and replayed: the
JIT captures these items. Which tensors are realized together, and why lazy in-place updates mean what eager
code means, is the front end's business (`shrimpgrad/inplace.py`); this module only computes graphs.

Where memory lives: `_storage` maps each `BufferRef` to a `Buffer` (its device and the device's handle: a
numpy array on C and PYTHON, a device pointer on CUDA). It is a `WeakKeyDictionary`, so a buffer's memory
goes back to its device's pool when the last Node that names the BufferRef is garbage collected.

What is checked where: shapes, dtypes and devices are checked when the graph is built (Tensor methods);
index tensors used by indexing/gather/losses are read to the host and bounds-checked when the op is
*called* (not here), so replaying ExecItems (the JIT) re-runs kernels without re-checking new index
values; the kernel runners check buffer counts, dtypes and sizes on every run.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from shrimpgrad import batched
from shrimpgrad.c import compile_stats
from shrimpgrad.devices import (
    RUNNER_CACHE,
    BufferPool,
    Device,
    KernelRunner,
    display_source,
    lookup_runner,
    print_cuda_dump,
)
from shrimpgrad.graph import (
    BufferRef,
    DType,
    Node,
    Ops,
    ShapeTracker,
    buffer,
    rewrite,
)
from shrimpgrad.graph.dtype import dtypes, to_storage
from shrimpgrad.helpers import DEBUG, EMIT, NOOPT, GlobalCounters, dump_console, emit_enabled, getenv
from shrimpgrad.schedule import Kernel, Schedule, create_schedule, kernel_bytes
from shrimpgrad.schedule.rules import costly_broadcast_enabled, fuse_rows_enabled

# ---- memory ------------------------------------------------------------------------------------------------

class Buffer:
    """The memory behind one BufferRef: `device` and its allocator's `handle`. When the Buffer goes (its
    BufferRef died, or a temporary was released), the handle returns to the device's pool."""

    # Not the BufferRef itself: `_storage` is keyed weakly by it, and a value naming its key would keep it alive.
    # The pool is looked up once: a training step makes and releases its temporaries every step.
    __slots__ = ("size", "dtype", "device", "handle", "pool", "__weakref__")

    def __init__(self, ref: BufferRef, device: str, handle: Any = None, pool: BufferPool | None = None):
        # `pool`: Device[device].pool, when the caller has it (SlotRun, for each buffer of every run)
        self.size, self.dtype, self.device = ref.size, ref.dtype, device
        self.pool = Device[device].pool if pool is None else pool
        self.handle = self.pool.alloc(ref.size, ref.dtype) if handle is None else handle

    def release(self) -> None:
        if self.handle is not None:
            self.pool.free(self.handle, self.size, self.dtype)
            self.handle = None

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - at interpreter exit the device may be gone already
            pass

    def to_host(self) -> np.ndarray:
        """The contents as a flat numpy array (the memory itself on host devices, a copy otherwise)."""
        spec = Device[self.device]
        host = spec.allocator.as_host(self.handle)
        if host is None:
            host = np.empty(self.size, dtype=self.dtype.np)
            spec.allocator.copyout(host, self.handle)
        return host


_storage: weakref.WeakKeyDictionary[BufferRef, Buffer] = weakref.WeakKeyDictionary()


def new_buffer(values: np.ndarray, dtype: DType, device: str = "C", draw: Callable[[], np.ndarray] | None = None,
               out: BufferRef | None = None) -> BufferRef:
    """A new buffer on `device` holding a copy of `values` (any shape), converted to `dtype`, stored flat.
    `draw` says the values are random and how to draw new ones (a JIT replay draws again); `out` names the
    BufferRef to fill (a replay's). bfloat16 takes its bits (uint16) as they are, and values of any other numpy
    dtype (random floats) rounded to its bits."""
    if dtype == dtypes.bfloat16 and np.asarray(values).dtype != dtype.np:
        values = to_storage(values, dtype)
    host = np.ascontiguousarray(values, dtype=dtype.np).reshape(-1)
    ref = BufferRef(host.size, dtype) if out is None else out
    buf = _storage[ref] = Buffer(ref, device)
    Device[device].allocator.copyin(buf.handle, host)
    for rec in _recorders:
        rec.on_new(ref, device, host, draw)
    return ref


def buffer_value(ref: BufferRef, check: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
    """The flat contents behind `ref` as a read-only numpy array (write through ASSIGN). `check`: the value is
    read only to be checked (index bounds), and `check` is what a JIT replay runs on the new value."""
    for rec in _recorders:
        rec.on_read(ref, check)
    view = _storage[ref].to_host().view()
    view.flags.writeable = False
    return view


def copy_buffer(ref: BufferRef, device: str, out: BufferRef | None = None) -> BufferRef:
    """A new buffer on `device` with the contents of `ref` (a snapshot, or a move between devices); `out` names
    the BufferRef to fill (a JIT replay's)."""
    src = _storage[ref]
    out = BufferRef(ref.size, ref.dtype) if out is None else out
    dst = _storage[out] = Buffer(out, device)
    start = time.perf_counter()
    src_host = Device[src.device].allocator.as_host(src.handle)
    if src_host is not None:
        Device[device].allocator.copyin(dst.handle, src_host)
    else:
        dst_host = Device[device].allocator.as_host(dst.handle)
        if dst_host is not None:
            Device[src.device].allocator.copyout(dst_host, src.handle)
        else:  # device to another device: through the host
            Device[device].allocator.copyin(dst.handle, src.to_host())
    seconds = time.perf_counter() - start
    GlobalCounters.copy_count += 1
    if emit_enabled("kernels", 1):
        print(f"*** copy {src.device} -> {device}: {ref.size * ref.dtype.itemsize} bytes  "
              f"{seconds * 1e3:9.3f} ms")
    for rec in _recorders:
        rec.on_copy(ref, out, device)
    return out


# ---- recorders (how the JIT watches a function run) -----------------------------------------------------------
# Everything that puts values into buffers goes through four places: new_buffer (data from the host), copy_buffer,
# the kernels run_graph runs, and reads to the host (buffer_value). A recorder registered here is told about each,
# in order; shrimpgrad/jit.py's TinyJit turns that record into a list of steps it can replay.

class Recorder(Protocol):
    def on_new(self, ref: BufferRef, device: str, host: np.ndarray, draw: Callable[[], np.ndarray] | None) -> None: ...
    def on_read(self, ref: BufferRef, check: Callable[[np.ndarray], None] | None) -> None: ...
    def on_copy(self, src: BufferRef, dst: BufferRef, device: str) -> None: ...
    def on_items(self, items: Sequence[ExecItem], empty_outputs: Sequence[BufferRef], device: str) -> None: ...


_recorders: list[Recorder] = []

# Graph watchers (shrimpgrad.explain): each is called with (roots, device) for every graph `run_graph` computes,
# before it runs, so a learner's tool can schedule and lower the same graph again and show every stage.
_graph_watchers: list[Callable[[list[Node], str], None]] = []


# ---- ExecItems ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, init=False)
class ExecItem:
    """One kernel ready to run: its runner (built for `device`) and the buffers it takes, in DEFINE_GLOBAL order.
    `allocate` are the fresh buffers it writes first; `release` the temporaries nobody reads after it."""

    kernel: Kernel
    runner: KernelRunner
    device: str
    bufs: tuple[BufferRef, ...]
    allocate: tuple[BufferRef, ...] = ()
    release: tuple[BufferRef, ...] = ()
    nbytes: int = 0  # the kernel's memory traffic (for GlobalCounters), computed once
    origin: str = ""  # where its runner came from when this item was made (CACHE_HITS, "compiled", ...)
    # A reused plan's kernel was scheduled from an earlier graph, which may come from other user lines: `lines`
    # is this run's graph (and the kernel's index in its schedule), so `source` can name this run's lines.
    lines: tuple[RunGraph, int] | None = field(default=None, compare=False, repr=False)

    # Written out (init=False), as stage 01's Node: a schedule-cache hit binds one item per kernel every realize
    # (16 per W6 step), and the generated frozen __init__ sets its nine fields one object.__setattr__ at a time.
    def __init__(self, kernel: Kernel, runner: KernelRunner, device: str, bufs: tuple[BufferRef, ...],
                 allocate: tuple[BufferRef, ...] = (), release: tuple[BufferRef, ...] = (), nbytes: int = 0,
                 origin: str = "", lines: tuple[RunGraph, int] | None = None):
        self.__dict__.update(kernel=kernel, runner=runner, device=device, bufs=bufs, allocate=allocate,
                             release=release, nbytes=nbytes, origin=origin, lines=lines)

    def run(self) -> float:
        return self._run(self.bufs, self.allocate, self.release)

    def _run(self, bufs: Sequence[BufferRef], allocate: Sequence[BufferRef], release: Sequence[BufferRef]) -> float:
        for b in allocate:
            if b not in _storage:
                _storage[b] = Buffer(b, self.device)
        get = _storage.get  # every buffer of every kernel: _memory (the error) only for one that has no memory
        seconds = self.runner.run([held.handle if (held := get(b)) is not None else self._memory(b).handle
                                   for b in bufs])
        _count(self, seconds)
        for b in release:
            buf = _storage.pop(b, None)
            if buf is not None:
                buf.release()
        return seconds

    def _memory(self, b: BufferRef) -> Buffer:
        held = _storage.get(b)
        if held is None and b.size == 0:  # an empty temporary no kernel writes (a slice of nothing): no memory needed
            held = _storage[b] = Buffer(b, self.device)
        if held is None:
            raise RuntimeError(f"kernel {self.kernel.name}: buffer {b!r} has no memory (nothing wrote it before this "
                               "kernel reads it); this is a ShrimpGrad bug, please report it with the program")
        return held

    @property
    def shown_kernel(self) -> Kernel:
        """The kernel as scheduled from this run's own graph: `kernel` itself, or for a reused plan the same
        kernel with this graph's provenance (scheduled again, only when asked: DEBUG=4, `source`)."""
        return self.kernel if self.lines is None else self.lines[0].kernels()[self.lines[1]]

    @property
    def source(self) -> str | None:
        """The generated source of this kernel, its comments naming this run's user lines (the runner's own
        `source` names the lines of the graph it was first built for: runners are shared by equal ASTs)."""
        return display_source(self.shown_kernel, self.runner, self.device)

    def rebind(self, new: dict[BufferRef, BufferRef]) -> ExecItem:
        """The same kernel on other buffers (`new` maps old -> new; unmapped buffers stay)."""
        def sub(bs: tuple[BufferRef, ...]) -> tuple[BufferRef, ...]:
            return tuple([new.get(b, b) for b in bs])
        return ExecItem(self.kernel, self.runner, self.device, sub(self.bufs), sub(self.allocate), sub(self.release),
                        self.nbytes, self.origin, self.lines)


class RunGraph:
    """One realized graph, kept by the ExecItems of a reused plan so they can show its provenance: its kernels
    as stage 02 schedules them from this graph are made on first use (nothing is scheduled on a plain run)."""

    __slots__ = ("roots", "_kernels")

    def __init__(self, roots: list[Node]):
        self.roots, self._kernels = tuple(roots), None

    def kernels(self) -> tuple[Kernel, ...]:
        if self._kernels is None:
            self._kernels = create_schedule(list(self.roots)).kernels
        return self._kernels


# The three caches a kernel can come from (docs/caches.md): a hit is counted once per kernel looked up, when its
# ExecItem is made, in GlobalCounters.cache_hits; a miss (the compiler ran) in GlobalCounters.compile_count.
# A realize served by the schedule cache looks nothing up: it counts in schedule_hits, its kernels in neither.
CACHE_HITS = ("disk cache", "memory", RUNNER_CACHE)  # memory: the compiled library was loaded already
SCHEDULE_CACHE_ORIGIN = "schedule cache"


def lower_schedule(schedule: Schedule, device: str) -> list[ExecItem]:
    """Each kernel of `schedule` as an ExecItem for `device` (linearized with the device's opts, built by the
    device: compiled, loaded from the disk cache, or reused from memory); each cache hit is counted here."""
    first_write: dict[int, list[BufferRef]] = {}
    last_read: dict[int, list[BufferRef]] = {}
    for info in schedule.buffers:
        if info.kind in ("output", "temporary") and info.first_write is not None:
            first_write.setdefault(info.first_write, []).append(info.buf)
        if info.kind == "temporary" and info.last_read is not None:
            last_read.setdefault(info.last_read, []).append(info.buf)
    items = []
    for i, kernel in enumerate(schedule.kernels):
        runner, origin = lookup_runner(kernel, device)
        if origin in CACHE_HITS:
            GlobalCounters.cache_hits += 1
        items.append(ExecItem(kernel, runner, device, tuple(kernel.bufs), tuple(first_write.get(i, ())),
                              tuple(last_read.get(i, ())), kernel_bytes(kernel), origin))
    return items


def run_items(items: Sequence[ExecItem]) -> None:
    """Run the items in order, printing what DEBUG/EMIT ask for first (the source names this run's user lines)."""
    show_uops, show_source, show_cuda = emit_enabled("uops", 3), emit_enabled("c", 4), emit_enabled("cuda", None)
    for item in items:
        if show_uops:  # at run time, not when lowering: a cached schedule prints its kernels too
            from shrimpgrad.linearize.viz import print_program  # rich, graphviz: loaded by the first dump

            print_program(item.runner.program, console=dump_console())
        if show_source and (source := item.source) is not None:
            from shrimpgrad.c.viz import CUDA_HEADER, STAGE_HEADER, print_source

            header = CUDA_HEADER if Device.canonicalize(item.device) == "CUDA" else STAGE_HEADER
            print_source(source, console=dump_console(), header=header)
        if show_cuda and not (show_source and item.device == "CUDA"):  # on CUDA the source above is the CUDA
            print_cuda_dump(item.kernel, item.runner, item.device)
        item.run()


# ---- running kernels by slot ---------------------------------------------------------------------------------
# A schedule-cache hit and a TinyJit replay run the same kernels on new buffers every time, and both know each
# kernel's buffers as positions ("slots") in one list of the run's BufferRefs, worked out once. Running by slot
# skips what run_items pays per kernel per run: an ExecItem bound to the run's buffers, a lookup of each buffer's
# memory in the weak `_storage` (here `held[slot]` is the Buffer, set when it is made), GlobalCounters updated and
# EMIT/DEBUG asked per kernel (here once per run; a run with a dump on takes run_items, which prints them).

@dataclass(frozen=True)
class SlotKernel:
    """One kernel of a plan (or a TinyJit capture) by slot: `item` is the ExecItem it was made from (its runner,
    device and counters; its buffers are placeholders or the captured ones), `use` its buffers' slots in
    DEFINE_GLOBAL order, `allocate` the slots it writes first, `release` the temporaries nobody reads after it."""

    item: ExecItem
    use: tuple[int, ...]
    allocate: tuple[int, ...]
    release: tuple[int, ...]

    @classmethod
    def of(cls, item: ExecItem, slot: dict[BufferRef, int]) -> SlotKernel:
        """`item` by slot: `slot` numbers every buffer it names."""
        return cls(item, tuple(slot[b] for b in item.bufs), tuple(slot[b] for b in item.allocate),
                   tuple(slot[b] for b in item.release))


def quiet() -> bool:
    """No DEBUG level and no EMIT name is set, so no dump can be on: what emit_enabled would answer for every stage
    and kernel, in two attribute reads (the slot runner is for quiet runs)."""
    return not DEBUG.value and not EMIT.value


class SlotRun:
    """Kernels to run by slot, in order, with their GlobalCounters totals (added up once, not per run)."""

    __slots__ = ("kernels", "flops", "nbytes", "pools", "runs", "batched", "launches", "last_gpu")

    def __init__(self, kernels: Sequence[SlotKernel]):
        self.kernels = tuple(kernels)
        self.pools = tuple(Device[k.item.device].pool for k in self.kernels)  # where its fresh memory comes from
        self.flops = sum(k.item.runner.flops for k in self.kernels)
        self.nbytes = sum(k.item.nbytes for k in self.kernels)
        # batched.py: run again, the kernels become one C call (None: not yet; False: they can't)
        self.runs, self.batched = 0, None
        # A GPU kernel is only launched (its program's `enqueue`), and the run waits once, after the last of them
        # (`finish`): a wait per kernel cost ~5 us each, and a replay builds its result while the GPU runs
        self.launches = tuple(getattr(k.item.runner.run, "enqueue", None) for k in self.kernels)
        gpu = [k.item.runner.run for k, launch in zip(self.kernels, self.launches) if launch is not None]
        self.last_gpu = gpu[-1] if gpu else None

    def __len__(self) -> int:
        return len(self.kernels)

    def run(self, refs: list[BufferRef], held: list[Buffer | None], count_each: bool = False, wait: bool = True):
        """Run the kernels on one run's buffers: `refs[slot]` its BufferRef, `held[slot]` its Buffer (None: not
        looked up yet, or no memory yet: a kernel's `allocate` slots get theirs from the pool, its `release` slots
        go back after it). Same effects as ExecItem.run of each bound item: the same memory in `_storage`, the same
        GlobalCounters, the same error for a buffer with no memory. `count_each`: count (and with DEBUG=1 print)
        each kernel as it runs, as ExecItem.run does (a GPU kernel waited for one by one); else the counters are
        added up once. `wait=False`: return the GPU program to `finish` (the kernels may still be running; a
        TinyJit replay waits after building its result), else None."""
        batch = None if count_each else self._batch()
        if batch is not None:
            self._add_counts(len(self.kernels), self._run_batched(batch, refs, held))
            return None
        seconds, done, start = 0.0, 0, time.perf_counter()
        try:
            for k, pool, launch in zip(self.kernels, self.pools, self.launches):
                for i in k.allocate:
                    if held[i] is None:
                        ref = refs[i]
                        held[i] = _storage[ref] = Buffer(ref, k.item.device, pool=pool)
                handles = [b.handle if (b := held[i]) is not None else _memory_of(k, refs, held, i) for i in k.use]
                if count_each:
                    _count(k.item, k.item.runner.run(handles))
                elif launch is not None:
                    launch(handles)  # a GPU kernel: its time is counted when the run waits for it
                else:
                    seconds += k.item.runner.run(handles)
                done += 1
                if k.release:
                    _release(k.release, refs, held)
            if self.last_gpu is not None and not count_each:
                if not wait:
                    return self.last_gpu
                self.last_gpu.finish()
                seconds = time.perf_counter() - start  # a GPU run's time: its first launch to the end of the wait
        finally:  # (count_each: counted above)
            if not count_each:
                self._add_counts(done, seconds)
        return None

    @staticmethod
    def _run_batched(b: batched.Batched, refs: list[BufferRef], held: list[Buffer | None]) -> float:
        """The kernels as one C call (batched.py): what the loop in `run` does kernel by kernel, for the whole run
        at once (memory for the outputs written first, the reads looked up, the call, the released buffers back);
        the temporaries live in the call's arena. Returns the call's seconds."""
        for i, device, pool in b.allocate:
            if held[i] is None:
                ref = refs[i]
                held[i] = _storage[ref] = Buffer(ref, device, pool=pool)
        for i, k in b.lookup:
            if held[i] is None:
                _memory_of(k, refs, held, i)  # _storage's memory, or the "has no memory" error
        arrays = [None] * b.batch.n_slots
        for i in b.used:
            arrays[i] = held[i].handle
        seconds = b.call(arrays)
        _release(b.release, refs, held)
        return seconds

    @staticmethod
    def finish(gpu) -> None:
        """Wait for what a `run(..., wait=False)` left running; its time joins GlobalCounters' kernel time."""
        start = time.perf_counter()
        gpu.finish()
        GlobalCounters.time_sum_s += time.perf_counter() - start

    def _batch(self) -> batched.Batched | None:
        """The kernels as one C call (batched.py), from their BATCH_AFTER_RUNS-th run on, if they can be."""
        if self.batched is False:  # they can't (one kernel, another device): asked first, G6's one-kernel replay
            return None
        if not batched.enabled():  # read every run: the switch works on plans that were batched already
            return None
        if self.batched is None:
            self.runs += 1
            if self.runs < batched.BATCH_AFTER_RUNS:
                return None
            self.batched = batched.Batched(self.kernels, self.pools) if batched.why_not(self.kernels) is None else False
        return self.batched or None

    def _add_counts(self, done: int, seconds: float) -> None:
        """GlobalCounters for the first `done` kernels (all of them, or those before one that raised), what _count
        adds per kernel, added up."""
        if done == len(self.kernels):
            flops, nbytes = self.flops, self.nbytes
        else:
            flops = sum(k.item.runner.flops for k in self.kernels[:done])
            nbytes = sum(k.item.nbytes for k in self.kernels[:done])
        GlobalCounters.kernel_count += done
        GlobalCounters.global_ops += flops
        GlobalCounters.global_mem += nbytes
        GlobalCounters.time_sum_s += seconds


def _release(slots: Sequence[int], refs: list[BufferRef], held: list[Buffer | None]) -> None:
    """The released slots' Buffers back to their pool, and out of `_storage` (a temporary whose last reader ran)."""
    for i in slots:
        buf = held[i]
        if buf is not None:
            held[i] = None
            _storage.pop(refs[i], None)
            buf.release()


def _memory_of(k: SlotKernel, refs: list[BufferRef], held: list[Buffer | None], i: int):
    """The handle of slot i, which has no Buffer in `held` yet: `_storage`'s (looked up on first use: a buffer of the
    graph, or one a step outside the kernels made), an empty temporary's, or ExecItem._memory's error."""
    buf = held[i] = k.item._memory(refs[i])
    return buf.handle


def _count(item: ExecItem, seconds: float) -> None:
    """Update GlobalCounters for one kernel run; DEBUG>=1 (or EMIT=kernels) prints a line about it."""
    runner = item.runner
    GlobalCounters.kernel_count += 1
    GlobalCounters.global_ops += runner.flops
    GlobalCounters.global_mem += item.nbytes
    GlobalCounters.time_sum_s += seconds
    if emit_enabled("kernels", 1):
        gflops = runner.flops / max(seconds, 1e-9) / 1e9
        print(f"*** {GlobalCounters.kernel_count:4d} {item.kernel.name:<28s} {item.device:<6s} {item.origin:<14s} "
              f"{seconds * 1e3:9.3f} ms  {gflops:8.2f} GFLOP/s  {item.kernel.reason}")


# ---- the schedule cache --------------------------------------------------------------------------------------
# A training loop realizes the same graph every step, on new buffers (new batch, new gradients). Scheduling
# and lowering don't depend on which buffers, only on the graph's structure, so they are done once per
# structure: the graph is keyed by its nodes with each buffer replaced by its position among the graph's
# buffers. The cached plan is made on placeholder buffers (so it keeps no real memory alive) and bound to the
# real ones on every hit. Provenance is not part of the key (the same step from other lines is the same plan):
# what a run shows of its lines comes from its own graph (ExecItem.lines).
#
# A hit is what a training step pays every step, so it is kept to one walk of the graph (`_structure`, which
# also finds COPY nodes for realize), one hash of the key, and a bind that only indexes: the plan stores each
# item's buffers as slots (0.. the graph's buffers, then the fresh ones the plan allocates).

class _Key:
    """A graph's structure as a dict key. The rows are hashed once: a training step's graph has hundreds of
    them, and a lookup and its LRU update would each hash the whole tuple again."""

    __slots__ = ("rows", "_hash")

    def __init__(self, rows: tuple):
        self.rows, self._hash = rows, hash(rows)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return isinstance(other, _Key) and self._hash == other._hash and self.rows == other.rows


@dataclass(frozen=True)
class _Walk:
    """What one walk of a graph finds: its structure (`key`), its buffers in first-seen order, and whether it has
    COPY nodes (realize splits those off first)."""

    key: _Key
    bufs: list[BufferRef]
    has_copy: bool


def _structure(roots: list[Node]) -> _Walk:
    """Walk the graph once, sources first (the order of graph.toposort): each node becomes a row (op, dtype name,
    shape, arg, source rows) with a buffer as ("buf", its position, size, dtype name) and an ASSIGN's write id
    dropped (new every step, same plan). Written out rather than toposort + a second loop, since it runs every realize:
    the stack holds each node once, with an iterator over its sources that resumes where it stopped, and a leaf
    (a buffer, a constant: a third of a training step's nodes) is listed as soon as it is seen, never stacked
    (W6's 135 nodes: 141 -> 94 us a walk)."""
    index: dict[int, int] = {}  # id(node) -> its row
    position: dict[BufferRef, int] = {}
    bufs: list[BufferRef] = []
    rows: list[tuple] = []
    has_copy = False

    def list_node(n: Node) -> None:
        nonlocal has_copy
        op, arg = n.op, n.arg
        if op is Ops.BUFFER:
            at = position.get(arg)
            if at is None:
                at = position[arg] = len(bufs)
                bufs.append(arg)
            arg = ("buf", at, arg.size, arg.dtype.name)
        elif op is Ops.ASSIGN:
            arg = None
        elif op is Ops.COPY:
            has_copy = True
        src = n.src
        index[id(n)] = len(rows)
        # A dtype by its name (which names it): the key is hashed, and compared on a hit, row by row, and a str
        # does both in C where a DType calls Python. One or no source (most nodes) without a loop.
        rows.append((op, n.dtype.name, n.shape, arg, () if not src else (index[id(src[0])],) if len(src) == 1
                     else tuple([index[id(s)] for s in src])))

    for root in roots:
        if id(root) in index:  # listed already, under an earlier root
            continue
        stack = [(root, iter(root.src))]
        while stack:
            n, sources = stack[-1]
            for s in sources:
                if id(s) not in index:
                    if s.src:  # go down into the first source not listed yet; back here after it
                        stack.append((s, iter(s.src)))
                        break
                    list_node(s)  # a leaf: nothing to go down into
            else:  # every source is listed: list n
                stack.pop()
                if id(n) not in index:
                    list_node(n)
    return _Walk(_Key((tuple(rows), tuple([index[id(r)] for r in roots]))), bufs, has_copy)


@dataclass(frozen=True)
class _Plan:
    """A graph's schedule and ExecItems, made on placeholder buffers, and how to bind them to a run's buffers:
    slot i < len(inputs) is the run's i-th graph buffer, the others are `fresh` (new buffers every run)."""

    schedule: Schedule
    items: tuple[ExecItem, ...]
    inputs: tuple[BufferRef, ...]  # the placeholders, in the order `_structure` lists the real buffers
    fresh: tuple[BufferRef, ...]  # the outputs and temporaries the plan allocates
    run: SlotRun  # the items by slot: each one's bufs, allocate and release
    outputs: tuple[int, ...]  # the slots of schedule.outputs
    empty: tuple[int, ...]  # the slots of outputs no kernel writes (an empty tensor): given memory at bind
    row_major: tuple[bool, ...]  # per output: its view reads its buffer whole and row-major (_as_row_major: itself)


_plans: OrderedDict[tuple, _Plan] = OrderedDict()
_MAX_PLANS = 256
SCHEDULE_CACHE = getenv("SCHEDULE_CACHE", 1)
# 0: every run binds ExecItems and runs them through run_items (the path a dump or a JIT recording takes), as
# before SlotRun: the same results, counters and memory, slower (issue 16's G6 realize on C: ~63 us, ~60 by slot)
SLOT_RUN = getenv("SHRIMPGRAD_SLOT_RUN", 1)


def _with_placeholders(roots: list[Node], bufs: list[BufferRef]) -> tuple[list[Node], tuple]:
    """The graph rebuilt on placeholder buffers (same sizes and dtypes) and the placeholders, in `bufs` order."""
    holders = {b: BufferRef(b.size, b.dtype) for b in bufs}
    rebuilt = rewrite(roots, lambda n: dataclasses.replace(n, arg=holders[n.arg]) if n.op is Ops.BUFFER else n)
    return rebuilt, tuple(holders[b] for b in bufs)


def _make_plan(roots: list[Node], inputs: tuple[BufferRef, ...], device: str) -> _Plan:
    """Schedule and lower `roots` (a graph whose buffers are `inputs`), and lay the result out in slots."""
    schedule = create_schedule(roots)
    items = tuple(lower_schedule(schedule, device))
    fresh = tuple(info.buf for info in schedule.buffers if info.kind in ("output", "temporary"))
    slot = {b: i for i, b in enumerate((*inputs, *fresh))}
    for b in {b for item in items for b in item.bufs} | set(schedule.outputs):
        if b not in slot:
            raise RuntimeError(f"schedule cache: {b!r} is neither a buffer of the graph nor one the schedule makes; "
                               "this is a ShrimpGrad bug, please report it with the program")
    run = SlotRun(SlotKernel.of(item, slot) for item in items)
    written = {b for item in items for b in item.allocate}
    empty = tuple(slot[b] for b in schedule.outputs if b in fresh and b not in written)
    row_major = tuple(view.contiguous and b.size == view.size for b, view in zip(schedule.outputs,
                                                                                 schedule.output_views))
    return _Plan(schedule, items, inputs, fresh, run, tuple(slot[b] for b in schedule.outputs), empty, row_major)


def _plan(roots: list[Node], device: str, walk: _Walk) -> tuple[_Plan, bool]:
    """(the plan that computes `roots` on `device`, whether it was cached)."""
    _check_devices(walk.bufs, device)
    if not SCHEDULE_CACHE:
        return _make_plan(roots, tuple(walk.bufs), device), False
    # NOOPT changes the kernels a device builds, SHRIMPGRAD_FUSE_ROWS and SHRIMPGRAD_STORE_COSTLY_BROADCAST how many
    # there are (stage 02's rules F5 and B11): a plan made under the other setting is another plan (a notebook
    # switches them between cells)
    key = (device, bool(NOOPT), fuse_rows_enabled(), costly_broadcast_enabled(), walk.key)
    plan = _plans.get(key)
    if plan is not None:
        # the LRU order: a loop realizing one graph finds it last already, and move_to_end would hash and compare
        # the key again (its rows: a whole training step's graph)
        if next(reversed(_plans.values())) is not plan:
            _plans.move_to_end(key)
        GlobalCounters.schedule_hits += 1
        return plan, True
    placeholder_roots, holders = _with_placeholders(roots, walk.bufs)
    plan = _plans[key] = _make_plan(placeholder_roots, holders, device)
    if len(_plans) > _MAX_PLANS:
        _plans.popitem(last=False)
    GlobalCounters.schedule_misses += 1
    return plan, False


def _bind(plan: _Plan, bufs: list[BufferRef], graph: RunGraph | None) -> tuple[list[ExecItem], list, list]:
    """(ExecItems, outputs, empty outputs) of the plan on this run's buffers: `bufs` for the graph's, new ones for
    the fresh.
    `graph`: this run's graph, for a reused plan (nothing was looked up: DEBUG=1 says "schedule cache")."""
    slots = _slots(plan, bufs)
    items = []
    for i, k in enumerate(plan.run.kernels):
        item = k.item
        items.append(ExecItem(item.kernel, item.runner, item.device, tuple([slots[j] for j in k.use]),
                              tuple([slots[j] for j in k.allocate]), tuple([slots[j] for j in k.release]), item.nbytes,
                              item.origin if graph is None else SCHEDULE_CACHE_ORIGIN,
                              None if graph is None else (graph, i)))
    return items, [slots[j] for j in plan.outputs], [slots[j] for j in plan.empty]


def _slots(plan: _Plan, bufs: list[BufferRef]) -> list[BufferRef]:
    """The run's BufferRef of each slot of `plan`: the graph's own buffers, then a new one for each fresh."""
    return [*bufs, *[BufferRef(b.size, b.dtype) for b in plan.fresh]]


def _run_plan(plan: _Plan, bufs: list[BufferRef], device: str) -> list[BufferRef]:
    """Run `plan` on the graph's buffers `bufs`, by slot (quiet, no JIT watching: nothing needs the ExecItems that
    _bind makes); the outputs' BufferRefs."""
    refs = _slots(plan, bufs)
    held: list[Buffer | None] = [None] * len(refs)  # each graph buffer's memory is looked up on first use
    for j in plan.empty:  # an output no kernel writes (an empty tensor) still gets its (empty) memory
        _storage[refs[j]] = Buffer(refs[j], device)
    plan.run.run(refs, held)
    return [refs[j] for j in plan.outputs]


def _check_devices(bufs: list[BufferRef], device: str) -> None:
    """A kernel on `device` can read only memory it can address (C and PYTHON memory are both host arrays, so a
    kernel of one may read the other's; a GPU's is its own)."""
    for ref in bufs:
        held = _storage.get(ref)
        if held is not None and Device[held.device].is_gpu != Device[device].is_gpu:
            raise RuntimeError(f"realize on {device}: the graph reads a buffer on {held.device} "
                               f"without a COPY (use Tensor.to({device!r}))")


def clear_schedule_cache() -> None:
    _plans.clear()


# ---- realize -----------------------------------------------------------------------------------------------

def realize(roots: list[Node], device: str = "C") -> list[Node]:
    """For each root, a BUFFER node of the root's shape whose buffer (on `device`) holds the root's value.

    A root that already is a BUFFER node is returned as it is (nothing is recomputed); the others are computed
    together in one schedule, so work they share is done once. DEBUG>=5 or EMIT=graph prints each graph."""
    roots = list(roots)
    todo = list(dict.fromkeys(r for r in roots if r.op is not Ops.BUFFER))  # unique, order kept
    if not todo:
        return roots
    walk = _structure(todo)  # walked once, for the COPY check and the schedule cache's key
    if walk.has_copy:
        roots = _split_copies(roots, device)
        todo = list(dict.fromkeys(r for r in roots if r.op is not Ops.BUFFER))
        walk = _structure(todo) if todo else None
    if todo and not quiet() and emit_enabled("graph", 5):
        for root in todo:
            from shrimpgrad.graph.viz import print_graph

            print_graph(root, console=dump_console())
    refs = dict(zip(todo, run_graph(todo, device, walk))) if todo else {}
    return [r if r.op is Ops.BUFFER else buffer(refs[r], r.shape, meta=r.meta) for r in roots]


def run_graph(roots: list[Node], device: str, walk: _Walk | None = None) -> list[BufferRef]:
    """Compute `roots` (a graph without COPY nodes) on `device`; one BufferRef per root holds its value.
    Performs the ASSIGN writes. This is the only function that runs the compiler. `walk`: _structure(roots),
    when the caller has it already."""
    for watch in _graph_watchers:  # explain: see the graph before it runs
        watch(roots, device)
    walk = _structure(roots) if walk is None else walk
    compiled_before = compile_stats.compiled
    plan, hit = _plan(roots, device, walk)
    GlobalCounters.compile_count += compile_stats.compiled - compiled_before
    loud = not quiet()  # a dump may be on (asked once: most realizes have none)
    if loud and emit_enabled("schedule", 2):
        from shrimpgrad.schedule.viz import print_schedule

        print_schedule(plan.schedule, console=dump_console())
    if _recorders or loud or not SLOT_RUN:  # a JIT watches (it keeps the ExecItems), a dump is on (run_items prints)
        items, outputs, empty = _bind(plan, walk.bufs, RunGraph(roots) if hit else None)
        for out in empty:  # an output no kernel writes (an empty tensor) still gets its (empty) memory
            _storage[out] = Buffer(out, device)
        for rec in _recorders:
            rec.on_items(items, empty, device)
        run_items(items)
    else:
        outputs = _run_plan(plan, walk.bufs, device)
    # whether each output is read whole and row-major is the plan's (no ShapeTracker asked every run)
    return [ref if whole else _as_row_major(ref, view, device)
            for ref, view, whole in zip(outputs, plan.schedule.output_views, plan.row_major)]


def _split_copies(roots: list[Node], device: str) -> list[Node]:
    """roots with each COPY replaced by a BUFFER on the COPY's target device, holding the copied value: the
    COPY's source is realized on its own device first (innermost COPYs first)."""
    def copied(node: Node) -> Node:
        if node.op is not Ops.COPY:
            return node
        from_device, to_device = node.arg
        (value,) = realize([node.src[0]], from_device)
        return buffer(copy_buffer(value.arg, to_device), node.shape, meta=node.meta)

    return rewrite(roots, copied)


def _as_row_major(ref: BufferRef, view: ShapeTracker, device: str) -> BufferRef:
    """`ref` itself when `view` reads it row-major (a fresh output, a whole assigned buffer), else a new
    buffer holding the elements `view` reads (an ASSIGN into part of a buffer, e.g. x[1:3].assign(...))."""
    if view.contiguous and ref.size == view.size:
        return ref
    for rec in _recorders:
        rec.on_read(ref, None)  # a host-side gather: not something a JIT can replay
    return new_buffer(view.apply(_storage[ref].to_host()).reshape(-1), ref.dtype, device)
