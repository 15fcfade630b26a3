"""Seeing the generated C: highlighted source in a terminal or notebook, and the kernel's block structure.

    print_source(src)           rich, syntax-highlighted, line-numbered C (what DEBUG=4 prints)
    source_html(src)            the same as HTML, for notebooks
    to_dot(program)             a graphviz.Digraph: the function, its loops and IFs as nested boxes,
                                each listing its statements
    KernelView(program)         all of the above in one object: rich.print(it), or leave it as
                                the last expression of a notebook cell
    program_panel(prog), program_html(prog)   a compiled CProgram in a terminal and a notebook (this
                                package's `__init__` attaches them to CProgram: runtime.py never imports
                                its pictures)

Graphviz's `dot` binary may be missing (it is on the CI machine): the notebook view then shows
the DOT text with a note saying how to install it, instead of a picture (stage 01's notebook.py).
"""

from __future__ import annotations

import html
import io
import re

import graphviz
from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from shrimpgrad.graph.notebook import notebook_bundle
from shrimpgrad.linearize import Program, UOps

from .renderer import render, render_kernel


def source_syntax(src: str) -> Syntax:
    """A rich renderable of C source: highlighted, with line numbers (they match compiler messages)."""
    return Syntax(src, "c", line_numbers=True, word_wrap=False, theme="ansi_dark")


STAGE_HEADER = "// stage 04 C"  # what DEBUG=4 prints first: which stage printed the source that follows
CUDA_HEADER = "// stage 05 CUDA (stage 04's renderer, CUDA dialect)"  # the same printer, for CUDA source


def print_source(src: str, console: Console | None = None, title: str | None = None,
                 header: str | None = STAGE_HEADER) -> None:
    """Print C source highlighted (DEBUG=4), after a `header` line naming the stage that printed it."""
    console = console or Console()
    if header:
        console.print(Text(header, style="dim"))
    console.print(Panel(source_syntax(src), title=title, title_align="left", expand=False) if title
                  else source_syntax(src))


# A fragment, not rich's whole page: that page's <style> sets the colours of `body`, and a notebook
# shows HTML outputs inside its own page (a dark theme turned white around every kernel).
_HTML_FRAGMENT = ("<pre style=\"font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace;"
                  "color:{foreground};background-color:{background}\">"
                  "<code style=\"font-family:inherit\">{code}</code></pre>")


def source_html(src: str, title: str | None = None) -> str:
    """Highlighted C source as an HTML fragment (inline styles, nothing else needed), for notebooks."""
    # force_jupyter=False: in a notebook, rich would also display what it records here (the source twice)
    console = Console(record=True, file=io.StringIO(), width=160, force_terminal=True, force_jupyter=False)
    if title:
        console.print(Text(title, style="bold"))
    console.print(source_syntax(src))
    return _compact(console.export_html(inline_styles=True, code_format=_HTML_FRAGMENT))


def _compact(page: str) -> str:
    """rich's HTML, a third of the size and the same to look at: rich writes each colour twice (`color` and
    `text-decoration-color`, which only colours underlines) and wraps the spaces between tokens in coloured spans."""
    page = re.sub(r"; text-decoration-color: #[0-9a-f]{6}", "", page)
    return re.sub(r'<span style="[^"]*">(\s+)</span>', r"\1", page)


def to_dot(program: Program) -> graphviz.Digraph:
    """The kernel's blocks as a graph: one box per block (function, loop, IF), listing its statements
    in order; an edge from each block to the blocks nested in it."""
    k = render_kernel(program)
    g = graphviz.Digraph(program.name, node_attr={"shape": "box", "fontname": "monospace", "fontsize": "10"})
    stack = [("fn", [k.signature])]  # (node id, lines) of the open blocks
    nodes: list[tuple[str, list[str]]] = []
    edges: list[tuple[str, str]] = []
    for n, line in enumerate(k.body):
        op = line.uop.op if line.uop is not None else None
        if op in (UOps.RANGE, UOps.IF):
            node = (f"b{n}", [line.code])
            stack[-1][1].append(f"{{ {line.code.split('(')[0].strip()} block }}")
            edges.append((stack[-1][0], node[0]))
            stack.append(node)
        elif op in (UOps.END, UOps.ENDIF):
            nodes.append(stack.pop())
        else:
            stack[-1][1].append(line.code)
    nodes.extend(reversed(stack))
    for node_id, lines in nodes:
        g.node(node_id, "".join(html.escape(ln, quote=False).replace("\\", "\\\\") + "\\l" for ln in lines))
    for a, b in edges:
        g.edge(a, b)
    return g


def _title(kernel_name: str) -> str:
    """Every stage-04 view says which stage printed it (stage 03 shows UOps of the same kernel)."""
    return f"stage 04 · C · {kernel_name}"


class KernelView:
    """A Program's C source and block graph, for rich and notebooks."""

    def __init__(self, program: Program):
        self.program = program
        self.source = render(program)

    def __repr__(self) -> str:  # what a notebook stores beside the view: no memory address, which changes every run
        return f"KernelView({self.program.name})"

    def __rich__(self) -> Panel:
        return Panel(source_syntax(self.source), title=_title(self.program.name), title_align="left")

    def to_dot(self) -> graphviz.Digraph:
        return to_dot(self.program)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """The notebook view: the highlighted source above the block graph (one run of `dot`)."""
        return notebook_bundle(picture=self.to_dot,
                               html=lambda: source_html(self.source, title=_title(self.program.name)))


def program_panel(prog) -> Panel:
    """The rich view of a CProgram: where its binary came from, then its source."""
    header = Text(f"{prog.origin} in {prog.compile_seconds * 1e3:.1f} ms · cache key {prog.key[:16]}…", style="dim")
    return Panel(Group(header, source_syntax(prog.source)), title=_title(prog.name), title_align="left")


def program_html(prog) -> str:
    """The notebook view of a CProgram: its source, highlighted, under its repr."""
    return source_html(prog.source, title=repr(prog))
