"""STASH: a row kernel's store loop reads back, from its own output, a value its sum loop computed and stored there.

Softmax's row kernel (stage 02's F5; lower.py's phases) runs three loops over each row: the max, the sum of
`e = exp(x - max)`, and the store of `e / sum`. Without STASH both later loops compute `e`, so every element's
exponential is computed twice. With `Opt(OptKind.STASH, axis, 1)` (axis: a reduced axis, the row's) the sum loop also
stores each `e` into the output row, where the store loop will write, and the store loop loads `e` back instead of
computing it again, so the exponential is computed once per element:

    for each row:                               for each row:
      m = max(x[i])                               m = max(x[i])
      s = sum(exp(x[i] - m))                      s = 0; for i: e = exp(x[i] - m); out[i] = e; s += e
      for i: out[i] = exp(x[i] - m) / s           for i: out[i] = out[i] / s

The value stored is the UOp the sum already computes, bit for bit, so STASH changes no result: only where `e` comes
from. The row is read from L1 again either way (8 KB at 2048 floats), so the load costs about what the extra
`x[i]` load cost; what is saved is the arithmetic (exp2_float32: ~20 instructions per element).

Which value is stashed (`stash_candidates`): the input V of a REDUCE ADD that runs in a loop over the row before the
store loop, when V is also part of a STORE's value (read there without a REDUCE in between), V is computed (an ALU
node, not a bare LOAD: reloading a load saves nothing), and V has the STORE buffer's dtype (a float16 softmax,
computed in float32 and cast, has none: the stash would round e). A kernel that reads one of its outputs (an in-place
assign) has none either: the stash would overwrite what a later row or loop reads. One value per output buffer.

The pass (lower.py's `stash_row_values`, between lower_reduces and lower_stores: it lowers with lower.py's own
helpers, so it lives there; this module decides from the kernel alone) makes, for every lane of the sum loop,
`STORE(out, index of that element, V)`, and for the store loop `LOAD(out, the store's own index)`, recorded as V's
value in the store loop, so lower_stores uses it and lowers nothing below it. It is a CPU opt: on a GPU another
thread of the block may store the element a thread loads (a GROUP stripes the row), which would need a barrier.
"""

from __future__ import annotations

from shrimpgrad.graph import Ops
from shrimpgrad.schedule import Kernel, KNode, KOps

from .opts import _reads_an_output


def _store_tree(node: KNode) -> set[KNode]:
    """The nodes a STORE's value computes in the store loop: everything under it, not below a REDUCE."""
    seen: set[KNode] = set()
    todo = [node]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if n.op is not KOps.REDUCE:
            todo.extend(n.src)
    return seen


def stash_candidates(kernel: Kernel, phases) -> dict[KNode, tuple[KNode, int]]:
    """V -> (the STORE whose buffer holds it, the phase whose loop computes and stores it), for the values STASH
    keeps (see the module docstring); empty when the kernel has none. `phases`: lower.py's row_phases(kernel)."""
    if phases.store is None or _reads_an_output(kernel):
        return {}
    stores = [(s, _store_tree(s.src[0])) for s in kernel.ast.src]
    used: set[int] = set()  # output buffers that hold a value already
    out: dict[KNode, tuple[KNode, int]] = {}
    for r, phase in phases.of.items():
        v = r.src[0]
        if r.arg[0] is not Ops.ADD or v.op is not KOps.ALU or v in out:
            continue
        for store, tree in stores:
            buf = store.arg[0]
            if v in tree and buf not in used and kernel.bufs[buf].dtype == v.dtype:
                out[v] = (store, phase)
                used.add(buf)
                break
    return out
