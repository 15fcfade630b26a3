"""Stage 01 — the lazy graph (`shrimpgrad.graph`).

Public API: the IR (`Node`, `Ops`, `BufferRef`, constructors), dtypes, views (`View`,
`ShapeTracker`), the numpy evaluator (`evaluate`, the oracle for every later stage), autograd as
a graph-to-graph pass (`gradient`), `verify` (the IR's rules, checked), and pictures (`to_dot`,
`tree`, `print_graph`; also `rich.print(node)` and a node's notebook repr). See README.md here.
"""

from .autograd import DERIVATIVES, gradient
from .dtype import ALL_DTYPES, DType, dtypes, promote, to_dtype
from .evaluate import EvaluateError, evaluate
from .ops import (
    ALU,
    BINARY,
    LEAVES,
    MOVEMENT,
    REDUCE_OPS,
    TERNARY,
    UNARY,
    BufferRef,
    GraphError,
    Node,
    Ops,
    Provenance,
    alu,
    assign,
    broadcast_const,
    buffer,
    cast_scalar,
    const,
    contiguous,
    copy,
    merge_origins,
    movement,
    movement_shape,
    reduce,
    rewrite,
)
from .verify import VerifyError, verify
from .view import ShapeTracker, View, strides_for_shape
from .walk import toposort
from .viz import print_graph, to_dot, tree

__all__ = [
    "ALL_DTYPES", "DType", "dtypes", "promote", "to_dtype",
    "ALU", "BINARY", "LEAVES", "MOVEMENT", "REDUCE_OPS", "TERNARY", "UNARY", "BufferRef", "GraphError", "Node", "Ops",
    "Provenance", "merge_origins", "alu", "assign", "broadcast_const", "buffer", "cast_scalar", "const", "contiguous",
    "copy", "movement", "movement_shape", "reduce", "rewrite", "toposort",
    "ShapeTracker", "View", "strides_for_shape",
    "EvaluateError", "evaluate", "DERIVATIVES", "gradient",
    "print_graph", "to_dot", "tree", "VerifyError", "verify",
]
