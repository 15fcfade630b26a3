"""`toposort` (walk.py): every node once, each after its sources, in a stable order; `sources` and `key`."""

from graph_strategies import graphs
from hypothesis import given, settings

from shrimpgrad.graph import BufferRef, Ops, alu, buffer, dtypes, toposort
from shrimpgrad.graph.walk import toposort as walk_toposort

F32 = dtypes.float32


def _reachable(roots) -> set[int]:
    """The oracle: ids of everything reachable, found without the walk under test (a plain worklist)."""
    out, todo = set(), list(roots)
    while todo:
        n = todo.pop()
        if id(n) not in out:
            out.add(id(n))
            todo.extend(n.src)
    return out


def test_the_graph_package_exports_the_walk():
    assert toposort is walk_toposort


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_every_reachable_node_once_and_after_its_sources(case):
    roots, _ = case
    order = toposort(roots)
    position = {id(n): i for i, n in enumerate(order)}
    assert len(position) == len(order)  # no node twice
    assert set(position) == _reachable(roots)  # nothing missing, nothing extra
    assert all(position[id(s)] < position[id(n)] for n in order for s in n.src)


def test_order_is_stable_first_source_first_and_roots_in_order():
    a, b, c = (buffer(BufferRef(2, F32), (2,)) for _ in range(3))
    left, right = alu(Ops.NEG, a), alu(Ops.NEG, b)
    root = alu(Ops.ADD, left, right)
    assert toposort([root]) == [a, left, b, right, root]
    assert [n is x for n, x in zip(toposort([c, root]), [c, a, left, b, right, root])] == [True] * 6
    shared = alu(Ops.MUL, left, left)  # a node used twice is listed once
    assert toposort([shared]) == [a, left, shared]


def test_equal_nodes_that_are_different_objects_are_both_listed():
    a = buffer(BufferRef(2, F32), (2,))
    x, y = alu(Ops.NEG, a), alu(Ops.NEG, a)
    assert x == y and x is not y
    order = toposort([alu(Ops.ADD, x, y)])
    assert len(order) == 4 and order[1] is x and order[2] is y


def test_a_very_deep_graph_needs_no_recursion():
    n = buffer(BufferRef(1, F32), (1,))
    for _ in range(50_000):
        n = alu(Ops.NEG, n)
    order = toposort([n])
    assert len(order) == 50_001 and order[0].op is Ops.BUFFER and order[-1] is n


def test_sources_can_stop_the_walk():
    a = buffer(BufferRef(4, F32), (4,))
    inner = alu(Ops.NEG, a)
    stop = alu(Ops.NEG, inner)
    root = alu(Ops.ADD, stop, a)
    order = toposort([root], sources=lambda n: () if n is stop else n.src)
    assert order == [stop, a, root]  # `stop` is listed, what is only under it is not


def test_key_walks_states_once_each():
    # (node, under a NEG?) states: `a` under two flags is two states; `neg` reached twice is one state
    a = buffer(BufferRef(2, F32), (2,))
    neg = alu(Ops.NEG, a)
    root = alu(Ops.ADD, alu(Ops.ADD, neg, a), neg)
    order = toposort([(root, False)], lambda s: [(x, s[1] or s[0] is neg) for x in s[0].src],
                     key=lambda s: (id(s[0]), s[1]))
    assert [(n.op, flag) for n, flag in order] == [(Ops.BUFFER, True), (Ops.NEG, False), (Ops.BUFFER, False),
                                                  (Ops.ADD, False), (Ops.ADD, False)]


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_the_written_out_walk_of_nodes_gives_the_general_walks_order(case):
    """toposort(roots) takes a written-out walk for nodes by identity; a key of its own takes the general one."""
    roots, _ = case
    fast = toposort(roots)
    general = toposort(roots, key=lambda n: id(n))
    assert [id(n) for n in fast] == [id(n) for n in general]
    assert [id(n) for n in toposort(roots[::-1])] == [id(n) for n in toposort(roots[::-1], sources=lambda n: n.src)]
