"""The stage README's examples are real: every ```python block runs (in order, one namespace) and
prints exactly the ```text block that follows it. Set UPDATE_README=1 to rewrite the text blocks."""

from pathlib import Path

from readme_blocks import check_readme_examples

README = Path(__file__).parents[2] / "stages" / "02_schedule" / "README.md"


def test_readme_examples_print_what_the_readme_says():
    check_readme_examples(README, at_least=10)
