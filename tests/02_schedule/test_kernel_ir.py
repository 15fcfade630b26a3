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
