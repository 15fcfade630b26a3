"""Stage 01 — the lazy graph (`shrimpgrad.graph`).

Public API: the IR (`Node`, `Ops`, `BufferRef`, constructors), dtypes, views (`View`,
`ShapeTracker`), the numpy evaluator (`evaluate`, the oracle for every later stage), autograd as
a graph-to-graph pass (`gradient`), `verify` (the IR's rules, checked), the one DAG walk of every
stage (`toposort`), the op semantics later stages share (`apply_alu`, `apply_reduce` on numpy
arrays, `apply_movement` on ShapeTrackers, `reduce_identity`), and pictures (`to_dot`,
`tree`, `print_graph`; also `rich.print(node)` and a node's notebook repr). See README.md here.
"""

from .autograd import DERIVATIVES, gradient
from .dtype import ALL_DTYPES, DType, dtypes, promote, to_dtype
from .evaluate import EvaluateError, apply_alu, apply_reduce, evaluate
from .notebook import attach_reprs, viz_exports
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
    reduce_identity,
    rewrite,
)
from .verify import InvariantError, VerifyError, verify
from .view import ShapeTracker, View, apply_movement, strides_for_shape
from .walk import toposort

__all__ = [
    "ALL_DTYPES", "DType", "dtypes", "promote", "to_dtype",
    "ALU", "BINARY", "LEAVES", "MOVEMENT", "REDUCE_OPS", "TERNARY", "UNARY", "BufferRef", "GraphError", "Node", "Ops",
    "Provenance", "merge_origins", "alu", "assign", "broadcast_const", "buffer", "cast_scalar", "const", "contiguous",
    "copy", "movement", "movement_shape", "reduce", "reduce_identity", "rewrite", "toposort",
    "ShapeTracker", "View", "apply_movement", "strides_for_shape",
    "EvaluateError", "evaluate", "apply_alu", "apply_reduce", "DERIVATIVES", "gradient",
    "print_graph", "to_dot", "tree", "InvariantError", "VerifyError", "verify",
]

# Pictures (viz.py): `rich.print(node)` draws the tree, `node.to_dot()` is the graphviz graph, and `node` alone in
# a notebook cell shows it as SVG. They are attached here, not in ops.py: viz.py imports ops.py, never the reverse.
attach_reprs(Node, f"{__name__}.viz", rich="tree", picture="to_dot", text="tree_text")
__getattr__ = viz_exports(__name__, "print_graph", "to_dot", "tree")
