"""Views and ShapeTrackers: movement ops as index arithmetic must read what numpy's copies hold."""

import math

import numpy as np
import pytest
from graph_strategies import movement_chains, shapes
from hypothesis import given
from hypothesis import strategies as st

from shrimpgrad.graph import Ops, ShapeTracker, View, apply_movement, strides_for_shape


def numpy_movement(x: np.ndarray, op: Ops, arg) -> np.ndarray:
    """The same movement op done by numpy (written here, independently of the evaluator)."""
    if op is Ops.RESHAPE:
        return x.reshape(arg)
    if op is Ops.PERMUTE:
        return x.transpose(arg)
    if op is Ops.EXPAND:
        return np.broadcast_to(x, arg)
    if op is Ops.PAD:
        return np.pad(x, arg) if x.ndim else x
    if op is Ops.SHRINK:
        return x[tuple(slice(b, e) for b, e in arg)]
    assert op is Ops.FLIP
    return x[tuple(slice(None, None, -1) if f else slice(None) for f in arg)]


def run_chain(shape, chain) -> tuple[ShapeTracker, np.ndarray]:
    """The tracker after `chain`, and numpy's result on a buffer holding 1, 2, 3, ... (0 marks padding)."""
    st_, x = ShapeTracker.from_shape(shape), np.arange(1, math.prod(shape) + 1).reshape(shape)
    for op, arg in chain:
        st_ = apply_movement(st_, op.name, arg)
        x = numpy_movement(x, op, arg)
    return st_, x


def assert_canonical(v: View) -> None:
    assert len(v.shape) == len(v.strides)
    assert all(st == 0 for s, st in zip(v.shape, v.strides) if s == 1), f"size-1 axes must have stride 0: {v}"
    if v.mask is not None:
        assert len(v.mask) == len(v.shape)
        assert all(0 <= b <= e <= s for (b, e), s in zip(v.mask, v.shape)), f"mask outside the shape: {v}"
        assert any((b, e) != (0, s) for (b, e), s in zip(v.mask, v.shape)), f"a full mask must be None: {v}"
        if any(b == e for b, e in v.mask):  # nothing valid: one canonical all-invalid view
            assert v.strides == (0,) * len(v.shape) and v.offset == 0 and all(b == e == 0 for b, e in v.mask)
    assert View.create(v.shape, v.strides, v.offset, v.mask) == v, "create() of a canonical view changes nothing"


# ---- the main property ---------------------------------------------------------------------------

@given(shapes(min_side=0), st.data())
def test_movement_chain_on_a_tracker_reads_what_numpy_holds(shape, data):
    chain = data.draw(movement_chains(shape, max_size=6))
    tracker, want = run_chain(shape, chain)
    flat = np.arange(1, math.prod(shape) + 1)
    assert tracker.shape == want.shape
    np.testing.assert_array_equal(tracker.apply(flat), want)
    _, valid = tracker.indices()
    np.testing.assert_array_equal(valid, want != 0)  # the mask is exactly the padding
    for v in tracker.views:
        assert_canonical(v)


@given(shapes(min_dims=1), st.data())
def test_reshape_merges_exactly_when_numpy_can_reshape_without_a_copy(shape, data):
    """For an unmasked view, View.reshape succeeds iff numpy can reshape the same strided array in place."""
    order = tuple(data.draw(st.permutations(range(len(shape)))))  # a transpose first makes merging interesting
    transposed = tuple(shape[a] for a in order)
    chain = data.draw(movement_chains(transposed, max_size=3).filter(lambda c: all(op is not Ops.PAD for op, _ in c)))
    tracker, _ = run_chain(shape, [(Ops.PERMUTE, order), *chain])
    view = tracker.views[-1]
    if view.mask is not None:  # a shrink can't mask, but an all-invalid view can
        return
    new_shape = data.draw(st.sampled_from(_reshapes(view.shape)))
    strided = _as_numpy_view(view)
    try:
        np.reshape(strided, new_shape, copy=False)
        numpy_can = True
    except ValueError:
        numpy_can = False
    merged = view.reshape(new_shape)
    assert (merged is not None) == numpy_can, f"{view} -> {new_shape}"
    if merged is not None:
        np.testing.assert_array_equal(ShapeTracker((merged,)).apply(np.arange(_span(view))),
                                      strided.reshape(new_shape))


def _reshapes(shape):
    """Every way to regroup `shape`'s axes into one new shape of the same size, plus a few others."""
    size = math.prod(shape)
    out = {(size,), shape + (1,), (1,) + shape}
    for i in range(len(shape) - 1):
        out.add(shape[:i] + (shape[i] * shape[i + 1],) + shape[i + 2:])
    for i, s in enumerate(shape):
        out |= {shape[:i] + (a, s // a) + shape[i + 1:] for a in range(1, s + 1) if s % a == 0}
    return sorted(out)


def _span(view: View) -> int:
    """A buffer length that every address of an unmasked view falls into."""
    addr, _ = view.indices()
    return int(addr.max()) + 1 if addr.size else 1


def _as_numpy_view(view: View) -> np.ndarray:
    """The numpy array with the view's shape, strides and offset over np.arange (no copy)."""
    base = np.arange(_span(view))
    item = base.itemsize
    return np.lib.stride_tricks.as_strided(base[view.offset:], view.shape, tuple(s * item for s in view.strides))


# ---- when a second view is pushed ----------------------------------------------------------------

def test_transpose_then_flatten_pushes_a_second_view():
    tracker = ShapeTracker.from_shape((2, 3)).permute((1, 0)).reshape((6,))
    assert tracker.views == (View((3, 2), (1, 3)), View((6,), (1,)))
    np.testing.assert_array_equal(tracker.apply(np.arange(6)), np.arange(6).reshape(2, 3).T.reshape(6))


@pytest.mark.parametrize("shape, chain, n_views", [
    ((2, 3), [("PERMUTE", (1, 0)), ("RESHAPE", (3, 1, 2))], 1),  # only adds a size-1 axis
    ((4, 6), [("PERMUTE", (1, 0)), ("RESHAPE", (2, 3, 4))], 1),  # splits the (now outer) axis of 6
    ((4, 6), [("PERMUTE", (1, 0)), ("RESHAPE", (3, 8))], 2),  # 6*4 -> 3*8 mixes the two axes
    ((2, 3), [("PAD", ((1, 1), (0, 0))), ("RESHAPE", (4, 1, 3))], 1),  # the padded axis stays whole
    ((2, 1, 3), [("EXPAND", (2, 5, 3)), ("RESHAPE", (2, 15))], 2),  # the copies (stride 0) then the row
    ((1, 3), [("EXPAND", (4, 3)), ("RESHAPE", (2, 2, 3))], 1),  # splitting an expanded axis: stride 0 twice
])
def test_reshape_pushes_a_view_only_when_one_set_of_strides_cant_do_it(shape, chain, n_views):
    tracker, want = run_chain(shape, [(Ops[op], arg) for op, arg in chain])
    assert len(tracker.views) == n_views
    np.testing.assert_array_equal(tracker.apply(np.arange(1, math.prod(shape) + 1)), want)


def test_padded_axis_split_or_merged_pushes_a_second_view():
    padded = ShapeTracker.from_shape((2, 3)).pad(((0, 0), (1, 1)))
    assert len(padded.reshape((10,)).views) == 2  # merging a masked axis
    assert len(padded.reshape((2, 5, 1)).views) == 1  # keeping it whole


@given(shapes(), st.data())
def test_reshapes_of_a_contiguous_array_never_push(shape, data):
    chain = data.draw(movement_chains(shape, max_size=4).filter(
        lambda c: all(op is Ops.RESHAPE for op, _ in c)))
    tracker, _ = run_chain(shape, chain)
    assert len(tracker.views) == 1 and tracker.contiguous


# ---- View basics -----------------------------------------------------------------------------------

def test_strides_for_shape_and_create():
    assert strides_for_shape((2, 1, 3)) == (3, 0, 1)
    assert View.create((2, 3)) == View((2, 3), (3, 1), 0, None)
    assert View.create((2, 3), mask=((0, 2), (0, 3))).mask is None  # a full mask is no mask
    empty = View.create((2, 3), (3, 1), 5, ((1, 1), (0, 3)))
    assert empty == View((2, 3), (0, 0), 0, ((0, 0), (0, 0)))  # nothing valid: one canonical form


def test_flip_is_a_negative_stride_from_the_end():
    v = View.create((2, 3)).flip((False, True))
    assert v == View((2, 3), (3, -1), 2, None)
    np.testing.assert_array_equal(ShapeTracker((v,)).apply(np.arange(6)), np.arange(6).reshape(2, 3)[:, ::-1])


def test_pad_then_shrink_moves_the_mask():
    v = View.create((3,)).pad(((2, 1),))
    assert v == View((6,), (1,), -2, ((2, 5),))
    assert v.shrink(((1, 4),)) == View((3,), (1,), -1, ((1, 3),))
    assert v.shrink(((2, 5),)) == View((3,), (1,), 0, None)  # back to exactly the data: no mask
