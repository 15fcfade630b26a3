"""The reference semantics of the graph: evaluate Nodes with numpy.

This evaluator is the *oracle*: every later stage (schedule, UOps, C, CUDA) is tested by
comparing its results with `evaluate` on the same graph. So the meaning of each op is written
down here once, in plain numpy, and the README's "Evaluator semantics" table repeats it for the
backends that have to reproduce it in C.

    evaluate(roots, buffers) -> array | list of arrays

* `roots`: one Node (returns one array) or a sequence of Nodes (returns a list, same order).
* `buffers`: `{BufferRef: flat np.ndarray of shape (ref.size,) and dtype ref.dtype.np}`.
* Every result has exactly the node's `shape` and numpy dtype `node.dtype.np` (checked).

The walk is iterative over `toposort` (graphs from training loops are thousands of nodes deep,
too deep for recursion); each node is computed once, however many nodes use it, and its value is
dropped as soon as its last user has run. Each ALU and REDUCE op is one function (`apply_alu`,
`apply_reduce`) that later stages' numpy evaluators call too, so every op is defined once.

Rules that numpy leaves loose or that C does differently are pinned down here:

* Integer arithmetic wraps around like C (two's complement); numpy's overflow warnings are off.
* IDIV and MOD floor like Python/numpy (`-7 // 2 == -4`, `-7 % 2 == 1`), and by definition
  `x // 0 == 0` and `x % 0 == 0` (numpy would warn; C would crash).
* On bool, ADD/SUB/MUL compute as C does: promote to int, convert back with `!= 0`; so ADD is
  OR, SUB is XOR and MUL is AND. NEG of a bool is rejected: use XOR with True for "not".
* Float -> int CAST truncates toward zero; NaN, infinities and out-of-range values give an
  unspecified result (undefined behaviour in C), so tests never rely on them.
* bfloat16 (no numpy type) is computed in float32: a BUFFER's uint16 bits are widened exactly, every
  op's result is rounded to the nearest bfloat16 (ties to even), and the results handed back are bits
  again (`DType.np`), so they compare bit for bit with a backend's buffers (dtype.py says how).
* The evaluator is pure: ASSIGN returns the assigned value and never writes into `buffers`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from .dtype import DType, dtypes, from_storage, round_values, to_storage
from .ops import ALU, BufferRef, GraphError, Node, Ops, reduce_identity
from .walk import toposort


class EvaluateError(GraphError):
    """The graph can't be evaluated: a missing or malformed buffer, or a node that breaks the IR's rules."""


def evaluate(roots: Node | Sequence[Node], buffers: Mapping[BufferRef, np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """Compute the value of `roots` with numpy (see the module docstring for the exact semantics)."""
    single = isinstance(roots, Node)
    root_list = [roots] if single else list(roots)
    order = toposort(root_list)
    values: dict[int, np.ndarray] = {}  # keyed by id(): `order` keeps every node alive meanwhile
    users_left = Counter(id(s) for n in order for s in n.src)
    keep = {id(r) for r in root_list}
    with np.errstate(all="ignore"):  # wrap-around, 1/0 = inf, log2(-1) = nan are defined results here
        for node in order:
            out = np.asarray(_evaluate_node(node, [values[id(s)] for s in node.src], buffers))
            _check_result(node, out)
            values[id(node)] = out
            for s in node.src:  # free what no later node needs: long graphs stay within memory
                users_left[id(s)] -= 1
                if users_left[id(s)] == 0 and id(s) not in keep:
                    del values[id(s)]
    # Copy: results may be views of a buffer or read-only broadcasts; callers own what they get. bfloat16 values
    # go back to their memory's form (bits), so that every result has the dtype `node.dtype.np`.
    results = [np.array(to_storage(values[id(r)], r.dtype)) for r in root_list]
    return results[0] if single else results


def _evaluate_node(node: Node, src: list[np.ndarray], buffers: Mapping[BufferRef, np.ndarray]) -> np.ndarray:
    op = node.op
    if op is Ops.BUFFER:
        return _read_buffer(node, buffers)
    if op is Ops.CONST:
        return np.array(node.arg, dtype=node.dtype.value_np)  # the arg is already rounded to the dtype
    if op in ALU:
        return apply_alu(op, node.dtype, src)
    if op is Ops.REDUCE:
        return apply_reduce(node.arg[0], node.arg[1], node.dtype, src[0])
    if op in _MOVEMENT:
        return _MOVEMENT[op](src[0], node.arg)
    if op in (Ops.CONTIGUOUS, Ops.COPY):
        return np.array(src[0])  # a copy: in one evaluator's memory, a copy between devices is a copy too
    if op is Ops.ASSIGN:
        return src[1]  # pure: the new value of the target, without writing anywhere
    raise EvaluateError(f"evaluate: no rule for {op!r} in {node!r}")


# ---- leaves --------------------------------------------------------------------------------

def _read_buffer(node: Node, buffers: Mapping[BufferRef, np.ndarray]) -> np.ndarray:
    """A BUFFER node reads its flat array as a row-major array of the node's shape."""
    ref: BufferRef = node.arg
    if ref not in buffers:
        raise EvaluateError(f"BUFFER {ref!r} has no value: pass buffers={{ref: np.ndarray of shape ({ref.size},) "
                            f"and dtype {ref.dtype.np_name}}}")
    flat = np.asarray(buffers[ref])
    if flat.shape != (ref.size,) or flat.dtype != ref.dtype.np:
        raise EvaluateError(f"BUFFER {ref!r} got an array of shape {flat.shape} and dtype {flat.dtype}; expected a "
                            f"flat array of shape ({ref.size},) and dtype {ref.dtype.np_name} (use .reshape(-1) "
                            f"and .astype(np.{ref.dtype.np_name}))")
    return from_storage(flat, ref.dtype).reshape(node.shape)  # bfloat16: its bits widened to float32


# ---- ALU -----------------------------------------------------------------------------------

def _recip(x: np.ndarray) -> np.ndarray:
    """1/x in x's float dtype; 1/0 is inf (IEEE)."""
    return np.reciprocal(x)


_UNARY = {
    Ops.NEG: np.negative,  # ints wrap: -(-128) == -128 in int8
    Ops.RECIP: _recip,
    Ops.SQRT: np.sqrt,  # sqrt(negative) is nan
    Ops.EXP2: np.exp2,
    Ops.LOG2: np.log2,  # log2(0) is -inf, log2(negative) is nan
    Ops.SIN: np.sin,
    Ops.TRUNC: np.trunc,  # round toward zero, stays float
}


def _cast(x: np.ndarray, dtype: DType) -> np.ndarray:
    """numpy's astype, except that a cast to bool means `x != 0` (so NaN -> True, like C) and a cast to bfloat16
    rounds to its nearest value, ties to even (held in float32; wider values go through float32 first)."""
    return round_values(x, dtype)


def _floor_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Floor division (numpy's //) with x // 0 defined as 0."""
    zero = b == 0
    return np.where(zero, np.zeros((), a.dtype), a // np.where(zero, np.ones((), b.dtype), b))


def _floor_mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Floor modulo (numpy's %, result has the divisor's sign) with x % 0 defined as 0."""
    zero = b == 0
    return np.where(zero, np.zeros((), a.dtype), a % np.where(zero, np.ones((), b.dtype), b))


_BINARY = {
    Ops.ADD: np.add,
    Ops.SUB: np.subtract,
    Ops.MUL: np.multiply,
    Ops.DIV: np.true_divide,  # floats only; x/0 is +-inf, 0/0 is nan
    Ops.IDIV: _floor_div,
    Ops.MOD: _floor_mod,
    Ops.MAX: np.maximum,  # NaN wins: max(nan, 1) is nan
    Ops.CMPLT: np.less,  # any comparison with NaN is False ...
    Ops.CMPNE: np.not_equal,  # ... except !=, which is True
    Ops.AND: np.bitwise_and,  # logical on bool
    Ops.OR: np.bitwise_or,
    Ops.XOR: np.bitwise_xor,
}
_C_PROMOTES_BOOL = frozenset({Ops.ADD, Ops.SUB, Ops.MUL})


def apply_alu(op: Ops, dtype: DType, src: Sequence[np.ndarray]) -> np.ndarray:
    """One ALU op on numpy arrays with this module's pinned semantics; `dtype` is the result dtype
    (it matters only for CAST). Later stages' evaluators call this, so each op is defined once."""
    if op is Ops.CAST:
        return _cast(src[0], dtype)
    if op in _UNARY:
        if src[0].dtype == np.bool_ and op is Ops.NEG:
            raise EvaluateError("NEG of a bool is not defined; for logical not use XOR with a True constant")
        out = _UNARY[op](src[0])
    elif op in _BINARY:
        out = _binary(op, src[0], src[1])
    elif op is Ops.WHERE:
        out = np.where(src[0], src[1], src[2])
    else:
        raise EvaluateError(f"apply_alu: {op!r} is not an ALU op")
    return round_values(out, dtype) if dtype == dtypes.bfloat16 else out  # computed in float32, rounded back


def _binary(op: Ops, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype == np.bool_ and op in _C_PROMOTES_BOOL:
        # C computes true - true as int 0 and stores it back into a bool as `!= 0`: do the same.
        return _BINARY[op](a.astype(np.int8), b.astype(np.int8)) != 0
    return _BINARY[op](a, b)


# ---- REDUCE --------------------------------------------------------------------------------

def apply_reduce(op: Ops, axes: tuple[int, ...], dtype: DType, x: np.ndarray) -> np.ndarray:
    """Sum or max of `x` over `axes`, keeping them with size 1 (also used by later stages' evaluators).

    Sums accumulate in `dtype` (ints wrap; on bool a sum is OR). Reducing an empty axis gives the
    identity (`reduce_identity`): 0 for ADD, the lowest value of the dtype for MAX. The input is first laid out in C
    order: numpy's float summation order follows the memory layout (a transposed view sums in
    another order), so this makes the result depend only on the values, and every evaluator that
    computes the same values gets the same bits."""
    x = np.ascontiguousarray(x)
    if op is Ops.ADD and dtype == dtypes.bfloat16:  # summed in float32 (its value type), rounded once
        return round_values(np.sum(x, axis=axes, keepdims=True, dtype=np.float32), dtype)
    if op is Ops.ADD:
        return np.sum(x, axis=axes, keepdims=True, dtype=dtype.np)
    return np.max(x, axis=axes, keepdims=True, initial=reduce_identity(Ops.MAX, dtype))


# ---- movement: numpy's own no-copy operations ---------------------------------------------

def _reshape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return x.reshape(shape)


def _permute(x: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    return np.transpose(x, order)


def _expand(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(x, shape)


def _pad(x: np.ndarray, widths: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Zeros outside (False for bool)."""
    return np.pad(x, widths) if x.ndim else x


def _shrink(x: np.ndarray, bounds: tuple[tuple[int, int], ...]) -> np.ndarray:
    return x[tuple(slice(b, e) for b, e in bounds)]


def _flip(x: np.ndarray, axes: tuple[bool, ...]) -> np.ndarray:
    return np.flip(x, axis=tuple(i for i, f in enumerate(axes) if f))


_MOVEMENT = {Ops.RESHAPE: _reshape, Ops.PERMUTE: _permute, Ops.EXPAND: _expand, Ops.PAD: _pad,
             Ops.SHRINK: _shrink, Ops.FLIP: _flip}


def _check_result(node: Node, out: np.ndarray) -> None:
    """A node built by hand (not with ops.py's constructors) can claim a shape or dtype its op doesn't make."""
    if out.shape != node.shape or out.dtype != node.dtype.value_np:
        raise EvaluateError(f"{node!r} claims shape {node.shape} and dtype {node.dtype.np_name}, but evaluating "
                            f"{node.op.name} on its sources gives shape {out.shape} and dtype {out.dtype}; "
                            f"build nodes with the constructors in shrimpgrad.graph.ops")
