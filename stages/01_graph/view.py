"""Views: how movement ops become index arithmetic instead of copies.

A `View(shape, strides, offset, mask)` says where element `idx` of a tensor lives in a flat
buffer:

    address(idx) = offset + sum(idx[i] * strides[i])
    valid(idx)   = all(mask[i][0] <= idx[i] < mask[i][1])     (mask None: always valid)

An invalid element reads as 0 (that is what PAD means) and is never stored. Every movement op
is a cheap rewrite of those four fields:

    permute  reorders shape/strides/mask            expand   stride 0 on the grown axes
    shrink   moves offset forward, clips the mask   pad      moves offset back, adds a mask
    flip     negates a stride, offset to the end    reshape  regroups strides when it can

RESHAPE is the only one that can fail: a transposed or padded array can't always be read as a
new shape with one set of strides. Then a `ShapeTracker` keeps a *stack* of views: the new
view indexes the *previous view's shape* as if it were contiguous, and that view is applied
next. `ShapeTracker.indices()` evaluates the stack with numpy, which is what the tests compare
against real numpy movement ops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Shape = tuple[int, ...]
Mask = tuple[tuple[int, int], ...]


def strides_for_shape(shape: Shape) -> tuple[int, ...]:
    """Row-major strides; size-1 axes get stride 0 (they are never stepped along)."""
    strides, acc = [], 1
    for s in reversed(shape):
        strides.append(acc if s != 1 else 0)
        acc *= s
    return tuple(reversed(strides))


@dataclass(frozen=True)
class View:
    """Where each element of `shape` lives in a flat buffer, and which elements are valid (the module docstring's
    address and valid formulas)."""

    shape: Shape
    strides: tuple[int, ...]
    offset: int = 0
    mask: Mask | None = None

    @staticmethod
    def create(shape: Shape, strides: tuple[int, ...] | None = None, offset: int = 0,
               mask: Mask | None = None) -> View:
        """The canonical form: stride 0 on size-1 axes, no mask when it covers everything, and an
        all-invalid view (some mask range empty) collapsed to strides 0 / offset 0."""
        shape = tuple(int(s) for s in shape)
        if strides is None:
            strides = strides_for_shape(shape)
        strides = tuple(0 if s == 1 else st for s, st in zip(shape, strides))
        if mask is not None:
            mask = tuple((max(0, b), min(s, e)) for (b, e), s in zip(mask, shape))
            if all(b == 0 and e == s for (b, e), s in zip(mask, shape)):  # first: an empty shape's mask is full
                mask = None
            elif any(b >= e for b, e in mask):
                return View(shape, (0,) * len(shape), 0, ((0, 0),) * len(shape))
        return View(shape, strides, offset, mask)

    @property
    def contiguous(self) -> bool:
        return self.offset == 0 and self.mask is None and self.strides == strides_for_shape(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    # ---- the movement ops; each returns a new View -------------------------------------------

    def permute(self, order: tuple[int, ...]) -> View:
        return View.create(tuple(self.shape[a] for a in order), tuple(self.strides[a] for a in order), self.offset,
                           None if self.mask is None else tuple(self.mask[a] for a in order))

    def expand(self, new_shape: Shape) -> View:
        # A size-1 axis grows by reading the same element again: stride 0. Its mask, if it was
        # valid (0,1), becomes valid everywhere (0,new); invalid (0,0) stays invalid.
        mask = None if self.mask is None else tuple(
            m if s == ns or m == (0, 0) else (0, ns) for m, s, ns in zip(self.mask, self.shape, new_shape))
        strides = tuple(st if s == ns else 0 for st, s, ns in zip(self.strides, self.shape, new_shape))
        return View.create(new_shape, strides, self.offset, mask)

    def shrink(self, arg: tuple[tuple[int, int], ...]) -> View:
        # Start later in memory; the old mask, seen from the new origin, is clipped to the new shape.
        offset = self.offset + sum(b * st for (b, _), st in zip(arg, self.strides))
        mask = None if self.mask is None else tuple((mb - b, me - b) for (mb, me), (b, _) in zip(self.mask, arg))
        return View.create(tuple(e - b for b, e in arg), self.strides, offset, mask)

    def pad(self, arg: tuple[tuple[int, int], ...]) -> View:
        # Start earlier in memory (the padding "exists" before the data) and remember, as a mask,
        # which positions are real: [before, before + old size) on each axis.
        old_mask = self.mask or tuple((0, s) for s in self.shape)
        mask = tuple((mb + b, me + b) for (mb, me), (b, _) in zip(old_mask, arg))
        offset = self.offset - sum(b * st for (b, _), st in zip(arg, self.strides))
        return View.create(tuple(s + b + a for s, (b, a) in zip(self.shape, arg)), self.strides, offset, mask)

    def flip(self, axes: tuple[bool, ...]) -> View:
        # Read backwards: start at the last element, negative stride; the mask is mirrored.
        offset = self.offset + sum((s - 1) * st for s, st, f in zip(self.shape, self.strides, axes) if f)
        strides = tuple(-st if f else st for st, f in zip(self.strides, axes))
        mask = None if self.mask is None else tuple(
            (s - me, s - mb) if f else (mb, me) for (mb, me), s, f in zip(self.mask, self.shape, axes))
        return View.create(self.shape, strides, offset, mask)

    def reshape(self, new_shape: Shape) -> View | None:
        """The same elements seen with `new_shape`, or None when one set of strides can't do it."""
        new_shape = tuple(int(s) for s in new_shape)
        if new_shape == self.shape:
            return self
        if self.mask == ((0, 0),) * len(self.shape):  # all invalid stays all invalid, but a mask needs an
            # axis: an invalid scalar (shape ()) is kept as a second view on top of this one
            return View.create(new_shape, mask=((0, 0),) * len(new_shape)) if new_shape else None
        if self.contiguous or 0 in new_shape:
            return View.create(new_shape)
        # Walk both shapes, ignoring size-1 axes, matching groups of old axes to groups of new axes
        # with equal products (numpy's no-copy reshape). A group can merge old axes only if they are
        # laid out contiguously relative to each other, and can involve a masked axis only 1:1.
        masks = self.mask or (None,) * len(self.shape)
        old = [(s, st, m) for s, st, m in zip(self.shape, self.strides, masks) if s != 1]
        new = [i for i, s in enumerate(new_shape) if s != 1]
        strides = [0] * len(new_shape)
        mask = [(0, s) for s in new_shape]
        oi = ni = 0
        while oi < len(old) and ni < len(new):
            op_, oj = old[oi][0], oi + 1
            np_, nj = new_shape[new[ni]], ni + 1
            while op_ != np_:
                if op_ < np_:
                    op_, oj = op_ * old[oj][0], oj + 1
                else:
                    np_, nj = np_ * new_shape[new[nj]], nj + 1
            group = old[oi:oj]
            if any(group[k][1] != group[k + 1][0] * group[k + 1][1] for k in range(len(group) - 1)):
                return None  # e.g. a transposed matrix flattened: no single stride walks it
            masked = [g[2] for g in group if g[2] is not None and g[2] != (0, g[0])]
            if masked and (oj - oi != 1 or nj - ni != 1):
                return None  # splitting or merging a partly-valid axis: needs a second view
            if masked:
                mask[new[ni]] = masked[0]
            stride = group[-1][1]
            for k in range(nj - 1, ni - 1, -1):
                strides[new[k]] = stride
                stride *= new_shape[new[k]]
            oi, ni = oj, nj
        return View.create(new_shape, tuple(strides), self.offset, tuple(mask) if self.mask is not None else None)

    # ---- evaluation ---------------------------------------------------------------------------

    def indices(self) -> tuple[np.ndarray, np.ndarray]:
        """(address, valid) for every position of `shape`, as numpy int64/bool arrays."""
        grids = np.indices(self.shape, dtype=np.int64)
        addr = np.full(self.shape, self.offset, dtype=np.int64)
        valid = np.ones(self.shape, dtype=bool)
        for i, st in enumerate(self.strides):
            addr = addr + grids[i] * st
            if self.mask is not None:
                valid &= (grids[i] >= self.mask[i][0]) & (grids[i] < self.mask[i][1])
        return addr, valid


@dataclass(frozen=True)
class ShapeTracker:
    """A stack of views, oldest first. `views[-1].shape` is the shape seen by the user;
    `views[0]` addresses the buffer. Each later view addresses the previous view's shape as if it
    were a contiguous array."""

    views: tuple[View, ...]

    @staticmethod
    def from_shape(shape: Shape) -> ShapeTracker:
        return ShapeTracker((View.create(shape),))

    @property
    def shape(self) -> Shape:
        return self.views[-1].shape

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def contiguous(self) -> bool:
        return len(self.views) == 1 and self.views[-1].contiguous

    def _replace_last(self, v: View) -> ShapeTracker:
        return ShapeTracker(self.views[:-1] + (v,))

    def permute(self, order) -> ShapeTracker:
        return self._replace_last(self.views[-1].permute(tuple(order)))

    def expand(self, shape) -> ShapeTracker:
        return self._replace_last(self.views[-1].expand(tuple(shape)))

    def shrink(self, arg) -> ShapeTracker:
        return self._replace_last(self.views[-1].shrink(tuple(arg)))

    def pad(self, arg) -> ShapeTracker:
        return self._replace_last(self.views[-1].pad(tuple(arg)))

    def flip(self, axes) -> ShapeTracker:
        return self._replace_last(self.views[-1].flip(tuple(axes)))

    def reshape(self, shape) -> ShapeTracker:
        merged = self.views[-1].reshape(tuple(shape))
        if merged is not None:
            return self._replace_last(merged)
        return ShapeTracker(self.views + (View.create(tuple(shape)),))  # can't merge: push a new view

    def indices(self) -> tuple[np.ndarray, np.ndarray]:
        """(buffer address, valid) for every position of `shape`, composing the stack with numpy."""
        addr, valid = self.views[-1].indices()
        for v in reversed(self.views[:-1]):
            coords = np.unravel_index(np.where(valid, addr, 0), v.shape) if v.shape else ()
            inner_addr, inner_valid = v.indices()
            addr = inner_addr[coords] if v.shape else np.broadcast_to(inner_addr, addr.shape)
            valid = valid & (inner_valid[coords] if v.shape else np.broadcast_to(inner_valid, valid.shape))
        return addr, valid

    def apply(self, flat: np.ndarray) -> np.ndarray:
        """Read a flat buffer through this tracker (invalid positions read as 0)."""
        addr, valid = self.indices()
        safe = np.where(valid, addr, 0)
        out = flat[safe] if flat.size else np.zeros(addr.shape, dtype=flat.dtype)
        return np.where(valid, out, np.zeros((), dtype=flat.dtype))


def apply_movement(st: ShapeTracker, op_name: str, arg) -> ShapeTracker:
    """Apply a movement op by name ("RESHAPE", "PERMUTE", ...) to a ShapeTracker."""
    return getattr(st, op_name.lower())(arg)
