"""Rule 1c WINDOW TILES (a conv's output row in 16-lane tiles, stage 03's UPCAST_OVERLAP) and the renderer's OFFSETS
(`data1[alu4 + 3L]`) and LOADS FIRST (each straight run's loads first, by buffer): what each does to a kernel, and
that each switched on or off computes what numpy computes."""

import os
import subprocess
import sys

import numpy as np
import pytest

from shrimpgrad import Context, Tensor
from shrimpgrad.c import choose_c_opts, render
from shrimpgrad.c.dialect import C_DIALECT, C_NO_OFFSETS_DIALECT, LOADS_FIRST_ENV, OFFSETS_ENV
from shrimpgrad.c.opts import SMALL_BLOCK_ENV, WINDOW_TILES_ENV
from shrimpgrad.c.renderer import constant_offsets, loads_first
from shrimpgrad.linearize import linearize
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(5)


def _t(*shape):
    return Tensor(RNG.standard_normal(shape).astype(np.float32)).realize()


def _kernel(t: Tensor):
    (k,) = create_schedule([t.node]).kernels
    return k


def _opts(t: Tensor) -> list[tuple[str, int, int]]:
    return [(o.kind.name, o.axis, o.amount) for o in choose_c_opts(_kernel(t))]


def conv_reference(x: np.ndarray, w: np.ndarray, padding: int = 0) -> np.ndarray:
    """conv2d (stride 1) in float64, one window offset at a time."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw = w.shape[2:]
    oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    return sum(np.einsum("ncyx,oc->noyx", x[:, :, i:i + oh, j:j + ow], w[:, :, i, j].astype(np.float64))
               for i in range(kh) for j in range(kw))


def test_window_tiles_cover_a_row_of_30_with_two_tiles_of_16_and_take_8_output_channels():
    x, w = _t(2, 4, 32, 32), _t(16, 4, 3, 3)
    assert _kernel(x.conv2d(w)).full_shape == (2, 1, 16, 30, 30, 4, 3, 3)
    # tiles at ox 0 and 14, the window's kx unrolled, 8 output channels: 16 x 3 x 8 lanes
    assert _opts(x.conv2d(w)) == [("UPCAST_OVERLAP", 4, 16), ("UPCAST", 7, 3), ("UPCAST", 2, 8)]
    assert _opts(_t(2, 4, 34, 34).conv2d(w)) == [("UPCAST", 4, 16), ("UPCAST", 7, 3), ("UPCAST", 2, 8)]  # 32: exact


def test_rows_that_tiles_do_not_fit_keep_rule_1b_whole_rows(monkeypatch):
    w = _t(8, 4, 3, 3)
    assert _opts(_t(2, 4, 10, 10).conv2d(w)) == [("UPCAST", 4, 8), ("UPCAST", 7, 3), ("UPCAST", 2, 2)]  # 8 <= 16
    # 19 outputs: tiles at 0 and 3 would compute 32 for 19 (more than TILE_WASTE)
    assert _opts(_t(2, 4, 21, 21).conv2d(w))[0] == ("UPCAST", 4, 19)
    monkeypatch.setenv(WINDOW_TILES_ENV, "0")  # the switch: rule 1b's whole row (30) and 2 output channels
    assert _opts(_t(2, 4, 32, 32).conv2d(w)) == [("UPCAST", 4, 30), ("UPCAST", 7, 3), ("UPCAST", 2, 2)]


CONVS = [  # (x shape, w shape, padding): rows of 30 (overlap), 26 (overlap at 10), 32 (exact), 14 (rule 1b)
    ((2, 3, 32, 32), (16, 3, 3, 3), 0),
    ((1, 2, 26, 28), (8, 2, 3, 3), 1),
    ((2, 2, 34, 34), (8, 2, 3, 3), 0),
    ((1, 3, 16, 16), (4, 3, 3, 3), 0),
]


@pytest.mark.parametrize("tiles", ["1", "0"])
@pytest.mark.parametrize("xs, ws, padding", CONVS)
def test_window_tiles_on_or_off_compute_numpys_conv(monkeypatch, tiles, xs, ws, padding):
    monkeypatch.setenv(WINDOW_TILES_ENV, tiles)
    x, w = RNG.standard_normal(xs).astype(np.float32), RNG.standard_normal(ws).astype(np.float32)
    got = Tensor(x).conv2d(Tensor(w), padding=padding).numpy()
    np.testing.assert_allclose(got, conv_reference(x, w, padding), rtol=1e-4, atol=1e-4)
    with Context(NOOPT=1):  # the plain loop nest sums in the same order (the window's kx unrolled, in order)
        plain = Tensor(x).conv2d(Tensor(w), padding=padding).numpy()
    np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-5)


def test_window_tiles_on_the_python_device_give_what_c_gives():
    x, w = _t(2, 3, 32, 32), _t(8, 3, 3, 3)
    k = _kernel(x.conv2d(w))
    program = linearize(k, choose_c_opts(k))
    assert program.applied_opts[0] == "UPCAST_OVERLAP(axis=4, amount=16)"
    np.testing.assert_allclose(x.conv2d(w).numpy(), x.to("PYTHON").conv2d(w.to("PYTHON")).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_offsets_write_a_constant_index_offset_into_the_address():
    x, w = _t(1, 2, 32, 32), _t(8, 2, 3, 3)
    program = linearize(_kernel(x.conv2d(w)), choose_c_opts(_kernel(x.conv2d(w))))
    with_offsets, without = render(program, comments=False), render(program, comments=False,
                                                                    dialect=C_NO_OFFSETS_DIALECT)
    assert C_DIALECT.offsets and constant_offsets(program)
    # the window row's neighbours: data1[alu16 + 1L] (a 64-bit add, folded into the address), no int line for them
    assert "L];" in with_offsets and "L];" not in without
    assert without.count("\n") - with_offsets.count("\n") == len(constant_offsets(program))
    # only indices that LOADs and STOREs alone read: an offset also used in other arithmetic keeps its line
    folded = constant_offsets(program)
    assert all(all(x.op.name in ("LOAD", "STORE") for x in program.uops if a in x.src) for a in folded)


def test_offsets_on_or_off_compute_the_same_results():
    code = ("import numpy as np; from shrimpgrad import Tensor; r = np.random.default_rng(1); "
            "x = r.standard_normal((2, 3, 32, 32)).astype(np.float32); w = r.standard_normal((8, 3, 3, 3)).astype("
            "np.float32); a = r.standard_normal((40, 24)).astype(np.float32); "
            "print(repr((Tensor(x).conv2d(Tensor(w)).sum().numpy().item(), (Tensor(a) @ Tensor(a.T)).numpy().sum(), "
            "Tensor(a).pad(((1, 2), (3, 0))).max(axis=0).numpy().sum())))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, OFFSETS_ENV: v}).stdout for v in ("1", "0")]
    assert runs[0] == runs[1] and runs[0]  # the same sums in the same order: bit for bit


def test_loads_first_puts_each_runs_loads_ahead_grouped_by_buffer():
    x, w = _t(1, 2, 32, 32), _t(8, 2, 3, 3)
    program = linearize(_kernel(x.conv2d(w)), choose_c_opts(_kernel(x.conv2d(w))))
    order = loads_first(program.uops)
    assert sorted(map(id, order)) == sorted(map(id, program.uops)) and order != list(program.uops)
    seen = set()
    for u in order:  # every operand still comes before its use
        assert all(s in seen for s in u.src)
        seen.add(u)
    inner = [line.strip() for line in render(program, comments=False).split("for (int ridx1")[1].split("\n")[1:]]
    kinds = [("data1" if "= data1" in t else "data2" if "= data2" in t else "fma" if "fmaf(" in t else "")
             for t in inner[:inner.index("}")]]
    kinds = [k for k in kinds if k]
    # the window row's 18 loads of x, then the 24 of w (8 channels x 3), then the 384 fused multiply-adds
    assert kinds == ["data1"] * 18 + ["data2"] * 24 + ["fma"] * 384


def test_loads_first_keeps_a_gated_load_and_arithmetic_on_loaded_values_in_place():
    a = _t(6, 5)
    program = linearize(_kernel((a.pad(((1, 1), (0, 2))) * a.pad(((0, 2), (1, 1)))).relu()), ())
    order = loads_first(program.uops)
    loads = [n for n, u in enumerate(order) if u.op.name == "LOAD"]
    alus_on_values = [n for n, u in enumerate(order) if u.op.name == "ALU" and u.dtype.is_float]
    assert max(loads) < min(alus_on_values)  # both gated loads (their gates are index math) before the multiply
    assert [u for u in order if u.op.name in ("RANGE", "END", "STORE")] == \
        [u for u in program.uops if u.op.name in ("RANGE", "END", "STORE")]


def test_loads_first_on_or_off_computes_the_same_results():
    code = ("import sys, numpy as np; from shrimpgrad import Tensor; r = np.random.default_rng(2); "
            "a = r.standard_normal((40, 24)).astype(np.float32); b = r.standard_normal((24,)).astype(np.float32); "
            "x = r.standard_normal((2, 3, 32, 32)).astype(np.float32); w = r.standard_normal((8, 3, 3, 3)).astype("
            "np.float32); sys.stdout.buffer.write(np.concatenate([((Tensor(a) * Tensor(b) + 1).relu() @ Tensor(a.T))"
            ".numpy().ravel(), Tensor(a).softmax(-1).numpy().ravel(), Tensor(x).conv2d(Tensor(w)).numpy().ravel()])"
            ".tobytes())")
    runs = [np.frombuffer(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                                         env={**os.environ, LOADS_FIRST_ENV: v, SMALL_BLOCK_ENV: "0"}).stdout,
                          np.float32) for v in "10"]  # rule 1 for the matmul: rule 1d's unrolled reduce would chain
    assert len(runs[0]) == len(runs[1]) == 40 * 40 + 40 * 24 + 2 * 8 * 30 * 30
    n = 40 * 40 + 40 * 24
    np.testing.assert_array_equal(runs[0][:n], runs[1][:n])  # no FMA chain: the same lines, reordered, bit for bit
    np.testing.assert_allclose(runs[0][n:], runs[1][n:], rtol=1e-5, atol=1e-5)  # the conv's chains: fmaf or not
