"""Masking, scatter, triangles, diagonals and rearranging (shrimpgrad/movement.py), pad modes, tensor shift
amounts, the dtype defaults and tinygrad's helpers (getenv, Context and its switches): values against numpy
(PyTorch's semantics where numpy has no such op), result dtypes, gradients against finite differences, empty /
size-1 / 0-d / NaN inputs, and PyTorch's exception types."""

import numpy as np
import pytest
from api_checks import assert_matches, grad_check
from hypothesis import given, settings
from hypothesis import strategies as st

from shrimpgrad import Context, Device, Tensor, TinyJit, dtypes, getenv, helpers
from shrimpgrad.graph import MOVEMENT, Ops

X = np.array([[3.0, -1.0, 2.0, 0.5], [1.0, 4.0, -2.0, 2.5], [0.3, np.nan, -0.7, 1.1]])
R = np.random.default_rng(0).standard_normal((3, 4))  # float64, for the gradient checks


def only_views(t) -> bool:
    return {n.op for n in t.node.toposort()} <= MOVEMENT | {Ops.BUFFER, Ops.CONST}


# ------------------------------------------------------------------------------------------------
# masks
# ------------------------------------------------------------------------------------------------


def test_masked_fill():
    m = np.array([[True, False, True, False]] * 3)
    assert_matches(Tensor(X).masked_fill(Tensor(m), -9.0), np.where(m, -9.0, X), dtype=np.float64)
    assert_matches(Tensor(X).masked_fill(Tensor(m[0]), np.inf), np.where(m[0], np.inf, X))  # mask broadcasts
    ints = np.arange(4, dtype=np.int8)
    assert_matches(Tensor(ints).masked_fill(Tensor(m[0]), 2.7), np.where(m[0], 2, ints), dtype=np.int8)  # cast
    assert_matches(Tensor(ints).masked_fill(Tensor(m[:, :1]), 5), np.where(m[:, :1], 5, ints))  # self broadcasts
    assert_matches(Tensor(X).masked_fill(Tensor(m), Tensor(np.float64(7.0))), np.where(m, 7.0, X))
    assert_matches(Tensor(np.float32(1.0)).masked_fill(Tensor(True), 0.0), np.float32(0.0), dtype=np.float32)
    assert Tensor(np.zeros((0, 4))).masked_fill(Tensor(m[0]), 1.0).shape == (0, 4)
    grad_check(lambda t, v: t.masked_fill(Tensor(m), v), R, np.array(0.5))


def test_masked_select_realizes_the_mask_and_keeps_gradients():
    m = np.isfinite(X) & (X > 0.4)
    assert_matches(Tensor(X).masked_select(Tensor(m)), X[m], dtype=np.float64)
    assert_matches(Tensor(X).masked_select(Tensor(m[:1])), np.broadcast_to(X, X.shape)[np.broadcast_to(m[:1], X.shape)])
    assert_matches(Tensor(X).masked_select(Tensor(np.zeros_like(m))), np.zeros(0))
    assert_matches(Tensor(np.float64(2.0)).masked_select(Tensor(True)), [2.0])
    assert_matches(Tensor(np.arange(4)).masked_select(Tensor(np.array([1, 0, 1, 1]) > 0)), [0, 2, 3], dtype=np.int64)
    grad_check(lambda t: t.masked_select(Tensor(R > 0)), R)


def test_nonzero():
    a = np.array([[0.0, 1.5, 0.0], [-0.0, np.nan, -2.0]])
    assert_matches(Tensor(a).nonzero(), np.argwhere(a), dtype=np.int64)
    rows, cols = Tensor(a).nonzero(as_tuple=True)
    assert_matches(rows, np.nonzero(a)[0], dtype=np.int64)
    assert_matches(cols, np.nonzero(a)[1])
    assert_matches(Tensor([True, False, True]).nonzero(), [[0], [2]])
    assert Tensor(np.zeros((2, 3))).nonzero().shape == (0, 2)
    assert Tensor(np.zeros((0, 3))).nonzero().shape == (0, 2)
    assert Tensor(np.float64(3.0)).nonzero().shape == (1, 0)  # PyTorch: a 0-d tensor has one nonzero, no coordinates
    assert [t.tolist() for t in Tensor(np.float64(3.0)).nonzero(as_tuple=True)] == [[0]]


def test_mask_errors():
    t = Tensor(X)
    with pytest.raises(RuntimeError, match="Tensor.masked_fill: mask must be a bool Tensor, got dtypes.float64"):
        t.masked_fill(Tensor(X), 0.0)
    with pytest.raises(TypeError, match="Tensor.masked_fill: mask must be a bool Tensor, got ndarray"):
        t.masked_fill(X > 0, 0.0)
    with pytest.raises(RuntimeError, match="0-d Tensor, got shape"):
        t.masked_fill(t > 0, Tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match=r"value 300 cannot be converted to dtypes.int8 without overflow"):
        Tensor(np.zeros(2, np.int8)).masked_fill(Tensor([True, False]), 300)
    with pytest.raises(RuntimeError, match="value nan cannot be converted to dtypes.int32"):
        Tensor([1, 2]).masked_fill(Tensor([True, False]), float("nan"))
    with pytest.raises(RuntimeError, match=r"Tensor.masked_select: shapes \(3, 4\), \(3,\) can't be"):
        t.masked_select(Tensor([True, False, True]))


# ------------------------------------------------------------------------------------------------
# scatter
# ------------------------------------------------------------------------------------------------


def np_scatter(base, dim, index, src, combine=None, include_self=True):
    """A serial loop over index (PyTorch's CPU order): the oracle for scatter and scatter_reduce."""
    out = base.copy()
    groups: dict = {}
    for pos in np.ndindex(index.shape):
        target = list(pos)
        target[dim] = index[pos]
        groups.setdefault(tuple(target), []).append(src[pos])
    for target, values in groups.items():
        if combine is None:
            out[target] = values[-1]
        else:
            out[target] = combine(([base[target]] if include_self else []) + values)
    return out


INDEX = np.array([[0, 1, 2, 0], [2, 0, 0, 1]], np.int32)  # (2, 4): repeats along dim 0 and dim 1
SRC = np.arange(1.0, 13.0).reshape(3, 4)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_matches_a_serial_loop(dim):
    base = np.zeros((3, 5)) - 1.0
    index = INDEX % base.shape[dim]
    assert_matches(Tensor(base).scatter(dim, Tensor(index), Tensor(SRC)), np_scatter(base, dim % 2, index, SRC),
                   dtype=np.float64)
    assert_matches(Tensor(base).scatter(dim, Tensor(index), 7.5),
                   np_scatter(base, dim % 2, index, np.full((2, 4), 7.5)))


SCATTER_REDUCTIONS = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}


@pytest.mark.parametrize("reduce", SCATTER_REDUCTIONS)
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_a_serial_loop(reduce, include_self):
    base = np.linspace(-2.0, 2.0, 15).reshape(3, 5)
    got = Tensor(base).scatter_reduce(1, Tensor(INDEX), Tensor(SRC), reduce, include_self=include_self)
    assert_matches(got, np_scatter(base, 1, INDEX, SRC, SCATTER_REDUCTIONS[reduce], include_self), rtol=1e-14)
    if reduce in ("amax", "amin"):  # PyTorch also accepts "max" and "min"
        alias = Tensor(base).scatter_reduce(1, Tensor(INDEX), Tensor(SRC), reduce[1:], include_self)
        assert_matches(alias, got.numpy())


def test_scatter_dtypes_and_edge_cases():
    ints = np.arange(15, dtype=np.int16).reshape(3, 5)
    src = (np.arange(12, dtype=np.int16) * 3).reshape(3, 4)
    assert_matches(Tensor(ints).scatter(1, Tensor(INDEX), Tensor(src)), np_scatter(ints, 1, INDEX, src), dtype=np.int16)
    # integer mean rounds down (PyTorch): (5 + 0 + 6) // 3 at [0, 0]
    mean = np_scatter(ints, 1, INDEX, src, lambda v: np.floor_divide(sum(v), len(v)))
    assert_matches(Tensor(ints).scatter_reduce(1, Tensor(INDEX), Tensor(src), "mean"), mean, dtype=np.int16)
    assert_matches(Tensor(ints).scatter(0, Tensor(INDEX), 1, reduce="add"), np_scatter(ints, 0, INDEX,
                   np.ones((2, 4), np.int16), np.sum))
    flags = np.zeros((2, 3), bool)
    index = np.array([[2, 0]], np.int32)
    assert_matches(Tensor(flags).scatter(1, Tensor(index), True), [[True, False, True], [False, False, False]],
                   dtype=np.bool_)
    assert_matches(Tensor(flags).scatter_reduce(1, Tensor(index), Tensor(np.array([[True, True]])), "sum"),
                   [[True, False, True], [False] * 3])
    nan = np.array([[1.0, np.nan]])
    assert_matches(Tensor(np.zeros((1, 2))).scatter_reduce(1, Tensor(np.array([[1, 1]], np.int32)), Tensor(nan),
                                                           "amax"), [[0.0, np.nan]])
    assert_matches(Tensor(X).scatter(0, Tensor(np.zeros((0, 4), np.int32)), 1.0), X)  # empty index: self
    assert_matches(Tensor(np.float64(1.0)).scatter(0, Tensor(np.int32(0)), Tensor(np.float64(5.0))), 5.0)


def test_scatter_gradients():
    index = np.array([[0, 2, 1, 0], [2, 1, 0, 2]], np.int32)  # no position written twice
    src = np.random.default_rng(2).standard_normal((2, 4))
    grad_check(lambda t, s: t.scatter(0, Tensor(index[:1]), s), R, src)
    grad_check(lambda t, s: t.scatter_reduce(1, Tensor(INDEX[:, :3] % 4), s, "sum"), R, src)
    grad_check(lambda t, s: t.scatter_reduce(1, Tensor(INDEX % 4), s, "prod", include_self=False), R, src)
    grad_check(lambda t, s: t.scatter_reduce(0, Tensor(index), s, "mean"), R, src)
    grad_check(lambda t, s: t.scatter_reduce(0, Tensor(index), s, "amax"), R, src)


def test_scatter_under_tinyjit_checks_each_calls_indices():
    step = TinyJit(lambda x, i: x.scatter(0, i, 1.0).realize())
    for k in range(4):  # the first two calls run plainly, then the JIT replays with new index values
        index = np.array([[k % 3, 0]], np.int32)
        out = step(Tensor(np.zeros((3, 2))).contiguous().realize(), Tensor(index).realize())
        assert_matches(out, np_scatter(np.zeros((3, 2)), 0, index, np.ones((1, 2))))
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 0"):
        step(Tensor(np.zeros((3, 2))).contiguous().realize(), Tensor(np.array([[5, 0]], np.int32)).realize())


def test_scatter_errors():
    t, index = Tensor(np.zeros((3, 5))), Tensor(INDEX)
    with pytest.raises(RuntimeError, match=r"Tensor.scatter: index 5 is out of bounds for dimension 1 with size 5"):
        t.scatter(1, Tensor(INDEX + 4), 1.0)
    with pytest.raises(RuntimeError, match="value 1e\\+40 cannot be converted to dtypes.int16"):
        Tensor(np.zeros((3, 5), np.int16)).scatter(0, index, 1e40)
    with pytest.raises(RuntimeError, match="index -1 is out of bounds"):
        t.scatter(0, Tensor(INDEX - 1), 1.0)
    with pytest.raises(RuntimeError, match="src is dtypes.float32 but self is dtypes.float64; cast src"):
        t.scatter(0, index, Tensor(SRC.astype(np.float32)))
    with pytest.raises(RuntimeError, match="same number of dims"):
        t.scatter(0, Tensor(np.zeros(3, np.int32)), 1.0)
    with pytest.raises(RuntimeError, match="must be no larger than src"):
        t.scatter(0, index, Tensor(np.zeros((1, 4))))
    with pytest.raises(RuntimeError, match="integer dtype"):
        t.scatter(0, Tensor(INDEX.astype(np.float32)), 1.0)
    with pytest.raises(TypeError, match="index must be an integer Tensor"):
        t.scatter(0, INDEX, 1.0)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        t.scatter(2, index, 1.0)
    with pytest.raises(RuntimeError, match="reduce must be one of sum, prod, mean, amax, amin"):
        t.scatter_reduce(0, index, Tensor(SRC), "maximum")
    with pytest.raises(RuntimeError, match="reduce must be None, 'add' or 'multiply'"):
        t.scatter(0, index, Tensor(SRC), reduce="sum")


# ------------------------------------------------------------------------------------------------
# triangles and diagonals
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, -1, 3, -5])
def test_tril_triu(k):
    batch = np.random.default_rng(1).standard_normal((2, 3, 4))
    assert_matches(Tensor(X).tril(k), np.tril(X, k), dtype=np.float64)
    assert_matches(Tensor(X).triu(k), np.triu(X, k))
    assert_matches(Tensor(batch).tril(k), np.tril(batch, k))
    assert_matches(Tensor(np.ones((3, 3), bool)).triu(k), np.triu(np.ones((3, 3), bool), k), dtype=np.bool_)


def test_tril_triu_edge_cases_and_gradients():
    assert Tensor(np.zeros((0, 3))).tril().shape == (0, 3)
    assert_matches(Tensor(np.arange(3, dtype=np.int32).reshape(1, 3)).triu(1), [[0, 1, 2]], dtype=np.int32)
    grad_check(lambda t: t.tril(-1), R)
    grad_check(lambda t: t.triu(1), R)
    with pytest.raises(RuntimeError, match=r"Tensor.tril: needs a tensor of at least 2 dims, got shape \(4,\)"):
        Tensor(X[0]).tril()
    with pytest.raises(TypeError, match="diagonal must be an int"):
        Tensor(X).triu(0.5)


@pytest.mark.parametrize("offset, dim1, dim2", [(0, 0, 1), (1, 0, 1), (-1, 0, 1), (2, 1, 0), (0, -1, 0), (9, 0, 1)])
def test_diagonal(offset, dim1, dim2):
    assert_matches(Tensor(X).diagonal(offset, dim1, dim2), np.diagonal(X, offset, dim1, dim2), dtype=np.float64)
    batch = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    d1, d2 = (dim1 + 1) % 3, (dim2 + 1) % 3 if dim2 >= 0 else dim2
    assert_matches(Tensor(batch).diagonal(offset, d1, d2), np.diagonal(batch, offset, d1, d2), dtype=np.int64)


def test_diagonal_is_a_view_and_has_gradients():
    assert only_views(Tensor(X).diagonal(1))
    grad_check(lambda t: t.diagonal(-1), R)
    assert Tensor(np.zeros((0, 3))).diagonal().shape == (0,)


@pytest.mark.parametrize("k", [0, 2, -1])
def test_diag(k):
    v = np.array([1.5, -2.0, 3.0])
    assert_matches(Tensor(v).diag(k), np.diag(v, k), dtype=np.float64)
    assert_matches(Tensor(X).diag(k), np.diag(X, k))
    assert_matches(Tensor(np.array([True, False])).diag(k), np.diag([True, False], k), dtype=np.bool_)
    assert_matches(Tensor(np.zeros(0)).diag(k), np.diag(np.zeros(0), k))
    grad_check(lambda t: t.diag(k), v)


def test_diag_errors():
    with pytest.raises(RuntimeError, match=r"Tensor.diag: needs a 1-d or 2-d tensor, got shape \(\)"):
        Tensor(1.0).diag()
    with pytest.raises(RuntimeError, match="Tensor.diagonal: dim1 and dim2 name the same axis"):
        Tensor(X).diagonal(0, 1, -1)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        Tensor(X).diagonal(0, 0, 2)
    with pytest.raises(IndexError, match="dim 1 is out of range"):
        Tensor(X[0]).diagonal()


# ------------------------------------------------------------------------------------------------
# rearranging
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shifts, dims", [(1, 1), (-1, 0), (5, -1), ((1, 2), (0, 1)), ((2, -7), (1, 1)), (3, None),
                                          (0, 0)])
def test_roll(shifts, dims):
    assert_matches(Tensor(X).roll(shifts, dims), np.roll(X, shifts, dims), dtype=np.float64)


def test_roll_edge_cases_and_gradient():
    assert_matches(Tensor(np.zeros((0, 2))).roll(1, 0), np.zeros((0, 2)))
    assert_matches(Tensor(np.float64(4.0)).roll(1), 4.0)
    with pytest.raises(IndexError, match="dims 0 given for a 0-d tensor"):  # PyTorch's rule for roll
        Tensor(np.float64(4.0)).roll(1, 0)
    assert_matches(Tensor([True, False, False]).roll(1), [False, True, False], dtype=np.bool_)
    grad_check(lambda t: t.roll((1, -1), (0, 1)), R)
    with pytest.raises(RuntimeError, match="shifts .* and dims .* must have the same length"):
        Tensor(X).roll((1, 2), 0)
    with pytest.raises(RuntimeError, match="with dims=None, shifts must be one int"):
        Tensor(X).roll((1, 2))


def np_unfold(a, dim, size, step):
    """PyTorch's Tensor.unfold: dim becomes the window count, a new last axis holds each window."""
    windows = np.lib.stride_tricks.sliding_window_view(a, size, axis=dim)
    dim %= a.ndim
    return np.take(windows, np.arange(0, windows.shape[dim], step), axis=dim)


@pytest.mark.parametrize("dim, size, step", [(1, 2, 1), (1, 3, 2), (0, 3, 1), (1, 1, 3), (-1, 4, 4), (1, 2, 5)])
def test_unfold(dim, size, step):
    assert_matches(Tensor(X).unfold(dim, size, step), np_unfold(X, dim, size, step), dtype=np.float64)


def test_unfold_edge_cases_gradient_and_errors():
    assert only_views(Tensor(X).unfold(1, 2, 1))
    assert_matches(Tensor(np.float64(5.0)).unfold(0, 1, 1), [5.0])
    assert_matches(Tensor(np.arange(5, dtype=np.int8)).unfold(0, 2, 2), [[0, 1], [2, 3]], dtype=np.int8)
    grad_check(lambda t: t.unfold(1, 3, 1), R)
    assert_matches(Tensor(X).unfold(1, 0, 1), np.zeros((3, 5, 0)))  # empty windows, as PyTorch
    with pytest.raises(RuntimeError, match=r"Tensor.unfold: size is 5 but must be in 0..4"):
        Tensor(X).unfold(1, 5, 1)
    with pytest.raises(RuntimeError, match="step is 0 but must be > 0"):
        Tensor(X).unfold(1, 2, 0)
    with pytest.raises(IndexError):
        Tensor(X).unfold(2, 1, 1)


def test_repeat_interleave():
    assert_matches(Tensor(X).repeat_interleave(2), np.repeat(X, 2), dtype=np.float64)
    assert_matches(Tensor(X).repeat_interleave(3, dim=1), np.repeat(X, 3, axis=1))
    assert_matches(Tensor(X).repeat_interleave(0, dim=-2), np.repeat(X, 0, axis=-2))
    assert_matches(Tensor(X).repeat_interleave(Tensor([1, 0, 2]), dim=0), np.repeat(X, [1, 0, 2], axis=0))
    assert_matches(Tensor(X).repeat_interleave([2], dim=1), np.repeat(X, 2, axis=1))
    assert_matches(Tensor(np.int16(7)).repeat_interleave(2), [7, 7], dtype=np.int16)
    grad_check(lambda t: t.repeat_interleave(2, dim=1), R[:2, :2])
    grad_check(lambda t: t.repeat_interleave(Tensor([2, 0, 1]), dim=0), R[:, :2])
    with pytest.raises(RuntimeError, match="repeats has 2 entries but dim 0"):
        Tensor(X).repeat_interleave(Tensor([1, 2]), dim=0)
    with pytest.raises(RuntimeError, match="repeats must be non-negative"):
        Tensor(X).repeat_interleave(-1)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing):
    a, b, c = np.array([1, 2, 3]), np.array([4, 5]), np.array([6, 7, 8, 9])
    got = Tensor.meshgrid(Tensor(a), Tensor(b), Tensor(c), indexing=indexing)
    for g, e in zip(got, np.meshgrid(a, b, c, indexing=indexing)):
        assert_matches(g, e, dtype=np.int64)
    got = Tensor(a).meshgrid(Tensor(b), indexing=indexing)
    assert isinstance(got, tuple) and len(got) == 2
    for g, e in zip(got, np.meshgrid(a, b, indexing=indexing)):
        assert_matches(g, e)
    (single,) = Tensor.meshgrid([Tensor(a)], indexing=indexing)
    assert_matches(single, a)
    x, y = Tensor.meshgrid(Tensor(np.int64(2)), Tensor(b), indexing=indexing)  # 0-d tensors count as size 1
    assert x.shape == y.shape == ((2, 1) if indexing == "xy" else (1, 2))


def test_meshgrid_gradient_and_errors():
    grad_check(lambda s, t: Tensor.meshgrid(s, t)[0] * Tensor.meshgrid(s, t)[1], R[0], R[1, :3])
    with pytest.raises(RuntimeError, match=r"expects 0-d or 1-d tensors, argument 1 has shape \(3, 4\)"):
        Tensor.meshgrid(Tensor([1.0]), Tensor(X))
    with pytest.raises(RuntimeError, match="indexing must be 'ij' or 'xy'"):
        Tensor.meshgrid(Tensor([1.0]), indexing="ji")
    with pytest.raises(RuntimeError, match="all tensors need one dtype"):
        Tensor.meshgrid(Tensor([1.0]), Tensor([1]))


def test_clone_copies_and_keeps_gradients():
    t = Tensor(X.copy())
    c = t.clone()
    c.assign(Tensor(np.zeros_like(X)))
    c.realize()
    assert_matches(t, X)
    assert_matches(c, np.zeros_like(X))
    assert_matches(Tensor(np.arange(3, dtype=np.uint8)).clone(), np.arange(3, dtype=np.uint8), dtype=np.uint8)
    grad_check(lambda x: x.clone() * x, R)


# ------------------------------------------------------------------------------------------------
# bitcast
# ------------------------------------------------------------------------------------------------

FLOAT_SPECIALS = [0.0, -0.0, 1.0, -2.5, 1 / 3, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("float_dtype, int_dtype", [(np.float32, np.int32), (np.float64, np.int64),
                                                    (np.float16, np.int16)])
def test_bitcast_float_int_round_trip(float_dtype, int_dtype):
    info = np.finfo(float_dtype)
    values = np.array(FLOAT_SPECIALS + [float(info.max), -float(info.tiny), float(info.smallest_subnormal),
                                        float(info.tiny) * 0.75, 12345.678, -1e-3], dtype=float_dtype)
    assert_matches(Tensor(values).bitcast(int_dtype), values.view(int_dtype), dtype=int_dtype)
    bits = values[~np.isnan(values)].view(int_dtype)
    assert_matches(Tensor(bits).bitcast(float_dtype), bits.view(float_dtype), dtype=float_dtype)
    nan_bits = np.array([values.view(int_dtype)[-7]], int_dtype)  # the canonical quiet NaN reads back as NaN
    assert np.isnan(Tensor(nan_bits).bitcast(float_dtype).numpy()).all()


def test_bitcast_between_ints_and_errors():
    assert_matches(Tensor(np.array([-1, 5, -128], np.int8)).bitcast(dtypes.uint8), [255, 5, 128], dtype=np.uint8)
    assert_matches(Tensor(np.array([255, 5], np.uint8)).bitcast("int8"), [-1, 5], dtype=np.int8)
    assert Tensor(X).bitcast(dtypes.float64).dtype == dtypes.float64
    x64 = np.asarray(X, np.float64).reshape(X.shape[0], -1)  # across sizes the last axis scales (test_api_bfloat16.py)
    assert_matches(Tensor(x64).bitcast(dtypes.int32), x64.view(np.int32), dtype=np.int32)



def test_bitcast_bool_is_a_byte_of_0_or_1():  # numpy's view is the oracle (PyTorch's view(dtype) agrees)
    b = np.array([[True, False, True, True]])
    assert_matches(Tensor(b).bitcast(dtypes.int8), b.view(np.int8), dtype=np.int8)
    assert_matches(Tensor(b).bitcast(dtypes.float32), b.view(np.float32), dtype=np.float32)  # (1, 1): 4 bytes
    assert_matches(Tensor(np.array([0, 1, 1], np.uint8)).bitcast(dtypes.bool), [False, True, True], dtype=np.bool_)
    assert_matches(Tensor(np.array([0, 256, 1], np.int16)).bitcast(dtypes.bool),
                   np.array([0, 256, 1], np.int16).view(np.bool_), dtype=np.bool_)
    assert Tensor(np.array([0, 7], np.uint8)).bitcast(dtypes.bool).bitcast(dtypes.uint8).tolist() == [0, 1]


# ------------------------------------------------------------------------------------------------
# pad modes
# ------------------------------------------------------------------------------------------------

NP_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", NP_PAD_MODE)
@pytest.mark.parametrize("padding", [((0, 0), (2, 1)), ((1, 2), (3, 0)), ((2, 2), (0, 3)), ((0, 0), (0, 0))])
def test_pad_modes(mode, padding):
    assert_matches(Tensor(X).pad(padding, mode=mode), np.pad(X, padding, mode=NP_PAD_MODE[mode]), dtype=np.float64)


def test_pad_modes_flat_form_negative_amounts_ints_and_gradients():
    a = np.arange(2 * 3 * 4, dtype=np.int32).reshape(2, 3, 4)
    # PyTorch's flat form (left, right, top, bottom): last axis first
    assert_matches(Tensor(a).pad((1, 2, 2, 0), mode="reflect"), np.pad(a, ((0, 0), (2, 0), (1, 2)), "reflect"),
                   dtype=np.int32)
    assert_matches(Tensor(a).pad((3, 1), mode="circular"), np.pad(a, ((0, 0), (0, 0), (3, 1)), "wrap"))
    # negative amounts cut first, then the rest is padded from what is left
    assert_matches(Tensor(a).pad((-1, 2), mode="replicate"), np.pad(a[..., 1:], ((0, 0), (0, 0), (0, 2)), "edge"))
    for mode in NP_PAD_MODE:
        grad_check(lambda t, mode=mode: t.pad(((1, 2), (2, 1)), mode=mode), R)


def test_pad_mode_errors():
    with pytest.raises(RuntimeError, match=r"mode 'reflect' needs padding less than the axis size, got \(4, 0\)"):
        Tensor(X).pad(((0, 0), (4, 0)), mode="reflect")
    with pytest.raises(RuntimeError, match="mode 'circular' needs padding at most the axis size"):
        Tensor(X).pad(((0, 4), (0, 0)), mode="circular")
    with pytest.raises(RuntimeError, match="mode 'replicate'"):
        Tensor(np.zeros((0, 2))).pad(((1, 0), (0, 0)), mode="replicate")
    with pytest.raises(RuntimeError, match="doesn't take a value"):
        Tensor(X).pad((1, 1), mode="reflect", value=1.0)
    with pytest.raises(NotImplementedError, match="mode 'mirror' is not supported"):
        Tensor(X).pad((1, 1), mode="mirror")


# ------------------------------------------------------------------------------------------------
# shifts by tensor amounts, dtype defaults
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64])
def test_shift_by_tensor_amounts(dtype):
    bits = 8 * np.dtype(dtype).itemsize
    x = np.array([1, -3, 5, 100, -128, 7], dtype=np.int64).astype(dtype)
    n = np.array([0, 1, bits - 1, 3, 2, bits + 2]).astype(dtype)
    inside = n < bits
    left = np.where(inside, x << np.minimum(n, bits - 1), 0).astype(dtype)  # PyTorch: amounts >= bits give 0
    right = np.where(inside, x >> np.minimum(n, bits - 1), np.where(x < 0, -1, 0)).astype(dtype)
    assert_matches(Tensor(x) << Tensor(n), left, dtype=dtype)
    assert_matches(Tensor(x) >> Tensor(n), right, dtype=dtype)
    assert_matches(Tensor(x).lshift(Tensor(n[:1])), x << n[:1])  # broadcast


def test_shift_by_tensor_promotes_and_refuses_floats():
    x, n = np.array([3, -8], np.int8), np.array([4, 1], np.int32)
    assert_matches(Tensor(x) << Tensor(n), x.astype(np.int32) << n, dtype=np.int32)
    assert_matches(2 << Tensor(n), 2 << n, dtype=np.int32)
    assert_matches(64 >> Tensor(n), 64 >> n, dtype=np.int32)
    with pytest.raises(TypeError, match="Tensor.rshift: shifts integer tensors"):
        Tensor([1.0]) >> Tensor([1])


def test_default_dtypes_are_settable():
    old_float, old_int = dtypes.default_float, dtypes.default_int
    try:
        dtypes.default_float, dtypes.default_int = dtypes.float64, dtypes.int64
        assert Tensor([1.5]).dtype == Tensor.ones(2).dtype == Tensor.rand(2).dtype == dtypes.float64
        assert Tensor([1, 2]).mean().dtype == dtypes.float64
        assert Tensor([1, 2]).dtype == Tensor.arange(3).dtype == dtypes.int64
        assert Tensor([True]).sum().dtype == dtypes.int32  # sum's accumulator rule, not default_int
    finally:
        dtypes.default_float, dtypes.default_int = old_float, old_int
    assert Tensor([1.5]).dtype == dtypes.float32


def test_cast_shorthands():
    t = Tensor(np.array([1.7, -2.2, 0.0]))
    assert [t.float().dtype, t.half().dtype, t.int().dtype, t.long().dtype, t.bool().dtype, t.double().dtype] == \
        [dtypes.float32, dtypes.float16, dtypes.int32, dtypes.int64, dtypes.bool, dtypes.float64]
    assert_matches(t.int(), [1, -2, 0], dtype=np.int32)
    assert_matches(t.bool(), [True, True, False])


def test_getenv(monkeypatch):
    monkeypatch.setenv("SHRIMP_TEST_KNOB", "3")
    assert getenv("SHRIMP_TEST_KNOB") == 3 and getenv("SHRIMP_TEST_KNOB", 1.5) == 3.0
    assert getenv("SHRIMP_TEST_KNOB", "") == "3" and getenv("SHRIMP_TEST_KNOB", False) is True
    monkeypatch.setenv("SHRIMP_TEST_KNOB", "0")
    assert getenv("SHRIMP_TEST_KNOB", True) is False
    monkeypatch.delenv("SHRIMP_TEST_KNOB")
    assert getenv("SHRIMP_TEST_KNOB") == 0 and getenv("SHRIMP_TEST_KNOB", "x") == "x"


def test_getenv_names_the_variable_when_its_value_is_not_a_number(monkeypatch):
    monkeypatch.setenv("SHRIMP_TEST_KNOB", "off")
    with pytest.raises(ValueError, match=r"SHRIMP_TEST_KNOB='off' is not an integer; set it to an integer"):
        getenv("SHRIMP_TEST_KNOB", 0)
    with pytest.raises(ValueError, match=r"SHRIMP_TEST_KNOB='off' is not a float"):
        getenv("SHRIMP_TEST_KNOB", 1.5)


def test_a_setting_that_is_not_a_number_stops_the_import_with_its_name():
    """DEBUG is read at import: `DEBUG=off python train.py` says what is wrong, not int()'s bare message."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DEBUG": "off"}
    run = subprocess.run([sys.executable, "-c", "import shrimpgrad"], env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "DEBUG='off' is not an integer; set it to an integer (e.g. DEBUG=0, the default)" in run.stderr


def test_context_knobs_of_tinygrads_tests():
    from shrimpgrad.helpers import AMD_LLVM, BEAM, CI, DEBUG, DEVECTORIZE, IMAGE, NOOPT, OSX, TRANSCENDENTAL  # noqa

    assert isinstance(CI, bool) and isinstance(OSX, bool)
    assert not IMAGE and TRANSCENDENTAL == 1 and DEVECTORIZE >= 1 and not AMD_LLVM and BEAM == 0
    with Context(NOOPT=1, DEBUG=0):
        assert NOOPT == 1 and NOOPT >= 1 and helpers.NOOPT.value == 1
        assert_matches(Tensor(X).roll(1, 0), np.roll(X, 1, 0))  # values don't depend on the switches
    assert NOOPT == 0

    @Context(BEAM=2)
    def decorated():
        return BEAM.value

    assert decorated() == 2 and BEAM.value == 0
    with pytest.raises(KeyError, match="unknown setting 'NOOPTS'"):
        with Context(NOOPTS=1):
            pass
    assert Device.DEFAULT in ("C", "PYTHON", "CUDA")


# ------------------------------------------------------------------------------------------------
# a property: the view-built ops against numpy on random shapes and arguments
# ------------------------------------------------------------------------------------------------


@st.composite
def views_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=2, max_size=3)))
    d1, d2 = draw(st.permutations(range(len(shape))))[:2]
    roll_dim = draw(st.integers(-len(shape), len(shape) - 1))
    unfold_dim = draw(st.integers(0, len(shape) - 1))
    size = draw(st.integers(1, shape[unfold_dim]))
    pads = tuple((draw(st.integers(0, s - 1)), draw(st.integers(0, s - 1))) for s in shape)
    return (shape, draw(st.integers(-6, 6)), d1, d2, draw(st.integers(-7, 7)), roll_dim, unfold_dim, size,
            draw(st.integers(1, 4)), pads, draw(st.sampled_from(sorted(NP_PAD_MODE))))


@settings(max_examples=20)
@given(views_case())
def test_view_ops_property(case):
    shape, offset, d1, d2, shift, roll_dim, unfold_dim, size, step, pads, mode = case
    a = np.random.default_rng(len(shape)).standard_normal(shape)
    t = Tensor(a)
    assert_matches(t.diagonal(offset, d1, d2), np.diagonal(a, offset, d1, d2))
    assert_matches(t.roll(shift, roll_dim), np.roll(a, shift, roll_dim))
    assert_matches(t.unfold(unfold_dim, size, step), np_unfold(a, unfold_dim, size, step))
    assert_matches(t.pad(pads, mode=mode), np.pad(a, pads, mode=NP_PAD_MODE[mode]))
    assert_matches(t.tril(offset), np.tril(a, offset))
