"""The lowering passes: structure of the Programs (random kernels), and the README's worked examples."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import kernels, opts_for, run_program, run_reference
from program_checks import check_program

from shrimpgrad.graph import BufferRef, Ops, Provenance, ShapeTracker, dtypes
from shrimpgrad.linearize import (
    RULES,
    LinearizeError,
    LoopKind,
    Program,
    ProgramError,
    UOp,
    UOps,
    linearize,
    lower,
    verify,
)
from shrimpgrad.linearize.symbolic import rules_fired
from shrimpgrad.schedule import Kernel, KernelError, KNode, KOps

F32, I32 = dtypes.float32, dtypes.int32


def load(i, st, dtype=F32):
    return KNode(KOps.LOAD, (), dtype, (i, st))


def store(value, st, i=0):
    return KNode(KOps.STORE, (value,), value.dtype, (i, st))


def kernel(*stores, bufs, name="k", meta=()):
    return Kernel(name, KNode(KOps.SINK, tuple(stores), stores[0].dtype), tuple(bufs), len(stores), "test", meta)


def ops(p):
    return [u.op for u in p.uops]


@given(st.data())
def test_random_kernels_lower_to_well_formed_programs(data):
    k, _ = data.draw(kernels(data.draw(st.sampled_from([F32, I32]))))
    gpu = data.draw(st.booleans())
    p = linearize(k, data.draw(opts_for(k, gpu)), gpu)
    check_program(p, k)
    assert (p.global_size is not None) == gpu and (p.local_size is not None) == gpu
    assert gpu or not any(u.op is UOps.SPECIAL for u in p.uops)
    assert all(u.dtype == I32 for u in p.uops if u.op in (UOps.RANGE, UOps.SPECIAL))


def test_elementwise_kernel_is_one_loop():
    a, out = BufferRef(12, F32), BufferRef(12, F32)
    st = ShapeTracker.from_shape((12,))
    k = kernel(store(KNode(KOps.ALU, (load(1, st), load(1, st)), F32, Ops.ADD), st), bufs=[out, a])
    p = linearize(k)
    assert ops(p) == [UOps.DEFINE_GLOBAL, UOps.DEFINE_GLOBAL, UOps.CONST, UOps.CONST, UOps.RANGE, UOps.LOAD,
                      UOps.ALU, UOps.STORE, UOps.END]  # the two equal LOADs are one UOp (CSE)
    assert p.uops[4].arg == ("gidx0", LoopKind.GLOBAL)


def test_a_range_is_named_by_its_loop_in_the_plan():
    """One name per loop across stages: the RANGE carries the plan's name (gidx counted from the innermost
    output axis, like a GPU's x, y, z; ridx from the outermost), and verify insists on (name, LoopKind)."""
    a, out = BufferRef(24, F32), BufferRef(6, F32)
    full = ShapeTracker.from_shape((2, 3, 4))
    total = KNode(KOps.REDUCE, (load(1, full),), F32, (Ops.ADD, (2,)))
    p = linearize(kernel(store(total, ShapeTracker.from_shape((2, 3, 1))),
                         bufs=[out, a]))
    assert [u.arg for u in p.uops if u.op is UOps.RANGE] == [("gidx1", LoopKind.GLOBAL), ("gidx0", LoopKind.GLOBAL),
                                                             ("ridx0", LoopKind.REDUCE)]
    bad = Program("E_bad", (UOp(UOps.CONST, I32, (), 0), UOp(UOps.CONST, I32, (), 4)))
    rng = UOp(UOps.RANGE, I32, bad.uops, (0, LoopKind.GLOBAL))  # a loop number, not a name
    with pytest.raises(ProgramError, match=r"\(name, LoopKind\)"):
        verify(Program("E_bad", bad.uops + (rng, UOp(UOps.END, None, (rng,)))))


def test_padded_load_is_gated_and_masked_off_load_is_zero():
    a, out = BufferRef(3, F32), BufferRef(5, F32)
    padded = ShapeTracker.from_shape((3,)).pad(((1, 1),))
    never = ShapeTracker.from_shape((3,)).pad(((5, 0),)).shrink(((0, 5),))  # reads only padding
    value = KNode(KOps.ALU, (load(1, padded), load(1, never)), F32, Ops.ADD)
    p = linearize(kernel(store(value, ShapeTracker.from_shape((5,))), bufs=[out, a]))
    loads = [u for u in p.uops if u.op is UOps.LOAD]
    assert len(loads) == 1 and len(loads[0].src) == 4  # gated: (buf, index, gate, alt 0)
    assert loads[0].src[3].op is UOps.CONST and loads[0].src[3].arg == 0.0
    out_arr = np.zeros(5, np.float32)
    from shrimpgrad.linearize import interpret
    interpret(p, [out_arr, np.array([1, 2, 3], np.float32)])
    np.testing.assert_array_equal(out_arr, [0, 1, 2, 3, 0])


def test_masked_store_is_gated_and_unmasked_part_untouched():
    a, out = BufferRef(5, F32), BufferRef(3, F32)
    st5 = ShapeTracker.from_shape((5,))
    p = linearize(kernel(store(load(1, st5), ShapeTracker.from_shape((3,)).pad(((1, 1),))), bufs=[out, a]))
    (s,) = [u for u in p.uops if u.op is UOps.STORE]
    assert len(s.src) == 4
    assert run_program(p, p_kernel := kernel(store(load(1, st5), ShapeTracker.from_shape((3,)).pad(((1, 1),))),
                                                bufs=[out, a]),
                       [np.zeros(3, np.float32), np.arange(5, dtype=np.float32)])[0].tolist() == [1, 2, 3]
    check_program(p, p_kernel)


def test_reduce_accumulator_identity_and_loop_placement():
    a, out = BufferRef(12, F32), BufferRef(3, F32)
    x = load(1, ShapeTracker.from_shape((3, 4)))
    for op, init in ((Ops.ADD, 0.0), (Ops.MAX, -np.inf)):
        r = KNode(KOps.REDUCE, (x,), F32, (op, (1,)))
        p = linearize(kernel(store(r, ShapeTracker.from_shape((3, 1))), bufs=[out, a]))
        (acc,) = [u for u in p.uops if u.op is UOps.DEFINE_ACC]
        assert acc.src[0].arg == init
        kinds = [u.arg[1] for u in p.uops if u.op is UOps.RANGE]
        assert kinds == [LoopKind.GLOBAL, LoopKind.REDUCE]
        i = p.uops.index
        (assign,) = [u for u in p.uops if u.op is UOps.ASSIGN]
        (st_,) = [u for u in p.uops if u.op is UOps.STORE]
        ends = [u for u in p.uops if u.op is UOps.END]
        # DEFINE_ACC inside the GLOBAL loop, before the REDUCE loop; update inside; STORE after its END
        assert i(acc) < i([u for u in p.uops if u.op is UOps.RANGE][1]) < i(assign) < i(ends[0]) < i(st_)
        assert [u.arg for u in p.uops if u.op is UOps.ALU and u.src[-1] is acc] == [op]


def test_int_max_identity_is_the_dtype_minimum():
    a, out = BufferRef(4, I32), BufferRef(1, I32)
    r = KNode(KOps.REDUCE, (load(1, ShapeTracker.from_shape((4,)), I32),), I32, (Ops.MAX, (0,)))
    p = linearize(kernel(store(r, ShapeTracker.from_shape((1,))), bufs=[out, a]))
    (acc,) = [u for u in p.uops if u.op is UOps.DEFINE_ACC]
    assert acc.src[0].arg == np.iinfo(np.int32).min


def test_loop_invariant_loads_are_hoisted_out_of_the_reduce_loop():
    # out[i] = sum_j a[i] * b[j]: a[i] doesn't depend on j, so it is loaded once per i, outside the j loop
    a, b, out = BufferRef(3, F32), BufferRef(4, F32), BufferRef(3, F32)
    a_st = ShapeTracker.from_shape((3, 1)).expand((3, 4))
    b_st = ShapeTracker.from_shape((1, 4)).expand((3, 4))
    value = KNode(KOps.ALU, (load(1, a_st), load(2, b_st)), F32, Ops.MUL)
    r = KNode(KOps.REDUCE, (value,), F32, (Ops.ADD, (1,)))
    p = linearize(kernel(store(r, ShapeTracker.from_shape((3, 1))), bufs=[out, a, b]))
    pos = {u.src[0].arg[0]: p.uops.index(u) for u in p.uops if u.op is UOps.LOAD}
    reduce_range = p.uops.index([u for u in p.uops if u.op is UOps.RANGE and u.arg[1] is LoopKind.REDUCE][0])
    assert pos[1] < reduce_range < pos[2]
    check_program(p)


def test_post_loop_read_is_kept_distinct_from_the_update():
    # out[i] = a[i] + sum_j a[i]: the update `a[i] + acc` and the read after the loop look the same
    a, out = BufferRef(3, F32), BufferRef(3, F32)
    a_full = load(1, ShapeTracker.from_shape((3, 1)).expand((3, 4)))
    a_out = load(1, ShapeTracker.from_shape((3, 1)))
    r = KNode(KOps.REDUCE, (a_full,), F32, (Ops.ADD, (1,)))
    k = kernel(store(KNode(KOps.ALU, (a_out, r), F32, Ops.ADD), ShapeTracker.from_shape((3, 1))), bufs=[out, a])
    p = linearize(k)
    check_program(p, k)
    arrays = [np.zeros(3, np.float32), np.array([1, 2, 3], np.float32)]
    np.testing.assert_array_equal(run_program(p, k, arrays)[0], [5, 10, 15])
    np.testing.assert_array_equal(run_reference(k, arrays)[0], [5, 10, 15])
    read = next(u for u in p.uops if u.op is UOps.STORE).src[2]
    assert read.src[0].op is UOps.DEFINE_ACC  # written `acc + a[i]`: the update is `a[i] + acc`


def test_a_read_after_the_loop_keeps_its_operand_order_unless_it_would_equal_an_update():
    # out[i] = b[i] + sum_j a[i, j]: no update looks like `b[i] + acc`, so it is written as the AST says
    a, b, out = BufferRef(12, F32), BufferRef(3, F32), BufferRef(3, F32)
    r = KNode(KOps.REDUCE, (load(1, ShapeTracker.from_shape((3, 4))),), F32, (Ops.ADD, (1,)))
    k = kernel(store(KNode(KOps.ALU, (load(2, ShapeTracker.from_shape((3, 1))), r), F32, Ops.ADD),
                     ShapeTracker.from_shape((3, 1))), bufs=[out, a, b])
    p = linearize(k)
    check_program(p, k)
    read = next(u for u in p.uops if u.op is UOps.STORE).src[2]
    assert read.src[0].op is UOps.LOAD and read.src[1].op is UOps.DEFINE_ACC


def test_negative_zero_constant_is_not_merged_with_zero():
    out = BufferRef(2, F32)
    st = ShapeTracker.from_shape((2,))
    c = lambda v: KNode(KOps.CONST, (), F32, (v, st))
    value = KNode(KOps.ALU, (KNode(KOps.ALU, (c(1.0),), F32, Ops.RECIP), c(-0.0)), F32, Ops.MUL)  # 1 * -0.0
    k = kernel(store(KNode(KOps.ALU, (value,), F32, Ops.RECIP), st), bufs=[out])  # 1 / -0.0 = -inf
    p = linearize(k)
    assert run_program(p, k, [np.zeros(2, np.float32)])[0].tolist() == [-np.inf, -np.inf]


def test_very_long_elementwise_chain_lowers_without_deep_recursion():
    # a 3000-op chain `v = max(v, v) + 1` in one kernel: the walk that orders the nodes once compared a node
    # reached twice structurally with every earlier one, recursing down the chain (RecursionError)
    a, out = BufferRef(4, F32), BufferRef(4, F32)
    st = ShapeTracker.from_shape((4,))
    value = load(1, st)
    for _ in range(1500):
        value = KNode(KOps.ALU, (value, value), F32, Ops.MAX)
        value = KNode(KOps.ALU, (value, KNode(KOps.CONST, (), F32, (1.0, st))), F32, Ops.ADD)
    k = kernel(store(value, st), bufs=[out, a])
    got = run_program(linearize(k), k, [np.zeros(4, np.float32), np.arange(4, dtype=np.float32)])[0]
    assert got.tolist() == [1500.0, 1501.0, 1502.0, 1503.0]


def test_index_dtype_is_int64_for_huge_buffers():
    a, out = BufferRef(2**31 + 8, F32), BufferRef(4, F32)
    st = ShapeTracker.from_shape((2**31 + 8,)).shrink(((2**31, 2**31 + 4),))
    p = linearize(kernel(store(load(1, st), ShapeTracker.from_shape((4,))), bufs=[out, a]))
    (ld,) = [u for u in p.uops if u.op is UOps.LOAD]
    assert ld.src[1].dtype == dtypes.int64
    assert linearize(kernel(store(load(1, ShapeTracker.from_shape((4,))), ShapeTracker.from_shape((4,))),
                            bufs=[out, BufferRef(4, F32)])).uops[-2].src[1].dtype == I32


def test_provenance_reaches_the_stores():
    a, out = BufferRef(4, F32), BufferRef(4, F32)
    st = ShapeTracker.from_shape((4,))
    meta = (str(Provenance("train.py", 12, "Tensor.relu")),)
    p = linearize(kernel(store(load(1, st), st), bufs=[out, a], meta=meta))
    assert [u.meta for u in p.uops if u.op is UOps.STORE] == ["Tensor.relu at train.py:12"]


def test_bad_kernels_are_clear_errors():
    a, out = BufferRef(4, F32), BufferRef(4, I32)
    st = ShapeTracker.from_shape((4,))
    with pytest.raises(LinearizeError, match="STORE of a dtypes.float32 value into buffer 0"):
        linearize(Kernel("k", KNode(KOps.SINK, (KNode(KOps.STORE, (load(1, st),), I32, (0, st)),), I32), (out, a)))
    with pytest.raises(KernelError, match="view has shape"):
        linearize(kernel(store(load(1, ShapeTracker.from_shape((2, 2))), st), bufs=[BufferRef(4, F32), a]))


def test_lowering_state_keeps_the_rules_that_fired():
    a, out = BufferRef(12, F32), BufferRef(18, F32)
    st = ShapeTracker.from_shape((3, 4)).pad(((0, 0), (1, 1))).reshape((3, 2, 3))  # two views
    L = lower(kernel(store(load(1, st), ShapeTracker.from_shape((3, 2, 3))), bufs=[out, a]))
    fired = rules_fired(L.log)
    assert fired and set(fired) <= {r.__name__ for r in RULES}
    assert "div_pull_multiples" in fired
    assert L.plan.describe() == "gidx2:3 gidx1:2 gidx0:3  [no opts]"
