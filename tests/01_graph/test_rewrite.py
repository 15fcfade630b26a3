"""`rewrite`: replace nodes bottom-up, keeping untouched parts of the graph as the same objects."""

from shrimpgrad.graph import BufferRef, Ops, alu, buffer, dtypes, rewrite

F32 = dtypes.float32


def test_rewrite_replaces_leaves_and_rebuilds_only_what_is_above_them():
    a, b = buffer(BufferRef(3, F32), (3,)), buffer(BufferRef(3, F32), (3,))
    left, right = alu(Ops.NEG, a), alu(Ops.NEG, b)
    root = alu(Ops.ADD, left, right)
    c = buffer(BufferRef(3, F32), (3,))
    (new,) = rewrite([root], lambda n: c if n is a else n)
    assert new.src[0].src[0] is c and new.src[1] is right  # the untouched side is the same object
    assert rewrite([root], lambda n: n)[0] is root


def test_rewrite_sees_nodes_with_their_rewritten_sources():
    a, c = buffer(BufferRef(2, F32), (2,)), buffer(BufferRef(2, F32), (2,))
    root = alu(Ops.NEG, alu(Ops.NEG, a))
    seen = []
    rewrite([root], lambda n: c if n is a else seen.append(n) or n)
    assert [n.src[0].src[0] if n is seen[-1] else n.src[0] for n in seen] == [c, c]
