"""A Tensor's life after it is built (mixed into `Tensor`): gradients, in-place writes and realizing.

Gradients: `requires_grad`, `backward()`, `gradient()`, `detach()`. Autograd is a graph-to-graph pass of
stage 01 (`shrimpgrad.graph.gradient`); this module adds what the graph can't know. *Leaves* (tensors made from
data or by a creation method) are remembered weakly (`_LEAVES`), so backward() can find the ones in its graph.
Graph nodes compare by structure, so a leaf that needs a gradient gets its own buffer (two
`Tensor.zeros(3, requires_grad=True)` must stay two variables), `detach()` makes a new leaf reading a copy of
the memory, and a realized tensor remembers the graph it replaced (`_FORWARD`), so backward() still sees
through `.realize()`.

In-place writes: `assign()` and `+=`, `-=`, ...: lazy, but meaning what eager code means (shrimpgrad/inplace.py
keeps that promise at realize time).

Realizing: `realize()` runs stage 02-05 on the graphs of one or more tensors (one realize at a time,
process-wide) and points each at a BUFFER node holding its value.

Required from the core Tensor (shrimpgrad/tensor.py): `node`, `device`, `shape`, `dtype`, `_requires_grad`,
`_is_leaf`, `_make_leaf`, `_from_node`, `_leaf`, `_const`; from the other mixins `_broadcast_to` (movement.py),
`cast` and the operators that `+=` and friends rewrite to (elementwise.py, `@` in reduce.py).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from typing import TYPE_CHECKING

import numpy as np

import shrimpgrad.graph as _graph
from shrimpgrad import inplace
from shrimpgrad.checks import (
    DTypeError,
    GradError,
    OutOfMemoryError,
    ShapeError,
    _broadcast_shape,
    _fail,
    _provenance,
)
from shrimpgrad.graph import Node, Ops, assign, buffer, rewrite, toposort
from shrimpgrad.graph import gradient as graph_gradient
from shrimpgrad.realize import copy_buffer
from shrimpgrad.realize import realize as realize_graph

if TYPE_CHECKING:
    from shrimpgrad.tensor import Tensor

# Leaves (Tensors not made by an op: created from data, by creation methods, or given requires_grad) are
# remembered weakly, so backward() can find the ones in its graph: Nodes don't know their Tensors.
_LEAVES: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()
_leaf_ids = itertools.count()

class LifecycleMixin:
    """requires_grad, backward, gradient, detach; assign and the in-place operators; realize."""

    @property
    def requires_grad(self) -> bool | None:
        """True: backward() gives this tensor a .grad. None (default): "maybe" (see backward). False: never."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool | None) -> None:
        self._make_leaf(value)  # a tensor that wants a gradient becomes a leaf with its own buffer

    def requires_grad_(self, value: bool = True) -> Tensor:
        self.requires_grad = value
        return self

    def backward(self, gradient: Tensor | None = None) -> Tensor:
        """Accumulate d(self)/d(leaf) into `leaf.grad` for every leaf in self's graph with requires_grad=True.

        A non-scalar self is seeded with ones (the gradient of self.sum()) unless `gradient` is given. If no
        leaf says True, the leaves left at None ("maybe") get gradients instead, so the README's first example
        `Tensor.ones((2,2)).dot(Tensor.zeros((2,2))).backward()` computes something rather than nothing. Written
        as that one line, its leaves are gone before backward() runs: nobody could read their gradients, so there
        is nothing to do (tinygrad also returns self). Only a graph where every input said requires_grad=False is
        an error."""
        if type(self).no_grad:
            raise _fail(GradError, "backward", "called inside no_grad()", "leave the no_grad() block first")
        if not self.dtype.is_float:
            raise _fail(DTypeError, "backward", f"the output is {self.dtype!r}; only float outputs have gradients",
                        "cast to float first")
        root, order = _unrealized(self.node)
        targets = _grad_targets(order, self._requires_grad)
        for t, g in zip(targets, self._gradient(root, targets, gradient, order)):
            t.grad = g if t.grad is None else t.grad + g
        return self

    def gradient(self, *targets: Tensor, gradient: Tensor | None = None) -> list[Tensor]:
        """d(self)/d(target) for each target, as lazy Tensors (zeros where a target doesn't affect self)."""
        return self._gradient(_unrealized(self.node)[0], list(targets), gradient)

    def _gradient(self, root: Node, targets: list[Tensor], gradient: Tensor | None,
                  order: list[Node] | None = None) -> list[Tensor]:
        seed = self._const(1) if gradient is None else gradient
        if not isinstance(seed, type(self)) or seed.shape != self.shape:
            raise _fail(ShapeError, "backward", f"gradient must be a Tensor of the output's shape {self.shape}, got "
                        f"{getattr(seed, 'shape', type(seed).__name__)}")
        grads = graph_gradient(root, [t.node for t in targets], seed.cast(self.dtype).node, order)
        return [t._const(0) if g is None else type(self)._from_node(g, t.device, False) for t, g in zip(targets, grads)]

    def detach(self) -> Tensor:
        """The same values, cut off from the graph: no gradient flows through the result.

        The graph has no "stop gradient" op and compares nodes by structure, so the result must be a new leaf:
        self's value is realized (now, if it isn't yet) and copied into a buffer of its own: the copy is a new node,
        so no gradient can reach self through it. (Unlike PyTorch's detach it is not a view: a later
        `self.assign(...)` does not change it, because every Tensor is a value; see shrimpgrad/inplace.py.)"""
        self.realize()
        ref = copy_buffer(self.node.arg, self.device)
        return type(self)._leaf(buffer(ref, self.shape, _provenance()), self.device, False)

    # ================================================================================================
    # in-place update
    # ================================================================================================

    def assign(self, x) -> Tensor:
        """Write `x` into self's buffer when realized (the optimizer's update). If self has no buffer yet
        (an unrealized value), self simply takes x's value. Returns self.

        Lazy, but it means what eager code means (shrimpgrad/inplace.py): tensors computed from self before this
        call keep the old value. Assigned twice before a realize, self takes the second value as a new lazy value
        (computed into a new buffer when realized, not written into the old one); a value that reads self between
        the two sees the first write. An assign into a view (`x[1:3].assign(v)`) writes x's buffer and runs at
        once, like numpy's `x[1:3] = v`."""
        x = x if isinstance(x, type(self)) else type(self)(x, device=self.device, dtype=self.dtype)
        if x.device != self.device:
            raise _fail(ValueError, "assign", f"value is on {x.device!r}, self on {self.device!r}", "use .to() first")
        if x.dtype != self.dtype:
            if not np.can_cast(x.dtype.value_np, self.dtype.value_np, "same_kind"):  # bfloat16: as its float32 values
                raise _fail(DTypeError, "assign", f"can't assign {x.dtype!r} into {self.dtype!r}", "cast it first")
            x = x.cast(self.dtype)
        if x.shape != self.shape:
            if _broadcast_shape("assign", x.shape, self.shape) != self.shape:
                raise _fail(ShapeError, "assign", f"value of shape {x.shape} doesn't broadcast to {self.shape}")
            x = x._broadcast_to(self.shape)
        target = self.node
        # not a buffer (an unrealized value, or an earlier ASSIGN that hasn't run): self becomes x's value; x's graph
        # holds the earlier ASSIGN where it reads it, so that write still happens first (stage 02 orders it)
        if not _writable(target):
            self.node = x.node
            return self
        self.node = assign(target, x.node, _provenance())
        inplace.assigns_made += 1
        if not inplace.writes_whole_buffer(self.node):
            self.realize()  # a write into a view: the viewed tensor must show it now (see the docstring)
        return self

    def __iadd__(self, x) -> Tensor:
        return self.assign(self + x)

    def __isub__(self, x) -> Tensor:
        return self.assign(self - x)

    def __imul__(self, x) -> Tensor:
        return self.assign(self * x)

    def __itruediv__(self, x) -> Tensor:
        return self.assign(self / x)

    def __ifloordiv__(self, x) -> Tensor:
        return self.assign(self // x)

    def __imod__(self, x) -> Tensor:
        return self.assign(self % x)

    def __ipow__(self, x) -> Tensor:
        return self.assign(self**x)

    def __iand__(self, x) -> Tensor:
        return self.assign(self & x)

    def __ior__(self, x) -> Tensor:
        return self.assign(self | x)

    def __ixor__(self, x) -> Tensor:
        return self.assign(self ^ x)

    def __imatmul__(self, x) -> Tensor:
        return self.assign(self @ x)

    # ================================================================================================
    # realize
    # ================================================================================================

    def realize(self, *others: Tensor) -> Tensor:
        """Compute self (and `others`, in the same run) now; afterwards each points at a BUFFER node holding
        its value, so it is never computed again. `Tensor.realize(a, b, c)` works too. Returns self."""
        _realize_tensors([self, *others])
        return self


# ---- autograd helpers ----------------------------------------------------------------------------
# realize() replaces a Tensor's graph with a BUFFER node, but a later backward() must still see how that
# value was computed (`h = f(x).realize(); loss = g(h); loss.backward()` gives x a gradient, as in tinygrad and
# PyTorch). So each realized BUFFER node remembers the graph it replaced, for as long as the node lives.
# Each entry also keeps the write epoch it was made in: if a buffer of that graph was overwritten later (an
# optimizer step), differentiating through it would silently use the new contents, so backward() refuses.
_FORWARD: weakref.WeakKeyDictionary[Node, tuple[Node, int]] = weakref.WeakKeyDictionary()


# One realize at a time, process-wide: schedules, caches, buffer pools and the in-place bookkeeping are shared, so
# realizes from several threads run one after another (graph building needs no lock: it only makes new nodes).
_REALIZE_LOCK = threading.RLock()


def _realize_tensors(tensors: list[Tensor]) -> None:
    """Realize `tensors` together, keeping every other live tensor's value right (shrimpgrad/inplace.py): the
    pending readers of overwritten buffers join the same schedule (stage 02 runs them before the writes),
    aliases of overwritten buffers get snapshots, and the ASSIGNs performed are remembered as done."""
    if all(t.node.op is Ops.BUFFER for t in tensors):
        return  # realized already (a TinyJit's arguments on every call): no graph, no write, nothing to plan
    with _REALIZE_LOCK:
        _realize_locked(tensors)


def _realize_locked(tensors: list[Tensor]) -> None:
    group, aliases, writes = inplace.plan_realize(tensors)
    for t in aliases:
        t.node = buffer(copy_buffer(t.node.arg, t.device), t.shape, t.node.meta)
    for device in dict.fromkeys(t.device for t in group):
        # Once each: `x.realize(x.reshape(x.shape))` names x twice (a no-op reshape returns x itself), and a second
        # pass would swap in an equal result node whose twin (the only key of x's _FORWARD entry) then dies.
        members = list({id(t): t for t in group if t.device == device}.values())
        roots = inplace.without_finished([t.node for t in members])
        try:
            results = realize_graph(roots, device)
        except Exception as e:
            if isinstance(e, MemoryError) or (type(e).__name__ == "CUDAError" and "OUT_OF_MEMORY" in str(e)):
                raise _out_of_memory(roots, device, e) from e
            raise
        for t, node in zip(members, results):
            if _remembers_forward(t):
                _FORWARD[node] = (t.node, inplace.epoch)
            t.node = node
    if writes:
        inplace.mark_finished(writes)


def _out_of_memory(roots: list[Node], device: str, e: Exception) -> OutOfMemoryError:
    """The error for an allocation that failed while realizing `roots`: which device, the biggest buffer."""
    big = max(toposort(roots), key=lambda n: n.size * n.dtype.itemsize)
    return _fail(OutOfMemoryError, "realize", f"device {device!r} is out of memory ({e}); the largest value in this "
                 f"graph is {big.shape} {big.dtype!r} ({big.size * big.dtype.itemsize / 2**30:.3g} GiB)",
                 "free tensors you no longer need (del t), realize in smaller pieces, or use smaller shapes")


def _remembers_forward(t: Tensor) -> bool:
    """Remember t's graph on realize? Not for leaves (their buffer IS the value to differentiate against), not for
    an ASSIGN (the buffer then holds a new leaf value, e.g. an updated weight), not when no gradient can be wanted."""
    return not t._is_leaf and t.node.op not in (Ops.BUFFER, Ops.ASSIGN) and t._requires_grad is not False


def _unrealized(root: Node) -> tuple[Node, list[Node]]:
    """root's graph with each realized BUFFER node replaced by the graph that computed it (repeatedly: that graph
    may read realized buffers too), and its nodes in toposort order (backward walks them: one walk, not two)."""
    order = toposort([root])
    while _FORWARD and any(n in _FORWARD for n in order if n.op is Ops.BUFFER):
        (root,) = rewrite([root], _forward_of)
        order = toposort([root])
    return root, order


def _forward_of(node: Node) -> Node:
    """A realized BUFFER node's forward graph (checked: its inputs were not overwritten since); others as they are."""
    if node.op is not Ops.BUFFER or node not in _FORWARD:
        return node
    forward, epoch = _FORWARD[node]
    _check_not_overwritten(forward, epoch)
    return forward


def _check_not_overwritten(forward: Node, epoch: int) -> None:
    """backward() through a value whose inputs were assigned after it was computed would differentiate against
    the new contents: refuse, as PyTorch does."""
    for n in toposort([forward]):
        if n.op is Ops.BUFFER and inplace.last_write(n.arg) > epoch:
            raise _fail(GradError, "backward", f"a {n.shape} {n.dtype!r} buffer this value was computed from was "
                        "overwritten by assign() after the value was realized, so its gradient can't be computed",
                        "call backward() before updating the tensors it depends on (as in PyTorch)")


def _grad_targets(order: list[Node], root_requires_grad: bool | None) -> list[Tensor]:
    """The leaves backward() gives gradients to: those in root's graph with requires_grad=True, else the "maybe"
    ones (requires_grad=None) that are still alive. `root_requires_grad` None means the graph was built from
    "maybe" leaves: if none of them is alive any more, the answer is no targets, not an error."""
    in_graph = {id(n) for n in order}  # the root's graph (from _unrealized)
    leaves = [t for t in list(_LEAVES.values()) if id(t.node) in in_graph and t.dtype.is_float]
    targets = [t for t in leaves if t._requires_grad] or [t for t in leaves if t._requires_grad is None]
    if not targets and root_requires_grad is None:
        return []
    if not targets:
        raise _fail(GradError, "backward", "no tensor in this graph requires a gradient",
                    "create the inputs with requires_grad=True (and keep them in variables: a leaf that nothing "
                    "refers to any more gets no gradient)")
    nodes = [t.node for t in targets]
    if len(set(nodes)) != len(nodes):
        raise _fail(GradError, "backward", "two leaves are the same graph node (equal constants such as two "
                    "Tensor.ones(...)), so their gradients can't be told apart",
                    "create them with requires_grad=True (each then gets its own buffer)")
    return targets


def _writable(node: Node) -> bool:
    """Is `node` a buffer seen through movement ops (something ASSIGN can write into)?"""
    while node.op in _graph.MOVEMENT:
        node = node.src[0]
    return node.op is Ops.BUFFER
