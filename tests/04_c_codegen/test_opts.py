"""The CPU opts policy (stages/04_c_codegen/opts.py): each rule fires on the kernel it is for, the switches
turn it off, and optimized kernels compute what the plain loop nest computes (ints exactly, floats within
rounding: SPLIT reorders a float sum)."""

import re

import numpy as np
import pytest

from shrimpgrad import Context, Tensor
from shrimpgrad.c import C_OPTS_POLICIES, choose_c_opts
from shrimpgrad.c.dialect import C_DIALECT
from shrimpgrad.c.opts import axis_strides, policy_name
from shrimpgrad.linearize import Opt, OptKind
from shrimpgrad.linearize.symbolic import Add, Mod, Mul, Var, simplify
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(0)


def _kernels(t: Tensor):
    return create_schedule([t.node]).kernels


def _opts(t: Tensor) -> list[list[tuple[str, int, int]]]:
    return [[(o.kind.name, o.axis, o.amount) for o in choose_c_opts(k)] for k in _kernels(t)]


def _t(*shape, dtype=np.float32):
    return Tensor(RNG.standard_normal(shape).astype(dtype)).realize()


def test_block_register_blocks_a_matmul_along_the_contiguous_output_axis(monkeypatch):
    from shrimpgrad.c.opts import SMALL_BLOCK_ENV

    monkeypatch.setenv(SMALL_BLOCK_ENV, "0")  # this small a matmul would get rule 1d (test_small_kernels.py)
    a, b = _t(64, 32), _t(32, 48)
    assert _opts(a @ b) == [[("UPCAST", 1, 16), ("UPCAST", 0, 8)]]


def test_window_on_a_conv_takes_the_whole_row_its_window_and_two_output_channels():
    x, w = _t(2, 4, 10, 10), _t(8, 4, 3, 3)
    (k,) = _kernels(x.conv2d(w))
    assert k.full_shape == (2, 1, 8, 8, 8, 4, 3, 3)
    # the output row (8 of 8: x[ox + kx] is read contiguously), the window's kx (its loads are the row's, shared),
    # then 2 output channels (the image is broadcast along them)
    assert _opts(x.conv2d(w)) == [[("UPCAST", 4, 8), ("UPCAST", 7, 3), ("UPCAST", 2, 2)]]
    assert _opts(x.conv2d(w, padding=1)) == [[("UPCAST", 4, 10), ("UPCAST", 7, 3), ("UPCAST", 2, 2)]]


def test_without_window_a_conv_gets_block_the_width_then_the_output_channels(monkeypatch):
    from shrimpgrad.c.opts import SMALL_BLOCK_ENV, WINDOW_ENV

    x, w = _t(2, 4, 10, 10), _t(8, 4, 3, 3)
    monkeypatch.setenv(WINDOW_ENV, "0")
    monkeypatch.setenv(SMALL_BLOCK_ENV, "0")  # a conv this small would get rule 1d instead of BLOCK
    # BLOCK: 8 of the contiguous output width, then the output channels (the input is broadcast along them)
    assert _opts(x.conv2d(w)) == [[("UPCAST", 4, 8), ("UPCAST", 2, 8)]]
    # a strided conv has no window (x[2*ox + kx]): BLOCK, the output channels first (no output axis is contiguous)
    monkeypatch.delenv(WINDOW_ENV)
    assert _opts(x.conv2d(_t(8, 4, 5, 5), stride=2)) == [[("UPCAST", 2, 8), ("UPCAST", 4, 3)]]


def test_a_conv_window_index_has_no_modulo():
    """The input's window index `(oy + ky*(W+1)) % W` (stage 02's repeat-and-reshape) simplifies to `oy + ky`
    (symbolic.py's mod_drop_multiples, then mod_by_bounds): no mod_int32 in the C, and a stride the opts can read."""
    from shrimpgrad.c import render
    from shrimpgrad.linearize import linearize

    x, w = _t(2, 4, 10, 10), _t(8, 4, 3, 3)
    (k,) = _kernels(x.conv2d(w))
    assert "mod_int32" not in render(linearize(k, ())) and "idiv_int32" not in render(linearize(k, ()))
    image = next(s for s in axis_strides(k) if s[0] == 400)  # the image: 4 * 10 * 10 per batch
    assert image == (400, 0, 0, 10, 1, 100, 10, 1)
    oy, ky, other = Var("oy", 0, 7), Var("ky", 0, 2), Var("z", 0, 40)
    assert simplify(Mod(Add((oy, Mul(ky, 11))), 10)) == Add((oy, ky))  # 11 ky = 10 ky + ky, and oy + ky < 10
    assert simplify(Mod(Add((other, Mul(ky, 13))), 10)) == Mod(Add((other, Mul(ky, 3))), 10)  # still wraps: kept


def test_vector_and_split_for_reductions():
    x = _t(64, 256)
    assert _opts(x.sum(axis=0)) == [[("UPCAST", 1, 16)]]  # reduce walks a stride: 16 neighbouring outputs
    assert _opts(x.sum(axis=1)) == [[("GROUP", 1, 32)]]  # reduce walks contiguous memory: 32 partial sums
    assert _opts(x.sum()) == [[("GROUP", 1, 32)]]


def test_elementwise_kernels_get_no_opts():
    x = _t(64, 64)
    assert _opts((x * 2 + 1).relu()) == [[]]


def test_axis_strides_read_the_index_arithmetic():
    a, b = _t(4, 6), _t(6, 5)
    (k,) = _kernels(a @ b)
    assert axis_strides(k) == [(6, 0, 1), (0, 1, 5)]


def test_the_policy_switches(monkeypatch):
    x = _t(64, 256)
    (k,) = _kernels(x.sum(axis=1))
    assert choose_c_opts(k, "none") == () and set(C_OPTS_POLICIES) == {"heuristic", "none"}
    monkeypatch.setenv("SHRIMPGRAD_C_OPTS", "none")
    assert choose_c_opts(k) == ()
    monkeypatch.setenv("SHRIMPGRAD_C_OPTS", "fastest")
    with pytest.raises(ValueError, match="unknown C opts policy 'fastest'.*valid: heuristic, none"):
        policy_name()


def test_noopt_runs_the_plain_loop_nest():
    from shrimpgrad.devices import kernel_runner

    x = _t(64, 256)

    (k,) = _kernels(x.sum(axis=1))
    with Context(NOOPT=1):
        assert kernel_runner(k, "C").program.applied_opts == ()
    assert kernel_runner(k, "C").program.applied_opts == (str(Opt(OptKind.GROUP, 1, 32)),)


PROGRAMS = {
    "matmul": lambda a, b, i: a @ b,
    "matmul+bias+relu": lambda a, b, i: (a @ b + b[0]).relu(),
    "int matmul": lambda a, b, i: i @ i.T,
    "sum axis 0": lambda a, b, i: a.sum(axis=0),
    "sum axis 1": lambda a, b, i: a.sum(axis=1),
    "int sum": lambda a, b, i: i.sum(),
    "max axis 1": lambda a, b, i: a.max(axis=1),
    "softmax": lambda a, b, i: a.softmax(-1),
    "log_softmax": lambda a, b, i: a.log_softmax(-1),
    "conv2d": lambda a, b, i: a.reshape(1, 2, 16, 16).conv2d(b.reshape(-1)[:108].reshape(6, 2, 3, 3), padding=1),
    "mean of squares": lambda a, b, i: (a * a).mean(axis=0),
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_optimized_kernels_compute_what_the_plain_loops_compute(name):
    a, b = _t(32, 16), _t(16, 48)
    i = Tensor(RNG.integers(-50, 50, (24, 40)).astype(np.int32)).realize()
    make = PROGRAMS[name]
    with Context(NOOPT=1):
        plain = make(a, b, i).numpy()
    optimized = make(a, b, i).numpy()
    if np.issubdtype(plain.dtype, np.integer):
        np.testing.assert_array_equal(optimized, plain)
    else:
        np.testing.assert_allclose(optimized, plain, rtol=2e-6, atol=2e-6)


def test_a_parallel_loop_with_inner_loops_becomes_a_row_function_that_gcc_vectorizes():
    import subprocess

    from shrimpgrad.c import c_compiler, render
    from shrimpgrad.c.compiler import FLAGS
    from shrimpgrad.linearize import linearize

    x = _t(512, 512)
    k = _kernels(x.softmax(-1))[-1]  # one kernel (stage 02's row fusion), or the last of three without it
    src = render(linearize(k, choose_c_opts(k)))
    row = rf"__attribute__\(\(noinline\)\) static void {k.name}_row\(int (gidx\d), float\* restrict data0"
    signature = re.search(row, src)
    assert signature, src
    assert re.search(rf"{k.name}_row\({signature.group(1)}, data0, data1(, data\d)*\);", src)
    assert src.index(f"_row(int {signature.group(1)}") < src.index("#pragma omp parallel for")
    if "clang" in c_compiler():
        pytest.skip("-fopt-info-vec is gcc's")
    done = subprocess.run([c_compiler(), *(f for f in FLAGS if f not in ("-shared", "-fPIC")), "-fopenmp",
                           "-fopt-info-vec", "-S", "-o", "/dev/null", "-x", "c", "-"], input=src, capture_output=True,
                          text=True)
    assert "loop vectorized" in done.stderr, done.stderr
    # a parallel loop without loops inside stays as it is: gcc vectorizes it in place
    (flat,) = _kernels(_t(1 << 16) + 1)
    assert "_row(" not in render(linearize(flat))


def test_split_is_only_for_sums_of_cheap_values():
    x = _t(64, 256)
    assert _opts(x.max(axis=1)) == [[]]  # a plain max loop is what the renderer's vector max rewrites
    assert _opts(x.sin().sum(axis=1)) == [[]]  # bound by the math library's sinf
    exp_sum = [[("GROUP", 1, 32)]] if C_DIALECT.vector_math else [[]]  # vectorized exp2s are cheap; exp2f calls not
    assert _opts(x.exp().sum(axis=1)) == exp_sum
    assert _opts((x * 2).sum(axis=1)) == [[("GROUP", 1, 32)]]


@pytest.mark.parametrize("preset, want", [(None, "passive"), ("active", "active")])
def test_openmp_threads_sleep_between_kernels_unless_the_user_says_otherwise(preset, want):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = "import os, shrimpgrad.c; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == want


def test_row_split_groups_only_the_sum_loops_of_a_row_kernel(monkeypatch):
    """Rule 4: a row kernel with a loop that sums cheap values gets GROUP_SUMS (32 partial sums in that loop only) and
    nothing else but rule 4b's STASH where its store reads what it sums (softmax's exponentials: test_stash.py);
    SHRIMPGRAD_C_ROW_SPLIT=0 gives the other rules, as before the rule."""
    from shrimpgrad.c.opts import ROW_SPLIT_ENV
    from shrimpgrad.linearize import LoopKind, linearize

    x = _t(64, 256)
    layernorm = lambda: (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True)  # noqa: E731
    assert _opts(x.softmax(-1)) == [[("GROUP_SUMS", 1, 32), ("STASH", 1, 1)]]
    assert _opts(x.log_softmax(-1)) == [[("GROUP_SUMS", 1, 32)]]
    assert _opts(layernorm()) == [[("GROUP_SUMS", 1, 32)]]
    assert _opts(x.max(axis=1)) == [[]]  # one loop: not a row kernel
    (k,) = _kernels(x.softmax(-1))
    ranges = [(u.arg[0], u.src[1].arg) for u in linearize(k, choose_c_opts(k)).uops if u.arg and u.op.name == "RANGE"
              and u.arg[1] is not LoopKind.GLOBAL]
    assert ranges == [("row1_0", 256), ("ridx0_1", 8), ("row1", 256)]  # the max and the store: the whole row
    # a row kernel gets no lanes along its output axes (rule 1 would: b is broadcast along the rows, a shared load)
    x3, bias = _t(4, 16, 256), _t(256)
    assert _opts((x3 + bias).softmax(-1)) == [[("GROUP_SUMS", 2, 32), ("STASH", 2, 1)]]
    monkeypatch.setenv(ROW_SPLIT_ENV, "0")  # off: the rules as for any kernel
    assert _opts(x.softmax(-1)) == [[]]
    assert _opts(layernorm()) == [[("GROUP", 1, 32)]]
    assert _opts((x3 + bias).softmax(-1)) == [[("UPCAST", 1, 16), ("UPCAST", 0, 4)]]
