"""The shared strategies keep their promises: later stages rely on them to be safe and varied."""

import collections
import warnings

import numpy as np
from graph_strategies import BOUND, FLOAT_TOLERANCE, MAX_ELEMENTS, graphs, int_graphs, movement_chains, shapes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shrimpgrad.graph import BufferRef, Node, Ops, ShapeTracker, apply_movement, buffer, dtypes, evaluate, toposort
from shrimpgrad.graph.viz import movement_trackers


def in_float64(roots: list[Node], buffers):
    """The same graph computed in float64: a stand-in for 'another backend that rounds differently'."""
    new: dict[int, Node] = {}
    wide = {}
    for n in toposort(roots):
        dtype = dtypes.float64 if n.dtype == dtypes.float32 else n.dtype
        if n.op is Ops.BUFFER:
            ref = BufferRef(n.arg.size, dtype)
            wide[ref] = buffers[n.arg].astype(np.float64)
            new[id(n)] = buffer(ref, n.shape)
        else:
            new[id(n)] = Node(n.op, tuple(new[id(s)] for s in n.src), dtype, n.shape, n.arg)
    return [new[id(r)] for r in roots], wide


@given(graphs())
def test_float_graphs_are_finite_bounded_and_robust_to_rounding(graph):
    roots, buffers = graph
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no invalid value, no division by zero
        results = evaluate(roots, buffers)
    for node, value in zip(roots, results):
        assert node.dtype == dtypes.float32 and np.all(np.isfinite(value)) and np.all(np.abs(value) <= BOUND)
    for got, want in zip(results, evaluate(*in_float64(roots, buffers))):
        np.testing.assert_allclose(got, want, **FLOAT_TOLERANCE)


@given(int_graphs())
def test_int_graphs_evaluate_to_int32(graph):
    roots, buffers = graph
    for node, value in zip(roots, evaluate(roots, buffers)):
        assert node.dtype == dtypes.int32 and value.dtype == np.int32


@given(st.one_of(graphs(), int_graphs()))
def test_graphs_are_small_and_have_distinct_roots(graph):
    roots, _ = graph
    assert 1 <= len(roots) <= 3 and len(set(map(id, roots))) == len(roots)
    assert all(n.size <= MAX_ELEMENTS for n in toposort(roots))


def features(graph) -> set[str]:
    roots, buffers = graph
    nodes = toposort(roots)
    uses = collections.Counter(id(s) for n in nodes for s in n.src)
    trackers = movement_trackers(roots).values()
    found = {n.op.name for n in nodes}
    found |= {"several outputs"} if len(roots) > 1 else set()
    found |= {"several inputs"} if len(buffers) > 1 else set()
    found |= {"shared node"} if any(count > 1 for count in uses.values()) else set()
    found |= {"two views"} if any(len(t.views) > 1 for t in trackers) else set()
    found |= {"mask"} if any(v.mask is not None for t in trackers for v in t.views) else set()
    return found


def seen_in_examples(strategy, describe, n: int = 300) -> set:
    """Everything `describe` reports over n examples of `strategy` (fixed seed: the same every run)."""
    seen: set = set()

    @settings(max_examples=n, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example):
        seen.update(describe(example))

    collect()
    return seen


def test_graphs_reach_every_feature_later_stages_must_handle():
    wanted = {"REDUCE", "WHERE", "CONTIGUOUS", "PAD", "SHRINK", "FLIP", "PERMUTE", "EXPAND", "TRUNC", "SIN", "DIV",
              "several outputs", "several inputs", "shared node", "two views", "mask"}
    assert wanted <= seen_in_examples(graphs(), features)
    int_wanted = {"IDIV", "MOD", "AND", "OR", "XOR", "CAST", "CMPLT", "CMPNE", "REDUCE", "two views", "mask"}
    assert int_wanted <= seen_in_examples(int_graphs(), features)


def test_movement_chains_include_reshapes_that_cant_merge():
    def views_used(example):
        shape, chain = example
        tracker = ShapeTracker.from_shape(shape)
        for op, arg in chain:
            tracker = apply_movement(tracker, op.name, arg)
        return {len(tracker.views)} | {"mask" for v in tracker.views if v.mask is not None}

    chains = shapes(min_dims=2).flatmap(lambda s: st.tuples(st.just(s), movement_chains(s)))
    assert {1, 2, "mask"} <= seen_in_examples(chains, views_used)
