"""The HTML report: one self-contained file (no network: inline CSS, JS and graphviz SVG), a panel per stage.

    Python source | kernels (02 schedule) | 01 graph (SVG) | 02 kernel AST | 03 UOps | 04 C | 05 CUDA

How the panels are linked: every element that stands for something the user wrote gets a CSS class per
provenance it carries, `o<n>` (numbered by `Origins`): a Python line its own, a graph node its `meta`, an AST
node, UOp or source line its `origins`. Clicking (or hovering) a line of C then highlights, by class, the
Python lines, graph nodes, AST nodes and UOps that share a provenance with it, and marks the UOp the line
renders (`data-uop`). Clicking a kernel highlights the graph nodes it computes (class `k<r>_<k>`) and shows
its AST, UOps and source. Nothing is computed in the browser but this lookup.

In a notebook `_repr_html_` returns the same report without the page around it; ids and classes are
prefixed per report, so several reports in one notebook don't interfere.
"""

from __future__ import annotations

import html
import json
import os
import uuid

import graphviz

from shrimpgrad.graph.viz import KIND_COLORS, describe, kind
from shrimpgrad.linearize.viz import depths, format_arg
from shrimpgrad.schedule.viz import _label as ast_label
from shrimpgrad.schedule.viz import fused_text

from .model import Explanation, GeneratedSource, KernelView, Origins, Realization, file_lines

MAX_SVG_NODES = 800  # above this, graphviz's layout gets slow and the picture unreadable: the panel says so
MAX_SOURCE_LINES = 3000  # a user file longer than this is cut in the report


def report_html(e: Explanation, standalone: bool = True) -> str:
    r = _Report(e)
    body = r.body()
    if not standalone:
        return f"<style>{_CSS.replace('#ROOT', '#' + r.uid)}</style>{body}<script>{_js(r.uid)}</script>"
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>ShrimpGrad explain: {html.escape(e.title)}</title>"
            f"<style>{_CSS.replace('#ROOT', '#' + r.uid)}</style></head>\n<body>{body}\n"
            f"<script>{_js(r.uid)}</script></body></html>\n")


class _Report:
    def __init__(self, e: Explanation):
        self.e = e
        self.uid = "sgx" + uuid.uuid4().hex[:8]
        self.origins: Origins = e.origins()
        for k in e.kernels:  # lines of generated code may name provenance the AST walk did not (merged by CSE)
            for src in (k.c, k.cuda):
                for line in src.lines if src is not None else ():
                    for p in line.origins:
                        self.origins.id(p)

    def cls(self, origins) -> str:
        return " ".join(f"o{self.origins.id(p)}" for p in origins)

    # ---- the page -------------------------------------------------------------------------------------

    def body(self) -> str:
        e = self.e
        head = (f"<header><b>ShrimpGrad explain</b> {html.escape(e.title)}: {len(e.realizations)} graph(s), "
                f"{len(e.kernels)} kernel(s). <span class='hint'>Click a kernel, a line of C/CUDA or a Python line: "
                "what it came from (or became) lights up in every stage.</span></header>")
        return (f"<div id='{self.uid}' class='sgx'>{head}<div class='grid'>"
                f"<section class='panel py'><h2>Python source</h2>{self.python_panel()}</section>"
                f"<section class='panel kernels'><h2>stage 02 · schedule (kernels)</h2>{self.kernel_panel()}</section>"
                f"<section class='panel graph'><h2>stage 01 · graph</h2>{self.graph_panel()}</section>"
                f"<section class='panel ast'><h2>stage 02 · kernel AST</h2>{self.per_kernel(self.ast_pane)}</section>"
                f"<section class='panel uops'><h2>stage 03 · UOps</h2>{self.per_kernel(self.uops_pane)}</section>"
                f"<section class='panel c'><h2>stage 04 · C</h2>{self.per_kernel(self.c_pane)}</section>"
                f"<section class='panel cuda'><h2>stage 05 · CUDA</h2>{self.per_kernel(self.cuda_pane)}</section>"
                "</div></div>")

    def python_panel(self) -> str:
        files = self.origins.files()
        if self.e.script is not None:
            script = os.path.abspath(self.e.script)
            files = [script] + [f for f in files if f != script]
        keys: dict[tuple[str, int], list[int]] = {}
        for p, n in self.origins.ids.items():
            keys.setdefault((p.file, p.line), []).append(n)
        out = []
        for f in files:
            lines = file_lines(f)
            if not lines:
                continue
            rows = []
            for i, text in enumerate(lines[:MAX_SOURCE_LINES], start=1):
                ids = keys.get((f, i), [])
                cls = " ".join(f"o{n}" for n in ids)
                rows.append(f"<div class='pyline {cls}{' made' if ids else ''}' data-line='{i}'>"
                            f"<span class='ln'>{i}</span>{html.escape(text) or ' '}</div>")
            if len(lines) > MAX_SOURCE_LINES:
                rows.append(f"<div class='note'>... {len(lines) - MAX_SOURCE_LINES} more lines</div>")
            out.append(f"<div class='file' data-file='{html.escape(f)}'><h3>{html.escape(f)}</h3>"
                       f"<pre>{''.join(rows)}</pre></div>")
        return "".join(out) or "<p class='note'>no user source was found</p>"

    def kernel_panel(self) -> str:
        rows = []
        for r in self.e.realizations:
            runs = f" (realized {r.runs} times)" if r.runs > 1 else ""
            rows.append(f"<tr class='realization'><td colspan='5'>graph {r.index + 1} on {r.device}{runs}</td></tr>")
            for k in r.kernels:
                rule, _, why = k.kernel.reason.partition(": ")
                rows.append(f"<tr class='kernel {self.cls(k.origins())}' data-k='{r.index}_{k.index}'>"
                            f"<td>{k.index}</td><td class='kname'>{html.escape(k.name)}</td>"
                            f"<td>{'x'.join(map(str, k.kernel.full_shape)) or '1'}</td>"
                            f"<td>{html.escape(fused_text(k.fused))}</td>"
                            f"<td><b>{html.escape(rule)}</b>: {html.escape(why)}</td></tr>")
        return ("<table class='sched'><tr><th>#</th><th>kernel</th><th>loops</th><th>fused inside</th>"
                f"<th>why a kernel</th></tr>{''.join(rows)}</table>")

    def graph_panel(self) -> str:
        return "".join(self.graph_svg(r) for r in self.e.realizations)

    def graph_svg(self, r: Realization) -> str:
        nodes = r.graph
        title = f"<h3>graph {r.index + 1}: {len(nodes)} nodes</h3>"
        if len(nodes) > MAX_SVG_NODES:
            return f"{title}<p class='note'>too many nodes to draw ({len(nodes)} &gt; {MAX_SVG_NODES})</p>"
        kernels_of: dict[int, list[str]] = {}
        for k in r.kernels:
            for n in k.graph_nodes:
                kernels_of.setdefault(id(n), []).append(f"k{r.index}_{k.index}")
        g = graphviz.Digraph(f"graph{r.index}", graph_attr={"rankdir": "BT", "fontname": "Helvetica"},
                             node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled", "shape": "box"})
        ids = {}
        for i, n in enumerate(nodes):
            nid = f"{self.uid}_g{r.index}_{i}"
            ids[id(n)] = nid
            where = f"\n{n.meta.method} :{n.meta.line}" if n.meta is not None else ""
            cls = " ".join(["gnode", self.cls([n.meta] if n.meta is not None else []), *kernels_of.get(id(n), [])])
            g.node(nid, f"{describe(n)} {n.shape}{where}", id=nid, fillcolor=KIND_COLORS[kind(n)], **{"class": cls})
            for s in n.src:
                g.edge(ids[id(s)], nid)
        try:
            svg = g.pipe(format="svg").decode()
        except graphviz.ExecutableNotFound:
            return f"{title}<p class='note'>Graphviz's dot is not installed: no picture</p>"
        return f"{title}<div class='svg' data-r='{r.index}'>{svg[svg.index('<svg'):]}</div>"

    def per_kernel(self, pane) -> str:
        return "".join(f"<div class='kpane' data-k='{r.index}_{k.index}'><h3>{html.escape(k.name)}</h3>{pane(k)}</div>"
                       for r in self.e.realizations for k in r.kernels)

    def ast_pane(self, k: KernelView) -> str:
        index = {id(n): i for i, n in enumerate(k.ast)}
        names = {id(b): f"data{j}" for j, b in enumerate(k.kernel.bufs)}  # the C parameter names
        rows = []
        for i, n in enumerate(k.ast):
            src = ",".join(f"%{index[id(s)]}" for s in n.src)
            where = "; ".join(dict.fromkeys(p.short for p in n.origins))
            label = html.escape(ast_label(n, k.kernel, names))
            rows.append(f"<tr class='astnode {self.cls(n.origins)}'><td>%{i}</td><td>{label}</td><td>{src}</td>"
                        f"<td class='from'>{html.escape(where)}</td></tr>")
        return f"<table class='ir'>{''.join(rows)}</table>"

    def uops_pane(self, k: KernelView) -> str:
        p = k.program
        index = {id(u): i for i, u in enumerate(p.uops)}
        rows = []
        for i, (u, d) in enumerate(zip(p.uops, depths(p))):
            src = ",".join(str(index[id(s)]) for s in u.src)
            where = "; ".join(dict.fromkeys(o.short for o in u.origins))
            rows.append(f"<tr class='uop {self.cls(u.origins)}' data-uop='{i}'><td>{i}</td>"
                        f"<td>{'&nbsp;&nbsp;' * d}{u.op.name}</td><td>{u.dtype.name if u.dtype else '-'}</td>"
                        f"<td>{src}</td><td>{html.escape(format_arg(u))}</td>"
                        f"<td class='from'>{html.escape(where)}</td></tr>")
        opts = html.escape(", ".join(p.applied_opts) or "none")
        return f"<p class='note'>opts: {opts}</p><table class='ir'>{''.join(rows)}</table>"

    def source_pane(self, src: GeneratedSource, lang: str) -> str:
        rows = []
        for i, line in enumerate(src.lines, start=1):
            uop = f" data-uop='{line.uop}'" if line.uop is not None and lang == "c" else ""
            rows.append(f"<div class='srcline {lang} {self.cls(line.origins)}'{uop} data-n='{i}'>"
                        f"<span class='ln'>{i}</span>{html.escape(line.text) or ' '}</div>")
        return f"<p class='note'>{html.escape(src.note)}</p><pre>{''.join(rows)}</pre>"

    def c_pane(self, k: KernelView) -> str:
        return self.source_pane(k.c, "c")

    def cuda_pane(self, k: KernelView) -> str:
        if k.cuda is None:
            return f"<p class='note'>no CUDA view: {html.escape(k.cuda_error or 'not asked for')}</p>"
        return self.source_pane(k.cuda, "cuda")


_CSS = """
#ROOT { font: 13px/1.35 system-ui, sans-serif; color: #1f2933; }
#ROOT header { padding: 6px 8px; background: #f1f3f5; border-bottom: 1px solid #ced4da; }
#ROOT .hint { color: #6b7280; }
#ROOT .grid { display: grid; grid-template-columns: minmax(300px, 1fr) minmax(360px, 1.2fr) minmax(360px, 1.2fr);
  gap: 8px; padding: 8px; }
#ROOT .panel { border: 1px solid #ced4da; border-radius: 6px; overflow: auto; max-height: 46vh; background: #fff; }
#ROOT .panel.graph { grid-column: span 2; max-height: 60vh; }
#ROOT .panel.py { grid-row: span 2; max-height: 108vh; }
#ROOT h2 { font-size: 13px; margin: 0; padding: 4px 8px; background: #e9ecef; position: sticky; top: 0; z-index: 1; }
#ROOT h3 { font-size: 12px; margin: 6px 8px 2px; color: #495057; }
#ROOT pre { margin: 0 4px; font: 12px/1.4 ui-monospace, monospace; }
#ROOT .ln { display: inline-block; width: 3.5em; color: #adb5bd; text-align: right; padding-right: 1em;
  user-select: none; }
#ROOT .pyline.made, #ROOT .srcline { cursor: pointer; }
#ROOT .pyline.made .ln { color: #1c7ed6; }
#ROOT table { border-collapse: collapse; font-size: 12px; margin: 0 4px; }
#ROOT td, #ROOT th { padding: 1px 6px; text-align: left; vertical-align: top; white-space: nowrap; }
#ROOT table.sched td:last-child { white-space: normal; min-width: 240px; }
#ROOT tr.kernel { cursor: pointer; }
#ROOT tr.kernel.sel { background: #d0ebff; }
#ROOT tr.realization td { color: #6b7280; font-style: italic; }
#ROOT td.from { color: #868e96; }
#ROOT .ir td { font-family: ui-monospace, monospace; }
#ROOT .kpane { display: none; }
#ROOT .kpane.shown { display: block; }
#ROOT .note { color: #6b7280; margin: 4px 8px; }
#ROOT .hl { background: #fff3bf; }
#ROOT .sel { background: #ffd43b; }
#ROOT .srcline.sel, #ROOT .uop.sel { outline: 1px solid #f08c00; }
#ROOT g.gnode.hl polygon { fill: #ffd43b !important; stroke: #e8590c; stroke-width: 3px; }
#ROOT g.gnode.kin polygon { stroke: #1c7ed6; stroke-width: 3px; }
"""


def _js(uid: str) -> str:
    return _JS.replace("ROOT_ID", json.dumps(uid))


_JS = r"""
(function () {
  const root = document.getElementById(ROOT_ID);
  const all = (sel, scope) => Array.from((scope || root).querySelectorAll(sel));
  const originsOf = (el) => Array.from(el.classList).filter((c) => /^o\d+$/.test(c));
  function clear() { all('.hl, .sel, .kin').forEach((el) => el.classList.remove('hl', 'sel', 'kin')); }
  function showKernel(k) {
    all('.kpane').forEach((p) => p.classList.toggle('shown', p.dataset.k === k));
    all('tr.kernel').forEach((t) => t.classList.toggle('sel', t.dataset.k === k));
  }
  function selectKernel(k) {
    clear();
    showKernel(k);
    all('g.gnode.k' + k).forEach((g) => g.classList.add('kin'));
    const first = root.querySelector('g.gnode.k' + k);
    if (first) first.scrollIntoView({block: 'nearest', inline: 'nearest'});
  }
  // a provenance class -> the graph, AST, UOps, C/CUDA lines and Python lines that carry it
  function light(origins, scopeKernel, scroll) {
    origins.forEach((o) => {
      all('.pyline.' + o + ', g.gnode.' + o).forEach((el) => el.classList.add('hl'));
      const panes = scopeKernel ? all('.kpane[data-k="' + scopeKernel + '"]') : all('.kpane');
      panes.forEach((p) => all('.' + o, p).forEach((el) => el.classList.add('hl')));
    });
    if (!scroll) return;
    const py = root.querySelector('.pyline.hl');
    if (py) py.scrollIntoView({block: 'nearest'});
    const g = root.querySelector('g.gnode.hl');
    if (g) g.scrollIntoView({block: 'nearest', inline: 'nearest'});
  }
  let pinned = null;  // a clicked line stays selected; hovering previews only while nothing is pinned
  function selectLine(line, scroll) {
    const k = line.closest('.kpane').dataset.k;
    clear();
    showKernel(k);
    light(originsOf(line), k, scroll);
    line.classList.add('sel');
    if (line.dataset.uop !== undefined) {
      const uops = all('.kpane[data-k="' + k + '"] tr.uop[data-uop="' + line.dataset.uop + '"]');
      uops.forEach((u) => u.classList.add('sel'));
    }
  }
  function selectPython(line) {
    clear();
    light(originsOf(line), null, true);
    line.classList.add('sel');
    const k = root.querySelector('.kpane .srcline.hl');
    if (k) showKernel(k.closest('.kpane').dataset.k);
  }
  all('tr.kernel').forEach((t) => t.addEventListener('click', () => selectKernel(t.dataset.k)));
  all('.srcline').forEach((l) => {
    l.addEventListener('click', () => { pinned = pinned === l ? null : l; selectLine(l, true); });
    l.addEventListener('mouseenter', () => { if (pinned === null) selectLine(l, false); });
  });
  all('.pyline.made').forEach((l) => l.addEventListener('click', () => { pinned = null; selectPython(l); }));
  all('tr.kernel').forEach((t) => t.addEventListener('click', () => { pinned = null; }));
  const first = root.querySelector('tr.kernel');
  if (first) showKernel(first.dataset.k);
})();
"""
