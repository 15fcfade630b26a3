"""Autograd as a graph-to-graph pass: the gradient of a graph is another graph.

`gradient(root, targets, seed)` walks the graph backwards from `root` (reverse topological
order) carrying `grad_out`, the gradient flowing into each node, and asks the node's rule in
`DERIVATIVES` for the gradients of its sources. Nothing is computed: the rules build new Nodes
with the same constructors the forward graph uses, so the backward graph is scheduled, fused and
compiled exactly like the forward one.

    x = buffer(...)                      d/dx of  sum(x * x)
    y = alu(MUL, x, x)          ──►       MUL(g, x) + MUL(g, x)       (x is used twice: ADD them)
    z = reduce(y, ADD, (0,))               where g = EXPAND(seed) from the REDUCE rule

Three rules of the walk:

* A node used by several consumers gets the SUM of their contributions (the chain rule over
  every path); the node is visited once, after all its consumers.
* Gradients flow only through float nodes, and only into sources that lead to a target: a
  comparison, an integer op or the condition of a WHERE returns None for its sources.
* Each rule builds its nodes with the small builders below (`_alu`, `_move`, `_reduce`, ...), which
  give every new node, as it is made, a `Provenance` whose method is e.g. "backward of Ops.MUL" (and
  the forward node's file:line when it has one), so a line of generated code can be traced back to
  the forward op whose derivative it computes. A new node equal to one that exists already (in the
  forward graph, or built earlier in the walk) is that node: it keeps its own provenance.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

from .dtype import DType
from .ops import (
    GraphError,
    Node,
    Ops,
    Provenance,
    alu,
    broadcast_const,
    const,
    copy,
    movement,
    reduce,
)
from .walk import toposort

Grads = tuple[Node | None, ...]  # one gradient (or None) per source of the node


def gradient(root: Node, targets: Sequence[Node], seed: Node | None = None,
             order: Sequence[Node] | None = None) -> list[Node | None]:
    """d root / d target for each target, as graphs of Nodes (None: no path, or not differentiable).

    `seed` is the gradient flowing into `root` (ones when None, which makes the result the gradient
    of `sum(root)`); it must have root's shape and dtype. `order`: `toposort([root])`, when the caller
    walked the graph already (the front end's backward does: the walk is not done twice)."""
    if not root.dtype.is_float:
        raise GraphError(f"gradient: the root is {root.dtype!r}; only float graphs have gradients (cast to float)")
    if seed is None:
        seed = broadcast_const(1.0, root.dtype, root.shape, Provenance("<autograd>", 0, "backward seed"))
    if seed.shape != root.shape or seed.dtype != root.dtype:
        raise GraphError(f"gradient: seed is {seed.shape} {seed.dtype!r} but the root is {root.shape} "
                         f"{root.dtype!r}; pass a seed of the root's shape and dtype")

    forward = list(dict.fromkeys(toposort([root]) if order is None else order))  # equal nodes: keep the first
    wanted = _leads_to(forward, set(targets))
    known: dict[Node, Node] = {n: n for n in forward}  # nodes that already exist (and so keep their meta)
    known.setdefault(seed, seed)
    grads: dict[Node, Node] = {root: seed}
    building = _building
    try:
        for node in reversed(forward):  # every consumer of `node` comes later in `forward`: it is done
            grad_out = grads.get(node)
            if grad_out is None or not node.src or not node.dtype.is_float:
                continue
            provenance = _backward_provenance(node)
            building.known, building.provenance = known, provenance
            src_grads = DERIVATIVES[node.op](node, grad_out)
            for s, g in zip(node.src, src_grads):
                if g is None or not wanted[s] or not s.dtype.is_float:
                    continue
                _check_rule_result(node, s, g)
                if known.get(g) is not g:  # built with the plain constructors (a rule from outside this file)
                    g = _stamp(g, provenance, known)
                if s in grads:
                    building.provenance = _accumulate_provenance(s)
                    g = _alu(Ops.ADD, grads[s], g)
                    building.provenance = provenance
                grads[s] = g
    finally:
        building.known = building.provenance = None
    return [grads.get(t) if t.dtype.is_float else None for t in targets]


def _leads_to(forward: list[Node], targets: set[Node]) -> dict[Node, bool]:
    """For each node: is some target among it and its sources? Only those need gradients."""
    wanted: dict[Node, bool] = {}
    for n in forward:
        leads = n in targets
        if not leads:
            for s in n.src:  # a loop, not any(generator): this runs for every node of every backward
                if wanted[s]:
                    leads = True
                    break
        wanted[n] = leads
    return wanted


_ACCUMULATE = "backward: sum of gradients from several uses"


def _accumulate_provenance(node: Node) -> Provenance:
    """The sum of a node's gradients from its several uses is named after the node's own line (a user can find
    it there), or <autograd> for a node without provenance."""
    where = node.meta
    return Provenance(where.file if where else "<autograd>", where.line if where else 0, _ACCUMULATE)


# Each rule's method name, made once per op: formatting it per node called Enum.__repr__ (Python) for every node
# of every backward.
_BACKWARD_OF = {op: f"backward of {op!r}" for op in Ops}


def _backward_provenance(node: Node) -> Provenance:
    where = node.meta
    return Provenance(where.file if where else "<autograd>", where.line if where else 0, _BACKWARD_OF[node.op])


def _stamp(grad: Node, provenance: Provenance, known: dict[Node, Node]) -> Node:
    """Rebuild the new part of `grad` with `provenance` on every new node (existing nodes are reused).

    Only for a rule that built its result with the plain constructors of ops.py (the rules here use the
    builders below, which do this as they build, with no walk). The walk stops at known nodes: a rule's
    result sits on top of the whole gradient built so far, and walking all of it again for every node
    would make the pass quadratic."""
    for n in toposort([grad], sources=lambda n: () if n in known else n.src):
        if n not in known:  # new, and its sources are known by now (an equal node may have been made already)
            known[n] = Node(n.op, tuple(known[s] for s in n.src), n.dtype, n.shape, n.arg, provenance)
    return known[grad]


def _check_rule_result(node: Node, src: Node, grad: Node) -> None:
    if grad.shape != src.shape or grad.dtype != src.dtype:
        raise GraphError(f"the derivative rule of {node.op!r} gave a {grad.shape} {grad.dtype!r} gradient for a "
                         f"{src.shape} {src.dtype!r} source (a bug in the rule)")


# ---- small builders used by the rules -------------------------------------------------------
# Each builds one node with the constructors of ops.py (which check it), giving it the provenance of the
# rule being applied, and returns the equal node instead when one exists already (`known`: the forward
# graph and every gradient node built so far), so equal values stay one node and keep the meta they had.
# `gradient` sets both for each rule it calls; per thread, since graphs are built without a lock.

class _Building(threading.local):
    known: dict[Node, Node] | None = None  # None: a rule called outside gradient() (its nodes are plain)
    provenance: Provenance | None = None


_building = _Building()


def _known(node: Node) -> Node:
    known = _building.known
    return node if known is None else known.setdefault(node, node)


def _alu(op: Ops, *src: Node, dtype: DType | None = None) -> Node:
    return _known(alu(op, *src, dtype=dtype, meta=_building.provenance))


def _move(op: Ops, src: Node, arg: tuple) -> Node:
    return _known(movement(op, src, arg, _building.provenance))


def _reduce(src: Node, op: Ops, axes: tuple[int, ...]) -> Node:
    return _known(reduce(src, op, axes, _building.provenance))


def _copy(src: Node, from_device: str, to_device: str) -> Node:
    return _known(copy(src, from_device, to_device, _building.provenance))


def _const_like(x: Node, value: float) -> Node:
    """`value` in x's shape and dtype: CONST -> RESHAPE -> EXPAND, as broadcast_const builds it."""
    c = _known(const(value, x.dtype, _building.provenance))
    return _move(Ops.EXPAND, _move(Ops.RESHAPE, c, (1,) * x.ndim), x.shape) if x.shape else c


def _mul(a: Node, b: Node) -> Node:
    return _alu(Ops.MUL, a, b)


def _scale(a: Node, value: float) -> Node:
    return _alu(Ops.MUL, a, _const_like(a, value))


def _neg(a: Node) -> Node:
    return _alu(Ops.NEG, a)


def _div(a: Node, b: Node) -> Node:
    return _alu(Ops.DIV, a, b)


def _where(cond: Node, a: Node, b: Node) -> Node:
    return _alu(Ops.WHERE, cond, a, b)


def _cast(a: Node, dtype: DType) -> Node:
    return a if a.dtype == dtype else _alu(Ops.CAST, a, dtype=dtype)


# ---- the rules: (node, grad_out) -> one gradient per source ---------------------------------
# x, y are node.src[0], node.src[1]; g is grad_out (the node's shape); out is the node itself.

def _d_leaf(node: Node, g: Node) -> Grads:
    """no sources: nothing to pass on"""
    return ()


def _d_not_differentiable(node: Node, g: Node) -> Grads:
    """piecewise constant or integer-valued: no gradient (None for every source)"""
    return (None,) * len(node.src)


def _d_neg(node: Node, g: Node) -> Grads:
    """d(-x) = -g"""
    return (_neg(g),)


def _d_recip(node: Node, g: Node) -> Grads:
    """d(1/x) = -g / x^2 = -g * out * out"""
    return (_neg(_mul(g, _mul(node, node))),)


def _d_sqrt(node: Node, g: Node) -> Grads:
    """d(sqrt x) = g / (2 sqrt x) = g / (2 out)"""
    return (_div(g, _scale(node, 2.0)),)


def _d_exp2(node: Node, g: Node) -> Grads:
    """d(2^x) = g * 2^x * ln 2 = g * out * ln 2"""
    return (_mul(g, _scale(node, math.log(2))),)


def _d_log2(node: Node, g: Node) -> Grads:
    """d(log2 x) = g / (x ln 2)"""
    return (_div(g, _scale(node.src[0], math.log(2))),)


def _d_sin(node: Node, g: Node) -> Grads:
    """d(sin x) = g * cos x = g * sin(pi/2 - x) (there is no COS op: one fewer op for every backend)"""
    x = node.src[0]
    return (_mul(g, _alu(Ops.SIN, _alu(Ops.SUB, _const_like(x, math.pi / 2), x))),)


def _d_trunc(node: Node, g: Node) -> Grads:
    """d(trunc x) = 0 (a step function: flat everywhere except at the integers)"""
    return (_const_like(node.src[0], 0.0),)


def _d_cast(node: Node, g: Node) -> Grads:
    """float -> float: cast g back to the source's dtype; to or from a non-float: no gradient"""
    x = node.src[0]
    return (_cast(g, x.dtype) if x.dtype.is_float and node.dtype.is_float else None,)


def _d_add(node: Node, g: Node) -> Grads:
    """d(x + y) = (g, g)"""
    return (g, g)


def _d_sub(node: Node, g: Node) -> Grads:
    """d(x - y) = (g, -g)"""
    return (g, _neg(g))


def _d_mul(node: Node, g: Node) -> Grads:
    """d(x * y) = (g * y, g * x)"""
    x, y = node.src
    return (_mul(g, y), _mul(g, x))


def _d_div(node: Node, g: Node) -> Grads:
    """d(x / y) = (g / y, -g * x / y^2 = -g * out / y)"""
    x, y = node.src
    return (_div(g, y), _neg(_div(_mul(g, node), y)))


def _d_max(node: Node, g: Node) -> Grads:
    """d max(x, y) = g to the larger one; on a tie each gets g/2 (like tinygrad)"""
    x, y = node.src
    zero, half = _const_like(g, 0.0), _scale(g, 0.5)
    tie_share = _where(_alu(Ops.CMPNE, x, y), zero, half)  # only used where neither is larger
    return (_where(_alu(Ops.CMPLT, y, x), g, tie_share), _where(_alu(Ops.CMPLT, x, y), g, tie_share))


def _d_where(node: Node, g: Node) -> Grads:
    """d where(c, x, y) = (None for c, g where c else 0, 0 where c else g)"""
    cond = node.src[0]
    zero = _const_like(g, 0.0)
    return (None, _where(cond, g, zero), _where(cond, zero, g))


def _d_reduce(node: Node, g: Node) -> Grads:
    """ADD: every input got summed once, so g is expanded back over the reduced axes.
    MAX: g goes to the positions equal to the max, split evenly among ties (like tinygrad)."""
    x = node.src[0]
    op, axes = node.arg
    g_wide = _move(Ops.EXPAND, g, x.shape)
    if op is Ops.ADD:
        return (g_wide,)
    is_max = _where(_alu(Ops.CMPNE, x, _move(Ops.EXPAND, node, x.shape)), _const_like(x, 0.0), _const_like(x, 1.0))
    count = _move(Ops.EXPAND, _reduce(is_max, Ops.ADD, axes), x.shape)
    return (_mul(is_max, _div(g_wide, count)),)


def _d_reshape(node: Node, g: Node) -> Grads:
    """reshape back to the source's shape"""
    return (_move(Ops.RESHAPE, g, node.src[0].shape),)


def _d_permute(node: Node, g: Node) -> Grads:
    """apply the inverse permutation: axis node.arg[i] of the source is axis i of the node"""
    order = node.arg
    inverse = tuple(order.index(i) for i in range(len(order)))
    return (_move(Ops.PERMUTE, g, inverse),)


def _d_expand(node: Node, g: Node) -> Grads:
    """each source element was read once per copy: sum g over the expanded axes"""
    x = node.src[0]
    axes = tuple(i for i, (s, n) in enumerate(zip(x.shape, node.shape)) if s != n)
    return (_reduce(g, Ops.ADD, axes) if axes else g,)


def _d_pad(node: Node, g: Node) -> Grads:
    """the padding was constant: shrink g back to the original region"""
    x = node.src[0]
    return (_move(Ops.SHRINK, g, tuple((b, b + s) for (b, _), s in zip(node.arg, x.shape))),)


def _d_shrink(node: Node, g: Node) -> Grads:
    """the cut-off part got no gradient: pad g with zeros back to the source's shape"""
    x = node.src[0]
    return (_move(Ops.PAD, g, tuple((b, s - e) for (b, e), s in zip(node.arg, x.shape))),)


def _d_flip(node: Node, g: Node) -> Grads:
    """flip g along the same axes"""
    return (_move(Ops.FLIP, g, node.arg),)


def _d_contiguous(node: Node, g: Node) -> Grads:
    """a copy: g passes through"""
    return (g,)


def _d_copy(node: Node, g: Node) -> Grads:
    """a move to another device: g moves back to where the source lives"""
    from_device, to_device = node.arg
    return (_copy(g, to_device, from_device),)


def _d_assign(node: Node, g: Node) -> Grads:
    """the result is the assigned value: g goes to the value, none to the overwritten target"""
    return (None, g)


DERIVATIVES: dict[Ops, Callable[[Node, Node], Grads]] = {
    Ops.BUFFER: _d_leaf, Ops.CONST: _d_leaf,
    Ops.NEG: _d_neg, Ops.RECIP: _d_recip, Ops.SQRT: _d_sqrt, Ops.EXP2: _d_exp2, Ops.LOG2: _d_log2, Ops.SIN: _d_sin,
    Ops.TRUNC: _d_trunc, Ops.CAST: _d_cast,
    Ops.ADD: _d_add, Ops.SUB: _d_sub, Ops.MUL: _d_mul, Ops.DIV: _d_div, Ops.MAX: _d_max,
    Ops.IDIV: _d_not_differentiable, Ops.MOD: _d_not_differentiable, Ops.CMPLT: _d_not_differentiable,
    Ops.CMPNE: _d_not_differentiable, Ops.AND: _d_not_differentiable, Ops.OR: _d_not_differentiable,
    Ops.XOR: _d_not_differentiable,
    Ops.WHERE: _d_where,
    Ops.REDUCE: _d_reduce,
    Ops.RESHAPE: _d_reshape, Ops.PERMUTE: _d_permute, Ops.EXPAND: _d_expand, Ops.PAD: _d_pad,
    Ops.SHRINK: _d_shrink, Ops.FLIP: _d_flip,
    Ops.CONTIGUOUS: _d_contiguous, Ops.ASSIGN: _d_assign, Ops.COPY: _d_copy,
}
