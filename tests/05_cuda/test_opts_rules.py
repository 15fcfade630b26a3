"""No GPU needed: the GPU opts policy's named rules (opts.py). Each rule fires where its docstring says, every kernel
it shapes renders and NVRTC-compiles, and switching it off (SHRIMPGRAD_CUDA_RULES_OFF) gives the same values in
stage 03's UOp interpreter, bit for bit (an UPCAST of an output axis never reorders a sum)."""

import numpy as np
import pytest

from shrimpgrad import Tensor, dtypes
from shrimpgrad.cuda import GPULimits, choose_opts, cuda_kernel
from shrimpgrad.cuda.opts import BLOCK_LANES, BLOCKED_LOCAL, RULES, RULES_OFF_ENV, rules_off
from shrimpgrad.linearize import OptKind, interpret, linearize
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(5)
ONE_SM = GPULimits("a GPU of one SM", sm_count=1)  # busy_threads = 128: the rules fire on interpreter-sized kernels


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def kernel_and_buffers(build, *arrays):
    """The one kernel of `build(*Tensors)` and its flat buffers (outputs zeroed), in kernel.bufs order."""
    tensors = [Tensor(a) for a in arrays]
    values = {t.node.arg: a.reshape(-1) for t, a in zip(tensors, arrays)}
    (kernel,) = create_schedule([build(*tensors).node]).kernels
    return kernel, [values[r].copy() if r in values else np.zeros(r.size, r.dtype.np) for r in kernel.bufs]


# (rule, build, input shapes at ONE_SM size, input shapes at H200 size): the kernels each rule is for
CASES = {
    "upcast_elementwise": (lambda a, b, c: (a * b + c).relu(), [(4096,)] * 3, [(1 << 19,)] * 3),
    "upcast_outputs": (lambda a, b: a @ b, [(32, 8), (8, 32)], [(512, 64), (64, 512)]),
    "upcast_outputs (conv)": (lambda x, w: x.conv2d(w, padding=1), [(2, 4, 8, 8), (4, 4, 3, 3)],
                              [(8, 16, 32, 32), (16, 16, 3, 3)]),
    "group": (lambda a: a.sum(axis=1), [(4, 512)], [(8, 4096)]),
}


def _rule(case: str) -> str:
    return case.split(" ")[0]


def _with_rule_off(monkeypatch, rule, kernel, limits):
    monkeypatch.setenv(RULES_OFF_ENV, rule)
    opts = choose_opts(kernel, "heuristic", limits)
    monkeypatch.delenv(RULES_OFF_ENV)
    return opts


@pytest.mark.parametrize("case", CASES)
def test_each_rule_fires_and_its_kernel_nvrtc_compiles(case):
    pytest.importorskip("cuda.bindings.nvrtc")
    build, _small, shapes = CASES[case]
    kernel, _ = kernel_and_buffers(build, *(np.zeros(s, np.float32) for s in shapes))
    k = cuda_kernel(kernel)  # the H200's limits: what device CUDA builds
    kinds = [o.kind for o in k.opts]
    expected = {"upcast_elementwise": [OptKind.LOCAL, OptKind.UPCAST],
                "upcast_outputs": [OptKind.LOCAL, OptKind.UPCAST, OptKind.UPCAST, OptKind.UPCAST],  # + k by 4
                "upcast_outputs (conv)": [OptKind.LOCAL, OptKind.UPCAST, OptKind.UPCAST],  # kw (3) is not unrolled
                "group": [OptKind.GROUP]}[case]
    assert kinds == expected, k.opts
    assert k.cubin is not None and k.cubin.cubin[:4] == b"\x7fELF"
    if _rule(case) == "upcast_outputs":  # BLOCK_LANES (16 x 4) outputs per thread, at most BLOCKED_LOCAL threads
        outputs = [o.amount for o in k.opts if o.kind is OptKind.UPCAST and o.axis not in kernel.reduce_axes]
        assert sorted(outputs) == sorted(BLOCK_LANES)
        assert k.launch.block[0] * k.launch.block[1] <= BLOCKED_LOCAL
    for o in k.opts:  # the dump names every opt
        assert str(o) in str(k)


@pytest.mark.parametrize("case", CASES)
def test_each_rule_off_gives_the_same_values_in_the_interpreter(case, monkeypatch):
    build, shapes, _big = CASES[case]
    kernel, buffers = kernel_and_buffers(build, *(f32(*s) for s in shapes))
    on = choose_opts(kernel, "heuristic", ONE_SM)
    off = _with_rule_off(monkeypatch, _rule(case), kernel, ONE_SM)
    assert on != off, f"rule {_rule(case)} did not fire on {kernel.name}: {on}"
    results = []
    for opts in (on, off, ()):
        bufs = [b.copy() for b in buffers]
        interpret(linearize(kernel, opts, gpu=True), bufs)
        results.append(bufs[0])
    if _rule(case) == "group":  # GROUP reorders the float sum: equal within rounding
        np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(results[0].view(np.uint32), results[1].view(np.uint32))
        np.testing.assert_array_equal(results[0].view(np.uint32), results[2].view(np.uint32))


def test_rule_names_are_checked(monkeypatch):
    monkeypatch.setenv(RULES_OFF_ENV, "upcast_elementwise, group")
    assert rules_off() == {"upcast_elementwise", "group"}
    monkeypatch.setenv(RULES_OFF_ENV, "upcast")
    with pytest.raises(ValueError, match="unknown rule.*upcast.*the rules are group, local"):
        rules_off()
    assert set(RULES) == {"group", "local", "upcast_outputs", "upcast_elementwise", "tensor_cores"}


def test_rule_4_keeps_the_gpu_busy():
    """An elementwise kernel too small to keep 4 x busy_threads threads after the UPCAST gets LOCAL only."""
    kernel, _ = kernel_and_buffers(lambda a: a * 2, np.zeros(1 << 16, np.float32))
    assert [o.kind for o in choose_opts(kernel)] == [OptKind.LOCAL]


def test_rule_2b_and_rule_4_fill_a_block_from_short_rows(monkeypatch):
    """A 56-wide innermost axis gives a block of 56 threads: rule 2b adds 4 rows (224 threads); rule 4 then gives
    each thread 16 bytes of loads in flight: 8 halves (7, the largest divisor of the 14 rows left; float32: 4 lanes)."""
    monkeypatch.setenv("SHRIMPGRAD_CONV_IM2COL", "1")
    x, w = Tensor.empty(8, 64, 56, 56, dtype=dtypes.float16), Tensor.empty(64, 64, 3, 3, dtype=dtypes.float16)
    copy = create_schedule([x.conv2d(w, padding=1).node]).kernels[0]
    assert copy.full_shape[-2:] == (56, 56)
    assert [(o.kind, o.axis, o.amount) for o in choose_opts(copy)] == [
        (OptKind.LOCAL, 6, 56), (OptKind.LOCAL, 5, 4), (OptKind.UPCAST, 5, 7)]


def test_rule_2b_and_4_off_give_the_same_values_in_the_interpreter(monkeypatch):
    monkeypatch.setenv("SHRIMPGRAD_CONV_IM2COL", "1")
    x, w = RNG.standard_normal((2, 4, 14, 14)).astype(np.float16), RNG.standard_normal((4, 4, 3, 3)).astype(np.float16)
    tx, tw = Tensor(x), Tensor(w)
    values = {tx.node.arg: x.reshape(-1), tw.node.arg: w.reshape(-1)}
    copy = create_schedule([tx.conv2d(tw, padding=1).node]).kernels[0]
    buffers = [values[r].copy() if r in values else np.zeros(r.size, r.dtype.np) for r in copy.bufs]
    on = choose_opts(copy, "heuristic", ONE_SM)
    assert [o.kind for o in on] == [OptKind.LOCAL, OptKind.LOCAL, OptKind.UPCAST], on
    results = []
    for opts in (on, _with_rule_off(monkeypatch, "upcast_elementwise", copy, ONE_SM),
                 _with_rule_off(monkeypatch, "local", copy, ONE_SM), ()):
        bufs = [b.copy() for b in buffers]
        interpret(linearize(copy, opts, gpu=True), bufs)
        results.append(bufs[0].view(np.uint16))
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)
