"""The `Tensor`: tinygrad's public API on top of the stage-01 lazy graph.

A Tensor is a thin handle on a graph `Node` (`t.node`) plus what the graph doesn't know about:
its device, whether it needs a gradient, and its gradient. Every method builds new Nodes with the
stage-01 constructors and returns a new Tensor; nothing is computed until a value is asked for:

    x = Tensor([[1.0, 2.0], [3.0, 4.0]])   # BUFFER node (the data is copied into a buffer)
    y = (x * 2).sum(axis=1)                # MUL -> REDUCE -> RESHAPE nodes, nothing computed
    y.numpy()                              # realize: y.node becomes a BUFFER node -> [6. 14.]

The graph has few ops on purpose (stage 01's README lists them), so most methods here are small
compositions of them, the way tinygrad writes its Tensor:

    exp(x) = exp2(x * log2(e))         sigmoid(x) = 1 / (1 + exp2(-x * log2(e)))
    x >= y = (x > y) | (x == y)        matmul     = broadcast multiply, then sum the last axis
    min(x) = -max(-x)                  prod       = a tree of multiplies (the graph reduces only ADD and MAX)

Semantics follow tinygrad (which follows PyTorch); broadcasting and dtype promotion follow numpy
(`shrimpgrad.graph.promote`), with Python scalars "weak" as in numpy 2 (NEP 50): `int8 + 1` stays
int8, `int32 + 1.5` becomes `dtypes.default_float`. Integers become `dtypes.default_float` where an
op needs a float (`/`, `exp`, `mean`, ...), as in tinygrad.

Autograd is a graph-to-graph pass of stage 01 (`shrimpgrad.graph.gradient`); the Tensor adds what the graph
can't know. *Leaves* (tensors made from data or by a creation method) are remembered weakly, so backward()
can find the ones in its graph. Graph nodes compare by structure, so a leaf that needs a gradient gets its
own buffer (two `Tensor.zeros(3, requires_grad=True)` must stay two variables), `detach()` makes a new leaf
reading the same memory, and a realized tensor remembers the graph it replaced, so backward() still sees
through `.realize()`.

Every user mistake raises here, at the user's call, through one helper (`_fail`) whose message
names the method, the shapes and dtypes, and what would be valid. Every node remembers where it
came from (`Provenance`: the user's file:line and the Tensor method), so a line of generated code
can be traced back to the line of Python that caused it.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

import shrimpgrad.graph as _graph
from shrimpgrad import inplace
from shrimpgrad.conv_ops import ConvMixin
from shrimpgrad.devices import Device, NoDeviceError
from shrimpgrad.elementwise import MathMixin
from shrimpgrad.graph import (
    DType,
    Node,
    Ops,
    Provenance,
    alu,
    assign,
    broadcast_const,
    buffer,
    contiguous,
    copy,
    dtypes,
    movement,
    promote,
    reduce,
    rewrite,
    to_dtype,
    toposort,
)
from shrimpgrad.graph import gradient as graph_gradient
from shrimpgrad.indexing import IndexingMixin
from shrimpgrad.movement import ShapeMixin
from shrimpgrad.nn_ops import NNOpsMixin
from shrimpgrad.realize import buffer_value, copy_buffer, new_buffer
from shrimpgrad.realize import realize as realize_graph
from shrimpgrad.reduce import ScanMixin

# ------------------------------------------------------------------------------------------------
# Errors: one small helper formats every message
# ------------------------------------------------------------------------------------------------


class ShapeError(ValueError, RuntimeError):
    """A shape the op can't take: reshape sizes, broadcasting, pad/shrink bounds, matmul dims. A RuntimeError as in
    PyTorch, and a ValueError as in numpy and tinygrad."""


class AxisError(IndexError):
    """An axis out of range or given twice."""


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


def _argfix(shape, *args) -> tuple:
    """`f((2, 3))` and `f(2, 3)` mean the same shape (tinygrad's argfix)."""
    return tuple(shape) if isinstance(shape, (tuple, list)) and not args else (shape, *args)


def _shape(method: str, shape, *args) -> tuple[int, ...]:
    """A shape from varargs or a tuple, checked: non-negative ints."""
    shape = _argfix(shape, *args)
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise _fail(ShapeError, method, f"shape {shape} must be non-negative ints", "e.g. (2, 3) or 2, 3")
    return tuple(int(s) for s in shape)


def _axis(method: str, axis, ndim: int, shape: tuple[int, ...], extra: int = 0) -> int:
    """`axis` (may be negative) as an index into `ndim + extra` axes, or an AxisError naming the valid range."""
    n = ndim + extra
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) or not -n <= axis < n:
        valid = f"valid axes are {-n}..{n - 1}" if n else "a 0-d tensor has no axes"
        raise _fail(AxisError, method, f"axis {axis!r} is out of range for shape {shape}", valid)
    return int(axis) % n


def _axes(method: str, axis, shape: tuple[int, ...]) -> tuple[int, ...]:
    """None (all axes), an int or a tuple of ints -> sorted, non-negative, distinct axes."""
    if axis is None:
        return tuple(range(len(shape)))
    given = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if not shape and given:  # PyTorch accepts axis 0 and -1 on a 0-d tensor (there is nothing to reduce)
        if any(not isinstance(a, (int, np.integer)) or isinstance(a, bool) or a not in (0, -1) for a in given):
            raise _fail(AxisError, method, f"axis {axis!r} given for a 0-d tensor", "use axis=None, 0 or -1")
        return ()
    axes = tuple(_axis(method, a, len(shape), shape) for a in given)
    if len(set(axes)) != len(axes):
        raise _fail(AxisError, method, f"axis {axis!r} names an axis twice (shape {shape})",
                    "name each axis once (-1 and n-1 are the same axis)")
    return tuple(sorted(axes))


def _broadcast_shape(method: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy broadcasting: align shapes on the right; each axis must match or be 1."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + s for s in shapes]
    out = []
    for sizes in zip(*padded):
        big = {s for s in sizes if s != 1}
        if len(big) > 1:
            raise _fail(ShapeError, method, f"shapes {', '.join(map(str, shapes))} can't be broadcast together",
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


def _weak_dtype(value: Scalar, dtype: DType) -> DType:
    """A Python scalar combined with a tensor of `dtype` (numpy 2's weak scalars, default float as in tinygrad):
    bool keeps dtype; int keeps dtype except bool -> default_int; float keeps float dtypes, else default_float."""
    if isinstance(value, bool):
        return dtype
    if isinstance(value, int):
        return dtypes.default_int if dtype.is_bool else dtype
    return dtype if dtype.is_float else dtypes.default_float


def _result_dtype(values: list) -> DType:
    """The dtype of an elementwise op on Tensors and Python scalars."""
    strong = [v.dtype for v in values if isinstance(v, Tensor)]
    dtype = promote(*strong) if strong else promote(*(dtypes.from_py(v) for v in values))
    for v in values:
        if not isinstance(v, Tensor):
            dtype = _weak_dtype(v, dtype)
    return dtype


def _check_fits(method: str, value: Scalar, dtype: DType) -> None:
    """numpy 2 refuses `int8_tensor + 300` instead of silently wrapping: so do we."""
    if dtype.is_int and isinstance(value, int) and not isinstance(value, bool):
        info = np.iinfo(dtype.np)
        if not info.min <= value <= info.max:
            raise _fail(OverflowError, method, f"Python int {value} is out of range for {dtype!r} "
                        f"({info.min}..{info.max})", "cast the tensor to a wider dtype first")


def _sum_dtype(dtype: DType) -> DType:
    """What a sum accumulates in (tinygrad's sum_acc_dtype): small ints and bool in int32, float16 in float32."""
    if dtype.is_bool or dtype.is_int:
        return promote(dtype, dtypes.int32)
    return dtypes.float32 if dtype == dtypes.float16 else dtype


# Leaves (Tensors not made by an op: created from data, by creation methods, or given requires_grad) are
# remembered weakly, so backward() can find the ones in its graph: Nodes don't know their Tensors.
_LEAVES: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()
_leaf_ids = itertools.count()


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """`with no_grad():` ops build no gradient information and backward() refuses to run."""
    old, Tensor.no_grad = Tensor.no_grad, True
    try:
        yield
    finally:
        Tensor.no_grad = old


# ------------------------------------------------------------------------------------------------
# Tensor
# ------------------------------------------------------------------------------------------------


class Tensor(IndexingMixin, NNOpsMixin, ConvMixin, MathMixin, ScanMixin, ShapeMixin):
    """A lazy n-dimensional array (tinygrad's API). See the module docstring."""

    no_grad: ClassVar[bool] = False  # set by `with no_grad():`
    training: ClassVar[bool] = False  # set by `with Tensor.train():` (dropout, batchnorm)
    # Random numbers come from numpy on the host, not from tinygrad's counter-based threefry kernels: simpler
    # and still reproducible (Tensor.manual_seed). The default seed is fixed, so runs repeat exactly.
    _rng: ClassVar[np.random.Generator] = np.random.default_rng(0)
    __array_ufunc__ = None  # `ndarray * Tensor` calls Tensor.__rmul__ instead of looping in numpy

    def __init__(self, data, device: str | None = None, dtype=None, requires_grad: bool | None = None):
        """A Tensor holding a copy of `data`: a Python number, nested lists, a numpy array, or a Tensor.
        A stage-01 `Node` is wrapped as it is (no copy)."""
        dtype = None if dtype is None else _to_dtype("__init__", dtype)
        device = _canonical_device(device or (data.device if isinstance(data, Tensor) else None))
        if isinstance(data, Node):
            if dtype is not None and dtype != data.dtype:
                raise _fail(DTypeError, "__init__", f"the Node is {data.dtype!r} but dtype={dtype!r} was asked",
                            "wrap it first, then .cast()")
            node = data
        else:
            values = _host_array(data, dtype)
            node = buffer(new_buffer(values, dtypes.from_numpy(values.dtype), device), values.shape, _provenance())
        self._set(node, device, None)
        self._make_leaf(requires_grad)

    @classmethod
    def _from_node(cls, node: Node, device: str, requires_grad: bool | None) -> Tensor:
        """A Tensor for a node computed by an op (not a leaf)."""
        t = cls.__new__(cls)
        t._set(node, device, requires_grad)
        return t

    def _set(self, node: Node, device: str, requires_grad: bool | None) -> None:
        self.node, self.device, self._requires_grad, self.grad = node, device, requires_grad, None
        self._is_leaf = False
        inplace.LIVE.add(self)  # so a realize that overwrites a buffer can find this tensor (shrimpgrad/inplace.py)

    def _make_leaf(self, requires_grad: bool | None) -> None:
        """Register self as a leaf. A leaf that needs a gradient gets its own buffer: the graph compares nodes by
        structure, so two `Tensor.zeros(3)` would otherwise be one node and share one gradient."""
        if not self._is_leaf:
            self._is_leaf = True
            _LEAVES[next(_leaf_ids)] = self
        self._requires_grad = requires_grad
        if requires_grad and self.node.op is not Ops.BUFFER:
            self.realize()

    # ---- building nodes (every node gets the user's file:line) ------------------------------------------------

    def _wrap(self, node: Node, *others: Tensor) -> Tensor:
        """A Tensor for `node`, computed from self and `others`: it needs a gradient if any input does
        (tinygrad's rule: True if any is True, else None if any is None, else False)."""
        flags = [t._requires_grad for t in (self, *others)]
        rg = False if Tensor.no_grad else True if any(f is True for f in flags) else None if None in flags else False
        return Tensor._from_node(node, self.device, rg)

    def _alu(self, op: Ops, *others: Tensor, dtype: DType | None = None) -> Tensor:
        return self._wrap(alu(op, self.node, *(o.node for o in others), dtype=dtype, meta=_provenance()), *others)

    def _move(self, op: Ops, arg: tuple) -> Tensor:
        return self._wrap(movement(op, self.node, arg, meta=_provenance()))

    @staticmethod
    def _constant(value: Scalar, dtype: DType, shape: tuple[int, ...], device: str) -> Tensor:
        """A constant: no memory, just CONST -> RESHAPE -> EXPAND."""
        return Tensor._from_node(broadcast_const(value, dtype, shape, _provenance()), device, False)

    def _const(self, value: Scalar, dtype: DType | None = None, shape: tuple[int, ...] | None = None) -> Tensor:
        """A constant on self's device, of self's dtype and shape unless given."""
        return Tensor._constant(value, dtype or self.dtype, self.shape if shape is None else shape, self.device)

    def _bin(self, method: str, x, reverse: bool = False) -> list[Tensor]:
        """self and x as two Tensors of one dtype and shape; `reverse` swaps them (for `2 - t`)."""
        return _unify(method, [x, self] if reverse else [self, x], self.device)

    def _float(self) -> Tensor:
        """self, or self cast to dtypes.default_float when it isn't a float (tinygrad's rule for exp, /, ...)."""
        return self if self.dtype.is_float else self.cast(dtypes.default_float)

    # ================================================================================================
    # creation
    # ================================================================================================

    @staticmethod
    def _leaf(node: Node, device, requires_grad) -> Tensor:
        t = Tensor._from_node(node, _canonical_device(device), None)
        t._make_leaf(requires_grad)
        return t

    @staticmethod
    def empty(*shape, dtype=None, device=None, requires_grad=None) -> Tensor:
        """A new buffer of `shape` (zero-filled here; tinygrad leaves it uninitialized)."""
        shape = _shape("empty", *shape)
        dt = _to_dtype("empty", dtype or dtypes.default_float)
        return Tensor(np.zeros(shape, dt.np), device, dt, requires_grad)

    @staticmethod
    def full(shape, fill_value: Scalar, dtype=None, device=None, requires_grad=None) -> Tensor:
        """`fill_value` everywhere: a lazy constant, no memory (dtype from the value by default)."""
        dt = _to_dtype("full", dtype) if dtype is not None else dtypes.from_py(fill_value)
        node = broadcast_const(fill_value, dt, _shape("full", shape), _provenance())
        return Tensor._leaf(node, device, requires_grad)

    @staticmethod
    def zeros(*shape, dtype=None, device=None, requires_grad=None) -> Tensor:
        return Tensor.full(_shape("zeros", *shape), 0.0, dtype or dtypes.default_float, device, requires_grad)

    @staticmethod
    def ones(*shape, dtype=None, device=None, requires_grad=None) -> Tensor:
        return Tensor.full(_shape("ones", *shape), 1.0, dtype or dtypes.default_float, device, requires_grad)

    @staticmethod
    def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=None) -> Tensor:
        """[start, start+step, ...) below stop; default_int if all arguments are ints, else default_float.
        Computed on the host: the graph has no "index" op to build it lazily."""
        if stop is None:
            start, stop = 0, start
        if step == 0:
            raise _fail(ValueError, "arange", "step must not be 0")
        is_float = any(isinstance(v, float) for v in (start, stop, step))
        natural = dtypes.default_float if is_float else dtypes.default_int
        dt = _to_dtype("arange", dtype) if dtype is not None else natural
        n = max(0, math.ceil((stop - start) / step))
        values = start + step * np.arange(n, dtype=np.float64 if is_float else np.int64)
        return Tensor(values, device, dt, requires_grad)

    @staticmethod
    def linspace(start, stop, steps: int, dtype=None, device=None, requires_grad=None) -> Tensor:
        """`steps` evenly spaced values from start to stop, both included (numpy's linspace, on the host)."""
        if not isinstance(steps, int) or steps < 0:
            raise _fail(ValueError, "linspace", f"steps must be a non-negative int, got {steps!r}")
        values = np.linspace(start, stop, steps)
        return Tensor(values, device, dtype or dtypes.default_float, requires_grad)

    @staticmethod
    def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad=None) -> Tensor:
        """The identity matrix (n, m), lazily and without memory, by tinygrad's old trick: ones (k, 1) padded to
        (k, k+1) and flattened is 1,0,..,0,1,0,..; read as (k, k), the ones land on the diagonal."""
        n, m = _shape("eye", n, n if m is None else m)
        k, dt = max(n, m), _to_dtype("eye", dtype or dtypes.default_float)
        ones = Tensor._from_node(broadcast_const(1, dt, (k, 1), _provenance()), _canonical_device(device), None)
        square = ones.pad(((0, 0), (0, k))).flatten().shrink(((0, k * k),)).reshape(k, k)
        return Tensor._leaf(square.shrink(((0, n), (0, m))).node, device, requires_grad)

    @staticmethod
    def manual_seed(seed: int = 0) -> None:
        """Restart the random number generator: the same seed gives the same numbers."""
        Tensor._rng = np.random.default_rng(seed)

    @staticmethod
    def _random(method: str, draw, dtype, device, requires_grad) -> Tensor:
        """A leaf holding `draw()` (numbers from Tensor's generator). The buffer remembers `draw`, so a TinyJit
        replay draws new numbers (in the same order a plain run would) instead of reusing these."""
        dt = _to_dtype(method, dtype or (dtypes.default_int if method == "randint" else dtypes.default_float))
        if method != "randint" and not dt.is_float:
            raise _fail(DTypeError, method, f"makes floats, got dtype={dt!r}", "use randint for integers")
        device = _canonical_device(device)
        values = draw()
        node = buffer(new_buffer(values, dt, device, draw=draw), values.shape, _provenance())
        return Tensor._leaf(node, device, requires_grad)

    @staticmethod
    def rand(*shape, dtype=None, device=None, requires_grad=None) -> Tensor:
        """Uniform in [0, 1)."""
        shape = _shape("rand", *shape)
        return Tensor._random("rand", lambda: Tensor._rng.random(shape), dtype, device, requires_grad)

    @staticmethod
    def randn(*shape, dtype=None, device=None, requires_grad=None) -> Tensor:
        """Standard normal."""
        shape = _shape("randn", *shape)
        return Tensor._random("randn", lambda: Tensor._rng.standard_normal(shape), dtype, device, requires_grad)

    @staticmethod
    def randint(*shape, low: int = 0, high: int = 10, dtype=None, device=None, requires_grad=None) -> Tensor:
        """Integers uniform in [low, high)."""
        if not low < high:
            raise _fail(ValueError, "randint", f"needs low < high, got low={low}, high={high}")
        shape = _shape("randint", *shape)
        return Tensor._random("randint", lambda: Tensor._rng.integers(low, high, shape), dtype, device, requires_grad)

    @staticmethod
    def uniform(*shape, low: float = 0.0, high: float = 1.0, dtype=None, device=None, requires_grad=None) -> Tensor:
        shape = _shape("uniform", *shape)
        return Tensor._random("uniform", lambda: Tensor._rng.uniform(low, high, shape), dtype, device, requires_grad)

    @staticmethod
    def normal(*shape, mean: float = 0.0, std: float = 1.0, dtype=None, device=None, requires_grad=None) -> Tensor:
        shape = _shape("normal", *shape)
        return Tensor._random("normal", lambda: Tensor._rng.normal(mean, std, shape), dtype, device, requires_grad)

    @staticmethod
    def scaled_uniform(*shape, **kwargs) -> Tensor:
        """Uniform in [-1, 1) / sqrt(numel) (tinygrad's)."""
        shape = _shape("scaled_uniform", *shape)
        bound = math.prod(shape) ** -0.5
        return Tensor.uniform(*shape, low=-bound, high=bound, **kwargs)

    @staticmethod
    def kaiming_uniform(*shape, a: float = 0.01, **kwargs) -> Tensor:
        """He initialization: uniform in +-sqrt(3) * gain / sqrt(fan_in), gain = sqrt(2 / (1 + a^2))."""
        shape = _shape("kaiming_uniform", *shape)
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + a**2)) / math.sqrt(math.prod(shape[1:]))
        return Tensor.uniform(*shape, low=-bound, high=bound, **kwargs)

    @staticmethod
    def kaiming_normal(*shape, a: float = 0.01, **kwargs) -> Tensor:
        shape = _shape("kaiming_normal", *shape)
        std = math.sqrt(2.0 / (1 + a**2)) / math.sqrt(math.prod(shape[1:]))
        return Tensor.normal(*shape, mean=0.0, std=std, **kwargs)

    @staticmethod
    def glorot_uniform(*shape, **kwargs) -> Tensor:
        """Xavier initialization: uniform in +-sqrt(6 / (fan_in + fan_out))."""
        shape = _shape("glorot_uniform", *shape)
        bound = math.sqrt(6 / (shape[0] + math.prod(shape[1:])))
        return Tensor.uniform(*shape, low=-bound, high=bound, **kwargs)

    def full_like(self, fill_value: Scalar, **kwargs) -> Tensor:
        kwargs = {"dtype": self.dtype, "device": self.device, **kwargs}
        return Tensor.full(self.shape, fill_value, **kwargs)

    def zeros_like(self, **kwargs) -> Tensor:
        return self.full_like(0, **kwargs)

    def ones_like(self, **kwargs) -> Tensor:
        return self.full_like(1, **kwargs)

    def rand_like(self, **kwargs) -> Tensor:
        kwargs = {"dtype": self.dtype if self.dtype.is_float else None, "device": self.device, **kwargs}
        return Tensor.rand(*self.shape, **kwargs)

    # ================================================================================================
    # elementwise
    # ================================================================================================

    def cast(self, dtype) -> Tensor:
        dtype = _to_dtype("cast", dtype)
        return self if dtype == self.dtype else self._alu(Ops.CAST, dtype=dtype)

    def float(self) -> Tensor:
        return self.cast(dtypes.float32)

    def half(self) -> Tensor:
        return self.cast(dtypes.float16)

    def double(self) -> Tensor:
        return self.cast(dtypes.float64)

    def int(self) -> Tensor:
        return self.cast(dtypes.int32)

    def long(self) -> Tensor:
        return self.cast(dtypes.int64)

    def bool(self) -> Tensor:
        return self.cast(dtypes.bool)

    # ---- arithmetic ----

    def add(self, x, reverse: bool = False) -> Tensor:
        a, b = self._bin("add", x, reverse=reverse)
        return a._alu(Ops.ADD, b)

    def sub(self, x, reverse: bool = False) -> Tensor:
        a, b = self._bin("sub", x, reverse=reverse)
        if a.dtype.is_bool:
            raise _fail(DTypeError, "sub", "subtracting bool tensors is not defined (numpy refuses it too)",
                        "use ^ (xor), logical_not, or cast to an integer dtype first")
        return a._alu(Ops.SUB, b)

    def mul(self, x, reverse: bool = False) -> Tensor:
        a, b = self._bin("mul", x, reverse=reverse)
        return a._alu(Ops.MUL, b)

    def div(self, x, reverse: bool = False, rounding_mode: str | None = None) -> Tensor:
        """True division (integers give default_float); rounding_mode "trunc" or "floor" rounds the quotient
        (and keeps integer dtypes, like PyTorch)."""
        if rounding_mode not in (None, "trunc", "floor"):
            raise _fail(ValueError, "div", f"rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
        a, b = self._bin("div", x, reverse=reverse)
        if rounding_mode == "floor":
            return a.idiv(b)
        quotient = a._float()._alu(Ops.DIV, b._float())
        if rounding_mode == "trunc":
            return quotient.trunc().cast(a.dtype) if not a.dtype.is_bool else quotient.trunc()
        return quotient

    def idiv(self, x, reverse: bool = False) -> Tensor:
        """Floor division, numpy's `//` (ints: x // 0 == 0; floats: floor(x / y))."""
        a, b = self._bin("idiv", x, reverse=reverse)
        a._no_bool("idiv", "//")
        return a._alu(Ops.IDIV, b) if a.dtype.is_int else (a / b).floor()

    def mod(self, x, reverse: bool = False) -> Tensor:
        """Floor modulo, numpy's `%`: the result has the divisor's sign (ints: x % 0 == 0; floats: x - y*floor(x/y))."""
        a, b = self._bin("mod", x, reverse=reverse)
        a._no_bool("mod", "%")
        return a._alu(Ops.MOD, b) if a.dtype.is_int else a - b * (a / b).floor()

    def _no_bool(self, method: str, symbol: str) -> None:
        if self.dtype.is_bool:
            raise _fail(DTypeError, method, f"{symbol} is not defined for bool tensors",
                        "cast to an integer dtype first")

    def neg(self) -> Tensor:
        """-x; for bool, logical not (tinygrad's choice)."""
        return self.logical_not() if self.dtype.is_bool else self._alu(Ops.NEG)

    def reciprocal(self) -> Tensor:
        return self._float()._alu(Ops.RECIP)

    def square(self) -> Tensor:
        return self * self

    def maximum(self, x) -> Tensor:
        a, b = self._bin("maximum", x)
        return a._alu(Ops.MAX, b)

    def minimum(self, x) -> Tensor:
        """-max(-a, -b) for floats (NaN propagates); for ints and bool ~max(~a, ~b): bitwise not reverses
        the order of two's complement and unsigned integers alike, and negation would overflow."""
        a, b = self._bin("minimum", x)
        if a.dtype.is_float:
            return -((-a)._alu(Ops.MAX, -b))
        return ~((~a)._alu(Ops.MAX, ~b))

    def where(self, x, y) -> Tensor:
        """`x` where self is true (nonzero), else `y`; the three broadcast together."""
        a, b = _unify("where", [x, y], self.device, shape=self.shape)
        cond = (self if self.dtype.is_bool else self.cast(dtypes.bool))._broadcast_to(a.shape)
        return cond._alu(Ops.WHERE, a, b)

    def clip(self, min_=None, max_=None) -> Tensor:
        if min_ is None and max_ is None:
            raise _fail(ValueError, "clip", "needs min_ or max_ (or both)")
        # where, not maximum/minimum: PyTorch passes the gradient on the bounds (a max tie would halve it)
        x = self if min_ is None else (self < min_).where(min_, self)
        return x if max_ is None else (x > max_).where(max_, x)

    def clamp(self, min_=None, max_=None) -> Tensor:
        return self.clip(min_, max_)

    def abs(self) -> Tensor:
        """|x|, with PyTorch's gradient 0 at x = 0: the middle branch x*x is 0 there (and +0.0 for -0.0, NaN for
        NaN) with slope 0."""
        if self.dtype.is_bool or self.dtype.is_unsigned:
            return self
        return (self > 0).where(self, (self < 0).where(-self, self * self))

    def sign(self) -> Tensor:
        """-1, 0 or 1 in self's dtype; NaN stays NaN (numpy's sign)."""
        if self.dtype.is_bool or self.dtype.is_unsigned:
            return (self > 0).cast(self.dtype)
        s = (self < 0).where(-1, (self > 0).where(1, 0)).cast(self.dtype)
        return (self != self).where(self, s) if self.dtype.is_float else s

    def pow(self, x, reverse: bool = False) -> Tensor:
        """self ** x. Integral exponents given as Python numbers become repeated multiplies (exact, and
        defined at 0 and for negative bases); otherwise exp2(y * log2|x|) with the sign of odd powers."""
        if not reverse and _is_scalar(x) and not isinstance(x, bool) and float(x).is_integer() and abs(x) <= 2**31:
            base = self._float() if isinstance(x, float) else self
            if base.dtype.is_bool:
                base = base.cast(dtypes.default_int)
            if not base.dtype.is_float and x < 0:
                raise _fail(ValueError, "pow", f"integers to negative integer powers are not allowed ({x})",
                            "cast to float first")
            return base._pow_int(int(x))
        if not reverse and _is_scalar(x) and x == 0.5:
            return self.sqrt()
        base, exponent = self._bin("pow", x, reverse)
        if base.dtype.is_float:
            return base._pow_float(exponent)
        # integer ** integer tensor: compute in float64 and round (exact while the result fits in 2^53)
        return base.double()._pow_float(exponent.double()).round().cast(base.dtype)

    def _pow_int(self, n: int) -> Tensor:
        """self ** n by repeated squaring: x^5 = x * (x^2)^2."""
        result, power, k = None, self, abs(n)
        while k:
            if k & 1:
                result = power if result is None else result * power
            k >>= 1
            if k:
                power = power * power
        if result is None:
            return self.ones_like()  # x ** 0 == 1, even for NaN
        return result.reciprocal() if n < 0 else result

    def _pow_float(self, e: Tensor) -> Tensor:
        magnitude = (e * self.abs().log2()).exp2()
        is_int = e == e.trunc()
        odd = is_int & ((e * 0.5).trunc() != e * 0.5)
        signed = (self < 0).where(is_int.where(odd.where(-magnitude, magnitude), math.nan), magnitude)
        # x**0 == 1 and 1**y == 1, even with NaN or inf: only there the constant replaces the formula, so the
        # gradients at base 1 (y) and exponent 0 (log x) still flow through the formula
        bad_base, bad_exponent = (self == 0) | ((self - self) != 0), (e - e) != 0  # 0, inf or NaN / inf or NaN
        return (((e == 0) & bad_base) | ((self == 1) & bad_exponent)).where(1, signed)

    # ---- transcendental (built from EXP2, LOG2, SIN, SQRT, RECIP) ----

    def exp2(self) -> Tensor:
        return self._float()._alu(Ops.EXP2)

    def exp(self) -> Tensor:
        return (self._float() * (1 / math.log(2))).exp2()

    def log2(self) -> Tensor:
        return self._float()._alu(Ops.LOG2)

    def log(self) -> Tensor:
        return self.log2() * math.log(2)

    def sqrt(self) -> Tensor:
        return self._float()._alu(Ops.SQRT)

    def rsqrt(self) -> Tensor:
        return self.sqrt().reciprocal()

    def sin(self) -> Tensor:
        return self._float()._alu(Ops.SIN)

    def cos(self) -> Tensor:
        return ((math.pi / 2) - self._float()).sin()

    def tan(self) -> Tensor:
        return self.sin() / self.cos()

    # ---- activations ----

    def relu(self) -> Tensor:
        return (self > 0).where(self, 0)

    # sigmoid, tanh, gelu, silu, elu, softplus and the other activations: shrimpgrad/elementwise.py

    # ---- rounding (from TRUNC) ----

    def trunc(self) -> Tensor:
        return self._alu(Ops.TRUNC) if self.dtype.is_float else self

    def floor(self) -> Tensor:
        if not self.dtype.is_float:
            return self
        t = self.trunc()
        return (self < t).where(t - 1, t)

    def ceil(self) -> Tensor:
        if not self.dtype.is_float:
            return self
        t = self.trunc()
        return (self > t).where(t + 1, t)

    def round(self) -> Tensor:
        """Round half to even, like numpy: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2. (x - floor(x) is exact.)"""
        if not self.dtype.is_float:
            return self
        f = self.floor()
        d = self - f
        f_is_odd = (f * 0.5).floor() * 2 != f
        return ((d > 0.5) | ((d == 0.5) & f_is_odd)).where(f + 1, f)

    # ---- comparisons (from CMPLT and CMPNE) ----

    def _compare(self, method: str, x, swap: bool = False, or_equal: bool = False) -> Tensor:
        a, b = self._bin(method, x)
        if swap:
            a, b = b, a
        lt = a._alu(Ops.CMPLT, b)
        return lt | a._alu(Ops.CMPNE, b).logical_not() if or_equal else lt

    def __lt__(self, x) -> Tensor:
        return self._compare("__lt__", x)

    def __gt__(self, x) -> Tensor:
        return self._compare("__gt__", x, swap=True)

    def __le__(self, x) -> Tensor:
        return self._compare("__le__", x, or_equal=True)  # lt | eq: right for NaN, unlike not(gt)

    def __ge__(self, x) -> Tensor:
        return self._compare("__ge__", x, swap=True, or_equal=True)

    def ne(self, x) -> Tensor:
        a, b = self._bin("ne", x)
        return a._alu(Ops.CMPNE, b)

    def eq(self, x) -> Tensor:
        return self.ne(x).logical_not()

    def __ne__(self, x) -> Tensor:  # type: ignore[override]
        return self.ne(x)

    def __eq__(self, x) -> Tensor:  # type: ignore[override]
        return self.eq(x)

    def __hash__(self) -> int:  # __eq__ is elementwise, so hash by identity
        return id(self)

    # ---- logical and bitwise ----

    def logical_not(self) -> Tensor:
        b = self if self.dtype.is_bool else self.cast(dtypes.bool)
        return b._alu(Ops.CMPNE, b._const(True))

    def logical_and(self, x) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x, device=self.device)
        return self.bool()._bitwise(Ops.AND, x.bool(), "logical_and")

    def logical_or(self, x) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x, device=self.device)
        return self.bool()._bitwise(Ops.OR, x.bool(), "logical_or")

    def _bitwise(self, op: Ops, x, method: str, reverse: bool = False) -> Tensor:
        a, b = self._bin(method, x, reverse)
        if a.dtype.is_float:
            raise _fail(DTypeError, method, f"needs integer or bool tensors, got {self.dtype!r} and "
                        f"{getattr(x, 'dtype', type(x).__name__)}", "cast to an integer dtype first")
        return a._alu(op, b)

    def bitwise_and(self, x, reverse: bool = False) -> Tensor:
        return self._bitwise(Ops.AND, x, "bitwise_and", reverse)

    def bitwise_or(self, x, reverse: bool = False) -> Tensor:
        return self._bitwise(Ops.OR, x, "bitwise_or", reverse)

    def bitwise_xor(self, x, reverse: bool = False) -> Tensor:
        return self._bitwise(Ops.XOR, x, "bitwise_xor", reverse)

    def bitwise_not(self) -> Tensor:
        """~x: logical not for bool, x ^ (all ones) for integers."""
        if self.dtype.is_float:
            raise _fail(DTypeError, "bitwise_not", f"needs an integer or bool tensor, got {self.dtype!r}",
                        "cast to an integer dtype first")
        return self.logical_not() if self.dtype.is_bool else self._alu(Ops.XOR, self._const(-1))

    def _shift_amount(self, method: str, n) -> int:
        bits = 8 * self.dtype.itemsize
        if not self.dtype.is_int or not isinstance(n, int) or not 0 <= n < bits:
            raise _fail(DTypeError if not self.dtype.is_int else ValueError, method,
                        f"shifts integer tensors by a Python int in 0..{bits - 1}, got {self.dtype!r} by {n!r}")
        return n

    def lshift(self, n) -> Tensor:
        """x << n == x * 2**n (wrapping like C; 2**n itself wraps into the dtype). `n` may be a Tensor."""
        if isinstance(n, Tensor):
            return self._shift_by("lshift", n)
        return self._alu(Ops.MUL, self._const(2 ** self._shift_amount("lshift", n)))

    def rshift(self, n) -> Tensor:
        """x >> n == x // 2**n (arithmetic shift: floors, like numpy's >> on signed ints). `n` may be a Tensor."""
        if isinstance(n, Tensor):
            return self._shift_by("rshift", n)
        n = self._shift_amount("rshift", n)
        if 2**n > np.iinfo(self.dtype.np).max:  # 2**n doesn't fit (e.g. int8 >> 7): shift twice
            return self.rshift(n - 1).rshift(1)
        return self._alu(Ops.IDIV, self._const(2**n))

    def _shift_by(self, method: str, n, reverse: bool = False) -> Tensor:
        """x << n or x >> n for an integer Tensor n (broadcast and promoted together): shift by 1, 2, 4, ... places
        (the Python-int shifts) where n has that bit set. Amounts outside 0..bits-1 give PyTorch's results:
        0 for <<, the sign (0 or -1) for >>."""
        x, n = self._bin(method, n, reverse)
        if not x.dtype.is_int:
            raise _fail(DTypeError, method, f"shifts integer tensors, got {x.dtype!r}",
                        "cast to an integer dtype first")
        bits, left = 8 * x.dtype.itemsize, method == "lshift"
        out = x
        for b in range(bits.bit_length() - 1):  # 1, 2, 4, ... places: every amount 0..bits-1 is a sum of these
            out = ((n & (1 << b)) != 0).where(out.lshift(1 << b) if left else out.rshift(1 << b), out)
        outside = x._const(0) if left or x.dtype.is_unsigned else (x < 0).where(x._const(-1), x._const(0))
        return ((n >= 0) & (n < bits)).where(out, outside)

    # ================================================================================================
    # reduce
    # ================================================================================================

    def _reduce(self, op: Ops, axis, keepdim: bool, method: str) -> Tensor:
        axes = _axes(method, axis, self.shape)
        if not axes:
            return self
        if op is Ops.MAX and any(self.shape[a] == 0 for a in axes):
            raise _fail(ValueError, method, f"reducing an empty axis of shape {self.shape} (axis={axis!r}) has no "
                        "identity", "make sure the reduced axes are not size 0")
        out = self._wrap(reduce(self.node, op, axes, _provenance()))
        return out if keepdim else out.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))

    def sum(self, axis=None, keepdim: bool = False, dtype=None) -> Tensor:
        """Sum over `axis` (None: all). Bool and small ints sum in int32, float16 accumulates in float32 (tinygrad)."""
        acc = _sum_dtype(self.dtype) if dtype is None else _to_dtype("sum", dtype)
        out = self.cast(acc)._reduce(Ops.ADD, axis, keepdim, "sum")
        return out.cast(self.dtype) if dtype is None and self.dtype == dtypes.float16 else out

    def max(self, axis=None, keepdim: bool = False) -> Tensor:
        return self._reduce(Ops.MAX, axis, keepdim, "max")

    def min(self, axis=None, keepdim: bool = False) -> Tensor:
        """-max(-x) for floats; ~max(~x) for ints and bool (exact, no overflow)."""
        if self.dtype.is_float:
            return -((-self).max(axis, keepdim))
        return ~((~self).max(axis, keepdim))

    def mean(self, axis=None, keepdim: bool = False) -> Tensor:
        """Integers give default_float; an empty mean is NaN (0 / 0), as in numpy."""
        x = self._float()
        n = math.prod(self.shape[a] for a in _axes("mean", axis, self.shape))
        return (x.sum(axis, keepdim, dtype=_sum_dtype(x.dtype)) / n).cast(x.dtype)

    def var(self, axis=None, keepdim: bool = False, correction: int = 1) -> Tensor:
        """Variance with `correction` (1: the unbiased estimator, tinygrad's and PyTorch's default)."""
        x = self._float()
        n = math.prod(self.shape[a] for a in _axes("var", axis, self.shape))
        squares = (x - x.mean(axis, keepdim=True)).square()
        return squares.sum(axis, keepdim) / max(0, n - correction)

    def std(self, axis=None, keepdim: bool = False, correction: int = 1) -> Tensor:
        return self.var(axis, keepdim, correction).sqrt()

    def prod(self, axis=None, keepdim: bool = False, dtype=None) -> Tensor:
        """The product over `axis`, as a tree of multiplies: the reduced axes are moved last and flattened,
        then halved log2(n) times (pad odd lengths with a 1, multiply the two halves). Keeps the dtype.

        Levels wider than 2 are materialized (contiguous): fused, the backward reads each level's gradient
        through two views (left and right half), so one kernel's AST doubled per level and a 48-element
        prod's backward took 10 s to schedule and lower (issue 17). Products of up to 4 stay one kernel."""
        x = self if dtype is None else self.cast(dtype)
        if x.dtype.is_bool:  # numpy and PyTorch multiply bools as integers
            x = x.cast(dtypes.default_int)
        axes = _axes("prod", axis, x.shape)
        kept = tuple(i for i in range(x.ndim) if i not in axes)
        n = math.prod(x.shape[a] for a in axes)
        x = x.permute(kept + axes).reshape(tuple(x.shape[i] for i in kept) + (n,))
        if n == 0:
            x = x._const(1, shape=x.shape[:-1] + (1,))
        while x.shape[-1] > 1:
            if x.shape[-1] % 2:
                x = x.pad(((0, 0),) * (x.ndim - 1) + ((0, 1),), value=1)
            half, lead = x.shape[-1] // 2, tuple((0, s) for s in x.shape[:-1])
            x = x.shrink(lead + ((0, half),)) * x.shrink(lead + ((half, 2 * half),))
            if half > 2:
                x = x.contiguous()
        shape = tuple(1 if i in axes else s for i, s in enumerate(self.shape)) if keepdim else \
            tuple(self.shape[i] for i in kept)
        return x.reshape(shape)

    def argmax(self, axis=None, keepdim: bool = False) -> Tensor:
        """Index of the first maximum (of the first NaN, if any, like numpy), as int32 (tinygrad).

        Built from reductions: mark the positions equal to the max, give position i the weight n - i,
        take the max weight: the first marked position wins."""
        if axis is None:
            return self.flatten().argmax(0)
        ax = _axis("argmax", axis, self.ndim, self.shape)
        if self.shape[ax] == 0:
            raise _fail(ValueError, "argmax", f"axis {axis} of shape {self.shape} is empty",
                        "an empty axis has no largest element (PyTorch refuses it too); check the shape first")
        is_max = self == self.max(ax, keepdim=True)
        if self.dtype.is_float:
            is_max = is_max | (self != self)
        n = self.shape[ax]
        weights = Tensor.arange(n, 0, -1, device=self.device).reshape((n,) + (1,) * (self.ndim - ax - 1))
        return (n - is_max.where(weights, 0).max(ax, keepdim)).cast(dtypes.int32)

    def argmin(self, axis=None, keepdim: bool = False) -> Tensor:
        return (-self if self.dtype.is_float else ~self).argmax(axis, keepdim)

    def _softmax(self, axis, dtype, method: str) -> tuple[Tensor, Tensor, Tensor]:
        # Shifting x by a constant near its max keeps exp() from overflowing and doesn't change the result. The shift
        # must carry no gradient (PyTorch's formula; tinygrad detaches the max): through the max itself, backward
        # adds -sum(d/d(x - max)) to the max's element, zero in exact arithmetic but rounding noise in floats (~10x
        # PyTorch's float32 error). trunc(max) is within 1 of the max and a step function, whose gradient is 0
        # (stage 01's trunc rule), and unlike detach() it doesn't realize.
        # The axis is checked here, so a bad one names softmax, not the Tensor.max inside it (issue 17); an empty
        # axis has no max to shift by, and its softmax is empty anyway (PyTorch).
        ax = _axis(method, axis, self.ndim, self.shape) if self.ndim or axis not in (0, -1) else axis
        x = self._float() if dtype is None else self.cast(dtype)
        m = x - x.max(ax, keepdim=True).trunc() if self.numel() else x
        e = m.exp()
        return m, e, e.sum(axis, keepdim=True)

    def softmax(self, axis=-1, dtype=None) -> Tensor:
        _, e, total = self._softmax(axis, dtype, "softmax")
        return e / total

    def log_softmax(self, axis=-1, dtype=None) -> Tensor:
        m, _, total = self._softmax(axis, dtype, "log_softmax")
        return m - total.log()

    def logsumexp(self, axis=None, keepdim: bool = False) -> Tensor:
        """log(sum(exp(x))), stably: m + log(sum(exp(x - m))); an infinite max is not subtracted. Over an empty
        axis it is log(0) = -inf (PyTorch), with no max to shift by."""
        axes, x = _axes("logsumexp", axis, self.shape), self._float()
        if any(self.shape[a] == 0 for a in axes):
            out = x.exp().sum(axis, keepdim=True).log()
        else:
            m = x.max(axis, keepdim=True)
            m = (m.abs() == math.inf).where(0, m)
            out = (x - m).exp().sum(axis, keepdim=True).log() + m
        return out if keepdim else out.squeeze(axes)

    # ================================================================================================
    # movement (views: no data is copied)
    # ================================================================================================

    def reshape(self, shape, *args) -> Tensor:
        """A new shape with the same elements; one entry may be -1 (inferred), None keeps that axis."""
        new = _argfix(shape, *args)
        new = tuple(self.shape[i] if s is None else s for i, s in enumerate(new))
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= -1 for s in new):
            raise _fail(ShapeError, "reshape", f"shape {new} must be ints >= 0 (one may be -1)")
        if list(new).count(-1) > 1:
            raise _fail(ShapeError, "reshape", f"shape {new} has more than one -1", "only one size can be inferred")
        if -1 in new:
            known = math.prod(s for s in new if s != -1)
            if known == 0 or self.numel() % known:
                raise _fail(ShapeError, "reshape", f"can't reshape {self.shape} ({self.numel()} elements) into {new}")
            new = tuple(self.numel() // known if s == -1 else int(s) for s in new)
        new = tuple(int(s) for s in new)
        if math.prod(new) != self.numel():
            raise _fail(ShapeError, "reshape", f"can't reshape {self.shape} ({self.numel()} elements) into {new} "
                        f"({math.prod(new)} elements)", "the number of elements must stay the same")
        return self if new == self.shape else self._move(Ops.RESHAPE, new)

    def view(self, shape, *args) -> Tensor:
        return self.reshape(shape, *args)

    def permute(self, order, *args) -> Tensor:
        given = _argfix(order, *args)
        order = tuple(_axis("permute", a, self.ndim, self.shape) for a in given)
        if sorted(order) != list(range(self.ndim)):
            raise _fail(AxisError, "permute", f"{given} is not a permutation of the {self.ndim} "
                        f"axes of shape {self.shape}", f"give each of 0..{self.ndim - 1} once")
        return self if order == tuple(range(self.ndim)) else self._move(Ops.PERMUTE, order)

    def transpose(self, dim0: int = 1, dim1: int = 0) -> Tensor:
        order = list(range(self.ndim))
        a, b = _axis("transpose", dim0, self.ndim, self.shape), _axis("transpose", dim1, self.ndim, self.shape)
        order[a], order[b] = order[b], order[a]
        return self.permute(order)

    @property
    def T(self) -> Tensor:  # noqa: N802 - tinygrad's name
        """transpose(1, 0): the matrix transpose of a 2-d tensor."""
        return self.transpose()

    def _broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        if self.shape == shape:
            return self
        x = self.reshape((1,) * (len(shape) - self.ndim) + self.shape)
        return x if x.shape == shape else x._move(Ops.EXPAND, shape)

    def expand(self, shape, *args) -> Tensor:
        """Repeat size-1 axes (no copy); -1 or None keeps a size; new axes may be added in front."""
        new = _argfix(shape, *args)
        if len(new) < self.ndim:
            raise _fail(ShapeError, "expand", f"can't expand shape {self.shape} to {new}: fewer axes",
                        "give at least as many sizes as the tensor has axes")
        old = (1,) * (len(new) - self.ndim) + self.shape
        new = tuple(o if n in (-1, None) else n for o, n in zip(old, new))
        if any(not isinstance(n, (int, np.integer)) or n < 0 or (o != n and o != 1) for o, n in zip(old, new)):
            raise _fail(ShapeError, "expand", f"can't expand shape {self.shape} to {new}",
                        "only size-1 axes can grow (use -1 to keep a size)")
        return self._broadcast_to(tuple(int(n) for n in new))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        a = _axis("flatten", start_dim, self.ndim, self.shape)
        b = _axis("flatten", end_dim, self.ndim, self.shape)
        return self.reshape(self.shape[:a] + (math.prod(self.shape[a:b + 1]),) + self.shape[b + 1:])

    def unflatten(self, dim: int, sizes) -> Tensor:
        d = _axis("unflatten", dim, self.ndim, self.shape)
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1:])

    def squeeze(self, dim=None) -> Tensor:
        """Remove size-1 axes (all, or those in `dim`; an axis of another size is left alone, like PyTorch)."""
        axes = [i for i, s in enumerate(self.shape) if s == 1] if dim is None else _axes("squeeze", dim, self.shape)
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1)))

    def unsqueeze(self, dim: int) -> Tensor:
        d = _axis("unsqueeze", dim, self.ndim, self.shape, extra=1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def pad(self, padding, mode: str = "constant", value: Scalar = 0.0) -> Tensor:
        """Pad with `value`. `padding` is one (before, after) pair (or None) per axis, or PyTorch's flat form
        (left, right, top, bottom, ...) starting from the last axis. Negative amounts cut instead. mode "reflect",
        "replicate" or "circular" pads with copies of the tensor instead of `value` (shrimpgrad/movement.py)."""
        if mode != "constant":  # "reflect", "replicate", "circular": shrimpgrad/movement.py
            return self._pad_mode(padding, mode, value)
        pairs = self._pad_pairs(padding)
        grow = tuple((max(0, b), max(0, a)) for b, a in pairs)
        x = self if all(p == (0, 0) for p in grow) else self._move(Ops.PAD, grow)
        if value != 0 and x is not self:
            inside = self._const(True, dtypes.bool)._move(Ops.PAD, grow)
            x = inside.where(x, value)
        if any(b < 0 or a < 0 for b, a in pairs):
            x = x.shrink(tuple((-min(0, b), s - -min(0, a)) for (b, a), s in zip(pairs, x.shape)))
        return x

    def _pad_pairs(self, padding) -> tuple[tuple[int, int], ...]:
        padding = tuple(padding)
        if all(isinstance(p, (int, np.integer)) for p in padding):  # flat: last axis first
            if len(padding) % 2 or len(padding) > 2 * self.ndim:
                raise _fail(ShapeError, "pad", f"flat padding {padding} needs an even length <= {2 * self.ndim} "
                            f"for shape {self.shape}", "e.g. (left, right, top, bottom)")
            flat = tuple(zip(padding[::2], padding[1::2]))[::-1]
            pairs = ((0, 0),) * (self.ndim - len(flat)) + flat
        elif len(padding) == self.ndim and all(p is None or len(p) == 2 for p in padding):
            pairs = tuple((0, 0) if p is None else tuple(p) for p in padding)
        else:
            raise _fail(ShapeError, "pad", f"padding {padding} doesn't fit shape {self.shape}",
                        "give one (before, after) pair or None per axis, or a flat (left, right, top, bottom, ...)")
        pairs = tuple((int(b), int(a)) for b, a in pairs)
        if any(s + b + a < 0 for s, (b, a) in zip(self.shape, pairs)):
            raise _fail(ShapeError, "pad", f"padding {pairs} cuts more than shape {self.shape} has")
        return pairs

    def shrink(self, arg) -> Tensor:
        """Keep [start, end) of each axis; None keeps the whole axis."""
        arg = tuple(arg)
        if len(arg) != self.ndim:
            raise _fail(ShapeError, "shrink", f"needs one (start, end) or None per axis of shape {self.shape}, "
                        f"got {arg}")
        bounds = tuple((0, s) if p is None else (int(p[0]), int(p[1])) for p, s in zip(arg, self.shape))
        if any(not 0 <= b <= e <= s for (b, e), s in zip(bounds, self.shape)):
            raise _fail(ShapeError, "shrink", f"bounds {bounds} don't fit shape {self.shape}",
                        "each axis needs 0 <= start <= end <= size")
        return self if all(b == (0, s) for b, s in zip(bounds, self.shape)) else self._move(Ops.SHRINK, bounds)

    def flip(self, axis, *args) -> Tensor:
        axes = _axes("flip", _argfix(axis, *args), self.shape)
        return self._move(Ops.FLIP, tuple(i in axes for i in range(self.ndim))) if axes else self

    def repeat(self, repeats, *args) -> Tensor:
        """Tile the tensor: each axis repeated `repeats[i]` times (new leading axes allowed), as PyTorch's repeat."""
        repeats = _argfix(repeats, *args)
        if len(repeats) < self.ndim or any(not isinstance(r, int) or r < 0 for r in repeats):
            raise _fail(ShapeError, "repeat", f"repeats {repeats} must be non-negative ints, at least one per axis "
                        f"of shape {self.shape}")
        base = (1,) * (len(repeats) - self.ndim) + self.shape
        x = self.reshape(tuple(v for s in base for v in (1, s)))
        x = x.expand(tuple(v for r, s in zip(repeats, base) for v in (r, s)))
        return x.reshape(tuple(r * s for r, s in zip(repeats, base)))

    def contiguous(self) -> Tensor:
        """Materialize this value in its own buffer when realized (a kernel boundary)."""
        return self._wrap(contiguous(self.node, _provenance()))

    # ================================================================================================
    # linear algebra
    # ================================================================================================

    def dot(self, w: Tensor, dtype=None) -> Tensor:
        """Matrix product with numpy's matmul rules (1-d, 2-d, batched), as tinygrad does it: line the inputs
        up so the contracted axis is last in both, broadcast-multiply, sum the last axis."""
        if not isinstance(w, Tensor):
            w = Tensor(w, device=self.device)
        dx, dw = self.ndim, w.ndim
        if dx == 0 or dw == 0:
            raise _fail(ShapeError, "dot", f"both tensors need at least 1 dim, got shapes {self.shape} and {w.shape}")
        axis_w = -min(dw, 2)
        if self.shape[-1] != w.shape[axis_w]:
            raise _fail(ShapeError, "dot", f"can't multiply {self.shape} by {w.shape}: {self.shape[-1]} != "
                        f"{w.shape[axis_w]}", f"the last axis of self must match axis {axis_w} of w")
        _broadcast_shape("dot", self.shape[:-2], w.shape[:-2])  # the batch axes must broadcast
        x = self.reshape(self.shape[:-1] + (1,) * min(dx - 1, dw - 1, 1) + self.shape[-1:])
        w2 = w.reshape(w.shape[:-2] + (1,) * min(dx - 1, dw - 1, 1) + w.shape[axis_w:]).transpose(-1, axis_w)
        out_dtype = promote(self.dtype, w.dtype) if dtype is None else _to_dtype("dot", dtype)
        acc = _sum_dtype(out_dtype) if dtype is None else out_dtype
        if out_dtype.is_float and acc != out_dtype:  # float16: multiply and add in float32, backward too (PyTorch)
            x, w2 = x.cast(acc), w2.cast(acc)
        return (x * w2).sum(-1, dtype=dtype).cast(out_dtype)

    def matmul(self, x: Tensor, reverse: bool = False, dtype=None) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x, device=self.device)
        return x.dot(self, dtype=dtype) if reverse else self.dot(x, dtype=dtype)

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """self @ weight + bias, with weight of shape (in, out) (tinygrad's layout; 1-d weight multiplies)."""
        x = self * weight if weight.ndim == 1 else self.dot(weight)
        return x if bias is None else x + bias

    # ================================================================================================
    # autograd
    # ================================================================================================

    @property
    def requires_grad(self) -> bool | None:
        """True: backward() gives this tensor a .grad. None (default): "maybe" (see backward). False: never."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool | None) -> None:
        self._make_leaf(value)  # a tensor that wants a gradient becomes a leaf with its own buffer

    def requires_grad_(self, value: bool = True) -> Tensor:
        self.requires_grad = value
        return self

    def backward(self, gradient: Tensor | None = None) -> Tensor:
        """Accumulate d(self)/d(leaf) into `leaf.grad` for every leaf in self's graph with requires_grad=True.

        A non-scalar self is seeded with ones (the gradient of self.sum()) unless `gradient` is given. If no
        leaf says True, the leaves left at None ("maybe") get gradients instead, so the README's first example
        `Tensor.ones((2,2)).dot(Tensor.zeros((2,2))).backward()` computes something rather than nothing. Written
        as that one line, its leaves are gone before backward() runs: nobody could read their gradients, so there
        is nothing to do (tinygrad also returns self). Only a graph where every input said requires_grad=False is
        an error."""
        if Tensor.no_grad:
            raise _fail(GradError, "backward", "called inside no_grad()", "leave the no_grad() block first")
        if not self.dtype.is_float:
            raise _fail(DTypeError, "backward", f"the output is {self.dtype!r}; only float outputs have gradients",
                        "cast to float first")
        root = _unrealized(self.node)
        targets = _grad_targets(root, self._requires_grad)
        for t, g in zip(targets, self._gradient(root, targets, gradient)):
            t.grad = g if t.grad is None else t.grad + g
        return self

    def gradient(self, *targets: Tensor, gradient: Tensor | None = None) -> list[Tensor]:
        """d(self)/d(target) for each target, as lazy Tensors (zeros where a target doesn't affect self)."""
        return self._gradient(_unrealized(self.node), list(targets), gradient)

    def _gradient(self, root: Node, targets: list[Tensor], gradient: Tensor | None) -> list[Tensor]:
        seed = self._const(1) if gradient is None else gradient
        if not isinstance(seed, Tensor) or seed.shape != self.shape:
            raise _fail(ShapeError, "backward", f"gradient must be a Tensor of the output's shape {self.shape}, got "
                        f"{getattr(seed, 'shape', type(seed).__name__)}")
        grads = graph_gradient(root, [t.node for t in targets], seed.cast(self.dtype).node)
        return [t._const(0) if g is None else Tensor._from_node(g, t.device, False) for t, g in zip(targets, grads)]

    def detach(self) -> Tensor:
        """The same values, cut off from the graph: no gradient flows through the result.

        The graph has no "stop gradient" op and compares nodes by structure, so the result must be a new leaf:
        self's value is realized (now, if it isn't yet) and copied into a buffer of its own: the copy is a new node,
        so no gradient can reach self through it. (Unlike PyTorch's detach it is not a view: a later
        `self.assign(...)` does not change it, because every Tensor is a value; see shrimpgrad/inplace.py.)"""
        self.realize()
        ref = copy_buffer(self.node.arg, self.device)
        return Tensor._leaf(buffer(ref, self.shape, _provenance()), self.device, False)

    class train(contextlib.ContextDecorator):  # noqa: N801 - tinygrad's name
        """`with Tensor.train():` (or as a decorator) sets Tensor.training for dropout and batchnorm."""

        def __init__(self, mode: bool = True):
            self.mode = mode

        def __enter__(self):
            self.prev, Tensor.training = Tensor.training, self.mode

        def __exit__(self, *exc) -> None:
            Tensor.training = self.prev

    class test(train):  # noqa: N801 - tinygrad's name
        """`with Tensor.test():` sets Tensor.training to False."""

        def __init__(self, mode: bool = True):
            super().__init__(not mode)

    # ================================================================================================
    # in-place update
    # ================================================================================================

    def assign(self, x) -> Tensor:
        """Write `x` into self's buffer when realized (the optimizer's update). If self has no buffer yet
        (an unrealized value), self simply takes x's value. Returns self.

        Lazy, but it means what eager code means (shrimpgrad/inplace.py): tensors computed from self before this
        call keep the old value; assigning twice before a realize performs both writes, in order. An assign into
        a view (`x[1:3].assign(v)`) writes x's buffer and runs at once, like numpy's `x[1:3] = v`."""
        x = x if isinstance(x, Tensor) else Tensor(x, device=self.device, dtype=self.dtype)
        if x.device != self.device:
            raise _fail(ValueError, "assign", f"value is on {x.device!r}, self on {self.device!r}", "use .to() first")
        if x.dtype != self.dtype:
            if not np.can_cast(x.dtype.np, self.dtype.np, "same_kind"):
                raise _fail(DTypeError, "assign", f"can't assign {x.dtype!r} into {self.dtype!r}", "cast it first")
            x = x.cast(self.dtype)
        if x.shape != self.shape:
            if _broadcast_shape("assign", x.shape, self.shape) != self.shape:
                raise _fail(ShapeError, "assign", f"value of shape {x.shape} doesn't broadcast to {self.shape}")
            x = x._broadcast_to(self.shape)
        target = self.node  # an earlier ASSIGN that hasn't run stays the target: both writes happen, in order
        if not _writable(target):
            self.node = x.node
            return self
        self.node = assign(target, x.node, _provenance())
        if not inplace.writes_whole_buffer(self.node):
            self.realize()  # a write into a view: the viewed tensor must show it now (see the docstring)
        return self

    def __iadd__(self, x) -> Tensor:
        return self.assign(self + x)

    def __isub__(self, x) -> Tensor:
        return self.assign(self - x)

    def __imul__(self, x) -> Tensor:
        return self.assign(self * x)

    def __itruediv__(self, x) -> Tensor:
        return self.assign(self / x)

    def __ifloordiv__(self, x) -> Tensor:
        return self.assign(self // x)

    def __imod__(self, x) -> Tensor:
        return self.assign(self % x)

    def __ipow__(self, x) -> Tensor:
        return self.assign(self**x)

    def __iand__(self, x) -> Tensor:
        return self.assign(self & x)

    def __ior__(self, x) -> Tensor:
        return self.assign(self | x)

    def __ixor__(self, x) -> Tensor:
        return self.assign(self ^ x)

    def __imatmul__(self, x) -> Tensor:
        return self.assign(self @ x)

    # ================================================================================================
    # output
    # ================================================================================================

    def realize(self, *others: Tensor) -> Tensor:
        """Compute self (and `others`, in the same run) now; afterwards each points at a BUFFER node holding
        its value, so it is never computed again. `Tensor.realize(a, b, c)` works too. Returns self."""
        _realize_tensors([self, *others])
        return self

    def numpy(self) -> np.ndarray:
        """The value as a new numpy array (realizes self)."""
        self.realize()
        return buffer_value(self.node.arg).reshape(self.shape).copy()

    def item(self) -> Scalar:
        if self.numel() != 1:
            raise _fail(ShapeError, "item", f"needs exactly one element, got shape {self.shape} ({self.numel()} "
                        "elements)", "index or reduce first, e.g. t.sum().item()")
        return self.numpy().reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def to(self, device: str) -> Tensor:
        """The same value on `device`: a COPY in the graph (its own step when realized); gradients flow back
        through it to self's device. Self when it already is on `device`."""
        device = _canonical_device(device)
        if device == self.device:
            return self
        return self._wrap(copy(self.node, self.device, device, _provenance()))._on(device)

    def _on(self, device: str) -> Tensor:
        self.device = device
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.node.shape

    @property
    def dtype(self) -> DType:
        return self.node.dtype

    @property
    def ndim(self) -> int:
        return len(self.node.shape)

    def numel(self) -> int:
        return math.prod(self.shape)

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        return self.shape if dim is None else self.shape[_axis("size", dim, self.ndim, self.shape)]

    def element_size(self) -> int:
        return self.dtype.itemsize

    def nbytes(self) -> int:
        return self.numel() * self.dtype.itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("Tensor.__len__: len() of a 0-d tensor; use .item() or .numel()")
        return self.shape[0]

    def __bool__(self) -> bool:
        raise AmbiguousTruthError("Tensor.__bool__: the truth value of a Tensor is ambiguous (it would need to run "
                                  "the graph); reduce it first: t.any().item() or t.all().item() (or t.item() for "
                                  "one element)")

    def __repr__(self) -> str:
        return (f"<Tensor {self.node.op.name} shape={self.shape} dtype={self.dtype!r} device={self.device!r} "
                f"requires_grad={self._requires_grad}>")

    # ================================================================================================
    # operators
    # ================================================================================================

    def __neg__(self) -> Tensor:
        return self.neg()

    def __abs__(self) -> Tensor:
        return self.abs()

    def __invert__(self) -> Tensor:
        return self.bitwise_not()

    def __add__(self, x) -> Tensor:
        return self.add(x)

    def __radd__(self, x) -> Tensor:
        return self.add(x, reverse=True)

    def __sub__(self, x) -> Tensor:
        return self.sub(x)

    def __rsub__(self, x) -> Tensor:
        return self.sub(x, reverse=True)

    def __mul__(self, x) -> Tensor:
        return self.mul(x)

    def __rmul__(self, x) -> Tensor:
        return self.mul(x, reverse=True)

    def __truediv__(self, x) -> Tensor:
        return self.div(x)

    def __rtruediv__(self, x) -> Tensor:
        return self.div(x, reverse=True)

    def __floordiv__(self, x) -> Tensor:
        return self.idiv(x)

    def __rfloordiv__(self, x) -> Tensor:
        return self.idiv(x, reverse=True)

    def __mod__(self, x) -> Tensor:
        return self.mod(x)

    def __rmod__(self, x) -> Tensor:
        return self.mod(x, reverse=True)

    def __pow__(self, x) -> Tensor:
        return self.pow(x)

    def __rpow__(self, x) -> Tensor:
        return self.pow(x, reverse=True)

    def __matmul__(self, x) -> Tensor:
        return self.matmul(x)

    def __rmatmul__(self, x) -> Tensor:
        return self.matmul(x, reverse=True)

    def __and__(self, x) -> Tensor:
        return self.bitwise_and(x)

    def __rand__(self, x) -> Tensor:
        return self.bitwise_and(x, reverse=True)

    def __or__(self, x) -> Tensor:
        return self.bitwise_or(x)

    def __ror__(self, x) -> Tensor:
        return self.bitwise_or(x, reverse=True)

    def __xor__(self, x) -> Tensor:
        return self.bitwise_xor(x)

    def __rxor__(self, x) -> Tensor:
        return self.bitwise_xor(x, reverse=True)

    def __lshift__(self, n: int) -> Tensor:
        return self.lshift(n)

    def __rshift__(self, n: int) -> Tensor:
        return self.rshift(n)

    def __rlshift__(self, n) -> Tensor:
        return self._shift_by("lshift", n, reverse=True)

    def __rrshift__(self, n) -> Tensor:
        return self._shift_by("rshift", n, reverse=True)


def _unify(method: str, values: list, device: str, shape: tuple[int, ...] | None = None) -> list[Tensor]:
    """`values` (Tensors, Python scalars, lists, arrays) as Tensors of one dtype and one shape: numpy
    broadcasting (with `shape` too) and promotion, Python scalars weak (see `_weak_dtype`)."""
    items = [v if isinstance(v, Tensor) or _is_scalar(v) else Tensor(v, device=device) for v in values]
    for v in items:
        if isinstance(v, Tensor) and v.device != device:
            raise _fail(DeviceMismatchError, method, f"operands are on devices {device!r} and {v.device!r}",
                        f"move one with .to({device!r})")
    dtype = _result_dtype(items)
    shapes = ([] if shape is None else [shape]) + [v.shape for v in items if isinstance(v, Tensor)]
    out_shape = _broadcast_shape(method, *shapes)
    out = []
    for v in items:
        if isinstance(v, Tensor):
            out.append(v.cast(dtype)._broadcast_to(out_shape))
        else:
            _check_fits(method, v, dtype)
            out.append(Tensor._constant(v, dtype, out_shape, device))
    return out


# ---- autograd helpers ----------------------------------------------------------------------------
# realize() replaces a Tensor's graph with a BUFFER node, but a later backward() must still see how that
# value was computed (`h = f(x).realize(); loss = g(h); loss.backward()` gives x a gradient, as in tinygrad and
# PyTorch). So each realized BUFFER node remembers the graph it replaced, for as long as the node lives.
# Each entry also keeps the write epoch it was made in: if a buffer of that graph was overwritten later (an
# optimizer step), differentiating through it would silently use the new contents, so backward() refuses.
_FORWARD: weakref.WeakKeyDictionary[Node, tuple[Node, int]] = weakref.WeakKeyDictionary()


# One realize at a time, process-wide: schedules, caches, buffer pools and the in-place bookkeeping are shared, so
# realizes from several threads run one after another (graph building needs no lock: it only makes new nodes).
_REALIZE_LOCK = threading.RLock()


def _realize_tensors(tensors: list[Tensor]) -> None:
    """Realize `tensors` together, keeping every other live tensor's value right (shrimpgrad/inplace.py): the
    pending readers of overwritten buffers join the same schedule (stage 02 runs them before the writes),
    aliases of overwritten buffers get snapshots, and the ASSIGNs performed are remembered as done."""
    with _REALIZE_LOCK:
        _realize_locked(tensors)


def _realize_locked(tensors: list[Tensor]) -> None:
    group, aliases, writes = inplace.plan_realize(tensors)
    for t in aliases:
        t.node = buffer(copy_buffer(t.node.arg, t.device), t.shape, t.node.meta)
    for device in dict.fromkeys(t.device for t in group):
        # Once each: `x.realize(x.reshape(x.shape))` names x twice (a no-op reshape returns x itself), and a second
        # pass would swap in an equal result node whose twin (the only key of x's _FORWARD entry) then dies.
        members = list({id(t): t for t in group if t.device == device}.values())
        roots = inplace.without_finished([t.node for t in members])
        try:
            results = realize_graph(roots, device)
        except Exception as e:
            if isinstance(e, MemoryError) or (type(e).__name__ == "CUDAError" and "OUT_OF_MEMORY" in str(e)):
                raise _out_of_memory(roots, device, e) from e
            raise
        for t, node in zip(members, results):
            if _remembers_forward(t):
                _FORWARD[node] = (t.node, inplace.epoch)
            t.node = node
    if writes:
        inplace.mark_finished(writes)


def _out_of_memory(roots: list[Node], device: str, e: Exception) -> OutOfMemoryError:
    """The error for an allocation that failed while realizing `roots`: which device, the biggest buffer."""
    big = max(toposort(roots), key=lambda n: n.size * n.dtype.itemsize)
    return _fail(OutOfMemoryError, "realize", f"device {device!r} is out of memory ({e}); the largest value in this "
                 f"graph is {big.shape} {big.dtype!r} ({big.size * big.dtype.itemsize / 2**30:.3g} GiB)",
                 "free tensors you no longer need (del t), realize in smaller pieces, or use smaller shapes")


def _remembers_forward(t: Tensor) -> bool:
    """Remember t's graph on realize? Not for leaves (their buffer IS the value to differentiate against), not for
    an ASSIGN (the buffer then holds a new leaf value, e.g. an updated weight), not when no gradient can be wanted."""
    return not t._is_leaf and t.node.op not in (Ops.BUFFER, Ops.ASSIGN) and t._requires_grad is not False


def _unrealized(root: Node) -> Node:
    """root's graph with each realized BUFFER node replaced by the graph that computed it (repeatedly: that graph
    may read realized buffers too)."""
    while _FORWARD:
        order = toposort([root])
        if not any(n in _FORWARD for n in order if n.op is Ops.BUFFER):
            return root
        (root,) = rewrite([root], _forward_of)
    return root


def _forward_of(node: Node) -> Node:
    """A realized BUFFER node's forward graph (checked: its inputs were not overwritten since); others as they are."""
    if node.op is not Ops.BUFFER or node not in _FORWARD:
        return node
    forward, epoch = _FORWARD[node]
    _check_not_overwritten(forward, epoch)
    return forward


def _check_not_overwritten(forward: Node, epoch: int) -> None:
    """backward() through a value whose inputs were assigned after it was computed would differentiate against
    the new contents: refuse, as PyTorch does."""
    for n in toposort([forward]):
        if n.op is Ops.BUFFER and inplace.last_write(n.arg) > epoch:
            raise _fail(GradError, "backward", f"a {n.shape} {n.dtype!r} buffer this value was computed from was "
                        "overwritten by assign() after the value was realized, so its gradient can't be computed",
                        "call backward() before updating the tensors it depends on (as in PyTorch)")


def _grad_targets(root: Node, root_requires_grad: bool | None) -> list[Tensor]:
    """The leaves backward() gives gradients to: those in root's graph with requires_grad=True, else the "maybe"
    ones (requires_grad=None) that are still alive. `root_requires_grad` None means the graph was built from
    "maybe" leaves: if none of them is alive any more, the answer is no targets, not an error."""
    in_graph = {id(n) for n in toposort([root])}
    leaves = [t for t in list(_LEAVES.values()) if id(t.node) in in_graph and t.dtype.is_float]
    targets = [t for t in leaves if t._requires_grad] or [t for t in leaves if t._requires_grad is None]
    if not targets and root_requires_grad is None:
        return []
    if not targets:
        raise _fail(GradError, "backward", "no tensor in this graph requires a gradient",
                    "create the inputs with requires_grad=True (and keep them in variables: a leaf that nothing "
                    "refers to any more gets no gradient)")
    nodes = [t.node for t in targets]
    if len(set(nodes)) != len(nodes):
        raise _fail(GradError, "backward", "two leaves are the same graph node (equal constants such as two "
                    "Tensor.ones(...)), so their gradients can't be told apart",
                    "create them with requires_grad=True (each then gets its own buffer)")
    return targets


def _writable(node: Node) -> bool:
    """Is `node` a buffer seen through movement ops (something ASSIGN can write into)?"""
    while node.op in _graph.MOVEMENT:
        node = node.src[0]
    return node.op is Ops.BUFFER


def _first_non_number(data) -> tuple[bool, Any]:
    """(True, the first element of nested lists/tuples that isn't a number), or (False, None) if all are."""
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
        elif not isinstance(x, (bool, int, float, np.number, np.bool_)):
            return True, x
    return False, None


def _host_array(data, dtype: DType | None) -> np.ndarray:
    """`data` (number, nested lists, numpy array or Tensor) as a numpy array of `dtype` (or the natural dtype:
    numpy's own for arrays, bool/default_int/default_float for Python values)."""
    if isinstance(data, Tensor):
        arr = data.numpy()
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    elif isinstance(data, (bool, int, float, list, tuple)):
        found, bad = _first_non_number(data)
        if found:  # numpy would say ValueError for ["a"] and turn [None] into nan; PyTorch: TypeError
            raise _fail(TypeError, "__init__", f"can't make a tensor from a list holding {type(bad).__name__} "
                        f"({bad!r})", "nested lists must hold only numbers (bool, int, float)")
        natural = dtype or dtypes.from_py(data)
        try:
            with np.errstate(over="ignore"):  # float16(1e5) is inf, as in PyTorch, without numpy's RuntimeWarning
                arr = np.array(data, dtype=natural.np)
        except OverflowError as e:
            raise _fail(OverflowError, "__init__", f"{e}", "pass a wider dtype, e.g. dtype=dtypes.int64") from None
        except (ValueError, TypeError) as e:
            raise _fail(ValueError, "__init__", f"can't make a tensor from this data ({e})",
                        "nested lists must be rectangular and hold only numbers") from None
    else:
        raise _fail(TypeError, "__init__", f"can't make a tensor from {type(data).__name__}",
                    "pass a Python number, nested lists, a numpy array or a Tensor")
    if dtype is not None and arr.dtype != dtype.np:
        with np.errstate(over="ignore"):
            arr = arr != 0 if dtype.is_bool else arr.astype(dtype.np)
    _to_dtype("__init__", arr.dtype)  # a clear error for dtypes we don't support (uint32, complex, ...)
    return arr
