"""Several compiled kernels run by one C call: `CBatch`, the CPU's answer to a CUDA graph.

    batch = CBatch([prog_a, prog_b], uses=[(2, 0, 1), (3, 2, 2)], n_slots=4)
    seconds = batch([x, y, None, out])       # kernel a: slot 2 = f(slots 0, 1); kernel b: slot 3 = g(slot 2)
                                             # slot 2 is a temporary: it lives in the batch's arena (below)

A TinyJit replay (and a schedule-cache plan run again) launches the same kernels in the same order every time,
only on other buffers. From Python each CProgram call costs a few microseconds (its checks, its pointers, ctypes),
and the kernels of a small training step take about as long each: an MLP step of 17 kernels spent 0.15 ms in
Python around 0.08 ms of C. A CBatch is one generated C function that calls every kernel through its function
pointer, each with its exact prototype:

    void batch(void **kernel, void **slot) {
      ((void (*)(float*, const float*, const float*))kernel[0])(slot[2], slot[0], slot[1]);  /* E_6 */
      ((void (*)(float*, const float*, const float*))kernel[1])(slot[3], slot[2], slot[2]);  /* E_6n1 */
    }

so a run is one pass over the slots and one ctypes call. The kernels stay separate functions in their own shared
objects (compiled and cached as before); the batch's source names only their order and buffers, so it is small,
compiles once in a few tens of milliseconds and is cached on disk like a kernel.

Temporaries: the caller may name slots whose contents don't outlive the batch (`temporaries`: written by a
kernel of the batch before any reads them, read by nobody after it). They get no arrays of their own: each is a
piece of one block of memory, the arena, laid out here once (memory planning): two temporaries share bytes when
their lifetimes (first to last kernel that uses them) don't overlap. A call then needs one array for all of them,
`arena_bytes` long, instead of one allocation and one release per temporary.

What CProgram checks before each call, a batch checks once per call for all the slots: each slot's array has the
dtype its kernels declare, is C-contiguous, holds the most elements any of its kernels uses, is writable if one
writes it, and no two slots' memory (nor one and the arena) overlaps: one sort of their address ranges, since the
kernels' pointers are `restrict`. Same kernels, same order, same buffers: the same results as calling each
CProgram in turn.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence

import numpy as np

from .compiler import compile_c
from .ctype import storage_type
from .runtime import ArgumentError, CProgram, data_pointer

ENTRY = "batch"
ALIGN = 64  # bytes: each temporary starts on a cache line (and a 512-bit vector's alignment), as numpy's do


class _SlotNeeds:
    """What the kernels of a batch need of one slot's memory, and when they use it."""

    __slots__ = ("dtype", "size", "written", "users", "first", "last")

    def __init__(self, dtype: np.dtype, kernel: int):
        self.dtype, self.size, self.written, self.users, self.first, self.last = dtype, 0, False, [], kernel, kernel

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


class CBatch:
    """`programs[i]` run on the slots `uses[i]` (its buffers in DEFINE_GLOBAL order), in order, by one C call.

    Attributes: `source` (the batch's C), `origin` (where its binary came from, as CProgram's), `offsets` (each
    temporary's byte offset in the arena) and `arena_bytes` (how long the arena must be)."""

    def __init__(self, programs: Sequence[CProgram], uses: Sequence[Sequence[int]], n_slots: int,
                 temporaries: Sequence[int] = ()):
        if len(programs) != len(uses):
            raise ValueError(f"CBatch: {len(programs)} programs but {len(uses)} lists of slots")
        self.programs, self.uses, self.n_slots = tuple(programs), tuple(tuple(u) for u in uses), n_slots
        self.needs = self._needs()
        self.offsets, planned = plan_arena(self._temporaries(temporaries))
        # any array will do: the temporaries start at its first ALIGN-ed byte, at most ALIGN - 1 bytes in
        self.arena_bytes = planned + ALIGN - 1 if self.offsets else 0
        self.source = render_batch(self.programs, self.uses)
        compiled = compile_c(self.source, ENTRY)
        self.origin = compiled.origin
        self._lib = ctypes.CDLL(str(compiled.path))  # compile_c verified the file's checksum first
        self._fn = self._lib[ENTRY]
        self._fn.argtypes, self._fn.restype = [ctypes.POINTER(ctypes.c_void_p)] * 2, None
        # the kernels' function pointers, fixed for the batch's life (it holds the programs, they their libraries)
        self._kernels = (ctypes.c_void_p * len(self.programs))(
            *[ctypes.cast(p._fn, ctypes.c_void_p).value for p in self.programs])
        self._checked = tuple((i, n.dtype, n.size, n.written) for i, n in enumerate(self.needs)
                              if n is not None and i not in self.offsets)

    def _needs(self) -> list[_SlotNeeds | None]:
        """Per slot, what its kernels need (None: no kernel uses it); a slot two kernels see as two dtypes is an
        error here, when the batch is built, not a wrong read later."""
        needs: list[_SlotNeeds | None] = [None] * self.n_slots
        for n, (prog, use) in enumerate(zip(self.programs, self.uses)):
            if len(use) != len(prog._globals):
                raise ValueError(f"CBatch: kernel {prog.name} takes {len(prog._globals)} buffers, given "
                                 f"{len(use)} slots")
            written = [s for s, (_, is_output, _) in zip(use, prog._expect) if is_output]
            if any(use.count(s) > 1 for s in written):
                raise ValueError(f"CBatch: kernel {prog.name} is given slots {use}: a slot it writes given twice "
                                 "would break its `restrict` pointers")
            for slot, (dtype, is_output, size) in zip(use, prog._expect):
                if not 0 <= slot < self.n_slots:
                    raise ValueError(f"CBatch: kernel {prog.name} uses slot {slot}, outside 0..{self.n_slots - 1}")
                need = needs[slot] = needs[slot] or _SlotNeeds(dtype, n)
                if need.dtype != dtype:
                    raise ValueError(f"CBatch: slot {slot} is {need.dtype} for kernel {need.users[0]} but {dtype} "
                                     f"for kernel {prog.name}")
                need.size, need.written, need.last = max(need.size, size), need.written or is_output, n
                need.users.append(prog.name)
        return needs

    def _temporaries(self, slots: Sequence[int]) -> dict[int, _SlotNeeds]:
        """The temporaries' needs; each must be written by the first kernel that uses it (else a read would see
        what another temporary left in the same bytes)."""
        out = {}
        for i in slots:
            need = self.needs[i] if 0 <= i < self.n_slots else None
            if need is None:
                raise ValueError(f"CBatch: temporary slot {i} is not used by any kernel")
            first = self.programs[need.first]
            if not any(s == i and is_output for s, (_, is_output, _) in zip(self.uses[need.first], first._expect)):
                raise ValueError(f"CBatch: temporary slot {i} is read by kernel {first.name} before any kernel "
                                 "writes it")
            out[i] = need
        return out

    def __len__(self) -> int:
        return len(self.programs)

    def __call__(self, arrays: Sequence[np.ndarray | None], arena: np.ndarray | None = None) -> float:
        """Run every kernel on `arrays` (one per slot; None for a slot no kernel uses and for the temporaries) and
        `arena` (at least `arena_bytes` bytes, when there are temporaries); returns the elapsed seconds."""
        slots = (ctypes.c_void_p * self.n_slots)(*self.check(arrays, arena))
        start = time.perf_counter()
        self._fn(self._kernels, slots)
        return time.perf_counter() - start

    def check(self, arrays: Sequence[np.ndarray | None], arena: np.ndarray | None = None) -> list[int]:
        """Raise ArgumentError if an array can't safely be passed to its kernels; else each slot's pointer (0 for
        a slot no kernel uses)."""
        if len(arrays) != self.n_slots:
            raise ArgumentError(f"batch of {len(self)} kernels takes {self.n_slots} slots, got {len(arrays)} arrays")
        pointers, spans = [0] * self.n_slots, []
        for i, dtype, size, written in self._checked:
            arr = arrays[i]
            if not (type(arr) is np.ndarray and arr.dtype == dtype and arr.flags.c_contiguous and arr.size >= size
                    and (not written or arr.flags.writeable)):
                raise ArgumentError(self._problem(i, arr))
            pointers[i] = ptr = data_pointer(arr)
            if arr.nbytes:
                spans.append((ptr, ptr + arr.nbytes, i))
        if self.offsets:
            base = self._arena_pointer(arena)
            for i, offset in self.offsets.items():
                pointers[i] = base + offset
            spans.append((data_pointer(arena), data_pointer(arena) + arena.nbytes, -1))  # -1: the arena
        spans.sort()
        for (_, end, i), (start, _, j) in zip(spans, spans[1:]):  # sorted by start: an overlap shows between neighbours
            if start < end:
                what = " and ".join(f"slot {s}'s array" if s >= 0 else "the arena" for s in (i, j))
                raise ArgumentError(f"batch: {what} overlap; the kernels' buffers are `restrict` pointers and must "
                                    "not overlap (pass a copy)")
        return pointers

    def _arena_pointer(self, arena) -> int:
        if not (type(arena) is np.ndarray and arena.flags.c_contiguous and arena.flags.writeable
                and arena.nbytes >= self.arena_bytes):
            raise ArgumentError(f"batch: its {len(self.offsets)} temporaries need an arena: a writable C-contiguous "
                                f"array of at least {self.arena_bytes} bytes, got "
                                f"{'None' if arena is None else f'{type(arena).__name__} of {arena.nbytes} bytes'}")
        return -(-data_pointer(arena) // ALIGN) * ALIGN  # arena_bytes has room for the bytes skipped here

    def _problem(self, i: int, arr) -> str:
        need = self.needs[i]
        what = f"batch slot {i} (used by {', '.join(need.users)}: {need.size} x {need.dtype})"
        if type(arr) is not np.ndarray:
            return f"{what}: expected a numpy array, got {type(arr).__name__}"
        if arr.dtype != need.dtype:
            return f"{what}: got dtype {arr.dtype}"
        if not arr.flags.c_contiguous:
            return f"{what}: the array is not C-contiguous (strides {arr.strides}); pass np.ascontiguousarray(arr)"
        if arr.size < need.size:
            return f"{what}: the array has only {arr.size} elements"
        return f"{what}: a kernel writes this slot but the array is read-only"

    def __repr__(self) -> str:
        arena = f", {len(self.offsets)} temporaries in {self.arena_bytes} bytes" if self.offsets else ""
        return f"CBatch({len(self)} kernels, {self.n_slots} slots{arena}, {self.origin})"


def plan_arena(temporaries: dict[int, _SlotNeeds]) -> tuple[dict[int, int], int]:
    """Each temporary's byte offset in one arena, and the arena's length. Largest first, each at the lowest
    ALIGN-ed offset where it overlaps no placed temporary whose lifetime overlaps its own (first fit): a
    temporary's bytes are reused once its last reader has run."""
    offsets: dict[int, int] = {}
    for i, need in sorted(temporaries.items(), key=lambda kv: (-kv[1].nbytes, kv[0])):
        alive = sorted((offsets[j], offsets[j] + temporaries[j].nbytes) for j in offsets
                       if temporaries[j].first <= need.last and need.first <= temporaries[j].last)
        offset = 0
        for start, end in alive:
            if offset + need.nbytes <= start:
                break
            offset = max(offset, -(-end // ALIGN) * ALIGN)
        offsets[i] = offset
    return offsets, max((offsets[i] + temporaries[i].nbytes for i in offsets), default=0)


def render_batch(programs: Sequence[CProgram], uses: Sequence[Sequence[int]]) -> str:
    """The batch's C: one call per kernel, through `kernel[i]` cast to its exact prototype (the parameter types
    its DEFINE_GLOBALs render as: calling a function through a pointer of another type is undefined in C)."""
    lines = [f"/* {len(programs)} kernels in one call (stage 04 batch.py): kernel[i] is the i-th kernel's function,"
             " slot[j] the j-th buffer */",
             f"void {ENTRY}(void **kernel, void **slot) {{"]
    for i, (prog, use) in enumerate(zip(programs, uses)):
        params = ", ".join(("" if g.arg[2] else "const ") + storage_type(g.dtype) + "*" for g in prog._globals)
        args = ", ".join(f"slot[{s}]" for s in use)
        lines.append(f"  ((void (*)({params}))kernel[{i}])({args});  /* {prog.name} */")
    lines.append("}")
    kinds = {storage_type(g.dtype) for prog in programs for g in prog._globals}
    head = ["#include <stdbool.h>"] * ("bool" in kinds) + ["typedef _Float16 half;"] * ("half" in kinds)
    return "\n".join(head + lines) + "\n"
