"""KNode follows stage 01's hashing idiom: hashed once at construction, so deep ASTs hash and compare cheaply."""

from shrimpgrad.graph import BufferRef, Ops, ShapeTracker, alu, buffer, dtypes
from shrimpgrad.schedule import KNode, KOps

F32 = dtypes.float32


def chain(depth: int) -> KNode:
    n = KNode(KOps.LOAD, (), F32, (1, ShapeTracker.from_shape((4,))))
    for _ in range(depth):
        n = KNode(KOps.ALU, (n,), F32, Ops.NEG)
    return n


def test_both_irs_hash_at_construction():
    k = chain(2)
    assert vars(k)["_hash"] == hash((k.op, k.src, k.dtype, k.arg))  # stored by __post_init__, not on first use
    node = alu(Ops.NEG, buffer(BufferRef(4, F32), (4,)))
    assert vars(node)["_hash"] == hash((node.op, node.src, node.dtype, node.shape, node.arg))


def test_deep_separately_built_asts_hash_and_compare_without_recursion():
    a, b = chain(20_000), chain(20_000)
    assert a is not b and hash(a) == hash(b) and a == b
    assert a != chain(19_999) and {a: 1}[b] == 1


def diamonds(levels: int, value: float) -> KNode:
    """n = n + n, `levels` times: 2**levels paths from the root to the one leaf."""
    n = KNode(KOps.CONST, (), F32, (value, ShapeTracker.from_shape((4,))))
    for _ in range(levels):
        n = KNode(KOps.ALU, (n, n), F32, Ops.ADD)
    return n


def test_shared_subtrees_built_apart_compare_pair_by_pair_once():
    a, b = diamonds(60, 1.0), diamonds(60, 1.0)  # path by path this would be 2**60 comparisons
    assert a is not b and a == b
    c = diamonds(60, 2.0)
    assert a != c
    object.__setattr__(c, "_hash", a._hash)  # a hash collision: the walk itself must find the difference
    assert a != c
