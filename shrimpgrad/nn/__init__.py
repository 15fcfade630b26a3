"""Layers for training models, with tinygrad's names: `from shrimpgrad import nn` then `nn.Linear(784, 128)`.

A layer is a plain Python object: its tensors are attributes (`layer.weight`, `layer.bias`) and calling it
applies the layer. There is no Module base class; `shrimpgrad.nn.state.get_parameters(model)` finds every
Tensor by walking attributes, lists and dicts, which is how tinygrad works too. Each layer is a few lines on
top of a Tensor method (`linear`, `conv2d`, `batchnorm`, `layernorm`, indexing), so what runs is always the
Tensor code a user could have written by hand.

Weights start as tinygrad (and PyTorch) start them: Linear and Conv2d uniform in +-1/sqrt(fan_in), Embedding
Glorot-uniform, norms at scale 1 and shift 0. Initial tensors have requires_grad=None ("maybe"); an optimizer
given them turns that into True. Random numbers come from Tensor's seeded generator (Tensor.manual_seed).

    shrimpgrad.nn.state   get_parameters, get_state_dict, load_state_dict, safe_save, safe_load
    shrimpgrad.nn.optim   SGD, Adam, AdamW, LAMB

Mapping to tinygrad (tinygrad/nn/__init__.py): the same classes, arguments and attribute names, so state
dicts use the same keys (`weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`). Simplified:
Conv2d has no padding='same', BatchNorm has no 3-d variant beyond what the 2-d code already handles (any
(N, C, ...) input works: `BatchNorm3d` is the same class, as in tinygrad), no Conv1d/ConvTranspose2d/GroupNorm
/InstanceNorm/LSTMCell yet.
"""

from __future__ import annotations

import importlib
import math
import weakref

import numpy as np

from shrimpgrad.tensor import Tensor


def _positive_int(value, what: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"nn.{layer}: {what} must be a positive int, got {value!r}")
    return value


def _int_tuple(value, n: int, what: str, layer: str) -> tuple[int, ...]:
    values = (value,) * n if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(values) != n or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(f"nn.{layer}: {what} must be a positive int or a tuple of {n} positive ints, got {value!r}")
    return values


def _check_input(x, layer: str, want: str, ok: bool) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"nn.{layer}: the input must be a Tensor, got {type(x).__name__}")
    if not ok:
        raise ValueError(f"nn.{layer}: expected an input of shape {want}, got {x.shape}")


# Tensors that layers update themselves (BatchNorm's running statistics) rather than through gradients.
# An optimizer handed them with its parameters keeps them (tinygrad's "buffers") and realizes their pending
# updates in step(), instead of refusing them for having requires_grad=False (see nn.optim).
# Keyed by id (a WeakSet would compare Tensors with ==, which is elementwise); an entry dies with its tensor.
_LAYER_BUFFERS: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def _layer_buffer(t: Tensor) -> Tensor:
    _LAYER_BUFFERS[id(t)] = t
    return t


def is_layer_buffer(t: Tensor) -> bool:
    """Is t a statistic a layer keeps up to date itself (BatchNorm's running_mean, running_var, ...)?"""
    return _LAYER_BUFFERS.get(id(t)) is t


class Linear:
    """y = x @ weight.T + bias, with weight of shape (out_features, in_features) (PyTorch's layout)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        _positive_int(in_features, "in_features", "Linear")
        _positive_int(out_features, "out_features", "Linear")
        bound = 1 / math.sqrt(in_features)
        self.weight = Tensor.uniform(out_features, in_features, low=-bound, high=bound)
        self.bias = Tensor.uniform(out_features, low=-bound, high=bound) if bias else None

    def __call__(self, x: Tensor) -> Tensor:
        n = self.weight.shape[1]
        _check_input(x, "Linear", f"(..., {n})", isinstance(x, Tensor) and x.ndim >= 1 and x.shape[-1] == n)
        return x.linear(self.weight.transpose(), self.bias)


class Conv2d:
    """2-d convolution (cross-correlation) of (N, in_channels, H, W) with weight
    (out_channels, in_channels / groups, kh, kw); the arguments are Tensor.conv2d's."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True):
        _positive_int(in_channels, "in_channels", "Conv2d")
        _positive_int(out_channels, "out_channels", "Conv2d")
        _positive_int(groups, "groups", "Conv2d")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"nn.Conv2d: in_channels={in_channels} and out_channels={out_channels} must both be "
                             f"divisible by groups={groups}")
        if isinstance(padding, str):
            raise ValueError(f"nn.Conv2d: padding={padding!r} is not supported; give the padding as ints")
        self.kernel_size = _int_tuple(kernel_size, 2, "kernel_size", "Conv2d")
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        bound = 1 / math.sqrt(in_channels // groups * math.prod(self.kernel_size))
        self.weight = Tensor.uniform(out_channels, in_channels // groups, *self.kernel_size, low=-bound, high=bound)
        self.bias = Tensor.uniform(out_channels, low=-bound, high=bound) if bias else None

    def __call__(self, x: Tensor) -> Tensor:
        c = self.weight.shape[1] * self.groups
        _check_input(x, "Conv2d", f"(N, {c}, H, W)", isinstance(x, Tensor) and x.ndim == 4 and x.shape[1] == c)
        return x.conv2d(self.weight, self.bias, self.groups, self.stride, self.dilation, self.padding)


class BatchNorm:
    """Batch normalization over the channel axis 1 of (N, C, ...) inputs (BatchNorm2d for (N, C, H, W)).

    In training (`with Tensor.train():`) it normalizes with the batch's mean and biased variance and moves the
    running statistics towards them: running = (1 - momentum) * running + momentum * batch, the variance taken
    unbiased there (PyTorch's rule). Outside training it normalizes with the running statistics. The running
    statistics are updated lazily (an `assign`); an optimizer that was given them (get_parameters(model) includes
    them) realizes the update in its step(), or realize them yourself."""

    def __init__(self, sz: int, eps: float = 1e-5, affine: bool = True, track_running_stats: bool = True,
                 momentum: float = 0.1):
        _positive_int(sz, "sz (the number of channels)", "BatchNorm")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"nn.BatchNorm: momentum must be in [0, 1], got {momentum!r}")
        self.eps, self.track_running_stats, self.momentum = eps, track_running_stats, momentum
        self.weight: Tensor | None = Tensor.ones(sz) if affine else None
        self.bias: Tensor | None = Tensor.zeros(sz) if affine else None
        self.sz = sz
        # buffers from the start (not lazy constants), so the lazy updates in __call__ write into them in place
        self.num_batches_tracked = _layer_buffer(Tensor(np.zeros((), np.int32), requires_grad=False))
        if track_running_stats:
            self.running_mean = _layer_buffer(Tensor(np.zeros(sz, np.float32), requires_grad=False))
            self.running_var = _layer_buffer(Tensor(np.ones(sz, np.float32), requires_grad=False))

    def calc_stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, biased variance) over every axis but the channel axis: the batch's in training, else the
        running ones (when tracked)."""
        if self.track_running_stats and not Tensor.training:
            return self.running_mean, self.running_var
        axes = tuple(a for a in range(x.ndim) if a != 1)
        mean = x.mean(axis=axes)
        y = x - mean.reshape((1, -1) + (1,) * (x.ndim - 2))
        return mean, (y * y).mean(axis=axes)

    def __call__(self, x: Tensor) -> Tensor:
        ok = isinstance(x, Tensor) and x.ndim >= 2 and x.shape[1] == self.sz
        _check_input(x, "BatchNorm", f"(N, {self.sz}, ...)", ok)
        if Tensor.training and x.numel() == x.shape[1]:
            raise ValueError(f"nn.BatchNorm: a batch of shape {x.shape} has one value per channel, so its variance "
                             f"is undefined; train with more than one value per channel (batch size > 1)")
        mean, var = self.calc_stats(x)
        if self.track_running_stats and Tensor.training:
            n = x.numel() // x.shape[1]
            m = self.momentum
            self.running_mean.assign((1 - m) * self.running_mean + m * mean)
            self.running_var.assign((1 - m) * self.running_var + m * (n / (n - 1)) * var)
            self.num_batches_tracked.assign(self.num_batches_tracked + 1)
        return x.batchnorm(self.weight, self.bias, mean, var.add(self.eps).rsqrt())


BatchNorm2d = BatchNorm3d = BatchNorm  # tinygrad's names: the same layer for any (N, C, ...) input


class LayerNorm:
    """Normalize over the last len(normalized_shape) axes, then scale by weight and shift by bias."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True):
        self.normalized_shape = _int_tuple(normalized_shape, 1 if isinstance(normalized_shape, int)
                                           else len(normalized_shape), "normalized_shape", "LayerNorm")
        self.axis = tuple(-1 - i for i in range(len(self.normalized_shape)))
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = Tensor.ones(*self.normalized_shape) if elementwise_affine else None
        self.bias = Tensor.zeros(*self.normalized_shape) if elementwise_affine else None

    def __call__(self, x: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        ok = isinstance(x, Tensor) and x.ndim >= k and x.shape[x.ndim - k:] == self.normalized_shape
        _check_input(x, "LayerNorm", f"(..., {', '.join(map(str, self.normalized_shape))})", ok)
        x = x.layernorm(axis=self.axis, eps=self.eps)
        return x if not self.elementwise_affine else x * self.weight + self.bias


class RMSNorm:
    """x / sqrt(mean(x^2 over the last axis) + eps), times weight (computed in float, returned in x's dtype)."""

    def __init__(self, dim: int, eps: float = 1e-6, elementwise_affine: bool = True):
        _positive_int(dim, "dim", "RMSNorm")
        self.dim, self.eps = dim, eps
        self.weight = Tensor.ones(dim) if elementwise_affine else None

    def _norm(self, x: Tensor) -> Tensor:
        return x * (x.square().mean(-1, keepdim=True) + self.eps).rsqrt()

    def __call__(self, x: Tensor) -> Tensor:
        _check_input(x, "RMSNorm", f"(..., {self.dim})", isinstance(x, Tensor) and x.ndim >= 1
                     and x.shape[-1] == self.dim)
        x = self._norm(x.float()).cast(x.dtype)
        return x if self.weight is None else x * self.weight


class Embedding:
    """A lookup table: integer indices (...) -> rows of weight (vocab_size, embed_size), giving (..., embed_size).
    Indices outside 0..vocab_size-1 are an error; checking reads them, so the index tensor is realized at the call."""

    def __init__(self, vocab_size: int, embed_size: int):
        _positive_int(vocab_size, "vocab_size", "Embedding")
        _positive_int(embed_size, "embed_size", "Embedding")
        self.vocab_sz, self.embed_sz = vocab_size, embed_size
        self.weight = Tensor.glorot_uniform(vocab_size, embed_size)

    def __call__(self, idx: Tensor) -> Tensor:
        if not isinstance(idx, Tensor) or not idx.dtype.is_int:
            raise TypeError(f"nn.Embedding: indices must be an integer Tensor, got "
                            f"{getattr(idx, 'dtype', type(idx).__name__)}")
        values = idx.numpy()  # reads the indices (as Tensor indexing does): a negative one would wrap around
        bad = (values < 0) | (values >= self.vocab_sz)
        if bad.any():
            raise IndexError(f"nn.Embedding: index {int(values[bad].flat[0])} is not in the vocabulary: valid "
                             f"indices are 0..{self.vocab_sz - 1} (vocab_size={self.vocab_sz})")
        return self.weight[idx]


def __getattr__(name: str):
    """`nn.state` and `nn.optim` work after `from shrimpgrad import nn` alone, as tinygrad's do (its nn package
    imports them); here they are imported on first use, so a program that only builds layers doesn't load them."""
    if name in ("state", "optim"):
        return importlib.import_module(f"shrimpgrad.nn.{name}")
    raise AttributeError(f"module 'shrimpgrad.nn' has no attribute {name!r}")


__all__ = ["Linear", "Conv2d", "BatchNorm", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "RMSNorm", "Embedding"]
