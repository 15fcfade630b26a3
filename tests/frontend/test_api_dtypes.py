"""dtype promotion as PyTorch does it, checked against a table of PyTorch's results written by hand
(torch.result_type / torch.promote_types; no torch in the tests). Runs on C and PYTHON (conftest.py)."""

import numpy as np
import pytest

from shrimpgrad import Tensor, dtypes
from shrimpgrad.graph import promote

d = dtypes
# (a, b, PyTorch's result for tensor(a) + tensor(b))
TENSOR_TENSOR = [
    (d.int32, d.float32, d.float32), (d.int64, d.float16, d.float16), (d.bool, d.int8, d.int8),
    (d.uint8, d.int8, d.int16), (d.uint8, d.int16, d.int16), (d.uint8, d.int32, d.int32),
    (d.uint8, d.int64, d.int64), (d.int8, d.int16, d.int16), (d.int16, d.int64, d.int64),
    (d.float16, d.float32, d.float32), (d.float32, d.float64, d.float64), (d.bool, d.float16, d.float16),
    (d.bool, d.bool, d.bool), (d.bool, d.uint8, d.uint8), (d.int8, d.float64, d.float64),
    (d.uint32, d.float16, d.float16), (d.uint64, d.float32, d.float32), (d.uint16, d.float64, d.float64),
]
# PyTorch refuses these ("Promotion for uint16, uint32, uint64 types is not supported"); numpy's answer where an
# integer type holds both (tinygrad's too)
BEYOND_PYTORCH = [
    (d.bool, d.uint16, d.uint16), (d.uint8, d.uint16, d.uint16), (d.uint16, d.uint32, d.uint32),
    (d.uint32, d.uint64, d.uint64), (d.uint16, d.int16, d.int32), (d.uint16, d.int8, d.int32),
    (d.uint32, d.int32, d.int64), (d.uint32, d.int8, d.int64), (d.uint16, d.int64, d.int64),
    (d.bool, d.uint64, d.uint64),
]
# (tensor dtype, Python scalar, PyTorch's result for tensor + scalar)
TENSOR_SCALAR = [
    (d.int32, 2.5, d.float32), (d.int8, 2.5, d.float32), (d.float16, 2.5, d.float16), (d.int8, 100, d.int8),
    (d.bool, 3, d.int32), (d.bool, True, d.bool), (d.uint8, 7, d.uint8), (d.float64, 1, d.float64),
    (d.uint16, 7, d.uint16), (d.uint32, 7, d.uint32), (d.uint64, 7, d.uint64), (d.uint64, 2.5, d.float32),
]


@pytest.mark.parametrize("a, b, want", TENSOR_TENSOR + BEYOND_PYTORCH, ids=str)
def test_promote_matches_pytorch(a, b, want):
    assert promote(a, b) == want and promote(b, a) == want


@pytest.mark.parametrize("signed", [d.int8, d.int16, d.int32, d.int64])
def test_uint64_with_a_signed_integer_is_a_runtime_error_as_in_pytorch(signed):
    with pytest.raises(RuntimeError, match="no integer type holds both dtypes.uint64 and"):
        promote(d.uint64, signed)
    with pytest.raises(TypeError, match=r"^Tensor\.add: no integer type holds both .*; cast one of them first"):
        Tensor(np.array([1], np.uint64)) + Tensor(np.array([1], signed.np))
    with pytest.raises(RuntimeError, match=r"^Tensor\.where: no integer type holds both"):
        Tensor([True]).where(Tensor(np.array([1], np.uint64)), Tensor(np.array([1], signed.np)))
    assert (Tensor(np.array([1], np.uint64)) + Tensor(np.array([1], signed.np)).cast(d.float64)).dtype == d.float64


def test_promote_of_nothing_is_a_type_error():
    with pytest.raises(TypeError):
        promote()


@pytest.mark.parametrize("a, b, want", TENSOR_TENSOR + BEYOND_PYTORCH, ids=str)
def test_binary_ops_where_and_matmul_promote_as_pytorch(a, b, want):
    x, y = np.array([[1, 0], [1, 1]], a.np), np.array([[1, 1], [0, 1]], b.np)
    for got in (Tensor(x) + Tensor(y), Tensor(x) * Tensor(y), Tensor(x).maximum(Tensor(y)),
                Tensor(np.array([True, False])).reshape(2, 1).where(Tensor(x), Tensor(y))):
        assert got.dtype == want
        assert got.numpy().dtype == want.np
    if not a.is_bool and not b.is_bool:
        got = Tensor(x) @ Tensor(y)
        assert got.dtype == want
        np.testing.assert_array_equal(got.numpy(), x.astype(want.np) @ y.astype(want.np))


@pytest.mark.parametrize("a, scalar, want", TENSOR_SCALAR, ids=str)
def test_python_scalars_never_raise_the_tensor_dtype_in_its_category(a, scalar, want):
    got = Tensor(np.array([1, 0], a.np)) * scalar
    assert got.dtype == want
    np.testing.assert_allclose(got.numpy().astype(np.float64), np.array([1, 0]) * scalar)


def test_default_float_decides_int_tensor_times_python_float():
    assert (Tensor([1, 2]) * 2.5).dtype == dtypes.default_float


def test_unsigned_sums_accumulate_as_tinygrad():
    """uint8/uint16 sum in int32 (as the small signed ints); uint32 and uint64 in themselves (no signed type holds
    a uint64), wrapping as numpy's uint64 sum does."""
    for dt, acc in ((d.uint8, d.int32), (d.uint16, d.int32), (d.uint32, d.uint32), (d.uint64, d.uint64)):
        x = np.array([[1, 2], [3, 250]], dt.np)
        assert Tensor(x).sum().dtype == acc and Tensor(x).sum(axis=0).tolist() == [4, 252]
    big = np.array([2**32 - 1, 2**31], np.uint32)
    assert Tensor(big).sum().item() == int(big.sum(dtype=np.uint32))  # wraps


def test_uint64_sums_and_matmul_stay_uint64():
    x = np.array([[2**63, 1], [5, 2**64 - 1]], np.uint64)
    assert Tensor(x).sum().dtype == d.uint64 and Tensor(x).sum().item() == int(x.sum())  # wraps, as numpy
    np.testing.assert_array_equal((Tensor(x) @ Tensor(x)).numpy(), x @ x)


# ---- default_float / default_int are settable (tinygrad's dtypes.default_float = dtypes.float16) --------------

@pytest.fixture
def defaults():
    saved = (dtypes.default_float, dtypes.default_int)
    yield
    dtypes.default_float, dtypes.default_int = saved


def test_default_float_decides_python_floats_weak_scalars_and_int_division(defaults):
    dtypes.default_float = dtypes.float16
    assert Tensor([1.5, 2.0]).dtype == d.float16 and Tensor(2.5).dtype == d.float16
    assert (Tensor([1, 2]) * 2.5).dtype == d.float16
    assert (Tensor([1, 2]) / Tensor([2, 4])).dtype == d.float16
    assert Tensor.ones(2).dtype == d.float16 and Tensor.rand(3).dtype == d.float16
    np.testing.assert_array_equal((Tensor([1, 3]) * 2.5).numpy(), np.array([2.5, 7.5], np.float16))
    dtypes.default_float = dtypes.float64
    assert Tensor([0.1]).numpy().tolist() == [0.1] and Tensor([0.1]).dtype == d.float64


def test_default_int_decides_python_ints_and_bool_promotion(defaults):
    dtypes.default_int = dtypes.int64
    assert Tensor([1, 2]).dtype == d.int64 and Tensor.arange(3).dtype == d.int64
    assert (Tensor([True, False]) + 1).dtype == d.int64
    assert Tensor([2**40]).tolist() == [2**40]
    dtypes.default_int = dtypes.int16
    assert Tensor([[1], [2]]).dtype == d.int16 and (Tensor([1]) * 2.5).dtype == dtypes.default_float


@pytest.mark.parametrize("dt", [d.uint16, d.uint32, d.uint64])
def test_unsigned_arithmetic_wraps_and_divides_as_numpy(dt):
    info = np.iinfo(dt.np)
    a = np.array([info.max, info.max - 1, 2**(8 * dt.itemsize - 1), 7, 0, 1], dt.np)
    b = np.array([info.max, 3, 2, 0, 5, info.max], dt.np)
    x, y = Tensor(a), Tensor(b)
    with np.errstate(all="ignore"):
        for got, want in ((x + y, a + b), (x - y, a - b), (x * y, a * b), (-x, -a), (x.maximum(y), np.maximum(a, b)),
                          (x // y, np.where(b == 0, 0, a // np.where(b == 0, 1, b))),
                          (x % y, np.where(b == 0, 0, a % np.where(b == 0, 1, b))), (x < y, a < b),
                          (x.cast(d.float32), a.astype(np.float32)), (x + 1, a + dt.np.type(1))):
            assert got.dtype == dtypes.from_numpy(want.dtype)
            np.testing.assert_array_equal(got.numpy(), want)
    assert Tensor([info.max], dtype=dt).tolist() == [int(info.max)]  # Python ints convert exactly
    with pytest.raises(OverflowError, match=f"Python int {int(info.max) + 1} is out of range for dtypes.{dt.name}"):
        x + (int(info.max) + 1)
