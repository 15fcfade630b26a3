"""Seeing a Program: a text dump, a rich table, a graphviz DAG, and Python that rebuilds it.

* `format_program(p)` -> str: one line per UOp (number, op indented by loop depth, dtype, operands
  by number, arg), under two header lines: `# stage 03 UOps` (which stage printed it) and one naming
  the kernel, device and optimizations. A RANGE shows its loop's name (`gidx0 GLOBAL`), the name the
  C and CUDA give its variable. The golden tests snapshot this text, so an IR change shows up as a
  readable diff.
* `program_table(p)` -> rich Table, coloured by op family (`FAMILY_STYLES`); `print_program(p)` prints
  it (the DEBUG=3 / EMIT=uops dump).
* `to_dot(p)` -> graphviz.Digraph: UOps as boxes, operands as edges, loops as nested clusters.
* In a notebook a Program shows `to_dot` as SVG (without Graphviz's `dot`, the text dump and the DOT
  source): the package's `__init__` attaches these with stage 01's `attach_reprs`, so uops.py never
  imports this module.
* `format_uops(uops)`: the dump of a list of UOps, e.g. a step of the step-through (steps.py).
* `to_python(p)`: Python source that rebuilds the Program (paste a failing case into a test).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import graphviz
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shrimpgrad.graph import Ops

from .uops import LoopKind, Program, UOp, UOps

FAMILIES = {
    UOps.DEFINE_GLOBAL: "buffer", UOps.LOAD: "memory", UOps.STORE: "memory",
    UOps.CONST: "const", UOps.RANGE: "loop", UOps.END: "loop", UOps.SPECIAL: "loop", UOps.IF: "loop",
    UOps.ENDIF: "loop", UOps.DEFINE_ACC: "acc", UOps.ASSIGN: "acc", UOps.ALU: "alu", UOps.CAST: "alu",
    UOps.DEFINE_LOCAL: "buffer", UOps.BARRIER: "loop",
}
FAMILY_STYLES = {"buffer": "bold blue", "memory": "green", "const": "dim", "loop": "bold magenta", "acc": "yellow",
                 "alu": "default"}
FAMILY_COLORS = {"buffer": "#cfe2ff", "memory": "#d3f9d8", "const": "#f1f3f5", "loop": "#f3d9fa", "acc": "#fff3bf",
                 "alu": "#ffffff"}


def depths(p: Program) -> list[int]:
    """Loop/IF nesting depth of every UOp (a RANGE is at its parent's depth; its body one deeper)."""
    out, depth = [], 0
    for u in p.uops:
        if u.op in (UOps.END, UOps.ENDIF):
            depth -= 1
        out.append(depth)
        if u.op in (UOps.RANGE, UOps.IF):
            depth += 1
    return out


def format_arg(u: UOp) -> str:
    """A UOp's arg as the dump's last column: `data0[16] (output)`, `ridx0 REDUCE`, `ADD`, `gated`."""
    if u.op is UOps.DEFINE_GLOBAL:
        return f"{u.arg[1]}[{u.arg[3]}]{' (output)' if u.arg[2] else ''}"
    if u.op is UOps.DEFINE_LOCAL:
        return f"{u.arg[0]}[{u.arg[1]}] (shared)"
    if u.op is UOps.RANGE:
        return f"{u.arg[0]} {u.arg[1].name}"
    if u.op is UOps.SPECIAL:
        return f"{u.arg[0]} < {u.arg[1]}"
    if u.op is UOps.DEFINE_ACC:
        return f"acc{u.arg}"
    if u.op is UOps.ALU:
        return u.arg.name
    # four operands: a gated LOAD (buf, index, gate, alt) or a gated STORE (buf, index, value, gate)
    if u.op in (UOps.LOAD, UOps.STORE) and len(u.src) == 4:
        return "gated"
    return "" if u.arg is None else repr(u.arg)


def _tuple_text(items: Sequence[str]) -> str:
    """Python's tuple syntax, which the dump and to_python share: `(3, 4)`, `(3,)`, `()`."""
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


STAGE_HEADER = "# stage 03 UOps"  # every dump of a Program starts with it: which stage printed what follows


def header(p: Program) -> str:
    """The kernel, where it runs, its opts, its size (the line under STAGE_HEADER)."""
    where = f"GPU global={p.global_size} local={p.local_size}" if p.global_size is not None else "CPU"
    opts = ", ".join(p.applied_opts) or "no opts"
    return f"Program {p.name}  [{where}]  [{opts}]  {len(p.uops)} uops"


def _rows(p: Program):
    index = {u: i for i, u in enumerate(p.uops)}
    for i, (u, d) in enumerate(zip(p.uops, depths(p))):
        src = _tuple_text([str(index[s]) for s in u.src])
        yield i, u, d, src, (u.dtype.name if u.dtype is not None else "-"), format_arg(u)


def format_program(p: Program) -> str:
    """The plain-text dump (see the module docstring)."""
    lines = [STAGE_HEADER, header(p)]
    for i, u, d, src, dtype, arg in _rows(p):
        op = "  " * d + u.op.name
        lines.append(f"{i:4d} {op:<22} {dtype:<8} {src:<16} {arg}".rstrip())
    return "\n".join(lines)


def program_table(p: Program) -> Table:
    table = Table(title=Text(header(p)), title_justify="left", show_edge=False, pad_edge=False)  # Text: no markup
    for col in ("#", "op", "dtype", "src", "arg"):
        table.add_column(col, justify="right" if col == "#" else "left", no_wrap=True)
    for i, u, d, src, dtype, arg in _rows(p):
        style = FAMILY_STYLES[FAMILIES[u.op]]
        table.add_row(str(i), Text("  " * d + u.op.name, style=style), Text(dtype), Text(src), Text(arg, style=style))
    return table


def print_program(p: Program, console: Console | None = None) -> None:
    """The DEBUG=3 dump: STAGE_HEADER, then the rich table of UOps."""
    console = console or Console()
    console.print(Text(STAGE_HEADER, style="dim"))
    console.print(program_table(p))


def to_dot(p: Program) -> graphviz.Digraph:
    """UOps as boxes coloured by family, an edge from each operand to its user, loops as nested clusters."""
    g = graphviz.Digraph(p.name, graph_attr={"rankdir": "TB", "label": header(p), "labelloc": "t"},
                         node_attr={"shape": "box", "style": "filled,rounded", "fontname": "monospace",
                                    "fontsize": "10"})
    index = {u: i for i, u in enumerate(p.uops)}

    def node(graph, i: int, u: UOp) -> None:
        arg = format_arg(u)
        label = f"{i} {u.op.name}" + (f"\n{arg}" if arg else "") + (f"\n{u.dtype.name}" if u.dtype is not None else "")
        graph.node(f"u{i}", label, fillcolor=FAMILY_COLORS[FAMILIES[u.op]])

    def block(graph, start: int) -> int:
        """Draw UOps from `start` until the END closing the enclosing loop; return where it stopped."""
        i = start
        while i < len(p.uops):
            u = p.uops[i]
            if u.op in (UOps.END, UOps.ENDIF):
                node(graph, i, u)
                return i + 1
            if u.op in (UOps.RANGE, UOps.IF):
                with graph.subgraph(name=f"cluster_{i}") as sub:
                    sub.attr(label=format_arg(u) or u.op.name, style="dashed")
                    node(sub, i, u)
                    i = block(sub, i + 1)
                continue
            node(graph, i, u)
            i += 1
        return i

    block(g, 0)
    for i, u in enumerate(p.uops):
        for s in u.src:
            if s.op is not UOps.CONST or u.op is UOps.RANGE:
                g.edge(f"u{index[s]}", f"u{i}")
    return g


def rich_text(p: Program) -> str:
    """The rich table rendered to text (what print_program shows), for tests and logs."""
    buf = io.StringIO()
    # force_jupyter=False: in a notebook rich would also display what it writes into the buffer
    print_program(p, Console(file=buf, width=140, color_system=None, force_jupyter=False))
    return buf.getvalue()


def format_uops(uops: Sequence[UOp], name: str = "partial") -> str:
    return format_program(Program(name, tuple(uops)))


def to_python(p: Program) -> str:
    """Python source that rebuilds `p` (needs: from shrimpgrad.linearize import *; from shrimpgrad.graph import
    Ops, dtypes)."""
    index = {u: i for i, u in enumerate(p.uops)}
    lines = []
    for i, u in enumerate(p.uops):
        src = _tuple_text([f"u{index[s]}" for s in u.src])
        dtype = f"dtypes.{u.dtype.name}" if u.dtype is not None else "None"
        lines.append(f"u{i} = UOp(UOps.{u.op.name}, {dtype}, {src}, {_py(u.arg)})")
    uops = ", ".join(f"u{i}" for i in range(len(p.uops)))
    lines.append(f"program = Program({p.name!r}, ({uops},), {p.global_size!r}, {p.local_size!r}, "
                 f"{p.applied_opts!r})")
    return "\n".join(lines)


def _py(arg) -> str:
    if isinstance(arg, tuple):
        return _tuple_text([_py(a) for a in arg])
    if isinstance(arg, LoopKind):
        return f"LoopKind.{arg.name}"
    if isinstance(arg, Ops):
        return f"Ops.{arg.name}"
    if isinstance(arg, float) and (arg != arg or arg in (float("inf"), float("-inf"))):
        return f"float({str(arg)!r})"
    return repr(arg)
