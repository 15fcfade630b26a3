"""The launch shape of a Program: grid and block dimensions, and the bounds guard when the grid is rounded up.

    launch_for(program) -> Launch(grid, block, guard)

Stage 03 maps a kernel's loops onto CUDA's indices (lower.py `open_loops`): GLOBAL loops onto
`gidx0..2`, LOCAL and GPU GROUP loops onto `lidx0..2`, innermost on x; `program.global_size` is the
number of blocks per dimension, `program.local_size` the threads per block. Two cases:

* The Program has threads (a LOCAL or GROUP opt): launch exactly that, grid = global_size, block =
  local_size. Every thread is in range (the opts split axes by exact divisors), so no guard.
* It has none (no opt fitted: a prime size, say, or the "none" policy): one thread per block would
  waste 31 of every warp's 32 lanes, so the x positions are run in blocks of ROUND_BLOCK threads,
  `gidx0 = blockIdx.x * 128 + threadIdx.x`, and the grid is rounded UP to whole blocks. The last
  block then has threads past the end: the kernel starts with `if (gidx0 >= N) return;`, the bounds
  guard. (An early return is safe because such a kernel has no __syncthreads(), which every thread
  of a block must reach.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shrimpgrad.linearize import Program, UOps

ROUND_BLOCK = 128  # threads per block when the Program has none of its own: 4 warps


@dataclass(frozen=True)
class Launch:
    """`grid` blocks of `block` threads; `split_x`: gidx0 is blockIdx.x * block[0] + threadIdx.x, and
    `guard` (when the grid was rounded up) the gidx0 bound the kernel checks first."""

    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    split_x: bool = False
    guard: int | None = None

    @property
    def threads(self) -> int:
        return math.prod(self.grid) * math.prod(self.block)

    def __str__(self) -> str:
        text = f"grid={self.grid} block={self.block} ({self.threads} threads)"
        if self.guard is not None:
            text += f", rounded up: guard gidx0 < {self.guard}"
        return text


def launch_for(program: Program, round_block: int = ROUND_BLOCK) -> Launch:
    """The launch of `program` (see the module docstring)."""
    grid = tuple((program.global_size or (1, 1, 1)))
    block = tuple((program.local_size or (1, 1, 1)))
    has_threads = math.prod(block) > 1 or any(u.op in (UOps.BARRIER, UOps.DEFINE_LOCAL) for u in program.uops)
    if has_threads or grid[0] == 1:
        return Launch(grid, block)
    bx = min(round_block, grid[0])
    gx = -(-grid[0] // bx)
    return Launch((gx, grid[1], grid[2]), (bx, 1, 1), True, grid[0] if gx * bx != grid[0] else None)


__all__ = ["Launch", "launch_for", "ROUND_BLOCK"]
