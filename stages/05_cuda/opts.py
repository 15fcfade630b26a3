"""Which stage-03 optimizations a kernel gets on the GPU: a named policy, chosen within the GPU's limits.

    choose_opts(kernel, policy=None, limits=H200) -> tuple[Opt, ...]
    POLICIES = {"heuristic": heuristic_opts, "threads": stage 03's default_opts(gpu=True), "none": no opts}

The policy is a switch, not a hidden choice: `SHRIMPGRAD_CUDA_OPTS=threads` (or `none`) selects another
for every CUDA kernel, `choose_opts(kernel, "none")` for one, and every Program records its opts
(`program.applied_opts`, printed with the source). On the CPU no opts are chosen (stage 03's
default_opts(gpu=False)): the C compiler vectorizes and OpenMP spreads the outer loop over cores.

`heuristic_opts`, rule by rule (each one fixes the failure named after it):

1. GROUP  the innermost reduce loop, when the kernel has fewer outputs than the GPU needs busy
          threads (`limits.busy_threads`), the loop is long (>= 2 * MIN_GROUP) and it is the
          kernel's innermost axis (so the G threads read neighbouring elements): G threads of a
          block share one output, each sums every G-th element, and they combine their partials
          through shared memory. Without it, `x.sum()` of a million floats is ONE thread looping a
          million times while 16,895 others idle. (A column sum instead gets LOCAL threads along
          its columns: neighbouring threads then read neighbouring elements of each row.)
          A row kernel (stage 02's F5: softmax, layernorm, whose loops run over each row several
          times) gets GROUP whatever its number of rows: one block per row, its threads striped
          over every loop of the row (the reduces and the store), so each pass reads the row
          coalesced and the row stays in L2 between passes. Without it a kernel of many rows gives
          each thread a whole row: its loads 1 row apart, uncoalesced, three times. G is chosen so
          each thread takes ROW_ELEMENTS = 32 elements of the row per loop (G = row / 32, at least a
          warp, at most 256; rule 2 then puts 256 / G rows in a block): the rows in flight on the
          GPU are then 2048 threads x 32 elements per SM, about 34 MB on the H200, which its L2
          (60 MB) holds until the row's last loop has read it again. Measured on the H200 (softmax,
          kernel time, % of copy bandwidth): 8192^2: G=256 76% (G=64 with LOCAL 4: 41%, the L2
          overflows; 3 kernels: 41%); 2048^2: G=64 84% (G=256: 23%, too few threads per SM);
          65536 x 512: G=32 92% (G=64: 74%; 3 kernels: 17%).
2. LOCAL  the innermost output axis: the largest divisor of its size up to 256 threads per block
          (with GROUP: LOCAL x GROUP <= 256), accepted when it is a full warp (>= 32), the whole
          axis, or adds to a GROUP's threads. Neighbouring threads then touch neighbouring elements
          (coalesced loads). A size with no good divisor (a prime, 2 * prime) gets no LOCAL: the
          launch is rounded up to whole blocks instead, with a bounds guard (launch.py).
   2b.    When that is the whole innermost axis and fewer than MIN_BLOCK = 128 threads (a 56-wide image
          row), the next output axis joins the block (LOCAL on it too, threadIdx.y, up to 256 threads).
          H200, the im2col copy of a 64x64x56x56 float16 convolution (rows of 56): 1246 us with blocks
          of 56 threads, 327 us with 56 x 4 (90 us with rule 4 after it).
3. UPCAST register blocking, for reduce kernels (not row kernels) with at least two output axes (a matmul, a
   (outputs)      convolution) and outputs to spare (>= 4 x busy_threads): each thread computes
          16 x 4 outputs and loads once what they share. The 16 lanes go to the output axis along
          which the biggest input is broadcast (its loads are shared: matmul's B along rows, a
          convolution's image along output channels), the 4 to the next such axis; LOCAL then
          takes at most BLOCKED_LOCAL = 64 threads, since each thread holds 64 accumulators.
          When an input is read contiguously along the innermost reduce axis (matmul's A along k),
          that loop is also unrolled by 4 (UPCAST of a reduce axis: the same order of additions),
          so VECTORIZE (vectorize.py) reads those 4 elements with one float4 load.
          H200, 4096^3 f32 matmul: 11.1 -> 16.5 TFLOP/s with 8 x 2 lanes (LOCAL 256 x UPCAST 4
          before), 24.0 with FMA; 16 x 4 lanes: 35.3 (each pair of loaded values now feeds 64 FMAs
          instead of 16; 8 x 4: 29.6, 8 x 8: 29.2, 16 x 2: 23.2). conv2d 64x64x56x56 by 64x3x3:
          2.1 -> 9.8 (8 x 2) -> 19.0 (FMA, affine window index) -> 25.1 TFLOP/s (16 x 4). Without a
          broadcast input: UPCAST 4 on the next output axis, for the instruction-level parallelism alone.
4. UPCAST the innermost output axis of an elementwise kernel (no reduce) that has a GLOBAL loop left
   (elementwise   after its LOCAL, *after* the LOCAL, by the largest divisor of what is left up to 4 lanes
    ILP)          (ELEMENTWISE_LANES), or 16 bytes' worth of a narrower dtype (8 float16 lanes), when the GPU
          stays busy with that many times fewer threads (>= ELEMENTWISE_WAVES x `busy_threads` left):
          `i = (gidx*4 + up)*256 + lidx`, so each thread computes 4 outputs 256 apart. Every lane's
          load is still coalesced (neighbouring threads, neighbouring elements) and each thread has 4
          independent loads in flight instead of 1: the memory latency is hidden by fewer threads.
          H200, relu(a*b+c) of 2^26 floats: 92.6% of the copy bandwidth with LOCAL alone, 103% with
          this rule -- as fast as a hand-written float4 kernel (103.4%), so no vector types are needed
          (benchmarks/bench_cuda.py, BENCHMARKS.md). The im2col copy above (float16, 56 x 4 threads,
          14 rows left): 2 lanes 179 us, 7 lanes 90 us, 14 lanes 118 us.

5. TENSOR_CORES  a float16 / bfloat16 matmul (tensor_cores.py) is not a loop nest at all: `choose_tile`
   (rule 5)       matches its AST against the tensor-core template (cp.async tiles in shared memory, ldmatrix,
          mma.sync.m16n8k16, float32 accumulators) and the kernel is rendered from that plan instead of
          from stage 03's Program (which then only names the kernel and its buffers). Rule 3's register
          blocking gets 19 TFLOP/s on the H200 for a 4096^3 float16 matmul: every multiply-add is a
          scalar instruction on the float32 units. The tensor cores do a 16x8x16 tile per warp-wide instruction.
          Measured numbers: README.md, "Rule 5".

Each rule can be switched off by name for every CUDA kernel: `SHRIMPGRAD_CUDA_RULES_OFF=upcast_elementwise`
(a comma-separated list of RULES: group, local, upcast_outputs, upcast_elementwise, tensor_cores), to see what
it is worth.

Limits kept: threads per block, shared memory per block (the GROUP partials: G x LOCAL x
reductions x UPCAST lanes x itemsize), stage 03's MAX_LANES; every candidate opt is applied with
stage 03's `apply_opts` and dropped if it raises. All opts compute the same values; GROUP reorders
a float sum (so CUDA equals C within float tolerance, ints exactly).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from shrimpgrad.c.opts import largest_divisor, pick_policy
from shrimpgrad.linearize import LoopKind, LoopPlan, Opt, OptError, OptKind, apply_opts, default_opts, row_phases
from shrimpgrad.schedule import Kernel, KOps

from .tensor_cores import MAX_SHARED, TileMatmul, tile_matmul

RULES = ("group", "local", "upcast_outputs", "upcast_elementwise", "tensor_cores")  # rules 1-5, by name
RULES_OFF_ENV = "SHRIMPGRAD_CUDA_RULES_OFF"
ELEMENTWISE_WAVES = 4  # rule 4 keeps at least 4 x busy_threads threads after dividing them by the UPCAST
ELEMENTWISE_LANES, ELEMENTWISE_BYTES = 4, 16  # rule 4: 4 lanes, or 16 bytes' worth of a narrower dtype (8 halves)
MIN_BLOCK = 128  # rule 2b: a block of fewer threads than this along the innermost axis takes in the next axis
BLOCKED_LOCAL = 64  # rule 3's kernels: threads per block (each thread keeps 64 accumulators in registers)
BLOCK_LANES = (16, 4)  # rule 3: UPCAST amounts on the two output axes sharing the most loads (best of 6 measured)
BLOCK_UNROLL = 4  # rule 3: the innermost reduce loop unrolled by 4 when an input is contiguous along it (float4)
MIN_GROUP = 16  # fewer partial sums than this are not worth a shared-memory combine
MAX_GROUP = 256  # the combine is unrolled G times per thread (and stage 03 caps lanes at 256)
ROW_ELEMENTS = 32  # rule 1 for row kernels: elements of the row each of its G threads takes per loop
MAX_LOCAL = 256  # threads per block from LOCAL: enough warps to hide memory latency, room for registers
WARP = 32
POLICY_ENV = "SHRIMPGRAD_CUDA_OPTS"


@dataclass(frozen=True)
class GPULimits:
    """What the policy must stay within (defaults: the H200; the runtime reads a present GPU's own)."""

    name: str = "NVIDIA H200 (sm_90)"
    max_threads_per_block: int = 1024
    max_shared_bytes: int = 48 * 1024  # static __shared__ per block
    sm_count: int = 132
    max_dynamic_shared_bytes: int = MAX_SHARED  # dynamic shared memory a kernel may opt in to (rule 5's tiles)

    @property
    def busy_threads(self) -> int:
        """Threads that keep every multiprocessor busy enough: 128 per SM (4 warps)."""
        return self.sm_count * 128


H200 = GPULimits()


def _reductions(kernel: Kernel) -> int:
    return len({n for n in kernel.ast.toposort() if n.op is KOps.REDUCE})


def _store_itemsize(kernel: Kernel) -> int:
    return min(n.dtype.itemsize for n in kernel.ast.toposort() if n.op is KOps.STORE)


def _itemsize(kernel: Kernel) -> int:
    return max((n.dtype.itemsize for n in kernel.ast.toposort() if n.op is KOps.REDUCE), default=4)


def _applies(kernel: Kernel, opts: list[Opt]) -> bool:
    try:
        apply_opts(kernel, opts)
        return True
    except OptError:
        return False


def rules_off() -> frozenset[str]:
    """The heuristic's rules switched off by $SHRIMPGRAD_CUDA_RULES_OFF (names from RULES, comma-separated)."""
    names = frozenset(n.strip() for n in os.environ.get(RULES_OFF_ENV, "").split(",") if n.strip())
    if names - set(RULES):
        raise ValueError(f"{RULES_OFF_ENV}={os.environ[RULES_OFF_ENV]!r}: unknown rule(s) "
                         f"{', '.join(sorted(names - set(RULES)))}; the rules are {', '.join(RULES)}")
    return names


def _shared_loads(kernel: Kernel, axes: list[int]) -> dict[int, int]:
    """For each output axis in `axes`: the most elements one input buffer has among the inputs the kernel reads
    broadcast along it (stride 0 in the view it loads through), i.e. what UPCAST lanes on that axis load once for
    all of them. Axes no input is broadcast along are left out. (matmul A @ B: B along A's rows, A along B's
    columns; a convolution: the image along output channels, the weights along batch and pixels.)"""
    shared: dict[int, int] = {}
    for n in kernel.ast.toposort():
        if n.op is not KOps.LOAD:
            continue
        index, st = n.arg
        view = st.views[-1]
        if len(view.shape) != len(kernel.full_shape):
            continue
        for a in axes:
            if view.strides[a] == 0 and view.shape[a] > 1:
                shared[a] = max(shared.get(a, 0), kernel.bufs[index].size)
    return shared


def _contiguous_along(kernel: Kernel, axis: int) -> bool:
    """Whether some input is read with stride 1 along `axis` (neighbouring iterations, neighbouring floats)."""
    for n in kernel.ast.toposort():
        if n.op is KOps.LOAD and kernel.bufs[n.arg[0]].dtype.itemsize == 4:
            view = n.arg[1].views[-1]
            if len(n.arg[1].views) == 1 and view.mask is None and len(view.shape) == len(kernel.full_shape) \
                    and view.strides[axis] == 1:
                return True
    return False


def heuristic_opts(kernel: Kernel, limits: GPULimits = H200) -> tuple[Opt, ...]:
    """GROUP for few outputs with a long reduction, LOCAL threads along the innermost output axis, UPCAST for
    matmul-like kernels and for big elementwise ones (the module docstring says why each)."""
    off = rules_off()
    plan = LoopPlan.start(kernel)
    outputs, reduces = plan.ordered((LoopKind.GLOBAL,)), plan.ordered((LoopKind.REDUCE,))
    n_out = math.prod(p.size for p in outputs)
    opts: list[Opt] = []

    def add(opt: Opt) -> bool:
        if _applies(kernel, [*opts, opt]):
            opts.append(opt)
            return True
        return False

    shared_per_thread = _reductions(kernel) * _itemsize(kernel)  # bytes of GROUP partials per thread
    group = 1
    innermost = reduces and all(o.axis < reduces[-1].axis for o in outputs)  # its G threads read neighbours
    rows = bool(reduces) and row_phases(kernel).several  # a row kernel (F5): a block per row, however many
    if "group" not in off and innermost and (n_out < limits.busy_threads or rows) \
            and reduces[-1].size >= 2 * MIN_GROUP:  # 1
        most = min(MAX_GROUP, max(WARP, reduces[-1].size // ROW_ELEMENTS)) if rows else MAX_GROUP
        g = largest_divisor(reduces[-1].size, min(most, limits.max_shared_bytes // shared_per_thread))
        if g >= MIN_GROUP and add(Opt(OptKind.GROUP, reduces[-1].axis, g)):
            group = g
    local, locals_ = 1, {}  # threads per block; LOCAL amount per axis
    blocking = "upcast_outputs" not in off and reduces and not rows and group == 1 and len(outputs) >= 2 \
        and n_out >= 4 * limits.busy_threads  # rule 3 will follow: fewer threads per block, more outputs each
    if "local" not in off and outputs:  # rule 2
        inner = outputs[-1]
        room = max(1, min(BLOCKED_LOCAL if blocking else MAX_LOCAL, limits.max_threads_per_block) // group)
        if group > 1:  # every thread of the block keeps a partial in shared memory
            room = min(room, limits.max_shared_bytes // (group * shared_per_thread))
        amount = largest_divisor(inner.size, room)
        if amount > 1 and (group > 1 or amount >= WARP or amount == inner.size):
            if add(Opt(OptKind.LOCAL, inner.axis, amount)):
                local = amount
                locals_[inner.axis] = amount
        # 2b: a short innermost axis (a 56-wide image row) fills only a small block: the next axis joins it
        if local == inner.size < MIN_BLOCK and group == 1 and not blocking and len(outputs) >= 2:
            nxt = outputs[-2]
            more = largest_divisor(nxt.size, room // local)
            if more > 1 and add(Opt(OptKind.LOCAL, nxt.axis, more)):
                local *= more
                locals_[nxt.axis] = more
    if blocking:  # rule 3: register blocking, BLOCK_LANES[0] x BLOCK_LANES[1] outputs per thread
        shared = _shared_loads(kernel, [o.axis for o in outputs])
        # first the axis whose lanes share the most loaded elements, preferring axes other than the threads' own
        # (its loads are already coalesced) and then the inner one; then the next such axis
        ranked = sorted(shared, key=lambda a: (-shared[a], a == outputs[-1].axis, -a))
        for axis, lanes in zip(ranked, BLOCK_LANES):
            while lanes >= 2 and not add(Opt(OptKind.UPCAST, axis, lanes)):  # 16, 8, 4, 2: what divides the axis
                lanes //= 2
        inner = reduces[-1]  # unrolled by 4 where an input is contiguous along it: 4 loads become one float4
        if ranked and inner.size % BLOCK_UNROLL == 0 and _contiguous_along(kernel, inner.axis):
            add(Opt(OptKind.UPCAST, inner.axis, BLOCK_UNROLL))
        if not ranked:  # no input is broadcast along an output axis: 4 outputs per thread for the ILP alone
            for amount in (4, 2):
                if outputs[-2].size % amount == 0 and add(Opt(OptKind.UPCAST, outputs[-2].axis, amount)):
                    break
    if "upcast_elementwise" not in off and not reduces and local > 1:  # rule 4: after LOCAL, so lanes are outer
        # the innermost axis with a GLOBAL loop left after LOCAL; lanes to keep 16 bytes of loads in flight
        rests = [(o.axis, o.size // locals_.get(o.axis, 1)) for o in reversed(outputs)]
        axis, rest = next(((a, r) for a, r in rests if r > 1), (None, 1))
        lanes = largest_divisor(rest, max(ELEMENTWISE_LANES, ELEMENTWISE_BYTES // _store_itemsize(kernel)))
        while lanes > 1 and not (n_out // lanes >= ELEMENTWISE_WAVES * limits.busy_threads
                                 and add(Opt(OptKind.UPCAST, axis, lanes))):
            lanes = largest_divisor(rest, lanes - 1)
    return tuple(opts)


POLICIES: dict[str, Callable[[Kernel, GPULimits], tuple[Opt, ...]]] = {
    "heuristic": heuristic_opts,
    "threads": lambda kernel, limits: default_opts(kernel, gpu=True),  # stage 03's: LOCAL only
    "none": lambda kernel, limits: (),  # no opts: launch.py still runs the x positions in blocks of 128
}
DEFAULT_POLICY = "heuristic"


def policy_name(policy: str | None = None) -> str:
    """`policy`, else $SHRIMPGRAD_CUDA_OPTS, else "heuristic" (checked against POLICIES)."""
    return pick_policy(policy, POLICIES, POLICY_ENV, DEFAULT_POLICY, "CUDA")


def choose_opts(kernel: Kernel, policy: str | None = None, limits: GPULimits = H200) -> tuple[Opt, ...]:
    """The opts `kernel` gets on the GPU under `policy` (see the module docstring)."""
    return POLICIES[policy_name(policy)](kernel, limits)


def choose_tile(kernel: Kernel, policy: str | None = None, limits: GPULimits = H200) -> TileMatmul | None:
    """Rule 5: the tensor-core plan of `kernel` under the heuristic policy (unless the rule is switched off), or
    None: the kernel is then a loop nest with `choose_opts`' opts. `why_not_tiled(kernel)` says why not."""
    if policy_name(policy) != "heuristic" or "tensor_cores" in rules_off():
        return None
    return tile_matmul(kernel, limits.max_dynamic_shared_bytes)


__all__ = ["GPULimits", "H200", "RULES", "RULES_OFF_ENV", "rules_off",
           "POLICIES", "DEFAULT_POLICY", "POLICY_ENV", "choose_opts", "choose_tile", "heuristic_opts",
           "policy_name"]
