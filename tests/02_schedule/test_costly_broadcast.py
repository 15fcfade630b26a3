"""Rule B11 `costly_broadcast`: an elementwise value that a REDUCE reads through a broadcast is stored once when
recomputing it at every position of the broadcast would repeat costly work; cheap values still fuse (F1).

Every schedule is checked bit for bit against stage 01's evaluator (`check_against_evaluator`), with the rule on
and off (SHRIMPGRAD_STORE_COSTLY_BROADCAST=0); the MLP's gradients are also compared with numpy."""

import numpy as np
import pytest
from schedule_programs import REFERENCE_PROGRAMS, exp, inp, matmul, relu, softmax_graph, sum_
from schedule_strategies import check_against_evaluator

from shrimpgrad.graph import Ops, alu, broadcast_const, dtypes, movement
from shrimpgrad.schedule import Boundary, read_outputs, rules, run_schedule_numpy
from shrimpgrad.schedule.rules import Move

F32 = dtypes.float32


def rules_of(s) -> list[str]:
    return [k.reason.split(":")[0] for k in s.kernels]


def both_ways(roots, bufs, monkeypatch):
    """The schedule with B11 on, then off; both checked against the evaluator."""
    on = check_against_evaluator(roots, bufs)
    monkeypatch.setenv(rules.COSTLY_BROADCAST_ENV, "0")
    off = check_against_evaluator(roots, bufs)
    monkeypatch.delenv(rules.COSTLY_BROADCAST_ENV)
    return on, off


def costly(a, b):
    """exp(a) / b: a transcendental op and a division, as in log_softmax's backward."""
    return alu(Ops.DIV, exp(a), b)


def test_B11_a_costly_value_read_by_a_matmul_is_stored_once(monkeypatch):
    bufs = {}
    a, b, w = inp((64, 16), bufs), inp((64, 16), bufs, 1.0, 2.0), inp((16, 64), bufs)
    on, off = both_ways([matmul(costly(a, b), w)], bufs, monkeypatch)  # (64, 64, 16): exp(a)/b recomputed 64x
    assert rules_of(on) == ["costly_broadcast", "output"]
    assert [k.name for k in on.kernels] == ["E_64_16", "R_64_64_16"]
    assert "costly_broadcast" in on.kernels[0].reason and "64x per element" in on.kernels[0].reason
    assert rules_of(off) == ["output"]  # off: one kernel, as before the rule


def test_B11_fires_for_the_transposed_read_too(monkeypatch):
    bufs = {}
    a, b, h = inp((64, 16), bufs), inp((64, 16), bufs, 1.0, 2.0), inp((64, 32), bufs)
    g = costly(a, b)
    dw = matmul(movement(Ops.PERMUTE, h, (1, 0)), g)  # h.T @ g: (32, 16, 64), g read through a permute + expand
    on, off = both_ways([dw], bufs, monkeypatch)
    assert rules_of(on) == ["costly_broadcast", "output"] and rules_of(off) == ["output"]


def test_B11_one_stored_value_serves_both_matmuls_that_read_it(monkeypatch):
    bufs = {}
    a, b = inp((64, 16), bufs), inp((64, 16), bufs, 1.0, 2.0)
    w, h = inp((32, 16), bufs), inp((64, 32), bufs)
    g = costly(a, b)  # like the loss gradient: read by g @ w.T and by h.T @ g
    roots = [matmul(g, movement(Ops.PERMUTE, w, (1, 0))), matmul(movement(Ops.PERMUTE, h, (1, 0)), g)]
    on, off = both_ways(roots, bufs, monkeypatch)
    assert rules_of(on) == ["costly_broadcast", "output", "output"]
    assert rules_of(off) == ["output", "output"]


def test_B11_a_long_chain_without_a_costly_op_is_stored_too(monkeypatch):
    bufs = {}
    a, b, w = inp((64, 16), bufs), inp((64, 16), bufs), inp((16, 64), bufs)
    v = a
    for _ in range(rules.MAX_CHEAP_OPS + 1):  # 5 multiply-adds: more than MAX_CHEAP_OPS
        v = alu(Ops.ADD, alu(Ops.MUL, v, b), a)
    on, _ = both_ways([matmul(v, w)], bufs, monkeypatch)
    assert rules_of(on) == ["costly_broadcast", "output"]


@pytest.mark.parametrize("producer", ["scale", "relu", "relu_mask", "cast", "plain"])
def test_B11_cheap_values_still_fuse_into_the_matmul(producer, monkeypatch):
    bufs = {}
    a, m, w = inp((64, 16), bufs), inp((64, 16), bufs), inp((16, 64), bufs)
    zero = broadcast_const(0.0, F32, a.shape)
    value = {
        "scale": alu(Ops.MUL, a, broadcast_const(0.5, F32, a.shape)),
        "relu": relu(a),
        "relu_mask": alu(Ops.WHERE, alu(Ops.CMPLT, zero, m), a, zero),  # relu's backward: (m > 0).where(a, 0)
        "cast": alu(Ops.CAST, alu(Ops.CAST, a, dtype=dtypes.float16), dtype=F32),  # a.half().float(): CASTs are free
        "plain": a,
    }[producer]
    on, off = both_ways([matmul(value, w)], bufs, monkeypatch)
    assert rules_of(on) == rules_of(off) == ["output"]


def test_B11_leaves_small_repeats_fused(monkeypatch):
    bufs = {}
    a, b, x = inp((128, 1), bufs), inp((128, 1), bufs, 1.0, 2.0), inp((128, 10), bufs)
    row = movement(Ops.EXPAND, costly(a, b), (128, 10))  # read 10x: softmax backward's per-row values
    on, _ = both_ways([sum_(alu(Ops.MUL, row, x), 1)], bufs, monkeypatch)
    assert rules_of(on) == ["output"]


def test_B11_leaves_values_computed_from_a_reduce_to_B4_B6_and_F5(monkeypatch):
    for name in ("softmax", "layernorm", "MLP training step", "conv2d + bias + relu"):
        roots, bufs = REFERENCE_PROGRAMS[name]()
        on, off = both_ways(roots, bufs, monkeypatch)
        assert rules_of(on) == rules_of(off), name
    bufs = {}
    x = inp((64, 32), bufs)
    on, off = both_ways([sum_(softmax_graph(x), 1)], bufs, monkeypatch)  # a reduce of a row kernel's value
    assert rules_of(on) == rules_of(off)


def test_B11_the_rule_decides_by_itself(monkeypatch):
    a, b = inp((64, 16), {}), inp((64, 16), {})
    g = costly(a, b)
    expand = (Move(Ops.RESHAPE, (64, 1, 16)), Move(Ops.EXPAND, (64, 64, 16)))
    here = lambda n: n.op is not Ops.BUFFER  # noqa: E731
    fired = rules.costly_broadcast(g, expand, (64, 64, 16), here)
    assert isinstance(fired, Boundary) and fired.rule == "costly_broadcast"
    assert rules.costly_broadcast(g, expand[:1], (64, 1, 16), here) is None  # no broadcast
    assert rules.costly_broadcast(g, expand, (64, 4, 16), here) is None  # read 4x: fewer than MIN_REPEATS
    assert rules.costly_broadcast(alu(Ops.MUL, a, b), expand, (64, 64, 16), here) is None  # cheap
    assert rules.costly_broadcast(alu(Ops.EXP2, sum_(a, 1)), (Move(Ops.EXPAND, (64, 16)),), (64, 16), here) is None
    monkeypatch.setenv(rules.COSTLY_BROADCAST_ENV, "0")
    assert rules.costly_broadcast(g, expand, (64, 64, 16), here) is None  # switched off


# ---- the MLP step of issue 12 (W6), written with the Tensor API, on numbers numpy checks ----------------

def _mlp_gradients_numpy(x, y, w1, w2):
    h = x @ w1
    a = np.maximum(h, 0)
    z = a @ w2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(z.shape[1], dtype=np.float32)[y]) / len(y)
    return x.T @ ((dz @ w2.T) * (h > 0)), a.T @ dz


def test_B11_mlp_step_gradients_match_numpy_on_and_off(monkeypatch):
    from shrimpgrad import Tensor
    from shrimpgrad.realize import buffer_value

    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((32, 16)).astype(np.float32), rng.integers(0, 10, 32).astype(np.int32)
    w1n, w2n = rng.standard_normal((16, 32)).astype(np.float32), rng.standard_normal((32, 10)).astype(np.float32)
    w1, w2 = Tensor(w1n, requires_grad=True), Tensor(w2n, requires_grad=True)
    loss = (Tensor(x) @ w1).relu().matmul(w2).sparse_categorical_crossentropy(Tensor(y))
    loss.backward()
    roots = [w1.grad.node, w2.grad.node]
    leaves = {n.arg for r in roots for n in r.toposort() if n.op is Ops.BUFFER}
    bufs = {ref: np.array(buffer_value(ref)) for ref in leaves}
    on, off = both_ways(roots, bufs, monkeypatch)
    assert rules_of(on).count("costly_broadcast") == 1 and "costly_broadcast" not in rules_of(off)
    assert len(on.kernels) == len(off.kernels) + 1
    expected = _mlp_gradients_numpy(x, y, w1n, w2n)
    for s in (on, off):
        state = {ref: arr.copy() for ref, arr in bufs.items()}
        run_schedule_numpy(s, state)
        for got, want in zip(read_outputs(s, state), expected):
            np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-4, atol=1e-5)
