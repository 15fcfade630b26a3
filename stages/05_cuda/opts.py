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
2. LOCAL  the innermost output axis: the largest divisor of its size up to 256 threads per block
          (with GROUP: LOCAL x GROUP <= 256), accepted when it is a full warp (>= 32), the whole
          axis, or adds to a GROUP's threads. Neighbouring threads then touch neighbouring elements
          (coalesced loads). A size with no good divisor (a prime, 2 * prime) gets no LOCAL: the
          launch is rounded up to whole blocks instead, with a bounds guard (launch.py).
3. UPCAST the next output axis by 4 (or 2) for reduce kernels with at least two output axes
          (a matmul) when there are outputs to spare: each thread computes 4 outputs and loads what
          they share once.

Limits kept: threads per block, shared memory per block (the GROUP partials: G x LOCAL x
reductions x UPCAST lanes x itemsize), stage 03's MAX_LANES; every candidate opt is applied with
stage 03's `apply_opts` and dropped if it raises. All opts compute the same values; GROUP reorders
a float sum (so CUDA equals C within float tolerance, ints exactly).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from shrimpgrad.c.opts import largest_divisor, pick_policy
from shrimpgrad.linearize import LoopPlan, Opt, OptError, OptKind, Role, apply_opts, default_opts
from shrimpgrad.schedule import Kernel, KOps

MIN_GROUP = 16  # fewer partial sums than this are not worth a shared-memory combine
MAX_GROUP = 256  # the combine is unrolled G times per thread (and stage 03 caps lanes at 256)
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

    @property
    def busy_threads(self) -> int:
        """Threads that keep every multiprocessor busy enough: 128 per SM (4 warps)."""
        return self.sm_count * 128


H200 = GPULimits()


def _reductions(kernel: Kernel) -> int:
    return len({n for n in kernel.ast.toposort() if n.op is KOps.REDUCE})


def _itemsize(kernel: Kernel) -> int:
    return max((n.dtype.itemsize for n in kernel.ast.toposort() if n.op is KOps.REDUCE), default=4)


def _applies(kernel: Kernel, opts: list[Opt]) -> bool:
    try:
        apply_opts(kernel, opts)
        return True
    except OptError:
        return False


def heuristic_opts(kernel: Kernel, limits: GPULimits = H200) -> tuple[Opt, ...]:
    """GROUP for few outputs with a long reduction, LOCAL threads along the innermost output axis, UPCAST for
    matmul-like kernels (the module docstring says why each)."""
    plan = LoopPlan.start(kernel)
    outputs, reduces = plan.ordered((Role.GLOBAL,)), plan.ordered((Role.REDUCE,))
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
    if innermost and n_out < limits.busy_threads and reduces[-1].size >= 2 * MIN_GROUP:  # rule 1
        g = largest_divisor(reduces[-1].size, min(MAX_GROUP, limits.max_shared_bytes // shared_per_thread))
        if g >= MIN_GROUP and add(Opt(OptKind.GROUP, reduces[-1].axis, g)):
            group = g
    if outputs:  # rule 2
        inner = outputs[-1]
        room = max(1, min(MAX_LOCAL, limits.max_threads_per_block) // group)  # LOCAL x GROUP <= 256 threads
        if group > 1:  # every thread of the block keeps a partial in shared memory
            room = min(room, limits.max_shared_bytes // (group * shared_per_thread))
        amount = largest_divisor(inner.size, room)
        if amount > 1 and (group > 1 or amount >= WARP or amount == inner.size):
            add(Opt(OptKind.LOCAL, inner.axis, amount))
    if reduces and group == 1 and len(outputs) >= 2 and n_out >= 4 * limits.busy_threads:  # rule 3
        for amount in (4, 2):
            if outputs[-2].size % amount == 0 and add(Opt(OptKind.UPCAST, outputs[-2].axis, amount)):
                break
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


__all__ = ["GPULimits", "H200", "POLICIES", "DEFAULT_POLICY", "POLICY_ENV", "choose_opts", "heuristic_opts",
           "policy_name"]
