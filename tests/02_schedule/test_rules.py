"""One test per fusion rule (F1-F4) and boundary rule (B1-B10), on the examples in rules.py and the README.

Each test checks the kernel count, the rule recorded for each kernel, and (through
`check_against_evaluator`) that the scheduled program computes what the graph means."""

import numpy as np
import pytest
from schedule_programs import REFERENCE_PROGRAMS, exp, inp, relu, softmax, sum_
from schedule_strategies import check_against_evaluator

from shrimpgrad.graph import (
    BufferRef,
    Ops,
    ShapeTracker,
    alu,
    assign,
    broadcast_const,
    buffer,
    contiguous,
    dtypes,
    movement,
    reduce,
)
from shrimpgrad.schedule import Boundary, KOps, ScheduleError, create_schedule, rules
from shrimpgrad.schedule.rules import Move

F32 = dtypes.float32


def rules_of(s) -> list[str]:
    return [k.reason.split(":")[0] for k in s.kernels]


def ops_in(k) -> list:
    return [n.arg if n.op is KOps.ALU else n.op for n in k.ast.toposort()]


# ---- fusion rules -----------------------------------------------------------------------------------

def test_F1_elementwise_chain_is_one_kernel():
    bufs = {}
    a, b, c = (inp((4, 4), bufs) for _ in range(3))
    s = check_against_evaluator([relu(alu(Ops.ADD, alu(Ops.MUL, a, b), c))], bufs)
    assert [k.name for k in s.kernels] == ["E_4_4"]
    assert dict(s.fused[0])["elementwise_fuses"] == 3
    assert len(s.kernels[0].inputs) == 3


def test_F2_reduce_fuses_its_inputs_and_its_consumers():
    bufs = {}
    x = inp((4, 8), bufs)
    out = alu(Ops.DIV, sum_(exp(x), 1), broadcast_const(2.0, F32, (4, 1)))  # sum(exp(x)) / 2
    s = check_against_evaluator([out], bufs)
    assert [k.name for k in s.kernels] == ["R_4_8"]
    assert {Ops.EXP2, Ops.MUL, KOps.REDUCE, Ops.DIV} <= set(ops_in(s.kernels[0]))


def test_F2_a_reshape_after_the_reduce_stays_in_the_kernel():
    bufs = {}
    x, bias = inp((4, 8), bufs), inp((4,), bufs)
    out = alu(Ops.ADD, sum_(x, 1, keepdim=False), bias)  # REDUCE (4, 1) -> RESHAPE (4,) -> + bias
    s = check_against_evaluator([out], bufs)
    assert len(s.kernels) == 1
    assert s.kernels[0].output_shape == (4, 1)  # computed at the reduce's shape: the same memory as (4,)


def test_F3_movement_ops_become_views_pushed_through_elementwise_ops():
    bufs = {}
    a, b = inp((3, 5), bufs), inp((3, 5), bufs)
    out = movement(Ops.PERMUTE, alu(Ops.ADD, a, b), (1, 0))  # (a + b).T
    s = check_against_evaluator([out], bufs)
    assert len(s.kernels) == 1
    loads = [n for n in s.kernels[0].ast.toposort() if n.op is KOps.LOAD]
    assert [ld.st.views[-1].strides for ld in loads] == [(1, 5), (1, 5)]


def test_F3_a_view_of_a_buffer_as_a_root_is_a_copy_kernel():
    bufs = {}
    x = inp((3, 5), bufs)
    s = check_against_evaluator([movement(Ops.FLIP, x, (True, False))], bufs)
    assert [k.name for k in s.kernels] == ["E_3_5"] and rules_of(s) == ["output"]


def test_F4_constants_are_inlined_and_a_padded_constant_is_zero_outside():
    bufs = {}
    x = inp((4, 4), bufs)
    ones = movement(Ops.PAD, broadcast_const(1.0, F32, (2, 2)), ((1, 1), (1, 1)))
    s = check_against_evaluator([alu(Ops.ADD, x, ones)], bufs)
    assert len(s.kernels) == 1 and len(s.kernels[0].bufs) == 2  # no buffer for the constant
    const = next(n for n in s.kernels[0].ast.toposort() if n.op is KOps.CONST)
    assert const.st.views[-1].mask == ((1, 3), (1, 3))


# ---- boundary rules ---------------------------------------------------------------------------------

def test_B1_a_root_that_is_a_buffer_needs_no_kernel():
    bufs = {}
    x = inp((4,), bufs)
    s = check_against_evaluator([x], bufs)
    assert s.kernels == () and s.outputs == (x.arg,)


def test_B2_contiguous_copies_a_view_but_not_a_plain_buffer():
    bufs = {}
    x = inp((3, 4), bufs)
    s = check_against_evaluator([alu(Ops.NEG, contiguous(movement(Ops.PERMUTE, x, (1, 0))))], bufs)
    assert rules_of(s) == ["contiguous", "output"]
    s = check_against_evaluator([alu(Ops.NEG, contiguous(x))], bufs)  # x is already contiguous
    assert rules_of(s) == ["output"]


def test_B3_assign_writes_in_place():
    bufs = {}
    x = inp((4, 4), bufs)
    s = check_against_evaluator([assign(x, alu(Ops.ADD, x, broadcast_const(1.0, F32, (4, 4))))], bufs)
    assert rules_of(s) == ["assign"] and s.outputs == (x.arg,)
    assert s.kernels[0].bufs == (x.arg,)  # it loads and stores the same buffer
    assert s.info(x.arg).kind == "assigned"


def test_B4_softmax_materializes_the_reduces_read_through_expand(monkeypatch):
    monkeypatch.setenv(rules.FUSE_ROWS_ENV, "0")  # F5 off: otherwise softmax is one row kernel
    roots, bufs = softmax()
    s = check_against_evaluator(roots, bufs)
    assert [k.name for k in s.kernels] == ["R_4_8", "R_4_8n1", "E_4_8"]
    assert rules_of(s) == ["reduce_behind_view", "reduce_behind_view", "output"]
    assert "EXPAND" in s.kernels[0].reason


def test_B4_the_elementwise_consumers_of_the_reduce_stay_in_its_kernel(monkeypatch):
    monkeypatch.setenv(rules.FUSE_ROWS_ENV, "0")
    bufs = {}
    x = inp((4, 8), bufs)
    shifted = alu(Ops.ADD, sum_(x, 1), broadcast_const(1.0, F32, (4, 1)))  # (sum(x) + 1) read through EXPAND
    s = check_against_evaluator([alu(Ops.MUL, x, movement(Ops.EXPAND, shifted, (4, 8)))], bufs)
    assert len(s.kernels) == 2
    assert Ops.ADD in ops_in(s.kernels[0])  # the +1 ran once per row, inside the reduce kernel


def test_B4_still_fires_when_the_reduce_is_read_through_more_than_a_broadcast():
    bufs = {}
    x = inp((4, 8), bufs)
    m = movement(Ops.PERMUTE, movement(Ops.EXPAND, reduce(x, Ops.MAX, (1,)), (4, 8)), (1, 0))  # (8, 4): transposed
    s = check_against_evaluator([alu(Ops.SUB, movement(Ops.PERMUTE, x, (1, 0)), m)], bufs)
    assert rules_of(s) == ["reduce_behind_view", "output"]


# ---- F5: row kernels ---------------------------------------------------------------------------------

def fired(s, rule: str) -> list[int]:
    return [dict(f).get(rule, 0) for f in s.fused]


def test_F5_softmax_is_one_row_kernel():
    roots, bufs = softmax()
    s = check_against_evaluator(roots, bufs)
    assert [k.name for k in s.kernels] == ["R_4_8"] and rules_of(s) == ["output"]
    assert fired(s, "row_fuses") == [2]  # the max and the sum joined the division's kernel
    (k,) = s.kernels
    assert k.stores_rows and k.output_shape == k.full_shape == (4, 8) and k.reduce_axes == (1,)
    assert len(s.buffers) == 2  # no temporaries: x in, softmax out


def test_F5_the_elementwise_consumers_of_the_reduce_run_along_the_row():
    bufs = {}
    x = inp((4, 8), bufs)
    shifted = alu(Ops.ADD, sum_(x, 1), broadcast_const(1.0, F32, (4, 1)))  # (sum(x) + 1) read through EXPAND
    s = check_against_evaluator([alu(Ops.MUL, x, movement(Ops.EXPAND, shifted, (4, 8)))], bufs)
    assert [k.name for k in s.kernels] == ["R_4_8"] and fired(s, "row_fuses") == [1]


def test_F5_a_reduce_of_a_row_kernel_stored_per_row():
    """logsumexp's shape: the sum of exp(x - max) is stored at (4, 1); the max runs in its own loop first."""
    bufs = {}
    x = inp((4, 8), bufs)
    m = movement(Ops.EXPAND, reduce(x, Ops.MAX, (1,)), (4, 8))
    lse = alu(Ops.LOG2, sum_(exp(alu(Ops.SUB, x, m)), 1))
    s = check_against_evaluator([lse], bufs)
    (k,) = s.kernels
    assert not k.stores_rows and k.output_shape == (4, 1) and fired(s, "row_fuses") == [1]


def test_F5_layernorm_is_one_kernel_with_three_loops_per_row():
    roots, bufs = REFERENCE_PROGRAMS["layernorm"]()
    s = check_against_evaluator(roots, bufs)
    assert len(s.kernels) == 1 and s.kernels[0].stores_rows


def test_F5_switch_off_gives_the_three_kernels(monkeypatch):
    monkeypatch.setenv(rules.FUSE_ROWS_ENV, "0")
    roots, bufs = softmax()
    assert len(check_against_evaluator(roots, bufs).kernels) == 3
    monkeypatch.setenv(rules.FUSE_ROWS_ENV, "1")
    assert len(check_against_evaluator(roots, bufs).kernels) == 1


def test_F5_rows_longer_than_MAX_ROW_are_not_fused(monkeypatch):
    monkeypatch.setattr(rules, "MAX_ROW", 4)
    roots, bufs = softmax()  # rows of 8
    s = check_against_evaluator(roots, bufs)
    assert rules_of(s) == ["reduce_behind_view", "reduce_behind_view", "output"]
    monkeypatch.setattr(rules, "MAX_ROW", 8)
    assert len(check_against_evaluator(roots, bufs).kernels) == 1


def test_F5_not_for_a_reduce_over_another_loop():
    """sum(y, 1) of y (4, 3) read back over x's (4, 8) rows: another row, so B4 stores it."""
    bufs = {}
    x, y = inp((4, 8), bufs), inp((4, 3), bufs)
    s = check_against_evaluator([alu(Ops.ADD, x, movement(Ops.EXPAND, sum_(y, 1), (4, 8)))], bufs)
    assert rules_of(s) == ["reduce_behind_view", "output"]


def test_F5_not_for_an_in_place_assign():
    """x.assign(softmax(x)): the row loops would read what other rows' stores already overwrote; the reduces
    keep their own kernels and the assigned value is computed before it is written."""
    x = buffer(BufferRef(32, F32), (4, 8))
    m = movement(Ops.EXPAND, reduce(x, Ops.MAX, (1,)), (4, 8))
    e = exp(alu(Ops.SUB, x, m))
    value = alu(Ops.DIV, e, movement(Ops.EXPAND, sum_(e, 1), (4, 8)))
    s = check_against_evaluator([assign(x, value)], {x.arg: np.linspace(-1, 1, 32, dtype=np.float32)})
    assert sum(fired(s, "row_fuses")) == 0 and rules_of(s)[-1] == "assign"


def test_F5_condition_is_the_broadcast_back_along_the_reduced_axes():
    x = buffer(BufferRef(32, F32), (4, 8))
    m = reduce(x, Ops.MAX, (1,))
    loop = ((4, 8), (1,))
    assert rules.fuse_rows(m, (Move(Ops.EXPAND, (4, 8)),), loop, x)
    assert rules.fuse_rows(m, (Move(Ops.RESHAPE, (4,)), Move(Ops.RESHAPE, (4, 1)), Move(Ops.EXPAND, (4, 8))), loop, x)
    assert not rules.fuse_rows(m, (), loop, x)  # no view: F2's plain case
    assert not rules.fuse_rows(m, (Move(Ops.EXPAND, (4, 8)), Move(Ops.PERMUTE, (1, 0))), loop, x)
    assert not rules.fuse_rows(m, (Move(Ops.EXPAND, (4, 8)),), ((4, 8), (0,)), x)  # another loop


def test_B5_pad_through_an_op_that_does_not_keep_zero():
    bufs = {}
    x = inp((2, 3), bufs)
    pad = ((1, 1), (0, 2))
    s = check_against_evaluator([movement(Ops.PAD, alu(Ops.EXP2, x), pad)], bufs)
    assert rules_of(s) == ["pad_needs_zero", "output"]
    s = check_against_evaluator([movement(Ops.PAD, alu(Ops.ADD, x, broadcast_const(1.0, F32, (2, 3))), pad)], bufs)
    assert rules_of(s) == ["output"]  # 0 + 0 is 0: the pad is pushed to x and to the constant


def test_B5_negation_does_not_keep_a_positive_zero():
    bufs = {}
    x = inp((2, 2), bufs)
    out = alu(Ops.RECIP, movement(Ops.PAD, alu(Ops.NEG, x), ((1, 0), (0, 0))))  # border: 1/+0 = +inf
    s = check_against_evaluator([out], bufs)  # bit-exact: pushing the pad would give -inf
    assert rules_of(s) == ["pad_needs_zero", "output"]


def test_B6_a_reduce_of_a_reduce_is_two_kernels():
    bufs = {}
    x = inp((4, 8), bufs)
    s = check_against_evaluator([reduce(sum_(x, 1, keepdim=False), Ops.MAX, (0,))], bufs)
    assert rules_of(s) == ["reduce_inside_reduce", "output"]


def test_B7_reduces_with_different_loops_do_not_share_a_kernel():
    bufs = {}
    x, y = inp((4, 8), bufs), inp((4, 3), bufs)
    s = check_against_evaluator([alu(Ops.ADD, sum_(x, 1), sum_(y, 1))], bufs)
    assert sorted(rules_of(s)) == ["loop_mismatch", "output"]


def test_B7_reduces_with_the_same_loop_share_a_kernel():
    bufs = {}
    x = inp((4, 8), bufs)
    s = check_against_evaluator([alu(Ops.ADD, sum_(x, 1), max_of(x))], bufs)
    assert len(s.kernels) == 1


def max_of(x):
    return reduce(x, Ops.MAX, (1,))


def test_B8_a_reduce_used_by_two_kernels_is_stored_once():
    bufs = {}
    x = inp((4, 8), bufs)
    s_ = sum_(x, 1)
    one = broadcast_const(1.0, F32, (4, 1))
    s = check_against_evaluator([alu(Ops.ADD, s_, one), alu(Ops.MUL, s_, one)], bufs)
    assert rules_of(s) == ["shared_reduce", "output", "output"]
    assert s.info(s.kernels[0].outputs[0]).kind == "temporary"


def test_B9_assign_reading_the_target_through_another_view_uses_a_temporary():
    bufs = {}
    x = inp((3, 3), bufs)
    s = check_against_evaluator([assign(x, movement(Ops.PERMUTE, x, (1, 0)))], bufs)  # x = x.T
    assert rules_of(s) == ["assign_reads_target", "assign"]
    s = check_against_evaluator([assign(x, alu(Ops.MUL, x, x))], bufs)
    assert rules_of(s) == ["assign"]  # reads x exactly where it writes: in place is safe


def test_B10_old_contents_needed_after_an_assign_are_copied_first():
    bufs = {}
    x = inp((4,), bufs)
    y = alu(Ops.MUL, x, broadcast_const(3.0, F32, (4,)))  # reads the old x
    a = assign(x, alu(Ops.ADD, x, broadcast_const(1.0, F32, (4,))))
    s = check_against_evaluator([alu(Ops.ADD, a, y)], bufs)  # needs the new x and the old x together
    assert "old_value_overwritten" in rules_of(s)


def test_B10_assigns_that_read_each_others_old_contents_copy_one_first():
    """A swap: y = x + 1 reads the old x and x = y + 1 the old y, so each ASSIGN must run before the other (a cycle
    of write-after-read orders, no graph holds the other ASSIGN). One copy, of the old y, breaks it."""
    bufs = {}
    x, y = inp((4,), bufs), inp((4,), bufs)
    one = broadcast_const(1.0, F32, (4,))
    s = check_against_evaluator([assign(y, alu(Ops.ADD, x, one)), assign(x, alu(Ops.ADD, y, one))], bufs)
    assert rules_of(s) == ["old_value_overwritten", "assign", "assign"]
    assert s.kernels[0].bufs[1] is y.arg  # the copy reads the old y before the first write


def test_B10_a_cycle_through_three_buffers_needs_one_copy():
    bufs = {}
    x, y, z = inp((4,), bufs), inp((4,), bufs), inp((2, 2), bufs)
    two = broadcast_const(2.0, F32, (4,))
    roots = [assign(x, alu(Ops.MUL, y, two)), assign(y, alu(Ops.MUL, movement(Ops.RESHAPE, z, (4,)), two)),
             assign(z, movement(Ops.RESHAPE, alu(Ops.MUL, x, two), (2, 2)))]
    s = check_against_evaluator(roots, bufs)
    assert sorted(rules_of(s)) == ["assign", "assign", "assign", "old_value_overwritten"]


def test_assigns_without_a_cycle_get_no_copy():
    """The optimizer's pattern: every update reads the old weights, none reads a buffer another one overwrites."""
    bufs = {}
    w, g, m = inp((4,), bufs), inp((4,), bufs), inp((4,), bufs)
    new_m = assign(m, alu(Ops.ADD, alu(Ops.MUL, m, broadcast_const(0.9, F32, (4,))), g))
    s = check_against_evaluator([new_m, assign(w, alu(Ops.ADD, w, new_m))], bufs)
    assert rules_of(s) == ["assign", "assign"]


# ---- ordering and hazards ---------------------------------------------------------------------------

def test_reads_of_the_old_contents_run_before_the_assign():
    bufs = {}
    x = inp((4,), bufs)
    a = assign(x, alu(Ops.ADD, x, broadcast_const(1.0, F32, (4,))))
    doubled = alu(Ops.MUL, x, broadcast_const(2.0, F32, (4,)))
    s = check_against_evaluator([a, doubled], bufs)  # the ASSIGN comes first in the graph ...
    assert rules_of(s) == ["output", "assign"]  # ... but runs after the read of old x


def test_a_buffer_root_that_is_overwritten_is_copied():
    bufs = {}
    x = inp((4,), bufs)
    s = check_against_evaluator([x, assign(x, broadcast_const(5.0, F32, (4,)))], bufs)
    assert rules_of(s) == ["output", "assign"] and s.outputs[0] is not x.arg


def test_assign_twice_before_realizing_chains_the_writes():
    bufs = {}
    x = inp((4,), bufs)
    one = broadcast_const(1.0, F32, (4,))
    a1 = assign(x, alu(Ops.ADD, x, one))
    a2 = assign(x, alu(Ops.MUL, a1, broadcast_const(2.0, F32, (4,))))  # the front end's x += 1; x *= 2
    s = check_against_evaluator([a2], bufs)
    assert rules_of(s) == ["assign", "assign"]


def test_assign_into_disjoint_views():
    bufs = {}
    x = inp((4,), bufs)
    lo = assign(movement(Ops.SHRINK, x, ((0, 2),)), broadcast_const(7.0, F32, (2,)))
    hi = assign(movement(Ops.SHRINK, x, ((2, 4),)), broadcast_const(9.0, F32, (2,)))
    s = check_against_evaluator([lo, hi], bufs)
    state = {r: v.copy() for r, v in bufs.items()}
    from shrimpgrad.schedule import run_schedule_numpy

    run_schedule_numpy(s, state)
    np.testing.assert_array_equal(state[x.arg], [7, 7, 9, 9])


def test_reading_two_assigned_contents_at_once_is_a_clear_error():
    bufs = {}
    x = inp((4,), bufs)
    one = broadcast_const(1.0, F32, (4,))
    a1 = assign(x, alu(Ops.ADD, x, one))
    a2 = assign(x, alu(Ops.ADD, a1, one))
    with pytest.raises(ScheduleError, match="wait on each other"):
        create_schedule([alu(Ops.ADD, a1, a2)])


def test_assign_into_something_that_is_not_a_buffer_is_a_clear_error():
    bufs = {}
    x = inp((4,), bufs)
    with pytest.raises(ScheduleError, match="realized buffer"):
        create_schedule([assign(alu(Ops.NEG, x), x)])
    with pytest.raises(ScheduleError, match="expanded view"):
        create_schedule([assign(movement(Ops.EXPAND, movement(Ops.RESHAPE, x, (1, 4)), (3, 4)),
                                broadcast_const(1.0, F32, (3, 4)))])


# ---- empty tensors ---------------------------------------------------------------------------------

def test_empty_values_need_no_kernel_and_empty_reduces_give_the_identity():
    ref = BufferRef(0, F32)
    x = buffer(ref, (3, 0))
    bufs = {ref: np.zeros(0, np.float32)}
    s = check_against_evaluator([alu(Ops.NEG, x), reduce(x, Ops.MAX, (1,)), reduce(x, Ops.ADD, (1,))], bufs)
    assert [k.name for k in s.kernels] == ["E_3_1", "E_3_1n1"]  # no loop over the empty axis
    s = check_against_evaluator([movement(Ops.PAD, x, ((0, 0), (1, 1)))], bufs)
    assert len(s.kernels) == 1


# ---- regressions ------------------------------------------------------------------------------------

def test_a_scalar_read_from_a_pad_border_is_zero():
    """pad -> shrink to the border -> reshape to (): stage 01's view used to drop the all-invalid mask."""
    bufs = {}
    x = inp((2,), bufs)
    border = movement(Ops.RESHAPE, movement(Ops.SHRINK, movement(Ops.PAD, x, ((1, 0),)), ((0, 1),)), ())
    check_against_evaluator([alu(Ops.NEG, border)], bufs)


def test_deep_chains_and_diamonds_schedule_quickly():
    bufs = {}
    x = inp((4,), bufs)
    y = x
    for _ in range(60):  # y = y * y sixty times: a diamond per level, 2**60 paths
        y = alu(Ops.MUL, y, y)
    z = x
    for _ in range(2000):  # a 2000-op chain fused into one kernel
        z = alu(Ops.ADD, z, broadcast_const(0.5, F32, (4,)))
    s = check_against_evaluator([y, z], bufs)
    assert len(s.kernels) == 2


# ---- each boundary rule holds its own condition: None when it doesn't fire, its Boundary when it does ---------

def test_each_boundary_rule_decides_by_itself():
    x, w = inp((4, 8), {}), inp((4, 8), {})
    total = sum_(x, 1)  # (4, 1)
    expand, reshape = Move(Ops.EXPAND, (4, 8)), Move(Ops.RESHAPE, (4, 1))
    pad = Move(Ops.PAD, ((1, 1), (0, 0)))
    exp2 = alu(Ops.EXP2, x)
    row = ShapeTracker.from_shape((4, 8))
    flipped = row.flip((True, False))  # the same buffer through another view
    a = assign(x, alu(Ops.ADD, x, w))
    cases = {  # rule: (its arguments when it doesn't fire, when it fires)
        rules.output: ((x, 0), (total, 0)),
        rules.reduce_behind_view: ((total, total, (Move(Ops.RESHAPE, (4,)), reshape)), (total, total, (expand,))),
        rules.pad_needs_zero: ((alu(Ops.ADD, x, w), x, (pad,)), (exp2, exp2, (pad,))),
        rules.reduce_inside_reduce: ((total, False), (total, True)),
        rules.loop_mismatch: ((total, ((4, 8), (1,))), (total, ((4, 3), (1,)))),
        rules.shared_reduce: ((total, 1), (total, 2)),
        rules.assign_reads_target: ((a, x.arg, row, (x.arg, row), False), (a, x.arg, flipped, (x.arg, row), False)),
        rules.old_value_overwritten: ((a, a, a, {id(a)}), (x, a, alu(Ops.ADD, a, x), {id(a)})),
    }
    for rule, (quiet, fires) in cases.items():
        assert rule(*quiet) is None, rule.__name__
        b = rule(*fires)
        assert isinstance(b, Boundary) and b.rule == rule.__name__, rule.__name__
    assert rules.output(x, 0, {x.arg}).rule == "output"  # a buffer root that this schedule overwrites is copied
    assert rules.assign_reads_target(a, x.arg, row, (x.arg, row), True).reason.startswith(
        "the assigned value reads the target buffer inside a reduce loop")
    assert rules.assign_reads_target(alu(Ops.NEG, x), x.arg, flipped, (x.arg, row), False) is None  # no ASSIGN
    assert rules.old_value_overwritten(x, a, alu(Ops.ADD, x, w), set()) is None  # the reader doesn't need the write
