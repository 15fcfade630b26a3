"""Convolution, pooling and resampling for `Tensor` (mixed into it): conv2d, conv_transpose2d, max_pool2d
(ceil_mode, return_indices), avg_pool2d (divisor_override), max_unpool2d and interpolate (nearest, nearest-exact,
linear/bilinear/trilinear, bicubic, area). Like tinygrad's, they work for any number of
spatial axes (the trailing ones): a 3-d input with a 1-d kernel is a 1-d convolution, a 5-d one with a 3-d kernel
a 3-d convolution.

All of them are compositions of the Tensor's public ops, and the heavy ones share one idea:

**Sliding windows are a view** (`_pool`). For an input `(..., i)` and a window of `k` elements with
stride `s` and dilation `d`, `_pool` returns `(..., o, k)` with `out[..., a, b] = x[..., a*s + b*d]`,
`o = ceil((i - d*(k-1)) / s)`, using only pad/shrink/reshape/expand/permute (no data is copied; the
overlapping case becomes a stack of views, which the later stages turn into index arithmetic). Over
several trailing axes at once it returns `(..., o1, o2, k1, k2)`. Then:

* `conv2d` = pad (negative padding cuts, as in tinygrad), `_pool` over the spatial axes, broadcast-multiply with
  the weight, sum over (input channel, kernel window).
* 16-bit float `conv2d` on CUDA = the windows copied into a matrix (im2col) and a batched matmul with the weight
  (`_conv_as_matmul`), because a matmul runs on the GPU's tensor cores and the fused kernel cannot
  (`SHRIMPGRAD_CONV_IM2COL`, `_as_matmul`).
* `conv_transpose2d` = spread the input out by the stride (zeros between), then an ordinary convolution with the
  flipped, transposed weight and padding `d*(k-1) - p` (the adjoint of conv2d, as tinygrad writes it).
* `max_pool2d` / `avg_pool2d` = pad, `_pool`, max / mean over the window axes. `ceil_mode` only adds padding on
  the right so that the last, partial window exists (PyTorch's output size rule, `_pool_sizes`).
* `max_unpool2d` and `interpolate` are picks at indices: a one-hot compare of the index with an arange and a
  masked sum, the same pick tensor indexing uses. interpolate's indices and weights depend only on the shapes, so
  they are computed here in numpy, with PyTorch's formulas and float precision, and enter the graph as constants.

Mapping to tinygrad: `Tensor._pool`, `conv2d`, `conv_transpose2d`, `max_pool2d`, `avg_pool2d`, `max_unpool2d`,
`interpolate`. Simplified: no winograd. Different: the overlapping-window view takes every s-th element with
`_every_nth` instead of tinygrad's scaled repeat (same views, simpler sizes); pooling indices are int64 (PyTorch);
max_unpool2d keeps the last of duplicate indices (PyTorch's loop) where tinygrad adds them. From PyTorch: conv2d's
padding="same"/"valid", interpolate's scale_factor and its mode names "bilinear" and "trilinear", float16
products added in float32.

Required from the core Tensor (shrimpgrad/tensor.py): `_float`, `shape`, `ndim`, `dtype`, `device`, and the
classmethods `arange` and `ones` (creation.py). The windows are views (movement.py), the products and sums are
elementwise.py and reduce.py, the index checks indexing.py.
"""

from __future__ import annotations

import math
import os

import numpy as np

from shrimpgrad.checks import PaddingError, _is_int
from shrimpgrad.graph import Ops, dtypes, promote, reduce_identity
from shrimpgrad.indexing import _every_nth, check_index_values

# ------------------------------------------------------------------------------------------------
# Arguments (PyTorch raises RuntimeError for bad values of these, TypeError for a wrong type)
# ------------------------------------------------------------------------------------------------


def _per_axis(value, n: int, name: str, method: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or a tuple of n ints (stride, dilation, kernel_size, output_padding), checked to be >= minimum."""
    vals = (value,) * n if _is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else None
    if vals is None or any(not _is_int(v) for v in vals):
        raise TypeError(f"Tensor.{method}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if len(vals) != n or any(v < minimum for v in vals):
        raise RuntimeError(f"Tensor.{method}: {name} must be an int >= {minimum} or a tuple of {n} such ints, "
                           f"got {value!r}")
    return tuple(int(v) for v in vals)


def _resolve_padding(padding, n: int, method: str, negative_ok: bool = False) -> tuple[tuple[int, int], ...]:
    """(before, after) for each of the n spatial axes, from tinygrad's (and PyTorch's) padding forms:
    an int (every side), n ints (both sides of each axis), or 2n ints in the order
    (left, right, top, bottom, ...) -- the *last* axis first, like torch.nn.functional.pad.
    Convolutions accept negative padding (it cuts the input, as in tinygrad); pooling doesn't (PyTorch)."""
    if _is_int(padding):
        pads = ((int(padding), int(padding)),) * n
    elif isinstance(padding, (tuple, list)) and len(padding) == n and all(_is_int(p) for p in padding):
        pads = tuple((int(p), int(p)) for p in padding)
    elif isinstance(padding, (tuple, list)) and len(padding) == 2 * n and all(_is_int(p) for p in padding):
        pairs = [(int(padding[2 * j]), int(padding[2 * j + 1])) for j in range(n)]  # last axis first
        pads = tuple(reversed(pairs))
    else:
        raise PaddingError(f"Tensor.{method}: padding must be an int, {n} ints (one per spatial axis) or {2 * n} "
                           f"ints (left, right, top, bottom, ...), got {padding!r}")
    if not negative_ok and any(b < 0 or a < 0 for b, a in pads):
        raise RuntimeError(f"Tensor.{method}: padding must be non-negative, got {padding!r}")
    return pads


def _named_padding(padding: str, kernel, stride, dilation) -> tuple[int, ...]:
    """PyTorch's padding="valid" (none) and "same" (the window's span minus 1 per axis, half on each side, the odd
    cell on the right), as the flat (left, right, top, bottom, ...) form."""
    if padding == "valid":
        return (0,) * (2 * len(kernel))
    if padding != "same":
        raise PaddingError(f"Tensor.conv2d: padding must be an int, a tuple of ints, 'valid' or 'same', got "
                           f"{padding!r}")
    if any(s != 1 for s in stride):
        raise RuntimeError(f"Tensor.conv2d: padding='same' needs stride 1 (the output keeps the input's size), got "
                           f"stride {stride}")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return tuple(p for t in reversed(totals) for p in (t // 2, t - t // 2))


def _pad_spatial(x, pads: tuple[tuple[int, int], ...], value=0.0):
    """Pad (or, for negative amounts, cut) the last len(pads) axes of x with `value`."""
    return x.pad(((0, 0),) * (x.ndim - len(pads)) + tuple(pads), value=value)


def _check_windows(x, kernel, dilation, method: str) -> None:
    spatial = x.shape[-len(kernel):]
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(span > i for span, i in zip(spans, spatial)):
        raise RuntimeError(f"Tensor.{method}: the window (kernel {kernel}, dilation {dilation}) spans {spans} but "
                           f"the (padded) input is only {spatial} on its last {len(kernel)} axes (shape {x.shape}); "
                           f"use a smaller kernel or dilation, or more padding")


# ------------------------------------------------------------------------------------------------
# Sliding windows
# ------------------------------------------------------------------------------------------------


def _pool(x, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]):
    """Sliding windows over the last len(kernel) axes as a view: (..., *in) -> (..., *out, *kernel),
    out[..., a1, a2, b1, b2] = x[..., a1*s1 + b1*d1, a2*s2 + b2*d2]. The window must fit (see _check_windows)."""
    n = len(kernel)
    lead, ins = x.shape[:-n], x.shape[-n:]
    outs = tuple(-(-(i - d * (k - 1)) // s) for i, k, s, d in zip(ins, kernel, stride, dilation))
    if all(k <= s for k, s in zip(kernel, stride)) and all(d == 1 for d in dilation):
        x = _windows_disjoint(x, lead, ins, outs, kernel, stride)
    else:
        x = _windows_overlapping(x, lead, ins, outs, kernel, stride, dilation)
    return x


def _windows_disjoint(x, lead, ins, outs, kernel, stride):
    """Windows that don't overlap (k <= s, no dilation): cut each axis into o rows of s and keep k of each row.

    Example, one axis [x0 .. x4], k = 2, s = 3: o = 2 -> pad to 6 -> (2, 3) rows [x0 x1 x2] [x3 x4 0]
    -> keep 2 columns: [[x0 x1] [x3 x4]]."""
    nl = len(lead)
    x = x.pad(((0, 0),) * nl + tuple((0, max(0, o * s - i)) for i, o, s in zip(ins, outs, stride)))
    x = x.shrink(tuple((0, s) for s in lead) + tuple((0, o * s) for o, s in zip(outs, stride)))
    x = x.reshape(lead + tuple(v for o, s in zip(outs, stride) for v in (o, s)))
    x = x.shrink(tuple((0, s) for s in lead) + tuple(r for o, k in zip(outs, kernel) for r in ((0, o), (0, k))))
    n = len(kernel)
    return x.permute(tuple(range(nl)) + tuple(nl + 2 * j for j in range(n)) + tuple(nl + 2 * j + 1 for j in range(n)))


def _windows_overlapping(x, lead, ins, outs, kernel, stride, dilation):
    """Windows that overlap (or are dilated), by tiling the input and reading it with a skewed row length.

    For one axis of size i: tile x enough times, then read the tiles as rows of length i + d. Row b
    starts at b*(i + d), which is b*d modulo i, so row b is x shifted left by b*d: row b, column j holds
    x[j + b*d] (no wrap-around for the columns we keep). Keeping columns 0, s, 2s, ... gives
    [b, a] = x[a*s + b*d]. Example, i = 4, k = 2, s = 1, d = 1 (o = 3): tiles x0 x1 x2 x3 x0 x1 x2 x3 x0 x1,
    rows of 5: [x0 x1 x2 x3 x0] [x1 x2 x3 x0 x1] -> keep 3 columns: [[x0 x1 x2] [x1 x2 x3]], then transpose.
    Tiling is reshape + expand + reshape: a view, no copy."""
    nl, n = len(lead), len(kernel)
    rows = tuple(i + d for i, d in zip(ins, dilation))
    tiles = tuple(-(-(k * r) // i) for k, r, i in zip(kernel, rows, ins))  # ceil(k * row / i)
    x = x.reshape(lead + tuple(v for i in ins for v in (1, i)))
    x = x.expand(lead + tuple(v for t, i in zip(tiles, ins) for v in (t, i)))
    x = x.reshape(lead + tuple(t * i for t, i in zip(tiles, ins)))
    x = x.shrink(tuple((0, s) for s in lead) + tuple((0, k * r) for k, r in zip(kernel, rows)))
    x = x.reshape(lead + tuple(v for k, r in zip(kernel, rows) for v in (k, r)))
    # keep columns 0 .. (o-1)*s of each row, then every s-th of them
    x = x.shrink(tuple((0, s) for s in lead) + tuple(c for k, o, s in zip(kernel, outs, stride)
                                                     for c in ((0, k), (0, (o - 1) * s + 1))))
    x = _every_nth(x, (1,) * nl + tuple(v for s in stride for v in (1, s)))  # (..., k1, o1, k2, o2, ...)
    return x.permute(tuple(range(nl)) + tuple(nl + 2 * j + 1 for j in range(n)) + tuple(nl + 2 * j for j in range(n)))


def _spread(x, stride: tuple[int, ...]):
    """Put s-1 zeros between neighbours on each of the last len(stride) axes: (..., i) -> (..., (i-1)*s + 1).
    Example, [a b c], s = 2 -> reshape (3, 1) -> pad (3, 2) -> [a 0 b 0 c 0] -> cut the last: [a 0 b 0 c]."""
    n, lead = len(stride), x.shape[:-len(stride)]
    ins = x.shape[-n:]
    x = x.reshape(lead + tuple(v for i in ins for v in (i, 1)))
    x = x.pad(((0, 0),) * len(lead) + tuple(p for s in stride for p in ((0, 0), (0, s - 1))))
    x = x.reshape(lead + tuple(i * s for i, s in zip(ins, stride)))
    return x.shrink(tuple((0, v) for v in lead) + tuple((0, (i - 1) * s + 1) for i, s in zip(ins, stride)))


# ------------------------------------------------------------------------------------------------
# Pooling sizes (PyTorch's rule, with ceil_mode)
# ------------------------------------------------------------------------------------------------


def _pool_sizes(ins, kernel, stride, dilation, pads, ceil_mode: bool, method: str) -> tuple[int, ...]:
    """Output sizes: floor((i + pads - span) / s) + 1, or with ceil_mode the ceiling, minus one where the last
    window would start in the right padding (PyTorch's rule: every window keeps at least one input element)."""
    outs = []
    for i, k, s, d, (b, a) in zip(ins, kernel, stride, dilation, pads):
        span, total = d * (k - 1) + 1, i + b + a
        o = (-(-(total - span) // s) if ceil_mode else (total - span) // s) + 1
        if ceil_mode and (o - 1) * s >= i + b:
            o -= 1
        outs.append(o)
    if any(o < 1 for o in outs):
        raise RuntimeError(f"Tensor.{method}: the output would be {tuple(outs)} for an input of spatial size "
                           f"{tuple(ins)} with kernel {kernel}, stride {stride}, dilation {dilation} and padding "
                           f"{pads}; use a smaller kernel or more padding")
    return tuple(outs)


def _ceil_pads(ins, outs, kernel, stride, dilation, pads):
    """pads, with the right side grown so that the input is long enough for `outs` windows (ceil_mode)."""
    return tuple((b, a + max(0, (o - 1) * s + d * (k - 1) + 1 - (i + b + a)))
                 for i, o, k, s, d, (b, a) in zip(ins, outs, kernel, stride, dilation, pads))


# ------------------------------------------------------------------------------------------------
# Picks at static indices (interpolate)
# ------------------------------------------------------------------------------------------------


def _pick_along(x, axis: int, index: np.ndarray):
    """out[..., j, ...] = x[..., index[j], ...] along `axis` for indices known now: a one-hot mask (a constant) and
    a masked sum. The sum has exactly one term, so the value is exact; it is cast back for ints and bool."""
    n, m = x.shape[axis], len(index)
    mask = type(x)(index.reshape(m, 1) == np.arange(n), device=x.device)  # (m, n)
    x = x.unsqueeze(axis)  # (..., 1, n, ...): the mask's two axes line up with (axis, axis + 1)
    mask = mask.reshape((m, n) + (1,) * (x.ndim - axis - 2))
    return mask.where(x, 0).sum(axis=axis + 1).cast(x.dtype)


def _index_scale(n_in: int, n_out: int, scale_factor, np_dtype):
    """PyTorch's compute_scales_value: source cells per output cell, 1 / scale_factor when one was given (so
    interpolate(scale_factor=1.5) reads where PyTorch does even though in / out isn't exactly 1 / 1.5)."""
    if scale_factor is not None and scale_factor > 0:
        return np_dtype(1.0 / scale_factor)
    return np_dtype(n_in) / np_dtype(n_out)


def _nearest_source(n_in: int, n_out: int, exact: bool, scale_factor=None) -> np.ndarray:
    """PyTorch's nearest_idx: floor(dst * scale) (nearest-exact: floor((dst + 0.5) * scale)), clamped to the input,
    with the scale in float32 (so that the rare rounding ties land where PyTorch's do)."""
    if not exact and n_out == n_in:
        return np.arange(n_out)
    if not exact and n_out == 2 * n_in:
        return np.arange(n_out) >> 1
    scale = _index_scale(n_in, n_out, scale_factor, np.float32)
    dst = np.arange(n_out, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return np.minimum(np.floor(dst * scale).astype(np.int64), n_in - 1)


def _linear_source(n_in: int, n_out: int, align_corners: bool, np_dtype, scale_factor=None):
    """PyTorch's area_pixel_compute_source_index for linear modes: the two neighbours and the weight of the second,
    computed in the input's float precision (float32 for float16, as PyTorch's opmath)."""
    dst = np.arange(n_out, dtype=np_dtype)
    if align_corners:  # the corners' centres line up; a given scale_factor only sets the size
        scale = np_dtype(n_in - 1) / np_dtype(n_out - 1) if n_out > 1 else np_dtype(0)
        src = dst * scale
    else:
        scale = _index_scale(n_in, n_out, scale_factor, np_dtype)
        src = np.maximum(scale * (dst + np_dtype(0.5)) - np_dtype(0.5), np_dtype(0))
    low = np.minimum(src.astype(np.int64), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    return low, high, (src - low.astype(np_dtype)).astype(np_dtype)


def _cubic_source(n_in: int, n_out: int, align_corners: bool, np_dtype, scale_factor=None):
    """PyTorch's upsample_bicubic2d along one axis: the four neighbours of each output cell (clamped to the input,
    as upsample_get_value_bounded does) and their weights, Keys' cubic convolution with A = -0.75. The source
    position is area_pixel_compute_source_index with cubic=True: not clamped at 0, unlike the linear modes'."""
    dst = np.arange(n_out, dtype=np_dtype)
    if align_corners:
        scale = np_dtype(n_in - 1) / np_dtype(n_out - 1) if n_out > 1 else np_dtype(0)
        src = dst * scale
    else:
        src = _index_scale(n_in, n_out, scale_factor, np_dtype) * (dst + np_dtype(0.5)) - np_dtype(0.5)
    floor = np.minimum(np.floor(src), np_dtype(n_in - 1))  # guard_index_and_lambda
    t = np.clip(src - floor, np_dtype(0), np_dtype(1)).astype(np_dtype)
    a, one = np_dtype(-0.75), np_dtype(1)

    def near(x):  # |x| <= 1: ((A + 2) x - (A + 3)) x^2 + 1
        return ((a + np_dtype(2)) * x - (a + np_dtype(3))) * x * x + one

    def far(x):  # 1 < |x| < 2: ((A x - 5A) x + 8A) x - 4A
        return ((a * x - np_dtype(5) * a) * x + np_dtype(8) * a) * x - np_dtype(4) * a

    weights = (far(t + one), near(t), near(one - t), far((one - t) + one))  # PyTorch's exact expressions
    taps = tuple(np.clip(floor.astype(np.int64) - 1 + k, 0, n_in - 1) for k in range(4))
    return taps, weights


def _area_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's mode="area" is adaptive_avg_pool: output cell j averages input cells [floor(j*in/out),
    ceil((j+1)*in/out)). Returns the (out, in) 0/1 membership and each window's cell count."""
    j = np.arange(n_out)
    start, end = (j * n_in) // n_out, -((-(j + 1) * n_in) // n_out)
    member = (np.arange(n_in) >= start[:, None]) & (np.arange(n_in) < end[:, None])
    return member, end - start


def _interpolate_sizes(shape, size, scale_factor):
    """The output sizes of the resampled (trailing) axes and their scale factors (None without scale_factor). A
    single scale_factor applies to every axis after the first two (PyTorch's (N, C, *spatial))."""
    if (size is None) == (scale_factor is None):
        raise ValueError("Tensor.interpolate: give exactly one of size and scale_factor")
    if size is not None:
        if not isinstance(size, (tuple, list)) or not size or len(size) > len(shape):
            raise ValueError(f"Tensor.interpolate: size must be a tuple of 1 to {len(shape)} ints (the new sizes of "
                             f"the last axes of shape {shape}), got {size!r}")
        if any(not _is_int(s) or s < 1 for s in size):
            raise RuntimeError(f"Tensor.interpolate: output sizes must be positive ints, got {tuple(size)!r}")
        return tuple(int(s) for s in size), None
    scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * (len(shape) - 2)
    if not scales or len(scales) > len(shape) or \
            any(isinstance(f, bool) or not isinstance(f, (int, float)) or not f > 0 for f in scales):
        raise ValueError(f"Tensor.interpolate: scale_factor must be a positive number (for the axes after (N, C)) or "
                         f"a tuple of 1 to {len(shape)} of them, got {scale_factor!r} for shape {shape}")
    sizes = tuple(math.floor(i * float(f)) for i, f in zip(shape[-len(scales):], scales))
    if any(s < 1 for s in sizes):
        raise RuntimeError(f"Tensor.interpolate: scale_factor {scale_factor!r} gives output sizes {sizes} for shape "
                           f"{shape}; they must be positive")
    return sizes, tuple(float(f) for f in scales)


_LINEAR_MODES = {"linear": None, "bilinear": 2, "trilinear": 3}  # PyTorch's names fix the number of axes
_INTERPOLATING = {**_LINEAR_MODES, "bicubic": 2}  # the modes that take align_corners (weights between neighbours)
_MODES = ("nearest", "nearest-exact", "area", *_INTERPOLATING)


# ------------------------------------------------------------------------------------------------
# The mixin
# ------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------
# Convolution as a matmul (im2col), for the tensor cores
# ------------------------------------------------------------------------------------------------

IM2COL_ENV = "SHRIMPGRAD_CONV_IM2COL"  # auto (default): 16-bit float convolutions on CUDA; 1: every 16-bit one; 0: none


def _as_matmul(device: str, out_dtype) -> bool:
    """Whether conv2d copies its windows into a matrix and multiplies (`_conv_as_matmul`) instead of summing
    the windowed products in one kernel. Worth it where a matmul is much faster than the fused loop nest: a 16-bit
    float convolution on CUDA, whose matmul runs on the tensor cores (stage 05's rule 5; a window view is not one
    view per operand, so the convolution's own kernel cannot be tiled). The copy costs k1 x k2 times the input's
    memory; on the CPU the fused kernel is better, so `auto` keeps it there."""
    mode = os.environ.get(IM2COL_ENV, "auto")
    if mode not in ("auto", "0", "1"):
        raise ValueError(f"Tensor.conv2d: {IM2COL_ENV}={mode!r} is not a mode; set it to auto (the default: "
                         f"16-bit float convolutions on CUDA as im2col + matmul), 0 (never) or 1 (on every device)")
    if out_dtype not in (dtypes.float16, dtypes.bfloat16) or mode == "0":
        return False
    return mode == "1" or device == "CUDA"  # (a Tensor's device is its canonical name: "C", "PYTHON", "CUDA")


def _conv_as_matmul(x, weight, groups: int, outs: tuple[int, ...], kernel: tuple[int, ...]):
    """conv2d as im2col + matmul: the windows x (bs, groups*cin, *outs, *kernel) copied (`contiguous`, one kernel)
    into the matrix cols (bs, groups, cin * k, P) (k = prod(kernel), P = prod(outs): one column per output
    position), then out (bs, groups, rcout, P) = w (groups, rcout, cin * k) @ cols, batched over bs and groups,
    which is already (bs, cout, *outs) in memory. The sum runs over (cin, *kernel) in the same order as the fused
    kernel's, float16 products added in float32 (the matmul's rule)."""
    bs, n = x.shape[0], len(kernel)
    cin, rcout = weight.shape[1], weight.shape[0] // groups
    k, positions = cin * math.prod(kernel), math.prod(outs)
    windows = x.reshape((bs, groups, cin) + outs + kernel)
    cols = windows.permute((0, 1, 2) + tuple(range(3 + n, 3 + 2 * n)) + tuple(range(3, 3 + n)))
    # copied before the axes are merged: the copy kernel keeps one loop per window axis and its index stays affine
    # (merged first, it would unravel k and P by division and modulo, per element: most of its time on a GPU)
    cols = cols.contiguous().reshape(bs, groups, k, positions)
    out = weight.reshape(1, groups, rcout, k) @ cols
    return out.reshape((bs, groups * rcout) + outs)


class ConvMixin:
    """conv2d, conv_transpose2d, max_pool2d, avg_pool2d, max_unpool2d and interpolate (tinygrad's names and
    semantics, PyTorch's values and errors)."""

    def conv2d(self, weight, bias=None, groups: int = 1, stride=1, dilation=1, padding=0, dtype=None):
        """Convolution (cross-correlation, as in PyTorch) of self (N, C_in, *spatial) with weight
        (C_out, C_in / groups, *kernel) -> (N, C_out, *out). Any number of spatial axes (1-d, 2-d, 3-d, ...).

        padding: an int, one int per spatial axis, or (left, right, top, bottom); negative amounts cut the input
        (tinygrad); or PyTorch's "valid" (none) and "same" (output size = input size, stride 1; an odd total puts
        the extra cell on the right). dtype: what the sum accumulates in. Computed as pad -> `_pool` windows
        (N, C_in, *out, *kernel) -> broadcast multiply with the weight -> sum."""
        n = self._conv_check(weight, bias, groups, "conv2d")
        bs, (cout, cin), kernel = self.shape[0], weight.shape[:2], weight.shape[2:]
        stride_ = _per_axis(stride, n, "stride", "conv2d")
        dilation_ = _per_axis(dilation, n, "dilation", "conv2d")
        if isinstance(padding, str):
            padding = _named_padding(padding, kernel, stride_, dilation_)
        x = _pad_spatial(self, _resolve_padding(padding, n, "conv2d", negative_ok=True))
        _check_windows(x, kernel, dilation_, "conv2d")
        x = _pool(x, kernel, stride_, dilation_)  # (bs, groups*cin, *out, *kernel)
        outs, rcout = x.shape[2:2 + n], cout // groups
        out_dtype = promote(self.dtype, weight.dtype) if dtype is None else None
        if _as_matmul(self.device, out_dtype):
            out = _conv_as_matmul(x, weight, groups, outs, kernel)
        else:
            # line the windows up with the weight: (bs, groups, rcout, *out, cin, *kernel)
            x = x.reshape((bs, groups, cin, 1) + outs + kernel).expand((bs, groups, cin, rcout) + outs + kernel)
            x = x.permute((0, 1, 3) + tuple(range(4, 4 + n)) + (2,) + tuple(range(4 + n, 4 + 2 * n)))
            w = weight.reshape((1, groups, rcout) + (1,) * n + (cin,) + kernel)
            if out_dtype in (dtypes.float16, dtypes.bfloat16):  # as matmul: 16-bit float products added in float32
                x, w = x.cast(dtypes.float32), w.cast(dtypes.float32)
            out = (x * w).sum(axis=tuple(range(-1 - n, 0)), dtype=dtype).reshape((bs, cout) + outs)
            out = out if out_dtype is None else out.cast(out_dtype)
        return out if bias is None else out + bias.reshape((1, cout) + (1,) * n)

    def conv_transpose2d(self, weight, bias=None, groups: int = 1, stride=1, dilation=1, padding=0,
                         output_padding=0):
        """The transposed convolution (the gradient of conv2d with respect to its input) of self (N, C_in, *spatial)
        with weight (C_in, C_out / groups, *kernel) -> (N, C_out, *out), out = (i-1)*s - 2p + d*(k-1) +
        output_padding + 1 (PyTorch's ConvTranspose). Any number of spatial axes.

        Computed as an ordinary convolution: spread the input by the stride (s-1 zeros between neighbours),
        pad each side by d*(k-1) - p (output_padding more on the right), and convolve with the weight flipped
        along its kernel axes and with its two channel axes swapped within each group."""
        tensor_cls = type(self)
        if not isinstance(weight, tensor_cls):
            raise TypeError(f"Tensor.conv_transpose2d: weight must be a Tensor, got {type(weight).__name__}")
        if weight.ndim < 3 or self.ndim != weight.ndim:
            raise RuntimeError(f"Tensor.conv_transpose2d: input {self.shape} and weight {weight.shape} need the same "
                               f"number of dims, at least 3: input (N, C_in, *spatial), weight "
                               f"(C_in, C_out/groups, *kernel)")
        if not _is_int(groups) or groups < 1 or weight.shape[0] % groups:
            raise RuntimeError(f"Tensor.conv_transpose2d: groups={groups!r} must be a positive int dividing "
                               f"weight.shape[0] = {weight.shape[0]}")
        if self.shape[1] != weight.shape[0]:
            raise RuntimeError(f"Tensor.conv_transpose2d: input has {self.shape[1]} channels (shape {self.shape}) but "
                               f"weight {weight.shape} expects weight.shape[0] = {weight.shape[0]} (for transposed "
                               f"convolutions the weight is (C_in, C_out / groups, *kernel))")
        kernel = weight.shape[2:]
        n = len(kernel)
        stride_ = _per_axis(stride, n, "stride", "conv_transpose2d")
        dilation_ = _per_axis(dilation, n, "dilation", "conv_transpose2d")
        out_pad = _per_axis(output_padding, n, "output_padding", "conv_transpose2d", minimum=0)
        if any(op >= max(s, d) for op, s, d in zip(out_pad, stride_, dilation_)):
            raise RuntimeError(f"Tensor.conv_transpose2d: output_padding {out_pad} must be smaller than the stride "
                               f"{stride_} or the dilation {dilation_} on each axis")
        pads = _resolve_padding(padding, n, "conv_transpose2d")
        cin, rcout = weight.shape[0] // groups, weight.shape[1]
        # (C_in, C_out/g, *k) -> (g, C_in/g, C_out/g, *k) -> swap the channel axes -> flip -> (C_out, C_in/g, *k)
        w = weight.reshape((groups, cin, rcout) + kernel).permute((0, 2, 1) + tuple(range(3, 3 + n)))
        w = w.flip(tuple(range(3, 3 + n))).reshape((groups * rcout, cin) + kernel)
        x = _spread(self, stride_)
        conv_pads = tuple(((k - 1) * d - b, (k - 1) * d - a + op)
                          for k, d, (b, a), op in zip(kernel, dilation_, pads, out_pad))
        if any(i + b + a < (k - 1) * d + 1 for i, k, d, (b, a) in zip(x.shape[2:], kernel, dilation_, conv_pads)):
            raise RuntimeError(f"Tensor.conv_transpose2d: padding {padding!r} leaves no output for input {self.shape} "
                               f"and weight {weight.shape}; use less padding")
        flat = tuple(p for b, a in reversed(conv_pads) for p in (b, a))  # (left, right, top, bottom, ...)
        return x.conv2d(w, bias, groups=groups, dilation=dilation_, padding=flat)

    def _conv_check(self, weight, bias, groups, method: str) -> int:
        """The checks PyTorch makes (with its exception types); returns the number of spatial axes."""
        tensor_cls = type(self)
        if not isinstance(weight, tensor_cls):
            raise TypeError(f"Tensor.{method}: weight must be a Tensor, got {type(weight).__name__}")
        if weight.ndim < 3 or self.ndim != weight.ndim:
            raise RuntimeError(f"Tensor.{method}: input {self.shape} and weight {weight.shape} need the same number "
                               f"of dims, at least 3: input (N, C_in, *spatial), weight (C_out, C_in/groups, *kernel)")
        if not _is_int(groups) or groups < 1:
            raise RuntimeError(f"Tensor.{method}: groups must be a positive int, got {groups!r}")
        cin_total, (cout, cin) = self.shape[1], weight.shape[:2]
        if cin * groups != cin_total:
            raise RuntimeError(f"Tensor.{method}: input has {cin_total} channels (shape {self.shape}) but weight "
                               f"{weight.shape} with groups={groups} expects groups * weight.shape[1] = {cin * groups}")
        if cout % groups:
            raise RuntimeError(f"Tensor.{method}: weight.shape[0] = {cout} output channels must be divisible by "
                               f"groups={groups}")
        if bias is not None and (not isinstance(bias, tensor_cls) or bias.shape != (cout,)):
            raise RuntimeError(f"Tensor.{method}: bias must be a Tensor of shape ({cout},), got "
                               f"{getattr(bias, 'shape', type(bias).__name__)}")
        return weight.ndim - 2

    # ---- pooling ---------------------------------------------------------------------------------------------------

    def max_pool2d(self, kernel_size=(2, 2), stride=None, dilation=1, padding=0, ceil_mode: bool = False,
                   return_indices: bool = False):
        """Max over sliding windows of the last len(kernel_size) axes (2 for an int); stride defaults to
        kernel_size; padding reads the lowest value. With return_indices also the int64 index of each max in the
        flattened (unpadded) spatial axes, the first one on ties (PyTorch's, for max_unpool2d)."""
        kernel, stride_, dilation_, pads, outs = self._pool_args(kernel_size, stride, dilation, padding, ceil_mode,
                                                                 "max_pool2d")
        n, axes = len(kernel), tuple(range(-len(kernel), 0))
        pads = _ceil_pads(self.shape[-n:], outs, kernel, stride_, dilation_, pads)
        windows = _pool(_pad_spatial(self, pads, reduce_identity(Ops.MAX, self.dtype)), kernel, stride_, dilation_)
        out = windows.max(axis=axes)
        if not return_indices:
            return out
        # number the input cells in reverse (the padding gets 0): the largest number among the maxima of a window
        # is its first maximum, whose flat index is size - number
        size = math.prod(self.shape[-n:])
        numbers = type(self).arange(size, 0, -1, dtype=dtypes.int64, device=self.device).reshape(self.shape[-n:])
        numbers = _pool(_pad_spatial(numbers, pads, 0), kernel, stride_, dilation_)
        is_max = windows == out.reshape(out.shape + (1,) * n)
        if self.dtype.is_float:
            is_max = is_max | (windows != windows)  # a NaN is the max of its window (max propagates it)
        return out, size - is_max.where(numbers, 0).max(axis=axes)

    def avg_pool2d(self, kernel_size=(2, 2), stride=None, dilation=1, padding=0, ceil_mode: bool = False,
                   count_include_pad: bool = True, divisor_override=None):
        """Mean over sliding windows of the last len(kernel_size) axes (2 for an int); stride defaults to
        kernel_size. The divisor counts the cells of the window inside the padded input (count_include_pad) or
        inside the input only; the extra right padding of ceil_mode is never counted (PyTorch). divisor_override,
        a non-zero int, is the divisor of every window instead (PyTorch's; count_include_pad then has no effect)."""
        if divisor_override is not None and (isinstance(divisor_override, bool) or not _is_int(divisor_override)):
            raise TypeError(f"Tensor.avg_pool2d: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override is not None and divisor_override == 0:
            raise RuntimeError("Tensor.avg_pool2d: divisor_override must not be zero (PyTorch: 'divisor must be not "
                               "zero'); leave it None to divide by the window's size")
        kernel, stride_, dilation_, pads, outs = self._pool_args(kernel_size, stride, dilation, padding, ceil_mode,
                                                                 "avg_pool2d")
        n, axes = len(kernel), tuple(range(-len(kernel), 0))
        wide = _ceil_pads(self.shape[-n:], outs, kernel, stride_, dilation_, pads)
        x = self._float()
        total = _pool(_pad_spatial(x, wide), kernel, stride_, dilation_).sum(axis=axes)
        if divisor_override is not None:
            return total / int(divisor_override)
        if count_include_pad and wide == pads:
            return total / math.prod(kernel)
        ones = type(self).ones(self.shape[-n:], dtype=x.dtype, device=self.device)
        counted = _pad_spatial(ones, pads, 1.0 if count_include_pad else 0.0)  # 1 where a cell is counted
        counted = _pad_spatial(counted, tuple((0, w[1] - p[1]) for w, p in zip(wide, pads)))
        return total / _pool(counted, kernel, stride_, dilation_).sum(axis=axes)

    def _pool_args(self, kernel_size, stride, dilation, padding, ceil_mode, method: str):
        n = len(kernel_size) if isinstance(kernel_size, (tuple, list)) else 2
        kernel = _per_axis(kernel_size, n, "kernel_size", method)
        if self.ndim < n:
            raise RuntimeError(f"Tensor.{method}: a {n}-d kernel {kernel} needs at least {n} dims, got shape "
                               f"{self.shape}")
        stride_ = kernel if stride is None else _per_axis(stride, n, "stride", method)
        dilation_ = _per_axis(dilation, n, "dilation", method)
        pads = _resolve_padding(padding, n, method)
        outs = _pool_sizes(self.shape[-n:], kernel, stride_, dilation_, pads, bool(ceil_mode), method)
        return kernel, stride_, dilation_, pads, outs

    def max_unpool2d(self, indices, kernel_size=(2, 2), stride=None, dilation=1, padding=0, output_size=None):
        """The partial inverse of max_pool2d: each value of self goes to the flat spatial position `indices` gives
        (from max_pool2d(return_indices=True)), zeros elsewhere. The output's spatial size is output_size (its last
        axes are used), else the one pooling would have started from: (i-1)*s - pads + d*(k-1) + 1. A position
        named twice keeps the last value (PyTorch)."""
        tensor_cls = type(self)
        if not isinstance(indices, tensor_cls) or not indices.dtype.is_int or indices.shape != self.shape:
            raise RuntimeError(f"Tensor.max_unpool2d: indices must be an integer Tensor of self's shape {self.shape} "
                               f"(from max_pool2d(return_indices=True)), got {getattr(indices, 'shape', indices)!r} "
                               f"{getattr(indices, 'dtype', '')!r}")
        n = len(kernel_size) if isinstance(kernel_size, (tuple, list)) else 2
        if self.ndim < n + 1:
            raise RuntimeError(f"Tensor.max_unpool2d: needs at least {n + 1} dims, got shape {self.shape}")
        spatial = self.shape[-n:]
        if output_size is None:
            kernel = _per_axis(kernel_size, n, "kernel_size", "max_unpool2d")
            stride_ = kernel if stride is None else _per_axis(stride, n, "stride", "max_unpool2d")
            dilation_ = _per_axis(dilation, n, "dilation", "max_unpool2d")
            pads = _resolve_padding(padding, n, "max_unpool2d")
            output_size = tuple((i - 1) * s - b - a + d * (k - 1) + 1
                                for i, k, s, d, (b, a) in zip(spatial, kernel, stride_, dilation_, pads))
        output_size = tuple(output_size)[-n:]
        if len(output_size) != n or any(not _is_int(o) or o < 1 for o in output_size):
            raise RuntimeError(f"Tensor.max_unpool2d: output_size must end in {n} positive ints, got {output_size!r}")
        size, m = math.prod(output_size), math.prod(spatial)
        try:
            check_index_values(indices, 0, size, f"index {{}} is out of range for the output's {size} spatial cells "
                               f"(output_size {output_size})", "max_unpool2d")
        except IndexError as e:  # PyTorch raises RuntimeError ("Found an invalid max index") here
            raise RuntimeError(str(e)) from None
        lead = self.shape[:-n]
        x, idx = self.reshape(lead + (1, m)), indices.reshape(lead + (1, m))
        hit = idx == tensor_cls.arange(size, device=self.device).reshape(size, 1)  # (..., size, m)
        # of the inputs that name an output cell, keep the last one (the largest input position)
        position = tensor_cls.arange(m, device=self.device)
        last = hit.where(position, -1).max(axis=-1, keepdim=True)
        out = (hit & (position == last)).where(x, 0).sum(axis=-1).cast(self.dtype)
        return out.reshape(lead + output_size)

    # ---- resampling ------------------------------------------------------------------------------------------------

    def interpolate(self, size=None, mode: str = "linear", align_corners: bool = False, scale_factor=None):
        """Resample the last len(size) axes to `size`, or scale them by `scale_factor` (PyTorch's F.interpolate; any
        number of leading axes, as in tinygrad). Modes: "nearest" (PyTorch's: floor(dst * in/out)), "nearest-exact"
        (pixel centres), "linear" (any number of axes; "bilinear"/"trilinear" are the same with 2/3 axes),
        "bicubic" (2 axes, Keys' cubic with A = -0.75, PyTorch's), all three with align_corners, and "area" (the
        mean of the input cells each output cell covers: PyTorch's adaptive_avg_pool). Interpolating an integer
        tensor is computed in default_float and rounded to the nearest integer (PyTorch's uint8 kernels round;
        tinygrad truncates); bicubic, which overshoots, is rounded and clamped to the dtype's range after each axis,
        as PyTorch's separable uint8 kernel does (its fixed-point weights may still differ by 1)."""
        size, scales = _interpolate_sizes(self.shape, size, scale_factor)
        if mode not in _MODES:
            raise NotImplementedError(f"Tensor.interpolate: mode {mode!r} is not supported; use one of {_MODES}")
        weighted = mode in _INTERPOLATING or mode == "area"
        if _INTERPOLATING.get(mode) not in (None, len(size)):
            raise NotImplementedError(f"Tensor.interpolate: mode {mode!r} resamples {_INTERPOLATING[mode]} axes but "
                                      f"size {tuple(size)} has {len(size)}; use mode='linear' for any number")
        if align_corners and mode not in _INTERPOLATING:
            raise ValueError("Tensor.interpolate: align_corners can only be set with the interpolating modes (linear, "
                             f"bilinear, bicubic, trilinear), got mode {mode!r}")
        x = self
        if weighted:
            x = self._float()
            if x.dtype.itemsize < 4:
                x = x.cast(dtypes.float32)  # PyTorch's opmath: half-precision inputs are weighted in float32
        first = self.ndim - len(size)
        # bicubic goes along the last axis first, then the one before, the order of PyTorch's sums
        axes = range(self.ndim - 1, first - 1, -1) if mode == "bicubic" else range(first, self.ndim)
        for axis in axes:
            n_in, n_out = self.shape[axis], size[axis - first]
            factor = None if scales is None else scales[axis - first]
            if n_in == n_out and (factor is None or mode in ("nearest", "area") or align_corners):
                continue  # these map an axis of unchanged size onto itself
            if not weighted:
                x = _pick_along(x, axis, _nearest_source(n_in, n_out, mode == "nearest-exact", factor))
            elif mode == "area":
                x = self._area_along(x, axis, n_out)
            elif mode == "bicubic":
                taps, weights = _cubic_source(n_in, n_out, bool(align_corners), x.dtype.np.type, factor)
                terms = [_pick_along(x, axis, tap) * self._axis_weights(w, x, axis) for tap, w in zip(taps, weights)]
                x = terms[0] + terms[1] + terms[2] + terms[3]
                if not self.dtype.is_float and not self.dtype.is_bool:  # PyTorch's uint8 kernel keeps each pass's
                    info = np.iinfo(self.dtype.np)                       # result in uint8: rounded and saturated
                    x = x.round().clip(float(info.min), float(info.max))
            else:
                low, high, frac = _linear_source(n_in, n_out, bool(align_corners), x.dtype.np.type, factor)
                weight = self._axis_weights(frac, x, axis)
                x = _pick_along(x, axis, low) * (1 - weight) + _pick_along(x, axis, high) * weight
        if weighted and not self.dtype.is_float:
            x = x.round()  # PyTorch's integer (uint8) interpolation rounds to the nearest value
            if mode == "bicubic" and not self.dtype.is_bool:
                info = np.iinfo(self.dtype.np)
                x = x.clip(float(info.min), float(info.max))  # and saturates where the cubic overshoots
        return x.cast(self.dtype)

    def _axis_weights(self, w: np.ndarray, x, axis: int):
        """Per-output-cell weights along `axis` as a constant that broadcasts over x's later axes."""
        return type(self)(w, dtype=x.dtype, device=self.device).reshape((len(w),) + (1,) * (x.ndim - 1 - axis))

    def _area_along(self, x, axis: int, n_out: int):
        """mode="area" along one axis: the sum of each output cell's window (a masked sum), over its cell count."""
        member, counts = _area_weights(x.shape[axis], n_out)
        mask = type(self)(member, device=self.device).reshape(member.shape + (1,) * (x.ndim - axis - 1))
        total = mask.where(x.unsqueeze(axis), 0).sum(axis=axis + 1)
        return total / self._axis_weights(counts.astype(x.dtype.np), x, axis)
