"""Shared by the stage README tests: a README's examples are real.

Every ```python block of a README runs (in order, in one namespace) and must print exactly the ```text
block that follows it. With UPDATE_README=1 the text blocks are rewritten from the real output instead."""

import contextlib
import io
import os
import re
from pathlib import Path

BLOCK = re.compile(r"```(python|text)\n(.*?)```", re.S)


def run_blocks(text: str) -> list[tuple[str, str, str, tuple[int, int]]]:
    """(python source, expected text, actual output, span of the text block) per python block with a text block."""
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
            results.append((body, blocks[i + 1][1], strip_trailing(out.getvalue()), blocks[i + 1][2]))
    return results


def strip_trailing(text: str) -> str:
    """Without trailing spaces (rich pads table lines; editors strip them)."""
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def check_readme_examples(readme: Path, at_least: int) -> None:
    """Assert every example of `readme` prints what the README shows (or rewrite them, with UPDATE_README=1)."""
    text = readme.read_text()
    results = run_blocks(text)
    assert len(results) >= at_least, f"{readme} has {len(results)} checked examples, expected at least {at_least}"
    if os.environ.get("UPDATE_README"):
        for _, _expected, actual, (start, end) in reversed(results):
            text = text[:start] + "```text\n" + actual + "```" + text[end:]
        readme.write_text(text)
        return
    for source, expected, actual, _ in results:
        assert actual == strip_trailing(expected), \
            f"README block\n{source}\nprints\n{actual}\nbut the README says\n{expected}"
