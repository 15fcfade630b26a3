"""The nn-functions API (shrimpgrad/conv_ops.py and the newer parts of shrimpgrad/nn_ops.py): einsum,
conv_transpose2d, 1-d/3-d convolution and pooling, negative conv padding, ceil_mode and pooling indices,
max_unpool2d, interpolate, scaled_dot_product_attention, nll_loss, cross_entropy (weights, ignore_index, label
smoothing), binary_crossentropy_logits(pos_weight); and the numerics of softmax gradients and float16 matmul.

Oracles: np.einsum, direct numpy loops written from PyTorch's documented formulas, and values printed in
PyTorch's documentation (nn.Upsample, nn.MaxPool2d). Gradients against finite differences (grad_check)."""

import math

import numpy as np
import pytest
from api_checks import assert_matches, grad_check
from hypothesis import given, settings
from hypothesis import strategies as st
from test_nn_ops import conv_reference

from shrimpgrad import Tensor, dtypes

RNG = np.random.default_rng(13)


def randn(*shape):
    return RNG.standard_normal(shape)


# ------------------------------------------------------------------------------------------------
# einsum
# ------------------------------------------------------------------------------------------------

EINSUM_CASES = [  # formula, operand shapes
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output: ik
    ("ba", [(2, 3)]),  # implicit output, alphabetical: ab, a transpose
    ("ii->", [(4, 4)]),  # trace
    ("ii", [(4, 4)]),  # implicit trace
    ("ii->i", [(3, 3)]),  # diagonal
    ("bii->b", [(2, 3, 3)]),
    ("iji->j", [(3, 2, 3)]),
    ("ij->ji", [(2, 5)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->", [(3, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),  # ellipses of different rank broadcast
    ("...ij->...ji", [(2, 2, 3, 4)]),
    ("i...->...", [(3, 2, 2)]),
    ("b h i d, b h j d -> b h i j", [(1, 2, 3, 4), (1, 2, 5, 4)]),  # spaces are ignored
    ("Ab,bC->AC", [(2, 3), (3, 2)]),  # upper-case labels
    ("ij,ij->ij", [(2, 3), (2, 3)]),
]


@pytest.mark.parametrize("formula, shapes", EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_matches_numpy(formula, shapes):
    arrays = [randn(*s) for s in shapes]
    assert_matches(Tensor.einsum(formula, *[Tensor(a) for a in arrays]), np.einsum(formula, *arrays), rtol=1e-12,
                   dtype=np.float64)


def test_einsum_operands_as_a_list_broadcasting_and_summed_ellipsis():
    a, b = randn(2, 3), randn(3, 4)
    assert_matches(Tensor.einsum("ij,jk->ik", [Tensor(a), Tensor(b)]), a @ b, rtol=1e-12)
    # a size-1 axis broadcasts against the same label of another operand (PyTorch)
    c = randn(1, 4)
    assert_matches(Tensor.einsum("ij,ij->ij", Tensor(randn(3, 4) * 0 + 2), Tensor(c)), 2 * np.broadcast_to(c, (3, 4)))
    # ellipsis axes missing from the output are summed (PyTorch)
    x = randn(2, 3, 4)
    assert_matches(Tensor.einsum("...i->i", Tensor(x)), x.sum((0, 1)), rtol=1e-12)


@st.composite
def einsum_problems(draw):
    """1-3 operands over up to 4 labels of sizes 1-3, with repeated labels (diagonals) and an explicit output of
    distinct labels, or the implicit one."""
    sizes = {lab: draw(st.integers(1, 3)) for lab in "abcd"}
    terms = [draw(st.lists(st.sampled_from("abcd"), min_size=0, max_size=3)) for _ in range(draw(st.integers(1, 3)))]
    used = sorted({lab for t in terms for lab in t})
    output = draw(st.none() | st.permutations(used).flatmap(lambda p: st.integers(0, len(p)).map(lambda n: p[:n])))
    formula = ",".join("".join(t) for t in terms) + ("" if output is None else "->" + "".join(output))
    return formula, [tuple(sizes[lab] for lab in t) for t in terms]


@settings(max_examples=25)
@given(einsum_problems(), st.integers(0, 2**16))
def test_einsum_matches_numpy_on_random_equations(problem, seed):
    formula, shapes = problem
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    assert_matches(Tensor.einsum(formula, *[Tensor(a) for a in arrays]), np.einsum(formula, *arrays), rtol=1e-10,
                   atol=1e-12)


def test_einsum_edge_cases():
    assert_matches(Tensor.einsum("ij,jk->ik", Tensor.ones(2, 0), Tensor.ones(0, 3)), np.zeros((2, 3)))  # empty sum
    assert_matches(Tensor.einsum(",i->i", Tensor(3.0), Tensor([1.0, 2.0])), [3.0, 6.0])  # a 0-d operand
    assert_matches(Tensor.einsum("->", Tensor(2.5)), 2.5)


@pytest.mark.parametrize("dtypes_in, out", [((np.float32, np.float32), np.float32), ((np.int32, np.int32), np.int32),
                                            ((np.int32, np.float32), np.float32),  # PyTorch (numpy: float64)
                                            ((np.int8, np.int8), np.int8),
                                            ((np.float16, np.float16), np.float16)])
def test_einsum_dtypes(dtypes_in, out):
    a = (RNG.integers(-3, 4, (3, 4))).astype(dtypes_in[0])
    b = (RNG.integers(-3, 4, (4, 2))).astype(dtypes_in[1])
    expected = np.einsum("ij,jk->ik", a.astype(np.float64), b.astype(np.float64)).astype(out)
    assert_matches(Tensor.einsum("ij,jk->ik", Tensor(a), Tensor(b)), expected, dtype=out)


@pytest.mark.parametrize("formula, shapes", [("ij,jk->ik", [(2, 3), (3, 2)]), ("ii->", [(3, 3)]),
                                             ("bij,bkj->bik", [(2, 2, 3), (2, 2, 3)]),
                                             ("...i,i->...", [(2, 3), (3,)])])
def test_einsum_gradients(formula, shapes):
    grad_check(lambda *ts: Tensor.einsum(formula, *ts), *[randn(*s) for s in shapes])


@pytest.mark.parametrize("call, error, message", [
    (lambda a, b: Tensor.einsum("ij,jk->ik", a), RuntimeError, "2 operand(s) are named but 1 were given"),
    (lambda a, b: Tensor.einsum("i1,jk->ik", a, b), RuntimeError, "subscripts must be letters a-zA-Z"),
    (lambda a, b: Tensor.einsum("ijk,jk->ik", a, b), RuntimeError, "operand of shape (2, 3) has 2 dims but 'ijk'"),
    (lambda a, b: Tensor.einsum("ij,ik->jk", a, b), RuntimeError,
     "subscript 'i' has size 2 in one operand and 3 in another"),
    (lambda a, b: Tensor.einsum("ij,jk->ii", a, b), RuntimeError, "the output 'ii' names a subscript twice"),
    (lambda a, b: Tensor.einsum("ij,jk->iz", a, b), RuntimeError, "output subscript 'z' appears in no input"),
    (lambda a, b: Tensor.einsum("ii->i", a), RuntimeError, "subscript 'i' is repeated for an operand of shape (2, 3)"),
    (lambda a, b: Tensor.einsum("ij", a.numpy()), TypeError, "operands must be Tensors"),
])
def test_einsum_errors(call, error, message):
    a, b = Tensor.ones(2, 3), Tensor.ones(3, 4)
    with pytest.raises(error) as info:
        call(a, b)
    assert message in str(info.value) and "Tensor.einsum" in str(info.value)


# ------------------------------------------------------------------------------------------------
# conv_transpose2d, negative padding, 1-d and 3-d convolution
# ------------------------------------------------------------------------------------------------


def conv_transpose_reference(x, w, b=None, groups=1, stride=1, dilation=1, padding=0, output_padding=0):
    """Scatter form: every input cell adds x * w[kernel] at out[i*s + k*d - p] (PyTorch's ConvTranspose)."""
    n = w.ndim - 2
    s, d, p, op = ((v,) * n if isinstance(v, int) else v for v in (stride, dilation, padding, output_padding))
    cin, rcout, kernel = w.shape[0] // groups, w.shape[1], w.shape[2:]
    full = tuple((i - 1) * si + di * (k - 1) + 1 + opi for i, si, di, k, opi in zip(x.shape[2:], s, d, kernel, op))
    out = np.zeros((x.shape[0], groups * rcout) + full)
    for g in range(groups):
        for ipos in np.ndindex(*x.shape[2:]):
            for kpos in np.ndindex(*kernel):
                at = tuple(i * si + k * di for i, si, k, di in zip(ipos, s, kpos, d))
                xs = x[(slice(None), slice(g * cin, (g + 1) * cin)) + ipos]  # (N, cin)
                ws = w[(slice(g * cin, (g + 1) * cin), slice(None)) + kpos]  # (cin, rcout)
                out[(slice(None), slice(g * rcout, (g + 1) * rcout)) + at] += xs @ ws
    out = out[(slice(None), slice(None)) + tuple(slice(pi, f - pi) for pi, f in zip(p, full))]
    return out if b is None else out + b.reshape((1, -1) + (1,) * n)


CONV_T_CASES = [  # x shape, w shape, groups, stride, dilation, padding, output_padding
    ((1, 1, 3, 3), (1, 1, 2, 2), 1, 1, 1, 0, 0),
    ((2, 3, 4, 5), (3, 2, 3, 3), 1, 2, 1, 1, 1),
    ((1, 2, 4, 4), (2, 3, 3, 2), 1, (2, 3), 1, (1, 0), (1, 2)),
    ((1, 2, 3, 4), (2, 2, 2, 3), 1, 1, 2, (0, 2), 0),
    ((2, 4, 3, 3), (4, 1, 3, 3), 2, 2, 1, 1, 0),
    ((1, 6, 4, 3), (6, 2, 2, 2), 3, 3, 2, 0, 1),
    ((1, 2, 5, 4), (2, 3, 2, 3), 1, 2, 1, (2, 3), 0),  # padding > d*(k-1): the inner conv2d pads negatively
    ((2, 3, 7), (3, 2, 3), 1, 2, 1, 1, 1),  # 1-d
    ((1, 2, 3, 2, 3), (2, 2, 2, 2, 2), 1, 2, 1, (0, 1, 0), 0),  # 3-d
]


@pytest.mark.parametrize("xs, ws, groups, stride, dilation, padding, output_padding", CONV_T_CASES, ids=str)
def test_conv_transpose2d_matches_reference(xs, ws, groups, stride, dilation, padding, output_padding):
    x, w, b = randn(*xs), randn(*ws), randn(ws[1] * groups)
    got = Tensor(x).conv_transpose2d(Tensor(w), Tensor(b), groups, stride, dilation, padding, output_padding)
    assert_matches(got, conv_transpose_reference(x, w, b, groups, stride, dilation, padding, output_padding),
                   rtol=1e-10, atol=1e-10, dtype=np.float64)


def test_conv_transpose2d_is_the_gradient_of_conv2d():
    """<conv2d(y, w), g> == <y, conv_transpose2d(g, w)>: the defining property of the transposed convolution."""
    y, w, g = randn(1, 2, 8, 6), randn(3, 2, 3, 2), randn(1, 3, 4, 4)
    lhs = (Tensor(y).conv2d(Tensor(w), stride=2, padding=1).numpy() * g).sum()
    rhs = (y * Tensor(g).conv_transpose2d(Tensor(w), stride=2, padding=1, output_padding=(1, 0)).numpy()).sum()
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


def test_conv_transpose2d_gradients():
    grad_check(lambda x, w: x.conv_transpose2d(w, stride=2, padding=1, output_padding=1), randn(1, 2, 2, 2),
               randn(2, 1, 2, 2))


@pytest.mark.parametrize("call, message", [
    (lambda x: x.conv_transpose2d(Tensor.ones(3, 2, 3, 3)), "input has 2 channels"),
    (lambda x: x.conv_transpose2d(Tensor.ones(2, 2, 3, 3), stride=2, output_padding=2), "output_padding (2, 2) "
                                                                                         "must be smaller"),
    (lambda x: x.conv_transpose2d(Tensor.ones(2, 2, 3, 3), groups=3), "groups=3 must be a positive int dividing"),
    (lambda x: x.conv_transpose2d(Tensor.ones(2, 2, 3)), "need the same number of dims"),
    (lambda x: x.conv_transpose2d(Tensor.ones(2, 2, 3, 3), padding=4), "leaves no output"),
    (lambda x: x.conv_transpose2d(Tensor.ones(2, 2, 3, 3), stride=0), "stride must be an int >= 1"),
])
def test_conv_transpose2d_errors(call, message):
    with pytest.raises(RuntimeError) as info:
        call(Tensor.ones(1, 2, 3, 3))
    assert message in str(info.value) and "Tensor.conv_transpose2d" in str(info.value)


@pytest.mark.parametrize("padding", [-1, (-1, 0), (0, -1, 1, -2)])
def test_conv2d_negative_padding_cuts_the_input(padding):
    """tinygrad's negative conv padding: the input loses that many cells on that side before the convolution."""
    x, w = randn(1, 2, 7, 6), randn(3, 2, 2, 2)
    pairs = ((padding, padding),) * 2 if isinstance(padding, int) else \
        tuple((p, p) for p in padding) if len(padding) == 2 else ((padding[2], padding[3]), (padding[0], padding[1]))
    crop = x
    for axis, (b, a) in enumerate(pairs, start=2):
        crop = np.pad(crop, [(0, 0)] * axis + [(max(b, 0), max(a, 0))] + [(0, 0)] * (3 - axis))
        size = crop.shape[axis]
        crop = np.take(crop, range(-min(b, 0), size + min(a, 0)), axis=axis)
    assert_matches(Tensor(x).conv2d(Tensor(w), padding=padding), conv_reference(crop, w), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernel, dilation", [((3, 3), 1), ((2, 4), 1), ((3, 2), 2)])
def test_conv2d_same_and_valid_padding(kernel, dilation):
    """PyTorch's padding="same": d*(k-1) cells per axis, half before, the odd one after."""
    x, w = randn(1, 2, 6, 7), randn(3, 2, *kernel)
    totals = [dilation * (k - 1) for k in kernel]
    padded = np.pad(x, ((0, 0), (0, 0)) + tuple((t // 2, t - t // 2) for t in totals))
    got = Tensor(x).conv2d(Tensor(w), dilation=dilation, padding="same")
    assert got.shape == (1, 3, 6, 7)
    assert_matches(got, conv_reference(padded, w, dilation=dilation), rtol=1e-10, atol=1e-12)
    assert_matches(Tensor(x).conv2d(Tensor(w), dilation=dilation, padding="valid"),
                   conv_reference(x, w, dilation=dilation), rtol=1e-10, atol=1e-12)
    with pytest.raises(RuntimeError, match="Tensor.conv2d: padding='same' needs stride 1"):
        Tensor(x).conv2d(Tensor(w), stride=2, padding="same")
    with pytest.raises(RuntimeError, match="Tensor.conv2d: padding must be an int, a tuple of ints, 'valid' or 'same'"):
        Tensor(x).conv2d(Tensor(w), padding="full")  # PyTorch's type (a PaddingError is also a ValueError)


def test_conv1d_and_conv3d_gradients():
    grad_check(lambda x, w: x.conv2d(w, stride=2, padding=1), randn(1, 2, 5), randn(2, 2, 3))
    grad_check(lambda x, w: x.conv2d(w, padding=(1, 0, 0)), randn(1, 1, 2, 3, 2), randn(1, 1, 2, 2, 2))


def test_conv2d_accumulation_dtype():
    x, w = RNG.integers(-3, 3, (1, 2, 4, 4)).astype(np.int8), RNG.integers(-3, 3, (1, 2, 3, 3)).astype(np.int8)
    assert_matches(Tensor(x).conv2d(Tensor(w), dtype=dtypes.int32), conv_reference(x.astype(np.int32),
                                                                                    w.astype(np.int32)),
                   dtype=np.int32)


# ------------------------------------------------------------------------------------------------
# pooling: ceil_mode, return_indices, 1-d and 3-d, max_unpool2d
# ------------------------------------------------------------------------------------------------


def pool_sizes(ins, kernel, stride, dilation, pads, ceil_mode):
    """PyTorch's pooling output size (pooling_output_shape)."""
    outs = []
    for i, k, s, d, (b, a) in zip(ins, kernel, stride, dilation, pads):
        num = i + b + a - d * (k - 1) - 1
        o = (-(-num // s) if ceil_mode else num // s) + 1
        if ceil_mode and (o - 1) * s >= i + b:
            o -= 1
        outs.append(o)
    return outs


def pool_loop(x, kind, kernel, stride, dilation=None, pads=None, ceil_mode=False, count_include_pad=True):
    """PyTorch's pooling loops over the last len(kernel) axes: window cells start + k*d; max over the cells inside
    the input (first maximum's flat index), mean divided by the cells inside the input (+ padding if counted)."""
    n = len(kernel)
    dilation = dilation or (1,) * n
    pads = pads or ((0, 0),) * n
    ins = x.shape[-n:]
    outs = pool_sizes(ins, kernel, stride, dilation, pads, ceil_mode)
    values = np.zeros(x.shape[:-n] + tuple(outs))
    indices = np.zeros(values.shape, np.int64)
    for lead in np.ndindex(*x.shape[:-n]):
        for opos in np.ndindex(*outs):
            best, best_at, total, count = -np.inf, -1, 0.0, 0
            for kpos in np.ndindex(*kernel):
                cell = tuple(o * s - b + k * d for o, s, (b, _), k, d in zip(opos, stride, pads, kpos, dilation))
                inside = all(0 <= c < i for c, i in zip(cell, ins))
                padded = all(-b <= c < i + a for c, i, (b, a) in zip(cell, ins, pads))
                count += inside or (padded and count_include_pad)
                if inside:
                    v = x[lead + cell]
                    total += v
                    if v > best:
                        best, best_at = v, int(np.ravel_multi_index(cell, ins))
            values[lead + opos] = best if kind == "max" else total / count
            indices[lead + opos] = best_at
    return (values, indices) if kind == "max" else values


POOL_CASES = [  # input shape, kernel, stride, dilation, padding ((before, after) per axis), ceil_mode
    ((1, 2, 5, 5), (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)), True),
    ((2, 1, 7, 6), (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)), True),
    ((1, 1, 8, 7), (3, 2), (3, 2), (1, 1), ((1, 1), (0, 0)), True),
    ((1, 1, 9, 9), (2, 3), (2, 2), (2, 1), ((0, 0), (1, 1)), True),
    ((1, 1, 6, 6), (2, 2), (1, 1), (1, 1), ((0, 0), (0, 0)), False),
    ((2, 3, 10), (3,), (2,), (1,), ((1, 1),), True),  # 1-d
    ((1, 1, 4, 5, 5), (2, 2, 3), (2, 2, 2), (1, 1, 1), ((0, 0), (1, 1), (0, 0)), True),  # 3-d
]


def _flat_padding(pads):
    return tuple(v for b, a in reversed(pads) for v in (b, a))


@pytest.mark.parametrize("shape, kernel, stride, dilation, pads, ceil_mode", POOL_CASES, ids=str)
def test_max_pool_values_and_indices_match_pytorch_loops(shape, kernel, stride, dilation, pads, ceil_mode):
    x = RNG.permutation(math.prod(shape)).reshape(shape).astype(np.float32)  # distinct values: one maximum
    values, indices = Tensor(x).max_pool2d(kernel, stride, dilation, _flat_padding(pads), ceil_mode,
                                           return_indices=True)
    want_values, want_indices = pool_loop(x, "max", kernel, stride, dilation, pads, ceil_mode)
    assert_matches(values, want_values.astype(np.float32), dtype=np.float32)
    assert_matches(indices, want_indices, dtype=np.int64)


@pytest.mark.parametrize("shape, kernel, stride, dilation, pads, ceil_mode", POOL_CASES, ids=str)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_matches_pytorch_loops(shape, kernel, stride, dilation, pads, ceil_mode, count_include_pad):
    x = randn(*shape)
    got = Tensor(x).avg_pool2d(kernel, stride, dilation, _flat_padding(pads), ceil_mode, count_include_pad)
    assert_matches(got, pool_loop(x, "avg", kernel, stride, dilation, pads, ceil_mode, count_include_pad),
                   rtol=1e-12, dtype=np.float64)


@settings(max_examples=15)
@given(st.data())
def test_pooling_matches_pytorch_loops_on_random_windows(data):
    """Random kernels, strides, dilations, paddings (at most half the kernel, as PyTorch allows) and ceil_mode."""
    kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(2))
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(2))
    dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(2))
    pads = tuple((p, p) for p in (data.draw(st.integers(0, k // 2)) for k in kernel))
    ceil_mode, include = data.draw(st.booleans()), data.draw(st.booleans())
    ins = tuple(d * (k - 1) + 1 + data.draw(st.integers(0, 4)) for k, d in zip(kernel, dilation))
    x = np.random.default_rng(data.draw(st.integers(0, 99))).permutation(math.prod(ins)).reshape((1,) + ins) * 1.0
    values, indices = Tensor(x).max_pool2d(kernel, stride, dilation, _flat_padding(pads), ceil_mode, True)
    want_values, want_indices = pool_loop(x, "max", kernel, stride, dilation, pads, ceil_mode)
    assert_matches(values, want_values)
    assert_matches(indices, want_indices)
    assert_matches(Tensor(x).avg_pool2d(kernel, stride, dilation, _flat_padding(pads), ceil_mode, include),
                   pool_loop(x, "avg", kernel, stride, dilation, pads, ceil_mode, include), rtol=1e-12)


def test_pooling_values_from_the_documentation():
    """tinygrad's docstring examples (and PyTorch's values for them)."""
    t = Tensor.arange(25).reshape(1, 1, 5, 5)
    assert t.max_pool2d(ceil_mode=True).tolist() == [[[[6, 8, 9], [16, 18, 19], [21, 23, 24]]]]
    assert t.avg_pool2d(ceil_mode=True).tolist() == [[[[3.0, 5.0, 6.5], [13.0, 15.0, 16.5], [20.5, 22.5, 24.0]]]]
    out, idx = Tensor.arange(1, 17).reshape(1, 1, 4, 4).max_pool2d(return_indices=True)
    assert out.tolist() == [[[[6, 8], [14, 16]]]] and idx.tolist() == [[[[5, 7], [13, 15]]]]
    assert Tensor.max_unpool2d(out, idx).tolist() == [[[[0, 0, 0, 0], [0, 6, 0, 8], [0, 0, 0, 0], [0, 14, 0, 16]]]]


def test_pool_ties_take_the_first_maximum_and_ints_keep_their_dtype():
    x = np.array([[[[1, 3, 3], [3, 0, 3], [2, 2, 2]]]], np.int32)
    values, indices = Tensor(x).max_pool2d(2, stride=1, return_indices=True)
    assert_matches(values, [[[[3, 3], [3, 3]]]], dtype=np.int32)
    assert_matches(indices, [[[[1, 1], [3, 5]]]], dtype=np.int64)
    assert Tensor(x).avg_pool2d(2, stride=1).dtype == dtypes.default_float


def test_pooling_and_convolution_edge_cases():
    nan = np.array([[[[1.0, np.nan], [3, 2]]]])
    values, indices = Tensor(nan).max_pool2d(2, return_indices=True)
    assert np.isnan(values.item()) and indices.item() == 1  # NaN is the max of its window (PyTorch)
    assert Tensor(np.eye(4, dtype=bool).reshape(1, 1, 4, 4)).max_pool2d(2).tolist() == [[[[True, False],
                                                                                           [False, True]]]]
    assert Tensor.ones(0, 2, 4, 4).conv2d(Tensor.ones(3, 2, 3, 3)).shape == (0, 3, 2, 2)  # an empty batch
    assert Tensor.ones(0, 3, 2, 2).conv_transpose2d(Tensor.ones(3, 1, 2, 2)).shape == (0, 1, 3, 3)
    assert_matches(Tensor([[[5.0, 7.0]]]).max_unpool2d(Tensor([[[1, 2]]]), kernel_size=(2,)), [[[0.0, 5.0, 7.0, 0.0]]])


def test_pool_gradients_with_ceil_mode():
    x = RNG.permutation(30).reshape(1, 5, 6).astype(np.float64) / 7  # no ties
    grad_check(lambda t: t.max_pool2d(2, ceil_mode=True), x)
    grad_check(lambda t: t.avg_pool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False), x)
    grad_check(lambda t: t.avg_pool2d((3,), 2, ceil_mode=True), randn(2, 6))


def test_max_unpool2d_inverts_max_pool2d():
    x = RNG.permutation(2 * 3 * 5 * 5).reshape(2, 3, 5, 5).astype(np.float32)
    out, idx = Tensor(x).max_pool2d(2, return_indices=True)
    # pooling a 5x5 input with k=2 floors to 2x2, so the default size is 4x4; output_size restores 5x5
    expected = np.zeros((2, 3, 25), np.float32)
    np.put_along_axis(expected, idx.numpy().reshape(2, 3, -1), out.numpy().reshape(2, 3, -1), axis=-1)
    assert_matches(out.max_unpool2d(idx, output_size=(2, 3, 5, 5)), expected.reshape(2, 3, 5, 5), dtype=np.float32)
    _, idx4 = Tensor(x[..., :4, :4]).max_pool2d(2, return_indices=True)
    assert out.max_unpool2d(idx4).shape == (2, 3, 4, 4)  # the size pooling started from


def test_max_unpool2d_of_overlapping_windows_keeps_one_copy():
    """With stride < kernel the same index appears in several windows; PyTorch writes it once (tinygrad adds)."""
    x = np.array([[[[0.0, 1, 0], [0, 9, 0], [0, 2, 0]]]])
    out, idx = Tensor(x).max_pool2d(2, stride=1, return_indices=True)
    assert idx.tolist() == [[[[4, 4], [4, 4]]]]
    assert_matches(out.max_unpool2d(idx, 2, stride=1), [[[[0.0, 0, 0], [0, 9, 0], [0, 0, 0]]]])


def test_max_unpool2d_gradient_and_errors():
    idx = Tensor(np.array([[[[0, 3], [9, 14]]]], np.int64))
    grad_check(lambda t: t.max_unpool2d(idx, output_size=(4, 4)), randn(1, 1, 2, 2))
    with pytest.raises(RuntimeError, match="Tensor.max_unpool2d: index 9 is out of range for the output's 9"):
        Tensor.ones(1, 1, 2, 2).max_unpool2d(idx, output_size=(3, 3))
    with pytest.raises(RuntimeError, match=r"indices must be an integer Tensor of self's shape \(1, 1, 2, 2\)"):
        Tensor.ones(1, 1, 2, 2).max_unpool2d(idx.float())


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.max_pool2d(2, padding=-1), RuntimeError, "Tensor.max_pool2d: padding must be non-negative"),
    (lambda x: x.max_pool2d(2, stride=0), RuntimeError, "Tensor.max_pool2d: stride must be an int >= 1"),
    (lambda x: x.avg_pool2d(2.5), TypeError, "Tensor.avg_pool2d: kernel_size must be an int or a tuple of 2 ints"),
    (lambda x: x.max_pool2d((2, 2, 2, 2, 2)), RuntimeError, "a 5-d kernel (2, 2, 2, 2, 2) needs at least 5 dims"),
    (lambda x: x.avg_pool2d(2, padding=(1, 1, 1)), RuntimeError, "padding must be an int, 2 ints"),
    (lambda x: x.avg_pool2d(2, padding=(1, 1, 1)), ValueError, "padding must be an int, 2 ints"),
])
def test_pool_argument_errors(call, error, message):
    """PyTorch's exception types; a padding of the wrong form is also a ValueError, as tinygrad's tests expect."""
    with pytest.raises(error) as info:
        call(Tensor.ones(1, 1, 4, 4))
    assert message in str(info.value)


# ------------------------------------------------------------------------------------------------
# interpolate
# ------------------------------------------------------------------------------------------------


def test_interpolate_values_from_pytorchs_documentation():
    """torch.nn.Upsample's examples: a 2x2 input scaled by 2."""
    x = Tensor(np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2))
    assert x.interpolate((4, 4), mode="nearest").tolist() == [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4],
                                                                [3, 3, 4, 4]]]]
    bilinear = [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]]
    assert_matches(x.interpolate((4, 4), mode="bilinear"), np.array([[bilinear]], np.float32), dtype=np.float32)
    aligned = [[1.0, 4 / 3, 5 / 3, 2.0], [5 / 3, 2.0, 7 / 3, 8 / 3], [7 / 3, 8 / 3, 3.0, 10 / 3],
               [3.0, 10 / 3, 11 / 3, 4.0]]
    assert_matches(x.interpolate((4, 4), mode="bilinear", align_corners=True), np.array([[aligned]], np.float32),
                   rtol=1e-6)


def test_interpolate_downsampling_indices():
    x = Tensor(np.arange(5.0))
    assert x.interpolate((3,), mode="nearest").tolist() == [0.0, 1.0, 3.0]  # floor(j * 5/3)
    assert x.interpolate((3,), mode="nearest-exact").tolist() == [0.0, 2.0, 4.0]  # floor((j + 0.5) * 5/3)
    assert_matches(Tensor(np.arange(1.0, 5.0)).interpolate((3,)), [7 / 6, 2.5, 23 / 6], rtol=1e-12)


def bilinear_loop(x, size, align_corners):
    """Four-corner form of PyTorch's upsample_bilinear2d (float64), written separately from the per-axis code."""
    (h, w), (oh, ow) = x.shape[-2:], size

    def source(dst, n_in, n_out):
        if align_corners:
            return dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        return max((dst + 0.5) * n_in / n_out - 0.5, 0.0)

    out = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            sy, sx = source(i, h, oh), source(j, w, ow)
            y0, x0 = int(sy), int(sx)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            ly, lx = sy - y0, sx - x0
            out[..., i, j] = ((1 - ly) * (1 - lx) * x[..., y0, x0] + (1 - ly) * lx * x[..., y0, x1]
                              + ly * (1 - lx) * x[..., y1, x0] + ly * lx * x[..., y1, x1])
    return out


@pytest.mark.parametrize("size", [(7, 3), (2, 9), (1, 1), (4, 5)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_bilinear_matches_the_four_corner_formula(size, align_corners):
    x = randn(2, 3, 4, 5)
    assert_matches(Tensor(x).interpolate(size, mode="bilinear", align_corners=align_corners),
                   bilinear_loop(x, size, align_corners), rtol=1e-12, atol=1e-12, dtype=np.float64)


def test_trilinear_is_linear_along_each_axis_and_nearest_keeps_ints():
    x = randn(1, 1, 2, 3, 4)
    got = Tensor(x).interpolate((3, 3, 2), mode="trilinear", align_corners=True).numpy()
    # along each axis with align_corners the samples are at linspace(0, n-1, m): apply np.interp axis by axis
    want = x
    for axis, m in zip((2, 3, 4), (3, 3, 2)):
        pos = np.linspace(0, want.shape[axis] - 1, m)
        want = np.apply_along_axis(lambda r, pos=pos: np.interp(pos, np.arange(len(r)), r), axis, want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    ints = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert_matches(Tensor(ints).interpolate((6, 2), mode="nearest"), ints[[0, 0, 1, 1, 2, 2]][:, [0, 2]],
                   dtype=np.int32)
    # linear on integers rounds to the nearest (PyTorch's uint8 kernels; tinygrad truncates to 0, 2, 4, 7)
    small = Tensor(np.array([0, 7], np.uint8)).interpolate((4,), align_corners=True)
    assert_matches(small, np.array([0, 2, 5, 7], np.uint8), dtype=np.uint8)


def test_interpolate_float16_and_infinities():
    x = np.array([[1.0, np.inf, 3.0]], np.float16)
    assert_matches(Tensor(x).interpolate((1, 6), mode="nearest"), [[1.0, 1.0, np.inf, np.inf, 3.0, 3.0]],
                   dtype=np.float16)
    half = Tensor(np.array([1.0, 2.0], np.float16)).interpolate((4,))
    assert_matches(half, np.array([1.0, 1.25, 1.75, 2.0], np.float16), dtype=np.float16)


def test_interpolate_with_scale_factor_reads_at_one_over_the_factor():
    """PyTorch uses 1 / scale_factor (not in / out) as the step between source positions: with 5 -> 7 cells the
    linear samples sit at (j + 0.5) / 1.5 - 0.5."""
    x = Tensor(np.arange(5.0).reshape(1, 1, 5))
    assert_matches(x.interpolate(scale_factor=1.5), [[[0.0, 0.5, 7 / 6, 11 / 6, 2.5, 19 / 6, 23 / 6]]], rtol=1e-12)
    assert x.interpolate(scale_factor=1.5, mode="nearest").tolist() == [[[0, 0, 1, 2, 2, 3, 4]]]
    assert x.interpolate(scale_factor=1.2, mode="nearest-exact").tolist() == [[[0, 1, 2, 2, 3, 4]]]  # 6 cells
    img = Tensor(np.arange(12.0).reshape(1, 1, 3, 4))
    assert img.interpolate(scale_factor=2, mode="nearest").shape == (1, 1, 6, 8)  # every axis after (N, C)
    assert_matches(img.interpolate(scale_factor=(1, 0.5), mode="nearest"), [[[[0.0, 2], [4, 6], [8, 10]]]])
    with pytest.raises(ValueError, match="Tensor.interpolate: give exactly one of size and scale_factor"):
        img.interpolate((2, 2), scale_factor=2)
    with pytest.raises(RuntimeError, match=r"scale_factor 0.1 gives output sizes \(0, 0\)"):
        img.interpolate(scale_factor=0.1)


def test_interpolate_from_and_to_size_one():
    assert_matches(Tensor([[5.0]]).interpolate((3, 2)), np.full((3, 2), 5.0, np.float32))
    assert_matches(Tensor([1.0, 2.0, 4.0]).interpolate((1,), align_corners=True), [1.0])  # scale 0: the first
    assert_matches(Tensor([1.0, 2.0, 4.0]).interpolate((1,)), [2.0])  # the centre
    assert Tensor(np.arange(6.0).reshape(2, 3)).interpolate((2, 3)).tolist() == [[0, 1, 2], [3, 4, 5]]  # unchanged


def test_interpolate_gradients():
    grad_check(lambda t: t.interpolate((3, 5), mode="bilinear"), randn(1, 2, 3))
    grad_check(lambda t: t.interpolate((5,), mode="nearest"), randn(2, 3))
    grad_check(lambda t: t.interpolate((2,), mode="linear", align_corners=True), randn(2, 4))


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.interpolate((4,), mode="bilinear"), NotImplementedError, "mode 'bilinear' resamples 2 axes"),
    (lambda x: x.interpolate((4, 4), mode="cubic"), NotImplementedError, "mode 'cubic' is not supported"),
    (lambda x: x.interpolate((4, 4), mode="nearest", align_corners=True), ValueError,
     "align_corners can only be set with the interpolating modes"),
    (lambda x: x.interpolate((0, 4)), RuntimeError, "output sizes must be positive ints"),
    (lambda x: x.interpolate((1, 1, 1, 1, 1)), ValueError, "size must be a tuple of 1 to 4 ints"),
    (lambda x: x.interpolate(4), ValueError, "size must be a tuple"),
])
def test_interpolate_errors(call, error, message):
    with pytest.raises(error) as info:
        call(Tensor.ones(1, 1, 2, 2))
    assert message in str(info.value) and "Tensor.interpolate" in str(info.value)


# ------------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ------------------------------------------------------------------------------------------------


def attention_reference(q, k, v, mask=None, scale=None):
    scores = q @ np.swapaxes(k, -1, -2) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if mask is not None:
        scores = scores + (np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)) @ v


def test_attention_plain_masked_causal_and_scaled():
    q, k, v = randn(2, 3, 4, 8), randn(2, 3, 5, 8), randn(2, 3, 5, 6)
    Q, K, V = Tensor(q), Tensor(k), Tensor(v)  # noqa: N806
    assert_matches(Q.scaled_dot_product_attention(K, V), attention_reference(q, k, v), rtol=1e-12, dtype=np.float64)
    bool_mask = RNG.uniform(size=(4, 5)) > 0.3
    bool_mask[:, 0] = True  # every query attends to something
    assert_matches(Q.scaled_dot_product_attention(K, V, Tensor(bool_mask)), attention_reference(q, k, v, bool_mask),
                   rtol=1e-12)
    float_mask = randn(3, 4, 5)
    assert_matches(Q.scaled_dot_product_attention(K, V, Tensor(float_mask)),
                   attention_reference(q, k, v, float_mask), rtol=1e-12)
    causal = np.tril(np.ones((4, 5), bool))  # top-left aligned, as PyTorch
    assert_matches(Q.scaled_dot_product_attention(K, V, is_causal=True), attention_reference(q, k, v, causal),
                   rtol=1e-12)
    assert_matches(Q.scaled_dot_product_attention(K, V, scale=0.3), attention_reference(q, k, v, scale=0.3),
                   rtol=1e-12)


def test_grouped_query_attention_shares_each_key_head():
    q, k, v = randn(1, 6, 3, 4), randn(1, 2, 5, 4), randn(1, 2, 5, 4)
    # query heads 0-2 use key/value head 0 and 3-5 head 1 (PyTorch's repeat_interleave)
    expected = attention_reference(q, np.repeat(k, 3, axis=1), np.repeat(v, 3, axis=1))
    got = Tensor(q).scaled_dot_product_attention(Tensor(k), Tensor(v), enable_gqa=True)
    assert_matches(got, expected, rtol=1e-12)


def test_attention_dtypes_and_gradients():
    q = RNG.standard_normal((2, 3, 4)).astype(np.float16)
    assert Tensor(q).scaled_dot_product_attention(Tensor(q), Tensor(q)).dtype == dtypes.float16
    mask = Tensor(np.array([[True, False, True], [True, True, False]]))
    grad_check(lambda q, k, v: q.scaled_dot_product_attention(k, v, mask), randn(2, 2), randn(3, 2), randn(3, 2))
    grad_check(lambda q, k, v: q.scaled_dot_product_attention(k, v, is_causal=True), randn(1, 2, 2), randn(1, 2, 2),
               randn(1, 2, 2))


@pytest.mark.parametrize("call, error, message", [
    (lambda q, k: q.scaled_dot_product_attention(k, k, Tensor.ones(4, 4, dtype=dtypes.bool), is_causal=True),
     RuntimeError, "give attn_mask or is_causal=True, not both"),
    (lambda q, k: q.scaled_dot_product_attention(Tensor.ones(1, 3, 4, 8), Tensor.ones(1, 3, 4, 8), enable_gqa=True),
     RuntimeError, "must divide the number of query heads"),
    (lambda q, k: q.scaled_dot_product_attention(Tensor.ones(1, 2, 4, 5), Tensor.ones(1, 2, 4, 5)), RuntimeError,
     "need query (..., L, E), key (..., S, E)"),
    (lambda q, k: q.scaled_dot_product_attention(k.half(), k), RuntimeError, "must have the same float dtype"),
    (lambda q, k: q.scaled_dot_product_attention(k.numpy(), k), TypeError, "key must be a Tensor"),
])
def test_attention_errors(call, error, message):
    q, k = Tensor.ones(1, 2, 4, 8), Tensor.ones(1, 2, 4, 8)
    with pytest.raises(error) as info:
        call(q, k)
    assert message in str(info.value) and "Tensor.scaled_dot_product_attention" in str(info.value)


# ------------------------------------------------------------------------------------------------
# nll_loss, cross_entropy, binary_crossentropy_logits
# ------------------------------------------------------------------------------------------------


def log_softmax(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def nll_reference(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    """PyTorch's F.nll_loss, item by item: -w[y] * logp[n, y, ...]; mean divides by the summed w[y] kept."""
    c = logp.shape[1] if logp.ndim >= 2 else logp.shape[0]
    weight = np.ones(c) if weight is None else weight
    losses, weights = np.zeros(target.shape), np.zeros(target.shape)
    for pos in np.ndindex(*target.shape):
        y = int(target[pos])
        if y == ignore_index:
            continue
        at = (pos[0], y) + pos[1:] if logp.ndim >= 2 else (y,)
        losses[pos], weights[pos] = -weight[y] * logp[at], weight[y]
    return losses.sum() / weights.sum() if reduction == "mean" else losses.sum() if reduction == "sum" else losses


def ce_index_reference(logits, target, weight=None, ignore_index=-100, smoothing=0.0, reduction="mean"):
    """PyTorch's cross_entropy with class indices and label smoothing (cross_entropy_loss_label_smoothing)."""
    axis = 1 if logits.ndim >= 2 else 0
    c = logits.shape[axis]
    logp = log_softmax(logits, axis)
    nll = nll_reference(logp, target, weight, ignore_index, reduction)
    w = np.ones(c) if weight is None else weight
    smooth = -(logp * w.reshape((-1,) + (1,) * (logp.ndim - axis - 1))).sum(axis)
    smooth = np.where(target == ignore_index, 0.0, smooth)
    if reduction == "mean":
        kept = target != ignore_index
        smooth = smooth.sum() / w[target[kept]].sum()
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - smoothing) * nll + smooth * smoothing / c


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted, ignore_index", [(False, -100), (True, -100), (True, 2), (False, 0)])
def test_nll_loss(reduction, weighted, ignore_index):
    logp = log_softmax(randn(6, 4), 1)
    target = np.array([0, 3, 2, 1, 2, -100 if ignore_index == -100 else ignore_index], np.int64)
    weight = RNG.uniform(0.5, 2, 4) if weighted else None
    got = Tensor(logp).nll_loss(Tensor(target), None if weight is None else Tensor(weight), ignore_index, reduction)
    assert_matches(got, nll_reference(logp, target, weight, ignore_index, reduction), rtol=1e-12, dtype=np.float64)


def test_nll_loss_shapes():
    logp = log_softmax(randn(2, 3, 4, 2), 1)  # (N, C, d1, d2)
    target = RNG.integers(0, 3, (2, 4, 2))
    assert_matches(Tensor(logp).nll_loss(Tensor(target)), nll_reference(logp, target), rtol=1e-12)
    vec = log_softmax(randn(5), 0)  # (C,) with a 0-d target
    assert_matches(Tensor(vec).nll_loss(Tensor(np.int64(3)), reduction="none"), -vec[3], rtol=1e-12)
    everything_ignored = Tensor(logp[:, :, 0, 0]).nll_loss(Tensor(np.array([-100, -100])))
    assert np.isnan(everything_ignored.numpy())  # 0 / 0, as PyTorch
    assert Tensor(logp.astype(np.float32)).nll_loss(Tensor(target)).dtype == dtypes.float32


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing, weighted, ignore_index", [(0.0, True, -100), (0.2, False, -100),
                                                               (0.3, True, 1), (1.0, True, -100)])
def test_cross_entropy_with_indices_weights_and_smoothing(reduction, smoothing, weighted, ignore_index):
    logits = randn(3, 4, 2)  # (N, C, d1): class indices of shape (N, d1)
    target = np.array([[0, 3], [1, 2], [2, -100 if ignore_index == -100 else ignore_index]])
    weight = RNG.uniform(0.5, 2, 4) if weighted else None
    got = Tensor(logits).cross_entropy(Tensor(target), reduction, smoothing,
                                       None if weight is None else Tensor(weight), ignore_index)
    assert_matches(got, ce_index_reference(logits, target, weight, ignore_index, smoothing, reduction), rtol=1e-12)


def test_cross_entropy_with_weighted_probabilities():
    logits, weight = randn(4, 3), RNG.uniform(0.5, 2, 3)
    probs = RNG.dirichlet(np.ones(3), 4)
    smoothed = 0.9 * probs + 0.1 / 3
    expected = -(log_softmax(logits, 1) * smoothed * weight).sum(1).mean()  # mean over items, not weights
    assert_matches(Tensor(logits).cross_entropy(Tensor(probs), label_smoothing=0.1, weight=Tensor(weight)), expected,
                   rtol=1e-12)
    one_d = randn(5)
    assert_matches(Tensor(one_d).cross_entropy(Tensor(np.int64(2))), -log_softmax(one_d, 0)[2], rtol=1e-12)


def test_loss_gradients():
    target = np.array([[1, 0], [2, 2]])
    weight = Tensor(np.array([0.5, 2.0, 1.5]))
    grad_check(lambda t: t.cross_entropy(Tensor(target), label_smoothing=0.1, weight=weight, ignore_index=0),
               randn(2, 3, 2))
    grad_check(lambda t: t.nll_loss(Tensor(np.array([2, 0, 1])), weight, reduction="sum"), randn(3, 3))
    y, pw = RNG.uniform(size=(3, 2)), np.array([0.5, 3.0])
    grad_check(lambda t, p: t.binary_crossentropy_logits(Tensor(y), pos_weight=p), randn(3, 2), pw)


def test_binary_crossentropy_logits_pos_weight():
    x, y, pw = randn(4, 3) * 4, RNG.uniform(size=(4, 3)), RNG.uniform(0.5, 3, 3)
    log_sig, log_one_minus = -np.logaddexp(0, -x), -np.logaddexp(0, x)
    expected = -(pw * y * log_sig + (1 - y) * log_one_minus)
    assert_matches(Tensor(x).binary_crossentropy_logits(Tensor(y), "none", Tensor(pw)), expected, rtol=1e-12)
    assert_matches(Tensor(x).binary_crossentropy_logits(Tensor(y), "sum", Tensor(pw)), expected.sum(), rtol=1e-12)
    big = Tensor(np.array([-800.0, 800.0])).binary_crossentropy_logits(Tensor(np.array([1.0, 0.0])), "none",
                                                                        pos_weight=Tensor(np.array([2.0, 2.0])))
    assert_matches(big, [1600.0, 800.0])  # finite where sigmoid rounds to exactly 0 or 1
    assert Tensor(x.astype(np.float32)).binary_crossentropy_logits(Tensor(y.astype(np.float32))).dtype == \
        dtypes.float32


@pytest.mark.parametrize("call, error, message", [
    (lambda lp: lp.nll_loss(Tensor(np.array([0, 4, 1]))), IndexError, "Tensor.nll_loss: label 4 is not a class"),
    (lambda lp: lp.nll_loss(Tensor(np.array([0, 1]))), ValueError, "Tensor.nll_loss: the target must be integer "
                                                                   "class indices of shape (3,)"),
    (lambda lp: lp.nll_loss(Tensor(np.array([0, 1, 1])), Tensor.ones(3)), RuntimeError,
     "Tensor.nll_loss: weight must be a Tensor with one entry per class, shape (4,)"),
    (lambda lp: lp.nll_loss(Tensor(np.array([0, 1, 1])), reduction="avg"), ValueError, "reduction must be one of"),
    (lambda lp: lp.cross_entropy(Tensor(np.zeros((3, 4), np.int64))), RuntimeError, "got (3, 4) dtypes.int64"),
    (lambda lp: lp.cross_entropy(Tensor(np.array([0, 1, 1])), label_smoothing=-0.1), RuntimeError,
     "label_smoothing must be in [0, 1]"),
    (lambda lp: lp.binary_crossentropy_logits(Tensor.ones(3)), ValueError, "Y must be a Tensor of the same shape"),
])
def test_loss_errors(call, error, message):
    with pytest.raises(error) as info:
        call(Tensor(log_softmax(randn(3, 4), 1)))
    assert message in str(info.value)


# ------------------------------------------------------------------------------------------------
# Numerics: softmax gradients, float16 matmul
# ------------------------------------------------------------------------------------------------


def test_softmax_gradients_have_pytorchs_float32_precision():
    """Through the max's gradient, float32 backward used to add -sum(d/d(x - max)) (rounding noise) to each row's
    max element: 1.1e-7 (softmax) and 3.0e-6 (log_softmax) max error on this input; PyTorch's formulas give 2.2e-8
    and 2.0e-7. Shifting by trunc(max), which has no gradient, gives 4.7e-8 and 3.3e-7."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((8, 50)), rng.standard_normal((8, 50))
    s = np.exp(x - x.max(-1, keepdims=True))
    s /= s.sum(-1, keepdims=True)
    exact = {"softmax": s * (w - (w * s).sum(-1, keepdims=True)), "log_softmax": w - s * w.sum(-1, keepdims=True)}
    for name, bound in (("softmax", 8e-8), ("log_softmax", 1e-6)):
        t = Tensor(x.astype(np.float32), requires_grad=True)
        (getattr(t, name)(-1) * Tensor(w.astype(np.float32))).sum().backward()
        assert np.abs(t.grad.numpy() - exact[name]).max() < bound, name


def test_softmax_gradients_in_float64_and_at_large_inputs():
    rng = np.random.default_rng(5)
    grad_check(lambda t: t.softmax(1), rng.standard_normal((3, 5)), rtol=1e-7, atol=1e-9)
    grad_check(lambda t: t.log_softmax(0), rng.standard_normal((3, 5)) * 30, rtol=1e-7, atol=1e-8)
    big = Tensor(np.array([[1e4, 1e4 - 1, -1e4]]), requires_grad=True)
    big.softmax(1).max().backward()
    p = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(big.grad.numpy(), [[p * (1 - p), -p * (1 - p), 0.0]], rtol=1e-12, atol=1e-300)
    assert Tensor(np.array([-np.inf, 0.0])).softmax().tolist() == [0.0, 1.0]


def test_float16_conv2d_and_einsum_accumulate_in_float32():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 40, 3, 3)).astype(np.float16), rng.standard_normal((2, 40, 3, 3)).astype(np.float16)
    exact = conv_reference(x.astype(np.float64), w.astype(np.float64))
    got = Tensor(x).conv2d(Tensor(w))
    assert got.dtype == dtypes.float16 and np.abs(got.numpy() - exact).max() <= \
        np.abs(exact.astype(np.float16) - exact).max() * 1.02 + 1e-6
    a, b = rng.standard_normal((4, 200)).astype(np.float16), rng.standard_normal((200, 3)).astype(np.float16)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    got = Tensor.einsum("ij,jk->ik", Tensor(a), Tensor(b))
    assert np.abs(got.numpy() - exact).max() <= np.abs(exact.astype(np.float16) - exact).max() * 1.02 + 1e-6


def test_float16_matmul_accumulates_in_float32_forward_and_backward():
    """The float16 result is the float64 product rounded once (products and sums in float32, as PyTorch): its error
    is float16's rounding of the exact value. Multiplying in float16 erred by 0.015 forward, 0.011 backward here."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((16, 300)).astype(np.float16), rng.standard_normal((300, 8)).astype(np.float16)
    g = rng.standard_normal((16, 8)).astype(np.float16)
    a64, b64, g64 = (v.astype(np.float64) for v in (a, b, g))
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    out = ta @ tb
    out.backward(Tensor(g))
    for got, exact in ((out, a64 @ b64), (ta.grad, g64 @ b64.T), (tb.grad, a64.T @ g64)):
        assert got.dtype == dtypes.float16
        rounding = np.abs(exact.astype(np.float16).astype(np.float64) - exact).max()
        assert np.abs(got.numpy().astype(np.float64) - exact).max() <= rounding * 1.02 + 1e-6
