"""A `Dialect`: everything that differs between C and its relatives (CUDA C) in one small record.

The renderer (renderer.py) walks a Program once and asks the dialect only *how to spell* things;
what each UOp means (scopes, literals, floor division, NaN-propagating max, float16 rounding) is
the renderer's and alu.py's, shared by every dialect. So stage 05's CUDA renderer is this
renderer with `CUDA_DIALECT` (stages/05_cuda/dialect.py), and `C_DIALECT` vs `CUDA_DIALECT`,
field by field, is the complete answer to "what is different about the CUDA source?".

    field              C_DIALECT                              what it spells
    kernel_prefix      void                                   the function's return type and qualifiers
    restrict           restrict                               "no two buffers overlap" on each pointer
    helper_prefix      static inline                          helper functions (idiv_int32, max_float32)
    half_preamble      typedef _Float16 half;                 how the `half` storage type comes to exist
    math_preamble      #include <math.h>                      what sqrtf/exp2f/... need
    constants_preamble #include <math.h>                      what INFINITY/NAN need
    bool_preamble      #include <stdbool.h>                   what `bool` needs
    math_names         SQRT: sqrt, EXP2: exp2, ...            the math functions (+ f for float)
    loop               for (int i = 0; i < n; i++) {          a RANGE
    unroll             #pragma GCC unroll {n}                 above a small UPCAST loop
    openmp             True                                   `#pragma omp parallel for` on big GLOBAL loops
    special            None (C has no thread indices)         a SPECIAL: lines declaring gidx0/lidx0
    shared             None                                   a DEFINE_LOCAL's qualifier (__shared__)
    barrier            None                                   a BARRIER (__syncthreads();)
    wrap_signed        False (-fwrapv makes + - * wrap)       spell signed int + - * via unsigned
    vector_math        True (SHRIMPGRAD_C_VECTOR_MATH=0: False)  float exp2/log2 by alu.py's vectorizable helpers
    vector_loads       None (C's vectorizer finds its own)    which LOADs to read as one vector load (CUDA: float4)
    vector_max         True (SHRIMPGRAD_C_VECTOR_MAX=0: False)  a float32 max reduce loop as a vectorizable int max
    fma                True (SHRIMPGRAD_FMA=0: False)         an accumulation acc + a*b as one fused fmaf(a, b, acc)
    fma_chains         True (as loads_first)                  a chain acc + a0*b0 + a1*b1 fused too (else: no FMA)
    fma_partials       False                                  a GROUP's partial sums (CPU only) fused too
    loads_first        True (SHRIMPGRAD_C_LOADS_FIRST=0: False)  a straight run's pure LOADs first, by buffer
    offsets            True (SHRIMPGRAD_C_OFFSETS=0: False)   an index `base + 3` that only addresses read: [base + 3L]
    wide_vectors       target("prefer-vector-width=512")      the attribute of a kernel whose lanes fill two 64-byte
                       (SHRIMPGRAD_C_WIDE_VECTORS=0: "")      vectors: gcc then uses 512-bit vectors (renderer.py)

`vector_math` is a switch: alu.py's exp2/log2 are within 1 ulp of the correctly rounded result (glibc's exp2f/log2f
too, off by one more rarely; numpy's own float32 loops: 3 and 2 ulp), and a loop that calls them vectorizes, where a
call to exp2f keeps it scalar. SHRIMPGRAD_C_VECTOR_MATH=0 in the environment (read once, at import: every kernel of
a process is rendered the same way, which the kernel caches rely on) gives the math library's functions, which are
what the C library computes bit for bit; `render(program, dialect=C_LIBM_DIALECT)` does it for one kernel.

`fma` is a switch too (the renderer's `fma_accumulations` says which lines it fuses): `acc0 = fmaf(val0, val1, acc0)`
rounds once where `alu0 = val0 * val1; acc0 = alu0 + acc0` rounds twice, and a CPU or GPU does a fused multiply-add
in one instruction at the rate of one add. SHRIMPGRAD_FMA=0 (read once, at import, like vector_math) turns it off in
both dialects (SHRIMPGRAD_FMA=1 or unset: on). `C_NO_FMA_DIALECT` is C with it off, for one kernel (`render(program,
dialect=...)`); `C_FMA_DIALECT` has it on, chains included (the CUDA dialect's choice; see C_DIALECT for why C's isn't).
With vector_math, `fma` also fuses the Horner steps of alu.py's exp2 helper (`p = fmaf(p, f, c)`, still within 1 ulp).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from shrimpgrad.graph import Ops

if TYPE_CHECKING:
    from shrimpgrad.linearize import Program, UOp

# math.h's names; the renderer adds `f` for float (and float16, computed in float): sqrtf, sqrt (double)
C_MATH_NAMES: Mapping[Ops, str] = MappingProxyType(
    {Ops.SQRT: "sqrt", Ops.EXP2: "exp2", Ops.LOG2: "log2", Ops.SIN: "sin", Ops.TRUNC: "trunc"})


@dataclass(frozen=True, repr=False)  # its own __repr__ (below): no generated one to make
class Dialect:
    """How one C-like language spells a kernel (see the table above)."""

    name: str
    kernel_prefix: str = "void"
    restrict: str = "restrict"
    helper_prefix: str = "static inline"
    half_preamble: tuple[str, ...] = (
        "typedef _Float16 half;  /* storage only: float16 values are computed in float */",)
    math_preamble: tuple[str, ...] = ("#include <math.h>",)
    constants_preamble: tuple[str, ...] = ("#include <math.h>",)
    bool_preamble: tuple[str, ...] = ("#include <stdbool.h>",)
    math_names: Mapping[Ops, str] = field(default_factory=lambda: C_MATH_NAMES)
    loop: str = "for ({type} {name} = {start}; {name} < {end}; {name}++) {{"
    unroll: str = "#pragma GCC unroll {n}"
    openmp: bool = True
    # a SPECIAL (name, size) -> the lines that declare its variable; None: this language has no thread indices
    special: Callable[[str, int], tuple[str, ...]] | None = None
    shared: str | None = None
    barrier: str | None = None
    wrap_signed: bool = False
    vector_math: bool = False  # float exp2/log2 as the vectorizable helpers of alu.py, not the math library's
    vector_max: bool = False  # a float32 max reduce loop as an integer max the vectorizer takes (renderer.py)
    fma: bool = False  # an accumulation acc + a*b (float32/float64) as one fused multiply-add, fmaf(a, b, acc); and
    # the Horner steps of alu.py's exp2 helper
    fma_chains: bool = True  # False: a kernel whose accumulations chain (a conv's unrolled window) gets no FMA
    # True: a GROUP's partial sums (renderer.py's group_partials) are fused too. Only a CPU program has them (on a GPU
    # GROUP lanes are threads, combined through shared memory), so CUDA's setting is moot and left at the default
    fma_partials: bool = False
    # vector loads: Program -> {LOAD: (the LOAD of its group's lane 0, lane)} for the groups of neighbouring loads to
    # read in one vector load (stage 05's VECTORIZE: float4), spelled by `vector_load` and `vector_lanes`; None: none
    vector_loads: Callable[[Program], Mapping[UOp, tuple[UOp, int]]] | None = None
    vector_load: str = ""  # e.g. "float4 {name} = *((const float4*)({buf} + {index}));"
    vector_lanes: str = "xyzw"
    # an index `base + c` that only LOADs and STOREs use is written into them as data1[base + cL] (a 64-bit add that
    # the compiler folds into the address) instead of a line `int alu7 = base + c;` (renderer.py's constant_offsets)
    offsets: bool = False
    # in each straight run of lines, the LOADs of pure addresses first, grouped by buffer (renderer.py's loads_first)
    loads_first: bool = False
    # a float WHERE `c ? a : b` as alu.py's select helper, a bit mask the basic-block vectorizer takes (alu.py's
    # render_where; gcc 12 vectorizes `c ? a : b` in a loop, never among the straight lines of an UPCAST's lanes)
    mask_selects: bool = False
    # a function attribute for kernels whose lanes fill two 64-byte vectors along an axis (renderer.py's wide_lanes):
    # gcc on Intel prefers 256-bit vectors even with AVX-512 (-mprefer-vector-width=256), so such a kernel's FMAs are
    # ymm unless asked; "": no attribute
    wide_vectors: str = ""

    def __repr__(self) -> str:
        return f"Dialect({self.name!r})"


VECTOR_MATH_ENV = "SHRIMPGRAD_C_VECTOR_MATH"


def _on_off(env: str, value: str | None, on: str, off: str = "") -> bool:
    """A C dialect switch: `value`, else $`env`: "1" or unset -> True, "0" -> False; anything else is an error that
    says what 1 means (`on`) and, if given, what 0 means (`off`)."""
    value = os.environ.get(env, "1") if value is None else value
    if value not in ("0", "1"):
        raise ValueError(f"{env}={value!r}: use 1 ({on}, the default) or 0" + (f" ({off})" if off else ""))
    return value == "1"


def vector_math_setting(value: str | None = None) -> bool:
    """`value`, else $SHRIMPGRAD_C_VECTOR_MATH: "1" or unset -> alu.py's vectorizable exp2/log2, "0" -> the math
    library's exp2f/log2f."""
    return _on_off(VECTOR_MATH_ENV, value, "alu.py's vectorizable exp2/log2", "the math library's exp2f/log2f")


FMA_ENV = "SHRIMPGRAD_FMA"


def fma_setting(default: bool, value: str | None = None) -> bool:
    """`value`, else $SHRIMPGRAD_FMA: "1" -> accumulations acc + a*b as fused multiply-adds (one rounding), "0" -> a
    multiply and an add (two roundings, numpy's), unset -> `default` (on in C and CUDA)."""
    value = os.environ.get(FMA_ENV) if value is None else value
    if value is None or value == "":
        return default
    if value not in ("0", "1"):
        raise ValueError(f"{FMA_ENV}={value!r}: use 1 (accumulations as fused multiply-adds) or 0 (a multiply and "
                         f"an add, rounded twice as numpy does); unset: 1")
    return value == "1"


# C's FMA, measured on one core of an AVX2 EPYC (gcc 12): W4's matmul 66-104 -> 48-52 ms; but gcc's vectorizer built
# no vectors from chains of fmaf (a conv's window unrolled into lanes: acc + a0*b0 + a1*b1 + a2*b2) whose loads came
# interleaved, and W5 ran 2x slower with them. With the renderer's loads_first (each run's loads first, by buffer)
# they vectorize (W5, one AVX-512 core: 3.5 -> 2.6 ms), so fma_chains follows loads_first. Nor does gcc vectorize a
# loop of fmaf partial sums (SPLIT's 32 accumulators; `(x * x).sum(-1)` of 2048² 2.0 ms fused, 1.1 unfused), so
# fma_partials=False.
VECTOR_MAX_ENV = "SHRIMPGRAD_C_VECTOR_MAX"


OFFSETS_ENV = "SHRIMPGRAD_C_OFFSETS"
LOADS_FIRST_ENV = "SHRIMPGRAD_C_LOADS_FIRST"
MASK_SELECTS_ENV = "SHRIMPGRAD_C_MASK_SELECTS"
WIDE_VECTORS_ENV = "SHRIMPGRAD_C_WIDE_VECTORS"
WIDE_VECTORS = 'target("prefer-vector-width=512")'


def wide_vectors_setting(value: str | None = None) -> str:
    """$SHRIMPGRAD_C_WIDE_VECTORS (or `value`): "1" or unset -> WIDE_VECTORS, the attribute that lets gcc use 512-bit
    vectors in kernels with wide lanes (renderer.py's wide_lanes), "0" -> "" (the compiler's own preference)."""
    return WIDE_VECTORS if _on_off(WIDE_VECTORS_ENV, value, "512-bit vectors for wide lanes") else ""


def loads_first_setting(value: str | None = None) -> bool:
    """`value`, else $SHRIMPGRAD_C_LOADS_FIRST: "1" or unset -> each straight run's LOADs first, by buffer
    (renderer.py's loads_first), "0" -> every line in the Program's order. Off, the conv's FMA chains don't vectorize:
    the C dialect then fuses no chain (fma_chains follows this switch)."""
    return _on_off(LOADS_FIRST_ENV, value, "loads first")


def offsets_setting(value: str | None = None) -> bool:
    """`value`, else $SHRIMPGRAD_C_OFFSETS: "1" or unset -> constant index offsets in the address (renderer.py's
    constant_offsets), "0" -> each index its own int line, as stage 03 wrote it."""
    return _on_off(OFFSETS_ENV, value, "offsets in the address")


def mask_selects_setting(value: str | None = None) -> bool:
    """$SHRIMPGRAD_C_MASK_SELECTS (or `value`): "1" or unset -> a float WHERE as alu.py's select helper (a bit mask),
    "0" -> C's `c ? a : b`."""
    return _on_off(MASK_SELECTS_ENV, value, "selects as bit masks")


def vector_max_setting(value: str | None = None) -> bool:
    """`value`, else $SHRIMPGRAD_C_VECTOR_MAX: "1" or unset -> a float32 max reduce loop as the renderer's
    vectorizable integer max (vector_max_loops), "0" -> the plain max_float32 loop."""
    return _on_off(VECTOR_MAX_ENV, value, "the vectorizable max loop")


_LOADS_FIRST = loads_first_setting()  # fma_chains follows it (see above)
C_DIALECT = Dialect("C", vector_math=vector_math_setting(), fma=fma_setting(default=True),
                    fma_chains=_LOADS_FIRST, fma_partials=False, vector_max=vector_max_setting(),
                    offsets=offsets_setting(), loads_first=_LOADS_FIRST,
                    mask_selects=mask_selects_setting(), wide_vectors=wide_vectors_setting())
C_LIBM_DIALECT = replace(C_DIALECT, name="C (libm)", vector_math=False)  # the math library's exp2f/log2f
# every acc + a*b as fmaf(a, b, acc)
C_FMA_DIALECT = replace(C_DIALECT, name="C (FMA)", fma=True, fma_chains=True, fma_partials=True)
C_NO_FMA_DIALECT = replace(C_DIALECT, name="C (no FMA)", fma=False)  # every a*b + c rounded twice
C_SCALAR_MAX_DIALECT = replace(C_DIALECT, name="C (scalar max)", vector_max=False)  # max loops as max_float32 only
C_NO_OFFSETS_DIALECT = replace(C_DIALECT, name="C (no offsets)", offsets=False)  # every index an int line of its own
C_TERNARY_DIALECT = replace(C_DIALECT, name="C (ternary selects)", mask_selects=False)  # WHERE as c ? a : b
C_NARROW_DIALECT = replace(C_DIALECT, name="C (narrow vectors)", wide_vectors="")  # gcc's own vector width
