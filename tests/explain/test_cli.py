"""`python -m shrimpgrad explain` as a learner runs it: a subprocess, on an example script and on bad input."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/explain_me.py"
STAGE_TITLES = ("stage 01 · graph", "stage 02 · schedule", "stage 03 · UOps", "stage 04 · C", "stage 05 · CUDA")


def explain(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shrimpgrad", "explain", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**_env(), "COLUMNS": "160"})


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("DEBUG", "EMIT")}


def assert_clean_failure(done: subprocess.CompletedProcess, status: int, *phrases: str) -> None:
    """A non-zero exit with one clear message on stderr, and no traceback from inside ShrimpGrad."""
    assert done.returncode == status, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert done.stderr.startswith(("explain:", "usage:")), done.stderr
    for p in phrases:
        assert p in done.stderr, (p, done.stderr)
    assert "shrimpgrad/" not in done.stderr and "stages/" not in done.stderr, done.stderr  # no frames of ours


def test_example_script_shows_every_stage_with_provenance():
    done = explain(EXAMPLE, "--no-pager")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "loss " in out  # the script itself ran and printed
    for title in STAGE_TITLES:
        assert title in out, f"{title!r} missing"
    # the C of the first kernel names the user's lines: the matmul on line 13 of the example
    assert re.search(r"// ALU MUL \| from __matmul__ at explain_me\.py:13", out), out[:3000]
    assert "more kernel(s)" in out  # a 15-kernel program is summarized, not dumped whole


def test_one_stage_and_one_kernel():
    """The example realizes two graphs (the loss, then the update), and both have a kernel R_8_3_4 (the backward
    recomputes the forward matmul): a plain name shows both, `N:NAME` the one of graph N."""
    done = explain(EXAMPLE, "--stage", "c", "--kernel", "R_8_3_4", "--no-cuda")
    assert done.returncode == 0, done.stderr
    for title in ("stage 01", "stage 02", "stage 03", "stage 05"):
        assert title not in done.stdout
    assert done.stdout.count("stage 04 · C ·") == 2
    done = explain(EXAMPLE, "--stage", "c", "--kernel", "1:R_8_3_4", "--no-cuda")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("stage 04 · C ·") == 1 and "stage 04 · C · 1:R_8_3_4" in done.stdout


def test_expression():
    done = explain("-c", "(Tensor.arange(6).reshape(2, 3).float() * 2).sum(axis=1)", "--stage", "c", "--no-cuda")
    assert done.returncode == 0, done.stderr
    assert "from __mul__ at <explain -c>:1" in done.stdout


def test_html_report_is_written_and_offline(tmp_path):
    report = tmp_path / "report.html"
    done = explain(EXAMPLE, "--stage", "schedule", "--html", str(report))
    assert done.returncode == 0, done.stderr
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing fetched from a network
    for title in STAGE_TITLES:
        assert title in text


def test_missing_script(tmp_path):
    assert_clean_failure(explain(str(tmp_path / "nope.py")), 2, "no such script")


def test_syntax_error(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from shrimpgrad import Tensor\nx = Tensor.ones(2, 2\n")
    assert_clean_failure(explain(str(bad)), 1, "syntax error", "line 2")


def test_exception_inside_the_script(tmp_path):
    bad = tmp_path / "raises.py"
    bad.write_text("from shrimpgrad import Tensor\nt = Tensor.ones(2, 3)\nu = t.reshape(4, 4)\n")
    done = explain(str(bad))
    assert_clean_failure(done, 1, "raised ShapeError", "raises.py\", line 3", "can't reshape (2, 3)")


def test_script_that_realizes_nothing(tmp_path):
    lazy = tmp_path / "lazy.py"
    lazy.write_text("from shrimpgrad import Tensor\nt = Tensor.ones(2, 3) + 1\n")  # never realized
    assert_clean_failure(explain(str(lazy)), 1, "realized nothing")


def test_expression_that_realizes_nothing():
    assert_clean_failure(explain("-c", "1 + 1"), 1, "realized nothing")


@pytest.mark.parametrize("args, phrase", [
    (["--stage", "assembly"], "invalid choice: 'assembly'"),
    (["--kernel", "E_99"], "no kernel named 'E_99'"),
])
def test_unknown_stage_or_kernel(args, phrase):
    assert_clean_failure(explain(EXAMPLE, *args), 2, phrase)


def test_no_script_and_no_code():
    assert_clean_failure(explain(), 2, "give a script")
