"""The rules where C and numpy differ, pinned with hand-written numbers: floor division and modulo,
NaN through MAX and comparisons, wrapping overflow, float16 rounding, casts; and exact literals."""

import math

import numpy as np
import pytest
from program_builders import ProgramBuilder, binary, cast, run_c, store_consts

from shrimpgrad.c import render
from shrimpgrad.graph import Ops, dtypes

SIGNED = [dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64]


def run_binary(op, dt, a, b):
    a, b = np.array(a, dt.np), np.array(b, dt.np)
    return run_c(binary(op, dt, a.size, name=f"E_{op.name}_{dt.name}"), [a, b])[0]


@pytest.mark.parametrize("dt", SIGNED, ids=lambda d: d.name)
def test_floor_division_and_modulo_signs(dt):
    a = [7, -7, 7, -7, 6, -6, 0, 5, -5]
    b = [2, 2, -2, -2, 3, 3, 3, 0, 0]
    # numpy's // floors and % takes the divisor's sign (Python's rule); x // 0 == x % 0 == 0 by definition
    assert run_binary(Ops.IDIV, dt, a, b).tolist() == [3, -4, -4, 3, 2, -2, 0, 0, 0]
    assert run_binary(Ops.MOD, dt, a, b).tolist() == [1, 1, -1, -1, 0, 0, 0, 0, 0]
    # the one signed quotient that overflows: MIN // -1 wraps to MIN (in C it would trap and kill the process)
    lo = int(np.iinfo(dt.np).min)
    assert run_binary(Ops.IDIV, dt, [lo, lo, lo], [-1, 1, 2]).tolist() == [lo, lo, lo // 2]
    assert run_binary(Ops.MOD, dt, [lo, lo, lo], [-1, 1, 3]).tolist() == [0, 0, lo % 3]


def test_unsigned_division_by_zero_is_zero():
    assert run_binary(Ops.IDIV, dtypes.uint8, [7, 255, 9], [2, 0, 255]).tolist() == [3, 0, 0]
    assert run_binary(Ops.MOD, dtypes.uint8, [7, 255, 9], [2, 0, 255]).tolist() == [1, 0, 9]


@pytest.mark.parametrize("dt", [dtypes.float16, dtypes.float32, dtypes.float64], ids=lambda d: d.name)
def test_max_propagates_nan_and_comparisons_follow_ieee(dt):
    nan, inf = math.nan, math.inf
    a = [nan, 1.0, nan, inf, -inf, 2.0]
    b = [1.0, nan, nan, 1.0, 1.0, -inf]
    got = run_binary(Ops.MAX, dt, a, b)
    assert np.isnan(got[:3]).all(), "np.maximum lets NaN win (fmax would not)"
    assert got[3:].tolist() == [inf, 1.0, 2.0]
    assert run_binary(Ops.CMPLT, dt, a, b).tolist() == [False, False, False, False, True, False]
    assert run_binary(Ops.CMPNE, dt, a, b).tolist() == [True, True, True, True, True, True]


def test_integer_overflow_wraps():
    i32 = np.iinfo(np.int32)
    assert run_binary(Ops.ADD, dtypes.int32, [i32.max], [1]).tolist() == [i32.min]
    assert run_binary(Ops.MUL, dtypes.int64, [2**62], [4]).tolist() == [0]
    assert run_binary(Ops.MUL, dtypes.int8, [-128, 100], [-1, 3]).tolist() == [-128, 44]
    assert run_binary(Ops.SUB, dtypes.uint8, [3], [5]).tolist() == [254]


def test_float16_rounds_after_every_op():
    """2048 + 1 is not a float16 (the spacing there is 2): each add rounds back to 2048, as numpy does.
    Computing (2048 + 1) + 1 in float and rounding once would give 2050."""
    b = ProgramBuilder(1)
    out, x, y = b.glob(0, dtypes.float16, True), b.glob(1, dtypes.float16), b.glob(2, dtypes.float16)
    i = b.range("gidx0", 1)
    xv, yv = b.load(x, i), b.load(y, i)
    b.store(out, i, b.alu(Ops.ADD, b.alu(Ops.ADD, xv, yv), yv))
    b.end(i)
    xs, ys = np.array([2048], np.float16), np.array([1], np.float16)
    got = run_c(b.build("E_half_chain"), [xs, ys])[0]
    assert got.tolist() == [2048.0] == ((xs + ys) + ys).tolist()


def test_float64_to_float16_rounds_once():
    """1 + 2**-11 + 2**-40 is just above the midpoint between the halves 1 and 1 + 2**-10: rounding
    directly gives 1 + 2**-10; going through float32 first would lose the 2**-40 and round to 1."""
    x = np.array([1 + 2**-11 + 2**-40, 65519.0, 65520.0, -1e-8], np.float64)
    got = run_c(cast(dtypes.float64, dtypes.float16, x.size, name="E_f64_to_f16"), [x])[0]
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, x.astype(np.float16))
    assert got[0] == 1 + 2**-10 and got[1] == 65504.0 and np.isinf(got[2]) and np.signbit(got[3])


def test_casts_truncate_and_bool_means_nonzero():
    x = np.array([-2.7, 2.7, -0.5, 0.0, -0.0, np.nan, np.inf], np.float32)
    assert run_c(cast(dtypes.float32, dtypes.bool, x.size, name="E_to_bool"), [x])[0].tolist() == \
        [True, True, True, False, False, True, True]
    y = x[:4]
    assert run_c(cast(dtypes.float32, dtypes.int32, y.size, name="E_to_int"), [y])[0].tolist() == [-2, 2, 0, 0]


# ---- literals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", [dtypes.float16, dtypes.float32, dtypes.float64], ids=lambda d: d.name)
def test_float_literals_are_exact(dt):
    """Random bit patterns (every exponent, subnormals included) survive literal -> compiler -> memory."""
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2 ** (8 * dt.itemsize), 200, dtype=np.uint64).astype(f"u{dt.itemsize}")
    values = bits.view(dt.np)
    values = np.concatenate([values[np.isfinite(values)], np.array([0.0, -0.0, np.inf, -np.inf], dt.np),
                             np.array([np.finfo(dt.np).max, np.finfo(dt.np).smallest_subnormal], dt.np)])
    got = run_c(store_consts([v.item() for v in values], dt, name=f"E_lit_{dt.name}"), [], n=values.size)[0]
    np.testing.assert_array_equal(got.view(f"u{dt.itemsize}"), values.view(f"u{dt.itemsize}"))


def test_nan_literal():
    got = run_c(store_consts([math.nan], dtypes.float32, name="E_nan"), [], n=1)[0]
    assert np.isnan(got[0])


@pytest.mark.parametrize("dt", [dtypes.int8, dtypes.uint8, dtypes.int16, dtypes.int32, dtypes.int64],
                         ids=lambda d: d.name)
def test_integer_literals_at_the_extremes(dt):
    info = np.iinfo(dt.np)
    values = [int(info.min), int(info.max), 0, -1 if info.min < 0 else 1]
    got = run_c(store_consts(values, dt, name=f"E_ilit_{dt.name}"), [], n=len(values))[0]
    assert got.tolist() == values


def test_literal_text():
    src = render(store_consts([0.1, 1e20, -2.5], dtypes.float32))
    assert "0.1f" in src and "1e+20f" in src and "-2.5f" in src
    src = render(store_consts([-2**63, 2**40], dtypes.int64))
    assert "(-9223372036854775807LL - 1)" in src and "1099511627776LL" in src
    assert "INFINITY" in render(store_consts([math.inf], dtypes.float64))
