"""Neural-network ops for `Tensor` (mixed into it): cumsum, one_hot, the losses, einsum, scaled dot-product
attention, and dropout/layernorm/batchnorm (the functional halves of shrimpgrad.nn's layers). Convolution and
pooling are in shrimpgrad/conv_ops.py.

All of them are compositions of the Tensor's public ops:

* `cumsum` = pad `n-1` zeros in front of the axis and take windows of `n` with stride 1 (conv_ops' `_pool`):
  window `j` holds `x[j-n+1 .. j]` (zeros before the start), so its sum is `x[0] + ... + x[j]`. That is O(n^2)
  work, so long axes are cut into blocks of `_CUMSUM_BLOCK`: a cumsum inside each block plus the cumsum of the
  block totals (the same two-stage split tinygrad makes).
* The class-index losses pick with a one-hot mask: `where(label == arange(C), log_p, 0).sum(class axis)`. The mask
  picks the class weight of nll_loss/cross_entropy the same way; PyTorch's `mean` divides by the summed weights of
  the kept (not ignored) targets, and its label smoothing adds `eps/C * -sum_c w_c log p_c` (`_nll_terms`).
* The logits form of binary cross entropy is PyTorch's stable one:
  `(1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)`, with softplus(-x) = max(-x, 0) + log1p(exp(-|x|)).
* `einsum` is one broadcast multiply and one sum: each operand's axes are permuted into a common order of all
  the labels (output labels first), with size-1 axes for the labels it lacks; the product is summed over the
  labels not in the output. A label repeated in one operand (a trace, "ii->") first takes the diagonal, as a
  view: (n, n) -> flatten -> pad n -> (n, n + 1) -> column 0.
* `scaled_dot_product_attention` = softmax(q k^T * scale + mask) v, PyTorch's reference formula; a bool mask
  (True: attend) becomes 0 / -inf, is_causal is the lower triangle, and grouped-query attention repeats each key
  and value head for its group of query heads.

Mapping to tinygrad: `_cumalu`/`_split_cumalu`, `one_hot`, `sparse_categorical_crossentropy`, `cross_entropy`,
`nll_loss`, `binary_crossentropy(_logits)`, `einsum`, `scaled_dot_product_attention`, `dropout`, `layernorm`,
`batchnorm`. Different: cross_entropy also takes PyTorch's `weight` and `ignore_index`, nll_loss ignores
PyTorch's default -100; class indices may have any rank (the class axis is axis 1, as in PyTorch); einsum
broadcasts size-1 axes and sums ellipsis axes missing from the output, as PyTorch does; attention takes
PyTorch's `scale` (keyword).

Required from the core Tensor (shrimpgrad/tensor.py): `_float` (the tensor in the default float dtype), `shape`,
`ndim`, `dtype`, `device`, and the class attributes `training` and `rand` (creation.py). Everything else is the
public API of the other mixins (elementwise, movement, reduce, indexing and conv_ops' `_pool`).
"""

from __future__ import annotations

import math

from shrimpgrad.checks import _is_int, _provenance, _resolve_dim
from shrimpgrad.conv_ops import _pool
from shrimpgrad.graph import buffer, dtypes, promote
from shrimpgrad.indexing import check_index_values

_CUMSUM_BLOCK = 256  # cumsum axes longer than 2 blocks are done in two stages (see cumsum)
_REDUCTIONS = ("mean", "sum", "none")



def _reduce(loss, reduction: str, method: str):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Tensor.{method}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _check_smoothing(label_smoothing, method: str) -> None:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) or \
            not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"Tensor.{method}: label_smoothing must be in [0, 1], got {label_smoothing!r}")


# ------------------------------------------------------------------------------------------------
# The mixin
# ------------------------------------------------------------------------------------------------


class NNOpsMixin:
    """cumsum, one_hot, the losses, einsum, scaled_dot_product_attention, dropout, layernorm and batchnorm
    (tinygrad's names and semantics, PyTorch's values and errors)."""

    def cumsum(self, axis: int = 0):
        """Running sum along `axis`: out[j] = x[0] + ... + x[j] (see the module docstring for how). Bool and small
        ints accumulate in int32, as sum does (bool summed as bool would saturate at True)."""
        if self.dtype.is_bool or (self.dtype.is_int and self.dtype.itemsize < 4):
            return self.cast(promote(self.dtype, dtypes.int32)).cumsum(axis)
        if self.ndim == 0:
            return self
        axis = _resolve_dim(axis, self.ndim, "cumsum")
        order = tuple(d for d in range(self.ndim) if d != axis) + (axis,)
        back = tuple(order.index(d) for d in range(self.ndim))
        x = self.permute(order)
        n = x.shape[-1]
        if n == 0:
            return self
        out = _cumsum_last(x) if n <= 2 * _CUMSUM_BLOCK else _cumsum_last_blocked(x, _CUMSUM_BLOCK)
        return out.permute(back)

    def one_hot(self, num_classes: int = -1):
        """Integer labels (...) -> (..., num_classes) with 1 at each label and 0 elsewhere (default int dtype).
        num_classes=-1 uses max(label) + 1, which reads the data (realizes self)."""
        if not self.dtype.is_int:
            raise TypeError(f"Tensor.one_hot: labels must have an integer dtype, got {self.dtype!r}")
        if num_classes == -1:
            num_classes = int(self.max().item()) + 1
        if not _is_int(num_classes) or num_classes < 1:
            raise ValueError(f"Tensor.one_hot: num_classes must be a positive int (or -1), got {num_classes!r}")
        _check_labels(self, num_classes, None, "one_hot")
        return _one_hot_mask(self, num_classes).where(1, 0)

    def sparse_categorical_crossentropy(self, Y, ignore_index: int = -1, label_smoothing: float = 0.0,  # noqa: N803
                                        reduction: str = "mean"):
        """Cross entropy of logits self (..., C) against integer labels Y (...). Labels equal to ignore_index
        add nothing and are left out of the mean. label_smoothing mixes in the mean log-probability."""
        _check_smoothing(label_smoothing, "sparse_categorical_crossentropy")
        if not isinstance(Y, type(self)) or not Y.dtype.is_int or Y.shape != self.shape[:-1]:
            raise ValueError(f"Tensor.sparse_categorical_crossentropy: Y must be an integer Tensor of shape "
                             f"{self.shape[:-1]} (the logits' shape {self.shape} without the class axis), got "
                             f"{getattr(Y, 'shape', type(Y).__name__)} {getattr(Y, 'dtype', '')}")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Tensor.sparse_categorical_crossentropy: reduction must be one of {_REDUCTIONS}, "
                             f"got {reduction!r}")
        _check_labels(Y, self.shape[-1], ignore_index, "sparse_categorical_crossentropy")
        log_probs = self.log_softmax(-1)
        kept = Y != ignore_index
        picked = _one_hot_mask(Y, self.shape[-1]).where(log_probs, 0).sum(axis=-1)
        # without smoothing, no mean log-probability (a reduce, and its gradient) is built only to be multiplied by 0
        per_item = (picked if label_smoothing == 0 else
                    (1 - label_smoothing) * picked + label_smoothing * log_probs.mean(axis=-1))
        loss = -kept.where(per_item, 0)
        if reduction == "mean":
            return loss.sum() / kept.cast(loss.dtype).sum()
        return loss.sum() if reduction == "sum" else loss

    def cross_entropy(self, Y, reduction: str = "mean", label_smoothing: float = 0.0, weight=None,  # noqa: N803
                      ignore_index: int = -100):
        """Cross entropy of logits self (N, C, ...) (classes on axis 1, or (C,)) against Y: integer class indices of
        self's shape without the class axis, or float class probabilities of self's shape. weight: one per class;
        targets equal to ignore_index add nothing (indices only). PyTorch's F.cross_entropy, with label smoothing
        mixing in the uniform distribution (eps / C for every class)."""
        _check_smoothing(label_smoothing, "cross_entropy")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Tensor.cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        if not isinstance(Y, type(self)):
            raise TypeError(f"Tensor.cross_entropy: Y must be a Tensor, got {type(Y).__name__}")
        axis = 1 if self.ndim >= 2 else 0
        n_classes = self.shape[axis]
        log_p = self.log_softmax(axis)
        if Y.shape != self.shape or Y.dtype.is_int:  # class indices
            picked, w, kept = _nll_terms(log_p, Y, weight, ignore_index, "cross_entropy")
            w_c = _class_weight(log_p, weight, axis)
            smooth = kept.where(-(log_p if w_c is None else log_p * w_c).sum(axis=axis), 0)
            loss = (1 - label_smoothing) * -picked * w + (label_smoothing / n_classes) * smooth
            return loss.sum() / w.sum() if reduction == "mean" else loss.sum() if reduction == "sum" else loss
        if not Y.dtype.is_float:
            raise RuntimeError(f"Tensor.cross_entropy: class probabilities must be floats, got Y {Y.dtype!r}")
        Y = (1 - label_smoothing) * Y + label_smoothing / n_classes
        w_c = _class_weight(log_p, weight, axis)
        per_item = -(log_p * Y if w_c is None else log_p * Y * w_c).sum(axis=axis)
        return _reduce(per_item, reduction, "cross_entropy")

    def nll_loss(self, Y, weight=None, ignore_index: int | None = -100, reduction: str = "mean"):  # noqa: N803
        """Negative log likelihood of log-probabilities self (N, C, ...) (classes on axis 1, or (C,)) at the integer
        classes Y (self's shape without the class axis): -weight[y] * self[n, y]. Targets equal to ignore_index
        (PyTorch's default -100; None: none) add nothing; "mean" divides by the summed weights of the kept targets
        (PyTorch's F.nll_loss)."""
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Tensor.nll_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        picked, w, _ = _nll_terms(self, Y, weight, ignore_index, "nll_loss")
        loss = -picked * w
        return loss.sum() / w.sum() if reduction == "mean" else loss.sum() if reduction == "sum" else loss

    def binary_crossentropy(self, Y, reduction: str = "mean"):  # noqa: N803
        """-(Y log p + (1 - Y) log(1 - p)) for probabilities p = self (same shape as Y)."""
        _check_same_shape(self, Y, "binary_crossentropy")
        return _reduce(-(Y * self.log() + (1 - Y) * (1 - self).log()), reduction, "binary_crossentropy")

    def binary_crossentropy_logits(self, Y, reduction: str = "mean", pos_weight=None):  # noqa: N803
        """binary_crossentropy(sigmoid(self), Y) with the positive term weighted by pos_weight (broadcast, e.g. one
        per class on the last axis), computed stably as PyTorch does:
        (1 - Y) x + (1 + (pos_weight - 1) Y) softplus(-x), softplus(-x) = max(-x, 0) + log1p(exp(-|x|))."""
        _check_same_shape(self, Y, "binary_crossentropy_logits")
        x = self._float()
        softplus_neg = (-x).relu() + (-x.abs()).exp().log1p()
        scale = 1 if pos_weight is None else (pos_weight - 1) * Y + 1
        return _reduce((1 - Y) * x + scale * softplus_neg, reduction, "binary_crossentropy_logits")

    # ---- einsum and attention --------------------------------------------------------------------------------------

    @classmethod
    def einsum(cls, formula: str, *operands, dtype=None):
        """Einstein summation, PyTorch's torch.einsum: "ij,jk->ik" (matmul), "ii->" (trace), "...ij->...ji",
        "bij,bjk" (implicit output: the labels used once, in alphabetical order, after the ellipsis axes).
        Operands may also be given as one list. Size-1 axes broadcast; dtype is what the sum accumulates in."""
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = tuple(operands[0])
        if not isinstance(formula, str):
            raise TypeError(f"Tensor.einsum: the equation must be a str, got {type(formula).__name__}")
        if not operands or not all(isinstance(t, cls) for t in operands):
            raise TypeError(f"Tensor.einsum: operands must be Tensors, got {[type(t).__name__ for t in operands]}")
        inputs, output, sizes = _parse_einsum(formula, [t.shape for t in operands])
        # line every operand up with the order (output labels, then the summed ones)
        order = output + [label for label in dict.fromkeys(lab for term in inputs for lab in term)
                          if label not in output]
        out_dtype = promote(*(t.dtype for t in operands)) if dtype is None else dtype
        product = None
        for t, labels in zip(operands, inputs):
            t = _align(*_take_diagonals(t, labels), order)
            if out_dtype in (dtypes.float16, dtypes.bfloat16) and dtype is None:
                t = t.cast(dtypes.float32)  # as matmul: 16-bit float products are added in float32
            product = t if product is None else product * t
        summed = tuple(range(len(output), len(order)))
        out = product.sum(axis=summed, dtype=dtype) if summed else product
        out = out.expand(tuple(sizes[lab] for lab in output)) if output else out
        return out.cast(out_dtype)

    def scaled_dot_product_attention(self, key, value, attn_mask=None, dropout_p: float = 0.0,
                                     is_causal: bool = False, enable_gqa: bool = False, *, scale=None):
        """softmax(self @ key^T * scale + mask) @ value for query self (..., L, E), key (..., S, E), value
        (..., S, Ev) -> (..., L, Ev); scale defaults to 1/sqrt(E). attn_mask: bool (True: may attend) or float
        (added), broadcast to (..., L, S); is_causal: position l attends to s <= l. enable_gqa: key and value may
        have fewer heads (axis -3) than the query, each one shared by a group of query heads. dropout_p applies in
        training only (Tensor.dropout, as tinygrad)."""
        tensor_cls = type(self)
        for name, t in (("key", key), ("value", value)):
            if not isinstance(t, tensor_cls):
                raise TypeError(f"Tensor.scaled_dot_product_attention: {name} must be a Tensor, got "
                                f"{type(t).__name__}")
        shapes = f"query {self.shape}, key {key.shape}, value {value.shape}"
        if min(self.ndim, key.ndim, value.ndim) < 2 or self.shape[-1] != key.shape[-1] or \
                key.shape[-2] != value.shape[-2]:
            raise RuntimeError(f"Tensor.scaled_dot_product_attention: {shapes} don't fit: they need query "
                               f"(..., L, E), key (..., S, E) and value (..., S, Ev)")
        if not (self.dtype == key.dtype == value.dtype) or not self.dtype.is_float:
            raise RuntimeError(f"Tensor.scaled_dot_product_attention: query, key and value must have the same float "
                               f"dtype, got {self.dtype!r}, {key.dtype!r}, {value.dtype!r}")
        if enable_gqa:
            key, value = _repeat_heads(self, key, shapes), _repeat_heads(self, value, shapes)
        L, S = self.shape[-2], key.shape[-2]  # noqa: N806
        scores = self.matmul(key.transpose(-2, -1)) * (1 / math.sqrt(self.shape[-1]) if scale is None else scale)
        if is_causal:
            if attn_mask is not None:
                raise RuntimeError("Tensor.scaled_dot_product_attention: give attn_mask or is_causal=True, not both")
            rows = tensor_cls.arange(L, device=self.device).reshape(L, 1)
            attn_mask = tensor_cls.arange(S, device=self.device) <= rows
        if attn_mask is not None:
            if not isinstance(attn_mask, tensor_cls):
                raise TypeError(f"Tensor.scaled_dot_product_attention: attn_mask must be a Tensor, got "
                                f"{type(attn_mask).__name__}")
            scores = scores + (attn_mask.where(0.0, -math.inf) if attn_mask.dtype.is_bool else attn_mask)
        return scores.softmax(-1).dropout(dropout_p).matmul(value)

    # ---- normalization and regularization (the building blocks of shrimpgrad.nn's layers) -----------------------

    def dropout(self, p: float = 0.5):
        """In training (`Tensor.training`, set by `with Tensor.train():`), zero each element with probability p
        and scale the rest by 1 / (1 - p), so the expected value is unchanged; outside training, self as it is.
        The mask is drawn on the host from Tensor's seeded generator (Tensor.manual_seed), a fresh one per call."""
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Tensor.dropout: p is the probability of dropping an element and must be in [0, 1], "
                             f"got {p!r}")
        if not type(self).training or p == 0:
            return self
        if p == 1:
            return self * 0
        keep = type(self).rand(*self.shape, device=self.device, requires_grad=False) >= p
        return keep.where(self, 0) * (1.0 / (1.0 - p))

    def layernorm(self, axis=-1, eps: float = 1e-5):
        """(x - mean) / sqrt(var + eps) over `axis` (an int or a tuple; the variance is the biased one, as in
        PyTorch's LayerNorm). No scale or shift: nn.LayerNorm adds those."""
        _check_eps(eps, "layernorm")
        y = self - self.mean(axis=axis, keepdim=True)
        return y * (y * y).mean(axis=axis, keepdim=True).add(eps).rsqrt()

    def batchnorm(self, weight, bias, mean, invstd, axis=1):
        """(x - mean) * invstd * weight + bias, with the 1-d statistics and parameters lined up with `axis` (the
        channel axis, 1 for (N, C, H, W)) and broadcast over the others. weight and bias may be None; invstd is
        1 / sqrt(var + eps), computed by the caller (nn.BatchNorm) so that train and eval share this formula."""
        axes = tuple(_resolve_dim(a, self.ndim, "batchnorm") for a in ((axis,) if _is_int(axis) else axis))
        shape = tuple(s if d in axes else 1 for d, s in enumerate(self.shape))
        want = tuple(self.shape[d] for d in axes)
        for name, t in (("weight", weight), ("bias", bias), ("mean", mean), ("invstd", invstd)):
            if t is None and name in ("weight", "bias"):
                continue
            if not isinstance(t, type(self)) or t.shape not in (want, shape):
                raise ValueError(f"Tensor.batchnorm: {name} must be a Tensor of shape {want} (the sizes of axis "
                                 f"{axis} of the input {self.shape}), got {getattr(t, 'shape', type(t).__name__)}")
        x = (self - mean.reshape(shape)) * invstd.reshape(shape)
        if weight is not None:
            x = x * weight.reshape(shape)
        return x if bias is None else x + bias.reshape(shape)


# ------------------------------------------------------------------------------------------------
# Class-index losses
# ------------------------------------------------------------------------------------------------


def _nll_terms(log_p, Y, weight, ignore_index, method: str):  # noqa: N803
    """For log-probabilities (N, C, ...) (or (C,)) and integer targets Y: (log_p at each target, the target's
    class weight (0 where ignored), the kept mask). Checks Y's shape, its values and the weight."""
    axis = 1 if log_p.ndim >= 2 else 0
    n = log_p.shape[axis]
    want = log_p.shape[:axis] + log_p.shape[axis + 1:]
    if not isinstance(Y, type(log_p)) or not Y.dtype.is_int or Y.shape != want:
        kind = ValueError if Y.ndim >= 1 and want and getattr(Y, "shape", (None,))[:1] != want[:1] else RuntimeError
        raise kind(f"Tensor.{method}: the target must be integer class indices of shape {want} (the input's shape "
                   f"{log_p.shape} without the class axis {axis}) or, for cross_entropy, float probabilities of the "
                   f"input's shape; got {getattr(Y, 'shape', type(Y).__name__)} {getattr(Y, 'dtype', '')!r}")
    if weight is not None and (not isinstance(weight, type(log_p)) or weight.shape != (n,)):
        raise RuntimeError(f"Tensor.{method}: weight must be a Tensor with one entry per class, shape ({n},); got "
                           f"{getattr(weight, 'shape', type(weight).__name__)}")
    _check_labels(Y, n, ignore_index, method)
    one_hot = _one_hot_mask(Y, n)  # (..., C): move the classes to log_p's class axis
    one_hot = one_hot.permute(tuple(range(axis)) + (Y.ndim,) + tuple(range(axis, Y.ndim)))
    picked = one_hot.where(log_p, 0).sum(axis=axis)
    kept = Y != ignore_index if ignore_index is not None else Y == Y
    w = _class_weight(log_p, weight, axis)
    w = kept.cast(log_p.dtype) if w is None else kept.where(one_hot.where(w, 0).sum(axis=axis), 0)
    return picked, w, kept


def _class_weight(log_p, weight, axis: int):
    """weight (C,) shaped to broadcast along log_p's class axis, or None."""
    if weight is None:
        return None
    return weight.cast(promote(weight.dtype, log_p.dtype)).reshape((-1,) + (1,) * (log_p.ndim - axis - 1))


# ------------------------------------------------------------------------------------------------
# einsum
# ------------------------------------------------------------------------------------------------


def _einsum_error(formula: str, problem: str) -> RuntimeError:
    return RuntimeError(f"Tensor.einsum: {problem} in the equation {formula!r}")


def _parse_einsum(formula: str, shapes: list[tuple[int, ...]]):
    """(labels of each operand, output labels, size of each label). The axes an ellipsis stands for get the labels
    (0,), (1,), ... of the broadcast ellipsis shape, right-aligned as in numpy broadcasting."""
    eq = formula.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise _einsum_error(formula, f"{len(terms)} operand(s) are named but {len(shapes)} were given")
    for term in terms + [rhs]:
        bad = [c for c in term.replace("...", "") if not c.isascii() or not c.isalpha()]
        if bad or term.count("...") > 1:
            raise _einsum_error(formula, f"subscripts must be letters a-zA-Z with at most one '...' per term, got "
                                f"{term!r}")
    ranks = []
    for term, shape in zip(terms, shapes):
        letters = len(term.replace("...", ""))
        if ("..." in term and letters > len(shape)) or ("..." not in term and letters != len(shape)):
            raise _einsum_error(formula, f"operand of shape {shape} has {len(shape)} dims but {term!r} names "
                                f"{letters}{' and no ellipsis' if '...' not in term else ''}")
        ranks.append(len(shape) - letters if "..." in term else 0)
    n_ellipsis = max(ranks)
    inputs = []
    for term, rank in zip(terms, ranks):
        before, dots, after = term.partition("...")
        inputs.append(list(before) + ([(j,) for j in range(n_ellipsis - rank, n_ellipsis)] if dots else [])
                      + list(after))
    sizes = _label_sizes(formula, inputs, shapes)
    if arrow:
        before, dots, after = rhs.partition("...")
        output = list(before) + ([(j,) for j in range(n_ellipsis)] if dots else []) + list(after)
        letters = [lab for lab in output if isinstance(lab, str)]
        if len(set(letters)) != len(letters):
            raise _einsum_error(formula, f"the output {rhs!r} names a subscript twice")
        missing = [lab for lab in letters if lab not in sizes]
        if missing:
            raise _einsum_error(formula, f"output subscript {missing[0]!r} appears in no input")
    else:  # implicit: the ellipsis axes, then the letters used exactly once, alphabetically
        counts = {}
        for labels in inputs:
            for lab in labels:
                counts[lab] = counts.get(lab, 0) + 1
        output = [(j,) for j in range(n_ellipsis)] + sorted(lab for lab, c in counts.items()
                                                             if isinstance(lab, str) and c == 1)
    return inputs, output, sizes


def _label_sizes(formula: str, inputs, shapes) -> dict:
    """Each label's size: equal across operands, or 1 in some (broadcast); equal within one operand (a diagonal)."""
    sizes: dict = {}
    for labels, shape in zip(inputs, shapes):
        seen: dict = {}
        for lab, size in zip(labels, shape):
            if lab in seen and seen[lab] != size:
                raise _einsum_error(formula, f"subscript {lab!r} is repeated for an operand of shape {shape} but "
                                    f"the sizes don't match ({seen[lab]} != {size})")
            seen[lab] = size
            if sizes.get(lab, 1) != 1 and size not in (1, sizes[lab]):
                name = "the ellipsis" if isinstance(lab, tuple) else f"subscript {lab!r}"
                raise _einsum_error(formula, f"{name} has size {sizes[lab]} in one operand and {size} in another "
                                    f"(shapes {[tuple(s) for s in shapes]}); sizes must match or be 1")
            sizes[lab] = size if sizes.get(lab, 1) == 1 else sizes[lab]
    return sizes


def _take_diagonals(t, labels: list):
    """Merge every label repeated in one operand into one axis holding the diagonal (a view): the two axes are
    moved last, flattened to n*n, padded by n and read as (n, n + 1): column 0 is x[i, i]."""
    labels = list(labels)
    while len(set(labels)) != len(labels):
        lab = next(lab for lab in labels if labels.count(lab) > 1)
        a = labels.index(lab)
        b = labels.index(lab, a + 1)
        rest = [d for d in range(t.ndim) if d not in (a, b)]
        n, lead = t.shape[a], tuple(t.shape[d] for d in rest)
        t = t.permute(tuple(rest) + (a, b)).reshape(lead + (n * n,)).pad(((0, 0),) * len(lead) + ((0, n),))
        t = t.reshape(lead + (n, n + 1)).shrink(tuple((0, s) for s in lead) + ((0, n), (0, 1))).reshape(lead + (n,))
        labels = [labels[d] for d in rest] + [lab]
    return t, labels


def _align(t, labels: list, order: list):
    """Permute t's axes (one per label, all distinct) into `order` and give the labels it lacks a size-1 axis."""
    t = t.permute(tuple(labels.index(lab) for lab in order if lab in labels))
    sizes = iter(t.shape)
    return t.reshape(tuple(next(sizes) if lab in labels else 1 for lab in order))


# ------------------------------------------------------------------------------------------------
# attention
# ------------------------------------------------------------------------------------------------


def _repeat_heads(query, t, shapes: str):
    """Grouped-query attention: repeat each head (axis -3) of key or value for its group of query heads."""
    if query.ndim < 3 or t.ndim < 3 or query.shape[-3] % t.shape[-3]:
        raise RuntimeError(f"Tensor.scaled_dot_product_attention: with enable_gqa the number of key/value heads "
                           f"(axis -3) must divide the number of query heads; got {shapes}")
    groups = query.shape[-3] // t.shape[-3]
    lead, heads, rest = t.shape[:-3], t.shape[-3], t.shape[-2:]
    t = t.reshape(lead + (heads, 1) + rest).expand(lead + (heads, groups) + rest)
    return t.reshape(lead + (heads * groups,) + rest)


def _check_eps(eps, method: str) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"Tensor.{method}: eps must be a non-negative number (added to the variance), got {eps!r}")


def _check_same_shape(x, Y, method: str) -> None:  # noqa: N803
    if not isinstance(Y, type(x)) or Y.shape != x.shape:
        raise ValueError(f"Tensor.{method}: Y must be a Tensor of the same shape as self {x.shape}, got "
                         f"{getattr(Y, 'shape', type(Y).__name__)}")


def _check_labels(labels, n: int, ignore_index: int | None, method: str) -> None:
    """Labels must be classes 0..n-1 (or ignore_index): a one-hot row of an out-of-range label would be all
    zeros and the loss silently wrong. Reads the labels (see check_index_values)."""
    allowed = "" if ignore_index is None else f" or ignore_index={ignore_index}"
    check_index_values(labels, 0, n, f"label {{}} is not a class: valid labels are 0..{n - 1}{allowed}", method,
                       ignore_index)


def _one_hot_mask(labels, n: int):
    """bool (..., n): True where the last index equals the label. Labels outside 0..n-1 give an all-False row."""
    return labels.reshape(labels.shape + (1,)) == _class_indices(type(labels), n, labels.device)


# The class indices 0..n-1 each loss compares its labels with: made on the host once per (n, dtype, device) and kept
# (a tensor, so a TinyJit sees a buffer that lives across calls); every call gets a new node on the same memory with
# its own caller's line. A training step made and copied in a new arange every step, ~5% of the W6 step's Python.
_CLASS_INDICES: dict[tuple, object] = {}


def _class_indices(tensor_type, n: int, device: str):
    key = (n, dtypes.default_int, device)
    made = _CLASS_INDICES.get(key)
    if made is None:
        made = _CLASS_INDICES[key] = tensor_type.arange(n, device=device)
    return tensor_type._from_node(buffer(made.node.arg, (n,), _provenance()), device, False)


def _cumsum_last(x):
    """cumsum along the last axis: pad n-1 zeros in front, windows of n with stride 1, sum each window."""
    n = x.shape[-1]
    return _pool(x.pad(((0, 0),) * (x.ndim - 1) + ((n - 1, 0),)), (n,), (1,), (1,)).sum(axis=-1)


def _cumsum_last_blocked(x, block: int):
    """cumsum along a long last axis in two stages: within blocks, then add the running total of the blocks
    before. O(n * block + (n / block)^2) work instead of O(n^2)."""
    n, lead = x.shape[-1], x.shape[:-1]
    nb = -(-n // block)
    blocks = x.pad(((0, 0),) * len(lead) + ((0, nb * block - n),)).reshape(lead + (nb, block))
    inner = _cumsum_last(blocks)  # (..., nb, block)
    totals = inner.shrink(tuple((0, s) for s in lead) + ((0, nb), (block - 1, block))).reshape(lead + (nb,))
    before = _cumsum_last(totals) - totals  # sum of all earlier blocks
    out = (inner + before.reshape(lead + (nb, 1))).reshape(lead + (nb * block,))
    return out.shrink(tuple((0, s) for s in lead) + ((0, n),))
