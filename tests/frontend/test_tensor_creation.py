"""Creating tensors: from data, the creation methods, random numbers, devices, and the output helpers."""

import numpy as np
import pytest

from shrimpgrad import Tensor, dtypes
from shrimpgrad.graph import Ops


@pytest.mark.parametrize("data, dtype, shape", [
    (3, dtypes.int32, ()), (2.5, dtypes.float32, ()), (True, dtypes.bool, ()),
    ([1, 2, 3], dtypes.int32, (3,)), ([[1.0, 2], [3, 4]], dtypes.float32, (2, 2)), ([True, 2], dtypes.int32, (2,)),
    ([], dtypes.float32, (0,)), (np.arange(6, dtype=np.int64).reshape(2, 3), dtypes.int64, (2, 3)),
    (np.float16(1.5), dtypes.float16, ()), (np.zeros((2, 0), np.uint8), dtypes.uint8, (2, 0)),
])
def test_from_data_dtype_and_shape(data, dtype, shape):
    t = Tensor(data)
    assert t.dtype == dtype and t.shape == shape and t.ndim == len(shape)
    np.testing.assert_array_equal(t.numpy(), np.asarray(data, dtype=dtype.np))


def test_from_data_with_dtype_copies():
    a = np.array([1.5, -2.5, 0.0])
    t = Tensor(a, dtype=dtypes.int8)
    assert t.dtype == dtypes.int8 and t.tolist() == [1, -2, 0]
    assert Tensor(a, dtype="bool").tolist() == [True, True, False]
    a[0] = 100.0  # the tensor holds a copy
    assert Tensor(a).numpy()[0] == 100.0 and t.tolist()[0] == 1
    u = Tensor(Tensor([1, 2]))
    assert u.tolist() == [1, 2] and u.dtype == dtypes.int32
    out = t.numpy()
    out[0] = 99  # nor can numpy() results write into it
    assert t.tolist()[0] == 1


# (name, Tensor creation, numpy equivalent)
CREATION = [
    ("zeros", lambda: Tensor.zeros(2, 3), np.zeros((2, 3), np.float32)),
    ("zeros_tuple", lambda: Tensor.zeros((2, 3), dtype=dtypes.int8), np.zeros((2, 3), np.int8)),
    ("ones", lambda: Tensor.ones((4,)), np.ones(4, np.float32)),
    ("full", lambda: Tensor.full((2, 2), 7), np.full((2, 2), 7, np.int32)),
    ("full_float", lambda: Tensor.full((3,), 2.5), np.full(3, 2.5, np.float32)),
    ("full_bool", lambda: Tensor.full((2,), True), np.full(2, True)),
    ("empty", lambda: Tensor.empty(2, 2), np.zeros((2, 2), np.float32)),
    ("arange", lambda: Tensor.arange(5), np.arange(5, dtype=np.int32)),
    ("arange_start_step", lambda: Tensor.arange(2, 11, 3), np.arange(2, 11, 3, dtype=np.int32)),
    ("arange_negative_step", lambda: Tensor.arange(5, -5, -2), np.arange(5, -5, -2, dtype=np.int32)),
    ("arange_float", lambda: Tensor.arange(0, 1, 0.25), np.arange(0, 1, 0.25, dtype=np.float32)),
    ("arange_empty", lambda: Tensor.arange(3, 1), np.arange(3, 1, dtype=np.int32)),
    ("linspace", lambda: Tensor.linspace(-1, 2, 7), np.linspace(-1, 2, 7, dtype=np.float32)),
    ("linspace_one", lambda: Tensor.linspace(3, 4, 1), np.linspace(3, 4, 1, dtype=np.float32)),
    ("eye", lambda: Tensor.eye(3), np.eye(3, dtype=np.float32)),
    ("eye_wide", lambda: Tensor.eye(2, 4), np.eye(2, 4, dtype=np.float32)),
    ("eye_tall_int", lambda: Tensor.eye(4, 2, dtype=dtypes.int32), np.eye(4, 2, dtype=np.int32)),
    ("zeros_like", lambda: Tensor([[1, 2]]).zeros_like(), np.zeros((1, 2), np.int32)),
    ("ones_like", lambda: Tensor([1.5]).ones_like(dtype=dtypes.float64), np.ones(1)),
    ("full_like", lambda: Tensor([1, 2, 3]).full_like(4), np.full(3, 4, np.int32)),
]


@pytest.mark.parametrize("name, make, want", CREATION, ids=[c[0] for c in CREATION])
def test_creation_matches_numpy(name, make, want):
    t = make()
    assert t.dtype == dtypes.from_numpy(want.dtype) and t.shape == want.shape
    np.testing.assert_allclose(t.numpy(), want)


def test_constants_are_lazy_and_use_no_buffer():
    assert Tensor.zeros(1000, 1000).node.op is Ops.EXPAND
    assert Tensor.eye(3).node.op is not Ops.BUFFER


@pytest.mark.parametrize("make", [
    lambda: Tensor.rand(200), lambda: Tensor.randn(200), lambda: Tensor.randint(200, low=-3, high=4),
    lambda: Tensor.uniform(200, low=2, high=3), lambda: Tensor.normal(200, mean=5, std=0.1),
    lambda: Tensor.kaiming_uniform(20, 10), lambda: Tensor.kaiming_normal(20, 10),
    lambda: Tensor.glorot_uniform(20, 10),
    lambda: Tensor.scaled_uniform(20, 10), lambda: Tensor([1.0, 2.0]).rand_like(),
])
def test_random_numbers_repeat_with_manual_seed(make):
    Tensor.manual_seed(123)
    a = make().numpy()
    Tensor.manual_seed(123)
    b = make().numpy()
    c = make().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_random_distributions():
    Tensor.manual_seed(0)
    r = Tensor.rand(10000).numpy()
    assert r.dtype == np.float32 and 0 <= r.min() and r.max() < 1 and abs(r.mean() - 0.5) < 0.02
    n = Tensor.randn(10000, dtype=dtypes.float64).numpy()
    assert n.dtype == np.float64 and abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    i = Tensor.randint(10000, low=-3, high=4)
    assert i.dtype == dtypes.int32 and set(np.unique(i.numpy())) == set(range(-3, 4))
    u = Tensor.uniform(1000, low=-2.0, high=-1.0).numpy()
    assert -2 <= u.min() and u.max() < -1
    bound = np.sqrt(3.0) * np.sqrt(2.0 / (1 + 0.01**2)) / np.sqrt(10)
    k = Tensor.kaiming_uniform(50, 10).numpy()
    assert np.abs(k).max() <= bound and np.abs(k).max() > 0.9 * bound
    g = Tensor.glorot_uniform(50, 10).numpy()
    assert np.abs(g).max() <= np.sqrt(6 / 60)


def test_devices(device):
    assert Tensor([1]).device == device  # the DEVICE setting (here: the device under test) is the default
    assert Tensor([1], device="cpu").device == "C"
    t = Tensor([1.0, 2.0], device="PYTHON")
    assert (t + 1).device == "PYTHON" and (t + 1).tolist() == [2.0, 3.0]
    assert t.to("C").device == "C"
    with pytest.raises(ValueError, match="unknown device 'TPU'; valid devices are C, PYTHON, CUDA"):
        Tensor([1], device="TPU")
    with pytest.raises(ValueError, match="Tensor.add: operands are on devices 'PYTHON' and 'C'"):
        t + Tensor([1.0, 2.0], device="C")
    from shrimpgrad.devices import Device, NoDeviceError

    try:
        Device["CUDA"]
    except NoDeviceError:  # no GPU here: asking for one is a clear error (with a GPU: SHRIMP_TEST_DEVICES=CUDA)
        with pytest.raises(RuntimeError, match="no CUDA GPU was found"):
            (Tensor([1.0], device="CUDA") + 1).numpy()


def test_output_helpers(device):
    t = Tensor([[1, 2, 3], [4, 5, 6]])
    assert t.shape == (2, 3) and t.size() == (2, 3) and t.size(-1) == 3 and t.numel() == 6 and len(t) == 2
    assert t.tolist() == [[1, 2, 3], [4, 5, 6]] and t.element_size() == 4 and t.nbytes() == 24
    assert Tensor(2.5).item() == 2.5 and isinstance(Tensor(3).item(), int) and Tensor([[7]]).item() == 7
    assert repr(t + 1) == f"<Tensor ADD shape=(2, 3) dtype=dtypes.int32 device='{device}' requires_grad=None>"


def test_seed_example_runs_as_written():
    """ARCHITECTURE.md: the seed's example must run exactly as written."""
    x = Tensor.ones((2, 2))
    y = Tensor.zeros((2, 2))
    z = x.dot(y)
    z.backward()
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 2)))  # dz/dx = ones @ y.T
    np.testing.assert_array_equal(y.grad.numpy(), np.full((2, 2), 2.0))  # dz/dy = x.T @ ones


def test_seed_example_runs_as_written_in_one_line():
    """The issue's spelling: the leaves die before backward() runs, so there is nothing to give gradients to."""
    out = Tensor.ones((2, 2)).dot(Tensor.zeros((2, 2))).backward()
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 2)))
