"""shrimpgrad.nn's layers and Tensor.dropout/layernorm/batchnorm against numpy references written here: forward
values (float32), gradients against finite differences (float64), train/eval behaviour, initialization, state
names, and the errors bad input gets. Every test runs on C and PYTHON (tests/frontend/conftest.py)."""

import numpy as np
import pytest
from gradcheck import finite_difference_check
from test_nn_ops import conv_reference

from shrimpgrad import Tensor, dtypes, nn
from shrimpgrad.nn.state import get_state_dict

RNG = np.random.default_rng(0)


def randn(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------------------------------------
# numpy references
# ------------------------------------------------------------------------------------------------


def layernorm_ref(x, axis=-1, eps=1e-5):
    mean = x.mean(axis=axis, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=axis, keepdims=True) + eps)


def batchnorm_train_ref(x, w, b, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) + b.reshape(shape)


def rmsnorm_ref(x, w, eps=1e-6):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def with_params(layer, **tensors):
    """The layer with some of its tensors replaced (float64 ones, for finite differences)."""
    for name, t in tensors.items():
        setattr(layer, name, t)
    return layer


# ------------------------------------------------------------------------------------------------
# Linear
# ------------------------------------------------------------------------------------------------


def test_linear_forward_matches_numpy():
    layer = nn.Linear(5, 3)
    x = randn(4, 5)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), x @ w.T + b, rtol=1e-5, atol=1e-6)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)


def test_linear_batched_input_and_no_bias():
    layer = nn.Linear(4, 2, bias=False)
    x = randn(2, 3, 4)
    assert layer.bias is None
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), x @ layer.weight.numpy().T, rtol=1e-5, atol=1e-6)


def test_linear_init_is_uniform_in_one_over_sqrt_fan_in():
    w = nn.Linear(100, 50).weight.numpy()
    bound = 1 / np.sqrt(100)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound  # uses the range, not a constant
    assert abs(w.mean()) < 0.01 and abs(w.std() - bound / np.sqrt(3)) < 0.01


def test_linear_gradients():
    finite_difference_check(lambda x, w, b: with_params(nn.Linear(3, 2), weight=w, bias=b)(x),
                            lambda x, w, b: x @ w.T + b, randn(4, 3, dtype=np.float64),
                            randn(2, 3, dtype=np.float64), randn(2, dtype=np.float64))


# ------------------------------------------------------------------------------------------------
# Conv2d
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2)])
def test_conv2d_forward_matches_numpy(stride, padding, dilation, groups):
    layer = nn.Conv2d(4, 6, 3, stride=stride, padding=padding, dilation=dilation, groups=groups)
    x = randn(2, 4, 7, 6)
    expected = conv_reference(x, layer.weight.numpy(), layer.bias.numpy(), groups, stride, dilation, padding)
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert layer.weight.shape == (6, 4 // groups, 3, 3)


def test_conv2d_gradients():
    finite_difference_check(lambda x, w, b: with_params(nn.Conv2d(2, 3, (2, 3), padding=1), weight=w, bias=b)(x),
                            lambda x, w, b: conv_reference(x, w, b, padding=1), randn(1, 2, 4, 4, dtype=np.float64),
                            randn(3, 2, 2, 3, dtype=np.float64), randn(3, dtype=np.float64), rtol=1e-5)


# ------------------------------------------------------------------------------------------------
# BatchNorm
# ------------------------------------------------------------------------------------------------


def test_batchnorm_train_normalizes_with_batch_statistics_and_updates_running_ones():
    bn = nn.BatchNorm2d(3, momentum=0.2)
    bn.weight, bn.bias = Tensor(randn(3)), Tensor(randn(3))
    x = randn(4, 3, 5, 2) * 3 + 1
    with Tensor.train():
        y = bn(Tensor(x))
        y.realize()
        np.testing.assert_allclose(y.numpy(), batchnorm_train_ref(x, bn.weight.numpy(), bn.bias.numpy()),
                                   rtol=1e-4, atol=1e-4)
        Tensor.realize(bn.running_mean, bn.running_var, bn.num_batches_tracked)
    n = 4 * 5 * 2
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.2 * x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.8 + 0.2 * x.var(axis=(0, 2, 3)) * n / (n - 1), rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1


def test_batchnorm_eval_uses_running_statistics():
    bn = nn.BatchNorm(3)
    mean, var = randn(3), np.abs(randn(3)) + 0.5
    bn.running_mean.assign(Tensor(mean)).realize()
    bn.running_var.assign(Tensor(var)).realize()
    x = randn(2, 3, 4, 4)
    assert not Tensor.training
    shape = (1, 3, 1, 1)
    expected = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-5)
    np.testing.assert_allclose(bn(Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean.numpy(), mean)  # eval never moves the statistics


def test_batchnorm_without_tracking_uses_batch_statistics_in_eval_too():
    bn = nn.BatchNorm(2, affine=False, track_running_stats=False)
    x = randn(5, 2)
    assert bn.weight is None and not hasattr(bn, "running_mean")
    np.testing.assert_allclose(bn(Tensor(x)).numpy(), batchnorm_train_ref(x, np.ones(2), np.zeros(2)),
                               rtol=1e-4, atol=1e-5)


def test_batchnorm_two_training_calls_compound_the_running_statistics():
    bn = nn.BatchNorm(2)
    a, b = randn(6, 2), randn(6, 2) + 2
    with Tensor.train():
        bn(Tensor(a))
        bn(Tensor(b))
    expected = 0.9 * (0.1 * a.mean(0)) + 0.1 * b.mean(0)
    np.testing.assert_allclose(bn.running_mean.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert bn.num_batches_tracked.item() == 2


def test_batchnorm_train_gradients():
    def f(x, w, b):
        bn = with_params(nn.BatchNorm(2), weight=w, bias=b)
        with Tensor.train():
            return bn(x)
    finite_difference_check(f, batchnorm_train_ref, randn(3, 2, 2, 2, dtype=np.float64),
                            randn(2, dtype=np.float64), randn(2, dtype=np.float64), rtol=1e-5)


def test_batchnorm_state_dict_names_match_tinygrad_and_pytorch():
    assert list(get_state_dict(nn.BatchNorm2d(4))) == ["weight", "bias", "num_batches_tracked", "running_mean",
                                                        "running_var"]
    assert nn.BatchNorm2d is nn.BatchNorm


# ------------------------------------------------------------------------------------------------
# LayerNorm, RMSNorm, Tensor.layernorm / batchnorm
# ------------------------------------------------------------------------------------------------


def test_layernorm_forward_matches_numpy():
    ln = nn.LayerNorm(5)
    ln.weight, ln.bias = Tensor(randn(5)), Tensor(randn(5))
    x = randn(3, 4, 5)
    expected = layernorm_ref(x) * ln.weight.numpy() + ln.bias.numpy()
    np.testing.assert_allclose(ln(Tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_layernorm_over_several_axes_without_affine():
    ln = nn.LayerNorm((3, 4), elementwise_affine=False)
    x = randn(2, 3, 4)
    assert ln.weight is None
    np.testing.assert_allclose(ln(Tensor(x)).numpy(), layernorm_ref(x, axis=(-2, -1)), rtol=1e-4, atol=1e-5)


def test_layernorm_gradients():
    finite_difference_check(lambda x, w, b: with_params(nn.LayerNorm(4), weight=w, bias=b)(x),
                            lambda x, w, b: layernorm_ref(x) * w + b, randn(3, 4, dtype=np.float64),
                            randn(4, dtype=np.float64), randn(4, dtype=np.float64), rtol=1e-5)


def test_rmsnorm_forward_and_gradients():
    norm = nn.RMSNorm(4)
    x = randn(3, 4)
    np.testing.assert_allclose(norm(Tensor(x)).numpy(), rmsnorm_ref(x, np.ones(4)), rtol=1e-5, atol=1e-6)
    finite_difference_check(lambda x, w: with_params(nn.RMSNorm(4), weight=w)(x), rmsnorm_ref,
                            randn(2, 4, dtype=np.float64), randn(4, dtype=np.float64), rtol=1e-5)


def test_tensor_layernorm_and_batchnorm_functional_forms():
    x = randn(4, 3, 2)
    np.testing.assert_allclose(Tensor(x).layernorm(axis=1, eps=1e-3).numpy(), layernorm_ref(x, 1, 1e-3),
                               rtol=1e-4, atol=1e-5)
    mean, invstd, w, b = randn(3), np.abs(randn(3)), randn(3), randn(3)
    shape = (1, 3, 1)
    expected = (x - mean.reshape(shape)) * invstd.reshape(shape) * w.reshape(shape) + b.reshape(shape)
    got = Tensor(x).batchnorm(Tensor(w), Tensor(b), Tensor(mean), Tensor(invstd))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
    no_affine = Tensor(x).batchnorm(None, None, Tensor(mean), Tensor(invstd))
    np.testing.assert_allclose(no_affine.numpy(), (x - mean.reshape(shape)) * invstd.reshape(shape), rtol=1e-5)


# ------------------------------------------------------------------------------------------------
# Embedding
# ------------------------------------------------------------------------------------------------


def test_embedding_looks_up_rows_and_scatters_gradients():
    emb = nn.Embedding(6, 3)
    idx = np.array([[1, 4, 1], [0, 5, 1]], np.int32)
    w = emb.weight.numpy()
    np.testing.assert_array_equal(emb(Tensor(idx)).numpy(), w[idx])
    emb.weight.requires_grad = True
    weights = randn(2, 3, 3)
    (emb(Tensor(idx)) * Tensor(weights)).sum().backward()
    expected = np.zeros((6, 3), np.float32)
    np.add.at(expected, idx, weights)
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# dropout
# ------------------------------------------------------------------------------------------------


def test_dropout_is_identity_outside_training_and_for_p_zero():
    x = Tensor(randn(10))
    assert x.dropout(0.5) is x
    with Tensor.train():
        assert x.dropout(0.0) is x


def test_dropout_in_training_zeroes_about_p_and_scales_the_rest():
    x = np.abs(randn(200, 50)) + 0.1
    with Tensor.train():
        t = Tensor(x, requires_grad=True)
        y = t.dropout(0.3)
        y.sum().backward()
    out = y.numpy()
    kept = out != 0
    assert 0.27 < 1 - kept.mean() < 0.33
    np.testing.assert_allclose(out[kept], x[kept] / 0.7, rtol=1e-6)
    np.testing.assert_allclose(t.grad.numpy(), kept / 0.7, rtol=1e-6)  # the gradient uses the forward's mask
    with Tensor.train():
        assert (Tensor(x).dropout(1.0).numpy() == 0).all()


def test_dropout_masks_differ_between_calls_and_repeat_with_the_seed():
    with Tensor.train():
        Tensor.manual_seed(7)
        a = Tensor.ones(100).dropout().numpy()
        b = Tensor.ones(100).dropout().numpy()
        Tensor.manual_seed(7)
        c = Tensor.ones(100).dropout().numpy()
    assert (a != b).any()
    np.testing.assert_array_equal(a, c)


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, call, message", [
    (lambda: nn.Linear(4, 2), lambda m: m(Tensor.ones(3, 5)), r"nn.Linear: expected an input of shape \(\.\.\., 4\), "
                                                              r"got \(3, 5\)"),
    (lambda: nn.Linear(4, 2), lambda m: m(np.ones((3, 4))), "nn.Linear: the input must be a Tensor, got ndarray"),
    (lambda: nn.Conv2d(3, 4, 3), lambda m: m(Tensor.ones(1, 2, 5, 5)), r"expected an input of shape \(N, 3, H, W\)"),
    (lambda: nn.Conv2d(3, 4, 3), lambda m: m(Tensor.ones(3, 5, 5)), r"got \(3, 5, 5\)"),
    (lambda: nn.BatchNorm(3), lambda m: m(Tensor.ones(2, 4)), r"nn.BatchNorm: expected an input of shape \(N, 3, "),
    (lambda: nn.LayerNorm(4), lambda m: m(Tensor.ones(2, 5)), r"nn.LayerNorm: expected .* \(\.\.\., 4\), got \(2, 5\)"),
    (lambda: nn.RMSNorm(4), lambda m: m(Tensor.ones(4, 2)), r"nn.RMSNorm: expected"),
])
def test_layers_name_the_expected_input_shape(make, call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(make())


def test_batchnorm_refuses_one_value_per_channel_in_training():
    with Tensor.train(), pytest.raises(ValueError, match="one value per channel, so its variance is undefined"):
        nn.BatchNorm(3)(Tensor.ones(1, 3))


def test_embedding_refuses_float_and_out_of_range_indices():
    emb = nn.Embedding(4, 2)
    with pytest.raises(TypeError, match="nn.Embedding: indices must be an integer Tensor, got dtypes.float32"):
        emb(Tensor([1.0, 2.0]))
    for bad in (4, -1):  # -1 would silently read the last row
        with pytest.raises(IndexError, match=f"nn.Embedding: index {bad} is not in the vocabulary: valid indices "
                                             r"are 0..3 \(vocab_size=4\)"):
            emb(Tensor([1, bad]))


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Linear(0, 3), "nn.Linear: in_features must be a positive int, got 0"),
    (lambda: nn.Linear(3, 2.5), "nn.Linear: out_features must be a positive int, got 2.5"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "divisible by groups=2"),
    (lambda: nn.Conv2d(3, 4, (3, 0)), r"kernel_size must be a positive int or a tuple of 2 positive ints, got "
                                      r"\(3, 0\)"),
    (lambda: nn.Conv2d(3, 4, 3, padding="same"), "padding='same' is not supported"),
    (lambda: nn.BatchNorm(4, momentum=1.5), r"momentum must be in \[0, 1\]"),
    (lambda: nn.Embedding(10, -1), "embed_size must be a positive int"),
])
def test_layer_constructors_check_their_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("call, message", [
    (lambda t: t.dropout(1.5), r"Tensor.dropout: p is the probability .* must be in \[0, 1\], got 1.5"),
    (lambda t: t.layernorm(eps=-1), "Tensor.layernorm: eps must be a non-negative number"),
    (lambda t: t.batchnorm(None, None, Tensor.zeros(2), Tensor.ones(3)),
     r"Tensor.batchnorm: mean must be a Tensor of shape \(3,\) .* got \(2,\)"),
])
def test_functional_forms_check_their_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(Tensor.ones(2, 3, 4))


def test_layer_dtypes_follow_the_default_float():
    assert nn.Linear(2, 2).weight.dtype == dtypes.float32
    assert nn.BatchNorm(2).num_batches_tracked.dtype == dtypes.int32
