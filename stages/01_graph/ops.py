"""The stage-01 IR: a lazy graph of frozen, hashable `Node`s.

A `Node` is `(op, src, dtype, shape, arg)`:

* leaves:    BUFFER (arg: a `BufferRef`, the memory holding a realized value) and
             CONST (arg: a Python scalar; shape `()`, broadcast with RESHAPE + EXPAND)
* ALU:       unary / binary / ternary elementwise ops; all sources have the node's shape
* REDUCE:    arg `(Ops.ADD | Ops.MAX, axes)`; reduced axes keep size 1 (keepdim)
* movement:  RESHAPE, PERMUTE, EXPAND, PAD, SHRINK, FLIP; arg says how (see `movement`)
* memory:    CONTIGUOUS (materialize this value), ASSIGN (write src[1] into the buffer of src[0]) and
             COPY (the same value on another device; arg `(from_device, to_device)`)

Nodes are built with the small constructors at the bottom (`buffer`, `const`, `alu`,
`reduce`, `movement`, ...), which infer dtype and shape and check the invariants, so a
hand-built graph is as valid as one built by the Tensor front end.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any

import numpy as np

from .dtype import DType, dtypes, round_values
from .walk import toposort


class Ops(Enum):
    # leaves
    BUFFER = auto()
    CONST = auto()
    # unary ALU
    NEG = auto()
    RECIP = auto()
    SQRT = auto()
    EXP2 = auto()
    LOG2 = auto()
    SIN = auto()
    TRUNC = auto()  # round toward zero, float -> float
    CAST = auto()  # arg: the target DType
    # binary ALU
    ADD = auto()
    SUB = auto()
    MUL = auto()
    DIV = auto()  # true division, floats only
    IDIV = auto()  # floor division (numpy's //), ints only
    MOD = auto()  # floor modulo (numpy's %), ints only
    MAX = auto()  # NaN-propagating, like numpy.maximum
    CMPLT = auto()  # a < b -> bool
    CMPNE = auto()  # a != b -> bool
    AND = auto()  # bitwise / logical and (ints, bool)
    OR = auto()
    XOR = auto()
    # ternary ALU
    WHERE = auto()  # where(cond: bool, a, b)
    # reduce
    REDUCE = auto()  # arg: (Ops.ADD | Ops.MAX, axes)
    # movement (no copies: they become Views)
    RESHAPE = auto()  # arg: new shape
    PERMUTE = auto()  # arg: axis order
    EXPAND = auto()  # arg: new shape (only size-1 axes grow)
    PAD = auto()  # arg: ((before, after), ...) per axis, zeros outside
    SHRINK = auto()  # arg: ((start, end), ...) per axis
    FLIP = auto()  # arg: tuple of bools, one per axis
    # memory
    CONTIGUOUS = auto()  # force this value into its own buffer
    ASSIGN = auto()  # src: (target BUFFER-backed node, value); arg: write id; result is the target's new value
    COPY = auto()  # arg: (from_device, to_device); the same value, in memory of another device

    # Members are singletons and compare by identity, so the identity hash agrees with ==. Enum's own __hash__ is
    # a Python function (hash of the name), called for every Node made (a node's hash includes its op) and every
    # lookup keyed by an op: thousands of calls per training step.
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"Ops.{self.name}"


UNARY = frozenset({Ops.NEG, Ops.RECIP, Ops.SQRT, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.TRUNC, Ops.CAST})
BINARY = frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.DIV, Ops.IDIV, Ops.MOD, Ops.MAX, Ops.CMPLT, Ops.CMPNE,
                    Ops.AND, Ops.OR, Ops.XOR})
TERNARY = frozenset({Ops.WHERE})
ALU = UNARY | BINARY | TERNARY
MOVEMENT = frozenset({Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.PAD, Ops.SHRINK, Ops.FLIP})
LEAVES = frozenset({Ops.BUFFER, Ops.CONST})
REDUCE_OPS = frozenset({Ops.ADD, Ops.MAX})  # the ops a REDUCE may combine with
COMPARISONS = frozenset({Ops.CMPLT, Ops.CMPNE})
FLOAT_ONLY = frozenset({Ops.RECIP, Ops.SQRT, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.TRUNC, Ops.DIV})
INT_ONLY = frozenset({Ops.IDIV, Ops.MOD})
INT_OR_BOOL_ONLY = frozenset({Ops.AND, Ops.OR, Ops.XOR})
_ARITY = {**dict.fromkeys(UNARY, 1), **dict.fromkeys(BINARY, 2), **dict.fromkeys(TERNARY, 3)}  # of each ALU op


class GraphError(ValueError):
    """An invalid graph construction (bad shape, dtype or argument for an op)."""


_buffer_ids = itertools.count()


@dataclass(frozen=True, eq=False, init=False)
class BufferRef:
    """Names a flat piece of memory of `size` elements of `dtype`.

    Compared by identity: two buffers are the same buffer only if they are the same object.
    The memory itself lives in a device runtime (numpy array, C pointer, CUDA allocation);
    evaluators take a mapping `BufferRef -> np.ndarray` for the values."""

    size: int
    dtype: DType
    id: int = field(default_factory=lambda: next(_buffer_ids))

    def __init__(self, size: int, dtype: DType, id: int | None = None):  # noqa: A002 - the field's name
        # written out as Node's is (a realize and a JIT replay make their fresh buffers' refs every time)
        self.__dict__.update(size=size, dtype=dtype, id=next(_buffer_ids) if id is None else id)

    def __repr__(self) -> str:
        return f"BufferRef(id={self.id}, size={self.size}, dtype={self.dtype!r})"


@dataclass(frozen=True, init=False)
class Provenance:
    """Where a node came from: the user's file:line and the Tensor method. Not part of equality."""

    file: str
    line: int
    method: str

    def __init__(self, file: str, line: int, method: str):  # written out as Node's is: one per op and per gradient
        self.__dict__.update(file=file, line=line, method=method)

    def __str__(self) -> str:
        return f"{self.method} at {self.file}:{self.line}"

    @property
    def short(self) -> str:
        """`relu at train.py:12`: the file without its folder, as generated-code comments write it."""
        return f"{self.method} at {os.path.basename(self.file)}:{self.line}"


def merge_origins(*groups) -> tuple[Provenance, ...]:
    """The provenance of everything fused into one thing, each once, in order; None (no provenance) is skipped.
    A group is a Provenance, None or an iterable of them (a node's `meta`, another IR node's `origins`)."""
    out: dict[Provenance, None] = {}
    for g in groups:
        if g is None:
            continue
        if isinstance(g, Provenance):
            out[g] = None
        else:
            out.update(dict.fromkeys(p for p in g if p is not None))
    return tuple(out)


@dataclass(frozen=True, eq=False, init=False)
class Node:
    op: Ops
    src: tuple[Node, ...]
    dtype: DType
    shape: tuple[int, ...]
    arg: Any = None
    meta: Provenance | None = field(default=None, compare=False, repr=False)

    # The hash-caching idiom of every frozen IR node (README, "Hashing IR nodes"). Hashing a deep graph
    # field by field would walk the whole graph (and recurse as deep as it is) each time. Sources are
    # built before their users and already know their hash, so computing it once at construction costs
    # O(len(src)).
    # The constructor is written out (init=False) because a training step makes hundreds of nodes: the generated
    # frozen one sets each field with object.__setattr__ and then calls __post_init__; filling the instance's dict
    # at once does the same in about half the time. (dataclasses.replace still works: it calls this with every field.)
    def __init__(self, op: Ops, src: tuple[Node, ...], dtype: DType, shape: tuple[int, ...], arg: Any = None,
                 meta: Provenance | None = None):
        self.__dict__.update(op=op, src=src, dtype=dtype, shape=shape, arg=arg, meta=meta,
                             _hash=hash((op, src, dtype, shape, arg)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        # Structural equality, but cheap to refute: identical objects and different hashes answer at once.
        if self is other:
            return True
        if not isinstance(other, Node) or self._hash != other._hash:
            return False
        return (self.op, self.dtype, self.shape, self.arg, self.src) == (other.op, other.dtype, other.shape, other.arg,
                                                                          other.src)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def toposort(self) -> list[Node]:
        """All nodes reachable from self, every node after its sources (iterative: deep graphs are fine)."""
        return toposort([self])

    def __repr__(self) -> str:
        arg = "" if self.arg is None else f", arg={self.arg!r}"
        return f"Node({self.op!r}, dtype={self.dtype!r}, shape={self.shape}{arg}, src=<{len(self.src)}>)"


def rewrite(roots: list[Node], fn: Callable[[Node], Node]) -> list[Node]:
    """roots with every node, sources first, replaced by `fn(node)`, where `node` already has its rewritten
    sources. A node whose sources all came back unchanged is passed as it is, so untouched parts of the graph
    keep their objects (and whatever is remembered about them)."""
    new: dict[int, Node] = {}
    for n in toposort(roots):
        src = tuple([new[id(s)] for s in n.src])
        new[id(n)] = fn(n if all(map(operator.is_, src, n.src)) else dataclasses.replace(n, src=src))
    return [new[id(r)] for r in roots]


# ---------------------------------------------------------------------------------------
# Constructors: infer dtype and shape, check the invariants, raise GraphError when broken.
# ---------------------------------------------------------------------------------------

def buffer(ref: BufferRef, shape: tuple[int, ...], meta: Provenance | None = None) -> Node:
    """A leaf reading `ref` as a contiguous (row-major) array of `shape`."""
    shape = tuple(map(int, shape))
    if math.prod(shape) != ref.size:
        raise GraphError(f"BUFFER: shape {shape} has {math.prod(shape)} elements but the buffer holds {ref.size}")
    return Node(Ops.BUFFER, (), ref.dtype, shape, ref, meta)


def const(value, dtype: DType, meta: Provenance | None = None) -> Node:
    """A scalar leaf of shape (). Broadcast it with movement(RESHAPE) and movement(EXPAND)."""
    return Node(Ops.CONST, (), dtype, (), cast_scalar(value, dtype), meta)


def cast_scalar(value, dtype: DType):
    """A Python scalar converted the way a cast to `dtype` converts it (wraps ints, keeps NaN)."""
    if dtype.is_bool:
        return bool(value)
    if dtype.is_int:
        if isinstance(value, float) and not math.isfinite(value):
            return 0  # like C, the result is unspecified; we pick 0 rather than crash
        return int(np.array(int(value)).astype(dtype.np))  # wraps around like a C cast
    if isinstance(value, float) and dtype is dtypes.float64:
        return float(value)  # a Python float is a float64 already (float(): a numpy float64 is a float too)
    if isinstance(value, float) and dtype is dtypes.float32:
        return float(np.float32(value))  # the same rounding (and overflow warning) as astype, 5x faster per constant
    return float(round_values(np.array(value, dtype=np.float64), dtype))  # bfloat16: to nearest, ties to even


def alu(op: Ops, *src: Node, dtype: DType | None = None, meta: Provenance | None = None) -> Node:
    """An elementwise op. Sources must already share one shape (the front end broadcasts).

    Binary/ternary value sources must share a dtype (the front end casts); comparisons give bool;
    CAST takes its target `dtype`."""
    arity = _ARITY.get(op)
    if arity is None:
        raise GraphError(f"{op.name} is not an ALU op")
    if len(src) != arity:
        raise GraphError(f"{op.name} takes {arity} source(s), got {len(src)}")
    # (loops, not any() over a generator: every op of every graph and every gradient passes here)
    shape = src[0].shape
    for s in src[1:]:
        if s.shape != shape:
            raise GraphError(f"{op.name}: sources have different shapes {[s.shape for s in src]}; broadcast them "
                             "first")
    values = src[1:] if op is Ops.WHERE else src
    if op is Ops.WHERE and not src[0].dtype.is_bool:
        raise GraphError(f"WHERE: the condition must be bool, got {src[0].dtype!r}")
    in_dtype = values[0].dtype
    if op is not Ops.CAST:
        for s in values[1:]:
            if s.dtype is not in_dtype and s.dtype != in_dtype:
                raise GraphError(f"{op.name}: sources have different dtypes {[s.dtype for s in values]}; cast them "
                                 "first")
    if op is Ops.CAST:
        if dtype is None:
            raise GraphError("CAST needs a target dtype")
        return Node(op, src, dtype, src[0].shape, dtype, meta)
    if op in FLOAT_ONLY and not in_dtype.is_float:
        raise GraphError(f"{op.name} needs a float dtype, got {in_dtype!r}; cast first")
    if op in INT_ONLY and not in_dtype.is_int:
        raise GraphError(f"{op.name} needs an integer dtype, got {in_dtype!r}")
    if op in INT_OR_BOOL_ONLY and in_dtype.is_float:
        raise GraphError(f"{op.name} needs an integer or bool dtype, got {in_dtype!r}")
    out = dtypes.bool if op in COMPARISONS else in_dtype
    return Node(op, src, out, src[0].shape, None, meta)


def reduce_identity(op: Ops, dtype: DType):
    """The value a REDUCE of no elements gives, and where an accumulator starts: 0 for ADD; for MAX the
    lowest value of `dtype` (-inf, the smallest int, False). Every stage that reduces asks here."""
    if op not in REDUCE_OPS:
        raise GraphError(f"REDUCE combines with ADD or MAX, not {op.name}")
    if op is Ops.ADD or dtype.is_bool:
        return cast_scalar(0, dtype)
    return -math.inf if dtype.is_float else int(np.iinfo(dtype.np).min)


def reduce(src: Node, op: Ops, axes: tuple[int, ...], meta: Provenance | None = None) -> Node:
    """Combine `src` over `axes` with ADD or MAX. Reduced axes stay, with size 1."""
    if op not in REDUCE_OPS:
        raise GraphError(f"REDUCE combines with ADD or MAX, not {op.name}")
    axes = tuple(sorted(set(map(int, axes))))
    if axes and (axes[0] < 0 or axes[-1] >= src.ndim):  # sorted: the first and the last are the ones to check
        raise GraphError(f"REDUCE: axes {axes} out of range for shape {src.shape}")
    shape = tuple(1 if i in axes else s for i, s in enumerate(src.shape))
    return Node(Ops.REDUCE, (src,), src.dtype, shape, (op, axes), meta)


def movement(op: Ops, src: Node, arg: tuple, meta: Provenance | None = None) -> Node:
    """A movement op; checks `arg` against `src.shape` and computes the new shape."""
    shape = movement_shape(op, src.shape, arg)
    return Node(op, (src,), src.dtype, shape, tuple(arg), meta)


def movement_shape(op: Ops, shape: tuple[int, ...], arg: tuple) -> tuple[int, ...]:
    """The shape after a movement op, or GraphError naming what is wrong."""
    n = len(shape)
    if op is Ops.RESHAPE:
        new = tuple(map(int, arg))
        if (new and min(new) < 0) or math.prod(new) != math.prod(shape):
            raise GraphError(f"RESHAPE: can't reshape {shape} ({math.prod(shape)} elements) to {new}")
        return new
    if op is Ops.PERMUTE:
        if sorted(arg) != list(range(n)):
            raise GraphError(f"PERMUTE: {tuple(arg)} is not a permutation of the {n} axes of {shape}")
        return tuple(shape[a] for a in arg)
    if op is Ops.EXPAND:
        new = tuple(map(int, arg))
        if len(new) != n or any(s != t and s != 1 for s, t in zip(shape, new)):
            raise GraphError(f"EXPAND: can't expand {shape} to {new}: only size-1 axes can grow")
        return new
    if op is Ops.PAD:
        if len(arg) != n or any(b < 0 or a < 0 for b, a in arg):
            raise GraphError(f"PAD: need one non-negative (before, after) per axis of {shape}, got {tuple(arg)}")
        return tuple(s + b + a for s, (b, a) in zip(shape, arg))
    if op is Ops.SHRINK:
        if len(arg) != n or any(not 0 <= b <= e <= s for s, (b, e) in zip(shape, arg)):
            raise GraphError(f"SHRINK: need one (start, end) with 0 <= start <= end <= size per axis of {shape}, "
                             f"got {tuple(arg)}")
        return tuple(e - b for b, e in arg)
    if op is Ops.FLIP:
        if len(arg) != n:
            raise GraphError(f"FLIP: need one bool per axis of {shape}, got {tuple(arg)}")
        return shape
    raise GraphError(f"{op.name} is not a movement op")


def contiguous(src: Node, meta: Provenance | None = None) -> Node:
    return Node(Ops.CONTIGUOUS, (src,), src.dtype, src.shape, None, meta)


def copy(src: Node, from_device: str, to_device: str, meta: Provenance | None = None) -> Node:
    """`src`'s value (computed on `from_device`) moved into memory of `to_device`. Devices are plain names here:
    the graph only records the move; a runtime decides how memory is copied."""
    if not (isinstance(from_device, str) and isinstance(to_device, str)):
        raise GraphError(f"COPY: devices must be names (str), got {from_device!r} -> {to_device!r}")
    return Node(Ops.COPY, (src,), src.dtype, src.shape, (from_device, to_device), meta)


_write_ids = itertools.count()


def assign(target: Node, value: Node, meta: Provenance | None = None, write_id: int | None = None) -> Node:
    """Write `value` into the buffer behind `target` (a BUFFER node, or an earlier ASSIGN to the same buffer,
    possibly seen through movement ops).

    arg is a number unique to this write: two `w.assign(w + 1)` calls are two writes even when their graphs
    look the same, so a runtime can tell a write it already did from a new one (pass `write_id` only to rebuild
    an existing ASSIGN)."""
    if target.shape != value.shape or target.dtype != value.dtype:
        raise GraphError(f"ASSIGN: target is {target.shape} {target.dtype!r}, value is {value.shape} {value.dtype!r}")
    arg = next(_write_ids) if write_id is None else write_id
    return Node(Ops.ASSIGN, (target, value), target.dtype, target.shape, arg, meta)


def broadcast_const(value, dtype: DType, shape: tuple[int, ...], meta: Provenance | None = None) -> Node:
    """A constant of any shape: CONST -> RESHAPE to all-ones -> EXPAND (no memory is used)."""
    c = const(value, dtype, meta)
    if not shape:
        return c
    return movement(Ops.EXPAND, movement(Ops.RESHAPE, c, (1,) * len(shape), meta), shape, meta)
