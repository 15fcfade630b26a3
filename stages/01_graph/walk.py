"""`toposort`: the one walk over a DAG that every stage uses.

    toposort(roots, sources=None, key=id) -> list      every node once, each after its sources

Every IR of ShrimpGrad is a DAG of frozen nodes with a `src` tuple (stage 01's `Node`, stage 02's
`KNode`, stage 03's `UOp`), and most passes need the same thing from it: each node once, sources
first. This is that walk, written once.

Why it looks like this:

* **Iterative.** Graphs from training loops are thousands of nodes deep; a recursive walk would
  pass Python's recursion limit. An explicit stack holds `(node, expanded)`: a node is pushed
  unexpanded, then again as expanded above its sources, so it is listed after all of them.
* **By identity.** Nodes are compared by structure, and comparing two deep nodes compares their
  whole subgraphs; `id(node)` is O(1). Two equal nodes that are different objects are both listed
  (deduplicate with `dict.fromkeys(order)` when equality is what you mean). The nodes stay alive
  while the walk runs (they are in the graph), so their ids can't be reused.
* **Stable.** Roots in the order given, and a node's sources in `src` order: the first source's
  subgraph comes first. Dumps, names (`%0`, `b1`, `E_4_4n1`) and golden files rely on this order.

`sources(node)` says which nodes a node depends on (default: `node.src`). Returning fewer stops
the walk there: `sources=lambda n: () if n.op is KOps.REDUCE else n.src` lists a REDUCE but not
what is under it. The walk assumes what it walks is acyclic (IR nodes are frozen and built after
their sources, so they are). `key(node)` says when two nodes are the same node (default: `id`); a walk over
states, such as `(node, below_a_reduce)` pairs, keys them by `(id(node), below)`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from operator import attrgetter
from typing import TypeVar

T = TypeVar("T")

_src = attrgetter("src")


def toposort(roots: Iterable[T], sources: Callable[[T], Iterable[T]] | None = None,
             key: Callable[[T], Hashable] = id) -> list[T]:
    """Every node reachable from `roots` once (by `key`), each after its `sources` (see the module docstring)."""
    if sources is None and key is id:
        return _toposort_nodes(roots)
    sources = _src if sources is None else sources
    order: list[T] = []
    done: set = set()
    stack: list[tuple[T, bool]] = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, expanded = stack.pop()
        k = key(node)
        if k in done:
            continue
        if expanded:  # its sources are all listed: list it
            done.add(k)
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((s, False) for s in reversed(tuple(sources(node))) if key(s) not in done)
    return order


def _toposort_nodes(roots: Iterable[T]) -> list[T]:
    """toposort of graph nodes by identity, the case every realize and backward asks for: the same walk and the
    same order, with `key` and `sources` written in (a generator per node was a third of the walk's time)."""
    order: list[T] = []
    done: set[int] = set()
    stack: list[tuple[T, bool]] = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, expanded = stack.pop()
        k = id(node)
        if k in done:
            continue
        if expanded:
            done.add(k)
            order.append(node)
            continue
        stack.append((node, True))
        for s in reversed(node.src):
            if id(s) not in done:
                stack.append((s, False))
    return order
