"""What every part of the Tensor front end shares: its error types, the helper that formats their messages
(`_fail`), the checks of shapes, axes, dtypes and devices that raise them, and the user's file:line that every
graph node carries (`_provenance`).

Every user mistake raises at the user's call, with a message that names the method, the shapes and dtypes, and
what would be valid: 'Tensor.reshape: can't reshape (2, 3) (6 elements) into (4, 2) (8 elements); the number of
elements must stay the same'. docs/errors.md is the catalogue (its entries are executed by
tests/test_error_catalogue.py). `shrimpgrad.tensor` re-exports the error classes.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import shrimpgrad.graph as _graph
from shrimpgrad.devices import Device, NoDeviceError
from shrimpgrad.graph import DType, Provenance, to_dtype

# ------------------------------------------------------------------------------------------------
# Errors: one small helper formats every message
# ------------------------------------------------------------------------------------------------


class ShapeError(ValueError, RuntimeError):
    """A shape the op can't take: reshape sizes, broadcasting, pad/shrink bounds, matmul dims. A RuntimeError as in
    PyTorch, and a ValueError as in numpy and tinygrad."""


class AxisError(IndexError):
    """An axis (or PyTorch's `dim`) out of range or given twice: an IndexError, as in PyTorch and numpy."""


class IndexOutOfBounds(IndexError, RuntimeError):
    """gather's index values outside the dim (PyTorch: RuntimeError; t[5] stays a plain IndexError, as there)."""


class DTypeError(TypeError, RuntimeError):
    """A dtype the op can't take, e.g. bitwise ops on floats. A RuntimeError as in PyTorch, and a TypeError as in
    tinygrad."""


class AmbiguousTruthError(RuntimeError, TypeError):
    """`if t:` / `bool(t)`: a RuntimeError as in PyTorch, and a TypeError as in tinygrad."""


class DeviceMismatchError(RuntimeError, ValueError):
    """Operands on two devices: a RuntimeError as in PyTorch (a ValueError in earlier ShrimpGrad)."""


class OutOfMemoryError(MemoryError, RuntimeError):
    """A device ran out of memory during realize: a MemoryError (numpy's) and a RuntimeError (PyTorch's
    torch.OutOfMemoryError)."""


class GradError(RuntimeError):
    """backward() on a graph with nothing to differentiate."""


class PaddingError(RuntimeError, ValueError):
    """A padding of the wrong form (conv, pooling). PyTorch raises RuntimeError for it and tinygrad ValueError (its
    tests check for each), so this is both."""


def _fail(kind: type[Exception], method: str, problem: str, fix: str = "") -> Exception:
    """The exception to raise: 'Tensor.<method>: <problem>; <fix>'."""
    return kind(f"Tensor.{method}: {problem}" + (f"; {fix}" if fix else ""))


def _to_dtype(method: str, x) -> DType:
    """`to_dtype(x)`, with an unsupported dtype reported as the user's call: 'Tensor.cast: unsupported dtype ...'."""
    try:
        return to_dtype(x)
    except TypeError as e:
        raise _fail(DTypeError, method, str(e)) from None


# ------------------------------------------------------------------------------------------------
# Provenance: the first stack frame outside shrimpgrad is the user's line
# ------------------------------------------------------------------------------------------------

# shrimpgrad/ and the folder holding the stage packages (stages/ in a checkout, whether Python imported them
# through the shrimpgrad/graph links or the package-dir mapping; shrimpgrad/ again in an installed wheel)
_INSIDE = (os.path.dirname(os.path.abspath(__file__)) + os.sep,
           os.path.dirname(os.path.realpath(os.path.dirname(_graph.__file__))) + os.sep)


def _provenance() -> Provenance | None:
    """Where the user called us: the first frame outside the package, and the outermost shrimpgrad
    function it called (e.g. "exp" even though the node is built inside exp2)."""
    frame, method = sys._getframe(1), "?"
    while frame is not None and frame.f_code.co_filename.startswith(_INSIDE):
        method, frame = frame.f_code.co_name, frame.f_back
    return None if frame is None else Provenance(frame.f_code.co_filename, frame.f_lineno, method)


# ------------------------------------------------------------------------------------------------
# Small helpers: shapes, axes, devices, dtypes of Python scalars
# ------------------------------------------------------------------------------------------------

Scalar = bool | int | float


def _is_scalar(x) -> bool:
    return isinstance(x, (bool, int, float))


def _is_int(x) -> bool:
    """A Python or numpy integer, not a bool (True is an int to Python, never a size or an axis here)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _argfix(shape, *args) -> tuple:
    """`f((2, 3))` and `f(2, 3)` mean the same shape (tinygrad's argfix)."""
    return tuple(shape) if isinstance(shape, (tuple, list)) and not args else (shape, *args)


def _shape(method: str, shape, *args) -> tuple[int, ...]:
    """A shape from varargs or a tuple, checked: non-negative ints."""
    shape = _argfix(shape, *args)
    if not all(_is_int(s) and s >= 0 for s in shape):
        raise _fail(ShapeError, method, f"shape {shape} must be non-negative ints", "e.g. (2, 3) or 2, 3")
    return tuple(int(s) for s in shape)


def _axis(method: str, axis, ndim: int, shape: tuple[int, ...], extra: int = 0) -> int:
    """`axis` (may be negative) as an index into `ndim + extra` axes, or an AxisError naming the valid range."""
    n = ndim + extra
    if not _is_int(axis) or not -n <= axis < n:
        valid = f"valid axes are {-n}..{n - 1}" if n else "a 0-d tensor has no axes"
        raise _fail(AxisError, method, f"axis {axis!r} is out of range for shape {shape}", valid)
    return int(axis) % n


def _axes(method: str, axis, shape: tuple[int, ...]) -> tuple[int, ...]:
    """None (all axes), an int or a tuple of ints -> sorted, non-negative, distinct axes."""
    if axis is None:
        return tuple(range(len(shape)))
    given = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if not shape and given:  # PyTorch accepts axis 0 and -1 on a 0-d tensor (there is nothing to reduce)
        if any(not _is_int(a) or a not in (0, -1) for a in given):
            raise _fail(AxisError, method, f"axis {axis!r} given for a 0-d tensor", "use axis=None, 0 or -1")
        return ()
    axes = tuple(_axis(method, a, len(shape), shape) for a in given)
    if len(set(axes)) != len(axes):
        raise _fail(AxisError, method, f"axis {axis!r} names an axis twice (shape {shape})",
                    "name each axis once (-1 and n-1 are the same axis)")
    return tuple(sorted(axes))


def _resolve_dim(dim, ndim: int, method: str) -> int:
    """PyTorch's `dim` argument (cat, gather, cumsum, sort, roll, ...) as a non-negative axis, or an AxisError.
    Unlike `_axis` (tinygrad's axes, which a 0-d tensor has none of), a 0-d tensor takes dim 0 or -1, as in
    PyTorch (those ops then treat it as one element)."""
    n = max(ndim, 1)
    if not _is_int(dim) or not -n <= dim < n:
        raise _fail(AxisError, method, f"dim {dim!r} is out of range for a tensor with {ndim} dimension(s)",
                    f"valid dims are {-n}..{n - 1}")
    return dim + ndim if dim < 0 else dim


def _broadcast_shape(method: str, *shapes: tuple[int, ...], what: str = "shapes",
                     error: type[Exception] = ShapeError) -> tuple[int, ...]:
    """numpy broadcasting: align shapes on the right; each axis must match or be 1. Else `error` (ShapeError; an
    IndexError for index tensors, as in numpy and PyTorch) saying `what` the shapes are."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + s for s in shapes]
    out = []
    for sizes in zip(*padded):
        big = {s for s in sizes if s != 1}
        if len(big) > 1:
            raise _fail(error, method, f"{what} {', '.join(map(str, shapes))} can't be broadcast together",
                        "aligned from the right, each axis must have equal sizes or size 1")
        out.append(big.pop() if big else 1)
    return tuple(out)


def _canonical_device(device: str | None) -> str:
    """"C" (default), "PYTHON" or "CUDA"; "CPU" is another name for "C"; the DEVICE setting changes the default.
    A device this machine doesn't have (CUDA without a GPU) is refused here, at the user's call."""
    try:
        name = Device.canonicalize(device)
        Device[name]  # noqa: B018 - makes the device record, or says clearly why there is none
    except (ValueError, NoDeviceError) as e:
        raise type(e)(f"Tensor: {e}") from None
    return name

