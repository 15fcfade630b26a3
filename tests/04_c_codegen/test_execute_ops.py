"""Every ALU op on every dtype it accepts, compiled to C and run, against stage 01's numpy semantics
(`apply_alu`, the oracle). Inputs are all pairs of each dtype's special values (0, -0.0, extremes,
inf, nan, denormals, ...) plus random values. One kernel per dtype holds all its ops."""

import numpy as np
import pytest
from program_builders import many_casts, many_ops, run_c

from shrimpgrad.graph import ALL_DTYPES, ALU, BufferRef, GraphError, Ops, alu, apply_alu, buffer, dtypes

RNG_SEED = 4
TRANSCENDENTAL = {Ops.SIN, Ops.EXP2, Ops.LOG2}  # libm and numpy may differ in the last bits


def special_values(dt) -> np.ndarray:
    if dt.is_bool:
        return np.array([False, True])
    if dt.is_int:
        info = np.iinfo(dt.np)
        vals = [0, 1, -1, 2, -2, 3, -3, 7, -7, 100, -100, info.max, info.min, info.max - 1, info.min + 1]
        return np.array([v for v in vals if info.min <= v <= info.max], dtype=dt.np)
    info = np.finfo(dt.np)
    vals = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-3, 1000.0, 65504.0, float(info.max), float(info.tiny),
            float(info.smallest_subnormal), -float(info.smallest_subnormal), np.inf, -np.inf, np.nan]
    with np.errstate(over="ignore"):
        return np.array(vals, dtype=np.float64).astype(dt.np)


def random_values(dt, n: int, rng: np.random.Generator) -> np.ndarray:
    if dt.is_bool:
        return rng.integers(0, 2, n).astype(bool)
    if dt.is_int:
        info = np.iinfo(dt.np)
        return rng.integers(info.min, info.max, n, endpoint=True, dtype=dt.np)
    return (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(dt.np)


def operands(dt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a, b: every pair of special values, then random values; cond: random bools."""
    rng = np.random.default_rng(RNG_SEED)
    s = special_values(dt)
    a, b = np.repeat(s, s.size), np.tile(s, s.size)
    a = np.concatenate([a, random_values(dt, 256, rng)])
    b = np.concatenate([b, random_values(dt, 256, rng)])
    return a, b, rng.integers(0, 2, a.size).astype(bool)


def ops_for(dt) -> list[Ops]:
    """The ALU ops stage 01 accepts on `dt` (its constructor is the judge), except CAST (tested below)."""
    x = buffer(BufferRef(1, dt), (1,))
    c = buffer(BufferRef(1, dtypes.bool), (1,))
    ok = []
    for op in sorted(ALU - {Ops.CAST}, key=lambda o: o.value):
        args = (c, x, x) if op is Ops.WHERE else (x,) if op in {Ops.NEG, Ops.RECIP, Ops.SQRT, Ops.EXP2, Ops.LOG2,
                                                                 Ops.SIN, Ops.TRUNC} else (x, x)
        try:
            alu(op, *args)
        except GraphError:
            continue
        if dt.is_bool and op is Ops.NEG:
            continue  # stage 01 rejects NEG of a bool at evaluation time
        ok.append(op)
    return ok


def assert_matches(got: np.ndarray, want: np.ndarray, what: str, max_ulp: int = 0) -> None:
    """Bit-exact (-0.0 is not 0.0; NaN equals NaN), or within `max_ulp` units in the last place."""
    assert got.dtype == want.dtype, what
    if got.dtype.kind != "f":
        bad = np.nonzero(got != want)[0]
    else:
        nan_ok = np.isnan(got) == np.isnan(want)
        if max_ulp == 0:
            same = (got.view(f"u{got.itemsize}") == want.view(f"u{got.itemsize}")) | (np.isnan(got) & np.isnan(want))
        else:
            finite = np.isfinite(got) & np.isfinite(want)
            ulp = np.spacing(np.maximum(np.abs(want), np.finfo(want.dtype).tiny).astype(want.dtype))
            with np.errstate(all="ignore"):
                close = np.abs(got.astype(np.float64) - want.astype(np.float64)) <= max_ulp * ulp.astype(np.float64)
            same = (got == want) | (np.isnan(got) & np.isnan(want)) | (finite & close)
        bad = np.nonzero(~(same & nan_ok))[0]
    assert bad.size == 0, f"{what}: {bad.size} mismatches, first at {bad[:5]}: got {got[bad[:5]]}, want {want[bad[:5]]}"


@pytest.mark.parametrize("dt", ALL_DTYPES, ids=lambda d: d.name)
def test_every_op_matches_stage01_semantics(dt):
    ops = ops_for(dt)
    a, b, cond = operands(dt)
    outs = run_c(many_ops(ops, dt, a.size, name=f"E_ops_{dt.name}"), [a, b, cond])
    with np.errstate(all="ignore"):
        for op, got in zip(ops, outs):
            args = (cond, a, b) if op is Ops.WHERE else (a,) if len(ops_arity(op)) == 1 else (a, b)
            want = np.asarray(apply_alu(op, dt, args))
            ulps = 0 if op not in TRANSCENDENTAL else (1 if dt == dtypes.float16 else 4)
            assert_matches(got, want, f"{op.name} on {dt.name}", ulps)


def ops_arity(op: Ops) -> tuple:
    from shrimpgrad.graph import UNARY
    return (0,) if op in UNARY else (0, 0)


def test_op_coverage():
    """Every ALU op (but CAST) runs on at least one dtype, and floats get all the float ops."""
    covered = set().union(*(ops_for(dt) for dt in ALL_DTYPES))
    assert covered == ALU - {Ops.CAST}
    assert {Ops.SIN, Ops.MAX, Ops.DIV} <= set(ops_for(dtypes.float16))
    assert {Ops.IDIV, Ops.MOD, Ops.XOR} <= set(ops_for(dtypes.int8))


def cast_inputs(src, dst, n: int, rng) -> np.ndarray:
    """Values of `src` whose cast to `dst` is defined: a float cast to an int must fit (C leaves the
    rest undefined, and stage 01 leaves it unspecified)."""
    s = special_values(src)
    vals = np.concatenate([np.resize(s, n // 2), random_values(src, n - n // 2, rng)])
    if src.is_float and dst.is_int:
        info = np.iinfo(dst.np)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(vals) & (np.trunc(vals.astype(np.float64)) >= info.min) & \
                 (np.trunc(vals.astype(np.float64)) <= info.max)
        vals = np.where(ok, vals, np.asarray(rng.integers(max(info.min, -1000), min(info.max, 1000), n), src.np))
    return vals.astype(src.np)


@pytest.mark.parametrize("src", ALL_DTYPES, ids=lambda d: d.name)
def test_every_cast_matches_stage01_semantics(src):
    rng = np.random.default_rng(RNG_SEED)
    n = 160
    inputs = [cast_inputs(src, dst, n, rng) for dst in ALL_DTYPES]
    outs = run_c(many_casts(src, list(ALL_DTYPES), n, name=f"E_casts_{src.name}"), inputs)
    with np.errstate(all="ignore"):
        for dst, x, got in zip(ALL_DTYPES, inputs, outs):
            assert_matches(got, np.asarray(apply_alu(Ops.CAST, dst, [x])), f"CAST {src.name} -> {dst.name}")
