"""The PYTHON device: the UOp interpreter gives the stage-02 evaluator's results, on hand-built kernels and
on random graphs scheduled by stage 02; bad programs and buffers are clear errors."""

import numpy as np
import pytest
from graph_strategies import FLOAT_TOLERANCE, graphs, int_graphs
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import kernels, opts_for, run_program, run_reference

from shrimpgrad.graph import Ops, dtypes
from shrimpgrad.linearize import InterpretError, LoopKind, Program, UOp, UOps, interpret, linearize
from shrimpgrad.schedule import create_schedule, run_schedule_numpy

F32, I32, BOOL = dtypes.float32, dtypes.int32, dtypes.bool


def assert_same(got, want, dtype):
    for g, w in zip(got, want):
        if dtype.is_float:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(g, w)


@given(st.data())
def test_interpreter_matches_the_stage02_evaluator_on_random_kernels(data):
    dtype = data.draw(st.sampled_from([F32, I32]))
    k, arrays = data.draw(kernels(dtype))
    gpu = data.draw(st.booleans())
    p = linearize(k, data.draw(opts_for(k, gpu)), gpu)
    assert_same(run_program(p, k, arrays), run_reference(k, arrays), dtype)


def run_schedule_python(schedule, buffers, opts_of=lambda k: (), gpu=False):
    """Every kernel linearized and run on the PYTHON device (outputs and temporaries start as zeros)."""
    for info in schedule.buffers:
        if info.buf not in buffers:
            buffers[info.buf] = np.zeros(info.buf.size, info.buf.dtype.np)
    for k in schedule.kernels:
        interpret(linearize(k, opts_of(k), gpu), [buffers[b] for b in k.bufs])


@pytest.mark.parametrize("strategy,dtype", [(graphs, F32), (int_graphs, I32)])
@given(data=st.data())
def test_interpreter_matches_the_stage02_evaluator_on_scheduled_graphs(strategy, dtype, data):
    roots, inputs = data.draw(strategy())
    schedule = create_schedule(roots)
    want = {b: a.copy() for b, a in inputs.items()}
    run_schedule_numpy(schedule, want)
    gpu = data.draw(st.booleans())
    chosen = {}

    def opts_of(k):
        chosen[k.name] = data.draw(opts_for(k, gpu), label=f"opts for {k.name}")
        return chosen[k.name]

    got = {b: a.copy() for b, a in inputs.items()}
    run_schedule_python(schedule, got, opts_of, gpu)
    for info in schedule.buffers:
        if dtype.is_float:
            np.testing.assert_allclose(got[info.buf], want[info.buf], **FLOAT_TOLERANCE)
        else:
            np.testing.assert_array_equal(got[info.buf], want[info.buf])


# ---- hand-written programs: the interpreter's own rules --------------------------------------------

def program(*uops, name="p"):
    return Program(name, tuple(uops))


def test_if_masks_the_stores_inside_it():
    buf = UOp(UOps.DEFINE_GLOBAL, I32, (), (0, "data0", True, 4))
    zero, four, two = (UOp(UOps.CONST, I32, (), v) for v in (0, 4, 2))
    rng = UOp(UOps.RANGE, I32, (zero, four), ("gidx0", LoopKind.GLOBAL))
    cond = UOp(UOps.ALU, BOOL, (rng, two), Ops.CMPLT)
    if_ = UOp(UOps.IF, None, (cond,))
    p = program(buf, zero, four, two, rng, cond, if_, UOp(UOps.STORE, None, (buf, rng, rng)),
                UOp(UOps.ENDIF, None, (if_,)), UOp(UOps.END, None, (rng,)))
    out = np.full(4, -1, np.int32)
    interpret(p, [out])
    assert out.tolist() == [0, 1, -1, -1]


def test_sequential_loop_runs_every_iteration_and_empty_loop_none():
    buf = UOp(UOps.DEFINE_GLOBAL, I32, (), (0, "data0", True, 1))
    zero, three = UOp(UOps.CONST, I32, (), 0), UOp(UOps.CONST, I32, (), 3)
    acc = UOp(UOps.DEFINE_ACC, I32, (zero,), 0)
    for end, want in ((three, 3), (zero, 0)):
        rng = UOp(UOps.RANGE, I32, (zero, end), ("ridx0", LoopKind.REDUCE))
        one = UOp(UOps.CONST, I32, (), 1)
        upd = UOp(UOps.ALU, I32, (one, acc), Ops.ADD)
        p = program(buf, zero, three, one, acc, rng, upd, UOp(UOps.ASSIGN, None, (acc, upd)),
                    UOp(UOps.END, None, (rng,)), UOp(UOps.STORE, None, (buf, zero, acc)))
        out = np.zeros(1, np.int32)
        interpret(p, [out])
        assert out[0] == want


def test_out_of_bounds_and_bad_buffers_are_clear_errors():
    buf = UOp(UOps.DEFINE_GLOBAL, F32, (), (0, "data0", True, 4))
    idx = UOp(UOps.CONST, I32, (), -1)
    p = program(buf, idx, UOp(UOps.STORE, None, (buf, idx, UOp(UOps.CONST, F32, (), 1.0))))
    with pytest.raises(InterpretError, match="index -1 is outside the buffer of 4 elements"):
        interpret(Program("p", (buf, idx, UOp(UOps.CONST, F32, (), 1.0), p.uops[2])), [np.zeros(4, np.float32)])
    ok = Program("p", (buf,))
    with pytest.raises(InterpretError, match="dtype float32"):
        interpret(ok, [np.zeros(4, np.int32)])
    with pytest.raises(InterpretError, match="only 0 were passed"):
        interpret(ok, [])


def test_gated_load_never_reads_where_the_gate_is_off():
    buf = UOp(UOps.DEFINE_GLOBAL, F32, (), (0, "data0", True, 4))
    src = UOp(UOps.DEFINE_GLOBAL, F32, (), (1, "data1", False, 1))
    zero, four = UOp(UOps.CONST, I32, (), 0), UOp(UOps.CONST, I32, (), 4)
    rng = UOp(UOps.RANGE, I32, (zero, four), ("gidx0", LoopKind.GLOBAL))
    ten = UOp(UOps.CONST, I32, (), 10)
    far = UOp(UOps.ALU, I32, (rng, ten), Ops.MUL)  # 0, 10, 20, 30: only index 0 is inside data1
    one = UOp(UOps.CONST, I32, (), 1)
    gate = UOp(UOps.ALU, BOOL, (rng, one), Ops.CMPLT)
    alt = UOp(UOps.CONST, F32, (), 0.0)
    ld = UOp(UOps.LOAD, F32, (src, far, gate, alt))
    p = program(buf, src, zero, four, ten, one, alt, rng, far, gate, ld, UOp(UOps.STORE, None, (buf, rng, ld)),
                UOp(UOps.END, None, (rng,)))
    out = np.zeros(4, np.float32)
    interpret(p, [out, np.array([5.0], np.float32)])
    assert out.tolist() == [5, 0, 0, 0]
