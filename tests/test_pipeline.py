"""The whole compiler, differentially: for random graphs, every way of computing them agrees.

    stage 01 evaluate (numpy on the graph)  ≡  device PYTHON (schedule -> UOps -> interpreter)
                                            ≡  device C      (schedule -> UOps -> C -> compiled)

Integer graphs must agree exactly; float graphs within graph_strategies.FLOAT_TOLERANCE (the C
math library's sin/exp2/log2 may differ from numpy's in the last bits, and that difference can grow
through a few ops)."""

import functools

import numpy as np
from graph_strategies import FLOAT_TOLERANCE, graphs, int_graphs
from hypothesis import given

from shrimpgrad.graph import evaluate
from shrimpgrad.realize import Buffer, _storage, buffer_value, realize


def _run_everywhere(roots, buffers):
    expected = evaluate(roots, buffers)
    for ref, flat in buffers.items():
        _storage[ref] = Buffer(ref, "C", flat.copy())
    results = {}
    for device in ("PYTHON", "C"):
        outs = realize(roots, device)
        results[device] = [buffer_value(o.arg).reshape(o.shape) for o in outs]
    return expected, results


def _check(case, compare):
    roots, buffers = case
    expected, results = _run_everywhere(roots, buffers)
    for device, values in results.items():
        for want, got in zip(expected, values):
            assert got.dtype == want.dtype, device
            compare(got, want, err_msg=device)


@given(int_graphs())
def test_random_int_graphs_agree_exactly_on_every_device(case):
    _check(case, np.testing.assert_array_equal)


@given(graphs())
def test_random_float_graphs_agree_on_every_device(case):
    _check(case, functools.partial(np.testing.assert_allclose, **FLOAT_TOLERANCE))
