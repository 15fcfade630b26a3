"""The C dialect's exp2/log2 (alu.py's vectorizable helpers) against numpy over every float32 range: exp2 within
1 ulp, log2 within 1 ulp, special values exactly as numpy's; float16 within half a float16 ulp of numpy; and gcc
really vectorizes a loop that calls them."""

import subprocess

import numpy as np
import pytest
from ulps import ulps

from shrimpgrad import Tensor, dtypes
from shrimpgrad.c import c_compiler, render
from shrimpgrad.c.compiler import FLAGS
from shrimpgrad.linearize import linearize
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(0)


def _on_c(values: np.ndarray, op: str) -> np.ndarray:
    return getattr(Tensor(values, device="C"), op)().numpy()


def test_exp2_within_one_ulp_everywhere():
    x = np.concatenate([RNG.uniform(-155, 135, 400_000), RNG.uniform(-1, 1, 100_000),
                        np.arange(-151, 130, 0.25)]).astype(np.float32)
    with np.errstate(over="ignore"):
        want = np.exp2(x.astype(np.float64)).astype(np.float32)  # correctly rounded (through float64)
    assert ulps(_on_c(x, "exp2"), want).max() <= 1


def test_log2_within_one_ulp_on_every_float32():
    x = RNG.integers(0, 2**31 - 1, 500_000, dtype=np.int64).astype(np.int32).view(np.float32)  # every exponent
    x = x[np.isfinite(x)]
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log2(x.astype(np.float64)).astype(np.float32)
    assert ulps(_on_c(x, "log2"), want).max() <= 1


@pytest.mark.parametrize("op", ["exp2", "log2"])
def test_special_values_are_numpys(op):
    x = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-45, 1e-40, 1.17e-38, 128.0, 127.99, -149.0,
                  -150.0, -151.0, 200.0, -200.0, 3.4e38], np.float32)
    with np.errstate(all="ignore"):
        want = getattr(np, op)(x)
    got = _on_c(x, op)
    assert ulps(got, want).max() <= 3, (x, got, want)
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(np.isinf(got), np.isinf(want))


@pytest.mark.parametrize("op", ["exp2", "log2"])
def test_float16_rounds_like_numpy(op):
    x = (RNG.uniform(-14, 15, 20_000) if op == "exp2" else RNG.uniform(0.001, 6e4, 20_000)).astype(np.float16)
    got = getattr(Tensor(x, device="C"), op)().numpy()
    want = getattr(np, op)(x.astype(np.float64)).astype(np.float16)
    assert got.dtype == np.float16
    assert np.max(np.abs(got.astype(np.float64) - want) / np.abs(want.astype(np.float64))) <= 2 ** -10


def test_float64_keeps_the_math_library():
    src = _source(Tensor(np.ones(64), dtype=dtypes.float64).exp2())
    assert "exp2(" in src and "exp2_float32" not in src


def _source(t: Tensor) -> str:
    (k,) = create_schedule([t.node]).kernels
    return render(linearize(k), comments=False)


@pytest.mark.parametrize("op", ["exp2", "log2"])
def test_gcc_vectorizes_a_loop_over_them(op):
    if "clang" in c_compiler():
        pytest.skip("-fopt-info-vec is gcc's")
    src = _source(getattr(Tensor(np.ones(4096, np.float32)), op)())
    assert f"{op}_float32(" in src
    done = subprocess.run([c_compiler(), *(f for f in FLAGS if f not in ("-shared", "-fPIC")), "-fopt-info-vec",
                           "-S", "-o", "/dev/null", "-x", "c", "-"], input=src, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "loop vectorized" in done.stderr, done.stderr
