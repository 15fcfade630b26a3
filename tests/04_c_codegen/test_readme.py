"""The README's worked example runs and prints exactly what the README shows."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).parents[2] / "stages" / "04_c_codegen" / "README.md"


def block_after(marker: str, text: str) -> str:
    m = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```", text, re.S)
    assert m, f"README has no code block after <!-- {marker} -->"
    return m.group(1)


def test_worked_example_output_is_real():
    text = README.read_text()
    code, shown = block_after("worked-example:python", text), block_after("worked-example:output", text)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue() == shown


def test_tensor_to_c_example_output_is_real():
    """The README's "From Tensor code to C" section: Tensor code through stages 02-04, output as shown."""
    text = README.read_text()
    code, shown = block_after("tensor-example:python", text), block_after("tensor-example:output", text)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue() == shown
