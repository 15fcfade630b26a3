"""The examples run as a newcomer runs them (a subprocess, from the repository root) and say what they promise."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: int = 300) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _accuracy(out: str) -> float:
    found = re.findall(r"^test accuracy: (\d+\.\d)%$", out, re.MULTILINE)
    assert found, out[-2000:]
    return float(found[-1])


@pytest.mark.parametrize("script, epochs, at_least", [("digits_mlp.py", 3, 90.0), ("digits_cnn.py", 3, 80.0)])
def test_digits_examples_train_and_print_their_accuracy(script, epochs, at_least):
    out = _run(f"examples/{script}", "--epochs", str(epochs), "--quiet")
    assert "with TinyJit" in out
    assert _accuracy(out) >= at_least


def test_jit_and_plain_training_give_the_same_accuracy():
    jit = _run("examples/digits_mlp.py", "--epochs", "2", "--quiet")
    plain = _run("examples/digits_mlp.py", "--epochs", "2", "--quiet", "--no-jit")
    assert "with TinyJit" not in plain
    assert _accuracy(jit) == _accuracy(plain)


def test_make_demo_trains_the_digits_and_shows_a_matmul_kernel():
    out = _run("examples/demo.py")
    assert "z      = [[0.0, 0.0], [0.0, 0.0]]" in out  # the seed example, exactly as written, comes first
    assert out.index("1. graph") < out.index("6. training") < out.index("7. one training kernel")
    assert _accuracy(out) >= 97.0
    kernel = out[out.index("7. one training kernel"):]
    assert "REDUCE ADD" in kernel and "acc0 = " in kernel and "void R_" in kernel  # a matmul, not a copy kernel
    # compact: its ~1000-line UOps and C are shown as their start, the reduce loop and the end, the gaps said
    assert "ridx0 REDUCE" in kernel and "for (int ridx0 = 0;" in kernel and "lines: more of the same" in kernel
    assert len(kernel.splitlines()) < 150, f"the kernel section floods the terminal: {len(kernel.splitlines())} lines"
