"""The vector-math switch (dialect.py's `vector_math`, SHRIMPGRAD_C_VECTOR_MATH): on (the default), float32 exp2
and log2 are alu.py's branch-free helpers, within 1 ulp of the correctly rounded result; off, they are the math
library's exp2f/log2f, bit for bit. Either way softmax and log_softmax agree within float rounding."""

import ctypes
import ctypes.util
import os
import subprocess
import sys

import numpy as np
import pytest
from ulps import ulps

from shrimpgrad import Tensor
from shrimpgrad.c import render
from shrimpgrad.c.dialect import C_DIALECT, C_LIBM_DIALECT, VECTOR_MATH_ENV, vector_math_setting
from shrimpgrad.linearize import linearize
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(12)


def _correctly_rounded(op: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return getattr(np, op)(x.astype(np.float64)).astype(np.float32)


def _every_positive_float32(step: int) -> np.ndarray:
    """Every step-th positive finite float32, denormals included: each exponent gets ~2^23 / step values."""
    return np.arange(1, 0x7F800000, step, dtype=np.int64).astype(np.int32).view(np.float32)


def _exp2_inputs(step: int) -> np.ndarray:
    """Every step-th float32 in [-152, 130] (beyond: 0 or inf), both signs."""
    pos = np.arange(0, int(np.float32(130).view(np.int32)), step, dtype=np.int64)
    neg = np.arange(0, int(np.float32(152).view(np.int32)), step, dtype=np.int64) | (1 << 31)
    return np.concatenate([pos, neg]).astype(np.uint32).view(np.float32)


SAMPLES = {"log2": lambda: _every_positive_float32(1009), "exp2": lambda: _exp2_inputs(1009)}


@pytest.mark.parametrize("op", ["exp2", "log2"])
def test_within_one_ulp_of_the_correctly_rounded_result(op):
    x = SAMPLES[op]()
    got = getattr(Tensor(x, device="C"), op)().numpy()
    assert ulps(got, _correctly_rounded(op, x)).max() <= 1


def _libm(op: str, x: np.ndarray) -> np.ndarray:
    fn = getattr(ctypes.CDLL(ctypes.util.find_library("m")), f"{op}f")
    fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
    return np.array([fn(float(v)) for v in x], np.float32)


_CHILD = """
import json, sys
import numpy as np
from shrimpgrad import Tensor
x = np.load(sys.argv[1])
e, l = Tensor(x, device="C").exp2().numpy(), Tensor(np.abs(x) * 1e3, device="C").log2().numpy()
s = np.load(sys.argv[2])
sm, lsm = Tensor(s, device="C").softmax(-1).numpy(), Tensor(s, device="C").log_softmax(-1).numpy()
np.savez(sys.argv[3], exp2=e, log2=l, softmax=sm, log_softmax=lsm)
"""


def _run_child(tmp_path, setting: str) -> dict[str, np.ndarray]:
    out = tmp_path / f"out{setting}.npz"
    env = {**os.environ, VECTOR_MATH_ENV: setting}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "x.npy"), str(tmp_path / "s.npy"), str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return dict(np.load(out))


def test_switched_off_it_is_the_math_library_bit_for_bit_and_on_within_one_ulp(tmp_path):
    x = np.concatenate([RNG.uniform(-150, 128, 3000), RNG.uniform(-1, 1, 1000),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, 200.0, -200.0]]).astype(np.float32)
    s = (RNG.standard_normal((32, 300)) * 10).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "s.npy", s)
    off, on = _run_child(tmp_path, "0"), _run_child(tmp_path, "1")
    logs = np.abs(x) * np.float32(1e3)
    np.testing.assert_array_equal(off["exp2"], _libm("exp2", x))  # the same bits, NaN where NaN
    np.testing.assert_array_equal(off["log2"], _libm("log2", logs))
    assert ulps(on["exp2"], _correctly_rounded("exp2", x)).max() <= 1
    assert ulps(on["log2"], _correctly_rounded("log2", logs)).max() <= 1
    # on vs off: within float rounding of each other. log_softmax is x - max - log(sum): a log(sum) up to ~6 that
    # differs by an ulp or two (5e-7 each) shows in full where x - max - log(sum) is near 0, hence the atol
    np.testing.assert_allclose(on["softmax"], off["softmax"], rtol=2e-6, atol=1e-9)
    np.testing.assert_allclose(on["log_softmax"], off["log_softmax"], rtol=2e-6, atol=2e-6)


def _source(t: Tensor, dialect) -> str:
    (k,) = create_schedule([t.node]).kernels
    return render(linearize(k), comments=False, dialect=dialect)


@pytest.mark.parametrize("op", ["exp2", "log2"])
def test_the_source_shows_which_one(op):
    t = getattr(Tensor(np.ones(64, np.float32)), op)()
    assert f"{op}_float32(" in _source(t, C_DIALECT) and f"{op}f(" not in _source(t, C_DIALECT)
    assert f"{op}f(" in _source(t, C_LIBM_DIALECT) and f"{op}_float32" not in _source(t, C_LIBM_DIALECT)


def test_the_setting_reads_0_or_1_and_names_them_otherwise():
    assert vector_math_setting("1") and not vector_math_setting("0")
    assert C_DIALECT.vector_math == vector_math_setting()
    with pytest.raises(ValueError, match="SHRIMPGRAD_C_VECTOR_MATH='yes': use 1 .* or 0"):
        vector_math_setting("yes")


def test_cuda_keeps_its_built_in_exp2():
    cuda = pytest.importorskip("shrimpgrad.cuda.dialect")
    assert not cuda.CUDA_DIALECT.vector_math


@pytest.mark.skipif(not C_DIALECT.vector_math, reason="the README shows the default, SHRIMPGRAD_C_VECTOR_MATH=1")
def test_readme_example_output_is_real():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("stage04_readme", Path(__file__).with_name("test_readme.py"))
    readme = importlib.util.module_from_spec(spec)  # by path: every stage has a test_readme module
    spec.loader.exec_module(readme)
    printed, shown = readme.run_example("vector-math")
    assert printed == shown


def test_exp2_horner_steps_are_fused_with_the_dialects_fma_and_within_one_ulp_either_way(tmp_path):
    """With `fma` (the C default) each Horner step of exp2_float32 is one fmaf(p, f, c); SHRIMPGRAD_FMA=0 writes
    p = p * f + c. Both within 1 ulp of the correctly rounded result (the fused run in this process, the unfused in
    a child, as the switch is read at import)."""
    from shrimpgrad.c.dialect import C_FMA_DIALECT, C_NO_FMA_DIALECT

    t = Tensor(np.ones(64, np.float32)).exp2()
    assert _source(t, C_FMA_DIALECT).count("p = fmaf(p, f, ") == 6
    assert "fmaf" not in _source(t, C_NO_FMA_DIALECT) and _source(t, C_NO_FMA_DIALECT).count("p = p * f + ") == 6
    if not C_DIALECT.fma:
        pytest.skip("SHRIMPGRAD_FMA=0 in this process: nothing fused to compare with")
    x = SAMPLES["exp2"]()[::7]
    np.save(tmp_path / "x.npy", x)
    child = ("import sys, numpy as np; from shrimpgrad import Tensor; "
             "np.save(sys.argv[2], Tensor(np.load(sys.argv[1]), device='C').exp2().numpy())")
    done = subprocess.run([sys.executable, "-c", child, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                          env={**os.environ, "SHRIMPGRAD_FMA": "0"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    unfused, fused = np.load(tmp_path / "y.npy"), Tensor(x, device="C").exp2().numpy()
    want = _correctly_rounded("exp2", x)
    assert ulps(unfused, want).max() <= 1 and ulps(fused, want).max() <= 1
    assert not np.array_equal(unfused, fused)  # the switch reached the child: one rounding fewer changes some results
