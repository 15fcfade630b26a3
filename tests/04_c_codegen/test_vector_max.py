"""The vectorized max (renderer.py's `vector_max_loops` / `render_vector_max`, the Dialect's `vector_max`,
SHRIMPGRAD_C_VECTOR_MAX): a float32 max reduce loop becomes an integer max over the floats' ordered bits, which gcc
vectorizes, plus a NaN flag; rows with a NaN or a zero max run the plain loop again. The result is max_float32's bit
for bit: NaN propagates (and which NaN), and which of 0.0 / -0.0 comes out, on adversarial rows."""

import re
import subprocess

import numpy as np
import pytest
from dialect_runner import dialect_field_in_new_processes, run_c

from shrimpgrad import Tensor
from shrimpgrad.c import render
from shrimpgrad.c.compiler import FLAGS, c_compiler
from shrimpgrad.c.dialect import C_DIALECT, C_SCALAR_MAX_DIALECT, VECTOR_MAX_ENV, vector_max_setting
from shrimpgrad.c.renderer import vector_max_loops
from shrimpgrad.linearize import interpret, linearize
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(7)
COLS = 64


def _bits(*values) -> np.ndarray:
    return np.array(values, np.uint32).view(np.float32)


def adversarial_rows() -> np.ndarray:
    """Rows on which the order of a max decides the bits: NaNs of several payloads and signs, zeros of both signs in
    both orders, infinities, denormals, plus plain random rows."""
    rows = [RNG.standard_normal(COLS).astype(np.float32) for _ in range(8)]
    special = {
        "positive NaN": _bits(0x7FC00000)[0], "negative NaN": _bits(0xFFC00000)[0], "payload NaN": _bits(0x7FC00123)[0],
        "signalling-looking NaN": _bits(0x7F800001)[0], "+inf": np.float32(np.inf), "-inf": np.float32(-np.inf),
        "denormal": _bits(0x00000001)[0], "-denormal": _bits(0x80000001)[0],
    }
    for value in special.values():
        row = RNG.standard_normal(COLS).astype(np.float32)
        row[RNG.integers(COLS)] = value
        rows.append(row)
    row = RNG.standard_normal(COLS).astype(np.float32)
    row[[3, 40]] = _bits(0x7FC00001, 0xFFC00002)  # two NaNs: which one comes out
    rows.append(row)
    rows.append(np.full(COLS, -np.inf, np.float32))
    rows.append(np.full(COLS, np.nan, np.float32))
    for first, second in ((-0.0, 0.0), (0.0, -0.0)):  # a zero max: the first zero's sign (max_float32's tie rule)
        row = -np.abs(RNG.standard_normal(COLS).astype(np.float32)) - 1
        row[[5, 50]] = [first, second]
        rows.append(row)
    rows.append(-np.zeros(COLS, np.float32))
    return np.stack(rows)


def _max_program(x: np.ndarray):
    (kernel,) = create_schedule([Tensor(x).max(axis=1).node]).kernels
    return linearize(kernel, ())


def test_the_max_loop_renders_as_an_integer_max_and_the_plain_loop_for_the_rare_rows():
    program = _max_program(adversarial_rows())
    assert len(vector_max_loops(program)) == 1
    on, off = (render(program, comments=False, dialect=d) for d in (C_DIALECT, C_SCALAR_MAX_DIALECT))
    assert re.search(r"max\d+ = key\d+ > max\d+ \? key\d+ : max\d+;", on) and "ordered_float32(val0)" in on
    assert re.search(r"if \(nan\d+ \|\| acc0 == 0\.0f\) \{", on) and on.count("max_float32(val0, acc0)") == 1
    assert "ordered_float32" not in off and off.count("max_float32(val0, acc0)") == 1


def test_bit_for_bit_the_plain_loop_and_the_interpreter_nan_propagates():
    x = adversarial_rows()
    program = _max_program(x)
    buffers = [np.zeros(x.shape[0], np.float32), x.reshape(-1)]
    on, off = run_c(program, buffers, C_DIALECT)[0], run_c(program, buffers, C_SCALAR_MAX_DIALECT)[0]
    want = [b.copy() for b in buffers]
    interpret(program, want)
    np.testing.assert_array_equal(on.view(np.uint32), off.view(np.uint32))
    np.testing.assert_array_equal(on.view(np.uint32), want[0].view(np.uint32))
    nan_rows = np.isnan(x).any(axis=1)
    assert nan_rows.sum() >= 5 and np.isnan(on[nan_rows]).all() and not np.isnan(on[~nan_rows]).any()
    zero_rows = on == 0
    assert np.signbit(on[zero_rows]).any() and not np.signbit(on[zero_rows]).all()  # both zeros came out
    np.testing.assert_array_equal(on[~nan_rows], x[~nan_rows].max(axis=1))


def test_softmax_on_equals_off_bit_for_bit():
    x = adversarial_rows()
    (kernel,) = create_schedule([Tensor(x).softmax(-1).node]).kernels
    program = linearize(kernel, ())
    assert vector_max_loops(program)  # its max phase
    buffers = [np.zeros(x.size, np.float32), x.reshape(-1)]
    on, off = run_c(program, buffers, C_DIALECT)[0], run_c(program, buffers, C_SCALAR_MAX_DIALECT)[0]
    np.testing.assert_array_equal(on.view(np.uint32), off.view(np.uint32))


@pytest.mark.parametrize("case", ["int32 max", "float16 max", "relu (no reduce)", "a max split into lanes"])
def test_other_maxes_are_left_alone(case):
    from shrimpgrad.linearize import Opt, OptKind

    x = RNG.standard_normal((8, 16)).astype(np.float32)
    t = {"int32 max": lambda: Tensor(x.astype(np.int32)).max(axis=1),
         "float16 max": lambda: Tensor(x.astype(np.float16)).max(axis=1),
         "relu (no reduce)": lambda: Tensor(x).relu(),
         "a max split into lanes": lambda: Tensor(x).max(axis=1)}[case]()
    opts = (Opt(OptKind.GROUP, 1, 4),) if case == "a max split into lanes" else ()  # 4 accumulators: 4 ASSIGNs
    for kernel in create_schedule([t.node]).kernels:
        program = linearize(kernel, opts)
        assert vector_max_loops(program) == {}
        assert "ordered_float32" not in render(program, comments=False)


@pytest.mark.skipif("clang" in c_compiler(), reason="-fopt-info-vec is gcc's")
def test_gcc_vectorizes_the_integer_max_loop():
    src = render(_max_program(np.zeros((2048, 2048), np.float32)), comments=False, openmp=False)
    loop_line = next(n for n, line in enumerate(src.splitlines(), 1) if line.strip().startswith("for (int ridx0"))
    done = subprocess.run([c_compiler(), *(f for f in FLAGS if f not in ("-shared", "-fPIC")), "-fopt-info-vec",
                           "-S", "-o", "/dev/null", "-x", "c", "-"], input=src, capture_output=True, text=True)
    assert f"<stdin>:{loop_line}:" in done.stderr and "loop vectorized" in done.stderr, done.stderr


def test_the_setting():
    assert vector_max_setting("1") is True and vector_max_setting("0") is False
    with pytest.raises(ValueError, match="SHRIMPGRAD_C_VECTOR_MAX='no'"):
        vector_max_setting("no")
    assert dialect_field_in_new_processes("vector_max", VECTOR_MAX_ENV) == ["True", "False"]
