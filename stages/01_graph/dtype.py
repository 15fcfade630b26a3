"""Data types shared by every stage.

A `DType` is a small frozen record: its name, its size in bytes, the numpy type that
holds it on the host and the C type a backend prints for it. Promotion (what `int8 +
float16` becomes) follows numpy's table, so the numpy evaluator is an exact oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, order=True)
class DType:
    priority: int  # orders dtypes for printing; promotion itself uses numpy's table
    itemsize: int
    name: str
    np_name: str  # numpy's name for the type, e.g. "float32"
    c_name: str  # the C type used by the C backend ("half" storage is handled there)

    @property
    def np(self) -> np.dtype:
        return np.dtype(self.np_name)

    @property
    def is_float(self) -> bool:
        return self.name.startswith("float")

    @property
    def is_int(self) -> bool:
        return self.name.startswith(("int", "uint"))

    @property
    def is_unsigned(self) -> bool:
        return self.name.startswith("uint")

    @property
    def is_bool(self) -> bool:
        return self.name == "bool"

    def __repr__(self) -> str:
        return f"dtypes.{self.name}"


class dtypes:  # noqa: N801 - tinygrad's public name
    """The dtype namespace, as in tinygrad: `dtypes.float32`, `dtypes.default_float`, ..."""

    bool = DType(0, 1, "bool", "bool", "bool")
    int8 = DType(1, 1, "int8", "int8", "signed char")
    uint8 = DType(2, 1, "uint8", "uint8", "unsigned char")
    int16 = DType(3, 2, "int16", "int16", "short")
    int32 = DType(5, 4, "int32", "int32", "int")
    int64 = DType(7, 8, "int64", "int64", "long long")
    float16 = DType(9, 2, "float16", "float16", "half")
    float32 = DType(11, 4, "float32", "float32", "float")
    float64 = DType(12, 8, "float64", "float64", "double")

    # tinygrad-compatible aliases
    half = float16
    float = float32
    double = float64
    char = int8
    uchar = uint8
    short = int16
    int = int32
    long = int64

    default_float = float32
    default_int = int32

    @staticmethod
    def all() -> tuple[DType, ...]:
        return ALL_DTYPES

    @staticmethod
    def from_numpy(npdtype) -> DType:
        """The DType for a numpy dtype; raises a clear error for unsupported ones."""
        name = np.dtype(npdtype).name
        if name not in _BY_NAME:
            supported = ", ".join(d.name for d in ALL_DTYPES)
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


ALL_DTYPES: tuple[DType, ...] = (
    dtypes.bool, dtypes.int8, dtypes.uint8, dtypes.int16, dtypes.int32, dtypes.int64,
    dtypes.float16, dtypes.float32, dtypes.float64,
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


def promote(*ds: DType) -> DType:
    """The result dtype of an operation on tensors of these dtypes (numpy's promotion table).

    numpy promotes int64+uint8 -> int64 and int8+uint8 -> int16 and so on; the only case we
    change is a result numpy would give that we don't support (e.g. int8+uint64 never occurs
    because we have no uint64)."""
    out = np.result_type(*(d.np for d in ds))
    return dtypes.from_numpy(out)
