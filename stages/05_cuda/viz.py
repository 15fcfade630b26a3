"""Seeing the CUDA: one kernel's C and CUDA side by side, the dialects compared, the launch drawn, notebook views.

    side_by_side(kernel)        the C (CPU opts, loops) and the CUDA (GPU opts, blockIdx/threadIdx) of one
                                scheduled kernel, as two columns of plain text (the README's example)
    dialect_differences()       C_DIALECT vs CUDA_DIALECT, field by field, only where they differ
    launch_text(launch)         the grid of blocks and the threads of one block, in words and numbers
    print_cuda(src_or_kernel)   highlighted, line-numbered CUDA (EMIT=cuda prints through stage 04's print_source)
    KernelView(kernel)          a CUDAKernel in a notebook: header, launch, highlighted source, CUBIN size
"""

from __future__ import annotations

import itertools
from dataclasses import fields

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from shrimpgrad.c import render
from shrimpgrad.c.dialect import C_DIALECT
from shrimpgrad.c.viz import source_html
from shrimpgrad.graph.notebook import notebook_bundle
from shrimpgrad.linearize import default_opts, linearize
from shrimpgrad.schedule import Kernel

from .dialect import CUDA_DIALECT
from .launch import Launch
from .source import CUDAKernel, cuda_kernel


def _clip(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def columns(left: str, right: str, width: int = 60, titles: tuple[str, str] = ("C", "CUDA")) -> str:
    """Two texts as two columns of `width` characters (longer lines are cut with …)."""
    rows = [f"{titles[0]:<{width}} | {titles[1]}", f"{'-' * width}-+-{'-' * width}"]
    for a, b in itertools.zip_longest(left.splitlines(), right.splitlines(), fillvalue=""):
        rows.append(f"{_clip(a, width):<{width}} | {_clip(b, width)}".rstrip())
    return "\n".join(rows) + "\n"


def side_by_side(kernel: Kernel, width: int = 60, policy: str | None = None) -> str:
    """The C the C device compiles and the CUDA the CUDA device compiles for the same kernel, without comments."""
    c = render(linearize(kernel, default_opts(kernel, gpu=False)), comments=False)
    k = cuda_kernel(kernel, policy=policy, compile=False)
    cuda = f"// {k.launch}\n" + _strip_comments(k.source)
    return columns(c, cuda, width)


def _strip_comments(source: str) -> str:
    """The source without the renderer's trailing `// UOP` comments (C's /* */ remarks stay)."""
    return "\n".join(line.split("  //")[0].rstrip() if "  //" in line else line for line in source.splitlines())


def dialect_differences() -> str:
    """Every Dialect field whose C and CUDA spellings differ, one per line."""
    rows = []
    for f in fields(C_DIALECT):
        if f.name in ("name", "special"):
            continue
        a, b = getattr(C_DIALECT, f.name), getattr(CUDA_DIALECT, f.name)
        if a != b:
            rows.append(f"{f.name:<19} {_short(a):<42} {_short(b)}")
    rows.append(f"{'special':<19} {'(none: loops are RANGEs)':<42} int gidx0 = blockIdx.x; int lidx0 = threadIdx.x;")
    return f"{'field':<19} {'C':<42} CUDA\n" + "\n".join(rows) + "\n"


def _short(value) -> str:
    if isinstance(value, tuple):
        return " ".join(value) if value else "(nothing)"
    return str(value)


def launch_text(launch: Launch) -> str:
    """`grid (gx, gy, gz) x block (bx, by, bz) = N threads`, and what the guard does."""
    text = f"grid {launch.grid} blocks x block {launch.block} threads = {launch.threads} threads"
    if launch.split_x:
        text += f"\n  gidx0 = blockIdx.x * {launch.block[0]} + threadIdx.x"
    if launch.guard is not None:
        past = launch.grid[0] * launch.block[0] - launch.guard
        text += f"\n  the last block's {past} threads past the end return at once: if (gidx0 >= {launch.guard}) return;"
    return text


def print_cuda(what: str | CUDAKernel, console: Console | None = None) -> None:
    """Highlighted CUDA with line numbers (they match NVRTC's messages)."""
    console = console or Console()
    if isinstance(what, CUDAKernel):
        console.print(Panel(Group(Text(what.header(), style="dim"), _syntax(what.source)),
                            title=f"stage 05 · CUDA · {what.name}", title_align="left", expand=False))
    else:
        console.print(_syntax(what))


def _syntax(src: str) -> Syntax:
    return Syntax(src, "cuda", line_numbers=True, word_wrap=False, theme="ansi_dark")


class KernelView:
    """A CUDAKernel for rich (`rich.print(view)`) and notebooks (the last expression of a cell)."""

    def __init__(self, kernel: CUDAKernel):
        self.kernel = kernel

    def __repr__(self) -> str:  # what a notebook stores beside the view: no memory address, which changes every run
        return f"KernelView({self.kernel.name})"

    def __rich__(self) -> Panel:
        return Panel(Group(Text(self.kernel.header(), style="dim"), _syntax(self.kernel.source)),
                     title=f"stage 05 · CUDA · {self.kernel.name}", title_align="left")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """The notebook view (stage 01's notebook.py, as every stage's): the highlighted source under its header."""
        return notebook_bundle(html=lambda: source_html(self.kernel.source,
                                                        title=f"stage 05 · CUDA · {self.kernel.header()[3:]}"))


__all__ = ["side_by_side", "columns", "dialect_differences", "launch_text", "print_cuda", "KernelView"]
