"""Reductions and scans for `Tensor` (mixed into it): all, any, var_mean/std_mean, cumprod, cummax, cummin,
logcumsumexp, sort, argsort and topk.

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

from shrimpgrad.conv_ops import _lowest, _pool
from shrimpgrad.graph import dtypes
from shrimpgrad.indexing import _is_int, _resolve_dim


def _to_last(x, axis: int):
    """x with `axis` moved last, and the permutation that moves it back."""
    order = tuple(d for d in range(x.ndim) if d != axis) + (axis,)
    return x.permute(order), tuple(order.index(d) for d in range(x.ndim))


def _windows(x, pad_value):
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
    return combine(_windows(last, pad_value)).permute(back)


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


class ScanMixin:
    """all, any, var_mean, std_mean, cumprod, cummax, cummin, logcumsumexp, sort, argsort, topk."""

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
        return _scan(self, axis, "cummax", _lowest(self.dtype), lambda w: w.max(axis=-1))

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
