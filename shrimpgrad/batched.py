"""Batched launches: a SlotRun's kernels, all on device C, run by one C call (stage 04's `CBatch`).

A TinyJit replay and a schedule-cache plan run the same kernels in the same order on every call; only the buffers
change. Run by slot (realize.SlotRun), each kernel still costs a Python call into ctypes and a check of its buffers
(4-6 us on the 2-core VM): an MLP training step of 17 small kernels spent about as long launching them as running
them. The second time a SlotRun runs, it builds a `Batched` form of itself: one generated C function that calls
each kernel in turn (a TinyJit's are in `jit.batches`, each with its `.source`), so a run is

    memory for the outputs the kernels write first (from the pool, as a SlotRun gives it)
    -> one block from the pool for all the temporaries (stage 04 lays them out in it: its `plan_arena`)
    -> every slot's array, checked once -> one C call -> the block and the released buffers back to the pool

Same kernels, buffers and order as running them one by one, so the same results; the same `_storage` afterwards
and the same GlobalCounters (the kernel count, FLOPs and bytes; the time is the batch's, not each kernel's). The
temporaries' block is planned by lifetime, as the pool would reuse them one by one; its first-fit layout may
still be larger than what the pool would hold at the peak, so runs with large temporaries stay one by one
(MAX_TEMPORARY_BYTES).

Not batched (the SlotRun runs kernel by kernel, as before): a kernel on another device, a DEBUG or EMIT dump (which
prints each kernel), a slot a kernel reads before any kernel of the run wrote it while another kernel of the run
allocates it (its memory would come too early), a slot read after the kernel that releases it, and
SHRIMPGRAD_C_BATCH=0, the switch. `why_not(run)` says which.
"""

from __future__ import annotations

from collections.abc import Sequence

from shrimpgrad.graph import dtypes
from shrimpgrad.graph.switches import switch

# Stage 04 (CProgram, CBatch) is imported where it is used: realize.py imports this module with shrimpgrad, and stage
# 04's runtime brings stage 03, which `import shrimpgrad` leaves for the first realize (issue 12, W7).

BATCH_ENV = "SHRIMPGRAD_C_BATCH"  # "0": every SlotRun runs its kernels one by one
# A run is batched the second time it runs: a one-off realize (most of a test suite) never pays the batch's compile
BATCH_AFTER_RUNS = 2
MAX_TEMPORARY_BYTES = 64 << 20  # the temporaries a batched run may hold at once (see the module docstring)


def enabled() -> bool:
    return switch(BATCH_ENV)


def _lifetimes(kernels: Sequence) -> tuple[dict[int, int], dict[int, int]]:
    """Per slot, the index of the kernel that allocates it, and of the first that releases it (in kernel order)."""
    allocated = {i: n for n, k in enumerate(kernels) for i in k.allocate}
    released: dict[int, int] = {}
    for n, k in enumerate(kernels):
        for i in k.release:
            released.setdefault(i, n)
    return allocated, released


def why_not(kernels: Sequence) -> str | None:
    """Why these SlotKernels can't run as one batch (None: they can)."""
    if not enabled():
        return f"{BATCH_ENV}=0"
    if len(kernels) < 2:
        return "a single kernel (nothing to batch)"
    from shrimpgrad.c import CProgram  # see the imports at the top

    for k in kernels:
        if not isinstance(k.item.runner.run, CProgram):
            return f"kernel {k.item.kernel.name} runs on {k.item.device}, not C"
    allocated, released = _lifetimes(kernels)
    for n, k in enumerate(kernels):
        for i in k.use:
            if allocated.get(i, n) > n:
                writer = kernels[allocated[i]].item.kernel.name
                return f"kernel {k.item.kernel.name} reads slot {i} before kernel {writer} allocates it"
            if released.get(i, n) < n:
                return f"kernel {k.item.kernel.name} reads slot {i} after it was released"
    refs = {i: ref for k in kernels for i, ref in zip(k.use, k.item.bufs)}
    nbytes = sum(refs[i].size * refs[i].dtype.itemsize for i in allocated if i in released)  # the temporaries
    if nbytes > MAX_TEMPORARY_BYTES:
        return f"its temporaries take {nbytes / 2**20:.0f} MiB, over MAX_TEMPORARY_BYTES"
    return None


class Batched:
    """A SlotRun's kernels as one CBatch, and the slots a run handles around the call (realize.SlotRun does: it
    holds the memory bookkeeping, for this and for its kernel-by-kernel loop)."""

    __slots__ = ("batch", "allocate", "lookup", "release", "used", "arena_pool")

    def __init__(self, kernels: Sequence, pools: Sequence):
        from shrimpgrad.c import CBatch  # see the imports at the top

        n_slots = 1 + max(i for k in kernels for i in k.use)
        allocated, released = _lifetimes(kernels)
        temporaries = [i for i in allocated if i in released]  # written and last read by these kernels: the arena's
        self.batch = CBatch([k.item.runner.run for k in kernels], [k.use for k in kernels], n_slots, temporaries)
        first = {}  # slot -> (the first kernel that uses it, its pool)
        for k, pool in zip(kernels, pools):
            for i in k.use:
                first.setdefault(i, (k, pool))
        self.used = [i for i in first if i not in self.batch.offsets]  # the slots that need an array each run
        # (slot, device, pool) of the outputs the kernels write first; (slot, its first kernel) of what they read
        self.allocate = tuple((i, first[i][0].item.device, first[i][1]) for i in allocated if i not in released)
        self.lookup = tuple((i, first[i][0]) for i in self.used if i not in allocated)
        self.release = tuple(released)  # the temporaries' too: a caller's Buffer for one goes back (none does today)
        self.arena_pool = pools[0] if self.batch.offsets else None

    def call(self, arrays: list) -> float:
        """The C call on each used slot's array (None elsewhere), with the temporaries' arena: one block from the
        pool, back to it right after. Returns the call's seconds."""
        if self.arena_pool is None:
            return self.batch(arrays)
        arena = self.arena_pool.alloc(self.batch.arena_bytes, dtypes.uint8)
        try:
            return self.batch(arrays, arena)
        finally:
            self.arena_pool.free(arena, self.batch.arena_bytes, dtypes.uint8)
