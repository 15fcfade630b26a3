"""The stage-02 reference evaluator: run a Schedule kernel by kernel with numpy.

    run_schedule_numpy(schedule, buffers)   buffers: {BufferRef: flat np.ndarray}, updated in place
    read_outputs(schedule, buffers)         the roots' values, read through `output_views`

Each kernel's AST is evaluated bottom-up on whole arrays: LOAD reads the flat buffer through its
ShapeTracker (`ShapeTracker.apply`, 0 where the mask is off), CONST fills its view's shape (0 where
masked), ALU and REDUCE call stage 01's own numpy functions (`apply_alu`, `apply_reduce`), so
each op has one definition, and STORE scatters the valid elements into the flat output buffer.
Because a kernel only re-arranges *where* values come from, never how they are computed, the
result matches `shrimpgrad.graph.evaluate` bit for bit.
"""

from __future__ import annotations

from collections.abc import MutableMapping

import numpy as np

from shrimpgrad.graph import BufferRef, apply_alu, apply_reduce, dtypes
from shrimpgrad.graph.dtype import from_storage, to_storage

from .kernel import Kernel, KNode, KOps
from .schedule import Schedule


class RunError(ValueError):
    """A buffer is missing or has the wrong shape/dtype for the schedule."""


def run_schedule_numpy(schedule: Schedule, buffers: MutableMapping[BufferRef, np.ndarray]) -> None:
    """Run every kernel in order. Input buffers must be in `buffers`; outputs and temporaries are
    allocated (zeros) when missing. Temporaries stay in `buffers` so tests can look at them."""
    for info in schedule.buffers:
        if info.buf in buffers:
            _check_flat(info.buf, buffers[info.buf])
        elif info.kind in ("output", "temporary"):
            buffers[info.buf] = np.zeros(info.buf.size, dtype=info.buf.dtype.np)
        else:
            raise RunError(f"input buffer {info.buf!r} has no value: pass buffers={{ref: flat np.ndarray}}")
    for k in schedule.kernels:
        run_kernel_numpy(k, buffers)


def run_kernel_numpy(k: Kernel, buffers: MutableMapping[BufferRef, np.ndarray]) -> None:
    values: dict[int, np.ndarray] = {}
    with np.errstate(all="ignore"):  # 1/0, overflow: the same defined results as stage 01
        for n in k.ast.toposort():
            values[id(n)] = _eval(n, [values[id(s)] for s in n.src], k, buffers)


def _eval(n: KNode, src: list[np.ndarray], k: Kernel, buffers) -> np.ndarray | None:
    if n.op is KOps.LOAD:
        return from_storage(n.st.apply(buffers[k.bufs[n.arg[0]]]), n.dtype)  # bfloat16: bits -> float32 values
    if n.op is KOps.CONST:
        _, valid = n.st.indices()
        return np.where(valid, np.array(n.arg[0], dtype=n.dtype.value_np), np.zeros((), dtype=n.dtype.value_np))
    if n.op is KOps.ALU:
        return np.asarray(apply_alu(n.arg, n.dtype, src))
    if n.op is KOps.REDUCE:
        return apply_reduce(n.arg[0], n.arg[1], n.dtype, src[0])
    if n.op is KOps.STORE:
        flat = buffers[k.bufs[n.arg[0]]]
        value = to_storage(src[0], n.dtype) if n.dtype == dtypes.bfloat16 else src[0]  # bfloat16: its bits
        if value.dtype != flat.dtype:
            raise RunError(f"kernel {k.name}: storing {src[0].dtype} into a {flat.dtype} buffer")
        addr, valid = n.st.indices()
        flat[addr[valid]] = np.broadcast_to(value, n.st.shape)[valid]
        return None
    return None  # SINK


def read_outputs(schedule: Schedule, buffers: MutableMapping[BufferRef, np.ndarray]) -> list[np.ndarray]:
    """The value of each root, after `run_schedule_numpy`."""
    return [np.array(v.apply(buffers[o])) for o, v in zip(schedule.outputs, schedule.output_views)]


def _check_flat(ref: BufferRef, arr: np.ndarray) -> None:
    if not isinstance(arr, np.ndarray) or arr.shape != (ref.size,) or arr.dtype != ref.dtype.np:
        got = f"{arr.shape} {arr.dtype}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise RunError(f"buffer {ref!r} got {got}; expected a flat array of shape ({ref.size},) and dtype "
                       f"{ref.dtype.np_name}")
