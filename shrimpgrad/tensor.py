"""The `Tensor`: tinygrad's public API on top of the stage-01 lazy graph.

A Tensor is a thin handle on a graph `Node` (`t.node`) plus what the graph doesn't know about:
its device, whether it needs a gradient, and its gradient. Every method builds new Nodes with the
stage-01 constructors and returns a new Tensor; nothing is computed until a value is asked for:

    x = Tensor([[1.0, 2.0], [3.0, 4.0]])   # BUFFER node (the data is copied into a buffer)
    y = (x * 2).sum(axis=1)                # MUL -> REDUCE -> RESHAPE nodes, nothing computed
    y.numpy()                              # realize: y.node becomes a BUFFER node -> [6. 14.]

The graph has few ops on purpose (stage 01's README lists them), so most methods are small
compositions of them, the way tinygrad writes its Tensor:

    exp(x) = exp2(x * log2(e))         sigmoid(x) = 1 / (1 + exp2(-x * log2(e)))
    x >= y = (x > y) | (x == y)        matmul     = broadcast multiply, then sum the last axis
    min(x) = -max(-x)                  prod       = a tree of multiplies (the graph reduces only ADD and MAX)

Semantics follow tinygrad (which follows PyTorch); broadcasting and dtype promotion follow numpy
(`shrimpgrad.graph.promote`), with Python scalars "weak" as in numpy 2 (NEP 50): `int8 + 1` stays
int8, `int32 + 1.5` becomes `dtypes.default_float`. Integers become `dtypes.default_float` where an
op needs a float (`/`, `exp`, `mean`, ...), as in tinygrad.

**The layout is tinygrad's**: this file is the core (construction, the few methods that build nodes, the
properties and the output methods); each family of methods is a mixin in its own module, whose docstring says
which core methods it needs:

    creation.py      zeros, full, arange, eye, rand, randn, the initializers, *_like
    elementwise.py   cast, + - * / ** and the other operators, exp/log/sin..., comparisons, activations
    movement.py      reshape, permute, expand, pad, shrink, flip, repeat; masks, scatter, triangles, roll
    reduce.py        sum, max, mean, var, prod, argmax, softmax, dot/matmul; all/any, scans, sort, topk
    indexing.py      t[...], t[...] = v, gather, cat, stack, split, chunk
    nn_ops.py        cumsum, one_hot, losses, einsum, attention, dropout, normalization
    conv_ops.py      conv2d, conv_transpose2d, pooling, interpolate
    lifecycle.py     requires_grad, backward, gradient, detach; assign and +=; realize
    checks.py        the error types and the shape/axis/dtype/device checks every module raises them with

Every user mistake raises at the user's call, with a message of one form, 'Tensor.<method>: <problem>; <fix>',
naming the method, the shapes and dtypes, and what would be valid (`checks._fail` formats it). Every node
remembers where it came from (`Provenance`: the user's file:line and the Tensor method), so a line of generated
code can be traced back to the line of Python that caused it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from shrimpgrad import inplace
from shrimpgrad.checks import (  # noqa: F401 - re-exported: `from shrimpgrad.tensor import ShapeError`
    _INSIDE,
    AmbiguousTruthError,
    AxisError,
    DeviceMismatchError,
    DTypeError,
    GradError,
    IndexOutOfBounds,
    OutOfMemoryError,
    Scalar,
    ShapeError,
    _axis,
    _broadcast_shape,
    _canonical_device,
    _fail,
    _is_scalar,
    _provenance,
    _to_dtype,
)
from shrimpgrad.conv_ops import ConvMixin
from shrimpgrad.creation import CreationMixin
from shrimpgrad.elementwise import ElementwiseMixin
from shrimpgrad.graph import DType, Node, Ops, alu, broadcast_const, buffer, copy, dtypes, movement, promote
from shrimpgrad.graph.dtype import PromotionError, from_storage, to_storage
from shrimpgrad.indexing import IndexingMixin
from shrimpgrad.lifecycle import _LEAVES, LifecycleMixin, _leaf_ids
from shrimpgrad.movement import MovementMixin
from shrimpgrad.nn_ops import NNOpsMixin
from shrimpgrad.realize import buffer_value, new_buffer
from shrimpgrad.reduce import ReduceMixin

_FROM_NUMPY: dict[np.dtype, DType] = {}  # numpy dtype -> ours, as dtypes.from_numpy answered it


def _dtype_of_array(values: np.ndarray) -> DType:
    """dtypes.from_numpy(values.dtype), remembered per numpy dtype: it reads numpy's `dtype.name`, which numpy
    computes in Python (~3 us, twice per `Tensor(batch)`: _host_array's check and the buffer's dtype; a training step
    makes its batch's tensors every step). An unsupported dtype raises from_numpy's error every time."""
    found = _FROM_NUMPY.get(values.dtype)
    if found is None:
        found = _FROM_NUMPY[values.dtype] = dtypes.from_numpy(values.dtype)
    return found


# ------------------------------------------------------------------------------------------------
# The dtype of an elementwise op on Python scalars (numpy 2's weak scalars)
# ------------------------------------------------------------------------------------------------


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


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """`with no_grad():` ops build no gradient information and backward() refuses to run."""
    old, Tensor.no_grad = Tensor.no_grad, True
    try:
        yield
    finally:
        Tensor.no_grad = old


# ------------------------------------------------------------------------------------------------
# Tensor: the core
# ------------------------------------------------------------------------------------------------


class Tensor(IndexingMixin, NNOpsMixin, ConvMixin, ElementwiseMixin, ReduceMixin, MovementMixin, CreationMixin,
             LifecycleMixin):
    """A lazy n-dimensional array (tinygrad's API). See the module docstring."""

    no_grad: ClassVar[bool] = False  # set by `with no_grad():`
    training: ClassVar[bool] = False  # set by `with Tensor.train():` (dropout, batchnorm)
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
            values = _host_array(data, dtype)  # bfloat16: its bits, so the dtype isn't the array's
            stored = dtype if dtype == dtypes.bfloat16 else _dtype_of_array(values)
            node = buffer(new_buffer(values, stored, device), values.shape, _provenance())
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
        # A tensor's shape and dtype are its node's, and stay so: every later node of a tensor is the same value
        # (realize's BUFFER, assign's ASSIGN or value of self's shape and dtype, a JIT replay's new buffer). Plain
        # attributes, not properties reading the node: an op asks its inputs' several times (~380 calls a W6 step).
        self.shape, self.dtype = node.shape, node.dtype
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

    @classmethod
    def _leaf(cls, node: Node, device, requires_grad) -> Tensor:
        """A new leaf for `node` (a creation method's result, or detach()'s copy)."""
        t = cls._from_node(node, _canonical_device(device), None)
        t._make_leaf(requires_grad)
        return t

    # ---- building nodes (every node gets the user's file:line) ------------------------------------------------

    def _wrap(self, node: Node, *others: Tensor) -> Tensor:
        """A Tensor for `node`, computed from self and `others`: it needs a gradient if any input does
        (tinygrad's rule: True if any is True, else None if any is None, else False)."""
        if Tensor.no_grad:
            return Tensor._from_node(node, self.device, False)
        rg = self._requires_grad
        for t in others:  # a loop, not a list and any(generator): every op of every step comes through here
            f = t._requires_grad
            if f is True or rg is True:
                rg = True
            elif f is None:
                rg = None
        return Tensor._from_node(node, self.device, rg)

    def _alu(self, op: Ops, *others: Tensor, dtype: DType | None = None) -> Tensor:
        return self._wrap(alu(op, self.node, *[o.node for o in others], dtype=dtype, meta=_provenance()), *others)

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
        return self._unify(method, [x, self] if reverse else [self, x])

    def _float(self) -> Tensor:
        """self, or self cast to dtypes.default_float when it isn't a float (tinygrad's rule for exp, /, ...)."""
        return self if self.dtype.is_float else self.cast(dtypes.default_float)

    def _unify(self, method: str, values: list, shape: tuple[int, ...] | None = None) -> list[Tensor]:
        """`values` (Tensors, Python scalars, lists, arrays) as Tensors of one dtype and one shape: numpy
        broadcasting (with `shape` too) and promotion, Python scalars weak (see `_weak_dtype`)."""
        items = [v if isinstance(v, Tensor) or _is_scalar(v) else Tensor(v, device=self.device) for v in values]
        for v in items:
            if isinstance(v, Tensor) and v.device != self.device:
                raise _fail(DeviceMismatchError, method, f"operands are on devices {self.device!r} and {v.device!r}",
                            f"move one with .to({self.device!r})")
        if items and shape is None and all(isinstance(v, Tensor) and v.dtype is items[0].dtype
                                           and v.shape == items[0].shape for v in items):
            return items  # Tensors of one dtype and shape already (`a * b` of a layer): nothing to promote or broadcast
        try:
            dtype = _result_dtype(items)
        except PromotionError as e:  # uint64 with a signed int: the user's call, named
            raise _fail(PromotionError, method, str(e).removeprefix("promote: ")) from None
        shapes = ([] if shape is None else [shape]) + [v.shape for v in items if isinstance(v, Tensor)]
        # one Tensor and Python scalars (`x * 2`, `lr * g`: most of a step's scalar ops): its shape is the result's
        out_shape = shapes[0] if len(shapes) == 1 else _broadcast_shape(method, *shapes)
        out = []
        for v in items:
            if isinstance(v, Tensor):  # cast and broadcast only what needs it (each is a call chain when it doesn't)
                v = v if v.dtype == dtype else v.cast(dtype)
                out.append(v if v.shape == out_shape else v._broadcast_to(out_shape))
            else:
                _check_fits(method, v, dtype)
                out.append(Tensor._constant(v, dtype, out_shape, self.device))
        return out

    # ---- modes ----

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
    # output
    # ================================================================================================

    def numpy(self) -> np.ndarray:
        """The value as a new numpy array (realizes self). bfloat16 has no numpy type: its values come as float32,
        exactly (tinygrad does the same; PyTorch refuses), and `bitcast(dtypes.uint16)` gives its bits."""
        self.realize()
        return from_storage(buffer_value(self.node.arg), self.dtype).reshape(self.shape).copy()

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
    def ndim(self) -> int:
        return len(self.shape)

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
    numpy's own for arrays, bool/default_int/default_float for Python values). bfloat16, which has no numpy type,
    comes back as its bits (uint16): the values as float32, rounded to the nearest bfloat16 (ties to even)."""
    if dtype == dtypes.bfloat16:
        return to_storage(_host_array(data, dtypes.float32), dtype)
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
    if arr.dtype not in _FROM_NUMPY:  # a clear error for dtypes we don't support (complex, ...); one seen is fine
        _FROM_NUMPY[arr.dtype] = _to_dtype("__init__", arr.dtype)
    return arr
