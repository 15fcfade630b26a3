"""Row kernels (stage 02's rule F5) lowered by stage 03: the interpreter gives the stage-02 evaluator's results with
any opts, on a CPU and a GPU, and the same results (within float rounding) as the kernels without the rule."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import opts_for

from shrimpgrad.graph import BufferRef, Ops, alu, broadcast_const, buffer, dtypes, evaluate, movement, reduce
from shrimpgrad.linearize import LoopKind, Opt, OptKind, UOps, interpret, linearize
from shrimpgrad.linearize.lower import lower, row_phases
from shrimpgrad.schedule import create_schedule, read_outputs, run_schedule_numpy

F32 = dtypes.float32
TOLERANCE = dict(rtol=2e-5, atol=2e-6)


def row_graph(shape, levels):
    """`levels` rounds of v = f(v, reduce(g(v)) read back along the row), the last axis reduced: softmax-like
    graphs whose reduces nest. Each level is (reduce op, op inside the reduce, op combining v with the value)."""
    rows, n = shape
    x = buffer(BufferRef(rows * n, F32), shape)
    v = x
    for red, inner, combine in levels:
        inside = v if inner is None else alu(inner, v) if inner in (Ops.EXP2, Ops.SIN) else alu(inner, v, v)
        r = reduce(inside, red, (1,))
        v = alu(combine, v, movement(Ops.EXPAND, r, shape))
    return x, v


def row_tolerance(levels, x: np.ndarray, shape, want: np.ndarray) -> dict:
    """TOLERANCE, with an atol widened by how far the evaluator's own float32 result `want` is from the exact one
    (the levels again in float64, numpy), times 4: a level like v - sum(v) cancels and a sin of a large value
    amplifies its argument's rounding, so two float32 evaluations that add in different orders (the evaluator's
    pairwise sums, the loops' sequential ones) can differ by far more than TOLERANCE where the graph is
    ill-conditioned (measured: 1.3e-4 on results near 5.7; 0.59 near 6716)."""
    v = x.astype(np.float64).reshape(shape)
    with np.errstate(over="ignore", invalid="ignore"):
        for red, inner, combine in levels:
            inside = v if inner is None else {Ops.EXP2: np.exp2, Ops.SIN: np.sin}.get(inner, np.square)(v)
            r = (np.sum if red is Ops.ADD else np.max)(inside, axis=1, keepdims=True)
            v = {Ops.SUB: np.subtract, Ops.ADD: np.add, Ops.MUL: np.multiply}[combine](v, r)
        off = np.abs(want.astype(np.float64) - v)
    off = off[np.isfinite(off)]
    return dict(TOLERANCE, atol=TOLERANCE["atol"] + 4 * (float(off.max()) if off.size else 0.0))


def softmax_graph(shape):
    x = buffer(BufferRef(shape[0] * shape[1], F32), shape)
    e = alu(Ops.EXP2, alu(Ops.SUB, x, movement(Ops.EXPAND, reduce(x, Ops.MAX, (1,)), shape)))
    return x, alu(Ops.DIV, e, movement(Ops.EXPAND, reduce(e, Ops.ADD, (1,)), shape))


def run_python(schedule, inputs, opts_of=lambda k: (), gpu=False):
    buffers = {b: a.copy() for b, a in inputs.items()}
    for info in schedule.buffers:
        buffers.setdefault(info.buf, np.zeros(info.buf.size, info.buf.dtype.np))
    for k in schedule.kernels:
        interpret(linearize(k, opts_of(k), gpu), [buffers[b] for b in k.bufs])
    return read_outputs(schedule, buffers)[0]


LEVEL = st.tuples(st.sampled_from([Ops.ADD, Ops.MAX]), st.sampled_from([None, Ops.EXP2, Ops.SIN, Ops.MUL]),
                  st.sampled_from([Ops.SUB, Ops.ADD, Ops.MUL]))


@given(data=st.data())
def test_row_kernels_match_the_evaluator_with_any_opts(data):
    shape = (data.draw(st.sampled_from([1, 2, 3, 4])), data.draw(st.sampled_from([2, 4, 6, 8, 12, 16])))
    levels = data.draw(st.lists(LEVEL, min_size=1, max_size=3))
    x, out = row_graph(shape, levels)
    inputs = {x.arg: data.draw(st.sampled_from([np.linspace(-1, 1, x.arg.size, dtype=np.float32),
                                                np.random.default_rng(0).standard_normal(x.arg.size)
                                                .astype(np.float32) * 0.5]))}
    schedule = create_schedule([out])
    assert len(schedule.kernels) == 1
    want = evaluate(out, inputs)
    gpu = data.draw(st.booleans())
    got = run_python(schedule, inputs, lambda k: data.draw(opts_for(k, gpu), label="opts"), gpu)
    np.testing.assert_allclose(got, want, **row_tolerance(levels, inputs[x.arg], shape, want))


@given(data=st.data())
def test_row_kernels_give_what_the_kernels_without_them_give(data, monkeypatch):
    shape = (data.draw(st.sampled_from([2, 3])), data.draw(st.sampled_from([4, 8])))
    x, out = row_graph(shape, data.draw(st.lists(LEVEL, min_size=1, max_size=2)))
    inputs = {x.arg: np.linspace(-1, 1, x.arg.size, dtype=np.float32)}
    with_rows = run_python(create_schedule([out]), inputs)
    monkeypatch.setenv("SHRIMPGRAD_FUSE_ROWS", "0")
    without = create_schedule([out])
    monkeypatch.delenv("SHRIMPGRAD_FUSE_ROWS")
    np.testing.assert_allclose(with_rows, run_python(without, inputs), **TOLERANCE)


def test_softmax_phases_and_loops():
    _, out = softmax_graph((4, 8))
    (k,) = create_schedule([out]).kernels
    phases = row_phases(k)
    assert sorted(phases.of.values()) == [0, 1] and phases.count == 3 and phases.store == 2
    cpu = linearize(k)
    assert [(u.arg[0], u.arg[1]) for u in cpu.uops if u.op is UOps.RANGE] == [
        ("gidx0", LoopKind.GLOBAL), ("ridx0", LoopKind.REDUCE), ("ridx0_1", LoopKind.REDUCE), ("row1", LoopKind.ROW)]
    # the three loops over a row are siblings inside the row loop: RANGE ... END, three times
    inner = [u.op for u in cpu.uops if u.op in (UOps.RANGE, UOps.END)]
    assert inner == [UOps.RANGE] + [UOps.RANGE, UOps.END] * 3 + [UOps.END]


@pytest.mark.parametrize("gpu", [False, True])
@pytest.mark.parametrize("opts", [(), (Opt(OptKind.GROUP, 1, 4),), (Opt(OptKind.GROUP, 1, 8),),
                                  (Opt(OptKind.UPCAST, 1, 2), Opt(OptKind.GROUP, 1, 2)),
                                  (Opt(OptKind.LOCAL, 0, 2), Opt(OptKind.GROUP, 1, 4)), (Opt(OptKind.UPCAST, 0, 2),)])
def test_softmax_with_each_opt(gpu, opts):
    x, out = softmax_graph((4, 8))
    inputs = {x.arg: np.linspace(-3, 3, 32, dtype=np.float32)}
    s = create_schedule([out])
    np.testing.assert_allclose(run_python(s, inputs, lambda k: opts, gpu), evaluate(out, inputs), **TOLERANCE)


def test_gpu_row_kernel_combines_each_phase_before_the_next():
    """GROUP on a GPU: each reduce phase ends with its own shared array and BARRIER, the next phase's loop comes
    after them, and the store is striped over the threads (every thread stores: no lidx < 1 gate)."""
    _, out = softmax_graph((4, 16))
    (k,) = create_schedule([out]).kernels
    p = linearize(k, [Opt(OptKind.GROUP, 1, 4)], gpu=True)
    order = [u.op.name + (f" {u.arg[0]}" if u.op in (UOps.RANGE, UOps.DEFINE_LOCAL) else "")
             for u in p.uops if u.op in (UOps.RANGE, UOps.END, UOps.BARRIER, UOps.DEFINE_LOCAL)]
    assert order == ["DEFINE_LOCAL temp0", "DEFINE_LOCAL temp1", "RANGE ridx0", "END", "BARRIER", "RANGE ridx0_1",
                     "END", "BARRIER", "RANGE ridx0_2", "END"]
    assert p.global_size == (4, 1, 1) and p.local_size == (4, 1, 1)
    stores = [u for u in p.uops if u.op is UOps.STORE and u.src[0].op is UOps.DEFINE_GLOBAL]
    assert len(stores) == 1 and len(stores[0].src) == 3  # ungated


def test_the_step_through_shows_every_phase():
    from shrimpgrad.linearize.steps import steps

    _, out = softmax_graph((2, 4))
    (k,) = create_schedule([out]).kernels
    lines = [line for line, _ in steps(k)]
    assert "lower_reduces: 2 accumulators in 3 loops over the row" in lines
    assert lower(k).phases.store == 2


def test_the_schedule_evaluator_and_the_interpreter_agree_on_layernorm():
    x = buffer(BufferRef(6 * 8, F32), (6, 8))
    mean = alu(Ops.MUL, reduce(x, Ops.ADD, (1,)), broadcast_const(1 / 8, F32, (6, 1)))
    y = alu(Ops.SUB, x, movement(Ops.EXPAND, mean, (6, 8)))
    var = alu(Ops.MUL, reduce(alu(Ops.MUL, y, y), Ops.ADD, (1,)), broadcast_const(1 / 8, F32, (6, 1)))
    out = alu(Ops.MUL, y, movement(Ops.EXPAND, alu(Ops.RECIP, alu(Ops.SQRT, var)), (6, 8)))
    inputs = {x.arg: np.random.default_rng(1).standard_normal(48).astype(np.float32)}
    s = create_schedule([out])
    assert len(s.kernels) == 1 and row_phases(s.kernels[0]).count == 3
    want = {b: a.copy() for b, a in inputs.items()}
    run_schedule_numpy(s, want)
    for gpu, opts in ((False, ()), (True, (Opt(OptKind.GROUP, 1, 8),)), (False, (Opt(OptKind.GROUP, 1, 4),))):
        got = run_python(s, inputs, lambda k, opts=opts: opts, gpu)
        np.testing.assert_allclose(got, read_outputs(s, want)[0], **TOLERANCE)


def test_group_sums_splits_only_the_loop_that_sums():
    """GROUP_SUMS (CPU): softmax's sum loop gets 4 partial sums (ridx0_1 over 16/4, GROUP lanes), its max loop and
    its store loop run over the row whole (row1_0, row1), with one accumulator for the max; a plain GROUP splits
    the max loop too. Both give the evaluator's values."""
    x, out = softmax_graph((4, 16))
    (k,) = create_schedule([out]).kernels
    sums = linearize(k, [Opt(OptKind.GROUP_SUMS, 1, 4)])
    assert [(u.arg[0], u.arg[1], u.src[1].arg) for u in sums.uops if u.op is UOps.RANGE] == [
        ("gidx0", LoopKind.GLOBAL, 4), ("row1_0", LoopKind.REDUCE, 16), ("ridx0_1", LoopKind.REDUCE, 4),
        ("row1", LoopKind.ROW, 16)]
    assert sum(u.op is UOps.DEFINE_ACC for u in sums.uops) == 1 + 4
    assert sums.applied_opts == ("GROUP_SUMS(axis=1, amount=4)",)
    group = linearize(k, [Opt(OptKind.GROUP, 1, 4)])
    assert sum(u.op is UOps.DEFINE_ACC for u in group.uops) == 4 + 4
    inputs = {x.arg: np.random.default_rng(2).standard_normal(64).astype(np.float32) * 3}
    want = evaluate(out, inputs)
    for opts in ((), (Opt(OptKind.GROUP, 1, 4),), (Opt(OptKind.GROUP_SUMS, 1, 4),),
                 (Opt(OptKind.GROUP_SUMS, 1, 8), Opt(OptKind.UPCAST, 1, 2)), (Opt(OptKind.UPCAST, 0, 2),
                                                                            Opt(OptKind.GROUP_SUMS, 1, 2))):
        np.testing.assert_allclose(run_python(create_schedule([out]), inputs, lambda k, o=opts: o), want, **TOLERANCE)


def test_group_sums_on_layernorm_groups_both_sums():
    """Every reduce loop of a layernorm sums: GROUP_SUMS groups them all, as GROUP does (same program)."""
    x = buffer(BufferRef(6 * 8, F32), (6, 8))
    mean = alu(Ops.MUL, reduce(x, Ops.ADD, (1,)), broadcast_const(1 / 8, F32, (6, 1)))
    y = alu(Ops.SUB, x, movement(Ops.EXPAND, mean, (6, 8)))
    out = alu(Ops.MUL, y, movement(Ops.EXPAND, reduce(alu(Ops.MUL, y, y), Ops.ADD, (1,)), (6, 8)))
    (k,) = create_schedule([out]).kernels
    sums, group = linearize(k, [Opt(OptKind.GROUP_SUMS, 1, 4)]), linearize(k, [Opt(OptKind.GROUP, 1, 4)])
    assert sums.uops == group.uops


def test_group_sums_is_a_cpu_opt_and_does_not_mix_with_group():
    from shrimpgrad.linearize import OptError
    from shrimpgrad.linearize.lower import LinearizeError

    _, out = softmax_graph((4, 16))
    (k,) = create_schedule([out]).kernels
    with pytest.raises(LinearizeError, match="GROUP_SUMS is a CPU opt"):
        linearize(k, [Opt(OptKind.GROUP_SUMS, 1, 4)], gpu=True)
    with pytest.raises(OptError, match="GROUP or GROUP_SUMS opts, not both"):
        linearize(k, [Opt(OptKind.GROUP_SUMS, 1, 4), Opt(OptKind.GROUP, 1, 2)])
