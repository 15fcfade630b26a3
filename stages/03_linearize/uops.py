"""The stage-03 IR: a `Program` is a flat, ordered list of `UOp`s that a backend renders line by line.

Each UOp names its operands by reference (`src`), always to UOps earlier in the list, and has
an explicit dtype. The whole vocabulary:

    op            src                                arg                       renders (C) as
    DEFINE_GLOBAL ()                                 (index, name, is_output, size)  a pointer parameter
    DEFINE_LOCAL  ()                                 (name, size)              GPU only: a block's shared array
    CONST         ()                                 the value                 a literal
    SPECIAL       ()                                 (name, size)              blockIdx/threadIdx on GPUs
    RANGE         (start CONST, end CONST)           (name, LoopKind)          for (int name = start; ...; name++) {
    END           (RANGE,)                           None                      }
    LOAD          (buf, index) | (buf, index, gate, alt)  None                 buf[index] | gate ? buf[index] : alt
                  | (local buf, index, BARRIER)               (a shared-memory read after the barrier)
    STORE         (buf, index, value) | (..., gate)  None                      buf[index] = value;
    DEFINE_ACC    (init CONST,)                      accumulator number        T acc = init;
    ASSIGN        (DEFINE_ACC, value)                None                      acc = value;
    ALU           operands                           the stage-01 Ops member   a + b, max(a, b), ...
    CAST          (x,)                               None (target is dtype)    (T)x
    IF            (cond,)                            None                      if (cond) {
    ENDIF         (IF,)                              None                      }
    BARRIER       (STOREs into DEFINE_LOCALs)        None                      GPU only: __syncthreads();

A DEFINE_GLOBAL's `size` is the number of elements of its buffer (`kernel.bufs[i].size`): every
access the Program makes that is not gated off lies in 0..size-1, so a runtime checks a buffer
against `size` directly (C checks no bounds; a smaller buffer would be read or written past its end).
DEFINE_LOCAL and BARRIER exist only in GPU programs with a GROUP reduction (lower.py): each
thread's partial accumulator goes into a shared array, the block waits at the barrier, then the
partials are combined.

Provenance: `origins` names the user's lines a UOp comes from (what the renderers write as `| from ...`
comments); `meta` is a free-text note for hand-built programs, shown when there are no origins.

A UOp that reads an accumulator refers to its DEFINE_ACC: after the ASSIGNs in a loop, the
DEFINE_ACC stands for the accumulated value. STORE, END, ASSIGN, IF, ENDIF and BARRIER produce no
value (dtype None). Index arithmetic is ordinary ALU UOps on `index_dtype` (int32 or int64).

Pictures of a Program (`rich.print(p)`, `p.to_dot()`, `p` alone in a notebook cell) are attached by the
package's `__init__` from viz.py: this module never imports its pictures (viz.py imports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any

from shrimpgrad.graph import ALU, DType, InvariantError


class UOps(Enum):
    DEFINE_GLOBAL = auto()
    DEFINE_LOCAL = auto()
    CONST = auto()
    SPECIAL = auto()
    RANGE = auto()
    END = auto()
    LOAD = auto()
    STORE = auto()
    DEFINE_ACC = auto()
    ASSIGN = auto()
    ALU = auto()
    CAST = auto()
    IF = auto()
    ENDIF = auto()
    BARRIER = auto()

    def __repr__(self) -> str:
        return f"UOps.{self.name}"


class LoopKind(Enum):
    """What one part of a kernel axis is for: the one vocabulary of the loop plan (opts.py) and of RANGEs.

    The plan's parts have the first six; a Program's RANGEs have GLOBAL, LOCAL, REDUCE and ROW (the lanes
    are written out by the lowering, so they never become loops; ROW is a row kernel's store loop, made by
    the lowering, not by a plan). Backends and dumps read a RANGE's kind: OpenMP on the
    outermost GLOBAL loop, the interpreter's vectorized GLOBAL/LOCAL loops. A hand-built Program may
    mark a RANGE UPCAST to ask the C backend to unroll it (`#pragma GCC unroll`)."""

    GLOBAL = auto()  # over output elements; independent iterations: a RANGE on CPU, a SPECIAL gidx on GPU
    LOCAL = auto()  # threads of one GPU block: a SPECIAL lidx on GPU, an inner RANGE on CPU
    REDUCE = auto()  # over reduced elements; a sequential RANGE that updates accumulators
    UPCAST = auto()  # unrolled output lanes, one accumulator each
    UNROLL = auto()  # unrolled reduce lanes folding into the same accumulator, in order
    GROUP = auto()  # unrolled reduce lanes, one partial accumulator each (GPU: threads of the block)
    ROW = auto()  # a row kernel's store loop over the reduced axes, after its reduce loops: a sequential RANGE

    def __repr__(self) -> str:
        return f"LoopKind.{self.name}"


NO_VALUE = frozenset({UOps.STORE, UOps.END, UOps.ASSIGN, UOps.IF, UOps.ENDIF, UOps.BARRIER})
BUFFERS = frozenset({UOps.DEFINE_GLOBAL, UOps.DEFINE_LOCAL})  # what LOAD and STORE address


@dataclass(frozen=True, repr=False)  # its own __repr__ (below): no generated one to make
class UOp:
    """One instruction of a Program: what it does (`op`), the dtype of its value (None: it has none), the UOps it
    reads (`src`) and its constant argument (`arg`)."""

    op: UOps
    dtype: DType | None
    src: tuple[UOp, ...] = ()
    arg: Any = None
    meta: str | None = field(default=None, compare=False, repr=False)  # e.g. "Tensor.relu at train.py:12"
    # The provenance of the kernel AST node(s) it lowers (stage 01 Provenance: the user's file:line and Tensor
    # method). CSE merges them: a UOp shared by two nodes names both. Not part of equality.
    origins: tuple = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        # Hashed once, at construction (stage 01's idiom for frozen IR nodes): CSE hashes every UOp it meets,
        # and the hash of a UOp covers its whole `src` DAG.
        object.__setattr__(self, "_hash", hash((self.op, self.dtype, self.src, self.arg)))

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"UOp({self.op!r}, {self.dtype!r}, src=<{len(self.src)}>, arg={self.arg!r})"


@dataclass(frozen=True)
class Program:
    """One kernel, linearized. `uops` is in execution order; `global_size`/`local_size` are the GPU
    launch dimensions (None on CPU, where GLOBAL loops are ordinary RANGEs); `applied_opts` names
    the optimizations that shaped it, in order."""

    name: str
    uops: tuple[UOp, ...]
    global_size: tuple[int, ...] | None = None
    local_size: tuple[int, ...] | None = None
    applied_opts: tuple[str, ...] = ()

    @property
    def globals(self) -> tuple[UOp, ...]:
        """The DEFINE_GLOBAL uops sorted by parameter index."""
        return tuple(sorted((u for u in self.uops if u.op is UOps.DEFINE_GLOBAL), key=lambda u: u.arg[0]))

class ProgramError(InvariantError):
    """A Program breaks one of the stage-03 invariants."""


def verify(p: Program) -> Program:
    """Check: operands defined before use, RANGE/END and IF/ENDIF properly nested, value ops have a
    dtype, ALU args are ALU ops, STORE/LOAD target a DEFINE_GLOBAL (or DEFINE_LOCAL), each DEFINE_GLOBAL
    declares (index, name, is_output, size), each RANGE (name, LoopKind). Raises ProgramError naming the UOp."""
    defined: set[UOp] = set()
    open_blocks: list[UOp] = []
    for i, u in enumerate(p.uops):
        def fail(msg: str, i=i, u=u) -> None:
            raise ProgramError(f"program {p.name}, uop {i} {u!r}: {msg}")

        for s in u.src:
            if s not in defined:
                fail(f"operand {s!r} is used before it is defined")
            if s.op in NO_VALUE and not _orders(u, s):
                fail(f"operand {s!r} produces no value")
        if u.op not in NO_VALUE and u.dtype is None:
            fail("a value-producing uop needs a dtype")
        if u.op is UOps.ALU and u.arg not in ALU:
            fail(f"{u.arg} is not an ALU op")
        if u.op in (UOps.LOAD, UOps.STORE) and u.src[0].op not in BUFFERS:
            fail("LOAD/STORE must address a DEFINE_GLOBAL or DEFINE_LOCAL")
        if u.op is UOps.RANGE and not (isinstance(u.arg, tuple) and len(u.arg) == 2 and isinstance(u.arg[0], str)
                                       and u.arg[0] and isinstance(u.arg[1], LoopKind)):
            fail("RANGE's arg is (name, LoopKind), e.g. ('gidx0', LoopKind.GLOBAL): the name the dumps and the C use")
        if u.op is UOps.DEFINE_GLOBAL and not _is_global_arg(u.arg):
            fail("DEFINE_GLOBAL's arg is (index, name, is_output, size) with size the buffer's element count")
        if u.op is UOps.BARRIER and not all(s.op is UOps.STORE and s.src[0].op is UOps.DEFINE_LOCAL for s in u.src):
            fail("a BARRIER waits for STOREs into DEFINE_LOCALs")
        if u.op is UOps.ASSIGN and u.src[0].op is not UOps.DEFINE_ACC:
            fail("ASSIGN must update a DEFINE_ACC")
        if u.op in (UOps.RANGE, UOps.IF):
            open_blocks.append(u)
        if u.op in (UOps.END, UOps.ENDIF):
            want = UOps.RANGE if u.op is UOps.END else UOps.IF
            if not open_blocks or open_blocks[-1] is not u.src[0] or u.src[0].op is not want:
                fail(f"closes {u.src[0]!r} but the innermost open block is "
                     f"{open_blocks[-1] if open_blocks else None!r}")
            open_blocks.pop()
        defined.add(u)
    if open_blocks:
        raise ProgramError(f"program {p.name}: unclosed {open_blocks[-1]!r}")
    return p


def _orders(u: UOp, s: UOp) -> bool:
    """Operands that produce no value but order `u` after them: END/ENDIF close their block, a BARRIER
    waits for the shared-memory STOREs, and a shared-memory LOAD comes after its BARRIER."""
    return (u.op in (UOps.END, UOps.ENDIF) or u.op is UOps.BARRIER
            or (u.op is UOps.LOAD and len(u.src) == 3 and s is u.src[2] and s.op is UOps.BARRIER))


def _is_global_arg(arg) -> bool:
    return (isinstance(arg, tuple) and len(arg) == 4 and isinstance(arg[0], int) and isinstance(arg[1], str)
            and isinstance(arg[2], bool) and isinstance(arg[3], int) and arg[3] >= 0)
