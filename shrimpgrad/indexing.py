"""Indexing and joining for `Tensor` (mixed into it): `t[...]`, `t[...] = v`, gather, cat, stack, split, chunk.

Everything here is written with the Tensor's public movement ops (shrink, flip, pad, reshape,
permute, expand) and a few elementwise ops and reductions, so indexing never copies data by itself:
it only builds views and (for tensor indices) one fused compare-and-sum.

Required from the core Tensor (shrimpgrad/tensor.py): the constructor, `shape`, `ndim`, `dtype`, `device`; from
the other mixins the views and `_broadcast_to` (movement.py), `where`, `cast`, `==`, `&`, `|` (elementwise.py),
`sum` and `max` (reduce.py), `arange` and `ones` (creation.py), `assign` (lifecycle.py: `t[...] = v` writes t's
buffer) and `numpy` (a boolean mask is read on the host).

How `t[idx]` works, top-down (numpy semantics):

1. **Parse** (`_parse_index`): expand `...`, pad missing entries with `:`, replace each boolean mask by
   the index arrays of its True positions, turn lists into index Tensors, check ints and index values
   against the axis sizes (`check_index_values`). Each entry
   becomes one `_Entry` saying what it does to one axis: keep the range `[start, stop)` every
   `step`-th element (`int`, `slice`), make a new axis of size 1 (`None`), or pick by an index
   tensor (`tensor`, the axis is kept whole for now).
2. **Basic indexing is a view** (`_basic_view`): SHRINK to the ranges, FLIP the axes with a negative
   step, take every n-th element (`_every_nth`: PAD to a multiple of n, RESHAPE to (size/n, n),
   SHRINK to (size/n, 1)), then one RESHAPE that drops the int axes and inserts the None axes.

       t = Tensor.arange(10);  t[7:1:-3]               # numpy: [7, 4]
       shrink ((4, 8),)          -> [4 5 6 7]          (the kept elements are 4 and 7)
       flip                      -> [7 6 5 4]
       pad to 6 = 2*3, reshape   -> [[7 6 5] [4 0 0]]
       shrink to column 0        -> [[7] [4]] -> reshape (2,) -> [7 4]

3. **Tensor indices are a one-hot compare and a sum** (`_advanced_index`): for an index tensor `i`
   on axis `d` of size n, `(i[..., None] == arange(n))` is a one-hot mask; several index tensors
   broadcast together and their masks are and-ed. `mask.where(x, 0).sum(d)` then picks one element
   per output position. As in PyTorch, the broadcast index dimensions replace the indexed axes in place
   when the index tensors sit on neighbouring axes of the view (ints have already dropped their axes
   by then, as PyTorch applies them first), and go first otherwise.

`t[idx] = v` runs the same parse, then writes `v` through the *inverse* of the view
(`_basic_unview`: pad what was shrunk, flip back, spread every n-th element out again) together with
a bool mask of the written elements, and assigns `mask.where(v_spread, t)` to `t`'s buffer. For tensor
indices, repeated positions keep the last value written, as numpy does in practice.

Mapping to tinygrad: this is tinygrad's `Tensor._getitem` / `__setitem__` / `gather` / `cat` / `split`
algorithm. Simplified: no symbolic shapes, no DISK tensors. Boolean masks (`t[t > 0]`, `t[mask] = 0`) mean
the index arrays of their True positions, as in PyTorch and numpy: the mask is realized and read on the host
(the result's size depends on it), then indexes like integer tensors. Where the broadcast
dims go follows PyTorch (and tinygrad), which differs from numpy when an int sits between index tensors
and slices: `t[0, :, [0, 1]]` of a (2, 3, 4) tensor is (3, 2) here and in PyTorch, (2, 3) in numpy.
Different: index tensors are read to check their values (tinygrad would pick zeros for an out-of-range
index), and setitem works for any index including slices mixed with tensor indices. `cat` and `stack`
also take one list of tensors and promote mixed dtypes, as PyTorch's do; errors have PyTorch's types.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from typing import Any, NamedTuple

import numpy as np

from shrimpgrad.checks import DTypeError, IndexOutOfBounds, ShapeError, _broadcast_shape, _is_int, _resolve_dim
from shrimpgrad.graph import dtypes, promote
from shrimpgrad.realize import buffer_value

# ------------------------------------------------------------------------------------------------
# Parsing an index
# ------------------------------------------------------------------------------------------------


class _Entry(NamedTuple):
    """What one entry of an index does to one axis (or, for None, to a new axis of size 1).

    `int` and `slice` entries keep `[start, stop)` of the axis, every `|step|`-th element, reversed
    when `step < 0` (start/stop are the *ascending* bounds of the kept elements). `tensor` keeps the
    whole axis and picks with `index`. `size` is the axis size after the basic view (before tensor
    picking); an `int` entry's axis is dropped after the view.

    A NamedTuple, like _Advanced: an immutable private record, which Python makes in ~0.06 ms where a frozen
    dataclass takes ~0.5 ms, when this module is imported (with every `import shrimpgrad`, issue 12's W7)."""

    kind: str  # "int" | "slice" | "none" | "tensor"
    start: int = 0
    stop: int = 1
    step: int = 1
    size: int = 1
    index: Any = None  # the index Tensor, for kind "tensor" (negative values already wrapped)


def _is_bool_like(ix) -> bool:
    return isinstance(ix, (bool, np.bool_)) or (isinstance(ix, np.ndarray) and ix.dtype == np.bool_)


def _index_tuple(indices) -> list:
    """The index as a list of entries: `t[1]` -> [1], `t[1, :]` -> [1, slice], `t[[1, 2]]` -> [[1, 2]]."""
    return list(indices) if isinstance(indices, tuple) else [indices]


def _bool_mask(tensor_cls, ix) -> np.ndarray | None:
    """A boolean mask index (a bool Tensor, array or nested list of bools, at least 1-d) as a numpy array (a Tensor
    is realized: the result's size depends on the mask); None for any other index."""
    if isinstance(ix, tensor_cls):
        return ix.numpy() if ix.dtype == dtypes.bool and ix.ndim else None
    if isinstance(ix, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(ix)
        except ValueError:  # ragged lists: _index_array reports them
            return None
        return arr if arr.dtype == np.bool_ and arr.ndim else None
    return None


def _parse_index(tensor_cls, shape: tuple[int, ...], indices, method: str, device: str) -> list[_Entry]:
    """Check an index against `shape` and describe it axis by axis (see `_Entry`); list indices become Tensors
    on `device` (the indexed tensor's). A k-d bool mask stands for the k index arrays of its nonzero() (numpy's
    and PyTorch's definition), so it becomes k tensor entries."""
    items = _index_tuple(indices)
    masks = [_bool_mask(tensor_cls, ix) for ix in items]
    n_ellipsis = sum(1 for ix in items if ix is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError(f"Tensor.{method}: an index can only have a single ellipsis ('...'), got {indices!r}")
    n_axes = sum(m.ndim if m is not None else 1 for ix, m in zip(items, masks) if ix is not None and ix is not Ellipsis)
    if n_axes > len(shape):
        raise IndexError(f"Tensor.{method}: too many indices for a tensor of shape {shape}: {n_axes} were given "
                         f"but it has {len(shape)} dimension(s); use at most {len(shape)}, or reshape the tensor first")
    fill = next((i for i, ix in enumerate(items) if ix is Ellipsis), len(items))
    items[fill:fill + n_ellipsis] = [slice(None)] * (len(shape) - n_axes)
    masks[fill:fill + n_ellipsis] = [None] * (len(shape) - n_axes)
    items = _expand_masks(items, masks, shape, method)

    entries, axis = [], 0
    for ix in items:
        if ix is None:
            entries.append(_Entry("none"))
            continue
        size = shape[axis]
        entries.append(_parse_one(tensor_cls, ix, axis, size, shape, method, device))
        axis += 1
    return entries


def _expand_masks(items: list, masks: list, shape: tuple[int, ...], method: str) -> list:
    """Each bool mask replaced by the int index arrays of its True positions, one per axis it covers; the mask
    must have the shape of those axes."""
    out, axis = [], 0
    for ix, mask in zip(items, masks):
        if mask is None:
            out.append(ix)
            axis += ix is not None
            continue
        covered = shape[axis:axis + mask.ndim]
        if mask.shape != covered:
            raise IndexError(f"Tensor.{method}: the boolean mask of shape {mask.shape} doesn't match the axes "
                             f"{axis}..{axis + mask.ndim - 1} it indexes (sizes {covered}, tensor shape {shape})")
        out.extend(coords.astype(np.int32) for coords in np.nonzero(mask))
        axis += mask.ndim
    return out


def _parse_one(tensor_cls, ix, axis: int, size: int, shape: tuple[int, ...], method: str, device: str) -> _Entry:
    where = f"axis {axis} of size {size} (tensor shape {shape})"
    if _is_bool_like(ix) or (isinstance(ix, tensor_cls) and ix.dtype == dtypes.bool):  # 1-d+ masks were expanded
        raise IndexError(f"Tensor.{method}: a 0-d boolean index (True/False) is not supported; index with None to "
                         f"add an axis, or use a mask of at least 1 dim")
    if isinstance(ix, slice):
        for part in (ix.start, ix.stop, ix.step):
            if part is not None and not _is_int(part):
                raise TypeError(f"Tensor.{method}: slice bounds must be ints or None, got {ix!r} for {where}")
        if ix.step == 0:
            raise ValueError(f"Tensor.{method}: slice step cannot be zero ({ix!r} for {where})")
        start, stop, step = ix.indices(size)
        n = len(range(start, stop, step))
        if n == 0:
            return _Entry("slice", 0, 0, 1, 0)
        last = start + (n - 1) * step
        lo, hi = (start, last + 1) if step > 0 else (last, start + 1)
        return _Entry("slice", lo, hi, step, n)
    if _is_int(ix):
        i = operator.index(ix)
        if not -size <= i < size:
            raise IndexError(f"Tensor.{method}: index {i} is out of range for {where}; valid indices are "
                             f"{-size}..{size - 1}")
        i = i + size if i < 0 else i
        return _Entry("int", i, i + 1, 1, 1)
    if isinstance(ix, (list, tuple, np.ndarray)):
        ix = tensor_cls(_index_array(ix, where, method), device=device)
    if isinstance(ix, tensor_cls):
        if not ix.dtype.is_int:
            raise IndexError(f"Tensor.{method}: index tensors must have an integer dtype, got {ix.dtype!r} "
                             f"for {where}")
        check_index_values(ix, -size, size, f"index {{}} is out of range for {where}; valid indices are "
                           f"{-size}..{size - 1}", method)
        # negative indices count from the end, as for ints
        return _Entry("tensor", 0, size, 1, size, (ix < 0).where(ix + size, ix))
    raise IndexError(f"Tensor.{method}: can't index with {type(ix).__name__} ({ix!r}); use ints, slices, None, "
                     f"..., lists of ints or integer Tensors")


def _index_array(ix, where: str, method: str) -> np.ndarray:
    """A list/array index as an int32 array (an empty list is an empty int index, as in numpy)."""
    arr = np.asarray(ix)
    if arr.size == 0:
        arr = arr.astype(np.int32)
    if arr.dtype == np.bool_:  # (a list of bools is a mask: expanded before this)
        raise IndexError(f"Tensor.{method}: a list mixing bools and other values is not a valid index ({ix!r})")
    if not np.issubdtype(arr.dtype, np.integer):
        raise IndexError(f"Tensor.{method}: index lists must hold ints, got {ix!r} for {where}")
    return arr.astype(np.int32)


def check_index_values(ix, lo: int, hi: int, problem: str, method: str, allowed: int | None = None,
                       error: type[Exception] = IndexError) -> None:
    """Raise `error` unless every value of the int Tensor `ix` is in [lo, hi) (or equals `allowed`).

    An index picks with a one-hot compare, which would silently read 0 for an out-of-range value, so
    the values are checked here, at the user's call. That reads them: a lazily computed index tensor is
    realized now (once: it keeps its buffer), which tinygrad doesn't do. `problem` is formatted with
    the first bad value."""
    def check(values: np.ndarray) -> None:
        bad = (values < lo) | (values >= hi)
        if allowed is not None:
            bad &= values != allowed
        if bad.any():
            raise error(f"Tensor.{method}: " + problem.format(int(values[bad].flat[0])))

    ix.realize()
    check(buffer_value(ix.node.arg, check))  # `check` again on every TinyJit replay, with the new values


# ------------------------------------------------------------------------------------------------
# Basic indexing: a view, and its inverse (for setitem)
# ------------------------------------------------------------------------------------------------


def _every_nth(x, steps: tuple[int, ...]):
    """Keep elements 0, n, 2n, ... of each axis (n = steps[axis]) with views only.

    Example, one axis of size 5, n = 2: pad to 6 -> reshape (3, 2) -> shrink to (3, 1) -> reshape (3,):
    rows are [x0 x1] [x2 x3] [x4 0]; the first column is [x0 x2 x4]."""
    if all(n == 1 for n in steps):
        return x
    kept = tuple(-(-s // n) for s, n in zip(x.shape, steps))  # ceil(s / n)
    x = x.pad(tuple((0, k * n - s) for s, k, n in zip(x.shape, kept, steps)))
    x = x.reshape(tuple(itertools.chain.from_iterable(zip(kept, steps))))
    x = x.shrink(tuple(itertools.chain.from_iterable(((0, k), (0, 1)) for k in kept)))
    return x.reshape(kept)


def _spread_every_nth(x, steps: tuple[int, ...], sizes: tuple[int, ...]):
    """The inverse of `_every_nth`: put element k of each axis at position k*n of an axis of `sizes`,
    zeros between. Example: [a b c], n = 2, size 5 -> reshape (3, 1) -> pad (3, 2) -> [a 0 b 0 c]."""
    if all(n == 1 for n in steps):
        return x
    x = x.reshape(tuple(itertools.chain.from_iterable((k, 1) for k in x.shape)))
    x = x.pad(tuple(itertools.chain.from_iterable(((0, 0), (0, n - 1)) for n in steps)))
    x = x.reshape(tuple(k * n for k, n in zip(x.shape[::2], steps)))
    return x.shrink(tuple((0, s) for s in sizes))


def _basic_view(x, entries: list[_Entry]):
    """Apply the int/slice/None part of an index: shrink, flip, every n-th, one reshape."""
    axes = [e for e in entries if e.kind != "none"]
    x = x.shrink(tuple((e.start, e.stop) for e in axes))
    if flipped := tuple(i for i, e in enumerate(axes) if e.step < 0):
        x = x.flip(flipped)
    x = _every_nth(x, tuple(abs(e.step) for e in axes))
    return x.reshape(tuple(e.size for e in entries if e.kind != "int"))


def _basic_unview(v, entries: list[_Entry], shape: tuple[int, ...]):
    """Undo `_basic_view`: a tensor of `shape` holding `v` where the view reads and zeros elsewhere."""
    axes = [e for e in entries if e.kind != "none"]
    v = v.reshape(tuple(e.size for e in axes))
    v = _spread_every_nth(v, tuple(abs(e.step) for e in axes), tuple(e.stop - e.start for e in axes))
    if flipped := tuple(i for i, e in enumerate(axes) if e.step < 0):
        v = v.flip(flipped)
    return v.pad(tuple((e.start, s - e.stop) for e, s in zip(axes, shape)))


# ------------------------------------------------------------------------------------------------
# Advanced (tensor) indexing: one-hot masks
# ------------------------------------------------------------------------------------------------


def _broadcast_to(t, shape: tuple[int, ...], what: str):
    """`t` broadcast to `shape` (numpy rules: each axis of t, aligned from the right, is 1 or the size), or a
    ShapeError naming `what`."""
    shape = tuple(shape)
    fits = len(t.shape) <= len(shape) and all(s in (1, n) for s, n in zip(t.shape[::-1], shape[::-1]))
    if not fits:
        raise ShapeError(f"{what}: can't broadcast shape {t.shape} to {shape}")
    return t._broadcast_to(shape)


class _Advanced(NamedTuple):
    """The tensor-index part of an index, in terms of the basic view `x` it applies to.

    `dims` are the axes of x picked by index tensors, `batch` is the broadcast shape of those
    tensors, `to_front` says whether the batch dims go first in the result (numpy's rule).
    (A NamedTuple: see _Entry.)"""

    dims: tuple[int, ...]
    batch: tuple[int, ...]
    to_front: bool
    mask: Any  # bool, shape x.shape[:dims[0]] + batch + x.shape[dims[0]:] (broadcastable), the one-hot pick

    @property
    def first(self) -> int:
        return self.dims[0]

    def batch_axes(self) -> tuple[int, ...]:
        """Where the batch dims sit in the mask's (pre-reduce) shape."""
        return tuple(range(self.first, self.first + len(self.batch)))

    def result_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        rest = tuple(s for d, s in enumerate(x_shape) if d not in self.dims)
        return self.batch + rest if self.to_front else rest[:self.first] + self.batch + rest[self.first:]


def _advanced_part(x, entries: list[_Entry], method: str) -> _Advanced | None:
    view_entries = [e for e in entries if e.kind != "int"]  # one per axis of x
    dims = tuple(d for d, e in enumerate(view_entries) if e.kind == "tensor")
    if not dims:
        return None
    tensors = [view_entries[d].index for d in dims]
    batch = _broadcast_shape(method, *(t.shape for t in tensors), what="the index tensors: shapes",
                             error=IndexError)  # (numpy's and PyTorch's type here)
    # PyTorch: index tensors on axes next to each other (in the view, after ints dropped their axes and None
    # added its own) replace those axes in place; otherwise the batch dims go first. numpy also counts ints as
    # advanced indices here, so x[0, :, [0, 1]] of a (2, 3, 4) tensor is (3, 2) in PyTorch, (2, 3) in numpy.
    to_front = dims[-1] - dims[0] + 1 != len(dims)
    first, tail = dims[0], x.ndim - dims[0]
    mask = None
    for d, t in zip(dims, tensors):
        # the index value at each batch position, compared with every position 0..n-1 of axis d; in the mask's
        # layout x.shape[:first] + batch + x.shape[first:], axis d of x sits at len(batch) + d
        n = x.shape[d]
        idx = t.reshape((1,) * (first + len(batch) - t.ndim) + t.shape + (1,) * tail)
        positions = type(x).arange(n, device=x.device).reshape((1,) * (len(batch) + d) + (n,) + (1,) * (x.ndim - d - 1))
        one_hot = idx == positions
        mask = one_hot if mask is None else mask & one_hot
    return _Advanced(dims, batch, to_front, mask)


def _advanced_index(x, adv: _Advanced):
    """Pick with the one-hot mask: out[..., b, ...] = x[..., i(b), ...] (a masked sum over the picked axes)."""
    first, nb = adv.first, len(adv.batch)
    x_b = x.reshape(x.shape[:first] + (1,) * nb + x.shape[first:])
    out = adv.mask.where(x_b, 0).sum(axis=tuple(d + nb for d in adv.dims)).cast(x.dtype)
    if adv.to_front:  # batch dims first, then the rest in order
        out = out.permute(tuple(range(first, first + nb)) + tuple(range(first)) + tuple(range(first + nb, out.ndim)))
    return out


def _advanced_write(x, adv: _Advanced, value):
    """For setitem: (new values, written mask), both of x's shape. `value` has the getitem result's shape.

    Each written position of x takes the value of the *last* batch position that picks it: number the
    batch positions 1..N, keep the largest number that picks each position (a max-reduce), and sum the
    values where the mask and that number agree (exactly one term)."""
    if math.prod(adv.batch) == 0:  # an empty index (e.g. an all-False mask) writes nothing
        return x, type(x).full(x.shape, False, dtype=dtypes.bool, device=x.device)
    first, nb = adv.first, len(adv.batch)
    if adv.to_front:  # back to the in-place order: x.shape[:first] + batch + rest
        value = value.permute(tuple(range(nb, nb + first)) + tuple(range(nb)) + tuple(range(nb + first, value.ndim)))
    # put size-1 axes where the picked axes of x are, so value lines up with the mask
    shape_1 = list(value.shape)
    for d in adv.dims:
        shape_1.insert(d + nb, 1)
    value = value.reshape(tuple(shape_1))
    tensor_cls = type(x)
    numbers = (tensor_cls.arange(math.prod(adv.batch), device=x.device) + 1).reshape((1,) * first + adv.batch
                                                                                      + (1,) * (x.ndim - first))
    pick = adv.mask.where(numbers, 0)
    last = pick.max(axis=adv.batch_axes(), keepdim=True)
    winner = adv.mask & (numbers == last)
    new = winner.where(value, 0).sum(axis=adv.batch_axes()).cast(x.dtype)
    written = (last > 0).reshape(tuple(s for i, s in enumerate(last.shape) if i not in adv.batch_axes()))
    return _broadcast_to(new, x.shape, "setitem"), _broadcast_to(written, x.shape, "setitem")


# ------------------------------------------------------------------------------------------------
# The mixin
# ------------------------------------------------------------------------------------------------


def _first_of(tensors, args: tuple, method: str):
    """The first tensor of `Tensor.cat([a, b])` / `Tensor.stack([a, b])` (PyTorch's list form), checked."""
    if not tensors:
        raise RuntimeError(f"Tensor.{method}: expects a non-empty list of tensors")
    if args:
        raise TypeError(f"Tensor.{method}: give the tensors either as one list or as separate arguments, not both")
    if not hasattr(tensors[0], "shape") or not hasattr(tensors[0], method):
        raise TypeError(f"Tensor.{method}: argument 0 is a {type(tensors[0]).__name__}, not a Tensor")
    return tensors[0]


class IndexingMixin:
    """`__getitem__`, `__setitem__`, `gather`, `cat`, `stack`, `split`, `chunk` (tinygrad's names and semantics)."""

    def __getitem__(self, indices):
        """numpy-style indexing: ints (negative too), slices with any step, None, ..., and integer Tensors or
        lists (advanced indexing, broadcast together). Basic indexing is a view; see the module docstring."""
        entries = _parse_index(type(self), self.shape, indices, "__getitem__", self.device)
        x = _basic_view(self, entries)
        adv = _advanced_part(x, entries, "__getitem__")
        return x if adv is None else _advanced_index(x, adv)

    def __setitem__(self, indices, value) -> None:
        """`t[idx] = value`: write a Tensor or scalar (broadcast, cast to t's dtype) into `t`'s buffer.

        Computed as `written.where(value_spread_out, t)` and assigned to t (see the module docstring)."""
        tensor_cls = type(self)
        if not isinstance(value, tensor_cls):
            if not isinstance(value, (int, float, bool, list, tuple, np.ndarray, np.generic)):
                raise TypeError(f"Tensor.__setitem__: can't assign a {type(value).__name__}; use a Tensor, a scalar, "
                                f"or a (nested) list of numbers")
            value = tensor_cls(value, dtype=self.dtype, device=self.device)
        entries = _parse_index(tensor_cls, self.shape, indices, "__setitem__", self.device)
        x = _basic_view(self, entries)
        adv = _advanced_part(x, entries, "__setitem__")
        result_shape = x.shape if adv is None else adv.result_shape(x.shape)
        what = f"Tensor.__setitem__: value of shape {value.shape} for the indexed region of shape {result_shape}"
        value = _broadcast_to(value.cast(self.dtype), result_shape, what)
        if adv is None:
            new, written = value, tensor_cls.ones(x.shape, dtype=dtypes.bool, device=self.device)
        else:
            new, written = _advanced_write(x, adv, value)
        written = _basic_unview(written, entries, self.shape)
        self.assign(written.where(_basic_unview(new, entries, self.shape), self))

    def gather(self, dim: int, index):
        """out[i][j][k] = self[index[i][j][k]][j][k] for dim=0 (and so on): `index` has self's ndim, and
        index.shape[d] <= self.shape[d] for d != dim. The result has index's shape.

        A one-hot compare of `index` with arange(self.shape[dim]), then a masked sum (like tinygrad)."""
        tensor_cls = type(self)
        if not isinstance(index, tensor_cls):
            raise TypeError(f"Tensor.gather: index must be an integer Tensor, got {index!r}")
        if not index.dtype.is_int:
            raise DTypeError(f"Tensor.gather: index must be an integer Tensor, got {index.dtype!r}")
        dim = _resolve_dim(dim, self.ndim, "gather")
        if index.ndim != self.ndim or any(i > s for d, (s, i) in enumerate(zip(self.shape, index.shape)) if d != dim):
            raise ShapeError(f"Tensor.gather: index of shape {index.shape} doesn't fit self of shape {self.shape} "
                             f"along dim={dim}: it needs {self.ndim} dims and index.shape[d] <= self.shape[d] "
                             f"for every d != {dim}")
        n = self.shape[dim]
        check_index_values(index, 0, n, f"index {{}} is out of range for dim {dim} of size {n} (shape {self.shape}); "
                           f"valid indices are 0..{n - 1}", "gather", error=IndexOutOfBounds)
        x = self.shrink(tuple((0, n) if d == dim else (0, i) for d, i in enumerate(index.shape)))
        # move `dim` to a new last axis (size n) and leave a 1 in its place, to line up with index[..., None]
        order = tuple(d for d in range(self.ndim) if d != dim) + (dim,)
        x = x.permute(order).reshape(tuple(1 if d == dim else s for d, s in enumerate(x.shape)) + (n,))
        one_hot = index.reshape(index.shape + (1,)) == tensor_cls.arange(n, device=self.device)
        return one_hot.where(x, 0).sum(axis=-1).cast(self.dtype)

    def cat(self, *args, dim: int = 0):
        """Join tensors along an existing dim: `a.cat(b, c, dim=1)` or `Tensor.cat(a, b, c, dim=1)`; mixed dtypes
        are promoted (as by `+`, like PyTorch's cat).

        Each tensor is zero-padded to the full length along `dim` at its offset; the padded views are added."""
        if isinstance(self, (list, tuple)):  # PyTorch's form: Tensor.cat([a, b, c], dim=1)
            return _first_of(self, args, "cat").cat(*self[1:], *args, dim=dim)
        tensor_cls = type(self)
        tensors = (self, *args)
        for i, t in enumerate(tensors):
            if not isinstance(t, tensor_cls):
                raise TypeError(f"Tensor.cat: argument {i} is a {type(t).__name__}, not a Tensor")
        dim = _resolve_dim(dim, self.ndim, "cat")
        if self.ndim == 0:
            raise ShapeError("Tensor.cat: zero-dimensional tensors can't be concatenated; use Tensor.stack")
        for i, t in enumerate(tensors):
            if t.ndim != self.ndim or any(a != b for d, (a, b) in enumerate(zip(t.shape, self.shape)) if d != dim):
                raise ShapeError(f"Tensor.cat: shapes {[x.shape for x in tensors]} can't be joined along dim "
                                 f"{dim}: tensor {i} differs from tensor 0 outside dim {dim}; give them equal "
                                 f"sizes in every other dim (reshape, pad or shrink), or use the dim where they "
                                 f"differ")
        dtype = promote(*(t.dtype for t in tensors))
        tensors = tuple(t.cast(dtype) for t in tensors)
        offsets = list(itertools.accumulate((t.shape[dim] for t in tensors), initial=0))
        total = offsets[-1]
        padded = [t.pad(tuple((o, total - o - t.shape[dim]) if d == dim else (0, 0) for d in range(t.ndim)))
                  for t, o in zip(tensors, offsets)]
        combine = operator.or_ if dtype == dtypes.bool else operator.add
        return functools.reduce(combine, padded)

    def stack(self, *args, dim: int = 0):
        """Join tensors of one shape along a new dim: `Tensor.stack(a, b, dim=0)` (or PyTorch's
        `Tensor.stack([a, b], dim=0)`) has shape (2, *a.shape)."""
        if isinstance(self, (list, tuple)):
            return _first_of(self, args, "stack").stack(*self[1:], *args, dim=dim)
        tensors = (self, *args)
        for i, t in enumerate(tensors):
            if not isinstance(t, type(self)):
                raise TypeError(f"Tensor.stack: argument {i} is a {type(t).__name__}, not a Tensor")
        if len({t.shape for t in tensors}) > 1:
            raise ShapeError(f"Tensor.stack: all tensors need the same shape, got {[t.shape for t in tensors]}")
        dim = _resolve_dim(dim, self.ndim + 1, "stack")
        unsqueezed = [t.reshape(t.shape[:dim] + (1,) + t.shape[dim:]) for t in tensors]
        return unsqueezed[0].cat(*unsqueezed[1:], dim=dim)

    def split(self, sizes, dim: int = 0) -> tuple:
        """Views of consecutive pieces along `dim`: an int gives pieces of that size (the last may be smaller),
        a list gives the size of each piece (they must sum to the dim's size)."""
        dim = _resolve_dim(dim, self.ndim, "split")
        n = self.shape[dim]
        if _is_int(sizes):
            if sizes <= 0:
                raise ShapeError(f"Tensor.split: piece size must be positive, got {sizes}")
            sizes = [min(sizes, n - i) for i in range(0, n, sizes)] or [0]
        sizes = list(sizes)
        if any(not _is_int(s) or s < 0 for s in sizes) or sum(sizes) != n:
            raise ShapeError(f"Tensor.split: sizes {sizes} must be non-negative ints summing to {n}, the size of "
                             f"dim {dim} of shape {self.shape}")
        starts = itertools.accumulate(sizes, initial=0)
        return tuple(self.shrink(tuple((s, s + k) if d == dim else (0, full) for d, full in enumerate(self.shape)))
                     for s, k in zip(starts, sizes))

    def chunk(self, chunks: int, dim: int = 0) -> list:
        """`chunks` pieces of (nearly) equal size along `dim`, as views; the last may be smaller, and there may
        be fewer than `chunks` pieces when the dim is small (torch's rule: piece size = ceil(n / chunks))."""
        if not _is_int(chunks) or chunks <= 0:
            raise ShapeError(f"Tensor.chunk: chunks must be a positive int, got {chunks!r}")
        dim = _resolve_dim(dim, self.ndim, "chunk")
        n = self.shape[dim]
        return list(self.split(-(-n // chunks) if n else [0] * chunks, dim=dim))
