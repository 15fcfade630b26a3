"""The stage README's examples are real: every ```python block runs (in order, one namespace) and prints
exactly the ```text block that follows it. Set UPDATE_README=1 to rewrite the text blocks. Also: every
simplification rule is in the README's table, and the golden dumps it quotes are current."""

import contextlib
import io
import os
import re
from pathlib import Path

from shrimpgrad.linearize import RULES

README = Path(__file__).parents[2] / "stages" / "03_linearize" / "README.md"
GOLDEN = Path(__file__).parent / "golden"
BLOCK = re.compile(r"```(python|text)\n(.*?)```", re.S)


def _strip(text: str) -> str:
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def run_blocks(text: str):
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
            results.append((body, blocks[i + 1][1], _strip(out.getvalue()), blocks[i + 1][2]))
    return results


def test_readme_examples_print_what_the_readme_says():
    text = README.read_text()
    results = run_blocks(text)
    assert len(results) >= 8
    if os.environ.get("UPDATE_README"):
        for _, _expected, actual, (start, end) in reversed(results):
            text = text[:start] + "```text\n" + actual + "```" + text[end:]
        README.write_text(text)
        return
    for source, expected, actual, _ in results:
        assert actual == _strip(expected), f"README block\n{source}\nprints\n{actual}\nbut the README says\n{expected}"


def test_every_rule_is_in_the_readme_table():
    text = README.read_text()
    assert all(f"`{r.__name__}`" in text for r in RULES), [r.__name__ for r in RULES if f"`{r.__name__}`" not in text]


def test_readme_quotes_current_golden_dumps():
    text = README.read_text()
    for name in ("pad_add", "matmul_gpu_local"):
        body = (GOLDEN / f"{name}.txt").read_text()
        assert body.split("\n", 1)[1] in text, f"README's copy of golden/{name}.txt is stale"
