"""Pictures of a stage-01 graph: graphviz for notebooks, a rich tree for the terminal.

* `to_dot(roots)` -> `graphviz.Digraph`. Data flows top to bottom, from the leaves to the roots.
  Boxes are coloured by the kind of op (see `KIND_COLORS`); each edge says the shape and dtype
  of the value on it, and an edge leaving a movement op also shows the `View`(s) that the chain
  of movement ops down to the last real value has become: that is what a kernel will index with.
* `tree(root)` -> `rich.tree.Tree`; `print_graph(root)` prints it and `tree_text(root)` returns
  it as plain text. A node used several times is drawn once and later referred to by its number
  (`%3`), so shared subgraphs don't blow up.
* `view_grid(view)` draws a 0-2 dimensional View or ShapeTracker as the grid of buffer addresses
  it reads, with `.` where the mask says "not valid" (the pictures in the README).
* `Node.__rich__`, `Node.to_dot()` and the notebook view (SVG; without Graphviz's `dot`, the tree
  as text and the DOT source) are attached to `Node` by this package's `__init__` (notebook.py), so
  `node` alone in a cell, or `rich.print(node)` in a terminal, draws the graph. ops.py never imports
  this module.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import graphviz
from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from .ops import ALU, LEAVES, MOVEMENT, Node, Ops, Provenance, toposort
from .view import ShapeTracker, View, apply_movement

KIND_COLORS = {"leaf": "#cfe2ff", "alu": "#fff3bf", "reduce": "#ffd8a8", "movement": "#d3f9d8", "memory": "#e5dbff"}


def kind(node: Node) -> str:
    """Which of the five kinds of op a node is: leaf, alu, reduce, movement or memory."""
    if node.op in LEAVES:
        return "leaf"
    if node.op in ALU:
        return "alu"
    if node.op is Ops.REDUCE:
        return "reduce"
    if node.op in MOVEMENT:
        return "movement"
    return "memory"  # CONTIGUOUS, ASSIGN, COPY


def describe(node: Node) -> str:
    """The op and its argument in a few characters: 'REDUCE ADD axes=(1,)', 'CAST to float16', 'BUFFER b7'."""
    op, arg = node.op, node.arg
    if op is Ops.BUFFER:
        return f"BUFFER b{arg.id}"
    if op is Ops.CONST:
        return f"CONST {arg!r}"
    if op is Ops.CAST:
        return f"CAST to {arg.name}"
    if op is Ops.REDUCE:
        return f"REDUCE {arg[0].name} axes={arg[1]}"
    if op is Ops.FLIP:
        return f"FLIP axes={tuple(i for i, f in enumerate(arg) if f)}"
    if op in MOVEMENT:
        return f"{op.name} {arg}"
    return op.name


def describe_provenance(meta: Provenance) -> str:
    """'relu at train.py:12' (the file without its folder, as the generated code's comments write it); just the
    method for nodes made by a pass (autograd's have no file)."""
    return meta.method if meta.file.startswith("<") else meta.short


def describe_view(view: View) -> str:
    """A View in one line, leaving out the parts that have their default value."""
    text = f"strides={view.strides}"
    if view.offset:
        text += f" offset={view.offset}"
    if view.mask is not None:
        text += f" mask={view.mask}"
    return text


def movement_trackers(roots: Sequence[Node]) -> dict[int, ShapeTracker]:
    """For each movement node (by id): the ShapeTracker its chain of movement ops composes into,
    starting from the contiguous view of the first non-movement node below it."""
    trackers: dict[int, ShapeTracker] = {}
    for n in toposort(list(roots)):
        if n.op in MOVEMENT:
            src = n.src[0]
            below = trackers.get(id(src)) or ShapeTracker.from_shape(src.shape)
            trackers[id(n)] = apply_movement(below, n.op.name, n.arg)
    return trackers


# ---- graphviz -----------------------------------------------------------------------------

def to_dot(roots: Node | Sequence[Node]) -> graphviz.Digraph:
    """The graph as a graphviz Digraph (render it with `.pipe(format="svg")`, or read `.source`)."""
    roots = [roots] if isinstance(roots, Node) else list(roots)
    order = toposort(roots)
    names = {id(n): f"n{i}" for i, n in enumerate(order)}
    trackers = movement_trackers(roots)
    root_ids = {id(r) for r in roots}
    dot = graphviz.Digraph("stage01", graph_attr={"rankdir": "TB"},
                           node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "10"})
    for n in order:
        lines = [describe(n)]
        if n.meta is not None:
            lines.append(describe_provenance(n.meta))
        if id(n) in root_ids:
            lines.append(f"result: {n.shape} {n.dtype.name}")
        dot.node(names[id(n)], "\\n".join(lines), fillcolor=KIND_COLORS[kind(n)],
                 penwidth="2" if id(n) in root_ids else "1")
        for s in n.src:
            dot.edge(names[id(s)], names[id(n)], label=_edge_label(s, trackers))
    return dot


def _edge_label(src: Node, trackers: dict[int, ShapeTracker]) -> str:
    lines = [f"{src.shape} {src.dtype.name}"]
    if id(src) in trackers:
        views = trackers[id(src)].views
        lines += [f"view{i}: {describe_view(v)}" if len(views) > 1 else describe_view(v) for i, v in enumerate(views)]
    return "\\n".join(lines)


# ---- rich ---------------------------------------------------------------------------------

def _tree_label(node: Node, number: int) -> Text:
    label = Text.assemble((f"%{number} ", "dim"), (describe(node), "bold"), f"  {node.shape} {node.dtype.name}")
    if node.meta is not None:
        label.append(f"  ({describe_provenance(node.meta)})", style="dim italic")
    return label


def tree(root: Node) -> Tree:
    """The graph as a rich Tree, root at the top; a node already drawn appears again as 'see %k'."""
    numbers: dict[int, int] = {}
    top = Tree(Text("stage 01 graph", style="bold"))
    stack: list[tuple[Node, Tree]] = [(root, top)]
    while stack:  # iterative depth-first walk: deep graphs are fine
        node, parent = stack.pop()
        if id(node) in numbers:
            parent.add(Text.assemble((f"see %{numbers[id(node)]} ", "dim"), describe(node)))
            continue
        numbers[id(node)] = len(numbers)
        branch = parent.add(_tree_label(node, numbers[id(node)]))
        stack.extend((s, branch) for s in reversed(node.src))
    return top


def print_graph(root: Node, console: Console | None = None) -> None:
    """Print `tree(root)` to the terminal (or to `console`)."""
    (console or Console()).print(tree(root))


def tree_text(root: Node, width: int = 100) -> str:
    """`tree(root)` as plain text (no colours), e.g. for docs and golden tests."""
    # force_jupyter=False: in a notebook rich would also display what it writes here
    console = Console(file=io.StringIO(), width=width, color_system=None, force_jupyter=False)
    console.print(tree(root))
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


# ---- views as pictures ------------------------------------------------------------------------

def view_grid(view: View | ShapeTracker) -> str:
    """The buffer address each position reads, as a grid; `.` marks a position the mask makes invalid.

    >>> print(view_grid(View.create((2, 3)).pad(((0, 0), (1, 0)))))
    . 0 1 2
    . 3 4 5
    """
    tracker = view if isinstance(view, ShapeTracker) else ShapeTracker((view,))
    if len(tracker.shape) > 2:
        raise ValueError(f"view_grid draws 0-2 dimensional views; this one has shape {tracker.shape} "
                         f"(draw a reshape or shrink of it)")
    addr, valid = tracker.indices()
    rows = (-1, tracker.shape[-1] if tracker.shape else 1)  # a 0-d or 1-d view is drawn as one row
    addr, valid = addr.reshape(rows), valid.reshape(rows)
    cells = [[str(a) if ok else "." for a, ok in zip(row, oks)] for row, oks in zip(addr.tolist(), valid.tolist())]
    width = max((len(c) for row in cells for c in row), default=1)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)
