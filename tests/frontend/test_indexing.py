"""IndexingMixin against numpy: t[...] (basic, advanced and boolean masks; where the advanced-index dims go
follows PyTorch, checked with numpy in two steps, see torch_steps), t[...] = v, gather, cat, stack (also of a
list), split, chunk, their errors, and gradients of getitem / cat / gather against finite differences."""

import itertools

import numpy as np
import pytest
from gradcheck import finite_difference_check
from hypothesis import given
from hypothesis import strategies as st

from shrimpgrad import Tensor, dtypes
from shrimpgrad.graph import MOVEMENT, Ops

X = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5) - 20.0


def torch_steps(index) -> tuple[tuple, tuple]:
    """PyTorch's rule for where advanced-index dims go, as two numpy steps: PyTorch applies ints, slices and None
    first (basic indexing: a numpy view), then the index arrays on the remaining axes, where numpy's rule (with
    no ints left) is PyTorch's. So `a[basic][advanced]` is PyTorch's `a[index]`, and `a[basic][advanced] = v`
    writes through the view."""
    items = list(index) if isinstance(index, tuple) else [index]
    is_array = [isinstance(ix, (list, tuple, np.ndarray, Tensor)) for ix in items]
    # (a k-d boolean mask covers k axes)
    basic = tuple(itertools.chain.from_iterable(
        [slice(None)] * (np.ndim(ix) if np.asarray(ix).dtype == np.bool_ else 1) if arr else [ix]
        for ix, arr in zip(items, is_array)))
    advanced = tuple(ix if arr or ix is Ellipsis else slice(None) for ix, arr in zip(items, is_array)
                     if arr or not isinstance(ix, (int, np.integer)))
    return basic, advanced


def torch_index(a: np.ndarray, index) -> np.ndarray:
    basic, advanced = torch_steps(index)
    return a[basic][advanced]

# ------------------------------------------------------------------------------------------------
# getitem: worked cases
# ------------------------------------------------------------------------------------------------

BASIC_CASES = [
    1, -1, -3, (1, 2), (-1, -2, -3), (1, 2, 3),
    slice(None), slice(1, 3), slice(-2, None), slice(None, None, 2), slice(None, None, -1), slice(2, 0, -1),
    (slice(None), slice(None, None, -2)), (slice(None), slice(3, 0, -2), slice(1, None, 3)),
    (slice(7, 1, -3),), (slice(None), slice(1, 100)), (slice(-100, 100, 4),), (slice(3, 1),),
    None, (None, 1), (1, None, 2), (None, Ellipsis, None), (Ellipsis, 1), (Ellipsis, None, -1), (1, Ellipsis),
    (1, Ellipsis, 2), (Ellipsis,), (slice(None), None, slice(None, None, -3), None),
    (0, slice(None, None, 3), slice(4, None, -2)),
]


@pytest.mark.parametrize("index", BASIC_CASES, ids=repr)
def test_getitem_basic_matches_numpy(index):
    np.testing.assert_array_equal(Tensor(X)[index].numpy(), X[index])


ADVANCED_CASES = [
    [0, 2], [-1, 0, -1], [[0, 1], [2, 2]], np.array([2, 0]), (slice(None), [1, 3]), (slice(None), [1, 3], [0, 4]),
    ([0, 2], slice(None), [1, 0]), ([[0], [2]], [1, 3]), (Ellipsis, [4, 0, 1]), (1, [0, 3]), ([1, 2], 0),
    (0, slice(None), [0, 1]), (slice(None), 0, [0, 1]), ([0, 1], slice(None), 0), (None, [2, 1], None, slice(None, 2)),
    (slice(None, None, -1), [3, 0]), ([0, 2], slice(1, None, 2), [4, -5]), (0, [1, 2], [2, 3]),
    ([[2]], slice(None), [[0, 1, 2]]), ([0], None, [1]),
]


@pytest.mark.parametrize("index", ADVANCED_CASES, ids=repr)
def test_getitem_advanced_matches_pytorch(index):
    np.testing.assert_array_equal(Tensor(X)[index].numpy(), torch_index(X, index))


A4 = np.arange(2 * 3 * 5 * 7, dtype=np.float32).reshape(2, 3, 5, 7)


@pytest.mark.parametrize("index, torch_shape, numpy_shape", [
    ((slice(None), [0], slice(None), 0), (2, 1, 5), (1, 2, 5)),  # PyTorch issue 157676's example
    ((0, slice(None), [0, 1]), (3, 2, 7), (2, 3, 7)),  # PyTorch applies the int first: [0, 1] stays in place
    ((slice(None), [0, 1], slice(None), [2, 3]), (2, 2, 5), (2, 2, 5)),  # lists apart: dims first in both
    (([0, 1], 1, [2, 3]), (2, 7), (2, 7)),  # an int between index lists: both rules join them (ints drop first)
    (([0, 1], None, [2, 1]), (2, 1, 5, 7), (2, 1, 5, 7)),  # None between them: the dims go first in both
    ((1, [2, 0], [1, 1]), (2, 7), (2, 7)),
])
def test_where_advanced_dims_go_follows_pytorch(index, torch_shape, numpy_shape):
    got = Tensor(A4)[index]
    assert got.shape == torch_shape and A4[index].shape == numpy_shape
    np.testing.assert_array_equal(got.numpy(), torch_index(A4, index))


def test_getitem_tuple_entries_are_index_lists():
    np.testing.assert_array_equal(Tensor(X)[(0, 2), :, (1, 1)].numpy(), torch_index(X, ([0, 2], slice(None), [1, 1])))
    np.testing.assert_array_equal(Tensor(X)[1, (3, 0)].numpy(), X[1, [3, 0]])


def test_getitem_with_index_tensor():
    idx = np.array([[2, -1], [0, 1]])
    np.testing.assert_array_equal(Tensor(X)[Tensor(idx.astype(np.int32))].numpy(), X[idx])
    np.testing.assert_array_equal(Tensor(X)[:, Tensor([3, 1]), 2].numpy(), X[:, [3, 1], 2])


def test_getitem_module_docstring_example():
    np.testing.assert_array_equal(Tensor.arange(10)[7:1:-3].numpy(), [7, 4])


def test_getitem_keeps_dtype():
    for dtype in (np.int32, np.bool_, np.float64):
        a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
        np.testing.assert_array_equal(Tensor(a)[[2, 0], 1:].numpy(), a[[2, 0], 1:])
        assert Tensor(a)[[2, 0], 1:].numpy().dtype == dtype


def test_getitem_of_non_contiguous_view():
    t = Tensor(X).permute((2, 0, 1))[1:, ::-1]
    np.testing.assert_array_equal(t[[0, 3], 1].numpy(), X.transpose(2, 0, 1)[1:, ::-1][[0, 3], 1])


def graph_ops(t) -> set:
    return {n.op for n in t.node.toposort()}


@pytest.mark.parametrize("index", [(1, slice(None, None, -2)), (Ellipsis, None, slice(1, 4, 3)), (slice(2, 0, -1),)],
                         ids=repr)
def test_basic_indexing_is_a_view(index):
    """Only movement ops over the buffer: nothing is computed or copied."""
    t = Tensor(X)
    assert graph_ops(t[index]) <= MOVEMENT | {Ops.BUFFER}
    assert all(graph_ops(piece) <= MOVEMENT | {Ops.BUFFER} for piece in t.split([1, 3], dim=1))


# ------------------------------------------------------------------------------------------------
# getitem: properties
# ------------------------------------------------------------------------------------------------


@st.composite
def shapes_and_basic_indices(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    index = []
    for size in shape:
        if draw(st.booleans()):
            index.append(draw(st.integers(-size, size - 1)))
        else:
            bound = st.none() | st.integers(-size - 2, size + 2)
            index.append(slice(draw(bound), draw(bound), draw(st.none() | st.sampled_from([-3, -2, -1, 1, 2, 3]))))
        if draw(st.integers(0, 5)) == 0:
            index.append(None)
    if draw(st.booleans()):  # fewer entries than axes: the rest are ':'
        index = index[:draw(st.integers(0, len(index)))]
    else:  # replace a run of entries with '...' (the entries after it still index the last axes)
        a = draw(st.integers(0, len(index) - 1))
        index[a:draw(st.integers(a, len(index)))] = [Ellipsis]
    return shape, tuple(index)


@given(shapes_and_basic_indices())
def test_getitem_basic_property(case):
    shape, index = case
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(Tensor(a)[index].numpy(), a[index])


@st.composite
def shapes_and_mixed_indices(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    index = []
    for size in shape[:draw(st.integers(1, len(shape)))]:
        kind = draw(st.sampled_from(["int", "slice", "tensor", "tensor"]))
        if kind == "int":
            index.append(draw(st.integers(-size, size - 1)))
        elif kind == "slice":
            index.append(slice(draw(st.none() | st.integers(-size, size)), None, draw(st.sampled_from([1, 2, -1, -2]))))
        else:  # an index array of a suffix of the batch shape (so all of them broadcast)
            sub = batch[draw(st.integers(0, len(batch))):]
            index.append(np.asarray(draw(st.lists(st.integers(-size, size - 1), min_size=int(np.prod(sub)),
                                                  max_size=int(np.prod(sub))))).reshape(sub))
    return shape, tuple(index)


@given(shapes_and_mixed_indices())
def test_getitem_advanced_property(case):
    shape, index = case
    a = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(Tensor(a)[index].numpy(), torch_index(a, index))


# ------------------------------------------------------------------------------------------------
# getitem: errors
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index, error, message", [
    (3, IndexError, "index 3 is out of range for axis 0 of size 3"),
    ((0, -5), IndexError, "index -5 is out of range for axis 1 of size 4"),
    ((0, 0, 0, 0), IndexError, "too many indices for a tensor of shape (3, 4, 5)"),
    ((Ellipsis, 0, Ellipsis), IndexError, "single ellipsis"),
    ([0, 3], IndexError, "index 3 is out of range for axis 0 of size 3"),
    ((slice(None), [[1], [-7]]), IndexError, "index -7 is out of range for axis 1 of size 4"),
    (True, IndexError, "a 0-d boolean index (True/False) is not supported"),
    (np.array([True, False]), IndexError, "the boolean mask of shape (2,) doesn't match the axes 0..0"),
    ((0, np.ones((4, 4), bool)), IndexError, "the boolean mask of shape (4, 4) doesn't match the axes 1..2"),
    ((np.ones((3, 4), bool), 0, 0), IndexError, "too many indices"),
    (1.0, IndexError, "can't index with float"),
    ([0.5], IndexError, "index lists must hold ints"),
    (slice(0, 2, 0), ValueError, "slice step cannot be zero"),
    (slice(0.5, 2), TypeError, "slice bounds must be ints"),
    (([0, 1], [0, 1, 2]), IndexError, "can't be broadcast"),
])
def test_getitem_errors(index, error, message):
    with pytest.raises(error, match=None) as info:
        Tensor(X)[index]
    assert message in str(info.value) and "Tensor.__getitem__" in str(info.value)


def test_getitem_checks_the_values_of_index_tensors():
    with pytest.raises(IndexError, match=r"Tensor.__getitem__: index 4 is out of range for axis 1 of size 4 "
                                         r"\(tensor shape \(3, 4, 5\)\); valid indices are -4..3"):
        Tensor(X)[:, Tensor([1, 2]) * 2]  # a computed (lazy) index is checked too


def test_getitem_float_index_tensor_is_an_error():
    with pytest.raises(IndexError, match="integer dtype"):
        Tensor(X)[Tensor([0.0, 1.0])]
    with pytest.raises(IndexError, match="0-d boolean index"):
        Tensor(X)[Tensor(True)]


MASK = X > -3.0  # (3, 4, 5)
MASK_CASES = [MASK, MASK[:, :, 0], MASK[:, 0, 0], (slice(None), MASK[0]), (Ellipsis, MASK[0, 0]), (1, MASK[0, :, 0]),
              (MASK[:, 0, 0], slice(1, 3), [4, 0]), [True, False, True], (slice(None), [False] * 4),
              (MASK[:, :, 1], None)]


@pytest.mark.parametrize("index", MASK_CASES, ids=[f"mask{i}" for i in range(len(MASK_CASES))])
def test_getitem_boolean_mask_is_its_nonzero(index):
    np.testing.assert_array_equal(Tensor(X)[index].numpy(), torch_index(X, index))


def test_boolean_mask_tensors_are_realized_and_keep_gradients():
    t = Tensor(X)
    np.testing.assert_array_equal(t[t > 0].numpy(), X[X > 0])  # a lazy mask: computed, then read
    np.testing.assert_array_equal(t[:, Tensor(MASK[0, :, 0])].numpy(), X[:, MASK[0, :, 0]])
    finite_difference_check(lambda a: a[Tensor(X64 > 0)], lambda a: a[X64 > 0], X64)


def test_setitem_with_boolean_masks():
    expected = X.copy()
    expected[expected < 0] = 0.0
    t = Tensor(X.copy())
    t[t < 0] = 0.0  # PyTorch's idiom
    np.testing.assert_array_equal(t.numpy(), expected)
    expected[MASK] = np.arange(MASK.sum(), dtype=np.float32)
    t[Tensor(MASK)] = Tensor(np.arange(MASK.sum(), dtype=np.float32))
    np.testing.assert_array_equal(t.numpy(), expected)
    expected[:, MASK[1, :, 2], 1] = -5.0
    t[:, MASK[1, :, 2], 1] = -5.0
    np.testing.assert_array_equal(t.numpy(), expected)
    t[:, MASK[0, :, 0]] = 9.0  # an all-False mask (and an empty index list) write nothing
    t[[]] = 9.0
    np.testing.assert_array_equal(t.numpy(), expected)


# ------------------------------------------------------------------------------------------------
# setitem
# ------------------------------------------------------------------------------------------------

SETITEM_CASES = [
    (1, 7.0), ((slice(None), 2), -1.0), ((Ellipsis, slice(None, None, -2)), np.arange(3, dtype=np.float32)),
    ((slice(2, 0, -1), slice(1, None, 2)), np.arange(2 * 2 * 5, dtype=np.float32).reshape(2, 2, 5)),
    ((None, 0, slice(None), -1), 3.5), (([0, 2],), 9.0), ((slice(None), [3, 0], 1), np.array([1.0, 2.0], np.float32)),
    (([0, 2], slice(None), [1, 4]), np.arange(2 * 4, dtype=np.float32).reshape(2, 4)),
    ((0, slice(1, 3), [0, 4]), np.array([[5.0], [6.0]], np.float32).T), ((slice(None, None, 2), [-1]), 0.0),
]


@pytest.mark.parametrize("index, value", SETITEM_CASES, ids=repr)
@pytest.mark.parametrize("as_tensor", [False, True])
def test_setitem_matches_pytorch(index, value, as_tensor):
    expected = X.copy()
    basic, advanced = torch_steps(index)
    expected[basic][advanced] = value  # a write through the basic view
    t = Tensor(X.copy())
    t[index] = Tensor(np.asarray(value, dtype=np.float32)) if as_tensor else value
    np.testing.assert_array_equal(t.numpy(), expected)


def test_setitem_repeated_index_keeps_the_last_value():
    expected = np.zeros(5, np.float32)
    expected[[1, 3, 1]] = [10.0, 20.0, 30.0]
    t = Tensor.zeros(5).contiguous()
    t[[1, 3, 1]] = Tensor([10.0, 20.0, 30.0])
    np.testing.assert_array_equal(t.numpy(), expected)


def test_setitem_casts_the_value_and_keeps_dtype():
    t = Tensor(np.zeros((2, 3), np.int32))
    t[1] = Tensor([1.7, -2.2, 3.0])
    assert t.dtype == dtypes.int32
    np.testing.assert_array_equal(t.numpy(), [[0, 0, 0], [1, -2, 3]])


def test_setitem_then_read_sees_the_new_value():
    t = Tensor(X.copy())
    t[0, 0] = 100.0
    t[0, 0, 1:3] = Tensor([1.0, 2.0])
    assert t[0, 0].numpy().tolist() == [100.0, 1.0, 2.0, 100.0, 100.0]


def test_setitem_errors():
    t = Tensor(X.copy())
    with pytest.raises(ValueError, match=r"Tensor.__setitem__: value of shape \(3,\) for the indexed region of shape"):
        t[0] = Tensor([1.0, 2.0, 3.0])
    with pytest.raises(IndexError, match="Tensor.__setitem__: index 9 is out of range"):
        t[9] = 1.0
    with pytest.raises(TypeError, match="can't assign a str"):
        t[0] = "zero"


# ------------------------------------------------------------------------------------------------
# gather, cat, stack, split, chunk
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_gather_matches_take_along_axis(dim):
    rng = np.random.default_rng(dim + 5)
    index_shape = tuple(rng.integers(1, s + 1) if d != dim % 3 else 6 for d, s in enumerate(X.shape))
    index = rng.integers(0, X.shape[dim], index_shape).astype(np.int32)
    trimmed = X[tuple(slice(0, s) if d != dim % 3 else slice(None) for d, s in enumerate(index_shape))]
    np.testing.assert_array_equal(Tensor(X).gather(dim, Tensor(index)).numpy(), np.take_along_axis(trimmed, index, dim))


def test_gather_errors():
    with pytest.raises(IndexError, match=r"Tensor.gather: index 3 is out of range for dim 0 of size 3"):
        Tensor(X).gather(0, Tensor(np.full((1, 1, 1), 3, np.int32)))
    with pytest.raises(ValueError, match=r"Tensor.gather: index of shape \(2, 5\) doesn't fit self of shape"):
        Tensor(X).gather(0, Tensor(np.zeros((2, 5), np.int32)))
    with pytest.raises(TypeError, match="integer Tensor"):
        Tensor(X).gather(0, Tensor(np.zeros((1, 1, 1), np.float32)))
    with pytest.raises(IndexError, match="Tensor.gather: dim 3 is out of range"):
        Tensor(X).gather(3, Tensor(np.zeros((1, 1, 1), np.int32)))


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_cat_and_stack_match_numpy(dim):
    rng = np.random.default_rng(0)
    parts = []
    for n in (1, 3, 2):
        shape = list(X.shape)
        shape[dim] = n
        parts.append(rng.standard_normal(shape).astype(np.float32))
    np.testing.assert_array_equal(Tensor.cat(*[Tensor(p) for p in parts], dim=dim).numpy(),
                                  np.concatenate(parts, axis=dim))
    np.testing.assert_array_equal(Tensor(X).stack(Tensor(X + 1), dim=dim).numpy(), np.stack([X, X + 1], axis=dim))


def test_cat_bool_and_int():
    a, b = np.array([[True, False]]), np.array([[False, True]])
    np.testing.assert_array_equal(Tensor(a).cat(Tensor(b), dim=0).numpy(), np.concatenate([a, b]))
    np.testing.assert_array_equal(Tensor([1, 2]).cat(Tensor([3])).numpy(), [1, 2, 3])


def test_cat_errors():
    shapes = r"\[\(3, 4, 5\), \(3, 2, 5\)\]"
    with pytest.raises(ValueError, match=rf"Tensor.cat: shapes {shapes} can't be joined along dim 0"):
        Tensor(X).cat(Tensor(np.zeros((3, 2, 5), np.float32)), dim=0)
    with pytest.raises(IndexError, match="Tensor.cat: dim 3 is out of range"):
        Tensor(X).cat(Tensor(X), dim=3)
    with pytest.raises(TypeError, match="either as one list or as separate arguments"):
        Tensor.cat([Tensor(X)], Tensor(X))
    with pytest.raises(RuntimeError, match="Tensor.stack: expects a non-empty list"):
        Tensor.stack([])
    with pytest.raises(TypeError, match="argument 0 is a ndarray"):
        Tensor.stack([X, X])
    with pytest.raises(ValueError, match="Tensor.stack: all tensors need the same shape"):
        Tensor.stack(Tensor(X), Tensor(X[:1]))


def test_cat_promotes_mixed_dtypes_as_pytorch():
    ints, halves = np.arange(3, dtype=np.int8), np.array([0.5, 1.5], np.float16)
    got = Tensor.cat(Tensor(ints), Tensor(np.array([300, -1], np.int16)))
    np.testing.assert_array_equal(got.numpy(), np.concatenate([ints, [300, -1]]).astype(np.int16))
    assert got.dtype == dtypes.int16
    assert Tensor.cat(Tensor(halves), Tensor([1.0])).dtype == dtypes.float32
    assert Tensor.stack([Tensor([True]), Tensor([2])]).dtype == dtypes.int32
    np.testing.assert_array_equal(Tensor.cat(Tensor([True]), Tensor([False, True])).numpy(), [True, False, True])


def test_errors_have_pytorchs_types():
    """PyTorch raises RuntimeError for these; numpy-minded code catching ValueError still works."""
    for misuse in (lambda: Tensor(X).cat(Tensor(X[:, :1]), dim=0), lambda: Tensor.stack(Tensor(X), Tensor(X[:1])),
                   lambda: Tensor(X).split([1, 1], dim=1), lambda: Tensor(X).chunk(0),
                   lambda: Tensor(X).gather(0, Tensor(np.zeros((2, 5), np.int32))),
                   lambda: Tensor(X).__setitem__(0, Tensor([1.0, 2.0, 3.0]))):
        with pytest.raises(RuntimeError) as info:
            misuse()
        assert isinstance(info.value, ValueError)
    with pytest.raises(RuntimeError, match="Tensor.gather: index 3 is out of range") as info:
        Tensor(X).gather(0, Tensor(np.full((1, 1, 1), 3, np.int32)))
    assert isinstance(info.value, IndexError)
    with pytest.raises(RuntimeError, match="Tensor.gather: index must be an integer Tensor, got dtypes.float32"):
        Tensor(X).gather(0, Tensor(np.zeros((1, 1, 1), np.float32)))
    with pytest.raises(IndexError, match="the index tensors: shapes"):  # numpy's and PyTorch's type here
        Tensor(X)[[0, 1], [0, 1, 2]]


def test_cat_and_stack_take_a_list_as_pytorch():
    parts = [X[:1], X[1:]]
    np.testing.assert_array_equal(Tensor.cat([Tensor(p) for p in parts]).numpy(), X)
    np.testing.assert_array_equal(Tensor.cat((Tensor(X), Tensor(X)), dim=-1).numpy(), np.concatenate([X, X], -1))
    np.testing.assert_array_equal(Tensor.stack([Tensor(X), Tensor(X + 1)], dim=1).numpy(), np.stack([X, X + 1], 1))
    np.testing.assert_array_equal(Tensor.stack([Tensor(2.0)]).numpy(), [2.0])  # 0-d tensors stack to 1-d


@pytest.mark.parametrize("sizes, dim", [(2, 1), (1, 0), (5, 2), (3, -1), ([1, 3], 1), ([0, 3, 0], 0), ([5], 2)])
def test_split_matches_numpy(sizes, dim):
    n = X.shape[dim]
    bounds = list(range(sizes, n, sizes)) if isinstance(sizes, int) else list(np.cumsum(sizes)[:-1])
    got = Tensor(X).split(sizes, dim=dim)
    expected = np.split(X, bounds, axis=dim)
    assert isinstance(got, tuple) and len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.numpy(), e)


@pytest.mark.parametrize("chunks, dim", [(2, 0), (3, 1), (5, 2), (4, 2), (10, 0)])
def test_chunk_sizes_follow_torch(chunks, dim):
    n = X.shape[dim]
    size = -(-n // chunks)
    got = Tensor(X).chunk(chunks, dim=dim)
    assert [g.shape[dim] for g in got] == [min(size, n - i) for i in range(0, n, size)]
    np.testing.assert_array_equal(Tensor.cat(*got, dim=dim).numpy(), X)


def test_split_and_chunk_errors():
    with pytest.raises(ValueError, match=r"Tensor.split: sizes \[1, 1\] must be non-negative ints summing to 4"):
        Tensor(X).split([1, 1], dim=1)
    with pytest.raises(ValueError, match="piece size must be positive"):
        Tensor(X).split(0)
    with pytest.raises(ValueError, match="chunks must be a positive int"):
        Tensor(X).chunk(0)


# ------------------------------------------------------------------------------------------------
# Gradients against central finite differences (float64)
# ------------------------------------------------------------------------------------------------




X64 = np.random.default_rng(3).standard_normal((3, 4, 5))


@pytest.mark.parametrize("index", [(1, slice(3, 0, -2)), (Ellipsis, slice(None, None, 3), None),
                                   ([2, 0, 2], slice(1, None)), (slice(None), [1, 1, 3], [0, 4, -1]),
                                   (0, slice(None), [0, 1])], ids=repr)
def test_getitem_gradient(index):
    finite_difference_check(lambda t: t[index], lambda a: torch_index(a, index), X64)


def test_cat_stack_gather_gradient():
    a, b = X64[:, :2], X64[:, 2:] * 2
    finite_difference_check(lambda s, t: s.cat(t, dim=1), lambda s, t: np.concatenate([s, t], axis=1), a, b)
    finite_difference_check(lambda s, t: Tensor.stack(s, t, dim=-1), lambda s, t: np.stack([s, t], axis=-1), a, a)
    index = np.array([[[1, 0, 2, 2, 1]]], np.int32)
    finite_difference_check(lambda t: t.gather(0, Tensor(index)), lambda x: np.take_along_axis(x[:, :1], index, 0),
                            X64)


def test_indexing_works_on_a_device_other_than_the_default(device):
    # the index tensors, positions and masks these ops build must live on the indexed tensor's device, not the
    # default one (they did not: every advanced index, setitem and gather raised "operands are on devices ...")
    other = "PYTHON" if device == "C" else "C"
    t = Tensor(X, device=other)
    np.testing.assert_array_equal(t[[0, 2], 1, [4, 0]].numpy(), X[[0, 2], 1, [4, 0]])
    np.testing.assert_array_equal(t[Tensor([2, 0], device=other)].numpy(), X[[2, 0]])
    index = np.array([[[1, 0, 2, 2, 1]]], np.int32)
    np.testing.assert_array_equal(t.gather(0, Tensor(index, device=other)).numpy(),
                                  np.take_along_axis(X[:, :1], index, 0))
    expected = X.copy()
    expected[1], expected[[0, 2], :, 3] = 7.0, [[1.0], [2.0]]
    t[1] = 7.0
    t[[0, 2], :, 3] = [[1.0], [2.0]]
    assert t.device == other
    np.testing.assert_array_equal(t.numpy(), expected)
