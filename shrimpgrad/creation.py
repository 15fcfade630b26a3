"""Making tensors (mixed into `Tensor`): constants, ranges, the identity, random numbers, initializers.

    Tensor.zeros(2, 3)   Tensor.full((2, 3), 7)   Tensor.arange(5)   Tensor.eye(3)   Tensor.randn(2, 3)

Constants (`full`, `zeros`, `ones`, `eye`) are lazy graph nodes with no memory; `arange`, `linspace` and the
random numbers are computed on the host (the graph has no "index" or "random" op) and copied into a buffer.
Every tensor made here is a *leaf*: backward() can give it a gradient.

Random numbers come from numpy on the host, not from tinygrad's counter-based threefry kernels: simpler and
still reproducible (`Tensor.manual_seed`). The default seed is fixed, so runs repeat exactly.

Required from the core Tensor (shrimpgrad/tensor.py): the constructor `Tensor(data, device, dtype,
requires_grad)`, `_from_node`, `_leaf`; for `eye` also the views of movement.py (pad, flatten, shrink, reshape).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from shrimpgrad.checks import DTypeError, Scalar, _canonical_device, _fail, _provenance, _shape, _to_dtype
from shrimpgrad.graph import broadcast_const, buffer, dtypes
from shrimpgrad.realize import new_buffer

if TYPE_CHECKING:
    from shrimpgrad.tensor import Tensor


class CreationMixin:
    """empty, full, zeros, ones, arange, linspace, eye; manual_seed, rand, randn, randint, uniform, normal and
    the initializers; full_like, zeros_like, ones_like, rand_like."""

    # The generator (see the module docstring) is made on first use: numpy imports numpy.random only when asked
    # (~5 ms), and most programs that import shrimpgrad draw no random numbers.
    _rng: ClassVar[np.random.Generator | None] = None

    @classmethod
    def empty(cls, *shape, dtype=None, device=None, requires_grad=None) -> Tensor:
        """A new buffer of `shape` (zero-filled here; tinygrad leaves it uninitialized)."""
        shape = _shape("empty", *shape)
        dt = _to_dtype("empty", dtype or dtypes.default_float)
        return cls(np.zeros(shape, dt.np), device, dt, requires_grad)

    @classmethod
    def full(cls, shape, fill_value: Scalar, dtype=None, device=None, requires_grad=None) -> Tensor:
        """`fill_value` everywhere: a lazy constant, no memory (dtype from the value by default)."""
        dt = _to_dtype("full", dtype) if dtype is not None else dtypes.from_py(fill_value)
        node = broadcast_const(fill_value, dt, _shape("full", shape), _provenance())
        return cls._leaf(node, device, requires_grad)

    @classmethod
    def zeros(cls, *shape, dtype=None, device=None, requires_grad=None) -> Tensor:
        return cls.full(_shape("zeros", *shape), 0.0, dtype or dtypes.default_float, device, requires_grad)

    @classmethod
    def ones(cls, *shape, dtype=None, device=None, requires_grad=None) -> Tensor:
        return cls.full(_shape("ones", *shape), 1.0, dtype or dtypes.default_float, device, requires_grad)

    @classmethod
    def arange(cls, start, stop=None, step=1, dtype=None, device=None, requires_grad=None) -> Tensor:
        """[start, start+step, ...) below stop; default_int if all arguments are ints, else default_float.
        Computed on the host: the graph has no "index" op to build it lazily."""
        if stop is None:
            start, stop = 0, start
        if step == 0:
            raise _fail(ValueError, "arange", "step must not be 0")
        is_float = any(isinstance(v, float) for v in (start, stop, step))
        natural = dtypes.default_float if is_float else dtypes.default_int
        dt = _to_dtype("arange", dtype) if dtype is not None else natural
        n = max(0, math.ceil((stop - start) / step))
        values = start + step * np.arange(n, dtype=np.float64 if is_float else np.int64)
        return cls(values, device, dt, requires_grad)

    @classmethod
    def linspace(cls, start, stop, steps: int, dtype=None, device=None, requires_grad=None) -> Tensor:
        """`steps` evenly spaced values from start to stop, both included (numpy's linspace, on the host)."""
        if not isinstance(steps, int) or steps < 0:
            raise _fail(ValueError, "linspace", f"steps must be a non-negative int, got {steps!r}")
        values = np.linspace(start, stop, steps)
        return cls(values, device, dtype or dtypes.default_float, requires_grad)

    @classmethod
    def eye(cls, n: int, m: int | None = None, dtype=None, device=None, requires_grad=None) -> Tensor:
        """The identity matrix (n, m), lazily and without memory, by tinygrad's old trick: ones (k, 1) padded to
        (k, k+1) and flattened is 1,0,..,0,1,0,..; read as (k, k), the ones land on the diagonal."""
        n, m = _shape("eye", n, n if m is None else m)
        k, dt = max(n, m), _to_dtype("eye", dtype or dtypes.default_float)
        ones = cls._from_node(broadcast_const(1, dt, (k, 1), _provenance()), _canonical_device(device), None)
        square = ones.pad(((0, 0), (0, k))).flatten().shrink(((0, k * k),)).reshape(k, k)
        return cls._leaf(square.shrink(((0, n), (0, m))).node, device, requires_grad)

    @classmethod
    def manual_seed(cls, seed: int = 0) -> None:
        """Restart the random number generator: the same seed gives the same numbers."""
        cls._rng = np.random.default_rng(seed)

    @classmethod
    def _generator(cls) -> np.random.Generator:
        """Tensor's random number generator: seed 0 until manual_seed says otherwise."""
        if cls._rng is None:
            cls._rng = np.random.default_rng(0)
        return cls._rng

    @classmethod
    def _random(cls, method: str, draw, dtype, device, requires_grad) -> Tensor:
        """A leaf holding `draw()` (numbers from Tensor's generator). The buffer remembers `draw`, so a TinyJit
        replay draws new numbers (in the same order a plain run would) instead of reusing these."""
        dt = _to_dtype(method, dtype or (dtypes.default_int if method == "randint" else dtypes.default_float))
        if method != "randint" and not dt.is_float:
            raise _fail(DTypeError, method, f"makes floats, got dtype={dt!r}", "use randint for integers")
        device = _canonical_device(device)
        values = draw()
        node = buffer(new_buffer(values, dt, device, draw=draw), values.shape, _provenance())
        return cls._leaf(node, device, requires_grad)

    @classmethod
    def rand(cls, *shape, dtype=None, device=None, requires_grad=None) -> Tensor:
        """Uniform in [0, 1)."""
        shape = _shape("rand", *shape)
        return cls._random("rand", lambda: cls._generator().random(shape), dtype, device, requires_grad)

    @classmethod
    def randn(cls, *shape, dtype=None, device=None, requires_grad=None) -> Tensor:
        """Standard normal."""
        shape = _shape("randn", *shape)
        return cls._random("randn", lambda: cls._generator().standard_normal(shape), dtype, device, requires_grad)

    @classmethod
    def randint(cls, *shape, low: int = 0, high: int = 10, dtype=None, device=None, requires_grad=None) -> Tensor:
        """Integers uniform in [low, high)."""
        if not low < high:
            raise _fail(ValueError, "randint", f"needs low < high, got low={low}, high={high}")
        shape = _shape("randint", *shape)
        return cls._random("randint", lambda: cls._generator().integers(low, high, shape), dtype, device, requires_grad)

    @classmethod
    def uniform(cls, *shape, low: float = 0.0, high: float = 1.0, dtype=None, device=None,
                requires_grad=None) -> Tensor:
        shape = _shape("uniform", *shape)
        return cls._random("uniform", lambda: cls._generator().uniform(low, high, shape), dtype, device, requires_grad)

    @classmethod
    def normal(cls, *shape, mean: float = 0.0, std: float = 1.0, dtype=None, device=None,
               requires_grad=None) -> Tensor:
        shape = _shape("normal", *shape)
        return cls._random("normal", lambda: cls._generator().normal(mean, std, shape), dtype, device, requires_grad)

    @classmethod
    def scaled_uniform(cls, *shape, **kwargs) -> Tensor:
        """Uniform in [-1, 1) / sqrt(numel) (tinygrad's)."""
        shape = _shape("scaled_uniform", *shape)
        bound = math.prod(shape) ** -0.5
        return cls.uniform(*shape, low=-bound, high=bound, **kwargs)

    @classmethod
    def kaiming_uniform(cls, *shape, a: float = 0.01, **kwargs) -> Tensor:
        """He initialization: uniform in +-sqrt(3) * gain / sqrt(fan_in), gain = sqrt(2 / (1 + a^2))."""
        shape = _shape("kaiming_uniform", *shape)
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + a**2)) / math.sqrt(math.prod(shape[1:]))
        return cls.uniform(*shape, low=-bound, high=bound, **kwargs)

    @classmethod
    def kaiming_normal(cls, *shape, a: float = 0.01, **kwargs) -> Tensor:
        shape = _shape("kaiming_normal", *shape)
        std = math.sqrt(2.0 / (1 + a**2)) / math.sqrt(math.prod(shape[1:]))
        return cls.normal(*shape, mean=0.0, std=std, **kwargs)

    @classmethod
    def glorot_uniform(cls, *shape, **kwargs) -> Tensor:
        """Xavier initialization: uniform in +-sqrt(6 / (fan_in + fan_out))."""
        shape = _shape("glorot_uniform", *shape)
        bound = math.sqrt(6 / (shape[0] + math.prod(shape[1:])))
        return cls.uniform(*shape, low=-bound, high=bound, **kwargs)

    def full_like(self, fill_value: Scalar, **kwargs) -> Tensor:
        kwargs = {"dtype": self.dtype, "device": self.device, **kwargs}
        return type(self).full(self.shape, fill_value, **kwargs)

    def zeros_like(self, **kwargs) -> Tensor:
        return self.full_like(0, **kwargs)

    def ones_like(self, **kwargs) -> Tensor:
        return self.full_like(1, **kwargs)

    def rand_like(self, **kwargs) -> Tensor:
        kwargs = {"dtype": self.dtype if self.dtype.is_float else None, "device": self.device, **kwargs}
        return type(self).rand(*self.shape, **kwargs)
