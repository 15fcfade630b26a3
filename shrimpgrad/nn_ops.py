"""Neural-network ops for `Tensor` (mixed into it): conv2d, max/avg pooling, cumsum, one_hot, the losses, and
dropout/layernorm/batchnorm (the functional halves of shrimpgrad.nn's layers).

All of them are compositions of the Tensor's public ops, and the heavy ones share one idea:

**Sliding windows are a view** (`_pool`). For an input `(..., i)` and a window of `k` elements with
stride `s` and dilation `d`, `_pool` returns `(..., o, k)` with `out[..., a, b] = x[..., a*s + b*d]`,
`o = ceil((i - d*(k-1)) / s)`, using only pad/shrink/reshape/expand/permute (no data is copied; the
overlapping case becomes a stack of views, which the later stages turn into index arithmetic). Over
several trailing axes at once it returns `(..., o1, o2, k1, k2)`. Then:

* `conv2d`  = pad, `_pool` over the spatial axes, broadcast-multiply with the weight, sum over
  (input channel, kernel window).
* `max_pool2d` / `avg_pool2d` = pad, `_pool`, max / mean over the window axes.
* `cumsum`  = pad `n-1` zeros in front of the axis and take windows of `n` with stride 1: window `j`
  holds `x[j-n+1 .. j]` (zeros before the start), so its sum is `x[0] + ... + x[j]`. That is O(n^2)
  work, so long axes are cut into blocks of `_CUMSUM_BLOCK`: a cumsum inside each block plus the
  cumsum of the block totals (the same two-stage split tinygrad makes).

The losses follow tinygrad's formulas (log_softmax + a one-hot mask; the logits form of binary cross
entropy in its numerically stable form `max(x, 0) - x*y + log(1 + exp(-|x|))`).

Mapping to tinygrad: `Tensor._pool`, `conv2d`, `max_pool2d`, `avg_pool2d`, `_cumalu`/`_split_cumalu`,
`one_hot`, `sparse_categorical_crossentropy`, `cross_entropy`, `binary_crossentropy(_logits)`, `dropout`,
`layernorm`, `batchnorm`.
Simplified: no winograd, no ceil_mode, no pooling indices. Different: the overlapping-window view takes
every s-th element with `_every_nth` instead of tinygrad's scaled repeat (same views, simpler sizes);
`cross_entropy` accepts class indices of any rank (the class axis is axis 1, as in PyTorch).
"""

from __future__ import annotations

import math

import numpy as np

from shrimpgrad.graph import dtypes, promote
from shrimpgrad.indexing import _every_nth, _is_int, _resolve_dim, check_index_values

_CUMSUM_BLOCK = 256  # cumsum axes longer than 2 blocks are done in two stages (see cumsum)
_REDUCTIONS = ("mean", "sum", "none")

# ------------------------------------------------------------------------------------------------
# Arguments
# ------------------------------------------------------------------------------------------------


def _per_axis(value, n: int, name: str, method: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or a tuple of n ints (stride, dilation, kernel_size), checked to be >= minimum."""
    vals = (value,) * n if _is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else None
    if vals is None or len(vals) != n or any(not _is_int(v) or v < minimum for v in vals):
        raise ValueError(f"Tensor.{method}: {name} must be an int >= {minimum} or a tuple of {n} such ints, "
                         f"got {value!r}")
    return tuple(int(v) for v in vals)


def _resolve_padding(padding, n: int, method: str) -> tuple[tuple[int, int], ...]:
    """(before, after) for each of the n spatial axes, from tinygrad's (and PyTorch's) padding forms:
    an int (every side), n ints (both sides of each axis), or 2n ints in the order
    (left, right, top, bottom, ...) -- the *last* axis first, like torch.nn.functional.pad."""
    if _is_int(padding):
        pads = ((int(padding), int(padding)),) * n
    elif isinstance(padding, (tuple, list)) and len(padding) == n and all(_is_int(p) for p in padding):
        pads = tuple((int(p), int(p)) for p in padding)
    elif isinstance(padding, (tuple, list)) and len(padding) == 2 * n and all(_is_int(p) for p in padding):
        pairs = [(int(padding[2 * j]), int(padding[2 * j + 1])) for j in range(n)]  # last axis first
        pads = tuple(reversed(pairs))
    else:
        raise ValueError(f"Tensor.{method}: padding must be an int, {n} ints (one per spatial axis) or {2 * n} ints "
                         f"(left, right, top, bottom, ...), got {padding!r}")
    if any(b < 0 or a < 0 for b, a in pads):
        raise ValueError(f"Tensor.{method}: padding must be non-negative, got {padding!r}")
    return pads


def _lowest(dtype):
    """The value a max ignores: -inf for floats, the smallest int for ints, False for bool."""
    if dtype.is_float:
        return -math.inf
    if dtype.is_bool:
        return False
    return int(np.iinfo(dtype.np).min)


def _pad_spatial(x, pads: tuple[tuple[int, int], ...], value=0.0):
    """Pad the last len(pads) axes of x with `value`."""
    return x.pad(((0, 0),) * (x.ndim - len(pads)) + tuple(pads), value=value)


# ------------------------------------------------------------------------------------------------
# Sliding windows
# ------------------------------------------------------------------------------------------------


def _check_windows(x, kernel, dilation, method: str) -> None:
    spatial = x.shape[-len(kernel):]
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(span > i for span, i in zip(spans, spatial)):
        raise ValueError(f"Tensor.{method}: the window (kernel {kernel}, dilation {dilation}) spans {spans} but the "
                         f"(padded) input is only {spatial} on its last {len(kernel)} axes (shape {x.shape}); use a "
                         f"smaller kernel or dilation, or more padding")


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


def _reduce(loss, reduction: str, method: str):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Tensor.{method}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _check_smoothing(label_smoothing, method: str) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"Tensor.{method}: label_smoothing must be in [0, 1], got {label_smoothing!r}")


# ------------------------------------------------------------------------------------------------
# The mixin
# ------------------------------------------------------------------------------------------------


class NNOpsMixin:
    """conv2d, max_pool2d, avg_pool2d, cumsum, one_hot, the losses, dropout, layernorm and batchnorm (tinygrad's
    names and semantics)."""

    def conv2d(self, weight, bias=None, groups: int = 1, stride=1, dilation=1, padding=0):
        """Convolution (cross-correlation, as in PyTorch) of self (N, C_in, *spatial) with weight
        (C_out, C_in / groups, *kernel) -> (N, C_out, *out). Works for any number of spatial axes.

        padding: an int, one int per spatial axis, or (left, right, top, bottom). Computed as
        pad -> `_pool` windows (N, C_in, *out, *kernel) -> broadcast multiply with the weight -> sum."""
        tensor_cls = type(self)
        if not isinstance(weight, tensor_cls):
            raise TypeError(f"Tensor.conv2d: weight must be a Tensor, got {type(weight).__name__}")
        if weight.ndim < 3 or self.ndim != weight.ndim:
            raise ValueError(f"Tensor.conv2d: input {self.shape} and weight {weight.shape} need the same number of "
                             f"dims, at least 3: input (N, C_in, *spatial), weight (C_out, C_in/groups, *kernel)")
        if not _is_int(groups) or groups < 1:
            raise ValueError(f"Tensor.conv2d: groups must be a positive int, got {groups!r}")
        (bs, cin_total), (cout, cin), kernel = self.shape[:2], weight.shape[:2], weight.shape[2:]
        if cin * groups != cin_total:
            raise ValueError(f"Tensor.conv2d: input has {cin_total} channels (shape {self.shape}) but weight "
                             f"{weight.shape} with groups={groups} expects groups * weight.shape[1] = {cin * groups}")
        if cout % groups:
            raise ValueError(f"Tensor.conv2d: weight.shape[0] = {cout} output channels must be divisible by "
                             f"groups={groups}")
        if bias is not None and (not isinstance(bias, tensor_cls) or bias.shape != (cout,)):
            raise ValueError(f"Tensor.conv2d: bias must be a Tensor of shape ({cout},), got "
                             f"{getattr(bias, 'shape', type(bias).__name__)}")
        n = len(kernel)
        stride_ = _per_axis(stride, n, "stride", "conv2d")
        dilation_ = _per_axis(dilation, n, "dilation", "conv2d")
        x = _pad_spatial(self, _resolve_padding(padding, n, "conv2d"))
        _check_windows(x, kernel, dilation_, "conv2d")
        x = _pool(x, kernel, stride_, dilation_)  # (bs, groups*cin, *out, *kernel)
        outs, rcout = x.shape[2:2 + n], cout // groups
        # line the windows up with the weight: (bs, groups, rcout, *out, cin, *kernel)
        x = x.reshape((bs, groups, cin, 1) + outs + kernel).expand((bs, groups, cin, rcout) + outs + kernel)
        x = x.permute((0, 1, 3) + tuple(range(4, 4 + n)) + (2,) + tuple(range(4 + n, 4 + 2 * n)))
        w = weight.reshape((1, groups, rcout) + (1,) * n + (cin,) + kernel)
        out = (x * w).sum(axis=tuple(range(-1 - n, 0))).reshape((bs, cout) + outs)
        return out if bias is None else out + bias.reshape((1, cout) + (1,) * n)

    def max_pool2d(self, kernel_size=(2, 2), stride=None, dilation=1, padding=0):
        """Max over sliding windows of the last two axes; stride defaults to kernel_size; padding reads -inf."""
        kernel, stride_, dilation_, pads = self._pool_args(kernel_size, stride, dilation, padding, "max_pool2d")
        x = _pad_spatial(self, pads, _lowest(self.dtype))
        _check_windows(x, kernel, dilation_, "max_pool2d")
        return _pool(x, kernel, stride_, dilation_).max(axis=(-2, -1))

    def avg_pool2d(self, kernel_size=(2, 2), stride=None, dilation=1, padding=0, count_include_pad: bool = True):
        """Mean over sliding windows of the last two axes; stride defaults to kernel_size. Padding reads zeros;
        with count_include_pad=False they are left out of the count (PyTorch's option)."""
        kernel, stride_, dilation_, pads = self._pool_args(kernel_size, stride, dilation, padding, "avg_pool2d")
        x = _pad_spatial(self, pads)
        _check_windows(x, kernel, dilation_, "avg_pool2d")
        windows = _pool(x, kernel, stride_, dilation_)
        if count_include_pad:
            return windows.mean(axis=(-2, -1))
        ones = _pad_spatial(type(self).ones(self.shape[-2:], dtype=self.dtype, device=self.device), pads)
        return windows.sum(axis=(-2, -1)) / _pool(ones, kernel, stride_, dilation_).sum(axis=(-2, -1))

    def _pool_args(self, kernel_size, stride, dilation, padding, method: str):
        if self.ndim < 2:
            raise ValueError(f"Tensor.{method}: needs at least 2 dims (..., H, W), got shape {self.shape}")
        kernel = _per_axis(kernel_size, 2, "kernel_size", method)
        stride_ = kernel if stride is None else _per_axis(stride, 2, "stride", method)
        return kernel, stride_, _per_axis(dilation, 2, "dilation", method), _resolve_padding(padding, 2, method)

    def cumsum(self, axis: int = 0):
        """Running sum along `axis`: out[j] = x[0] + ... + x[j] (see the module docstring for how). Bool and small
        ints accumulate in int32, as sum does (bool summed as bool would saturate at True)."""
        if self.dtype.is_bool or (self.dtype.is_int and self.dtype.itemsize < 4):
            return self.cast(promote(self.dtype, dtypes.int32)).cumsum(axis)
        if self.ndim == 0:
            return self
        axis = _resolve_dim(axis, self.ndim, "cumsum")
        order = tuple(d for d in range(self.ndim) if d != axis) + (axis,)
        back = tuple(order.index(d) for d in range(self.ndim))
        x = self.permute(order)
        n = x.shape[-1]
        if n == 0:
            return self
        out = _cumsum_last(x) if n <= 2 * _CUMSUM_BLOCK else _cumsum_last_blocked(x, _CUMSUM_BLOCK)
        return out.permute(back)

    def one_hot(self, num_classes: int = -1):
        """Integer labels (...) -> (..., num_classes) with 1 at each label and 0 elsewhere (default int dtype).
        num_classes=-1 uses max(label) + 1, which reads the data (realizes self)."""
        if not self.dtype.is_int:
            raise TypeError(f"Tensor.one_hot: labels must have an integer dtype, got {self.dtype!r}")
        if num_classes == -1:
            num_classes = int(self.max().item()) + 1
        if not _is_int(num_classes) or num_classes < 1:
            raise ValueError(f"Tensor.one_hot: num_classes must be a positive int (or -1), got {num_classes!r}")
        _check_labels(self, num_classes, None, "one_hot")
        return _one_hot_mask(self, num_classes).where(1, 0)

    def sparse_categorical_crossentropy(self, Y, ignore_index: int = -1, label_smoothing: float = 0.0,  # noqa: N803
                                        reduction: str = "mean"):
        """Cross entropy of logits self (..., C) against integer labels Y (...). Labels equal to ignore_index
        add nothing and are left out of the mean. label_smoothing mixes in the mean log-probability."""
        _check_smoothing(label_smoothing, "sparse_categorical_crossentropy")
        if not isinstance(Y, type(self)) or not Y.dtype.is_int or Y.shape != self.shape[:-1]:
            raise ValueError(f"Tensor.sparse_categorical_crossentropy: Y must be an integer Tensor of shape "
                             f"{self.shape[:-1]} (the logits' shape {self.shape} without the class axis), got "
                             f"{getattr(Y, 'shape', type(Y).__name__)} {getattr(Y, 'dtype', '')}")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Tensor.sparse_categorical_crossentropy: reduction must be one of {_REDUCTIONS}, "
                             f"got {reduction!r}")
        _check_labels(Y, self.shape[-1], ignore_index, "sparse_categorical_crossentropy")
        log_probs = self.log_softmax(-1)
        kept = Y != ignore_index
        picked = _one_hot_mask(Y, self.shape[-1]).where(log_probs, 0).sum(axis=-1)
        per_item = (1 - label_smoothing) * picked + label_smoothing * log_probs.mean(axis=-1)
        loss = -kept.where(per_item, 0)
        if reduction == "mean":
            return loss.sum() / kept.cast(loss.dtype).sum()
        return loss.sum() if reduction == "sum" else loss

    def cross_entropy(self, Y, reduction: str = "mean", label_smoothing: float = 0.0):  # noqa: N803
        """Cross entropy of logits self (N, C, ...) (classes on axis 1, or (C,)) against Y: class probabilities of
        self's shape, or integer class indices of self's shape without the class axis."""
        _check_smoothing(label_smoothing, "cross_entropy")
        axis = 1 if self.ndim >= 2 else 0
        n_classes = self.shape[axis]
        if not isinstance(Y, type(self)):
            raise TypeError(f"Tensor.cross_entropy: Y must be a Tensor, got {type(Y).__name__}")
        if Y.dtype.is_int and Y.shape == self.shape[:axis] + self.shape[axis + 1:]:
            _check_labels(Y, n_classes, None, "cross_entropy")
            Y = _one_hot_mask(Y, n_classes).cast(self.dtype)
            Y = Y.permute(tuple(range(axis)) + (Y.ndim - 1,) + tuple(range(axis, Y.ndim - 1)))
        elif Y.shape != self.shape:
            raise ValueError(f"Tensor.cross_entropy: Y of shape {Y.shape} {Y.dtype!r} matches neither the logits' "
                             f"shape {self.shape} (probabilities) nor {self.shape[:axis] + self.shape[axis + 1:]} "
                             f"(integer class indices)")
        Y = (1 - label_smoothing) * Y + label_smoothing / n_classes
        return _reduce(-(self.log_softmax(axis) * Y).sum(axis=axis), reduction, "cross_entropy")

    def binary_crossentropy(self, Y, reduction: str = "mean"):  # noqa: N803
        """-(Y log p + (1 - Y) log(1 - p)) for probabilities p = self (same shape as Y)."""
        _check_same_shape(self, Y, "binary_crossentropy")
        return _reduce(-(Y * self.log() + (1 - Y) * (1 - self).log()), reduction, "binary_crossentropy")

    def binary_crossentropy_logits(self, Y, reduction: str = "mean"):  # noqa: N803
        """binary_crossentropy(sigmoid(self), Y), computed stably as max(x, 0) - x*Y + log(1 + exp(-|x|))."""
        _check_same_shape(self, Y, "binary_crossentropy_logits")
        loss = self.relu() - self * Y + ((-self.abs()).exp() + 1).log()
        return _reduce(loss, reduction, "binary_crossentropy_logits")


    # ---- normalization and regularization (the building blocks of shrimpgrad.nn's layers) -----------------------

    def dropout(self, p: float = 0.5):
        """In training (`Tensor.training`, set by `with Tensor.train():`), zero each element with probability p
        and scale the rest by 1 / (1 - p), so the expected value is unchanged; outside training, self as it is.
        The mask is drawn on the host from Tensor's seeded generator (Tensor.manual_seed), a fresh one per call."""
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Tensor.dropout: p is the probability of dropping an element and must be in [0, 1], "
                             f"got {p!r}")
        if not type(self).training or p == 0:
            return self
        if p == 1:
            return self * 0
        keep = type(self).rand(*self.shape, device=self.device, requires_grad=False) >= p
        return keep.where(self, 0) * (1.0 / (1.0 - p))

    def layernorm(self, axis=-1, eps: float = 1e-5):
        """(x - mean) / sqrt(var + eps) over `axis` (an int or a tuple; the variance is the biased one, as in
        PyTorch's LayerNorm). No scale or shift: nn.LayerNorm adds those."""
        _check_eps(eps, "layernorm")
        y = self - self.mean(axis=axis, keepdim=True)
        return y * (y * y).mean(axis=axis, keepdim=True).add(eps).rsqrt()

    def batchnorm(self, weight, bias, mean, invstd, axis=1):
        """(x - mean) * invstd * weight + bias, with the 1-d statistics and parameters lined up with `axis` (the
        channel axis, 1 for (N, C, H, W)) and broadcast over the others. weight and bias may be None; invstd is
        1 / sqrt(var + eps), computed by the caller (nn.BatchNorm) so that train and eval share this formula."""
        axes = tuple(_resolve_dim(a, self.ndim, "batchnorm") for a in ((axis,) if _is_int(axis) else axis))
        shape = tuple(s if d in axes else 1 for d, s in enumerate(self.shape))
        want = tuple(self.shape[d] for d in axes)
        for name, t in (("weight", weight), ("bias", bias), ("mean", mean), ("invstd", invstd)):
            if t is None and name in ("weight", "bias"):
                continue
            if not isinstance(t, type(self)) or t.shape not in (want, shape):
                raise ValueError(f"Tensor.batchnorm: {name} must be a Tensor of shape {want} (the sizes of axis "
                                 f"{axis} of the input {self.shape}), got {getattr(t, 'shape', type(t).__name__)}")
        x = (self - mean.reshape(shape)) * invstd.reshape(shape)
        if weight is not None:
            x = x * weight.reshape(shape)
        return x if bias is None else x + bias.reshape(shape)


def _check_eps(eps, method: str) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"Tensor.{method}: eps must be a non-negative number (added to the variance), got {eps!r}")


def _check_same_shape(x, Y, method: str) -> None:  # noqa: N803
    if not isinstance(Y, type(x)) or Y.shape != x.shape:
        raise ValueError(f"Tensor.{method}: Y must be a Tensor of the same shape as self {x.shape}, got "
                         f"{getattr(Y, 'shape', type(Y).__name__)}")


def _check_labels(labels, n: int, ignore_index: int | None, method: str) -> None:
    """Labels must be classes 0..n-1 (or ignore_index): a one-hot row of an out-of-range label would be all
    zeros and the loss silently wrong. Reads the labels (see check_index_values)."""
    allowed = "" if ignore_index is None else f" or ignore_index={ignore_index}"
    check_index_values(labels, 0, n, f"label {{}} is not a class: valid labels are 0..{n - 1}{allowed}", method,
                       ignore_index)


def _one_hot_mask(labels, n: int):
    """bool (..., n): True where the last index equals the label. Labels outside 0..n-1 give an all-False row."""
    return labels.reshape(labels.shape + (1,)) == type(labels).arange(n, device=labels.device)


def _cumsum_last(x):
    """cumsum along the last axis: pad n-1 zeros in front, windows of n with stride 1, sum each window."""
    n = x.shape[-1]
    return _pool(x.pad(((0, 0),) * (x.ndim - 1) + ((n - 1, 0),)), (n,), (1,), (1,)).sum(axis=-1)


def _cumsum_last_blocked(x, block: int):
    """cumsum along a long last axis in two stages: within blocks, then add the running total of the blocks
    before. O(n * block + (n / block)^2) work instead of O(n^2)."""
    n, lead = x.shape[-1], x.shape[:-1]
    nb = -(-n // block)
    blocks = x.pad(((0, 0),) * len(lead) + ((0, nb * block - n),)).reshape(lead + (nb, block))
    inner = _cumsum_last(blocks)  # (..., nb, block)
    totals = inner.shrink(tuple((0, s) for s in lead) + ((0, nb), (block - 1, block))).reshape(lead + (nb,))
    before = _cumsum_last(totals) - totals  # sum of all earlier blocks
    out = (inner + before.reshape(lead + (nb, 1))).reshape(lead + (nb * block,))
    return out.shrink(tuple((0, s) for s in lead) + ((0, n),))
