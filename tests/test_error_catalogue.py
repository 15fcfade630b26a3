"""docs/errors.md is executed: every entry's code raises (or warns) exactly the documented type and message,
and every message names what failed and how to fix it. docs/numerics.md's table is executed on every
device and against numpy (tests for the numbers are at the end)."""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from shrimpgrad import Tensor, dtypes, no_grad
from shrimpgrad.c import cache as cache_module

DOCS = Path(__file__).resolve().parents[1] / "docs"
_ENTRY = re.compile(r"```python\n(?P<code>.*?)```\n(?P<quote>(?:> [^\n]*\n)+)", re.S)
# what a message must contain besides the problem: a way out
_FIX_WORDS = ("use ", "set ", "install", "pass ", "cast", "move ", "create ", "reduce ", "free ", "give ", "check ",
              "leave ", "index ", "call ", "must ", "only ", "to keep", "expects", "valid ", "needs ", "supports ",
              "name each", "is saved at")


def _entries(doc: str) -> list[tuple[str, str, str, str]]:
    """(section, heading, code, quoted message) for each code block followed by a `> ` quote."""
    out = []
    for chapter in re.split(r"\n## ", (DOCS / doc).read_text())[1:]:
        section = chapter.splitlines()[0]
        for part in re.split(r"\n### ", chapter)[1:]:
            title = part.splitlines()[0]
            for m in _ENTRY.finditer(part):
                quote = "\n".join(line[2:] for line in m["quote"].rstrip("\n").split("\n"))
                out.append((section, title, m["code"], quote))
    return out


ENTRIES = _entries("errors.md")


def test_the_catalogue_has_every_kind_of_error():
    titles = " ".join(t for _, t, _, _ in ENTRIES)
    for kind in ("reshape", "broadcast", "axis", "dtype", "index", "backward", "device", "CUDA", "memory",
                 "compiler", "rejects a kernel", "NVRTC", "cache"):
        assert kind.lower() in titles.lower() or kind in " ".join(c for _, _, c, _ in ENTRIES), kind
    assert len(ENTRIES) >= 45


def _skip_reason(code: str) -> str | None:
    if 'device="CUDA"' in code:
        from shrimpgrad.cuda import cuda_available
        if cuda_available():
            return "this machine has a GPU"
    if "compile_cuda" in code:
        try:
            from shrimpgrad.cuda.compiler import nvrtc_version

            nvrtc_version()
        except Exception:  # noqa: BLE001 - not installed, or its library doesn't load
            return "NVRTC is not installed"
    if "os.chown" in code and os.getuid() != 0:
        return "only root can give a folder to another user"
    return None


def _pattern(message: str) -> re.Pattern:
    return re.compile("".join(".*?" if part == "…" else re.escape(part) for part in re.split("(…)", message)), re.S)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Entries may point the cache or the compiler elsewhere: give them back afterwards."""
    monkeypatch.setenv("SHRIMPGRAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SHRIMPGRAD_CC", raising=False)
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    for fallback in cache_module._fallbacks.values():
        shutil.rmtree(fallback, ignore_errors=True)
    cache_module._fallbacks.clear()


_IDS = [f"{i}-{t[:40]}" for i, (_, t, _, _) in enumerate(ENTRIES)]


@pytest.mark.parametrize("section, title, code, quote", ENTRIES, ids=_IDS)
def test_catalogue_entry(isolated, section, title, code, quote):
    if reason := _skip_reason(code):
        pytest.skip(reason)
    scope = {"Tensor": Tensor, "dtypes": dtypes, "np": np, "no_grad": no_grad, "os": os, "Path": Path,
             "tempfile": tempfile}
    is_warning = quote.startswith("warning ")
    kind, message = quote.removeprefix("warning ").split(": ", 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exec(compile(code, f"<docs/errors.md: {title}>", "exec"), scope)  # noqa: S102 - our own docs
            raised = None
        except Exception as e:  # noqa: BLE001 - compared with the doc below
            raised = e
    if is_warning:
        assert raised is None, f"{title}: raised {raised!r}"
        got = [w for w in caught if w.category.__name__ == kind]
        assert got, f"{title}: no {kind} among {[str(w.message) for w in caught]}"
        text = str(got[0].message)
    else:
        assert raised is not None, f"{title}: nothing was raised"
        assert type(raised).__name__ == kind, f"{title}: raised {type(raised).__name__}: {raised}"
        text = str(raised)
    assert _pattern(message).fullmatch(text), f"{title}:\n documented: {message}\n actual:     {text}"
    assert not any(isinstance(w.message, RuntimeWarning) and "numpy" in str(w.filename) for w in caught), \
        f"{title}: numpy's RuntimeWarning leaked: {[str(w.message) for w in caught]}"


# Messages that say what is wrong but not what to do; each is raised in a module another engineer owns.
KNOWN_GAPS = {
}
_VALUE_SECTIONS = ("Shapes", "Broadcasting", "Axes", "Dtypes and data", "Indexing")  # errors about given values


def _message_problems(section: str, title: str, message: str) -> list[str]:
    problems = []
    if not re.match(r"(Tensor(\.\w+)?: |kernel \w+ |C compiler |cache folder |shrimpgrad: )", message):
        problems.append("it should start with what failed")
    if not any(w in message for w in _FIX_WORDS):
        problems.append("it names no fix")
    if section in _VALUE_SECTIONS and title != "the truth value of a tensor" and \
            not re.search(r"\d|'|bool|int|float", message):
        problems.append("it names no value")
    return problems


@pytest.mark.parametrize("section, title, code, quote", ENTRIES, ids=_IDS)
def test_catalogue_message_names_what_failed_and_the_fix(section, title, code, quote):
    problems = _message_problems(section, title, quote.removeprefix("warning ").split(": ", 1)[1])
    if title in KNOWN_GAPS:
        assert problems, f"{title}: its message is fixed now; take it out of KNOWN_GAPS"
        pytest.xfail(KNOWN_GAPS[title])
    assert not problems, f"{title}: {'; '.join(problems)}: {quote}"


def test_the_readme_links_the_catalogue():
    readme = (DOCS.parent / "README.md").read_text()
    assert "docs/errors.md" in readme and "docs/numerics.md" in readme


# ---- numerics (docs/numerics.md) ----------------------------------------------------------------------------

_ROW = re.compile(r"^\| `(?P<sg>[^`]+)` \| `(?P<np>[^`]+)` \| `(?P<result>[^`]+)` \|", re.M)
_DIFF = re.compile(r"^\| `(?P<sg>[^`]+)` \| `(?P<result>[^`]+)` \| (?!`)", re.M)
_NUMERICS_DOC = (DOCS / "numerics.md").read_text()
SAME = [m.groupdict() for m in _ROW.finditer(_NUMERICS_DOC)]
DIFFERENT = [m.groupdict() for m in _DIFF.finditer(_NUMERICS_DOC)]
_UNDEFINED_CASTS = ("3e9", "1e10")  # out-of-range float -> int: defined by the processor (see numerics.md)


def _devices() -> tuple[str, ...]:
    from shrimpgrad.cuda import cuda_available
    return ("C", "PYTHON", "CUDA") if cuda_available() else ("C", "PYTHON")


def test_the_numerics_tables_are_long_enough():
    assert len(SAME) >= 30 and len(DIFFERENT) >= 3


def _shrimpgrad(expr: str, device: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak out of ShrimpGrad
        return eval(expr, {"Tensor": Tensor, "dtypes": dtypes, "D": device, "math": math}).numpy()  # noqa: S307


def _documented(expr: str) -> np.ndarray:
    return np.asarray(eval(expr, {"np": np}))  # noqa: S307 - our own docs


@pytest.mark.parametrize("row", SAME, ids=[r["sg"][:60] for r in SAME])
def test_numerics_same_as_numpy_on_every_device(row):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns about these very numbers; we don't
        want = np.asarray(eval(row["np"], {"np": np}))  # noqa: S307 - our own docs
    _same(want, _documented(row["result"]), f"numpy vs the doc: {row['np']}")
    for device in _devices():
        if device == "CUDA" and any(v in row["sg"] for v in _UNDEFINED_CASTS):
            continue
        _same(_shrimpgrad(row["sg"], device), want, f"{device}: {row['sg']}")


@pytest.mark.parametrize("row", DIFFERENT, ids=[r["sg"][:60] for r in DIFFERENT])
def test_numerics_documented_differences(row):
    for device in _devices():
        _same(_shrimpgrad(row["sg"], device), _documented(row["result"]), f"{device}: {row['sg']}")


def _same(got: np.ndarray, want: np.ndarray, where: str) -> None:
    """Same dtype, shape and values; NaN equals NaN and -0.0 differs from 0.0."""
    assert got.dtype == want.dtype, f"{where}: dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"{where}: shape {got.shape}, expected {want.shape}"
    np.testing.assert_array_equal(got, want, err_msg=where)
    if want.dtype.kind == "f":
        numbers = ~np.isnan(want)  # a NaN's sign bit means nothing (0/0 gives -nan on x86, nan in numpy's log)
        assert np.array_equal(np.signbit(got)[numbers], np.signbit(want)[numbers]), f"{where}: signs of zero differ"
