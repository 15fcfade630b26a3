"""What `explain` shows, computed once: every stage of every graph a program realized, and the links between them.

    explain_graph(roots, device) -> Realization     stage 01 graph -> 02 schedule -> 03 UOps -> 04 C / 05 CUDA

The links are provenance. Every graph node may carry a `Provenance` (the user's file:line and Tensor method);
stage 02 copies it onto the kernel AST nodes made from that node (`KNode.origins`), stage 03 onto the UOps
lowered from those (`UOp.origins`), and a line of generated source belongs to one UOp. So "which Python line
made this line of C?" is `line.origins`, and "which UOps, AST nodes and graph nodes belong to that Python line?"
is every item of the same stage whose origins share one with it. `Origins` numbers the distinct provenances so
a report can name them briefly (o0, o1, ...).

The C view is what device C would build (its opts policy, OpenMP); the CUDA view what device CUDA would build
(stage 05's opts policy and launch), rendered without a GPU and without NVRTC.
"""

from __future__ import annotations

import linecache
from dataclasses import dataclass, field, replace

from shrimpgrad.c.renderer import RenderedKernel, render_kernel, to_text
from shrimpgrad.devices import Device
from shrimpgrad.graph import Node, Provenance, toposort
from shrimpgrad.linearize import Program, linearize
from shrimpgrad.schedule import Kernel, KNode, Schedule, create_schedule

STAGES = ("graph", "schedule", "uops", "c", "cuda")  # the stage names `--stage` takes, in order


class ExplainError(ValueError):
    """Nothing to explain (nothing was realized), or an unknown stage or kernel name."""


@dataclass(frozen=True)
class SourceLine:
    """One line of generated source: its text, the UOp it renders (index into the Program's uops) and origins."""

    text: str
    uop: int | None
    origins: tuple[Provenance, ...] = ()


@dataclass
class GeneratedSource:
    """A kernel rendered in one language: the Program, its text line by line, and anything to say about it."""

    language: str  # "C" or "CUDA"
    program: Program
    lines: list[SourceLine]
    note: str = ""  # e.g. the CUDA launch

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines) + "\n"


@dataclass
class KernelView:
    """One scheduled kernel at every stage after 02."""

    index: int
    kernel: Kernel
    graph: int  # which realization (0, 1, ...) it belongs to
    fused: tuple[tuple[str, int], ...]  # the fusion rules that applied inside it (stage 02)
    graph_nodes: tuple[Node, ...]  # the graph nodes it computes
    ast: list[KNode]  # its AST nodes, each after its sources (the SINK last)
    c: GeneratedSource
    cuda: GeneratedSource | None = None
    cuda_error: str = ""  # why there is no CUDA view (stage 05 could not be imported or rendered)

    @property
    def name(self) -> str:
        return self.kernel.name

    def label(self, graphs: int) -> str:
        """`R_8_3` in a one-graph program, else `2:R_8_3` (graph 2's), the form `--kernel` takes."""
        return f"{self.graph + 1}:{self.name}" if graphs > 1 else self.name

    @property
    def program(self) -> Program:
        return self.c.program

    def origins(self) -> tuple[Provenance, ...]:
        """Every user line this kernel computes something for, in the order its AST names them."""
        return tuple(dict.fromkeys(o for n in self.ast for o in n.origins))


@dataclass
class Realization:
    """One graph a program computed (one call of the runtime's run_graph), on one device, and how often."""

    index: int
    device: str
    roots: tuple[Node, ...]
    schedule: Schedule
    kernels: list[KernelView]
    runs: int = 1  # the same graph structure realized again (a training loop) is shown once and counted

    @property
    def graph(self) -> list[Node]:
        """Every graph node, each after its sources."""
        return toposort(list(self.roots))


@dataclass
class Origins:
    """The distinct provenances of a program, numbered in order of appearance, and the source of their files."""

    ids: dict[Provenance, int] = field(default_factory=dict)

    def id(self, p: Provenance) -> int:
        return self.ids.setdefault(p, len(self.ids))

    def files(self) -> list[str]:
        return list(dict.fromkeys(p.file for p in self.ids))


@dataclass
class Explanation:
    """Everything a program realized, at every stage: what `shrimpgrad.explain` returns.

    `print(stages, kernel)` shows it in the terminal, `html()` / `save_html(path)` as one offline HTML report,
    and in a notebook it displays as that report."""

    title: str
    realizations: list[Realization]
    script: str | None = None  # the user's file that was run (its source leads the report), if any

    @property
    def kernels(self) -> list[KernelView]:
        return [k for r in self.realizations for k in r.kernels]

    def kernel_names(self) -> list[str]:
        return list(dict.fromkeys(k.name for k in self.kernels))

    def select(self, kernel: str | None) -> list[KernelView]:
        """The kernels named `kernel` (every kernel for None), in every graph, or `N:NAME` in graph N only (kernel
        names repeat across graphs); ExplainError listing the names if there is none."""
        if kernel is None:
            return self.kernels
        graph, _, name = kernel.rpartition(":")
        found = [k for r in self.realizations for k in r.kernels
                 if k.name == name and (not graph or graph == str(r.index + 1))]
        if not found:
            names = ", ".join(k.label(len(self.realizations)) for k in self.kernels) or "none"
            raise ExplainError(f"no kernel named {kernel!r}; this program's kernels are: {names}")
        return found

    def origins(self) -> Origins:
        """Every provenance met, numbered: graph nodes first, then anything the stages added."""
        o = Origins()
        for r in self.realizations:
            for n in r.graph:
                if n.meta is not None:
                    o.id(n.meta)
            for k in r.kernels:
                for a in k.ast:
                    for p in a.origins:
                        o.id(p)
        return o

    # ---- showing it (terminal.py, report.py) ----------------------------------------------------------------

    def renderables(self, stages=STAGES, kernel: str | None = None, full: bool = False) -> list:
        from .terminal import renderables

        return renderables(self, stages, kernel, full)

    def print(self, stages=STAGES, kernel: str | None = None, full: bool = False, console=None) -> None:
        from .terminal import print_explanation

        print_explanation(self, stages, kernel, full, console)

    def __rich_console__(self, console, options):
        yield from self.renderables()

    def html(self) -> str:
        from .report import report_html

        return report_html(self)

    def save_html(self, path) -> None:
        from pathlib import Path

        Path(path).write_text(self.html(), encoding="utf-8")

    def _repr_html_(self) -> str:
        from .report import report_html

        return report_html(self, standalone=False)

    def __repr__(self) -> str:
        n = len(self.kernels)
        return f"<Explanation {self.title}: {len(self.realizations)} graph(s), {n} kernel(s)>"


def file_lines(filename: str) -> list[str]:
    """The text of a user file by line (what Python's tracebacks read; a `-c` expression is registered there)."""
    return [line.rstrip("\n") for line in linecache.getlines(filename)]


def register_source(filename: str, text: str) -> None:
    """Make `text` the source of `filename` for tracebacks and for `file_lines` (for code that has no file)."""
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)


# ---- building -------------------------------------------------------------------------------------------------

def source_lines(rk: RenderedKernel, program: Program) -> list[SourceLine]:
    """The rendered text line by line, each with the UOp it renders (the body lines) and that UOp's origins.

    Each body line is formatted by stage 04's own `to_text` (alone in an otherwise empty kernel), so the text is
    what `render` writes; a body line whose code spans several lines maps each of them to its UOp. A kernel may be
    two functions (stage 04 moves an OpenMP loop's rows into a function of their own: `rk.row`)."""
    index = {id(u): i for i, u in enumerate(program.uops)}
    bare = {"row": None} if getattr(rk, "row", None) is not None else {}
    out = [SourceLine(t, None) for t in rk.preamble and "\n".join([*rk.preamble, ""]).split("\n")]
    functions = ([rk.row] if bare else []) + [(rk.signature, rk.body)]
    for n, (signature, body) in enumerate(functions):
        if n:
            out.append(SourceLine("", None))
        out.append(SourceLine(signature + " {", None))
        for line in body:
            text = to_text(replace(rk, preamble=(), body=(line,), **bare)).split("\n")[1:-2]
            u = line.uop
            out += [SourceLine(t, index.get(id(u)) if u is not None else None, u.origins if u is not None else ())
                    for t in text]
        out.append(SourceLine("}", None))
    if "\n".join(x.text for x in out) + "\n" != to_text(rk):  # stage 04 writes something new: show it unlinked
        return [SourceLine(t, None) for t in to_text(rk).rstrip("\n").split("\n")]
    return out


def c_view(kernel: Kernel) -> GeneratedSource:
    """What device C builds for `kernel`: its opts, linearized for the CPU, rendered as C with OpenMP."""
    program = linearize(kernel, Device["C"].opts(kernel), gpu=False)
    return GeneratedSource("C", program, source_lines(render_kernel(program), program),
                           f"opts: {', '.join(program.applied_opts) or 'none'}")


def cuda_view(kernel: Kernel) -> GeneratedSource:
    """What device CUDA builds for `kernel`: stage 05's opts and launch, rendered as CUDA C (no GPU, no NVRTC)."""
    from shrimpgrad.cuda import cuda_kernel
    from shrimpgrad.cuda.dialect import dialect_for

    ck = cuda_kernel(kernel, compile=False)
    rk = render_kernel(ck.program, openmp=False, dialect=dialect_for(ck.launch))
    return GeneratedSource("CUDA", ck.program, source_lines(rk, ck.program), ck.header().removeprefix("// "))


def explain_graph(roots: list[Node], device: str = "C", index: int = 0, cuda: bool = True) -> Realization:
    """Every stage of the graph `roots`: schedule it (stage 02) and lower each kernel for C (and CUDA)."""
    schedule = create_schedule(list(roots))
    kernels = []
    for i, k in enumerate(schedule.kernels):
        view = KernelView(i, k, index, schedule.fused[i] if i < len(schedule.fused) else (),
                          schedule.nodes[i] if i < len(schedule.nodes) else (), k.ast.toposort(), c_view(k))
        if cuda:
            try:
                view.cuda = cuda_view(k)
            except Exception as e:  # noqa: BLE001 - a missing stage 05 dependency must not hide the other stages
                view.cuda_error = f"{type(e).__name__}: {e}"
        kernels.append(view)
    return Realization(index, device, tuple(roots), schedule, kernels)
