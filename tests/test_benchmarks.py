"""The benchmark workloads compute what their numpy twins compute (a fast benchmark of a wrong answer is worthless)."""

import importlib.util
import pathlib

import numpy as np

_BENCH = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_ops.py"
_spec = importlib.util.spec_from_file_location("bench_ops", _BENCH)
bench_ops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_ops)


def test_benchmark_workloads_match_numpy():
    for name, shrimp, reference, _torch in bench_ops.workloads(32):
        np.testing.assert_allclose(shrimp().numpy(), reference(), rtol=1e-4, atol=1e-3, err_msg=name)
