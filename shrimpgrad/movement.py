"""Movement ops for `Tensor` (mixed into it): the views (reshape, view, permute, transpose, T, expand, flatten,
unflatten, squeeze, unsqueeze, pad, shrink, flip, repeat) and contiguous; then, composed from them, masking,
scattering, triangles, diagonals and rearranging: masked_fill, masked_select, nonzero, scatter, scatter_reduce,
tril, triu, diagonal, diag, roll, unfold, repeat_interleave, meshgrid, clone, bitcast, and the reflect /
replicate / circular modes of `pad`.

Required from the core Tensor (shrimpgrad/tensor.py): `_move` (one movement node: RESHAPE, PERMUTE, EXPAND, PAD,
SHRINK or FLIP), `_wrap`, `_const`, `shape`, `ndim`, `numel`, `device`, `dtype`. A view copies no data: each is
one stage-01 movement node, and a no-op (reshape to the same shape, permute in order) returns self.

The composed ops also use `where` and `cast` (elementwise.py), `cat` (indexing.py), the reductions (reduce.py),
`arange` (creation.py) and `numpy`. Each is a composition of those, so each one is also a small program for
the compiler; none has a kernel of its own. Three ideas carry most of them:

**A diagonal is a skewed view.** Flatten a (k, k) block to k*k elements, pad k more, read it as (k, k+1):
row i starts at i*(k+1) = i*k + i, so column 0 holds x[i, i]. `diagonal` reads that column; `diag` runs the
trick backwards (Tensor.eye is the same trick on ones).

**A scatter is a one-hot compare and a reduction.** For index values along `dim` (moved last, m of them per
row) and n output positions, `one_hot[..., j, p] = (index[..., j] == p)` says which source element lands
where. Then

    scatter_reduce "sum"  = sum over j of one_hot.where(src, 0)      (+ self, include_self)
    "prod" / "amax" / "amin" the same with the reduction's identity; "mean" = sum / count
    scatter (replace)     = the source element with the *largest* j that lands on p (the last write wins,
                            as a serial loop would do): number the j's 1..m and take a max.

and the positions nothing lands on keep self (`written.where(result, self)`). O(m * n) work per row.

**Data-dependent shapes are computed on the host.** The graph has static shapes, so `nonzero`,
`masked_select`, `repeat_interleave` with tensor repeats (and boolean-mask indexing in shrimpgrad/indexing.py)
*realize* their mask or counts and read them with numpy to learn the output size. `masked_select` and
`repeat_interleave` then pick with an integer index (a one-hot gather), so gradients still flow to self;
`nonzero` returns new int64 data.

`bitcast` reinterprets bits without a bitcast op: float -> int splits the value into sign, exponent and
mantissa with comparisons and multiplications by powers of two (exact on every device, unlike exp2/log2);
int -> float rebuilds it from the fields with integer ops (see `_float_bits` / `_bits_float`).

Mapping to tinygrad: the same names and arguments as tinygrad's Tensor (and PyTorch's), with PyTorch's
values, result dtypes and exception types: misuse that PyTorch reports as RuntimeError raises RuntimeError
here (as shrimpgrad.checks' ShapeError or DTypeError, both RuntimeErrors, where a shape or a dtype is wrong),
dims out of range IndexError (AxisError). Different: `scatter` with repeated indices is deterministic (the last
write wins); `bitcast` only between dtypes of one size, and a NaN becomes the canonical quiet NaN;
scatter_reduce "amax"/"amin" with include_self=False splits a tie's gradient among the elements that took part
(the finite-difference answer), where PyTorch 2.11 also counts self's equal value and hands out less.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from shrimpgrad.checks import (
    AxisError,
    DTypeError,
    IndexOutOfBounds,
    Scalar,
    ShapeError,
    _argfix,
    _axes,
    _axis,
    _broadcast_shape,
    _fail,
    _is_int,
    _provenance,
    _resolve_dim,
)
from shrimpgrad.graph import Ops, contiguous, dtypes, reduce_identity, to_dtype
from shrimpgrad.indexing import _every_nth
from shrimpgrad.realize import buffer_value

if TYPE_CHECKING:
    from shrimpgrad.tensor import Tensor

_SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")
_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _highest(dtype):
    """The value a min ignores: inf for floats, the largest int for ints, True for bool."""
    if dtype.is_float:
        return math.inf
    if dtype.is_bool:
        return True
    return int(np.iinfo(dtype.np).max)


def _to_last(x, dim: int):
    """x with `dim` moved last, and the permutation that moves it back."""
    order = tuple(d for d in range(x.ndim) if d != dim) + (dim,)
    return x.permute(order), tuple(order.index(d) for d in range(x.ndim))


def _windows(x, size: int, step: int):
    """(..., n) -> (..., o, size) with out[..., a, b] = x[..., a*step + b], as a view: tile x `size` times, read
    the tiles as rows of n+1 (row b starts at b*(n+1) = b*n + b, so row b is x shifted left by b), keep the
    columns where no row has wrapped, every step-th of them, and swap the two axes.
    Example n = 4, size = 2: x0 x1 x2 x3 x0 x1 x2 x3 0 0 as rows of 5: [x0 x1 x2 x3 x0] [x1 x2 x3 0 0]; keep
    columns 0..2: [x0 x1 x2] [x1 x2 x3]; swapped: the windows [x0 x1] [x1 x2] [x2 x3]."""
    lead, n = x.shape[:-1], x.shape[-1]
    keep = tuple((0, s) for s in lead)
    tiled = x.unsqueeze(-2).expand(lead + (size, n)).reshape(lead + (size * n,))
    rows = tiled.pad(((0, 0),) * len(lead) + ((0, size),)).reshape(lead + (size, n + 1))
    rows = rows.shrink(keep + ((0, size), (0, n - size + 1)))
    rows = _every_nth(rows, (1,) * len(lead) + (1, step))
    return rows.transpose(-1, -2)


def _scalar_for(dtype, value, method: str):
    """A Python number as a value of `dtype` (PyTorch's rule: floats truncate into ints, but a value the dtype
    can't hold is an error, not a wrapped number)."""
    if dtype.is_int and not isinstance(value, (bool, np.bool_)):
        if not math.isfinite(float(value)):
            raise RuntimeError(f"Tensor.{method}: value {value!r} cannot be converted to {dtype!r}")
        info = np.iinfo(dtype.np)
        if not info.min <= int(value) <= info.max:
            raise RuntimeError(f"Tensor.{method}: value {value!r} cannot be converted to {dtype!r} without overflow "
                               f"({info.min}..{info.max}); cast the tensor to a wider dtype first")
        return int(value)
    return value


def _checked_mask(self, mask, method: str):
    """`mask` checked to be a bool Tensor (PyTorch's rule: masks are never cast from other dtypes)."""
    if not isinstance(mask, type(self)):
        raise TypeError(f"Tensor.{method}: mask must be a bool Tensor, got {type(mask).__name__}")
    if not mask.dtype.is_bool:
        raise DTypeError(f"Tensor.{method}: mask must be a bool Tensor, got {mask.dtype!r}; "
                         f"compare first (e.g. `x > 0`) or use mask.bool()")
    return mask


def _host_values(x, method: str, what: str) -> np.ndarray:
    """An integer Tensor, list or array as a numpy array (a Tensor is realized: the output size depends on it)."""
    values = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise DTypeError(f"Tensor.{method}: {what} must hold integers, got {values.dtype}")
    return values.astype(np.int64)


class MovementMixin:
    """The views (reshape, permute, transpose, expand, flatten, squeeze, pad, shrink, flip, repeat) and
    contiguous; then masked_fill, masked_select, nonzero, scatter, scatter_reduce, tril, triu, diagonal, diag,
    roll, unfold, repeat_interleave, meshgrid, clone, bitcast, and pad's non-constant modes (`_pad_mode`)."""

    # ================================================================================================
    # views (no data is copied)
    # ================================================================================================

    def reshape(self, shape, *args) -> Tensor:
        """A new shape with the same elements; one entry may be -1 (inferred), None keeps that axis."""
        new = _argfix(shape, *args)
        keeps = False  # a None keeps that axis
        for s in new:  # a loop, not all() over a generator: every reshape and broadcast passes here
            if s is None:
                keeps = True
            elif not (isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= -1):
                raise _fail(ShapeError, "reshape", f"shape {new} must be ints >= 0 (one may be -1)")
        if keeps:
            new = tuple(self.shape[i] if s is None else s for i, s in enumerate(new))
        if new.count(-1) > 1:
            raise _fail(ShapeError, "reshape", f"shape {new} has more than one -1", "only one size can be inferred")
        if -1 in new:
            known = math.prod(s for s in new if s != -1)
            if known == 0 or self.numel() % known:
                raise _fail(ShapeError, "reshape", f"can't reshape {self.shape} ({self.numel()} elements) into {new}")
            new = tuple(self.numel() // known if s == -1 else int(s) for s in new)
        new = tuple(map(int, new))
        if math.prod(new) != self.numel():
            raise _fail(ShapeError, "reshape", f"can't reshape {self.shape} ({self.numel()} elements) into {new} "
                        f"({math.prod(new)} elements)", "the number of elements must stay the same")
        return self if new == self.shape else self._move(Ops.RESHAPE, new)

    def view(self, shape, *args) -> Tensor:
        return self.reshape(shape, *args)

    def permute(self, order, *args) -> Tensor:
        given = _argfix(order, *args)
        order = tuple(_axis("permute", a, self.ndim, self.shape) for a in given)
        if sorted(order) != list(range(self.ndim)):
            raise _fail(AxisError, "permute", f"{given} is not a permutation of the {self.ndim} "
                        f"axes of shape {self.shape}", f"give each of 0..{self.ndim - 1} once")
        return self if order == tuple(range(self.ndim)) else self._move(Ops.PERMUTE, order)

    def transpose(self, dim0: int = 1, dim1: int = 0) -> Tensor:
        order = list(range(self.ndim))
        a, b = _axis("transpose", dim0, self.ndim, self.shape), _axis("transpose", dim1, self.ndim, self.shape)
        order[a], order[b] = order[b], order[a]
        return self.permute(order)

    @property
    def T(self) -> Tensor:  # noqa: N802 - tinygrad's name
        """transpose(1, 0): the matrix transpose of a 2-d tensor."""
        return self.transpose()

    def _broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        if self.shape == shape:
            return self
        x = self.reshape((1,) * (len(shape) - self.ndim) + self.shape)
        return x if x.shape == shape else x._move(Ops.EXPAND, shape)

    def expand(self, shape, *args) -> Tensor:
        """Repeat size-1 axes (no copy); -1 or None keeps a size; new axes may be added in front."""
        new = _argfix(shape, *args)
        if len(new) < self.ndim:
            raise _fail(ShapeError, "expand", f"can't expand shape {self.shape} to {new}: fewer axes",
                        "give at least as many sizes as the tensor has axes")
        old = (1,) * (len(new) - self.ndim) + self.shape
        new = tuple(o if n in (-1, None) else n for o, n in zip(old, new))
        if any(not isinstance(n, (int, np.integer)) or n < 0 or (o != n and o != 1) for o, n in zip(old, new)):
            raise _fail(ShapeError, "expand", f"can't expand shape {self.shape} to {new}",
                        "only size-1 axes can grow (use -1 to keep a size)")
        return self._broadcast_to(tuple(int(n) for n in new))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        a = _axis("flatten", start_dim, self.ndim, self.shape)
        b = _axis("flatten", end_dim, self.ndim, self.shape)
        return self.reshape(self.shape[:a] + (math.prod(self.shape[a:b + 1]),) + self.shape[b + 1:])

    def unflatten(self, dim: int, sizes) -> Tensor:
        d = _axis("unflatten", dim, self.ndim, self.shape)
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1:])

    def squeeze(self, dim=None) -> Tensor:
        """Remove size-1 axes (all, or those in `dim`; an axis of another size is left alone, like PyTorch)."""
        axes = [i for i, s in enumerate(self.shape) if s == 1] if dim is None else _axes("squeeze", dim, self.shape)
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1)))

    def unsqueeze(self, dim: int) -> Tensor:
        d = _axis("unsqueeze", dim, self.ndim, self.shape, extra=1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def pad(self, padding, mode: str = "constant", value: Scalar = 0.0) -> Tensor:
        """Pad with `value`. `padding` is one (before, after) pair (or None) per axis, or PyTorch's flat form
        (left, right, top, bottom, ...) starting from the last axis. Negative amounts cut instead. mode "reflect",
        "replicate" or "circular" pads with copies of the tensor instead of `value` (`_pad_mode`, below)."""
        if mode != "constant":  # "reflect", "replicate", "circular"
            return self._pad_mode(padding, mode, value)
        pairs = self._pad_pairs(padding)
        grow = tuple((max(0, b), max(0, a)) for b, a in pairs)
        x = self if all(p == (0, 0) for p in grow) else self._move(Ops.PAD, grow)
        if value != 0 and x is not self:
            inside = self._const(True, dtypes.bool)._move(Ops.PAD, grow)
            x = inside.where(x, value)
        if any(b < 0 or a < 0 for b, a in pairs):
            x = x.shrink(tuple((-min(0, b), s - -min(0, a)) for (b, a), s in zip(pairs, x.shape)))
        return x

    def _pad_pairs(self, padding) -> tuple[tuple[int, int], ...]:
        padding = tuple(padding)
        if all(isinstance(p, (int, np.integer)) for p in padding):  # flat: last axis first
            if len(padding) % 2 or len(padding) > 2 * self.ndim:
                raise _fail(ShapeError, "pad", f"flat padding {padding} needs an even length <= {2 * self.ndim} "
                            f"for shape {self.shape}", "e.g. (left, right, top, bottom)")
            flat = tuple(zip(padding[::2], padding[1::2]))[::-1]
            pairs = ((0, 0),) * (self.ndim - len(flat)) + flat
        elif len(padding) == self.ndim and all(p is None or len(p) == 2 for p in padding):
            pairs = tuple((0, 0) if p is None else tuple(p) for p in padding)
        else:
            raise _fail(ShapeError, "pad", f"padding {padding} doesn't fit shape {self.shape}",
                        "give one (before, after) pair or None per axis, or a flat (left, right, top, bottom, ...)")
        pairs = tuple((int(b), int(a)) for b, a in pairs)
        if any(s + b + a < 0 for s, (b, a) in zip(self.shape, pairs)):
            raise _fail(ShapeError, "pad", f"padding {pairs} cuts more than shape {self.shape} has")
        return pairs

    def shrink(self, arg) -> Tensor:
        """Keep [start, end) of each axis; None keeps the whole axis."""
        arg = tuple(arg)
        if len(arg) != self.ndim:
            raise _fail(ShapeError, "shrink", f"needs one (start, end) or None per axis of shape {self.shape}, "
                        f"got {arg}")
        bounds = tuple((0, s) if p is None else (int(p[0]), int(p[1])) for p, s in zip(arg, self.shape))
        if any(not 0 <= b <= e <= s for (b, e), s in zip(bounds, self.shape)):
            raise _fail(ShapeError, "shrink", f"bounds {bounds} don't fit shape {self.shape}",
                        "each axis needs 0 <= start <= end <= size")
        return self if all(b == (0, s) for b, s in zip(bounds, self.shape)) else self._move(Ops.SHRINK, bounds)

    def flip(self, axis, *args) -> Tensor:
        axes = _axes("flip", _argfix(axis, *args), self.shape)
        return self._move(Ops.FLIP, tuple(i in axes for i in range(self.ndim))) if axes else self

    def repeat(self, repeats, *args) -> Tensor:
        """Tile the tensor: each axis repeated `repeats[i]` times (new leading axes allowed), as PyTorch's repeat."""
        repeats = _argfix(repeats, *args)
        if len(repeats) < self.ndim or any(not isinstance(r, int) or r < 0 for r in repeats):
            raise _fail(ShapeError, "repeat", f"repeats {repeats} must be non-negative ints, at least one per axis "
                        f"of shape {self.shape}")
        base = (1,) * (len(repeats) - self.ndim) + self.shape
        x = self.reshape(tuple(v for s in base for v in (1, s)))
        x = x.expand(tuple(v for r, s in zip(repeats, base) for v in (r, s)))
        return x.reshape(tuple(r * s for r, s in zip(repeats, base)))

    def contiguous(self) -> Tensor:
        """Materialize this value in its own buffer when realized (a kernel boundary)."""
        return self._wrap(contiguous(self.node, _provenance()))

    # ================================================================================================
    # masks
    # ================================================================================================

    def masked_fill(self, mask, value):
        """`value` where `mask` is True, self elsewhere; self and mask broadcast together (PyTorch). `value` is a
        Python number or a 0-d Tensor (gradients flow to it) and is cast to self's dtype."""
        mask = _checked_mask(self, mask, "masked_fill")
        if isinstance(value, type(self)):
            if value.ndim != 0:
                raise ShapeError(f"Tensor.masked_fill: value must be a number or a 0-d Tensor, got shape "
                                 f"{value.shape}; use mask.where(values, self) to fill from a tensor")
            value = value.cast(self.dtype)
        elif isinstance(value, (bool, int, float, np.generic)):
            value = type(self)(np.asarray(_scalar_for(self.dtype, value, "masked_fill")), dtype=self.dtype,
                               device=self.device)  # converted as Tensor(data, dtype) does (bfloat16: rounded)
        else:
            raise TypeError(f"Tensor.masked_fill: value must be a number or a 0-d Tensor, got {type(value).__name__}")
        shape = _broadcast_shape("masked_fill", self.shape, mask.shape)
        return mask.expand(shape).where(value.expand(shape), self.expand(shape))

    def masked_select(self, mask):
        """The elements of self where `mask` is True, as a 1-d tensor in row-major order (self and mask broadcast).

        The output size depends on the mask's values: the mask is realized and read on the host, then the
        elements are picked with an integer index, so gradients flow back to self."""
        mask = _checked_mask(self, mask, "masked_select")
        shape = _broadcast_shape("masked_select", self.shape, mask.shape)
        picked = np.flatnonzero(mask.expand(shape).numpy())
        flat = self.expand(shape).reshape(-1)
        return flat[type(self)(picked.astype(np.int32), device=self.device)]

    def nonzero(self, as_tuple: bool = False):
        """The indices of the nonzero elements (NaN counts as nonzero), as an int64 tensor of shape (n, ndim), or
        with as_tuple=True a tuple of ndim 1-d tensors (one per axis). Realizes self (the size depends on it)."""
        values = self.numpy()
        if as_tuple:
            coords = np.nonzero(values.reshape(1) if values.ndim == 0 else values)
            return tuple(type(self)(c.astype(np.int64), device=self.device) for c in coords)
        return type(self)(np.argwhere(values).astype(np.int64), device=self.device)  # (n, ndim), also for 0-d

    # ================================================================================================
    # scatter
    # ================================================================================================

    def scatter(self, dim: int, index, src, reduce: str | None = None):
        """A copy of self with src written at `index` along `dim`: for dim=0, out[index[i][j]][j] = src[i][j].
        `src` is a Tensor of self's dtype (at least index's shape) or a number. With repeated indices the last
        write along `dim` wins. reduce="add" / "multiply" combine with self instead (see scatter_reduce)."""
        if reduce is not None:
            if reduce not in ("add", "multiply"):
                raise RuntimeError(f"Tensor.scatter: reduce must be None, 'add' or 'multiply', got {reduce!r}")
            return self.scatter_reduce(dim, index, src, "sum" if reduce == "add" else "prod")
        parts = _scatter_parts(self, dim, index, src, "scatter")
        if parts is None:
            return self
        one_hot, src_b, back, region = parts
        m = one_hot.shape[-2]
        numbers = type(self).arange(1, m + 1, device=self.device).reshape(m, 1)
        last = one_hot.where(numbers, 0).max(axis=-2, keepdim=True)  # the last j that lands on each position
        winner = one_hot & (numbers == last)
        if self.dtype.is_bool:
            value = winner.where(src_b, False).any(axis=-2)
        else:
            value = winner.where(src_b, 0).sum(axis=-2).cast(self.dtype)
        return _scatter_result(self, value, (last > 0).squeeze(-2), back, region)

    def scatter_reduce(self, dim: int, index, src, reduce: str, include_self: bool = True):
        """Combine src into self at `index` along `dim` with `reduce`: "sum", "prod", "mean", "amax" or "amin"
        (PyTorch's names). With include_self the positions' own values take part; positions nothing is
        scattered to keep self. "mean" of integers rounds down, as PyTorch does."""
        reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)  # PyTorch accepts these names too
        if reduce not in _SCATTER_REDUCTIONS:
            raise RuntimeError(f"Tensor.scatter_reduce: reduce must be one of {', '.join(_SCATTER_REDUCTIONS)}, "
                               f"got {reduce!r}")
        if reduce == "mean" and self.dtype.is_bool:
            raise DTypeError("Tensor.scatter_reduce: reduce='mean' is not defined for bool tensors; cast to an "
                             "integer or float dtype first")
        parts = _scatter_parts(self, dim, index, src, "scatter_reduce")
        if parts is None:
            return self
        one_hot, src_b, back, region = parts
        identity = {"sum": 0, "mean": 0, "prod": 1, "amax": reduce_identity(Ops.MAX, self.dtype),
                    "amin": _highest(self.dtype)}[reduce]
        if self.dtype.is_bool:  # a Python int would promote the bool candidates to default_int
            identity = bool(identity)
        candidates = one_hot.where(src_b, identity)  # (..., m, n)
        if include_self:  # self takes part as one more candidate, so ties are split as PyTorch does
            own = _region_view(self, back, region).unsqueeze(-2)
            candidates = candidates.cat(own, dim=-2)
        count = one_hot.cast(dtypes.int32).sum(axis=-2)
        if reduce in ("sum", "mean"):
            total = candidates.any(axis=-2) if self.dtype.is_bool else candidates.sum(axis=-2)
            if reduce == "mean":
                n = count + int(include_self)
                total = total / n.maximum(1) if total.dtype.is_float else total.idiv(n.maximum(1))
            value = total.cast(self.dtype)
        elif reduce == "prod":
            value = candidates.all(axis=-2) if self.dtype.is_bool else candidates.prod(axis=-2).cast(self.dtype)
        elif reduce == "amax":
            value = candidates.max(axis=-2)
        else:
            value = candidates.min(axis=-2)
        return _scatter_result(self, value, count > 0, back, region)

    # ================================================================================================
    # triangles and diagonals
    # ================================================================================================

    def _triangle(self, diagonal: int, method: str, lower: bool):
        if self.ndim < 2:
            raise ShapeError(f"Tensor.{method}: needs a tensor of at least 2 dims, got shape {self.shape}")
        if not _is_int(diagonal):
            raise TypeError(f"Tensor.{method}: diagonal must be an int, got {diagonal!r}")
        r, c = self.shape[-2:]
        arange = type(self).arange
        offset = arange(c, device=self.device).reshape(1, c) - arange(r, device=self.device).reshape(r, 1)  # j - i
        keep = offset <= diagonal if lower else offset >= diagonal
        return keep.where(self, self.zeros_like())

    def tril(self, diagonal: int = 0):
        """The lower triangle of the last two axes: elements with column - row <= diagonal; zeros elsewhere."""
        return self._triangle(diagonal, "tril", lower=True)

    def triu(self, diagonal: int = 0):
        """The upper triangle of the last two axes: elements with column - row >= diagonal; zeros elsewhere."""
        return self._triangle(diagonal, "triu", lower=False)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
        """The diagonal of the (dim1, dim2) planes, x[..., i, i + offset], as a new last axis (PyTorch's layout);
        a view (see the module docstring)."""
        d1, d2 = _resolve_dim(dim1, self.ndim, "diagonal"), _resolve_dim(dim2, self.ndim, "diagonal")
        if self.ndim < 2:  # (PyTorch says IndexError, as above: a 1-d tensor has no dim 1)
            raise IndexError(f"Tensor.diagonal: needs a tensor of at least 2 dims, got shape {self.shape}")
        if d1 == d2:
            raise RuntimeError(f"Tensor.diagonal: dim1 and dim2 name the same axis ({dim1}, {dim2}) of shape "
                               f"{self.shape}; give two different axes")
        x = self.permute(tuple(d for d in range(self.ndim) if d not in (d1, d2)) + (d1, d2))
        lead, (r, c) = x.shape[:-2], x.shape[-2:]
        rows = (min(r, max(0, -offset)), r)
        cols = (min(c, max(0, offset)), c)
        k = max(0, min(rows[1] - rows[0], cols[1] - cols[0]))
        x = x.shrink(tuple((0, s) for s in lead) + ((rows[0], rows[0] + k), (cols[0], cols[0] + k)))
        x = x.reshape(lead + (k * k,)).pad(((0, 0),) * len(lead) + ((0, k),)).reshape(lead + (k, k + 1))
        return x.shrink(tuple((0, s) for s in lead) + ((0, k), (0, 1))).reshape(lead + (k,))

    def diag(self, diagonal: int = 0):
        """1-d: a square matrix with self on the given diagonal (zeros elsewhere); 2-d: that diagonal, as 1-d."""
        if self.ndim == 2:
            return self.diagonal(diagonal)
        if self.ndim != 1:
            raise ShapeError(f"Tensor.diag: needs a 1-d or 2-d tensor, got shape {self.shape}; "
                             f"for more dims use diagonal(offset, dim1, dim2)")
        if not _is_int(diagonal):
            raise TypeError(f"Tensor.diag: diagonal must be an int, got {diagonal!r}")
        n, k = self.shape[0], abs(int(diagonal))
        # (n, 1) padded to (n, n+1) and read as (n, n): element p = i*(n+1) of the flat buffer is [i, i]
        square = self.reshape(n, 1).pad(((0, 0), (0, n))).reshape(n * (n + 1)).shrink(((0, n * n),)).reshape(n, n)
        return square.pad(((0, k), (k, 0)) if diagonal >= 0 else ((k, 0), (0, k)))

    # ================================================================================================
    # rearranging
    # ================================================================================================

    def roll(self, shifts, dims=None):
        """Shift elements along `dims` by `shifts`, wrapping around: out[(i + shift) % n] = x[i]. dims=None rolls
        the flattened tensor and restores the shape (PyTorch)."""
        shifts_t = (shifts,) if _is_int(shifts) else tuple(shifts)
        if dims is None:
            if len(shifts_t) != 1:
                raise RuntimeError(f"Tensor.roll: with dims=None, shifts must be one int, got {shifts!r}")
            return self.reshape(-1).roll(shifts_t[0], 0).reshape(self.shape)
        dims_t = (dims,) if _is_int(dims) else tuple(dims)
        if len(shifts_t) != len(dims_t):
            raise RuntimeError(f"Tensor.roll: shifts {shifts!r} and dims {dims!r} must have the same length")
        if not all(_is_int(s) for s in shifts_t):
            raise TypeError(f"Tensor.roll: shifts must be ints, got {shifts!r}")
        if self.ndim == 0:  # PyTorch: a 0-d tensor has no dim to roll along (dims=None works)
            raise AxisError(f"Tensor.roll: dims {dims!r} given for a 0-d tensor; use dims=None")
        x = self
        for shift, dim in zip(shifts_t, dims_t):
            d = _resolve_dim(dim, self.ndim, "roll")
            n = x.shape[d]
            s = int(shift) % n if n else 0
            if s:
                keep = [(0, size) for size in x.shape]
                tail, head = list(keep), list(keep)
                tail[d], head[d] = (n - s, n), (0, n - s)
                x = x.shrink(tuple(tail)).cat(x.shrink(tuple(head)), dim=d)
        return x

    def unfold(self, dimension: int, size: int, step: int):
        """Every window of `size` elements along `dimension`, `step` apart: that axis becomes the number of
        windows, and a new last axis of `size` holds each window (PyTorch's Tensor.unfold; a view)."""
        if self.ndim == 0:
            return self.reshape(1).unfold(0, size, step).reshape(size)
        d = _resolve_dim(dimension, self.ndim, "unfold")
        n = self.shape[d]
        if not _is_int(size) or not _is_int(step):
            raise TypeError(f"Tensor.unfold: size and step must be ints, got {size!r} and {step!r}")
        if step <= 0:
            raise RuntimeError(f"Tensor.unfold: step is {step} but must be > 0")
        if not 0 <= size <= n:
            raise ShapeError(f"Tensor.unfold: size is {size} but must be in 0..{n}, the size of dimension {d} "
                             f"of shape {self.shape}")
        x, _ = _to_last(self, d)
        windows = _windows(x, size, step)  # (..., o, size)
        order = list(range(self.ndim - 1))
        order.insert(d, self.ndim - 1)  # the window count goes back to where `dimension` was
        return windows.permute(tuple(order) + (self.ndim,))

    def repeat_interleave(self, repeats, dim: int | None = None):
        """Repeat each element `repeats` times along `dim` (dim=None: of the flattened tensor): [a, b] with
        repeats=2 -> [a, a, b, b]. `repeats` may also give one count per element (a list or int Tensor), which is
        read on the host (the output size depends on it)."""
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else _resolve_dim(dim, x.ndim, "repeat_interleave")
        if x.ndim == 0:
            x, d = x.reshape(1), 0
        n = x.shape[d]
        if _is_int(repeats):
            if repeats < 0:
                raise RuntimeError(f"Tensor.repeat_interleave: repeats must be non-negative, got {repeats}")
            x = x.unsqueeze(d + 1)
            x = x.expand(x.shape[:d + 1] + (int(repeats),) + x.shape[d + 2:])
            return x.reshape(x.shape[:d] + (n * int(repeats),) + x.shape[d + 2:])
        counts = _host_values(repeats, "repeat_interleave", "repeats").reshape(-1)
        if counts.size not in (1, n):
            raise ShapeError(f"Tensor.repeat_interleave: repeats has {counts.size} entries but dim {d} of shape "
                             f"{x.shape} has {n}; give one count per element or a single count")
        if (counts < 0).any():
            raise RuntimeError(f"Tensor.repeat_interleave: repeats must be non-negative, got {counts.tolist()}")
        picks = np.repeat(np.arange(n), np.broadcast_to(counts, (n,))).astype(np.int32)
        return x[(slice(None),) * d + (type(self)(picks, device=self.device),)]

    def meshgrid(self, *args, indexing: str = "ij"):
        """Coordinate grids: for 1-d tensors of sizes n0, n1, ... each output has shape (n0, n1, ...) and varies
        along its own axis ("ij"); "xy" swaps the first two axes (Cartesian, as numpy's default). Also
        `Tensor.meshgrid([a, b])`."""
        tensors = (*self, *args) if isinstance(self, (list, tuple)) else (self, *args)
        if not tensors:
            raise RuntimeError("Tensor.meshgrid: needs at least one tensor")
        cls = type(tensors[0])
        for i, t in enumerate(tensors):
            if not isinstance(t, cls):
                raise TypeError(f"Tensor.meshgrid: argument {i} is a {type(t).__name__}, not a Tensor")
            if t.ndim > 1:
                raise ShapeError(f"Tensor.meshgrid: expects 0-d or 1-d tensors, argument {i} has shape {t.shape}")
            if t.dtype != tensors[0].dtype:
                raise DTypeError(f"Tensor.meshgrid: all tensors need one dtype, got "
                                 f"{[x.dtype for x in tensors]}; cast them first")
        if indexing not in ("ij", "xy"):
            raise RuntimeError(f"Tensor.meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
        sizes = tuple(t.numel() for t in tensors)
        grids = []
        for i, t in enumerate(tensors):
            grid = t.reshape((1,) * i + (sizes[i],) + (1,) * (len(sizes) - i - 1)).expand(sizes)
            grids.append(grid.transpose(0, 1) if indexing == "xy" and len(sizes) > 1 else grid)
        return tuple(grids)

    def clone(self):
        """A copy in its own memory (gradients flow through it): writing to it later leaves self unchanged."""
        return self.contiguous()

    def bitcast(self, dtype):
        """The same bits read as another dtype (PyTorch's `view(dtype)`, tinygrad's bitcast): of one size, int32
        <-> float32, int16 <-> float16 or bfloat16, int8 <-> uint8, ...; of another size, the last axis scales by
        the ratio of the sizes, little-endian (the byte order of every device here): float32 (..., n) -> uint8
        (..., 4n), and uint8 (..., 4n) -> float32 (..., n), which needs the last axis divisible by 4
        (RuntimeError otherwise, as PyTorch). Built from arithmetic, not a bitcast op (see `_float_bits`); a NaN
        becomes the canonical quiet NaN (its sign and payload are not kept). A bool is one byte of 0 or 1; a byte read
        as a bool is True when nonzero (so a byte other than 0/1 comes back from bool as 1, where PyTorch keeps it)."""
        target = to_dtype(dtype)
        if target == self.dtype:
            return self
        if self.dtype == dtypes.bool:  # a bool is one byte holding 0 or 1: its bits are the uint8 of that value
            return self.cast(dtypes.uint8).bitcast(target)
        if target == dtypes.bool:  # a byte read as a bool: nonzero is True (a byte other than 0/1 comes back as 1)
            if self.dtype.itemsize != 1:
                return self.bitcast(dtypes.uint8).bitcast(target)
            return self != 0
        if target.itemsize != self.dtype.itemsize:
            return _bitcast_resize(self, target)
        if target.is_float and self.dtype.is_float:  # float16 <-> bfloat16: two formats of one size, via the bits
            return self.bitcast(_SIGNED[self.dtype.itemsize]).bitcast(target)
        if target.is_float == self.dtype.is_float:  # two ints of one size: a cast wraps modulo 2^bits, bit-exact
            return self.cast(target)
        signed = _SIGNED[target.itemsize if self.dtype.is_float else self.dtype.itemsize]
        if self.dtype.is_float:  # the fields are computed in the signed int of the size, then wrapped if unsigned
            return _float_bits(self, signed).cast(target)
        return _bits_float(self.cast(signed), target)

    # ================================================================================================
    # pad modes
    # ================================================================================================

    def _pad_mode(self, padding, mode: str, value):
        """pad(mode="reflect" | "replicate" | "circular"), called by Tensor.pad. Per axis: negative amounts cut
        first, then the kept part is extended by copies of itself (mirrored without the edge, the edge element
        repeated, or wrapped around), joined with cat."""
        if mode not in _PAD_MODES:
            raise NotImplementedError(f"Tensor.pad: mode {mode!r} is not supported; use one of {', '.join(_PAD_MODES)}")
        if value != 0:
            raise RuntimeError(f"Tensor.pad: mode {mode!r} doesn't take a value (got value={value!r}); only "
                               f"mode='constant' does")
        pairs = self._pad_pairs(padding)
        x = self.pad(tuple((min(0, b), min(0, a)) for b, a in pairs))  # the cuts
        for d, (b, a) in enumerate(pairs):
            b, a, n = max(0, b), max(0, a), x.shape[d]
            if not b and not a:
                continue
            if (mode == "reflect" and max(b, a) >= n) or (mode == "circular" and max(b, a) > n) or n == 0:
                limit = "less than" if mode == "reflect" else "at most"
                raise ShapeError(f"Tensor.pad: mode {mode!r} needs padding {limit} the axis size, got ({b}, {a}) "
                                 f"for axis {d} of size {n} (shape {x.shape}); pad less or use mode='constant'")
            x = _pad_axis(x, d, b, a, mode)
        return x


# ------------------------------------------------------------------------------------------------
# scatter helpers
# ------------------------------------------------------------------------------------------------


def _scatter_parts(self, dim, index, src, method: str):
    """Checks, then the pieces every scatter uses, in the layout with `dim` last and the other axes cut to
    index's shape (the region that can be written):
        one_hot (..., m, n)  [..., j, p]: does index[..., j] point at position p
        src_b   (..., m, 1)  the source values, cut to index's shape
    plus the permutation back and the region's shape. None when index is empty (nothing is written)."""
    cls = type(self)
    if not isinstance(index, cls):
        raise TypeError(f"Tensor.{method}: index must be an integer Tensor, got {type(index).__name__}")
    if not index.dtype.is_int:
        raise DTypeError(f"Tensor.{method}: index must have an integer dtype, got {index.dtype!r}")
    d = _resolve_dim(dim, self.ndim, method)
    if index.numel() == 0:
        return None
    if isinstance(src, cls):
        if src.dtype != self.dtype:
            raise DTypeError(f"Tensor.{method}: src is {src.dtype!r} but self is {self.dtype!r}; cast src "
                             f"with src.cast({self.dtype!r})")
    elif isinstance(src, (bool, int, float, np.generic)):
        src = cls.full(index.shape, _scalar_for(self.dtype, src, method), dtype=self.dtype, device=self.device)
    else:
        raise TypeError(f"Tensor.{method}: src must be a Tensor or a number, got {type(src).__name__}")
    self_shape = self.shape or (1,)
    if index.ndim != self.ndim or src.ndim != self.ndim:
        raise ShapeError(f"Tensor.{method}: index {index.shape}, src {src.shape} and self {self.shape} need the "
                         f"same number of dims")
    index_shape, src_shape = index.shape or (1,), src.shape or (1,)
    if any(i > s for i, s in zip(index_shape, src_shape)) or \
            any(i > s for a, (i, s) in enumerate(zip(index_shape, self_shape)) if a != d):
        raise ShapeError(f"Tensor.{method}: index of shape {index.shape} must be no larger than src "
                         f"{src.shape} in every dim, and than self {self.shape} in every dim but {d}")
    n = self_shape[d]

    def check(values: np.ndarray) -> None:  # the one-hot would silently skip an out-of-range index
        bad = (values < 0) | (values >= n)
        if bad.any():
            raise IndexOutOfBounds(f"Tensor.{method}: index {int(values[bad].flat[0])} is out of bounds for dimension "
                                   f"{d} with size {n} (self shape {self.shape}); valid indices are 0..{n - 1}")

    index.realize()
    check(buffer_value(index.node.arg, check))  # (TinyJit replays run `check` on the new index values)
    index, src = index.reshape(index_shape), src.reshape(src_shape)
    src = src.shrink(tuple((0, i) for i in index_shape))
    idx, back = _to_last(index, d)
    src_last, _ = _to_last(src, d)
    positions = cls.arange(n, device=self.device)
    one_hot = idx.unsqueeze(-1) == positions  # (..., m, n)
    return one_hot, src_last.unsqueeze(-1), back, tuple(index_shape)


def _region_view(self, back, region):
    """self cut to the scatter region (index's shape, but all of `dim`), with `dim` last."""
    x = self.reshape(self.shape or (1,))
    d = back.index(len(back) - 1)  # the axis that was moved last
    x = x.shrink(tuple((0, x.shape[a]) if a == d else (0, r) for a, r in enumerate(region)))
    return _to_last(x, d)[0]


def _scatter_result(self, value, written, back, region):
    """Put the region's new values back into self's shape: positions outside the region or not written keep self."""
    shape = self.shape or (1,)
    d = back.index(len(back) - 1)
    value, written = value.permute(back), written.permute(back)
    grow = tuple((0, 0) if a == d else (0, s - r) for a, (s, r) in enumerate(zip(shape, region)))
    value, written = value.pad(grow), written.pad(grow)
    return written.where(value, self.reshape(shape)).reshape(self.shape)


# ------------------------------------------------------------------------------------------------
# pad helpers
# ------------------------------------------------------------------------------------------------


def _pad_axis(x, d: int, before: int, after: int, mode: str):
    """x extended along axis d by `before` and `after` elements of `mode` (sizes already checked)."""
    n = x.shape[d]

    def part(start: int, stop: int, flip: bool = False):
        piece = x.shrink(tuple((start, stop) if a == d else (0, s) for a, s in enumerate(x.shape)))
        return piece.flip(d) if flip else piece

    def edge(i: int, count: int):
        piece = part(i, i + 1)
        return piece.expand(tuple(count if a == d else s for a, s in enumerate(piece.shape)))

    if mode == "reflect":  # mirrored, without repeating the edge element: [3 2 | 1 2 3 4 | 3 2]
        left, right = part(1, before + 1, flip=True), part(n - 1 - after, n - 1, flip=True)
    elif mode == "replicate":  # the edge element repeated: [1 1 | 1 2 3 4 | 4 4]
        left, right = edge(0, before), edge(n - 1, after)
    else:  # circular, wrapped around: [3 4 | 1 2 3 4 | 1 2]
        left, right = part(n - before, n), part(0, after)
    pieces = [p for p, k in ((left, before), (x, n), (right, after)) if k]
    return pieces[0].cat(*pieces[1:], dim=d) if len(pieces) > 1 else pieces[0]


# ------------------------------------------------------------------------------------------------
# bitcast helpers: IEEE 754 fields from arithmetic
# ------------------------------------------------------------------------------------------------
# Only comparisons, +-1 and multiplications by powers of two are used on the float side: those are exact on every
# device, while exp2 and log2 are not (numpy's float32 exp2, which the PYTHON device runs, is off by an ulp or
# so, and a bitcast must be exact to the last bit).

_FLOAT_LAYOUT = {"float16": (10, 15), "bfloat16": (7, 127), "float32": (23, 127),
                 "float64": (52, 1023)}  # (mantissa bits, bias)
_SIGNED = {1: dtypes.int8, 2: dtypes.int16, 4: dtypes.int32, 8: dtypes.int64}
_UNSIGNED = {1: dtypes.uint8, 2: dtypes.uint16, 4: dtypes.uint32, 8: dtypes.uint64}


def _bitcast_resize(x, target):
    """bitcast between sizes, through the unsigned ints of both sizes. Narrowing splits each element into r
    pieces, lowest bits first ((bits // 2^(w*k)) & (2^w - 1)); widening joins r consecutive pieces
    (sum of piece_k * 2^(w*k), in the wide unsigned type: the pieces don't overlap, so the sum is exact)."""
    source = x.dtype
    if x.ndim == 0:
        raise RuntimeError(f"Tensor.bitcast: a 0-d tensor can't be read as a dtype of another size ({source!r} -> "
                           f"{target!r}); the last axis scales by the ratio, so reshape(1) first (PyTorch says so too)")
    bits, wide = x.bitcast(_UNSIGNED[source.itemsize]), _UNSIGNED[max(source.itemsize, target.itemsize)]
    if source.itemsize > target.itemsize:
        r, width = source.itemsize // target.itemsize, 8 * target.itemsize
        pieces = [(bits.idiv(2 ** (width * k)) & (2**width - 1)).cast(_UNSIGNED[target.itemsize]) for k in range(r)]
        joined = type(x).stack(pieces, dim=-1).reshape(x.shape[:-1] + (x.shape[-1] * r,))
        return joined.bitcast(target)
    r, width, n = target.itemsize // source.itemsize, 8 * source.itemsize, x.shape[-1]
    if n % r:
        raise RuntimeError(f"Tensor.bitcast: the last axis ({n}, shape {x.shape}) must be divisible by {r} to read "
                           f"{source!r} as {target!r} ({r} elements make one); pad or slice it first")
    scale = type(x)(np.array([2 ** (width * k) for k in range(r)], wide.np), device=x.device)
    joined = (bits.reshape(x.shape[:-1] + (n // r, r)).cast(wide) * scale).sum(axis=-1, dtype=wide)
    return joined.bitcast(target)


def _power_steps(bias: int, total: int) -> list[int]:
    """Powers of two, largest first, whose greedy sums reach every exponent 0..total: p, p/2, ..., 1 with the
    largest p <= bias/2 repeated as needed (2^p must be representable, so p stays well below the bias)."""
    p = 1 << ((bias + 1).bit_length() - 2)
    steps = [p >> j for j in range(p.bit_length())]
    while sum(steps) < total:
        steps.insert(0, p)
    return steps


def _float_bits(x, target):
    """float -> int of one size: the sign bit, the biased exponent and the mantissa, computed exactly.

    Normalize a = |x| into [1, 2) by multiplying with 2^-k while a >= 2^k (k = 64, 32, ..., 1 for float32),
    or with 2^k while a < 2^(1-k); the k's add up to e = floor(log2 a). A normal value (e >= 1 - bias) has
    field e + bias and mantissa (a - 1) * 2^mbits; a subnormal has field 0 and mantissa |x| * 2^(bias-1+mbits)
    (two exact steps); inf and NaN have the all-ones field (NaN: the canonical quiet NaN's mantissa)."""
    mbits, bias = _FLOAT_LAYOUT[x.dtype.name]
    work = x.cast(dtypes.float32) if x.dtype.itemsize == 2 else x  # 16-bit floats' fields are exact in float32
    magnitude = work.abs()
    finite_nonzero = (magnitude > 0) & (magnitude < math.inf)
    a = finite_nonzero.where(magnitude, 1.0)
    e = a.zeros_like()
    for k in _power_steps(bias, bias):  # a >= 2: scale down
        big = a >= float(2**k)
        a, e = big.where(a * float(2.0**-k), a), big.where(e + k, e)
    for k in _power_steps(bias, bias - 1 + mbits):  # a < 1: scale up
        small = a < float(2.0 ** (1 - k))
        a, e = small.where(a * float(2**k), a), small.where(e - k, e)
    normal = e >= 1 - bias
    subnormal_mant = finite_nonzero.where(magnitude, 0.0) * float(2 ** (bias - 1)) * float(2**mbits)
    mant = normal.where((a - 1) * float(2**mbits), subnormal_mant)
    field = normal.where(e + bias, 0.0)
    nan, all_ones = work != work, float(2 * bias + 1)
    field = finite_nonzero.where(field, ((magnitude == math.inf) | nan).where(all_ones, 0.0))
    mant = finite_nonzero.where(mant, nan.where(float(2 ** (mbits - 1)), 0.0))
    bits = field.cast(target) * (2**mbits) + mant.cast(target)  # < 2^(bits - 1): no overflow
    # the sign bit, also of -0.0 (1 / -0.0 = -inf); a NaN gets the positive canonical NaN
    negative = ((work < 0) | ((work == 0) & (work.reciprocal() < 0))) & nan.logical_not()
    return negative.where(bits + (-(2 ** (8 * target.itemsize - 1))), bits)


def _bits_float(x, target):
    """int -> float of one size: the sign bit, the exponent field and the mantissa with integer ops, then
    +-(1 + mant / 2^mbits) * 2^(field - bias) (normal: multiply by 2^+-k for each bit k of |field - bias|),
    +-mant * 2^-mbits * 2^(1 - bias) (subnormal), or inf / NaN (the all-ones field)."""
    mbits, bias = _FLOAT_LAYOUT[target.name]
    nbits = 8 * x.dtype.itemsize
    magnitude = x & (2 ** (nbits - 1) - 1)  # without the sign bit
    field, mant = magnitude.idiv(2**mbits), magnitude & (2**mbits - 1)
    work = dtypes.float32 if target.itemsize == 2 else target
    m = mant.cast(work) * float(2.0**-mbits)  # exact: mant < 2^mbits
    exponent = field - bias
    negative_exponent, steps = exponent < 0, exponent.abs()
    normal = m + 1
    for k in _power_steps(bias, bias)[::-1]:  # the bits of |field - bias|: 1, 2, 4, ...
        scale = negative_exponent.where(normal._const(2.0**-k), normal._const(float(2**k)))  # in the work dtype
        normal = ((steps & k) != 0).where(normal * scale, normal)
    subnormal = m * float(2.0 ** (1 - bias))
    special = mant.eq(0).where(math.inf, math.nan)
    value = field.eq(0).where(subnormal, field.eq(2 * bias + 1).where(special, normal))
    return (x < 0).where(-value, value).cast(target)
