"""How every stage's IR shows itself in a notebook and a terminal: one helper, used by stages 01-05.

    attach_reprs(cls, viz, rich=..., picture=..., html=..., text=...)
        gives `cls` `__rich__` (`rich.print(x)`), `to_dot()` and `_repr_mimebundle_` (`x` alone in a cell),
        each calling a function of the stage's `viz` module, named here by string
    notebook_bundle(picture=..., html=..., text=...)
        what a notebook shows: the HTML (highlighted source, say) and/or the picture as inline SVG

A stage's `__init__` calls `attach_reprs` for its IR classes, so the IR modules never import their
pictures: viz.py imports the IR, never the other way round (no import cycle inside a stage). The
viz module, with rich and graphviz, is imported the first time a picture is asked for, so
`import shrimpgrad` doesn't pay for it.

Why one `_repr_mimebundle_` and not `_repr_svg_` plus `_repr_html_`: Jupyter calls every `_repr_*_`
an object has and stores every answer, so an object with both ran Graphviz's `dot` twice per display
and saved the picture twice in the notebook. The bundle runs `dot` once and holds one rich view
(beside `text/plain`, the `repr`): SVG when there is only a picture, HTML when there is more to show.
Without `dot`, the view is HTML with the text form and the DOT source, and a line on how to install it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

INSTALL_HINT = ("Install Graphviz's `dot` program with `apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS) or `conda install graphviz`.")


def dot_available() -> bool:
    """Is Graphviz's `dot` program on PATH? (The `graphviz` Python package only calls it.)"""
    import shutil  # here: every `import shrimpgrad` imports this module, and shutil costs ~3 ms to import
    return shutil.which("dot") is not None


def svg_of(picture) -> str:
    """A graphviz graph drawn as SVG text, by Graphviz's `dot` program (one run)."""
    if not dot_available():
        raise RuntimeError(f"drawing a picture needs Graphviz's `dot` program, which is not installed. {INSTALL_HINT}")
    return picture.pipe(format="svg", encoding="utf-8")


def _inline(svg: str) -> str:
    """The SVG element alone (without its XML prolog and DOCTYPE), to sit inside HTML."""
    return svg[svg.find("<svg"):]


def notebook_bundle(picture: Callable[[], object] | None = None, html: Callable[[], str] | None = None,
                    text: Callable[[], str] | None = None) -> dict[str, str]:
    """The notebook's rich view of one object, as a mime bundle (`{mime type: data}`).

    picture: returns a graphviz graph; html: returns HTML shown above the picture; text: returns the
    object's text form, shown (with the picture's DOT source) when `dot` is missing. Each is called
    at most once, and only when needed."""
    if picture is None:
        return {"text/html": html()} if html is not None else {}
    top = html() if html is not None else ""
    graph = picture()
    if dot_available():
        svg = svg_of(graph)
        return {"text/html": top + _inline(svg)} if top else {"image/svg+xml": svg}
    import html as html_lib  # here, not at the top: every `import shrimpgrad` imports this module, few draw

    note = f"Graphviz's `dot` program is not installed, so here is the DOT text of the picture instead. {INSTALL_HINT}"
    body = f"<pre>{html_lib.escape(text())}</pre>" if text is not None else ""
    return {"text/html": f"{top}<p><b>{html_lib.escape(note)}</b></p>{body}"
                         f"<pre>{html_lib.escape(graph.source)}</pre>"}


def attach_reprs(cls: type, viz: str, *, rich: str | None = None, picture: str | None = None,
                 html: str | None = None, text: str | None = None) -> type:
    """Give `cls` its pictures, each drawn by the function of that name in module `viz` (imported on first use):

    rich: `obj.__rich__()` (so `rich.print(obj)` draws it); picture: `obj.to_dot()` -> graphviz graph;
    html and text: see `notebook_bundle`. `obj._repr_mimebundle_()` is the notebook view of all three."""

    def drawer(name: str | None) -> Callable | None:
        if name is None:
            return None
        return lambda obj: getattr(importlib.import_module(viz), name)(obj)

    draw_rich, draw_picture, draw_html, draw_text = drawer(rich), drawer(picture), drawer(html), drawer(text)
    if draw_rich is not None:
        cls.__rich__ = lambda self: draw_rich(self)
    if draw_picture is not None:
        cls.to_dot = lambda self: draw_picture(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        def bind(draw):
            return None if draw is None else (lambda: draw(self))
        return notebook_bundle(picture=bind(draw_picture), html=bind(draw_html), text=bind(draw_text))

    cls._repr_mimebundle_ = _repr_mimebundle_
    return cls


def viz_exports(package: str, *names: str) -> Callable[[str], object]:
    """A package's `__getattr__` (PEP 562) that hands out `names` from its viz module, imported on first use:
    `from shrimpgrad.graph import to_dot` works, and a program that never draws never imports rich or graphviz.
    It also gives the package a `__dir__` listing the names, so tab completion sees them before they load."""

    def __getattr__(name: str):
        if name in names:
            return getattr(importlib.import_module(f"{package}.viz"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    sys.modules[package].__dir__ = __dir__
    return __getattr__
