"""Small hand-built kernels used by the golden dumps and the README's worked examples."""

from shrimpgrad.graph import BufferRef, Ops, ShapeTracker, dtypes
from shrimpgrad.schedule import Kernel, KNode, KOps

F32 = dtypes.float32


def _load(i, st):
    return KNode(KOps.LOAD, (), F32, (i, st))


def _kernel(name, value, out_st, bufs):
    store = KNode(KOps.STORE, (value,), F32, (0, out_st))
    return Kernel(name, KNode(KOps.SINK, (store,), F32), tuple(bufs), 1, "example")


def pad_add() -> Kernel:
    """out[i] = pad(a, (1, 1))[i] + 1.0 for i in 0..4: a gated load."""
    a, out = BufferRef(3, F32), BufferRef(5, F32)
    one = KNode(KOps.CONST, (), F32, (1.0, ShapeTracker.from_shape(()).reshape((1,)).expand((5,))))
    value = KNode(KOps.ALU, (_load(1, ShapeTracker.from_shape((3,)).pad(((1, 1),))), one), F32, Ops.ADD)
    return _kernel("E_5", value, ShapeTracker.from_shape((5,)), (out, a))


def flipped_row_max() -> Kernel:
    """out[i] = max_j flip(transpose(a))[i, j] for a 4x3 matrix a: a reduce over a permuted, flipped view."""
    a, out = BufferRef(12, F32), BufferRef(3, F32)
    st = ShapeTracker.from_shape((4, 3)).permute((1, 0)).flip((False, True))
    r = KNode(KOps.REDUCE, (_load(1, st),), F32, (Ops.MAX, (1,)))
    return _kernel("R_3_4", r, ShapeTracker.from_shape((3, 1)), (out, a))


def matmul(m=4, n=4, k=8) -> Kernel:
    """out[i, j] = sum_k a[i, k] * b[k, j] over loops (m, n, k)."""
    a, b, out = BufferRef(m * k, F32), BufferRef(k * n, F32), BufferRef(m * n, F32)
    a_st = ShapeTracker.from_shape((m, 1, k)).expand((m, n, k))
    b_st = ShapeTracker.from_shape((k, n)).permute((1, 0)).reshape((1, n, k)).expand((m, n, k))
    mul = KNode(KOps.ALU, (_load(1, a_st), _load(2, b_st)), F32, Ops.MUL)
    r = KNode(KOps.REDUCE, (mul,), F32, (Ops.ADD, (2,)))
    return _kernel(f"R_{m}_{n}_{k}", r, ShapeTracker.from_shape((m, n, 1)), (out, a, b))
