"""The stage README's examples are real: every ```python block runs (in order, one namespace) and
prints exactly the ```text block that follows it. Set UPDATE_README=1 to rewrite the text blocks."""

import contextlib
import io
import os
import re
from pathlib import Path

README = Path(__file__).parents[2] / "stages" / "02_schedule" / "README.md"
BLOCK = re.compile(r"```(python|text)\n(.*?)```", re.S)


def run_blocks(text: str) -> list[tuple[str, str, str]]:
    """(python source, expected text, actual output) for each python block followed by a text block."""
    blocks = [(m.group(1), m.group(2), m.span()) for m in BLOCK.finditer(text)]
    namespace: dict = {}
    results = []
    for i, (kind, body, _) in enumerate(blocks):
        if kind != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(body, f"README block {i}", "exec"), namespace)  # noqa: S102 - our own README
        if i + 1 < len(blocks) and blocks[i + 1][0] == "text":
            results.append((body, blocks[i + 1][1], _strip(out.getvalue()), blocks[i + 1][2]))
    return results


def _strip(text: str) -> str:
    """Without trailing spaces (rich pads table lines; editors strip them)."""
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def test_readme_examples_print_what_the_readme_says():
    text = README.read_text()
    results = run_blocks(text)
    assert len(results) >= 10
    if os.environ.get("UPDATE_README"):
        for _, _expected, actual, (start, end) in reversed(results):
            text = text[:start] + "```text\n" + actual + "```" + text[end:]
        README.write_text(text)
        return
    for source, expected, actual, _ in results:
        assert actual == _strip(expected), f"README block\n{source}\nprints\n{actual}\nbut the README says\n{expected}"
