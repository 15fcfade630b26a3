"""The reference programs of the stage-02 README, built with stage-01 constructors (no front end).

Each builder returns `(roots, buffers)`. The graphs are the ones tinygrad's Tensor methods build
(dot as broadcast-multiply-sum, exp as exp2 of x*log2(e), conv2d as a pool of movement ops), so
the kernel counts can be compared with tinygrad's.

    elementwise_chain()   relu(a * b + c)
    softmax()             softmax over the last axis
    layernorm()           (x - mean) / sqrt(var + eps) over the last axis
    matmul_bias_relu()    relu(x @ w + b)
    matmul_relu_sum()     (x @ w).relu().sum()
    mlp_train_step()      loss of a 2-layer MLP, its gradients (stage-01 autograd), SGD updates
    conv2d()              3x3 convolution with padding 1, plus bias, of a (1, 2, 5, 5) image
"""

from __future__ import annotations

import math

import numpy as np

from shrimpgrad.graph import BufferRef, Node, Ops, alu, assign, broadcast_const, buffer, contiguous, dtypes, movement
from shrimpgrad.graph import reduce as graph_reduce
from shrimpgrad.graph.autograd import gradient

F32 = dtypes.float32
_rng = np.random.default_rng(0)


def inp(shape: tuple[int, ...], buffers: dict, low: float = -1.0, high: float = 1.0) -> Node:
    ref = BufferRef(math.prod(shape), F32)
    buffers[ref] = _rng.uniform(low, high, ref.size).astype(np.float32)
    return buffer(ref, shape)


def const_like(x: Node, value: float) -> Node:
    return broadcast_const(value, x.dtype, x.shape)


def expand_to(x: Node, shape: tuple[int, ...]) -> Node:
    return movement(Ops.EXPAND, x, shape) if x.shape != shape else x


def sum_(x: Node, axis: int, keepdim: bool = True) -> Node:
    r = graph_reduce(x, Ops.ADD, (axis % x.ndim,))
    return r if keepdim else movement(Ops.RESHAPE, r, tuple(s for i, s in enumerate(x.shape) if i != axis % x.ndim))


def max_(x: Node, axis: int) -> Node:
    return graph_reduce(x, Ops.MAX, (axis % x.ndim,))


def exp(x: Node) -> Node:
    return alu(Ops.EXP2, alu(Ops.MUL, x, const_like(x, 1 / math.log(2))))


def relu(x: Node) -> Node:
    return alu(Ops.MAX, x, const_like(x, 0.0))


def matmul(a: Node, b: Node) -> Node:
    """tinygrad's dot: (N,1,K) * (1,M,K) broadcast to (N,M,K), summed over K, reshaped to (N,M)."""
    (n, k), (_, m) = a.shape, b.shape
    a3 = movement(Ops.EXPAND, movement(Ops.RESHAPE, a, (n, 1, k)), (n, m, k))
    b3 = movement(Ops.EXPAND, movement(Ops.RESHAPE, movement(Ops.PERMUTE, b, (1, 0)), (1, m, k)), (n, m, k))
    return sum_(alu(Ops.MUL, a3, b3), -1, keepdim=False)


def elementwise_chain():
    bufs: dict = {}
    a, b, c = (inp((4, 4), bufs) for _ in range(3))
    return [relu(alu(Ops.ADD, alu(Ops.MUL, a, b), c))], bufs


def softmax_graph(x: Node) -> Node:
    e = exp(alu(Ops.SUB, x, expand_to(max_(x, -1), x.shape)))
    return alu(Ops.DIV, e, expand_to(sum_(e, -1), x.shape))


def softmax():
    bufs: dict = {}
    return [softmax_graph(inp((4, 8), bufs))], bufs


def layernorm():
    bufs: dict = {}
    x = inp((4, 8), bufs)
    n = x.shape[-1]
    mean = alu(Ops.MUL, sum_(x, -1), broadcast_const(1 / n, F32, (4, 1)))
    xc = alu(Ops.SUB, x, expand_to(mean, x.shape))
    var = alu(Ops.MUL, sum_(alu(Ops.MUL, xc, xc), -1), broadcast_const(1 / n, F32, (4, 1)))
    rstd = alu(Ops.RECIP, alu(Ops.SQRT, alu(Ops.ADD, var, broadcast_const(1e-5, F32, (4, 1)))))
    return [alu(Ops.MUL, xc, expand_to(rstd, x.shape))], bufs


def matmul_bias_relu():
    bufs: dict = {}
    x, w, b = inp((4, 8), bufs), inp((8, 3), bufs), inp((3,), bufs)
    bias = expand_to(movement(Ops.RESHAPE, b, (1, 3)), (4, 3))
    return [relu(alu(Ops.ADD, matmul(x, w), bias))], bufs


def matmul_relu_sum():
    bufs: dict = {}
    x, w = inp((4, 8), bufs), inp((8, 3), bufs)
    total = graph_reduce(relu(matmul(x, w)), Ops.ADD, (0, 1))
    return [movement(Ops.RESHAPE, total, ())], bufs


def mlp_train_step():
    """loss = mean((relu(x @ w1) @ w2 - y)^2); w -= 0.1 * dloss/dw for both weights."""
    bufs: dict = {}
    x, y = inp((4, 8), bufs), inp((4, 2), bufs)
    w1, w2 = inp((8, 16), bufs), inp((16, 2), bufs)
    diff = alu(Ops.SUB, matmul(relu(matmul(x, w1)), w2), y)
    loss = alu(Ops.MUL, graph_reduce(alu(Ops.MUL, diff, diff), Ops.ADD, (0, 1)), broadcast_const(1 / 8, F32, (1, 1)))
    g1, g2 = gradient(loss, [w1, w2])
    updates = [assign(w, alu(Ops.SUB, w, alu(Ops.MUL, g, const_like(g, 0.1)))) for w, g in ((w1, g1), (w2, g2))]
    return [loss] + updates, bufs


def _repeat(x: Node, reps: tuple[int, ...]) -> Node:
    """tinygrad's repeat: tile each axis `reps[i]` times with reshape + expand + reshape (no copy)."""
    x = movement(Ops.RESHAPE, x, tuple(d for s in x.shape for d in (1, s)))
    x = movement(Ops.EXPAND, x, tuple(d for r, s in zip(reps, x.shape[1::2]) for d in (r, s)))
    return movement(Ops.RESHAPE, x, tuple(r * s for r, s in zip(reps, x.shape[1::2])))


def pool(x: Node, k: tuple[int, int]) -> Node:
    """tinygrad's _pool for stride 1, dilation 1: (..., H, W) -> (..., oh, ow, kh, kw), all movement ops."""
    noop, i_ = x.shape[:-2], x.shape[-2:]
    o_ = tuple(i - kk + 1 for i, kk in zip(i_, k))
    e_ = tuple(math.ceil(kk * (i + 1) / i) for kk, i in zip(k, i_))
    x = _repeat(x, (1,) * len(noop) + e_)
    x = movement(Ops.SHRINK, x, tuple((0, s) for s in noop) + tuple((0, kk * (i + 1)) for kk, i in zip(k, i_)))
    x = movement(Ops.RESHAPE, x, noop + tuple(d for kk, i in zip(k, i_) for d in (kk, i + 1)))
    windows = tuple(d for kk, o in zip(k, o_) for d in ((0, kk), (0, o)))
    x = movement(Ops.SHRINK, x, tuple((0, s) for s in noop) + windows)
    n = len(noop)
    return movement(Ops.PERMUTE, x, tuple(range(n)) + (n + 1, n + 3, n, n + 2))


def conv2d():
    """relu(conv2d(x, w, padding=1) + b): x (1, 2, 5, 5), w (3, 2, 3, 3), b (3,)."""
    bufs: dict = {}
    x, w, b = inp((1, 2, 5, 5), bufs), inp((3, 2, 3, 3), bufs), inp((3,), bufs)
    xp = movement(Ops.PAD, x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = pool(xp, (3, 3))  # (1, 2, 5, 5, 3, 3)
    full = (1, 3, 2, 5, 5, 3, 3)
    xw = expand_to(movement(Ops.RESHAPE, win, (1, 1, 2, 5, 5, 3, 3)), full)
    ww = expand_to(movement(Ops.RESHAPE, w, (1, 3, 2, 1, 1, 3, 3)), full)
    out = graph_reduce(alu(Ops.MUL, xw, ww), Ops.ADD, (2, 5, 6))  # (1, 3, 1, 5, 5, 1, 1)
    out = movement(Ops.RESHAPE, out, (1, 3, 5, 5))
    bias = expand_to(movement(Ops.RESHAPE, b, (1, 3, 1, 1)), (1, 3, 5, 5))
    return [relu(alu(Ops.ADD, out, bias))], bufs


REFERENCE_PROGRAMS = {
    "elementwise chain relu(a*b+c)": elementwise_chain,
    "softmax": softmax,
    "layernorm": layernorm,
    "matmul + bias + relu": matmul_bias_relu,
    "(x @ w).relu().sum()": matmul_relu_sum,
    "MLP training step": mlp_train_step,
    "conv2d + bias + relu": conv2d,
}


def unfused(roots: list[Node]) -> list[Node]:
    """The same program with every ALU and REDUCE result forced into its own buffer (one kernel per op):
    the baseline fusion is measured against."""
    memo: dict[int, Node] = {}

    def rebuild(n: Node) -> Node:
        if id(n) not in memo:
            src = tuple(rebuild(s) for s in n.src)
            new = Node(n.op, src, n.dtype, n.shape, n.arg, n.meta)
            memo[id(n)] = contiguous(new) if n.op is Ops.REDUCE or n.op in (Ops.ADD, Ops.SUB, Ops.MUL, Ops.DIV,
                                                                             Ops.MAX, Ops.EXP2, Ops.RECIP, Ops.SQRT,
                                                                             Ops.NEG, Ops.LOG2, Ops.SIN, Ops.WHERE,
                                                                             Ops.CMPLT, Ops.CMPNE, Ops.CAST) else new
        return memo[id(n)]

    return [rebuild(r) for r in roots]
