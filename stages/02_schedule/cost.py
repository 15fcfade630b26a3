"""Cost estimates of a kernel: arithmetic (FLOPs) and memory traffic (bytes), as tinygrad estimates them.

    kernel_flops(k)   one per ALU op per element it is computed for (CASTs are free), plus one per
                      element a REDUCE combines. An op below the REDUCE runs prod(full_shape)
                      times, an op above it prod(output_shape) times. Index math is not counted.
    kernel_bytes(k)   bytes each buffer must cross the memory bus at least once: for every buffer,
                      the elements its views can touch (stride-0 axes count once, masked-off
                      elements not at all), at most the buffer's size, times the item size.

Both are estimates for tables and `GlobalCounters` (a cache may read an element twice; a view
stack is counted as the whole buffer), not measurements.
"""

from __future__ import annotations

import math

from shrimpgrad.graph import Ops, ShapeTracker

from .kernel import Kernel, KOps


def kernel_flops(k: Kernel) -> int:
    full, out = math.prod(k.full_shape), math.prod(k.output_shape)
    below = {id(n) for r in k.ast.toposort() if r.op is KOps.REDUCE for n in r.toposort()}  # inside the loop
    total = 0
    for n in k.ast.toposort():
        if (n.op is KOps.ALU and n.arg is not Ops.CAST) or n.op is KOps.REDUCE:
            total += full if id(n) in below else out
    return total


def view_footprint(st: ShapeTracker) -> int:
    """How many distinct elements a view can touch: the product over its non-broadcast axes of the
    valid extent. A stack of views is counted as unbounded (the caller clips to the buffer size)."""
    if len(st.views) > 1:
        return math.prod(st.views[0].shape)
    v = st.views[0]
    extent = 1
    for i, (size, stride) in enumerate(zip(v.shape, v.strides)):
        valid = size if v.mask is None else max(0, v.mask[i][1] - v.mask[i][0])
        if valid == 0:
            return 0
        if stride != 0:
            extent *= valid
    return extent


def kernel_bytes(k: Kernel) -> int:
    views: dict[int, set[ShapeTracker]] = {}
    for n in k.ast.toposort():
        if n.op in (KOps.LOAD, KOps.STORE):
            views.setdefault(n.arg[0], set()).add(n.arg[1])
    total = 0
    for i, sts in views.items():
        buf = k.bufs[i]
        total += min(buf.size, sum(view_footprint(st) for st in sts)) * buf.dtype.itemsize
    return total
