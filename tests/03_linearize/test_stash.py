"""STASH (stash.py): a row kernel's sum loop stores the values it sums into the output row and the store loop reads
them back. It changes where a value comes from, never the value: on and off give the same bits (the interpreter
here; stage 04's test_stash.py compiles the C)."""

import numpy as np
import pytest

from shrimpgrad.graph import BufferRef, Ops, alu, buffer, dtypes, evaluate, movement, reduce
from shrimpgrad.linearize import LinearizeError, Opt, OptError, OptKind, UOps, interpret, linearize
from shrimpgrad.linearize.lower import row_phases
from shrimpgrad.linearize.stash import stash_candidates
from shrimpgrad.schedule import create_schedule

F32 = dtypes.float32


def softmax_graph(shape, axis=1, dtype=F32):
    """exp2(x - max) / sum(exp2(x - max)) along `axis` (what Tensor.softmax builds, without its log2(e))."""
    x = buffer(BufferRef(int(np.prod(shape)), dtype), shape)
    v = x if dtype == F32 else alu(Ops.CAST, x, dtype=F32)
    e = alu(Ops.EXP2, alu(Ops.SUB, v, movement(Ops.EXPAND, reduce(v, Ops.MAX, (axis,)), shape)))
    out = alu(Ops.DIV, e, movement(Ops.EXPAND, reduce(e, Ops.ADD, (axis,)), shape))
    return x, out if dtype == F32 else alu(Ops.CAST, out, dtype=dtype)


def log_softmax_graph(shape):
    x = buffer(BufferRef(int(np.prod(shape)), F32), shape)
    m = alu(Ops.SUB, x, movement(Ops.EXPAND, reduce(x, Ops.MAX, (1,)), shape))
    return x, alu(Ops.SUB, m, movement(Ops.EXPAND, alu(Ops.LOG2, reduce(alu(Ops.EXP2, m), Ops.ADD, (1,))), shape))


def one_kernel(out):
    (kernel,) = create_schedule([out]).kernels
    return kernel


def run(kernel, x: np.ndarray, opts) -> np.ndarray:
    result = np.zeros(kernel.bufs[0].size, kernel.bufs[0].dtype.np)
    interpret(linearize(kernel, opts), [result, x.ravel()])
    return result


def stash(kernel):
    return Opt(OptKind.STASH, kernel.reduce_axes[-1], 1)


SPECIAL_ROWS = {
    "nan": [1.0, np.nan, 2.0, 3.0, -1.0, 0.5, 0.25],
    "inf": [1.0, np.inf, 2.0, 3.0, -1.0, 0.5, 0.25],
    "-inf": [1.0, -np.inf, 2.0, 3.0, -1.0, 0.5, 0.25],
    "all -inf": [-np.inf] * 7,
    "all equal": [3.5] * 7,
    "tiny": [1e-38, -1e-38, 1e-45, 0.0, -0.0, 1e-30, 2e-38],
    "huge": [3e38, -3e38, 1e38, 2e38, -1e38, 3.4e38, 0.0],
    "zeros": [0.0, -0.0, 0.0, -0.0, 0.0, 0.0, -0.0],
}


@pytest.mark.parametrize("shape", [(1, 3), (3, 7), (4, 33), (2, 64), (5, 96)])
@pytest.mark.parametrize("group", [None, 2, 4, 32])
def test_softmax_same_bits_with_and_without_stash(shape, group):
    x, out = softmax_graph(shape)
    kernel = one_kernel(out)
    if group is not None and shape[1] % group:
        pytest.skip("the GROUP_SUMS amount must divide the row")
    base = (Opt(OptKind.GROUP_SUMS, 1, group),) if group else ()
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 4
    with_stash = run(kernel, data, (*base, stash(kernel)))
    np.testing.assert_array_equal(with_stash, run(kernel, data, base))
    np.testing.assert_allclose(with_stash.reshape(shape), evaluate(out, {x.arg: data.ravel()}), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("row", list(SPECIAL_ROWS))
def test_special_rows_same_bits(row):
    values = np.array(SPECIAL_ROWS[row], np.float32)
    data = np.stack([values, values[::-1], np.linspace(-3, 3, 7, dtype=np.float32)])
    x, out = softmax_graph(data.shape)
    kernel = one_kernel(out)
    for base in [(), (Opt(OptKind.UPCAST, 0, 3),)]:
        np.testing.assert_array_equal(run(kernel, data, (*base, stash(kernel))), run(kernel, data, base))


def test_the_store_loop_computes_no_exp2():
    x, out = softmax_graph((4, 64))
    kernel = one_kernel(out)
    plain = linearize(kernel, (Opt(OptKind.GROUP_SUMS, 1, 8),))
    stashed = linearize(kernel, (Opt(OptKind.GROUP_SUMS, 1, 8), stash(kernel)))
    exp2s = [sum(u.op is UOps.ALU and u.arg is Ops.EXP2 for u in p.uops) for p in (plain, stashed)]
    assert exp2s == [9, 8]  # 8 lanes of the sum, plus one in the store loop without STASH
    stores = [u for u in stashed.uops if u.op is UOps.STORE]
    assert len(stores) == 9 and all(u.src[0].arg[0] == 0 for u in stores)  # 8 stashes + the store, into data0
    assert any(u.op is UOps.LOAD and u.src[0].arg[0] == 0 for u in stashed.uops)  # read back
    assert stashed.applied_opts[-1] == "STASH(axis=1, amount=1)"


def test_softmax_along_axis_0():
    x, out = softmax_graph((12, 5), axis=0)
    kernel = one_kernel(out)
    data = np.random.default_rng(1).standard_normal((12, 5)).astype(np.float32)
    assert stash_candidates(kernel, row_phases(kernel))
    np.testing.assert_array_equal(run(kernel, data, (stash(kernel),)), run(kernel, data, ()))
    np.testing.assert_array_equal(run(kernel, data, (Opt(OptKind.GROUP_SUMS, 0, 4), stash(kernel))),
                                  run(kernel, data, (Opt(OptKind.GROUP_SUMS, 0, 4),)))


def test_log_softmax_has_nothing_to_stash():
    """Its store reads x - max, not the exp2 it sums: the exp2 is computed once already."""
    _, out = log_softmax_graph((3, 8))
    kernel = one_kernel(out)
    assert stash_candidates(kernel, row_phases(kernel)) == {}
    data = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_array_equal(run(kernel, data, (stash(kernel),)), run(kernel, data, ()))


def test_float16_output_has_nothing_to_stash():
    """Softmax of float16 computes in float32 and casts: a stash in the float16 output would round e."""
    _, out = softmax_graph((3, 8), dtype=dtypes.float16)
    kernel = one_kernel(out)
    assert stash_candidates(kernel, row_phases(kernel)) == {}


def test_stash_is_a_cpu_opt():
    _, out = softmax_graph((4, 8))
    kernel = one_kernel(out)
    with pytest.raises(LinearizeError, match="CPU opt"):
        linearize(kernel, (stash(kernel),), gpu=True)


def test_stash_needs_a_row_kernel_a_reduced_axis_and_no_overlapping_tiles():
    x = buffer(BufferRef(32, F32), (4, 8))
    with pytest.raises(OptError, match="row kernel"):
        linearize(one_kernel(reduce(x, Ops.ADD, (1,))), (Opt(OptKind.STASH, 1, 1),))
    _, out = softmax_graph((30, 8))
    kernel = one_kernel(out)
    with pytest.raises(OptError, match="reduced axis"):
        linearize(kernel, (Opt(OptKind.STASH, 0, 1),))
    with pytest.raises(OptError, match="UPCAST_OVERLAP"):
        linearize(kernel, (Opt(OptKind.UPCAST_OVERLAP, 0, 16), stash(kernel)))
    with pytest.raises(OptError, match="STASH"):
        linearize(kernel, (stash(kernel), Opt(OptKind.UPCAST_OVERLAP, 0, 16)))
