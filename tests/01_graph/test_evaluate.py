"""The numpy evaluator: each op's semantics pinned to hand-written numbers or to Python's integers."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shrimpgrad.graph import (
    ALL_DTYPES,
    BufferRef,
    GraphError,
    Node,
    Ops,
    alu,
    assign,
    buffer,
    cast_scalar,
    const,
    contiguous,
    dtypes,
    movement,
    reduce,
    reduce_identity,
)
from shrimpgrad.graph.evaluate import EvaluateError, evaluate


def leaf(values, dtype=None):
    """A BUFFER node holding `values`, and the buffers mapping that evaluate() needs for it."""
    arr = np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype.np)
    ref = BufferRef(arr.size, dtypes.from_numpy(arr.dtype))
    return buffer(ref, arr.shape), {ref: arr.reshape(-1).copy()}


def run(op, *arrays, dtype=None):
    """Evaluate one ALU op on numpy arrays."""
    nodes, bufs = [], {}
    for a in arrays:
        n, b = leaf(a)
        nodes.append(n)
        bufs.update(b)
    return evaluate(alu(op, *nodes, dtype=dtype), bufs)


# ---- unary --------------------------------------------------------------------------------

def test_float_unary_ops():
    x = np.array([-2.5, -0.0, 0.0, 0.25, 4.0], np.float32)
    with np.errstate(all="ignore"):
        expected = {Ops.NEG: -x, Ops.RECIP: 1 / x, Ops.SQRT: np.sqrt(x), Ops.EXP2: 2.0 ** x, Ops.LOG2: np.log2(x),
                    Ops.SIN: np.sin(x), Ops.TRUNC: np.array([-2.0, -0.0, 0.0, 0.0, 4.0], np.float32)}
    for op, want in expected.items():
        got = run(op, x)
        assert got.dtype == np.float32, op
        np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=str(op))


def test_special_float_values_are_ieee_and_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RuntimeWarnings would become errors
        assert run(Ops.RECIP, np.array([0.0], np.float32))[0] == np.inf
        assert np.isnan(run(Ops.SQRT, np.array([-1.0], np.float64))[0])
        assert run(Ops.LOG2, np.array([0.0], np.float32))[0] == -np.inf


def test_neg_wraps_for_ints_and_rejects_bool():
    np.testing.assert_array_equal(run(Ops.NEG, np.array([-128, 5], np.int8)), np.array([-128, -5], np.int8))
    np.testing.assert_array_equal(run(Ops.NEG, np.array([1, 0], np.uint8)), np.array([255, 0], np.uint8))
    with pytest.raises(EvaluateError, match="NEG of a bool"):
        run(Ops.NEG, np.array([True]))


def test_cast():
    x = np.array([-2.7, -0.5, 0.0, 0.5, 3.9, np.nan], np.float32)
    np.testing.assert_array_equal(run(Ops.CAST, x, dtype=dtypes.bool), [True, True, False, True, True, True])
    np.testing.assert_array_equal(run(Ops.CAST, x[:5], dtype=dtypes.int32), [-2, 0, 0, 0, 3])  # toward zero
    np.testing.assert_array_equal(run(Ops.CAST, np.array([300, -1], np.int32), dtype=dtypes.uint8), [44, 255])
    np.testing.assert_array_equal(run(Ops.CAST, np.array([True, False]), dtype=dtypes.float16), [1.0, 0.0])
    assert run(Ops.CAST, np.array([1.5], np.float64), dtype=dtypes.float16).dtype == np.float16


# ---- binary -------------------------------------------------------------------------------

def test_integer_division_floors_and_defines_division_by_zero():
    a = np.array([7, -7, 7, -7, 5, -5, -128, -128], np.int8)
    b = np.array([2, 2, -2, -2, 0, 0, -1, 3], np.int8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(run(Ops.IDIV, a, b), [3, -4, -4, 3, 0, 0, -128, -43])
        np.testing.assert_array_equal(run(Ops.MOD, a, b), [1, 1, -1, -1, 0, 0, 0, 1])


def test_bool_arithmetic_is_c_promotion():
    a, b = np.array([False, False, True, True]), np.array([False, True, False, True])
    np.testing.assert_array_equal(run(Ops.ADD, a, b), a | b)
    np.testing.assert_array_equal(run(Ops.SUB, a, b), a ^ b)
    np.testing.assert_array_equal(run(Ops.MUL, a, b), a & b)
    np.testing.assert_array_equal(run(Ops.MAX, a, b), a | b)
    np.testing.assert_array_equal(run(Ops.XOR, a, b), a ^ b)
    np.testing.assert_array_equal(run(Ops.CMPLT, a, b), a < b)
    assert run(Ops.ADD, a, b).dtype == np.bool_


def test_float_binary_ops_and_nan():
    a = np.array([1.0, np.nan, -3.0, 2.0], np.float32)
    b = np.array([0.0, 1.0, np.nan, 2.0], np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(run(Ops.DIV, a, b), a / b)
    np.testing.assert_array_equal(run(Ops.MAX, a, b), [1.0, np.nan, np.nan, 2.0])
    np.testing.assert_array_equal(run(Ops.CMPLT, a, b), [False, False, False, False])
    np.testing.assert_array_equal(run(Ops.CMPNE, a, b), [True, True, True, False])


INT_DTYPES = [dtypes.int8, dtypes.uint8, dtypes.int16, dtypes.int32, dtypes.int64]


def wrap(value: int, dtype) -> int:
    """A Python int reduced into `dtype`'s range the way two's complement hardware does."""
    bits = dtype.itemsize * 8
    value %= 1 << bits
    return value - (1 << bits) if not dtype.is_unsigned and value >= 1 << (bits - 1) else value


def python_int_op(op, a, b, dtype):
    """The integer ops written with Python's unbounded ints, then wrapped: an oracle independent of numpy."""
    if op is Ops.IDIV:
        return 0 if b == 0 else wrap(a // b, dtype)
    if op is Ops.MOD:
        return 0 if b == 0 else wrap(a % b, dtype)
    results = {Ops.ADD: a + b, Ops.SUB: a - b, Ops.MUL: a * b, Ops.MAX: max(a, b), Ops.AND: a & b, Ops.OR: a | b,
               Ops.XOR: a ^ b, Ops.CMPLT: a < b, Ops.CMPNE: a != b}
    r = results[op]
    return r if isinstance(r, bool) else wrap(r, dtype)


@st.composite
def int_operands(draw):
    dtype = draw(st.sampled_from(INT_DTYPES))
    info = np.iinfo(dtype.np)
    ints = st.one_of(st.integers(int(info.min), int(info.max)), st.sampled_from([0, 1, -1, int(info.min),
                                                                                  int(info.max)]))
    n = draw(st.integers(1, 6))
    a = [wrap(v, dtype) for v in draw(st.lists(ints, min_size=n, max_size=n))]
    b = [wrap(v, dtype) for v in draw(st.lists(ints, min_size=n, max_size=n))]
    return dtype, a, b


INT_BINARY = [Ops.ADD, Ops.SUB, Ops.MUL, Ops.IDIV, Ops.MOD, Ops.MAX, Ops.AND, Ops.OR, Ops.XOR, Ops.CMPLT, Ops.CMPNE]


@given(int_operands(), st.sampled_from(INT_BINARY))
def test_integer_ops_match_python_ints_wrapped(operands, op):
    dtype, a, b = operands
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = run(op, np.array(a, dtype.np), np.array(b, dtype.np))
    assert got.tolist() == [python_int_op(op, x, y, dtype) for x, y in zip(a, b)]


# ---- ternary, reduce ----------------------------------------------------------------------

def test_where():
    c = np.array([True, False, True])
    got = run(Ops.WHERE, c, np.array([1, 2, 3], np.int16), np.array([7, 8, 9], np.int16))
    np.testing.assert_array_equal(got, [1, 8, 3])
    assert got.dtype == np.int16


def test_reduce_add_keeps_axes_and_dtype():
    x = np.arange(24, dtype=np.int8).reshape(2, 3, 4) * 10  # the sums overflow int8 and wrap
    node, bufs = leaf(x)
    got = evaluate(reduce(node, Ops.ADD, (0, 2)), bufs)
    assert got.shape == (1, 3, 1) and got.dtype == np.int8
    np.testing.assert_array_equal(got, np.sum(x, axis=(0, 2), keepdims=True, dtype=np.int8))


def test_reduce_max_propagates_nan_and_empty_axis_gives_identity():
    x = np.array([[1.0, np.nan], [2.0, 3.0]], np.float32)
    node, bufs = leaf(x)
    np.testing.assert_array_equal(evaluate(reduce(node, Ops.MAX, (1,)), bufs), [[np.nan], [3.0]])
    empty, bufs = leaf(np.zeros((0, 3), np.int16))
    np.testing.assert_array_equal(evaluate(reduce(empty, Ops.MAX, (0,)), bufs), [[-32768] * 3])
    np.testing.assert_array_equal(evaluate(reduce(empty, Ops.ADD, (0,)), bufs), [[0] * 3])


# ---- movement, leaves, memory ----------------------------------------------------------------

def test_movement_ops_are_numpys():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    node, bufs = leaf(x)
    cases = [
        (Ops.RESHAPE, (3, 1, 2), x.reshape(3, 1, 2)),
        (Ops.PERMUTE, (1, 0), x.T),
        (Ops.PAD, ((1, 0), (0, 2)), np.pad(x, ((1, 0), (0, 2)))),
        (Ops.SHRINK, ((1, 2), (0, 2)), x[1:2, 0:2]),
        (Ops.FLIP, (False, True), x[:, ::-1]),
    ]
    for op, arg, want in cases:
        np.testing.assert_array_equal(evaluate(movement(op, node, arg), bufs), want, err_msg=str(op))
    row = movement(Ops.SHRINK, node, ((0, 1), (0, 3)))
    np.testing.assert_array_equal(evaluate(movement(Ops.EXPAND, row, (4, 3)), bufs), np.broadcast_to(x[:1], (4, 3)))


def test_const_and_scalar_shapes():
    c = const(3, dtypes.uint8)
    got = evaluate(c, {})
    assert got.shape == () and got.dtype == np.uint8 and got == 3
    grown = movement(Ops.EXPAND, movement(Ops.RESHAPE, c, (1, 1)), (2, 3))
    np.testing.assert_array_equal(evaluate(grown, {}), np.full((2, 3), 3, np.uint8))


def test_several_roots_and_shared_subexpressions():
    x, bufs = leaf(np.array([1.0, 2.0], np.float32))
    shared = alu(Ops.MUL, x, x)
    a, b = evaluate([shared, alu(Ops.ADD, shared, shared)], bufs)
    np.testing.assert_array_equal(a, [1.0, 4.0])
    np.testing.assert_array_equal(b, [2.0, 8.0])


def test_deep_graph_does_not_recurse():
    x, bufs = leaf(np.array([0], np.int32))
    one = movement(Ops.RESHAPE, const(1, dtypes.int32), (1,))
    node = x
    for _ in range(5000):
        node = alu(Ops.ADD, node, one)
    assert evaluate(node, bufs).tolist() == [5000]


def test_evaluator_is_pure_and_results_are_copies():
    target, bufs = leaf(np.array([1, 2, 3], np.int32))
    (ref,) = bufs
    value, more = leaf(np.array([7, 8, 9], np.int32))
    bufs.update(more)
    got = evaluate(assign(target, value), bufs)
    np.testing.assert_array_equal(got, [7, 8, 9])
    np.testing.assert_array_equal(bufs[ref], [1, 2, 3])  # ASSIGN did not write
    read = evaluate(contiguous(target), bufs)
    read[0] = 100
    assert bufs[ref][0] == 1  # the result is a copy, not a view of the buffer


def test_bad_buffers_are_clear_errors():
    ref = BufferRef(6, dtypes.float32)
    node = buffer(ref, (2, 3))
    with pytest.raises(EvaluateError, match="has no value"):
        evaluate(node, {})
    with pytest.raises(EvaluateError, match=r"flat array of shape \(6,\)"):
        evaluate(node, {ref: np.zeros((2, 3), np.float32)})
    with pytest.raises(EvaluateError, match="dtype float32"):
        evaluate(node, {ref: np.zeros(6, np.float64)})


def test_hand_built_node_with_wrong_shape_is_caught():
    x, bufs = leaf(np.zeros((2, 3), np.float32))
    bad = Node(Ops.NEG, (x,), dtypes.float32, (3, 2))  # bypasses alu(), which would infer (2, 3)
    with pytest.raises(EvaluateError, match=r"claims shape \(3, 2\)"):
        evaluate(bad, bufs)


def test_float16_results_keep_their_dtype():
    x = np.array([0.1, 1000.0], np.float16)
    got = run(Ops.MUL, x, x)
    assert got.dtype == np.float16 and math.isinf(got[1])  # 1e6 overflows half precision



@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: d.np_name)
def test_reduce_identity_is_what_reducing_nothing_gives(dtype):
    # the oracle is numpy itself: a sum over an empty axis, and the identity of maximum (with -inf/min as initial)
    empty = np.zeros((0,), dtype=dtype.np)
    assert reduce_identity(Ops.ADD, dtype) == np.sum(empty, dtype=dtype.np).item()
    lowest = -np.inf if dtype.is_float else False if dtype.is_bool else np.iinfo(dtype.np).min
    assert reduce_identity(Ops.MAX, dtype) == lowest
    for op in (Ops.ADD, Ops.MAX):
        x, bufs = leaf(empty.reshape(2, 0))
        assert evaluate(reduce(x, op, (1,)), bufs).tolist() == [[reduce_identity(op, dtype)]] * 2
    assert type(reduce_identity(Ops.MAX, dtype)) is type(cast_scalar(0, dtype))  # a Python scalar of the dtype's kind
    with pytest.raises(GraphError, match="ADD or MAX, not MUL"):
        reduce_identity(Ops.MUL, dtype)
