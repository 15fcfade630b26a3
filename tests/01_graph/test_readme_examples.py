"""The stage-01 README can't drift: its examples run, print what it shows, and its tables match the code."""

import doctest
import pathlib
import re

from shrimpgrad.graph import DERIVATIVES, Ops

README = pathlib.Path(__file__).resolve().parents[2] / "stages" / "01_graph" / "README.md"


def pycon_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, body) of every ```pycon block: a Python session with its real output."""
    return [(text[:m.start()].count("\n") + 1, m.group(1)) for m in re.finditer(r"```pycon\n(.*?)```", text, re.S)]


def test_readme_sessions_print_what_the_readme_shows():
    text = README.read_text()
    blocks = pycon_blocks(text)
    assert len(blocks) >= 10, "the worked example and the view pictures are pycon blocks"
    globs: dict = {}  # one namespace: later blocks use names from earlier ones, as a reader would
    runner = doctest.DocTestRunner(optionflags=doctest.REPORT_NDIFF)
    parser = doctest.DocTestParser()
    report: list[str] = []
    for lineno, body in blocks:
        test = parser.get_doctest(body, globs, f"README.md line {lineno}", str(README), lineno)
        runner.run(test, out=report.append, clear_globs=False)
        globs = test.globs  # a DocTest works on a copy of the namespace: carry its names to the next block
    assert runner.failures == 0, "".join(report)
    assert runner.tries >= 30  # the sessions were found and run


def derivatives_rows() -> list[str]:
    """The README's autograd table rows, as the code defines them: one row per rule, its ops, its docstring."""
    ops_of: dict = {}
    for op, rule in DERIVATIVES.items():
        ops_of.setdefault(rule, []).append(op.name)
    return [f"| {', '.join(ops)} | `{rule.__name__}` | {' '.join(line.strip() for line in rule.__doc__.splitlines())} |"
            for rule, ops in ops_of.items()]


def test_readme_autograd_table_is_the_derivatives_table():
    lines = README.read_text().splitlines()
    start = lines.index("<!-- derivatives table: generated from DERIVATIVES' docstrings; test_readme_examples.py "
                        "checks it -->") + 1
    assert lines[start:start + len(derivatives_rows())] == derivatives_rows()


def test_readme_tables_name_every_op():
    text = README.read_text()
    ir_table = text[text.index("## The IR"):text.index("## Worked example")]
    semantics = text[text.index("## Evaluator semantics"):text.index("## Autograd")]
    for op in Ops:
        assert op.name in ir_table, f"{op.name} is missing from the IR table"
        if op not in (Ops.REDUCE,) and op.name not in ("RESHAPE", "PERMUTE", "EXPAND", "PAD", "SHRINK", "FLIP"):
            assert f"`{op.name}" in semantics or f" {op.name}" in semantics, f"{op.name}: no evaluator semantics"
