"""The terminal view of an Explanation: one panel per stage, each titled with the stage that printed it.

    overview          what ran: graphs, kernels, and each user line with the ops it made and the kernels using it
    01 graph          the lazy graph as a tree (stage 01's), or counts of its ops when it is big
    02 schedule       the kernels in order: what each reads and writes, what fused inside, why it is a kernel
    03 uops           each kernel's UOps with the user lines they come from
    04 C / 05 CUDA    each kernel's source; every line's comment names the user line it came from

Big programs are summarized rather than flooding the terminal: the first MAX_KERNELS kernels are shown in full,
the rest listed by name (`--kernel NAME` shows one, `--full` all), a graph over MAX_TREE_NODES nodes is counted
rather than drawn, and on an interactive terminal the output goes through a pager.
"""

from __future__ import annotations

import os
from collections import Counter

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from shrimpgrad.graph import tree as graph_tree
from shrimpgrad.linearize.viz import FAMILIES, FAMILY_STYLES, depths, format_arg
from shrimpgrad.schedule.viz import schedule_table

from .model import STAGES, ExplainError, Explanation, GeneratedSource, KernelView, Realization, file_lines

MAX_KERNELS = 4
MAX_TREE_NODES = 60
MAX_USER_LINES = 40
STAGE_TITLES = {"graph": "stage 01 · graph", "schedule": "stage 02 · schedule", "uops": "stage 03 · UOps",
                "c": "stage 04 · C", "cuda": "stage 05 · CUDA"}


def check_stages(stages) -> tuple[str, ...]:
    stages = (stages,) if isinstance(stages, str) else tuple(stages)
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise ExplainError(f"unknown stage {bad[0]!r}; the stages are: {', '.join(STAGES)}")
    return stages


def renderables(e: Explanation, stages=STAGES, kernel: str | None = None, full: bool = False) -> list:
    stages = check_stages(stages)
    kernels = e.select(kernel)
    out: list = [overview(e)]
    realizations = [r for r in e.realizations if any(k in r.kernels for k in kernels)] if kernel else e.realizations
    if "graph" in stages:
        out += [graph_panel(r, len(e.realizations)) for r in realizations]
    if "schedule" in stages:
        out += [Panel(schedule_table(r.schedule), title=_title("schedule", r, len(e.realizations)),
                      title_align="left") for r in realizations if r.kernels]
    shown = kernels if full or kernel is not None else kernels[:MAX_KERNELS]
    n = len(e.realizations)
    for k in shown:
        if "uops" in stages:
            out.append(uops_panel(k, n))
        if "c" in stages:
            out.append(source_panel(k.c, STAGE_TITLES["c"], k, n))
        if "cuda" in stages:
            out.append(source_panel(k.cuda, STAGE_TITLES["cuda"], k, n) if k.cuda is not None else
                       Panel(Text(f"no CUDA view: {k.cuda_error}"), title=f"{STAGE_TITLES['cuda']} · {k.label(n)}",
                             title_align="left"))
    rest = kernels[len(shown):]
    if rest and any(s in stages for s in ("uops", "c", "cuda")):
        names = ", ".join(dict.fromkeys(k.label(n) for k in rest))
        out.append(Text(f"... and {len(rest)} more kernel(s): {names}\n"
                        "    --kernel NAME shows one of them, --full shows all", style="yellow"))
    return out


def print_explanation(e: Explanation, stages=STAGES, kernel: str | None = None, full: bool = False,
                      console: Console | None = None, pager: bool | None = None) -> None:
    """Print the stages; `pager=None` pages when the output is an interactive terminal (and $PAGER isn't empty)."""
    console = console or Console()
    items = renderables(e, stages, kernel, full)
    use_pager = console.is_terminal and os.environ.get("PAGER", "less") != "" if pager is None else pager
    if use_pager:
        with console.pager(styles=True):
            console.print(*items)
    else:
        console.print(*items)


def _title(stage: str, r: Realization, n: int) -> str:
    graph = f" · graph {r.index + 1} of {n}" if n > 1 else ""
    runs = f" (realized {r.runs} times)" if r.runs > 1 else ""
    return f"{STAGE_TITLES[stage]}{graph} · {len(r.kernels)} kernel(s) on {r.device}{runs}"


# ---- panels -------------------------------------------------------------------------------------------------

def overview(e: Explanation) -> Panel:
    """What ran, and each user line: its code, the ops it made, and the kernels that compute them."""
    kernels_of: dict[tuple[str, int], list[str]] = {}
    methods: dict[tuple[str, int], Counter] = {}
    for r in e.realizations:
        for n in r.graph:
            if n.meta is not None:
                methods.setdefault((n.meta.file, n.meta.line), Counter())[n.meta.method] += 1
        for k in r.kernels:
            for p in k.origins():
                names = kernels_of.setdefault((p.file, p.line), [])
                if k.name not in names:
                    names.append(k.name)
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("line", no_wrap=True, min_width=8)
    table.add_column("code", no_wrap=True, overflow="ellipsis", max_width=50)
    table.add_column("ops made there", overflow="fold", ratio=2)
    table.add_column("in kernels", overflow="fold", ratio=1)
    for (file, line), count in list(methods.items())[:MAX_USER_LINES]:
        src = file_lines(file)
        code = src[line - 1].strip() if 0 < line <= len(src) else ""
        ops = ", ".join(f"{m} x{c}" if c > 1 else m for m, c in count.items())
        table.add_row(f"{os.path.basename(file)}:{line}", Text(code, style="cyan"), ops,
                      ", ".join(kernels_of.get((file, line), [])) or "-")
    more = len(methods) - MAX_USER_LINES
    n_kernels = len(e.kernels)
    head = Text.assemble((f"explain {e.title}: ", "bold"),
                         f"{len(e.realizations)} graph(s) realized, {n_kernels} kernel(s): ",
                         ", ".join(k.label(len(e.realizations)) for k in e.kernels) or "none")
    body = [head, Text(""), table] + ([Text(f"... and {more} more user lines")] if more > 0 else [])
    return Panel(Group(*body), title="overview: the user's lines and the kernels they became", title_align="left")


def graph_panel(r: Realization, n: int) -> Panel:
    nodes = r.graph
    if len(nodes) <= MAX_TREE_NODES:
        body = Group(*(graph_tree(root) for root in r.roots)) if len(r.roots) > 1 else graph_tree(r.roots[0])
    else:
        counts = Counter(n.op.name for n in nodes)
        summary = Tree(Text(f"{len(nodes)} nodes, too many to draw here (the HTML report draws them all):",
                            style="bold"))
        for op, c in counts.most_common():
            summary.add(f"{op} x{c}")
        body = summary
    return Panel(body, title=_title("graph", r, n), title_align="left")


def uops_panel(k: KernelView, graphs: int = 1) -> Panel:
    p = k.program
    table = Table(show_edge=False, pad_edge=False, title=Text(f"{p.name}: {len(p.uops)} uops, opts "
                                                             f"{', '.join(p.applied_opts) or 'none'}"),
                  title_justify="left")
    for col in ("#", "op", "dtype", "src", "arg", "from (user line)"):
        table.add_column(col, justify="right" if col == "#" else "left", no_wrap=col != "from (user line)")
    index = {id(u): i for i, u in enumerate(p.uops)}
    for i, (u, d) in enumerate(zip(p.uops, depths(p))):
        style = FAMILY_STYLES[FAMILIES[u.op]]
        src = ",".join(str(index[id(s)]) for s in u.src)
        where = "; ".join(dict.fromkeys(o.short for o in u.origins))
        table.add_row(str(i), Text("  " * d + u.op.name, style=style), u.dtype.name if u.dtype else "-", src,
                      Text(format_arg(u), style=style), Text(where, style="dim"))
    return Panel(table, title=f"{STAGE_TITLES['uops']} · {k.label(graphs)}", title_align="left")


def source_panel(src: GeneratedSource, title: str, k: KernelView, graphs: int = 1) -> Panel:
    syntax = Syntax(src.text, "c" if src.language == "C" else "cuda", line_numbers=True, word_wrap=False,
                    theme="ansi_dark")
    return Panel(syntax, title=f"{title} · {k.label(graphs)}", subtitle=src.note, title_align="left",
                 subtitle_align="left")
