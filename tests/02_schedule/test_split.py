"""split_reductions (stages/02_schedule/split.py): a big reduction to one value becomes two kernels, the first with
one output per row, and computes the same value (ints and max exactly, float sums within rounding)."""

import numpy as np
import pytest

from shrimpgrad import Tensor
from shrimpgrad.graph import Ops, evaluate
from shrimpgrad.schedule import create_schedule, read_outputs, run_schedule_numpy
from shrimpgrad.schedule.split import SPLIT_MIN, split_reduction

RNG = np.random.default_rng(0)


def _names(t: Tensor) -> list[str]:
    return [k.name for k in create_schedule([t.node]).kernels]


def test_a_big_sum_is_two_kernels_the_first_with_256_rows():
    x = Tensor(RNG.standard_normal((512, 1024)).astype(np.float32))
    assert _names(x.sum()) == ["R_256_2048", "R_256_1"]
    np.testing.assert_allclose(x.sum().numpy(), x.numpy().astype(np.float64).sum(), rtol=1e-5)


@pytest.mark.parametrize("shape", [(300, 300), (1 << 16,), (4, 128, 128)])
def test_int_sums_and_max_are_exact(shape):
    ints = RNG.integers(-1000, 1000, shape).astype(np.int32)
    floats = RNG.standard_normal(shape).astype(np.float32)
    assert Tensor(ints).sum().item() == int(ints.sum())
    assert Tensor(floats).max().item() == floats.max()
    assert len(_names(Tensor(ints).sum())) == 2


def test_small_prime_and_partial_reductions_stay_one_kernel():
    assert len(_names(Tensor(np.ones(SPLIT_MIN - 1, np.float32)).sum())) == 1  # small
    assert len(_names(Tensor(np.ones(65537, np.float32)).sum())) == 1  # prime: no even split
    assert len(_names(Tensor(np.ones((512, 512), np.float32)).sum(axis=1))) == 1  # many outputs already


def test_a_split_sum_fuses_with_what_reads_it_and_matches_the_graph_evaluator():
    x = Tensor(RNG.standard_normal((256, 512)).astype(np.float32))
    y = (x - x.mean()).square().mean()  # two full reductions, each split, feeding elementwise ops
    x.realize()
    schedule = create_schedule([y.node])
    assert [k.name for k in schedule.kernels][:2] == ["R_256_512", "R_256_1"]
    buffers = {x.node.arg: x.numpy().reshape(-1)}
    run_schedule_numpy(schedule, buffers)
    (got,) = read_outputs(schedule, buffers)
    np.testing.assert_allclose(got, evaluate(y.node, {x.node.arg: x.numpy().reshape(-1)}), rtol=1e-5)
    np.testing.assert_allclose(y.numpy(), x.numpy().var(), rtol=1e-5)


def test_the_rewrite_itself_and_the_switch(monkeypatch):
    x = Tensor(np.ones((512, 512), np.float32))
    node = x.sum().node
    while node.op is not Ops.REDUCE:
        node = node.src[0]
    split = split_reduction(node)
    assert split.shape == node.shape and split.op is Ops.RESHAPE and split.src[0].op is Ops.REDUCE
    monkeypatch.setenv("SPLIT_REDUCE", "0")
    assert len(_names(x.sum())) == 1
