"""Data types shared by every stage.

A `DType` is a small frozen record: its name, its size in bytes, the numpy type that
holds it on the host and the C type a backend prints for it. Promotion (what `int8 +
float16` becomes) follows PyTorch's rules (`promote`), not numpy's: int32 + float32 is float32.

bfloat16 has no numpy type. Its memory holds the 16 bits (numpy `uint16`: `DType.np`, what
buffers, `.numpy()`'s input and the evaluators' buffers contain), and its values are computed in
float32 (`DType.value_np`): loading widens the bits exactly (`from_storage`), and every result is
rounded back to the nearest bfloat16, ties to even (`round_values`, `to_storage`). That is what
PyTorch's bfloat16 kernels do and what the C and CUDA renderers print.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, order=True, repr=False)  # its own __repr__ (below): no generated one to make
class DType:
    """One data type (see the module docstring); `dtypes.float32` and the others below are the only instances."""

    priority: int  # orders dtypes for printing; promotion is `promote`
    itemsize: int
    name: str
    np_name: str  # numpy's name for the type of its memory, e.g. "float32" (bfloat16: "uint16", its bits)
    c_name: str  # the C type of its memory ("half" and bfloat16's bits are handled by the C backend)

    # Hashing and comparing: dtypes key many dicts (buffer pools, promotion, kernel caches) and are compared on
    # every op, so instead of the generated methods (a tuple of all five fields each time) the hash is the name's
    # (Python caches a string's hash; equal dtypes have equal names) and equality answers `is` at once.
    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        if other.__class__ is not DType:
            return NotImplemented
        return (self.priority, self.itemsize, self.name, self.np_name, self.c_name) == (
            other.priority, other.itemsize, other.name, other.np_name, other.c_name)

    @functools.cached_property
    def np(self) -> np.dtype:
        """The numpy type of this dtype's memory (buffers): bfloat16's is uint16, its bits. Made once per dtype."""
        return np.dtype(self.np_name)

    @property
    def value_np(self) -> np.dtype:
        """The numpy type a value of this dtype is computed in by the numpy evaluators: float32 for bfloat16
        (its bits widened exactly), the memory's type `np` for every other dtype."""
        return np.dtype(np.float32) if self.name == "bfloat16" else self.np

    # The kind tests below are asked for every op built (checks, promotion, rules): each is worked out once per
    # dtype and then read as a plain attribute (cached_property stores it in the instance's dict).
    @functools.cached_property
    def is_float(self) -> bool:
        return self.name.startswith(("float", "bfloat"))

    @functools.cached_property
    def is_int(self) -> bool:
        return self.name.startswith(("int", "uint"))

    @functools.cached_property
    def is_unsigned(self) -> bool:
        return self.name.startswith("uint")

    @functools.cached_property
    def is_bool(self) -> bool:
        return self.name == "bool"

    def __repr__(self) -> str:
        return f"dtypes.{self.name}"


class dtypes:  # noqa: N801 - tinygrad's public name
    """The dtype namespace, as in tinygrad: `dtypes.float32`, `dtypes.default_float`, ...

    `dtypes.default_float` (float32) and `dtypes.default_int` (int32) may be set, as in tinygrad: they are the
    dtypes of Tensors made from Python floats / ints and of `int_tensor * 2.5`, read at each call."""

    bool = DType(0, 1, "bool", "bool", "bool")
    int8 = DType(1, 1, "int8", "int8", "signed char")
    uint8 = DType(2, 1, "uint8", "uint8", "unsigned char")
    int16 = DType(3, 2, "int16", "int16", "short")
    uint16 = DType(4, 2, "uint16", "uint16", "unsigned short")
    int32 = DType(5, 4, "int32", "int32", "int")
    uint32 = DType(6, 4, "uint32", "uint32", "unsigned int")
    int64 = DType(7, 8, "int64", "int64", "long long")
    uint64 = DType(8, 8, "uint64", "uint64", "unsigned long long")
    float16 = DType(9, 2, "float16", "float16", "half")
    bfloat16 = DType(10, 2, "bfloat16", "uint16", "unsigned short")
    float32 = DType(11, 4, "float32", "float32", "float")
    float64 = DType(12, 8, "float64", "float64", "double")

    # tinygrad-compatible aliases
    half = float16
    float = float32
    double = float64
    char = int8
    uchar = uint8
    short = int16
    ushort = uint16
    int = int32
    uint = uint32
    long = int64
    ulong = uint64

    default_float = float32
    default_int = int32

    @staticmethod
    def all() -> tuple[DType, ...]:
        """Every dtype: ALL_DTYPES (those with a numpy type) and bfloat16."""
        return tuple(sorted((*ALL_DTYPES, dtypes.bfloat16)))

    @staticmethod
    def from_numpy(npdtype) -> DType:
        """The DType for a numpy dtype; raises a clear error for unsupported ones (uint16 is uint16: bfloat16
        has no numpy type, so it is never inferred from an array)."""
        name = np.dtype(npdtype).name
        if name not in _BY_NAME:
            supported = ", ".join(d.name for d in dtypes.all())
            raise TypeError(f"unsupported dtype {name!r}: ShrimpGrad supports {supported}")
        return _BY_NAME[name]

    @staticmethod
    def from_py(x) -> DType:
        """The dtype a Python scalar (or nested list of them) gets: bool, default_int or default_float."""
        if isinstance(x, (list, tuple)):
            return max((dtypes.from_py(e) for e in x), default=dtypes.default_float)
        if isinstance(x, bool):
            return dtypes.bool
        if isinstance(x, int):
            return dtypes.default_int
        return dtypes.default_float

    @staticmethod
    def is_float(d: DType) -> bool:
        return d.is_float

    @staticmethod
    def is_int(d: DType) -> bool:
        return d.is_int

    @staticmethod
    def is_unsigned(d: DType) -> bool:
        return d.is_unsigned


# The dtypes with a numpy type of their own (tests sweep these against numpy); bfloat16, held as its bits, is the
# thirteenth: dtypes.all() lists all of them.
ALL_DTYPES: tuple[DType, ...] = (
    dtypes.bool, dtypes.int8, dtypes.uint8, dtypes.int16, dtypes.uint16, dtypes.int32, dtypes.uint32,
    dtypes.int64, dtypes.uint64, dtypes.float16, dtypes.float32, dtypes.float64,
)
_BY_NAME = {d.name: d for d in ALL_DTYPES}


def to_dtype(x: DType | str | type | np.dtype) -> DType:
    """Accept a DType, its name ("float32"), or a numpy dtype; anything else is a clear TypeError."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str) and hasattr(dtypes, x) and isinstance(getattr(dtypes, x), DType):
        return getattr(dtypes, x)
    try:
        return dtypes.from_numpy(x)
    except TypeError as e:
        if isinstance(x, (str, type, np.dtype)):
            raise
        raise TypeError(f"expected a dtype such as dtypes.float32, got {x!r}") from e


# ---- bfloat16: its bits in memory, its values in float32 -----------------------------------

def float32_to_bfloat16_bits(x) -> np.ndarray:
    """The bfloat16 nearest to each value (ties to even), as uint16 bits: the top half of the float32 after
    rounding. Wider values go through float32 first (PyTorch's conversion does too). NaN stays a quiet NaN
    with its sign; overflow rounds to infinity, as IEEE rounding does."""
    with np.errstate(over="ignore", invalid="ignore"):
        f = np.asarray(x, dtype=np.float32)
    u = np.ascontiguousarray(f).view(np.uint32).reshape(f.shape)  # ascontiguousarray makes a 0-d array 1-d
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    return np.where(nan, (u >> np.uint32(16)) | np.uint32(0x40), rounded).astype(np.uint16)


def bfloat16_bits_to_float32(bits) -> np.ndarray:
    """Each bfloat16 (uint16 bits) as the float32 with the same value: the bits are its top half."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def round_values(x, dtype: DType) -> np.ndarray:
    """Values converted to `dtype` and held in its `value_np`: numpy's astype, except that a cast to bool
    means `x != 0` (NaN -> True, like C) and bfloat16 rounds to nearest even (held in float32)."""
    x = np.asarray(x)
    if dtype.is_bool:
        return x != 0
    if dtype == dtypes.bfloat16:
        return bfloat16_bits_to_float32(float32_to_bfloat16_bits(x))
    return x.astype(dtype.np)


def to_storage(values, dtype: DType) -> np.ndarray:
    """Values held in `dtype.value_np` as the array its memory holds (`dtype.np`): bfloat16's bits, else as is."""
    if dtype == dtypes.bfloat16:
        return float32_to_bfloat16_bits(values)
    return np.asarray(values, dtype=dtype.np)


def from_storage(memory, dtype: DType) -> np.ndarray:
    """The array a buffer of `dtype` holds as values (`dtype.value_np`): bfloat16's bits widened to float32."""
    if dtype == dtypes.bfloat16:
        return bfloat16_bits_to_float32(memory)
    return np.asarray(memory)


# ---- promotion -----------------------------------------------------------------------------

class PromotionError(TypeError, RuntimeError):
    """No dtype holds both (uint64 with a signed integer). PyTorch raises a RuntimeError; TypeError too."""


def promote(*ds: DType) -> DType:
    """The result dtype of an operation on tensors of these dtypes: PyTorch's promotion.

    By category first (bool < integer < float), then by size within the category. Unlike numpy, an
    integer never widens a float. Mixed signed and unsigned integers need a signed type larger than the
    unsigned one (uint8 + int8 -> int16). Floats of one size but two formats (float16, bfloat16) meet in
    float32.

        bool  + int8    -> int8        int32 + float32 -> float32   (numpy: float64)
        uint8 + int8    -> int16       int64 + float16 -> float16   (numpy: float64)
        uint8 + int32   -> int32       float16 + float32 -> float32
        int16 + int32   -> int32       float16 + bfloat16 -> float32
        bool + float16  -> float16     uint32 + bfloat16 -> bfloat16

    PyTorch refuses to promote uint16, uint32 and uint64 with any other integer or bool type ("not
    supported"); there we take numpy's (and tinygrad's) answer where one exists: bool + uint16 -> uint16,
    uint16 + uint32 -> uint32, uint16 + int16 -> int32, uint32 + int8 -> int64. uint64 + a signed integer
    has no integer type holding both (numpy gives float64): a PromotionError, which is a RuntimeError as
    PyTorch's is.
    """
    if not ds:
        raise TypeError("promote: needs at least one dtype")
    out = ds[0]
    for d in ds[1:]:
        out = _promote2(out, d)
    return out


def _category(d: DType) -> int:
    return 0 if d.is_bool else 1 if d.is_int else 2


def _promote2(a: DType, b: DType) -> DType:
    if a == b:
        return a
    if _category(a) != _category(b):
        return a if _category(a) > _category(b) else b
    if a.is_float and a.itemsize == b.itemsize:  # float16 + bfloat16: neither holds the other
        return dtypes.float32
    if a.is_int and a.is_unsigned != b.is_unsigned:
        u, s = (a, b) if a.is_unsigned else (b, a)
        if s.itemsize > u.itemsize:
            return s
        wider = [d for d in ALL_DTYPES if d.is_int and not d.is_unsigned and d.itemsize > u.itemsize]
        if not wider:
            raise PromotionError(f"promote: no integer type holds both {a!r} and {b!r} (PyTorch refuses this "
                                 f"promotion too); cast one of them first, e.g. to dtypes.int64 or dtypes.float64")
        return min(wider, key=lambda d: d.itemsize)
    return a if a.itemsize >= b.itemsize else b
