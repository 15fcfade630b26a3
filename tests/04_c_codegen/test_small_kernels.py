"""W6's rules (a training step's small kernels): the renderer's MASK SELECTS (a float WHERE as select_float32, a bit
mask gcc vectorizes among an UPCAST's lanes), opts rule 1d SMALL BLOCK (lanes along the contiguous output axis for
matmuls of at most 2^21 multiply-adds) with its ROWS (4 lanes of the other axis, a short one whole), and opts rule 5
SHORT ROWS (an elementwise row shorter than a vector unrolled whole, 2 rows of 10) and rule 3b SHORT REDUCE (the same
for a reduction of short rows, 4 rows of 10). What each does to a kernel, and that each on or off computes the same."""

import subprocess
from dataclasses import replace

import numpy as np
import pytest
from dialect_runner import dialect_field_in_new_processes, run_c

from shrimpgrad import Context, Tensor
from shrimpgrad.c import choose_c_opts, render
from shrimpgrad.c.compiler import FLAGS, c_compiler
from shrimpgrad.c.dialect import C_DIALECT, C_TERNARY_DIALECT, MASK_SELECTS_ENV, mask_selects_setting
from shrimpgrad.c.opts import SHORT_REDUCE_ENV, SHORT_ROWS_ENV, SMALL_BLOCK_ENV, SMALL_ROWS_ENV
from shrimpgrad.c.renderer import has_lanes
from shrimpgrad.graph import dtypes
from shrimpgrad.linearize import Opt, OptKind, interpret, linearize
from shrimpgrad.realize import clear_schedule_cache
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(12)


def _t(*shape, dtype=np.float32):
    return Tensor(RNG.standard_normal(shape).astype(dtype)).realize()


def _kernel(t: Tensor):
    return create_schedule([t.node]).kernels[-1]


def _program(t: Tensor, opts=None):
    kernel = _kernel(t)
    return linearize(kernel, choose_c_opts(kernel) if opts is None else opts)


def _buffers(program) -> list[np.ndarray]:
    """Random inputs with zeros, negative zeros, NaN and infinities among them; zeroed outputs."""
    out = []
    for g in program.globals:
        if g.arg[2]:
            out.append(np.zeros(g.arg[3], g.dtype.np))
            continue
        values = RNG.standard_normal(g.arg[3]).astype(g.dtype.np)
        values[:8] = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-40, -1e-40, 1.0])[:min(8, values.size)]
        out.append(values)
    return out


# ---- MASK SELECTS ------------------------------------------------------------------------------------------------

def _relu_backward(dtype=np.float32):
    """h.relu()'s gradient path in a matmul: (dh * (h > 0)) @ x, lanes over a WHERE per (b, j)."""
    h, dh, x = _t(32, 16, dtype=dtype), _t(32, 16, dtype=dtype), _t(32, 24, dtype=dtype)
    return ((h > 0).where(dh, 0.0)).T @ x


UPCAST4 = (Opt(OptKind.UPCAST, 0, 4),)  # lanes for an elementwise kernel (the rule is for programs with lanes)
SELECT_CASES = {  # (tensor, opts: None for the C policy's)
    "relu backward matmul float32": lambda: (_relu_backward(), None),
    "relu backward matmul float64": lambda: (_relu_backward(np.float64), None),
    "where of two values float32, 4 lanes": lambda: ((_t(64) < _t(64)).where(_t(64), _t(64)), UPCAST4),
    "where float16, 4 lanes": lambda: ((_t(64) < 0).where(_t(64).cast(dtypes.float16), 2.5), UPCAST4),
    "relu, 4 lanes": lambda: (_t(100).relu(), UPCAST4),
}


@pytest.mark.parametrize("case", SELECT_CASES)
def test_mask_selects_on_equal_ternary_off_and_the_interpreter_bit_for_bit(case):
    program = _program(*SELECT_CASES[case]())
    on, off = (render(program, comments=False, dialect=d) for d in (C_DIALECT, C_TERNARY_DIALECT))
    assert "select_float" in on and "select_float" not in off and " ? " in off
    buffers = _buffers(program)
    want = [b.copy() for b in buffers]
    interpret(program, want)
    got_on, got_off = run_c(program, buffers, C_DIALECT)[0], run_c(program, buffers, C_TERNARY_DIALECT)[0]
    np.testing.assert_array_equal(got_on.view(np.uint8), got_off.view(np.uint8))  # the same bits, NaN payloads too
    # and the interpreter's, bit for bit, without the FMA rule (which rounds the matmul's products once)
    unfused = [run_c(program, buffers, replace(d, fma=False))[0] for d in (C_DIALECT, C_TERNARY_DIALECT)]
    for got in unfused:
        np.testing.assert_array_equal(got, want[0])


def test_a_program_without_lanes_keeps_the_ternary():
    """W1's relu(a*b + c): a plain loop, which gcc leaves scalar in both spellings, the mask's the slower (9.9 vs
    9.1 ms): the rule is for UPCAST and GROUP lanes only (renderer.py's has_lanes)."""
    a, b, c = _t(64), _t(64), _t(64)
    program = _program((a * b + c).relu(), ())
    assert not has_lanes(program) and render(program, dialect=C_DIALECT) == render(program, dialect=C_TERNARY_DIALECT)
    assert has_lanes(_program((a * b + c).relu(), UPCAST4))


def test_mask_select_keeps_the_sign_of_zero_and_nan():
    c = np.array([True, False, True, False, True, False])
    a = np.array([-0.0, 1.0, np.nan, 2.0, np.inf, 3.0], np.float32)
    b = np.array([5.0, -0.0, 1.0, np.nan, 0.0, -np.inf], np.float32)
    got = Tensor(c).where(Tensor(a), Tensor(b)).numpy()
    np.testing.assert_array_equal(got.view(np.uint32), np.where(c, a, b).view(np.uint32))


def test_gcc_vectorizes_mask_selects_among_lanes_and_not_the_ternary():
    """The relu mask of W6's backward matmul (its lanes of `h > 0 ? dh : 0`): packed compares with the mask, scalar
    vcmpltss (and a blend) for some lanes with the ternary."""
    h, dh, x = _t(128, 128), _t(128, 128), _t(128, 64)
    program = _program(((h > 0).where(dh, 0.0)).T @ x)

    def asm(dialect) -> str:
        return subprocess.run([c_compiler(), *(f for f in FLAGS if f not in ("-shared", "-fPIC")), "-S", "-o", "-",
                               "-x", "c", "-"], input=render(program, comments=False, dialect=dialect),
                              capture_output=True, text=True, check=True).stdout
    on, off = asm(C_DIALECT), asm(C_TERNARY_DIALECT)
    assert on.count("vcmpltss") == 0 and off.count("vcmpltss") > 0


def test_the_mask_selects_setting():
    assert mask_selects_setting("1") is True and mask_selects_setting("0") is False
    with pytest.raises(ValueError, match="SHRIMPGRAD_C_MASK_SELECTS='yes'"):
        mask_selects_setting("yes")
    assert dialect_field_in_new_processes("mask_selects", MASK_SELECTS_ENV) == ["True", "False"]


# ---- rule 1d: SMALL BLOCK ----------------------------------------------------------------------------------------

def _opts(t: Tensor) -> list[tuple[str, int, int]]:
    return [(o.kind.name, o.axis, o.amount) for o in choose_c_opts(_kernel(t))]


def test_small_matmuls_get_64_lanes_4_rows_and_an_unrolled_reduce(monkeypatch):
    x, w1 = _t(128, 64), _t(64, 128)
    assert _kernel(x @ w1).full_shape == (128, 128, 64)
    assert _opts(x @ w1) == [("UPCAST", 1, 64), ("UPCAST", 0, 4), ("UPCAST", 2, 2)]
    # W6's second layer: 10 outputs along the contiguous axis, then 4 rows and 8 iterations of the reduce unrolled
    h, w2 = _t(128, 128), _t(128, 10)
    assert _opts(h @ w2) == [("UPCAST", 1, 10), ("UPCAST", 0, 4), ("UPCAST", 2, 8)]
    # W6's dw2 (transposed): the 10 classes whole, 32 lanes of the contiguous axis (320 in all), no unroll
    g = _t(128, 10)
    assert _opts(g.T @ h.relu()) == [("UPCAST", 1, 32), ("UPCAST", 0, 10)]
    monkeypatch.setenv(SMALL_ROWS_ENV, "0")  # rule 1d's first version: 64 x 2
    assert _opts(x @ w1) == [("UPCAST", 1, 64), ("UPCAST", 0, 2), ("UPCAST", 2, 2)]
    assert _opts(g.T @ h.relu()) == [("UPCAST", 1, 64), ("UPCAST", 0, 2), ("UPCAST", 2, 2)]
    monkeypatch.setenv(SMALL_BLOCK_ENV, "0")  # the switch: rule 1's 16 x 8
    assert _opts(x @ w1) == [("UPCAST", 1, 16), ("UPCAST", 0, 8)]


def test_rule_1d_leaves_large_matmuls_and_strided_lanes_to_rule_1(monkeypatch):
    monkeypatch.setenv("SHRIMPGRAD_MATMUL_PANELS", "0")  # the plain matmul kernel (not the front end's panels)
    assert _opts(_t(256, 256) @ _t(256, 256)) == [("UPCAST", 1, 16), ("UPCAST", 0, 8)]  # 2^24 multiply-adds
    # dh = g @ w2.T: w2 is read with stride 10 along the output's contiguous axis: 64 lanes would be 64 scalar loads
    g, w2 = _t(128, 10), _t(128, 10)
    assert ("UPCAST", 2, 64) not in _opts(g @ w2.T)


MATMULS = {  # (a, b) -> the product: plain, transposed operands, a relu mask, W6's shapes and odd ones
    "128x64 @ 64x128": lambda: (_t(128, 64), _t(64, 128)),
    "x.T @ dh (W6's dw1)": lambda: (_t(128, 64).T, _t(128, 128)),
    "h @ w2 (10 outputs)": lambda: (_t(128, 128).relu(), _t(128, 10)),
    "g.T @ relu(h) (W6's dw2, transposed)": lambda: (_t(128, 10).T, _t(128, 128).relu()),
    "7x5 @ 5x13 (a short other axis of 7)": lambda: (_t(7, 5), _t(5, 13)),
    "24x40 @ 40x12": lambda: (_t(24, 40), _t(40, 12)),
    "batched 4x16x32 @ 32x48": lambda: (_t(4, 16, 32), _t(32, 48)),
}


@pytest.mark.parametrize("small,rows", [("1", "1"), ("1", "0"), ("0", "1")])
@pytest.mark.parametrize("case", MATMULS)
def test_small_block_on_or_off_computes_numpys_matmul(monkeypatch, small, rows, case):
    monkeypatch.setenv(SMALL_BLOCK_ENV, small)
    monkeypatch.setenv(SMALL_ROWS_ENV, rows)
    clear_schedule_cache()  # a cached plan would keep the opts it was made with
    a, b = MATMULS[case]()
    got = (a @ b).numpy()
    want = a.numpy().astype(np.float64) @ b.numpy().astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    with Context(NOOPT=1):  # UPCAST and UNROLL keep the reduce's order; only FMA's rounding differs from the plain nest
        plain = (a @ b).numpy()
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-5)


def test_small_block_equals_the_interpreter():
    a, b = _t(128, 64), _t(64, 128)
    program = _program(a @ b)
    assert [str(o) for o in program.applied_opts] == ["UPCAST(axis=1, amount=64)", "UPCAST(axis=0, amount=4)",
                                                      "UPCAST(axis=2, amount=2)"]
    buffers = [np.zeros(128 * 128, np.float32), a.numpy().ravel(), b.numpy().ravel()]
    want = [x.copy() for x in buffers]
    interpret(program, want)
    np.testing.assert_allclose(run_c(program, buffers, C_DIALECT)[0], want[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rows", ["1", "0"])
def test_small_block_rows_equal_the_interpreter_and_the_plain_loops(monkeypatch, rows):
    """W6's four small matmuls under rule 1d (ROWS on and off): C = the interpreter of the same program = the plain
    loop nest within FMA's rounding (UPCAST and UNROLL keep each sum's order)."""
    monkeypatch.setenv(SMALL_ROWS_ENV, rows)
    x, w1, h, g = _t(128, 64), _t(64, 128), _t(128, 128), _t(128, 10)
    for t in (x @ w1, x.T @ (h > 0).where(h, 0.0), h.relu() @ _t(128, 10), g.T @ h.relu()):
        kernel = _kernel(t)
        program = linearize(kernel, choose_c_opts(kernel))
        buffers = [np.zeros(g.arg[3], g.dtype.np) if g.arg[2] else RNG.standard_normal(g.arg[3]).astype(np.float32)
                   for g in program.globals]
        want = [b.copy() for b in buffers]
        interpret(program, want)
        got = run_c(program, buffers, C_DIALECT)[0]
        np.testing.assert_allclose(got, want[0], rtol=1e-5, atol=1e-5)
        plain = [b.copy() for b in buffers]
        interpret(linearize(kernel, ()), plain)
        np.testing.assert_allclose(got, plain[0], rtol=1e-5, atol=1e-5)


# ---- rule 5: SHORT ROWS ------------------------------------------------------------------------------------------

def _softmax_gradient(rows: int, classes: int) -> Tensor:
    """W6's E_128_10 in small: exp2 of a row minus its max, times a gradient, plus a one-hot select."""
    x, m, d = _t(rows, classes), _t(rows, 1), _t(rows, 1)
    y = Tensor(RNG.integers(0, classes, (rows, 1)).astype(np.int32))
    onehot = (y == Tensor(np.arange(classes, dtype=np.int32)).reshape(1, classes)).where(-1.0, 0.0)
    return (x - m).exp2() * d + onehot


SHORT_ROWS = {  # (the tensor, the opts rule 5 gives)
    "W6's 128 x 10": (lambda: _softmax_gradient(128, 10), [("UPCAST", 1, 10), ("UPCAST", 0, 2)]),
    "7 x 3: all 7 rows (7's only divisor whose rows reach 16 lanes)": (lambda: _softmax_gradient(7, 3),
                                                                        [("UPCAST", 1, 3), ("UPCAST", 0, 7)]),
    "12 x 5: 4 rows": (lambda: _softmax_gradient(12, 5), [("UPCAST", 1, 5), ("UPCAST", 0, 4)]),
    "13 x 10: all 13 rows": (lambda: _softmax_gradient(13, 10), [("UPCAST", 1, 10), ("UPCAST", 0, 13)]),
    "a transposed copy 10 x 128 -> 128 x 10": (lambda: _t(10, 128).T.contiguous(), [("UPCAST", 1, 10),
                                                                                     ("UPCAST", 0, 2)]),
    "rows of 16: none": (lambda: _softmax_gradient(8, 16), []),
    "1001 x 2 (1001 = 7*11*13): 11 rows": (lambda: _t(1001, 2) * 2, [("UPCAST", 1, 2), ("UPCAST", 0, 11)]),
    "rows of 10, too many for rule 5 (OpenMP's size)": (lambda: _t(4096, 10) + 1, []),
}


@pytest.mark.parametrize("case", SHORT_ROWS)
def test_short_rows_opts(case):
    make, want = SHORT_ROWS[case]
    assert _opts(make()) == want


def test_short_rows_switch(monkeypatch):
    monkeypatch.setenv(SHORT_ROWS_ENV, "0")
    assert _opts(_softmax_gradient(128, 10)) == []


def _with_and_without_opts(kernel, labels: bool = False):
    """The kernel compiled with its C opts and with none, run on the same inputs (`labels`: its int32 inputs class
    labels 0..9), and the interpreter's output: (with, without, interpreted)."""
    on, off = linearize(kernel, choose_c_opts(kernel)), linearize(kernel, ())
    buffers = _buffers(on)
    for i, g in enumerate(on.globals):
        if labels and g.dtype == dtypes.int32 and not g.arg[2]:
            buffers[i] = RNG.integers(0, 10, g.arg[3]).astype(np.int32)
    want = [b.copy() for b in buffers]
    interpret(on, want)
    return run_c(on, buffers, C_DIALECT)[0], run_c(off, buffers, C_DIALECT)[0], want[0]


@pytest.mark.parametrize("case", SHORT_ROWS)
def test_short_rows_on_equal_off_and_the_interpreter_bit_for_bit(case):
    """Elementwise lanes change no arithmetic: C with rule 5 = C without (the plain loops), bit for bit, on inputs with
    NaN, infinities, signed zeros and denormals; = the interpreter within exp2_float32's 1 ulp (and what it is added
    to)."""
    got_on, got_off, want = _with_and_without_opts(_kernel(SHORT_ROWS[case][0]()), labels=True)
    np.testing.assert_array_equal(got_on.view(np.uint32), got_off.view(np.uint32))
    np.testing.assert_allclose(got_on, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("short", ["1", "0"])
def test_short_rows_on_or_off_the_softmax_gradient_equals_numpy(monkeypatch, short):
    monkeypatch.setenv(SHORT_ROWS_ENV, short)
    clear_schedule_cache()
    x = RNG.standard_normal((128, 10)).astype(np.float32)
    got = (Tensor(x) - 1.5).exp2() * 3.0
    np.testing.assert_allclose(got.numpy(), np.exp2(x.astype(np.float64) - 1.5) * 3.0, rtol=3e-7 * 4)


# ---- rule 3b: SHORT REDUCE ---------------------------------------------------------------------------------------

def _logsumexp_rows(rows: int, classes: int) -> Tensor:
    """W6's R_128_10n2 in small: the sum over each row of exp2(x - max), the max already computed (a row kernel that
    computes it too is rule 4's)."""
    x = _t(rows, classes)
    return (x - x.max(axis=1, keepdim=True).realize()).exp2().sum(axis=1)


SHORT_REDUCES = {  # (the tensor, the opts rule 3b gives)
    "W6's sum of exp2 over rows of 10": (lambda: _logsumexp_rows(128, 10), [("UPCAST", 1, 10), ("UPCAST", 0, 4)]),
    "a max over rows of 10": (lambda: _t(128, 10).max(axis=1), [("UPCAST", 1, 10), ("UPCAST", 0, 4)]),
    "rows of 3, 21 of them: all 21 (3*7 < 32)": (lambda: _t(21, 3).sum(axis=1), [("UPCAST", 1, 3), ("UPCAST", 0, 21)]),
    "rows of 5, 12 of them: 12": (lambda: _logsumexp_rows(12, 5), [("UPCAST", 1, 5), ("UPCAST", 0, 12)]),
    "rows of 7, 100 of them: 5": (lambda: _t(100, 7).sum(axis=1), [("UPCAST", 1, 7), ("UPCAST", 0, 5)]),
    "an int sum over rows of 10": (lambda: Tensor(RNG.integers(-9, 9, (64, 10)).astype(np.int32)).sum(axis=1),
                                   [("UPCAST", 1, 10), ("UPCAST", 0, 4)]),
    "rows of 16: rule 3": (lambda: _t(128, 16).sum(axis=1), [("GROUP", 1, 16)]),
    "a column sum (strided rows): rule 2": (lambda: _t(10, 128).sum(axis=0), [("UPCAST", 1, 16)]),
    "rows of 10, above OpenMP's size: rule 3": (lambda: _t(4096, 10).sum(axis=1), [("GROUP", 1, 10)]),
}


@pytest.mark.parametrize("case", SHORT_REDUCES)
def test_short_reduce_opts(case):
    make, want = SHORT_REDUCES[case]
    assert _opts(make()) == want


def test_short_reduce_switch(monkeypatch):
    monkeypatch.setenv(SHORT_REDUCE_ENV, "0")
    assert _opts(_logsumexp_rows(128, 10)) == [("GROUP", 1, 10)]


@pytest.mark.parametrize("case", SHORT_REDUCES)
def test_short_reduce_equals_the_plain_loop_bit_for_bit(case):
    """The row unrolled keeps the reduce's order (one accumulator): C with rule 3b = the plain loop nest in C, bit for
    bit, on inputs with NaN, infinities, signed zeros and denormals (a max's NaN and zero rules too); = the
    interpreter within exp2_float32's 1 ulp."""
    got_on, got_off, want = _with_and_without_opts(_kernel(SHORT_REDUCES[case][0]()))
    if SHORT_REDUCES[case][1][0][0] == "UPCAST":  # rule 3b (rule 3's GROUP reorders the sum)
        np.testing.assert_array_equal(got_on.view(np.uint8), got_off.view(np.uint8))
    np.testing.assert_allclose(got_on, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("short", ["1", "0"])
def test_short_reduce_on_or_off_the_loss_equals_numpy(monkeypatch, short):
    monkeypatch.setenv(SHORT_REDUCE_ENV, short)
    clear_schedule_cache()
    x = RNG.standard_normal((128, 10)).astype(np.float32)
    y = RNG.integers(0, 10, 128).astype(np.int32)
    got = Tensor(x).sparse_categorical_crossentropy(Tensor(y)).numpy()
    shifted = x.astype(np.float64) - x.max(axis=1, keepdims=True)
    want = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(128), y])
    np.testing.assert_allclose(got, want, rtol=1e-5)
