"""`verify(roots)`: check that a graph obeys the stage-01 IR's rules, and say which node doesn't.

The constructors in ops.py (`buffer`, `alu`, `reduce`, `movement`, ...) already refuse to build
a bad node. But a `Node` is a plain dataclass that anyone can build by hand, and passes that
rewrite graphs can get a shape wrong, so this checks a finished graph the same way: each node is
rebuilt from its op, sources and arg with the constructors, and what they infer (shape, dtype,
normalized arg) must be what the node claims.

Who calls it: the tests, on every graph they build and after every pass that rewrites one; and
stage 02, on the graph `create_schedule` receives, when the environment says `VERIFY=1` (a walk
of the whole graph per schedule is too slow to do always; tinygrad's `SPEC=1` is the same switch).

`InvariantError` is the one base of every stage's verify error (this module's `VerifyError`,
stage 02's `KernelError`, stage 03's `ProgramError`): catch it to catch "some IR broke its
stage's rules" from any stage. It is a `ValueError`, as the IR handed to a stage is its input.
"""

from __future__ import annotations

from collections.abc import Sequence

from .ops import (
    BINARY,
    LEAVES,
    MOVEMENT,
    TERNARY,
    UNARY,
    BufferRef,
    GraphError,
    Node,
    Ops,
    alu,
    assign,
    buffer,
    const,
    contiguous,
    copy,
    movement,
    reduce,
)
from .walk import toposort


class InvariantError(ValueError):
    """An IR breaks an invariant of its stage: raised by a stage's `verify`, the message names the node or
    instruction at fault and the rule. The base of every stage's verify error."""


class VerifyError(InvariantError, GraphError):
    """A node breaks a rule of the stage-01 IR; the message names the node and the rule."""


ARITY = {**{op: 0 for op in LEAVES}, **{op: 1 for op in UNARY}, **{op: 2 for op in BINARY},
         **{op: 3 for op in TERNARY}, **{op: 1 for op in MOVEMENT},
         Ops.REDUCE: 1, Ops.CONTIGUOUS: 1, Ops.ASSIGN: 2, Ops.COPY: 1}


def verify(roots: Node | Sequence[Node]) -> None:
    """Raise VerifyError at the first node (sources first) whose shape, dtype, arg or sources break the rules."""
    for node in toposort([roots] if isinstance(roots, Node) else list(roots)):
        if len(node.src) != ARITY[node.op]:
            raise VerifyError(f"{node!r}: {node.op.name} takes {ARITY[node.op]} source(s), it has {len(node.src)}")
        try:
            rebuilt = _rebuild(node)
        except GraphError as e:
            raise VerifyError(f"{node!r} breaks a rule of its op: {e}") from e
        if (rebuilt.shape, rebuilt.dtype) != (node.shape, node.dtype) or not _same_arg(rebuilt.arg, node.arg):
            raise VerifyError(f"{node!r}: {node.op.name} of these sources makes shape {rebuilt.shape}, dtype "
                              f"{rebuilt.dtype!r}, arg {rebuilt.arg!r}, but the node says shape {node.shape}, dtype "
                              f"{node.dtype!r}, arg {node.arg!r}; build nodes with the constructors in ops.py")


def _rebuild(node: Node) -> Node:
    """The node the constructors make from `node`'s op, sources and arg."""
    op, src, arg = node.op, node.src, node.arg
    if op is Ops.BUFFER:
        if not isinstance(arg, BufferRef):
            raise GraphError(f"BUFFER's arg must be a BufferRef, got {arg!r}")
        return buffer(arg, node.shape)
    if op is Ops.CONST:
        if not isinstance(arg, (bool, int, float)):
            raise GraphError(f"CONST's arg must be a Python scalar, got {arg!r}")
        return const(arg, node.dtype)  # normalizes the value: 1.5 as an int32 constant is 1
    if op is Ops.CAST:
        if arg != node.dtype:
            raise GraphError(f"CAST's arg is its target dtype and must equal the node's dtype {node.dtype!r}")
        return alu(op, *src, dtype=arg)
    if op in UNARY or op in BINARY or op in TERNARY:
        return alu(op, *src)
    if op is Ops.REDUCE:
        if not (isinstance(arg, tuple) and len(arg) == 2):
            raise GraphError(f"REDUCE's arg must be (Ops.ADD | Ops.MAX, axes), got {arg!r}")
        return reduce(src[0], arg[0], arg[1])
    if op in MOVEMENT:
        return movement(op, src[0], arg)
    if op is Ops.CONTIGUOUS:
        return contiguous(src[0])
    if op is Ops.COPY:
        return copy(src[0], *arg)
    target = src[0]  # ASSIGN: it writes into memory, so the target must be a buffer seen through movement ops
    while target.op in MOVEMENT or target.op is Ops.ASSIGN:  # (or an earlier write to that buffer)
        target = target.src[0]
    if target.op is not Ops.BUFFER:
        raise GraphError(f"ASSIGN's target must be a BUFFER (possibly through movement ops), got {target.op.name}")
    return assign(src[0], src[1], write_id=node.arg)


def _same_arg(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)  # NaN constants
