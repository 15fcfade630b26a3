"""bfloat16 in the Tensor API and bitcast across sizes, on C and PYTHON (conftest.py).

bfloat16 has no numpy type: a Tensor's memory holds the bits, values are computed in float32 and rounded to the
nearest bfloat16 (ties to even) after every op, as PyTorch's kernels do, and `.numpy()` gives the values as
float32 (exact; PyTorch refuses, tinygrad does the same). The oracle is numpy in float32 with the rounding of
stage 01's `round_values` applied after each op, and values worked out by hand."""

import numpy as np
import pytest

from shrimpgrad import Tensor, dtypes
from shrimpgrad.graph.dtype import float32_to_bfloat16_bits, round_values

BF = dtypes.bfloat16


def bf(x) -> np.ndarray:
    """x rounded to bfloat16, as float32 (the values a bfloat16 tensor holds)."""
    return round_values(np.asarray(x, np.float32), BF)


def test_creation_rounds_to_nearest_even_and_numpy_gives_float32():
    """bfloat16 keeps 8 significant bits: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and goes to even (1.0);
    257 is a tie between 256 and 258 and goes to 256; 259 goes to 260. 0.1 is 0.10009765625."""
    t = Tensor([1.00390625, 257.0, 259.0, 0.1, -2.5, 1e39], dtype=BF)
    assert t.dtype == BF
    got = t.numpy()
    assert got.dtype == np.float32
    assert got.tolist() == [1.0, 256.0, 260.0, 0.10009765625, -2.5, float("inf")]
    assert Tensor(np.array([3, 257], np.int32), dtype=BF).tolist() == [3.0, 256.0]  # ints go through float32
    assert Tensor([0.1], dtype=BF).item() == 0.10009765625
    assert Tensor(Tensor([1.5], dtype=BF)).dtype == dtypes.float32  # .numpy() of it is float32


def test_arithmetic_computes_in_float32_and_rounds_every_result():
    a = np.array([1.0, 3.0, 100.0, -7.5, 0.3], np.float32)
    b = np.array([3.0, 7.0, 0.0078125, 2.0, 0.7], np.float32)
    x, y = Tensor(a, dtype=BF), Tensor(b, dtype=BF)
    va, vb = bf(a), bf(b)
    for got, want in ((x + y, va + vb), (x * y, va * vb), (x / y, va / vb), (x - y, va - vb),
                      (x.maximum(y), np.maximum(va, vb)), (x.sqrt(), np.sqrt(va)),
                      (x * 2.5, va * np.float32(2.5))):
        assert got.dtype == BF
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(got.numpy(), bf(want))
    # 1/3 in bfloat16 is 0.333984375 (0x3eab); 100 + 2^-7 rounds back to 100 (the step at 100 is 0.5)
    assert (Tensor([1.0], dtype=BF) / 3).tolist() == [0.333984375]
    assert (x + y).tolist()[2] == 100.0


@pytest.mark.parametrize("name", ["exp", "log", "cos", "tanh", "sigmoid", "softmax", "log_softmax"])
def test_composite_functions_round_once_as_pytorchs_opmath(name):
    """exp is x * (1/ln 2) then exp2: in bfloat16 the product would be rounded to 8 bits first (PyTorch's own
    result differs by up to 8 ulp then). 16-bit floats compute these in float32 and round once, as PyTorch: within
    1 ulp of the exact value rounded to bfloat16 (the float32 exp2/log2 may sit on the other side of a tie)."""
    rng = np.random.default_rng(2)
    v = bf(rng.standard_normal((16, 64)) * 4)
    x = Tensor(v, dtype=BF)
    r = v.astype(np.float64)
    e = np.exp(r - r.max(-1, keepdims=True))
    positive = bf(np.abs(v) + 0.01)  # log's input, already a bfloat16
    exact = {"exp": np.exp(r), "log": np.log(positive.astype(np.float64)), "cos": np.cos(r), "tanh": np.tanh(r),
             "sigmoid": 1 / (1 + np.exp(-r)), "softmax": e / e.sum(-1, keepdims=True),
             "log_softmax": np.log(e / e.sum(-1, keepdims=True))}[name]
    got = Tensor(positive, dtype=BF).log() if name == "log" else getattr(x, name)()
    assert got.dtype == BF
    steps = np.abs(float32_to_bfloat16_bits(got.numpy()).astype(np.int32)
                   - float32_to_bfloat16_bits(exact.astype(np.float32)).astype(np.int32))
    assert steps.max() <= 1 and (steps == 0).mean() > 0.99, name


def test_promotion_with_bfloat16():
    x = Tensor([1.0], dtype=BF)
    assert (x + Tensor([1.0], dtype=dtypes.float16)).dtype == dtypes.float32  # PyTorch: neither holds the other
    assert (x + Tensor([1.0])).dtype == dtypes.float32
    assert (x + Tensor([1.0], dtype=dtypes.float64)).dtype == dtypes.float64
    assert (x + Tensor([1], dtype=dtypes.int64)).dtype == BF and (x + True).dtype == BF and (x * 2).dtype == BF
    assert (Tensor([2]) * x).tolist() == [2.0] and (x < 2).dtype == dtypes.bool


def test_sum_mean_and_matmul_accumulate_in_float32_and_round_once():
    """256 ones: a bfloat16 accumulator would stop at 256 (256 + 1 rounds to 256); float32 gets 300 exactly, then
    one rounding: 300 is 0x4396 in bfloat16 (exact)."""
    ones = Tensor.ones(300, dtype=BF)
    assert ones.dtype == BF and ones.sum().dtype == BF and ones.sum().item() == 300.0
    assert ones.mean().item() == 1.0
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    b = np.arange(8, dtype=np.float32).reshape(4, 2) / 3
    got = Tensor(a, dtype=BF) @ Tensor(b, dtype=BF)
    assert got.dtype == BF
    np.testing.assert_array_equal(got.numpy(), bf(bf(a) @ bf(b)))


def test_casts_to_and_from_bfloat16():
    x = Tensor([1.7, -2.9, 300.6, 65504.0, float("nan")], dtype=dtypes.float32)
    b = x.cast(BF)
    assert b.dtype == BF and b.numpy()[:4].tolist() == [1.703125, -2.90625, 300.0, 65536.0] and np.isnan(b.numpy()[4])
    assert b[:3].cast(dtypes.int32).tolist() == [1, -2, 300]  # truncates toward zero
    assert b[:3].cast(dtypes.float16).numpy().dtype == np.float16 and b[:2].cast(dtypes.float64).tolist() == [1.703125,
                                                                                                             -2.90625]
    assert Tensor([True, False]).cast(BF).tolist() == [1.0, 0.0] and b[:2].cast(dtypes.bool).tolist() == [True, True]


def test_gradients_flow_through_bfloat16():
    x = Tensor([1.5, -2.0, 3.0], dtype=BF, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.dtype == BF and x.grad.tolist() == [3.0, -4.0, 6.0]


def test_random_tensors_are_rounded_draws_and_a_jit_replay_draws_again():
    from shrimpgrad import TinyJit

    r = Tensor.rand(1000, dtype=BF).numpy()
    assert Tensor.rand(3, dtype=BF).dtype == BF and 0 <= r.min() and r.max() <= 1 and len(np.unique(r)) > 100
    np.testing.assert_array_equal(r, bf(r))  # every value is a bfloat16
    assert abs(Tensor.randn(2000, dtype=BF).numpy().std() - 1) < 0.1

    @TinyJit
    def noise():
        return (Tensor.rand(64, dtype=BF) * 1).realize()

    draws = [noise().numpy() for _ in range(4)]
    assert all(not np.array_equal(draws[i], draws[i + 1]) for i in range(3)) and all(d.max() > 0 for d in draws)


def test_ops_that_take_a_python_value_round_it_to_bfloat16():
    x = Tensor([[1.0, 2.0, 3.0]], dtype=BF)
    for got in (x.masked_fill(x > 1.5, 0.1), (x > 1.5).where(0.1, x), x.pad(((0, 0), (0, 1)), value=0.1),
                x.minimum(0.1), x.clip(-1.0, 0.1)):
        assert got.dtype == BF and got.tolist()[0][-1] == 0.10009765625  # 0.1 in bfloat16


@pytest.mark.parametrize("make", ["SGD", "Adam"])
def test_optimizers_train_bfloat16_parameters(make):
    """The state is bfloat16 like the parameter (a uint16 zero buffer before); a float32 update (lr is a float32
    tensor) is assigned into the bfloat16 parameter, rounded, as into a float16 one."""
    from shrimpgrad.nn import optim

    w = Tensor([2.0, -3.0], dtype=BF, requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9) if make == "SGD" else optim.Adam([w], lr=0.1)
    with Tensor.train():
        for _ in range(3):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
    assert w.dtype == BF and all(s.dtype == BF for s in opt._new_state())
    assert all(abs(v) < start for v, start in zip(w.numpy().tolist(), (2.0, 3.0)))
    np.testing.assert_array_equal(w.numpy(), bf(w.numpy()))
    with pytest.raises(TypeError, match="can't assign dtypes.bfloat16 into dtypes.int32"):
        Tensor([1, 2]).assign(Tensor([1.0, 2.0], dtype=BF))


def test_empty_and_zero_dim():
    assert Tensor.zeros(0, 3, dtype=BF).sum(axis=0).tolist() == [0.0, 0.0, 0.0]
    assert Tensor(2.5, dtype=BF).shape == () and Tensor(2.5, dtype=BF).item() == 2.5
    assert Tensor.full((2,), 0.1, dtype=BF).tolist() == [0.10009765625] * 2


# ---- bitcast --------------------------------------------------------------------------------------------------

def test_bitcast_bfloat16_is_its_bits():
    x = Tensor([1.0, -2.0, 0.0, float("inf")], dtype=BF)
    assert x.bitcast(dtypes.uint16).tolist() == [0x3F80, 0xC000, 0, 0x7F80]
    assert x.bitcast(dtypes.int16).tolist() == [0x3F80, 0xC000 - 0x10000, 0, 0x7F80]
    back = Tensor(np.array([0x3F80, 0x4049, 0x0001], np.uint16)).bitcast(BF)
    assert back.dtype == BF and back.tolist() == [1.0, 3.140625, 2.0**-133]  # 0x0001: the smallest subnormal
    assert np.isnan(Tensor(np.array([0x7FC0], np.uint16)).bitcast(BF).numpy()).all()
    # float16 and bfloat16 are two formats of one size: bitcast reads the bits (a cast would keep the value)
    half = Tensor(np.array([1.0, -2.0], np.float16))  # 0x3c00, 0xc000
    assert half.bitcast(BF).tolist() == [0.0078125, -2.0]  # 0x3c00 is 2^-7 as bfloat16; 0xc000 is -2 in both
    assert Tensor([1.0], dtype=BF).bitcast(dtypes.float16).numpy().view(np.uint16).tolist() == [0x3F80]


@pytest.mark.parametrize("src, dst", [(np.float32, np.uint8), (np.float32, np.int16), (np.int64, np.int32),
                                      (np.float64, np.uint16), (np.uint32, np.int8), (np.float16, np.uint8),
                                      (np.int32, np.float16), (np.uint64, np.uint8)])
def test_bitcast_to_a_smaller_dtype_matches_numpy_view(src, dst):
    rng = np.random.default_rng(11)
    if np.issubdtype(src, np.floating):
        x = np.concatenate([[0.0, -0.0, 1.0, -1.5, np.inf, -np.inf], rng.standard_normal(6) * 1e3]).astype(src)
    else:
        info = np.iinfo(src)
        x = rng.integers(info.min, info.max, 12, endpoint=True, dtype=src)
    x = x.reshape(2, 6)
    got = Tensor(x).bitcast(dtypes.from_numpy(dst))
    want = x.view(dst)  # numpy's view: little-endian, the last axis grows by the ratio
    assert got.shape == want.shape == (2, 6 * x.itemsize // np.dtype(dst).itemsize)
    # by value: a NaN comes out as the canonical NaN (bitcast's docstring), and assert_array_equal takes NaN == NaN
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("src, dst", [(np.uint8, np.float32), (np.int16, np.float32), (np.int32, np.int64),
                                      (np.uint16, np.float64), (np.int8, np.uint32), (np.uint8, np.float16),
                                      (np.float16, np.int32), (np.uint8, np.uint64)])
def test_bitcast_to_a_larger_dtype_matches_numpy_view(src, dst):
    rng = np.random.default_rng(12)
    n = 48  # 24 per row: divisible by every ratio
    floats = np.array([1.0, -2.0, 0.5, 3.0], np.dtype(dst)) if np.issubdtype(dst, np.floating) else None
    if floats is not None:  # finite values in the wide float (a random NaN's payload would not survive)
        x = np.resize(np.concatenate([floats, rng.standard_normal(8).astype(dst)]), n * np.dtype(src).itemsize
                      // np.dtype(dst).itemsize).view(src)
    elif np.issubdtype(src, np.floating):
        x = rng.standard_normal(n).astype(src)
    else:
        info = np.iinfo(src)
        x = rng.integers(info.min, info.max, n, endpoint=True, dtype=src)
    x = x.reshape(2, -1)
    got = Tensor(x).bitcast(dtypes.from_numpy(dst))
    want = x.view(dst)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy().view(f"u{want.itemsize}"), want.view(f"u{want.itemsize}"))


def test_bitcast_round_trips_and_empty_tensors():
    x = Tensor(np.arange(-4, 4, dtype=np.int32).reshape(2, 4))
    assert x.bitcast(dtypes.uint8).bitcast(dtypes.int32).tolist() == x.tolist()
    assert Tensor(np.array([1.0], np.float32)).bitcast(dtypes.uint8).tolist() == [0, 0, 128, 63]  # 0x3f800000
    assert Tensor(np.zeros((3, 0), np.float32)).bitcast(dtypes.uint8).shape == (3, 0)
    assert Tensor(np.zeros((0, 4), np.uint8)).bitcast(dtypes.float32).shape == (0, 1)


def test_bitcast_errors_are_pytorchs_types():
    with pytest.raises(RuntimeError, match=r"the last axis \(3, shape \(2, 3\)\) must be divisible by 2"):
        Tensor(np.zeros((2, 3), np.uint8)).bitcast(dtypes.int16)
    with pytest.raises(RuntimeError, match="a 0-d tensor can't be read as a dtype of another size"):
        Tensor(np.float32(1.0)).bitcast(dtypes.uint8)


# ---- safetensors: BF16 and the unsigned ints ------------------------------------------------------------------

def test_safetensors_bf16_and_unsigned_round_trip_and_read_a_hand_made_file(tmp_path):
    import json
    import struct

    from shrimpgrad.nn.state import safe_load, safe_save

    tensors = {"b": Tensor([1.0, -0.10009765625, 3.0e38], dtype=BF), "u16": Tensor(np.array([65535, 1], np.uint16)),
               "u32": Tensor(np.array([2**32 - 1], np.uint32)), "u64": Tensor(np.array([2**64 - 1], np.uint64))}
    safe_save(tensors, tmp_path / "a.safetensors")
    back = safe_load(tmp_path / "a.safetensors")
    for k, t in tensors.items():
        assert back[k].dtype == t.dtype and back[k].tolist() == t.tolist(), k
    # the file holds bfloat16's bits: 1.0 is 0x3f80, little-endian
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    (tmp_path / "h.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes([0x80, 0x3F, 0x49, 0x40]))
    w = safe_load(tmp_path / "h.safetensors")["w"]
    assert w.dtype == BF and w.tolist() == [1.0, 3.140625]
