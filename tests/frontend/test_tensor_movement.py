"""Movement ops and linear algebra against numpy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shrimpgrad import Tensor, dtypes

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)

# (name, Tensor -> Tensor, numpy function)
MOVEMENT = [
    ("reshape", lambda t: t.reshape(4, 6), lambda x: x.reshape(4, 6)),
    ("reshape_tuple", lambda t: t.reshape((6, -1)), lambda x: x.reshape(6, -1)),
    ("reshape_none", lambda t: t.reshape(None, 12), lambda x: x.reshape(2, 12)),
    ("view", lambda t: t.view(-1), lambda x: x.reshape(-1)),
    ("permute", lambda t: t.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1)),
    ("permute_neg", lambda t: t.permute((-1, 0, -2)), lambda x: x.transpose(2, 0, 1)),
    ("transpose", lambda t: t.transpose(), lambda x: x.swapaxes(1, 0)),
    ("transpose_neg", lambda t: t.transpose(-1, 0), lambda x: x.swapaxes(-1, 0)),
    ("T", lambda t: t.reshape(6, 4).T, lambda x: x.reshape(6, 4).T),
    ("expand", lambda t: t.reshape(2, 1, 3, 4).expand(2, 5, 3, 4), lambda x: np.broadcast_to(x[:, None], (2, 5, 3, 4))),
    ("expand_new_axes", lambda t: t.expand(3, -1, -1, 4), lambda x: np.broadcast_to(x, (3, 2, 3, 4))),
    ("flatten", lambda t: t.flatten(), lambda x: x.reshape(-1)),
    ("flatten_part", lambda t: t.flatten(1), lambda x: x.reshape(2, 12)),
    ("flatten_mid", lambda t: t.flatten(0, 1), lambda x: x.reshape(6, 4)),
    ("unflatten", lambda t: t.unflatten(2, (2, 2)), lambda x: x.reshape(2, 3, 2, 2)),
    ("squeeze", lambda t: t.reshape(1, 2, 1, 12).squeeze(), lambda x: x.reshape(2, 12)),
    ("squeeze_dim", lambda t: t.reshape(1, 2, 1, 12).squeeze(2), lambda x: x.reshape(1, 2, 12)),
    ("squeeze_not_one", lambda t: t.squeeze(1), lambda x: x),
    ("unsqueeze", lambda t: t.unsqueeze(1), lambda x: x[:, None]),
    ("unsqueeze_neg", lambda t: t.unsqueeze(-1), lambda x: x[..., None]),
    ("pad_pairs", lambda t: t.pad(((1, 0), None, (2, 1))), lambda x: np.pad(x, ((1, 0), (0, 0), (2, 1)))),
    ("pad_flat", lambda t: t.pad((1, 2, 0, 1)), lambda x: np.pad(x, ((0, 0), (0, 1), (1, 2)))),
    ("pad_value", lambda t: t.pad(((0, 0), (1, 1), (1, 0)), value=-7.5),
     lambda x: np.pad(x, ((0, 0), (1, 1), (1, 0)), constant_values=-7.5)),
    ("pad_negative", lambda t: t.pad(((0, 0), (-1, 1), (2, -2))),
     lambda x: np.pad(x, ((0, 0), (0, 1), (2, 0)))[:, 1:, :-2]),
    ("shrink", lambda t: t.shrink(((1, 2), None, (1, 3))), lambda x: x[1:2, :, 1:3]),
    ("flip", lambda t: t.flip(0), lambda x: x[::-1]),
    ("flip_many", lambda t: t.flip((0, -1)), lambda x: x[::-1, :, ::-1]),
    ("repeat", lambda t: t.repeat(2, 1, 3), lambda x: np.tile(x, (2, 1, 3))),
    ("repeat_new_axis", lambda t: t.repeat(2, 1, 1, 1), lambda x: np.tile(x, (2, 1, 1, 1))),
    ("contiguous", lambda t: t.permute(2, 1, 0).contiguous(), lambda x: x.transpose(2, 1, 0)),
]


@pytest.mark.parametrize("name, fn, ref", MOVEMENT, ids=[m[0] for m in MOVEMENT])
def test_movement_matches_numpy(name, fn, ref):
    got = fn(Tensor(X))
    want = ref(X)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)


def test_pad_keeps_int_and_bool_dtypes():
    assert Tensor([1, 2]).pad((1, 1), value=9).tolist() == [9, 1, 2, 9]
    assert Tensor([True]).pad((1, 0)).tolist() == [False, True]
    assert Tensor([True]).pad((1, 0), value=True).tolist() == [True, True]


def test_noop_movements_return_self():
    t = Tensor(X)
    assert t.reshape(2, 3, 4) is t and t.permute(0, 1, 2) is t and t.expand(2, 3, 4) is t
    assert t.shrink((None, None, None)) is t and t.pad(((0, 0),) * 3) is t and t.flip(()) is t


def test_zero_size_shapes():
    z = Tensor.zeros(0, 3)
    assert z.reshape(3, 0).shape == (3, 0) and z.reshape(-1, 3).shape == (0, 3)
    assert z.pad(((1, 1), None)).numpy().shape == (2, 3)


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_random_movement_chains_match_numpy(shape, data):
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    t = Tensor(x)
    for _ in range(4):
        op = data.draw(st.sampled_from(["permute", "flip", "pad", "shrink", "reshape", "expand"]))
        if op == "permute":
            order = data.draw(st.permutations(range(x.ndim)))
            x, t = x.transpose(order), t.permute(order)
        elif op == "flip":
            ax = data.draw(st.integers(0, x.ndim - 1))
            x, t = np.flip(x, ax), t.flip(ax)
        elif op == "pad":
            p = tuple(data.draw(st.tuples(st.integers(0, 2), st.integers(0, 2))) for _ in x.shape)
            x, t = np.pad(x, p), t.pad(p)
        elif op == "shrink":
            b = tuple(sorted(data.draw(st.tuples(st.integers(0, s), st.integers(0, s)))) for s in x.shape)
            x, t = x[tuple(slice(lo, hi) for lo, hi in b)], t.shrink(b)
        elif op == "reshape":
            x, t = x.reshape(-1), t.reshape(-1)
        else:
            x, t = np.broadcast_to(x[None], (2,) + x.shape), t.unsqueeze(0).expand(2, *x.shape)
    np.testing.assert_array_equal(t.numpy(), x)


# ---- linear algebra ------------------------------------------------------------------------------

MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
                 ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((1, 3), (3, 1))]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=str)
def test_matmul_matches_numpy(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)
    for got in (Tensor(a) @ Tensor(b), Tensor(a).dot(Tensor(b)), Tensor(a).matmul(Tensor(b)), a @ Tensor(b)):
        assert got.shape == (a @ b).shape
        np.testing.assert_allclose(got.numpy(), a @ b, rtol=1e-5, atol=1e-5)


def test_integer_matmul_keeps_dtype():
    a, b = np.array([[1, 2], [3, 4]], np.int8), np.array([[5, 6], [7, 8]], np.int8)
    out = Tensor(a) @ Tensor(b)
    assert out.dtype == dtypes.int8
    np.testing.assert_array_equal(out.numpy(), (a.astype(np.int32) @ b).astype(np.int8))


def test_linear_uses_in_out_weight_layout():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    np.testing.assert_allclose(Tensor(x).linear(Tensor(w), Tensor(b)).numpy(), x @ w + b, rtol=1e-10)
    np.testing.assert_allclose(Tensor(x).linear(Tensor(w[:, 0])).numpy(), x * w[:, 0], rtol=1e-10)
