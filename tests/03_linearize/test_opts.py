"""Optimizations: each one on or off gives the same results; what each one does to the program; errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import kernels, opts_for, run_program

from shrimpgrad.graph import BufferRef, Ops, ShapeTracker, dtypes
from shrimpgrad.linearize import (
    LoopKind,
    Opt,
    OptError,
    OptKind,
    UOps,
    apply_opts,
    default_opts,
    interpret,
    linearize,
)
from shrimpgrad.linearize.viz import format_program
from shrimpgrad.schedule import Kernel, KNode, KOps

F32, I32 = dtypes.float32, dtypes.int32
UPCAST, LOCAL, GROUP = OptKind.UPCAST, OptKind.LOCAL, OptKind.GROUP


def reorders_reduction(kernel, opts) -> bool:
    """Whether the opts change the order in which a reduction combines its elements (opts.py docstring):
    GROUP always does; UNROLL lanes of one reduce axis run after the REDUCE loop of a later reduce axis."""
    plan = apply_opts(kernel, opts)
    if plan.lanes(LoopKind.GROUP):
        return True
    unrolled = [a for a, ps in enumerate(plan.parts) if any(p.kind is LoopKind.UNROLL for p in ps)]
    looped = [a for a, ps in enumerate(plan.parts) if any(p.kind is LoopKind.REDUCE for p in ps)]
    return any(b > a for a in unrolled for b in looped)


@given(st.data())
def test_every_optimization_on_or_off_gives_the_same_results(data):
    dtype = data.draw(st.sampled_from([F32, I32]))
    k, arrays = data.draw(kernels(dtype))
    gpu = data.draw(st.booleans())
    opts = data.draw(opts_for(k, gpu))
    plain = run_program(linearize(k), k, arrays)
    optimized = run_program(linearize(k, opts, gpu), k, arrays)
    for a, b in zip(plain, optimized):
        if dtype.is_float and reorders_reduction(k, opts):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(a, b)


@given(st.data())
def test_each_single_optimization_alone(data):
    k, arrays = data.draw(kernels(I32))
    opts = data.draw(opts_for(k, max_opts=1))
    p = linearize(k, opts)
    assert p.applied_opts == tuple(str(o) for o in opts)
    assert all(o in format_program(p) for o in p.applied_opts)
    for a, b in zip(run_program(linearize(k), k, arrays), run_program(p, k, arrays)):
        np.testing.assert_array_equal(a, b)


def matmul(m=4, n=4, kk=8):
    """out[i, j] = sum_k a[i, k] * b[k, j] as a hand-built kernel over loops (m, n, kk)."""
    a, b, out = BufferRef(m * kk, F32), BufferRef(kk * n, F32), BufferRef(m * n, F32)
    a_st = ShapeTracker.from_shape((m, 1, kk)).expand((m, n, kk))
    b_st = ShapeTracker.from_shape((kk, n)).permute((1, 0)).reshape((1, n, kk)).expand((m, n, kk))
    mul = KNode(KOps.ALU, (KNode(KOps.LOAD, (), F32, (1, a_st)), KNode(KOps.LOAD, (), F32, (2, b_st))), F32, Ops.MUL)
    r = KNode(KOps.REDUCE, (mul,), F32, (Ops.ADD, (2,)))
    store = KNode(KOps.STORE, (r,), F32, (0, ShapeTracker.from_shape((m, n, 1))))
    return Kernel("matmul", KNode(KOps.SINK, (store,), F32), (out, a, b))


def run_matmul(p, m=4, n=4, kk=8):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, kk)).astype(np.float32), rng.standard_normal((kk, n)).astype(np.float32)
    out = np.zeros(m * n, np.float32)
    interpret(p, [out, a.reshape(-1), b.reshape(-1)])
    return out.reshape(m, n), a @ b


def count(p, op):
    return sum(u.op is op for u in p.uops)


def test_upcast_of_output_axes_shares_loads_between_lanes():
    # a 2x2 register tile: 4 accumulators, and per k only 2 loads of a and 2 of b (not 8)
    p = linearize(matmul(), (Opt(UPCAST, 0, 2), Opt(UPCAST, 1, 2)))
    assert count(p, UOps.DEFINE_ACC) == 4 and count(p, UOps.STORE) == 4 and count(p, UOps.LOAD) == 4
    got, want = run_matmul(p)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_upcast_overlap_covers_an_axis_its_lanes_do_not_divide_with_equally_spaced_tiles():
    from shrimpgrad.linearize.opts import overlap_tiles

    assert overlap_tiles(30, 16) == (2, 14) and overlap_tiles(26, 16) == (2, 10) and overlap_tiles(32, 16) == (2, 16)
    assert overlap_tiles(7, 3) == (3, 2) and overlap_tiles(16, 16) is None and overlap_tiles(54, 16) == (20, 2)
    # a row of 6 outputs in tiles of 4 lanes: at 0 and 2 (outputs 2 and 3 computed by both tiles, stored twice)
    plan = apply_opts(matmul(3, 6, 4), (Opt(OptKind.UPCAST_OVERLAP, 1, 4),))
    assert [str(p) for p in plan.parts[1]] == ["gidx0:2", "up0:4"] and plan.parts[1][1].step == 2
    p = linearize(matmul(3, 6, 4), (Opt(OptKind.UPCAST_OVERLAP, 1, 4),))
    assert p.applied_opts == ("UPCAST_OVERLAP(axis=1, amount=4)",) and count(p, UOps.STORE) == 4
    got, want = run_matmul(p, 3, 6, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    plain = run_matmul(linearize(matmul(3, 6, 4)), 3, 6, 4)[0]
    np.testing.assert_array_equal(got, plain)  # an output's sum runs in the same order: bit-identical


@pytest.mark.parametrize("m, n, amount, gpu", [(5, 7, 3, False), (5, 7, 4, False), (4, 30, 16, False),
                                               (3, 9, 5, True), (2, 26, 16, True)])
def test_upcast_overlap_gives_the_plain_loops_results(m, n, amount, gpu):
    opts = (Opt(OptKind.UPCAST_OVERLAP, 1, amount), Opt(UPCAST, 0, m)) if not gpu else \
        (Opt(LOCAL, 0, m), Opt(OptKind.UPCAST_OVERLAP, 1, amount))
    got, _ = run_matmul(linearize(matmul(m, n, 8), opts, gpu), m, n, 8)
    np.testing.assert_array_equal(got, run_matmul(linearize(matmul(m, n, 8)), m, n, 8)[0])


@pytest.mark.parametrize("opt, message", [
    (Opt(OptKind.UPCAST_OVERLAP, 1, 6), "the whole loop of 6 or more; use UPCAST"),
    (Opt(OptKind.UPCAST_OVERLAP, 2, 4), "GLOBAL"),  # a reduce axis: its lanes would sum some elements twice
    (Opt(OptKind.UPCAST_OVERLAP, 1, 1), "at least 2"),
])
def test_bad_upcast_overlaps_are_clear_errors(opt, message):
    with pytest.raises(OptError, match=message):
        linearize(matmul(3, 6, 8), (opt,))


def test_upcast_overlap_refuses_a_kernel_that_reads_its_own_output():
    """x.assign(x + 1) in place: a second tile would load outputs the first one has already stored."""
    buf = BufferRef(6, F32)
    st6 = ShapeTracker.from_shape((6,))
    add = KNode(KOps.ALU, (KNode(KOps.LOAD, (), F32, (0, st6)), KNode(KOps.CONST, (), F32, (1.0, st6))), F32, Ops.ADD)
    k = Kernel("inplace", KNode(KOps.SINK, (KNode(KOps.STORE, (add,), F32, (0, st6)),), F32), (buf,))
    with pytest.raises(OptError, match="reads a buffer it writes"):
        apply_opts(k, (Opt(OptKind.UPCAST_OVERLAP, 0, 4),))


def test_upcast_of_a_reduce_axis_unrolls_into_one_accumulator_in_order():
    plain, unrolled = linearize(matmul()), linearize(matmul(), (Opt(UPCAST, 2, 4),))
    assert count(unrolled, UOps.DEFINE_ACC) == 1 and count(unrolled, UOps.ASSIGN) == 1
    assert count(unrolled, UOps.LOAD) == 4 * count(plain, UOps.LOAD)
    np.testing.assert_array_equal(run_matmul(plain)[0], run_matmul(unrolled)[0])  # same order: bit-identical


def test_group_keeps_partial_accumulators_and_combines_them_after_the_loop():
    p = linearize(matmul(), (Opt(GROUP, 2, 4),))
    accs = [u for u in p.uops if u.op is UOps.DEFINE_ACC]
    assert len(accs) == 4
    end = max(i for i, u in enumerate(p.uops) if u.op is UOps.END and u.src[0].arg[1] is LoopKind.REDUCE)
    read_after = {s for u in p.uops[end + 1:] if u.op is UOps.ALU for s in u.src if s in accs}
    assert read_after == set(accs)  # the four partials are combined after the reduce loop
    got, want = run_matmul(p)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_local_is_an_inner_loop_on_cpu_and_threads_on_gpu():
    cpu = linearize(matmul(), (Opt(LOCAL, 1, 2),))
    assert [u.arg[1] for u in cpu.uops if u.op is UOps.RANGE] == [LoopKind.GLOBAL, LoopKind.GLOBAL, LoopKind.LOCAL,
                                                                   LoopKind.REDUCE]
    gpu = linearize(matmul(), (Opt(LOCAL, 1, 2),), gpu=True)
    assert [u.arg for u in gpu.uops if u.op is UOps.SPECIAL] == [("gidx0", 2), ("gidx1", 4), ("lidx0", 2)]
    assert gpu.global_size == (2, 4, 1) and gpu.local_size == (2, 1, 1)
    for p in (cpu, gpu):
        got, want = run_matmul(p)
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_gpu_folds_extra_global_loops_into_three_dimensions():
    shape = (2, 3, 2, 5)
    a, out = BufferRef(60, I32), BufferRef(60, I32)
    st = ShapeTracker.from_shape(shape)
    k = Kernel("k4", KNode(KOps.SINK, (KNode(KOps.STORE, (KNode(KOps.LOAD, (), I32, (1, st)),), I32, (0, st)),), I32),
               (out, a))
    p = linearize(k, gpu=True)
    assert [u.arg for u in p.uops if u.op is UOps.SPECIAL] == [("gidx0", 5), ("gidx1", 2), ("gidx2", 6)]
    assert p.global_size == (5, 2, 6) and p.local_size == (1, 1, 1)
    res = np.zeros(60, np.int32)
    interpret(p, [res, np.arange(60, dtype=np.int32)])
    assert res.tolist() == list(range(60))


def test_gpu_dimension_too_big_for_y_is_folded_into_x():
    a, out = BufferRef(70000 * 2, I32), BufferRef(70000 * 2, I32)
    st = ShapeTracker.from_shape((70000, 2))
    k = Kernel("big", KNode(KOps.SINK, (KNode(KOps.STORE, (KNode(KOps.LOAD, (), I32, (1, st)),), I32, (0, st)),),
                            I32), (out, a))
    p = linearize(k, gpu=True)
    assert p.global_size == (140000, 1, 1)


def test_default_opts():
    k = matmul()
    assert default_opts(k) == ()
    assert default_opts(k, gpu=True) == (Opt(LOCAL, 1, 4),)


@pytest.mark.parametrize("opt,message", [
    (Opt(UPCAST, 5, 2), "axis 5 is out of range"),
    (Opt(UPCAST, 0, 3), "3 does not divide; try one of \\[2, 4\\]"),
    (Opt(LOCAL, 2, 2), "LOCAL applies to GLOBAL axes"),
    (Opt(GROUP, 0, 2), "GROUP applies to REDUCE axes"),
    (Opt(UPCAST, 0, 1), "at least 2"),
])
def test_bad_opts_are_clear_errors(opt, message):
    with pytest.raises(OptError, match=message):
        linearize(matmul(), (opt,))


def test_too_many_lanes_is_an_error():
    with pytest.raises(OptError, match="MAX_LANES"):
        linearize(matmul(16, 16, 8), (Opt(UPCAST, 0, 16), Opt(UPCAST, 1, 16), Opt(UPCAST, 2, 4)))


def test_opts_on_one_axis_compose_inner_first():
    plan = apply_opts(matmul(256, 4, 2), (Opt(LOCAL, 0, 16), Opt(UPCAST, 0, 4)))
    assert [str(p) for p in plan.parts[0]] == ["gidx1:4", "up0:4", "lidx0:16"]  # i = (gidx1*4 + up0)*16 + lidx0
