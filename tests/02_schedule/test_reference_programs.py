"""Kernel counts of the README's reference programs, and fusion never moving more memory than no fusion."""

import pytest
from schedule_programs import REFERENCE_PROGRAMS, unfused
from schedule_strategies import check_against_evaluator

from shrimpgrad.schedule import kernel_bytes

# The numbers in the README's table; tinygrad's counts for the same graphs are in the README.
KERNEL_COUNTS = {
    "elementwise chain relu(a*b+c)": 1,
    "softmax": 1,  # rule F5: one row kernel (3 with SHRIMPGRAD_FUSE_ROWS=0, as tinygrad's grouper)
    "layernorm": 1,
    "matmul + bias + relu": 1,
    "(x @ w).relu().sum()": 2,
    "MLP training step": 8,
    "conv2d + bias + relu": 1,
}


@pytest.mark.parametrize("name", list(REFERENCE_PROGRAMS))
def test_kernel_count(name):
    roots, buffers = REFERENCE_PROGRAMS[name]()
    s = check_against_evaluator(roots, buffers)
    assert len(s.kernels) == KERNEL_COUNTS[name], [k.name for k in s.kernels]


@pytest.mark.parametrize("name", list(REFERENCE_PROGRAMS))
def test_fusion_never_moves_more_memory_than_one_kernel_per_op(name):
    roots, buffers = REFERENCE_PROGRAMS[name]()
    fused = check_against_evaluator(roots, buffers)
    baseline = check_against_evaluator(unfused(roots), buffers)
    assert len(fused.kernels) < len(baseline.kernels)
    assert sum(map(kernel_bytes, fused.kernels)) < sum(map(kernel_bytes, baseline.kernels))


def test_matmul_relu_sum_fuses_the_relu_into_the_sum():
    roots, buffers = REFERENCE_PROGRAMS["(x @ w).relu().sum()"]()
    s = check_against_evaluator(roots, buffers)
    assert [k.name for k in s.kernels] == ["R_4_3_8", "R_4_3"]
    assert "MAX" in str(s.kernels[1].ast) and "MAX" not in str(s.kernels[0].ast)


def test_conv2d_is_one_kernel_whose_loads_are_views():
    roots, buffers = REFERENCE_PROGRAMS["conv2d + bias + relu"]()
    s = check_against_evaluator(roots, buffers)
    (k,) = s.kernels
    assert k.full_shape == (1, 3, 2, 5, 5, 3, 3) and k.reduce_axes == (2, 5, 6)
    assert len(k.inputs) == 3  # the image, the weights, the bias: the windows are only a view
