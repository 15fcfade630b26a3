"""W4's rules (a large matmul on the CPU): the front end's PANELS (w copied once into panels of 32 columns,
shrimpgrad/reduce.py), stage 04 opts rule 1e PANELS (32 x 8 lanes and a LOCAL loop of 16 row blocks for a kernel
that reads panels) and the renderer's WIDE VECTORS (a kernel with 32 lanes or more gets gcc's 512-bit vectors).
What each does to the graph, the kernel and the source, and that each on or off computes the same, bit for bit."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from shrimpgrad import Context, Tensor
from shrimpgrad.c import choose_c_opts, compile_c, render
from shrimpgrad.c.dialect import C_DIALECT, C_NARROW_DIALECT, WIDE_VECTORS, wide_vectors_setting
from shrimpgrad.c.opts import PANELS_ENV
from shrimpgrad.c.renderer import wide_lanes
from shrimpgrad.linearize import linearize
from shrimpgrad.reduce import PANELS_ENV as MATMUL_PANELS_ENV
from shrimpgrad.reduce import _panel_matmul
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(4)


def _t(*shape, device="C"):
    return Tensor(RNG.standard_normal(shape).astype(np.float32), device=device).realize()


def _kernels(t: Tensor):
    return create_schedule([t.node]).kernels


def _opts(kernel) -> list[tuple[str, int, int]]:
    return [(o.kind.name, o.axis, o.amount) for o in choose_c_opts(kernel)]


# shapes that take the panels (at least 16 rows, more than 2^21 multiply-adds, N a multiple of 32), and odd ones
PANEL_MATMULS = {
    "128x256 @ 256x96": lambda: (_t(128, 256), _t(256, 96)),
    "130x257 @ 257x64 (rows and K odd)": lambda: (_t(130, 257), _t(257, 64)),
    "batched 3x70x128 @ 128x96": lambda: (_t(3, 70, 128), _t(128, 96)),
    "x.T @ w.T (transposed operands)": lambda: (_t(512, 128).T, _t(64, 512).T),
    "100x300 @ 300x160 (rows not a multiple of 8)": lambda: (_t(100, 300), _t(300, 160)),
}


def test_a_large_matmul_copies_w_into_panels_first(monkeypatch):
    monkeypatch.delenv(MATMUL_PANELS_ENV, raising=False)
    x, w = _t(256, 256), _t(256, 256)
    names = [k.name for k in _kernels(x @ w)]
    assert names == ["E_8_256_32", "R_256_8_256_32"]  # the copy (N/32, K, 32), then the matmul over the panels
    monkeypatch.setenv(MATMUL_PANELS_ENV, "0")
    assert [k.name for k in _kernels(x @ w)] == ["R_256_256_256"]


@pytest.mark.parametrize("shapes", [
    ((1, 1024), (1024, 1024)),  # one row: the copy would cost as much as the product
    ((12, 1024), (1024, 1024)),  # fewer than 16 rows
    ((128, 64), (64, 128)),  # W6's 2^20 multiply-adds: rule 1d's small matmul
    ((128, 256), (256, 100)),  # N not a multiple of 32
    ((4, 64, 128), (4, 128, 96)),  # a batched w
])
def test_small_odd_and_batched_w_matmuls_are_left_alone(shapes):
    x, w = _t(*shapes[0]), _t(*shapes[1])
    assert len(_kernels(x @ w)) == 1


def test_other_dtypes_and_devices_are_left_alone():
    x, w = _t(128, 256), _t(256, 96)
    assert len(_kernels(x.cast("float64") @ w.cast("float64"))) == 1  # float64: the casts fuse into one kernel
    assert len(_kernels(_t(128, 256, device="PYTHON") @ _t(256, 96, device="PYTHON"))) == 1


@pytest.mark.parametrize("case", PANEL_MATMULS)
def test_panels_on_equal_off_bit_for_bit_and_numpy(monkeypatch, case):
    x, w = PANEL_MATMULS[case]()
    monkeypatch.setenv(MATMUL_PANELS_ENV, "1")
    assert len(_kernels(x @ w)) == 2
    on = (x @ w).numpy()
    monkeypatch.setenv(MATMUL_PANELS_ENV, "0")
    off = (x @ w).numpy()
    np.testing.assert_array_equal(on, off)  # the same sum over K in the same order (each with FMA)
    want = x.numpy().astype(np.float64) @ w.numpy().astype(np.float64)
    np.testing.assert_allclose(on, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("device", ["C", "PYTHON"])
def test_the_panel_graph_is_the_plain_matmul_bit_for_bit_on_each_device(device):
    x, w = _t(5, 7, device=device), _t(7, 64, device=device)  # small: the rule doesn't fire, its graph is called
    np.testing.assert_array_equal(_panel_matmul(x, w).numpy(), (x @ w).numpy())


def test_gradients_through_the_panels_match_the_plain_matmul(monkeypatch):
    xs, ws = RNG.standard_normal((128, 256)).astype(np.float32), RNG.standard_normal((256, 96)).astype(np.float32)
    grads = {}
    for setting in ("1", "0"):
        monkeypatch.setenv(MATMUL_PANELS_ENV, setting)
        x, w = Tensor(xs, requires_grad=True), Tensor(ws, requires_grad=True)
        ((x @ w) * (x @ w)).sum().backward()
        grads[setting] = x.grad.numpy(), w.grad.numpy()
    for on, off in zip(grads["1"], grads["0"], strict=True):
        np.testing.assert_allclose(on, off, rtol=1e-5, atol=1e-3)


def test_rule_1e_blocks_a_panel_kernel_32_by_8_with_16_row_blocks(monkeypatch):
    monkeypatch.delenv(MATMUL_PANELS_ENV, raising=False)
    monkeypatch.delenv(PANELS_ENV, raising=False)
    kernel = _kernels(_t(256, 256) @ _t(256, 256))[-1]  # full shape (256, 8, 256, 32), the reduce axis 2
    assert _opts(kernel) == [("UPCAST", 3, 32), ("UPCAST", 0, 8), ("LOCAL", 0, 16)]
    odd = _kernels(_t(100, 300) @ _t(300, 160))[-1]  # 100 rows: 5 lanes, then 20 row blocks: 10 of them per panel
    assert _opts(odd) == [("UPCAST", 3, 32), ("UPCAST", 0, 5), ("LOCAL", 0, 10)]
    monkeypatch.setenv(PANELS_ENV, "0")  # the switch: rule 1's 16 x 8
    assert _opts(kernel) == [("UPCAST", 3, 16), ("UPCAST", 0, 8)]


def test_rule_1e_takes_a_plain_matmul_whose_w_is_one_panel_and_leaves_wider_ones_to_rule_1(monkeypatch):
    monkeypatch.setenv(MATMUL_PANELS_ENV, "0")
    assert _opts(_kernels(_t(256, 512) @ _t(512, 32))[-1])[:2] == [("UPCAST", 1, 32), ("UPCAST", 0, 8)]
    assert _opts(_kernels(_t(256, 256) @ _t(256, 256))[-1]) == [("UPCAST", 1, 16), ("UPCAST", 0, 8)]


@pytest.mark.parametrize("panels", ["1", "0"])
def test_rule_1e_on_or_off_computes_the_plain_loops_result_bit_for_bit(monkeypatch, panels):
    monkeypatch.setenv(PANELS_ENV, panels)
    x, w = _t(130, 257), _t(257, 64)
    got = (x @ w).numpy()
    with Context(NOOPT=1):  # the plain loop nest: the same sum over K in the same order, FMA too
        plain = (x @ w).numpy()
    np.testing.assert_array_equal(got, plain)


def test_wide_vectors_put_the_attribute_on_kernels_with_32_lanes_only():
    big = linearize(k := _kernels(_t(256, 256) @ _t(256, 256))[-1], choose_c_opts(k))
    assert wide_lanes(big)
    source = render(big, comments=False)
    assert source.count(f"__attribute__(({WIDE_VECTORS}))") == 2  # the kernel and its row function
    assert WIDE_VECTORS not in render(big, comments=False, dialect=C_NARROW_DIALECT)
    conv = _kernels(_t(1, 2, 32, 32).conv2d(_t(8, 2, 3, 3)))[-1]  # rule 1c's tiles of 16 lanes
    assert not wide_lanes(linearize(conv, choose_c_opts(conv)))


def test_the_wide_vectors_setting(monkeypatch):
    assert wide_vectors_setting("1") == WIDE_VECTORS and wide_vectors_setting("0") == ""
    with pytest.raises(ValueError, match="SHRIMPGRAD_C_WIDE_VECTORS"):
        wide_vectors_setting("yes")


@pytest.mark.skipif(shutil.which("objdump") is None or " avx512f " not in open("/proc/cpuinfo").read()
                    .replace("\n", " "), reason="needs objdump and an AVX-512 CPU")
def test_gcc_uses_512_bit_fmas_with_the_attribute_and_256_bit_without():
    kernel = _kernels(_t(256, 256) @ _t(256, 256))[-1]
    program = linearize(kernel, choose_c_opts(kernel))

    def fmas(dialect) -> set[str]:
        path = compile_c(render(program, comments=False, dialect=dialect), program.name).path
        asm = subprocess.run(["objdump", "-d", str(path)], capture_output=True, text=True, check=True).stdout
        return set(re.findall(r"vfmadd\d+ps\s+%([xyz]mm)", asm))

    assert fmas(C_DIALECT) == {"zmm"}
    # Without the attribute gcc follows its tuning for this CPU: 256-bit on Intel (the reason the attribute exists);
    # gcc 12 tunes an AMD Zen 4/5 for 512-bit vectors already (measured 2026-12-04 on a Zen 5 EPYC: zmm either way)
    if "GenuineIntel" in open("/proc/cpuinfo").read():
        assert "zmm" not in fmas(C_NARROW_DIALECT)
