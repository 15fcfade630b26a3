"""avg_pool2d(divisor_override=) and interpolate(mode="bicubic" | "area") (shrimpgrad/conv_ops.py), on C and PYTHON.

Oracles: direct numpy loops written from PyTorch's kernels (upsample_bicubic2d's 4x4 sum per output pixel,
adaptive_avg_pool2d's windows, avg_pool2d's sum over the divisor), written independently of the per-axis code,
and a few values worked out by hand in the comments."""

import math

import numpy as np
import pytest
from api_checks import assert_matches, grad_check

from shrimpgrad import Tensor, dtypes

RNG = np.random.default_rng(29)

# ---- avg_pool2d(divisor_override=) ---------------------------------------------------------------------------


def test_divisor_override_divides_every_window_by_it():
    x = Tensor.arange(16).reshape(1, 1, 4, 4)  # windows (2x2, stride 2) sum to 10, 18, 42, 50
    assert_matches(x.avg_pool2d(2, divisor_override=3), np.array([[[[10, 18], [42, 50]]]], np.float32) / 3,
                   dtype=np.float32)
    got = x.avg_pool2d(2, divisor_override=1)
    assert got.dtype == dtypes.default_float and got.tolist() == [[[[10.0, 18.0], [42.0, 50.0]]]]
    assert x.avg_pool2d(2, divisor_override=-2).tolist() == [[[[-5.0, -9.0], [-21.0, -25.0]]]]


@pytest.mark.parametrize("include", [True, False])
def test_divisor_override_with_padding_and_ceil_mode_ignores_count_include_pad(include):
    x = RNG.standard_normal((2, 5, 5))
    got = Tensor(x).avg_pool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=include, divisor_override=5)
    padded = np.pad(x, ((0, 0), (1, 2), (1, 2)))  # ceil_mode: 3 windows per axis, the last reads a zero column
    want = np.array([[[padded[b, 2 * i:2 * i + 3, 2 * j:2 * j + 3].sum() / 5 for j in range(3)] for i in range(3)]
                     for b in range(2)])
    assert_matches(got, want, rtol=1e-12, dtype=np.float64)


def test_divisor_override_gradient_and_float16():
    grad_check(lambda t: t.avg_pool2d(2, stride=1, divisor_override=7), RNG.standard_normal((1, 3, 4)))
    half = Tensor(np.ones((1, 2, 2), np.float16)).avg_pool2d(2, divisor_override=2)
    assert_matches(half, np.array([[[2.0]]], np.float16), dtype=np.float16)


@pytest.mark.parametrize("bad, kind, match", [(0, RuntimeError, "divisor_override must not be zero"),
                                              (2.0, TypeError, "divisor_override must be an int"),
                                              (True, TypeError, "divisor_override must be an int")])
def test_bad_divisor_override(bad, kind, match):
    with pytest.raises(kind, match=match):
        Tensor.ones(1, 2, 2).avg_pool2d(2, divisor_override=bad)


# ---- interpolate(mode="bicubic") -------------------------------------------------------------------------------

A = -0.75


def _cubic_weights(t):
    near = lambda x: ((A + 2) * x - (A + 3)) * x * x + 1  # noqa: E731
    far = lambda x: ((A * x - 5 * A) * x + 8 * A) * x - 4 * A  # noqa: E731
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def bicubic_loop(x, size, align_corners, scales=None):
    """PyTorch's upsample_bicubic2d_out_frame, pixel by pixel in float64: 16 neighbours (clamped at the borders),
    weights from Keys' cubic (A = -0.75) of the fractional source position (cubic: not clamped at 0)."""
    (h, w), (oh, ow) = x.shape[-2:], size

    def source(dst, n_in, n_out, scale):
        if align_corners:
            return dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        step = 1 / scale if scale else n_in / n_out
        return step * (dst + 0.5) - 0.5

    out = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        sy = source(i, h, oh, scales and scales[0])
        y0 = math.floor(sy)
        wy = _cubic_weights(sy - y0)
        for j in range(ow):
            sx = source(j, w, ow, scales and scales[1])
            x0 = math.floor(sx)
            wx = _cubic_weights(sx - x0)
            acc = 0.0
            for a in range(4):
                for b in range(4):
                    yy, xx = min(max(y0 - 1 + a, 0), h - 1), min(max(x0 - 1 + b, 0), w - 1)
                    acc = acc + wy[a] * wx[b] * x[..., yy, xx]
            out[..., i, j] = acc
    return out


def test_bicubic_value_worked_by_hand():
    """[0, 1, 2, 3] to 8 cells: the first output reads at -0.25 (floor -1, t = 0.75), weights
    far(1.75) = -0.03515625, near(0.75) = 0.26171875, near(0.25) = 0.87890625, far(1.25) = -0.10546875 on cells
    -2, -1, 0, 1 (clamped: 0, 0, 0, 1), so the value is -0.10546875. The fourth reads at 1.25 (t = 0.25, the same
    weights reversed on cells 0..3): 0.87890625 + 2 * 0.26171875 - 3 * 0.03515625 = 1.296875, not 1.25: with
    A = -0.75 the cubic does not reproduce a line (A = -0.5 would)."""
    got = Tensor(np.arange(4.0).reshape(1, 1, 1, 4)).interpolate((1, 8), mode="bicubic").numpy()[0, 0, 0]
    assert got[0] == -0.10546875
    assert got[3] == 1.296875


@pytest.mark.parametrize("size", [(7, 3), (2, 9), (1, 1), (4, 5), (8, 10)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_bicubic_matches_pytorchs_16_neighbour_loop(size, align_corners):
    x = RNG.standard_normal((2, 3, 4, 5))
    got = Tensor(x).interpolate(size, mode="bicubic", align_corners=align_corners)
    assert_matches(got, bicubic_loop(x, size, align_corners), rtol=1e-12, atol=1e-12, dtype=np.float64)


def test_bicubic_scale_factor_float32_and_gradient():
    x = RNG.standard_normal((1, 1, 3, 4)).astype(np.float32)
    got = Tensor(x).interpolate(scale_factor=1.5, mode="bicubic")
    assert got.shape == (1, 1, 4, 6)
    assert_matches(got, bicubic_loop(x.astype(np.float64), (4, 6), False, (1.5, 1.5)).astype(np.float32),
                   rtol=1e-5, atol=1e-6, dtype=np.float32)
    grad_check(lambda t: t.interpolate((3, 5), mode="bicubic", align_corners=True), RNG.standard_normal((1, 2, 3)))


def test_bicubic_on_uint8_rounds_and_saturates():
    """[0, 255] to 4 cells with align_corners reads at 0, 1/3, 2/3, 1; at 1/3 the taps are cells 0, 0, 1, 1
    (clamped) with weights far(4/3), near(1/3), near(2/3), far(5/3): 255 * (0.37037 - 0.05556) = 80.28 -> 80.
    A step 0, 0, 255, 255 overshoots below 0 and above 255, which uint8 clamps."""
    got = Tensor(np.array([[0, 255]], np.uint8)).interpolate((1, 4), mode="bicubic", align_corners=True)
    assert_matches(got, np.array([[0, 80, 175, 255]], np.uint8), dtype=np.uint8)
    step = np.array([[0, 0, 255, 255]], np.uint8)
    got = Tensor(step).interpolate((1, 9), mode="bicubic", align_corners=True).numpy()
    raw = bicubic_loop(step.astype(np.float64), (1, 9), True)
    assert raw.min() < 0 and raw.max() > 255  # the overshoot exists ...
    np.testing.assert_array_equal(got, np.clip(np.round(raw), 0, 255).astype(np.uint8))  # ... and is clamped


def test_bicubic_on_uint8_saturates_after_each_axis():
    """A 2-d overshoot: the width pass goes below 0 next to the step; PyTorch's uint8 kernel stores that pass in
    uint8 (clamped) before the height pass, so the result is the clamped loop applied axis by axis."""
    x = np.array([[0, 0, 255, 255], [255, 255, 0, 0], [0, 255, 0, 255]], np.uint8)
    got = Tensor(x).interpolate((5, 7), mode="bicubic").numpy()
    rows = np.clip(np.round(bicubic_loop(x.astype(np.float64)[:, None, :], (1, 7), False)[:, 0, :]), 0, 255)
    want = np.clip(np.round(bicubic_loop(rows.T[:, None, :], (1, 5), False)[:, 0, :].T), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(got, want)


def test_bicubic_needs_two_axes():
    with pytest.raises(NotImplementedError, match="mode 'bicubic' resamples 2 axes"):
        Tensor.ones(1, 1, 4).interpolate((8,), mode="bicubic")


# ---- interpolate(mode="area") ----------------------------------------------------------------------------------


def area_loop(x, size):
    """PyTorch's adaptive_avg_pool2d: output (i, j) is the mean of rows [floor(i*h/oh), ceil((i+1)*h/oh)) and
    columns likewise."""
    (h, w), (oh, ow) = x.shape[-2:], size
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, r1 = (i * h) // oh, -(-(i + 1) * h // oh)
            c0, c1 = (j * w) // ow, -(-(j + 1) * w // ow)
            out[..., i, j] = x[..., r0:r1, c0:c1].mean(axis=(-2, -1))
    return out


def test_area_value_worked_by_hand():
    """5 cells to 3: windows [0, 2), [1, 4), [3, 5): means 0.5, 2, 3.5 (they overlap where 5/3 isn't whole)."""
    assert Tensor(np.arange(5.0)).interpolate((3,), mode="area").tolist() == [0.5, 2.0, 3.5]
    assert Tensor(np.arange(3.0)).interpolate((6,), mode="area").tolist() == [0, 0, 1, 1, 2, 2]  # upsampling copies


@pytest.mark.parametrize("size", [(2, 3), (3, 2), (1, 1), (4, 5), (7, 9), (5, 2)])
def test_area_matches_adaptive_avg_pool_loop(size):
    x = RNG.standard_normal((2, 3, 4, 5))
    assert_matches(Tensor(x).interpolate(size, mode="area"), area_loop(x, size), rtol=1e-12, dtype=np.float64)


def test_area_scale_factor_dtypes_gradient_and_errors():
    x = RNG.standard_normal((1, 1, 4, 6)).astype(np.float32)
    got = Tensor(x).interpolate(scale_factor=0.5, mode="area")
    # float32 sums of O(1) values, in another order (fused into FMAs on CUDA) than the float64 loop: an output near 0
    # is off by a few 1e-8 absolutely, which rtol alone can't allow
    assert_matches(got, area_loop(x.astype(np.float64), (2, 3)).astype(np.float32), rtol=1e-6, atol=1e-6,
                   dtype=np.float32)
    ints = Tensor(np.array([[1, 2, 4, 4]], np.int32)).interpolate((1, 2), mode="area")
    assert_matches(ints, np.array([[2, 4]], np.int32), dtype=np.int32)  # 1.5 rounds to even: 2
    grad_check(lambda t: t.interpolate((2, 3), mode="area"), RNG.standard_normal((1, 3, 5)))
    with pytest.raises(ValueError, match="align_corners can only be set with the interpolating modes"):
        Tensor.ones(1, 1, 4).interpolate((2,), mode="area", align_corners=True)
