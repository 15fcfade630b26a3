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

The pass (`stash_row_values`, between lower.py's lower_reduces and lower_stores) makes, for every lane of the sum
loop, `STORE(out, index of that element, V)`, and for the store loop `LOAD(out, the store's own index)`, recorded as
V's value in the store loop, so lower_stores uses it and lowers nothing below it. It is a CPU opt: on a GPU another
thread of the block may store the element a thread loads (a GROUP stripes the row), which would need a barrier.
"""

from __future__ import annotations

from shrimpgrad.graph import Ops
from shrimpgrad.schedule import Kernel, KNode, KOps

from .expr import Num
from .index import index_and_valid
from .opts import OptKind, _reads_an_output
from .uops import LoopKind, UOps


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


def stash_row_values(L) -> None:
    """STASH (when applied): the sum loop stores V into the output row, the store loop loads it back (module
    docstring). `L`: lower.py's Lowering, after lower_reduces."""
    from .lower import LinearizeError, _key, axis_exprs, lane_envs, lower_tree  # lower.py imports this pass
    if not any(o.kind is OptKind.STASH for o in L.plan.applied):
        return
    if L.gpu:
        raise LinearizeError(f"kernel {L.kernel.name}: STASH is a CPU opt (on a GPU the thread that stores an element "
                             f"in the sum loop need not be the one that loads it in the store loop)")
    plan, make = L.plan, L.make
    outputs = lane_envs(plan.lanes(LoopKind.UPCAST))  # the store loop runs once per output lane (lower_stores)
    for v, (store, phase) in stash_candidates(L.kernel, L.phases).items():
        buf_index, st = store.arg
        buf = L.bufs[buf_index]
        # the sum loop's lanes, as lower_reduces made them: GROUP x UNROLL lanes where the phase is `grouped`
        groups = lane_envs(plan.lanes(LoopKind.GROUP)) if L.grouped(phase) else [{}]
        unrolls = lane_envs(plan.lanes(LoopKind.UNROLL)) if L.grouped(phase) else [{}]
        sums = [{**o, **g, **u} for o in outputs for g in groups for u in unrolls]
        stored = [index_and_valid(st, axis_exprs(L, st.shape, e, phase), L.log) for e in sums]
        loaded = [index_and_valid(st, axis_exprs(L, st.shape, o, L.phases.store), L.log) for o in outputs]
        if any(valid != Num(1) for _, valid in stored + loaded):
            continue  # a masked store writes only part of the row: the store loop computes V itself
        for e, (index, _) in zip(sums, stored):
            value = lower_tree(L, v, e, phase)  # the sum's own UOp (CSE): it is made already
            make.origins = store.origins
            make.uop(UOps.STORE, None, (buf, make.lower_expr(index), value))
        make.origins = v.origins
        for o, (index, _) in zip(outputs, loaded):
            L.values[(v, (L.phases.store or None, _key(o)))] = make.uop(UOps.LOAD, v.dtype,
                                                                      (buf, make.lower_expr(index)))
        L.note(f"STASH: {len(sums)} stores of {v.arg.name} in loop {phase}, {len(outputs)} load(s) in the store loop")
