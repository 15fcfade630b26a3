"""bfloat16 (and the unsigned ints' CUDA spelling) through the stages: memory holds the 16 bits (uint16), values
are computed in float32 and rounded back to the nearest bfloat16 after every op (stage 01's dtype.py). The C
program, the PYTHON interpreter and stage 01's `apply_alu` (the oracle) must agree bit for bit; the CUDA source
compiles with NVRTC (no GPU needed)."""

import numpy as np
import pytest
from program_builders import many_casts, many_ops, run_c

from shrimpgrad.graph import ALL_DTYPES, Ops, dtypes
from shrimpgrad.graph.dtype import (
    bfloat16_bits_to_float32,
    float32_to_bfloat16_bits,
    from_storage,
    round_values,
    to_storage,
)
from shrimpgrad.graph.evaluate import apply_alu
from shrimpgrad.linearize import interpret

BF = dtypes.bfloat16
UNARY = {Ops.NEG, Ops.RECIP, Ops.SQRT, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.TRUNC}
OPS = [Ops.NEG, Ops.RECIP, Ops.SQRT, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.TRUNC, Ops.ADD, Ops.SUB, Ops.MUL, Ops.DIV,
       Ops.MAX, Ops.CMPLT, Ops.CMPNE, Ops.WHERE]
TRANSCENDENTAL = {Ops.SIN, Ops.EXP2, Ops.LOG2}  # the C math library and numpy may differ by a float32 ulp


def test_rounding_to_nearest_even_by_hand():
    """bfloat16 keeps 7 fraction bits: near 1 its step is 2^-7. 1 + 2^-8 is halfway between 1 and 1 + 2^-7: the
    tie goes to the even one, 1 (0x3f80); 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: to 1 + 2^-6
    (0x3f82); just above a tie rounds up. The largest bfloat16 is 0x7f7f = 3.3895e38; 3.4e38 rounds to inf."""
    above_tie = np.nextafter(np.float32(1.00390625), np.float32(2))  # the float32 just above 1 + 2^-8
    x = np.array([1.00390625, 1.01171875, above_tie, -2.0, 0.0, -0.0, 3.3895314e38, 3.4e38, -np.inf, 1e-45],
                 np.float32)
    bits = [0x3F80, 0x3F82, 0x3F81, 0xC000, 0x0000, 0x8000, 0x7F7F, 0x7F80, 0xFF80, 0x0000]
    assert float32_to_bfloat16_bits(x).tolist() == bits
    assert bfloat16_bits_to_float32(np.array(bits, np.uint16)).tolist()[:6] == [1.0, 1.015625, 1.0078125, -2.0,
                                                                                0.0, -0.0]
    nan = float32_to_bfloat16_bits(np.array([np.nan, -np.nan], np.float32))
    assert np.isnan(bfloat16_bits_to_float32(nan)).all() and (nan >> 15).tolist() == [0, 1]  # quiet, sign kept


def test_every_bfloat16_widens_exactly_and_rounds_back_to_itself():
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    values = bfloat16_bits_to_float32(bits)
    back = float32_to_bfloat16_bits(values)
    finite = ~np.isnan(values)
    np.testing.assert_array_equal(back[finite], bits[finite])
    assert np.isnan(bfloat16_bits_to_float32(back[~finite])).all()
    assert to_storage(from_storage(bits, BF), BF).dtype == np.uint16
    assert BF.np == np.uint16 and BF.value_np == np.float32


def test_float64_rounds_through_float32_as_pytorch_does():
    """PyTorch converts double -> float -> bfloat16 (two roundings): so does round_values, and so does C's
    `bf16_round((float)x)`. 1 + 2^-8 + 2^-30 is just above a tie in float64, but float32 rounds it to the tie."""
    x = np.array([1 + 2**-8 + 2**-30])
    assert round_values(x, BF).tolist() == [1.0]
    assert round_values(x, BF).dtype == np.float32


def operands(n_random: int = 200):
    rng = np.random.default_rng(7)
    special = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 3.0, -2.5, 1e-3, 1000.0, 3.3895e38, 1e-38, 9.2e-41, np.inf,
                        -np.inf, np.nan], np.float32)
    a, b = np.repeat(special, special.size), np.tile(special, special.size)
    a = np.concatenate([a, (rng.standard_normal(n_random) * 10.0 ** rng.integers(-3, 4, n_random))])
    b = np.concatenate([b, (rng.standard_normal(n_random) * 10.0 ** rng.integers(-3, 4, n_random))])
    return to_storage(a, BF), to_storage(b, BF), rng.integers(0, 2, a.size).astype(bool)


def want_for(op, a, b, cond):
    va, vb = from_storage(a, BF), from_storage(b, BF)
    args = (cond, va, vb) if op is Ops.WHERE else (va,) if op in UNARY else (va, vb)
    with np.errstate(all="ignore"):
        out = apply_alu(op, dtypes.bool if op in (Ops.CMPLT, Ops.CMPNE) else BF, args)
    return out if out.dtype == np.bool_ else to_storage(out, BF)


def assert_same(got, want, what, max_ulp=0):
    """Bit for bit (any NaN equals any NaN), or within max_ulp bfloat16 steps."""
    if got.dtype == np.bool_:
        assert np.array_equal(got, want), what
        return
    g, w = bfloat16_bits_to_float32(got), bfloat16_bits_to_float32(want)
    both_nan = np.isnan(g) & np.isnan(w)
    # the distance in representable steps: bits as a monotonic integer line (sign-magnitude to two's complement)
    def line(bits):
        b = bits.astype(np.int32)
        return np.where(b & 0x8000, -(b & 0x7FFF), b)
    bad = ~both_nan & (np.abs(line(got) - line(want)) > max_ulp)
    assert not bad.any(), f"{what}: {bad.sum()} mismatches, first got {g[bad][:4]} want {w[bad][:4]}"


@pytest.fixture(scope="module")
def c_results():
    a, b, cond = operands()
    return a, b, cond, run_c(many_ops(OPS, BF, a.size, name="E_ops_bfloat16"), [a, b, cond])


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name)
def test_c_computes_every_op_as_stage_01(op, c_results):
    a, b, cond, outs = c_results
    ulps = 1 if op in TRANSCENDENTAL else 0
    assert_same(outs[OPS.index(op)], want_for(op, a, b, cond), f"{op.name} on bfloat16", ulps)


def test_python_interpreter_computes_every_op_as_stage_01():
    a, b, cond = operands(50)
    program = many_ops(OPS, BF, a.size, name="E_ops_bfloat16")
    outs = [np.zeros(a.size, g.dtype.np) for g in program.globals if g.arg[2]]
    interpret(program, [*outs, a, b, cond])
    for op, got in zip(OPS, outs):
        assert_same(got, want_for(op, a, b, cond), f"{op.name} on bfloat16 (PYTHON)")


def test_casts_from_bfloat16_match_stage_01():
    rng = np.random.default_rng(3)
    n, targets = 48, list(ALL_DTYPES)
    inputs = []
    for d in targets:  # values whose cast is defined (a float cast to an int must fit)
        v = np.concatenate([[0.0, -0.0, 1.5, -1.5, 255.5, 100.25], rng.standard_normal(n - 6) * 50])
        if d.is_int:
            info = np.iinfo(d.np)
            v = np.where((np.trunc(v) >= info.min) & (np.trunc(v) <= info.max), v, 7.0)
        elif d.is_float:
            v[:3] = [np.inf, np.nan, 3.3895e38]
        inputs.append(to_storage(v, BF))
    outs = run_c(many_casts(BF, targets, n, name="E_casts_bfloat16"), inputs)
    for d, x, got in zip(targets, inputs, outs):
        with np.errstate(over="ignore"):
            want = apply_alu(Ops.CAST, d, [from_storage(x, BF)])
        assert got.dtype == d.np and np.array_equal(got, want, equal_nan=d.is_float), f"bfloat16 -> {d.name}"


@pytest.mark.parametrize("src", ALL_DTYPES, ids=lambda d: d.name)
def test_casts_to_bfloat16_match_stage_01(src):
    rng = np.random.default_rng(5)
    n = 40
    if src.is_bool:
        x = rng.integers(0, 2, n).astype(bool)
    elif src.is_int:
        info = np.iinfo(src.np)
        x = rng.integers(info.min, info.max, n, endpoint=True, dtype=src.np)
    else:
        special = [np.nan, np.inf, -0.0, 1.00390625, 1.01171875, 65504.0]
        with np.errstate(over="ignore"):
            x = np.concatenate([special, rng.standard_normal(n - 6) * 1e3]).astype(src.np)
    got = run_c(many_casts(src, [BF], n, name=f"E_to_bfloat16_{src.name}"), [x])[0]
    assert_same(got, to_storage(apply_alu(Ops.CAST, BF, [x]), BF), f"{src.name} -> bfloat16")


def test_cuda_source_spells_bfloat16_as_bits_and_compiles():
    from shrimpgrad.cuda import render_cuda

    src = render_cuda(many_ops([Ops.ADD, Ops.MAX, Ops.EXP2], BF, 8, name="E_bf16"))
    assert "unsigned short* __restrict__ data0" in src
    assert "static __device__ inline float bf16_round(float f)" in src and "bf16_to_float(data" in src
    nvrtc = pytest.importorskip("cuda.bindings.nvrtc")
    del nvrtc
    from shrimpgrad.cuda.compiler import compile_cuda

    for program in (many_ops(OPS, BF, 8, name="E_ops_bf16"), many_casts(BF, list(ALL_DTYPES), 8, name="E_c_bf16"),
                    many_ops([Ops.ADD, Ops.SUB, Ops.MUL, Ops.NEG, Ops.IDIV, Ops.MOD, Ops.MAX], dtypes.uint16, 8,
                             name="E_ops_uint16"),
                    many_ops([Ops.ADD, Ops.MUL, Ops.IDIV, Ops.MOD], dtypes.uint64, 8, name="E_ops_uint64")):
        assert compile_cuda(render_cuda(program), program.name).cubin[:4] == b"\x7fELF", program.name


def test_cuda_uint16_products_wrap_through_unsigned_int():
    """C promotes unsigned short to (signed) int, where 65535 * 65535 overflows: CUDA has no -fwrapv."""
    from shrimpgrad.cuda import render_cuda

    src = render_cuda(many_ops([Ops.MUL], dtypes.uint16, 8, name="E_mul_u16"), comments=False)
    assert "(unsigned short)((unsigned int)val0 * (unsigned int)val1)" in src
