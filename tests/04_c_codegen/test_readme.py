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


def run_example(name: str) -> tuple[str, str]:
    """Run the README's `<!-- name:python -->` block; return (what it printed, the `<!-- name:output -->` block)."""
    text = README.read_text()
    code, shown = block_after(f"{name}:python", text), block_after(f"{name}:output", text)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    return out.getvalue(), shown


def test_worked_example_output_is_real():
    printed, shown = run_example("worked-example")
    assert printed == shown


def test_tensor_to_c_example_output_is_real():
    """The README's "From Tensor code to C" section: Tensor code through stages 02-04, output as shown."""
    printed, shown = run_example("tensor-example")
    assert printed == shown


def test_fma_example_output_is_real():
    """The README's FMA section: the dot product's loop without and with the FMA rule, as shown."""
    printed, shown = run_example("fma")
    assert printed == shown


def test_conv_tiles_example_output_is_real():
    """The README's Convolutions section: a conv's opts and its inner loop (loads first, offsets, FMA chains)."""
    printed, shown = run_example("conv-tiles")
    assert printed == shown


def test_small_kernels_example_output_is_real():
    """The README's Small kernels section: W6's dw2 kernel, its opts (rule 1d), its selects with and without masks."""
    printed, shown = run_example("small-kernels")
    assert printed == shown


def test_panels_example_output_is_real():
    """The README's Large matmuls section: the panels copy, rule 1e's opts, the wide-vectors attribute, the loops."""
    printed, shown = run_example("panels")
    assert printed == shown


def test_stash_example_output_is_real():
    """The README's Softmax section: rule 4b's STASH (the store loop reads e back) and the row kernel's wide vectors."""
    printed, shown = run_example("stash")
    assert printed == shown


def test_batch_example_output_is_real():
    """The README's CBatch section: a TinyJit replay's kernels as one C call, its source and arena, as shown."""
    printed, shown = run_example("batch")
    assert printed == shown
