"""Optimizers with tinygrad's names and signatures: SGD (momentum, nesterov, weight decay), Adam, AdamW, LAMB.

    opt = nn.optim.Adam(get_parameters(model), lr=1e-3)
    with Tensor.train():
        opt.zero_grad()
        loss = model(x).sparse_categorical_crossentropy(y)
        loss.backward()
        opt.step()          # realizes the updates (and everything else they overwrite) together
        print(loss.item())  # the loss the gradients came from: the runtime computes it before the weights change

**One step is a small, fixed set of kernels.** step() builds each update lazily, `p.assign(p - lr * update)`,
together with the optimizer's state (momentum buffers, Adam's moments and its running powers of b1 and b2), and
realizes all of them with one `Tensor.realize(...)`: the scheduler fuses each parameter's update into a kernel
or two, and because every quantity that changes between steps (the learning rate, b1^t, b2^t) lives in a
1-element buffer rather than in a constant, step 2 runs the very kernels step 1 compiled. That is also what a
JIT needs to replay a step.

**What the optimizer takes.** Tensors with requires_grad None ("maybe", what nn layers make) are switched to True,
as tinygrad does. A tensor with requires_grad=False is an error, unless it is a statistic a layer keeps itself
(BatchNorm's running_mean/var, which get_parameters(model) includes): those are kept as *buffers*, whose lazy
updates step() realizes along with the parameters (tinygrad's `buffers`). The same tensor twice is an error
(it would be updated twice per step).

Mapping to tinygrad (tinygrad/nn/optim.py): Optimizer, SGD, LAMB, and Adam/AdamW as LAMB with adam=True, with
the same update formulas (so they match PyTorch's SGD, Adam and AdamW with zero-initialized state). Simplified: no
fused mode (one flat buffer for all parameters), no OptimizerGroup. Different: Adam and AdamW are subclasses
(functions in tinygrad), so errors name them; tinygrad dedups repeated parameters and silently drops
requires_grad=False ones, ShrimpGrad says so.
"""

from __future__ import annotations

import numpy as np

from shrimpgrad.graph import dtypes
from shrimpgrad.nn import is_layer_buffer
from shrimpgrad.tensor import Tensor, no_grad


class OptimizerError(ValueError):
    """An optimizer built or stepped with what it can't use (see the message)."""


def _describe(t: Tensor) -> str:
    return f"shape {t.shape}, {t.dtype!r}, on {t.device}"


class Optimizer:
    """The base class: checks the parameters, keeps the learning rate in a buffer, zero_grad() and step()."""

    def __init__(self, params: list[Tensor], lr: float):
        name = type(self).__name__
        params = list(params) if isinstance(params, (list, tuple)) else params
        if not isinstance(params, list) or not all(isinstance(t, Tensor) for t in params):
            raise OptimizerError(f"{name}: params must be a list of Tensors (e.g. get_parameters(model)), got "
                                 f"{type(params).__name__}" + ("" if not isinstance(params, list) else
                                 f" holding {sorted({type(t).__name__ for t in params if not isinstance(t, Tensor)})}"))
        seen: dict[int, int] = {}
        for i, t in enumerate(params):
            if id(t) in seen:
                raise OptimizerError(f"{name}: params[{i}] ({_describe(t)}) is the same tensor as params[{seen[id(t)]}]"
                                     f"; each parameter must appear once (it would be updated twice per step)")
            seen[id(t)] = i
            if t.requires_grad is False and not is_layer_buffer(t):
                raise OptimizerError(f"{name}: params[{i}] ({_describe(t)}) has requires_grad=False, so it gets no "
                                     f"gradient to train on; set t.requires_grad = True or leave it out")
            if not t.dtype.is_float and not is_layer_buffer(t):
                raise OptimizerError(f"{name}: params[{i}] ({_describe(t)}) is not a float tensor; only floats have "
                                     f"gradients")
        for t in params:
            if t.requires_grad is None and not is_layer_buffer(t):
                t.requires_grad = True  # what nn layers make: "maybe" becomes "yes" once it is optimized (tinygrad)
        self.params: list[Tensor] = [t for t in params if not is_layer_buffer(t)]
        self.buffers: list[Tensor] = [t for t in params if is_layer_buffer(t)]
        if not self.params:
            raise OptimizerError(f"{name}: no parameters to optimize (got {len(params)} tensors, "
                                 f"{len(self.buffers)} of them layer statistics)")
        devices = sorted({t.device for t in params})
        if len(devices) > 1:
            raise OptimizerError(f"{name}: the parameters are on several devices {devices}; move them to one with "
                                 f".to(device) before building the optimizer")
        self.device = devices[0]
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0:
            raise OptimizerError(f"{name}: lr must be a non-negative number, got {lr!r}")
        # a buffer, not a constant: changing opt.lr (a schedule) reuses the compiled kernels
        self.lr = Tensor(np.array(lr, np.float32), device=self.device, requires_grad=False)

    def _new_state(self) -> list[Tensor]:
        """One zero buffer per parameter (momentum, moments)."""
        return [Tensor(np.zeros(t.shape, t.dtype.np), device=t.device, dtype=t.dtype, requires_grad=False)
                for t in self.params]

    def zero_grad(self) -> None:
        """Forget the gradients: the next backward() starts from zero instead of adding to them."""
        for t in self.params:
            t.grad = None

    def step(self) -> None:
        """Update every parameter from its .grad and realize the updates, the optimizer's state and the layer
        buffers together (one Tensor.realize), so step N costs what step 1 costs."""
        Tensor.realize(*self.schedule_step())

    def schedule_step(self) -> list[Tensor]:
        """Build the step's updates lazily and return the tensors to realize (tinygrad's name): the parameters,
        the state and the buffers. step() is `Tensor.realize(*opt.schedule_step())`."""
        name = type(self).__name__
        if not Tensor.training:
            raise OptimizerError(f"{name}.step: Tensor.training is False; train inside `with Tensor.train():` (or set "
                                 f"Tensor.training = True) so that dropout and BatchNorm behave as in training")
        missing = [i for i, t in enumerate(self.params) if t.grad is None]
        if missing:
            i = missing[0]
            raise OptimizerError(f"{name}.step: {len(missing)} of {len(self.params)} parameters have no gradient "
                                 f"(the first: params[{i}], {_describe(self.params[i])}); call loss.backward() "
                                 f"before step(), and check that the loss depends on every parameter")
        with no_grad():
            state = self._step([t.grad.cast(t.dtype) for t in self.params])
        return [*self.params, *state, *self.buffers]

    def _step(self, grads: list[Tensor]) -> list[Tensor]:
        """Assign each parameter its new value; return the state tensors that were assigned too."""
        raise NotImplementedError(f"{type(self).__name__} must define _step (the update rule)")


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's formula:
    g = grad + weight_decay * p;  b = momentum * b + g;  g = g + momentum * b (nesterov) or b;  p -= lr * g.
    classic=True applies the learning rate before the momentum (b = momentum * b + lr * g; p -= b)."""

    def __init__(self, params: list[Tensor], lr: float = 0.001, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False, classic: bool = False):
        super().__init__(params, lr)
        _check_range("SGD", "momentum", momentum)
        _check_range("SGD", "weight_decay", weight_decay, upper=None)
        if nesterov and not momentum:
            raise OptimizerError("SGD: nesterov=True needs a momentum > 0")
        self.momentum, self.wd, self.nesterov, self.classic = momentum, weight_decay, nesterov, classic
        self.b = self._new_state() if self.momentum else []

    def _step(self, grads: list[Tensor]) -> list[Tensor]:
        for i, (t, g) in enumerate(zip(self.params, grads)):
            if self.wd:
                g = g + self.wd * t
            if self.classic:
                g = g * self.lr
            if self.momentum:
                self.b[i].assign(self.momentum * self.b[i] + g)
                g = (g + self.momentum * self.b[i]) if self.nesterov else self.b[i]
            if not self.classic:
                g = g * self.lr
            t.assign(t - g)
        return self.b


class LAMB(Optimizer):
    """LAMB (Adam with a per-tensor trust ratio ||p|| / ||update||), and Adam/AdamW as its adam=True case:
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  up = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd p;
    p -= lr * r * up, with r = 1 for Adam (weight decay decoupled from the gradient: AdamW's rule)."""

    def __init__(self, params: list[Tensor], lr: float = 0.001, b1: float = 0.9, b2: float = 0.999,
                 eps: float = 1e-6, weight_decay: float = 0.0, adam: bool = False):
        super().__init__(params, lr)
        name = type(self).__name__
        _check_range(name, "b1", b1, upper_open=True)
        _check_range(name, "b2", b2, upper_open=True)
        _check_range(name, "eps", eps, upper=None)
        _check_range(name, "weight_decay", weight_decay, upper=None)
        self.b1, self.b2, self.eps, self.wd, self.adam = b1, b2, eps, weight_decay, adam
        # b1^t and b2^t, multiplied in every step: buffers, so the bias correction is the same kernel each step
        self.b1_t = Tensor(np.ones((), np.float32), device=self.device, dtype=dtypes.float32, requires_grad=False)
        self.b2_t = Tensor(np.ones((), np.float32), device=self.device, dtype=dtypes.float32, requires_grad=False)
        self.m = self._new_state()
        self.v = self._new_state()

    def _step(self, grads: list[Tensor]) -> list[Tensor]:
        self.b1_t.assign(self.b1_t * self.b1)
        self.b2_t.assign(self.b2_t * self.b2)
        for i, (t, g) in enumerate(zip(self.params, grads)):
            self.m[i].assign(self.b1 * self.m[i] + (1.0 - self.b1) * g)
            self.v[i].assign(self.b2 * self.v[i] + (1.0 - self.b2) * (g * g))
            m_hat = self.m[i] / (1.0 - self.b1_t)
            v_hat = self.v[i] / (1.0 - self.b2_t)
            up = m_hat / (v_hat.sqrt() + self.eps)
            if self.wd:
                up = up + self.wd * t
            if not self.adam:
                r1, r2 = t.square().sum().sqrt(), up.square().sum().sqrt()
                r = (r1 > 0).where((r2 > 0).where(r1 / r2, 1.0), 1.0)
                up = up * r
            t.assign(t - (self.lr * up).cast(t.dtype))
        return [self.b1_t, self.b2_t, *self.m, *self.v]


class Adam(LAMB):
    """Adam (Kingma & Ba), PyTorch's formula with bias correction (LAMB with adam=True, no weight decay)."""

    def __init__(self, params: list[Tensor], lr: float = 0.001, b1: float = 0.9, b2: float = 0.999,
                 eps: float = 1e-8):
        super().__init__(params, lr, b1, b2, eps, 0.0, adam=True)


class AdamW(LAMB):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p -= lr * (adam_update + weight_decay * p)."""

    def __init__(self, params: list[Tensor], lr: float = 0.001, b1: float = 0.9, b2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, b1, b2, eps, weight_decay, adam=True)


def _check_range(name: str, what: str, value, upper: float | None = 1.0, upper_open: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value >= 0
    if ok and upper is not None:
        ok = value < upper if upper_open else value <= upper
    if not ok:
        bound = "" if upper is None else (f" and < {upper}" if upper_open else f" and <= {upper}")
        raise OptimizerError(f"{name}: {what} must be a number >= 0{bound}, got {value!r}")


__all__ = ["Optimizer", "SGD", "LAMB", "Adam", "AdamW", "OptimizerError"]
