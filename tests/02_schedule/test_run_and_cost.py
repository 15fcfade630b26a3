"""The numpy runner's errors and the FLOP/byte estimates on a matmul."""

import numpy as np
import pytest
from schedule_programs import REFERENCE_PROGRAMS, inp, matmul

from shrimpgrad.graph import ShapeTracker
from shrimpgrad.schedule import RunError, create_schedule, kernel_bytes, kernel_flops, run_schedule_numpy
from shrimpgrad.schedule.cost import view_footprint


def test_matmul_flops_and_bytes():
    bufs = {}
    x, w = inp((4, 8), bufs), inp((8, 3), bufs)
    (k,) = create_schedule([matmul(x, w)]).kernels
    assert kernel_flops(k) == 4 * 3 * 8 * 2  # a multiply and an add per (i, j, k)
    assert kernel_bytes(k) == (4 * 8 + 8 * 3 + 4 * 3) * 4  # each buffer once, though x is read 3 times


def test_footprint_of_broadcast_and_padded_views():
    st = ShapeTracker.from_shape((4, 1)).expand((4, 8))
    assert view_footprint(st) == 4
    assert view_footprint(ShapeTracker.from_shape((2, 2)).pad(((1, 1), (1, 1)))) == 4


def test_missing_or_malformed_input_buffers_are_named():
    roots, bufs = REFERENCE_PROGRAMS["softmax"]()
    s = create_schedule(roots)
    with pytest.raises(RunError, match="has no value"):
        run_schedule_numpy(s, {})
    (ref,) = bufs
    with pytest.raises(RunError, match=r"expected a flat array of shape \(32,\) and dtype float32"):
        run_schedule_numpy(s, {ref: np.zeros((4, 8), np.float32)})


def test_temporaries_are_allocated_and_kept_for_inspection(monkeypatch):
    monkeypatch.setenv("SHRIMPGRAD_FUSE_ROWS", "0")  # three kernels, two temporaries (F5 makes softmax one kernel)
    roots, bufs = REFERENCE_PROGRAMS["softmax"]()
    s = create_schedule(roots)
    state = dict(bufs)
    run_schedule_numpy(s, state)
    (x,) = bufs.values()
    np.testing.assert_array_equal(state[s.temporaries[0]], x.reshape(4, 8).max(axis=1))
