"""Kernel counts of the reference programs written with the Tensor API (as a user writes them).

The scheduler never imports the front end; these tests do, to check that what users write gets
the counts the README promises (tinygrad's counts for the same programs in brackets there)."""

import numpy as np
import pytest
from schedule_strategies import check_against_evaluator

from shrimpgrad import Tensor
from shrimpgrad.graph import Ops
from shrimpgrad.realize import buffer_value
from shrimpgrad.schedule import create_schedule


def schedule_of(*tensors: Tensor):
    """Schedule the tensors' graphs and check the result against the stage-01 evaluator."""
    roots = [t.node for t in tensors]
    leaves = {n.arg for r in roots for n in r.toposort() if n.op is Ops.BUFFER}
    return check_against_evaluator(roots, {ref: np.array(buffer_value(ref)) for ref in leaves})


def names(s) -> list[str]:
    return [k.name for k in s.kernels]


@pytest.fixture(autouse=True)
def _seed():
    Tensor.manual_seed(0)


def test_elementwise_chain_is_one_kernel():
    a, b, c = (Tensor.rand(4, 4) for _ in range(3))
    assert names(schedule_of((a * b + c).relu())) == ["E_4_4"]


def test_softmax_is_one_row_kernel():
    s = schedule_of(Tensor.rand(4, 8).softmax())
    assert names(s) == ["R_4_8"]


def test_softmax_is_three_kernels_like_tinygrad_without_row_kernels(monkeypatch):
    monkeypatch.setenv("SHRIMPGRAD_FUSE_ROWS", "0")
    s = schedule_of(Tensor.rand(4, 8).softmax())
    assert names(s) == ["R_4_8", "R_4_8n1", "E_4_8"]


def test_layernorm_is_one_row_kernel():
    x = Tensor.rand(4, 8)
    y = x - x.mean(axis=-1, keepdim=True)
    out = y * (y * y).mean(axis=-1, keepdim=True).add(1e-5).rsqrt()
    assert len(schedule_of(out).kernels) == 1


def test_log_softmax_and_logsumexp_are_one_row_kernel():
    x = Tensor.rand(4, 8)
    assert len(schedule_of(x.log_softmax()).kernels) == 1
    assert len(schedule_of(x.logsumexp(axis=-1)).kernels) == 1


def test_matmul_bias_relu_is_one_kernel():
    x, w, b = Tensor.rand(4, 8), Tensor.rand(8, 3), Tensor.rand(3)
    assert len(schedule_of((x @ w + b).relu()).kernels) == 1


def test_matmul_relu_sum_is_a_matmul_kernel_and_a_sum_kernel_with_the_relu():
    x, w = Tensor.rand(4, 8), Tensor.rand(8, 3)
    s = schedule_of((x @ w).relu().sum())
    assert names(s) == ["R_4_3_8", "R_4_3"]


def test_mlp_training_step():
    x, y = Tensor.rand(4, 8), Tensor.rand(4, 2)
    w1 = Tensor.rand(8, 16, requires_grad=True)
    w2 = Tensor.rand(16, 2, requires_grad=True)
    loss = (((x @ w1).relu() @ w2 - y) ** 2).mean()
    loss.backward()
    for w in (w1, w2):
        w.assign(w - w.grad * 0.1)
    s = schedule_of(loss, w1, w2)
    assert len(s.kernels) == 8, names(s)
    assert [k.reason.split(":")[0] for k in s.kernels].count("assign") == 2


def test_conv2d_is_one_kernel():
    x, w, b = Tensor.rand(1, 2, 5, 5), Tensor.rand(3, 2, 3, 3), Tensor.rand(3)
    s = schedule_of(x.conv2d(w, b, padding=1).relu())
    assert len(s.kernels) == 1


def test_a_realized_tensor_is_not_recomputed():
    t = (Tensor.rand(4, 4) * 2).realize()
    assert create_schedule([t.node]).kernels == ()
    s = schedule_of(t + 1)
    assert len(s.kernels) == 1 and s.kernels[0].inputs == (t.node.arg,)  # reads the buffer, doesn't redo * 2


def test_assign_after_reads_keeps_the_old_values_for_the_reads():
    x = Tensor(np.arange(4, dtype=np.float32))
    old = x * 10
    x.assign(x + 1)
    s = schedule_of(old, x)
    assert [k.reason.split(":")[0] for k in s.kernels] == ["output", "assign"]
