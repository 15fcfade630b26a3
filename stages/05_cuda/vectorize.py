"""VECTORIZE: four neighbouring float loads of one input buffer become one 16-byte `float4` load, in CUDA only.

    vector_groups(program) -> tuple[VectorGroup, ...]     which LOADs go together (an analysis; nothing changes)
    vector_lanes(program) -> {LOAD: (lane-0 LOAD, lane)}    the same, as the CUDA dialect's `vector_loads` hook

Why: an UPCAST (or UNROLL) lane is a copy of the loop body, so four lanes that read data1[i], data1[i+1],
data1[i+2], data1[i+3] issue four load instructions. A GPU multiprocessor issues loads at a quarter of the
rate it issues float arithmetic, so a register-blocked matmul whose reduce loop is unrolled by 4 spends its
time issuing A's loads: one `LDG.128` instead of four `LDG.32` gives those issue slots back. (For an
elementwise kernel it does not matter: four coalesced scalar loads per thread already reach the copy
bandwidth, measured; see opts.py rule 4.)

    float val0 = data1[alu21];        ->   float4 vec0 = *((const float4*)(data1 + alu21));  // VECTORIZE
    float val1 = data1[alu22];             float val0 = vec0.x;
    ...                                     float val1 = vec0.y;   ...

When four loads go together (`vector_groups`): they read the same float32 *input* buffer (nothing in the
kernel writes it), ungated, inside the same block (loop body or IF); their indices are `base + 0..3` as
affine forms of the same variables (sums of constant multiples of loop variables, thread indices and other
values); `base` is a multiple of 4 for every value of those variables (every coefficient and the constant
are), so the address is 16-byte aligned given a 16-byte aligned buffer (cuMemAlloc aligns to 256 bytes; the
runtime checks each vectorized buffer's pointer); and lane 0 comes first in the program, so its index
variable exists where the float4 is loaded.

The Program is not changed: the UOp dump and the UOp interpreter see the four scalar LOADs, and only the CUDA
spells them differently, so the values are the same bit for bit by construction. The spelling is stage 04's
renderer's, through a hook of the Dialect (`vector_loads`, `vector_load`, `vector_lanes`): when it renders a
group's lane-0 LOAD it writes the float4 load once, and every lane's LOAD as a read of it (`render_vector_lane`);
this module only says which loads go together. Switch: SHRIMPGRAD_CUDA_VECTORIZE=0.
"""

from __future__ import annotations

from dataclasses import dataclass

from shrimpgrad.graph import Ops, dtypes
from shrimpgrad.graph.switches import switch
from shrimpgrad.linearize import Program, UOp, UOps

VECTORIZE_ENV = "SHRIMPGRAD_CUDA_VECTORIZE"
WIDTH = 4  # float4: 16 bytes, the widest load a thread issues


def vectorize_enabled() -> bool:
    """Whether render_cuda spells vector groups as float4 ($SHRIMPGRAD_CUDA_VECTORIZE, default 1)."""
    return switch(VECTORIZE_ENV)


@dataclass(frozen=True)
class VectorGroup:
    """Four LOADs of `buffer` (a DEFINE_GLOBAL) at base + 0..3, lane 0 first in the program."""

    buffer: UOp
    loads: tuple[UOp, UOp, UOp, UOp]


def _affine(u: UOp, memo: dict) -> tuple[frozenset, int]:
    """`u` as (frozenset of (leaf, coefficient)), constant): ADD and MUL-by-a-constant are looked through, any
    other value is a leaf."""
    if u in memo:
        return memo[u]
    if u.op is UOps.CONST and isinstance(u.arg, int):
        form = (frozenset(), u.arg)
    elif u.op is UOps.ALU and u.arg is Ops.ADD and len(u.src) == 2:
        (la, ca), (lb, cb) = _affine(u.src[0], memo), _affine(u.src[1], memo)
        terms = dict(la)
        for leaf, k in lb:
            terms[leaf] = terms.get(leaf, 0) + k
        form = (frozenset((leaf, k) for leaf, k in terms.items() if k), ca + cb)
    elif u.op is UOps.ALU and u.arg is Ops.MUL and len(u.src) == 2 and any(
            s.op is UOps.CONST and isinstance(s.arg, int) for s in u.src):
        const, other = (u.src[0], u.src[1]) if u.src[0].op is UOps.CONST else (u.src[1], u.src[0])
        leaves, c = _affine(other, memo)
        form = (frozenset((leaf, k * const.arg) for leaf, k in leaves if k * const.arg), c * const.arg)
    else:
        form = (frozenset({(u, 1)}), 0)
    memo[u] = form
    return form


def vector_groups(program: Program) -> tuple[VectorGroup, ...]:
    """The groups of four LOADs that `vectorize` spells as one float4 load (see the module docstring)."""
    written = {u.src[0] for u in program.uops if u.op is UOps.STORE}
    memo: dict = {}
    blocks: list[UOp] = []
    pending: dict[tuple, dict[int, UOp]] = {}  # (buffer, block, leaves, base) -> lane -> LOAD, first seen
    groups: list[VectorGroup] = []
    for u in program.uops:
        if u.op in (UOps.RANGE, UOps.IF):
            blocks.append(u)
        elif u.op in (UOps.END, UOps.ENDIF) and blocks:
            blocks.pop()
        elif (u.op is UOps.LOAD and len(u.src) == 2 and u.dtype == dtypes.float32
              and u.src[0].op is UOps.DEFINE_GLOBAL and u.src[0] not in written):
            leaves, const = _affine(u.src[1], memo)
            if any(k % WIDTH for _, k in leaves):
                continue  # the base would not be a multiple of 4 for every value of the variables
            key = (u.src[0], blocks[-1] if blocks else None, leaves, const - const % WIDTH)
            lanes = pending.setdefault(key, {})
            lane = const % WIDTH
            if lane in lanes or (lane != 0 and 0 not in lanes):
                continue  # a repeat, or lane 0 is not first: left as a scalar load
            lanes[lane] = u
            if len(lanes) == WIDTH:
                groups.append(VectorGroup(u.src[0], tuple(lanes[i] for i in range(WIDTH))))
                del pending[key]
    return tuple(groups)


def vectorized_buffers(program: Program) -> frozenset[int]:
    """The DEFINE_GLOBAL indices read through float4 (their pointers must be 16-byte aligned)."""
    if not vectorize_enabled():
        return frozenset()
    return frozenset(g.buffer.arg[0] for g in vector_groups(program))


def vector_lanes(program: Program) -> dict[UOp, tuple[UOp, int]]:
    """Every LOAD of a vector group -> (the group's lane-0 LOAD, its lane): what stage 04's renderer asks the CUDA
    dialect (`Dialect.vector_loads`), so that it writes lane 0 as the one float4 load and each lane as a read of it."""
    return {u: (g.loads[0], lane) for g in vector_groups(program) for lane, u in enumerate(g.loads)}


VECTOR_LOAD = "float4 {name} = *((const float4*)({buf} + {index}));"  # the Dialect's vector_load for CUDA


__all__ = ["VECTORIZE_ENV", "VECTOR_LOAD", "VectorGroup", "vector_groups", "vector_lanes", "vectorize_enabled",
           "vectorized_buffers"]
