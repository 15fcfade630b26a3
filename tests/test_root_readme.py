"""The top-level README's Python examples run (their asserts are the checks)."""

from pathlib import Path

from readme_blocks import run_blocks

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    run_blocks(README.read_text())
