"""Stage 04 opts rule 4b, STASH (stage 03's stash.py): a softmax row kernel computes each exponential once. Compiled,
the kernel gives the same bits with the rule on and off, the interpreter's values within the C dialect's rounding
(its exp2 polynomial fuses multiply-adds), and numpy's; SHRIMPGRAD_C_STASH=0 turns the rule off."""

import numpy as np
import pytest

from shrimpgrad import Tensor
from shrimpgrad.c import CProgram, choose_c_opts
from shrimpgrad.c.opts import STASH_ENV
from shrimpgrad.graph import Ops
from shrimpgrad.linearize import OptKind, UOps, interpret, linearize
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(0)


def np_softmax(x, axis=-1):
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(x - x.max(axis, keepdims=True))
        return e / e.sum(axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    with np.errstate(invalid="ignore", over="ignore"):
        m = x - x.max(axis, keepdims=True)
        return m - np.log(np.exp(m).sum(axis, keepdims=True))


def kernels_of(build, x: np.ndarray):
    """The one kernel of build(Tensor(x)) and a runner: opts -> (C's result, the interpreter's result)."""
    t = Tensor(x).realize()
    (kernel,) = create_schedule([build(t).node]).kernels
    assert kernel.bufs[1] == t.node.arg

    def run(opts):
        results = []
        for device in ("C", "PYTHON"):
            out = np.zeros(kernel.bufs[0].size, kernel.bufs[0].dtype.np)
            program = linearize(kernel, opts)
            if device == "C":
                CProgram(program)([out, x.ravel()])
            else:
                interpret(program, [out, x.ravel()])
            results.append(out.reshape(x.shape))
        return results
    return kernel, run


def without_stash(opts):
    return tuple(o for o in opts if o.kind is not OptKind.STASH)


def check_on_off(build, x, want, rtol=1e-5):
    kernel, run = kernels_of(build, x)
    opts = choose_c_opts(kernel)
    (c_on, py_on), (c_off, py_off) = run(opts), run(without_stash(opts))
    np.testing.assert_array_equal(c_on, c_off)  # the stash moves a value, it doesn't change it
    np.testing.assert_array_equal(py_on, py_off)
    np.testing.assert_allclose(c_on, py_on, rtol=rtol, atol=1e-7)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(c_on, want, rtol=rtol * 10, atol=1e-6)
    return opts


@pytest.mark.parametrize("shape", [(3, 7), (4, 33), (2, 2048), (5, 96), (1, 3), (9, 1000)])
def test_softmax_rows(shape):
    x = (RNG.standard_normal(shape) * 5).astype(np.float32)
    opts = check_on_off(lambda t: t.softmax(-1), x, np_softmax(x))
    assert any(o.kind is OptKind.STASH for o in opts)


SPECIAL = {
    "nan": [1.0, np.nan, 2.0, 3.0, -1.0, 0.5, 0.25, 7.0, -2.0],
    "inf": [1.0, np.inf, 2.0, 3.0, -1.0, 0.5, 0.25, 7.0, -2.0],
    "-inf": [1.0, -np.inf, 2.0, 3.0, -1.0, 0.5, 0.25, 7.0, -2.0],
    "all -inf": [-np.inf] * 9,
    "all equal": [3.5] * 9,
    "tiny": [1e-38, -1e-38, 1e-45, 0.0, -0.0, 1e-30, 2e-38, -3e-40, 5e-39],
    "huge": [3e38, -3e38, 1e38, 2e38, -1e38, 3.4e38, 0.0, 1.0, -2.0],
    "wide range": [-100.0, 100.0, -87.0, 88.0, 0.0, -150.0, 60.0, 1.0, 2.0],
}


def test_special_rows():
    x = np.array(list(SPECIAL.values()), np.float32)
    opts = check_on_off(lambda t: t.softmax(-1), x, np_softmax(x))
    assert any(o.kind is OptKind.STASH for o in opts)


def test_softmax_along_axis_0_and_of_a_3d_tensor():
    x = (RNG.standard_normal((12, 40)) * 3).astype(np.float32)
    check_on_off(lambda t: t.softmax(0), x, np_softmax(x, 0))
    y = (RNG.standard_normal((3, 5, 64)) * 3).astype(np.float32)
    check_on_off(lambda t: t.softmax(-1), y, np_softmax(y))
    check_on_off(lambda t: t.softmax(1), y, np_softmax(y, 1))


def test_log_softmax_is_not_stashed():
    """Its store reads x - max, not the exponential it sums: there is nothing to compute twice."""
    x = (RNG.standard_normal((6, 64)) * 3).astype(np.float32)
    opts = check_on_off(lambda t: t.log_softmax(-1), x, np_log_softmax(x))
    assert not any(o.kind is OptKind.STASH for o in opts)


def test_the_store_loop_reads_back_instead_of_computing_exp2():
    x = np.ones((64, 256), np.float32)
    kernel, _ = kernels_of(lambda t: t.softmax(-1), x)
    opts = choose_c_opts(kernel)
    on, off = linearize(kernel, opts), linearize(kernel, without_stash(opts))
    count = [sum(u.op is UOps.ALU and u.arg is Ops.EXP2 for u in p.uops) for p in (on, off)]
    assert count == [32, 33]  # ROW SPLIT's 32 lanes of the sum; without STASH one more in the store loop


def test_switch_turns_it_off(monkeypatch):
    kernel, _ = kernels_of(lambda t: t.softmax(-1), np.ones((8, 64), np.float32))
    assert any(o.kind is OptKind.STASH for o in choose_c_opts(kernel))
    monkeypatch.setenv(STASH_ENV, "0")
    assert not any(o.kind is OptKind.STASH for o in choose_c_opts(kernel))


def test_row_kernels_get_wide_vectors_and_the_same_bits_without():
    """Renderer WIDE VECTORS (renderer.wide_lanes): ROW SPLIT's 32 partial sums are 32 lanes, so the row kernel is
    compiled with 512-bit vectors; the narrow dialect (gcc's 256-bit preference) gives the same bits."""
    from dialect_runner import run_c

    from shrimpgrad.c import render
    from shrimpgrad.c.dialect import C_DIALECT, C_NARROW_DIALECT, WIDE_VECTORS
    from shrimpgrad.c.renderer import wide_lanes

    x = np.concatenate([(RNG.standard_normal((6, 96)) * 4).astype(np.float32),
                        np.array(list(SPECIAL.values()) * 1, np.float32).repeat(96 // 9 + 1, 1)[:, :96]])
    for build in (lambda t: t.softmax(-1), lambda t: t.log_softmax(-1), lambda t: t.layernorm()):
        kernel, _ = kernels_of(build, x)
        program = linearize(kernel, choose_c_opts(kernel))
        assert wide_lanes(program)
        assert WIDE_VECTORS in render(program, comments=False)
        out = np.zeros(kernel.bufs[0].size, np.float32)
        wide, narrow = (run_c(program, [out, x.ravel()], d)[0] for d in (C_DIALECT, C_NARROW_DIALECT))
        np.testing.assert_array_equal(wide, narrow)
