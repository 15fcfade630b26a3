"""Seeing a schedule: a text dump, a rich table, and a graphviz picture.

    format_kernel(k)        one kernel's AST as an indented tree (the golden-test format)
    format_schedule(s)      every buffer and every kernel, in execution order
    schedule_table(s)       a rich Table: name, reads, writes, loops, FLOPs, bytes, why it's a kernel
    print_schedule(s)       prints the table (what DEBUG>=2 shows), and the ASTs with kernels=True
    to_dot(s)               graphviz.Digraph: one cluster per kernel (its AST), buffers as cylinders
                            between them, each cluster labelled with the rule that drew it

`rich.print(s)`, `s.to_dot()` and `s` alone in a notebook cell use these: this package's `__init__`
attaches them to `Schedule` (stage 01's notebook.py), so schedule.py never imports its pictures.

Buffers are named by their position in `schedule.buffers` (b0, b1, ...), not by their global id,
so the same program always prints the same text.
"""

from __future__ import annotations

import textwrap

import graphviz

from .cost import kernel_bytes, kernel_flops
from .kernel import Kernel, KNode, KOps

_KIND_COLOR = {"input": "#dbeafe", "assigned": "#fde68a", "output": "#bbf7d0", "temporary": "#e5e7eb"}
_OP_COLOR = {KOps.LOAD: "#dbeafe", KOps.STORE: "#bbf7d0", KOps.CONST: "#f3f4f6", KOps.ALU: "#fef3c7",
             KOps.REDUCE: "#fecaca", KOps.SINK: "#ffffff"}


def _buffer_names(s) -> dict[int, str]:
    return {id(b.buf): f"b{i}" for i, b in enumerate(s.buffers)}


def format_view(st) -> str:
    """A ShapeTracker in one line: the shape, then the strides (and offset/mask) of each view."""
    parts = []
    for v in st.views:
        text = f"{v.shape}" + ("" if v.contiguous else f" strides={v.strides}")
        if v.offset:
            text += f" offset={v.offset}"
        if v.mask is not None:
            text += f" mask={v.mask}"
        parts.append(text)
    return " -> ".join(parts)


def _label(n: KNode, k: Kernel, names: dict[int, str]) -> str:
    if n.op in (KOps.LOAD, KOps.STORE):
        return f"{n.op.name} {names.get(id(k.bufs[n.arg[0]]), f'bufs[{n.arg[0]}]')} {format_view(n.arg[1])}"
    if n.op is KOps.CONST:
        return f"CONST {n.arg[0]!r} {format_view(n.arg[1])}"
    if n.op is KOps.ALU:
        return f"{n.arg.name}" + (f" -> {n.dtype.name}" if n.arg.name == "CAST" else "")
    if n.op is KOps.REDUCE:
        return f"REDUCE {n.arg[0].name} axes={n.arg[1]}"
    return n.op.name


def format_kernel(k: Kernel, names: dict[int, str] | None = None) -> str:
    """The AST as an indented tree; a node used twice is printed once and then referred to."""
    names = names if names is not None else {id(b): f"bufs[{i}]" for i, b in enumerate(k.bufs)}
    lines = [f"{k.name}  loops={k.full_shape}" + (f" reduce axes={k.reduce_axes}" if k.reduce_axes else ""),
             f"  why: {k.reason}"]
    uses: dict[int, int] = {}
    for n in k.ast.toposort():
        for s in n.src:
            uses[id(s)] = uses.get(id(s), 0) + 1
    shown: dict[int, int] = {}
    todo = [(store, 1) for store in reversed(k.ast.src)]
    while todo:  # depth first, sources in order (an explicit stack: ASTs can be thousands deep)
        n, depth = todo.pop()
        pad = "  " * depth
        if id(n) in shown:
            lines.append(f"{pad}(same as #{shown[id(n)]})")
            continue
        if uses.get(id(n), 0) > 1:  # used twice: number it, so the second use can point back
            shown[id(n)] = len(shown)
            lines.append(f"{pad}#{shown[id(n)]} {_label(n, k, names)}")
        else:
            lines.append(f"{pad}{_label(n, k, names)}")
        todo.extend((s, depth + 1) for s in reversed(n.src))
    return "\n".join(lines)


def format_schedule(s) -> str:
    names = _buffer_names(s)
    lines = [f"schedule: {len(s.kernels)} kernel(s)"]
    for i, b in enumerate(s.buffers):
        life = f"written by kernel {b.first_write}" if b.first_write is not None else "not written"
        life += f", last read by kernel {b.last_read}" if b.last_read is not None else ", not read"
        lines.append(f"  b{i}: {b.kind:9} {b.buf.size} x {b.buf.dtype.name}  ({life})")
    outs = ", ".join(names[id(o)] for o in s.outputs)
    lines.append(f"  outputs: {outs or '-'}")
    for i, k in enumerate(s.kernels):
        lines.append(f"[{i}] " + format_kernel(k, names))
    return "\n".join(lines)


_FUSED_WORDS = (("elementwise_fuses", "elementwise", "elementwise"), ("reduce_fuses", "reduce", "reduces"),
                ("movement_is_a_view", "view", "views"), ("const_is_inlined", "const", "consts"),
                ("row_fuses", "reduce along the row", "reduces along the row"))


def fused_text(fired) -> str:
    """'3 elementwise, 1 reduce, 4 views': what the fusion rules put inside one kernel."""
    counts = dict(fired)
    return ", ".join(f"{counts[rule]} {one if counts[rule] == 1 else many}"
                     for rule, one, many in _FUSED_WORDS if counts.get(rule))


def schedule_table(s):
    from rich.table import Table

    names = _buffer_names(s)
    t = Table(title=f"stage 02 schedule: {len(s.kernels)} kernel(s)", title_justify="left")
    for col in ("#", "kernel", "reads -> writes", "loops", "FLOPs", "bytes", "fused inside", "why a kernel"):
        t.add_column(col, justify="right" if col in ("#", "FLOPs", "bytes") else "left",
                     no_wrap=col not in ("why a kernel", "fused inside"))
    for i, k in enumerate(s.kernels):
        reads = " ".join(names.get(id(b), "?") for b in k.inputs) or "-"
        writes = " ".join(names.get(id(b), "?") for b in k.outputs)
        rule, _, reason = k.reason.partition(": ")
        t.add_row(str(i), k.name, f"{reads} -> {writes}", "x".join(map(str, k.full_shape)) or "1",
                  f"{kernel_flops(k):,}", f"{kernel_bytes(k):,}", fused_text(s.fused[i]) if i < len(s.fused) else "",
                  f"[bold]{rule}[/bold]: {reason}")
    return t


def print_schedule(s, kernels: bool = False, console=None) -> None:
    """Print the schedule table (DEBUG>=2); with `kernels=True` also every kernel's AST."""
    from rich.console import Console

    console = console or Console()
    console.print(schedule_table(s))
    if kernels:
        console.print(format_schedule(s), markup=False, highlight=False)


def to_dot(s) -> graphviz.Digraph:
    """Buffers (cylinders, coloured by kind) and one cluster per kernel holding its AST."""
    names = _buffer_names(s)
    g = graphviz.Digraph("schedule", graph_attr={"rankdir": "BT", "fontname": "Helvetica", "compound": "true"},
                         node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled"})
    for i, b in enumerate(s.buffers):
        g.node(f"buf{i}", f"b{i} {b.kind}\n{b.buf.size} x {b.buf.dtype.name}", shape="cylinder",
               fillcolor=_KIND_COLOR.get(b.kind, "white"))
    for ki, k in enumerate(s.kernels):
        with g.subgraph(name=f"cluster_{ki}") as c:
            why = "\n".join(textwrap.wrap(k.reason, 60))
            c.attr(label=f"[{ki}] {k.name}\n{why}", labelloc="b", style="rounded", color="#6b7280", fontsize="10")
            ids: dict[int, str] = {}
            for n in k.ast.toposort():
                if n.op is KOps.SINK:
                    continue
                nid = f"k{ki}_{len(ids)}"
                ids[id(n)] = nid
                c.node(nid, _label(n, k, names), shape="box", fillcolor=_OP_COLOR[n.op])
                for src in n.src:
                    c.edge(ids[id(src)], nid)
                if n.op is KOps.LOAD:
                    g.edge(f"buf{_index(s, k.bufs[n.arg[0]])}", nid)
                if n.op is KOps.STORE:
                    g.edge(nid, f"buf{_index(s, k.bufs[n.arg[0]])}")
    return g


def _index(s, buf) -> int:
    return next(i for i, b in enumerate(s.buffers) if b.buf is buf)
