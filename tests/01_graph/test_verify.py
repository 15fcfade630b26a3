"""verify(): every graph the constructors (or autograd) build passes; hand-built bad nodes are named."""

import numpy as np
import pytest
from graph_strategies import graphs, int_graphs, leaf
from hypothesis import given
from hypothesis import strategies as st

from shrimpgrad.graph import (
    BufferRef,
    Node,
    Ops,
    alu,
    assign,
    broadcast_const,
    const,
    contiguous,
    dtypes,
    gradient,
    movement,
)
from shrimpgrad.graph.verify import VerifyError, verify

F32 = dtypes.float32


@given(st.one_of(graphs(), int_graphs()))
def test_random_graphs_verify(graph):
    roots, _ = graph
    verify(roots)


@given(graphs())
def test_gradient_graphs_verify(graph):
    roots, _ = graph
    inputs = [n for n in roots[0].toposort() if n.op is Ops.BUFFER]
    verify([g for g in gradient(roots[0], inputs) if g is not None])


def bad_nodes():
    x, _ = leaf(np.zeros((2, 3), np.float32))
    i, _ = leaf(np.zeros((2, 3), np.int32))
    return {
        "shape": (Node(Ops.NEG, (x,), F32, (3, 2)), r"makes shape \(2, 3\).*says shape \(3, 2\)"),
        "dtype": (Node(Ops.CMPLT, (x, x), F32, (2, 3)), "makes shape .* dtype dtypes.bool"),
        "arity": (Node(Ops.ADD, (x,), F32, (2, 3)), "ADD takes 2 source"),
        "mixed dtypes": (Node(Ops.ADD, (x, i), F32, (2, 3)), "different dtypes"),
        "buffer size": (Node(Ops.BUFFER, (), F32, (4,), BufferRef(6, F32)), "buffer holds 6"),
        "const value": (Node(Ops.CONST, (), dtypes.int32, (), 1.5), "arg 1, but the node says .* arg 1.5"),
        "reduce arg": (Node(Ops.REDUCE, (x,), F32, (1, 3), (Ops.MUL, (0,))), "ADD or MAX"),
        "movement": (Node(Ops.RESHAPE, (x,), F32, (5,), (5,)), "can't reshape"),
        "cast arg": (Node(Ops.CAST, (x,), dtypes.float16, (2, 3), F32), "target dtype"),
        "assign target": (Node(Ops.ASSIGN, (alu(Ops.NEG, x), x), F32, (2, 3)), "must be a BUFFER"),
    }


@pytest.mark.parametrize("case", sorted(bad_nodes()))
def test_bad_nodes_are_named(case):
    node, message = bad_nodes()[case]
    with pytest.raises(VerifyError, match=message):
        verify(contiguous(node))  # below the root: verify checks every node, sources first


def test_good_small_graphs():
    x, _ = leaf(np.zeros((2, 3), np.float32))
    verify(assign(movement(Ops.PERMUTE, x, (1, 0)), broadcast_const(1.0, F32, (3, 2))))
    verify(const(float("nan"), F32))
