"""The stage README's examples are real: every ```python block runs (in order, one namespace) and prints
exactly the ```text block that follows it. Set UPDATE_README=1 to rewrite the text blocks. Also: every
simplification rule is in the README's table, and the golden dumps it quotes are current."""

from pathlib import Path

from readme_blocks import check_readme_examples

from shrimpgrad.linearize import RULES

README = Path(__file__).parents[2] / "stages" / "03_linearize" / "README.md"
GOLDEN = Path(__file__).parent / "golden"


def test_readme_examples_print_what_the_readme_says():
    check_readme_examples(README, at_least=8)


def test_every_rule_is_in_the_readme_table():
    text = README.read_text()
    assert all(f"`{r.__name__}`" in text for r in RULES), [r.__name__ for r in RULES if f"`{r.__name__}`" not in text]


def test_readme_quotes_current_golden_dumps():
    text = README.read_text()
    for name in ("pad_add", "matmul_gpu_local"):
        body = (GOLDEN / f"{name}.txt").read_text()
        assert body.split("\n", 2)[2] in text, f"README's copy of golden/{name}.txt is stale"
