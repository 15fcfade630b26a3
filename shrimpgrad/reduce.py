"""Reductions, linear algebra and scans for `Tensor` (mixed into it): sum, max, min, mean, var, std, prod,
argmax, argmin, softmax, log_softmax, logsumexp; dot, matmul (`@`), linear; all, any, var_mean/std_mean, cumprod,
cummax, cummin, logcumsumexp, sort, argsort and topk.

Required from the core Tensor (shrimpgrad/tensor.py): `_wrap` (a Tensor for a new REDUCE node), `_const`,
`_float`, `shape`, `ndim`, `numel`, `device`, `dtype`; and from the other mixins the elementwise ops
(elementwise.py), the views (movement.py), `arange` (creation.py) and `_pool` (conv_ops.py: windows for scans).

**The graph reduces only with ADD and MAX** (stage 01's REDUCE), so the others are compositions: `min` is
-max(-x) (~max(~x) for ints: exact, no overflow), `mean` a sum over n, `prod` a tree of multiplies, `argmax` the
max of position weights where the max is, `softmax` exp of x minus its (truncated) max over the sum. `sum`
accumulates bool and small ints in int32 and float16 in float32 (tinygrad's sum_acc_dtype). **matmul is a
broadcast multiply and a sum**: line both inputs up so the contracted axis is last, multiply, sum the last axis
(the scheduler fuses the three into one kernel).

**Scans are reductions over windows.** As for `cumsum` (shrimpgrad/nn_ops.py), pad n-1 copies of the
operation's identity in front of the axis and take windows of n with stride 1 (a view, no copy): window j holds
`x[0..j]` after the padding, so

    cumprod = prod over each window (pad 1)          cummax = max over each window (pad the lowest value)
    logcumsumexp = m_j + log(sum(exp(window - m_j))), m_j = cummax (so no exp overflows, as tinygrad does it)

That is O(n^2) work per row (fine for the axes a learner scans; cumsum alone has a blocked version).

**Sorting is counting.** With only elementwise ops and reductions there is no compare-and-swap network to
write, but a rank is a count: element i goes to position

    rank_i = #{j : x_j before x_i} + #{j < i : x_j == x_i}          (ties keep their order: a stable sort)

computed for all pairs at once as an (n, n) compare and a sum. Then `sorted[r] = sum_i [rank_i == r] * x_i`
(a one-hot pick, like tensor indexing), and the same pick of i gives the indices. NaN sorts last (first when
descending), as in numpy and PyTorch. The gradient flows through the pick to the element that landed at each
position. O(n^2) memory per row: meant for the small rows of topk and for learning, not for sorting millions.

Mapping to tinygrad: `all`, `any`, `cumprod`, `cummax` (values only, tinygrad's return), `logcumsumexp`,
`std_mean`, `var_mean`, `sort`/`argsort`/`topk` return `(values, indices)` like tinygrad and PyTorch. Different:
tinygrad sorts with a bitonic network (O(n log^2 n)); this sort is stable, which PyTorch only promises with
`stable=True`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from shrimpgrad.checks import (
    ShapeError,
    _axes,
    _axis,
    _broadcast_shape,
    _fail,
    _is_int,
    _provenance,
    _resolve_dim,
    _to_dtype,
)
from shrimpgrad.conv_ops import _pool
from shrimpgrad.graph import DType, Ops, dtypes, promote, reduce, reduce_identity
from shrimpgrad.graph.switches import switch
from shrimpgrad.movement import _to_last

if TYPE_CHECKING:
    from shrimpgrad.tensor import Tensor


# ---- matmul from packed panels (PANELS) ----
# The C device's matmul reads w (K, N) a row of 32 columns per reduce step: rows 4 KB apart at N = 1024, so every step
# touches a new page and, 4 KB apart, the same cache set; a 32-column strip of w (K rows of 128 B) fits no cache and
# is streamed from L3 again for each block of output rows (1024^3 on one AVX-512 core: 35-44 GFLOP/s, numpy 150-160).
# PANELS copies w once into panels, (N/32, K, 32): each strip one contiguous run of K x 128 B, which the CPU's
# prefetcher streams and L2 keeps while stage 04's rule 1e reuses it for 16 row blocks (1024^3, the kernel alone, one
# core: 137-145 GFLOP/s; the copy, E_32_1024_32, 0.3-0.4 ms). The sum over K runs in the same order, so the results
# are the plain matmul's bit for bit. SHRIMPGRAD_MATMUL_PANELS=0 turns it off.
PANEL = 32  # columns per panel: stage 04 opts' PANEL_LANES (two 64-byte vectors of float32)
# rows of x (all batch axes together) that share one copy of w. Measured, m x 1024 @ 1024^2, 2 threads, plain vs
# panels: m = 8 0.74-0.76 vs 0.73-0.75 ms, 16: 1.20-1.27 vs 0.84, 32: 2.27-2.44 vs 1.06-1.12, 64: 3.5-4.4 vs 1.4-1.5
PANEL_MIN_ROWS = 16
PANEL_MIN_WORK = 1 << 21  # multiply-adds; fewer is a small matmul, which stage 04's rule 1d blocks as it is
PANELS_ENV = "SHRIMPGRAD_MATMUL_PANELS"


def _packs_panels(x: Tensor, w: Tensor, dtype) -> bool:
    """PANELS' case: on the C device, float32 x (..., M, K) @ float32 w (K, N), N a multiple of PANEL, at least
    PANEL_MIN_ROWS rows of x and more than PANEL_MIN_WORK multiply-adds; unless $SHRIMPGRAD_MATMUL_PANELS is 0."""
    if not switch(PANELS_ENV) or x.device != "C" or w.device != "C" or dtype is not None:
        return False
    if x.dtype != dtypes.float32 or w.dtype != dtypes.float32 or x.ndim < 2 or w.ndim != 2:
        return False
    rows, (k, n) = math.prod(x.shape[:-1]), w.shape
    return n % PANEL == 0 and rows >= PANEL_MIN_ROWS and rows * k * n > PANEL_MIN_WORK


def _panel_matmul(x: Tensor, w: Tensor) -> Tensor:
    """x @ w through w's panels: panels[j, k, c] = w[k, 32*j + c] (a contiguous copy), then
    out[..., m, j, c] = sum_k x[..., m, k] * panels[j, k, c], viewed as (..., m, 32*j + c)."""
    k, n = w.shape
    panels = w.reshape(k, n // PANEL, PANEL).permute(1, 0, 2).contiguous()
    lead = x.shape[:-1]
    products = x.reshape(*lead, 1, k, 1) * panels  # (..., m, N/32, K, 32)
    return products.sum(-2).reshape(*lead, n)


_HALVES = (dtypes.float16, dtypes.bfloat16)  # the 16-bit floats: their sums and products add up in float32


def _sum_dtype(dtype: DType) -> DType:
    """What a sum accumulates in (tinygrad's sum_acc_dtype): small ints and bool in int32 (uint16 too), uint32 and
    uint64 in themselves (no signed type holds a uint64), float16 and bfloat16 in float32."""
    if dtype.is_unsigned and dtype.itemsize >= 4:
        return dtype
    if dtype.is_bool or dtype.is_int:
        return promote(dtype, dtypes.int32)
    return dtypes.float32 if dtype in _HALVES else dtype


def _prefix_windows(x, pad_value):
    """(..., n) -> (..., n, n): window j is x[0..j] with n-1-j copies of pad_value in front."""
    n = x.shape[-1]
    return _pool(x.pad(((0, 0),) * (x.ndim - 1) + ((n - 1, 0),), value=pad_value), (n,), (1,), (1,))


def _scan(x, axis, method: str, pad_value, combine):
    """Apply `combine` (a reduction over the last axis) to every prefix of `axis`."""
    if x.ndim == 0:
        return x
    axis = _resolve_dim(axis, x.ndim, method)
    if x.shape[axis] == 0:
        return x
    last, back = _to_last(x, axis)
    return combine(_prefix_windows(last, pad_value)).permute(back)


def _before(a_j, a_i, descending: bool):
    """bool: does x_j sort strictly before x_i? NaN is the largest value (last ascending, first descending)."""
    if not a_i.dtype.is_float:
        return a_j > a_i if descending else a_j < a_i
    nan_i, nan_j = a_i != a_i, a_j != a_j
    if descending:
        return (a_j > a_i) | (nan_j & nan_i.logical_not())
    return (a_j < a_i) | (nan_i & nan_j.logical_not())


def _same(a_j, a_i):
    """bool: do x_j and x_i tie (NaNs tie with each other)?"""
    eq = a_j == a_i
    return eq | ((a_j != a_j) & (a_i != a_i)) if a_i.dtype.is_float else eq


class ReduceMixin:
    """sum, max, min, mean, var, std, prod, argmax, argmin, softmax, log_softmax, logsumexp; dot, matmul, linear;
    then all, any, var_mean, std_mean, cumprod, cummax, cummin, logcumsumexp, sort, argsort, topk."""

    def _reduce(self, op: Ops, axis, keepdim: bool, method: str) -> Tensor:
        axes = _axes(method, axis, self.shape)
        if not axes:
            return self
        if op is Ops.MAX and any(self.shape[a] == 0 for a in axes):
            raise _fail(ValueError, method, f"reducing an empty axis of shape {self.shape} (axis={axis!r}) has no "
                        "identity", "make sure the reduced axes are not size 0")
        out = self._wrap(reduce(self.node, op, axes, _provenance()))
        return out if keepdim else out.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))

    def sum(self, axis=None, keepdim: bool = False, dtype=None) -> Tensor:
        """Sum over `axis` (None: all). Bool and small ints sum in int32, float16 and bfloat16 accumulate in float32
        (tinygrad, PyTorch)."""
        acc = _sum_dtype(self.dtype) if dtype is None else _to_dtype("sum", dtype)
        out = self.cast(acc)._reduce(Ops.ADD, axis, keepdim, "sum")
        return out.cast(self.dtype) if dtype is None and self.dtype in _HALVES else out

    def max(self, axis=None, keepdim: bool = False) -> Tensor:
        return self._reduce(Ops.MAX, axis, keepdim, "max")

    def min(self, axis=None, keepdim: bool = False) -> Tensor:
        """-max(-x) for floats; ~max(~x) for ints and bool (exact, no overflow)."""
        if self.dtype.is_float:
            return -((-self).max(axis, keepdim))
        return ~((~self).max(axis, keepdim))

    def mean(self, axis=None, keepdim: bool = False) -> Tensor:
        """Integers give default_float; an empty mean is NaN (0 / 0), as in numpy."""
        x = self._float()
        n = math.prod(self.shape[a] for a in _axes("mean", axis, self.shape))
        return (x.sum(axis, keepdim, dtype=_sum_dtype(x.dtype)) / n).cast(x.dtype)

    def var(self, axis=None, keepdim: bool = False, correction: int = 1) -> Tensor:
        """Variance with `correction` (1: the unbiased estimator, tinygrad's and PyTorch's default)."""
        x = self._float()
        n = math.prod(self.shape[a] for a in _axes("var", axis, self.shape))
        squares = (x - x.mean(axis, keepdim=True)).square()
        return squares.sum(axis, keepdim) / max(0, n - correction)

    def std(self, axis=None, keepdim: bool = False, correction: int = 1) -> Tensor:
        return self.var(axis, keepdim, correction).sqrt()

    def prod(self, axis=None, keepdim: bool = False, dtype=None) -> Tensor:
        """The product over `axis`, as a tree of multiplies: the reduced axes are moved last and flattened,
        then halved log2(n) times (pad odd lengths with a 1, multiply the two halves). Keeps the dtype.

        Levels wider than 2 are materialized (contiguous): fused, the backward reads each level's gradient
        through two views (left and right half), so one kernel's AST doubled per level and a 48-element
        prod's backward took 10 s to schedule and lower (issue 17). Products of up to 4 stay one kernel."""
        x = self if dtype is None else self.cast(dtype)
        if x.dtype.is_bool:  # numpy and PyTorch multiply bools as integers
            x = x.cast(dtypes.default_int)
        axes = _axes("prod", axis, x.shape)
        kept = tuple(i for i in range(x.ndim) if i not in axes)
        n = math.prod(x.shape[a] for a in axes)
        x = x.permute(kept + axes).reshape(tuple(x.shape[i] for i in kept) + (n,))
        if n == 0:
            x = x._const(1, shape=x.shape[:-1] + (1,))
        while x.shape[-1] > 1:
            if x.shape[-1] % 2:
                x = x.pad(((0, 0),) * (x.ndim - 1) + ((0, 1),), value=1)
            half, lead = x.shape[-1] // 2, tuple((0, s) for s in x.shape[:-1])
            x = x.shrink(lead + ((0, half),)) * x.shrink(lead + ((half, 2 * half),))
            if half > 2:
                x = x.contiguous()
        shape = tuple(1 if i in axes else s for i, s in enumerate(self.shape)) if keepdim else \
            tuple(self.shape[i] for i in kept)
        return x.reshape(shape)

    def argmax(self, axis=None, keepdim: bool = False) -> Tensor:
        """Index of the first maximum (of the first NaN, if any, like numpy), as int32 (tinygrad).

        Built from reductions: mark the positions equal to the max, give position i the weight n - i,
        take the max weight: the first marked position wins."""
        if axis is None:
            return self.flatten().argmax(0)
        ax = _axis("argmax", axis, self.ndim, self.shape)
        if self.shape[ax] == 0:
            raise _fail(ValueError, "argmax", f"axis {axis} of shape {self.shape} is empty",
                        "an empty axis has no largest element (PyTorch refuses it too); check the shape first")
        is_max = self == self.max(ax, keepdim=True)
        if self.dtype.is_float:
            is_max = is_max | (self != self)
        n = self.shape[ax]
        weights = type(self).arange(n, 0, -1, device=self.device).reshape((n,) + (1,) * (self.ndim - ax - 1))
        return (n - is_max.where(weights, 0).max(ax, keepdim)).cast(dtypes.int32)

    def argmin(self, axis=None, keepdim: bool = False) -> Tensor:
        return (-self if self.dtype.is_float else ~self).argmax(axis, keepdim)

    def _softmax(self, axis, dtype, method: str) -> tuple[Tensor, Tensor, Tensor]:
        # Shifting x by a constant near its max keeps exp() from overflowing and doesn't change the result. The shift
        # must carry no gradient (PyTorch's formula; tinygrad detaches the max): through the max itself, backward
        # adds -sum(d/d(x - max)) to the max's element, zero in exact arithmetic but rounding noise in floats (~10x
        # PyTorch's float32 error). trunc(max) is within 1 of the max and a step function, whose gradient is 0
        # (stage 01's trunc rule), and unlike detach() it doesn't realize.
        # The axis is checked here, so a bad one names softmax, not the Tensor.max inside it (issue 17); an empty
        # axis has no max to shift by, and its softmax is empty anyway (PyTorch).
        ax = _axis(method, axis, self.ndim, self.shape) if self.ndim or axis not in (0, -1) else axis
        x = self._float() if dtype is None else self.cast(dtype)
        m = x - x.max(ax, keepdim=True).trunc() if self.numel() else x
        e = m.exp()
        return m, e, e.sum(axis, keepdim=True)

    def softmax(self, axis=-1, dtype=None) -> Tensor:
        if dtype is None and self.dtype in _HALVES:  # PyTorch's opmath: in float32, rounded once
            return self.cast(dtypes.float32).softmax(axis).cast(self.dtype)
        _, e, total = self._softmax(axis, dtype, "softmax")
        return e / total

    def log_softmax(self, axis=-1, dtype=None) -> Tensor:
        if dtype is None and self.dtype in _HALVES:
            return self.cast(dtypes.float32).log_softmax(axis).cast(self.dtype)
        m, _, total = self._softmax(axis, dtype, "log_softmax")
        return m - total.log()

    def logsumexp(self, axis=None, keepdim: bool = False) -> Tensor:
        """log(sum(exp(x))), stably: m + log(sum(exp(x - m))); an infinite max is not subtracted. Over an empty
        axis it is log(0) = -inf (PyTorch), with no max to shift by."""
        axes, x = _axes("logsumexp", axis, self.shape), self._float()
        if any(self.shape[a] == 0 for a in axes):
            out = x.exp().sum(axis, keepdim=True).log()
        else:
            m = x.max(axis, keepdim=True)
            m = (m.abs() == math.inf).where(0, m)
            out = (x - m).exp().sum(axis, keepdim=True).log() + m
        return out if keepdim else out.squeeze(axes)

    # ---- linear algebra (a broadcast multiply, then a sum) ----

    def dot(self, w: Tensor, dtype=None) -> Tensor:
        """Matrix product with numpy's matmul rules (1-d, 2-d, batched), as tinygrad does it: line the inputs
        up so the contracted axis is last in both, broadcast-multiply, sum the last axis."""
        if not isinstance(w, type(self)):
            w = type(self)(w, device=self.device)
        dx, dw = self.ndim, w.ndim
        if dx == 0 or dw == 0:
            raise _fail(ShapeError, "dot", f"both tensors need at least 1 dim, got shapes {self.shape} and {w.shape}")
        axis_w = -min(dw, 2)
        if self.shape[-1] != w.shape[axis_w]:
            raise _fail(ShapeError, "dot", f"can't multiply {self.shape} by {w.shape}: {self.shape[-1]} != "
                        f"{w.shape[axis_w]}", f"the last axis of self must match axis {axis_w} of w")
        _broadcast_shape("dot", self.shape[:-2], w.shape[:-2])  # the batch axes must broadcast
        if _packs_panels(self, w, dtype):
            return _panel_matmul(self, w)
        x = self.reshape(self.shape[:-1] + (1,) * min(dx - 1, dw - 1, 1) + self.shape[-1:])
        w2 = w.reshape(w.shape[:-2] + (1,) * min(dx - 1, dw - 1, 1) + w.shape[axis_w:]).transpose(-1, axis_w)
        out_dtype = promote(self.dtype, w.dtype) if dtype is None else _to_dtype("dot", dtype)
        acc = _sum_dtype(out_dtype) if dtype is None else out_dtype
        if out_dtype.is_float and acc != out_dtype:  # float16/bfloat16: multiply and add in float32, backward too
            x, w2 = x.cast(acc), w2.cast(acc)
        return (x * w2).sum(-1, dtype=dtype).cast(out_dtype)

    def matmul(self, x: Tensor, reverse: bool = False, dtype=None) -> Tensor:
        x = x if isinstance(x, type(self)) else type(self)(x, device=self.device)
        return x.dot(self, dtype=dtype) if reverse else self.dot(x, dtype=dtype)

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """self @ weight + bias, with weight of shape (in, out) (tinygrad's layout; 1-d weight multiplies)."""
        x = self * weight if weight.ndim == 1 else self.dot(weight)
        return x if bias is None else x + bias

    def __matmul__(self, x) -> Tensor:
        return self.matmul(x)

    def __rmatmul__(self, x) -> Tensor:
        return self.matmul(x, reverse=True)

    # ---- scans and sorting (see the module docstring) ----

    # ---- boolean reductions ----

    def _truth(self):
        return self if self.dtype.is_bool else self != 0

    def any(self, axis=None, keepdim: bool = False):
        """True where some element is nonzero (NaN counts as true); False over an empty axis."""
        return self._truth().cast(dtypes.int32).sum(axis, keepdim) > 0

    def all(self, axis=None, keepdim: bool = False):
        """True where every element is nonzero; True over an empty axis."""
        return self._truth().logical_not().cast(dtypes.int32).sum(axis, keepdim) == 0

    # ---- moments ----

    def var_mean(self, axis=None, keepdim: bool = False, correction: int = 1):
        return self.var(axis, keepdim, correction), self.mean(axis, keepdim)

    def std_mean(self, axis=None, keepdim: bool = False, correction: int = 1):
        return self.std(axis, keepdim, correction), self.mean(axis, keepdim)

    # ---- scans ----

    def cumprod(self, axis: int = 0):
        """Running product along `axis`: out[j] = x[0] * ... * x[j]. Bool gives default_int (PyTorch: an integer)."""
        x = self.cast(dtypes.default_int) if self.dtype.is_bool else self
        return _scan(x, axis, "cumprod", 1, lambda w: w.prod(axis=-1))

    def cummax(self, axis: int = 0):
        """Running maximum along `axis` (NaN propagates). Returns the values (tinygrad's cummax)."""
        return _scan(self, axis, "cummax", reduce_identity(Ops.MAX, self.dtype), lambda w: w.max(axis=-1))

    def cummin(self, axis: int = 0):
        """Running minimum: -cummax(-x) for floats, ~cummax(~x) for ints and bool (exact, no overflow)."""
        if self.dtype.is_float:
            return -((-self).cummax(axis))
        return ~((~self).cummax(axis))

    def logcumsumexp(self, axis: int = 0):
        """log(cumsum(exp(x))) without overflow or underflow: each prefix is shifted by its own max."""
        x = self._float()

        def combine(w):
            m = w.max(axis=-1, keepdim=True)
            m = (m.abs() == math.inf).where(0, m)  # an infinite max isn't subtracted (inf - inf is NaN)
            return ((w - m).exp().sum(axis=-1, keepdim=True).log() + m).squeeze(-1)

        return _scan(x, axis, "logcumsumexp", -math.inf, combine)

    # ---- sorting ----

    def sort(self, dim: int = -1, descending: bool = False):
        """(values, indices) sorted along `dim`, stable (ties keep their order); indices are default_int."""
        if self.ndim == 0:
            return self, self._const(0, dtypes.default_int)
        dim = _resolve_dim(dim, self.ndim, "sort")
        x, back = _to_last(self, dim)
        n = x.shape[-1]
        if n == 0:
            return self, self._const(0, dtypes.default_int)
        a_i, a_j = x.unsqueeze(-1), x.unsqueeze(-2)  # [..., i, j]: x_i along the rows, x_j along the columns
        arange = type(self).arange(n, device=self.device)
        earlier = arange.reshape(1, n) < arange.reshape(n, 1)  # [i, j]: j < i
        goes_first = _before(a_j, a_i, descending) | (_same(a_j, a_i) & earlier)
        rank = goes_first.cast(dtypes.default_int).sum(axis=-1)  # (..., n): where each x_i lands
        picks = rank.unsqueeze(-1) == arange  # [..., i, r]: x_i lands at r
        if x.dtype.is_bool:
            values = picks.where(x.unsqueeze(-1), False).any(axis=-2)
        else:
            values = picks.where(x.unsqueeze(-1), 0).sum(axis=-2).cast(x.dtype)
        indices = picks.where(arange.reshape(n, 1), 0).sum(axis=-2).cast(dtypes.default_int)
        return values.permute(back), indices.permute(back)

    def argsort(self, dim: int = -1, descending: bool = False):
        return self.sort(dim, descending)[1]

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted_: bool = True):
        """(values, indices) of the k largest (or smallest) along `dim`, in sorted order."""
        d = _resolve_dim(dim, self.ndim, "topk") if self.ndim else 0
        size = self.shape[d] if self.ndim else 1
        if not _is_int(k) or not 0 <= k <= size:
            raise IndexError(f"Tensor.topk: k={k!r} is out of range for dim {dim} of shape {self.shape}; "
                             f"valid k are 0..{size}")
        values, indices = self.sort(d, descending=largest)
        if self.ndim == 0:
            return values, indices
        keep = tuple((0, k) if i == d else (0, s) for i, s in enumerate(self.shape))
        return values.shrink(keep), indices.shrink(keep)
