"""NNOpsMixin against direct numpy references: sliding windows (_pool), conv2d, max/avg pooling, cumsum,
one_hot and the losses; their errors; gradients against finite differences (float64)."""

import numpy as np
import pytest
from gradcheck import finite_difference_check
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from shrimpgrad import Tensor
from shrimpgrad.conv_ops import _pool
from shrimpgrad.graph import MOVEMENT, Ops

RNG = np.random.default_rng(0)

# ------------------------------------------------------------------------------------------------
# numpy references, written directly (loops and sliding_window_view)
# ------------------------------------------------------------------------------------------------


def padding_pairs(padding, n):
    """(before, after) per spatial axis from an int, n ints, or (left, right, top, bottom)."""
    if isinstance(padding, int):
        return ((padding, padding),) * n
    if len(padding) == n:
        return tuple((p, p) for p in padding)
    return tuple((padding[2 * j], padding[2 * j + 1]) for j in reversed(range(n)))


def conv_reference(x, w, b=None, groups=1, stride=1, dilation=1, padding=0):
    n = w.ndim - 2
    stride = (stride,) * n if isinstance(stride, int) else stride
    dilation = (dilation,) * n if isinstance(dilation, int) else dilation
    x = np.pad(x, ((0, 0), (0, 0)) + padding_pairs(padding, n))
    cout, cin = w.shape[:2]
    rcout = cout // groups
    outs = [(i - d * (k - 1) - 1) // s + 1 for i, k, s, d in zip(x.shape[2:], w.shape[2:], stride, dilation)]
    out = np.zeros((x.shape[0], cout, *outs), dtype=np.result_type(x, w))
    for g in range(groups):
        for pos in np.ndindex(*outs):
            window = x[(slice(None), slice(g * cin, (g + 1) * cin)) + tuple(
                slice(p * s, p * s + d * (k - 1) + 1, d) for p, s, d, k in zip(pos, stride, dilation, w.shape[2:]))]
            axes = tuple(range(1, window.ndim))  # sum over (channel, *kernel)
            out[(slice(None), slice(g * rcout, (g + 1) * rcout)) + pos] = np.tensordot(
                window, w[g * rcout:(g + 1) * rcout], axes=(axes, axes))
    return out if b is None else out + b.reshape((1, cout) + (1,) * n)


def pool_reference(x, reduce, kernel, stride=None, dilation=(1, 1), padding=0, pad_value=0.0):
    stride = kernel if stride is None else stride
    x = np.pad(x, ((0, 0),) * (x.ndim - 2) + padding_pairs(padding, 2), constant_values=pad_value)
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    windows = sliding_window_view(x, spans, axis=(-2, -1))
    windows = windows[..., ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]
    return reduce(windows, axis=(-2, -1))


# ------------------------------------------------------------------------------------------------
# _pool: the sliding-window view
# ------------------------------------------------------------------------------------------------


@given(st.data())
def test_pool_windows_are_strided_dilated_reads(data):
    n = data.draw(st.integers(1, 2))
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(n))
    stride = tuple(data.draw(st.integers(1, 4)) for _ in range(n))
    dilation = tuple(data.draw(st.integers(1, 3)) for _ in range(n))
    ins = tuple(d * (k - 1) + 1 + data.draw(st.integers(0, 5)) for k, d in zip(kernel, dilation))
    x = np.arange(2 * int(np.prod(ins)), dtype=np.float32).reshape((2,) + ins)
    got = _pool(Tensor(x), kernel, stride, dilation).numpy()
    outs = tuple(-(-(i - d * (k - 1)) // s) for i, k, s, d in zip(ins, kernel, stride, dilation))
    assert got.shape == (2,) + outs + kernel
    for pos in np.ndindex(*(outs + kernel)):
        a, b = pos[:n], pos[n:]
        src = tuple(ai * s + bi * d for ai, bi, s, d in zip(a, b, stride, dilation))
        np.testing.assert_array_equal(got[(slice(None),) + pos], x[(slice(None),) + src])


def test_pool_docstring_examples():
    """The worked examples of _windows_disjoint and _windows_overlapping."""
    assert _pool(Tensor.arange(5), (2,), (3,), (1,)).tolist() == [[0, 1], [3, 4]]
    assert _pool(Tensor.arange(4), (2,), (1,), (1,)).tolist() == [[0, 1], [1, 2], [2, 3]]
    assert _pool(Tensor.arange(7), (2,), (2,), (3,)).tolist() == [[0, 3], [2, 5]]  # dilated, strided


@pytest.mark.parametrize("kernel, stride, dilation", [((2, 2), (2, 2), (1, 1)), ((3, 2), (1, 2), (2, 1))])
def test_pool_is_a_view(kernel, stride, dilation):
    """Both window builders (disjoint and overlapping) use movement ops only: no copies."""
    node = _pool(Tensor(np.zeros((2, 9, 8), np.float32)), kernel, stride, dilation).node
    assert {n.op for n in node.toposort()} <= MOVEMENT | {Ops.BUFFER}


# ------------------------------------------------------------------------------------------------
# conv2d
# ------------------------------------------------------------------------------------------------

CONV_CASES = [  # x shape, w shape, groups, stride, dilation, padding
    ((1, 1, 5, 5), (1, 1, 3, 3), 1, 1, 1, 0),
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1, 1, 1),
    ((2, 3, 7, 6), (4, 3, 2, 3), 1, 2, 1, 0),
    ((1, 2, 9, 8), (3, 2, 3, 3), 1, (2, 3), 1, (1, 2)),
    ((1, 2, 9, 8), (2, 2, 3, 2), 1, 1, 2, 0),
    ((1, 2, 9, 9), (2, 2, 3, 3), 1, 2, (2, 3), (1, 0, 2, 1)),
    ((2, 4, 6, 6), (6, 2, 3, 3), 2, 1, 1, 1),
    ((1, 6, 7, 5), (6, 1, 3, 1), 6, (1, 2), 1, (0, 1)),
    ((1, 4, 8, 8), (4, 2, 2, 2), 2, 3, 2, 2),
    ((2, 3, 4, 4), (5, 3, 1, 1), 1, 1, 1, 0),
    ((1, 1, 4, 4), (1, 1, 4, 4), 1, 1, 1, 0),
    ((1, 2, 5, 5), (2, 2, 2, 2), 1, 4, 1, 0),
    ((2, 3, 10), (4, 3, 3), 1, 2, 1, 1),  # one spatial axis
    ((1, 2, 4, 5, 4), (3, 2, 2, 3, 2), 1, 1, 1, (1, 0, 1)),  # three spatial axes
]


@pytest.mark.parametrize("xs, ws, groups, stride, dilation, padding", CONV_CASES, ids=str)
@pytest.mark.parametrize("with_bias", [False, True])
def test_conv2d_matches_reference(xs, ws, groups, stride, dilation, padding, with_bias):
    x, w = RNG.standard_normal(xs).astype(np.float32), RNG.standard_normal(ws).astype(np.float32)
    b = RNG.standard_normal(ws[0]).astype(np.float32) if with_bias else None
    got = Tensor(x).conv2d(Tensor(w), None if b is None else Tensor(b), groups=groups, stride=stride,
                           dilation=dilation, padding=padding).numpy()
    np.testing.assert_allclose(got, conv_reference(x, w, b, groups, stride, dilation, padding), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda x: x.conv2d(Tensor.ones(4, 2, 3, 3)), "input has 3 channels (shape (2, 3, 6, 6)) but weight (4, 2, 3, 3) "
                                                 "with groups=1 expects groups * weight.shape[1] = 2"),
    (lambda x: x.conv2d(Tensor.ones(4, 1, 3, 3), groups=3), "4 output channels must be divisible by groups=3"),
    (lambda x: x.conv2d(Tensor.ones(4, 3, 7, 3)), "the window (kernel (7, 3), dilation (1, 1)) spans (7, 3) but "
                                                 "the (padded) input is only (6, 6)"),
    (lambda x: x.conv2d(Tensor.ones(4, 3, 3, 3), dilation=3), "spans (7, 7)"),
    (lambda x: x.conv2d(Tensor.ones(4, 3, 3)), "need the same number of dims"),
    (lambda x: x.conv2d(Tensor.ones(4, 3, 3, 3), stride=0), "stride must be an int >= 1"),
    (lambda x: x.conv2d(Tensor.ones(4, 3, 3, 3), padding=(1, 2, 3)), "padding must be an int, 2 ints"),
    (lambda x: x.conv2d(Tensor.ones(4, 3, 3, 3), padding=-2), "spans (3, 3) but the (padded) input is only (2, 2)"),
    (lambda x: x.conv2d(Tensor.ones(4, 3, 3, 3), bias=Tensor.ones(3)), "bias must be a Tensor of shape (4,)"),
])
def test_conv2d_errors(call, message):
    """RuntimeError, as PyTorch raises for each of these."""
    with pytest.raises(RuntimeError) as info:
        call(Tensor.ones(2, 3, 6, 6))
    assert message in str(info.value) and "Tensor.conv2d" in str(info.value)


# ------------------------------------------------------------------------------------------------
# pooling
# ------------------------------------------------------------------------------------------------

POOL_CASES = [  # kernel, stride, dilation, padding
    ((2, 2), None, 1, 0), ((3, 3), None, 1, 0), ((3, 3), 1, 1, 1), ((2, 3), (1, 2), 1, 0), ((3, 2), 2, 2, 0),
    ((2, 2), 3, 1, (1, 0)), ((3, 3), 2, (1, 2), (1, 1, 0, 2)), ((1, 1), None, 1, 0), ((4, 1), (1, 1), 1, 0),
]


@pytest.mark.parametrize("kernel, stride, dilation, padding", POOL_CASES, ids=str)
def test_max_and_avg_pool_match_reference(kernel, stride, dilation, padding):
    x = RNG.standard_normal((2, 3, 8, 7)).astype(np.float32)
    d = (dilation,) * 2 if isinstance(dilation, int) else dilation
    s = (stride,) * 2 if isinstance(stride, int) else stride
    args = dict(kernel_size=kernel, stride=stride, dilation=dilation, padding=padding)
    np.testing.assert_allclose(Tensor(x).max_pool2d(**args).numpy(),
                               pool_reference(x, np.max, kernel, s, d, padding, pad_value=-np.inf))
    np.testing.assert_allclose(Tensor(x).avg_pool2d(**args).numpy(),
                               pool_reference(x, np.mean, kernel, s, d, padding), rtol=1e-5, atol=1e-6)
    counts = pool_reference(np.ones(x.shape[-2:], np.float32), np.sum, kernel, s, d, padding)
    np.testing.assert_allclose(Tensor(x).avg_pool2d(**args, count_include_pad=False).numpy(),
                               pool_reference(x, np.sum, kernel, s, d, padding) / counts, rtol=1e-5, atol=1e-6)


def test_max_pool_of_ints_pads_with_the_smallest_int():
    x = -np.arange(16, dtype=np.int32).reshape(1, 4, 4) - 100
    got = Tensor(x).max_pool2d((3, 3), stride=1, padding=1).numpy()
    np.testing.assert_array_equal(got, pool_reference(x, np.max, (3, 3), (1, 1), (1, 1), 1,
                                                      pad_value=np.iinfo(np.int32).min))


def test_pool_errors():
    x = Tensor.ones(1, 1, 4, 4)
    with pytest.raises(RuntimeError, match=r"Tensor.max_pool2d: the output would be \(0, 0\) for an input of "
                                           r"spatial size \(4, 4\) with kernel \(5, 5\)"):
        x.max_pool2d(5)
    with pytest.raises(RuntimeError, match=r"Tensor.avg_pool2d: kernel_size must be an int >= 1 or a tuple of 2"):
        x.avg_pool2d((2, 0))
    with pytest.raises(RuntimeError, match=r"Tensor.max_pool2d: a 2-d kernel \(2, 2\) needs at least 2 dims"):
        Tensor.ones(4).max_pool2d()


# ------------------------------------------------------------------------------------------------
# cumsum, one_hot
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, axis", [((5,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -2), ((1,), 0),
                                         ((2, 600), 1), ((1030, 2), 0)])
def test_cumsum_matches_numpy(shape, axis):
    x = RNG.standard_normal(shape)
    np.testing.assert_allclose(Tensor(x).cumsum(axis).numpy(), np.cumsum(x, axis=axis), rtol=1e-9, atol=1e-9)


def test_cumsum_of_ints_and_scalars():
    np.testing.assert_array_equal(Tensor([3, 1, 4, 1, 5]).cumsum().numpy(), [3, 4, 8, 9, 14])
    assert Tensor(2.5).cumsum().numpy() == 2.5
    with pytest.raises(IndexError, match="Tensor.cumsum: dim 2 is out of range"):
        Tensor.ones(2, 2).cumsum(2)


def test_one_hot():
    labels = np.array([[0, 3], [2, 1]], np.int32)
    np.testing.assert_array_equal(Tensor(labels).one_hot(5).numpy(), np.eye(5, dtype=np.int32)[labels])
    np.testing.assert_array_equal(Tensor(labels).one_hot().numpy(), np.eye(4, dtype=np.int32)[labels])
    with pytest.raises(TypeError, match="Tensor.one_hot: labels must have an integer dtype"):
        Tensor([0.0, 1.0]).one_hot(2)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        Tensor([0, 1]).one_hot(0)
    with pytest.raises(IndexError, match=r"Tensor.one_hot: label 3 is not a class: valid labels are 0..2"):
        Tensor([0, 3]).one_hot(3)


# ------------------------------------------------------------------------------------------------
# losses
# ------------------------------------------------------------------------------------------------


def log_softmax(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def sparse_ce_reference(logits, labels, ignore_index=-1, smoothing=0.0, reduction="mean"):
    logp = log_softmax(logits, -1)
    kept = labels != ignore_index
    picked = np.take_along_axis(logp, np.where(kept, labels, 0)[..., None], -1)[..., 0]
    per = -np.where(kept, (1 - smoothing) * picked + smoothing * logp.mean(-1), 0.0)
    return per.sum() / kept.sum() if reduction == "mean" else per.sum() if reduction == "sum" else per


def ce_reference(logits, probs, smoothing=0.0, reduction="mean"):
    axis = 1 if logits.ndim >= 2 else 0
    probs = (1 - smoothing) * probs + smoothing / logits.shape[axis]
    per = -(log_softmax(logits, axis) * probs).sum(axis)
    return per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per


LOGITS = RNG.standard_normal((6, 5))
LABELS = np.array([0, 4, 2, -1, 3, 2], np.int32)


@pytest.mark.parametrize("ignore_index, smoothing, reduction", [(-1, 0.0, "mean"), (-1, 0.1, "mean"), (2, 0.0, "sum"),
                                                                 (2, 0.3, "none"), (-1, 1.0, "mean")])
def test_sparse_categorical_crossentropy(ignore_index, smoothing, reduction):
    labels = np.where(LABELS == -1, ignore_index, LABELS)  # one ignored label
    got = Tensor(LOGITS).sparse_categorical_crossentropy(Tensor(labels), ignore_index, smoothing, reduction).numpy()
    np.testing.assert_allclose(got, sparse_ce_reference(LOGITS, labels, ignore_index, smoothing, reduction),
                               rtol=1e-9)


def test_sparse_categorical_crossentropy_of_a_batch_of_sequences():
    logits, labels = RNG.standard_normal((2, 3, 4)), np.array([[1, 0, 3], [3, 3, -1]], np.int32)
    np.testing.assert_allclose(Tensor(logits).sparse_categorical_crossentropy(Tensor(labels)).numpy(),
                               sparse_ce_reference(logits, labels), rtol=1e-9)


def test_sparse_categorical_crossentropy_with_a_minus_inf_logit_off_the_label_is_finite():
    """Without smoothing, a class of logit -inf (probability 0) that is not the label adds nothing (PyTorch's
    answer); the mean log-probability, -inf, is not part of the loss (0 * -inf was NaN)."""
    logits = np.array([[0.0, -np.inf, 1.0]], np.float32)
    got = Tensor(logits).sparse_categorical_crossentropy(Tensor(np.array([2], np.int32))).numpy()
    np.testing.assert_allclose(got, np.log1p(np.exp(-1.0)), rtol=1e-6)


@pytest.mark.parametrize("reduction, smoothing", [("mean", 0.0), ("sum", 0.2), ("none", 0.0)])
def test_cross_entropy_with_indices_and_probabilities(reduction, smoothing):
    labels = np.array([1, 0, 4, 4, 2, 3], np.int32)
    expected = ce_reference(LOGITS, np.eye(5)[labels], smoothing, reduction)
    np.testing.assert_allclose(Tensor(LOGITS).cross_entropy(Tensor(labels), reduction, smoothing).numpy(), expected,
                               rtol=1e-9)
    np.testing.assert_allclose(Tensor(LOGITS).cross_entropy(Tensor(np.eye(5)[labels]), reduction, smoothing).numpy(),
                               expected, rtol=1e-9)


def test_cross_entropy_class_axis_is_one():
    logits, labels = RNG.standard_normal((2, 4, 3)), np.array([[0, 3, 1], [2, 2, 0]], np.int32)
    probs = np.moveaxis(np.eye(4)[labels], -1, 1)
    np.testing.assert_allclose(Tensor(logits).cross_entropy(Tensor(labels)).numpy(), ce_reference(logits, probs),
                               rtol=1e-9)


def test_binary_crossentropy_and_logits_form():
    x, y = RNG.standard_normal((4, 3)) * 5, RNG.uniform(size=(4, 3))
    p = 1 / (1 + np.exp(-x))
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(Tensor(p).binary_crossentropy(Tensor(y)).numpy(), expected.mean(), rtol=1e-9)
    np.testing.assert_allclose(Tensor(x).binary_crossentropy_logits(Tensor(y), "none").numpy(), expected, rtol=1e-9)
    # the logits form stays finite where sigmoid rounds to exactly 0 or 1
    big = Tensor(np.array([-800.0, 800.0])).binary_crossentropy_logits(Tensor(np.array([1.0, 0.0])), "none").numpy()
    np.testing.assert_allclose(big, [800.0, 800.0])


@pytest.mark.parametrize("call, error, message", [
    (lambda: Tensor(LOGITS).sparse_categorical_crossentropy(Tensor(LABELS[:3])), ValueError,
     "Tensor.sparse_categorical_crossentropy: Y must be an integer Tensor of shape (6,)"),
    (lambda: Tensor(LOGITS).sparse_categorical_crossentropy(Tensor(LABELS) + 1), IndexError,
     "Tensor.sparse_categorical_crossentropy: label 5 is not a class: valid labels are 0..4 or ignore_index=-1"),
    (lambda: Tensor(LOGITS).cross_entropy(Tensor(LABELS)), IndexError,
     "Tensor.cross_entropy: label -1 is not a class: valid labels are 0..4"),
    (lambda: Tensor(LOGITS).sparse_categorical_crossentropy(Tensor(LABELS), reduction="avg"), ValueError,
     "reduction must be one of"),
    (lambda: Tensor(LOGITS).cross_entropy(Tensor(LABELS), label_smoothing=1.5), RuntimeError,
     "Tensor.cross_entropy: label_smoothing must be in [0, 1]"),
    (lambda: Tensor(LOGITS).cross_entropy(Tensor(np.zeros((6, 4)))), RuntimeError,
     "Tensor.cross_entropy: the target must be integer class indices of shape (6,) (the input's shape (6, 5) "
     "without the class axis 1) or, for cross_entropy, float probabilities of the input's shape; got (6, 4)"),
    (lambda: Tensor(LOGITS).binary_crossentropy(Tensor(LOGITS[:2])), ValueError,
     "Tensor.binary_crossentropy: Y must be a Tensor of the same shape as self (6, 5)"),
])
def test_loss_errors(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


# ------------------------------------------------------------------------------------------------
# Gradients against central finite differences (float64)
# ------------------------------------------------------------------------------------------------




@pytest.mark.parametrize("groups, stride, dilation, padding", [(1, 1, 1, 1), (2, 2, 1, (1, 0, 0, 2)), (1, 1, 2, 0)])
def test_conv2d_gradient(groups, stride, dilation, padding):
    x, w, b = RNG.standard_normal((2, 4, 6, 5)), RNG.standard_normal((2, 4 // groups, 2, 3)), RNG.standard_normal(2)
    finite_difference_check(lambda x, w, b: x.conv2d(w, b, groups, stride, dilation, padding),
                            lambda x, w, b: conv_reference(x, w, b, groups, stride, dilation, padding), x, w, b)


@pytest.mark.parametrize("kernel, stride, padding", [((2, 2), None, 0), ((3, 3), 1, 1), ((3, 2), (2, 1), (1, 0))])
def test_pool_gradients(kernel, stride, padding):
    x = RNG.standard_normal((2, 5, 6))
    s = kernel if stride is None else (stride,) * 2 if isinstance(stride, int) else stride
    finite_difference_check(lambda t: t.max_pool2d(kernel, stride, 1, padding),
                            lambda a: pool_reference(a, np.max, kernel, s, (1, 1), padding, -np.inf), x)
    finite_difference_check(lambda t: t.avg_pool2d(kernel, stride, 1, padding),
                            lambda a: pool_reference(a, np.mean, kernel, s, (1, 1), padding), x)


def test_cumsum_gradient():
    finite_difference_check(lambda t: t.cumsum(1), lambda a: np.cumsum(a, 1), RNG.standard_normal((3, 7)))


def test_loss_gradients():
    labels = Tensor(LABELS)
    finite_difference_check(lambda t: t.sparse_categorical_crossentropy(labels, label_smoothing=0.1),
                            lambda a: sparse_ce_reference(a, LABELS, smoothing=0.1), LOGITS, rtol=1e-5)
    probs = np.eye(5)[np.abs(LABELS)]
    finite_difference_check(lambda t: t.cross_entropy(Tensor(probs), label_smoothing=0.2),
                            lambda a: ce_reference(a, probs, 0.2), LOGITS, rtol=1e-5)
    y = RNG.uniform(size=LOGITS.shape)
    finite_difference_check(lambda t: t.binary_crossentropy_logits(Tensor(y)),
                            lambda a: np.mean(np.logaddexp(0, a) - a * y), LOGITS, rtol=1e-5)
    p = RNG.uniform(0.1, 0.9, size=(3, 4))
    finite_difference_check(lambda t: t.binary_crossentropy(Tensor(p[::-1].copy())),
                            lambda a: np.mean(-(p[::-1] * np.log(a) + (1 - p[::-1]) * np.log(1 - a))), p, rtol=1e-5)


def test_class_index_losses_and_pooling_work_on_a_device_other_than_the_default(device):
    # one_hot's arange and avg_pool2d's count of real cells were made on the default device, so these raised
    # "operands are on devices 'PYTHON' and 'C'" for tensors placed with device=
    other = "PYTHON" if device == "C" else "C"
    logits, labels = LOGITS[:3].astype(np.float32), np.array([0, 3, 1], np.int32)
    x, y = Tensor(logits, device=other), Tensor(labels, device=other)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(x.cross_entropy(y).numpy(), -log_p[np.arange(3), labels].mean(), rtol=1e-5)
    np.testing.assert_allclose(x.sparse_categorical_crossentropy(y).numpy(), -log_p[np.arange(3), labels].mean(),
                               rtol=1e-5)
    np.testing.assert_array_equal(y.one_hot(4).numpy(), np.eye(4, dtype=np.int32)[labels])
    ones = Tensor(np.ones((1, 1, 4, 4), np.float32), device=other)
    np.testing.assert_array_equal(ones.avg_pool2d(2, padding=1, count_include_pad=False).numpy(), np.ones((1, 1, 3, 3)))


def test_the_losses_class_indices_are_made_once_and_name_each_callers_line():
    """one_hot and the losses compare labels with 0..n-1: one buffer per (n, dtype, device), each call's node on it
    naming that call's line (the kernels' comments do), and the values are those of a fresh arange."""
    def class_index_leaves(t):
        return [n for n in t.node.toposort() if n.op is Ops.BUFFER and n.shape == (5,)]

    y = Tensor([4, 0, 2])
    first = y.one_hot(5)
    second = y.one_hot(5)
    (a,), (b,) = class_index_leaves(first), class_index_leaves(second)
    assert a.arg is b.arg and a.meta.line + 1 == b.meta.line
    np.testing.assert_array_equal(second.numpy(), np.eye(5, dtype=np.int32)[[4, 0, 2]])
    np.testing.assert_array_equal(Tensor([1, 3]).one_hot(5).numpy(), np.eye(5, dtype=np.int32)[[1, 3]])
