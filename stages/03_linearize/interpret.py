"""The PYTHON device: execute a Program on flat numpy buffers, writing the outputs in place.

    interpret(program, buffers)        buffers[i] is DEFINE_GLOBAL i's flat array

A UOp-by-UOp interpreter in Python would run the loop body once per output element, which is far
too slow for a test-suite. So the interpreter is *vectorized over the parallel loops*:

* Every GLOBAL or LOCAL RANGE, and every SPECIAL, gets its own numpy axis. Its value is an
  `arange` along that axis (shape (1, n, 1) for the second of three), so every value computed
  from it is an array broadcast over the loops it depends on: one numpy call per UOp computes
  the UOp for every iteration of those loops at once. Their END does nothing.
* REDUCE (and UPCAST) RANGEs run sequentially in Python: the interpreter jumps back from END to
  the RANGE while the loop variable is below its end. Accumulators are arrays updated by
  ASSIGN, one element per output position.
* LOADs index the buffer with the index array (fancy indexing); a gated LOAD reads index 0 where
  the gate is off and then takes the alternative value there (`np.where`). Every LOAD and STORE
  is bounds-checked where its gate is on, so a bad index is an error naming the UOp, never a
  silent wrap-around of a negative numpy index.
* IF/ENDIF become a mask that gates the LOADs, STOREs and ASSIGNs inside.
* Shared memory (GPU GROUP reductions): a DEFINE_LOCAL is one array per block, laid out block after
  block; a LOAD/STORE into it adds `block number * size` to the index, the block number being the
  row-major position of the gidx SPECIALs. A BARRIER does nothing: every thread's STORE (one numpy
  call for all of them) has already happened when the next UOp runs, which is what it guarantees.
* A buffer must have at least its DEFINE_GLOBAL's declared size (the Program's accesses lie inside it).
* bfloat16 memory holds the bits (uint16): a LOAD widens them to float32 values and a STORE narrows the
  (already rounded) values back, as the C does (stage 01's dtype.py has the conversions).

This is exact for programs whose parallel loops enclose the sequential ones, which is every
program `linearize` makes: GLOBAL iterations are independent, so running them side by side is
the same as running them one after another. ALU semantics come from stage 01 (`apply_alu`), the
single definition every evaluator shares.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shrimpgrad.graph import Ops, dtypes
from shrimpgrad.graph.dtype import from_storage, to_storage
from shrimpgrad.graph.evaluate import apply_alu

from .uops import LoopKind, Program, UOp, UOps

_PARALLEL = (LoopKind.GLOBAL, LoopKind.LOCAL)


class InterpretError(RuntimeError):
    """The program can't run on these buffers (wrong buffers, out-of-bounds access, bad structure)."""


def interpret(program: Program, buffers: Sequence[np.ndarray]) -> None:
    """Run `program`; `buffers[i]` is the flat numpy array of DEFINE_GLOBAL index i (outputs are written)."""
    uops = program.uops
    n = len(uops)
    src_idx, axis_of, end_of = _decode(program)
    vector_ndim = max(axis_of.values(), default=-1) + 1
    values: list = [None] * n
    blocks: list[tuple[int, int]] = []  # (pc, size) of the gidx SPECIALs: the block number of local memory
    local_size: dict[int, int] = {}  # DEFINE_LOCAL pc -> elements per block
    masks: list[np.ndarray] = []  # IF conditions currently in force
    loops: list[list[int]] = []  # sequential loops in progress: [range pc, current value, end value]

    def fail(pc: int, msg: str) -> InterpretError:
        return InterpretError(f"program {program.name}, uop {pc} {uops[pc]!r}: {msg}")

    def along_axis(pc: int, start: int, stop: int, dtype) -> np.ndarray:
        shape = [1] * vector_ndim
        shape[axis_of[pc]] = max(stop - start, 0)
        return np.arange(start, stop, dtype=dtype).reshape(shape)

    pc = 0
    with np.errstate(all="ignore"):  # wrap-around, 1/0 = inf: the defined results of stage 01
        while pc < n:
            u = uops[pc]
            op, src = u.op, [values[i] for i in src_idx[pc]]
            if op is UOps.ALU:
                values[pc] = apply_alu(u.arg, u.dtype, src)
            elif op is UOps.LOAD:
                if uops[src_idx[pc][0]].op is UOps.DEFINE_LOCAL:
                    src = [src[0], _in_block(src[1], src_idx[pc][0], local_size, blocks, values)]
                if u.dtype == dtypes.bfloat16:  # memory holds its bits, values are float32 (stage 01's dtype.py)
                    src = [*src[:3], to_storage(src[3], u.dtype)] if len(src) == 4 else src
                    values[pc] = from_storage(_load(pc, src, masks, fail), u.dtype)
                else:
                    values[pc] = _load(pc, src, masks, fail)
            elif op is UOps.CONST:
                values[pc] = np.array(u.arg, dtype=u.dtype.value_np)
            elif op is UOps.CAST:
                values[pc] = apply_alu(Ops.CAST, u.dtype, src)
            elif op is UOps.ASSIGN:
                acc = src_idx[pc][0]
                values[acc] = np.where(_mask(masks), src[1], values[acc]) if masks else src[1]
            elif op is UOps.DEFINE_ACC:
                values[pc] = src[0]
            elif op is UOps.STORE:
                if uops[src_idx[pc][0]].op is UOps.DEFINE_LOCAL:
                    src = [src[0], _in_block(src[1], src_idx[pc][0], local_size, blocks, values), *src[2:]]
                if uops[src_idx[pc][0]].dtype == dtypes.bfloat16:
                    src = [src[0], src[1], to_storage(src[2], dtypes.bfloat16), *src[3:]]
                _store(pc, src, masks, fail)
            elif op is UOps.RANGE:
                start, stop = (_scalar(s, pc, fail) for s in src)
                if pc in axis_of:
                    values[pc] = along_axis(pc, start, stop, u.dtype.np)
                elif start >= stop:
                    pc = end_of[pc]  # an empty loop: skip its body
                else:
                    loops.append([pc, start, stop])
                    values[pc] = np.array(start, dtype=u.dtype.np)
            elif op is UOps.END:
                rng = src_idx[pc][0]
                if rng not in axis_of and loops and loops[-1][0] == rng:
                    loop = loops[-1]
                    loop[1] += 1
                    if loop[1] < loop[2]:
                        values[rng] = np.array(loop[1], dtype=uops[rng].dtype.np)
                        pc = rng
                    else:
                        loops.pop()
            elif op is UOps.SPECIAL:
                values[pc] = along_axis(pc, 0, u.arg[1], u.dtype.np)
                if u.arg[0].startswith("gidx"):
                    blocks.append((pc, u.arg[1]))
            elif op is UOps.DEFINE_LOCAL:
                local_size[pc] = u.arg[1]
                n_blocks = int(np.prod([size for _, size in blocks]))
                values[pc] = np.zeros(n_blocks * u.arg[1], dtype=u.dtype.np)
            elif op is UOps.BARRIER:
                pass  # the STOREs it waits for are done (see the module docstring)
            elif op is UOps.DEFINE_GLOBAL:
                values[pc] = _buffer(u, buffers, fail, pc)
            elif op is UOps.IF:
                masks.append(np.asarray(src[0], dtype=bool))
            elif op is UOps.ENDIF:
                masks.pop()
            else:
                raise fail(pc, f"the PYTHON device has no rule for {op.name}")
            pc += 1


def _decode(program: Program) -> tuple[list[tuple[int, ...]], dict[int, int], dict[int, int]]:
    """Operand positions of every UOp (the latest definition of an equal UOp wins, as in a one-pass
    renderer), the numpy axis of every parallel loop, and the END position of every RANGE."""
    where: dict[UOp, int] = {}
    src_idx: list[tuple[int, ...]] = []
    axis_of: dict[int, int] = {}
    end_of: dict[int, int] = {}
    open_ranges: list[int] = []
    sequential_open = 0
    for pc, u in enumerate(program.uops):
        try:
            src_idx.append(tuple(where[s] for s in u.src))
        except KeyError as e:
            raise InterpretError(f"program {program.name}, uop {pc} {u!r}: operand used before it is defined") from e
        if u.op is UOps.SPECIAL or (u.op is UOps.RANGE and u.arg[1] in _PARALLEL):
            if sequential_open:
                raise InterpretError(f"program {program.name}, uop {pc} {u!r}: the PYTHON device vectorizes GLOBAL/"
                                     "LOCAL loops and SPECIALs, so they must not be inside a REDUCE/UPCAST loop")
            axis_of[pc] = len(axis_of)
        if u.op is UOps.RANGE:
            open_ranges.append(pc)
            sequential_open += pc not in axis_of
        elif u.op is UOps.END:
            rng = open_ranges.pop()
            end_of[rng] = pc
            sequential_open -= rng not in axis_of
        where[u] = pc
    return src_idx, axis_of, end_of


def _in_block(idx, local: int, local_size: dict[int, int], blocks: list[tuple[int, int]], values: list):
    """A shared-memory index within this thread's block: block number * the array's size + idx."""
    block = np.array(0)
    for pc, size in blocks:
        block = block * size + values[pc]
    return block * local_size[local] + idx


def _buffer(u: UOp, buffers: Sequence[np.ndarray], fail, pc: int) -> np.ndarray:
    i, size = u.arg[0], u.arg[3]
    if not 0 <= i < len(buffers):
        raise fail(pc, f"needs buffer {i} but only {len(buffers)} were passed")
    buf = buffers[i]
    if not isinstance(buf, np.ndarray) or buf.ndim != 1 or buf.dtype != u.dtype.np:
        got = f"{buf.shape} {buf.dtype}" if isinstance(buf, np.ndarray) else type(buf).__name__
        raise fail(pc, f"buffer {i} must be a flat numpy array of dtype {u.dtype.np_name}, got {got}")
    if buf.size < size:
        raise fail(pc, f"buffer {i} has {buf.size} elements; the kernel's buffer has {size}")
    return buf


def _scalar(v, pc: int, fail) -> int:
    if np.ndim(v) != 0:
        raise fail(pc, "loop bounds must be the same for every parallel iteration")
    return int(v)


def _mask(masks: list[np.ndarray]) -> np.ndarray:
    out = masks[0]
    for m in masks[1:]:
        out = out & m
    return out


def _gate(own, masks: list[np.ndarray]):
    """Where a LOAD or STORE happens: its own gate operand (or None) AND the enclosing IFs; None means always."""
    if not masks:
        return own
    return _mask(masks) if own is None else own & _mask(masks)


def _check_bounds(pc: int, what: str, buf: np.ndarray, idx: np.ndarray, fail) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= buf.size):
        bad = idx[(idx < 0) | (idx >= buf.size)].reshape(-1)[0]
        raise fail(pc, f"{what} index {bad} is outside the buffer of {buf.size} elements")


def _load(pc: int, src: list, masks: list[np.ndarray], fail):
    buf, idx = src[0], np.asarray(src[1])
    gate = _gate(src[2] if len(src) == 4 else None, masks)  # (buf, index, BARRIER) has no gate
    if gate is None:
        _check_bounds(pc, "LOAD", buf, idx, fail)
        return buf[idx]
    alt = src[3] if len(src) == 4 else np.zeros((), buf.dtype)
    gate, idx = np.broadcast_arrays(np.asarray(gate, dtype=bool), idx)
    _check_bounds(pc, "LOAD", buf, idx[gate], fail)
    if buf.size == 0:
        return np.broadcast_to(alt, gate.shape).copy()
    return np.where(gate, buf[np.where(gate, idx, 0)], alt)


def _store(pc: int, src: list, masks: list[np.ndarray], fail) -> None:
    buf, idx, value = src[0], np.asarray(src[1]), np.asarray(src[2])
    if value.dtype != buf.dtype:
        raise fail(pc, f"STORE of {value.dtype} into a {buf.dtype} buffer")
    gate = _gate(src[3] if len(src) == 4 else None, masks)
    if gate is None:
        idx, value = np.broadcast_arrays(idx, value)
    else:
        gate, idx, value = np.broadcast_arrays(np.asarray(gate, dtype=bool), idx, value)
        idx, value = idx[gate], value[gate]
    _check_bounds(pc, "STORE", buf, idx, fail)
    buf[idx] = value
