"""How each DType lives in C: the type it is stored as, the type it is computed in, and its literals.

    dtype     storage (pointer element)   compute (local variables)   literal examples
    bool      bool                        bool                        true, false
    int8      signed char                 signed char                 -5
    uint8     unsigned char               unsigned char               255
    int16     short                       short                       -300
    uint16    unsigned short              unsigned short              65535
    int32     int                         int                         7, (-2147483647 - 1)
    uint32    unsigned int                unsigned int                4294967295U
    int64     long long                   long long                   7LL, (-9223372036854775807LL - 1)
    uint64    unsigned long long          unsigned long long          18446744073709551615ULL
    float16   half (= _Float16)           float                       1.5f
    bfloat16  unsigned short (its bits)   float                       1.5f
    float32   float                       float                       0.1f, 1e+20f, INFINITY, NAN
    float64   double                      double                      0.1, 1e+300, -INFINITY

float16 is the one dtype whose storage and compute types differ. Buffers hold `_Float16` (gcc >= 12
and clang >= 15 support it on x86-64 and aarch64; it has the same bits as numpy's float16), but no
arithmetic is ever done in `_Float16`: a value is widened to float when it is loaded, and every
ALU result of dtype float16 is rounded back with an explicit `(half)` conversion. That is exactly
what numpy does for each float16 operation (compute in float32, round to float16), and it makes
the rounding visible in the source instead of depending on how a compiler treats `_Float16`
arithmetic (excess precision, or native AVX512-FP16 instructions on some CPUs).
We chose `_Float16` over a `uint16_t` storage type because the compiler then does the conversions,
correctly rounded (F16C instructions with -march=native, or libgcc's __truncdfhf2 for double);
with uint16_t we would have to write and test our own bit-twiddling conversions.

bfloat16 is the other one, and there we had to: gcc 12 has no `__bf16` arithmetic type. Its buffers
hold the 16 bits (`unsigned short`), a LOAD widens them with `bf16_to_float` (exact: the bits are the
top half of a float), a STORE narrows with `float_to_bf16` (round to nearest, ties to even; NaN stays
NaN), and every ALU result of dtype bfloat16 is rounded with `bf16_round` -- the same steps as numpy's
evaluator (stage 01 dtype.py) and PyTorch's bfloat16 kernels: compute in float32, round back.
"""

from __future__ import annotations

import math

import numpy as np

from shrimpgrad.graph import DType, dtypes
from shrimpgrad.graph.dtype import round_values


class RenderError(ValueError):
    """A Program can't be rendered as C (an unsupported UOp, a value used outside its scope, ...)."""


def storage_type(dt: DType) -> str:
    """The C type of a buffer element: `half` (our typedef of _Float16) for float16, `unsigned short` (the
    bits) for bfloat16, else the dtype's C name."""
    return "half" if dt == dtypes.float16 else dt.c_name


def compute_type(dt: DType) -> str:
    """The C type a value of `dt` is held in while computing: float16 and bfloat16 compute in float."""
    return "float" if dt in (dtypes.float16, dtypes.bfloat16) else dt.c_name


def math_suffix(dt: DType) -> str:
    """math.h's suffix for the compute type: sqrtf for float (and float16), sqrt for double."""
    return "" if dt == dtypes.float64 else "f"


def literal(value, dt: DType) -> str:
    """`value` as a C literal of the compute type of `dt`, exactly.

    literal(0.1, float32) == "0.1f"     (the shortest text that parses back to the same float32)
    literal(2**40, int64) == "1099511627776LL"
    literal(-2**31, int32) == "(-2147483647 - 1)"   (2147483648 alone does not fit an int)
    literal(float("inf"), float64) == "INFINITY"   (math.h; converts to double exactly)"""
    if dt.is_bool:
        return "true" if value else "false"
    if dt.is_int:
        return _int_literal(value, dt)
    if dt.is_float:
        return _float_literal(value, dt)
    raise RenderError(f"no C literal for dtype {dt!r}")


def _int_literal(value, dt: DType) -> str:
    if isinstance(value, float) and not value.is_integer():
        raise RenderError(f"CONST {value!r} of dtype {dt!r} is not an integer")
    v = int(value)
    info = np.iinfo(dt.np)
    if not info.min <= v <= info.max:
        raise RenderError(f"CONST {v} does not fit {dt!r} (range {info.min}..{info.max}); "
                          f"convert it with shrimpgrad.graph.cast_scalar first")
    suffix = {dtypes.int64: "LL", dtypes.uint32: "U", dtypes.uint64: "ULL"}.get(dt, "")
    if v == info.min and dt.itemsize >= 4 and not dt.is_unsigned:
        return f"({v + 1}{suffix} - 1)"  # C has no negative literals: -2147483648 is -(2147483648), too big
    return f"{v}{suffix}"


def _float_literal(value, dt: DType) -> str:
    exact = round_values(np.array(value, dtype=np.float64), dt)  # round to the dtype first (float16: to a half)
    v = float(exact)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    if dt == dtypes.float64:
        return repr(v)  # Python's repr is the shortest text that round-trips a double, e.g. 0.1, 1e+300
    # float16 and bfloat16 values are computed in float; numpy's str is the shortest text that round-trips a float32
    text = str(np.float32(v))
    return text + "f"
